// Process helpers: waiting on and reaping a pidfd, parsing /proc/<pid>/stat.
#include <ipc/detail/proc_util.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include <ipc/detail/errno.hpp>
#include <ipc/detail/unique_fd.hpp>
#include <ipc/errors.hpp>

namespace ipc::detail {

bool wait_pidfd(int pidfd, int timeout_ms) {
  pollfd p{pidfd, POLLIN, 0};
  for (;;) {
    int r = ::poll(&p, 1, timeout_ms);
    if (r >= 0) return r > 0;
    if (errno != EINTR) throw_errno("poll(pidfd)");
  }
}

int reap_pidfd(int pidfd, siginfo_t& info) noexcept {
  info = {};
  for (;;) {
    if (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &info, WEXITED | WNOHANG) == 0) return 0;
    if (errno != EINTR) return errno;
  }
}

std::optional<ProcStat> read_proc_stat(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  std::string path = "/proc/" + std::to_string(pid) + "/stat";
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return std::nullopt;
  char buf[1024];  // comm is at most 16 bytes: the whole line fits
  ssize_t n;
  do {
    n = ::read(fd.get(), buf, sizeof buf - 1);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return std::nullopt;  // ESRCH: it ended between open and read
  buf[n] = '\0';
  std::string_view text(buf, static_cast<std::size_t>(n));
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split at the last ')'.
  auto open = text.find('(');
  auto close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open)
    throw ProtocolError("cannot parse " + path);
  ProcStat s;
  s.pid = pid;
  s.comm = std::string(text.substr(open + 1, close - open - 1));
  int got = std::sscanf(buf + close + 1, " %c %d %d %d %d %d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %ld %*d %llu",
                        &s.state, &s.ppid, &s.pgrp, &s.session, &s.tty_nr, &s.tpgid, &s.num_threads, &s.starttime);
  if (got != 8) throw ProtocolError("cannot parse " + path);
  return s;
}

std::uint64_t process_start_time(pid_t pid) noexcept {
  try {
    auto s = read_proc_stat(pid);
    return s ? s->starttime : 0;
  } catch (...) {
    return 0;
  }
}

bool process_running(pid_t pid, std::uint64_t start) noexcept {
  try {
    auto s = read_proc_stat(pid);
    return s && s->state != 'Z' && s->state != 'X' && (start == 0 || s->starttime == start);
  } catch (...) {
    return false;
  }
}

}  // namespace ipc::detail
