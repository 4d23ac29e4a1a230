// ipc-ctl against a running ipc-managerd: one-shot commands, --json, interactive mode, exit codes.
#include <doctest/doctest.h>

#include <sys/wait.h>

#include "managerd_support.hpp"

using namespace ipc::test;

TEST_SUITE("ipc-ctl") {

TEST_CASE("one-shot commands print replies and exit 0 or 1 on an error reply" * doctest::timeout(60)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir);
  auto ctl = [&](std::vector<std::string> args, const std::string& in = {}) {
    args.insert(args.begin(), {IPCKIT_CTL_BIN, "--socket", srv.socket()});
    return run_program(args, in);
  };
  auto r = ctl({"ping"});
  CHECK(r.code == 0);
  CHECK(r.out == "PONG\n");
  CHECK(ctl({"hset", "h", "a", "1", "b", "2"}).out == "2\n");
  CHECK(ctl({"--json", "hgetall", "h"}).out == "[\"a\",\"1\",\"b\",\"2\"]\n");
  CHECK(ctl({"--json", "get", "nope"}).out == "null\n");
  r = ctl({"incr", "h"});
  CHECK(r.code == 1);
  CHECK(r.err.find("WRONGTYPE") != std::string::npos);
  r = ctl({"--json", "incr", "h"});
  CHECK(r.code == 1);
  CHECK(r.out.find("{\"error\":\"WRONGTYPE") == 0);
  CHECK(ctl({"--no-such-option"}).code == 2);
  CHECK(ctl({"echo", "-s"}).out == "-s\n");  // options end where the command starts
  CHECK(ctl({"rpush", "l", "-1", "--json"}).out == "2\n");  // "--json" is an element here
  CHECK(ctl({"--json", "lrange", "l", "0", "-1"}).out == "[\"-1\",\"--json\"]\n");
  r = run_program({IPCKIT_CTL_BIN, "--socket", (dir / "none.sock").string(), "ping"});
  CHECK(r.code == 1);
  CHECK(r.err.find("ipc-ctl: error:") == 0);
}

TEST_CASE("interactive mode runs one command per line with quotes" * doctest::timeout(60)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir);
  auto r = run_program({IPCKIT_CTL_BIN, "--socket", srv.socket()}, "set k \"a b\"\nget k\n\nrpush l 1 2\nquit\nget k\n");
  CHECK(r.code == 0);
  CHECK(r.out == "OK\na b\n2\n");
}

TEST_CASE("shutdown stops the server and exits 0" * doctest::timeout(60)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir);
  auto r = run_program({IPCKIT_CTL_BIN, "--socket", srv.socket(), "shutdown", "nosave"});
  CHECK(r.code == 0);
  int st = srv.wait_exit(20);
  CHECK(WIFEXITED(st));
}

}
