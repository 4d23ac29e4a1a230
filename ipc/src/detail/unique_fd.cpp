// UniqueFd: closing without EINTR retry.
#include <ipc/detail/unique_fd.hpp>

#include <unistd.h>

namespace ipc::detail {

void close_fd(int fd) noexcept {
  // Don't retry close on EINTR: Linux has already released the descriptor.
  if (fd >= 0) ::close(fd);
}

void UniqueFd::reset(int fd) noexcept {
  if (m_fd >= 0 && m_fd != fd) close_fd(m_fd);
  m_fd = fd;
}

}  // namespace ipc::detail
