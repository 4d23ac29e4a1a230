// The message-passing examples as programs: the FIFO pair, the echo server with its client
// program, and the pipe ping-pong; each run as a real binary and checked on its output.
#include <doctest/doctest.h>

#include <ipc/connection.hpp>
#include <ipc/fifo.hpp>

#include <fcntl.h>
#include <sys/wait.h>

#include <poll.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "test_support.hpp"

using namespace std::chrono_literals;

namespace {

const std::string kExamples = IPCKIT_EXAMPLES_DIR;

/// A program started with its stdout on a pipe, read line by line with a timeout.
struct Program {
  ipc::Process proc;
  int out = -1;
  std::string buf;

  explicit Program(std::vector<std::string> argv) {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    proc = ipc::Process{[argv, w = fds[1]] {
      ::dup2(w, 1);
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      return 127;
    }};
    proc.start();
    ::close(fds[1]);
    out = fds[0];
  }
  ~Program() {
    if (proc.is_alive()) proc.kill();
    proc.join(10s);
    ::close(out);
  }
  /// The next line, or "" after 10 s or at EOF.
  std::string line() {
    for (;;) {
      if (auto nl = buf.find('\n'); nl != std::string::npos) {
        auto l = buf.substr(0, nl);
        buf.erase(0, nl + 1);
        return l;
      }
      pollfd p{out, POLLIN, 0};
      if (::poll(&p, 1, 10000) != 1) return "";
      char tmp[512];
      auto n = ::read(out, tmp, sizeof tmp);
      if (n <= 0) return "";
      buf.append(tmp, static_cast<std::size_t>(n));
    }
  }
  /// Everything up to EOF (bounded by 10 s per read).
  std::string rest() {
    std::string all;
    for (std::string l = line(); !l.empty(); l = line()) all += l + "\n";
    return all;
  }
};

/// Runs a command to completion and returns its stdout.
std::string run(const std::string& cmd, int* status = nullptr) {
  std::string out;
  FILE* f = ::popen(cmd.c_str(), "r");
  REQUIRE(f);
  char buf[512];
  while (auto n = std::fread(buf, 1, sizeof buf, f)) out.append(buf, n);
  int st = ::pclose(f);
  if (status) *status = st;
  return out;
}

}  // namespace

TEST_SUITE("examples: message passing") {
  TEST_CASE("fifo_writer and fifo_reader talk through a named pipe" * doctest::timeout(60)) {
    ipc::test::TempDir dir;
    auto path = (dir / "fifo").string();
    Program reader({kExamples + "/fifo_reader", path, "--timeout-s", "20"});
    REQUIRE(reader.line() == "reader: waiting on " + path);
    int status = -1;
    auto wout = run(kExamples + "/fifo_writer " + path + " one two three", &status);
    CHECK(status == 0);
    CHECK(wout.find("sent 3 messages") != std::string::npos);
    CHECK(reader.line() == "reader: got \"one\"");
    CHECK(reader.line() == "reader: got \"two\"");
    CHECK(reader.line() == "reader: got \"three\"");
    CHECK(reader.line().starts_with("reader: writer closed after 3 messages"));
    CHECK(reader.proc.join(10s));
    CHECK(*reader.proc.exitcode() == 0);
    CHECK_FALSE(std::filesystem::exists(path));  // the reader created it and removed it
  }

  TEST_CASE("fifo_writer without a reader fails after its timeout") {
    ipc::test::TempDir dir;
    auto path = dir / "fifo";
    { auto f = ipc::Fifo::create(path, ipc::Fifo::Mode::read); }  // removed again
    int status = -1;
    run(kExamples + "/fifo_writer " + path.string() + " x 2>/dev/null", &status);
    CHECK(WEXITSTATUS(status) == 1);
  }

  TEST_CASE("echo_server serves echo_client programs concurrently with one handler each" * doctest::timeout(60)) {
    ipc::test::TempDir dir;
    auto addr = "unix:" + (dir / "echo.sock").string();
    Program server({kExamples + "/echo_server", "--address", addr, "--clients", "2", "--authkey", "k"});
    REQUIRE(server.line().find("listening on " + addr) != std::string::npos);
    std::string first = run(kExamples + "/echo_client " + addr + " --authkey k hello world");
    std::string second = run(kExamples + "/echo_client " + addr + " --authkey k abc");
    CHECK(first.find("sent hello, got HELLO") != std::string::npos);
    CHECK(first.find("sent world, got WORLD") != std::string::npos);
    CHECK(second.find("sent abc, got ABC") != std::string::npos);
    auto log = server.rest();
    CHECK(log.find("served 2 clients") != std::string::npos);
    CHECK(server.proc.join(10s));
    CHECK(*server.proc.exitcode() == 0);
    CHECK_FALSE(std::filesystem::exists(dir / "echo.sock"));
  }

  TEST_CASE("echo_server demo upper-cases every client's messages and each handler ends with its client" *
            doctest::timeout(60)) {
    auto out = run(kExamples + "/echo_server");
    for (auto w : {"HELLO", "WORLD", "BYE", "EARLY", "ABC", "DEF", "GHI"})
      CHECK(out.find(std::string("got ") + w) != std::string::npos);
    std::size_t exits = 0;
    for (auto p = out.find("client closed, handler exits"); p != std::string::npos;
         p = out.find("client closed, handler exits", p + 1))
      ++exits;
    CHECK(exits == 3);
    CHECK(out.find("served 3 clients, all handlers exited") != std::string::npos);
  }

  TEST_CASE("pipe_ping_pong counts to 10 and shows the close-unused-ends rule" * doctest::timeout(60)) {
    auto out = run(kExamples + "/pipe_ping_pong");
    CHECK(out.find("counter reached 10; pong exited with 0") != std::string::npos);
    CHECK(out.find("no EOF, recv timed out") != std::string::npos);
    CHECK(out.find("recv sees EOF (ConnectionClosed)") != std::string::npos);
  }
}
