// Test helpers for ipc-managerd: start the real daemon (or a real redis-server) on a socket in a
// temp dir and stop it; a small blocking RESP client with timeouts.
#pragma once

#include <ipc/detail/resp.hpp>
#include <ipc/detail/resp_client.hpp>

#include <sys/types.h>

#include <chrono>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "test_support.hpp"

namespace ipc::test {

using detail::resp::Reply;

/// A running ipc-managerd (or redis-server) child; stopped with SIGTERM (then SIGKILL) on destruction.
class ServerProcess {
 public:
  /// Starts ipc-managerd with `--socket <dir>/managerd.sock` plus `extra` options and waits
  /// (up to 20 s) until it listens. Throws std::runtime_error (with its stderr) when it fails.
  static ServerProcess managerd(const TempDir& dir, std::vector<std::string> extra = {});
  /// Starts redis-server on `<dir>/redis.sock` without persistence and waits until it listens.
  static ServerProcess redis(const TempDir& dir);
  /// Runs ipc-managerd with `args` to completion (bounded to 20 s): exit code and stderr.
  static std::pair<int, std::string> run_managerd(std::vector<std::string> args);

  ServerProcess(ServerProcess&& o) noexcept;
  ServerProcess& operator=(ServerProcess&&) = delete;
  ~ServerProcess();

  const std::string& socket() const noexcept { return m_socket; }
  pid_t pid() const noexcept { return m_pid; }
  /// SIGTERM, then waits up to 20 s (SIGKILL after). Returns the wait status (-1 if not running).
  int stop();
  /// SIGKILL and reap.
  void kill9();
  /// Waits up to `secs` for the process to exit by itself; returns its wait status or -1.
  int wait_exit(int secs);
  /// What the process wrote to stderr so far.
  std::string log() const;

 private:
  ServerProcess() = default;
  pid_t m_pid = -1;
  std::string m_socket;
  std::string m_log;
};

/// The library's RESP client (detail::RespConnection) with the tests' defaults: connects to a
/// Unix socket (retrying while the server starts) and bounds every wait by 10 s unless told.
class RespClient {
 public:
  /// Connects to `path` (retries for up to 10 s while the server starts).
  explicit RespClient(const std::string& path);
  /// Sends one command and returns its reply (throws ipc::TimeoutError / ConnectionClosed).
  Reply cmd(std::vector<std::string> args, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  Reply cmd(std::initializer_list<std::string_view> args);
  /// Sends one command and returns the raw bytes of its reply.
  std::string raw_cmd(const std::vector<std::string>& args);
  /// Sends raw bytes.
  void send(std::string_view bytes) { m_conn.send(bytes, std::chrono::seconds(10)); }
  /// Reads one reply; throws on timeout or EOF.
  Reply read(std::chrono::milliseconds timeout = std::chrono::seconds(10)) { return m_conn.read(timeout); }
  /// Reads the raw bytes of one reply.
  std::string read_raw(std::chrono::milliseconds timeout = std::chrono::seconds(10)) { return m_conn.read_raw(timeout); }
  /// True when the server closed the connection (waits up to `timeout`); buffered replies are dropped.
  bool closed_by_peer(std::chrono::milliseconds timeout = std::chrono::seconds(10)) { return m_conn.wait_closed(timeout); }
  int fd() const noexcept { return m_conn.fd(); }

 private:
  detail::RespConnection m_conn;
};

struct RunResult {
  int code = -1;  ///< exit code, -1 when killed or timed out
  std::string out, err;
};
/// Runs `argv` with `input` on stdin, bounded to 20 s; captures stdout and stderr.
RunResult run_program(const std::vector<std::string>& argv, const std::string& input = {});

/// Shorthand for a reply's text (bulk/simple/error) or integer as text; "(nil)" for nil.
std::string text(const Reply& r);

/// One field of `INFO <section>` (e.g. "aof_last_write_status"), empty when absent.
std::string info_field(RespClient& c, const std::string& section, const std::string& name);

}  // namespace ipc::test
