// doctest's main for every ipckit test binary.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
// No handler for fatal signals: doctest's allocates (it is not async-signal-safe) and every child
// a test forks inherits it, so a child the test terminates could deadlock in malloc instead of
// dying (and ThreadSanitizer reports the call). ctest runs each case in a process of its own and
// names the one that died of a signal.
#define DOCTEST_CONFIG_NO_POSIX_SIGNALS
#include <doctest/doctest.h>
