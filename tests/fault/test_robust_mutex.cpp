// RobustMutex and futex: owner death by SIGKILL, timeouts, ownership errors, cross-process wake-ups.
#include <doctest/doctest.h>

#include <ipc/detail/futex.hpp>
#include <ipc/detail/robust_mutex.hpp>
#include <ipc/errors.hpp>
#include <ipc/process.hpp>
#include <ipc/shared_memory.hpp>

#include <signal.h>

#include <atomic>
#include <chrono>
#include <new>
#include <thread>
#include <vector>

#include "child_pipe.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using ipc::detail::LockStatus;
using ipc::detail::RobustMutex;

namespace {

/// A robust mutex and a counter it guards, in an anonymous shared mapping.
struct Shared {
  RobustMutex mutex;
  long counter;
  std::atomic<std::uint32_t> word;
};

Shared* make_shared(ipc::SharedMemory& shm) {
  shm = ipc::SharedMemory::anonymous(sizeof(Shared));
  auto* s = new (shm.data()) Shared;
  s->mutex.init();
  s->counter = 0;
  s->word.store(0);
  return s;
}

}  // namespace

TEST_SUITE("RobustMutex") {
  TEST_CASE("lock and unlock and try_lock and relock by the holder") {
    ipc::SharedMemory shm;
    auto* s = make_shared(shm);
    CHECK(s->mutex.lock() == LockStatus::acquired);
    CHECK(s->mutex.held_by_caller());
    CHECK(s->mutex.locked());
    CHECK_THROWS_AS(s->mutex.lock(), ipc::ValueError);
    CHECK_THROWS_AS(s->mutex.try_lock(), ipc::ValueError);
    s->mutex.unlock();
    CHECK_FALSE(s->mutex.locked());
    CHECK_THROWS_AS(s->mutex.unlock(), ipc::ValueError);
    CHECK(s->mutex.try_lock() == LockStatus::acquired);
    s->mutex.unlock();
  }

  TEST_CASE("a timed lock held by another process times out" * doctest::timeout(30)) {
    ipc::SharedMemory shm;
    auto* s = make_shared(shm);
    ipc::test::ChildPipe pipe, back;
    ipc::Process p{[&] {
      s->mutex.lock();
      pipe.put("locked");
      back.line(20000);
      s->mutex.unlock();
    }};
    p.start();
    REQUIRE(pipe.line() == "locked");
    CHECK_FALSE(s->mutex.held_by_caller());
    CHECK(s->mutex.try_lock() == LockStatus::timed_out);
    auto t0 = std::chrono::steady_clock::now();
    CHECK(s->mutex.lock(ipc::Deadline(100ms)) == LockStatus::timed_out);
    CHECK(std::chrono::steady_clock::now() - t0 >= 100ms);
    back.put("go");
    CHECK(s->mutex.lock(ipc::Deadline(10s)) == LockStatus::acquired);
    s->mutex.unlock();
    REQUIRE(p.join(10s));
    CHECK(*p.exitcode() == 0);
  }

  TEST_CASE("the owner killed with SIGKILL does not deadlock waiters and the next one learns it" * doctest::timeout(60)) {
    ipc::SharedMemory shm;
    auto* s = make_shared(shm);
    ipc::test::ChildPipe pipe;
    ipc::Process holder{[&] {
      s->mutex.lock();
      s->counter += 1000;  // half-done work the recoverer can see
      pipe.put("locked");
      std::this_thread::sleep_for(60s);
    }};
    holder.start();
    REQUIRE(pipe.line() == "locked");
    constexpr int kWaiters = 4;
    constexpr int kIncrements = 1000;
    std::vector<ipc::Process> waiters;
    for (int i = 0; i < kWaiters; ++i) {
      waiters.emplace_back([&] {
        int died = 0;
        for (int k = 0; k < kIncrements; ++k) {
          auto st = s->mutex.lock(ipc::Deadline(30s));
          if (st == LockStatus::timed_out) return 9;
          if (st == LockStatus::owner_died) ++died;
          ++s->counter;
          s->mutex.unlock();
        }
        return died;  // 1 for the one that recovered the lock, 0 for the others
      });
      waiters.back().start();
    }
    holder.kill();
    REQUIRE(holder.join(10s));
    int recovered = 0;
    for (auto& w : waiters) {
      REQUIRE(w.join(60s));
      REQUIRE(w.exitcode().has_value());
      CHECK((*w.exitcode() == 0 || *w.exitcode() == 1));
      recovered += *w.exitcode();
    }
    CHECK(recovered == 1);
    CHECK(s->counter == 1000 + kWaiters * kIncrements);
    CHECK(s->mutex.owner_deaths() == 1);
    CHECK(s->mutex.lock() == LockStatus::acquired);
    CHECK_FALSE(s->mutex.recovered());
    s->mutex.unlock();
  }

  TEST_CASE("a lock whose owner died is recovered by a timed lock too" * doctest::timeout(30)) {
    ipc::SharedMemory shm;
    auto* s = make_shared(shm);
    ipc::Process holder{[&] {
      s->mutex.lock();
      ::raise(SIGKILL);
    }};
    holder.start();
    REQUIRE(holder.join(10s));
    CHECK(*holder.exitcode() == -SIGKILL);
    CHECK(s->mutex.lock(ipc::Deadline(5s)) == LockStatus::owner_died);
    CHECK(s->mutex.recovered());
    s->mutex.unlock();
    CHECK(s->mutex.try_lock() == LockStatus::acquired);
    CHECK_FALSE(s->mutex.recovered());
    s->mutex.unlock();
  }
}

TEST_SUITE("futex") {
  TEST_CASE("futex_wait times out or sees a changed value") {
    std::atomic<std::uint32_t> w{5};
    CHECK(ipc::detail::futex_wait(w, 4, ipc::Deadline(1s)) == ipc::detail::FutexResult::value_changed);
    auto t0 = std::chrono::steady_clock::now();
    CHECK(ipc::detail::futex_wait(w, 5, ipc::Deadline(50ms)) == ipc::detail::FutexResult::timed_out);
    CHECK(std::chrono::steady_clock::now() - t0 >= 50ms);
    CHECK(ipc::detail::futex_wait(w, 5, ipc::Deadline(0ms)) == ipc::detail::FutexResult::timed_out);
  }

  TEST_CASE("futex_wake wakes a waiter in another process" * doctest::timeout(30)) {
    ipc::SharedMemory shm;
    auto* s = make_shared(shm);
    ipc::Process p{[&] {
      while (s->word.load() == 0)
        if (ipc::detail::futex_wait(s->word, 0, ipc::Deadline(20s)) == ipc::detail::FutexResult::timed_out) return 2;
      return 0;
    }};
    p.start();
    s->word.store(1);
    ipc::detail::futex_wake_all(s->word);
    REQUIRE(p.join(20s));
    CHECK(*p.exitcode() == 0);
  }

  TEST_CASE("current_tid is the pid in a forked child") {
    CHECK(ipc::detail::current_tid() == ::getpid());
    ipc::Process p{[] { return ipc::detail::current_tid() == ::getpid() ? 0 : 1; }};
    p.start();
    REQUIRE(p.join(10s));
    CHECK(*p.exitcode() == 0);
  }
}
