// Background children of the daemon: fork, reap without waiting, kill.
#include "child.hpp"

#include <ipc/detail/errno.hpp>
#include <ipc/errors.hpp>

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>

namespace ipc::managerd {

pid_t fork_child() {
  std::fflush(nullptr);
  const pid_t server = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) detail::throw_errno("fork");
  if (pid == 0) {
    // Dies with the server: a snapshot or rewrite nobody will finish must not go on writing
    // (its temp file is removed at the next start).
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != server) ::_exit(1);  // the server died before prctl took effect
  }
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
