// ipc-managerd DUMP and RESTORE: payloads in Redis 7.0's RDB format, compared byte for byte with
// a real redis-server's, restored across the two servers, and malformed ones refused.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "crc64.hpp"
#include "dump.hpp"
#include "lzf.hpp"
#include "managerd_support.hpp"
#include "server.hpp"

using namespace ipc::test;
namespace md = ipc::managerd;

namespace {

/// One value written the same way to both servers.
struct Case {
  std::string name;
  std::vector<std::string> write;  // the command that creates key `name`
};

std::string digits(long long v) { return std::to_string(v); }

/// Values whose representation redis-server 7.0 picks by content and by RPUSH/HSET/SADD/ZADD
/// order, so that its DUMP is determined: every string encoding, one- and many-node lists, listpack
/// hashes up to hash-max-listpack-entries, intsets of each width, sorted sets as listpacks and
/// as skiplists (saved in score order).
std::vector<Case> deterministic_cases() {
  std::vector<Case> cs;
  auto str = [&](std::string name, std::string v) { cs.push_back({name, {"SET", name, std::move(v)}}); };
  str("s-short", "hello");
  str("s-int8", "-7");
  str("s-int16", "12345");
  str("s-int32", "-2000000000");
  str("s-int64", "12345678901");
  str("s-not-int", "007");
  str("s-neg-zero", "-0");
  str("s-empty", "");
  str("s-lzf-run", std::string(300, 'a'));
  str("s-lzf-text", "the quick brown fox jumps over the lazy dog, the quick brown fox jumps over the lazy dog");
  str("s-incompressible", "0123456789abcdefghijklmnopqrstuvwxyz!");
  std::mt19937 rng(16);
  std::string big;
  while (big.size() < 20000) big += "word" + std::to_string(rng() % 1000) + (rng() % 7 == 0 ? "\n" : " ");
  str("s-lzf-big", big);
  std::string binary;
  for (int i = 0; i < 5000; ++i) binary.push_back(static_cast<char>(rng() % 8 == 0 ? rng() & 0xff : 'z'));
  str("s-binary", binary);

  std::vector<std::string> small = {"RPUSH", "l-small", "a", "1", "-1", "127", "128", "-4096", "4095", "4096",
                                    "-32768", "32767", "-8388608", "8388607", "8388608", "-2147483648",
                                    "2147483647", "2147483648", "-9223372036854775808", "9223372036854775807",
                                    "9223372036854775808", "00", std::string(63, 'b'), std::string(64, 'c'),
                                    std::string(4095, 'd'), std::string(4096, 'e')};
  cs.push_back({"l-small", small});
  std::vector<std::string> many = {"RPUSH", "l-many"};
  for (int i = 0; i < 5000; ++i) many.push_back(i % 3 ? "item-" + digits(i) : digits(i * 7919 - 1000000));
  cs.push_back({"l-many", many});
  std::vector<std::string> wide = {"RPUSH", "l-wide"};
  for (int i = 0; i < 40; ++i) wide.push_back(std::string(static_cast<std::size_t>(300 + i * 97), static_cast<char>('a' + i % 26)));
  cs.push_back({"l-wide", wide});

  cs.push_back({"h-small", {"HSET", "h-small", "f1", "v1", "n", "-12", "big", "123456789012", "t", std::string(64, 'x')}});
  std::vector<std::string> h = {"HSET", "h-128"};
  for (int i = 0; i < 128; ++i) {
    h.push_back("field:" + digits(i));
    h.push_back(i % 2 ? digits(i * 1000) : "value " + digits(i));
  }
  cs.push_back({"h-128", h});
  for (int n : {300, 512}) {  // past 128 fields and up to 512: still a listpack in insertion order
    std::string name = "h-" + digits(n);
    cs.push_back({name, {"HSET", name}});
    for (int i = 0; i < n; ++i) {
      cs.back().write.push_back("k" + digits(i * 7 % n));
      cs.back().write.push_back("v" + digits(i));
    }
  }

  cs.push_back({"i-16", {"SADD", "i-16", "5", "-3", "100", "32767", "-32768", "0"}});
  cs.push_back({"i-32", {"SADD", "i-32", "1", "70000", "-2147483648"}});
  cs.push_back({"i-64", {"SADD", "i-64", "9223372036854775807", "-9223372036854775808", "3"}});
  std::vector<std::string> iset = {"SADD", "i-512"};
  for (int i = 0; i < 512; ++i) iset.push_back(digits(i * 37 - 5000));
  cs.push_back({"i-512", iset});

  cs.push_back({"z-small", {"ZADD", "z-small", "1", "a", "-1", "b", "1.5", "c", "0.1", "d", "inf", "e", "-inf", "f",
                            "0", "h", "1e20", "i", "4503599627370496", "j", "-4503599627370494", "k",
                            "123456789", "l", "3.14159265358979", "m", "2", "12", "2", std::string(64, 'x')}});
  for (int n : {128, 129}) {  // a listpack up to zset-max-listpack-entries, a skiplist past it
    std::string name = "z-" + digits(n);
    cs.push_back({name, {"ZADD", name}});
    for (int i = 0; i < n; ++i) {
      cs.back().write.push_back(digits((i * 37) % 50) + (i % 3 ? ".25" : ""));
      cs.back().write.push_back("member:" + digits(i));
    }
  }
  cs.push_back({"z-long-member", {"ZADD", "z-long-member", "1", "a", "2", std::string(65, 'm'), "2", "b"}});
  return cs;
}

/// Values whose bytes depend on a hash table's order: compared by content after restoring, not
/// byte for byte.
std::vector<Case> table_cases() {
  std::vector<Case> cs;
  std::vector<std::string> h = {"HSET", "h-table"};
  for (int i = 0; i < 600; ++i) {
    h.push_back("f" + digits(i));
    h.push_back(digits(i));
  }
  cs.push_back({"h-table", h});
  cs.push_back({"h-long-value", {"HSET", "h-long-value", "a", std::string(65, 'v'), "b", "1"}});
  cs.push_back({"set-strings", {"SADD", "set-strings", "apple", "banana", "cherry", "1", std::string(200, 'q')}});
  std::vector<std::string> many = {"SADD", "set-513"};
  for (int i = 0; i < 513; ++i) many.push_back(digits(i));
  cs.push_back({"set-513", many});
  std::vector<std::string> lpush = {"LPUSH", "l-lpush"};
  for (int i = 0; i < 3000; ++i) lpush.push_back("element-" + digits(i));
  cs.push_back({"l-lpush", lpush});
  return cs;
}

/// The value of `key` in a comparable form (hash fields and set members sorted).
std::vector<std::string> value_of(RespClient& c, const std::string& key) {
  std::string type = c.cmd({"TYPE", key}).str;
  std::vector<std::string> out{type};
  if (type == "string") {
    out.push_back(c.cmd({"GET", key}).str);
  } else if (type == "list") {
    for (auto& e : c.cmd({"LRANGE", key, "0", "-1"}).elements) out.push_back(e.str);
  } else if (type == "hash") {
    auto r = c.cmd({"HGETALL", key});
    std::vector<std::string> pairs;
    for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2) pairs.push_back(r.elements[i].str + "=" + r.elements[i + 1].str);
    std::sort(pairs.begin(), pairs.end());
    out.insert(out.end(), pairs.begin(), pairs.end());
  } else if (type == "set") {
    std::vector<std::string> ms;
    for (auto& e : c.cmd({"SMEMBERS", key}).elements) ms.push_back(e.str);
    std::sort(ms.begin(), ms.end());
    out.insert(out.end(), ms.begin(), ms.end());
  } else if (type == "zset") {
    for (auto& e : c.cmd({"ZRANGE", key, "0", "-1", "WITHSCORES"}).elements) out.push_back(e.str);
  }
  return out;
}

/// `body` + RDB version + CRC-64: a payload that passes the footer check, whatever the body.
std::string seal(std::string body, int version = md::kDumpRdbVersion) {
  body.push_back(static_cast<char>(version & 0xff));
  body.push_back(static_cast<char>(version >> 8));
  std::uint64_t crc = md::crc64(body);
  for (int i = 0; i < 8; ++i) body.push_back(static_cast<char>((crc >> (8 * i)) & 0xff));
  return body;
}

/// Loads `payload` (which must pass the footer check); true when it gave a value, false when
/// refused. Anything else (a crash, another exception) fails the test.
bool loads(const std::string& payload) {
  try {
    md::dump_payload_load(payload);
    return true;
  } catch (const md::DumpError&) {
    return false;
  }
}

}  // namespace

TEST_SUITE("managerd dump") {

TEST_CASE("the checksum is Redis's CRC-64 Jones") {
  // The check value of crc-64-jones (Redis's crc64.c test: "123456789" -> e9c6d914c4b8d9ca).
  CHECK(md::crc64("123456789") == 0xe9c6d914c4b8d9caULL);
  CHECK(md::crc64("") == 0);
}

TEST_CASE("LZF blocks decompress to what was compressed and bad blocks are refused") {
  std::mt19937 rng(8);
  for (int round = 0; round < 300; ++round) {
    std::string in;
    std::size_t n = 21 + rng() % 3000;
    while (in.size() < n) {
      if (rng() % 3 == 0 && !in.empty()) {
        std::size_t from = rng() % in.size();
        in += in.substr(from, 1 + rng() % 300);
      } else {
        in.push_back(static_cast<char>(rng() % (round % 2 ? 256 : 4)));
      }
    }
    std::string packed = md::lzf_compress(in, in.size() - 4);
    if (packed.empty()) continue;
    CHECK(packed.size() <= in.size() - 4);
    std::string out;
    REQUIRE(md::lzf_decompress(packed, in.size(), out));
    CHECK(out == in);
    CHECK_FALSE(md::lzf_decompress(packed, in.size() + 1, out));  // shorter than claimed
    CHECK_FALSE(md::lzf_decompress(packed, in.size() - 1, out));  // longer than claimed
  }
  std::string out;
  CHECK_FALSE(md::lzf_decompress(std::string("\x20\x00", 2), 3, out));  // a reference before the start
  CHECK_FALSE(md::lzf_decompress(std::string("\x05" "ab", 3), 6, out));  // a truncated literal run
}

TEST_CASE("DUMP payloads are byte-identical to redis-server's for strings lists listpack hashes intsets and sorted sets" *
          doctest::timeout(120)) {
  TempDir dir;
  auto ours = ServerProcess::managerd(dir);
  auto redis = ServerProcess::redis(dir);
  RespClient a(ours.socket()), b(redis.socket());
  for (auto& cs : deterministic_cases()) {
    CAPTURE(cs.name);
    a.cmd(cs.write);
    b.cmd(cs.write);
    auto da = a.cmd({"DUMP", cs.name}), db = b.cmd({"DUMP", cs.name});
    REQUIRE(db.type == Reply::Type::bulk);
    CHECK(da.type == Reply::Type::bulk);
    CHECK(da.str == db.str);
  }
  CHECK(a.raw_cmd({"DUMP", "missing"}) == b.raw_cmd({"DUMP", "missing"}));
}

TEST_CASE("each server restores the other's DUMP of every type to the same value" * doctest::timeout(120)) {
  TempDir dir;
  auto ours = ServerProcess::managerd(dir);
  auto redis = ServerProcess::redis(dir);
  RespClient a(ours.socket()), b(redis.socket());
  auto all = deterministic_cases();
  auto tables = table_cases();
  all.insert(all.end(), tables.begin(), tables.end());
  for (auto& cs : all) {
    CAPTURE(cs.name);
    a.cmd(cs.write);
    b.cmd(cs.write);
    const auto want = value_of(b, cs.name);
    REQUIRE(value_of(a, cs.name) == want);
    std::string from_ours = a.cmd({"DUMP", cs.name}).str, from_redis = b.cmd({"DUMP", cs.name}).str;
    CHECK(b.cmd({"RESTORE", cs.name + ":ours", "0", from_ours}).str == "OK");
    CHECK(a.cmd({"RESTORE", cs.name + ":redis", "0", from_redis}).str == "OK");
    CHECK(value_of(b, cs.name + ":ours") == want);
    CHECK(value_of(a, cs.name + ":redis") == want);
    // And our own payload back into ipc-managerd.
    CHECK(a.cmd({"RESTORE", cs.name + ":self", "0", from_ours}).str == "OK");
    CHECK(value_of(a, cs.name + ":self") == want);
  }
}

TEST_CASE("RESTORE refuses what redis-server refuses with the same errors" * doctest::timeout(60)) {
  TempDir dir;
  auto ours = ServerProcess::managerd(dir);
  auto redis = ServerProcess::redis(dir);
  RespClient a(ours.socket()), b(redis.socket());
  for (auto* c : {&a, &b}) c->cmd({"SET", "k", "value"});
  const std::string p = b.cmd({"DUMP", "k"}).str;
  std::string flipped = p;
  flipped[1] ^= 1;
  std::string body = p.substr(0, p.size() - 10);
  const std::vector<std::vector<std::string>> script = {
      {"RESTORE", "k", "0", p},
      {"RESTORE", "n", "0", flipped},
      {"RESTORE", "n", "0", "short"},
      {"RESTORE", "n", "0", seal(body, 11)},                       // a newer RDB version
      {"RESTORE", "n", "0", seal(std::string("\xc8\x01", 2))},     // an unknown type
      {"RESTORE", "n", "0", seal(std::string("\x00\x20" "ab", 4))},  // a string past the end
      {"RESTORE", "n2", "0", seal(std::string("\x00\x05" "ab", 4))},  // ... that ends in the footer: read as Redis does
      {"RESTORE", "n", "0", seal(std::string("\x02\x00", 2))},     // an empty set
      {"RESTORE", "n", "0", seal(std::string("\x12\x01\x02\x01\x00", 5))},  // a listpack node of 1 byte
      {"RESTORE", "n", "-1", p},
      {"RESTORE", "n", "ten", p},
      {"RESTORE", "n", "0", p, "IDLETIME", "-1"},
      {"RESTORE", "n", "0", p, "IDLETIME", "x"},
      {"RESTORE", "n", "0", p, "FREQ", "256"},
      {"RESTORE", "n", "0", p, "FREQ", "-1"},
      {"RESTORE", "n", "0", p, "FREQ", "5", "IDLETIME", "5"},
      {"RESTORE", "n", "0", p, "IDLETIME"},
      {"RESTORE", "n", "0", p, "NOPE"},
      {"RESTORE", "n", "0"},
      {"RESTORE", "k", "0", p, "REPLACE", "IDLETIME", "100"},
      {"RESTORE", "f", "0", p, "freq", "100", "replace"},
      {"RESTORE", "old", "0", seal(body, 9)},  // an older version is taken
      {"GET", "old"},
      {"DUMP"},
  };
  for (auto& cmd : script) {
    const std::size_t step = static_cast<std::size_t>(&cmd - script.data());
    CAPTURE(step);
    CHECK(a.raw_cmd(cmd) == b.raw_cmd(cmd));
  }
  CHECK(a.raw_cmd({"RESTORE", "k", "0", p}) == "-BUSYKEY Target key name already exists.\r\n");
  CHECK(a.raw_cmd({"RESTORE", "n", "0", flipped}) == "-ERR DUMP payload version or checksum are wrong\r\n");
  CHECK(a.raw_cmd({"RESTORE", "n", "0", seal(std::string("\xc8\x01", 2))}) == "-ERR Bad data format\r\n");
}

TEST_CASE("RESTORE takes a TTL relative or absolute and an expired one adds nothing" * doctest::timeout(60)) {
  TempDir dir;
  auto ours = ServerProcess::managerd(dir);
  auto redis = ServerProcess::redis(dir);
  RespClient a(ours.socket()), b(redis.socket());
  for (auto* c : {&a, &b}) {
    CAPTURE(c == &a ? "ipc-managerd" : "redis-server");
    c->cmd({"RPUSH", "src", "x", "y"});
    std::string p = c->cmd({"DUMP", "src"}).str;
    CHECK(c->cmd({"RESTORE", "rel", "100000", p}).str == "OK");
    long long pttl = c->cmd({"PTTL", "rel"}).integer;
    CHECK(pttl > 0);
    CHECK(pttl <= 100000);
    CHECK(c->cmd({"RESTORE", "abs", "4102444800000", p, "ABSTTL"}).str == "OK");  // 2100-01-01
    CHECK(c->cmd({"PEXPIRETIME", "abs"}).integer == 4102444800000LL);
    CHECK(c->cmd({"RESTORE", "gone", "1000", p, "ABSTTL"}).str == "OK");  // 1970: already expired
    CHECK(c->cmd({"EXISTS", "gone"}).integer == 0);
    c->cmd({"SET", "old", "v"});
    CHECK(c->cmd({"RESTORE", "old", "1000", p, "ABSTTL", "REPLACE"}).str == "OK");  // deletes "old"
    CHECK(c->cmd({"EXISTS", "old"}).integer == 0);
    CHECK(c->cmd({"RESTORE", "plain", "0", p}).str == "OK");
    CHECK(c->cmd({"PTTL", "plain"}).integer == -1);
    CHECK(c->cmd({"LRANGE", "plain", "0", "-1"}).elements.size() == 2);
  }
}

TEST_CASE("RESTORE serves a client blocked on the list it creates and is logged with an absolute TTL" *
          doctest::timeout(60)) {
  TempDir dir;
  auto aof = (dir / "managerd.aof").string();
  std::string payload;
  {
    auto s = ServerProcess::managerd(dir, {"--appendonly", aof, "--appendfsync", "always"});
    RespClient c(s.socket()), waiter(s.socket());
    c.cmd({"RPUSH", "src", "job"});
    payload = c.cmd({"DUMP", "src"}).str;
    waiter.send("*3\r\n$5\r\nBLPOP\r\n$5\r\nqueue\r\n$1\r\n0\r\n");
    // RESTORE runs once the waiter is blocked (INFO counts it).
    for (int i = 0; i < 1000 && c.cmd({"INFO", "clients"}).str.find("blocked_clients:1") == std::string::npos; ++i)
      c.cmd({"PING"});
    CHECK(c.cmd({"RESTORE", "queue", "0", payload}).str == "OK");
    auto got = waiter.read();
    REQUIRE(got.elements.size() == 2);
    CHECK(got.elements[1].str == "job");
    CHECK(c.cmd({"RESTORE", "ttl", "100000", payload}).str == "OK");
  }
  std::ifstream f(aof, std::ios::binary);
  std::stringstream log;
  log << f.rdbuf();
  CHECK(log.str().find("$6\r\nABSTTL\r\n") != std::string::npos);
  auto s = ServerProcess::managerd(dir, {"--appendonly", aof});
  RespClient c(s.socket());
  long long pttl = c.cmd({"PTTL", "ttl"}).integer;
  CHECK(pttl > 0);
  CHECK(pttl <= 100000);
}

TEST_CASE("malformed payloads are refused and never crash the loader") {
  md::Options o;
  std::vector<std::string> payloads;
  auto add = [&](md::Value v) { payloads.push_back(md::dump_payload(v, o)); };
  add(md::Value{std::string(500, 'a') + "tail"});
  add(md::Value{std::string("12345")});
  md::List l;
  for (int i = 0; i < 700; ++i) l.push_back(i % 2 ? std::to_string(i * 1000003) : "e" + std::to_string(i));
  add(md::Value{l});
  md::Hash small, big;
  for (int i = 0; i < 20; ++i) small.set("f" + std::to_string(i), std::to_string(i));
  for (int i = 0; i < 600; ++i) big.set("f" + std::to_string(i), std::string(70, 'v'));
  add(md::Value{std::move(small)});
  add(md::Value{std::move(big)});
  md::Set ints, strs;
  for (int i = 0; i < 100; ++i) ints.add(std::to_string(i * 99991 - 500000));
  for (int i = 0; i < 100; ++i) strs.add("m" + std::to_string(i));
  add(md::Value{std::move(ints)});
  add(md::Value{std::move(strs)});
  md::ZSet zsmall, zbig;
  for (int i = 0; i < 20; ++i) zsmall.add("m" + std::to_string(i), i * 1.5 - 7);
  for (int i = 0; i < 200; ++i) zbig.add("member-" + std::to_string(i), i % 7 ? i / 3.0 : i);
  add(md::Value{std::move(zsmall)});
  add(md::Value{std::move(zbig)});
  std::mt19937 rng(42);
  int refused = 0, loaded = 0;
  for (auto& p : payloads) {
    REQUIRE(md::dump_payload_verify(p));
    REQUIRE(loads(p));
    const std::string body = p.substr(0, p.size() - 10);
    // Every truncation of the value.
    for (std::size_t n = 0; n < body.size(); n += 1 + body.size() / 200) (loads(seal(body.substr(0, n))) ? loaded : refused)++;
    // Random byte changes, resealed so that the footer passes.
    for (int round = 0; round < 300; ++round) {
      std::string m = body;
      for (int k = 0, flips = 1 + static_cast<int>(rng() % 4); k < flips; ++k)
        m[rng() % m.size()] = static_cast<char>(rng() & 0xff);
      (loads(seal(m)) ? loaded : refused)++;
    }
  }
  CHECK(refused > 0);
  MESSAGE("refused " << refused << ", loaded " << loaded);
  // A claimed LZF length far beyond what the block can hold is refused before allocating it.
  CHECK_FALSE(loads(seal(std::string("\x00\xc3\x02\x81\x00\x00\x10\x00\x00\x00\x00\x00\x00", 13) + "a")));
}

}  // TEST_SUITE
