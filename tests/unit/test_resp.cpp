// RESP codec: request parser (inline, multibulk, limits, incremental), writers, reply parser.
#include <doctest/doctest.h>

#include <ipc/detail/resp.hpp>

#include <climits>

#include <string>
#include <vector>

using namespace ipc::detail::resp;

namespace {

std::vector<std::string> args_of(const RequestParser& p) {
  std::vector<std::string> v;
  for (auto a : p.args()) v.emplace_back(a);
  return v;
}

}  // namespace

TEST_SUITE("resp") {

TEST_CASE("a multibulk request parses into its arguments") {
  RequestParser p;
  std::string buf = "*3\r\n$3\r\nSET\r\n$1\r\na\r\n$0\r\n\r\n*1\r\n$4\r\nPING\r\n";
  REQUIRE(p.parse(buf) == Status::request);
  CHECK(args_of(p) == std::vector<std::string>{"SET", "a", ""});
  CHECK(p.consumed() == 26);
  buf.erase(0, p.consumed());
  REQUIRE(p.parse(buf) == Status::request);
  CHECK(args_of(p) == std::vector<std::string>{"PING"});
}

TEST_CASE("a request fed one byte at a time completes exactly at its last byte") {
  RequestParser p;
  std::string whole = "*2\r\n$4\r\nECHO\r\n$11\r\nhello world\r\n";
  std::string buf;
  for (std::size_t i = 0; i < whole.size(); ++i) {
    buf += whole[i];
    auto st = p.parse(buf);
    if (i + 1 < whole.size()) {
      REQUIRE(st == Status::need_more);
    } else {
      REQUIRE(st == Status::request);
      CHECK(args_of(p) == std::vector<std::string>{"ECHO", "hello world"});
      CHECK(p.consumed() == whole.size());
    }
  }
}

TEST_CASE("a request of many arguments cut anywhere parses to the same arguments") {
  // Lengths of 0 to 3 digits, bulks holding CR and LF and '$': cut at every byte and fed in
  // three steps (as reads deliver it: the cut, one byte more, the rest), the parser must give
  // the whole request's arguments.
  std::vector<std::string> want{"RPUSH", "list", "", "7", "\r\n", "$3\r\nabc", std::string(150, 'z'),
                                std::string(1200, 'q'), "-12", "end"};
  for (int i = 0; i < 40; ++i) want.push_back(std::to_string(i * 37));
  std::string whole = "*" + std::to_string(want.size()) + "\r\n";
  for (auto& a : want) whole += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  for (std::size_t cut = 0; cut <= whole.size(); ++cut) {
    RequestParser p;
    std::string buf = whole.substr(0, cut);
    auto st = p.parse(buf);
    if (cut < whole.size()) {
      REQUIRE(st == Status::need_more);
      buf = whole.substr(0, cut + 1);
      st = p.parse(buf);
    }
    if (cut + 1 < whole.size()) {
      REQUIRE(st == Status::need_more);
      buf = whole;
      st = p.parse(buf);
    }
    REQUIRE(st == Status::request);
    CHECK(args_of(p) == want);
    CHECK(p.consumed() == whole.size());
  }
}

TEST_CASE("bulk length headers are read as Redis reads them") {
  RequestParser p;
  // A leading zero, a sign, a blank: not a length.
  for (const char* bad : {"*1\r\n$03\r\nabc\r\n", "*1\r\n$+3\r\nabc\r\n", "*1\r\n$ 3\r\nabc\r\n",
                          "*1\r\n$3 \r\nabc\r\n", "*1\r\n$\r\n\r\n", "*1\r\n$00\r\n\r\n"}) {
    p.reset();
    INFO(bad);
    CHECK(p.parse(bad) == Status::error);
    CHECK(p.error() == "Protocol error: invalid bulk length");
  }
  // Redis takes the byte after a header's CR as its LF without looking at it.
  p.reset();
  REQUIRE(p.parse("*2\r\n$1\rxa\r\n$0\r\n\r\n") == Status::request);
  CHECK(args_of(p) == std::vector<std::string>{"a", ""});
  // Lengths of 18, 19 and 20 digits: over any limit, the same message.
  for (const char* big : {"*1\r\n$100000000000000000\r\n", "*1\r\n$1000000000000000000\r\n",
                          "*1\r\n$10000000000000000000\r\n"}) {
    p.reset();
    INFO(big);
    CHECK(p.parse(big) == Status::error);
    CHECK(p.error() == "Protocol error: invalid bulk length");
  }
  // At the limit exactly, then one past it.
  Limits l;
  l.max_bulk_len = 999;
  RequestParser q(l);
  CHECK(q.parse("*1\r\n$999\r\n") == Status::need_more);
  CHECK(q.bulk_remaining() == 1001);
  q.reset();
  CHECK(q.parse("*1\r\n$1000\r\n") == Status::error);
}

TEST_CASE("inline requests split on blanks and honour quotes and escapes") {
  RequestParser p;
  REQUIRE(p.parse("set k \"a b\\x41\\n\" 'it\\'s'\r\n") == Status::request);
  CHECK(args_of(p) == std::vector<std::string>{"set", "k", "a bA\n", "it's"});
  REQUIRE(p.parse("   \r\n") == Status::empty);
  CHECK(p.consumed() == 5);
  REQUIRE(p.parse("get \"unterminated\r\n") == Status::error);
  CHECK(p.error() == "Protocol error: unbalanced quotes in request");
}

TEST_CASE("protocol errors carry the messages Redis uses") {
  RequestParser p;
  CHECK(p.parse("*x\r\n") == Status::error);
  CHECK(p.error() == "Protocol error: invalid multibulk length");
  p.reset();
  CHECK(p.parse("*1\r\n:5\r\n") == Status::error);
  CHECK(p.error() == "Protocol error: expected '$', got ':'");
  p.reset();
  CHECK(p.parse("*1\r\n$-3\r\n") == Status::error);
  CHECK(p.error() == "Protocol error: invalid bulk length");
  p.reset();
  CHECK(p.parse("*1\r\n$99999999999999\r\n") == Status::error);
  CHECK(p.error() == "Protocol error: invalid bulk length");
  p.reset();
  CHECK(p.parse("*99999999999\r\n") == Status::error);
  p.reset();
  CHECK(p.parse(std::string(70000, 'a')) == Status::error);
  CHECK(p.error() == "Protocol error: too big inline request");
  p.reset();
  CHECK(p.parse("*-5\r\n") == Status::empty);
}

TEST_CASE("the bulk length limit is configurable") {
  Limits l;
  l.max_bulk_len = 10;
  RequestParser p(l);
  CHECK(p.parse("*1\r\n$11\r\n") == Status::error);
  p.reset();
  CHECK(p.parse("*1\r\n$10\r\n") == Status::need_more);
  CHECK(p.bulk_remaining() == 12);
}

TEST_CASE("writers produce RESP2") {
  std::string out;
  add_simple(out, "OK");
  add_error(out, "ERR bad\r\nthing");
  add_int(out, -42);
  add_int(out, 7);
  add_bulk(out, "hi");
  add_nil(out);
  add_nil_array(out);
  add_array(out, 2);
  CHECK(out == "+OK\r\n-ERR bad  thing\r\n:-42\r\n:7\r\n$2\r\nhi\r\n$-1\r\n*-1\r\n*2\r\n");
  out.clear();
  add_command(out, {"GET", "k"});
  CHECK(out == "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
}

TEST_CASE("the reply parser decodes nested arrays and refuses bad input") {
  Reply r;
  std::size_t used = 0;
  std::string err;
  std::string buf = "*3\r\n:1\r\n$-1\r\n*2\r\n+OK\r\n$3\r\nabc\r\n";
  REQUIRE(parse_reply(buf, r, used, err) == Status::reply);
  CHECK(used == buf.size());
  REQUIRE(r.elements.size() == 3);
  CHECK(r.elements[2].elements[1].str == "abc");
  CHECK(format_reply(r) == "1) (integer) 1\n2) (nil)\n3) 1) OK\n   2) \"abc\"");
  CHECK(parse_reply(buf.substr(0, buf.size() - 1), r, used, err) == Status::need_more);
  CHECK(parse_reply("?\r\n", r, used, err) == Status::error);
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += "*1\r\n";
  CHECK(parse_reply(deep, r, used, err) == Status::error);
  CHECK(err == "reply nested too deeply");
}

TEST_CASE("parse_ll accepts what Redis accepts") {
  long long v = 0;
  CHECK(parse_ll("-9223372036854775808", v));
  CHECK(v == LLONG_MIN);
  CHECK_FALSE(parse_ll("9223372036854775808", v));
  CHECK_FALSE(parse_ll("01", v));
  CHECK_FALSE(parse_ll("+1", v));
  CHECK_FALSE(parse_ll(" 1", v));
  CHECK_FALSE(parse_ll("-0", v));
  CHECK_FALSE(parse_ll("", v));
}

}
