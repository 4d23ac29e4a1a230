// Pipe, Connection, Listener and Client: length-framed messages over file descriptors.
//
// The analogue of Python's multiprocessing.connection. Every message is one frame: an 8-byte
// header (32-bit length and a check word) then the payload, written with one writev, so a
// message of any size up to the maximum (64 MiB and beyond) arrives whole, and garbage or a
// truncated frame is detected instead of being decoded.
//
// Fork rule (as in Python): a Connection made before Process::start() exists in both parent and
// child. Each side closes the ends it does not use, otherwise the reader never sees EOF (its own
// copy of the write end keeps the pipe open):
//
//     auto [parent_end, child_end] = ipc::Pipe();
//     ipc::Process p{[&] { parent_end.close(); child_end.send(42); }};
//     p.start();
//     child_end.close();                      // now recv() sees EOF once the child is done
//     int v = parent_end.recv<int>();
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <concepts>
#include <initializer_list>
#include <memory>
#include <optional>
#include <ranges>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <ipc/detail/unique_fd.hpp>
#include <ipc/errors.hpp>
#include <ipc/process.hpp>
#include <ipc/serialize.hpp>
#include <ipc/timeout.hpp>

struct iovec;  // <sys/uio.h>

namespace ipc {

class Waitable;
namespace detail {
/// The one implementation behind every ipc::wait form: indices of the ready objects, ascending.
std::vector<std::size_t> wait_ready(std::span<const Waitable> objects, Timeout timeout);
}  // namespace detail

/// Credentials of the process at the other end of a Unix socket (SO_PEERCRED, taken at connect).
struct PeerCredentials {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};

/// One end of a message channel (socket, pipe or FIFO): framed send/recv of bytes or of any
/// ipc::Serializable value. Move-only; owns its fd (O_CLOEXEC). Not thread-safe: one sender and
/// one receiver thread at most, or external locking. Fork-safe (see the file comment).
class Connection {
 public:
  /// Default maximum message size accepted or sent: 1 GiB.
  static constexpr std::size_t kDefaultMaxMessageSize = std::size_t{1} << 30;
  /// Largest settable maximum (the frame header holds a 32-bit length).
  static constexpr std::size_t kMaxMessageSizeLimit = 0xFFFFFFFFu;

  /// A closed connection.
  Connection() noexcept;
  /// Takes ownership of `fd` (a socket, pipe or FIFO end) with the given directions.
  /// Throws ValueError when fd < 0 or neither direction is set.
  Connection(detail::UniqueFd fd, bool readable, bool writable);
  /// Takes over `other`'s fd and buffered bytes; `other` is left closed.
  Connection(Connection&& other) noexcept;
  /// Closes the current fd first, then takes `other`'s.
  Connection& operator=(Connection&& other) noexcept;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  /// Closes the fd; never throws.
  ~Connection();

  /// Sends `value` as one message. Blocks while the peer's buffer is full, at most `timeout`:
  /// TimeoutError, and if part of the message was already written the connection is closed
  /// (the peer sees a truncated message). Throws ValueError (closed, read-only, too large),
  /// ConnectionClosed when the peer is gone, std::system_error on other OS errors.
  template <Serializable T>
  void send(const T& value, Timeout timeout = {}) {
    if constexpr (TriviallySerializable<T>) {
      send_frame(std::addressof(value), sizeof(T), timeout);
    } else {
      m_wbuf.clear();
      encode_append(value, m_wbuf);
      send_frame(m_wbuf.data(), m_wbuf.size(), timeout);
    }
  }

  /// Receives one message and decodes it as T. Throws TimeoutError when `timeout` passes first
  /// (a partly received message is kept for the next call), ConnectionClosed on EOF (also in the
  /// middle of a message), ProtocolError on garbage, an oversized frame or bytes that do not
  /// decode as T, ValueError when closed or write-only.
  template <Serializable T>
  T recv(Timeout timeout = {}) {
    T out{};
    auto f = next_frame(timeout, m_max_message);
    decode_into(f.bytes, out);
    if (f.big) release_big_frame();
    return out;
  }

  /// Like recv<T>(), but returns std::nullopt instead of throwing TimeoutError.
  template <Serializable T>
  std::optional<T> try_recv(Timeout timeout = {}) {
    auto f = next_frame(timeout, m_max_message, false);
    if (!f.ok) return std::nullopt;
    T out{};
    decode_into(f.bytes, out);
    if (f.big) release_big_frame();
    return out;
  }

  /// Sends `size` bytes of `data` from `offset` (all of the rest by default) as one message.
  /// Throws as send(), and ValueError when offset/size fall outside `data`.
  void send_bytes(std::span<const std::byte> data, std::size_t offset = 0, std::size_t size = npos,
                  Timeout timeout = {});
  /// Sends the bytes of a string as one message (timeout and errors as send()).
  void send_bytes(std::string_view data, Timeout timeout = {}) { send_frame(data.data(), data.size(), timeout); }

  /// Receives one message as bytes. A message longer than `maxlength` (or the connection's
  /// max_message_size) throws ProtocolError and closes the connection, as Python does.
  /// Otherwise throws as recv().
  Bytes recv_bytes(std::size_t maxlength = npos, Timeout timeout = {});

  /// Like recv_bytes(), but returns std::nullopt instead of throwing TimeoutError.
  std::optional<Bytes> try_recv_bytes(std::size_t maxlength = npos, Timeout timeout = {});

  /// Receives one message into `buffer` and returns its length. When it does not fit, throws
  /// BufferTooShort carrying the whole message (nothing is lost). Otherwise throws as recv().
  std::size_t recv_bytes_into(std::span<std::byte> buffer, Timeout timeout = {});

  /// True when a message (or EOF) can be read without blocking, waiting up to `timeout`
  /// (default: do not wait). Throws ValueError when closed or write-only.
  bool poll(Timeout timeout = std::chrono::seconds(0));

  /// The fd (for poll/epoll); -1 when closed. The Connection keeps ownership.
  int fileno() const noexcept { return m_fd.get(); }
  /// Closes the fd (idempotent); the peer sees EOF once every copy of this end is closed.
  void close() noexcept;
  /// True once closed.
  bool closed() const noexcept { return !m_fd; }
  /// True when this end can receive.
  bool readable() const noexcept { return m_readable; }
  /// True when this end can send.
  bool writable() const noexcept { return m_writable; }

  /// The largest message this end sends or accepts.
  std::size_t max_message_size() const noexcept { return m_max_message; }
  /// Sets the largest message this end sends (ValueError above it, nothing is written) or
  /// accepts (ProtocolError, and the connection is closed). Throws ValueError when 0 or above
  /// kMaxMessageSizeLimit.
  void max_message_size(std::size_t n);

  /// Credentials of the peer process of a Unix socket (Pipe(), or a unix: Listener/Client).
  /// Throws ValueError for other kinds of fd or when closed.
  PeerCredentials peer_credentials() const;
  /// The peer's pid (see peer_credentials()).
  pid_t peer_pid() const { return peer_credentials().pid; }
  /// The peer's uid (see peer_credentials()).
  uid_t peer_uid() const { return peer_credentials().uid; }
  /// The peer's gid (see peer_credentials()).
  gid_t peer_gid() const { return peer_credentials().gid; }

  /// True when a whole message is already buffered in this process (recv will not block).
  bool has_buffered_message() const noexcept;

  /// "All the rest" for send_bytes' size and "no limit" for recv_bytes' maxlength.
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

 protected:
  /// Makes every read wait for poll() first: needed for FIFOs, where read() returns EOF while
  /// no writer has opened yet but poll() waits for one.
  void poll_before_read(bool on) noexcept { m_poll_first = on; }
  /// One read(2) of what is there into the read buffer, which must be made non-blocking by the
  /// caller: >0 bytes read, 0 at EOF, -1 with errno set (EAGAIN: nothing yet).
  long read_available() noexcept;

 private:
  struct Frame {
    std::span<const std::byte> bytes;
    bool big = false;  // the bytes live in m_frame (moveable), not in the read buffer
    bool ok = true;    // false: timed out (only when throw_on_timeout is false)
  };
  Frame next_frame(Timeout timeout, std::size_t limit, bool throw_on_timeout = true);
  void send_frame(const void* data, std::size_t size, Timeout timeout);
  void release_big_frame() noexcept { m_frame = Bytes(); }  // do not keep a huge buffer around
  void write_all(::iovec* iov, int iovcnt, Timeout timeout);
  int nonblocking_pipe_fd();
  bool fill(Deadline& deadline);
  bool wait_readable(Deadline& deadline);
  [[noreturn]] void fail_stream(const std::string& why);
  void check_readable(const char* what) const;

  detail::UniqueFd m_fd;
  // A pipe or FIFO end's own non-blocking file description of the same pipe, opened on the
  // first bounded send (m_fd's description may be shared with other processes: its flags stay).
  detail::UniqueFd m_nb_fd;
  bool m_nb_unavailable = false;  // /proc could not reopen the pipe: poll, then write PIPE_BUF
  bool m_readable = false;
  bool m_writable = false;
  bool m_is_socket = false;
  bool m_poll_first = false;
  bool m_sigpipe_guard = false;  // pipe/FIFO write end while SIGPIPE was not ignored
  std::size_t m_max_message = kDefaultMaxMessageSize;
  // Read buffer: bytes [m_rpos, m_rend) of m_rbuf are received but not consumed yet. A read
  // takes a header and a small payload (often several messages) in one syscall.
  std::unique_ptr<std::byte[]> m_rbuf;
  std::size_t m_rpos = 0;
  std::size_t m_rend = 0;
  // A message too big for the read buffer is assembled here; m_in_frame survives a timeout.
  bool m_in_frame = false;
  std::size_t m_frame_len = 0;
  std::size_t m_frame_have = 0;
  Bytes m_frame;
  Bytes m_wbuf;  // reused encoding buffer for send<T>
};

/// recv_bytes_into() got a message longer than the buffer; the message is in bytes().
class BufferTooShort : public Error {
 public:
  /// Carries the whole message that did not fit.
  BufferTooShort(const std::string& what, Bytes message) : Error(what), m_message(std::move(message)) {}
  /// The message that did not fit.
  const Bytes& bytes() const noexcept { return m_message; }

 private:
  Bytes m_message;
};

/// A pair of connected Connections (Python's multiprocessing.Pipe). duplex: a socketpair, both
/// ends read and write. Not duplex: pipe(2), first = read end, second = write end.
/// Throws std::system_error when the fds cannot be created.
std::pair<Connection, Connection> Pipe(bool duplex = true);

/// A listening socket that returns Connections: "unix:/path" (a socket file, mode 0600,
/// unlinked by the Listener that created it), "unix:@name" (Linux abstract namespace, no file)
/// or "tcp:host:port" (port 0 = any free port; see address()). With an authkey every accepted
/// client must pass a mutual HMAC-SHA256 challenge before any data. Move-only; not thread-safe.
class Listener {
 public:
  /// Binds and listens on `address`. Throws ValueError for a malformed address,
  /// std::system_error when the address is in use or cannot be bound.
  explicit Listener(std::string_view address, std::optional<std::string> authkey = std::nullopt,
                    int backlog = 128);
  /// Takes over `other`'s socket, pending handshakes and socket file.
  Listener(Listener&& other) noexcept;
  /// Closes this one (unlinking its file), then takes over `other`'s.
  Listener& operator=(Listener&& other) noexcept;
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  /// Closes; the creating process unlinks the socket file. Never throws.
  ~Listener();

  /// Waits for a client and returns its Connection. With an authkey, handshakes of several
  /// clients run interleaved and are kept between calls (and advanced by ipc::wait), so a client
  /// that connects and never speaks holds up neither accept() nor the caller's other work; one
  /// that has not finished within handshake_timeout() is dropped (as is the oldest when 256 are
  /// pending). After ipc::wait() or poll() reported the listener ready, accept() does not block.
  /// Throws TimeoutError when `timeout` passes first, AuthenticationError when a client's digest
  /// is wrong (that client is disconnected; the Listener stays usable), ValueError when closed,
  /// std::system_error when accept(2) fails (EMFILE, ...).
  Connection accept(Timeout timeout = {});

  /// True when accept() will return a client (or throw AuthenticationError) without waiting.
  /// Meanwhile takes new clients and advances their handshakes, waiting at most `timeout`
  /// (default: not at all). Throws ValueError when closed, std::system_error as accept().
  bool poll(Timeout timeout = std::chrono::seconds(0));

  /// Closes the socket and unlinks its file (if this process created it). Idempotent.
  void close() noexcept;
  /// The bound address in the same syntax, with the real port for "tcp:host:0".
  const std::string& address() const noexcept { return m_address; }
  /// The listening fd; -1 when closed.
  int fileno() const noexcept { return m_fd.get(); }
  /// How long a client may take over the authkey handshake (default 10 s).
  void handshake_timeout(Timeout t) noexcept { m_handshake_timeout = t; }
  /// The handshake limit.
  Timeout handshake_timeout() const noexcept { return m_handshake_timeout; }
  /// fds whose readiness means accept() can make progress (listening fd and pending handshakes).
  std::vector<int> wait_fds() const;

 private:
  friend std::vector<std::size_t> detail::wait_ready(std::span<const Waitable>, Timeout);
  struct Pending;
  // A finished handshake: the client's Connection, or why it failed (AuthenticationError).
  struct Finished {
    Connection conn;
    std::string error;
  };
  void advance();
  bool wait_for_progress(const Deadline& deadline);
  Deadline::Clock::time_point next_expiry() const noexcept;

  detail::UniqueFd m_fd;
  std::string m_address;
  std::optional<std::string> m_authkey;
  std::string m_unlink_path;  // socket file to unlink on close ("" for abstract/TCP)
  dev_t m_dev = 0;
  ino_t m_ino = 0;
  pid_t m_owner_pid = 0;
  Timeout m_handshake_timeout = std::chrono::seconds(10);
  std::vector<Pending> m_pending;
  std::vector<Finished> m_finished;  // handed out by accept(), oldest first
};

/// Connects to a Listener's address; with an authkey runs the mutual challenge. `timeout` bounds
/// the connect and the handshake. Throws ValueError for a malformed address, std::system_error
/// when the connect fails (ENOENT for a missing socket file, ECONNREFUSED, ...), TimeoutError,
/// AuthenticationError when either side's digest is wrong (the socket is closed).
Connection Client(std::string_view address, std::optional<std::string> authkey = std::nullopt,
                  Timeout timeout = {});

/// Something ipc::wait can wait on: a Connection (or Fifo), a Listener or a started Process.
/// A small copyable handle: the fd and a pointer back to the object, which must outlive it.
class Waitable {
 public:
  /// Ready when a message (or EOF) can be read.
  Waitable(Connection& c) noexcept : m_fd(c.fileno()), m_conn(&c) {}
  /// Ready when accept() can make progress.
  Waitable(Listener& l) noexcept : m_fd(l.fileno()), m_listener(&l) {}
  /// Ready when the process has ended. Throws ValueError when not started or closed.
  Waitable(Process& p) : m_fd(p.sentinel()), m_process(&p) {}
  /// Ready when the fd polls readable or hangs up (a pidfd, an eventfd, a raw socket).
  explicit Waitable(int fd) noexcept : m_fd(fd) {}

  /// The fd polled.
  int fd() const noexcept { return m_fd; }
  /// The Connection, or nullptr.
  Connection* connection() const noexcept { return m_conn; }
  /// The Listener, or nullptr.
  Listener* listener() const noexcept { return m_listener; }
  /// The Process, or nullptr.
  Process* process() const noexcept { return m_process; }
  /// True when this handle refers to `obj`.
  bool is(const Connection& obj) const noexcept { return m_conn == &obj; }
  /// True when this handle refers to `obj`.
  bool is(const Listener& obj) const noexcept { return m_listener == &obj; }
  /// True when this handle refers to `obj`.
  bool is(const Process& obj) const noexcept { return m_process == &obj; }
  /// Same object.
  bool operator==(const Waitable&) const = default;

 private:
  int m_fd;
  Connection* m_conn = nullptr;
  Listener* m_listener = nullptr;
  Process* m_process = nullptr;
};

/// Waits until at least one object is ready and returns the ready ones in input order (empty on
/// timeout): multiprocessing.connection.wait. A Listener is ready when accept() will not block;
/// waiting advances its authkey handshakes. Throws ValueError for a closed Connection or
/// Listener, std::system_error when poll fails. The Waitables point at their objects: build
/// the list for each call, or use wait_indices() for objects kept in a container.
std::vector<Waitable> wait(std::span<const Waitable> objects, Timeout timeout = {});
/// Same, for a braced list: `ipc::wait({conn, listener, proc}, 1s)`.
std::vector<Waitable> wait(std::initializer_list<Waitable> objects, Timeout timeout = {});

/// Waits like wait() on every element of `objects`, a sized random-access range of anything a
/// Waitable is made from (std::vector<Connection>, std::span<Fifo>, std::vector<Process>,
/// std::vector<Waitable>, ...), and returns the indices of the ready ones, ascending (empty on
/// timeout). Indices stay meaningful when the container reallocates; to drop closed
/// connections, close them while serving and `std::erase_if(v, [](auto& c) { return
/// c.closed(); })` after the loop, or erase while walking the indices backwards.
/// Throws as wait().
template <std::ranges::random_access_range R>
  requires std::ranges::sized_range<R> && std::constructible_from<Waitable, std::ranges::range_reference_t<R>>
std::vector<std::size_t> wait_indices(R&& objects, Timeout timeout = {}) {
  std::vector<Waitable> list;
  list.reserve(std::ranges::size(objects));
  for (auto&& obj : objects) list.emplace_back(obj);
  return detail::wait_ready(list, timeout);
}

}  // namespace ipc
