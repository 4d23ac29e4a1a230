// ipc-managerd strings and counters against the running daemon: GET SET INCR* APPEND MGET ...
#include <doctest/doctest.h>

#include "managerd_support.hpp"

using namespace ipc::test;

TEST_SUITE("managerd string") {

TEST_CASE("SET and GET round-trip binary values and SET NX XX GET follow Redis" * doctest::timeout(60)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir);
  RespClient c(srv.socket());
  std::string bin("a\0b\r\n\xff", 6);
  CHECK(text(c.cmd({"SET", "k", bin})) == "OK");
  CHECK(text(c.cmd({"GET", "k"})) == bin);
  CHECK(text(c.cmd({"SET", "k", "x", "NX"})) == "(nil)");
  CHECK(text(c.cmd({"SET", "new", "x", "XX"})) == "(nil)");
  CHECK(text(c.cmd({"SET", "k", "y", "XX", "GET"})) == bin);
  CHECK(text(c.cmd({"GET", "k"})) == "y");
  CHECK(text(c.cmd({"GETSET", "k", "z"})) == "y");
  CHECK(text(c.cmd({"SETNX", "k", "w"})) == "0");
  CHECK(text(c.cmd({"GET", "missing"})) == "(nil)");
}

TEST_CASE("counters increment atomically and refuse non integers and overflow" * doctest::timeout(60)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir);
  RespClient c(srv.socket());
  CHECK(text(c.cmd({"INCR", "n"})) == "1");
  CHECK(text(c.cmd({"INCRBY", "n", "41"})) == "42");
  CHECK(text(c.cmd({"DECR", "n"})) == "41");
  CHECK(text(c.cmd({"DECRBY", "n", "50"})) == "-9");
  CHECK(text(c.cmd({"INCRBYFLOAT", "f", "10.5"})) == "10.5");
  CHECK(text(c.cmd({"INCRBYFLOAT", "f", "0.1"})) == "10.6");
  CHECK(text(c.cmd({"SET", "s", "abc"})) == "OK");
  CHECK(text(c.cmd({"INCR", "s"})) == "ERR value is not an integer or out of range");
  CHECK(text(c.cmd({"SET", "big", "9223372036854775807"})) == "OK");
  CHECK(text(c.cmd({"INCR", "big"})) == "ERR increment or decrement would overflow");
  CHECK(text(c.cmd({"INCRBYFLOAT", "s", "1"})) == "ERR value is not a valid float");
  // the connection stays usable after errors
  CHECK(text(c.cmd({"GET", "n"})) == "-9");
}

TEST_CASE("concurrent INCR from many clients loses no increment" * doctest::timeout(120)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir);
  std::vector<RespClient> clients;
  for (int i = 0; i < 8; ++i) clients.emplace_back(srv.socket());
  std::string batch;
  for (int i = 0; i < 500; ++i) batch += "*2\r\n$4\r\nINCR\r\n$3\r\nctr\r\n";
  for (auto& c : clients) c.send(batch);
  for (auto& c : clients)
    for (int i = 0; i < 500; ++i) c.read();
  CHECK(text(clients[0].cmd({"GET", "ctr"})) == "4000");
}

TEST_CASE("MSET MGET APPEND STRLEN work on several keys" * doctest::timeout(60)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir);
  RespClient c(srv.socket());
  CHECK(text(c.cmd({"MSET", "a", "1", "b", "2"})) == "OK");
  CHECK(text(c.cmd({"RPUSH", "l", "x"})) == "1");
  CHECK(text(c.cmd({"MGET", "a", "b", "nope", "l"})) == "[1,2,(nil),(nil)]");
  CHECK(text(c.cmd({"APPEND", "a", "23"})) == "3");
  CHECK(text(c.cmd({"STRLEN", "a"})) == "3");
  CHECK(text(c.cmd({"STRLEN", "nope"})) == "0");
  CHECK(text(c.cmd({"MSET", "a"})) == "ERR wrong number of arguments for 'mset' command");
  CHECK(text(c.cmd({"GET", "l"})) == "WRONGTYPE Operation against a key holding the wrong kind of value");
}

}
