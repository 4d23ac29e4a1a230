// Synchronisation under SIGKILL: holders of every lock kind killed while others wait.
#include <doctest/doctest.h>

#include <ipc/errors.hpp>
#include <ipc/process.hpp>
#include <ipc/sharedctypes.hpp>
#include <ipc/synchronize.hpp>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

using namespace std::chrono_literals;

namespace {

constexpr int kWaiters = 3;
constexpr int kIncrements = 2000;

/// Runs the standard owner-death scenario: a holder process takes the lock with `hold` (and
/// adds 1000 to the counter), announces it and is SIGKILLed; kWaiters processes run `work` (which
/// must do kIncrements increments under the lock and return how many of its acquisitions reported
/// owner_died). Checks that every waiter finishes, exactly one learned of the death and the counter
/// is exact.
template <class Hold, class Work, class Counter>
void owner_death_scenario(Hold hold, Work work, Counter counter) {
  ipc::Event held;
  ipc::Process holder{[&] {
    hold();
    held.set();
    std::this_thread::sleep_for(60s);
  }};
  holder.start();
  REQUIRE(held.wait(20s));
  std::vector<ipc::Process> waiters;
  for (int i = 0; i < kWaiters; ++i) waiters.emplace_back(work);
  for (auto& w : waiters) w.start();
  holder.kill();
  REQUIRE(holder.join(20s));
  CHECK(*holder.exitcode() == -SIGKILL);
  int died = 0;
  for (auto& w : waiters) {
    REQUIRE(w.join(100s));
    REQUIRE(w.exitcode().has_value());
    CHECK(*w.exitcode() >= 0);
    CHECK(*w.exitcode() <= 1);
    died += *w.exitcode();
  }
  CHECK(died == 1);
  CHECK(counter() == 1000 + kWaiters * kIncrements);
}

}  // namespace

TEST_SUITE("owner death") {
  TEST_CASE("a Lock whose holder is killed is recovered by the next acquirer" * doctest::timeout(120)) {
    ipc::Lock lock;
    ipc::RawValue<long> n(0);
    owner_death_scenario(
        [&] {
          lock.acquire();
          n.get_obj() += 1000;
        },
        [&] {
          int died = 0;
          for (int k = 0; k < kIncrements; ++k) {
            std::scoped_lock g(lock);
            died += lock.owner_died();
            n.get_obj() += 1;
          }
          return died;
        },
        [&] { return n.get_obj(); });
    CHECK(lock.owner_deaths() == 1);
    CHECK(lock.acquire(1s));
    CHECK_FALSE(lock.owner_died());
    lock.release();
  }

  TEST_CASE("an RLock held three levels deep by a killed process is recovered" * doctest::timeout(120)) {
    ipc::RLock lock;
    ipc::RawValue<long> n(0);
    owner_death_scenario(
        [&] {
          lock.acquire();
          lock.acquire();
          lock.acquire();
          n.get_obj() += 1000;
        },
        [&] {
          int died = 0;
          for (int k = 0; k < kIncrements; ++k) {
            std::scoped_lock g(lock);
            died += lock.owner_died();
            if (lock.count() != 1) return 7;  // the dead owner's depth must not leak
            std::scoped_lock again(lock);
            n.get_obj() += 1;
          }
          return died;
        },
        [&] { return n.get_obj(); });
    CHECK(lock.owner_deaths() == 1);
  }

  TEST_CASE("a Condition's lock held by a killed process is recovered by waiters" * doctest::timeout(120)) {
    ipc::Condition cond;
    ipc::RawValue<long> n(0);
    owner_death_scenario(
        [&] {
          cond.acquire();
          n.get_obj() += 1000;
        },
        [&] {
          int died = 0;
          for (int k = 0; k < kIncrements; ++k) {
            std::unique_lock g(cond);
            died += cond.owner_died();
            n.get_obj() += 1;
            cond.notify_all();
            // Also go through wait(): it releases and re-acquires the robust lock.
            if (k % 100 == 0) {
              cond.wait(1ms);
              died += cond.owner_died();
            }
          }
          return died;
        },
        [&] { return n.get_obj(); });
  }

  TEST_CASE("a Value's lock held by a killed process is recovered and the count stays exact" * doctest::timeout(120)) {
    ipc::Value<long> v(0);
    std::optional<ipc::LockedValue<long>> keep;
    owner_death_scenario(
        [&] {
          auto g = v.locked();
          *g += 1000;
          keep.emplace(std::move(g));  // still held when killed
        },
        [&] {
          int died = 0;
          for (int k = 0; k < kIncrements; ++k) {
            auto g = v.locked(60s);
            died += g.owner_died();
            *g += 1;
          }
          return died;
        },
        [&] { return v.value(); });
  }

  TEST_CASE("an Array's lock held by a killed process is recovered" * doctest::timeout(120)) {
    ipc::Array<long> a(4);
    owner_death_scenario(
        [&] {
          a.get_lock().acquire();
          a[0] += 1000;
        },
        [&] {
          int died = 0;
          for (int k = 0; k < kIncrements; ++k) {
            auto g = a.locked(60s);
            died += g.owner_died();
            g[0] += 1;
          }
          return died;
        },
        [&] { return a.to_vector()[0]; });
  }

  TEST_CASE("a named Lock held by a killed process is recovered through other handles" * doctest::timeout(120)) {
    auto name = ipc::test::unique_name("deadlock");
    auto lock = ipc::Lock::create(name);
    ipc::RawValue<long> n(0);
    owner_death_scenario(
        [&] {
          static std::optional<ipc::Lock> mine;  // kept alive (and held) until the kill
          mine.emplace(ipc::Lock::open(name));
          mine->acquire();
          n.get_obj() += 1000;
        },
        [&] {
          auto mine = ipc::Lock::open(name);
          int died = 0;
          for (int k = 0; k < kIncrements; ++k) {
            std::scoped_lock g(mine);
            died += mine.owner_died();
            n.get_obj() += 1;
          }
          return died;
        },
        [&] { return n.get_obj(); });
  }

  TEST_CASE("a Semaphore stays usable after holders and waiters are killed" * doctest::timeout(120)) {
    ipc::Semaphore sem(2);
    ipc::Event held;
    ipc::Process holder{[&] {
      sem.acquire();
      held.set();
      std::this_thread::sleep_for(60s);
    }};
    holder.start();
    REQUIRE(held.wait(20s));
    CHECK(sem.get_value() == 1);
    sem.acquire();  // now empty: the next process blocks in acquire
    ipc::Event about_to_block;
    ipc::Process blocked{[&] {
      about_to_block.set();
      return sem.acquire(60s) ? 1 : 0;
    }};
    blocked.start();
    REQUIRE(about_to_block.wait(20s));
    blocked.kill();
    holder.kill();
    REQUIRE(blocked.join(20s));
    REQUIRE(holder.join(20s));
    CHECK(*blocked.exitcode() == -SIGKILL);
    sem.release();
    // One unit went with the dead holder (a semaphore has no owner to recover it from).
    CHECK(sem.get_value() == 1);
    ipc::Value<int> inside(0), peak(0);
    std::vector<ipc::Process> ps;
    for (int i = 0; i < 3; ++i)
      ps.emplace_back([&] {
        for (int k = 0; k < 300; ++k) {
          if (!sem.acquire(60s)) return 1;
          {
            auto in = inside.locked();
            *in += 1;
            auto p = peak.locked();
            *p = std::max(*p, *in);
          }
          *inside.locked() -= 1;
          sem.release();
        }
        return 0;
      });
    for (auto& p : ps) p.start();
    for (auto& p : ps) {
      REQUIRE(p.join(100s));
      CHECK(*p.exitcode() == 0);
    }
    CHECK(peak.value() == 1);
    CHECK(sem.get_value() == 1);
  }

  TEST_CASE("a process killed inside a Barrier's action breaks the barrier instead of hanging" * doctest::timeout(120)) {
    ipc::Event in_action;
    ipc::RawValue<pid_t> victim(0);
    ipc::Barrier barrier(3, [&] {
      if (::getpid() == victim.get_obj()) {
        in_action.set();
        std::this_thread::sleep_for(60s);
      }
    });
    auto waiter = [&] {
      try {
        barrier.wait(60s);
      } catch (const ipc::BrokenBarrierError& e) {
        return std::string(e.what()).find("timed out") == std::string::npos ? 0 : 2;
      }
      return 1;  // passed (the action ran to its end in a process that was not killed)
    };
    ipc::Process a{waiter}, b{waiter};
    a.start();
    b.start();
    ipc::Deadline d(30s);
    while (barrier.n_waiting() < 2 && !d.expired()) std::this_thread::yield();
    REQUIRE(barrier.n_waiting() == 2);
    ipc::Process last{[&] {
      victim.get_obj() = ::getpid();
      barrier.wait(60s);
    }};
    last.start();
    REQUIRE(in_action.wait(20s));
    last.kill();
    REQUIRE(last.join(20s));
    REQUIRE(a.join(100s));
    REQUIRE(b.join(100s));
    CHECK(*a.exitcode() == 0);
    CHECK(*b.exitcode() == 0);
    CHECK(barrier.broken());
    barrier.reset();
    CHECK_FALSE(barrier.broken());
  }

  TEST_CASE("a party killed while waiting breaks a Barrier for the parties that arrive after" * doctest::timeout(120)) {
    ipc::Barrier barrier(3);
    // 0: BrokenBarrierError, 1: passed, 2: the wait timed out.
    auto waiter = [&] {
      try {
        barrier.wait(20s);
      } catch (const ipc::BrokenBarrierError& e) {
        return std::string(e.what()).find("timed out") == std::string::npos ? 0 : 2;
      }
      return 1;
    };
    ipc::Process victim{waiter};
    victim.start();
    ipc::Deadline d(30s);
    while (barrier.n_waiting() < 1 && !d.expired()) std::this_thread::yield();
    REQUIRE(barrier.n_waiting() == 1);
    victim.kill();
    REQUIRE(victim.join(20s));
    ipc::Process a{waiter}, b{waiter};
    a.start();
    b.start();
    REQUIRE(a.join(60s));
    REQUIRE(b.join(60s));
    CHECK(*a.exitcode() == 0);
    CHECK(*b.exitcode() == 0);
    CHECK(barrier.broken());
    // reset() makes it usable again, by three live parties.
    barrier.reset();
    ipc::Process c{waiter}, e{waiter};
    c.start();
    e.start();
    CHECK(waiter() == 1);
    REQUIRE(c.join(60s));
    REQUIRE(e.join(60s));
    CHECK(*c.exitcode() == 1);
    CHECK(*e.exitcode() == 1);
  }

  TEST_CASE("a party killed while waiting breaks a Barrier for the parties already waiting" * doctest::timeout(120)) {
    ipc::Barrier barrier(3);
    auto waiter = [&] {
      try {
        barrier.wait(20s);
      } catch (const ipc::BrokenBarrierError& e) {
        return std::string(e.what()).find("timed out") == std::string::npos ? 0 : 2;
      }
      return 1;
    };
    ipc::Process victim{waiter}, a{waiter};
    victim.start();
    a.start();
    ipc::Deadline d(30s);
    while (barrier.n_waiting() < 2 && !d.expired()) std::this_thread::yield();
    REQUIRE(barrier.n_waiting() == 2);
    victim.kill();
    REQUIRE(victim.join(20s));
    REQUIRE(a.join(60s));
    CHECK(*a.exitcode() == 0);
    CHECK(barrier.broken());
    CHECK(waiter() == 0);
  }
}
