# cmake -DCXX=<compiler> -DINCLUDE=<dir> -DSOURCE=<file.cpp> -DEXPECT=<regex> -P expect_one_error.cmake
# Compiles SOURCE (syntax only) and passes when it fails with exactly one error that matches EXPECT.
execute_process(COMMAND ${CXX} -std=c++20 -fsyntax-only -I${INCLUDE} ${SOURCE}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
string(REGEX MATCHALL "error:" errors "${err}")
list(LENGTH errors n)
if(rc EQUAL 0)
  message(FATAL_ERROR "${SOURCE} compiled, but it must not")
elseif(NOT n EQUAL 1)
  message(FATAL_ERROR "${SOURCE}: expected 1 error, got ${n}:\n${err}")
elseif(NOT err MATCHES "${EXPECT}")
  message(FATAL_ERROR "${SOURCE}: the error does not say '${EXPECT}':\n${err}")
endif()
message(STATUS "one error, as expected: ${EXPECT}")
