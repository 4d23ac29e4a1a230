// UniqueFd: a move-only owner of one file descriptor.
#pragma once

#include <utility>

namespace ipc::detail {

/// Owns a file descriptor and closes it once; move-only. Not thread-safe.
class UniqueFd {
 public:
  /// Takes ownership of `fd` (-1 = empty).
  explicit UniqueFd(int fd = -1) noexcept : m_fd(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : m_fd(o.release()) {}
  /// Closes the current fd first, then takes `o`'s.
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) reset(o.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  /// Closes the fd; never throws.
  ~UniqueFd() { reset(); }

  /// The fd, or -1.
  int get() const noexcept { return m_fd; }
  /// True when an fd is held.
  explicit operator bool() const noexcept { return m_fd >= 0; }
  /// Gives up ownership without closing.
  int release() noexcept { return std::exchange(m_fd, -1); }
  /// Closes the held fd (if any) and takes `fd`.
  void reset(int fd = -1) noexcept;

 private:
  int m_fd;
};

/// Closes `fd`, ignoring errors. No EINTR retry: Linux frees the fd even when close fails.
void close_fd(int fd) noexcept;

}  // namespace ipc::detail
