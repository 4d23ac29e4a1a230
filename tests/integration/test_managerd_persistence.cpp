// ipc-managerd persistence: snapshots (SAVE, BGSAVE, SIGTERM, autosave, corruption refused) and the
// append-only log (replay, truncated tail cut, kill -9 under appendfsync always loses no acked write).
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "managerd_support.hpp"

using namespace ipc::test;
using namespace std::chrono_literals;

namespace {

/// The inode of the unix socket listening on `path` (from /proc/net/unix), or 0.
unsigned long listening_inode(const std::string& path) {
  std::ifstream in("/proc/net/unix");
  std::string line;
  std::getline(in, line);  // header: Num RefCount Protocol Flags Type St Inode Path
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string num, refs, proto, flags, type, st, p;
    unsigned long inode = 0;
    f >> num >> refs >> proto >> flags >> type >> st >> inode >> p;
    if (p == path && flags == "00010000") return inode;  // __SO_ACCEPTCON: a listening socket
  }
  return 0;
}

/// True when process `pid` has a file descriptor open on socket `inode`.
bool holds_socket(pid_t pid, unsigned long inode) {
  std::string want = "socket:[" + std::to_string(inode) + "]";
  std::error_code ec;
  for (auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec))
    if (std::filesystem::read_symlink(e.path(), ec).string() == want) return true;
  return false;
}

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

/// Waits (up to 30 s) until INFO reports `rewrites` completed log rewrites and none running.
bool wait_rewrites(RespClient& c, int rewrites) {
  for (int i = 0; i < 3000; ++i) {
    if (info_field(c, "persistence", "aof_rewrite_in_progress") == "0" && std::stoi(info_field(c, "persistence", "aof_rewrites")) >= rewrites)
      return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

/// Sends `n` copies of one command pipelined and reads every reply.
void pipeline(RespClient& c, const std::vector<std::string>& cmd, int n) {
  std::string one = "*" + std::to_string(cmd.size()) + "\r\n";
  for (auto& a : cmd) one += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  std::string batch;
  for (int i = 0; i < n; ++i) batch += one;
  c.send(batch);
  for (int i = 0; i < n; ++i) REQUIRE(c.read(10s).type != Reply::Type::error);
}

/// Writes `n` keys key:<i> with MSET, 1000 a request.
void many_keys(RespClient& c, int n) {
  for (int base = 0; base < n; base += 1000) {
    std::vector<std::string> cmd{"MSET"};
    for (int i = base; i < std::min(n, base + 1000); ++i) {
      cmd.push_back("key:" + std::to_string(i));
      cmd.push_back("value-" + std::to_string(i));
    }
    REQUIRE(c.cmd(cmd).type == Reply::Type::simple);
  }
}

int rewrite_temp_files(const TempDir& dir) {
  int n = 0;
  for (auto& e : std::filesystem::directory_iterator(dir.path()))
    if (e.path().filename().string().find(".rewrite-") != std::string::npos) ++n;
  return n;
}

}  // namespace

TEST_SUITE("managerd persistence") {

TEST_CASE("BGREWRITEAOF compacts the log and keeps the writes made while it runs" * doctest::timeout(120)) {
  TempDir dir;
  auto aof = (dir / "log.aof").string();
  {
    auto srv = ServerProcess::managerd(dir, {"--appendonly", aof, "--appendfsync", "always"});
    RespClient c(srv.socket());
    many_keys(c, 20000);
    pipeline(c, {"INCR", "ctr"}, 50000);
    auto before = std::filesystem::file_size(aof);
    CHECK(c.cmd({"BGREWRITEAOF"}).str == "Background append only file rewriting started");
    // Writes while the child dumps the keyspace: they must reach the new log.
    pipeline(c, {"INCR", "during"}, 2000);
    c.cmd({"RPUSH", "list", "a", "b"});
    c.cmd({"DEL", "key:7"});
    REQUIRE(wait_rewrites(c, 1));
    CHECK(info_field(c, "persistence", "aof_last_bgrewrite_status") == "ok");
    auto after = std::filesystem::file_size(aof);
    INFO("log " << before << " bytes before the rewrite, " << after << " after");
    CHECK(after + 500000 < before);  // 50000 INCRs (23 bytes each) became one SET
    CHECK(std::to_string(after) == info_field(c, "persistence", "aof_current_size"));
    c.cmd({"SET", "after", "x"});  // the server appends to the new log
    CHECK(rewrite_temp_files(dir) == 0);
    srv.stop();
  }
  auto srv = ServerProcess::managerd(dir, {"--appendonly", aof});
  RespClient c(srv.socket());
  CHECK(text(c.cmd({"GET", "ctr"})) == "50000");
  CHECK(text(c.cmd({"GET", "during"})) == "2000");
  CHECK(text(c.cmd({"LRANGE", "list", "0", "-1"})) == "[a,b]");
  CHECK(text(c.cmd({"GET", "after"})) == "x");
  CHECK(text(c.cmd({"GET", "key:19999"})) == "value-19999");
  CHECK(c.cmd({"EXISTS", "key:7"}).integer == 0);
  CHECK(c.cmd({"DBSIZE"}).integer == 20000 - 1 + 4);
}

TEST_CASE("the log is rewritten by itself once it grew by the configured percentage" * doctest::timeout(120)) {
  TempDir dir;
  auto aof = (dir / "log.aof").string();
  {
    auto srv = ServerProcess::managerd(dir, {"--appendonly", aof, "--auto-aof-rewrite-min-size", "64kb",
                                             "--auto-aof-rewrite-percentage", "100"});
    RespClient c(srv.socket());
    int sent = 0;
    while (info_field(c, "persistence", "aof_rewrites") == "0" && sent < 200000) {
      pipeline(c, {"INCR", "ctr"}, 1000);
      sent += 1000;
    }
    REQUIRE(wait_rewrites(c, 1));
    CHECK(sent > 2000);  // not before the log reached 64 KiB: about 2900 INCRs of 23 bytes
    // The new log holds one SET plus the INCRs that arrived while the rewrite ran.
    CHECK(std::stoull(info_field(c, "persistence", "aof_base_size")) < static_cast<unsigned long long>(sent) * 23);
    CHECK(info_field(c, "persistence", "aof_last_bgrewrite_status") == "ok");
    srv.stop();
    auto srv2 = ServerProcess::managerd(dir, {"--appendonly", aof});
    RespClient c2(srv2.socket());
    CHECK(text(c2.cmd({"GET", "ctr"})) == std::to_string(sent));
  }
}

TEST_CASE("kill -9 during a rewrite keeps the old log whole and leaves no temp file" * doctest::timeout(120)) {
  TempDir dir;
  auto aof = (dir / "log.aof").string();
  {
    auto srv = ServerProcess::managerd(dir, {"--appendonly", aof, "--appendfsync", "always"});
    RespClient c(srv.socket());
    many_keys(c, 100000);
    CHECK(c.cmd({"BGREWRITEAOF"}).type == Reply::Type::simple);
    srv.kill9();  // the rewrite child dies with it
  }
  auto srv = ServerProcess::managerd(dir, {"--appendonly", aof});
  RespClient c(srv.socket());
  CHECK(c.cmd({"DBSIZE"}).integer == 100000);
  CHECK(text(c.cmd({"GET", "key:99999"})) == "value-99999");
  CHECK(rewrite_temp_files(dir) == 0);
}

TEST_CASE("a BGSAVE child dies with the server and its temp file is removed at the next start" * doctest::timeout(180)) {
  TempDir dir;
  auto snap = (dir / "dump.snap").string();
  std::ofstream(dir / "dump.snap.tmp-99999") << "half a snapshot of a server killed while saving";
  // Gone: no such process, or a zombie none of whose threads still runs. A multi-threaded child
  // (ThreadSanitizer gives every forked child a thread of its own) shows its first thread as a
  // zombie while another one is still exiting, and that one still holds the child's fds, among
  // them the server's listening socket, inherited by the fork.
  auto gone = [](pid_t pid) {
    char st = proc_state(pid);
    if (st != 'Z') return st == '\0';
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(status, line);)
      if (line.starts_with("Threads:")) return std::stoi(line.substr(8)) <= 1;
    return true;  // reaped meanwhile
  };
  pid_t child = -1;
  {
    auto srv = ServerProcess::managerd(dir, {"--snapshot", snap, "--save", "3600 1", "--no-save-on-shutdown"});
    RespClient c(srv.socket());
    many_keys(c, 200000);
    // Stop the child once it writes its temp file (it has asked to die with the server by then);
    // if it finishes first, try again.
    bool caught = false;
    for (int attempt = 0; attempt < 20 && !caught; ++attempt) {
      for (int i = 0; i < 3000 && info_field(c, "persistence", "rdb_bgsave_in_progress") != "0"; ++i)
        std::this_thread::sleep_for(10ms);
      REQUIRE(text(c.cmd({"BGSAVE"})) == "Background saving started");
      auto log = srv.log();
      auto at = log.rfind("background snapshot started by pid ");
      REQUIRE(at != std::string::npos);
      child = static_cast<pid_t>(std::stol(log.substr(at + 35)));
      auto tmp = dir / ("dump.snap.tmp-" + std::to_string(child));
      while (!caught && !gone(child)) {
        if (std::filesystem::exists(tmp)) {
          ::kill(child, SIGSTOP);
          caught = true;
        }
      }
    }
    REQUIRE(caught);
    // The child does not keep the server's listening socket: a restart need not wait for it.
    unsigned long listener = listening_inode(srv.socket());
    REQUIRE(listener != 0);
    CHECK_FALSE(holds_socket(child, listener));
    srv.kill9();
  }
  for (int i = 0; i < 3000 && !gone(child); ++i) std::this_thread::sleep_for(10ms);
  CHECK(gone(child));
  if (!gone(child)) ::kill(child, SIGKILL);
  auto srv = ServerProcess::managerd(dir, {"--snapshot", snap});
  int temps = 0;
  for (auto& e : std::filesystem::directory_iterator(dir.path()))
    if (e.path().filename().string().starts_with("dump.snap.tmp-")) ++temps;
  CHECK(temps == 0);
}

TEST_CASE("BGREWRITEAOF without a log is an error" * doctest::timeout(60)) {
  TempDir dir;
  auto srv = ServerProcess::managerd(dir);
  RespClient c(srv.socket());
  auto r = c.cmd({"BGREWRITEAOF"});
  CHECK(r.type == Reply::Type::error);
  CHECK(r.str.find("no append-only file") != std::string::npos);
}

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
