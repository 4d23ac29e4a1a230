// RobustMutex: a futex mutex in shared memory that the kernel releases when its owner dies.
#pragma once

#include <linux/futex.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

#include <ipc/detail/futex.hpp>
#include <ipc/timeout.hpp>

namespace ipc::detail {

/// What an acquisition attempt gave: the lock, the lock recovered from an owner that died while
/// holding it (the data it guards may be half-updated), or nothing before the deadline.
enum class LockStatus { acquired, owner_died, timed_out };

/// The calling thread's robust-list head (the one glibc registered with set_robust_list), cached
/// per thread; set by robust_head_slow(). Constant-initialised so that access needs no TLS wrapper.
extern constinit thread_local robust_list_head* t_robust_head;
/// Finds (or registers) the calling thread's robust-list head. Throws ipc::Error when the C
/// library's list does not have the layout RobustMutex relies on.
robust_list_head* robust_head_slow();
/// The calling thread's robust-list head.
inline robust_list_head* robust_head() {
  robust_list_head* h = t_robust_head;
  return h ? h : robust_head_slow();
}

/// A mutex that lives in shared memory and survives the death of its owner (even by SIGKILL).
///
/// The lock word holds the owner's thread id, like a glibc robust mutex, and while held the mutex
/// is linked into the owning thread's kernel robust list (the list glibc registers for every
/// thread, with the same node layout as pthread_mutex_t, so both kinds of mutex can be on it at
/// once). When the owner dies the kernel sets FUTEX_OWNER_DIED in the word and wakes a waiter; the
/// next locker takes the lock, gets LockStatus::owner_died and the mutex is usable again at once.
/// Contended lockers spin briefly before sleeping on the futex.
///
/// Placement: init() in memory shared by every user (the creator does it once, before others can
/// see the memory); never copy or move it. Owned by a thread: unlock from a thread that does not
/// hold it throws ValueError; locking it again from the holding thread throws ValueError instead
/// of deadlocking.
class RobustMutex {
 public:
  /// Initialises the mutex in place (creator only). Never throws.
  void init() noexcept;

  /// Locks, waiting forever. Throws ValueError when the caller already holds it.
  LockStatus lock() {
    robust_list_head* h = robust_head();
    int tid = current_tid();
    if (lock_fast(h, tid)) [[likely]]
      return LockStatus::acquired;
    return lock_slow(h, tid, nullptr);
  }

  /// Locks, waiting until `deadline`. Throws as lock().
  LockStatus lock(const Deadline& deadline) {
    robust_list_head* h = robust_head();
    int tid = current_tid();
    if (lock_fast(h, tid)) [[likely]]
      return LockStatus::acquired;
    return lock_slow(h, tid, &deadline);
  }

  /// Locks without waiting (recovering a dead owner's lock counts). Throws ValueError when the
  /// caller already holds it.
  LockStatus try_lock() {
    Deadline now(std::chrono::nanoseconds(0));
    return lock(now);
  }

  /// Unlocks and wakes one waiter. Throws ValueError when the calling thread does not hold it.
  void unlock() {
    int tid = current_tid();
    if ((m_word.load(std::memory_order_relaxed) & FUTEX_TID_MASK) != static_cast<std::uint32_t>(tid)) [[unlikely]]
      unlock_not_owner();
    robust_list_head* h = robust_head();
    h->list_op_pending = entry();
    std::atomic_signal_fence(std::memory_order_seq_cst);
    dequeue();
    std::atomic_signal_fence(std::memory_order_seq_cst);
    std::uint32_t old = m_word.exchange(0, std::memory_order_release);
    if (old & FUTEX_WAITERS) [[unlikely]]
      futex_wake(m_word, 1);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    h->list_op_pending = nullptr;
  }

  /// True when the calling thread holds the mutex.
  bool held_by_caller() const noexcept {
    return (m_word.load(std::memory_order_relaxed) & FUTEX_TID_MASK) == static_cast<std::uint32_t>(current_tid());
  }

  /// True when some thread holds the mutex (a snapshot).
  bool locked() const noexcept { return (m_word.load(std::memory_order_relaxed) & FUTEX_TID_MASK) != 0; }

  /// True when the current holding was recovered from a dead owner (meaningful while held).
  bool recovered() const noexcept { return m_recovered.load(std::memory_order_relaxed) != 0; }

  /// How many times this mutex was recovered from a dead owner since init().
  std::uint32_t owner_deaths() const noexcept { return m_deaths.load(std::memory_order_relaxed); }

 private:
  // The kernel finds the lock word at (list entry + futex_offset); glibc registers -32, the
  // distance from pthread_mutex_t's __lock to its __list.__next. This layout keeps that distance.
  static constexpr std::ptrdiff_t kFutexOffset = -32;

  robust_list* entry() noexcept { return reinterpret_cast<robust_list*>(&m_next); }

  // glibc's ENQUEUE_MUTEX / DEQUEUE_MUTEX (nptl/descr.h): a doubly linked list whose links point
  // at the `next` field of each node (the head's pseudo-node has its `prev` just before the
  // robust_list_head). Only the owning thread touches it; the kernel reads the `next` chain when
  // the thread dies, hence the compiler barriers.
  static void** prev_field_of(void* link) noexcept {
    return reinterpret_cast<void**>((reinterpret_cast<std::uintptr_t>(link) & ~std::uintptr_t{1}) - sizeof(void*));
  }
  void enqueue(robust_list_head* h) noexcept {
    void* first = h->list.next;
    *prev_field_of(first) = &m_next;
    m_next = first;
    m_prev = h;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    h->list.next = entry();
  }
  void dequeue() noexcept {
    void* next = m_next;
    void* prev = m_prev;
    *prev_field_of(next) = prev;
    *reinterpret_cast<void**>(reinterpret_cast<std::uintptr_t>(prev) & ~std::uintptr_t{1}) = next;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    m_prev = nullptr;
    m_next = nullptr;
  }
  // The uncontended path: announce the operation to the kernel (list_op_pending covers a death
  // between the CAS and the enqueue), take a free word, link the node. False: left pending for
  // lock_slow.
  bool lock_fast(robust_list_head* h, int tid) noexcept {
    h->list_op_pending = entry();
    std::atomic_signal_fence(std::memory_order_seq_cst);
    std::uint32_t expected = 0;
    if (!m_word.compare_exchange_strong(expected, static_cast<std::uint32_t>(tid), std::memory_order_acquire,
                                        std::memory_order_relaxed))
      return false;
    enqueue(h);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    h->list_op_pending = nullptr;
    note_clean();
    return true;
  }
  void note_clean() noexcept {
    if (m_recovered.load(std::memory_order_relaxed)) [[unlikely]]
      m_recovered.store(0, std::memory_order_relaxed);
  }
  LockStatus lock_slow(robust_list_head* h, int tid, const Deadline* deadline);
  [[noreturn]] static void unlock_not_owner();

  std::atomic<std::uint32_t> m_word;  // 0 | owner tid, FUTEX_WAITERS, FUTEX_OWNER_DIED
  std::uint32_t m_reserved[5];        // keeps m_next 32 bytes after m_word (pthread_mutex_t layout)
  void* m_prev;                       // robust list links, valid while held (owner's addresses)
  void* m_next;
  std::atomic<std::uint32_t> m_recovered;  // written only by the holder
  std::atomic<std::uint32_t> m_deaths;     // written only by the holder

  friend struct RobustMutexLayout;
};

/// Compile-time checks of RobustMutex's layout against the kernel's expectation.
struct RobustMutexLayout {
  static_assert(sizeof(void*) == 8, "RobustMutex's list layout assumes a 64-bit ABI");
  static constexpr bool ok = offsetof(RobustMutex, m_next) - offsetof(RobustMutex, m_word) == 32;
  static_assert(ok, "the lock word must sit 32 bytes before the list entry");
};

}  // namespace ipc::detail
