// ipc-managerd sets against the running daemon: members, random picks, algebra, persistence.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <set>

#include "managerd_support.hpp"

using namespace ipc::test;
using namespace std::chrono_literals;

namespace {

// The members of a reply (an array of bulks), sorted.
std::vector<std::string> sorted(const Reply& r) {
  std::vector<std::string> out;
  for (auto& e : r.elements) out.push_back(e.str);
  std::sort(out.begin(), out.end());
  return out;
}

using Strings = std::vector<std::string>;

}  // namespace

TEST_SUITE("managerd set") {

TEST_CASE("members are added once and removed with the key when the last goes" * doctest::timeout(60)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir);
  RespClient c(srv.socket());
  CHECK(text(c.cmd({"SADD", "s", "a", "b", "a", "c"})) == "3");
  CHECK(text(c.cmd({"SADD", "s", "c", "d"})) == "1");
  CHECK(text(c.cmd({"SCARD", "s"})) == "4");
  CHECK(sorted(c.cmd({"SMEMBERS", "s"})) == Strings{"a", "b", "c", "d"});
  CHECK(text(c.cmd({"SMISMEMBER", "s", "a", "z", "d"})) == "[1,0,1]");
  CHECK(text(c.cmd({"SREM", "s", "a", "b", "c", "z"})) == "3");
  CHECK(text(c.cmd({"SREM", "s", "d"})) == "1");
  CHECK(text(c.cmd({"EXISTS", "s"})) == "0");
  // integer members come back sorted by value, as from Redis's intset
  CHECK(text(c.cmd({"SADD", "n", "10", "-3", "2", "100"})) == "4");
  CHECK(text(c.cmd({"SMEMBERS", "n"})) == "[-3,2,10,100]");
  CHECK(text(c.cmd({"OBJECT", "ENCODING", "n"})) == "intset");
  CHECK(text(c.cmd({"SADD", "n", "x"})) == "1");
  CHECK(text(c.cmd({"OBJECT", "ENCODING", "n"})) == "hashtable");
}

TEST_CASE("SPOP and SRANDMEMBER pick members at random and SPOP removes them" * doctest::timeout(60)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir);
  RespClient c(srv.socket());
  std::vector<std::string> add{"SADD", "s"};
  for (int i = 0; i < 100; ++i) add.push_back("m" + std::to_string(i));
  c.cmd(add);
  // 200 single picks from 100 members: seeing one member every time would mean no randomness
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) seen.insert(c.cmd({"SRANDMEMBER", "s"}).str);
  CHECK(seen.size() > 20);
  auto distinct = c.cmd({"SRANDMEMBER", "s", "30"});
  CHECK(distinct.elements.size() == 30);
  auto picked = sorted(distinct);
  CHECK(std::set<std::string>(picked.begin(), picked.end()).size() == 30);
  CHECK(c.cmd({"SRANDMEMBER", "s", "-300"}).elements.size() == 300);  // repeats allowed
  // a repeat count whose reply could never be sent is refused, not attempted
  CHECK(text(c.cmd({"SRANDMEMBER", "s", "-9223372036854775807"})) == "ERR value is out of range");
  CHECK(text(c.cmd({"HSET", "h", "f", "v"})) == "1");
  CHECK(text(c.cmd({"HRANDFIELD", "h", "-9223372036854775807"})) == "ERR value is out of range");
  auto popped = c.cmd({"SPOP", "s", "40"});
  CHECK(popped.elements.size() == 40);
  CHECK(text(c.cmd({"SCARD", "s"})) == "60");
  for (auto& m : popped.elements) CHECK(text(c.cmd({"SISMEMBER", "s", m.str})) == "0");
  CHECK(c.cmd({"SPOP", "s", "1000"}).elements.size() == 60);
  CHECK(text(c.cmd({"EXISTS", "s"})) == "0");
}

TEST_CASE("intersection union and difference with and without STORE" * doctest::timeout(60)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir);
  RespClient c(srv.socket());
  c.cmd({"SADD", "a", "x", "y", "z"});
  c.cmd({"SADD", "b", "y", "z", "w"});
  CHECK(sorted(c.cmd({"SINTER", "a", "b"})) == Strings{"y", "z"});
  CHECK(sorted(c.cmd({"SUNION", "a", "b", "none"})) == Strings{"w", "x", "y", "z"});
  CHECK(sorted(c.cmd({"SDIFF", "a", "b"})) == Strings{"x"});
  CHECK(text(c.cmd({"SINTERCARD", "2", "a", "b", "LIMIT", "1"})) == "1");
  CHECK(text(c.cmd({"SUNIONSTORE", "u", "a", "b"})) == "4");
  CHECK(text(c.cmd({"SDIFFSTORE", "u", "a", "a"})) == "0");
  CHECK(text(c.cmd({"EXISTS", "u"})) == "0");  // an empty result deletes the destination
  CHECK(text(c.cmd({"SMOVE", "a", "b", "x"})) == "1");
  CHECK(sorted(c.cmd({"SMEMBERS", "b"})) == Strings{"w", "x", "y", "z"});
  c.cmd({"SET", "str", "v"});
  CHECK(text(c.cmd({"SINTER", "a", "str"})).rfind("WRONGTYPE", 0) == 0);
}

TEST_CASE("SSCAN visits every member of a large set" * doctest::timeout(60)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir);
  RespClient c(srv.socket());
  std::vector<std::string> add{"SADD", "big"};
  for (int i = 0; i < 1000; ++i) add.push_back("member-" + std::to_string(i));
  c.cmd(add);
  std::set<std::string> seen;
  std::string cursor = "0";
  int rounds = 0;
  do {
    auto r = c.cmd({"SSCAN", "big", cursor, "COUNT", "50"});
    cursor = r.elements.at(0).str;
    for (auto& m : r.elements.at(1).elements) seen.insert(m.str);
  } while (cursor != "0" && ++rounds < 10000);
  CHECK(seen.size() == 1000);
  CHECK(rounds > 1);
}

TEST_CASE("sets survive a restart through the snapshot and through the append-only log" * doctest::timeout(60)) {
  TempDir dir;
  auto snap = (dir / "dump.snap").string();
  auto aof = (dir / "log.aof").string();
  SUBCASE("snapshot") {
    {
      auto srv = ServerProcess::managerd(dir, {"--snapshot", snap});
      RespClient c(srv.socket());
      c.cmd({"SADD", "s", "a", "b", "c"});
      c.cmd({"SADD", "n", "3", "1", "2"});
      CHECK(text(c.cmd({"SAVE"})) == "OK");
      srv.stop();
    }
    auto srv = ServerProcess::managerd(dir, {"--snapshot", snap});
    RespClient c(srv.socket());
    CHECK(sorted(c.cmd({"SMEMBERS", "s"})) == Strings{"a", "b", "c"});
    CHECK(text(c.cmd({"SMEMBERS", "n"})) == "[1,2,3]");
  }
  SUBCASE("append-only log") {
    {
      auto srv = ServerProcess::managerd(dir, {"--appendonly", aof, "--appendfsync", "always"});
      RespClient c(srv.socket());
      c.cmd({"SADD", "s", "a", "b", "c", "d"});
      std::string popped = c.cmd({"SPOP", "s"}).str;
      CHECK(text(c.cmd({"SMOVE", "s", "t", popped == "a" ? "b" : "a"})) == "1");
      c.cmd({"SINTERSTORE", "u", "s", "s"});
      srv.kill9();
    }
    auto srv = ServerProcess::managerd(dir, {"--appendonly", aof});
    RespClient c(srv.socket());
    CHECK(text(c.cmd({"SCARD", "s"})) == "2");  // a, b, c, d less the popped one less the moved one
    CHECK(text(c.cmd({"SCARD", "t"})) == "1");
    CHECK(text(c.cmd({"SISMEMBER", "s", c.cmd({"SRANDMEMBER", "t"}).str})) == "0");
    CHECK(sorted(c.cmd({"SMEMBERS", "u"})) == sorted(c.cmd({"SMEMBERS", "s"})));
  }
}

TEST_CASE("SRANDMEMBER picks every member equally often" * doctest::timeout(120)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir);
  RespClient c(srv.socket());
  // Pearson's chi-square of the pick counts against a uniform spread; the bounds are far in the
  // tail (p < 1e-5 for a fair generator, as in Redis's own test), a biased pick exceeds them.
  auto chi_square = [](const std::map<std::string, int>& counts, std::size_t members, double picks) {
    double expect = picks / static_cast<double>(members), x2 = 0;
    for (auto& [m, n] : counts) x2 += (n - expect) * (n - expect) / expect;
    x2 += static_cast<double>(members - counts.size()) * expect;  // members never picked
    return x2;
  };
  for (std::string prefix : {"", "m"}) {  // an intset and a hash table
    c.cmd({"DEL", "small"});
    std::vector<std::string> add{"SADD", "small"};
    for (int i = 0; i < 10; ++i) add.push_back(prefix + std::to_string(i));
    c.cmd(add);
    std::map<std::string, int> counts;
    for (auto& e : c.cmd({"SRANDMEMBER", "small", "-1000"}).elements) ++counts[e.str];
    CHECK(chi_square(counts, 10, 1000) < 40);  // 9 degrees of freedom
  }
  // A large table that deletions left half empty: picks go through the random bucket path.
  std::vector<std::string> add{"SADD", "big"};
  for (int i = 0; i < 4000; ++i) add.push_back("member:" + std::to_string(i));
  c.cmd(add);
  std::vector<std::string> rem{"SREM", "big"};
  for (int i = 0; i < 4000; i += 2) rem.push_back("member:" + std::to_string(i));
  c.cmd(rem);
  std::map<std::string, int> counts;
  for (int round = 0; round < 100; ++round)
    for (auto& e : c.cmd({"SRANDMEMBER", "big", "-1000"}).elements) ++counts[e.str];
  CHECK(counts.size() > 1990);
  CHECK(chi_square(counts, 2000, 100000) < 2400);  // 1999 degrees of freedom: mean 1999, sd 63
}

TEST_CASE("sorted sets survive a restart through the snapshot through the append-only log and its rewrite" * doctest::timeout(60)) {
  TempDir dir;
  auto snap = (dir / "dump.snap").string();
  auto aof = (dir / "log.aof").string();
  const std::string expected = "[b,-inf,a,0.10000000000000001,c,3,d,inf]";
  auto fill = [](RespClient& c) {
    c.cmd({"ZADD", "z", "0.1", "a", "-inf", "b", "2", "c", "inf", "d", "9", "e"});
    c.cmd({"ZINCRBY", "z", "1", "c"});
    c.cmd({"ZREM", "z", "e"});
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
    CHECK(text(c.cmd({"ZRANGE", "z", "0", "-1", "WITHSCORES"})) == expected);
  }
  SUBCASE("append-only log and its rewrite") {
    for (bool rewrite : {false, true}) {
      {
        auto srv = ServerProcess::managerd(dir, {"--appendonly", aof, "--appendfsync", "always"});
        RespClient c(srv.socket());
        if (!rewrite) fill(c);
        if (rewrite) {
          CHECK(text(c.cmd({"ZRANGE", "z", "0", "-1", "WITHSCORES"})) == expected);
          c.cmd({"BGREWRITEAOF"});
          while (text(c.cmd({"INFO", "persistence"})).find("aof_rewrite_in_progress:0") == std::string::npos) {}
        }
        srv.kill9();
      }
      auto srv = ServerProcess::managerd(dir, {"--appendonly", aof});
      RespClient c(srv.socket());
      CHECK(text(c.cmd({"ZRANGE", "z", "0", "-1", "WITHSCORES"})) == expected);
    }
  }
}

TEST_CASE("ZSCAN of a skiplist returns every member with its score as redis-server formats it" * doctest::timeout(60)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir);
  RespClient c(srv.socket());
  std::vector<std::string> args = {"ZADD", "big"};
  for (int j = 0; j < 1000; ++j) {
    args.push_back(std::to_string(j) + ".5");
    args.push_back("key:" + std::to_string(j));
  }
  CHECK(text(c.cmd(args)) == "1000");
  CHECK(text(c.cmd({"OBJECT", "ENCODING", "big"})) == "skiplist");
  std::map<std::string, std::string> seen;
  std::string cursor = "0";
  int rounds = 0;
  do {
    auto r = c.cmd({"ZSCAN", "big", cursor, "COUNT", "50"});
    REQUIRE(r.elements.size() == 2);
    cursor = r.elements[0].str;
    auto& items = r.elements[1].elements;
    REQUIRE(items.size() % 2 == 0);
    CHECK(items.size() < 1000);  // a skiplist is scanned a part at a time
    for (std::size_t i = 0; i < items.size(); i += 2) seen[items[i].str] = items[i + 1].str;
  } while (cursor != "0" && ++rounds < 10000);
  REQUIRE(seen.size() == 1000);
  for (int j = 0; j < 1000; ++j) CHECK(seen["key:" + std::to_string(j)] == std::to_string(j) + ".5");

  // Redis's issue #2175: a subnormal score must not come back as 0.
  args = {"ZADD", "tiny"};
  for (int j = 0; j < 500; ++j) {
    args.push_back("9.8813129168249309e-323");
    args.push_back(std::to_string(j));
  }
  c.cmd(args);
  auto r = c.cmd({"ZSCAN", "tiny", "0"});
  REQUIRE(r.elements.size() == 2);
  REQUIRE(r.elements[1].elements.size() >= 2);
  CHECK(r.elements[1].elements[1].str == "9.8813129168249309e-323");
  // MATCH filters on the member and drops its score with it.
  r = c.cmd({"ZSCAN", "big", "0", "MATCH", "key:99*", "COUNT", "100000"});
  REQUIRE(r.elements.size() == 2);
  CHECK(r.elements[0].str == "0");
  std::map<std::string, std::string> matched;
  for (std::size_t i = 0; i + 1 < r.elements[1].elements.size(); i += 2)
    matched[r.elements[1].elements[i].str] = r.elements[1].elements[i + 1].str;
  CHECK(r.elements[1].elements.size() == 22);
  CHECK(matched["key:99"] == "99.5");
  CHECK(matched["key:999"] == "999.5");
}

}
