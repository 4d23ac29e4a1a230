# Tests of what ipckit ships (included from tests/CMakeLists.txt; label `package`).
foreach(mode find_package pkg-config fetchcontent)
  add_test(NAME package:consumer:${mode}
    COMMAND ${CMAKE_COMMAND} -DMODE=${mode} -DSOURCE_DIR=${PROJECT_SOURCE_DIR} -DBUILD_DIR=${PROJECT_BINARY_DIR}
            -DWORK_DIR=${CMAKE_CURRENT_BINARY_DIR}/consumer-${mode} -DCXX=${CMAKE_CXX_COMPILER}
            -DLAUNCHER=${CMAKE_CXX_COMPILER_LAUNCHER}
            -P ${PROJECT_SOURCE_DIR}/tests/consumer/run_consumer_test.cmake)
  set_tests_properties(package:consumer:${mode} PROPERTIES LABELS package TIMEOUT 600
    PASS_REGULAR_EXPRESSION "${mode}: sum 5050 exitcode 0")
endforeach()
