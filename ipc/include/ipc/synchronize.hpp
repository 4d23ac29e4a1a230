// Lock, RLock, Semaphore, BoundedSemaphore, Event, Condition and Barrier shared between processes.
//
// Every object keeps its state in shared memory:
// - default-constructed objects (`ipc::Lock lock;`) map their own small anonymous MAP_SHARED
//   page, so children forked after construction share them (Python's fork start method);
// - `create(name)`, `open(name)` and `create_or_open(name)` use a named POSIX segment
//   ("/ipckit-<name>", mode 0600, unlinked by the creating handle), for unrelated processes.
// Handles are move-only; a moved-from handle must not be used. Every blocking call takes an
// ipc::Timeout (default: forever) and reports a timeout by returning false (or throwing
// TimeoutError/BrokenBarrierError where Python raises).
//
// Owner death: Lock, RLock, Condition (and the locks of Value/Array) are robust mutexes. When a
// process dies holding one (SIGKILL included), the next acquirer gets the lock normally and
// `owner_died()` returns true for as long as it holds it: the data it guards may be half-updated,
// repair it before releasing. The flag is cleared by the next clean acquisition; owner_deaths()
// counts recoveries. Semaphores and Events have no owner: they are futexes on atomic counters,
// so a process dying in the middle of an operation cannot corrupt them (a unit acquired by a
// dead process is not given back, as in Python). A Barrier breaks (BrokenBarrierError) when a
// party dies inside its critical section or while it waits: the parties waiting learn it within
// 0.1 s, and a party that arrives after it is not let through.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <ipc/detail/robust_mutex.hpp>
#include <ipc/detail/shared_object.hpp>
#include <ipc/shared_memory.hpp>
#include <ipc/timeout.hpp>

namespace ipc {

class Lock;
template <class T>
class Value;
template <class T>
class Array;

namespace detail {
/// Unlocks `m` if the calling thread holds it (before its memory is unmapped). Never throws.
inline void release_if_held(RobustMutex* m) noexcept {
  if (m && m->held_by_caller()) {
    try {
      m->unlock();
    } catch (...) {  // cannot happen: held by the caller
    }
  }
}
/// The Lockable / TimedLockable members (lock, try_lock, unlock, try_lock_for) of a type that
/// has acquire(Timeout) and release(), so that std::scoped_lock and std::unique_lock work with it.
template <class D>
struct LockableMixin {
  /// acquire() without limit.
  void lock() { self().acquire(); }
  /// acquire() without waiting.
  bool try_lock() { return self().acquire(std::chrono::nanoseconds(0)); }
  /// release().
  void unlock() { self().release(); }
  /// acquire(d).
  template <class Rep, class Period>
  bool try_lock_for(const std::chrono::duration<Rep, Period>& d) {
    return self().acquire(d);
  }

 private:
  D& self() { return static_cast<D&>(*this); }
};

struct LockAccess;
struct SemaphoreState;
struct EventState;
struct ConditionState;
struct BarrierState;
struct BarrierSlot;
struct RLockState {
  RobustMutex mutex;
  std::uint32_t count;  // recursion depth; written only by the holder
};
}  // namespace detail

// ---- Lock ----

/// A non-recursive lock shared between processes (Python's multiprocessing.Lock), robust against
/// the death of its holder (see the file comment). Owned: only the thread that acquired it may
/// release it (ValueError otherwise; unlike Python, use a Semaphore(1) to hand off between
/// processes); acquiring it again from the holding thread throws ValueError instead of
/// deadlocking. Lockable: works with std::scoped_lock / std::unique_lock. Thread-safe and fork-safe.
class Lock {
 public:
  /// An anonymous lock (its own shared page), shared with children forked later. Throws
  /// std::system_error when the mapping fails.
  Lock();
  /// Creates the named lock "/ipckit-<name>". Throws as SharedMemory::create.
  static Lock create(std::string_view name, mode_t mode = 0600);
  /// Opens the named lock. Throws as SharedMemory::open (ValueError when it is not a lock).
  static Lock open(std::string_view name);
  /// Creates or opens the named lock.
  static Lock create_or_open(std::string_view name, mode_t mode = 0600);

  Lock(Lock&& o) noexcept : m_shm(std::move(o.m_shm)), m_mutex(std::exchange(o.m_mutex, nullptr)) {}
  /// Lets go of the current lock first (as the destructor), then takes `o`'s.
  Lock& operator=(Lock&& o) noexcept {
    if (this != &o) {
      drop();
      m_shm = std::move(o.m_shm);
      m_mutex = std::exchange(o.m_mutex, nullptr);
    }
    return *this;
  }
  /// Unmaps; releases the lock first if the calling thread holds it (a held robust mutex must not
  /// be unmapped: the thread's robust list points into it). Never throws.
  ~Lock() { drop(); }

  /// Acquires the lock; returns false when `timeout` passed first. Returns true also when the
  /// previous owner died holding it (then owner_died() is true). Throws ValueError when the
  /// calling thread already holds it.
  bool acquire(Timeout timeout = {}) {
    if (timeout.infinite()) return m_mutex->lock() != detail::LockStatus::timed_out;
    return m_mutex->lock(Deadline(timeout)) != detail::LockStatus::timed_out;
  }
  /// Releases the lock. Throws ValueError when the calling thread does not hold it.
  void release() { m_mutex->unlock(); }
  /// Lockable: acquire() forever.
  void lock() { m_mutex->lock(); }
  /// Lockable: acquire without waiting; false when held elsewhere.
  bool try_lock() { return m_mutex->try_lock() != detail::LockStatus::timed_out; }
  /// Lockable: release().
  void unlock() { m_mutex->unlock(); }
  /// TimedLockable: acquire(d).
  template <class Rep, class Period>
  bool try_lock_for(const std::chrono::duration<Rep, Period>& d) {
    return acquire(d);
  }

  /// True when some thread (of any process) holds the lock; a snapshot.
  bool locked() const noexcept { return m_mutex->locked(); }
  /// True when the calling thread holds the lock.
  bool held() const noexcept { return m_mutex->held_by_caller(); }
  /// True when the current holding was taken over from an owner that died holding it.
  bool owner_died() const noexcept { return m_mutex->recovered(); }
  /// How many times the lock was recovered from a dead owner.
  std::uint32_t owner_deaths() const noexcept { return m_mutex->owner_deaths(); }
  /// The full name of a named lock, empty for an anonymous one.
  const std::string& name() const noexcept { return m_shm.name(); }

 private:
  friend struct detail::LockAccess;
  struct ViewTag {};
  Lock(ViewTag, detail::RobustMutex* m) noexcept : m_mutex(m) {}
  explicit Lock(SharedMemory shm) noexcept;
  void drop() noexcept {
    if (m_shm) detail::release_if_held(m_mutex);  // a view leaves this to the owning object
  }

  SharedMemory m_shm;  // empty for a view of a mutex inside another object (Value, Array)
  detail::RobustMutex* m_mutex = nullptr;
};

namespace detail {
/// Makes a non-owning Lock over a RobustMutex that lives inside another shared object.
struct LockAccess {
  static Lock view(RobustMutex* m) noexcept { return Lock(Lock::ViewTag{}, m); }
  static RobustMutex* mutex_of(const Lock& l) noexcept { return l.m_mutex; }
};
}  // namespace detail

// ---- RLock ----

/// A recursive lock shared between processes (Python's multiprocessing.RLock): the holding thread
/// may acquire it again; it is free once released as many times. Release by a thread that does not
/// hold it throws ValueError. Robust against owner death like Lock (the count restarts at 1).
/// Lockable. Thread-safe and fork-safe.
class RLock : public detail::LockableMixin<RLock> {
 public:
  /// An anonymous RLock shared with children forked later.
  RLock();
  /// Creates the named RLock.
  static RLock create(std::string_view name, mode_t mode = 0600);
  /// Opens the named RLock.
  static RLock open(std::string_view name);
  /// Creates or opens the named RLock.
  static RLock create_or_open(std::string_view name, mode_t mode = 0600);

  RLock(RLock&& o) noexcept : m_shm(std::move(o.m_shm)), m_state(std::exchange(o.m_state, nullptr)) {}
  /// Lets go of the current RLock first (as the destructor), then takes `o`'s.
  RLock& operator=(RLock&& o) noexcept {
    if (this != &o) {
      drop();
      m_shm = std::move(o.m_shm);
      m_state = std::exchange(o.m_state, nullptr);
    }
    return *this;
  }
  /// Unmaps; releases the lock (all levels) first if the calling thread holds it. Never throws.
  ~RLock() { drop(); }

  /// Acquires (or re-enters) the lock; false when `timeout` passed first.
  bool acquire(Timeout timeout = {});
  /// Releases one level. Throws ValueError when the calling thread does not hold the lock.
  void release();
  /// Recursion depth held by the calling thread (0 when it does not hold the lock).
  std::uint32_t count() const noexcept;
  /// True when the calling thread holds the lock.
  bool held() const noexcept { return m_state->mutex.held_by_caller(); }
  /// True when the current holding was taken over from an owner that died holding it.
  bool owner_died() const noexcept { return m_state->mutex.recovered(); }
  /// How many times the lock was recovered from a dead owner.
  std::uint32_t owner_deaths() const noexcept { return m_state->mutex.owner_deaths(); }
  /// The full name of a named RLock, empty for an anonymous one.
  const std::string& name() const noexcept { return m_shm.name(); }

 private:
  explicit RLock(SharedMemory shm) noexcept;
  void drop() noexcept;
  SharedMemory m_shm;
  detail::RLockState* m_state = nullptr;
};

// ---- Semaphore, BoundedSemaphore ----

/// A counting semaphore shared between processes (Python's multiprocessing.Semaphore): a futex
/// on an atomic counter, no owner, so any process may release and a dead holder cannot corrupt
/// it. Lockable (acquire/release one unit). Thread-safe and fork-safe.
class Semaphore : public detail::LockableMixin<Semaphore> {
 public:
  /// The largest value a semaphore can hold.
  static constexpr std::uint32_t kMaxValue = INT_MAX;

  /// An anonymous semaphore with `value` units. Throws ValueError when value > kMaxValue.
  explicit Semaphore(std::uint32_t value = 1);
  /// Creates the named semaphore with `value` units.
  static Semaphore create(std::string_view name, std::uint32_t value = 1, mode_t mode = 0600);
  /// Opens the named semaphore (bounded or not).
  static Semaphore open(std::string_view name);
  /// Creates (with `value` units) or opens the named semaphore.
  static Semaphore create_or_open(std::string_view name, std::uint32_t value = 1, mode_t mode = 0600);

  Semaphore(Semaphore&&) noexcept = default;
  Semaphore& operator=(Semaphore&&) noexcept = default;

  /// Takes one unit, waiting while there is none; false when `timeout` passed first.
  bool acquire(Timeout timeout = {});
  /// Gives `n` units back and wakes as many waiters. Throws ValueError for a BoundedSemaphore
  /// released above its initial value (nothing is released then), or above kMaxValue.
  void release(std::uint32_t n = 1);
  /// The number of free units (a snapshot; Python's get_value()).
  std::uint32_t get_value() const noexcept;
  /// The bound of a BoundedSemaphore (its initial value), 0 for an unbounded one.
  std::uint32_t bound() const noexcept;
  /// The full name of a named semaphore, empty for an anonymous one.
  const std::string& name() const noexcept { return m_shm.name(); }

 protected:
  Semaphore(SharedMemory shm) noexcept;
  static SharedMemory make(detail::OpenMode how, std::string_view name, std::uint32_t value, std::uint32_t bound,
                           mode_t mode);

  SharedMemory m_shm;
  detail::SemaphoreState* m_state = nullptr;
};

/// A Semaphore that may not be released above its initial value (Python's BoundedSemaphore):
/// over-release throws ValueError.
class BoundedSemaphore : public Semaphore {
 public:
  /// An anonymous bounded semaphore with `value` units (also its bound).
  explicit BoundedSemaphore(std::uint32_t value = 1);
  /// Creates the named bounded semaphore.
  static BoundedSemaphore create(std::string_view name, std::uint32_t value = 1, mode_t mode = 0600);
  /// Opens the named bounded semaphore. Throws ValueError when it is not bounded.
  static BoundedSemaphore open(std::string_view name);
  /// Creates or opens the named bounded semaphore.
  static BoundedSemaphore create_or_open(std::string_view name, std::uint32_t value = 1, mode_t mode = 0600);

 private:
  explicit BoundedSemaphore(SharedMemory shm);
};

// ---- Event ----

/// A flag processes can wait for (Python's multiprocessing.Event): set(), clear(), is_set(),
/// wait(timeout). A futex on an atomic word; no owner. Thread-safe and fork-safe.
class Event {
 public:
  /// An anonymous event, initially clear.
  Event();
  /// Creates the named event, initially clear.
  static Event create(std::string_view name, mode_t mode = 0600);
  /// Opens the named event.
  static Event open(std::string_view name);
  /// Creates or opens the named event.
  static Event create_or_open(std::string_view name, mode_t mode = 0600);

  Event(Event&&) noexcept = default;
  Event& operator=(Event&&) noexcept = default;

  /// True when set.
  bool is_set() const noexcept;
  /// Sets the flag and wakes every waiter.
  void set() noexcept;
  /// Clears the flag.
  void clear() noexcept;
  /// Waits until the flag is set; returns the flag (false when `timeout` passed first).
  bool wait(Timeout timeout = {}) const noexcept;
  /// The full name of a named event, empty for an anonymous one.
  const std::string& name() const noexcept { return m_shm.name(); }

 private:
  explicit Event(SharedMemory shm) noexcept;
  SharedMemory m_shm;
  detail::EventState* m_state = nullptr;
};

// ---- Condition ----

/// A condition variable shared between processes, with its own robust lock or a caller's Lock
/// (Python's multiprocessing.Condition(lock)). Hold the lock (acquire(), or as a Lockable, or
/// the caller's Lock itself) around wait()/notify(); wait releases it while sleeping and
/// re-acquires it before returning. Wake-ups may be spurious: prefer wait_for(predicate). If a process dies holding the
/// lock, the next acquirer (or waiter re-acquiring) gets it with owner_died() true. Thread-safe and fork-safe.
class Condition : public detail::LockableMixin<Condition> {
 public:
  /// An anonymous condition shared with children forked later.
  Condition();
  /// An anonymous condition that uses the caller's `lock` (Python's Condition(lock)): holding
  /// `lock` is holding the condition. `lock` must outlive the condition and be shared with the
  /// same processes (an anonymous Lock made before the fork, or a named one).
  explicit Condition(Lock& lock);
  /// Creates the named condition.
  static Condition create(std::string_view name, mode_t mode = 0600);
  /// Opens the named condition.
  static Condition open(std::string_view name);
  /// Creates or opens the named condition.
  static Condition create_or_open(std::string_view name, mode_t mode = 0600);

  Condition(Condition&& o) noexcept
      : m_shm(std::move(o.m_shm)),
        m_state(std::exchange(o.m_state, nullptr)),
        m_mutex(std::exchange(o.m_mutex, nullptr)),
        m_external(o.m_external) {}
  /// Lets go of the current condition first (as the destructor), then takes `o`'s.
  Condition& operator=(Condition&& o) noexcept {
    if (this != &o) {
      drop();
      m_shm = std::move(o.m_shm);
      m_state = std::exchange(o.m_state, nullptr);
      m_mutex = std::exchange(o.m_mutex, nullptr);
      m_external = o.m_external;
    }
    return *this;
  }
  /// Unmaps; releases its own lock first if the calling thread holds it (a caller's Lock is
  /// left as it is). Never throws.
  ~Condition() { drop(); }

  /// Acquires the condition's lock; false when `timeout` passed first.
  bool acquire(Timeout timeout = {});
  /// Releases the condition's lock. Throws ValueError when not held by the caller.
  void release();

  /// Releases the lock, sleeps until notified or `timeout`, re-acquires the lock (without limit);
  /// returns false when it timed out. Throws ValueError when the lock is not held by the caller.
  bool wait(Timeout timeout = {});
  /// Waits until `pred()` is true (checked with the lock held), at most `timeout`; returns the
  /// last value of pred() (Python's wait_for).
  template <class Pred>
  bool wait_for(Pred pred, Timeout timeout = {}) {
    Deadline deadline(timeout);
    while (!pred()) {
      if (deadline.expired()) return pred();
      wait(deadline.infinite() ? Timeout{} : Timeout(deadline.remaining()));
    }
    return true;
  }
  /// Wakes up to `n` waiters. Throws ValueError when the lock is not held by the caller.
  void notify(std::uint32_t n = 1);
  /// Wakes every waiter. Throws ValueError when the lock is not held by the caller.
  void notify_all();

  /// True when the current holding of the lock was taken over from an owner that died.
  bool owner_died() const noexcept;
  /// True when the calling thread holds the lock.
  bool held() const noexcept;
  /// The full name of a named condition, empty for an anonymous one.
  const std::string& name() const noexcept { return m_shm.name(); }

 private:
  explicit Condition(SharedMemory shm) noexcept;
  void drop() noexcept;
  SharedMemory m_shm;
  detail::ConditionState* m_state = nullptr;
  detail::RobustMutex* m_mutex = nullptr;  // the state's own, or the caller's Lock's
  bool m_external = false;                 // m_mutex is the caller's
};

// ---- Barrier ----

/// A barrier for a fixed number of parties across processes (Python's Barrier): wait() blocks
/// until `parties` callers wait, then all pass together and the barrier is ready again. The last
/// one to arrive runs the action (in its own process) before the others are released. The
/// barrier breaks (every current and later wait() throws BrokenBarrierError until reset()) when
/// abort() is called, a wait() times out, the action throws, or a waiting party dies (a thread
/// or process killed inside wait(), SIGKILL included: each waiter holds a robust presence lock
/// that the kernel marks when its holder dies). Thread-safe and fork-safe; the action is per
/// handle (a named barrier opened elsewhere has the action given there).
class Barrier {
 public:
  /// An anonymous barrier for `parties` (1 .. 2^20) callers, with an optional action and a
  /// default timeout for wait(). Throws ValueError when parties is out of range.
  explicit Barrier(std::uint32_t parties, std::function<void()> action = {}, Timeout timeout = {});
  /// Creates the named barrier.
  static Barrier create(std::string_view name, std::uint32_t parties, std::function<void()> action = {},
                        Timeout timeout = {}, mode_t mode = 0600);
  /// Opens the named barrier.
  static Barrier open(std::string_view name, std::function<void()> action = {}, Timeout timeout = {});
  /// Creates or opens the named barrier (parties must match when it exists: ValueError).
  static Barrier create_or_open(std::string_view name, std::uint32_t parties, std::function<void()> action = {},
                                Timeout timeout = {}, mode_t mode = 0600);

  Barrier(Barrier&&) noexcept = default;
  Barrier& operator=(Barrier&&) noexcept = default;

  /// Waits for all parties; returns this caller's arrival index (0 .. parties-1). Uses the
  /// barrier's default timeout when none is given. Throws BrokenBarrierError when the barrier is
  /// or becomes broken (a timeout or a dead waiting party breaks it); rethrows the action's exception in the process that
  /// ran it (the barrier breaks).
  std::uint32_t wait(std::optional<Timeout> timeout = std::nullopt);
  /// Returns the barrier to its initial state; callers still waiting get BrokenBarrierError.
  void reset();
  /// Breaks the barrier: current and later waiters get BrokenBarrierError until reset().
  void abort();
  /// The number of parties.
  std::uint32_t parties() const noexcept;
  /// How many callers are waiting now.
  std::uint32_t n_waiting() const noexcept;
  /// True when broken.
  bool broken() const noexcept;
  /// The full name of a named barrier, empty for an anonymous one.
  const std::string& name() const noexcept { return m_shm.name(); }

 private:
  Barrier(SharedMemory shm, std::function<void()> action, Timeout timeout) noexcept;
  void lock_state();
  void break_locked() noexcept;
  bool take_slot(detail::BarrierSlot*& out);
  bool reap_dead_waiters();

  SharedMemory m_shm;
  detail::BarrierState* m_state = nullptr;
  std::function<void()> m_action;
  Timeout m_timeout;
};

}  // namespace ipc
