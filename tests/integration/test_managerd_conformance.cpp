// Conformance: the same command scripts sent to ipc-managerd and to a real redis-server (started
// by the test on a temp Unix socket) must get byte-identical replies.
#include <doctest/doctest.h>

#include <sstream>

#include "managerd_support.hpp"

using namespace ipc::test;

namespace {

using Script = std::vector<std::vector<std::string>>;

// Splits "SET k v" on spaces ("" stays an empty argument when written as '').
std::vector<std::string> words(const std::string& line) {
  std::vector<std::string> out;
  std::istringstream in(line);
  std::string w;
  while (in >> w) out.push_back(w == "''" ? std::string() : w);
  return out;
}

void compare(const std::vector<std::string>& lines) {
  TempDir dir;
  auto ours = ServerProcess::managerd(dir);
  auto redis = ServerProcess::redis(dir);
  RespClient a(ours.socket()), b(redis.socket());
  a.cmd({"FLUSHALL"});
  b.cmd({"FLUSHALL"});
  for (auto& line : lines) {
    auto args = words(line);
    std::string mine = a.raw_cmd(args), theirs = b.raw_cmd(args);
    INFO("command: " << line);
    CHECK(mine == theirs);
  }
}

}  // namespace

TEST_SUITE("managerd conformance") {

TEST_CASE("string commands reply exactly like redis-server" * doctest::timeout(120)) {
  compare({
      "SET k v", "GET k", "GET nope", "SET k v2 NX", "SET k v3 XX", "SET k2 v XX", "SET k v4 GET", "SET k v NX XX",
      "SET k v EX 0", "SET k v EX abc", "SET k v PX -5", "SET k v BOGUS", "SETNX k x", "SETNX k3 x", "GETSET k old",
      "GETSET nope2 x", "MSET a 1 b 2 c 3", "MGET a b nope c", "MSET a", "INCR a", "INCR a", "INCRBY a 10",
      "INCRBY a -100", "INCRBY a 1.5", "DECR a", "DECRBY a 7", "DECRBY a -9223372036854775808", "INCR k",
      "SET big 9223372036854775807", "INCR big", "SET small -9223372036854775808", "DECR small",
      "SET lead 007", "INCR lead", "SET sp ' 1'", "INCRBYFLOAT f 10.5", "INCRBYFLOAT f 0.1", "INCRBYFLOAT f -5",
      "INCRBYFLOAT f 3.0e3", "INCRBYFLOAT f abc", "INCRBYFLOAT k 1", "INCRBYFLOAT f inf", "INCRBYFLOAT n2 1.10",
      "APPEND k tail", "APPEND newk x", "STRLEN k", "STRLEN nope", "GETDEL newk", "GETDEL newk", "GET",
      "SET", "INCR", "MGET", "RPUSH li x", "GET li", "INCR li", "APPEND li x", "STRLEN li", "GETSET li x",
      "SET li now-a-string", "GET li", "TYPE li",
  });
}

TEST_CASE("hash commands reply exactly like redis-server" * doctest::timeout(120)) {
  compare({
      "HSET h a 1 b 2 c 3", "HSET h a 10 d 4", "HGET h a", "HGET h zz", "HGET nope a", "HMGET h a zz d",
      "HMGET nope a b", "HLEN h", "HLEN nope", "HEXISTS h b", "HEXISTS h zz", "HKEYS h", "HVALS h", "HGETALL h",
      "HDEL h b zz", "HGETALL h", "HDEL h a c d", "EXISTS h", "HGETALL nope", "HSETNX h2 f v", "HSETNX h2 f w",
      "HGET h2 f", "HINCRBY h2 n 5", "HINCRBY h2 n -7", "HINCRBY h2 f 1", "HINCRBY h2 n x",
      "HINCRBYFLOAT h2 fl 2.5", "HINCRBYFLOAT h2 fl 0.1", "HINCRBYFLOAT h2 f 1", "HINCRBYFLOAT h2 fl x",
      "HINCRBYFLOAT h2 fl inf", "HSET h2 big 9223372036854775807", "HINCRBY h2 big 1", "HMSET h3 a 1 b 2",
      "HGETALL h3", "HSTRLEN h3 a", "HSET h3 odd", "HSET h3", "HGET h3", "SET s x", "HSET s a 1", "HGET s a",
      "HGETALL s", "HLEN s", "HDEL s a", "HINCRBY s a 1", "HSCAN h3 0", "HSCAN h3 0 MATCH a*", "HSCAN nope 0",
      "HSCAN h3 abc", "HSCAN h3 0 COUNT 0", "HSCAN h3 0 BOGUS 1", "HDEL h3 a", "HGETALL h3",
  });
}

TEST_CASE("list commands reply exactly like redis-server" * doctest::timeout(120)) {
  compare({
      "RPUSH l a b c", "LPUSH l z y", "LRANGE l 0 -1", "LRANGE l 1 2", "LRANGE l -2 100", "LRANGE l 5 1",
      "LRANGE l x 1", "LRANGE nope 0 -1", "LLEN l", "LLEN nope", "LINDEX l 0", "LINDEX l -1", "LINDEX l 99",
      "LINDEX l x", "LSET l 1 Y", "LSET l 99 q", "LSET nope 0 q", "LSET l x q", "LINSERT l BEFORE a x",
      "LINSERT l after a w", "LINSERT l middle a w", "LINSERT l BEFORE nothere q", "LINSERT nope BEFORE a q",
      "LRANGE l 0 -1", "RPUSH l a a a", "LREM l 2 a", "LREM l -1 a", "LREM l 0 a", "LRANGE l 0 -1", "LREM l x a",
      "LTRIM l 1 -2", "LRANGE l 0 -1", "LTRIM l 5 1", "EXISTS l", "RPUSH l 1 2 3 4 5", "LPOP l", "RPOP l",
      "LPOP l 2", "RPOP l 0", "RPOP l 10", "EXISTS l", "LPOP l", "LPOP l 3", "LPOP l -1", "LPOP l x",
      "LPOP l 1 2", "RPUSHX nope a", "LPUSHX nope a", "RPUSH q a", "RPUSHX q b", "LPUSHX q c", "LRANGE q 0 -1",
      "BLPOP q 0", "BRPOP q 0", "BLPOP q nope2 0.01", "BLPOP q -1", "BLPOP q abc", "SET s x", "LPUSH s a",
      "LRANGE s 0 1", "BLPOP s 0", "LPUSH", "LRANGE l 0", "BLPOP q",
  });
}

TEST_CASE("key transaction and server commands reply exactly like redis-server" * doctest::timeout(120)) {
  compare({
      "SET a 1", "HSET h f v", "RPUSH l x", "EXISTS a h l nope a", "TYPE a", "TYPE h", "TYPE l", "TYPE nope",
      "DBSIZE", "DEL a nope", "DEL a", "RENAME h h2", "RENAME nope x", "RENAME h2 h2", "RENAMENX l h2",
      "RENAMENX l l2", "TYPE l2", "KEYS nomatch*", "EXPIRE l2 100", "TTL l2", "PERSIST l2", "TTL l2",
      "TTL nope", "PTTL l2", "EXPIRE l2 abc", "EXPIRE l2 100 NX XX", "EXPIRE l2 100 GT LT", "EXPIRE l2 100 FOO",
      "EXPIRE l2 100 XX", "EXPIRE l2 100 NX", "EXPIRE l2 200 NX", "EXPIRE nope 100", "EXPIRE l2 -1",
      "EXISTS l2", "SCAN abc", "SCAN 0 COUNT 0", "SCAN 0 BOGUS", "SCAN 0 COUNT x", "MULTI", "INCR n", "INCR n",
      "GET n", "EXEC", "MULTI", "MULTI", "WATCH n", "EXEC", "MULTI", "GET", "INCR n", "EXEC", "EXEC",
      "DISCARD", "MULTI", "INCR n", "DISCARD", "GET n", "WATCH", "WATCH n", "UNWATCH", "MULTI", "SET s 1",
      "LPUSH s x", "GET s", "EXEC", "PING", "PING hello", "PING a b", "ECHO hi", "ECHO", "NOPE", "NOPE a b c",
      "nope ''", "FLUSHALL BOGUS", "FLUSHALL ASYNC", "DBSIZE", "AUTH x", "AUTH a b", "AUTH default x",
      "SELECT 0", "SELECT x", "CLIENT SETNAME 'a b'", "CLIENT SETNAME ok", "CLIENT GETNAME", "CLIENT BOGUS",
      "CLIENT SETNAME", "HELLO 2 BOGUS", "HELLO x", "get", "GeT n", "LASTSAVE x", "DEL",
  });
}

TEST_CASE("inline commands and pipelined requests reply like redis-server" * doctest::timeout(120)) {
  TempDir dir;
  auto ours = ServerProcess::managerd(dir);
  auto redis = ServerProcess::redis(dir);
  RespClient a(ours.socket()), b(redis.socket());
  std::string req = "SET k \"a b\\x41\"\r\nGET k\r\n\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*0\r\n*1\r\n$4\r\nPING\r\nGET 'x\r\n";
  a.send(req);
  b.send(req);
  for (int i = 0; i < 6; ++i) {
    std::string x = a.read_raw(), y = b.read_raw();
    INFO("reply " << i);
    CHECK(x == y);
  }
  CHECK(a.closed_by_peer());
  CHECK(b.closed_by_peer());
}

}
