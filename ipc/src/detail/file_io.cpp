// Whole-buffer writes and whole-file reads: the one write loop and read loop of the library and
// the daemon.
#include <ipc/detail/file_io.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <new>

#include <ipc/detail/errno.hpp>
#include <ipc/detail/unique_fd.hpp>

namespace ipc::detail {

namespace {

/// The loop of write_all and write_all_at: `put(p, n, done)` is one write(2) or pwrite(2).
template <class Put>
std::error_code put_all(std::string_view data, std::size_t* written, Put put) noexcept {
  std::size_t done = 0;
  std::error_code ec;
  while (done < data.size()) {
    ssize_t n = put(data.data() + done, data.size() - done, done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ec = errno_code();
      break;
    }
    if (n == 0) {  // no progress and no errno: a full disk, as Redis reads it
      ec = std::make_error_code(std::errc::no_space_on_device);
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  if (written) *written = done;
  return ec;
}

}  // namespace

std::error_code write_all(int fd, std::string_view data, std::size_t* written) noexcept {
  return put_all(data, written,
                 [fd](const char* p, std::size_t n, std::size_t) { return ::write(fd, p, n); });
}

std::error_code write_all_at(int fd, std::string_view data, off_t offset) noexcept {
  return put_all(data, nullptr, [fd, offset](const char* p, std::size_t n, std::size_t done) {
    return ::pwrite(fd, p, n, offset + static_cast<off_t>(done));
  });
}

std::error_code read_all(int fd, std::string& out, std::size_t limit) noexcept {
  out.clear();
  char buf[65536];
  for (;;) {
    ssize_t n = ::pread(fd, buf, sizeof buf, static_cast<off_t>(out.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_code();
    if (n == 0) return {};
    if (static_cast<std::size_t>(n) > limit - out.size()) return std::make_error_code(std::errc::file_too_large);
    try {
      out.append(buf, static_cast<std::size_t>(n));
    } catch (const std::bad_alloc&) {
      return std::make_error_code(std::errc::not_enough_memory);
    }
  }
}

std::error_code read_file(const std::string& path, std::string& out, std::size_t limit) noexcept {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return errno_code();
  return read_all(fd.get(), out, limit);
}

}  // namespace ipc::detail
