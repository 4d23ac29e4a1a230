// RobustMutex: a process-shared robust pthread mutex placed in shared memory.
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstdint>

#include <ipc/timeout.hpp>

namespace ipc::detail {

/// What an acquisition attempt gave: the lock, the lock recovered from an owner that died while
/// holding it (the data it guards may be half-updated), or nothing before the deadline.
enum class LockStatus { acquired, owner_died, timed_out };

/// A mutex that lives in shared memory and survives the death of its owner: a process-shared,
/// robust, error-checking pthread mutex. When the owner dies (even by SIGKILL) the kernel marks
/// it, the next locker gets EOWNERDEAD, which this class turns into LockStatus::owner_died after
/// making the mutex consistent again, so nobody ever deadlocks on a dead owner.
///
/// Placement: construct with init() in memory shared by every user (the creator does it once,
/// before others can see the memory); never copy or move it. Owned by a thread: unlock from a
/// thread that does not hold it throws ValueError.
class RobustMutex {
 public:
  /// Initialises the mutex in place (creator only). Throws std::system_error on failure.
  void init();

  /// Locks, waiting forever. Throws ValueError when the caller already holds it (it would
  /// deadlock), std::system_error on other failures.
  LockStatus lock() {
    int r = ::pthread_mutex_lock(&m_mutex);
    if (r == 0) [[likely]] {
      note_clean();
      return LockStatus::acquired;
    }
    return after_error(r);
  }

  /// Locks, waiting until `deadline` (CLOCK_MONOTONIC). Throws as lock().
  LockStatus lock(const Deadline& deadline) {
    if (deadline.infinite()) return lock();
    int r = ::pthread_mutex_trylock(&m_mutex);
    if (r == 0) [[likely]] {
      note_clean();
      return LockStatus::acquired;
    }
    if (r == EBUSY) return lock_slow(deadline);
    return after_error(r);
  }

  /// Locks without waiting. Throws ValueError when the caller already holds it, as lock().
  LockStatus try_lock() {
    int r = ::pthread_mutex_trylock(&m_mutex);
    if (r == 0) [[likely]] {
      note_clean();
      return LockStatus::acquired;
    }
    if (r == EBUSY) return LockStatus::timed_out;
    return after_error(r);
  }

  /// Unlocks. Throws ValueError when the calling thread does not hold it.
  void unlock() {
    int r = ::pthread_mutex_unlock(&m_mutex);
    if (r != 0) [[unlikely]] unlock_failed(r);
  }

  /// True when the calling thread holds the mutex.
  bool held_by_caller() const noexcept;

  /// True when some thread holds the mutex (a snapshot).
  bool locked() const noexcept;

  /// True when the current holding was recovered from a dead owner (meaningful while held).
  bool recovered() const noexcept { return m_recovered.load(std::memory_order_relaxed) != 0; }

  /// How many times this mutex was recovered from a dead owner since init().
  std::uint32_t owner_deaths() const noexcept { return m_deaths.load(std::memory_order_relaxed); }

 private:
  void note_clean() noexcept {
    if (m_recovered.load(std::memory_order_relaxed)) [[unlikely]]
      m_recovered.store(0, std::memory_order_relaxed);
  }
  LockStatus lock_slow(const Deadline& deadline);
  LockStatus after_error(int r);
  [[noreturn]] static void unlock_failed(int r);

  pthread_mutex_t m_mutex;
  std::atomic<std::uint32_t> m_recovered;  // written only by the holder
  std::atomic<std::uint32_t> m_deaths;     // written only by the holder
};

}  // namespace ipc::detail
