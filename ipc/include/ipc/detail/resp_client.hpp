// RespConnection: a blocking RESP2 client connection (Unix socket or TCP) with timeouts, used by
// ipc-ctl and the manager proxies to talk to ipc-managerd (or any Redis server).
#pragma once

#include <ipc/detail/resp.hpp>
#include <ipc/detail/unique_fd.hpp>
#include <ipc/timeout.hpp>

#include <sys/types.h>

#include <chrono>
#include <span>
#include <string>
#include <string_view>

namespace ipc::detail {

/// The socket ipc-managerd listens on by default: $XDG_RUNTIME_DIR/ipckit/managerd.sock, or
/// /tmp/ipckit-<uid>/managerd.sock.
std::string default_managerd_socket();

/// One client connection speaking RESP2. Move-only; not thread-safe; the fd is O_CLOEXEC.
class RespConnection {
 public:
  /// Connects to a Unix socket. Throws std::system_error (errno, "connect(<path>)") or
  /// ipc::TimeoutError.
  static RespConnection unix_socket(const std::string& path, Timeout timeout = {});
  /// Connects over TCP to host:port. Throws std::system_error, std::runtime_error (name
  /// resolution) or ipc::TimeoutError.
  static RespConnection tcp(const std::string& host, int port, Timeout timeout = {});

  /// Sends one command and waits for its reply. Error replies are returned (type error), not
  /// thrown. Throws ipc::TimeoutError, ipc::ConnectionClosed, ipc::ProtocolError (bad reply bytes)
  /// or std::system_error.
  resp::Reply call(std::span<const std::string_view> args, Timeout timeout = {});
  /// The same for an initializer list.
  resp::Reply call(std::initializer_list<std::string_view> args, Timeout timeout = {});
  /// Sends raw bytes (pipelining). Throws like call().
  void send(std::string_view bytes, Timeout timeout = {});
  /// Reads one reply. Throws like call().
  resp::Reply read(Timeout timeout = {});
  /// Reads one reply and returns its bytes as they came (tests compare them with Redis's).
  /// Throws like call().
  std::string read_raw(Timeout timeout = {});
  /// Reads and drops whatever comes until the server closes the connection: true when it did
  /// within `timeout`, false otherwise. Throws std::system_error for other socket errors.
  bool wait_closed(Timeout timeout);
  /// The socket.
  int fd() const noexcept { return m_fd.get(); }

 private:
  RespConnection(UniqueFd fd, bool local) noexcept : m_fd(std::move(fd)), m_local(local) {}
  // Reads until one whole reply is buffered; returns its length in m_in (parsed into `out`).
  std::size_t fill_reply(resp::Reply& out, const Deadline& dl);
  // recv() of the first bytes of the reply to a command just sent. On a Unix socket (a server
  // on this machine), when the last reply came within kSpinWhenUnder, it tries recv() for up to
  // kSpin first, yielding the CPU in between: on a machine of few CPUs, falling asleep and being
  // woken costs the client and the server more CPU time and latency than that, even with ten
  // clients sharing two CPUs. Otherwise, or when nothing came, it waits in poll() (until the
  // deadline). Returns what recv() returned.
  ssize_t await_reply(char* buf, std::size_t size, const Deadline& dl);
  static constexpr std::chrono::microseconds kSpin{50};
  static constexpr std::chrono::microseconds kSpinWhenUnder{200};
  UniqueFd m_fd;
  bool m_local;                               // a Unix socket: await_reply may spin
  std::chrono::nanoseconds m_last_wait{0};  // how long the last reply took to start coming
  std::string m_in;
  std::string m_out;
};

}  // namespace ipc::detail
