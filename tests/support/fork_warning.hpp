// Reading ipckit's "fork of a multi-threaded process" warning: a body runs in a child process
// whose stderr goes to a pipe, and the test looks at what it wrote there.
#pragma once

#include <doctest/doctest.h>
#include <ipc/process.hpp>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "child_pipe.hpp"

namespace ipc::test {

/// Runs `body` (returns an exit status, 0 when all went well) in an ipc::Process whose stderr is
/// a pipe; checks that it exited 0 and returns the lines it wrote to stderr.
template <class F>
std::string stderr_of_child(F body, std::chrono::seconds limit = std::chrono::seconds(60)) {
  ChildPipe err;
  ipc::Process child{[&] {
    ::dup2(err.w, 2);
    int rc = body();
    std::fputs("end\n", stderr);
    return rc;
  }};
  child.start();
  REQUIRE(child.join(limit));
  CHECK(*child.exitcode() == 0);
  std::string out;
  for (std::string line; (line = err.line()) != "end";) {
    REQUIRE(!line.empty());
    out += line + "\n";
  }
  return out;
}

/// How many times the warning appears in `out`.
inline std::size_t fork_warnings(const std::string& out) {
  std::size_t n = 0;
  for (auto at = out.find("is multi-threaded"); at != std::string::npos; at = out.find("is multi-threaded", at + 1))
    ++n;
  return n;
}

}  // namespace ipc::test
