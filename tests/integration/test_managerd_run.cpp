// Running ipc-managerd: systemd readiness (NOTIFY_SOCKET), --daemonize with a locked pidfile,
// SIGHUP reopening the log, SIGTERM removing the socket.
#include <doctest/doctest.h>

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "managerd_support.hpp"

using namespace ipc::test;
using namespace std::chrono_literals;

namespace {
bool gone_within(pid_t pid, std::chrono::seconds limit) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
    std::this_thread::sleep_for(5ms);
  }
  return false;
}
}  // namespace

TEST_SUITE("managerd run") {

TEST_CASE("READY=1 reaches NOTIFY_SOCKET once the server listens" * doctest::timeout(60)) {
  TempDir dir;
  std::string path = (dir / "notify").string();
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
  ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
  auto srv = ServerProcess::managerd(dir);
  ::unsetenv("NOTIFY_SOCKET");
  pollfd p{fd, POLLIN, 0};
  REQUIRE(::poll(&p, 1, 10000) == 1);
  char buf[512] = {};
  ssize_t n = ::recv(fd, buf, sizeof buf - 1, 0);
  REQUIRE(n > 0);
  std::string msg(buf, static_cast<std::size_t>(n));
  CHECK(msg.find("READY=1") != std::string::npos);
  CHECK(msg.find("MAINPID=" + std::to_string(srv.pid())) != std::string::npos);
  ::close(fd);
}

TEST_CASE("--daemonize detaches writes a locked pidfile and refuses a second start" * doctest::timeout(60)) {
  TempDir dir;
  std::string pid_path = (dir / "managerd.pid").string(), sock = (dir / "d.sock").string();
  auto r = run_program({IPCKIT_MANAGERD_BIN, "--daemonize", "--pidfile", pid_path, "--socket", sock,
                        "--logfile", (dir / "d.log").string()});
  REQUIRE(r.code == 0);
  pid_t pid = 0;
  std::ifstream(pid_path) >> pid;
  REQUIRE(pid > 0);
  CHECK(proc_ppid(pid) != ::getpid());  // re-parented: the double fork's middle child is gone
  {
    RespClient c(sock);
    CHECK(text(c.cmd({"PING"})) == "PONG");
  }
  auto again = run_program({IPCKIT_MANAGERD_BIN, "--daemonize", "--pidfile", pid_path, "--socket",
                            (dir / "other.sock").string()});
  CHECK(again.code == 1);
  CHECK(again.err.find("already running") != std::string::npos);
  REQUIRE(::kill(pid, SIGTERM) == 0);
  CHECK(gone_within(pid, 20s));
  CHECK_FALSE(std::filesystem::exists(pid_path));
  CHECK_FALSE(std::filesystem::exists(sock));
}

TEST_CASE("SIGHUP reopens the log file" * doctest::timeout(60)) {
  TempDir dir;
  auto log = dir / "m.log";
  auto srv = ServerProcess::managerd(dir, {"--logfile", log.string()});
  std::filesystem::rename(log, dir / "m.log.1");
  ::kill(srv.pid(), SIGHUP);
  RespClient c(srv.socket());
  for (int i = 0; i < 2000 && !std::filesystem::exists(log); ++i) c.cmd({"PING"});
  REQUIRE(std::filesystem::exists(log));
  // The file appears when the signal's handler reopens the log, which writes its line right
  // after: a PING answered now is answered after the handler has returned to the loop.
  c.cmd({"PING"});
  std::ifstream f(log);
  std::string all((std::istreambuf_iterator<char>(f)), {});
  CHECK(all.find("SIGHUP") != std::string::npos);
}

TEST_CASE("the default socket lives in a private directory with a private socket" * doctest::timeout(60)) {
  TempDir dir;
  ::setenv("XDG_RUNTIME_DIR", dir.path().c_str(), 1);
  std::string sock = (dir / "ipckit" / "managerd.sock").string();
  auto r = run_program({IPCKIT_MANAGERD_BIN, "--daemonize", "--pidfile", (dir / "p").string()});
  ::unsetenv("XDG_RUNTIME_DIR");
  REQUIRE(r.code == 0);
  struct stat d{}, s{};
  REQUIRE(::stat((dir / "ipckit").c_str(), &d) == 0);
  REQUIRE(::stat(sock.c_str(), &s) == 0);
  CHECK((d.st_mode & 0777) == 0700);
  CHECK((s.st_mode & 0777) == 0600);
  pid_t pid = 0;
  std::ifstream(dir / "p") >> pid;
  REQUIRE(pid > 0);
  ::kill(pid, SIGTERM);
  CHECK(gone_within(pid, 20s));
}

}

TEST_SUITE("managerd security") {

TEST_CASE("TCP listens only with a password and ipc-ctl authenticates over it" * doctest::timeout(60)) {
  TempDir dir;
  std::ofstream(dir / "pass") << "tcp-secret\n";
  auto port_file = dir / "port";
  auto srv = ServerProcess::managerd(dir, {"--tcp", "127.0.0.1:0", "--requirepass-file", (dir / "pass").string(),
                                           "--port-file", port_file.string()});
  int port = 0;
  std::ifstream(port_file) >> port;
  REQUIRE(port > 0);
  std::string where = "127.0.0.1:" + std::to_string(port);
  auto r = run_program({IPCKIT_CTL_BIN, "--tcp", where, "--pass-file", (dir / "pass").string(), "ping"});
  CHECK(r.code == 0);
  CHECK(r.out == "PONG\n");
  r = run_program({IPCKIT_CTL_BIN, "--tcp", where, "get", "k"});
  CHECK(r.code == 1);
  CHECK(r.err.find("NOAUTH") != std::string::npos);
}

TEST_CASE("a peer with another uid is refused by SO_PEERCRED" * doctest::timeout(60)) {
  if (::geteuid() != 0) return;  // needs root to act as another uid
  TempDir dir;
  auto srv = ServerProcess::managerd(dir);
  // Open the file permissions so that only the uid check can refuse.
  ::chmod(dir.path().c_str(), 0755);
  ::chmod(srv.socket().c_str(), 0666);
  // The child leaves by the raw syscall: a sanitizer's _exit hook (leak check) cannot run as nobody.
  auto leave = [](int code) { ::syscall(SYS_exit_group, code); };
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) leave(3);
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, srv.socket().c_str(), sizeof sa.sun_path - 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) leave(4);
    [[maybe_unused]] auto n = ::send(fd, "PING\r\n", 6, MSG_NOSIGNAL);  // it may be closed already
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 10000) != 1) leave(5);
    char buf[64];
    ssize_t got = ::read(fd, buf, sizeof buf);
    leave(got <= 0 ? 0 : 6);  // closed without a reply
  }
  int st = 0;
  ::waitpid(pid, &st, 0);
  CHECK(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 0);
  CHECK(srv.log().find("refused a connection from uid 65534") != std::string::npos);
  RespClient c(srv.socket());
  CHECK(text(c.cmd({"PING"})) == "PONG");
}

}
