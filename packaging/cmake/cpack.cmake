# CPack: Debian packages, one per component. The packages always use the prefix /usr (so /etc,
# /var/lib, /run and /lib/systemd/system), whatever CMAKE_INSTALL_PREFIX the build has.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME ipckit)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_CONTACT "ipckit maintainers <ipckit@localhost>")
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SECTION misc)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_COMPRESSION_TYPE gzip)  # fast: the package test builds them in CI

set(CPACK_COMPONENTS_ALL dev)
get_target_property(ipckit_type ipckit TYPE)
# Debian 12 versions of what the programs (and a shared libipckit) link.
set(ipckit_shlibs "libc6 (>= 2.34), libgcc-s1 (>= 3.0), libstdc++6 (>= 12), libssl3 (>= 3.0.0)")
set(ipckit_lib_dep "")
if(NOT ipckit_type STREQUAL "STATIC_LIBRARY")
  list(APPEND CPACK_COMPONENTS_ALL lib)
  set(CPACK_DEBIAN_LIB_PACKAGE_NAME libipckit${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR})
  set(CPACK_DEBIAN_LIB_PACKAGE_SECTION libs)
  set(CPACK_DEBIAN_LIB_PACKAGE_DEPENDS "${ipckit_shlibs}")
  set(CPACK_DEBIAN_LIB_DESCRIPTION "ipckit multi-process toolkit: shared library
The runtime library of ipckit, for programs linked with a shared libipckit.")
  set(ipckit_lib_dep ", ${CPACK_DEBIAN_LIB_PACKAGE_NAME} (= ${PROJECT_VERSION}-1)")
endif()

set(CPACK_DEBIAN_DEV_PACKAGE_NAME libipckit-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
# cereal for the public headers; libssl-dev for the static library's libcrypto.
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "libcereal-dev, libssl-dev${ipckit_lib_dep}")
set(CPACK_DEBIAN_DEV_DESCRIPTION "ipckit multi-process toolkit: headers, library, CMake and pkg-config files
Python multiprocessing's ideas for C++20 on Linux: processes, pipes, queues, shared
memory and locks that survive a process killed with SIGKILL.")

if(tools)
  list(APPEND CPACK_COMPONENTS_ALL tools)
  set(CPACK_DEBIAN_TOOLS_PACKAGE_NAME ipckit-tools)
  set(CPACK_DEBIAN_TOOLS_PACKAGE_SECTION utils)
  set(CPACK_DEBIAN_TOOLS_PACKAGE_DEPENDS "${ipckit_shlibs}, libedit2 (>= 3.1-20140620)${ipckit_lib_dep}")
  set(CPACK_DEBIAN_TOOLS_PACKAGE_SUGGESTS "ipc-managerd")
  set(CPACK_DEBIAN_TOOLS_DESCRIPTION "ipckit command-line tools: ipc-ctl, ipc-shm, ipc-lifecycle
ipc-ctl talks to ipc-managerd (or any Redis server); ipc-shm lists and collects ipckit's
shared memory segments; ipc-lifecycle shows zombie, orphan and daemon lifecycles.")
endif()
if(managerd)
  list(APPEND CPACK_COMPONENTS_ALL managerd)
  set(CPACK_DEBIAN_MANAGERD_PACKAGE_NAME ipc-managerd)
  set(CPACK_DEBIAN_MANAGERD_PACKAGE_SECTION net)
  set(CPACK_DEBIAN_MANAGERD_PACKAGE_DEPENDS "${ipckit_shlibs}, adduser${ipckit_lib_dep}")
  set(CPACK_DEBIAN_MANAGERD_PACKAGE_RECOMMENDS "ipckit-tools")
  set(CPACK_DEBIAN_MANAGERD_DESCRIPTION "ipckit manager daemon: shared dicts, lists and counters over RESP
ipc-managerd serves named hashes, lists and strings to many processes over a Unix
socket (TCP optional) and speaks the Redis protocol, so redis-cli and Redis clients
work with it. Runs as a hardened systemd service as the ipckit user.")
  set(CPACK_DEBIAN_MANAGERD_PACKAGE_CONTROL_EXTRA
      ${CMAKE_CURRENT_SOURCE_DIR}/debian/postinst ${CMAKE_CURRENT_SOURCE_DIR}/debian/prerm
      ${CMAKE_CURRENT_SOURCE_DIR}/debian/postrm ${CMAKE_CURRENT_SOURCE_DIR}/debian/conffiles)
  set(CPACK_DEBIAN_MANAGERD_PACKAGE_CONTROL_STRICT_PERMISSION ON)
endif()

include(CPack)
