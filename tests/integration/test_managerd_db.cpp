// ipc-managerd databases (SELECT, SWAPDB, MOVE): isolation, blocked clients, persistence.
#include <doctest/doctest.h>

#include <thread>

#include "managerd_support.hpp"

using namespace ipc::test;
using namespace std::chrono_literals;

TEST_SUITE("managerd databases") {

TEST_CASE("each connection sees its own selected database" * doctest::timeout(60)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir, {"--databases", "4"});
  RespClient a(srv.socket()), b(srv.socket());
  CHECK(text(a.cmd({"SELECT", "3"})) == "OK");
  CHECK(text(a.cmd({"SELECT", "4"})) == "ERR DB index is out of range");
  CHECK(text(a.cmd({"SET", "k", "in-3"})) == "OK");
  CHECK(text(b.cmd({"GET", "k"})) == "(nil)");
  CHECK(text(b.cmd({"SET", "k", "in-0"})) == "OK");
  CHECK(text(a.cmd({"GET", "k"})) == "in-3");
  CHECK(text(b.cmd({"SWAPDB", "0", "3"})) == "OK");
  CHECK(text(a.cmd({"GET", "k"})) == "in-0");
  CHECK(text(b.cmd({"GET", "k"})) == "in-3");
  CHECK(text(b.cmd({"INFO", "keyspace"})).find("db3:keys=1") != std::string::npos);
  CHECK(text(b.cmd({"CONFIG", "GET", "databases"})) == "[databases,4]");
  CHECK(text(a.cmd({"CLIENT", "INFO"})).find(" db=3 ") != std::string::npos);
}

TEST_CASE("a client blocked in one database is served by a push in that database only" * doctest::timeout(60)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir);
  RespClient waiter(srv.socket()), pusher(srv.socket());
  waiter.cmd({"SELECT", "2"});
  waiter.send("*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n0\r\n");
  for (int i = 0; i < 1000 && text(pusher.cmd({"INFO", "clients"})).find("blocked_clients:1") == std::string::npos; ++i)
    ;
  CHECK(text(pusher.cmd({"RPUSH", "q", "db0"})) == "1");  // database 0: the waiter stays blocked
  CHECK(text(pusher.cmd({"SELECT", "2"})) == "OK");
  CHECK(text(pusher.cmd({"RPUSH", "q", "db2"})) == "1");
  CHECK(text(waiter.read()) == "[q,db2]");
  CHECK(text(pusher.cmd({"SELECT", "0"})) == "OK");
  CHECK(text(pusher.cmd({"LRANGE", "q", "0", "-1"})) == "[db0]");
}

TEST_CASE("every database survives a restart through the snapshot and the append-only log" * doctest::timeout(60)) {
  TempDir dir;
  auto snap = (dir / "dump.snap").string();
  auto aof = (dir / "log.aof").string();
  auto fill = [](RespClient& c) {
    c.cmd({"SET", "k", "zero"});
    c.cmd({"SELECT", "5"});
    c.cmd({"SET", "k", "five"});
    c.cmd({"RPUSH", "l", "a"});
    c.cmd({"SELECT", "9"});
    c.cmd({"SADD", "s", "x"});
    c.cmd({"MOVE", "s", "1"});
    c.cmd({"SWAPDB", "1", "2"});
  };
  auto check = [](RespClient& c) {
    CHECK(text(c.cmd({"GET", "k"})) == "zero");
    c.cmd({"SELECT", "5"});
    CHECK(text(c.cmd({"GET", "k"})) == "five");
    CHECK(text(c.cmd({"LRANGE", "l", "0", "-1"})) == "[a]");
    c.cmd({"SELECT", "2"});
    CHECK(text(c.cmd({"SMEMBERS", "s"})) == "[x]");
    c.cmd({"SELECT", "9"});
    CHECK(text(c.cmd({"DBSIZE"})) == "0");
  };
  SUBCASE("snapshot") {
    {
      auto srv = ServerProcess::managerd(dir, {"--snapshot", snap});
      RespClient c(srv.socket());
      fill(c);
      CHECK(text(c.cmd({"SAVE"})) == "OK");
      srv.stop();
    }
    auto srv = ServerProcess::managerd(dir, {"--snapshot", snap});
    RespClient c(srv.socket());
    check(c);
  }
  SUBCASE("append-only log") {
    {
      auto srv = ServerProcess::managerd(dir, {"--appendonly", aof, "--appendfsync", "always"});
      RespClient c(srv.socket());
      fill(c);
      srv.kill9();
    }
    {
      auto srv = ServerProcess::managerd(dir, {"--appendonly", aof, "--appendfsync", "always"});
      RespClient c(srv.socket());
      check(c);
      // and again after the log was rewritten from the keyspace
      CHECK(text(c.cmd({"BGREWRITEAOF"})) == "Background append only file rewriting started");
      for (int i = 0; i < 2000 && text(c.cmd({"INFO", "persistence"})).find("aof_rewrites:1") == std::string::npos; ++i)
        std::this_thread::sleep_for(5ms);
      c.cmd({"SELECT", "0"});
      c.cmd({"SET", "after", "rewrite"});
      srv.kill9();
    }
    auto srv = ServerProcess::managerd(dir, {"--appendonly", aof});
    RespClient c(srv.socket());
    CHECK(text(c.cmd({"GET", "after"})) == "rewrite");
    check(c);
  }
}

TEST_CASE("a snapshot with more databases than --databases is refused with a clear error" * doctest::timeout(60)) {
  TempDir dir;
  auto snap = (dir / "dump.snap").string();
  {
    auto srv = ServerProcess::managerd(dir, {"--snapshot", snap});
    RespClient c(srv.socket());
    c.cmd({"SELECT", "7"});
    c.cmd({"SET", "k", "v"});
    CHECK(text(c.cmd({"SAVE"})) == "OK");
    srv.stop();
  }
  auto [rc, err] = ServerProcess::run_managerd(
      {"--socket", (dir / "x.sock").string(), "--snapshot", snap, "--databases", "4"});
  CHECK(rc == 1);
  CHECK(err.find("database 7 out of range (start with --databases 8 or more)") != std::string::npos);
  auto srv = ServerProcess::managerd(dir, {"--snapshot", snap, "--databases", "8"});
  RespClient c(srv.socket());
  c.cmd({"SELECT", "7"});
  CHECK(text(c.cmd({"GET", "k"})) == "v");
}

TEST_CASE("an append-only log with more databases than --databases is refused with a clear error" * doctest::timeout(60)) {
  TempDir dir;
  auto aof = (dir / "log.aof").string();
  {
    auto srv = ServerProcess::managerd(dir, {"--appendonly", aof, "--appendfsync", "always"});
    RespClient c(srv.socket());
    c.cmd({"SELECT", "6"});
    c.cmd({"MULTI"});
    c.cmd({"SET", "k", "v"});
    c.cmd({"EXEC"});
    srv.stop();
  }
  auto [rc, err] = ServerProcess::run_managerd(
      {"--socket", (dir / "x.sock").string(), "--appendonly", aof, "--databases", "4"});
  CHECK(rc == 1);
  CHECK(err.find("uses more databases than --databases 4") != std::string::npos);
}

}
