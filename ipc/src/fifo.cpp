// Fifo: a named pipe (mkfifo) carrying the same framed messages as a Connection.
#include <ipc/fifo.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

namespace ipc {

Fifo::Fifo(detail::UniqueFd fd, Mode mode, std::filesystem::path path)
    : Connection(std::move(fd), mode != Mode::write, mode != Mode::read), m_path(std::move(path)) {
  // read() on a FIFO returns EOF while no writer has opened it; poll() waits for one instead.
  poll_before_read(mode == Mode::read);
}

Fifo::Fifo(Fifo&& o) noexcept
    : Connection(std::move(o)), m_path(std::move(o.m_path)), m_owner_pid(std::exchange(o.m_owner_pid, 0)) {}

Fifo& Fifo::operator=(Fifo&& o) noexcept {
  if (this != &o) {
    unlink();
    Connection::operator=(std::move(o));
    m_path = std::move(o.m_path);
    m_owner_pid = std::exchange(o.m_owner_pid, 0);
  }
  return *this;
}

Fifo::~Fifo() { unlink(); }

void Fifo::unlink() noexcept {
  // Only the creating process unlinks: a forked child's copy must not remove the parent's FIFO.
  if (m_owner_pid != 0 && m_owner_pid == ::getpid()) ::unlink(m_path.c_str());
  m_owner_pid = 0;
}

Fifo Fifo::create(const std::filesystem::path& path, Mode mode, Timeout timeout, mode_t perms) {
  if (::mkfifo(path.c_str(), perms) != 0) throw_errno("mkfifo(" + path.string() + ")");
  // mkfifo applies the umask; set the requested mode exactly.
  if (::chmod(path.c_str(), perms) != 0) {
    int e = errno;
    ::unlink(path.c_str());
    throw_system_error(e, "chmod(" + path.string() + ")");
  }
  try {
    Fifo f = open(path, mode, timeout);
    f.m_owner_pid = ::getpid();
    return f;
  } catch (...) {
    ::unlink(path.c_str());
    throw;
  }
}

Fifo Fifo::open(const std::filesystem::path& path, Mode mode, Timeout timeout) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) throw_errno("open FIFO(" + path.string() + ")");
  if (!S_ISFIFO(st.st_mode)) throw ValueError("Fifo::open: " + path.string() + " is not a FIFO");
  int flags = O_CLOEXEC | O_NONBLOCK;
  flags |= mode == Mode::read ? O_RDONLY : mode == Mode::write ? O_WRONLY : O_RDWR;
  Deadline deadline(timeout);
  auto backoff = std::chrono::microseconds(200);
  for (;;) {
    // O_NONBLOCK: a reader opens at once; a writer fails with ENXIO while there is no reader,
    // and retries with a growing pause (capped at 20 ms) until the deadline.
    int fd = ::open(path.c_str(), flags);
    if (fd >= 0) {
      detail::UniqueFd owned(fd);
      if (::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) throw_errno("fcntl(" + path.string() + ")");
      return Fifo(std::move(owned), mode, path);
    }
    if (errno == EINTR) continue;
    if (errno != ENXIO) throw_errno("open FIFO(" + path.string() + ")");
    if (deadline.expired()) throw TimeoutError("Fifo::open(" + path.string() + "): no reader opened it in time");
    std::this_thread::sleep_for(std::min<std::chrono::nanoseconds>(backoff, deadline.remaining()));
    backoff = std::min<std::chrono::microseconds>(backoff * 2, std::chrono::milliseconds(20));
  }
}

}  // namespace ipc
