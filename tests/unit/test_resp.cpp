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
