// ipc-managerd lists (list proxies, queues) and blocking pops against the running daemon.
#include <doctest/doctest.h>

#include "managerd_support.hpp"

using namespace ipc::test;
using namespace std::chrono_literals;

TEST_SUITE("managerd list") {

TEST_CASE("pushes pops ranges and edits follow Redis" * doctest::timeout(60)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir);
  RespClient c(srv.socket());
  CHECK(text(c.cmd({"RPUSH", "l", "a", "b", "c"})) == "3");
  CHECK(text(c.cmd({"LPUSH", "l", "z"})) == "4");
  CHECK(text(c.cmd({"LRANGE", "l", "0", "-1"})) == "[z,a,b,c]");
  CHECK(text(c.cmd({"LINDEX", "l", "-1"})) == "c");
  CHECK(text(c.cmd({"LSET", "l", "1", "A"})) == "OK");
  CHECK(text(c.cmd({"LSET", "l", "9", "A"})) == "ERR index out of range");
  CHECK(text(c.cmd({"LINSERT", "l", "BEFORE", "b", "x"})) == "5");
  CHECK(text(c.cmd({"LREM", "l", "0", "x"})) == "1");
  CHECK(text(c.cmd({"LTRIM", "l", "1", "-1"})) == "OK");
  CHECK(text(c.cmd({"LRANGE", "l", "0", "-1"})) == "[A,b,c]");
  CHECK(text(c.cmd({"LPOP", "l", "2"})) == "[A,b]");
  CHECK(text(c.cmd({"RPOP", "l"})) == "c");
  CHECK(text(c.cmd({"EXISTS", "l"})) == "0");
  CHECK(text(c.cmd({"LPOP", "l", "-1"})) == "ERR value is out of range, must be positive");
  CHECK(text(c.cmd({"LLEN", "l"})) == "0");
}

TEST_CASE("BLPOP waits for a push and times out with nil" * doctest::timeout(60)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir);
  RespClient waiter(srv.socket()), pusher(srv.socket());
  CHECK(text(waiter.cmd({"BLPOP", "q", "0.2"})) == "(nil)");
  waiter.send("*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n0\r\n");
  // the waiter is blocked: wait until the server says so, then push
  for (int i = 0; i < 1000 && text(pusher.cmd({"INFO", "clients"})).find("blocked_clients:1") == std::string::npos; ++i)
    ;
  CHECK(text(pusher.cmd({"RPUSH", "q", "job"})) == "1");
  CHECK(text(waiter.read()) == "[q,job]");
  CHECK(text(pusher.cmd({"LLEN", "q"})) == "0");
}

TEST_CASE("blocked clients are served first come first served" * doctest::timeout(60)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir);
  RespClient ctl(srv.socket());
  std::vector<RespClient> waiters;
  for (int i = 0; i < 3; ++i) {
    waiters.emplace_back(srv.socket());
    waiters.back().send("*3\r\n$5\r\nBRPOP\r\n$1\r\nq\r\n$2\r\n10\r\n");
    std::string want = "blocked_clients:" + std::to_string(i + 1);
    for (int k = 0; k < 1000 && text(ctl.cmd({"INFO", "clients"})).find(want) == std::string::npos; ++k)
      ;
  }
  CHECK(text(ctl.cmd({"LPUSH", "q", "1", "2", "3"})) == "3");
  // BRPOP takes from the tail: first waiter gets "1", then "2", then "3"
  CHECK(text(waiters[0].read()) == "[q,1]");
  CHECK(text(waiters[1].read()) == "[q,2]");
  CHECK(text(waiters[2].read()) == "[q,3]");
}

}
