// ChildPipe: a pipe a forked child uses to tell its parent something (a line), bounded reads.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <string>

namespace ipc::test {

/// A CLOEXEC pipe shared with forked children: put() writes one line, line() reads one (10 s cap).
struct ChildPipe {
  int r = -1, w = -1;
  ChildPipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) == 0) {
      r = fds[0];
      w = fds[1];
    }
  }
  ~ChildPipe() {
    if (r >= 0) ::close(r);
    if (w >= 0) ::close(w);
  }
  ChildPipe(const ChildPipe&) = delete;
  ChildPipe& operator=(const ChildPipe&) = delete;
  /// Writes `s` and a newline (atomic for short lines).
  void put(const std::string& s) const {
    std::string line = s + "\n";
    [[maybe_unused]] auto n = ::write(w, line.data(), line.size());
  }
  /// Reads one line; empty on timeout or end of file.
  std::string line(int timeout_ms = 10000) const {
    std::string out;
    char c;
    pollfd p{r, POLLIN, 0};
    while (::poll(&p, 1, timeout_ms) == 1 && ::read(r, &c, 1) == 1 && c != '\n') out += c;
    return out;
  }
};

}  // namespace ipc::test
