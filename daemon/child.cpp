// Background children of the daemon: fork, reap without waiting, kill.
#include "child.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>

namespace ipc::managerd {

pid_t fork_child(std::string& err) {
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) err = std::string("fork: ") + std::strerror(errno);
  return pid;
}

std::optional<bool> reap_child(pid_t child) {
  int status = 0;
  pid_t r = ::waitpid(child, &status, WNOHANG);
  if (r == 0) return std::nullopt;
  return r > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

void kill_child(pid_t& child, const std::string& tmp) {
  if (child <= 0) return;
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  ::unlink(tmp.c_str());
  child = -1;
}

}  // namespace ipc::managerd
