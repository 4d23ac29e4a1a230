// Lock, RLock, Semaphore, BoundedSemaphore, Event, Condition and Barrier in shared memory.
#include <ipc/synchronize.hpp>

#include <sched.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <new>
#include <span>
#include <string>

#include <ipc/detail/futex.hpp>
#include <ipc/errors.hpp>

namespace ipc {

namespace detail {

struct SemaphoreState {
  std::atomic<std::uint32_t> value;    // futex word: free units
  std::atomic<std::uint32_t> waiters;  // sleepers (may over-count after a waiter died: extra wakes only)
  std::uint32_t bound;                 // 0 = unbounded
};

struct EventState {
  std::atomic<std::uint32_t> flag;  // futex word
  std::atomic<std::uint32_t> waiters;
};

struct ConditionState {
  RobustMutex mutex;
  std::atomic<std::uint32_t> seq;  // futex word: bumped by every notify
  std::atomic<std::uint32_t> waiters;
};

struct BarrierState {
  RobustMutex mutex;
  std::atomic<std::uint32_t> seq;  // futex word: bumped on pass, break and reset
  std::uint32_t parties;
  std::uint32_t count;   // arrivals in the current generation
  std::uint32_t gen;     // generation number, bumped on pass and on reset
  std::uint32_t broken;  // the current generation is broken
  // Bit g%64 tells whether generation g ended broken (by reset while broken or while waited on),
  // so a waiter that wakes after a later generation began still learns how its own one ended.
  std::uint64_t ended_broken;
  std::uint32_t nslots;         // presence slots after this struct (see BarrierSlot)
  std::uint64_t last_scan_ns;   // CLOCK_MONOTONIC of the last look for dead waiters
};

/// One waiter's presence. A waiter takes a free slot when it arrives and holds the slot's robust
/// mutex until it leaves wait(), so a waiter that dies (SIGKILL included) leaves the mutex marked
/// owner-died by the kernel: the others find it with a non-blocking try_lock and break the
/// barrier. There are twice as many slots as parties, so that waiters of the last generation that
/// have not yet left never starve the next one. Zeroed memory is a free slot.
struct BarrierSlot {
  RobustMutex presence;
  std::uint32_t occupied;  // written under the state lock, like gen
  std::uint32_t gen;       // the generation its occupant arrived in
};

namespace {

template <class State>
SharedMemory map_state(OpenMode how, std::string_view name, std::uint32_t kind, mode_t mode,
                       std::function<void(State&)> init) {
  return map_object(how, name, sizeof(State), kind, mode, 0, [&](std::span<std::byte> bytes) {
    auto* s = new (bytes.data()) State;
    init(*s);
  });
}

}  // namespace

}  // namespace detail

using detail::OpenMode;

namespace {
constexpr std::uint32_t kKindLock = shm_kind("lock");
constexpr std::uint32_t kKindRLock = shm_kind("rlck");
constexpr std::uint32_t kKindSemaphore = shm_kind("sema");
constexpr std::uint32_t kKindEvent = shm_kind("evnt");
constexpr std::uint32_t kKindCondition = shm_kind("cond");
constexpr std::uint32_t kKindBarrier = shm_kind("barr");

SharedMemory make_lock(OpenMode how, std::string_view name, mode_t mode) {
  return detail::map_state<detail::RobustMutex>(how, name, kKindLock, mode, [](detail::RobustMutex& m) { m.init(); });
}

SharedMemory make_rlock(OpenMode how, std::string_view name, mode_t mode) {
  return detail::map_state<detail::RLockState>(how, name, kKindRLock, mode, [](detail::RLockState& s) {
    s.mutex.init();
    s.count = 0;
  });
}
}  // namespace

// ---- Lock ----

Lock::Lock() : Lock(make_lock(OpenMode::anonymous, {}, 0600)) {}
Lock::Lock(SharedMemory shm) noexcept
    : m_shm(std::move(shm)), m_mutex(static_cast<detail::RobustMutex*>(m_shm.data())) {}
Lock Lock::create(std::string_view name, mode_t mode) { return Lock(make_lock(OpenMode::create, name, mode)); }
Lock Lock::open(std::string_view name) { return Lock(make_lock(OpenMode::open, name, 0600)); }
Lock Lock::create_or_open(std::string_view name, mode_t mode) {
  return Lock(make_lock(OpenMode::create_or_open, name, mode));
}

// ---- RLock ----

RLock::RLock() : RLock(make_rlock(OpenMode::anonymous, {}, 0600)) {}
RLock::RLock(SharedMemory shm) noexcept
    : m_shm(std::move(shm)), m_state(static_cast<detail::RLockState*>(m_shm.data())) {}
RLock RLock::create(std::string_view name, mode_t mode) { return RLock(make_rlock(OpenMode::create, name, mode)); }
RLock RLock::open(std::string_view name) { return RLock(make_rlock(OpenMode::open, name, 0600)); }
RLock RLock::create_or_open(std::string_view name, mode_t mode) {
  return RLock(make_rlock(OpenMode::create_or_open, name, mode));
}

bool RLock::acquire(Timeout timeout) {
  if (m_state->mutex.held_by_caller()) {
    if (m_state->count == UINT32_MAX) throw ValueError("RLock recursion too deep");
    ++m_state->count;
    return true;
  }
  auto st = timeout.infinite() ? m_state->mutex.lock() : m_state->mutex.lock(Deadline(timeout));
  if (st == detail::LockStatus::timed_out) return false;
  // After an owner died the count it left is meaningless: this holding starts at 1.
  m_state->count = 1;
  return true;
}

void RLock::release() {
  if (!m_state->mutex.held_by_caller()) throw ValueError("cannot release un-acquired RLock");
  if (--m_state->count == 0) m_state->mutex.unlock();
}

void RLock::drop() noexcept {
  if (m_shm && m_state && m_state->mutex.held_by_caller()) {
    m_state->count = 0;
    detail::release_if_held(&m_state->mutex);
  }
}

std::uint32_t RLock::count() const noexcept { return m_state->mutex.held_by_caller() ? m_state->count : 0; }

// ---- Semaphore ----

SharedMemory Semaphore::make(OpenMode how, std::string_view name, std::uint32_t value, std::uint32_t bound,
                             mode_t mode) {
  if (value > kMaxValue) throw ValueError("semaphore value " + std::to_string(value) + " is above the maximum");
  return detail::map_state<detail::SemaphoreState>(how, name, kKindSemaphore, mode, [&](detail::SemaphoreState& s) {
    s.value.store(value);
    s.waiters.store(0);
    s.bound = bound;
  });
}

Semaphore::Semaphore(std::uint32_t value) : Semaphore(make(OpenMode::anonymous, {}, value, 0, 0600)) {}
Semaphore::Semaphore(SharedMemory shm) noexcept
    : m_shm(std::move(shm)), m_state(static_cast<detail::SemaphoreState*>(m_shm.data())) {}
Semaphore Semaphore::create(std::string_view name, std::uint32_t value, mode_t mode) {
  return Semaphore(make(OpenMode::create, name, value, 0, mode));
}
Semaphore Semaphore::open(std::string_view name) { return Semaphore(make(OpenMode::open, name, 0, 0, 0600)); }
Semaphore Semaphore::create_or_open(std::string_view name, std::uint32_t value, mode_t mode) {
  return Semaphore(make(OpenMode::create_or_open, name, value, 0, mode));
}

bool Semaphore::acquire(Timeout timeout) {
  auto& value = m_state->value;
  auto try_take = [&]() noexcept {
    std::uint32_t v = value.load(std::memory_order_relaxed);
    while (v > 0)
      if (value.compare_exchange_weak(v, v - 1, std::memory_order_acquire, std::memory_order_relaxed)) return true;
    return false;
  };
  if (try_take()) return true;
  if (!timeout.infinite() && timeout.value().count() == 0) return false;
  Deadline deadline(timeout);
  // Dekker pairing with release(): waiters is raised before value is re-read, release raises
  // value before reading waiters (both seq_cst), so one of the two sees the other.
  m_state->waiters.fetch_add(1);
  bool got = false;
  for (;;) {
    if (value.load() > 0 && try_take()) {
      got = true;
      break;
    }
    if (detail::futex_wait(value, 0, deadline) == detail::FutexResult::timed_out) {
      got = try_take();
      break;
    }
  }
  m_state->waiters.fetch_sub(1);
  return got;
}

void Semaphore::release(std::uint32_t n) {
  if (n == 0) return;
  auto& value = m_state->value;
  std::uint32_t limit = m_state->bound ? m_state->bound : kMaxValue;
  std::uint32_t v = value.load(std::memory_order_relaxed);
  do {
    if (v > limit || n > limit - v)
      throw ValueError(m_state->bound ? "semaphore or lock released too many times"
                                      : "semaphore value would exceed its maximum");
  } while (!value.compare_exchange_weak(v, v + n, std::memory_order_seq_cst, std::memory_order_relaxed));
  if (m_state->waiters.load() > 0) detail::futex_wake(value, n > INT_MAX ? INT_MAX : static_cast<int>(n));
}

std::uint32_t Semaphore::get_value() const noexcept { return m_state->value.load(std::memory_order_relaxed); }
std::uint32_t Semaphore::bound() const noexcept { return m_state->bound; }

BoundedSemaphore::BoundedSemaphore(std::uint32_t value) : Semaphore(make(OpenMode::anonymous, {}, value, value, 0600)) {
  if (value == 0) throw ValueError("a BoundedSemaphore needs a positive initial value");
}
BoundedSemaphore::BoundedSemaphore(SharedMemory shm) : Semaphore(std::move(shm)) {
  if (m_state->bound == 0) throw ValueError("semaphore " + m_shm.name() + " is not bounded");
}
BoundedSemaphore BoundedSemaphore::create(std::string_view name, std::uint32_t value, mode_t mode) {
  if (value == 0) throw ValueError("a BoundedSemaphore needs a positive initial value");
  return BoundedSemaphore(make(OpenMode::create, name, value, value, mode));
}
BoundedSemaphore BoundedSemaphore::open(std::string_view name) {
  return BoundedSemaphore(make(OpenMode::open, name, 0, 0, 0600));
}
BoundedSemaphore BoundedSemaphore::create_or_open(std::string_view name, std::uint32_t value, mode_t mode) {
  if (value == 0) throw ValueError("a BoundedSemaphore needs a positive initial value");
  return BoundedSemaphore(make(OpenMode::create_or_open, name, value, value, mode));
}

// ---- Event ----

namespace {
SharedMemory make_event(OpenMode how, std::string_view name, mode_t mode) {
  return detail::map_state<detail::EventState>(how, name, kKindEvent, mode, [](detail::EventState& s) {
    s.flag.store(0);
    s.waiters.store(0);
  });
}
}  // namespace

Event::Event() : Event(make_event(OpenMode::anonymous, {}, 0600)) {}
Event::Event(SharedMemory shm) noexcept
    : m_shm(std::move(shm)), m_state(static_cast<detail::EventState*>(m_shm.data())) {}
Event Event::create(std::string_view name, mode_t mode) { return Event(make_event(OpenMode::create, name, mode)); }
Event Event::open(std::string_view name) { return Event(make_event(OpenMode::open, name, 0600)); }
Event Event::create_or_open(std::string_view name, mode_t mode) {
  return Event(make_event(OpenMode::create_or_open, name, mode));
}

bool Event::is_set() const noexcept { return m_state->flag.load(std::memory_order_acquire) != 0; }

void Event::set() noexcept {
  m_state->flag.store(1);
  if (m_state->waiters.load() > 0) detail::futex_wake_all(m_state->flag);
}

void Event::clear() noexcept { m_state->flag.store(0, std::memory_order_release); }

bool Event::wait(Timeout timeout) const noexcept {
  if (is_set()) return true;
  if (!timeout.infinite() && timeout.value().count() == 0) return false;
  Deadline deadline(timeout);
  m_state->waiters.fetch_add(1);
  bool set = false;
  for (;;) {
    if (m_state->flag.load() != 0) {
      set = true;
      break;
    }
    if (detail::futex_wait(m_state->flag, 0, deadline) == detail::FutexResult::timed_out) {
      set = m_state->flag.load() != 0;
      break;
    }
  }
  m_state->waiters.fetch_sub(1);
  return set;
}

// ---- Condition ----

namespace {
SharedMemory make_condition(OpenMode how, std::string_view name, mode_t mode) {
  return detail::map_state<detail::ConditionState>(how, name, kKindCondition, mode, [](detail::ConditionState& s) {
    s.mutex.init();
    s.seq.store(0);
    s.waiters.store(0);
  });
}
}  // namespace

Condition::Condition() : Condition(make_condition(OpenMode::anonymous, {}, 0600)) {}
Condition::Condition(SharedMemory shm) noexcept
    : m_shm(std::move(shm)), m_state(static_cast<detail::ConditionState*>(m_shm.data())), m_mutex(&m_state->mutex) {}
Condition::Condition(Lock& lock) : Condition(make_condition(OpenMode::anonymous, {}, 0600)) {
  m_mutex = detail::LockAccess::mutex_of(lock);
  m_external = true;
}
Condition Condition::create(std::string_view name, mode_t mode) {
  return Condition(make_condition(OpenMode::create, name, mode));
}
Condition Condition::open(std::string_view name) { return Condition(make_condition(OpenMode::open, name, 0600)); }
Condition Condition::create_or_open(std::string_view name, mode_t mode) {
  return Condition(make_condition(OpenMode::create_or_open, name, mode));
}

bool Condition::acquire(Timeout timeout) {
  auto st = timeout.infinite() ? m_mutex->lock() : m_mutex->lock(Deadline(timeout));
  return st != detail::LockStatus::timed_out;
}

void Condition::release() { m_mutex->unlock(); }

bool Condition::wait(Timeout timeout) {
  if (!m_mutex->held_by_caller()) throw ValueError("cannot wait on un-acquired Condition");
  Deadline deadline(timeout);
  // Read the sequence while holding the lock: a notify after our unlock changes it, so the
  // futex wait below cannot miss it.
  std::uint32_t seq = m_state->seq.load();
  m_state->waiters.fetch_add(1);
  m_mutex->unlock();
  detail::FutexResult r = detail::FutexResult::woken;
  while (m_state->seq.load() == seq) {
    r = detail::futex_wait(m_state->seq, seq, deadline);
    if (r == detail::FutexResult::timed_out) break;
  }
  m_state->waiters.fetch_sub(1);
  m_mutex->lock();
  return r != detail::FutexResult::timed_out || m_state->seq.load() != seq;
}

void Condition::notify(std::uint32_t n) {
  if (!m_mutex->held_by_caller()) throw ValueError("cannot notify on un-acquired Condition");
  if (n == 0) return;
  m_state->seq.fetch_add(1);
  if (m_state->waiters.load() > 0) detail::futex_wake(m_state->seq, n > INT_MAX ? INT_MAX : static_cast<int>(n));
}

void Condition::notify_all() { notify(INT_MAX); }

void Condition::drop() noexcept {
  // A caller's lock is the caller's business; our own must not stay held once unmapped.
  if (m_shm && m_state && !m_external) detail::release_if_held(m_mutex);
}

bool Condition::owner_died() const noexcept { return m_mutex->recovered(); }
bool Condition::held() const noexcept { return m_mutex->held_by_caller(); }

// ---- Barrier ----

namespace {
constexpr std::size_t kBarrierSlotsOffset = (sizeof(detail::BarrierState) + 63) / 64 * 64;
constexpr std::uint32_t kMaxParties = 1u << 20;

std::size_t barrier_bytes(std::uint32_t nslots) {
  return kBarrierSlotsOffset + std::size_t{nslots} * sizeof(detail::BarrierSlot);
}

SharedMemory make_barrier(OpenMode how, std::string_view name, std::uint32_t parties, mode_t mode) {
  const std::uint32_t nslots = 2 * parties;
  // Opening: any size; the segment's own slot count is checked below.
  std::size_t size = how == OpenMode::open ? 0 : barrier_bytes(nslots);
  auto shm = map_object(how, name, size, kKindBarrier, mode, 0, [&](std::span<std::byte> bytes) {
    auto* s = new (bytes.data()) detail::BarrierState;
    s->mutex.init();
    s->seq.store(0);
    s->parties = parties;
    s->count = 0;
    s->gen = 0;
    s->broken = 0;
    s->ended_broken = 0;
    s->nslots = nslots;  // the slots are zeroed memory: free
    s->last_scan_ns = 0;
  });
  auto* s = static_cast<detail::BarrierState*>(shm.data());
  if (shm.size() < kBarrierSlotsOffset || s->nslots < s->parties || shm.size() < barrier_bytes(s->nslots))
    throw ProtocolError("barrier " + shm.name() + " has a corrupt header (or was made by an older ipckit)");
  return shm;
}

detail::BarrierSlot* slots_of(detail::BarrierState* s) {
  return reinterpret_cast<detail::BarrierSlot*>(reinterpret_cast<std::byte*>(s) + kBarrierSlotsOffset);
}

std::uint64_t monotonic_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

/// Releases the barrier's mutex on scope exit.
struct StateGuard {
  detail::RobustMutex& m;
  ~StateGuard() {
    try {
      m.unlock();
    } catch (...) {  // only if a re-lock above failed and we do not hold it: nothing to undo
    }
  }
};

// How often a barrier waiter checks whether a process died inside the barrier's critical section.
constexpr std::chrono::milliseconds kDeathPoll{100};

std::uint32_t check_parties(std::uint32_t parties) {
  if (parties == 0) throw ValueError("a Barrier needs at least one party");
  if (parties > kMaxParties)
    throw ValueError("a Barrier has at most " + std::to_string(kMaxParties) + " parties, not " + std::to_string(parties));
  return parties;
}

/// Frees the caller's presence slot on scope exit; the state lock must be held then.
struct SlotGuard {
  detail::BarrierSlot* slot = nullptr;
  ~SlotGuard() {
    if (!slot) return;
    slot->occupied = 0;
    detail::release_if_held(&slot->presence);
  }
};
}  // namespace

Barrier::Barrier(std::uint32_t parties, std::function<void()> action, Timeout timeout)
    : Barrier(make_barrier(OpenMode::anonymous, {}, check_parties(parties), 0600), std::move(action), timeout) {}

Barrier::Barrier(SharedMemory shm, std::function<void()> action, Timeout timeout) noexcept
    : m_shm(std::move(shm)),
      m_state(static_cast<detail::BarrierState*>(m_shm.data())),
      m_action(std::move(action)),
      m_timeout(timeout) {}

Barrier Barrier::create(std::string_view name, std::uint32_t parties, std::function<void()> action, Timeout timeout,
                        mode_t mode) {
  return Barrier(make_barrier(OpenMode::create, name, check_parties(parties), mode), std::move(action), timeout);
}

Barrier Barrier::open(std::string_view name, std::function<void()> action, Timeout timeout) {
  return Barrier(make_barrier(OpenMode::open, name, 0, 0600), std::move(action), timeout);
}

Barrier Barrier::create_or_open(std::string_view name, std::uint32_t parties, std::function<void()> action,
                                Timeout timeout, mode_t mode) {
  Barrier b(make_barrier(OpenMode::create_or_open, name, check_parties(parties), mode), std::move(action), timeout);
  if (b.parties() != parties)
    throw ValueError("barrier " + b.name() + " has " + std::to_string(b.parties()) + " parties, not " +
                     std::to_string(parties));
  return b;
}

void Barrier::lock_state() {
  // A process that died inside the critical section left count/gen half-updated: break the
  // barrier so that everyone learns it (and reset() makes it usable again).
  if (m_state->mutex.lock() == detail::LockStatus::owner_died) break_locked();
}

bool Barrier::take_slot(detail::BarrierSlot*& out) {
  auto* slots = slots_of(m_state);
  const std::uint32_t n = m_state->nslots;
  // Start at the arrival index: in the common case that slot is free.
  for (std::uint32_t k = 0; k < n; ++k) {
    auto& sl = slots[(m_state->count + k) % n];
    if (sl.occupied) continue;
    // A free slot's presence is unlocked (the leaver unlocks it with the state lock held, as
    // we hold it now), or owner-died if the leaver died between the two: either way it is ours.
    if (sl.presence.try_lock() == detail::LockStatus::timed_out) continue;
    sl.occupied = 1;
    sl.gen = m_state->gen;
    out = &sl;
    return true;
  }
  return false;
}

bool Barrier::reap_dead_waiters() {
  auto* slots = slots_of(m_state);
  bool current = false;
  for (std::uint32_t i = 0; i < m_state->nslots; ++i) {
    auto& sl = slots[i];
    if (!sl.occupied || sl.presence.held_by_caller()) continue;
    auto st = sl.presence.try_lock();
    if (st == detail::LockStatus::timed_out) continue;  // held: its waiter is alive
    // Its waiter died (it holds the presence from arrival until it leaves): free the slot. A
    // waiter of an earlier generation had been let through already; one of this generation
    // was counted as arrived and will never come.
    if (sl.gen == m_state->gen) current = true;
    sl.occupied = 0;
    sl.presence.unlock();
  }
  m_state->last_scan_ns = monotonic_ns();
  return current;
}

void Barrier::break_locked() noexcept {
  m_state->broken = 1;
  m_state->seq.fetch_add(1);
  detail::futex_wake_all(m_state->seq);
}

std::uint32_t Barrier::wait(std::optional<Timeout> timeout) {
  Deadline deadline(timeout.value_or(m_timeout));
  lock_state();
  StateGuard guard{m_state->mutex};
  SlotGuard presence;  // destroyed before guard: freed with the state lock held
  for (;;) {
    if (m_state->broken) throw BrokenBarrierError("barrier is broken");
    if (take_slot(presence.slot)) break;
    // No free slot: some are held by dead waiters, or by waiters of the last generation that
    // are still leaving.
    if (reap_dead_waiters()) {
      break_locked();
      throw BrokenBarrierError("barrier is broken: a waiting party died");
    }
    if (take_slot(presence.slot)) break;
    m_state->mutex.unlock();
    if (deadline.expired()) {
      lock_state();
      break_locked();
      throw BrokenBarrierError("barrier wait timed out (the barrier is now broken)");
    }
    ::sched_yield();
    lock_state();
  }
  std::uint32_t gen = m_state->gen;
  std::uint32_t index = m_state->count++;
  if (m_state->count == m_state->parties) {
    // A party counted in this generation that died while waiting must not be let through.
    if (reap_dead_waiters()) {
      break_locked();
      throw BrokenBarrierError("barrier is broken: a waiting party died");
    }
    if (m_action) {
      try {
        m_action();
      } catch (...) {
        break_locked();
        throw;
      }
    }
    m_state->ended_broken &= ~(std::uint64_t{1} << (gen % 64));
    m_state->count = 0;
    ++m_state->gen;
    m_state->seq.fetch_add(1);
    detail::futex_wake_all(m_state->seq);
    return index;
  }
  for (;;) {
    std::uint32_t seq = m_state->seq.load();
    m_state->mutex.unlock();
    // Sleep in slices: a process killed while it runs the action (or holds the state lock) never
    // bumps seq, so each slice ends by re-taking the lock, which reports the dead owner and
    // breaks the barrier.
    Deadline slice(std::min<std::chrono::nanoseconds>(deadline.remaining(), kDeathPoll));
    auto r = detail::futex_wait(m_state->seq, seq, slice);
    if (r == detail::FutexResult::timed_out && !deadline.expired()) r = detail::FutexResult::woken;
    lock_state();
    if (m_state->gen != gen) {
      if (m_state->ended_broken & (std::uint64_t{1} << (gen % 64))) throw BrokenBarrierError("barrier was reset");
      return index;
    }
    if (m_state->broken) throw BrokenBarrierError("barrier is broken");
    // Look for waiters that died, at most once per poll interval whoever looks: every waiter
    // wakes once per interval, and a scan costs a try_lock per slot.
    if (monotonic_ns() - m_state->last_scan_ns >= static_cast<std::uint64_t>(kDeathPoll.count()) * 1'000'000u &&
        reap_dead_waiters()) {
      break_locked();
      throw BrokenBarrierError("barrier is broken: a waiting party died");
    }
    if (r == detail::FutexResult::timed_out || deadline.expired()) {
      break_locked();
      throw BrokenBarrierError("barrier wait timed out (the barrier is now broken)");
    }
  }
}

void Barrier::reset() {
  lock_state();
  StateGuard guard{m_state->mutex};
  std::uint64_t bit = std::uint64_t{1} << (m_state->gen % 64);
  if (m_state->broken || m_state->count > 0)
    m_state->ended_broken |= bit;
  else
    m_state->ended_broken &= ~bit;
  ++m_state->gen;
  m_state->count = 0;
  m_state->broken = 0;
  m_state->seq.fetch_add(1);
  detail::futex_wake_all(m_state->seq);
}

void Barrier::abort() {
  lock_state();
  StateGuard guard{m_state->mutex};
  break_locked();
}

std::uint32_t Barrier::parties() const noexcept { return m_state->parties; }
std::uint32_t Barrier::n_waiting() const noexcept { return m_state->broken ? 0 : m_state->count; }
bool Barrier::broken() const noexcept { return m_state->broken != 0; }

}  // namespace ipc
