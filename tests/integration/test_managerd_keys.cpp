// ipc-managerd key space, transactions and server commands against the running daemon.
#include <doctest/doctest.h>

#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <map>
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

TEST_CASE("RANDOMKEY picks each of two keys about half of the time" * doctest::timeout(60)) {
  // Taking the next non-empty bucket after a random one favours a key after a run of empty
  // buckets; Redis's own suite expects both of two keys within 100 picks.
  TempDir dir;
  auto srv = ServerProcess::managerd(dir);
  RespClient c(srv.socket());
  for (int pair = 0; pair < 5; ++pair) {
    std::string a = "a" + std::to_string(pair), b = "b" + std::to_string(pair);
    c.cmd({"FLUSHALL"});
    c.cmd({"MSET", a, "1", b, "2"});
    std::map<std::string, int> counts;
    for (int i = 0; i < 1000; ++i) ++counts[c.cmd({"RANDOMKEY"}).str];
    CAPTURE(pair);
    CHECK(counts.size() == 2);
    CHECK(counts[a] > 350);  // a fair pick: 500 with a standard deviation of 16
    CHECK(counts[b] > 350);
  }
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
  CHECK(text(c.cmd({"HELLO", "4"})) == "NOPROTO unsupported protocol version");
  CHECK(c.cmd({"HELLO", "3"}).elements.size() == 14);  // a RESP3 map, read as a flat array
  CHECK(text(c.cmd({"GET", "nokey"})) == "(nil)");
  CHECK(c.cmd({"HELLO", "2"}).elements.size() == 14);
}

TEST_CASE("every command served has its COMMAND INFO and COMMAND DOCS" * doctest::timeout(60)) {
  // redis-cli asks for COMMAND DOCS when it connects: a command without docs must not break it.
  TempDir dir;
  auto srv = ServerProcess::managerd(dir);
  RespClient c(srv.socket());
  auto names = c.cmd({"COMMAND", "LIST"});
  REQUIRE(names.elements.size() > 100);
  for (auto& n : names.elements) {
    CAPTURE(n.str);
    auto info = c.cmd({"COMMAND", "INFO", n.str});
    REQUIRE(info.elements.size() == 1);
    CHECK(info.elements[0].elements.size() == 10);
    auto docs = c.cmd({"COMMAND", "DOCS", n.str});
    REQUIRE(docs.elements.size() == 2);  // a map of one entry, read flat
    CHECK(docs.elements[0].str == n.str);
  }
  CHECK(c.cmd({"COMMAND", "DOCS"}).elements.size() == 2 * names.elements.size());
}

TEST_CASE("scripting commands are refused with a reason, and inside MULTI only themselves fail" *
          doctest::timeout(60)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir);
  RespClient c(srv.socket());
  CHECK(text(c.cmd({"EVAL", "return 1", "0"})) == "ERR EVAL is not supported: ipc-managerd has no scripting engine");
  CHECK(text(c.cmd({"SCRIPT", "load", "return 1"})) ==
        "ERR SCRIPT LOAD is not supported: ipc-managerd has no scripting engine");
  CHECK(text(c.cmd({"EVALSHA", "x"})) == "ERR wrong number of arguments for 'evalsha' command");
  // As on Redis, a known command is queued: EXEC runs the transaction and answers the error in
  // its place (an unknown command would abort the whole transaction with EXECABORT).
  CHECK(text(c.cmd({"MULTI"})) == "OK");
  CHECK(text(c.cmd({"SCRIPT", "LOAD", "return 1"})) == "QUEUED");
  CHECK(text(c.cmd({"SET", "foo", "bar"})) == "QUEUED");
  auto r = c.cmd({"EXEC"});
  REQUIRE(r.elements.size() == 2);
  CHECK(text(r.elements[0]) == "ERR SCRIPT LOAD is not supported: ipc-managerd has no scripting engine");
  CHECK(text(r.elements[1]) == "OK");
  CHECK(text(c.cmd({"GET", "foo"})) == "bar");
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

TEST_SUITE("managerd clients") {

TEST_CASE("CLIENT UNBLOCK ends a blocked pop as a timeout or with an error" * doctest::timeout(60)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir);
  RespClient ctl(srv.socket()), waiter(srv.socket());
  std::string id = std::to_string(waiter.cmd({"CLIENT", "ID"}).integer);
  auto wait_blocked = [&] {
    for (int i = 0; i < 1000 && text(ctl.cmd({"INFO", "clients"})).find("blocked_clients:1") == std::string::npos; ++i)
      ;
  };
  waiter.send("*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n0\r\n");
  wait_blocked();
  CHECK(text(ctl.cmd({"CLIENT", "UNBLOCK", id})) == "1");
  CHECK(waiter.read_raw() == "*-1\r\n");
  waiter.send("*6\r\n$6\r\nBLMOVE\r\n$1\r\nq\r\n$1\r\nd\r\n$4\r\nLEFT\r\n$4\r\nLEFT\r\n$1\r\n0\r\n");
  wait_blocked();
  CHECK(text(ctl.cmd({"CLIENT", "UNBLOCK", id, "ERROR"})) == "1");
  CHECK(text(waiter.read()) == "UNBLOCKED client unblocked via CLIENT UNBLOCK");
  CHECK(text(ctl.cmd({"CLIENT", "UNBLOCK", id})) == "0");  // not blocked any more
  CHECK(text(waiter.cmd({"PING"})) == "PONG");
}

TEST_CASE("CLIENT KILL closes the chosen connections and keeps the others" * doctest::timeout(60)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir);
  RespClient ctl(srv.socket()), a(srv.socket()), sub(srv.socket());
  std::string id = std::to_string(a.cmd({"CLIENT", "ID"}).integer);
  sub.cmd({"SUBSCRIBE", "ch"});
  CHECK(text(ctl.cmd({"CLIENT", "KILL", "ID", id})) == "1");
  CHECK(a.closed_by_peer());
  CHECK(text(ctl.cmd({"CLIENT", "KILL", "TYPE", "pubsub"})) == "1");
  CHECK(sub.closed_by_peer());
  CHECK(text(ctl.cmd({"CLIENT", "KILL", "ID", id})) == "0");
  CHECK(text(ctl.cmd({"CLIENT", "KILL", "TYPE", "normal"})) == "0");  // SKIPME yes: not itself
  CHECK(text(ctl.cmd({"PING"})) == "PONG");
  ctl.send("*6\r\n$6\r\nCLIENT\r\n$4\r\nKILL\r\n$4\r\nTYPE\r\n$6\r\nnormal\r\n$6\r\nSKIPME\r\n$2\r\nno\r\n");
  CHECK(text(ctl.read()) == "1");
  CHECK(ctl.closed_by_peer());
}

TEST_CASE("INFO counts rejected and failed calls per command and errors per code" * doctest::timeout(60)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir);
  RespClient c(srv.socket()), waiter(srv.socket());
  auto info = [&](const char* section) { return text(c.cmd({"INFO", section})); };
  CHECK(text(c.cmd({"CONFIG", "RESETSTAT"})) == "OK");
  c.cmd({"FRTRYZS"});  // unknown: rejected
  CHECK(info("errorstats").find("errorstat_ERR:count=1\r\n") != std::string::npos);
  CHECK(info("stats").find("total_error_replies:1\r\n") != std::string::npos);
  c.cmd({"MULTI"});
  c.cmd({"SET", "k"});  // wrong arity inside MULTI: rejected, the transaction is aborted
  CHECK(text(c.cmd({"EXEC"})) == "EXECABORT Transaction discarded because of previous errors.");
  std::string cmdstats = info("commandstats");
  CHECK(cmdstats.find("cmdstat_set:calls=0,usec=0,usec_per_call=0.00,rejected_calls=1,failed_calls=0") != std::string::npos);
  CHECK(cmdstats.find("cmdstat_exec:calls=1,usec=0,usec_per_call=0.00,rejected_calls=0,failed_calls=1") != std::string::npos);
  CHECK(info("errorstats").find("errorstat_EXECABORT:count=1\r\n") != std::string::npos);
  c.cmd({"SET", "s", "x"});
  c.cmd({"LPUSH", "s", "y"});  // ran and failed: WRONGTYPE
  CHECK(info("commandstats").find("cmdstat_lpush:calls=1,usec=0,usec_per_call=0.00,rejected_calls=0,failed_calls=1") !=
        std::string::npos);
  CHECK(info("errorstats").find("errorstat_WRONGTYPE:count=1\r\n") != std::string::npos);
  std::string id = std::to_string(waiter.cmd({"CLIENT", "ID"}).integer);
  waiter.send("*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n0\r\n");
  for (int i = 0; i < 1000 && info("clients").find("blocked_clients:1") == std::string::npos; ++i)
    ;
  CHECK(text(c.cmd({"CLIENT", "UNBLOCK", id, "ERROR"})) == "1");
  CHECK(text(waiter.read()).rfind("UNBLOCKED", 0) == 0);
  CHECK(info("errorstats").find("errorstat_UNBLOCKED:count=1\r\n") != std::string::npos);
  CHECK(info("commandstats").find("cmdstat_blpop:calls=1,usec=0,usec_per_call=0.00,rejected_calls=0,failed_calls=1") !=
        std::string::npos);
  CHECK(info("cpu").find("used_cpu_user:") != std::string::npos);
  CHECK(text(c.cmd({"CONFIG", "RESETSTAT"})) == "OK");
  CHECK(info("errorstats") == "# Errorstats\r\n");
}

}
