# ipckit_export(<target> [EXPORT_NAME <name>]): registers a library target to be installed and
# exported as ipckit::<name> (default: the target's EXPORT_NAME or its name) in ipckitTargets.cmake.
# packaging/CMakeLists.txt installs every registered target with one install(TARGETS ... EXPORT).
# A registered target must link ipckit_warnings as $<BUILD_INTERFACE:ipckit_warnings> (it is never
# exported), and every target it links, even PRIVATE for a static library, must be registered too.
function(ipckit_export target)
  cmake_parse_arguments(arg "" "EXPORT_NAME" "" ${ARGN})
  if(arg_EXPORT_NAME)
    set_target_properties(${target} PROPERTIES EXPORT_NAME ${arg_EXPORT_NAME})
  endif()
  set_property(GLOBAL APPEND PROPERTY IPCKIT_EXPORTED_TARGETS ${target})
endfunction()

# ipckit_program(<target> <component>): registers a program to be installed in bin/ by the
# package component `component` (tools or managerd).
function(ipckit_program target component)
  set_property(GLOBAL APPEND PROPERTY IPCKIT_PROGRAMS_${component} ${target})
endfunction()
