// ipc-managerd key space, transactions and server commands against the running daemon.
#include <doctest/doctest.h>

#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "managerd_support.hpp"

using namespace ipc::test;

TEST_SUITE("managerd keys") {

TEST_CASE("DEL EXISTS TYPE KEYS RENAME DBSIZE FLUSHALL" * doctest::timeout(60)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir);
  RespClient c(srv.socket());
  c.cmd({"SET", "s", "1"});
  c.cmd({"HSET", "h", "f", "v"});
  c.cmd({"RPUSH", "l", "x"});
  CHECK(text(c.cmd({"TYPE", "s"})) == "string");
  CHECK(text(c.cmd({"TYPE", "h"})) == "hash");
  CHECK(text(c.cmd({"TYPE", "l"})) == "list");
  CHECK(text(c.cmd({"TYPE", "none"})) == "none");
  CHECK(text(c.cmd({"EXISTS", "s", "h", "s", "nope"})) == "3");
  CHECK(text(c.cmd({"DBSIZE"})) == "3");
  auto keys = c.cmd({"KEYS", "?"});
  std::set<std::string> ks;
  for (auto& e : keys.elements) ks.insert(e.str);
  CHECK(ks == std::set<std::string>{"s", "h", "l"});
  CHECK(text(c.cmd({"RENAME", "s", "t"})) == "OK");
  CHECK(text(c.cmd({"GET", "t"})) == "1");
  CHECK(text(c.cmd({"RENAME", "nope", "x"})) == "ERR no such key");
  CHECK(text(c.cmd({"DEL", "t", "h", "nope"})) == "2");
  CHECK(text(c.cmd({"FLUSHALL"})) == "OK");
  CHECK(text(c.cmd({"DBSIZE"})) == "0");
}

TEST_CASE("SCAN visits every key exactly as Redis guarantees" * doctest::timeout(60)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir);
  RespClient c(srv.socket());
  std::vector<std::string> mset = {"MSET"};
  for (int i = 0; i < 500; ++i) {
    mset.push_back("key:" + std::to_string(i));
    mset.push_back("v");
  }
  c.cmd(mset);
  std::set<std::string> seen;
  std::string cursor = "0";
  int rounds = 0;
  do {
    auto r = c.cmd({"SCAN", cursor, "MATCH", "key:*", "COUNT", "20"});
    cursor = r.elements[0].str;
    for (auto& e : r.elements[1].elements) seen.insert(e.str);
  } while (cursor != "0" && ++rounds < 10000);
  CHECK(seen.size() == 500);
}

TEST_CASE("EXPIRE and TTL remove keys when their time is up" * doctest::timeout(60)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir);
  RespClient c(srv.socket());
  c.cmd({"SET", "k", "v"});
  CHECK(text(c.cmd({"TTL", "k"})) == "-1");
  CHECK(text(c.cmd({"PEXPIRE", "k", "1"})) == "1");
  // PEXPIREAT in the past deletes at once (no waiting needed)
  c.cmd({"SET", "k2", "v"});
  CHECK(text(c.cmd({"PEXPIREAT", "k2", "1"})) == "1");
  CHECK(text(c.cmd({"EXISTS", "k2"})) == "0");
  CHECK(text(c.cmd({"TTL", "nope"})) == "-2");
  c.cmd({"SET", "k3", "v", "EX", "100"});
  auto ttl = c.cmd({"TTL", "k3"});
  CHECK(ttl.integer > 90);
  CHECK(ttl.integer <= 100);
  CHECK(text(c.cmd({"PERSIST", "k3"})) == "1");
  CHECK(text(c.cmd({"TTL", "k3"})) == "-1");
}

TEST_CASE("MULTI EXEC runs queued commands and WATCH aborts on a concurrent change" * doctest::timeout(60)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir);
  RespClient a(srv.socket()), b(srv.socket());
  CHECK(text(a.cmd({"MULTI"})) == "OK");
  CHECK(text(a.cmd({"INCR", "n"})) == "QUEUED");
  CHECK(text(a.cmd({"INCR", "n"})) == "QUEUED");
  CHECK(text(a.cmd({"EXEC"})) == "[1,2]");
  CHECK(text(a.cmd({"WATCH", "n"})) == "OK");
  CHECK(text(b.cmd({"SET", "n", "100"})) == "OK");
  a.cmd({"MULTI"});
  a.cmd({"INCR", "n"});
  CHECK(text(a.cmd({"EXEC"})) == "(nil)");
  CHECK(text(a.cmd({"GET", "n"})) == "100");
  // a queued command with a wrong arity aborts the transaction
  a.cmd({"MULTI"});
  CHECK(text(a.cmd({"GET"})) == "ERR wrong number of arguments for 'get' command");
  CHECK(text(a.cmd({"EXEC"})) == "EXECABORT Transaction discarded because of previous errors.");
  CHECK(text(a.cmd({"DISCARD"})) == "ERR DISCARD without MULTI");
}

TEST_CASE("PING ECHO INFO CLIENT COMMAND answer and unknown commands keep the connection" * doctest::timeout(60)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir);
  RespClient c(srv.socket());
  CHECK(text(c.cmd({"PING"})) == "PONG");
  CHECK(text(c.cmd({"ECHO", "hi"})) == "hi");
  CHECK(text(c.cmd({"NOPE", "x"})) == "ERR unknown command 'NOPE', with args beginning with: 'x' ");
  CHECK(text(c.cmd({"CLIENT", "SETNAME", "worker-1"})) == "OK");
  CHECK(text(c.cmd({"CLIENT", "GETNAME"})) == "worker-1");
  CHECK(text(c.cmd({"CLIENT", "LIST"})).find("name=worker-1") != std::string::npos);
  std::string info = text(c.cmd({"INFO"}));
  CHECK(info.find("connected_clients:1") != std::string::npos);
  CHECK(info.find("uptime_in_seconds:") != std::string::npos);
  CHECK(info.find("used_memory:") != std::string::npos);
  CHECK(info.find("rdb_last_save_time:") != std::string::npos);
  CHECK(c.cmd({"COMMAND", "COUNT"}).integer > 50);
  CHECK(text(c.cmd({"HELLO", "3"})).rfind("NOPROTO", 0) == 0);
  CHECK(c.cmd({"HELLO", "2"}).elements.size() == 14);
}

TEST_CASE("SHUTDOWN NOSAVE stops the server and removes its socket" * doctest::timeout(60)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir);
  RespClient c(srv.socket());
  c.send("*2\r\n$8\r\nSHUTDOWN\r\n$6\r\nNOSAVE\r\n");
  CHECK(c.closed_by_peer());
  int st = srv.wait_exit(20);
  CHECK(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 0);
  CHECK_FALSE(std::filesystem::exists(srv.socket()));
}

TEST_CASE("AUTH accepts only the exact password and not a prefix an extension or a same-length guess" * doctest::timeout(60)) {
  // The comparison is of keyed digests in constant time; what a test can pin is that it is exact.
  TempDir dir;
  {
    std::ofstream(dir / "pass") << "s3cret-pass\n";
  }
  auto srv = ServerProcess::managerd(dir, {"--requirepass-file", (dir / "pass").string()});
  RespClient c(srv.socket());
  std::vector<std::string> guesses{"", "s", "s3cret-pas", "s3cret-passs", "s3cret-pasS", "S3cret-pass",
                                   std::string("s3cret-pass\0", 12)};
  for (const auto& guess : guesses) {
    CAPTURE(guess);
    CHECK(text(c.cmd({"AUTH", guess})) == "WRONGPASS invalid username-password pair or user is disabled.");
    CHECK(text(c.cmd({"AUTH", "default", guess})) == "WRONGPASS invalid username-password pair or user is disabled.");
  }
  CHECK(text(c.cmd({"AUTH", "other", "s3cret-pass"})) == "WRONGPASS invalid username-password pair or user is disabled.");
  CHECK(text(c.cmd({"GET", "k"})) == "NOAUTH Authentication required.");
  CHECK(text(c.cmd({"AUTH", "default", "s3cret-pass"})) == "OK");
  CHECK(text(c.cmd({"GET", "k"})) == "(nil)");
}

TEST_CASE("a password protects the server and TCP needs one" * doctest::timeout(60)) {
  TempDir dir;
  {
    std::ofstream(dir / "pass") << "s3cret\n";
  }
  auto srv = ServerProcess::managerd(dir, {"--requirepass-file", (dir / "pass").string()});
  RespClient c(srv.socket());
  CHECK(text(c.cmd({"GET", "k"})) == "NOAUTH Authentication required.");
  CHECK(text(c.cmd({"AUTH", "wrong"})) == "WRONGPASS invalid username-password pair or user is disabled.");
  CHECK(text(c.cmd({"AUTH", "s3cret"})) == "OK");
  CHECK(text(c.cmd({"GET", "k"})) == "(nil)");
  auto [rc, err] = ServerProcess::run_managerd({"--socket", (dir / "other.sock").string(), "--tcp", "127.0.0.1:0"});
  CHECK(rc == 2);
  CHECK(err.find("--requirepass-file") != std::string::npos);
}

TEST_CASE("a second server on the same socket refuses to start" * doctest::timeout(60)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir);
  auto [rc, err] = ServerProcess::run_managerd({"--socket", srv.socket()});
  CHECK(rc == 1);
  CHECK(err.find("already listening") != std::string::npos);
  RespClient c(srv.socket());
  CHECK(text(c.cmd({"PING"})) == "PONG");
}

}
