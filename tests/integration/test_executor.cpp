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
  ipc::ProcessPoolExecutor ex(1);
  auto f = ex.submit(fail_after, 1);
  CHECK_THROWS_WITH_AS(f.result(10s), "failed after 1", std::domain_error);
  auto e = f.exception();
  REQUIRE(e != nullptr);
  CHECK_THROWS_AS(std::rethrow_exception(e), std::domain_error);
  auto slow = ex.submit(sleep_ms, 300);
  CHECK_THROWS_AS(slow.result(1ms), ipc::TimeoutError);
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

TEST_CASE("as_completed yields every future once in completion order" * doctest::timeout(30)) {
  ipc::ProcessPoolExecutor ex(3);
  std::vector<ipc::Future<int>> fs;
  for (int ms : {600, 10, 300}) fs.push_back(ex.submit(sleep_ms, ms));
  std::vector<int> order;
  for (auto& f : ipc::as_completed(fs, 20s)) order.push_back(f.result());
  CHECK(order.size() == 3);
  CHECK(std::set<int>(order.begin(), order.end()) == std::set<int>{600, 10, 300});
  CHECK(order.front() == 10);  // 10 ms against 300 and 600 ms on three workers
  std::vector<ipc::Future<int>> never{ex.submit(sleep_ms, 5000)};
  auto ac = ipc::as_completed(never, 50ms);
  CHECK_THROWS_AS(ac.next(), ipc::TimeoutError);
  never[0].cancel();
}

TEST_CASE("wait returns on the first completion on the first exception or when all are done" * doctest::timeout(30)) {
  ipc::ProcessPoolExecutor ex(3);
  SUBCASE("FIRST_COMPLETED") {
    std::vector<ipc::Future<int>> fs{ex.submit(sleep_ms, 5000), ex.submit(sleep_ms, 10)};
    auto r = ipc::wait(fs, ipc::FIRST_COMPLETED, 20s);
    REQUIRE(r.done.size() == 1);
    CHECK(r.done[0] == fs[1]);
    CHECK(r.not_done.size() == 1);
    fs[0].cancel();
  }
  SUBCASE("FIRST_EXCEPTION") {
    std::vector<ipc::Future<int>> fs{ex.submit(sleep_ms, 5000), ex.submit(fail_after, 10), ex.submit(sleep_ms, 1)};
    auto r = ipc::wait(fs, ipc::FIRST_EXCEPTION, 20s);
    CHECK(std::find(r.done.begin(), r.done.end(), fs[1]) != r.done.end());
    CHECK(r.not_done.size() == 1);
    fs[0].cancel();
  }
  SUBCASE("ALL_COMPLETED and a timeout") {
    std::vector<ipc::Future<int>> fs{ex.submit(sleep_ms, 50), ex.submit(sleep_ms, 10)};
    auto r = ipc::wait(fs);
    CHECK(r.done.size() == 2);
    CHECK(r.not_done.empty());
    std::vector<ipc::Future<int>> slow{ex.submit(sleep_ms, 5000)};
    auto t = ipc::wait(slow, 50ms);
    CHECK(t.done.empty());
    CHECK(t.not_done.size() == 1);
    slow[0].cancel();
  }
}

TEST_CASE("cancel drops a queued future and shutdown can cancel the rest" * doctest::timeout(30)) {
  ipc::ProcessPoolExecutor ex(1);
  auto busy = ex.submit(sleep_ms, 300);
  for (int i = 0; i < 1000 && !busy.running(); ++i) std::this_thread::sleep_for(5ms);
  REQUIRE(busy.running());
  auto queued = ex.submit(square, 2);
  CHECK(queued.cancel());
  CHECK(queued.cancelled());
  CHECK_THROWS_AS(queued.result(), ipc::CancelledError);
  CHECK_THROWS_AS((void)queued.exception(), ipc::CancelledError);
  std::vector<ipc::Future<int>> rest;
  for (int i = 0; i < 5; ++i) rest.push_back(ex.submit(square, i));
  ex.shutdown(true, true);
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
