# Install-time script (install(CODE) includes it): installs the systemd unit and the default
# daemon configuration with paths derived from the prefix being installed to, so that
# `cmake --install --prefix /usr` and the .deb (prefix /usr) get /etc, /var, /run and
# /lib/systemd/system, and any other prefix P gets P/etc, P/var, P/run and P/lib/systemd/system.
# Expects IPCKIT_SOURCE_DIR, IPCKIT_BINARY_DIR and IPCKIT_BINDIR (relative to the prefix).
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr" OR CMAKE_INSTALL_PREFIX STREQUAL "/usr/")
  set(SYSCONFDIR /etc)
  set(LOCALSTATEDIR /var)
  set(RUNSTATEDIR /run)
  set(UNITDIR /lib/systemd/system)
else()
  set(SYSCONFDIR ${CMAKE_INSTALL_PREFIX}/etc)
  set(LOCALSTATEDIR ${CMAKE_INSTALL_PREFIX}/var)
  set(RUNSTATEDIR ${CMAKE_INSTALL_PREFIX}/run)
  set(UNITDIR ${CMAKE_INSTALL_PREFIX}/lib/systemd/system)
endif()
set(BINDIR ${CMAKE_INSTALL_PREFIX}/${IPCKIT_BINDIR})

set(staging ${IPCKIT_BINARY_DIR}/packaging/system-files)
configure_file(${IPCKIT_SOURCE_DIR}/packaging/systemd/ipc-managerd.service.in ${staging}/ipc-managerd.service @ONLY)
configure_file(${IPCKIT_SOURCE_DIR}/packaging/managerd.conf.in ${staging}/managerd.conf @ONLY)
file(INSTALL ${staging}/ipc-managerd.service DESTINATION ${UNITDIR} FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
# An administrator's edited configuration is never overwritten by a plain `cmake --install`
# (a package manager handles it as a conffile instead).
if(EXISTS "$ENV{DESTDIR}${SYSCONFDIR}/ipckit/managerd.conf")
  message(STATUS "Keeping: $ENV{DESTDIR}${SYSCONFDIR}/ipckit/managerd.conf")
else()
  file(INSTALL ${staging}/managerd.conf DESTINATION ${SYSCONFDIR}/ipckit FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
endif()
