// ipc-managerd hashes (the dict proxies' store) against the running daemon.
#include <doctest/doctest.h>

#include <algorithm>
#include <set>

#include "managerd_support.hpp"

using namespace ipc::test;

TEST_SUITE("managerd hash") {

TEST_CASE("HSET HGET HMGET HDEL HEXISTS HLEN keep the fields" * doctest::timeout(60)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir);
  RespClient c(srv.socket());
  CHECK(text(c.cmd({"HSET", "h", "a", "1", "b", "2"})) == "2");
  CHECK(text(c.cmd({"HSET", "h", "a", "10", "c", "3"})) == "1");
  CHECK(text(c.cmd({"HGET", "h", "a"})) == "10");
  CHECK(text(c.cmd({"HMGET", "h", "a", "zz", "c"})) == "[10,(nil),3]");
  CHECK(text(c.cmd({"HLEN", "h"})) == "3");
  CHECK(text(c.cmd({"HEXISTS", "h", "b"})) == "1");
  CHECK(text(c.cmd({"HDEL", "h", "b", "zz"})) == "1");
  CHECK(text(c.cmd({"HGETALL", "h"})) == "[a,10,c,3]");
  CHECK(text(c.cmd({"HKEYS", "h"})) == "[a,c]");
  CHECK(text(c.cmd({"HVALS", "h"})) == "[10,3]");
  CHECK(text(c.cmd({"HDEL", "h", "a", "c"})) == "2");
  CHECK(text(c.cmd({"EXISTS", "h"})) == "0");
  CHECK(text(c.cmd({"HSETNX", "h", "x", "1"})) == "1");
  CHECK(text(c.cmd({"HSETNX", "h", "x", "2"})) == "0");
  CHECK(text(c.cmd({"HSET", "h", "odd"})) == "ERR wrong number of arguments for 'hset' command");
}

TEST_CASE("HINCRBY and HINCRBYFLOAT count and refuse non numbers" * doctest::timeout(60)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir);
  RespClient c(srv.socket());
  CHECK(text(c.cmd({"HINCRBY", "h", "n", "5"})) == "5");
  CHECK(text(c.cmd({"HINCRBY", "h", "n", "-7"})) == "-2");
  CHECK(text(c.cmd({"HINCRBYFLOAT", "h", "f", "2.5"})) == "2.5");
  CHECK(text(c.cmd({"HSET", "h", "s", "x"})) == "1");
  CHECK(text(c.cmd({"HINCRBY", "h", "s", "1"})) == "ERR hash value is not an integer");
  CHECK(text(c.cmd({"HINCRBYFLOAT", "h", "s", "1"})) == "ERR hash value is not a float");
  CHECK(text(c.cmd({"HINCRBY", "h", "n", "x"})) == "ERR value is not an integer or out of range");
  CHECK(text(c.cmd({"SET", "str", "v"})) == "OK");
  CHECK(text(c.cmd({"HGET", "str", "f"})) == "WRONGTYPE Operation against a key holding the wrong kind of value");
}

TEST_CASE("a large hash converts to a table and HSCAN returns every field" * doctest::timeout(60)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir);
  RespClient c(srv.socket());
  std::vector<std::string> args = {"HSET", "big"};
  for (int i = 0; i < 1000; ++i) {
    args.push_back("f" + std::to_string(i));
    args.push_back(std::to_string(i));
  }
  CHECK(text(c.cmd(args)) == "1000");
  std::set<std::string> seen;
  std::string cursor = "0";
  int rounds = 0;
  do {
    auto r = c.cmd({"HSCAN", "big", cursor, "COUNT", "50"});
    REQUIRE(r.elements.size() == 2);
    cursor = r.elements[0].str;
    for (std::size_t i = 0; i < r.elements[1].elements.size(); i += 2) seen.insert(r.elements[1].elements[i].str);
  } while (cursor != "0" && ++rounds < 10000);
  CHECK(seen.size() == 1000);
  CHECK(text(c.cmd({"HLEN", "big"})) == "1000");
}

TEST_CASE("MEMORY USAGE grows with a value and is nil for a missing key" * doctest::timeout(60)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir);
  RespClient c(srv.socket());
  c.cmd({"HSET", "h", "a", "1"});
  long long small = std::stoll(text(c.cmd({"MEMORY", "USAGE", "h"})));
  CHECK(small > 0);
  for (int i = 0; i < 300; ++i) c.cmd({"HSET", "h", "f" + std::to_string(i), std::string(100, 'v')});
  long long big = std::stoll(text(c.cmd({"MEMORY", "USAGE", "h", "SAMPLES", "0"})));
  CHECK(big > 300 * 100);
  c.cmd({"SET", "s", std::string(33000, 'A')});
  long long s = std::stoll(text(c.cmd({"MEMORY", "USAGE", "s"})));
  CHECK(s > 33000);
  CHECK(s < 42000);
  CHECK(text(c.cmd({"MEMORY", "USAGE", "nope"})) == "(nil)");
}

}
