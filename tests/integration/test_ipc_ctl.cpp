// ipc-ctl against a running ipc-managerd: one-shot commands, --json, interactive mode, exit codes.
#include <doctest/doctest.h>

#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include <ipc/lifecycle.hpp>

#include <optional>

#include "managerd_support.hpp"

using namespace ipc::test;

namespace {

/// ipc-ctl run interactively on a pseudo-terminal, as a user at a terminal runs it.
class PtySession {
 public:
  PtySession(const std::string& socket, const std::string& histfile) {
    m_pid = ::forkpty(&m_master, nullptr, nullptr, nullptr);
    REQUIRE(m_pid >= 0);
    if (m_pid == 0) {
      ::setenv("IPC_CTL_HISTFILE", histfile.c_str(), 1);
      ::setenv("TERM", "xterm", 1);
      ::execl(IPCKIT_CTL_BIN, IPCKIT_CTL_BIN, "--socket", socket.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  PtySession(const PtySession&) = delete;
  PtySession& operator=(const PtySession&) = delete;
  ~PtySession() {
    if (m_pid > 0) {
      ::kill(m_pid, SIGKILL);
      ::waitpid(m_pid, nullptr, 0);
    }
    if (m_master >= 0) ::close(m_master);
  }

  /// Types `keys` at the terminal.
  void type(const std::string& keys) {
    REQUIRE(::write(m_master, keys.data(), keys.size()) == static_cast<ssize_t>(keys.size()));
  }

  /// Reads the terminal until `text` appeared after what earlier calls matched (true) or 20 s
  /// passed (false).
  bool wait_for(const std::string& text) {
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    std::size_t at;
    while ((at = m_seen.find(text, m_matched)) == std::string::npos) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      if (read_some(static_cast<int>(left.count())) == Read::closed) return false;
    }
    m_matched = at + text.size();
    return true;
  }

  /// Types `keys` once the prompt is shown and libedit has switched the terminal out of
  /// canonical mode (keys typed before that are echoed and edited by the terminal's line
  /// discipline, not by libedit; it can print the prompt first).
  void type_at_prompt(const std::string& keys) {
    REQUIRE(wait_for("ipc-ctl> "));
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    termios t{};
    while (::tcgetattr(m_master, &t) == 0 && (t.c_lflag & ICANON)) {
      REQUIRE(std::chrono::steady_clock::now() < until);
      read_some(5);  // keep reading what it prints meanwhile
    }
    type(keys);
  }

  /// Waits (up to 20 s) for ipc-ctl to exit; its exit code (-N when killed by signal N), or
  /// nullopt on time-out.
  std::optional<int> wait_exit() {
    // Read what it still prints, so that it never blocks on a full terminal, until it closes
    // the terminal: then it is exiting.
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (read_some(100) != Read::closed && std::chrono::steady_clock::now() <= until) continue;
    int code = 0;
    if (!ipc::proc::wait_exit(m_pid, std::chrono::seconds(20), &code)) return std::nullopt;
    m_pid = -1;
    return code;
  }

  const std::string& seen() const { return m_seen; }

 private:
  enum class Read { nothing, data, closed };

  /// Waits up to `timeout_ms` for output and appends what arrives to m_seen; closed when the
  /// other side closed the terminal.
  Read read_some(int timeout_ms) {
    pollfd p{m_master, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return Read::nothing;
    char buf[512];
    ssize_t n = ::read(m_master, buf, sizeof buf);
    if (n <= 0) return Read::closed;
    m_seen.append(buf, static_cast<std::size_t>(n));
    return Read::data;
  }

  int m_master = -1;
  pid_t m_pid = -1;
  std::string m_seen;
  std::size_t m_matched = 0;  // m_seen up to here was matched by wait_for
};

}  // namespace

TEST_SUITE("ipc-ctl") {

TEST_CASE("on a terminal the up arrow recalls the last command, also in the next session" * doctest::timeout(90)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir);
  const std::string hist = (dir / "history").string();
  const std::string up = "\x1b[A";
  {
    PtySession t(srv.socket(), hist);
    t.type_at_prompt("incr visits\r");
    REQUIRE(t.wait_for("1\r\n"));
    t.type_at_prompt(up + "\r");  // runs "incr visits" again
    CHECK(t.wait_for("2\r\n"));
    t.type_at_prompt("quit\r");
    auto code = t.wait_exit();
    INFO("terminal: ", t.seen());
    CHECK(code == 0);
  }
  std::ifstream f(hist);
  std::stringstream saved;
  saved << f.rdbuf();
  CHECK(saved.str().find("visits") != std::string::npos);  // libedit escapes the space
  {
    PtySession t(srv.socket(), hist);
    t.type_at_prompt(up + up + "\r");  // "quit" was last; the one before is "incr visits"
    CHECK(t.wait_for("3\r\n"));
    t.type_at_prompt("\x04");  // Ctrl-D ends the session
    auto code = t.wait_exit();
    INFO("terminal: ", t.seen());
    CHECK(code == 0);
  }
  RespClient c(srv.socket());
  CHECK(c.cmd({"GET", "visits"}).str == "3");
}

TEST_CASE("one-shot commands print replies and exit 0 or 1 on an error reply" * doctest::timeout(60)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir);
  auto ctl = [&](std::vector<std::string> args, const std::string& in = {}) {
    args.insert(args.begin(), {IPCKIT_CTL_BIN, "--socket", srv.socket()});
    return run_program(args, in);
  };
  auto r = ctl({"ping"});
  CHECK(r.code == 0);
  CHECK(r.out == "PONG\n");
  CHECK(ctl({"hset", "h", "a", "1", "b", "2"}).out == "2\n");
  CHECK(ctl({"--json", "hgetall", "h"}).out == "{\"a\":\"1\",\"b\":\"2\"}\n");  // field/value pairs: an object
  CHECK(ctl({"--json", "get", "nope"}).out == "null\n");
  r = ctl({"incr", "h"});
  CHECK(r.code == 1);
  CHECK(r.err.find("WRONGTYPE") != std::string::npos);
  r = ctl({"--json", "incr", "h"});
  CHECK(r.code == 1);
  CHECK(r.out.find("{\"error\":\"WRONGTYPE") == 0);
  CHECK(ctl({"--no-such-option"}).code == 2);
  CHECK(ctl({"echo", "-s"}).out == "-s\n");  // options end where the command starts
  CHECK(ctl({"rpush", "l", "-1", "--json"}).out == "2\n");  // "--json" is an element here
  CHECK(ctl({"--json", "lrange", "l", "0", "-1"}).out == "[\"-1\",\"--json\"]\n");
  r = run_program({IPCKIT_CTL_BIN, "--socket", (dir / "none.sock").string(), "ping"});
  CHECK(r.code == 1);
  CHECK(r.err.find("ipc-ctl: error:") == 0);
}

TEST_CASE("interactive mode runs one command per line with quotes" * doctest::timeout(60)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir);
  auto r = run_program({IPCKIT_CTL_BIN, "--socket", srv.socket()}, "set k \"a b\"\nget k\n\nrpush l 1 2\nquit\nget k\n");
  CHECK(r.code == 0);
  CHECK(r.out == "OK\na b\n2\n");
}

TEST_CASE("shutdown stops the server and exits 0" * doctest::timeout(60)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir);
  auto r = run_program({IPCKIT_CTL_BIN, "--socket", srv.socket(), "shutdown", "nosave"});
  CHECK(r.code == 0);
  int st = srv.wait_exit(20);
  CHECK(WIFEXITED(st));
}

}
