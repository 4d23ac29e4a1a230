// Manager and proxies: one suite run against the private server, ipc-managerd, a real
// redis-server and a real 3-node Redis Cluster, plus the failure cases of each kind of server.
#include <ipc/detail/resp_client.hpp>
#include <ipc/managers.hpp>
#include <ipc/process.hpp>

#include <doctest/doctest.h>

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <thread>

#include "child_pipe.hpp"
#include "manager_backends.hpp"
#include "managerd_support.hpp"
#include "redis_cluster.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using ipc::test::ChildPipe;
using ipc::test::Managerd;
using ipc::test::PrivateServer;
using ipc::test::RedisClusterBackend;
using ipc::test::RedisServer;
using ipc::test::RedisCluster;
using ipc::test::ServerProcess;
using ipc::test::TempDir;

namespace {

struct Point {
  int x = 0, y = 0;
  bool operator==(const Point&) const = default;
  template <class A>
  void serialize(A& a) {
    a(x, y);
  }
};

}  // namespace

TYPE_TO_STRING(PrivateServer);
TYPE_TO_STRING(Managerd);
TYPE_TO_STRING(RedisServer);
TYPE_TO_STRING(RedisClusterBackend);

#define IPCKIT_BACKENDS PrivateServer, Managerd, RedisServer, RedisClusterBackend

TEST_SUITE("Manager") {

TEST_CASE_TEMPLATE("a dict proxy reads and writes like a Python dict" * doctest::timeout(60), B, IPCKIT_BACKENDS) {
  B b;
  ipc::Manager m = b.manager();
  auto d = m.dict<std::string, int>("scores");
  CHECK(d.empty());
  d["a"] = 1;
  d["a"] += 41;
  d.set("b", 7);
  CHECK(static_cast<int>(d["a"]) == 42);
  CHECK(d.get("b") == 7);
  CHECK(d.get("zz") == std::nullopt);
  CHECK(d.get("zz", -1) == -1);
  CHECK_THROWS_AS(static_cast<void>(static_cast<int>(d["zz"])), ipc::KeyError);
  CHECK(d.contains("a"));
  CHECK(d.size() == 2);
  d.update({{"c", 3}, {"d", 4}});
  std::map<std::string, int> want{{"a", 42}, {"b", 7}, {"c", 3}, {"d", 4}};
  CHECK(d.to_map() == want);
  std::map<std::string, int> seen;
  for (const auto& [k, v] : d) seen[k] = v;
  CHECK(seen == want);
  CHECK(d.keys().size() == 4);
  CHECK(d.values().size() == 4);
  CHECK(d.setdefault("e", 5) == 5);
  CHECK(d.setdefault("e", 6) == 5);
  CHECK(d.pop("e") == 5);
  CHECK(d.pop("e") == std::nullopt);
  CHECK(d.pop("e", 9) == 9);
  CHECK(d.incr("a", 8) == 50);
  CHECK(d.update_with("b", [](std::optional<int> v) { return v.value_or(0) * 10; }) == 70);
  CHECK(d.erase("b"));
  CHECK_FALSE(d.erase("b"));
  d.clear();
  CHECK(d.size() == 0);

  auto f = m.dict<int, double>("floats");
  f[1] = 0.5;
  f[1] += 0.25;
  CHECK(f.get(1) == doctest::Approx(0.75));
  auto blobs = m.dict<std::string, Point>("points");
  blobs["p"] = Point{3, 4};
  CHECK(blobs.get("p") == Point{3, 4});
}

TEST_CASE_TEMPLATE("a list proxy reads and writes like a Python list" * doctest::timeout(60), B, IPCKIT_BACKENDS) {
  B b;
  ipc::Manager m = b.manager();
  auto l = m.list<std::string>("names");
  l.append("b");
  l.extend({"c", "d"});
  l.insert(0, "a");
  l.insert(2, "bb");
  l.insert(100, "z");
  l.insert(-1, "y");
  CHECK(l.to_vector() == std::vector<std::string>{"a", "b", "bb", "c", "d", "y", "z"});
  CHECK(l.size() == 7);
  CHECK(l.at(-1) == "z");
  CHECK(static_cast<std::string>(l[1]) == "b");
  l[1] = "B";
  CHECK(l.at(1) == "B");
  CHECK_THROWS_AS(l.at(50), ipc::IndexError);
  CHECK_THROWS_AS(l.set(50, "x"), ipc::IndexError);
  CHECK(l.index("c") == 3);
  CHECK_THROWS_AS(l.index("nope"), ipc::ValueError);
  l.remove("bb");
  CHECK_THROWS_AS(l.remove("bb"), ipc::ValueError);
  CHECK(l.pop() == "z");
  CHECK(l.pop(0) == "a");
  CHECK(l.pop(1) == "c");
  std::vector<std::string> seen;
  for (const auto& s : l) seen.push_back(s);
  CHECK(seen == std::vector<std::string>{"B", "d", "y"});
  l.clear();
  CHECK_THROWS_AS(l.pop(), ipc::IndexError);

  auto nums = m.list<long>("nums");
  std::vector<long> many(1000);
  for (long i = 0; i < 1000; ++i) many[static_cast<std::size_t>(i)] = i;
  nums.extend(many);
  CHECK(nums.size() == 1000);
  CHECK(nums.at(999) == 999);
}

TEST_CASE_TEMPLATE("value namespace queue and event proxies" * doctest::timeout(60), B, IPCKIT_BACKENDS) {
  B b;
  ipc::Manager m = b.manager();
  auto v = m.Value("counter", 10);
  CHECK(v.value() == 10);
  CHECK(m.Value("counter", 99).value() == 10);  // the initial value does not overwrite
  CHECK(v.incr(5) == 15);
  CHECK(v.compare_and_set(15, 20));
  CHECK_FALSE(v.compare_and_set(15, 30));
  CHECK(v.value() == 20);
  v.value(1);
  CHECK(v.update_with([](std::optional<int> x) { return *x + 1; }) == 2);

  auto ns = m.Namespace("config");
  ns.set("name", std::string("worker"));
  ns.set("size", 3);
  ns.set("origin", Point{1, 2});
  CHECK(ns.get<std::string>("name") == "worker");
  CHECK(ns.get<int>("size") == 3);
  CHECK(ns.get<Point>("origin") == Point{1, 2});
  CHECK(ns.get<int>("missing", 7) == 7);
  CHECK_THROWS_AS(ns.get<int>("missing"), ipc::KeyError);
  CHECK(ns.attributes().size() == 3);

  auto q = m.Queue<int>("jobs");
  q.put(1);
  q.put(2);
  CHECK(q.qsize() == 2);
  CHECK(q.get() == 1);
  CHECK(q.get(1s) == 2);
  CHECK_THROWS_AS(q.get(50ms), ipc::QueueEmpty);
  CHECK_THROWS_AS(q.get_nowait(), ipc::QueueEmpty);
  CHECK(q.try_get(0s) == std::nullopt);

  auto jq = m.JoinableQueue<int>("tasks");
  jq.put(5);
  CHECK_FALSE(jq.join(50ms));
  CHECK(jq.get(1s) == 5);
  jq.task_done();
  CHECK(jq.join(1s));
  CHECK_THROWS_AS(jq.task_done(), ipc::ValueError);

  auto e = m.Event("go");
  CHECK_FALSE(e.is_set());
  CHECK_FALSE(e.wait(30ms));
  ipc::Process setter([addr = b.address(), m] {
    std::this_thread::sleep_for(50ms);
    m.Event("go").set();
  });
  setter.start();
  CHECK(e.wait(10s));
  CHECK(setter.join(10s));
  CHECK(setter.exitcode() == 0);
  e.clear();
  CHECK_FALSE(e.is_set());
}

TEST_CASE_TEMPLATE("wrong types and error replies are exceptions naming the key" * doctest::timeout(60), B,
                   IPCKIT_BACKENDS) {
  B b;
  ipc::Manager m = b.manager();
  m.dict<std::string, std::string>("d").set("n", "not a number");
  auto d = m.dict<std::string, int>("d");
  try {
    (void)d.get("n");
    FAIL("no exception");
  } catch (const ipc::WrongTypeError& e) {
    CHECK(std::string(e.what()).find("key 'd' field 'n'") != std::string::npos);
  }
  try {
    d.incr("n");
    FAIL("no exception");
  } catch (const ipc::ManagerError& e) {
    CHECK(std::string(e.what()).find("key 'd'") != std::string::npos);
    CHECK(e.reply().find("ERR") == 0);
  }
  auto l = m.list<int>("d");  // "d" is a hash: the server says WRONGTYPE
  try {
    l.append(1);
    FAIL("no exception");
  } catch (const ipc::WrongTypeError& e) {
    CHECK(std::string(e.what()).find("key 'd'") != std::string::npos);
    CHECK(std::string(e.what()).find("WRONGTYPE") != std::string::npos);
  }
  auto p = m.dict<std::string, Point>("d");
  CHECK_THROWS_AS((void)p.get("n"), ipc::WrongTypeError);
  // A failed read-modify-write leaves no WATCH behind: the next transaction runs.
  CHECK_THROWS_AS(d.update_with("n", [](std::optional<int> v) { return v.value_or(0); }), ipc::WrongTypeError);
  ipc::Manager::connect(m.address()).dict<std::string, std::string>("d").set("z", "changed by another client");
  CHECK(m.dict<std::string, std::string>("d").pop("n") == "not a number");
}

TEST_CASE_TEMPLATE("many processes updating one dict list and counter reach exact totals" * doctest::timeout(120), B,
                   IPCKIT_BACKENDS) {
  B b;
  ipc::Manager m = b.manager();
  auto d = m.dict<std::string, long>("totals");
  auto l = m.list<int>("log");
  auto c = m.Value("counter", 0L);
  constexpr int kProcs = 6, kIters = 60;
  std::vector<ipc::Process> ps;
  for (int p = 0; p < kProcs; ++p) {
    ps.emplace_back([=] {
      for (int i = 0; i < kIters; ++i) {
        d["hits"] += 1;
        d.update_with("rmw", [](std::optional<long> v) { return v.value_or(0) + 2; });
        l.append(p * 1000 + i);
        c.incr();
      }
    });
    ps.back().start();
  }
  for (auto& p : ps) {
    REQUIRE(p.join(100s));
    CHECK(p.exitcode() == 0);
  }
  CHECK(d.get("hits") == kProcs * kIters);
  CHECK(d.get("rmw") == 2 * kProcs * kIters);
  CHECK(l.size() == kProcs * kIters);
  CHECK(c.value() == kProcs * kIters);
  // Each process's appends keep their order.
  std::map<int, int> last;
  bool ordered = true;
  for (int x : l) {
    if (last.count(x / 1000) && last[x / 1000] >= x % 1000) ordered = false;
    last[x / 1000] = x % 1000;
  }
  CHECK(ordered);
}

TEST_CASE_TEMPLATE("a lock holder killed with SIGKILL is recovered by the next acquirer" * doctest::timeout(60), B,
                   IPCKIT_BACKENDS) {
  B b;
  ipc::ManagerOptions o;
  o.lease = 600ms;
  ipc::Manager m = b.manager(o);
  ChildPipe pipe;
  ipc::Process holder([&pipe, addr = b.address(), o, m] {
    auto lock = m.Lock("L");
    if (!lock.acquire(5s)) return 3;
    pipe.put("held");
    std::this_thread::sleep_for(60s);  // killed long before
    return 0;
  });
  holder.start();
  REQUIRE(pipe.line() == "held");
  auto lock = m.Lock("L");
  // Alive, the holder renews its lease: the lock stays taken well past one lease.
  CHECK_FALSE(lock.acquire(1500ms));
  holder.kill();
  REQUIRE(holder.join(10s));
  CHECK(holder.exitcode() == -SIGKILL);
  REQUIRE(lock.acquire(10s));
  CHECK(lock.owner_died());
  lock.release();
  REQUIRE(lock.acquire(1s));
  CHECK_FALSE(lock.owner_died());  // a clean release clears the mark
  lock.release();
  CHECK_THROWS_AS(lock.release(), ipc::ValueError);
}

TEST_CASE_TEMPLATE("a lock is mutually exclusive between processes" * doctest::timeout(60), B, IPCKIT_BACKENDS) {
  B b;
  ipc::Manager m = b.manager();
  auto v = m.Value("plain", 0);  // read-modify-write without atomics: only the lock protects it
  std::vector<ipc::Process> ps;
  for (int p = 0; p < 4; ++p) {
    ps.emplace_back([m, v] {
      auto lock = m.Lock("mutex");
      for (int i = 0; i < 25; ++i) {
        std::lock_guard g(lock);
        v.value(v.value() + 1);
      }
    });
    ps.back().start();
  }
  for (auto& p : ps) {
    REQUIRE(p.join(50s));
    CHECK(p.exitcode() == 0);
  }
  CHECK(v.value() == 100);
}

#ifdef IPCKIT_EXAMPLES_DIR
TEST_CASE_TEMPLATE("the manager_anywhere example runs unchanged on every server" * doctest::timeout(90), B, Managerd,
                   RedisServer, RedisClusterBackend) {
  B b;
  auto r = ipc::test::run_program({IPCKIT_EXAMPLES_DIR "/manager_anywhere", b.address()});
  INFO(r.out, r.err);
  CHECK(r.code == 0);
  CHECK(r.out.find("sum of squares 1..12 = 650") != std::string::npos);
}
#endif

}  // TEST_SUITE

TEST_SUITE("Manager failures") {

TEST_CASE("the private server's owner killed with SIGKILL leaves no process and no socket" * doctest::timeout(60)) {
  ipc::test::become_subreaper();  // the orphaned server is re-parented here, so we can reap it
  ChildPipe pipe;
  pid_t owner = ::fork();
  REQUIRE(owner >= 0);
  if (owner == 0) {
    try {
      ipc::Manager m;
      m.dict<int, int>("d")[1] = 1;
      pipe.put(std::to_string(m.server_pid()) + " " + m.address().substr(5));
      ::sleep(60);  // killed long before
    } catch (...) {
      pipe.put("0 none");
    }
    ::sleep(60);  // killed long before
    ::_exit(0);
  }
  std::string line = pipe.line();
  auto sp = line.find(' ');
  if (sp == std::string::npos) {
    ::kill(owner, SIGKILL);
    ::waitpid(owner, nullptr, 0);
  }
  REQUIRE_MESSAGE(sp != std::string::npos, "the owner did not report its private server: '" << line << "'");
  pid_t server = std::stoi(line.substr(0, sp));
  std::filesystem::path sock = line.substr(sp + 1);
  REQUIRE(server > 0);
  CHECK(std::filesystem::exists(sock));
  struct stat st{};
  REQUIRE(::stat(sock.parent_path().c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  ::kill(owner, SIGKILL);
  ::waitpid(owner, nullptr, 0);
  // The server gets SIGTERM from the kernel (PR_SET_PDEATHSIG), removes its files and exits.
  auto end = std::chrono::steady_clock::now() + 20s;
  int status = 0;
  pid_t reaped = 0;
  while (reaped != server && std::chrono::steady_clock::now() < end) {
    reaped = ::waitpid(server, &status, WNOHANG);
    if (reaped != server) std::this_thread::sleep_for(5ms);
  }
  REQUIRE(reaped == server);
  CHECK(WIFEXITED(status));
  CHECK_FALSE(std::filesystem::exists(sock));
  CHECK_FALSE(std::filesystem::exists(sock.parent_path()));
}

TEST_CASE("a private server lives as long as its Manager and children share it" * doctest::timeout(60)) {
  std::string dir;
  pid_t server = -1;
  {
    ipc::Manager m;
    server = m.server_pid();
    dir = std::filesystem::path(m.address().substr(5)).parent_path();
    auto d = m.dict<std::string, int>("E16");
    std::vector<ipc::Process> ps;
    for (int i = 0; i < 10; ++i) {
      ipc::Process p([d, i] { d["num"] = 100 + i; });
      p.start();
      REQUIRE(p.join(10s));
      CHECK(p.exitcode() == 0);
      CHECK(d.get("num") == 100 + i);
    }
    CHECK(::kill(server, 0) == 0);
  }
  CHECK(::kill(server, 0) == -1);  // reaped by the destructor
  CHECK_FALSE(std::filesystem::exists(dir));
  // No descriptor is left behind by a Manager, its connection or its server's pipe.
  int fds = ipc::test::count_open_fds();
  {
    ipc::Manager m;
    m.dict<int, int>("d")[1] = 1;
  }
  CHECK(ipc::test::count_open_fds() == fds);
}

TEST_CASE("ipc-managerd killed and restarted with its append-only log: proxies carry on" * doctest::timeout(90)) {
  TempDir dir;
  std::vector<std::string> opts = {"--appendonly", (dir / "aof").string(), "--appendfsync", "always"};
  std::optional<ServerProcess> srv(ServerProcess::managerd(dir, opts));
  ipc::ManagerOptions o;
  o.retries = 20;
  auto m = ipc::Manager::connect("unix:" + srv->socket(), {}, o);
  auto d = m.dict<std::string, int>("kept");
  auto l = m.list<int>("kept-list");
  d["a"] = 1;
  l.append(1);
  srv->kill9();
  srv.reset();
  // Restart in the background: the next calls reconnect with back-off until it listens.
  std::thread restarter([&] {
    std::this_thread::sleep_for(200ms);
    srv.emplace(ServerProcess::managerd(dir, opts));
  });
  d["a"] += 1;
  l.append(2);
  restarter.join();
  CHECK(d.get("a") == 2);
  CHECK(l.to_vector() == std::vector<int>{1, 2});
}

TEST_CASE("a child made by a bare fork() calls through its own connection" * doctest::timeout(60)) {
  TempDir dir;
  ServerProcess srv = ServerProcess::managerd(dir);
  auto connections = [&] {
    auto c = ipc::detail::RespConnection::unix_socket(srv.socket(), 5s);
    auto info = c.call({"INFO", "stats"}, 5s).str;
    auto at = info.find("total_connections_received:");
    REQUIRE(at != std::string::npos);
    return std::stoll(info.substr(at + 27));  // counts this connection too
  };
  auto m = ipc::Manager::connect("unix:" + srv.socket());
  auto d = m.dict<std::string, int>("forked");
  d["parent"] = 1;
  long long before = connections();
  pid_t child = ::fork();  // not ipc::Process: the library sees the fork only through its handlers
  if (child == 0) {
    bool ok = false;
    try {
      d["child"] = 2;
      ok = d.get("parent") == 1;
    } catch (...) {
    }
    ::_exit(ok ? 0 : 1);
  }
  int st = 0;
  REQUIRE(::waitpid(child, &st, 0) == child);
  CHECK(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 0);
  // The child's connection and the second count's own; the parent's socket was not used.
  CHECK(connections() == before + 2);
  d["parent"] += 1;
  CHECK(d.get("parent") == 2);
  CHECK(d.get("child") == 2);
  CHECK(connections() == before + 3);  // the parent still uses its first connection
}

TEST_CASE("an unreachable server is an error naming the address" * doctest::timeout(30)) {
  TempDir dir;
  std::string addr = "unix:" + (dir / "nobody.sock").string();
  try {
    (void)ipc::Manager::connect(addr);
    FAIL("no exception");
  } catch (const ipc::ConnectionClosed& e) {
    CHECK(std::string(e.what()).find(addr) != std::string::npos);
  }
  CHECK_THROWS_AS((void)ipc::Manager::connect("http://x"), ipc::ValueError);
  CHECK_THROWS_AS((void)ipc::Manager::connect("tcp:localhost"), ipc::ValueError);
  CHECK_THROWS_AS((void)ipc::Manager::connect("redis://localhost:99999"), ipc::ValueError);
  // A server that went away and does not come back: bounded retries, then the same error.
  Managerd b;
  ipc::ManagerOptions o;
  o.retries = 3;
  ipc::Manager m = b.manager(o);
  auto d = m.dict<int, int>("d");
  d[1] = 1;
  b.srv.kill9();
  CHECK_THROWS_AS(d.set(1, 2), ipc::ConnectionClosed);
}

TEST_CASE("a redis url's password and database are used on every connection" * doctest::timeout(60)) {
  TempDir dir;
  int port = 0;
  {
    // A free TCP port: bind to 0, read it, close (redis-server binds it next).
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
    socklen_t len = sizeof sa;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
    port = ntohs(sa.sin_port);
    ::close(fd);
  }
  std::string p = std::to_string(port);
  pid_t redis = ::fork();
  REQUIRE(redis >= 0);
  if (redis == 0) {
    ::execl("/usr/bin/redis-server", "redis-server", "--port", p.c_str(), "--bind", "127.0.0.1", "--requirepass",
            "s3cret", "--save", "", "--appendonly", "no", "--dir", dir.path().c_str(), "--logfile",
            (dir / "redis.log").c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  struct Reap {
    pid_t pid;
    ~Reap() {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  } reap{redis};
  auto end = std::chrono::steady_clock::now() + 20s;
  for (;;) {  // until redis-server listens
    try {
      (void)ipc::detail::RespConnection::tcp("127.0.0.1", port, 1s);
      break;
    } catch (const std::system_error&) {
      REQUIRE(std::chrono::steady_clock::now() < end);
      std::this_thread::sleep_for(10ms);
    }
  }
  auto m = ipc::Manager::connect("redis://:s3cret@127.0.0.1:" + p + "/3");
  m.dict<std::string, int>("d")["a"] = 5;
  ipc::Process child([m] { return m.dict<std::string, int>("d").get("a") == 5 ? 0 : 1; });
  child.start();
  REQUIRE(child.join(10s));
  CHECK(child.exitcode() == 0);  // the child's own connection authenticated and selected db 3
  auto c = ipc::detail::RespConnection::tcp("127.0.0.1", port, 5s);
  CHECK(c.call({"AUTH", "s3cret"}, 5s).str == "OK");
  CHECK(c.call({"HGET", "d", "a"}, 5s).type == ipc::detail::Reply::Type::nil);  // not in db 0
  CHECK(c.call({"SELECT", "3"}, 5s).str == "OK");
  CHECK(c.call({"HGET", "d", "a"}, 5s).str == "5");
  CHECK_THROWS_AS((void)ipc::Manager::connect("redis://:wrong@127.0.0.1:" + p), ipc::ManagerError);
  // tcp:host:port with the password given apart: the same server, database 0.
  auto t = ipc::Manager::connect("tcp:127.0.0.1:" + p, "s3cret");
  CHECK(t.dict<std::string, int>("d").get("a") == std::nullopt);
  t.dict<std::string, int>("d")["a"] = 7;
  CHECK(c.call({"HGET", "d", "a"}, 5s).str == "5");  // c is on database 3
}

TEST_CASE("a slot migrating between cluster nodes is followed through ASK and MOVED" * doctest::timeout(90)) {
  TempDir dir;
  RedisCluster cluster(dir);
  auto m = ipc::Manager::connect(cluster.address());
  auto d = m.dict<std::string, int>("moving");
  d["a"] = 1;
  std::string slot = std::to_string(ipc::detail::key_slot("moving"));
  // Which node holds the slot (the others answer MOVED), and every node's id.
  std::vector<ipc::detail::RespConnection> nodes;
  std::vector<std::string> ids;
  int owner = -1;
  for (std::size_t i = 0; i < cluster.ports().size(); ++i) {
    nodes.push_back(ipc::detail::RespConnection::tcp("127.0.0.1", cluster.ports()[i], 5s));
    ids.push_back(nodes.back().call({"CLUSTER", "MYID"}, 5s).str);
    if (nodes.back().call({"HGET", "moving", "a"}, 5s).str == "1") owner = static_cast<int>(i);
  }
  REQUIRE(owner >= 0);
  auto& from = nodes[static_cast<std::size_t>(owner)];
  std::size_t to_i = (static_cast<std::size_t>(owner) + 1) % nodes.size();
  auto& to = nodes[to_i];
  REQUIRE(to.call({"CLUSTER", "SETSLOT", slot, "IMPORTING", ids[static_cast<std::size_t>(owner)]}, 5s).str == "OK");
  REQUIRE(from.call({"CLUSTER", "SETSLOT", slot, "MIGRATING", ids[to_i]}, 5s).str == "OK");
  // A new key of the migrating slot: the old owner answers ASK, the proxy asks the new one.
  auto fresh = m.dict<std::string, int>("{moving}fresh");
  fresh["b"] = 2;
  CHECK(fresh.get("b") == 2);
  to.call({"ASKING"}, 5s);
  CHECK(to.call({"HGET", "{moving}fresh", "b"}, 5s).str == "2");  // it really lives on the new node
  // Move the old key and hand the slot over: the proxy's slot map is stale and gets MOVED.
  auto mig = from.call({"MIGRATE", "127.0.0.1", std::to_string(cluster.ports()[to_i]), "moving", "0", "5000"}, 10s);
  REQUIRE(mig.str == "OK");
  for (auto& n : nodes) REQUIRE(n.call({"CLUSTER", "SETSLOT", slot, "NODE", ids[to_i]}, 5s).str == "OK");
  CHECK(d.get("a") == 1);
  d["a"] += 1;
  CHECK(d.get("a") == 2);
  CHECK(to.call({"HGET", "moving", "a"}, 5s).str == "2");
}

TEST_CASE("key slots match Redis Cluster's CLUSTER KEYSLOT" * doctest::timeout(60)) {
  TempDir dir;
  RedisCluster cluster(dir);
  auto c = ipc::detail::RespConnection::tcp("127.0.0.1", cluster.ports()[0], 5s);
  for (std::string key : {"foo", "bar", "{user1000}.following", "{user1000}.followers", "a{}b", "{}x", "x{y}z{w}",
                          "{tag", "plain-name", "{scores}:lock"}) {
    auto r = c.call({"CLUSTER", "KEYSLOT", key}, 5s);
    CHECK_MESSAGE(ipc::detail::key_slot(key) == r.integer, key);
  }
  CHECK(ipc::detail::key_slot("scores") == ipc::detail::key_slot(ipc::detail::aux_key("scores", "lock")));
  CHECK(ipc::detail::aux_key("a{t}b", "lock") == "a{t}b:lock");
}

}  // TEST_SUITE
