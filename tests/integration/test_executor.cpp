// ProcessPoolExecutor: submit/result, exceptions, callbacks, map, as_completed, wait, cancel,
// shutdown.
#include <doctest/doctest.h>

#include <ipc/executor.hpp>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "child_pipe.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;

namespace {

int square(int x) { return x * x; }
pid_t worker_pid_of(int) { return ::getpid(); }
int sleep_ms(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}
int fail_after(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  throw std::domain_error("failed after " + std::to_string(ms));
}
void nothing() {}

/// Waits for a byte on `fd` (the test's go-ahead), then returns `v`.
int gated(int fd, int v) {
  char c = 0;
  [[maybe_unused]] auto n = ::read(fd, &c, 1);
  return v;
}
/// Waits for a byte on `fd`, then throws.
int gated_fail(int fd) {
  gated(fd, 0);
  throw std::domain_error("failed when told");
}

/// One go-ahead pipe per task. Made before the executor, so that its workers inherit them.
struct Gates {
  explicit Gates(std::size_t n) : pipes(n) {}
  /// Lets task `i` finish.
  void open(std::size_t i) { pipes[i].put("x"); }
  int fd(std::size_t i) const { return pipes[i].r; }
  std::vector<ipc::test::ChildPipe> pipes;
};

}  // namespace

TEST_SUITE("ProcessPoolExecutor") {

TEST_CASE("submit returns a future whose result is the task's" * doctest::timeout(30)) {
  ipc::ProcessPoolExecutor ex(2);
  auto f = ex.submit(square, 12);
  CHECK(f.result(10s) == 144);
  CHECK(f.done());
  CHECK_FALSE(f.cancelled());
  CHECK(f.exception() == nullptr);
  auto v = ex.submit(nothing);
  v.result(10s);
  CHECK(v.done());
}

TEST_CASE("a task's exception comes back through result and exception" * doctest::timeout(30)) {
  Gates gates(1);
  ipc::ProcessPoolExecutor ex(1);
  auto f = ex.submit(fail_after, 1);
  CHECK_THROWS_WITH_AS(f.result(10s), "failed after 1", std::domain_error);
  auto e = f.exception();
  REQUIRE(e != nullptr);
  CHECK_THROWS_AS(std::rethrow_exception(e), std::domain_error);
  auto slow = ex.submit(gated, gates.fd(0), 300);
  CHECK_THROWS_AS(slow.result(1ms), ipc::TimeoutError);
  gates.open(0);
  CHECK(slow.result(10s) == 300);
}

TEST_CASE("done callbacks run once each in the parent and shutdown waits for them" * doctest::timeout(30)) {
  std::mutex m;
  std::vector<int> seen;
  std::set<pid_t> callback_pids;
  std::set<pid_t> worker_pids;
  {
    ipc::ProcessPoolExecutor ex(4);
    for (int i = 0; i < 19; ++i) {
      auto f = ex.submit(square, i);
      f.add_done_callback([&](const ipc::Future<int>& d) {
        std::lock_guard lock(m);
        seen.push_back(d.result());
        callback_pids.insert(::getpid());
      });
    }
    std::vector<int> in(19, 0);
    for (auto p : ex.map(worker_pid_of, in)) worker_pids.insert(p);
    ex.shutdown(true);
    std::lock_guard lock(m);
    CHECK(seen.size() == 19);
  }
  std::sort(seen.begin(), seen.end());
  for (int i = 0; i < 19; ++i) CHECK(seen[i] == i * i);
  CHECK(callback_pids == std::set<pid_t>{::getpid()});
  CHECK(worker_pids.size() <= 4);
}

TEST_CASE("add_done_callback on a finished future runs at once" * doctest::timeout(30)) {
  ipc::ProcessPoolExecutor ex(1);
  auto f = ex.submit(square, 3);
  f.wait();
  int got = 0;
  f.add_done_callback([&](const ipc::Future<int>& d) { got = d.result(); });
  CHECK(got == 9);
}

TEST_CASE("map returns results in order and honours its timeout" * doctest::timeout(30)) {
  ipc::ProcessPoolExecutor ex(2);
  std::vector<int> in{1, 2, 3, 4, 5, 6, 7};
  CHECK(ex.map(square, in) == std::vector<int>{1, 4, 9, 16, 25, 36, 49});
  CHECK(ex.map(square, in, {}, 3) == std::vector<int>{1, 4, 9, 16, 25, 36, 49});
  std::vector<int> slow{20000, 20000};
  CHECK_THROWS_AS(ex.map(sleep_ms, slow, 200ms), ipc::TimeoutError);
  CHECK(ex.submit(square, 5).result(10s) == 25);  // the timed-out tasks were stopped
}

TEST_CASE("as_completed yields every future once in completion order" * doctest::timeout(60)) {
  // The tasks finish in the order the test opens their gates, each after the previous one was
  // yielded: the order is the test's, not the scheduler's.
  Gates gates(4);
  ipc::ProcessPoolExecutor ex(3);
  std::vector<ipc::Future<int>> fs;
  for (int i = 0; i < 3; ++i) fs.push_back(ex.submit(gated, gates.fd(i), i));
  auto ac = ipc::as_completed(fs, 50s);
  std::vector<int> order;
  for (int i : {1, 2, 0}) {
    gates.open(i);
    auto f = ac.next();
    REQUIRE(f.has_value());
    CHECK(*f == fs[i]);
    order.push_back(f->result());
  }
  CHECK(order == std::vector<int>{1, 2, 0});
  CHECK_FALSE(ac.next().has_value());
  std::vector<ipc::Future<int>> never{ex.submit(gated, gates.fd(3), 3)};
  auto late = ipc::as_completed(never, 50ms);
  CHECK_THROWS_AS(late.next(), ipc::TimeoutError);
  gates.open(3);
  CHECK(never[0].result(10s) == 3);
}

TEST_CASE("wait returns on the first completion on the first exception or when all are done" * doctest::timeout(60)) {
  // Which futures are done is decided by the gates the test opens, never by how long tasks take.
  Gates gates(3);
  ipc::ProcessPoolExecutor ex(3);
  SUBCASE("FIRST_COMPLETED") {
    std::vector<ipc::Future<int>> fs{ex.submit(gated, gates.fd(0), 0), ex.submit(gated, gates.fd(1), 1)};
    gates.open(1);
    auto r = ipc::wait(fs, ipc::FIRST_COMPLETED, 50s);
    REQUIRE(r.done.size() == 1);
    CHECK(r.done[0] == fs[1]);
    REQUIRE(r.not_done.size() == 1);
    CHECK(r.not_done[0] == fs[0]);
    gates.open(0);
    CHECK(fs[0].result(10s) == 0);
  }
  SUBCASE("FIRST_EXCEPTION") {
    std::vector<ipc::Future<int>> fs{ex.submit(gated, gates.fd(0), 0), ex.submit(gated_fail, gates.fd(1)),
                                     ex.submit(gated, gates.fd(2), 2)};
    gates.open(1);
    auto r = ipc::wait(fs, ipc::FIRST_EXCEPTION, 50s);
    REQUIRE(r.done.size() == 1);
    CHECK(r.done[0] == fs[1]);
    CHECK(r.not_done == std::vector<ipc::Future<int>>{fs[0], fs[2]});
    gates.open(0);
    gates.open(2);
    CHECK(fs[0].result(10s) == 0);
    CHECK(fs[2].result(10s) == 2);
  }
  SUBCASE("ALL_COMPLETED and a timeout") {
    std::vector<ipc::Future<int>> fs{ex.submit(square, 3), ex.submit(square, 4)};
    auto r = ipc::wait(fs);
    CHECK(r.done.size() == 2);
    CHECK(r.not_done.empty());
    std::vector<ipc::Future<int>> slow{ex.submit(gated, gates.fd(0), 0)};
    auto t = ipc::wait(slow, 50ms);
    CHECK(t.done.empty());
    CHECK(t.not_done.size() == 1);
    gates.open(0);
    auto all = ipc::wait(slow, 50s);
    CHECK(all.done.size() == 1);
  }
}

TEST_CASE("cancel drops a queued future and shutdown can cancel the rest" * doctest::timeout(30)) {
  Gates gates(1);
  ipc::ProcessPoolExecutor ex(1);
  auto busy = ex.submit(gated, gates.fd(0), 300);  // holds the only worker until the gate opens
  for (int i = 0; i < 2000 && !busy.running(); ++i) std::this_thread::sleep_for(5ms);
  REQUIRE(busy.running());
  auto queued = ex.submit(square, 2);
  CHECK(queued.cancel());
  CHECK(queued.cancelled());
  CHECK_THROWS_AS(queued.result(), ipc::CancelledError);
  CHECK_THROWS_AS((void)queued.exception(), ipc::CancelledError);
  std::vector<ipc::Future<int>> rest;
  for (int i = 0; i < 5; ++i) rest.push_back(ex.submit(square, i));
  ex.shutdown(false, true);  // the queued ones are cancelled while the worker is still held
  gates.open(0);
  ex.shutdown(true);
  CHECK(busy.result() == 300);  // a running task finishes
  for (auto& f : rest) CHECK(f.cancelled());
  CHECK_THROWS_AS(ex.submit(square, 1), ipc::ValueError);
}

TEST_CASE("leaving the executor's scope waits for its tasks" * doctest::timeout(30)) {
  std::vector<ipc::Future<int>> fs;
  {
    ipc::ProcessPoolExecutor ex(3);
    for (int ms : {100, 200, 300}) fs.push_back(ex.submit(sleep_ms, ms));
  }
  for (auto& f : fs) CHECK(f.done());
  CHECK(fs[2].result() == 300);
}

TEST_CASE("map after shutdown throws ValueError even for an empty range" * doctest::timeout(30)) {
  ipc::ProcessPoolExecutor ex(1);
  ex.shutdown();
  CHECK_THROWS_AS(ex.map(square, std::vector<int>{1}), ipc::ValueError);
  CHECK_THROWS_AS(ex.map(square, std::vector<int>{}), ipc::ValueError);
}

}  // TEST_SUITE
