# Tests of what ipckit ships (included from tests/CMakeLists.txt; label `package`).
foreach(mode find_package pkg-config fetchcontent)
  add_test(NAME package:consumer:${mode}
    COMMAND ${CMAKE_COMMAND} -DMODE=${mode} -DSOURCE_DIR=${PROJECT_SOURCE_DIR} -DBUILD_DIR=${PROJECT_BINARY_DIR}
            -DWORK_DIR=${CMAKE_CURRENT_BINARY_DIR}/consumer-${mode} -DCXX=${CMAKE_CXX_COMPILER}
            -DLAUNCHER=${CMAKE_CXX_COMPILER_LAUNCHER} -DSANITIZE=${IPCKIT_SANITIZE}
            -P ${PROJECT_SOURCE_DIR}/tests/consumer/run_consumer_test.cmake)
  # RESOURCE_LOCK: the tests that install from the build tree (cmake --install, cpack) write its
  # install manifests and must not run at the same time.
  set_tests_properties(package:consumer:${mode} PROPERTIES LABELS package TIMEOUT 600
    PASS_REGULAR_EXPRESSION "${mode}: sum 5050 exitcode 0" RESOURCE_LOCK ipckit_build_tree_install)
endforeach()

add_test(NAME package:deb COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/package/test_deb.sh
                                      ${PROJECT_BINARY_DIR} ${CMAKE_CURRENT_BINARY_DIR}/deb)
set_tests_properties(package:deb PROPERTIES LABELS package TIMEOUT 600 SKIP_RETURN_CODE 77
  PASS_REGULAR_EXPRESSION "the packaged daemon answered PONG" RESOURCE_LOCK ipckit_build_tree_install)

if(TARGET ipckit_man)
  add_test(NAME package:man COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/package/test_man.sh
                                         ${PROJECT_BINARY_DIR}/packaging/man)
  set_tests_properties(package:man PROPERTIES LABELS package TIMEOUT 120 SKIP_RETURN_CODE 77
    PASS_REGULAR_EXPRESSION "man pages render")
endif()
