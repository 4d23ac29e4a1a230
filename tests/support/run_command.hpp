// run_command: runs a shell command and captures its stdout and exit code (for CLI and example tests).
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <string>

namespace ipc::test {

/// The exit code (-1 if it did not exit normally) and standard output of a command.
struct CommandResult {
  int code;
  std::string out;
};

/// Runs `cmd` with /bin/sh and returns its exit code and stdout; code -2 if it could not start.
inline CommandResult run_command(const std::string& cmd) {
  FILE* f = ::popen(cmd.c_str(), "r");
  if (!f) return {-2, {}};
  std::string out;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  int status = ::pclose(f);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

}  // namespace ipc::test
