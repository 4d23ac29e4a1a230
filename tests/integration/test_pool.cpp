// Pool: apply, map, imap, starmap, exceptions across the boundary, callbacks, initializer,
// maxtasksperchild, cancel, 16 MiB arguments and results, pools in a child process.
#include <doctest/doctest.h>

#include <ipc/pool.hpp>
#include <ipc/process.hpp>

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <numeric>
#include <set>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <tuple>
#include <vector>

#include "child_pipe.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;

namespace {

int square(int x) { return x * x; }
int add(int a, int b) { return a + b; }
pid_t worker_pid() { return ::getpid(); }
pid_t worker_pid_of(int) { return ::getpid(); }
std::string repeat(char c, std::size_t n) { return std::string(n, c); }
std::size_t length_of(std::string s) { return s.size(); }

struct MyError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

int throw_invalid(int) { throw std::invalid_argument("bad argument 7"); }
int throw_value_error() { throw ipc::ValueError("ipckit value error"); }
int throw_custom() { throw MyError("custom failure"); }
int throw_int() { throw 42; }
int throw_system() { throw std::system_error(ENOENT, std::generic_category(), "open(/nowhere)"); }
int fail_on_13(int x) {
  if (x == 13) throw std::out_of_range("13 is unlucky");
  return x;
}

/// Sleeps `ms` and returns it.
int sleep_ms(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}

/// Tells the test its pid through `fd`, then sleeps `ms`.
int report_then_sleep(int fd, int ms) {
  std::string line = std::to_string(::getpid()) + "\n";
  [[maybe_unused]] auto n = ::write(fd, line.data(), line.size());
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return 1;
}

/// A functor with state: its state travels with each task through cereal.
struct Scale {
  int k = 0;
  int operator()(int x) const { return k * x; }
  template <class Archive>
  void serialize(Archive& ar) {
    ar(k);
  }
};

// Set by the initializer in each worker; read back by a task (global by design: that is what an
// initializer is for).
int g_initialized = 0;
int read_initialized() { return g_initialized; }

/// Processes whose parent is this process, from /proc (zombies included).
std::vector<pid_t> children_of_self() {
  std::vector<pid_t> out;
  DIR* d = ::opendir("/proc");
  if (!d) return out;
  while (auto* e = ::readdir(d)) {
    pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
    if (pid > 0 && ipc::test::proc_ppid(pid) == ::getpid()) out.push_back(pid);
  }
  ::closedir(d);
  return out;
}

}  // namespace

TEST_SUITE("Pool") {

TEST_CASE("apply and apply_async return the task's result" * doctest::timeout(30)) {
  ipc::Pool pool(2);
  CHECK(pool.processes() == 2);
  CHECK(pool.apply(square, 7) == 49);
  CHECK(pool.apply(add, 2, 40) == 42);
  auto r = pool.apply_async(square, 9);
  CHECK(r.get(10s) == 81);
  CHECK(r.ready());
  CHECK(r.successful());
  CHECK(pool.apply([](int a) { return a + 1; }, 1) == 2);  // a captureless lambda
  CHECK(pool.apply(length_of, repeat('x', 1000)) == 1000);
  auto pid = pool.apply(worker_pid);
  CHECK(pid != ::getpid());
  auto pids = pool.worker_pids();
  CHECK(std::find(pids.begin(), pids.end(), pid) != pids.end());
}

TEST_CASE("apply_async returns at once and get with a timeout throws TimeoutError" * doctest::timeout(30)) {
  ipc::Pool pool(1);
  auto r = pool.apply_async(sleep_ms, 400);
  CHECK_FALSE(r.ready());
  CHECK_THROWS_AS(r.get(1ms), ipc::TimeoutError);
  CHECK_THROWS_AS((void)r.successful(), ipc::ValueError);
  CHECK(r.get(20s) == 400);
}

TEST_CASE("callbacks run in the parent before get returns" * doctest::timeout(30)) {
  ipc::Pool pool(2);
  std::atomic<int> got{0};
  std::atomic<pid_t> where{0};
  std::string error_text;
  auto r = pool.apply_async({.callback = [&](const int& v) { got = v; where = ::getpid(); }}, square, 5);
  CHECK(r.get(10s) == 25);
  CHECK(got == 25);
  CHECK(where == ::getpid());
  auto e = pool.apply_async({.error_callback = [&](const std::exception& ex) { error_text = ex.what(); }}, throw_invalid, 1);
  CHECK(e.wait(10s));
  CHECK_FALSE(e.successful());
  CHECK(error_text == "bad argument 7");
}

TEST_CASE("map keeps input order with any chunksize" * doctest::timeout(60)) {
  ipc::Pool pool(3);
  std::vector<int> in(1000);
  std::iota(in.begin(), in.end(), 0);
  std::vector<int> want;
  for (int x : in) want.push_back(x * x);
  CHECK(pool.map(square, in, 1) == want);
  CHECK(pool.map(square, in, 7) == want);
  CHECK(pool.map(square, in) == want);
  CHECK(pool.map(square, in, 5000) == want);
  CHECK(pool.map(square, std::vector<int>{}).empty());
  auto async = pool.map_async(square, in, 10);
  CHECK(async.get(30s) == want);
}

TEST_CASE("starmap applies each tuple" * doctest::timeout(30)) {
  ipc::Pool pool(2);
  std::vector<std::tuple<int, int>> in{{1, 2}, {3, 4}, {10, 20}};
  CHECK(pool.starmap(add, in) == std::vector<int>{3, 7, 30});
  CHECK(pool.starmap_async(add, in, 1).get(10s) == std::vector<int>{3, 7, 30});
}

TEST_CASE("imap streams results in order and imap_unordered yields each result once" * doctest::timeout(60)) {
  ipc::Pool pool(3);
  std::vector<int> in(200);
  std::iota(in.begin(), in.end(), 0);
  std::vector<int> ordered;
  for (int v : pool.imap(square, in, 3)) ordered.push_back(v);
  std::vector<int> want;
  for (int x : in) want.push_back(x * x);
  CHECK(ordered == want);

  std::vector<int> unordered;
  auto it = pool.imap_unordered(square, in);
  while (auto v = it.next(10s)) unordered.push_back(*v);
  CHECK(unordered.size() == in.size());
  std::sort(unordered.begin(), unordered.end());
  CHECK(unordered == want);
}

TEST_CASE("imap raises a failed item's exception at its place and goes on" * doctest::timeout(30)) {
  ipc::Pool pool(2);
  std::vector<int> in{11, 12, 13, 14};
  auto it = pool.imap(fail_on_13, in);
  CHECK(*it.next(10s) == 11);
  CHECK(*it.next(10s) == 12);
  CHECK_THROWS_AS(it.next(10s), std::out_of_range);
  CHECK(*it.next(10s) == 14);
  CHECK_FALSE(it.next(10s).has_value());
}

TEST_CASE("exceptions keep their type and message across the boundary" * doctest::timeout(30)) {
  ipc::Pool pool(2);
  SUBCASE("standard type") {
    try {
      pool.apply(throw_invalid, 1);
      FAIL("no exception");
    } catch (const std::invalid_argument& e) {
      CHECK(std::string(e.what()) == "bad argument 7");
    }
  }
  SUBCASE("ipckit type") { CHECK_THROWS_WITH_AS(pool.apply(throw_value_error), "ipckit value error", ipc::ValueError); }
  SUBCASE("system_error keeps its code") {
    try {
      pool.apply(throw_system);
      FAIL("no exception");
    } catch (const std::system_error& e) {
      CHECK(e.code() == std::errc::no_such_file_or_directory);
      CHECK(std::string(e.what()).find("open(/nowhere)") == 0);
    }
  }
  SUBCASE("other types become RemoteError with the type name") {
    try {
      pool.apply(throw_custom);
      FAIL("no exception");
    } catch (const ipc::RemoteError& e) {
      CHECK(e.type_name().find("MyError") != std::string::npos);
      CHECK(e.message() == "custom failure");
    }
    try {
      pool.apply(throw_int);
      FAIL("no exception");
    } catch (const ipc::RemoteError& e) {
      CHECK(e.type_name() == "int");
    }
  }
  SUBCASE("map throws the failed item's exception") {
    std::vector<int> in{1, 2, 13, 4};
    CHECK_THROWS_WITH_AS(pool.map(fail_on_13, in, 1), "13 is unlucky", std::out_of_range);
  }
  CHECK(pool.apply(square, 3) == 9);  // the pool goes on
}

TEST_CASE("16 MiB arguments and results cross the boundary" * doctest::timeout(60)) {
  ipc::Pool pool(2);
  constexpr std::size_t kSize = 16u << 20;
  CHECK(pool.apply(length_of, repeat('a', kSize)) == kSize);
  auto big = pool.apply(repeat, 'b', kSize + 3);
  CHECK(big.size() == kSize + 3);
  CHECK(big.find_first_not_of('b') == std::string::npos);
  // Several at once, both ways, while small tasks flow too.
  auto r1 = pool.apply_async(repeat, 'c', kSize);
  auto r2 = pool.apply_async(length_of, repeat('d', kSize));
  std::vector<int> in(100, 3);
  CHECK(pool.map(square, in, 1) == std::vector<int>(100, 9));
  CHECK(r1.get(30s).size() == kSize);
  CHECK(r2.get(30s) == kSize);
}

TEST_CASE("the initializer runs in every worker before its tasks" * doctest::timeout(30)) {
  ipc::Pool pool(2, [] { g_initialized = 77; });
  std::vector<int> in(20, 0);
  auto r = pool.map(worker_pid_of, in, 1);
  CHECK(pool.apply(read_initialized) == 77);
  CHECK(g_initialized == 0);  // not in the parent
}

TEST_CASE("an initializer that throws fails the tasks with its exception" * doctest::timeout(30)) {
  ipc::Pool pool(2, [] { throw std::runtime_error("no database"); });
  CHECK_THROWS_WITH_AS(pool.apply(square, 2), "no database", std::runtime_error);
}

TEST_CASE("maxtasksperchild replaces workers after that many tasks" * doctest::timeout(30)) {
  ipc::Pool pool(1, {}, 2);
  std::vector<pid_t> pids;
  for (int i = 0; i < 6; ++i) pids.push_back(pool.apply(worker_pid));
  CHECK(pids[0] == pids[1]);
  CHECK(pids[2] == pids[3]);
  CHECK(pids[4] == pids[5]);
  CHECK(std::set<pid_t>(pids.begin(), pids.end()).size() == 3);
  // Batched tasks respect the limit too.
  std::vector<int> in(40, 0);
  auto many = pool.map(worker_pid_of, in, 1);
  std::map<pid_t, int> per;
  for (auto p : many) ++per[p];
  for (auto& [p, n] : per) CHECK(n <= 2);
}

TEST_CASE("never more distinct workers than processes and they are reused" * doctest::timeout(30)) {
  ipc::Pool pool(3);
  std::vector<int> in(300, 0);
  auto pids = pool.map(worker_pid_of, in, 1);
  std::set<pid_t> distinct(pids.begin(), pids.end());
  CHECK(distinct.size() <= 3);
  CHECK(distinct.size() >= 1);
}

TEST_CASE("close then join waits for every queued task" * doctest::timeout(30)) {
  ipc::Pool pool(2);
  CHECK_THROWS_AS(pool.join(1ms), ipc::ValueError);
  std::vector<ipc::AsyncResult<int>> rs;
  for (int i = 0; i < 6; ++i) rs.push_back(pool.apply_async(sleep_ms, 50));
  pool.close();
  CHECK_THROWS_AS(pool.apply_async(square, 1), ipc::ValueError);
  CHECK(pool.join(20s));
  for (auto& r : rs) {
    CHECK(r.ready());
    CHECK(r.get() == 50);
  }
  CHECK(pool.worker_pids().empty());
}

TEST_CASE("cancel drops a queued task and stops a running one" * doctest::timeout(30)) {
  ipc::test::ChildPipe pipe;  // before the pool: workers inherit it when forked
  ipc::Pool pool(1);
  auto running = pool.apply_async(report_then_sleep, pipe.w, 20000);
  auto queued = pool.apply_async(square, 4);
  pid_t pid = std::stoi(pipe.line());
  CHECK(queued.cancel());
  CHECK_THROWS_AS(queued.get(10s), ipc::CancelledError);
  CHECK(running.cancel());
  CHECK_THROWS_AS(running.get(10s), ipc::CancelledError);
  CHECK(pool.apply(square, 5) == 25);  // a replacement worker serves
  CHECK(pool.worker_pids() != std::vector<pid_t>{pid});
  auto done = pool.apply_async(square, 6);
  CHECK(done.get(10s) == 36);
  CHECK_FALSE(done.cancel());  // finished: nothing to cancel
}

TEST_CASE("a functor with serialisable state is a task" * doctest::timeout(30)) {
  ipc::Pool pool(2);
  CHECK(pool.apply(Scale{3}, 5) == 15);
  std::vector<int> in{1, 2, 3};
  CHECK(pool.map(Scale{-2}, in, 1) == std::vector<int>{-2, -4, -6});
}

TEST_CASE("cancel of a short task queued behind others leaves the worker alone" * doctest::timeout(30)) {
  ipc::Pool pool(1);
  std::vector<int> warm(2000, 1);
  (void)pool.map(square, warm, 1);  // short tasks: the pool now sends tasks in batches
  pid_t pid = pool.worker_pids().at(0);
  auto slow = pool.apply_async(sleep_ms, 300);
  std::vector<ipc::AsyncResult<int>> quick;
  for (int i = 0; i < 5; ++i) quick.push_back(pool.apply_async(square, i));
  CHECK(quick[3].cancel());
  CHECK_THROWS_AS(quick[3].get(10s), ipc::CancelledError);
  CHECK(slow.get(10s) == 300);
  for (int i : {0, 1, 2, 4}) CHECK(quick[i].get(10s) == i * i);
  CHECK(pool.worker_pids() == std::vector<pid_t>{pid});  // not killed: the task had not started
}

TEST_CASE("cancel of a running task does not fail the tasks queued behind it" * doctest::timeout(30)) {
  ipc::test::ChildPipe pipe;
  ipc::Pool pool(1);
  std::vector<int> warm(2000, 1);
  (void)pool.map(square, warm, 1);  // short tasks: later ones are batched behind the slow one
  auto slow = pool.apply_async(report_then_sleep, pipe.w, 20000);
  std::vector<ipc::AsyncResult<int>> quick;
  for (int i = 0; i < 8; ++i) quick.push_back(pool.apply_async(square, i));
  pid_t pid = std::stoi(pipe.line());
  CHECK(slow.cancel());
  CHECK_THROWS_AS(slow.get(10s), ipc::CancelledError);
  for (int i = 0; i < 8; ++i) CHECK(quick[i].get(10s) == i * i);
  CHECK(pool.worker_pids() != std::vector<pid_t>{pid});
}

TEST_CASE("a pool works in a child process" * doctest::timeout(60)) {
  ipc::Process child([] {
    ipc::Pool pool(2);
    std::vector<int> in{1, 2, 3, 4};
    auto out = pool.map(square, in);
    return out == std::vector<int>{1, 4, 9, 16} ? 0 : 3;
  });
  child.start();
  REQUIRE(child.join(50s));
  CHECK(child.exitcode() == 0);
}

TEST_CASE("the destructor terminates running tasks and reaps every worker" * doctest::timeout(30)) {
  std::vector<pid_t> pids;
  {
    ipc::Pool pool(2);
    pids = pool.worker_pids();
    pool.apply_async(sleep_ms, 20000);
    pool.apply_async(sleep_ms, 20000);
  }
  for (pid_t p : pids) CHECK(ipc::test::proc_state(p) == '\0');
  CHECK(children_of_self().empty());
}

TEST_CASE("map and imap on a closed or terminated pool throw ValueError even for an empty range" *
          doctest::timeout(30)) {
  ipc::Pool pool(1);
  std::vector<int> none;
  std::vector<std::tuple<int, int>> no_pairs;
  SUBCASE("closed") { pool.close(); }
  SUBCASE("terminated") { pool.terminate(); }
  CHECK_THROWS_AS(pool.map(square, std::vector<int>{1}), ipc::ValueError);
  CHECK_THROWS_WITH_AS(pool.map(square, none), doctest::Contains("Pool not running"), ipc::ValueError);
  CHECK_THROWS_WITH_AS(pool.map_async(square, none), doctest::Contains("Pool not running"), ipc::ValueError);
  CHECK_THROWS_WITH_AS(pool.starmap(add, no_pairs), doctest::Contains("Pool not running"), ipc::ValueError);
  CHECK_THROWS_WITH_AS(pool.starmap_async(add, no_pairs), doctest::Contains("Pool not running"), ipc::ValueError);
  CHECK_THROWS_WITH_AS(pool.imap(square, none), doctest::Contains("Pool not running"), ipc::ValueError);
  CHECK_THROWS_WITH_AS(pool.imap_unordered(square, none), doctest::Contains("Pool not running"), ipc::ValueError);
  CHECK(pool.join(10s));
}

}  // TEST_SUITE
