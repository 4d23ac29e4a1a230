// Conformance: the same command scripts sent to ipc-managerd and to a real redis-server (started
// by the test on a temp Unix socket) must get byte-identical replies.
#include <doctest/doctest.h>

#include <set>
#include <sstream>

#include "managerd_support.hpp"

using namespace ipc::test;

namespace {

using Script = std::vector<std::vector<std::string>>;

// Splits "SET k v" on spaces ("" stays an empty argument when written as ''); "\xHH" in a word
// is the byte HH (so a script can send a NUL inside a value).
std::vector<std::string> words(const std::string& line) {
  std::vector<std::string> out;
  std::istringstream in(line);
  std::string w;
  while (in >> w) {
    if (w == "''") {
      out.emplace_back();
      continue;
    }
    std::string d;
    for (std::size_t i = 0; i < w.size(); ++i) {
      if (w[i] == '\\' && i + 3 < w.size() && w[i + 1] == 'x') {
        d += static_cast<char>(std::stoi(w.substr(i + 2, 2), nullptr, 16));
        i += 3;
      } else {
        d += w[i];
      }
    }
    out.push_back(std::move(d));
  }
  return out;
}

// Runs `lines` against both servers and checks every reply is byte-identical. A line is a
// command, optionally prefixed:
//   "@2 CMD ..."  sent on a second connection to each server (a publisher, a pusher);
//   "~CMD ..."    sent and its reply read but not compared (HELLO: the server names differ);
//   "&CMD ..."    sent without reading its reply (a blocking command; "#read" gets it later);
//   "#read N" / "#read @2 N"  reads N more replies (pushed messages) on that connection.
void compare(const std::vector<std::string>& lines) {
  TempDir dir;
  auto ours = ServerProcess::managerd(dir);
  auto redis = ServerProcess::redis(dir);
  RespClient a(ours.socket()), b(redis.socket());
  RespClient a2(ours.socket()), b2(redis.socket());
  a.cmd({"FLUSHALL"});
  b.cmd({"FLUSHALL"});
  for (auto& raw : lines) {
    std::string line = raw;
    bool second = false, skip = false;
    if (line.rfind("#read", 0) == 0) {
      auto args = words(line);
      second = args.size() > 1 && args[1] == "@2";
      int n = std::stoi(args.back());
      for (int i = 0; i < n; ++i) {
        std::string mine = (second ? a2 : a).read_raw(), theirs = (second ? b2 : b).read_raw();
        INFO("read after: " << line);
        CHECK(mine == theirs);
      }
      continue;
    }
    if (line.rfind("@2 ", 0) == 0) {
      second = true;
      line = line.substr(3);
    }
    if (line.rfind("~", 0) == 0) {
      skip = true;
      line = line.substr(1);
    }
    if (line.rfind("&", 0) == 0) {
      auto args = words(line.substr(1));
      std::vector<std::string_view> v(args.begin(), args.end());
      std::string req;
      ipc::detail::resp::add_command(req, v);
      (second ? a2 : a).send(req);
      (second ? b2 : b).send(req);
      continue;
    }
    auto args = words(line);
    std::string mine = (second ? a2 : a).raw_cmd(args), theirs = (second ? b2 : b).raw_cmd(args);
    if (skip) continue;
    INFO("command: " << raw);
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

TEST_CASE("commands Redis refuses inside MULTI abort the transaction and SHUTDOWN does not stop the server" * doctest::timeout(120)) {
  compare({
      "MULTI", "SET foo bar", "SHUTDOWN", "EXEC", "GET foo", "MULTI", "SAVE", "SET foo baz", "EXEC",
      "GET foo", "MULTI", "SHUTDOWN NOSAVE", "DISCARD", "MULTI", "MULTI", "EXEC", "MULTI", "WATCH x", "EXEC",
      "PING", "MULTI", "SUBSCRIBE ch", "EXEC", "UNSUBSCRIBE ch", "MULTI", "SELECT 1", "SET k 1", "SELECT 0",
      "EXEC", "GET k", "SELECT 1", "GET k", "SELECT 0",
  });
}

TEST_CASE("numbers with a NUL inside are refused like redis-server" * doctest::timeout(120)) {
  compare({
      "SET f 1\\x002", "INCRBYFLOAT f 1", "INCR f", "INCRBY n 1\\x002", "HSET h f 1\\x002",
      "HINCRBYFLOAT h f 1", "HINCRBY h f 1", "INCRBYFLOAT nf 1\\x002", "HINCRBYFLOAT h g 1\\x002",
      "EXPIRE f 1\\x002", "LRANGE l 0 1\\x002", "SELECT 1\\x00", "SETRANGE f 1\\x00 x", "GETRANGE f 0 1\\x00",
      "SETBIT f 1\\x00 1", "BLPOP l 0.1\\x00",
  });
}

TEST_CASE("databases reply exactly like redis-server" * doctest::timeout(120)) {
  compare({
      "SELECT 1", "SET a 1", "DBSIZE", "SELECT 0", "DBSIZE", "GET a", "SELECT 16", "SELECT -1", "SELECT x",
      "SWAPDB 0 1", "GET a", "DBSIZE", "SWAPDB 0 x", "SWAPDB x 0", "SWAPDB 0 99", "SWAPDB 0 0", "MOVE a 1",
      "MOVE a 1", "MOVE a 0", "MOVE a x", "MOVE a 77", "SELECT 1", "GET a", "SET a 2", "MOVE a 0",
      "MOVE nokey 0", "SELECT 0", "FLUSHDB", "DBSIZE", "SELECT 1", "DBSIZE", "SET x 1", "COPY x y",
      "COPY x y", "COPY x y REPLACE", "COPY x x", "COPY x x DB 0", "COPY x y DB x", "COPY x y DB 16",
      "COPY x y FOO", "SELECT 0", "GET x", "GET y", "FLUSHDB BOGUS", "FLUSHDB SYNC", "SELECT 1", "DBSIZE",
      "FLUSHALL", "DBSIZE", "SELECT 0", "WATCH w", "SELECT 1", "SET w 1", "SELECT 0", "MULTI", "PING", "EXEC",
  });
}

TEST_CASE("new string commands reply exactly like redis-server" * doctest::timeout(120)) {
  compare({
      "SET s hello", "GETEX s", "GETEX s EX 100", "TTL s", "GETEX s PERSIST", "TTL s", "GETEX s PX 0",
      "GETEX s EX abc", "GETEX s NX", "GETEX s EX 10 PX 10", "GETEX nokey EX 10", "GETEX s EXAT 1", "GET s",
      "RPUSH l a", "GETEX l", "SETEX k 10 v", "TTL k", "SETEX k 0 v", "SETEX k x v", "PSETEX k 100000 v",
      "TTL k", "PSETEX k -1 v", "SETRANGE sr 5 abc", "GET sr", "SETRANGE sr 0 XY", "SETRANGE sr -1 x",
      "SETRANGE sr x x", "SETRANGE nokey 0 ''", "EXISTS nokey", "SETRANGE sr 1 ''", "SETRANGE l 0 x",
      "GETRANGE sr 0 -1", "GETRANGE sr 1 3", "GETRANGE sr -3 -1", "GETRANGE sr -1 -3", "GETRANGE sr 5 1",
      "GETRANGE nokey 0 -1", "GETRANGE sr x 1", "GETRANGE sr 0 100", "GETRANGE sr -100 -50", "SUBSTR sr 0 2",
      "GETRANGE l 0 1", "SETBIT b 7 1", "GETBIT b 7", "GETBIT b 6", "GETBIT b 100", "GETBIT nokey 1",
      "SETBIT b 7 0", "SETBIT b 100 1", "GET b", "SETBIT b -1 1", "SETBIT b x 1", "SETBIT b 1 2",
      "SETBIT b 1 x", "SETBIT b 4294967296 1", "GETBIT b -1", "SET bc foobar", "BITCOUNT bc",
      "BITCOUNT bc 0 0", "BITCOUNT bc 1 1", "BITCOUNT bc 1 1 BYTE", "BITCOUNT bc 5 30 BIT",
      "BITCOUNT bc -1 -2", "BITCOUNT bc 0", "BITCOUNT bc 0 x", "BITCOUNT bc 0 1 FOO", "BITCOUNT nokey",
      "BITCOUNT l", "BITCOUNT bc -5 -1 BIT", "MSET key1 ohmytext key2 mynewtext", "LCS key1 key2",
      "LCS key1 key2 LEN", "LCS key1 key2 IDX", "LCS key1 key2 IDX MINMATCHLEN 4",
      "LCS key1 key2 IDX MINMATCHLEN 4 WITHMATCHLEN", "LCS key1 key2 IDX LEN", "LCS key1 l", "LCS key1 nokey",
      "LCS key1 key2 FOO", "LCS key1 key2 MINMATCHLEN x", "HSET h a 1 b 2 c 3", "HRANDFIELD nokey",
      "HRANDFIELD nokey 5", "HRANDFIELD h 0", "HRANDFIELD h 10", "HRANDFIELD h 10 WITHVALUES",
      "HRANDFIELD h 3 withvalues", "HRANDFIELD h x", "HRANDFIELD h 1 FOO", "HRANDFIELD h 1 WITHVALUES x",
      "HRANDFIELD l", "HSTRLEN h a", "HSTRLEN h zz",
  });
}

TEST_CASE("new list commands reply exactly like redis-server" * doctest::timeout(120)) {
  compare({
      "RPUSH src a b c d", "LMOVE src dst LEFT RIGHT", "LMOVE src dst right left", "LMOVE src dst UP LEFT",
      "LMOVE nokey dst LEFT LEFT", "LRANGE dst 0 -1", "LRANGE src 0 -1", "SET str x",
      "LMOVE src str LEFT LEFT", "LMOVE str src LEFT LEFT", "RPOPLPUSH src src", "LRANGE src 0 -1",
      "RPOPLPUSH src dst", "BRPOPLPUSH src dst 0.01", "BRPOPLPUSH nokey dst 0.01",
      "BLMOVE src dst LEFT LEFT 0.01", "BLMOVE nokey dst LEFT LEFT 0.01", "BLMOVE src dst LEFT LEFT -1",
      "BLMOVE src dst LEFT LEFT x", "LRANGE dst 0 -1", "RPUSH m1 1 2 3 4 5", "LMPOP 2 nokey m1 LEFT",
      "LMPOP 2 nokey m1 RIGHT COUNT 2", "LMPOP 2 nokey m1 RIGHT COUNT 10", "LMPOP 1 m1 LEFT",
      "LMPOP 0 m1 LEFT", "LMPOP x m1 LEFT", "LMPOP 3 m1 LEFT", "LMPOP 1 m1 UP", "LMPOP 1 m1 LEFT COUNT 0",
      "LMPOP 1 m1 LEFT COUNT x", "LMPOP 1 m1 LEFT COUNT 1 COUNT 2", "LMPOP 1 m1 LEFT FOO", "LMPOP 1 str LEFT",
      "BLMPOP 0.01 1 m1 LEFT", "RPUSH m1 x", "BLMPOP 0 1 m1 LEFT COUNT 5", "BLMPOP x 1 m1 LEFT",
      "BLMPOP -1 1 m1 LEFT", "RPUSH p a b c 1 2 3 c c", "LPOS p c", "LPOS p c RANK 2", "LPOS p c RANK -1",
      "LPOS p c COUNT 0", "LPOS p c COUNT 2", "LPOS p c RANK -2 COUNT 2", "LPOS p c MAXLEN 1",
      "LPOS p c MAXLEN 3 COUNT 0", "LPOS p zz", "LPOS p zz COUNT 0", "LPOS p c RANK 0", "LPOS p c COUNT -1",
      "LPOS p c MAXLEN -1", "LPOS p c FOO", "LPOS p c RANK x", "LPOS nokey c", "LPOS nokey c COUNT 0",
      "LPOS str c", "LPOS p c RANK -9223372036854775808", "@2 &BLMOVE q1 q2 RIGHT LEFT 0", "RPUSH q1 job",
      "#read @2 1", "LRANGE q2 0 -1", "EXISTS q1", "@2 &BLMPOP 0 2 z1 z2 RIGHT COUNT 3", "RPUSH z2 a b",
      "#read @2 1", "EXISTS z2", "@2 &BRPOPLPUSH w1 w2 0", "SELECT 1", "RPUSH w1 other-db", "SELECT 0",
      "RPUSH w1 x", "#read @2 1",
  });
}

TEST_CASE("set commands reply exactly like redis-server" * doctest::timeout(120)) {
  compare({
      "SADD s 3 1 2", "SADD s 2 4", "SMEMBERS s", "SCARD s", "SISMEMBER s 1", "SISMEMBER s 9",
      "SMISMEMBER s 1 9 2", "SREM s 1 9", "SMEMBERS s", "SADD t 3 4 5 6", "SINTER s t", "SUNION s t nokey",
      "SDIFF t s", "SDIFF nokey s", "SINTER s nokey", "SINTERSTORE d s t", "SMEMBERS d",
      "SUNIONSTORE d s nokey", "SMEMBERS d", "SDIFFSTORE d nokey", "EXISTS d", "SINTERCARD 2 s t",
      "SINTERCARD 2 s t LIMIT 1", "SINTERCARD 0 s", "SINTERCARD 3 s t", "SINTERCARD 1 s LIMIT -1",
      "SINTERCARD 1 s FOO", "SINTERCARD x s", "SMOVE s t 2", "SMOVE s t 99", "SMOVE s s 3", "SMOVE nokey t 3",
      "SET str x", "SMOVE s str 3", "SMOVE str s 3", "SADD str x", "SINTER s str", "SUNIONSTORE str s",
      "TYPE str", "SPOP nokey", "SPOP nokey 3", "SPOP s 0", "SPOP s -1", "SPOP s x", "SPOP s 100", "EXISTS s",
      "SADD one a", "SPOP one", "EXISTS one", "SRANDMEMBER nokey", "SRANDMEMBER nokey 5", "SRANDMEMBER t 0",
      "SRANDMEMBER t 100", "SRANDMEMBER t x", "SRANDMEMBER t 1 2", "SADD i 5 1 3", "SRANDMEMBER i 10",
      "SSCAN i 0", "SSCAN nokey 0", "SSCAN str 0", "SSCAN i x", "SSCAN i 0 MATCH 1*", "TYPE i",
      "SCAN 0 TYPE set MATCH i", "SADD w a", "SMEMBERS w", "SREM w a", "EXISTS w", "SADD", "SCARD",
      "SINTERCARD", "SMISMEMBER s",
  });
}

TEST_CASE("pub/sub replies exactly like redis-server in RESP2" * doctest::timeout(120)) {
  compare({
      "SUBSCRIBE a b", "#read 1", "PING", "PING hi", "GET k", "PUBLISH a x", "SET k v", "@2 PUBLISH a hello",
      "#read 1", "@2 PUBLISH b hi", "#read 1", "@2 PUBLISH c nobody", "@2 PUBSUB NUMSUB a b c",
      "@2 PUBSUB CHANNELS a*", "@2 PUBSUB NUMPAT", "PSUBSCRIBE h*", "@2 PUBSUB NUMPAT",
      "@2 PUBLISH hello there", "#read 1", "UNSUBSCRIBE a", "UNSUBSCRIBE", "#read 0", "PUNSUBSCRIBE",
      "UNSUBSCRIBE", "PUNSUBSCRIBE", "GET k", "SUBSCRIBE", "PUBSUB", "PUBSUB FOO", "PUBSUB NUMPAT x",
      "@2 PUBSUB CHANNELS", "PSUBSCRIBE x* y*", "#read 1", "@2 PUBLISH xy 1", "#read 1", "RESET", "GET k",
      "@2 PUBSUB NUMPAT",
  });
}

TEST_CASE("RESP3 replies exactly like redis-server" * doctest::timeout(120)) {
  compare({
      "~HELLO 3", "GET nokey", "HGETALL nokey", "HSET h a 1", "HGETALL h", "HRANDFIELD h 1 WITHVALUES",
      "HRANDFIELD h -2 WITHVALUES", "HRANDFIELD nokey", "LPOP nokey", "LPOP nokey 2", "BLPOP nokey 0.01",
      "BLMOVE nokey x LEFT LEFT 0.01", "LMPOP 1 nokey LEFT", "SADD s 1 2 3", "SMEMBERS s", "SMEMBERS nokey",
      "SINTER s", "SUNION s nokey", "SDIFF s", "SPOP nokey 2", "SPOP s 0", "SRANDMEMBER s 5",
      "SRANDMEMBER nokey 2", "CONFIG GET maxclients", "CONFIG GET nomatch", "MSET k1 ohmytext k2 mynewtext",
      "LCS k1 k2 IDX", "LCS k1 k2 IDX WITHMATCHLEN", "MULTI", "GET nokey", "HGETALL h", "EXEC", "EXEC",
      "SUBSCRIBE a b", "#read 1", "PING", "GET k1", "PSUBSCRIBE x*", "@2 PUBLISH a hi", "#read 1",
      "@2 PUBLISH xyz hi", "#read 1", "PUBLISH a self", "#read 1", "UNSUBSCRIBE b", "UNSUBSCRIBE", "PUNSUBSCRIBE",
      "UNSUBSCRIBE", "PUBSUB NUMSUB a", "OBJECT ENCODING nokey", "LPOS nokey x", "GETEX nokey",
      "EXPIRETIME nokey", "MGET k1 nokey", "HMGET h a zz", "LINDEX nokey 0", "SCAN 0 MATCH nokey",
      "COMMAND INFO get nosuch", "COMMAND DOCS get", "~HELLO 2", "GET nokey", "HELLO 4", "HELLO x",
  });
}

TEST_CASE("key and server commands added for clients reply exactly like redis-server" * doctest::timeout(120)) {
  compare({
      "SET k v EX 100", "EXPIRETIME nokey", "PEXPIRETIME nokey", "SET p v", "EXPIRETIME p",
      "OBJECT ENCODING k", "SET n 12345", "OBJECT ENCODING n",
      "SET big xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "OBJECT ENCODING big", "RPUSH l a",
      "OBJECT ENCODING l", "HSET h a 1", "OBJECT ENCODING h", "SADD s 1 2", "OBJECT ENCODING s", "SADD s2 x",
      "OBJECT ENCODING s2", "OBJECT ENCODING nokey", "OBJECT REFCOUNT nokey", "OBJECT FOO k", "OBJECT",
      "OBJECT ENCODING", "OBJECT FREQ k", "OBJECT HELP", "TOUCH k p nokey", "UNLINK k p nokey", "WAIT 0 0",
      "WAIT x 0", "WAIT 0 -1", "WAIT 0 x", "WAIT 1 10", "DEL n big l h s s2", "RANDOMKEY",
      "SET only 1", "RANDOMKEY", "COMMAND INFO get set blpop subscribe", "COMMAND DOCS lmove hrandfield",
      "COMMAND COUNT x", "COMMAND BOGUS", "CONFIG GET maxmemory", "CONFIG SET maxmemory 10mb",
      "CONFIG GET maxmemory", "CONFIG SET maxmemory abc", "CONFIG SET maxmemory 0", "CONFIG SET bogus 1",
      "CONFIG SET maxclients 0", "CONFIG SET appendfsync sometimes", "CONFIG SET appendfsync no",
      "CONFIG GET appendfsync", "CONFIG SET maxmemory", "CONFIG GET", "CONFIG RESETSTAT x", "RESET",
      "CONFIG GET hash-max-ziplist-entries", "CONFIG GET set-max-intset-entries", "CONFIG SET set-max-intset-entries x",
      "CONFIG SET set-max-intset-entries -1", "CONFIG SET list-max-listpack-size 0", "CONFIG SET list-max-ziplist-size -5",
      "CONFIG GET list-max-listpack-size", "CONFIG SET hash-max-ziplist-entries 16", "CONFIG GET hash-max-ziplist-entries",
      "CONFIG GET hash-max-listpack-entries", "CONFIG SET list-compress-depth -1",
      "CLIENT LIST id abc", "CLIENT LIST id 99999", "CLIENT LIST type foo", "CLIENT LIST bogus", "CLIENT LIST type",
      "CLIENT LIST id", "CLIENT LIST id 0", "CLIENT LIST type pubsub", "CLIENT LIST type normal id 1",
      "CLIENT LIST type master", "CLIENT REPLY foo", "CLIENT REPLY", "&CLIENT REPLY OFF", "&SET a 1", "&GET a",
      "&NOSUCHCMD", "&CLIENT REPLY SKIP", "CLIENT REPLY ON", "GET a", "&CLIENT REPLY SKIP", "&GET a", "GET a",
  });
}

TEST_CASE("keyspace notifications are published exactly like redis-server" * doctest::timeout(120)) {
  compare({
      "CONFIG SET notify-keyspace-events KEA", "@2 PSUBSCRIBE __key*__:*", "SET k v", "#read @2 2",
      "SET k v EX 100", "#read @2 4", "APPEND k x", "#read @2 2", "INCR n", "#read @2 2", "INCRBYFLOAT n 1.5",
      "#read @2 2", "SETRANGE k 0 y", "#read @2 2", "SETBIT b 1 1", "#read @2 2", "GETDEL k", "#read @2 2",
      "MSET a 1 b 2", "#read @2 4", "EXPIRE a 100", "#read @2 2", "PERSIST a", "#read @2 2", "RENAME a a2",
      "#read @2 4", "DEL a2 nokey", "#read @2 2", "RPUSH l x y z", "#read @2 2", "LPOP l", "#read @2 2",
      "RPOP l 1", "#read @2 2", "LSET l 0 q", "#read @2 2", "LINSERT l BEFORE q p", "#read @2 2",
      "LREM l 1 p", "#read @2 2", "LTRIM l 0 0", "#read @2 2", "LMOVE l l2 LEFT RIGHT", "#read @2 6",
      "HSET h f 1", "#read @2 2", "HINCRBY h f 2", "#read @2 2", "HINCRBYFLOAT h f 0.5", "#read @2 2",
      "HDEL h f", "#read @2 4", "SADD s 1 2", "#read @2 2", "SREM s 1", "#read @2 2", "SMOVE s s2 2",
      "#read @2 6", "SADD s3 a", "#read @2 2", "SPOP s3", "#read @2 4", "SINTERSTORE d s2 s2", "#read @2 2",
      "SUNIONSTORE d nokey", "#read @2 2", "COPY s2 s4", "#read @2 2", "MOVE s4 1", "#read @2 4",
      "SETEX e 100 v", "#read @2 4", "GETEX e PERSIST", "#read @2 2", "EXPIRE e 0", "#read @2 2",
      "CONFIG SET notify-keyspace-events Kl", "LPUSH l2 a", "SET k v", "#read @2 1",
      "CONFIG SET notify-keyspace-events E", "DEL l2", "CONFIG SET notify-keyspace-events KEA", "DEL k",
      "#read @2 2", "CONFIG SET notify-keyspace-events KEn", "CONFIG GET notify-keyspace-events", "SET nk 1",
      "#read @2 2", "SET nk 2", "SADD ns a", "#read @2 2", "CONFIG SET notify-keyspace-events KEAn", "MOVE ns 3",
      "#read @2 6",
  });
}

TEST_CASE("FUNCTION FLUSH and LIST reply exactly like redis-server" * doctest::timeout(120)) {
  compare({
      "FUNCTION FLUSH", "FUNCTION FLUSH ASYNC", "FUNCTION flush sync", "FUNCTION FLUSH BOGUS", "FUNCTION FLUSH a b",
      "FUNCTION LIST", "FUNCTION LIST WITHCODE", "FUNCTION LIST LIBRARYNAME x*", "FUNCTION LIST BOGUS",
      "FUNCTION LIST WITHCODE WITHCODE", "FUNCTION LIST LIBRARYNAME", "FUNCTION", "FUNCTION BOGUS",
  });
}

TEST_CASE("MEMORY USAGE errors reply exactly like redis-server" * doctest::timeout(120)) {
  compare({
      "MEMORY USAGE nope", "MEMORY USAGE", "SET k v", "MEMORY USAGE k SAMPLES", "MEMORY USAGE k SAMPLES x",
      "MEMORY USAGE k SAMPLES -1", "MEMORY USAGE k FOO 1", "MEMORY USAGE nope SAMPLES 0", "MEMORY BOGUS",
      "MEMORY", "memory usage",
  });
}

TEST_CASE("SMOVE of a member the destination has keeps its WATCH and SINTERCARD LIMIT errors match redis-server" * doctest::timeout(120)) {
  compare({
      "SADD src a b", "SADD dst a", "WATCH dst", "@2 SMOVE src dst a", "MULTI", "SADD dst c", "EXEC", "SCARD dst",
      "WATCH dst", "@2 SMOVE src dst b", "MULTI", "SADD dst d", "EXEC", "SMEMBERS src",
      "SINTERCARD 1 dst LIMIT a", "SINTERCARD 1 dst LIMIT -1", "SINTERCARD 1 dst LIMIT", "SINTERCARD 1 dst LIMIT 1",
  });
}

TEST_CASE("SORT and SORT_RO reply exactly like redis-server" * doctest::timeout(120)) {
  compare({
      "RPUSH l 3 1 2 10 -5 1.5", "SORT l", "SORT l DESC", "SORT l LIMIT 1 2", "SORT l LIMIT -3 2", "SORT l LIMIT 4 100",
      "SORT l LIMIT 10 1", "SORT l LIMIT 0 0", "SORT l LIMIT x 1", "SORT l LIMIT 0", "SORT l ALPHA", "SORT l ALPHA DESC",
      "MSET w_3 30 w_1 10 w_2 20 w_10 5 w_-5 0", "SORT l BY w_*", "SORT l BY w_* DESC LIMIT 0 3",
      "SORT l BY w_* GET # GET w_*", "SORT l BY nosort", "SORT l BY nosort DESC", "SORT l BY nosort LIMIT 1 2",
      "SORT l BY nosort DESC LIMIT 1 2", "SORT l GET nokey", "SORT l GET w_*->f", "HSET h_3 f c", "HSET h_1 f a",
      "SORT l BY h_*->f ALPHA", "SORT l GET h_*->f", "SORT l BY h_*-> GET #", "RPUSH words b a c", "SORT words",
      "SORT words ALPHA", "SORT words ALPHA STORE dst", "LRANGE dst 0 -1", "TYPE dst", "SORT nokey", "SORT nokey STORE dst",
      "EXISTS dst", "SADD s 5 3 9", "SORT s", "SORT s DESC", "SADD t b a c", "SORT t ALPHA", "SORT t BY nosort STORE d2",
      "LRANGE d2 0 -1", "SORT t BY nosort GET # STORE d3", "LRANGE d3 0 -1", "SET str x", "SORT str", "SORT l BOGUS",
      "SORT l STORE", "SORT_RO l", "SORT_RO l STORE x", "SORT_RO l DESC LIMIT 0 2", "RPUSH e '' 1", "SORT e",
      "RPUSH nan 1 nan", "SORT nan", "RPUSH hex 0x10 2", "SORT hex", "SORT", "SORT_RO",
      "SORT l BY w_* GET # GET w_* STORE d4", "LRANGE d4 0 -1",
  });
}

TEST_CASE("SORT STORE wakes a client blocked on the destination like redis-server" * doctest::timeout(120)) {
  compare({
      "RPUSH src c a b", "&BLPOP dst 0", "@2 SORT src ALPHA STORE dst", "#read 1", "LRANGE dst 0 -1",
  });
}

TEST_CASE("DUMP payloads restore across ipc-managerd and redis-server in both directions" * doctest::timeout(120)) {
  TempDir dir;
  auto ours = ServerProcess::managerd(dir);
  auto redis = ServerProcess::redis(dir);
  RespClient a(ours.socket()), b(redis.socket());
  // Every type, small (Redis's listpack/intset encodings) and large (hash tables, several
  // quicklist nodes, LZF-compressed and integer-encoded strings).
  std::vector<std::vector<std::string>> setup = {
      {"SET", "str", "hello"}, {"SET", "int", "-123456"}, {"SET", "big", std::string(5000, 'x') + "y"},
      {"RPUSH", "list", "a", "12", "-7", "70000", "9223372036854775807", std::string(300, 'z')},
      {"SADD", "iset", "3", "-1", "2", "100000"}, {"SADD", "sset", "a", "b", "c"},
      {"HSET", "hash", "f", "v", "n", "-4097", "big", std::string(100, 'q')},
  };
  std::vector<std::string> biglist{"RPUSH", "biglist"}, bighash{"HSET", "bighash"}, bigset{"SADD", "bigset"};
  for (int i = 0; i < 3000; ++i) {
    biglist.push_back("element-" + std::to_string(i));
    bighash.push_back("field-" + std::to_string(i));
    bighash.push_back(std::to_string(i * 1000));
    bigset.push_back("m" + std::to_string(i));
  }
  setup.push_back(biglist);
  setup.push_back(bighash);
  setup.push_back(bigset);
  for (auto& cmd : setup) {
    a.cmd(cmd);
    b.cmd(cmd);
  }
  for (std::string key : {"str", "int", "big", "list", "iset", "sset", "hash", "biglist", "bighash", "bigset"}) {
    INFO("key: " << key);
    std::string mine = a.cmd({"DUMP", key}).str, theirs = b.cmd({"DUMP", key}).str;
    REQUIRE(text(b.cmd({"RESTORE", "from-ours", "0", mine})) == "OK");
    REQUIRE(text(a.cmd({"RESTORE", "from-redis", "0", theirs})) == "OK");
    std::string t = text(b.cmd({"TYPE", key}));
    if (t == "hash") {  // field order may differ between the encodings: compare as sorted pairs
      auto pairs = [](const Reply& r) {
        std::set<std::pair<std::string, std::string>> out;
        for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2) out.emplace(r.elements[i].str, r.elements[i + 1].str);
        return out;
      };
      auto original = pairs(b.cmd({"HGETALL", key}));
      CHECK(pairs(b.cmd({"HGETALL", "from-ours"})) == original);
      CHECK(pairs(a.cmd({"HGETALL", "from-redis"})) == original);
    } else {
      auto read = [&](RespClient& cl, const std::string& k) {
        if (t == "string") return text(cl.cmd({"GET", k}));
        if (t == "list") return text(cl.cmd({"LRANGE", k, "0", "-1"}));
        return text(cl.cmd({"SORT", k, "ALPHA"}));
      };
      std::string original = read(b, key);
      CHECK(read(b, "from-ours") == original);
      CHECK(read(a, "from-redis") == original);
    }
    a.cmd({"DEL", "from-ours", "from-redis"});
    b.cmd({"DEL", "from-ours", "from-redis"});
  }
}

TEST_CASE("DUMP and RESTORE reply exactly like redis-server" * doctest::timeout(120)) {
  compare({
      "DUMP nokey", "SET k v", "RESTORE k 0 x", "RESTORE k2 0 x", "RESTORE k2 -1 x", "RESTORE k2 abc x",
      "RESTORE k2 0 \\x00\\x01v\\x0a\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00",
      "RESTORE k2 0 x BOGUS", "RESTORE k2 0 x IDLETIME -1", "RESTORE k2 0 x FREQ 256", "RESTORE k2 0 x IDLETIME 1 FREQ 1",
      "RESTORE k2 0 x FREQ x", "RESTORE", "DUMP",
  });
  TempDir dir;
  auto ours = ServerProcess::managerd(dir);
  RespClient a(ours.socket());
  a.cmd({"RPUSH", "l", "a", "b"});
  std::string payload = a.cmd({"DUMP", "l"}).str;
  CHECK(text(a.cmd({"RESTORE", "l", "0", payload})) == "BUSYKEY Target key name already exists.");
  CHECK(text(a.cmd({"RESTORE", "l2", "100000", payload})) == "OK");
  CHECK(std::stoll(text(a.cmd({"PTTL", "l2"}))) > 0);
  CHECK(text(a.cmd({"RESTORE", "l", "1", payload, "REPLACE", "ABSTTL"})) == "OK");  // long expired
  CHECK(text(a.cmd({"EXISTS", "l"})) == "0");
  std::string corrupt = payload;
  corrupt[2] = static_cast<char>(corrupt[2] ^ 1);
  CHECK(text(a.cmd({"RESTORE", "l3", "0", corrupt})) == "ERR DUMP payload version or checksum are wrong");
  CHECK(text(a.cmd({"RESTORE", "l3", "0", payload, "REPLACE", "IDLETIME", "5"})) == "OK");
  CHECK(text(a.cmd({"LRANGE", "l3", "0", "-1"})) == "[a,b]");
}
}
