// ipc-managerd publish/subscribe against the running daemon: delivery to many subscribers,
// patterns, RESP2 and RESP3 connections, clean-up when a subscriber goes away.
#include <doctest/doctest.h>

#include "managerd_support.hpp"

using namespace ipc::test;
using namespace std::chrono_literals;

namespace {

// Polls PUBSUB NUMSUB until `channel` has `n` subscribers (or 10 s pass).
bool wait_numsub(RespClient& c, const std::string& channel, long long n) {
  for (int i = 0; i < 10000; ++i) {
    auto r = c.cmd({"PUBSUB", "NUMSUB", channel});
    if (r.elements.size() == 2 && r.elements[1].integer == n) return true;
  }
  return false;
}

}  // namespace

TEST_SUITE("managerd pubsub") {

TEST_CASE("a message reaches every subscriber of its channel and matching patterns" * doctest::timeout(60)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir);
  RespClient pub(srv.socket()), s1(srv.socket()), s2(srv.socket()), p1(srv.socket());
  CHECK(text(s1.cmd({"SUBSCRIBE", "news"})) == "[subscribe,news,1]");
  CHECK(text(s2.cmd({"SUBSCRIBE", "news"})) == "[subscribe,news,1]");
  CHECK(text(p1.cmd({"PSUBSCRIBE", "n*"})) == "[psubscribe,n*,1]");
  CHECK(text(pub.cmd({"PUBLISH", "news", "hello"})) == "3");
  CHECK(text(s1.read()) == "[message,news,hello]");
  CHECK(text(s2.read()) == "[message,news,hello]");
  CHECK(text(p1.read()) == "[pmessage,n*,news,hello]");
  CHECK(text(pub.cmd({"PUBLISH", "other", "x"})) == "0");
  CHECK(text(pub.cmd({"PUBSUB", "NUMPAT"})) == "1");
  CHECK(text(pub.cmd({"PUBSUB", "CHANNELS"})) == "[news]");
  // a subscribed RESP2 connection only takes (un)subscribe, PING, QUIT and RESET
  CHECK(text(s1.cmd({"GET", "k"})).find("only (P|S)SUBSCRIBE") != std::string::npos);
  CHECK(text(s1.cmd({"PING"})) == "[pong,]");
  CHECK(text(s1.cmd({"UNSUBSCRIBE"})) == "[unsubscribe,news,0]");
  CHECK(text(s1.cmd({"GET", "k"})) == "(nil)");
}

TEST_CASE("a RESP3 subscriber gets pushes between ordinary replies" * doctest::timeout(60)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir);
  RespClient pub(srv.socket()), sub(srv.socket());
  sub.cmd({"HELLO", "3"});
  sub.send("*2\r\n$9\r\nSUBSCRIBE\r\n$2\r\nch\r\n");
  CHECK(sub.read_raw() == ">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n");
  CHECK(text(pub.cmd({"PUBLISH", "ch", "one"})) == "1");
  CHECK(sub.read_raw() == ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$3\r\none\r\n");
  // RESP3 connections keep running commands while subscribed
  CHECK(sub.raw_cmd({"SET", "k", "v"}) == "+OK\r\n");
  CHECK(sub.raw_cmd({"GET", "nokey"}) == "_\r\n");
}

TEST_CASE("a subscriber that disconnects or is killed is forgotten" * doctest::timeout(60)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir);
  RespClient pub(srv.socket());
  {
    RespClient gone(srv.socket());
    gone.cmd({"SUBSCRIBE", "ch"});
    gone.cmd({"PSUBSCRIBE", "c*"});
    CHECK(wait_numsub(pub, "ch", 1));
  }
  CHECK(wait_numsub(pub, "ch", 0));
  CHECK(text(pub.cmd({"PUBSUB", "NUMPAT"})) == "0");
  CHECK(text(pub.cmd({"PUBLISH", "ch", "x"})) == "0");
  CHECK(text(pub.cmd({"INFO", "clients"})).find("pubsub_clients:0") != std::string::npos);
}

TEST_CASE("a slow subscriber does not hold up the publisher" * doctest::timeout(60)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir);
  RespClient pub(srv.socket()), slow(srv.socket());
  slow.cmd({"SUBSCRIBE", "ch"});
  std::string payload(1000, 'x');
  for (int i = 0; i < 2000; ++i) REQUIRE(text(pub.cmd({"PUBLISH", "ch", payload})) == "1");
  for (int i = 0; i < 2000; ++i) REQUIRE(slow.read().elements.at(2).str.size() == 1000);
}

}
