// Pipe, Connection, Listener and Client: length-framed messages over file descriptors.
#include <ipc/connection.hpp>

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstring>
#include <thread>

#include <ipc/detail/errno.hpp>
#include <ipc/detail/hmac.hpp>

namespace ipc {

namespace {

// ---- Frame header ----

// Length, then the length xor'ed with a constant: a cheap check that turns garbage on the
// stream into a ProtocolError instead of a wait for gigabytes that never come.
constexpr std::uint32_t kFrameMagic = 0x49504B43;  // "IPKC"
constexpr std::size_t kHeaderSize = 8;
constexpr std::size_t kReadBufferSize = 64 * 1024;
// A big frame's buffer grows with the bytes that actually arrive, from this size up, so a
// lying length prefix cannot make us allocate memory the peer never sends.
constexpr std::size_t kBigFrameStep = 1024 * 1024;

struct Header {
  std::uint32_t len;
  std::uint32_t check;
};
static_assert(sizeof(Header) == kHeaderSize);

std::string size_str(std::size_t n) { return std::to_string(n) + " bytes"; }

}  // namespace

// ---- Connection ----

Connection::Connection() noexcept = default;

Connection::Connection(detail::UniqueFd fd, bool readable, bool writable)
    : m_fd(std::move(fd)), m_readable(readable), m_writable(writable) {
  if (!m_fd) throw ValueError("Connection: invalid fd");
  if (!readable && !writable) throw ValueError("Connection: at least one of readable/writable must be true");
  int type = 0;
  socklen_t len = sizeof type;
  m_is_socket = ::getsockopt(m_fd.get(), SOL_SOCKET, SO_TYPE, &type, &len) == 0;
  if (!m_is_socket && m_writable) {
    // A pipe write to a dead reader raises SIGPIPE, which kills by default. Blocking it around
    // every write costs two syscalls (~3 us on a VM), so that guard is only armed when SIGPIPE
    // is not already ignored when the Connection is made (Python ignores it at startup).
    struct sigaction sa{};
    m_sigpipe_guard = ::sigaction(SIGPIPE, nullptr, &sa) != 0 || sa.sa_handler != SIG_IGN;
  }
}

Connection::Connection(Connection&& o) noexcept
    : m_fd(std::move(o.m_fd)),
      m_nb_fd(std::move(o.m_nb_fd)),
      m_nb_unavailable(o.m_nb_unavailable),
      m_readable(std::exchange(o.m_readable, false)),
      m_writable(std::exchange(o.m_writable, false)),
      m_is_socket(o.m_is_socket),
      m_poll_first(o.m_poll_first),
      m_sigpipe_guard(o.m_sigpipe_guard),
      m_max_message(o.m_max_message),
      m_rbuf(std::move(o.m_rbuf)),
      m_rpos(std::exchange(o.m_rpos, 0)),
      m_rend(std::exchange(o.m_rend, 0)),
      m_in_frame(std::exchange(o.m_in_frame, false)),
      m_frame_len(o.m_frame_len),
      m_frame_have(o.m_frame_have),
      m_frame(std::move(o.m_frame)),
      m_wbuf(std::move(o.m_wbuf)) {}

Connection& Connection::operator=(Connection&& o) noexcept {
  if (this != &o) {
    close();
    m_fd = std::move(o.m_fd);
    m_nb_fd = std::move(o.m_nb_fd);
    m_nb_unavailable = o.m_nb_unavailable;
    m_readable = std::exchange(o.m_readable, false);
    m_writable = std::exchange(o.m_writable, false);
    m_is_socket = o.m_is_socket;
    m_poll_first = o.m_poll_first;
    m_sigpipe_guard = o.m_sigpipe_guard;
    m_max_message = o.m_max_message;
    m_rbuf = std::move(o.m_rbuf);
    m_rpos = std::exchange(o.m_rpos, 0);
    m_rend = std::exchange(o.m_rend, 0);
    m_in_frame = std::exchange(o.m_in_frame, false);
    m_frame_len = o.m_frame_len;
    m_frame_have = o.m_frame_have;
    m_frame = std::move(o.m_frame);
    m_wbuf = std::move(o.m_wbuf);
  }
  return *this;
}

Connection::~Connection() = default;

void Connection::close() noexcept {
  m_nb_fd.reset();
  m_fd.reset();
  m_rpos = m_rend = 0;
  m_in_frame = false;
  m_frame = Bytes();
}

void Connection::max_message_size(std::size_t n) {
  if (n == 0 || n > kMaxMessageSizeLimit)
    throw ValueError("max_message_size must be between 1 and " + std::to_string(kMaxMessageSizeLimit));
  m_max_message = n;
}

PeerCredentials Connection::peer_credentials() const {
  if (!m_fd) throw ValueError("peer_credentials: connection is closed");
  int domain = 0;
  socklen_t len = sizeof domain;
  if (!m_is_socket || ::getsockopt(m_fd.get(), SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0 || domain != AF_UNIX)
    throw ValueError("peer_credentials: only Unix sockets carry peer credentials");
  ucred cred{};
  len = sizeof cred;
  if (::getsockopt(m_fd.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) detail::throw_errno("getsockopt(SO_PEERCRED)");
  return PeerCredentials{cred.pid, cred.uid, cred.gid};
}

bool Connection::has_buffered_message() const noexcept {
  if (m_in_frame) return false;
  std::size_t have = m_rend - m_rpos;
  if (have < kHeaderSize) return false;
  Header h;
  std::memcpy(&h, m_rbuf.get() + m_rpos, kHeaderSize);
  // A corrupt header counts as "ready": recv() will report it at once.
  return (h.len ^ kFrameMagic) != h.check || have >= kHeaderSize + h.len;
}

void Connection::check_readable(const char* what) const {
  if (!m_fd) throw ValueError(std::string(what) + ": connection is closed");
  if (!m_readable) throw ValueError(std::string(what) + ": connection is write-only");
}

// ---- Sending ----

void Connection::send_bytes(std::span<const std::byte> data, std::size_t offset, std::size_t size, Timeout timeout) {
  if (offset > data.size()) throw ValueError("send_bytes: offset is beyond the buffer");
  if (size == npos) size = data.size() - offset;
  if (size > data.size() - offset) throw ValueError("send_bytes: offset + size is beyond the buffer");
  send_frame(data.data() + offset, size, timeout);
}

void Connection::send_frame(const void* data, std::size_t size, Timeout timeout) {
  if (!m_fd) throw ValueError("send: connection is closed");
  if (!m_writable) throw ValueError("send: connection is read-only");
  if (size > m_max_message)
    throw ValueError("send: message of " + size_str(size) + " exceeds max_message_size (" +
                     size_str(m_max_message) + "); nothing was sent");
  Header h{static_cast<std::uint32_t>(size), static_cast<std::uint32_t>(size) ^ kFrameMagic};
  iovec iov[2] = {{&h, kHeaderSize}, {const_cast<void*>(data), size}};
  write_all(iov, size ? 2 : 1, timeout);
}

// The fd for a bounded send on a pipe or FIFO end: a non-blocking file description of the same
// pipe, private to this Connection. O_NONBLOCK belongs to the description, which fork shares:
// setting it on m_fd, even briefly, makes another process's blocking send fail with EAGAIN,
// and its restore makes our bounded send block. Opening /proc/self/fd/N makes a new
// description (pipes have no per-call MSG_DONTWAIT; RWF_NOWAIT covers only anonymous pipes on
// Linux >= 6.4). -1 when the reader is gone (ENXIO); -2 when /proc cannot do it.
int Connection::nonblocking_pipe_fd() {
  if (m_nb_fd) return m_nb_fd.get();
  if (m_nb_unavailable) return -2;
  std::string self = "/proc/self/fd/" + std::to_string(m_fd.get());
  int fd;
  do {
    fd = ::open(self.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    if (errno == ENXIO) return -1;  // no reader left: the write would fail with EPIPE
    m_nb_unavailable = true;
    return -2;
  }
  m_nb_fd.reset(fd);
  return fd;
}

void Connection::write_all(iovec* iov, int iovcnt, Timeout timeout) {
  Deadline deadline(timeout);
  const bool bounded = !deadline.infinite();
  std::size_t total = 0, written = 0;
  for (int i = 0; i < iovcnt; ++i) total += iov[i].iov_len;
  // A bounded send never blocks in write() and never touches m_fd's flags: sockets take
  // MSG_DONTWAIT per call, pipes write through their own non-blocking description. Without
  // /proc, a pipe waits for POLLOUT and then writes at most PIPE_BUF (which the free buffer
  // slot POLLOUT promises takes at once, unless another writer fills it first).
  int fd = m_fd.get();
  bool poll_first = false;
  if (bounded && !m_is_socket) {
    int nb = nonblocking_pipe_fd();
    if (nb == -1) throw ConnectionClosed("send: the peer closed the connection");
    if (nb >= 0) fd = nb;
    poll_first = nb == -2;
  }
  // Sockets: MSG_NOSIGNAL turns a dead peer into EPIPE without a signal, at no extra cost.
  // Pipes have no such flag: block SIGPIPE in this thread around the write and consume the
  // one the write raised, unless the caller already blocks or ignores it.
  sigset_t pipe_set, old_set;
  bool guard = false;
  if (m_sigpipe_guard) {
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    ::pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
    guard = !sigismember(&old_set, SIGPIPE);
    if (!guard) ::pthread_sigmask(SIG_SETMASK, &old_set, nullptr);
  }
  int err = 0;
  auto wait_writable = [&] {  // false on timeout
    pollfd p{fd, POLLOUT, 0};
    timespec ts = deadline.relative_timespec();
    return ::ppoll(&p, 1, bounded ? &ts : nullptr, nullptr) != 0;
  };
  while (iovcnt > 0) {
    ssize_t n;
    if (m_is_socket) {
      msghdr msg{};
      msg.msg_iov = iov;
      msg.msg_iovlen = static_cast<std::size_t>(iovcnt);
      n = ::sendmsg(fd, &msg, MSG_NOSIGNAL | (bounded ? MSG_DONTWAIT : 0));
    } else if (poll_first) {
      if (!wait_writable()) {
        err = ETIMEDOUT;
        break;
      }
      iovec part[2];
      int parts = 0;
      for (std::size_t room = PIPE_BUF; parts < iovcnt && parts < 2 && room > 0; ++parts) {
        part[parts] = {iov[parts].iov_base, std::min(room, iov[parts].iov_len)};
        room -= part[parts].iov_len;
      }
      n = ::writev(fd, part, parts);
    } else {
      n = ::writev(fd, iov, iovcnt);
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {  // full (bounded send, or a non-blocking fd handed to us): wait
        if (!wait_writable()) {
          err = ETIMEDOUT;
          break;
        }
        continue;
      }
      err = errno;
      break;
    }
    auto done = static_cast<std::size_t>(n);
    written += done;
    while (iovcnt > 0 && done >= iov->iov_len) {
      done -= iov->iov_len;
      ++iov;
      --iovcnt;
    }
    if (iovcnt > 0) {
      iov->iov_base = static_cast<char*>(iov->iov_base) + done;
      iov->iov_len -= done;
    }
  }
  if (guard) {
    if (err == EPIPE) {
      timespec zero{0, 0};
      while (::sigtimedwait(&pipe_set, nullptr, &zero) < 0 && errno == EINTR) {
      }
    }
    ::pthread_sigmask(SIG_SETMASK, &old_set, nullptr);
  }
  if (err == ETIMEDOUT) {
    if (written == 0) throw TimeoutError("send: timed out; nothing was sent");
    close();  // the peer holds part of a frame: the stream is unusable
    throw TimeoutError("send: timed out after " + size_str(written) + " of " + size_str(total) +
                       "; the connection is closed");
  }
  if (err == EPIPE || err == ECONNRESET) throw ConnectionClosed("send: the peer closed the connection");
  if (err) detail::throw_system_error(err, "send(fd " + std::to_string(fd) + ")");
}

// ---- Receiving ----

bool Connection::wait_readable(Deadline& deadline) {
  pollfd p{m_fd.get(), POLLIN, 0};
  for (;;) {
    timespec ts = deadline.relative_timespec();
    int r = ::ppoll(&p, 1, deadline.infinite() ? nullptr : &ts, nullptr);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) detail::throw_errno("poll(fd " + std::to_string(m_fd.get()) + ")");
    return r > 0;
  }
}

// Reads more bytes into the read buffer. False on timeout; ConnectionClosed on EOF.
bool Connection::fill(Deadline& deadline) {
  if (!m_rbuf) m_rbuf = std::make_unique_for_overwrite<std::byte[]>(kReadBufferSize);
  if (m_rpos > 0) {
    std::memmove(m_rbuf.get(), m_rbuf.get() + m_rpos, m_rend - m_rpos);
    m_rend -= m_rpos;
    m_rpos = 0;
  }
  for (;;) {
    if ((m_poll_first || !deadline.infinite()) && !wait_readable(deadline)) return false;
    ssize_t n = ::read(m_fd.get(), m_rbuf.get() + m_rend, kReadBufferSize - m_rend);
    if (n > 0) {
      m_rend += static_cast<std::size_t>(n);
      return true;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      if (!wait_readable(deadline)) return false;
      continue;
    }
    if (n == 0 || errno == ECONNRESET) {
      if (m_rend == 0) throw ConnectionClosed("recv: the peer closed the connection");
      std::size_t have = m_rend;
      close();
      throw ConnectionClosed("recv: the peer closed the connection in the middle of a message (" +
                             size_str(have) + " of a frame received)");
    }
    detail::throw_errno("read(fd " + std::to_string(m_fd.get()) + ")");
  }
}

long Connection::read_available() noexcept {
  if (!m_rbuf) m_rbuf = std::make_unique_for_overwrite<std::byte[]>(kReadBufferSize);
  if (m_rpos > 0) {
    std::memmove(m_rbuf.get(), m_rbuf.get() + m_rpos, m_rend - m_rpos);
    m_rend -= m_rpos;
    m_rpos = 0;
  }
  if (m_rend == kReadBufferSize) return 1;  // full already: there is something to read
  ssize_t n;
  do {
    n = ::read(m_fd.get(), m_rbuf.get() + m_rend, kReadBufferSize - m_rend);
  } while (n < 0 && errno == EINTR);
  if (n > 0) m_rend += static_cast<std::size_t>(n);
  return static_cast<long>(n);
}

void Connection::fail_stream(const std::string& why) {
  // The stream can no longer be trusted (we do not know where the next frame starts): close it,
  // as Python does when a message exceeds maxlength.
  close();
  throw ProtocolError(why + "; the connection is closed");
}

Connection::Frame Connection::next_frame(Timeout timeout, std::size_t limit, bool throw_on_timeout) {
  check_readable("recv");
  Deadline deadline(timeout);
  auto timed_out = [&]() -> Frame {
    if (throw_on_timeout) throw TimeoutError("recv: timed out");
    return Frame{{}, false, false};
  };
  limit = std::min(limit, m_max_message);

  if (!m_in_frame) {
    while (m_rend - m_rpos < kHeaderSize)
      if (!fill(deadline)) return timed_out();
    Header h;
    std::memcpy(&h, m_rbuf.get() + m_rpos, kHeaderSize);
    if ((h.len ^ kFrameMagic) != h.check) fail_stream("recv: garbage on the connection (bad frame header)");
    if (h.len > limit)
      fail_stream("recv: incoming message of " + size_str(h.len) + " exceeds the limit of " + size_str(limit));
    std::size_t total = kHeaderSize + h.len;
    if (total <= kReadBufferSize) {
      while (m_rend - m_rpos < total)
        if (!fill(deadline)) return timed_out();
      std::span<const std::byte> out(m_rbuf.get() + m_rpos + kHeaderSize, h.len);
      m_rpos += total;
      if (m_rpos == m_rend) m_rpos = m_rend = 0;
      return Frame{out, false, true};
    }
    // Too big for the read buffer: assemble it in m_frame, keeping progress across timeouts.
    m_rpos += kHeaderSize;
    m_in_frame = true;
    m_frame_len = h.len;
    m_frame_have = 0;
    m_frame.clear();
  } else if (m_frame_len > limit) {
    fail_stream("recv: incoming message of " + size_str(m_frame_len) + " exceeds the limit of " + size_str(limit));
  }

  if (std::size_t buffered = m_rend - m_rpos; buffered > 0) {
    std::size_t take = std::min(buffered, m_frame_len - m_frame_have);
    if (m_frame.size() < m_frame_have + take) m_frame.resize(std::min(m_frame_len, std::max(kBigFrameStep, m_frame_have + take)));
    std::memcpy(m_frame.data() + m_frame_have, m_rbuf.get() + m_rpos, take);
    m_frame_have += take;
    m_rpos += take;
    if (m_rpos == m_rend) m_rpos = m_rend = 0;
  }
  while (m_frame_have < m_frame_len) {
    if (m_frame.size() == m_frame_have)
      m_frame.resize(std::min(m_frame_len, std::max(kBigFrameStep, 2 * m_frame_have)));
    if ((m_poll_first || !deadline.infinite()) && !wait_readable(deadline)) return timed_out();
    ssize_t n = ::read(m_fd.get(), m_frame.data() + m_frame_have, m_frame.size() - m_frame_have);
    if (n > 0) {
      m_frame_have += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      if (!wait_readable(deadline)) return timed_out();
      continue;
    }
    if (n == 0 || errno == ECONNRESET) {
      std::size_t have = m_frame_have, len = m_frame_len;
      close();
      throw ConnectionClosed("recv: the peer closed the connection in the middle of a message (" +
                             size_str(have) + " of " + size_str(len) + " received)");
    }
    detail::throw_errno("read(fd " + std::to_string(m_fd.get()) + ")");
  }
  m_in_frame = false;
  return Frame{std::span<const std::byte>(m_frame.data(), m_frame_len), true, true};
}

std::optional<Bytes> Connection::try_recv_bytes(std::size_t maxlength, Timeout timeout) {
  Frame f = next_frame(timeout, maxlength, false);
  if (!f.ok) return std::nullopt;
  if (f.big) {
    Bytes out = std::move(m_frame);
    out.resize(f.bytes.size());
    m_frame = Bytes();
    return out;
  }
  return Bytes(f.bytes.begin(), f.bytes.end());
}

Bytes Connection::recv_bytes(std::size_t maxlength, Timeout timeout) {
  auto out = try_recv_bytes(maxlength, timeout);
  if (!out) throw TimeoutError("recv_bytes: timed out");
  return std::move(*out);
}

std::size_t Connection::recv_bytes_into(std::span<std::byte> buffer, Timeout timeout) {
  Frame f = next_frame(timeout, npos);
  if (f.bytes.size() > buffer.size())
    throw BufferTooShort("recv_bytes_into: message of " + size_str(f.bytes.size()) +
                             " does not fit the buffer of " + size_str(buffer.size()),
                         Bytes(f.bytes.begin(), f.bytes.end()));
  std::memcpy(buffer.data(), f.bytes.data(), f.bytes.size());
  if (f.big) release_big_frame();
  return f.bytes.size();
}

bool Connection::poll(Timeout timeout) {
  check_readable("poll");
  if (has_buffered_message()) return true;
  Deadline deadline(timeout);
  return wait_readable(deadline);
}

// ---- Pipe ----

std::pair<Connection, Connection> Pipe(bool duplex) {
  int fds[2];
  if (duplex) {
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) detail::throw_errno("socketpair");
    return {Connection(detail::UniqueFd(fds[0]), true, true), Connection(detail::UniqueFd(fds[1]), true, true)};
  }
  if (::pipe2(fds, O_CLOEXEC) != 0) detail::throw_errno("pipe2");
  return {Connection(detail::UniqueFd(fds[0]), true, false), Connection(detail::UniqueFd(fds[1]), false, true)};
}

// ---- Addresses ----

namespace {

struct SockAddr {
  sockaddr_storage storage{};
  socklen_t len = 0;
  int family = AF_UNIX;
  std::string path;      // unix: file path ("" when abstract)
  bool abstract = false;
  std::string host;      // tcp
  std::string port;      // tcp

  const sockaddr* addr() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

SockAddr parse_address(std::string_view address) {
  SockAddr a;
  if (address.starts_with("unix:")) {
    std::string_view rest = address.substr(5);
    if (rest.empty()) throw ValueError("address \"" + std::string(address) + "\": empty unix path");
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    a.abstract = rest.front() == '@';
    std::string_view name = a.abstract ? rest.substr(1) : rest;
    if (a.abstract && name.empty()) throw ValueError("address \"" + std::string(address) + "\": empty abstract name");
    std::size_t room = sizeof(un.sun_path) - 1;
    if (name.size() > room)
      throw ValueError("address \"" + std::string(address) + "\": longer than " + std::to_string(room) + " bytes");
    std::memcpy(un.sun_path + (a.abstract ? 1 : 0), name.data(), name.size());
    a.len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + (a.abstract ? 1 : 0) + name.size() +
                                   (a.abstract ? 0 : 1));
    if (!a.abstract) a.path = std::string(name);
    std::memcpy(&a.storage, &un, sizeof un);
    return a;
  }
  if (address.starts_with("tcp:")) {
    std::string_view rest = address.substr(4);
    auto colon = rest.rfind(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == rest.size())
      throw ValueError("address \"" + std::string(address) + "\": expected tcp:host:port");
    a.host = std::string(rest.substr(0, colon));
    if (a.host.size() > 2 && a.host.front() == '[' && a.host.back() == ']') a.host = a.host.substr(1, a.host.size() - 2);
    a.port = std::string(rest.substr(colon + 1));
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* res = nullptr;
    if (int rc = ::getaddrinfo(a.host.c_str(), a.port.c_str(), &hints, &res); rc != 0 || !res)
      throw ValueError("address \"" + std::string(address) + "\": " + ::gai_strerror(rc));
    std::memcpy(&a.storage, res->ai_addr, res->ai_addrlen);
    a.len = res->ai_addrlen;
    a.family = res->ai_family;
    ::freeaddrinfo(res);
    return a;
  }
  throw ValueError("address \"" + std::string(address) + "\": expected unix:/path, unix:@name or tcp:host:port");
}

std::string tcp_address_of(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) detail::throw_errno("getsockname");
  char host[NI_MAXHOST], port[NI_MAXSERV];
  if (::getnameinfo(reinterpret_cast<sockaddr*>(&ss), len, host, sizeof host, port, sizeof port,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
    throw ValueError("getnameinfo failed");
  std::string h = host;
  if (ss.ss_family == AF_INET6) h = "[" + h + "]";
  return "tcp:" + h + ":" + port;
}

detail::UniqueFd make_socket(int family, const std::string& what) {
  detail::UniqueFd fd(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) detail::throw_errno("socket(" + what + ")");
  if (family != AF_UNIX) {
    int one = 1;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  return fd;
}

// True when `path` is a socket file that nobody listens on any more (its Listener died), and
// it is ours to replace. Throws std::system_error (EADDRINUSE) when such a file belongs to
// another user: in a sticky directory root could remove it, but ipckit never takes over or
// removes another user's file.
bool is_stale_socket(const std::string& path, std::string_view address) {
  struct stat st{};
  if (::lstat(path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) return false;
  detail::UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!probe) return false;
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  std::strncpy(un.sun_path, path.c_str(), sizeof(un.sun_path) - 1);
  if (::connect(probe.get(), reinterpret_cast<sockaddr*>(&un), sizeof un) == 0 || errno != ECONNREFUSED) return false;
  if (st.st_uid != ::geteuid())
    detail::throw_system_error(EADDRINUSE, "bind(" + std::string(address) + "): a stale socket file owned by uid " +
                                       std::to_string(st.st_uid) +
                                       " is in the way; ipckit replaces only its own (remove it or choose another path)");
  return true;
}

// Sets the mode of the socket file just bound at `path` without following a link, after
// checking it is a socket of ours (not something swapped in since bind). Returns its stat.
struct stat chmod_bound_socket(const std::string& path, mode_t mode) {
  detail::UniqueFd fd(::open(path.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  struct stat st{};
  if (!fd || ::fstat(fd.get(), &st) != 0) detail::throw_errno("open(" + path + ")");
  if (!S_ISSOCK(st.st_mode) || st.st_uid != ::geteuid())
    detail::throw_system_error(EPERM, "bind(" + path + "): the socket file was replaced by another file");
  // chmod through the O_PATH fd: /proc/self/fd/N names exactly that inode.
  if (::chmod(("/proc/self/fd/" + std::to_string(fd.get())).c_str(), mode) != 0 &&
      ::fchmodat(AT_FDCWD, path.c_str(), mode, AT_SYMLINK_NOFOLLOW) != 0)
    detail::throw_errno("chmod(" + path + ")");
  return st;
}

// ---- Authkey handshake (mutual HMAC-SHA256 challenge, as multiprocessing.connection) ----

constexpr std::string_view kChallenge = "#CHALLENGE#{sha256}";
constexpr std::string_view kWelcome = "#WELCOME#";
constexpr std::string_view kFailure = "#FAILURE#";
constexpr std::size_t kNonceSize = 32;
constexpr std::size_t kHandshakeMax = 256;
constexpr std::size_t kMaxPendingHandshakes = 256;

Bytes make_challenge() {
  Bytes msg(kChallenge.size() + kNonceSize);
  std::memcpy(msg.data(), kChallenge.data(), kChallenge.size());
  detail::random_bytes(std::span<std::byte>(msg).subspan(kChallenge.size()));
  return msg;
}

bool equals(std::span<const std::byte> b, std::string_view s) {
  return b.size() == s.size() && std::memcmp(b.data(), s.data(), s.size()) == 0;
}

// Answers a challenge message with its digest, sending for at most `timeout`. Throws
// AuthenticationError when it is not a challenge.
void answer(Connection& c, std::string_view key, std::span<const std::byte> challenge, Timeout timeout) {
  if (challenge.size() <= kChallenge.size() ||
      std::memcmp(challenge.data(), kChallenge.data(), kChallenge.size()) != 0)
    throw AuthenticationError("authkey handshake: the peer did not send a challenge");
  auto digest = detail::hmac_sha256(key, challenge);
  c.send_bytes(std::span<const std::byte>(digest), 0, Connection::npos, timeout);
}

// Checks the digest of `challenge` in constant time, tells the peer the verdict (sending for at
// most `timeout`), throws AuthenticationError if wrong.
void verify(Connection& c, std::string_view key, std::span<const std::byte> challenge,
            std::span<const std::byte> digest, Timeout timeout) {
  auto expected = detail::hmac_sha256(key, challenge);
  if (!detail::digest_equal(expected, digest)) {
    try {
      c.send_bytes(kFailure, timeout);
    } catch (const Error&) {
    }
    throw AuthenticationError("authkey handshake: digest received was wrong");
  }
  c.send_bytes(kWelcome, timeout);
}

void expect_welcome(std::span<const std::byte> reply) {
  if (!equals(reply, kWelcome)) throw AuthenticationError("authkey handshake: the peer rejected our digest");
}

}  // namespace

// ---- Listener ----

// A client in the middle of the authkey handshake; the server side is a small state machine so
// that accept() can run several handshakes at once.
struct Listener::Pending {
  enum Stage { kAwaitDigest, kAwaitChallenge, kAwaitWelcome };
  Connection conn;
  Bytes challenge;
  Stage stage = kAwaitDigest;
  Deadline deadline;
};

Listener::Listener(std::string_view address, std::optional<std::string> authkey, int backlog)
    : m_authkey(std::move(authkey)), m_owner_pid(::getpid()) {
  SockAddr a = parse_address(address);
  m_fd = make_socket(a.family, std::string(address));
  // Non-blocking from birth (so no shared file description is ever flipped): accept() and wait()
  // poll first, and a client that went away in between gives EAGAIN instead of a block.
  if (::fcntl(m_fd.get(), F_SETFL, O_NONBLOCK) != 0) detail::throw_errno("fcntl(" + std::string(address) + ")");
  if (a.family != AF_UNIX) {
    int one = 1;
    ::setsockopt(m_fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  }
  if (a.family == AF_UNIX && !a.abstract) {
    // Nobody can connect before listen(), so chmod between bind and listen leaves no window in
    // which the socket is reachable with the umask's looser mode.
    // bind() never follows a link or reuses a file (EADDRINUSE).
    int rc = ::bind(m_fd.get(), a.addr(), a.len);
    if (rc != 0 && errno == EADDRINUSE && is_stale_socket(a.path, address)) {
      ::unlink(a.path.c_str());  // left behind by a Listener of ours that died
      rc = ::bind(m_fd.get(), a.addr(), a.len);
    }
    if (rc != 0) detail::throw_errno("bind(" + std::string(address) + ")");
    struct stat st{};
    try {
      st = chmod_bound_socket(a.path, 0600);
    } catch (const std::system_error& e) {
      if (e.code().value() != EPERM) ::unlink(a.path.c_str());  // ours: do not leave it behind
      throw;
    }
    m_dev = st.st_dev;
    m_ino = st.st_ino;
    m_unlink_path = a.path;
  } else if (::bind(m_fd.get(), a.addr(), a.len) != 0) {
    detail::throw_errno("bind(" + std::string(address) + ")");
  }
  if (::listen(m_fd.get(), backlog) != 0) {
    int e = errno;
    close();
    detail::throw_system_error(e, "listen(" + std::string(address) + ")");
  }
  m_address = a.family == AF_UNIX ? std::string(address) : tcp_address_of(m_fd.get());
}

Listener::Listener(Listener&& o) noexcept
    : m_fd(std::move(o.m_fd)),
      m_address(std::move(o.m_address)),
      m_authkey(std::move(o.m_authkey)),
      m_unlink_path(std::exchange(o.m_unlink_path, {})),
      m_dev(o.m_dev),
      m_ino(o.m_ino),
      m_owner_pid(o.m_owner_pid),
      m_handshake_timeout(o.m_handshake_timeout),
      m_pending(std::move(o.m_pending)),
      m_finished(std::move(o.m_finished)) {}

Listener& Listener::operator=(Listener&& o) noexcept {
  if (this != &o) {
    close();
    m_fd = std::move(o.m_fd);
    m_address = std::move(o.m_address);
    m_authkey = std::move(o.m_authkey);
    m_unlink_path = std::exchange(o.m_unlink_path, {});
    m_dev = o.m_dev;
    m_ino = o.m_ino;
    m_owner_pid = o.m_owner_pid;
    m_handshake_timeout = o.m_handshake_timeout;
    m_pending = std::move(o.m_pending);
    m_finished = std::move(o.m_finished);
  }
  return *this;
}

Listener::~Listener() { close(); }

void Listener::close() noexcept {
  m_pending.clear();
  m_finished.clear();
  m_fd.reset();
  if (!m_unlink_path.empty() && ::getpid() == m_owner_pid) {
    // Unlink only the file we bound: another Listener may have replaced a stale one since.
    struct stat st{};
    if (::lstat(m_unlink_path.c_str(), &st) == 0 && st.st_dev == m_dev && st.st_ino == m_ino)
      ::unlink(m_unlink_path.c_str());
  }
  m_unlink_path.clear();
}

std::vector<int> Listener::wait_fds() const {
  std::vector<int> fds{m_fd.get()};
  for (auto& p : m_pending) fds.push_back(p.conn.fileno());
  return fds;
}

Deadline::Clock::time_point Listener::next_expiry() const noexcept {
  auto at = Deadline::Clock::time_point::max();
  for (auto& p : m_pending) at = std::min(at, p.deadline.at());
  return at;
}

// Takes every step that needs no waiting: drops handshakes past their limit, advances those
// whose peer has spoken, accepts the clients queued on the socket (with an authkey each gets
// its challenge; without one, one client at a time is kept). Finished clients go to
// m_finished. Never blocks: every send and receive here has a zero timeout.
void Listener::advance() {
  std::erase_if(m_pending, [](const Pending& p) { return p.deadline.expired(); });
  if (!m_pending.empty()) {
    std::vector<pollfd> pfds;
    pfds.reserve(m_pending.size());
    for (auto& p : m_pending) pfds.push_back({p.conn.fileno(), POLLIN, 0});
    timespec zero{0, 0};
    if (::ppoll(pfds.data(), pfds.size(), &zero, nullptr) > 0) {
      const std::string& key = *m_authkey;
      for (std::size_t i = 0; i < m_pending.size(); ++i) {
        if (!pfds[i].revents) continue;
        Pending& p = m_pending[i];
        try {
          // Several handshake messages may sit in the buffer already: take all that are there.
          // A part of a message, or nothing yet: wait for the rest.
          for (auto msg = p.conn.try_recv_bytes(kHandshakeMax, std::chrono::seconds(0)); msg;
               msg = p.conn.has_buffered_message() ? p.conn.try_recv_bytes(kHandshakeMax, std::chrono::seconds(0))
                                                   : std::nullopt) {
            if (p.stage == Pending::kAwaitDigest) {
              verify(p.conn, key, p.challenge, *msg, std::chrono::seconds(0));
              p.stage = Pending::kAwaitChallenge;
            } else if (p.stage == Pending::kAwaitChallenge) {
              answer(p.conn, key, *msg, std::chrono::seconds(0));
              p.stage = Pending::kAwaitWelcome;
            } else {
              expect_welcome(*msg);
              m_finished.push_back({std::move(p.conn), {}});  // leaves p.conn closed
              break;
            }
          }
        } catch (const AuthenticationError& e) {
          m_finished.push_back({Connection(), e.what()});
          p.conn.close();
        } catch (const ProtocolError& e) {
          m_finished.push_back({Connection(), std::string("authkey handshake: ") + e.what()});
          p.conn.close();
        } catch (const Error&) {  // the client hung up, or its buffer is full: drop it quietly
          p.conn.close();
        }
      }
      std::erase_if(m_pending, [](const Pending& p) { return p.conn.closed(); });
    }
  }
  // One client at a time without an authkey (the backlog keeps the others); with one, up to
  // a batch per call so that a flood cannot keep a caller here.
  for (int batch = 0; batch < 64 && (m_authkey || m_finished.empty()); ++batch) {
    detail::UniqueFd fd(::accept4(m_fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!fd) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      detail::throw_errno("accept(" + m_address + ")");
    }
    int one = 1;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // fails harmlessly on unix
    Connection conn(std::move(fd), true, true);
    if (!m_authkey) {
      m_finished.push_back({std::move(conn), {}});
      break;
    }
    Pending p{std::move(conn), make_challenge(), Pending::kAwaitDigest, Deadline(m_handshake_timeout)};
    try {
      p.conn.send_bytes(std::span<const std::byte>(p.challenge), 0, Connection::npos, std::chrono::seconds(0));
    } catch (const Error&) {
      continue;  // gone already
    }
    // Bound the memory and fds a flood of silent clients can pin: drop the oldest.
    if (m_pending.size() >= kMaxPendingHandshakes) m_pending.erase(m_pending.begin());
    m_pending.push_back(std::move(p));
  }
}

// Sleeps until the socket or a pending handshake has something, a handshake runs out of time,
// or `deadline` passes. False when `deadline` has passed.
bool Listener::wait_for_progress(const Deadline& deadline) {
  if (deadline.expired()) return false;
  std::vector<pollfd> pfds{{m_fd.get(), POLLIN, 0}};
  for (auto& p : m_pending) pfds.push_back({p.conn.fileno(), POLLIN, 0});
  auto until = std::min(deadline.at(), next_expiry());
  Deadline step(until == Deadline::Clock::time_point::max()
                    ? Timeout{}
                    : Timeout{std::max(until - Deadline::Clock::now(), Deadline::Clock::duration::zero())});
  timespec ts = step.relative_timespec();
  if (::ppoll(pfds.data(), pfds.size(), step.infinite() ? nullptr : &ts, nullptr) < 0 && errno != EINTR)
    detail::throw_errno("poll(" + m_address + ")");
  return true;
}

bool Listener::poll(Timeout timeout) {
  if (!m_fd) throw ValueError("poll: listener is closed");
  Deadline deadline(timeout);
  for (;;) {
    advance();
    if (!m_finished.empty()) return true;
    if (!wait_for_progress(deadline)) return false;
  }
}

Connection Listener::accept(Timeout timeout) {
  if (!m_fd) throw ValueError("accept: listener is closed");
  if (!poll(timeout)) throw TimeoutError("accept(" + m_address + "): timed out");
  Finished f = std::move(m_finished.front());
  m_finished.erase(m_finished.begin());
  if (!f.error.empty()) throw AuthenticationError(f.error);
  return std::move(f.conn);
}

// ---- Client ----

Connection Client(std::string_view address, std::optional<std::string> authkey, Timeout timeout) {
  Deadline deadline(timeout);
  SockAddr a = parse_address(address);
  std::string what = "connect(" + std::string(address) + ")";
  detail::UniqueFd fd = make_socket(a.family, std::string(address));
  // Non-blocking connect so that the timeout bounds it (a full backlog, an unreachable host).
  int flags = ::fcntl(fd.get(), F_GETFL);
  ::fcntl(fd.get(), F_SETFL, flags | O_NONBLOCK);
  for (;;) {
    if (::connect(fd.get(), a.addr(), a.len) == 0) break;
    if (errno == EINTR) continue;
    if (errno == EAGAIN && a.family == AF_UNIX) {  // backlog full: retry until the deadline
      if (deadline.expired()) throw TimeoutError(what + ": timed out");
      std::this_thread::sleep_for(std::min<std::chrono::nanoseconds>(deadline.remaining(), std::chrono::milliseconds(5)));
      continue;
    }
    if (errno != EINPROGRESS) detail::throw_errno(what);
    pollfd p{fd.get(), POLLOUT, 0};
    int r;
    do {
      timespec ts = deadline.relative_timespec();
      r = ::ppoll(&p, 1, deadline.infinite() ? nullptr : &ts, nullptr);
    } while (r < 0 && errno == EINTR);
    if (r < 0) detail::throw_errno(what);
    if (r == 0) throw TimeoutError(what + ": timed out");
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) detail::throw_system_error(err, what);
    break;
  }
  ::fcntl(fd.get(), F_SETFL, flags);
  Connection c(std::move(fd), true, true);
  if (authkey) {
    try {
      auto remaining = [&] { return Timeout(deadline.infinite() ? Timeout{} : Timeout{deadline.remaining()}); };
      // Answer the server's challenge, then challenge the server (Python's answer_challenge
      // followed by deliver_challenge).
      Bytes challenge = c.recv_bytes(kHandshakeMax, remaining());
      answer(c, *authkey, challenge, remaining());
      expect_welcome(c.recv_bytes(kHandshakeMax, remaining()));
      Bytes mine = make_challenge();
      c.send_bytes(std::span<const std::byte>(mine), 0, Connection::npos, remaining());
      Bytes digest = c.recv_bytes(kHandshakeMax, remaining());
      verify(c, *authkey, mine, digest, remaining());
    } catch (const ProtocolError& e) {
      throw AuthenticationError(std::string("authkey handshake: ") + e.what());
    } catch (const ConnectionClosed&) {
      throw AuthenticationError(
          "authkey handshake: the listener closed the connection (wrong authkey or handshake timeout)");
    }
  }
  return c;
}

// ---- wait ----

// Every wait form lands here. One pass polls every fd (a Listener contributes its socket and
// its pending handshakes); a Listener that had something is advanced, and counts as ready only
// once a client is finished, so the pass repeats (until the deadline) when only a handshake
// moved. A handshake's own limit also wakes the pass, so a silent client is dropped on time.
std::vector<std::size_t> detail::wait_ready(std::span<const Waitable> objects, Timeout timeout) {
  Deadline deadline(timeout);
  std::vector<pollfd> pfds;
  std::vector<std::size_t> owner;  // index into objects for each pollfd
  std::vector<bool> ready(objects.size());
  for (;;) {
    pfds.clear();
    owner.clear();
    bool any = false;
    auto until = deadline.at();
    for (std::size_t i = 0; i < objects.size(); ++i) {
      const Waitable& w = objects[i];
      if (Connection* c = w.connection()) {
        if (c->closed()) throw ValueError("wait: connection is closed");
        if (c->has_buffered_message()) ready[i] = any = true;  // ready now, poll the rest only
      } else if (Listener* l = w.listener()) {
        if (l->fileno() < 0) throw ValueError("wait: listener is closed");
        if (!l->m_finished.empty()) ready[i] = any = true;
        for (auto& p : l->m_pending) {
          pfds.push_back({p.conn.fileno(), POLLIN, 0});
          owner.push_back(i);
        }
        until = std::min(until, l->next_expiry());
      }
      pfds.push_back({w.fd(), POLLIN, 0});
      owner.push_back(i);
    }
    Deadline step(any ? Timeout(std::chrono::seconds(0))
                  : until == Deadline::Clock::time_point::max()
                      ? Timeout{}
                      : Timeout{std::max(until - Deadline::Clock::now(), Deadline::Clock::duration::zero())});
    timespec ts = step.relative_timespec();
    int r = ::ppoll(pfds.data(), pfds.size(), step.infinite() ? nullptr : &ts, nullptr);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) detail::throw_errno("poll");
    std::vector<bool> stirred(objects.size());
    for (std::size_t k = 0; k < pfds.size(); ++k)
      if (pfds[k].revents) (objects[owner[k]].listener() ? stirred : ready)[owner[k]] = true;
    for (std::size_t i = 0; i < objects.size(); ++i) {
      Listener* l = objects[i].listener();
      if (!l || ready[i] || !(stirred[i] || l->next_expiry() <= Deadline::Clock::now())) continue;
      l->advance();
      if (!l->m_finished.empty()) ready[i] = any = true;
    }
    if (!any)
      for (bool b : ready) any = any || b;
    if (any || deadline.expired()) break;
  }
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < objects.size(); ++i)
    if (ready[i]) out.push_back(i);
  return out;
}

std::vector<Waitable> wait(std::span<const Waitable> objects, Timeout timeout) {
  std::vector<Waitable> out;
  for (std::size_t i : detail::wait_ready(objects, timeout)) out.push_back(objects[i]);
  return out;
}

std::vector<Waitable> wait(std::initializer_list<Waitable> objects, Timeout timeout) {
  return wait(std::span<const Waitable>(objects.begin(), objects.size()), timeout);
}

std::vector<int> wait(std::span<const int> fds, Timeout timeout) {
  std::vector<Waitable> list(fds.begin(), fds.end());
  std::vector<int> out;
  for (std::size_t i : detail::wait_ready(list, timeout)) out.push_back(fds[i]);
  return out;
}

std::vector<int> wait(std::initializer_list<int> fds, Timeout timeout) {
  return wait(std::span<const int>(fds.begin(), fds.size()), timeout);
}

std::vector<Process*> wait(std::span<Process* const> processes, Timeout timeout) {
  std::vector<Waitable> list;
  list.reserve(processes.size());
  for (Process* p : processes) list.emplace_back(*p);
  std::vector<Process*> out;
  for (std::size_t i : detail::wait_ready(list, timeout)) out.push_back(processes[i]);
  return out;
}

}  // namespace ipc
