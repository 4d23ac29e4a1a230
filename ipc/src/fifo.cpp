// Fifo: a named pipe (mkfifo) carrying the same framed messages as a Connection.
#include <ipc/fifo.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <thread>

#include <ipc/detail/errno.hpp>

namespace ipc {

namespace {

std::string octal(mode_t m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m & 07777));
  return buf;
}

// Refuses what `owner` does not accept: a link, something else than a FIFO, another owner, or
// a mode that grants group or others more than owner.perms. `st` comes from lstat or fstat.
void check_trusted(const struct stat& st, const PathOwner& owner, const std::filesystem::path& path,
                   const char* what) {
  std::string where = std::string(what) + "(" + path.string() + ")";
  if (S_ISLNK(st.st_mode)) detail::throw_system_error(ELOOP, where + ": is a symbolic link, which ipckit does not follow");
  if (!S_ISFIFO(st.st_mode)) throw ValueError(where + ": not a FIFO");
  uid_t want = owner.uid.value_or(::geteuid());
  if (st.st_uid != want)
    detail::throw_system_error(EPERM, where + ": owned by uid " + std::to_string(st.st_uid) + ", not uid " +
                                  std::to_string(want) + "; refusing it (name its owner to accept it)");
  if ((st.st_mode & 0077 & ~owner.perms) != 0)
    detail::throw_system_error(EPERM, where + ": mode " + octal(st.st_mode) + " grants group or others more than " +
                                  octal(owner.perms) + "; refusing it");
}

}  // namespace

Fifo::Fifo(detail::UniqueFd fd, Mode mode, std::filesystem::path path)
    : Connection(std::move(fd), mode != Mode::write, mode != Mode::read), m_path(std::move(path)), m_mode(mode) {
  // read() on a FIFO returns EOF while no writer has opened it; poll() waits for one instead.
  poll_before_read(mode == Mode::read);
}

Fifo::Fifo(Fifo&& o) noexcept
    : Connection(std::move(o)),
      m_path(std::move(o.m_path)),
      m_dev(o.m_dev),
      m_ino(o.m_ino),
      m_mode(o.m_mode),
      m_owner_pid(std::exchange(o.m_owner_pid, 0)) {}

Fifo& Fifo::operator=(Fifo&& o) noexcept {
  if (this != &o) {
    unlink();
    Connection::operator=(std::move(o));
    m_path = std::move(o.m_path);
    m_dev = o.m_dev;
    m_ino = o.m_ino;
    m_mode = o.m_mode;
    m_owner_pid = std::exchange(o.m_owner_pid, 0);
  }
  return *this;
}

Fifo::~Fifo() { unlink(); }

void Fifo::unlink() noexcept {
  // Only the creating process unlinks: a forked child's copy must not remove the parent's FIFO.
  // And only the file it created: another may have taken the name since.
  struct stat st{};
  if (m_owner_pid != 0 && m_owner_pid == ::getpid() && ::lstat(m_path.c_str(), &st) == 0 && st.st_dev == m_dev &&
      st.st_ino == m_ino)
    ::unlink(m_path.c_str());
  m_owner_pid = 0;
}

bool Fifo::wait_for_writer(Timeout timeout) {
  if (closed()) throw ValueError("wait_for_writer: FIFO is closed");
  if (m_mode != Mode::read) throw ValueError("wait_for_writer: only for a FIFO opened in Mode::read");
  if (has_buffered_message()) return true;
  // A non-blocking read tells the cases apart: bytes or EAGAIN mean a writer is there, 0 means
  // none is. poll() cannot: it reports nothing both while no writer ever came and while one is
  // there without writing. Retries with a growing pause (capped at 20 ms).
  int fl = ::fcntl(fileno(), F_GETFL);
  if (fl < 0 || ::fcntl(fileno(), F_SETFL, fl | O_NONBLOCK) != 0) detail::throw_errno("fcntl(" + m_path.string() + ")");
  Deadline deadline(timeout);
  auto backoff = std::chrono::microseconds(200);
  bool found = false;
  int err = 0;
  for (;;) {
    long n = read_available();
    if (n > 0 || (n < 0 && errno == EAGAIN)) {
      found = true;
      break;
    }
    if (n < 0) {
      err = errno;
      break;
    }
    if (deadline.expired()) break;
    std::this_thread::sleep_for(std::min<std::chrono::nanoseconds>(backoff, deadline.remaining()));
    backoff = std::min<std::chrono::microseconds>(backoff * 2, std::chrono::milliseconds(20));
  }
  ::fcntl(fileno(), F_SETFL, fl);
  if (err) detail::throw_system_error(err, "read(" + m_path.string() + ")");
  return found;
}

Fifo Fifo::create(const std::filesystem::path& path, Mode mode, Timeout timeout, mode_t perms) {
  // mkfifo never adopts what exists (EEXIST, also for a dangling link).
  if (::mkfifo(path.c_str(), perms) != 0) detail::throw_errno("mkfifo(" + path.string() + ")");
  // Check and chmod the FIFO through an fd, never by name again: a non-blocking read open
  // returns at once, and O_NOFOLLOW refuses a link swapped in. The mode is set exactly
  // (mkfifo applies the umask).
  std::pair<dev_t, ino_t> created{};
  {
    detail::UniqueFd probe(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC));
    struct stat st{};
    if (!probe || ::fstat(probe.get(), &st) != 0) detail::throw_errno("open FIFO(" + path.string() + ")");
    check_trusted(st, PathOwner{std::nullopt, 0777}, path, "Fifo::create");  // ours, or someone swapped it
    created = {st.st_dev, st.st_ino};
    if (::fchmod(probe.get(), perms) != 0) {
      int e = errno;
      ::unlink(path.c_str());
      detail::throw_system_error(e, "chmod(" + path.string() + ")");
    }
  }
  try {
    Fifo f = open_checked(path, mode, timeout, PathOwner{std::nullopt, 0777}, "Fifo::create", created);
    f.m_owner_pid = ::getpid();
    f.m_dev = created.first;
    f.m_ino = created.second;
    return f;
  } catch (...) {
    struct stat st{};
    if (::lstat(path.c_str(), &st) == 0 && st.st_dev == created.first && st.st_ino == created.second)
      ::unlink(path.c_str());
    throw;
  }
}

Fifo Fifo::open(const std::filesystem::path& path, Mode mode, Timeout timeout, PathOwner owner) {
  return open_checked(path, mode, timeout, owner, "Fifo::open", std::nullopt);
}

// Opens `path` without following a link, then checks what was opened: the file `created`, or
// one that `owner` accepts. The name is checked first too, so that a foreign FIFO is refused
// with that reason rather than after waiting for a reader.
Fifo Fifo::open_checked(const std::filesystem::path& path, Mode mode, Timeout timeout, const PathOwner& owner,
                        const char* what, std::optional<std::pair<dev_t, ino_t>> created) {
  struct stat st{};
  if (::lstat(path.c_str(), &st) != 0) detail::throw_errno("open FIFO(" + path.string() + ")");
  check_trusted(st, owner, path, what);
  int flags = O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW;
  flags |= mode == Mode::read ? O_RDONLY : mode == Mode::write ? O_WRONLY : O_RDWR;
  Deadline deadline(timeout);
  auto backoff = std::chrono::microseconds(200);
  for (;;) {
    // O_NONBLOCK: a reader opens at once; a writer fails with ENXIO while there is no reader,
    // and retries with a growing pause (capped at 20 ms) until the deadline.
    int fd = ::open(path.c_str(), flags);
    if (fd >= 0) {
      detail::UniqueFd owned(fd);
      if (::fstat(fd, &st) != 0) detail::throw_errno("fstat(" + path.string() + ")");
      check_trusted(st, owner, path, what);
      if (created && (st.st_dev != created->first || st.st_ino != created->second))
        detail::throw_system_error(EPERM, std::string(what) + "(" + path.string() + "): replaced by another file meanwhile");
      if (::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) detail::throw_errno("fcntl(" + path.string() + ")");
      return Fifo(std::move(owned), mode, path);
    }
    if (errno == EINTR) continue;
    if (errno == ELOOP)  // a link was swapped in after the check
      detail::throw_system_error(ELOOP, std::string(what) + "(" + path.string() + "): is a symbolic link, which ipckit does not follow");
    if (errno != ENXIO) detail::throw_errno("open FIFO(" + path.string() + ")");
    if (deadline.expired()) throw TimeoutError(std::string(what) + "(" + path.string() + "): no reader opened it in time");
    std::this_thread::sleep_for(std::min<std::chrono::nanoseconds>(backoff, deadline.remaining()));
    backoff = std::min<std::chrono::microseconds>(backoff * 2, std::chrono::milliseconds(20));
  }
}

}  // namespace ipc
