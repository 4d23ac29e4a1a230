// ipc-managerd persistence: snapshots (SAVE, BGSAVE, SIGTERM, autosave, corruption refused) and the
// append-only log (replay, truncated tail cut, kill -9 under appendfsync always loses no acked write).
#include <doctest/doctest.h>

#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "managerd_support.hpp"

using namespace ipc::test;
using namespace std::chrono_literals;

namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void fill(RespClient& c) {
  c.cmd({"SET", "s", "hello"});
  c.cmd({"SET", "n", "41"});
  c.cmd({"INCR", "n"});
  c.cmd({"HSET", "h", "a", "1", "b", "2"});
  c.cmd({"RPUSH", "l", "x", "y", "z"});
  c.cmd({"SET", "ttl", "v", "EX", "1000"});
}

void check_filled(RespClient& c) {
  CHECK(text(c.cmd({"GET", "s"})) == "hello");
  CHECK(text(c.cmd({"GET", "n"})) == "42");
  CHECK(text(c.cmd({"HGETALL", "h"})) == "[a,1,b,2]");
  CHECK(text(c.cmd({"LRANGE", "l", "0", "-1"})) == "[x,y,z]");
  auto ttl = c.cmd({"TTL", "ttl"});
  CHECK(ttl.integer > 900);
}

}  // namespace

TEST_SUITE("managerd persistence") {

TEST_CASE("SAVE writes a snapshot that the next start loads" * doctest::timeout(60)) {
  TempDir dir;
  auto snap = (dir / "dump.snap").string();
  {
    auto srv = ServerProcess::managerd(dir, {"--snapshot", snap, "--no-save-on-shutdown"});
    RespClient c(srv.socket());
    fill(c);
    CHECK(text(c.cmd({"SAVE"})) == "OK");
    CHECK(text(c.cmd({"SET", "after", "save"})) == "OK");  // not saved: lost on restart
    srv.stop();
  }
  auto srv = ServerProcess::managerd(dir, {"--snapshot", snap});
  RespClient c(srv.socket());
  check_filled(c);
  CHECK(text(c.cmd({"EXISTS", "after"})) == "0");
}

TEST_CASE("SIGTERM saves the snapshot and BGSAVE writes one from a child" * doctest::timeout(60)) {
  TempDir dir;
  auto snap = (dir / "dump.snap").string();
  {
    auto srv = ServerProcess::managerd(dir, {"--snapshot", snap});
    RespClient c(srv.socket());
    fill(c);
    CHECK(text(c.cmd({"BGSAVE"})) == "Background saving started");
    long long before = c.cmd({"LASTSAVE"}).integer;
    std::string info;
    for (int i = 0; i < 20000; ++i) {
      info = text(c.cmd({"INFO", "persistence"}));
      if (info.find("rdb_bgsave_in_progress:0") != std::string::npos) break;
      std::this_thread::sleep_for(1ms);
    }
    CHECK(info.find("rdb_last_bgsave_status:ok") != std::string::npos);
    CHECK(c.cmd({"LASTSAVE"}).integer >= before);
    CHECK(std::filesystem::exists(snap));
    c.cmd({"SET", "late", "1"});
    int st = srv.stop();
    CHECK(WIFEXITED(st));
    CHECK(WEXITSTATUS(st) == 0);
  }
  auto srv = ServerProcess::managerd(dir, {"--snapshot", snap});
  RespClient c(srv.socket());
  check_filled(c);
  CHECK(text(c.cmd({"GET", "late"})) == "1");
}

TEST_CASE("autosave writes the snapshot when the save point is reached" * doctest::timeout(60)) {
  TempDir dir;
  auto snap = (dir / "dump.snap").string();
  auto srv = ServerProcess::managerd(dir, {"--snapshot", snap, "--save", "1 1"});
  RespClient c(srv.socket());
  c.cmd({"SET", "k", "v"});
  for (int i = 0; i < 1000 && !std::filesystem::exists(snap); ++i) std::this_thread::sleep_for(10ms);
  CHECK(std::filesystem::exists(snap));
}

TEST_CASE("a corrupt snapshot is refused with a clear error" * doctest::timeout(60)) {
  TempDir dir;
  auto snap = (dir / "dump.snap").string();
  {
    auto srv = ServerProcess::managerd(dir, {"--snapshot", snap});
    RespClient c(srv.socket());
    fill(c);
    c.cmd({"SAVE"});
    srv.kill9();
  }
  std::string bytes = slurp(snap);
  REQUIRE(bytes.size() > 40);
  bytes[30] = static_cast<char>(bytes[30] ^ 0x5a);
  std::ofstream(snap, std::ios::binary | std::ios::trunc) << bytes;
  auto [rc, err] = ServerProcess::run_managerd({"--socket", (dir / "x.sock").string(), "--snapshot", snap});
  CHECK(rc == 1);
  CHECK(err.find("refusing to start") != std::string::npos);
  CHECK(err.find("checksum") != std::string::npos);
  std::ofstream(snap, std::ios::binary | std::ios::trunc) << bytes.substr(0, 20);
  auto [rc2, err2] = ServerProcess::run_managerd({"--socket", (dir / "x.sock").string(), "--snapshot", snap});
  CHECK(rc2 == 1);
  CHECK(err2.find("refusing to start") != std::string::npos);
}

TEST_CASE("the append-only log is replayed at start" * doctest::timeout(60)) {
  TempDir dir;
  auto aof = (dir / "log.aof").string();
  {
    auto srv = ServerProcess::managerd(dir, {"--appendonly", aof, "--appendfsync", "everysec"});
    RespClient c(srv.socket());
    fill(c);
    c.cmd({"INCRBYFLOAT", "f", "1.1"});
    c.cmd({"MULTI"});
    c.cmd({"INCR", "tx"});
    c.cmd({"INCR", "tx"});
    c.cmd({"EXEC"});
    c.cmd({"RPUSH", "q", "a", "b"});
    c.cmd({"BLPOP", "q", "0"});
    srv.stop();
  }
  auto srv = ServerProcess::managerd(dir, {"--appendonly", aof});
  RespClient c(srv.socket());
  check_filled(c);
  CHECK(text(c.cmd({"GET", "f"})) == "1.1");
  CHECK(text(c.cmd({"GET", "tx"})) == "2");
  CHECK(text(c.cmd({"LRANGE", "q", "0", "-1"})) == "[b]");
}

TEST_CASE("a truncated tail of the log is cut with a warning" * doctest::timeout(60)) {
  TempDir dir;
  auto aof = (dir / "log.aof").string();
  {
    auto srv = ServerProcess::managerd(dir, {"--appendonly", aof, "--appendfsync", "always"});
    RespClient c(srv.socket());
    c.cmd({"SET", "a", "1"});
    c.cmd({"SET", "b", "2"});
    srv.kill9();
  }
  auto good = std::filesystem::file_size(aof);
  std::ofstream(aof, std::ios::binary | std::ios::app) << "*3\r\n$3\r\nSET\r\n$1\r\nc\r\n$1";
  auto srv = ServerProcess::managerd(dir, {"--appendonly", aof});
  RespClient c(srv.socket());
  CHECK(text(c.cmd({"MGET", "a", "b", "c"})) == "[1,2,(nil)]");
  CHECK(srv.log().find("incomplete command") != std::string::npos);
  CHECK(std::filesystem::file_size(aof) == good);
}

TEST_CASE("a log corrupt in the middle is refused" * doctest::timeout(60)) {
  TempDir dir;
  auto aof = (dir / "log.aof").string();
  std::ofstream(aof, std::ios::binary) << "*2\r\n$3\r\nGET\r\n$1\r\na\r\nGARBAGE\r\n*1\r\n$4\r\nPING\r\n";
  auto [rc, err] = ServerProcess::run_managerd({"--socket", (dir / "x.sock").string(), "--appendonly", aof});
  CHECK(rc == 1);
  CHECK(err.find("corrupt append-only file") != std::string::npos);
}

TEST_CASE("kill -9 during heavy writes loses no acknowledged write under appendfsync always" * doctest::timeout(120)) {
  TempDir dir;
  auto aof = (dir / "log.aof").string();
  auto snap = (dir / "dump.snap").string();
  long long acked = 0;
  {
    auto srv = ServerProcess::managerd(dir, {"--appendonly", aof, "--appendfsync", "always", "--snapshot", snap});
    RespClient c(srv.socket());
    c.cmd({"SAVE"});
    std::string batch;
    for (int i = 0; i < 50; ++i) batch += "*2\r\n$4\r\nINCR\r\n$3\r\nctr\r\n";
    // Pipelined batches; the server is killed while requests are in flight.
    std::thread killer;
    bool killed = false;
    for (int round = 0; round < 400; ++round) {
      if (round == 100) killer = std::thread([&] { srv.kill9(); });
      try {
        c.send(batch);  // inside the try: once the server is dead, the send fails too
        for (int i = 0; i < 50; ++i) {
          auto r = c.read(5s);
          REQUIRE(r.type == Reply::Type::integer);
          acked = r.integer;
        }
      } catch (const std::runtime_error&) {
        killed = true;
        break;
      }
    }
    if (killer.joinable()) killer.join();
    CHECK(killed);
  }
  auto srv = ServerProcess::managerd(dir, {"--appendonly", aof, "--appendfsync", "always", "--snapshot", snap});
  RespClient c(srv.socket());
  auto v = c.cmd({"GET", "ctr"});
  INFO("acknowledged " << acked << ", recovered " << text(v));
  CHECK(std::stoll(v.str) >= acked);
  CHECK(acked > 0);
}

}
