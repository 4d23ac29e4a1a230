// RobustMutex and futex: owner death by SIGKILL, timeouts, ownership errors, cross-process wake-ups.
#include <doctest/doctest.h>

#include <ipc/detail/futex.hpp>
#include <ipc/detail/robust_mutex.hpp>
#include <ipc/errors.hpp>
#include <ipc/process.hpp>
#include <ipc/shared_memory.hpp>

#include <pthread.h>
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

TEST_SUITE("RobustMutex robust list") {
  TEST_CASE("several mutexes held with a glibc robust mutex in any order are all recovered after SIGKILL" *
            doctest::timeout(60)) {
    struct Many {
      RobustMutex m[5];
      pthread_mutex_t glibc;
    };
    auto shm = ipc::SharedMemory::anonymous(sizeof(Many));
    auto* s = new (shm.data()) Many;
    for (auto& m : s->m) m.init();
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&s->glibc, &a);
    pthread_mutexattr_destroy(&a);
    ipc::test::ChildPipe up;
    ipc::Process holder{[&] {
      // Interleave ours with glibc's on the thread's list, release some out of order, keep the rest.
      s->m[0].lock();
      pthread_mutex_lock(&s->glibc);
      s->m[1].lock();
      s->m[2].lock();
      s->m[3].lock();
      s->m[1].unlock();  // middle of the list
      s->m[3].unlock();  // head of the list
      s->m[4].lock();
      s->m[3].lock();
      up.put("held");
      std::this_thread::sleep_for(60s);
    }};
    holder.start();
    REQUIRE(up.line() == "held");
    CHECK(s->m[1].try_lock() == LockStatus::acquired);
    s->m[1].unlock();
    holder.kill();
    REQUIRE(holder.join(10s));
    for (int i : {0, 2, 3, 4}) {
      CAPTURE(i);
      CHECK(s->m[i].lock(ipc::Deadline(10s)) == LockStatus::owner_died);
    }
    CHECK(pthread_mutex_lock(&s->glibc) == EOWNERDEAD);
    pthread_mutex_consistent(&s->glibc);
    // Release in yet another order, then everything is clean again.
    s->m[3].unlock();
    pthread_mutex_unlock(&s->glibc);
    s->m[0].unlock();
    s->m[4].unlock();
    s->m[2].unlock();
    for (auto& m : s->m) {
      CHECK(m.try_lock() == LockStatus::acquired);
      m.unlock();
    }
  }

  TEST_CASE("a thread that exits holding the mutex releases it to the next locker") {
    ipc::SharedMemory shm;
    auto* s = make_shared(shm);
    std::thread t([&] { s->mutex.lock(); });
    t.join();
    CHECK(s->mutex.lock(ipc::Deadline(5s)) == LockStatus::owner_died);
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
