// RobustMutex: initialisation, timed locking and owner-death recovery.
#include <ipc/detail/robust_mutex.hpp>

#include <linux/futex.h>

#include <cerrno>
#include <chrono>
#include <ctime>

#include <ipc/detail/futex.hpp>
#include <ipc/errors.hpp>

#ifndef __GLIBC__
#error "RobustMutex reads glibc's pthread_mutex_t layout (__data.__lock) to tell the owner"
#endif

namespace ipc::detail {

namespace {

/// Frees a pthread_mutexattr_t on scope exit.
struct MutexAttr {
  pthread_mutexattr_t attr;
  MutexAttr() {
    if (int r = ::pthread_mutexattr_init(&attr)) throw_system_error(r, "pthread_mutexattr_init");
  }
  ~MutexAttr() { ::pthread_mutexattr_destroy(&attr); }
};

}  // namespace

void RobustMutex::init() {
  MutexAttr a;
  if (int r = ::pthread_mutexattr_setpshared(&a.attr, PTHREAD_PROCESS_SHARED))
    throw_system_error(r, "pthread_mutexattr_setpshared");
  if (int r = ::pthread_mutexattr_setrobust(&a.attr, PTHREAD_MUTEX_ROBUST))
    throw_system_error(r, "pthread_mutexattr_setrobust");
  // Error-checking: relocking by the holder fails at once (EDEADLK) instead of hanging.
  if (int r = ::pthread_mutexattr_settype(&a.attr, PTHREAD_MUTEX_ERRORCHECK))
    throw_system_error(r, "pthread_mutexattr_settype");
  if (int r = ::pthread_mutex_init(&m_mutex, &a.attr)) throw_system_error(r, "pthread_mutex_init");
  m_recovered.store(0, std::memory_order_relaxed);
  m_deaths.store(0, std::memory_order_relaxed);
}

LockStatus RobustMutex::lock_slow(const Deadline& deadline) {
  auto since = deadline.at().time_since_epoch();
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(since);
  timespec abs{static_cast<time_t>(secs.count()),
               static_cast<long>(std::chrono::duration_cast<std::chrono::nanoseconds>(since - secs).count())};
  int r = ::pthread_mutex_clocklock(&m_mutex, CLOCK_MONOTONIC, &abs);
  if (r == 0) {
    note_clean();
    return LockStatus::acquired;
  }
  if (r == ETIMEDOUT) return LockStatus::timed_out;
  return after_error(r);
}

LockStatus RobustMutex::after_error(int r) {
  if (r == EOWNERDEAD) {
    // We hold the lock now; mark it usable again before anyone can see it. Should we die before
    // this line, the kernel marks it again and the next locker gets EOWNERDEAD in turn.
    if (int c = ::pthread_mutex_consistent(&m_mutex)) throw_system_error(c, "pthread_mutex_consistent");
    m_recovered.store(1, std::memory_order_relaxed);
    m_deaths.fetch_add(1, std::memory_order_relaxed);
    return LockStatus::owner_died;
  }
  if (r == EDEADLK) throw ValueError("lock is already held by this thread (acquiring it again would deadlock)");
  if (r == ENOTRECOVERABLE)
    throw_system_error(r, "pthread_mutex_lock: mutex not recoverable (unlocked without being made consistent)");
  throw_system_error(r, "pthread_mutex_lock");
}

void RobustMutex::unlock_failed(int r) {
  if (r == EPERM) throw ValueError("cannot release a lock that this thread does not hold");
  throw_system_error(r, "pthread_mutex_unlock");
}

bool RobustMutex::held_by_caller() const noexcept {
  auto word = __atomic_load_n(&m_mutex.__data.__lock, __ATOMIC_RELAXED);
  return static_cast<int>(static_cast<unsigned>(word) & FUTEX_TID_MASK) == current_tid();
}

bool RobustMutex::locked() const noexcept {
  auto word = __atomic_load_n(&m_mutex.__data.__lock, __ATOMIC_RELAXED);
  return (static_cast<unsigned>(word) & FUTEX_TID_MASK) != 0;
}

}  // namespace ipc::detail
