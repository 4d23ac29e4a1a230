// Manager proxies and handles as Pool / ProcessPoolExecutor arguments and results and as
// ipc::Queue items, on the private server and on a real redis-server.
#include <ipc/executor.hpp>
#include <ipc/managers.hpp>
#include <ipc/pool.hpp>
#include <ipc/process.hpp>
#include <ipc/queues.hpp>

#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <numeric>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "manager_backends.hpp"
#include "managerd_support.hpp"

using namespace std::chrono_literals;
using ipc::test::PrivateServer;
using ipc::test::RedisServer;

namespace {

using Dict = ipc::DictProxy<std::string, long>;
using List = ipc::ListProxy<int>;
using Counter = ipc::ValueProxy<long>;

static_assert(ipc::Serializable<Dict> && ipc::Serializable<List> && ipc::Serializable<Counter>);
static_assert(ipc::Serializable<ipc::NamespaceProxy> && ipc::Serializable<ipc::QueueProxy<int>> &&
              ipc::Serializable<ipc::JoinableQueueProxy<int>> && ipc::Serializable<ipc::LockProxy> &&
              ipc::Serializable<ipc::EventProxy> && ipc::Serializable<ipc::ManagerHandle>);
// A Manager is not: making one (as deserialising does) would start a server.
static_assert(!ipc::Serializable<ipc::Manager>);

// One task of the map: updates all three proxies and returns a value computed from i.
long update_all(const std::tuple<Dict, List, Counter, int>& t) {
  const auto& [d, l, v, i] = t;
  d["hits"] += 1;
  d.incr("sum", i);
  l.append(i);
  v.incr(i);
  return 2L * i;
}

// Python's `pool.map(f, [(d, i) for i in range(n)])` with f doing `d[i] = i * i`.
int square_into(const std::pair<ipc::DictProxy<int, int>, int>& item) {
  item.first[item.second] = item.second * item.second;
  return static_cast<int>(::getpid());
}

// A read-modify-write that only the lock makes safe.
int locked_increments(ipc::LockProxy lock, Counter v, int times) {
  for (int k = 0; k < times; ++k) {
    std::lock_guard g(lock);
    v.value(v.value() + 1);
  }
  return times;
}

// Makes a proxy in the worker and hands it back as the result.
Dict make_dict(ipc::ManagerHandle h, int i) {
  auto d = h.dict<std::string, long>("made-" + std::to_string(i));
  d["i"] = i;
  d["pid"] = ::getpid();
  return d;
}

long read_hits(Dict d) { return d.get("hits", -1); }

}  // namespace

TYPE_TO_STRING(PrivateServer);
TYPE_TO_STRING(RedisServer);

#define IPCKIT_POOL_BACKENDS PrivateServer, RedisServer

TEST_SUITE("Manager proxies in pools") {

TEST_CASE_TEMPLATE("Pool map tasks update dict list and value proxies to exact totals" * doctest::timeout(120), B,
                   IPCKIT_POOL_BACKENDS) {
  B b;
  ipc::Manager m = b.manager();
  auto d = m.dict<std::string, long>("totals");
  auto l = m.list<int>("log");
  auto v = m.Value("counter", 0L);
  constexpr int kN = 300;
  std::vector<std::tuple<Dict, List, Counter, int>> items;
  for (int i = 0; i < kN; ++i) items.emplace_back(d, l, v, i);
  ipc::test::RespClient admin(m.address().substr(5));  // both servers listen on a Unix socket
  auto connections = [&] { return std::stoll(ipc::test::info_field(admin, "stats", "total_connections_received")); };
  long long before = connections();
  std::vector<long> results;
  {
    ipc::Pool pool(4);
    results = pool.map(update_all, items, 7);
  }
  // One connection per worker process (kept from task to task), not one per task or proxy.
  CHECK(connections() - before <= 4);
  REQUIRE(results.size() == kN);
  for (int i = 0; i < kN; ++i) CHECK(results[static_cast<std::size_t>(i)] == 2L * i);
  CHECK(d.get("hits") == kN);
  CHECK(d.get("sum") == kN * (kN - 1) / 2);
  CHECK(v.value() == kN * (kN - 1) / 2);
  auto got = l.to_vector();
  std::sort(got.begin(), got.end());
  std::vector<int> want(kN);
  std::iota(want.begin(), want.end(), 0);
  CHECK(got == want);
}

TEST_CASE_TEMPLATE("the Python idiom pool map f over pairs of a manager dict and i" * doctest::timeout(120), B,
                   IPCKIT_POOL_BACKENDS) {
  B b;
  ipc::Manager m = b.manager();
  auto d = m.dict<int, int>("squares");
  std::vector<std::pair<ipc::DictProxy<int, int>, int>> items;
  for (int i = 0; i < 50; ++i) items.emplace_back(d, i);
  ipc::Pool pool(3);
  auto pids = pool.map(square_into, items);
  std::set<int> distinct(pids.begin(), pids.end());
  CHECK_FALSE(distinct.count(static_cast<int>(::getpid())));  // run in workers, not here
  std::map<int, int> want;
  for (int i = 0; i < 50; ++i) want[i] = i * i;
  CHECK(d.to_map() == want);
}

TEST_CASE_TEMPLATE("ProcessPoolExecutor submit tasks update proxies to exact totals" * doctest::timeout(120), B,
                   IPCKIT_POOL_BACKENDS) {
  B b;
  ipc::Manager m = b.manager();
  auto d = m.dict<std::string, long>("totals");
  auto l = m.list<int>("log");
  auto v = m.Value("counter", 0L);
  constexpr int kN = 60;
  long sum = 0;
  {
    ipc::ProcessPoolExecutor ex(3);
    std::vector<ipc::Future<long>> futs;
    for (int i = 0; i < kN; ++i) futs.push_back(ex.submit(update_all, std::make_tuple(d, l, v, i)));
    for (auto& f : futs) sum += f.result(60s);
  }
  CHECK(sum == kN * (kN - 1));
  CHECK(d.get("hits") == kN);
  CHECK(d.get("sum") == kN * (kN - 1) / 2);
  CHECK(v.value() == kN * (kN - 1) / 2);
  CHECK(l.size() == kN);
  // Proxies as direct arguments too (not inside a tuple).
  ipc::ProcessPoolExecutor ex(2);
  CHECK(ex.submit(read_hits, d).result(60s) == kN);
}

TEST_CASE_TEMPLATE("a proxy made in a task comes back as its result and works in the parent" * doctest::timeout(120),
                   B, IPCKIT_POOL_BACKENDS) {
  B b;
  ipc::Manager m = b.manager();
  ipc::Pool pool(2);
  std::vector<std::pair<ipc::ManagerHandle, int>> args;
  for (int i = 0; i < 6; ++i) args.emplace_back(m.handle(), i);
  auto made = pool.starmap(make_dict, args);
  REQUIRE(made.size() == 6);
  for (int i = 0; i < 6; ++i) {
    auto& d = made[static_cast<std::size_t>(i)];
    CHECK(d.name() == "made-" + std::to_string(i));
    CHECK(d.address() == m.address());
    CHECK(d.get("i") == i);
    CHECK(d.get("pid") != ::getpid());
    d["i"] += 100;  // the parent writes through the returned proxy
    CHECK(m.dict<std::string, long>(d.name()).get("i") == 100 + i);
  }
  // And back again: the returned proxy is a task's argument once more.
  CHECK(pool.apply(read_hits, made[0]) == -1);
}

TEST_CASE_TEMPLATE("proxies and a handle sent through an ipc Queue to a Process" * doctest::timeout(120), B,
                   IPCKIT_POOL_BACKENDS) {
  B b;
  ipc::Manager m = b.manager();
  ipc::Queue<Dict> dicts(4);
  ipc::Queue<ipc::ManagerHandle> handles(4);
  ipc::Queue<ipc::LockProxy> locks(4);
  ipc::Queue<ipc::EventProxy> events(4);
  // The child starts before any proxy exists: it gets them only through the queues.
  ipc::Process child([dicts, handles, locks, events]() mutable {
    Dict d = dicts.get(30s);
    ipc::ManagerHandle h = handles.get(30s);
    ipc::LockProxy lock = locks.get(30s);
    ipc::EventProxy done = events.get(30s);
    for (int i = 0; i < 25; ++i) d["child"] += 1;
    h.list<std::string>("from-child").append("hello");
    {
      std::lock_guard g(lock);
      d["locked"] = 1;
    }
    done.set();
    return 0;
  });
  child.start();
  dicts.put(m.dict<std::string, long>("shared"));
  handles.put(m.handle());
  locks.put(m.Lock("L"));
  events.put(m.Event("done"));
  CHECK(m.Event("done").wait(60s));
  REQUIRE(child.join(60s));
  CHECK(child.exitcode() == 0);
  auto d = m.dict<std::string, long>("shared");
  CHECK(d.get("child") == 25);
  CHECK(d.get("locked") == 1);
  CHECK(m.list<std::string>("from-child").to_vector() == std::vector<std::string>{"hello"});
}

TEST_CASE_TEMPLATE("a lock proxy passed to pool tasks protects a read-modify-write" * doctest::timeout(120), B,
                   IPCKIT_POOL_BACKENDS) {
  B b;
  ipc::Manager m = b.manager();
  auto lock = m.Lock("rmw");
  auto v = m.Value("plain", 0L);  // value(value() + 1): not atomic without the lock
  constexpr int kTasks = 12, kTimes = 15;
  ipc::Pool pool(4);
  std::vector<ipc::AsyncResult<int>> rs;
  for (int t = 0; t < kTasks; ++t) rs.push_back(pool.apply_async(locked_increments, lock, v, kTimes));
  int done = 0;
  for (auto& r : rs) done += r.get(100s);
  CHECK(done == kTasks * kTimes);
  CHECK(v.value() == kTasks * kTimes);
  CHECK_FALSE(lock.held());  // copies do not share a holding
  REQUIRE(lock.acquire(1s));  // and every task released
  lock.release();
}

TEST_CASE("a redis password travels with the proxy and authenticates the worker" * doctest::timeout(60)) {
  RedisServer b;
  ipc::test::RespClient admin(b.srv.socket());
  REQUIRE(ipc::test::text(admin.cmd({"CONFIG", "SET", "requirepass", "s3cret"})) == "OK");
  auto m = ipc::Manager::connect(b.address(), "s3cret");
  auto d = m.dict<std::string, long>("authed");
  ipc::Pool pool(2);
  std::vector<std::tuple<Dict, List, Counter, int>> items;
  for (int i = 0; i < 10; ++i) items.emplace_back(d, m.list<int>("l"), m.Value("v", 0L), i);
  pool.map(update_all, items);
  CHECK(d.get("hits") == 10);
  // The blob holds the password (as Python's pickled authkey): keep it among trusted processes.
  auto blob = ipc::encode(d);
  std::string bytes(reinterpret_cast<const char*>(blob.data()), blob.size());
  CHECK(bytes.find("s3cret") != std::string::npos);
}

TEST_CASE("an unbound proxy or handle says so instead of crashing" * doctest::timeout(30)) {
  Dict d;
  CHECK_FALSE(d.bound());
  CHECK_THROWS_AS(d.set("a", 1), ipc::ValueError);
  ipc::ManagerHandle h;
  CHECK_THROWS_AS(h.Namespace("x"), ipc::ValueError);
  ipc::LockProxy l;
  CHECK_THROWS_AS((void)l.acquire(1s), ipc::ValueError);
  // An unbound proxy survives a round trip unbound.
  auto back = ipc::decode<Dict>(ipc::encode(d));
  CHECK_FALSE(back.bound());
}

TEST_CASE("a task using a proxy of a private Manager that is gone gets an error naming the address" *
          doctest::timeout(60)) {
  ipc::Pool pool(1);
  std::string address;
  Dict d;
  {
    ipc::Manager m;
    address = m.address();
    d = m.dict<std::string, long>("d");
    d["hits"] = 1;
    CHECK(pool.apply(read_hits, d) == 1);  // the worker has connected and keeps its connection
  }
  try {
    (void)pool.apply(read_hits, d);
    FAIL("no exception");
  } catch (const ipc::ConnectionClosed& e) {
    CHECK(std::string(e.what()).find(address) != std::string::npos);
    CHECK(std::string(e.what()).find("is gone") != std::string::npos);
  }
  try {
    (void)d.get("hits");  // and in the parent
    FAIL("no exception");
  } catch (const ipc::ConnectionClosed& e) {
    CHECK(std::string(e.what()).find(address) != std::string::npos);
  }
}

}  // TEST_SUITE
