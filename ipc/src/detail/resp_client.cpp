// RespConnection: blocking RESP2 client over a Unix socket or TCP, every wait bounded by a Deadline.
#include <ipc/detail/resp_client.hpp>

#include <ipc/detail/errno.hpp>
#include <ipc/errors.hpp>

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>

namespace ipc::detail {

std::string default_managerd_socket() {
  const char* rt = std::getenv("XDG_RUNTIME_DIR");
  if (rt && *rt) return std::string(rt) + "/ipckit/managerd.sock";
  return "/tmp/ipckit-" + std::to_string(::getuid()) + "/managerd.sock";
}

namespace {

// Waits for `events` on fd until the deadline; throws TimeoutError when it passes.
void wait_fd(int fd, short events, const Deadline& dl, const char* what) {
  for (;;) {
    pollfd p{fd, events, 0};
    int rc = ::poll(&p, 1, dl.poll_ms());
    if (rc > 0) return;
    if (rc == 0) throw TimeoutError(std::string("timed out ") + what);
    if (errno != EINTR) throw_errno("poll");
  }
}

// Non-blocking connect bounded by the deadline.
void connect_fd(int fd, const sockaddr* sa, socklen_t len, const Deadline& dl, const std::string& where) {
  if (::connect(fd, sa, len) == 0) return;
  if (errno != EINPROGRESS && errno != EAGAIN) throw_errno("connect(" + where + ")");
  wait_fd(fd, POLLOUT, dl, ("connecting to " + where).c_str());
  int err = 0;
  socklen_t el = sizeof err;
  ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
  if (err != 0) throw_system_error(err, "connect(" + where + ")");
}

}  // namespace

RespConnection RespConnection::unix_socket(const std::string& path, Timeout timeout) {
  Deadline dl(timeout);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) throw ValueError("socket path too long: " + path);
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) throw_errno("socket(AF_UNIX)");
  // A Unix connect completes or fails at once (no EINPROGRESS): connect blocking, then switch.
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) throw_errno("connect(" + path + ")");
  ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) | O_NONBLOCK);
  (void)dl;
  return RespConnection(std::move(fd), true);
}

RespConnection RespConnection::tcp(const std::string& host, int port, Timeout timeout) {
  Deadline dl(timeout);
  addrinfo hints{}, *res = nullptr;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  std::string p = std::to_string(port);
  int gai = ::getaddrinfo(host.c_str(), p.c_str(), &hints, &res);
  if (gai != 0) throw std::runtime_error("cannot resolve " + host + ": " + ::gai_strerror(gai));
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> guard(res, ::freeaddrinfo);
  UniqueFd fd(::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) throw_errno("socket(tcp)");
  int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  connect_fd(fd.get(), res->ai_addr, res->ai_addrlen, dl, host + ":" + p);
  return RespConnection(std::move(fd), false);
}

void RespConnection::send(std::string_view bytes, Timeout timeout) {
  Deadline dl(timeout);
  std::size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::send(m_fd.get(), bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += static_cast<std::size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      wait_fd(m_fd.get(), POLLOUT, dl, "sending a command");
    } else if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
      throw ConnectionClosed("the server closed the connection");
    } else {
      throw_errno("send");
    }
  }
}

ssize_t RespConnection::await_reply(char* buf, std::size_t size, const Deadline& dl) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  if (m_local && m_last_wait < kSpinWhenUnder) {
    auto until = start + kSpin;
    if (!dl.infinite() && dl.remaining() < kSpin) until = start + dl.remaining();
    for (;;) {
      ssize_t n = ::recv(m_fd.get(), buf, size, 0);
      if (n >= 0 || (errno != EAGAIN && errno != EINTR)) {
        m_last_wait = Clock::now() - start;
        return n;
      }
      if (Clock::now() >= until) break;
      ::sched_yield();  // the server may be waiting for this CPU
    }
  }
  wait_fd(m_fd.get(), POLLIN, dl, "waiting for a reply");
  ssize_t n = ::recv(m_fd.get(), buf, size, 0);
  m_last_wait = Clock::now() - start;
  return n;
}

std::size_t RespConnection::fill_reply(resp::Reply& r, const Deadline& dl) {
  for (bool first = true;; first = false) {
    std::size_t used = 0;
    std::string err;
    auto st = resp::parse_reply(m_in, r, used, err);
    if (st == resp::Status::reply) return used;
    if (st == resp::Status::error) throw ProtocolError("bad reply from the server: " + err);
    char buf[16384];
    // Nothing buffered: the reply to a command just sent is not there yet (a recv() now would
    // only say EAGAIN): await_reply waits for its first bytes.
    ssize_t n = first && m_in.empty() ? await_reply(buf, sizeof buf, dl) : ::recv(m_fd.get(), buf, sizeof buf, 0);
    if (n > 0) {
      m_in.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0) {
      throw ConnectionClosed("the server closed the connection");
    } else if (errno == EAGAIN || errno == EINTR) {
      wait_fd(m_fd.get(), POLLIN, dl, "waiting for a reply");
    } else if (errno == ECONNRESET) {
      throw ConnectionClosed("the server reset the connection");
    } else {
      throw_errno("recv");
    }
  }
}

resp::Reply RespConnection::read(Timeout timeout) {
  Deadline dl(timeout);
  resp::Reply r;
  m_in.erase(0, fill_reply(r, dl));
  return r;
}

std::string RespConnection::read_raw(Timeout timeout) {
  Deadline dl(timeout);
  resp::Reply r;
  std::size_t used = fill_reply(r, dl);
  std::string raw = m_in.substr(0, used);
  m_in.erase(0, used);
  return raw;
}

bool RespConnection::wait_closed(Timeout timeout) {
  Deadline dl(timeout);
  m_in.clear();
  for (;;) {
    char buf[16384];
    ssize_t n = ::recv(m_fd.get(), buf, sizeof buf, 0);
    if (n == 0 || (n < 0 && errno == ECONNRESET)) return true;
    if (n > 0) continue;
    if (errno != EAGAIN && errno != EINTR) throw_errno("recv");
    try {
      wait_fd(m_fd.get(), POLLIN, dl, "waiting for the server to close");
    } catch (const TimeoutError&) {
      return false;
    }
  }
}

resp::Reply RespConnection::call(std::span<const std::string_view> args, Timeout timeout) {
  Deadline dl(timeout);
  m_out.clear();
  resp::add_command(m_out, args);
  send(m_out, dl.infinite() ? Timeout{} : Timeout{dl.remaining()});
  return read(dl.infinite() ? Timeout{} : Timeout{dl.remaining()});
}

resp::Reply RespConnection::call(std::initializer_list<std::string_view> args, Timeout timeout) {
  return call(std::span<const std::string_view>(args.begin(), args.size()), timeout);
}

}  // namespace ipc::detail
