// Lock, RLock, Semaphore, BoundedSemaphore, Event, Condition, Barrier across processes.
#include <doctest/doctest.h>

#include <ipc/errors.hpp>
#include <ipc/process.hpp>
#include <ipc/sharedctypes.hpp>
#include <ipc/synchronize.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "child_pipe.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;

namespace {

/// Starts `n` processes running `fn(i)` and joins them (20 s cap each); returns their exit codes.
template <class Fn>
std::vector<int> run_all(int n, Fn fn) {
  std::vector<ipc::Process> ps;
  for (int i = 0; i < n; ++i) ps.emplace_back([&fn, i] { return fn(i); });
  for (auto& p : ps) p.start();
  std::vector<int> codes;
  for (auto& p : ps) {
    if (!p.join(60s)) {
      p.kill();
      p.join();
    }
    codes.push_back(p.exitcode().value_or(-100));
  }
  return codes;
}

bool all_zero(const std::vector<int>& v) {
  return std::all_of(v.begin(), v.end(), [](int c) { return c == 0; });
}

std::string my_prefix() { return "ipckit-test-" + std::to_string(::getpid()) + "-"; }

}  // namespace

TEST_SUITE("Lock") {
  TEST_CASE("a Lock makes increments from several processes exact" * doctest::timeout(60)) {
    ipc::Lock lock;
    ipc::RawValue<long> counter(0);
    auto codes = run_all(4, [&](int) {
      for (int k = 0; k < 20000; ++k) {
        std::scoped_lock g(lock);
        counter.get_obj() = counter.get_obj() + 1;
      }
      return 0;
    });
    CHECK(all_zero(codes));
    CHECK(counter.get_obj() == 80000);
    CHECK_FALSE(lock.locked());
  }

  TEST_CASE("acquire with a timeout fails while another process holds the lock" * doctest::timeout(30)) {
    ipc::Lock lock;
    ipc::test::ChildPipe up, down;
    ipc::Process p{[&] {
      std::unique_lock g(lock);
      up.put("held");
      down.line(20000);
    }};
    p.start();
    REQUIRE(up.line() == "held");
    CHECK(lock.locked());
    CHECK_FALSE(lock.held());
    CHECK_FALSE(lock.try_lock());
    CHECK_FALSE(lock.acquire(50ms));
    std::unique_lock<ipc::Lock> ul(lock, std::defer_lock);
    CHECK_FALSE(ul.try_lock_for(10ms));
    down.put("go");
    CHECK(lock.acquire(10s));
    CHECK(lock.held());
    CHECK_FALSE(lock.owner_died());
    lock.release();
    REQUIRE(p.join(10s));
  }

  TEST_CASE("misuse of a Lock is a ValueError") {
    ipc::Lock lock;
    CHECK_THROWS_AS(lock.release(), ipc::ValueError);
    lock.acquire();
    CHECK_THROWS_AS(lock.acquire(), ipc::ValueError);
    ipc::Process p{[&] {
      try {
        lock.release();
      } catch (const ipc::ValueError&) {
        return 0;
      }
      return 1;
    }};
    p.start();
    REQUIRE(p.join(10s));
    CHECK(*p.exitcode() == 0);
    CHECK(lock.held());
    lock.release();
  }

  TEST_CASE("a named Lock is shared by name and unlinked by its creator" * doctest::timeout(60)) {
    auto name = ipc::test::unique_name("lock");
    {
      auto lock = ipc::Lock::create(name);
      CHECK(lock.name() == name);
      auto counter = ipc::RawValue<int>::create(name + "-n", 0);
      auto codes = run_all(3, [&](int) {
        auto l = ipc::Lock::open(name);
        auto c = ipc::RawValue<int>::open(name + "-n");
        for (int k = 0; k < 5000; ++k) {
          std::scoped_lock g(l);
          c.get_obj() += 1;
        }
        return 0;
      });
      CHECK(all_zero(codes));
      CHECK(counter.get_obj() == 15000);
      CHECK_THROWS_AS(ipc::Event::open(name), ipc::ValueError);
      CHECK_THROWS_AS(ipc::Lock::create(name), std::system_error);
      auto again = ipc::Lock::create_or_open(name);
      CHECK(again.try_lock());
      CHECK(lock.held());
      CHECK_THROWS_AS(lock.try_lock(), ipc::ValueError);  // same lock, already held by this thread
      again.unlock();
    }
    CHECK(ipc::test::count_shm_names(my_prefix()) == 0);
  }
}

TEST_SUITE("RLock") {
  TEST_CASE("an RLock is re-entrant for its holder and exclusive for others" * doctest::timeout(30)) {
    ipc::RLock r;
    r.acquire();
    r.acquire();
    {
      std::scoped_lock g(r);
      CHECK(r.count() == 3);
    }
    CHECK(r.count() == 2);
    ipc::test::ChildPipe up;
    ipc::Process p{[&] {
      if (r.acquire(50ms)) return 1;  // still held by the parent
      try {
        r.release();
        return 2;
      } catch (const ipc::ValueError&) {
      }
      up.put("checked");
      if (!r.acquire(20s)) return 3;
      int c = static_cast<int>(r.count());
      r.release();
      return c == 1 ? 0 : 4;
    }};
    p.start();
    REQUIRE(up.line() == "checked");
    r.release();
    CHECK(r.held());
    r.release();
    CHECK_FALSE(r.held());
    CHECK_THROWS_AS(r.release(), ipc::ValueError);
    REQUIRE(p.join(20s));
    CHECK(*p.exitcode() == 0);
  }
}

TEST_SUITE("Semaphore") {
  TEST_CASE("a Semaphore never admits more holders than its value" * doctest::timeout(60)) {
    ipc::Semaphore sem(3);
    ipc::Value<int> inside(0), peak(0), total(0);
    auto codes = run_all(8, [&](int) {
      for (int k = 0; k < 200; ++k) {
        std::scoped_lock g(sem);
        {
          auto in = inside.locked();
          ++*in;
          auto p = peak.locked();
          *p = std::max(*p, *in);
        }
        *total.locked() += 1;
        --*inside.locked();
      }
      return 0;
    });
    CHECK(all_zero(codes));
    CHECK(total.value() == 1600);
    CHECK(peak.value() <= 3);
    CHECK(peak.value() >= 1);
    CHECK(sem.get_value() == 3);
  }

  TEST_CASE("acquire times out on an empty Semaphore and a release from another process wakes it" * doctest::timeout(30)) {
    ipc::Semaphore sem(0);
    CHECK_FALSE(sem.acquire(50ms));
    CHECK_FALSE(sem.try_lock());
    ipc::Process p{[&] { sem.release(2); }};
    p.start();
    CHECK(sem.acquire(20s));
    CHECK(sem.acquire(20s));
    CHECK(sem.get_value() == 0);
    REQUIRE(p.join(10s));
    CHECK(sem.bound() == 0);
    sem.release(5);
    CHECK(sem.get_value() == 5);
  }

  TEST_CASE("a BoundedSemaphore refuses to be released above its initial value") {
    ipc::BoundedSemaphore b(2);
    CHECK(b.bound() == 2);
    CHECK_THROWS_WITH_AS(b.release(), doctest::Contains("released too many times"), ipc::ValueError);
    CHECK(b.get_value() == 2);
    b.acquire();
    b.release();
    b.acquire();
    CHECK_THROWS_AS(b.release(2), ipc::ValueError);
    CHECK(b.get_value() == 1);
    CHECK_THROWS_AS(ipc::BoundedSemaphore(0), ipc::ValueError);
  }

  TEST_CASE("named semaphores keep their bound and kind") {
    auto name = ipc::test::unique_name("bsem");
    auto b = ipc::BoundedSemaphore::create(name, 4);
    auto o = ipc::Semaphore::open(name);
    CHECK(o.bound() == 4);
    o.acquire();
    CHECK(b.get_value() == 3);
    auto plain = ipc::Semaphore::create(name + "x", 1);
    CHECK_THROWS_AS(ipc::BoundedSemaphore::open(name + "x"), ipc::ValueError);
    CHECK_THROWS_AS(ipc::Lock::open(name), ipc::ValueError);
  }
}

TEST_SUITE("Event") {
  TEST_CASE("an Event wakes waiters in other processes when set" * doctest::timeout(30)) {
    ipc::Event ev;
    CHECK_FALSE(ev.is_set());
    CHECK_FALSE(ev.wait(30ms));
    ipc::Event started;
    std::vector<ipc::Process> ps;
    for (int i = 0; i < 3; ++i) ps.emplace_back([&] { return ev.wait(20s) ? 0 : 1; });
    for (auto& p : ps) p.start();
    ev.set();
    CHECK(ev.is_set());
    CHECK(ev.wait());
    for (auto& p : ps) {
      REQUIRE(p.join(20s));
      CHECK(*p.exitcode() == 0);
    }
    ev.clear();
    CHECK_FALSE(ev.wait(0ms));
  }

  TEST_CASE("a named Event is seen by an opener") {
    auto name = ipc::test::unique_name("ev");
    auto ev = ipc::Event::create(name);
    ipc::Process p{[&] { ipc::Event::open(name).set(); }};
    p.start();
    CHECK(ev.wait(20s));
    REQUIRE(p.join(10s));
  }
}

TEST_SUITE("Condition") {
  TEST_CASE("wait and notify without the lock are errors") {
    ipc::Condition c;
    CHECK_THROWS_AS(c.wait(10ms), ipc::ValueError);
    CHECK_THROWS_AS(c.notify(), ipc::ValueError);
    CHECK_THROWS_AS(c.notify_all(), ipc::ValueError);
    std::scoped_lock g(c);
    CHECK_FALSE(c.wait(20ms));
    CHECK(c.held());
    CHECK_FALSE(c.wait_for([] { return false; }, 20ms));
    CHECK(c.wait_for([] { return true; }, 0ms));
  }

  TEST_CASE("a producer and a consumer hand items over with wait_for and notify" * doctest::timeout(60)) {
    ipc::Condition cond;
    ipc::RawValue<int> slot(0);  // 0 = empty, else the item
    ipc::RawValue<long> sum(0);
    constexpr int kItems = 500;
    ipc::Process consumer{[&] {
      for (int k = 0; k < kItems; ++k) {
        std::unique_lock g(cond);
        if (!cond.wait_for([&] { return slot.get_obj() != 0; }, 20s)) return 1;
        sum.get_obj() += slot.get_obj();
        slot.get_obj() = 0;
        cond.notify();
      }
      return 0;
    }};
    consumer.start();
    for (int k = 1; k <= kItems; ++k) {
      std::unique_lock g(cond);
      REQUIRE(cond.wait_for([&] { return slot.get_obj() == 0; }, 20s));
      slot.get_obj() = k;
      cond.notify();
    }
    REQUIRE(consumer.join(30s));
    CHECK(*consumer.exitcode() == 0);
    CHECK(sum.get_obj() == static_cast<long>(kItems) * (kItems + 1) / 2);
  }

  TEST_CASE("notify_all wakes every waiter" * doctest::timeout(60)) {
    ipc::Condition cond;
    ipc::RawValue<int> go(0), ready(0);
    std::vector<ipc::Process> ps;
    for (int i = 0; i < 4; ++i)
      ps.emplace_back([&] {
        std::unique_lock g(cond);
        ++ready.get_obj();
        cond.notify_all();
        return cond.wait_for([&] { return go.get_obj() == 1; }, 30s) ? 0 : 1;
      });
    for (auto& p : ps) p.start();
    {
      std::unique_lock g(cond);
      REQUIRE(cond.wait_for([&] { return ready.get_obj() == 4; }, 30s));
      go.get_obj() = 1;
      cond.notify_all();
    }
    for (auto& p : ps) {
      REQUIRE(p.join(30s));
      CHECK(*p.exitcode() == 0);
    }
  }
}

TEST_SUITE("Barrier") {
  TEST_CASE("parties pass together for several rounds and the action runs once per round" * doctest::timeout(60)) {
    ipc::Value<int> actions(0);
    ipc::Barrier barrier(3, [&] { *actions.locked() += 1; });
    CHECK(barrier.parties() == 3);
    ipc::Array<int> indexes(3 * 5);
    auto codes = run_all(3, [&](int i) {
      for (int round = 0; round < 5; ++round) indexes[static_cast<std::size_t>(round * 3 + i)] = static_cast<int>(barrier.wait(20s));
      return 0;
    });
    CHECK(all_zero(codes));
    CHECK(actions.value() == 5);
    for (int round = 0; round < 5; ++round) {
      std::set<int> seen;
      for (int i = 0; i < 3; ++i) seen.insert(indexes[static_cast<std::size_t>(round * 3 + i)]);
      CHECK(seen == std::set<int>{0, 1, 2});
    }
    CHECK_FALSE(barrier.broken());
    CHECK(barrier.n_waiting() == 0);
  }

  TEST_CASE("a wait that times out breaks the barrier for everyone until reset" * doctest::timeout(60)) {
    ipc::Barrier barrier(3);
    ipc::Process p{[&] {
      try {
        barrier.wait(20s);
      } catch (const ipc::BrokenBarrierError&) {
        return 0;
      }
      return 1;
    }};
    p.start();
    CHECK_THROWS_AS(barrier.wait(200ms), ipc::BrokenBarrierError);
    CHECK(barrier.broken());
    REQUIRE(p.join(30s));
    CHECK(*p.exitcode() == 0);
    CHECK_THROWS_AS(barrier.wait(1s), ipc::BrokenBarrierError);
    barrier.reset();
    CHECK_FALSE(barrier.broken());
    auto codes = run_all(3, [&](int) { return barrier.wait(20s) <= 2 ? 0 : 1; });
    CHECK(all_zero(codes));
  }

  TEST_CASE("abort and reset release waiters with BrokenBarrierError" * doctest::timeout(60)) {
    ipc::Barrier barrier(4);
    ipc::test::ChildPipe up;
    auto waiter = [&] {
      try {
        up.put("waiting");
        barrier.wait(30s);
      } catch (const ipc::BrokenBarrierError&) {
        return 0;
      }
      return 1;
    };
    SUBCASE("abort") {
      ipc::Process a{waiter}, b{waiter};
      a.start();
      b.start();
      REQUIRE(up.line() == "waiting");
      REQUIRE(up.line() == "waiting");
      barrier.abort();
      REQUIRE(a.join(30s));
      REQUIRE(b.join(30s));
      CHECK(*a.exitcode() == 0);
      CHECK(*b.exitcode() == 0);
    }
    SUBCASE("reset") {
      ipc::Process a{waiter};
      a.start();
      REQUIRE(up.line() == "waiting");
      // The child may not be inside wait() yet: reset until it has been counted, then once more.
      ipc::Deadline d(20s);
      while (barrier.n_waiting() == 0 && a.is_alive() && !d.expired()) std::this_thread::yield();
      barrier.reset();
      REQUIRE(a.join(30s));
      CHECK(*a.exitcode() == 0);
      CHECK_FALSE(barrier.broken());
    }
  }

  TEST_CASE("an action that throws breaks the barrier and reaches its caller") {
    ipc::Barrier barrier(1, [] { throw std::runtime_error("action failed"); });
    CHECK_THROWS_WITH_AS(barrier.wait(), "action failed", std::runtime_error);
    CHECK(barrier.broken());
    CHECK_THROWS_AS(ipc::Barrier(0), ipc::ValueError);
  }

  TEST_CASE("a named barrier joins handles opened by name" * doctest::timeout(60)) {
    auto name = ipc::test::unique_name("barrier");
    auto barrier = ipc::Barrier::create(name, 2);
    CHECK_THROWS_AS(ipc::Barrier::create_or_open(name, 3), ipc::ValueError);
    ipc::Process p{[&] { return ipc::Barrier::open(name).wait(20s) <= 1 ? 0 : 1; }};
    p.start();
    CHECK(barrier.wait(20s) <= 1);
    REQUIRE(p.join(30s));
    CHECK(*p.exitcode() == 0);
  }
}
