// Network I/O: the epoll loop, listeners (Unix socket, optional TCP), client buffers, signals, sd_notify.
#include "server.hpp"

#include <ipc/detail/errno.hpp>
#include <ipc/detail/resp_client.hpp>
#include <ipc/errors.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace ipc::managerd {

namespace {
constexpr std::size_t kReadChunk = 16 * 1024;               // Redis's PROTO_IOBUF_LEN
constexpr std::size_t kOutputSoftLimit = 4u * 1024 * 1024;  // stop parsing a client's input past this
constexpr long long kCronMs = 100;
}  // namespace

// ---- Buffer ----

char* Buffer::prepare(std::size_t n) {
  if (m_cap - m_end >= n) return m_data.get() + m_end;
  if (m_start > 0) {
    std::memmove(m_data.get(), m_data.get() + m_start, m_end - m_start);
    m_end -= m_start;
    m_start = 0;
    if (m_cap - m_end >= n) return m_data.get() + m_end;
  }
  std::size_t cap = std::max({m_cap * 2, m_end + n, kReadChunk});
  std::unique_ptr<char[]> d(new char[cap]);
  if (m_end) std::memcpy(d.get(), m_data.get(), m_end);
  m_data = std::move(d);
  m_cap = cap;
  return m_data.get() + m_end;
}

void Buffer::shrink(std::size_t keep) noexcept {
  if (m_start == m_end && m_cap > keep) {
    m_data.reset();
    m_cap = m_start = m_end = 0;
  }
}

// ---- paths, readiness ----

std::string default_socket_path() { return detail::default_managerd_socket(); }

namespace {

// systemd's sd_notify(3) protocol, without libsystemd: one datagram to $NOTIFY_SOCKET.
void sd_notify(const std::string& msg) {
  const char* e = std::getenv("NOTIFY_SOCKET");
  if (!e || !*e) return;
  std::size_t len = std::strlen(e);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (len >= sizeof sa.sun_path || (e[0] != '/' && e[0] != '@')) return;
  std::memcpy(sa.sun_path, e, len);
  if (e[0] == '@') sa.sun_path[0] = '\0';  // abstract namespace
  detail::UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return;
  ::sendto(fd.get(), msg.data(), msg.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&sa),
           static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len));
}

// Creates `dir` with mode 0700 if missing; refuses one owned by someone else or open to others.
void secure_dir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) detail::throw_errno("mkdir(" + dir + ")");
  struct stat st{};
  if (::lstat(dir.c_str(), &st) != 0) detail::throw_errno("stat(" + dir + ")");
  if (!S_ISDIR(st.st_mode)) throw std::runtime_error(dir + " is not a directory");
  if (st.st_uid != ::geteuid())
    throw std::runtime_error(dir + " belongs to uid " + std::to_string(st.st_uid) + ", not to us");
  if ((st.st_mode & 077) != 0 && ::chmod(dir.c_str(), 0700) != 0) detail::throw_errno("chmod(" + dir + ")");
}

}  // namespace

// ---- listening ----

void Server::listen_all() {
  if (m_opts.unix_socket) {
    m_socket_path = m_opts.socket_path.empty() ? default_socket_path() : m_opts.socket_path;
    if (m_opts.socket_path.empty()) {
      auto slash = m_socket_path.rfind('/');
      secure_dir(m_socket_path.substr(0, slash));
    }
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (m_socket_path.size() >= sizeof sa.sun_path)
      throw std::runtime_error("socket path too long (max " + std::to_string(sizeof sa.sun_path - 1) +
                               " bytes): " + m_socket_path);
    std::memcpy(sa.sun_path, m_socket_path.c_str(), m_socket_path.size() + 1);
    struct stat st{};
    if (::lstat(m_socket_path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) throw std::runtime_error(m_socket_path + " exists and is not a socket");
      detail::UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
      bool live = probe && ::connect(probe.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
      if (live) throw std::runtime_error("another server is already listening on " + m_socket_path);
      ::unlink(m_socket_path.c_str());  // stale socket of a dead server
    }
    m_unix_fd.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!m_unix_fd) detail::throw_errno("socket(AF_UNIX)");
    mode_t old = ::umask(0177);  // the socket is born 0600: no window where others could connect
    int rc = ::bind(m_unix_fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    ::umask(old);
    if (rc != 0) detail::throw_errno("bind(" + m_socket_path + ")");
    m_own_socket = true;
    ::chmod(m_socket_path.c_str(), 0600);
    if (::listen(m_unix_fd.get(), 511) != 0) detail::throw_errno("listen(" + m_socket_path + ")");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = static_cast<std::uint64_t>(m_unix_fd.get());
    ::epoll_ctl(m_epoll.get(), EPOLL_CTL_ADD, m_unix_fd.get(), &ev);
  }
  if (!m_opts.tcp_host.empty()) {
    addrinfo hints{}, *res = nullptr;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    std::string port = std::to_string(m_opts.tcp_port);
    int gai = ::getaddrinfo(m_opts.tcp_host.c_str(), port.c_str(), &hints, &res);
    if (gai != 0) throw std::runtime_error("cannot resolve " + m_opts.tcp_host + ": " + ::gai_strerror(gai));
    std::unique_ptr<addrinfo, void (*)(addrinfo*)> guard(res, ::freeaddrinfo);
    m_tcp_fd.reset(::socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!m_tcp_fd) detail::throw_errno("socket(tcp)");
    int one = 1;
    ::setsockopt(m_tcp_fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    std::string where = m_opts.tcp_host + ":" + port;
    if (::bind(m_tcp_fd.get(), res->ai_addr, res->ai_addrlen) != 0) detail::throw_errno("bind(" + where + ")");
    if (::listen(m_tcp_fd.get(), 511) != 0) detail::throw_errno("listen(" + where + ")");
    sockaddr_storage ss{};
    socklen_t sl = sizeof ss;
    ::getsockname(m_tcp_fd.get(), reinterpret_cast<sockaddr*>(&ss), &sl);
    m_tcp_port = ntohs(ss.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&ss)->sin_port
                                               : reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = static_cast<std::uint64_t>(m_tcp_fd.get());
    ::epoll_ctl(m_epoll.get(), EPOLL_CTL_ADD, m_tcp_fd.get(), &ev);
    if (!m_opts.port_file.empty()) {
      std::ofstream(m_opts.port_file) << m_tcp_port << "\n";
    }
  }
}

namespace {
// "host:port" of an IPv4 or IPv6 socket address ("?:0" for another family).
std::string format_address(const sockaddr_storage& ss) {
  char host[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (ss.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    ::inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    ::inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    port = ntohs(a->sin6_port);
  }
  return std::string(host) + ":" + std::to_string(port);
}
}  // namespace

void Server::accept_clients(int lfd, bool is_unix) {
  for (int i = 0; i < 1000; ++i) {
    sockaddr_storage ss{};
    socklen_t sl = sizeof ss;
    detail::UniqueFd conn(::accept4(lfd, reinterpret_cast<sockaddr*>(&ss), &sl, SOCK_NONBLOCK | SOCK_CLOEXEC));
    const int fd = conn.get();
    if (!conn) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE) log(LogLevel::warning, "accept: out of file descriptors");
      return;
    }
    std::string addr, laddr;
    if (is_unix) {
      ucred cred{};
      socklen_t cl = sizeof cred;
      if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0 ||
          (cred.uid != ::geteuid() && cred.uid != 0 &&
           std::find(m_opts.allow_uids.begin(), m_opts.allow_uids.end(), cred.uid) == m_opts.allow_uids.end())) {
        log(LogLevel::warning, "refused a connection from uid " + std::to_string(cred.uid) + " (pid " +
                                   std::to_string(cred.pid) + "): not allowed (--allow-uid)");
        ++stat_rejected;
        continue;
      }
      addr = laddr = m_socket_path + ":0";
    } else {
      addr = format_address(ss);
      sockaddr_storage ls{};
      socklen_t ll = sizeof ls;
      if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ls), &ll) == 0) laddr = format_address(ls);
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    if (m_nclients >= m_opts.maxclients) {
      static const char msg[] = "-ERR max number of clients reached\r\n";
      [[maybe_unused]] auto n = ::send(fd, msg, sizeof msg - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
      ++stat_rejected;
      continue;
    }
    if (Client* c = create_client(std::move(conn), is_unix, std::move(addr))) c->laddr = std::move(laddr);
  }
}

Client* Server::create_client(detail::UniqueFd conn, bool is_unix, std::string addr) {
  const int fd = conn.get();
  if (static_cast<std::size_t>(fd) >= m_clients.size()) m_clients.resize(static_cast<std::size_t>(fd) * 2 + 16);
  auto c = std::make_unique<Client>();
  c->id = m_next_id++;
  c->fd = std::move(conn);
  c->is_unix = is_unix;
  c->addr = std::move(addr);
  c->authenticated = m_opts.requirepass.empty();
  c->ctime = c->last_interaction = now_ms();
  detail::resp::Limits lim;
  lim.max_bulk_len = m_opts.proto_max_bulk_len;
  c->parser.set_limits(lim);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = static_cast<std::uint64_t>(fd);
  if (::epoll_ctl(m_epoll.get(), EPOLL_CTL_ADD, fd, &ev) != 0) return nullptr;  // closes it
  c->events = EPOLLIN;
  ++m_nclients;
  ++stat_connections;
  Client* raw = c.get();
  m_clients[static_cast<std::size_t>(fd)] = std::move(c);
  return raw;
}

// ---- reading and parsing ----

void Server::read_from_client(Client& c) {
  std::size_t want = kReadChunk;
  std::size_t big = c.parser.bulk_remaining();
  // A large bulk is read in growing steps (at most what was already received): a declared
  // length alone never makes us allocate.
  if (big > want) want = std::min(big, std::max(want, c.in.size()));
  char* p = c.in.prepare(want);
  ssize_t n = ::read(c.fd.get(), p, want);
  if (n == 0) return close_client(c);
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return;
    return close_client(c);
  }
  c.in.commit(static_cast<std::size_t>(n));
  c.last_interaction = now_ms();
  if (c.in.size() > m_opts.client_query_buffer_limit) {
    log(LogLevel::warning, "closing client " + std::to_string(c.id) + ": query buffer over the limit (" +
                               std::to_string(m_opts.client_query_buffer_limit) + " bytes)");
    return close_client(c);
  }
  process_input(c);
}

void Server::process_input(Client& c) {
  using detail::resp::Status;
  if (c.replica) {  // a replica's acknowledgements (REPLCONF ACK) need no answer
    c.in.consume(c.in.size());
    return;
  }
  while (!c.closing && !c.blocked && !c.close_after_reply && !c.close_asap) {
    if (c.pending_out() > kOutputSoftLimit) {
      // Back-pressure: the client does not read its replies; stop reading its requests until
      // the output drains, so our memory stays bounded.
      c.reading_paused = true;
      update_events(c);
      break;
    }
    auto st = c.parser.parse(c.in.view());
    if (st == Status::need_more) break;
    if (st == Status::error) {
      log(LogLevel::debug, "client " + std::to_string(c.id) + ": " + c.parser.error());
      detail::resp::add_error(c.out, "ERR " + c.parser.error());
      c.close_after_reply = true;
      c.parser.reset();
      break;
    }
    if (st == Status::request) execute(c, c.parser.args());
    c.in.consume(c.parser.consumed());
  }
  if (c.in.size() == 0) c.in.shrink(64 * 1024);
  if (c.close_asap || c.pending_out() > m_opts.client_output_buffer_limit) {
    log(LogLevel::warning, "closing client " + std::to_string(c.id) + ": output buffer over the limit (" +
                               std::to_string(m_opts.client_output_buffer_limit) + " bytes)");
    return close_client(c);
  }
  if (c.pending_out() || c.close_after_reply) queue_write(c);
}

// ---- writing ----

void Server::queue_write(Client& c) {
  if (c.pending_write || c.fake) return;
  c.pending_write = true;
  m_pending_writes.push_back(&c);
}

void Server::hold_until_logged(Client& c, std::size_t out_mark) {
  if (!m_aof_fd || c.fake) return;
  if (c.out_held == Client::kNotHeld) c.out_held = out_mark;
  c.held_until = m_aof_written + m_aof_buf.size();
}

void Server::write_to_client(Client& c) {
  if (c.out_held != Client::kNotHeld && m_aof_acked >= c.held_until) c.out_held = Client::kNotHeld;
  const std::size_t end = std::min(c.out_held, c.out.size());  // replies past a held one wait too
  while (c.out_sent < end) {
    ssize_t n = ::send(c.fd.get(), c.out.data() + c.out_sent, end - c.out_sent, MSG_NOSIGNAL);
    if (n > 0) {
      c.out_sent += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
    return close_client(c);
  }
  if (c.pending_out() == 0) {
    c.out.clear();
    c.out_sent = 0;
    c.out_held = Client::kNotHeld;
    if (c.out.capacity() > 1024 * 1024) std::string().swap(c.out);
    if (c.close_after_reply) return close_client(c);
    c.want_write = false;
    if (c.reading_paused) {
      c.reading_paused = false;
      m_unblocked.push_back(&c);  // parse what it already sent
    }
  } else {
    if (c.out_sent > 1024 * 1024) {
      c.out.erase(0, c.out_sent);
      if (c.out_held != Client::kNotHeld) c.out_held -= c.out_sent;
      c.out_sent = 0;
    }
    // Stopped at a reply waiting for the log: aof_flush queues the client again once it is in.
    bool waiting_for_log = c.out_sent == c.out_held;
    c.want_write = !waiting_for_log;
    if (waiting_for_log && std::find(m_held.begin(), m_held.end(), &c) == m_held.end()) m_held.push_back(&c);
  }
  update_events(c);
}

void Server::update_events(Client& c) {
  if (c.closing || c.fake) return;
  std::uint32_t want = (c.reading_paused ? 0u : static_cast<std::uint32_t>(EPOLLIN)) |
                       (c.want_write ? static_cast<std::uint32_t>(EPOLLOUT) : 0u);
  if (want == c.events) return;
  epoll_event ev{};
  ev.events = want;
  ev.data.u64 = static_cast<std::uint64_t>(c.fd.get());
  ::epoll_ctl(m_epoll.get(), EPOLL_CTL_MOD, c.fd.get(), &ev);
  c.events = want;
}

void Server::close_client(Client& c) {
  if (c.closing || c.fake) return;
  c.closing = true;
  unblock_client(c);
  unwatch_all(c);
  pubsub_drop_client(c);
  if (c.replica) m_replicas.erase(std::find(m_replicas.begin(), m_replicas.end(), &c));
  ::epoll_ctl(m_epoll.get(), EPOLL_CTL_DEL, c.fd.get(), nullptr);
  --m_nclients;
  m_to_free.push_back(&c);  // freed after this loop iteration: its fd must not be reused before
}

void Server::free_closed_clients() {
  for (Client* c : m_to_free) {
    m_unblocked.erase(std::remove(m_unblocked.begin(), m_unblocked.end(), c), m_unblocked.end());
    m_held.erase(std::remove(m_held.begin(), m_held.end(), c), m_held.end());
    m_clients[static_cast<std::size_t>(c->fd.get())].reset();  // closes its socket
  }
  m_to_free.clear();
}

void Server::close_listeners_in_child() noexcept {
  // As Redis's children do: a child that outlives the server for a moment (it dies with it, but
  // dying takes a while) must not hold the listening socket, or a new server started at once
  // would find "another server" listening and clients would queue on a socket nobody accepts.
  // Only closed: the epoll set is shared with the server, which keeps watching its own copies.
  m_unix_fd.reset();
  m_tcp_fd.reset();
}

// ---- the loop ----

void Server::handle_signal() {
  signalfd_siginfo si{};
  while (::read(m_signalfd.get(), &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
    if (si.ssi_signo == SIGHUP) {
      log_open(m_opts.logfile);
      log(LogLevel::info, "SIGHUP: log reopened");
      continue;
    }
    log(LogLevel::info, std::string("received ") + (si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT") +
                            ", shutting down");
    if (m_shutdown_save == -2) {  // a second signal after a failed save: give up on saving
      request_shutdown(nullptr, 0);
      continue;
    }
    if (!request_shutdown(nullptr, m_opts.save_on_shutdown ? -1 : 0)) m_shutdown_save = -2;
  }
}

int Server::next_timeout_ms() const {
  long long now = now_ms();
  long long t = m_last_cron + kCronMs - now;
  if (!m_block_timeouts.empty()) t = std::min(t, m_block_timeouts.begin()->first - now);
  if (!m_unblocked.empty()) t = 0;
  return static_cast<int>(std::clamp<long long>(t, 0, kCronMs));
}

void Server::cron() {
  m_last_cron = now_ms();
  if (db.expires_size()) db.active_expire(200);
  if (m_opts.maxmemory) used_memory();
  reap_bgsave();
  reap_aof_rewrite();
  autosave();
  ping_replicas();
}

void Server::before_sleep() {
  while (!m_unblocked.empty()) {
    std::vector<Client*> batch;
    batch.swap(m_unblocked);
    for (Client* c : batch)
      if (!c->closing && !c->blocked) {
        update_events(*c);
        process_input(*c);
      }
  }
  if (!m_ready_keys.empty()) serve_ready_lists();
  aof_flush();  // before any reply leaves: an acknowledged write is in the log (fsynced under always)
  for (std::size_t i = 0; i < m_pending_writes.size(); ++i) {
    Client* c = m_pending_writes[i];
    c->pending_write = false;
    if (!c->closing) write_to_client(*c);
  }
  m_pending_writes.clear();
  free_closed_clients();
}

void Server::notify_ready() {
  if (m_opts.ready_fd >= 0) {
    detail::UniqueFd ready(std::exchange(m_opts.ready_fd, -1));
    [[maybe_unused]] auto n = ::write(ready.get(), "1\n", 2);
  }
  if (m_opts.on_ready) m_opts.on_ready();
  sd_notify("READY=1\nMAINPID=" + std::to_string(::getpid()) + "\nSTATUS=Ready to accept connections");
}

int Server::run() {
  set_up();
  event_loop();
  tear_down();
  return 0;
}

// Descriptor limit, signals, persistence loaded, listeners open; then tells whoever waits.
void Server::set_up() {
  ::signal(SIGPIPE, SIG_IGN);
  // Enough descriptors for --maxclients (Redis does the same at start).
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rlim_t want = static_cast<rlim_t>(m_opts.maxclients) + 64;
    if (rl.rlim_cur < want) {
      rl.rlim_cur = std::min(want, rl.rlim_max);
      ::setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < want) {
      m_opts.maxclients = rl.rlim_cur > 96 ? rl.rlim_cur - 64 : 32;
      log(LogLevel::warning, "file descriptor limit is " + std::to_string(rl.rlim_cur) + ": maxclients lowered to " +
                                 std::to_string(m_opts.maxclients));
    }
  }
  if (!m_opts.tcp_host.empty() && m_opts.requirepass.empty())
    throw std::runtime_error("--tcp needs --requirepass-file: TCP clients must authenticate");
  m_epoll.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!m_epoll) detail::throw_errno("epoll_create1");
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGHUP);
  ::sigprocmask(SIG_BLOCK, &mask, nullptr);
  m_signalfd.reset(::signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!m_signalfd) detail::throw_errno("signalfd");
  epoll_event sev{};
  sev.events = EPOLLIN;
  sev.data.u64 = static_cast<std::uint64_t>(m_signalfd.get());
  ::epoll_ctl(m_epoll.get(), EPOLL_CTL_ADD, m_signalfd.get(), &sev);

  load_persistence();
  listen_all();
  log(LogLevel::info, "ready: " + (m_unix_fd ? "unix socket " + m_socket_path : std::string()) +
                          (m_tcp_fd ? " tcp " + m_opts.tcp_host + ":" + std::to_string(m_tcp_port) : "") +
                          ", " + std::to_string(db.total_size()) + " keys loaded");
  notify_ready();
}

// Serves until a shutdown is requested (SHUTDOWN, SIGTERM, SIGINT).
void Server::event_loop() {
  std::vector<epoll_event> events(1024);
  m_last_cron = now_ms();
  while (!m_shutdown) {
    int timeout = next_timeout_ms();
    int n = 0;
    if (m_was_busy && timeout > 0 && m_opts.busy_poll_us > 0 && m_spin_backoff-- <= 0) {
      // Waking a sleeping process costs tens of microseconds on a VM, more than serving a
      // request: after a busy iteration, poll briefly for the next request before sleeping.
      // When a spin finds nothing (the clients are slow, or the CPUs are contended), the next
      // 16 sleeps do not spin, so the waste stays small; sched_yield lets a client on this CPU run.
      auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(m_opts.busy_poll_us);
      do {
        n = ::epoll_wait(m_epoll.get(), events.data(), static_cast<int>(events.size()), 0);
        if (n == 0) ::sched_yield();
      } while (n == 0 && std::chrono::steady_clock::now() < until);
      m_spin_backoff = n > 0 ? 0 : 16;
    }
    if (n == 0) n = ::epoll_wait(m_epoll.get(), events.data(), static_cast<int>(events.size()), timeout);
    m_was_busy = n > 0;
    if (n < 0 && errno != EINTR) detail::throw_errno("epoll_wait");
    for (int i = 0; i < n; ++i) {
      int fd = static_cast<int>(events[static_cast<std::size_t>(i)].data.u64);
      std::uint32_t ev = events[static_cast<std::size_t>(i)].events;
      if (fd == m_signalfd.get()) {
        handle_signal();
      } else if (fd == m_unix_fd.get() || fd == m_tcp_fd.get()) {
        accept_clients(fd, fd == m_unix_fd.get());
      } else if (static_cast<std::size_t>(fd) < m_clients.size() && m_clients[static_cast<std::size_t>(fd)]) {
        Client& c = *m_clients[static_cast<std::size_t>(fd)];
        if (c.closing) continue;
        if (ev & EPOLLIN) {
          read_from_client(c);
        } else if ((ev & (EPOLLHUP | EPOLLERR)) && !(ev & EPOLLOUT)) {
          close_client(c);
          continue;
        }
        if ((ev & EPOLLOUT) && !c.closing) queue_write(c);
      }
      if (m_shutdown) break;
    }
    if (!m_block_timeouts.empty()) expire_blocked_clients();
    if (now_ms() - m_last_cron >= kCronMs) cron();
    before_sleep();
  }
}

// Sends the last replies, closes every client and removes the socket file.
void Server::tear_down() {
  sd_notify("STOPPING=1");
  for (auto& c : m_clients)
    if (c) {
      if (c->pending_out()) write_to_client(*c);  // best effort: the last replies (QUIT's OK)
      if (c && !c->closing) close_client(*c);
    }
  free_closed_clients();
  if (m_own_socket) ::unlink(m_socket_path.c_str());
  log(LogLevel::info, "bye");
}

Server::~Server() {
  m_aof_syncer.reset();  // stop the fsync thread before its fd goes; the UniqueFds close the rest
}

int run_server(Options opts) {
  log_verbose(opts.verbose);
  log_open(opts.logfile);
  Server srv(std::move(opts));
  return srv.run();
}

}  // namespace ipc::managerd
