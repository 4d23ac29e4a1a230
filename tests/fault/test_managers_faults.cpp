// Manager and proxies at the worst moments: a private server gone, the server SIGKILLed during a
// call, a lock holder SIGKILLed inside acquire/release, wrong types in the store, awkward names
// (cluster hash tags), a server that accepts but never replies, a Manager made in a forked child.
#include <ipc/managers.hpp>
#include <ipc/process.hpp>
#include <ipc/queues.hpp>

#include <doctest/doctest.h>

#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "child_pipe.hpp"
#include "manager_backends.hpp"
#include "managerd_support.hpp"
#include "fork_warning.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using ipc::test::ChildPipe;
using ipc::test::Managerd;
using ipc::test::PrivateServer;
using ipc::test::RedisClusterBackend;
using ipc::test::RedisServer;
using ipc::test::TempDir;

namespace {

struct Point {
  int x = 0, y = 0;
  template <class A>
  void serialize(A& a) {
    a(x, y);
  }
};

// `fn` must throw ConnectionClosed whose message contains `address`.
void check_names_address(const std::string& what, const std::string& address, const std::function<void()>& fn) {
  INFO(what);
  try {
    fn();
    FAIL("no exception");
  } catch (const ipc::ConnectionClosed& e) {
    CHECK_MESSAGE(std::string(e.what()).find(address) != std::string::npos, e.what());
  }
}

// Waits until `pid` sleeps (blocked in a call) or is gone; false when it never did in 20 s.
bool wait_sleeping(pid_t pid) {
  for (int i = 0; i < 20000; ++i) {
    char s = ipc::test::proc_state(pid);
    if (s == 'S' || s == 0) return true;
    std::this_thread::sleep_for(1ms);
  }
  return false;
}

// A Unix socket that accepts connections (the kernel's backlog) and never reads or replies.
struct StalledServer {
  TempDir dir;
  std::string path = (dir / "stalled.sock").string();
  int fd = -1;
  StalledServer() {
    fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    path.copy(sa.sun_path, sizeof sa.sun_path - 1);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
    REQUIRE(::listen(fd, 64) == 0);
  }
  ~StalledServer() { ::close(fd); }
  std::string address() const { return "unix:" + path; }
};

}  // namespace

TYPE_TO_STRING(PrivateServer);
TYPE_TO_STRING(Managerd);
TYPE_TO_STRING(RedisServer);
TYPE_TO_STRING(RedisClusterBackend);

TEST_SUITE("Manager faults") {

TEST_CASE("every proxy of a private Manager that is gone fails at once naming the address" * doctest::timeout(60)) {
  ipc::ManagerOptions o;
  o.retries = 1000;  // a private server never comes back: retrying would only hang the caller
  o.max_backoff = 5s;
  std::optional<ipc::Manager> m(std::in_place, o);
  std::string address = m->address();
  auto d = m->dict<std::string, int>("d");
  auto l = m->list<int>("l");
  auto v = m->Value("v", 1);
  auto ns = m->Namespace("ns");
  auto q = m->Queue<int>("q");
  auto jq = m->JoinableQueue<int>("jq");
  auto lock = m->Lock("lock");
  auto held = m->Lock("held");
  auto e = m->Event("e");
  auto h = m->handle();
  d["a"] = 1;  // connected
  REQUIRE(held.acquire(5s));
  // A child blocked in a call without a time limit when the server goes.
  ipc::Process blocked([q] { return q.get() == 0 ? 0 : 1; });
  blocked.start();
  REQUIRE(wait_sleeping(blocked.pid()));
  m.reset();
  check_names_address("dict", address, [&] { (void)d.get("a"); });
  check_names_address("list", address, [&] { l.append(1); });
  check_names_address("value", address, [&] { (void)v.value(); });
  check_names_address("namespace", address, [&] { ns.set("x", 1); });
  check_names_address("queue get without a limit", address, [&] { (void)q.get(); });
  check_names_address("joinable join without a limit", address, [&] { (void)jq.join(); });
  check_names_address("lock acquire without a limit", address, [&] { (void)lock.acquire(); });
  check_names_address("release of a held lock", address, [&] { held.release(); });
  check_names_address("event wait without a limit", address, [&] { (void)e.wait(); });
  check_names_address("handle", address, [&] { (void)h.ping(); });
  REQUIRE(blocked.join(30s));
  CHECK(blocked.exitcode() == 1);  // the child's get threw (uncaught: exit code 1), not hung
}

TEST_CASE_TEMPLATE("the server SIGKILLed during a blocking get is an error naming the address" * doctest::timeout(90),
                   B, Managerd, RedisServer) {
  B b;
  ipc::ManagerOptions o;
  o.retries = 3;
  ipc::Manager m = b.manager(o);
  auto q = m.Queue<int>("q");
  ChildPipe pipe;
  ipc::Process waiter([&pipe, q, addr = b.address()] {
    try {
      (void)q.get();  // no limit: in BLPOP on the server when it dies
      pipe.put("got an item");
    } catch (const ipc::ConnectionClosed& e) {
      pipe.put(std::string(e.what()).find(addr) != std::string::npos ? "closed, named" : "closed, unnamed");
    } catch (const std::exception& e) {
      pipe.put(std::string("other: ") + e.what());
    }
    return 0;
  });
  waiter.start();
  REQUIRE(wait_sleeping(waiter.pid()));
  // The waiter's BLPOP is on the server: CLIENT LIST shows a client blocked in blpop.
  ipc::test::RespClient admin(b.address().substr(5));
  for (int i = 0; i < 2000 && ipc::test::text(admin.cmd({"CLIENT", "LIST"})).find("cmd=blpop") == std::string::npos; ++i)
    std::this_thread::sleep_for(5ms);
  REQUIRE(ipc::test::text(admin.cmd({"CLIENT", "LIST"})).find("cmd=blpop") != std::string::npos);
  b.srv.kill9();
  CHECK(pipe.line(60000) == "closed, named");
  REQUIRE(waiter.join(30s));
}

TEST_CASE("ipc-managerd SIGKILLed while a call is in flight and restarted: the call completes" *
          doctest::timeout(90)) {
  TempDir dir;
  std::vector<std::string> opts = {"--appendonly", (dir / "aof").string(), "--appendfsync", "always"};
  std::optional<ipc::test::ServerProcess> srv(ipc::test::ServerProcess::managerd(dir, opts));
  ipc::ManagerOptions o;
  o.retries = 30;
  auto m = ipc::Manager::connect("unix:" + srv->socket(), {}, o);
  auto d = m.dict<std::string, int>("d");
  d["a"] = 1;
  ChildPipe pipe;
  ipc::Process caller([&pipe, d] {
    pipe.put("calling");
    pipe.put(std::to_string(d.get("a", -1)));  // sent to a stopped server: in flight when it dies
  });
  ::kill(srv->pid(), SIGSTOP);
  caller.start();
  REQUIRE(pipe.line() == "calling");
  REQUIRE(wait_sleeping(caller.pid()));
  srv->kill9();
  srv.reset();
  srv.emplace(ipc::test::ServerProcess::managerd(dir, opts));
  CHECK(pipe.line(60000) == "1");
  REQUIRE(caller.join(30s));
  CHECK(caller.exitcode() == 0);
}

TEST_CASE("a timed queue get across a server restart waits only what is left of its timeout" *
          doctest::timeout(90)) {
  TempDir dir;
  std::optional<ipc::test::ServerProcess> srv(ipc::test::ServerProcess::managerd(dir));
  ipc::ManagerOptions o;
  o.retries = 30;
  auto m = ipc::Manager::connect("unix:" + srv->socket(), {}, o);
  auto q = m.Queue<int>("q");
  ChildPipe pipe;
  ipc::Process waiter([&pipe, q] {
    try {
      auto v = q.try_get(4s);
      pipe.put(v ? "item" : "empty");
    } catch (const std::exception& e) {
      pipe.put(std::string("error: ") + e.what());
    }
  });
  waiter.start();
  ipc::test::RespClient admin(srv->socket());
  for (int i = 0; i < 2000 && ipc::test::text(admin.cmd({"CLIENT", "LIST"})).find("cmd=blpop") == std::string::npos; ++i)
    std::this_thread::sleep_for(5ms);
  REQUIRE(ipc::test::text(admin.cmd({"CLIENT", "LIST"})).find("cmd=blpop") != std::string::npos);
  // The scenario: the server dies 1.5 s into the 4 s wait and comes back. A get that sent its
  // whole 4 s again would still be waiting past the end of its own timeout (then a TimeoutError
  // from the socket); it must send only the time left and report an empty queue.
  std::this_thread::sleep_for(1500ms);
  srv->kill9();
  srv.reset();
  srv.emplace(ipc::test::ServerProcess::managerd(dir));
  CHECK(pipe.line(60000) == "empty");
  REQUIRE(waiter.join(30s));
}

TEST_CASE("ipc-managerd SIGKILLed between an update's WATCH and EXEC: the update runs again on fresh data" *
          doctest::timeout(90)) {
  TempDir dir;
  std::vector<std::string> opts = {"--appendonly", (dir / "aof").string(), "--appendfsync", "always"};
  std::optional<ipc::test::ServerProcess> srv(ipc::test::ServerProcess::managerd(dir, opts));
  ipc::ManagerOptions o;
  o.retries = 30;
  auto m = ipc::Manager::connect("unix:" + srv->socket(), {}, o);
  auto d = m.dict<std::string, int>("d");
  d["n"] = 5;
  int calls = 0;
  int result = d.update_with("n", [&](std::optional<int> v) {
    if (++calls == 1) {
      // Inside the transaction: the server dies, comes back, and another client writes.
      srv->kill9();
      srv.reset();
      srv.emplace(ipc::test::ServerProcess::managerd(dir, opts));
      ipc::Manager::connect("unix:" + srv->socket()).dict<std::string, int>("d")["n"] = 100;
    }
    return v.value_or(0) + 1;
  });
  // The WATCH died with the connection: the EXEC must not be re-sent without it (that would
  // overwrite 100 with 6); the update runs again and sees 100.
  CHECK(calls == 2);
  CHECK(result == 101);
  CHECK(d.get("n") == 101);
}

TEST_CASE_TEMPLATE("a lock holder SIGKILLed inside acquire or release leaves the lock recoverable" *
                       doctest::timeout(120),
                   B, Managerd, RedisServer) {
  B b;
  ipc::ManagerOptions o;
  o.lease = 600ms;
  ipc::Manager m = b.manager(o);
  for (const char* where : {"acquire", "release"}) {
    CAPTURE(where);
    std::string name = std::string("L-") + where;
    ChildPipe pipe, go;
    bool in_release = std::string(where) == "release";
    ipc::Process holder([&pipe, &go, m, name, in_release] {
      auto lock = m.Lock(name);
      if (in_release) {
        if (!lock.acquire(10s)) return 3;
        pipe.put("held");
        (void)go.line(30000);  // until told the server is stopped
      }
      pipe.put("calling");
      if (in_release) lock.release();
      else (void)lock.acquire(30s);
      return 0;
    });
    holder.start();
    if (in_release) REQUIRE(pipe.line() == "held");
    ::kill(b.srv.pid(), SIGSTOP);
    if (in_release) go.put("go");
    REQUIRE(pipe.line() == "calling");
    REQUIRE(wait_sleeping(holder.pid()));
    holder.kill();
    REQUIRE(holder.join(10s));
    ::kill(b.srv.pid(), SIGCONT);
    auto lock = m.Lock(name);
    REQUIRE(lock.acquire(20s));  // free at once, or once the dead holder's lease ran out
    // Still a lock: nobody else gets it while it is held.
    ipc::Process other([m, name] { return m.Lock(name).acquire(300ms) ? 1 : 0; });
    other.start();
    REQUIRE(other.join(30s));
    CHECK(other.exitcode() == 0);
    lock.release();
  }
}

TEST_CASE_TEMPLATE("values of the wrong type in the store are errors naming the key" * doctest::timeout(60), B,
                   PrivateServer, RedisServer) {
  B b;
  ipc::Manager m = b.manager();
  auto text = m.dict<std::string, std::string>("raw");
  text["n"] = "12x";
  auto expect_named = [](const std::string& what, const std::string& key, const std::function<void()>& fn) {
    INFO(what);
    try {
      fn();
      FAIL("no exception");
    } catch (const ipc::WrongTypeError& e) {
      CHECK_MESSAGE(std::string(e.what()).find(key) != std::string::npos, e.what());
    } catch (const ipc::ManagerError& e) {
      CHECK_MESSAGE(std::string(e.what()).find(key) != std::string::npos, e.what());
    }
  };
  expect_named("dict of int", "'raw'", [&] { (void)m.dict<std::string, int>("raw").get("n"); });
  expect_named("dict of blobs", "'raw'", [&] { (void)m.dict<std::string, Point>("raw").get("n"); });
  expect_named("dict keys", "'raw'", [&] { (void)m.dict<int, std::string>("raw").keys(); });
  m.list<std::string>("words").extend({"1", "two"});
  expect_named("list of int", "'words'", [&] { (void)m.list<int>("words").to_vector(); });
  expect_named("list pop", "'words'", [&] { (void)m.list<int>("words").pop(); });
  m.Value<std::string>("s", "abc");
  expect_named("value of double", "'s'", [&] { (void)m.Value("s", 0.0).value(); });
  expect_named("value incr", "'s'", [&] { (void)m.Value("s", 0L).incr(); });
  expect_named("value on a hash", "'raw'", [&] { (void)m.Value("raw", 0).value(); });
  m.Queue<std::string>("q").put("not a number");
  expect_named("queue item", "'q'", [&] { (void)m.Queue<int>("q").get(1s); });
  auto ns = m.Namespace("ns");
  ns.set("p", std::string("plain"));
  expect_named("namespace blob", "'ns'", [&] { (void)ns.get<Point>("p"); });
  // A joinable queue's count that is not a number: join() must not say "all done".
  auto jq = m.JoinableQueue<int>("jq");
  m.Value<std::string>("{jq}:unfinished", "garbage");
  expect_named("joinable join", "jq", [&] { (void)jq.join(1s); });
  expect_named("joinable task_done", "jq", [&] { jq.task_done(); });
  // A lock whose lease or owner key holds another type: named at once, not a wait for a lease
  // that never expires, and never left held.
  m.list<int>("{L1}:lock").append(1);
  auto l1 = m.Lock("L1");
  expect_named("lock lease", "L1", [&] { (void)l1.acquire(1s); });
  CHECK_FALSE(l1.held());
  m.list<int>("{L2}:owner").append(1);
  auto l2 = m.Lock("L2");
  expect_named("lock owner", "L2", [&] { (void)l2.acquire(1s); });
  CHECK_FALSE(l2.held());
  // The failed acquire left no lease behind: once the owner key is fixed, the lock is free.
  m.list<int>("{L2}:owner").clear();
  auto other = m.Lock("L2");
  CHECK(other.acquire(0s));
  other.release();
}

TEST_CASE_TEMPLATE("names with braces colons spaces and NUL work for every object" * doctest::timeout(120), B,
                   PrivateServer, RedisServer, RedisClusterBackend) {
  B b;
  ipc::Manager m = b.manager();
  const std::vector<std::string> names = {"a}b",      "{}x",        "{}{a}",   "x{",       "}{t}",  "a{b}c",
                                          "with space", "co:lon:s", std::string("nul\0in", 6), "{t}", "{", "}"};
  for (const auto& n : names) {
    CAPTURE(n);
    auto d = m.dict<std::string, int>(n);
    d["k"] += 2;
    CHECK(d.get("k") == 2);
    auto l = m.list<int>(n + "-list");
    l.extend({1, 2, 3});
    CHECK(l.pop(1) == 2);
    auto v = m.Value(n + "-v", 5);
    CHECK(v.update_with([](std::optional<int> x) { return x.value_or(0) + 1; }) == 6);
    auto jq = m.JoinableQueue<int>(n + "-jq");
    jq.put(7);
    CHECK(jq.get(5s) == 7);
    jq.task_done();
    CHECK(jq.join(5s));
    auto e = m.Event(n);
    e.set();
    CHECK(e.wait(5s));
    auto lock = m.Lock(n);
    REQUIRE(lock.acquire(5s));
    CHECK_FALSE(m.Lock(n).acquire(50ms));
    lock.release();
    // The object's helper keys hash to the object's slot (one node for its transactions).
    CHECK(ipc::detail::key_slot(ipc::detail::aux_key(n, "lock")) == ipc::detail::key_slot(n));
  }
}

TEST_CASE("a server that accepts but never replies: every blocking call honours its timeout" * doctest::timeout(60)) {
  StalledServer stalled;
  ipc::ManagerOptions o;
  o.timeout = 200ms;
  o.retries = 2;
  // connect() pings: it times out, naming the address.
  try {
    (void)ipc::Manager::connect(stalled.address(), {}, o);
    FAIL("no exception");
  } catch (const ipc::TimeoutError& e) {
    CHECK(std::string(e.what()).find(stalled.address()) != std::string::npos);
  }
  // Proxies of a server that answered once and then stalled: a call's own timeout (shorter or
  // longer than the options') bounds it. The options' limit is long here: a call that ignored
  // its own timeout would hold the test well past its 60 s limit.
  TempDir dir;
  ipc::test::ServerProcess srv = ipc::test::ServerProcess::managerd(dir);
  ipc::ManagerOptions slow;
  slow.timeout = 120s;
  auto m = ipc::Manager::connect("unix:" + srv.socket(), {}, slow);
  auto q = m.Queue<int>("q");
  auto jq = m.JoinableQueue<int>("jq");
  auto lock = m.Lock("L");
  auto e = m.Event("e");
  jq.put(1);  // unfinished: join() waits
  REQUIRE(m.ping());
  ::kill(srv.pid(), SIGSTOP);  // accepts (the backlog) and never replies
  CHECK_THROWS_AS((void)q.get(100ms), ipc::TimeoutError);
  CHECK_THROWS_AS((void)q.try_get(100ms), ipc::TimeoutError);
  CHECK_THROWS_AS((void)jq.join(100ms), ipc::TimeoutError);
  CHECK_THROWS_AS((void)lock.acquire(100ms), ipc::TimeoutError);
  CHECK_THROWS_AS((void)e.wait(100ms), ipc::TimeoutError);
  ::kill(srv.pid(), SIGCONT);
  // After a timeout the connection is dropped (a late reply must not answer the next call).
  CHECK(m.ping());
  CHECK(q.try_get(0s) == std::nullopt);
}

TEST_CASE("a Manager made in a forked child of a process holding another Manager" * doctest::timeout(90)) {
  ipc::Manager outer;
  auto od = outer.dict<std::string, int>("outer");
  od["x"] = 1;
  ipc::Queue<ipc::DictProxy<std::string, int>> back(2);
  ChildPipe pipe, go;
  ipc::Process child([&pipe, &go, outer, od, back]() mutable {
    ipc::Manager inner;  // a private server of the child's own
    if (inner.address() == outer.address()) return 2;
    auto id = inner.dict<std::string, int>("inner");
    id["y"] = 2;
    od["x"] += 10;  // the parent's server, through the child's own connection
    back.put(id);
    pipe.put(std::to_string(inner.server_pid()) + " " + inner.address().substr(5));
    (void)go.line(30000);  // until the parent has used the inner proxy
    return 0;
  });
  child.start();
  auto id = back.get(30s);
  std::string line = pipe.line(30000);
  auto sp = line.find(' ');
  REQUIRE(sp != std::string::npos);
  pid_t inner_server = std::stoi(line.substr(0, sp));
  std::filesystem::path sock = line.substr(sp + 1);
  CHECK(id.get("y") == 2);  // the child's server, used from the parent
  id["y"] += 1;
  CHECK(od.get("x") == 11);
  go.put("done");
  REQUIRE(child.join(30s));
  CHECK(child.exitcode() == 0);
  // The child's Manager stopped its server (reaped by the child) and removed its directory.
  CHECK(::kill(inner_server, 0) == -1);
  CHECK_FALSE(std::filesystem::exists(sock.parent_path()));
  try {
    (void)id.get("y");
    FAIL("no exception");
  } catch (const ipc::ConnectionClosed& e) {
    CHECK(std::string(e.what()).find(sock.string()) != std::string::npos);
  }
  // The parent's Manager is unaffected.
  CHECK(outer.ping());
  CHECK(od.get("x") == 11);
}

TEST_CASE("a process started right after a lock is taken is not warned about the lock's thread" *
          doctest::timeout(90)) {
  // The lease renewer thread starts inside acquire(): it must count as ipckit's own from the
  // moment it exists, not from when it first runs, or a fork right after acquire() warns.
  std::string out = ipc::test::stderr_of_child([&] {
    ipc::Manager m;
    auto lock = m.Lock("L");
    for (int i = 0; i < 20; ++i) {
      if (!lock.acquire(10s)) return 2;
      ipc::Process child{[] { return 0; }};
      child.start();
      if (!child.join(30s) || *child.exitcode() != 0) return 3;
      lock.release();
    }
    return 0;
  }, 60s);
  CHECK(ipc::test::fork_warnings(out) == 0);
}

}  // TEST_SUITE
