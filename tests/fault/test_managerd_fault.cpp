// ipc-managerd under bad input and abuse: garbage, truncated and oversized frames, stalled and idle
// clients, disconnects mid-BLPOP, limits. The daemon answers with errors or drops that client
// only, keeps serving the others, and its memory stays bounded.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <random>

#include "managerd_support.hpp"

using namespace ipc::test;
using namespace std::chrono_literals;

namespace {

// A memory figure of `pid` in KiB from /proc/<pid>/status ("VmRSS", "VmHWM" = peak RSS), -1 if unknown.
long status_kib(pid_t pid, const std::string& field) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  return -1;
}

// Resident memory of `pid` in KiB (VmRSS), -1 if unknown.
long rss_kib(pid_t pid) { return status_kib(pid, "VmRSS"); }

void check_serving(const ServerProcess& srv) {
  RespClient other(srv.socket());
  CHECK(text(other.cmd({"PING"})) == "PONG");
  CHECK(::kill(srv.pid(), 0) == 0);
}

}  // namespace

TEST_SUITE("managerd fault") {

TEST_CASE("garbage bytes get a protocol error for that client only" * doctest::timeout(60)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir);
  std::mt19937 rng(42);
  for (int round = 0; round < 20; ++round) {
    RespClient bad(srv.socket());
    std::string junk(4096, '\0');
    for (auto& ch : junk) ch = static_cast<char>(rng());
    junk[0] = '*';  // multibulk parser
    try {
      bad.send(junk);
    } catch (const std::exception&) {
      // the server may already have closed the connection
    }
    CHECK(bad.closed_by_peer());
  }
  check_serving(srv);
}

TEST_CASE("protocol errors use Redis's messages and close the connection" * doctest::timeout(60)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir);
  struct Case {
    const char* bytes;
    const char* reply;
  } cases[] = {
      {"*1\r\n$99999999999\r\n", "ERR Protocol error: invalid bulk length"},
      {"*1\r\n$-5\r\n", "ERR Protocol error: invalid bulk length"},
      {"*99999999999\r\n", "ERR Protocol error: invalid multibulk length"},
      {"*1\r\n*1\r\n*1\r\n*1\r\n$1\r\nx\r\n", "ERR Protocol error: expected '$', got '*'"},
      {"GET 'unbalanced\r\n", "ERR Protocol error: unbalanced quotes in request"},
  };
  for (auto& k : cases) {
    RespClient c(srv.socket());
    c.send(k.bytes);
    INFO(k.bytes);
    CHECK(text(c.read()) == k.reply);
    CHECK(c.closed_by_peer());
  }
  check_serving(srv);
}

TEST_CASE("a huge declared bulk length does not make the server allocate it" * doctest::timeout(60)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir);
  long before = rss_kib(srv.pid());
  std::vector<RespClient> clients;
  for (int i = 0; i < 50; ++i) {
    clients.emplace_back(srv.socket());
    clients.back().send("*2\r\n$3\r\nGET\r\n$500000000\r\nabc");  // 500 MB promised, 3 bytes sent
  }
  check_serving(srv);
  long after = rss_kib(srv.pid());
  CHECK(after - before < 64 * 1024);  // 50 x 500 MB would be 25 GB
}

TEST_CASE("negative and huge counts get errors or empty replies" * doctest::timeout(60)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir);
  RespClient c(srv.socket());
  c.cmd({"RPUSH", "l", "a", "b"});
  CHECK(text(c.cmd({"LRANGE", "l", "-9223372036854775808", "9223372036854775807"})) == "[a,b]");
  CHECK(text(c.cmd({"LRANGE", "l", "99999999999999999999", "1"})) == "ERR value is not an integer or out of range");
  CHECK(text(c.cmd({"LPOP", "l", "-1"})) == "ERR value is out of range, must be positive");
  CHECK(text(c.cmd({"LPOP", "l", "9223372036854775807"})) == "[a,b]");
  CHECK(text(c.cmd({"SCAN", "0", "COUNT", "-1"})) == "ERR syntax error");
  CHECK(text(c.cmd({"LREM", "l", "-9223372036854775808", "a"})) == "0");
  CHECK(text(c.cmd({"BLPOP", "l", "1e300"})) == "ERR timeout is not a float or out of range");
  c.send("*-1\r\n*0\r\n");
  CHECK(text(c.cmd({"PING"})) == "PONG");
}

TEST_CASE("a client that sends half a request and stalls does not block others" * doctest::timeout(60)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir);
  RespClient stall(srv.socket());
  stall.send("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nab");
  check_serving(srv);
  stall.send("cde\r\n");  // finishing it later works
  CHECK(text(stall.read()) == "OK");
  RespClient c(srv.socket());
  CHECK(text(c.cmd({"GET", "k"})) == "abcde");
}

TEST_CASE("a thousand idle connections are held and the server keeps serving" * doctest::timeout(120)) {
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < 1100) {
    rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, 1100);
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
  int n = rl.rlim_cur >= 1100 ? 1000 : static_cast<int>(rl.rlim_cur) - 100;
  TempDir dir;
  auto srv = ServerProcess::managerd(dir);
  std::vector<int> fds;
  for (int i = 0; i < n; ++i) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, srv.socket().c_str(), sizeof sa.sun_path - 1);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
    fds.push_back(fd);
  }
  RespClient c(srv.socket());
  std::string want = "connected_clients:" + std::to_string(n + 1);
  std::string info;
  for (int i = 0; i < 2000 && info.find(want) == std::string::npos; ++i) info = text(c.cmd({"INFO", "clients"}));
  CHECK(info.find(want) != std::string::npos);
  CHECK(rss_kib(srv.pid()) < 200 * 1024);
  for (int fd : fds) ::close(fd);
  check_serving(srv);
}

TEST_CASE("a client disconnecting mid-BLPOP loses no element" * doctest::timeout(60)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir);
  RespClient ctl(srv.socket());
  {
    RespClient gone(srv.socket());
    gone.send("*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n0\r\n");
    for (int i = 0; i < 1000 && text(ctl.cmd({"INFO", "clients"})).find("blocked_clients:1") == std::string::npos; ++i)
      ;
  }
  for (int i = 0; i < 1000 && text(ctl.cmd({"INFO", "clients"})).find("blocked_clients:0") == std::string::npos; ++i)
    ;
  CHECK(text(ctl.cmd({"RPUSH", "q", "job"})) == "1");
  CHECK(text(ctl.cmd({"LLEN", "q"})) == "1");
  CHECK(text(ctl.cmd({"LPOP", "q"})) == "job");
}

TEST_CASE("a client that never reads its replies cannot grow the server's memory" * doctest::timeout(120)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir);
  RespClient c(srv.socket());
  c.cmd({"SET", "k", std::string(100 * 1024, 'x')});
  long before = rss_kib(srv.pid());
  RespClient hog(srv.socket());
  int one = 1;
  (void)one;
  std::string req;
  for (int i = 0; i < 100; ++i) req += "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
  // 2000 x 100 KiB = 200 MB of replies requested; the sender blocks once the server stops reading.
  ::fcntl(hog.fd(), F_SETFL, O_NONBLOCK);
  std::size_t sent = 0;
  for (int round = 0; round < 20000 && sent < 2000 * req.size() / 100; ++round) {
    ssize_t k = ::send(hog.fd(), req.data(), req.size(), MSG_NOSIGNAL);
    if (k > 0) sent += static_cast<std::size_t>(k);
    else ::usleep(100);
  }
  check_serving(srv);
  CHECK(rss_kib(srv.pid()) - before < 64 * 1024);
}

TEST_CASE("an EXEC whose reply passes the output buffer limit closes the client without building it all" * doctest::timeout(120)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir, {"--client-output-buffer-limit", "8mb"});
  RespClient c(srv.socket());
  for (int batch = 0; batch < 10; ++batch) {  // a list of 1000 x 1 KiB
    std::vector<std::string> push{"RPUSH", "big"};
    for (int i = 0; i < 100; ++i) push.push_back(std::string(1024, static_cast<char>('a' + batch)));
    REQUIRE(c.cmd(push).type == Reply::Type::integer);
  }
  long before = rss_kib(srv.pid());
  RespClient hog(srv.socket());
  REQUIRE(text(hog.cmd({"PING"})) == "PONG");  // connected: two clients now
  std::string tx = "*1\r\n$5\r\nMULTI\r\n";
  for (int i = 0; i < 100; ++i) tx += "*4\r\n$6\r\nLRANGE\r\n$3\r\nbig\r\n$1\r\n0\r\n$2\r\n-1\r\n";
  tx += "*1\r\n$4\r\nEXEC\r\n";
  hog.send(tx);  // 100 MiB of replies asked for, never read
  bool gone = false;
  for (int i = 0; i < 3000 && !gone; ++i) {
    gone = info_field(c, "clients", "connected_clients") == "1";
    if (!gone) ::usleep(10'000);
  }
  CHECK(gone);
  long peak = status_kib(srv.pid(), "VmHWM");
  INFO("RSS before " << before << " KiB, peak after " << peak << " KiB");
  CHECK(peak - before < 48 * 1024 * ipc::test::kResidentGrowthFactor);  // all of it: 100 MiB
  CHECK(srv.log().find("output buffer over the limit") != std::string::npos);
  check_serving(srv);
}

TEST_CASE("maxclients refuses the extra connection with an error" * doctest::timeout(60)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir, {"--maxclients", "3"});
  RespClient a(srv.socket()), b(srv.socket()), c(srv.socket());
  CHECK(text(a.cmd({"PING"})) == "PONG");
  RespClient d(srv.socket());
  CHECK(text(d.read()) == "ERR max number of clients reached");
  CHECK(text(c.cmd({"PING"})) == "PONG");
}

TEST_CASE("maxmemory refuses writes with OOM and still serves reads and deletes" * doctest::timeout(120)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir, {"--maxmemory", "16mb"});
  RespClient c(srv.socket());
  std::string value(1024 * 1024, 'v');
  std::string last;
  int i = 0;
  for (; i < 200; ++i) {
    last = text(c.cmd({"SET", "k" + std::to_string(i), value}));
    if (last != "OK") break;
  }
  CHECK(last == "OOM command not allowed when used memory > 'maxmemory'.");
  CHECK(i > 0);
  CHECK(i < 200);
  CHECK(text(c.cmd({"STRLEN", "k0"})) == std::to_string(value.size()));
  CHECK(text(c.cmd({"DEL", "k0"})) == "1");
}

TEST_CASE("proto-max-bulk-len refuses a larger argument" * doctest::timeout(60)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir, {"--proto-max-bulk-len", "1kb"});
  RespClient c(srv.socket());
  c.send("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000\r\n");
  CHECK(text(c.read()) == "ERR Protocol error: invalid bulk length");
  check_serving(srv);
}

}
