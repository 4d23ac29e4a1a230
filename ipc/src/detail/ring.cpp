// Ring: layout, put/get with per-side robust locks and journals, futex waits, task accounting.
#include <ipc/detail/ring.hpp>

#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>
#include <fstream>
#include <new>
#include <sstream>
#include <string>

#include <ipc/detail/fork.hpp>
#include <ipc/detail/futex.hpp>
#include <ipc/detail/proc_util.hpp>
#include <ipc/errors.hpp>

namespace ipc::detail {

namespace {

constexpr std::uint64_t kRingMagic = 0x31474e524b435049ull;  // "IPCKRNG1" little-endian
constexpr std::uint32_t kRingVersion = 3;  // 2: frames are committed by their header; 3: at-least-once
constexpr std::uint32_t kFrameMagic = 0x314d5246u;  // "FRM1": xor-ed with the length in each header
constexpr std::size_t kFrameHeader = 8;
constexpr std::size_t kMinCapacity = 64;
constexpr std::size_t kMaxCapacity = std::size_t{1} << 31;  // frame lengths are 32-bit
constexpr int kSlots = 64;
// Sleepers re-check this often even without a wake-up (see the class comment).
constexpr auto kSleepSlice = std::chrono::seconds(1);
// Pause-loop iterations a busy side lock is watched before sleeping on it.
constexpr int kLockSpins = 100;
// A lock wait re-tries this often (see lock_side).
constexpr auto kLockSlice = std::chrono::milliseconds(100);
// Spinning before a sleep: pause-loop iterations, then sched_yield calls.
constexpr int kSpins = 1000;  // a pause takes about 40 ns here: 40 us, about one wake-up
constexpr int kYields = 8;
// join() looks for dead consumers this often while it waits.
constexpr auto kJoinScan = std::chrono::milliseconds(200);
// A caller with a short or zero timeout still waits this long for a side's lock: critical
// sections are a bounded copy, so a busy lock must not look like a full or empty queue.
constexpr auto kLockGrace = std::chrono::seconds(1);

/// What a side is doing, kept in shared memory so that the next holder of its lock can finish
/// or undo the work of a holder that died. Every field is written only under that lock.
struct Journal {
  std::atomic<std::uint32_t> active;  // 0 idle, 1 put/get/task_done, 2 reclaim, 3-5 see "At least once"
  std::atomic<std::int32_t> slot;     // the consumer's task slot, -1 none
  std::atomic<std::uint64_t> pos_before;
  std::atomic<std::uint64_t> count_before;
  std::atomic<std::uint64_t> n;
  std::atomic<std::int64_t> held_before;

  /// Records an operation about to change the shared state (`what`: 1 or 2, see active).
  void begin(std::uint32_t what, std::int32_t slot_, std::uint64_t pos, std::uint64_t count, std::uint64_t n_,
             std::int64_t held) noexcept {
    slot.store(slot_, std::memory_order_relaxed);
    pos_before.store(pos, std::memory_order_relaxed);
    count_before.store(count, std::memory_order_relaxed);
    n.store(n_, std::memory_order_relaxed);
    held_before.store(held, std::memory_order_relaxed);
    active.store(what, std::memory_order_release);
  }
  /// The operation is complete.
  void end() noexcept { active.store(0, std::memory_order_release); }
};

/// One process that takes items from a joinable ring: what it took and has not marked done.
struct alignas(64) TaskSlot {
  std::atomic<std::int32_t> pid;  // 0 = free
  std::atomic<std::uint64_t> start;
  std::atomic<std::int64_t> held;
};

// A frame header is one 8-byte word, written with one atomic store: the length in the low half,
// the length xor kFrameMagic in the high half. Zero means "no frame here yet" (see the commit
// protocol at put_many).
constexpr std::uint64_t make_header(std::size_t len) noexcept {
  auto l = static_cast<std::uint32_t>(len);
  return std::uint64_t{l} | (std::uint64_t{l ^ kFrameMagic} << 32);
}
constexpr bool header_valid(std::uint64_t h) noexcept {
  return static_cast<std::uint32_t>(h >> 32) == (static_cast<std::uint32_t>(h) ^ kFrameMagic);
}
constexpr std::size_t header_len(std::uint64_t h) noexcept { return static_cast<std::uint32_t>(h); }

}  // namespace

/// The shared part of a ring. The two sides live on separate cache lines; consumers never read
/// the producers' line on their hot path (they look at the frame header at their head), so a
/// put and a get exchange only the data line they both touch and, when the ring is nearly full,
/// the consumers' head.
struct RingState {
  // Constants, written once by init().
  std::uint64_t magic;
  std::uint32_t version;
  std::uint32_t joinable;
  std::uint64_t capacity;
  std::uint64_t mask;
  std::uint64_t maxsize;
  std::uint64_t elem_size;
  std::uint64_t type_hash;
  std::uint32_t at_least_once;  // see Ring::init; then `head` is the release position

  alignas(64) std::atomic<std::uint32_t> closed;
  std::atomic<std::uint64_t> lost_items;

  // Producer side: its lock, journal and caches of the consumer's positions.
  alignas(64) RobustMutex put_mutex;
  Journal put_j;
  std::uint64_t head_cache;
  std::uint64_t gets_cache;
  // Published by producers.
  alignas(64) std::atomic<std::uint64_t> tail;       // bytes committed, monotonic
  std::atomic<std::uint64_t> put_count;              // items put (counted just before commit)

  // Consumer side.
  alignas(64) RobustMutex get_mutex;
  Journal get_j;
  // Published by consumers.
  alignas(64) std::atomic<std::uint64_t> head;       // bytes released, monotonic
  std::atomic<std::uint64_t> get_count;              // items taken
  // At-least-once rings: `head` frees bytes only up to the oldest item not yet done; `read` is
  // where the next new item is taken. Items in [head, read) are described by the owner table.
  std::atomic<std::uint64_t> read;
  std::atomic<std::uint64_t> orphans;      // items in [head, read) waiting to be handed out again
  std::atomic<std::uint64_t> redelivered;  // items ever put back for a dead consumer
  std::atomic<std::uint64_t> reclaim_ns;   // steady clock of the last reclaim by a waiting consumer

  // Wait words (see wait_until): consumers sleep on data_seq, producers on space_seq.
  alignas(64) std::atomic<std::uint32_t> data_seq;
  alignas(64) std::atomic<std::uint32_t> space_seq;

  // Task accounting (joinable rings).
  alignas(64) RobustMutex tasks_mutex;
  Journal task_j;
  std::atomic<std::uint64_t> done_total;
  std::atomic<std::uint64_t> lost_tasks;
  alignas(64) std::atomic<std::uint32_t> join_seq;
  TaskSlot slots[kSlots];
};

namespace {

constexpr std::size_t kStateSize = (sizeof(RingState) + 63) / 64 * 64;

constexpr std::uint64_t stride_of(std::size_t len) noexcept { return kFrameHeader + ((len + 7) & ~std::size_t{7}); }

/// The header word at ring position `pos` (8-byte aligned: the data area is, and every stride is).
inline std::atomic_ref<std::uint64_t> header_at(std::byte* data, std::uint64_t mask, std::uint64_t pos) noexcept {
  return std::atomic_ref<std::uint64_t>(*reinterpret_cast<std::uint64_t*>(data + (pos & mask)));
}

inline void cpu_relax() noexcept { __builtin_ia32_pause(); }

/// A deadline for the next sleep: the caller's, but at most `slice` away.
Deadline slice_of(const Deadline& d, std::chrono::nanoseconds slice) {
  return Deadline(Timeout(std::min(d.remaining(), slice)));
}

// ---- Processes, for task slots ----

/// Bumped in every forked child, so a handle knows its cached task slot belongs to its parent.
/// Global because fork is process-wide; registered once in the after-fork registry.
std::atomic<std::uint64_t> g_fork_generation{0};
void bump_generation() noexcept { g_fork_generation.fetch_add(1, std::memory_order_relaxed); }
[[maybe_unused]] const bool g_after_fork = register_after_fork_child(bump_generation);

/// True when the process recorded as (pid, start) has exited (zombies count as exited).
bool process_gone(pid_t pid, std::uint64_t start) { return start == 0 || !detail::process_running(pid, start); }

}  // namespace

// ---- Layout ----

std::size_t Ring::round_capacity(std::size_t capacity) {
  if (capacity > kMaxCapacity)
    throw ValueError("queue capacity of " + std::to_string(capacity) + " bytes exceeds the limit of " +
                     std::to_string(kMaxCapacity) + " bytes");
  return std::max(kMinCapacity, std::bit_ceil(capacity));
}

std::size_t Ring::bytes_needed(std::size_t capacity, bool at_least_once) {
  std::size_t cap = round_capacity(capacity);
  return kStateSize + cap + (at_least_once ? cap / 8 : 0);
}

void Ring::init(std::span<std::byte> mem, std::size_t capacity, std::size_t maxsize, bool joinable,
                std::uint64_t elem_size, std::uint64_t type_hash, bool at_least_once) {
  if (at_least_once && !joinable) throw ValueError("at-least-once delivery needs a joinable queue");
  std::size_t cap = round_capacity(capacity);
  if (mem.size() < bytes_needed(cap, at_least_once)) throw ValueError("queue memory too small for its capacity");
  auto* s = new (mem.data()) RingState;  // the memory is zeroed: every atomic starts at 0
  s->magic = kRingMagic;
  s->version = kRingVersion;
  s->joinable = joinable ? 1 : 0;
  s->capacity = cap;
  s->mask = cap - 1;
  s->maxsize = maxsize;
  s->elem_size = elem_size;
  s->type_hash = type_hash;
  s->at_least_once = at_least_once ? 1 : 0;
  s->put_mutex.init();
  s->get_mutex.init();
  s->tasks_mutex.init();
  s->put_j.slot.store(-1, std::memory_order_relaxed);
  s->get_j.slot.store(-1, std::memory_order_relaxed);
  s->task_j.slot.store(-1, std::memory_order_relaxed);
}

Ring::Ring(std::span<std::byte> mem, bool joinable, std::uint64_t elem_size, std::uint64_t type_hash,
           const char* what) {
  std::string name = what;
  if (mem.size() < kStateSize) throw ProtocolError(name + " is too small to hold a queue");
  auto* s = reinterpret_cast<RingState*>(mem.data());
  if (s->magic != kRingMagic) throw ProtocolError(name + " is not an ipckit queue (bad magic)");
  if (s->version != kRingVersion)
    throw ProtocolError(name + " has queue layout version " + std::to_string(s->version) +
                        ", this library reads version " + std::to_string(kRingVersion));
  if (s->capacity < kMinCapacity || !std::has_single_bit(s->capacity) || mem.size() < kStateSize + s->capacity)
    throw ProtocolError(name + " has a corrupt queue header (capacity does not fit the segment)");
  if ((s->joinable != 0) != joinable)
    throw ValueError(name + (s->joinable ? " is a JoinableQueue, not a Queue" : " is a Queue, not a JoinableQueue"));
  if (s->elem_size != elem_size)
    throw ValueError(name + " holds elements of " + std::to_string(s->elem_size) + " bytes, this queue's type has " +
                     std::to_string(elem_size) + " bytes");
  if (s->type_hash != type_hash)
    throw ValueError(name + " holds another element type (type hash " + std::to_string(s->type_hash) +
                     ", expected " + std::to_string(type_hash) + ")");
  if (s->at_least_once && (!s->joinable || mem.size() < kStateSize + s->capacity + s->capacity / 8))
    throw ProtocolError(name + " has a corrupt queue header (owner table does not fit the segment)");
  m_s = s;
  m_data = mem.data() + kStateSize;
  if (s->at_least_once) m_owner = reinterpret_cast<std::uint8_t*>(m_data + s->capacity);
  m_lost_seen.store(s->lost_tasks.load(std::memory_order_acquire), std::memory_order_relaxed);
}

// ---- Locks and repairs ----

namespace {

/// Locks `m` for a caller with `deadline`: at once when free, else until the later of the
/// deadline and a short grace. Returns false on time-out; true with `died` set when the lock
/// was recovered from a dead holder.
///
/// The wait is cut into slices: glibc's robust unlock stores 0 and then wakes a sleeper; a
/// holder killed between the two, with a third process taking the free lock before the kernel's
/// death handling looks at it, leaves the sleepers asleep on a lock nobody will wake (the kernel
/// only wakes when the word is still 0). Re-trying after each slice bounds that stall.
bool lock_side(RobustMutex& m, const Deadline& deadline, bool& died) {
  LockStatus st = m.try_lock();
  // Critical sections are a short copy: spin a little for the holder to leave before sleeping
  // (a sleeper makes every later unlock a FUTEX_WAKE syscall).
  for (int i = 0; i < kLockSpins && st == LockStatus::timed_out; ++i) {
    cpu_relax();
    if (!m.locked()) st = m.try_lock();
  }
  if (st == LockStatus::timed_out) {
    Deadline until = deadline.infinite() ? deadline
                                         : Deadline(Timeout(std::max<std::chrono::nanoseconds>(deadline.remaining(), kLockGrace)));
    do {
      st = m.lock(slice_of(until, kLockSlice));
    } while (st == LockStatus::timed_out && !until.expired());
  }
  died = st == LockStatus::owner_died;
  return st != LockStatus::timed_out;
}

/// Unlocks on scope exit.
struct Unlock {
  RobustMutex& m;
  ~Unlock() { m.unlock(); }
};

}  // namespace

void Ring::repair_put() noexcept {
  // The dead producer either committed (its first frame's header is set: all its frames are
  // visible, consumers may already have taken them) or not (nothing is visible): roll its tail
  // and count forward or back.
  auto& j = m_s->put_j;
  if (j.active.load(std::memory_order_acquire) != 0) {
    auto before = j.pos_before.load(std::memory_order_relaxed);
    auto count = j.count_before.load(std::memory_order_relaxed);
    auto n = j.n.load(std::memory_order_relaxed);
    // Consumers never write the data area and no other producer can (this one holds the lock),
    // so the dead producer's headers are as it left them, taken by consumers or not.
    bool committed = header_at(m_data, m_s->mask, before).load(std::memory_order_acquire) != 0;
    if (!committed) {
      m_s->tail.store(before, std::memory_order_release);
      m_s->put_count.store(count, std::memory_order_release);
      m_s->lost_items.fetch_add(n, std::memory_order_relaxed);
    } else {
      std::uint64_t end = before;
      for (std::uint64_t i = 0; i < n; ++i)
        end += stride_of(header_len(header_at(m_data, m_s->mask, end).load(std::memory_order_relaxed)));
      m_s->tail.store(end, std::memory_order_release);
      m_s->put_count.store(count + n, std::memory_order_release);
    }
    j.end();
  }
  m_s->head_cache = m_s->head.load(std::memory_order_acquire);
  m_s->gets_cache = m_s->get_count.load(std::memory_order_acquire);
}

void Ring::repair_get() noexcept {
  if (m_s->at_least_once) {
    repair_get_alo();
    return;
  }
  // The dead consumer either released its frames (head moved: they are lost with it, and a
  // joinable ring charges them to its task slot) or not (they are still there for others).
  auto& j = m_s->get_j;
  if (j.active.load(std::memory_order_acquire) != 0) {
    auto n = j.n.load(std::memory_order_relaxed);
    if (m_s->head.load(std::memory_order_relaxed) != j.pos_before.load(std::memory_order_relaxed)) {
      m_s->get_count.store(j.count_before.load(std::memory_order_relaxed) + n, std::memory_order_release);
      int slot = j.slot.load(std::memory_order_relaxed);
      if (slot >= 0 && slot < kSlots)
        m_s->slots[slot].held.store(j.held_before.load(std::memory_order_relaxed) + static_cast<std::int64_t>(n),
                                    std::memory_order_release);
      m_s->lost_items.fetch_add(n, std::memory_order_relaxed);
    }
    j.end();
  }
}

void Ring::repair_tasks() noexcept {
  // Redo the dead holder's task_done or reclaim: both are idempotent stores from the journal.
  auto& j = m_s->task_j;
  auto active = j.active.load(std::memory_order_acquire);
  if (active == 0) return;
  int slot = j.slot.load(std::memory_order_relaxed);
  auto done = j.count_before.load(std::memory_order_relaxed);
  auto held = j.held_before.load(std::memory_order_relaxed);
  if (active == 1) {
    m_s->done_total.store(done + 1, std::memory_order_release);
    if (slot >= 0 && slot < kSlots) m_s->slots[slot].held.store(held - 1, std::memory_order_release);
  } else {
    m_s->done_total.store(done + j.n.load(std::memory_order_relaxed), std::memory_order_release);
    if (slot >= 0 && slot < kSlots) {
      m_s->slots[slot].held.store(0, std::memory_order_relaxed);
      m_s->slots[slot].start.store(0, std::memory_order_relaxed);
      m_s->slots[slot].pid.store(0, std::memory_order_release);
    }
  }
  j.end();
}

// ---- Waiting ----

namespace {

// A wait word is a sequence whose low bit says "someone sleeps on me". A sleeper sets the bit
// before sleeping; a waker that finds it set bumps the word (clearing the bit) and wakes every
// sleeper, who re-check and set it again if they still have to wait. Unlike a count of
// sleepers, a bit left by a sleeper that was killed costs one spurious wake-up, then clears.

/// Spins briefly, then sleeps on `seq` until `ready()` or `deadline`.
template <class Ready>
bool wait_until(std::atomic<std::uint32_t>& seq, const Deadline& deadline, Ready ready) {
  if (deadline.expired()) return ready();  // a non-blocking call: no spinning
  // Spin: a peer on the other CPU usually answers within a few microseconds, far less than the
  // 30-60 us a futex wake-up costs here. Then yield a little, for a peer on the same CPU.
  for (int i = 0; i < kSpins; ++i) {
    if (ready()) return true;
    cpu_relax();
  }
  for (int i = 0; i < kYields; ++i) {
    if (ready()) return true;
    ::sched_yield();
  }
  for (;;) {
    if (deadline.expired()) return ready();
    auto s = seq.load(std::memory_order_seq_cst);
    if (!(s & 1) && !seq.compare_exchange_strong(s, s | 1, std::memory_order_seq_cst)) continue;
    s |= 1;
    if (ready()) return true;  // the read after the bit was set: a commit before it is seen
    futex_wait(seq, s, slice_of(deadline, kSleepSlice));
    if (ready()) return true;
  }
}

/// Wakes every sleeper on `seq` if one flagged it; called after the side's lock was released.
/// The commit must be ordered before the read of the bit (a sleeper orders them the other way
/// round: flag, then read the commit), so that one of the two sees the other. On x86-64 the
/// unlock's locked exchange already is that full barrier (locked instructions drain the store
/// buffer), which saves a fence per message; elsewhere a fence is issued.
inline void wake_after_unlock(std::atomic<std::uint32_t>& seq) {
#if (defined(__x86_64__) || defined(__i386__)) && !defined(__SANITIZE_THREAD__)
  std::atomic_signal_fence(std::memory_order_seq_cst);
  const std::uint32_t s = seq.load(std::memory_order_relaxed);
#else
  // A seq_cst read-modify-write of `seq` is the full barrier (and one ThreadSanitizer models,
  // unlike a stand-alone fence).
  const std::uint32_t s = seq.fetch_or(0, std::memory_order_seq_cst);
#endif
  if (s & 1) [[unlikely]] {
    seq.fetch_add(1, std::memory_order_seq_cst);
    futex_wake_all(seq);
  }
}

/// wake_after_unlock for a caller that did not just release a lock.
inline void wake_if_waiting(std::atomic<std::uint32_t>& seq) {
  // A seq_cst read-modify-write is the full barrier: the caller's commit before, the read of
  // the sleeper bit after.
  if (seq.fetch_or(0, std::memory_order_seq_cst) & 1) [[unlikely]] {
    seq.fetch_add(1, std::memory_order_seq_cst);
    futex_wake_all(seq);
  }
}

}  // namespace

bool Ring::wait_space(std::size_t stride, const Deadline& deadline) {
  auto* s = m_s;
  return wait_until(s->space_seq, deadline, [s, stride] {
    if (s->closed.load(std::memory_order_acquire)) return true;
    auto used = s->tail.load(std::memory_order_acquire) - s->head.load(std::memory_order_acquire);
    if (s->capacity - used < stride + kFrameHeader) return false;  // the frame and the next header
    return s->maxsize == 0 || s->put_count.load(std::memory_order_acquire) -
                                      s->get_count.load(std::memory_order_acquire) < s->maxsize;
  });
}

bool Ring::wait_data(const Deadline& deadline) {
  auto* s = m_s;
  std::byte* data = m_data;
  if (s->at_least_once)
    return wait_until(s->data_seq, deadline, [s, data] {
      return s->orphans.load(std::memory_order_acquire) != 0 ||
             header_at(data, s->mask, s->read.load(std::memory_order_acquire)).load(std::memory_order_acquire) != 0 ||
             s->closed.load(std::memory_order_acquire);
    });
  return wait_until(s->data_seq, deadline, [s, data] {
    return header_at(data, s->mask, s->head.load(std::memory_order_acquire)).load(std::memory_order_acquire) != 0 ||
           s->closed.load(std::memory_order_acquire);
  });
}

// ---- Put ----
//
// The commit protocol. A frame is visible to consumers once its header word is non-zero; the
// header at the position after the last committed frame is always zero. A put, under the
// producers' lock, (1) writes its frames' payloads and every header but the first, (2) zeroes
// the header word after its last frame, (3) stores the first header with release order: that
// single store commits the whole batch, and (4) then advances `tail`, which only producers and
// the free-space checks read. Consumers look only at the header at their head, so a put costs
// them no read of the producers' cache line, and a producer killed anywhere leaves either
// nothing visible (header still zero: repair_put rolls back) or every frame (rolled forward).
// Stale bytes of earlier laps are never read as a header: a position is read as a header only
// after the put that ended there zeroed it.

RingStatus Ring::put_many(std::span<const FrameRef> frames, const Deadline& deadline, std::size_t& done) {
  auto* s = m_s;
  const std::uint64_t cap = s->capacity;
  done = 0;
  for (auto& f : frames)
    if (f.size > cap - 2 * kFrameHeader)
      throw ValueError("queue item of " + std::to_string(f.size) + " encoded bytes exceeds the largest item this " +
                       "queue holds (" + std::to_string(cap - 2 * kFrameHeader) +
                       " bytes): create it with a larger capacity");
  while (done < frames.size()) {
    if (s->closed.load(std::memory_order_acquire)) return RingStatus::closed;
    bool died = false;
    if (!lock_side(s->put_mutex, deadline, died)) return RingStatus::timed_out;
    if (died) [[unlikely]] repair_put();
    std::size_t k = 0;
    std::uint64_t bytes = 0;
    {
      Unlock unlock{s->put_mutex};
      if (s->closed.load(std::memory_order_acquire)) return RingStatus::closed;
      const std::uint64_t tail = s->tail.load(std::memory_order_relaxed);
      const std::uint64_t count = s->put_count.load(std::memory_order_relaxed);
      // How many frames fit (each with room for the zero header after it), refreshing the
      // cached consumer positions only when needed.
      for (std::size_t i = done; i < frames.size(); ++i) {
        std::uint64_t st = stride_of(frames[i].size);
        if (tail + bytes + st + kFrameHeader - s->head_cache > cap) {
          s->head_cache = s->head.load(std::memory_order_acquire);
          if (tail + bytes + st + kFrameHeader - s->head_cache > cap) break;
        }
        if (s->maxsize != 0 && count + k + 1 - s->gets_cache > s->maxsize) {
          s->gets_cache = s->get_count.load(std::memory_order_acquire);
          if (count + k + 1 - s->gets_cache > s->maxsize) break;
        }
        bytes += st;
        ++k;
      }
      if (k != 0) {
        auto& j = s->put_j;
        j.begin(1, -1, tail, count, k, 0);
        s->put_count.store(count + k, std::memory_order_release);
        std::uint64_t pos = tail;
        for (std::size_t i = done; i < done + k; ++i) {
          const auto& f = frames[i];
          std::uint64_t off = pos & s->mask;
          if (i != done) header_at(m_data, s->mask, pos).store(make_header(f.size), std::memory_order_relaxed);
          std::uint64_t poff = (off + kFrameHeader) & s->mask;
          std::size_t first = std::min<std::size_t>(f.size, cap - poff);
          if (first) std::memcpy(m_data + poff, f.data, first);
          if (f.size > first) std::memcpy(m_data, f.data + first, f.size - first);
          pos += stride_of(f.size);
        }
        header_at(m_data, s->mask, pos).store(0, std::memory_order_relaxed);
        header_at(m_data, s->mask, tail).store(make_header(frames[done].size), std::memory_order_release);  // commit
        s->tail.store(pos, std::memory_order_release);
        j.end();
      }
    }
    if (k == 0) {
      if (!wait_space(stride_of(frames[done].size), deadline)) return RingStatus::timed_out;
      continue;
    }
    done += k;
    wake_after_unlock(s->data_seq);
  }
  return RingStatus::ok;
}

// ---- Get ----

RingStatus Ring::get_many(FrameSink sink, void* ctx, std::size_t max, const Deadline& deadline, std::size_t& taken) {
  auto* s = m_s;
  taken = 0;
  if (max == 0) return RingStatus::ok;
  if (s->at_least_once) return get_many_alo(sink, ctx, max, deadline, taken);
  int slot = s->joinable ? my_slot() : -1;
  const std::uint64_t cap = s->capacity;
  auto has_frame = [s, data = m_data](std::uint64_t pos) {
    return header_at(data, s->mask, pos).load(std::memory_order_acquire) != 0;
  };
  for (;;) {
    // Empty at a glance: wait without taking the lock. Only the header at head is read (see
    // the commit protocol at put_many), never the producers' cache line.
    if (!has_frame(s->head.load(std::memory_order_acquire))) {
      if (s->closed.load(std::memory_order_acquire)) {
        if (!has_frame(s->head.load(std::memory_order_acquire))) return RingStatus::closed;
      } else if (!wait_data(deadline)) {
        return RingStatus::timed_out;
      }
      continue;
    }
    bool died = false;
    if (!lock_side(s->get_mutex, deadline, died)) return RingStatus::timed_out;
    if (died) [[unlikely]] repair_get();
    {
      Unlock unlock{s->get_mutex};
      const std::uint64_t head = s->head.load(std::memory_order_relaxed);
      // Find the committed frames to take, checking each header.
      std::uint64_t pos = head;
      std::size_t k = 0;
      while (k < max) {
        const std::uint64_t h = header_at(m_data, s->mask, pos).load(std::memory_order_acquire);
        if (h == 0) break;
        if (!header_valid(h) || pos - head + stride_of(header_len(h)) + kFrameHeader > cap)
          throw ProtocolError("queue ring corrupt: bad frame header at byte " + std::to_string(pos));
        pos += stride_of(header_len(h));
        ++k;
      }
      if (k == 0) continue;  // another consumer took it first
      auto& j = s->get_j;
      const std::uint64_t count = s->get_count.load(std::memory_order_relaxed);
      const std::int64_t held = slot >= 0 ? s->slots[slot].held.load(std::memory_order_relaxed) : 0;
      j.begin(1, slot, head, count, k, held);
      try {
        std::uint64_t p = head;
        for (std::size_t i = 0; i < k; ++i) {
          const std::size_t len = header_len(header_at(m_data, s->mask, p).load(std::memory_order_relaxed));
          std::uint64_t poff = ((p & s->mask) + kFrameHeader) & s->mask;
          std::size_t first = std::min<std::size_t>(len, cap - poff);
          sink(ctx, {m_data + poff, first}, {m_data, len - first});
          p += stride_of(len);
        }
      } catch (...) {
        j.end();  // nothing released: the frames stay
        throw;
      }
      s->head.store(pos, std::memory_order_release);  // commit: the frames are ours
      s->get_count.store(count + k, std::memory_order_release);
      if (slot >= 0) s->slots[slot].held.fetch_add(static_cast<std::int64_t>(k), std::memory_order_acq_rel);
      j.end();
      taken = k;
    }
    wake_after_unlock(s->space_seq);
    return RingStatus::ok;
  }
}

// ---- State ----

void Ring::close() noexcept {
  m_s->closed.store(1, std::memory_order_seq_cst);
  for (auto* w : {&m_s->data_seq, &m_s->space_seq, &m_s->join_seq}) {
    w->fetch_add(1, std::memory_order_seq_cst);
    futex_wake_all(*w);
  }
}

bool Ring::closed() const noexcept { return m_s->closed.load(std::memory_order_acquire) != 0; }

std::size_t Ring::qsize() const noexcept {
  // Read the consumer's count first: both only grow, so the difference is never negative
  // except after a rolled-back put, which the clamp hides.
  auto got = m_s->get_count.load(std::memory_order_acquire);
  auto put = m_s->put_count.load(std::memory_order_acquire);
  std::uint64_t back = m_s->at_least_once ? m_s->orphans.load(std::memory_order_acquire) : 0;
  return put > got ? static_cast<std::size_t>(put - got + back) : static_cast<std::size_t>(back);
}

bool Ring::full() const noexcept {
  if (m_s->maxsize != 0 && qsize() >= m_s->maxsize) return true;
  auto used = m_s->tail.load(std::memory_order_acquire) - m_s->head.load(std::memory_order_acquire);
  return m_s->capacity - used < stride_of(0) + kFrameHeader;
}

std::size_t Ring::maxsize() const noexcept { return m_s->maxsize; }
std::size_t Ring::capacity() const noexcept { return m_s->capacity; }
std::size_t Ring::max_frame() const noexcept { return m_s->capacity - 2 * kFrameHeader; }
std::uint64_t Ring::lost_items() const noexcept { return m_s->lost_items.load(std::memory_order_relaxed); }
std::uint64_t Ring::recoveries() const noexcept {
  return std::uint64_t{m_s->put_mutex.owner_deaths()} + m_s->get_mutex.owner_deaths() + m_s->tasks_mutex.owner_deaths();
}

// ---- Tasks ----

int Ring::my_slot() {
  auto gen = g_fork_generation.load(std::memory_order_relaxed);
  int cached = m_slot.load(std::memory_order_relaxed);
  if (cached >= 0 && m_slot_gen.load(std::memory_order_relaxed) == gen) return cached;
  pid_t pid = ::getpid();
  auto start = detail::process_start_time(pid);
  int found = -1;
  for (int attempt = 0; attempt < 2 && found < 0; ++attempt) {
    if (attempt == 1) reclaim_dead();  // all slots taken: free those of exited processes
    bool died = false;
    lock_side(m_s->tasks_mutex, Deadline(Timeout()), died);
    if (died) repair_tasks();
    Unlock unlock{m_s->tasks_mutex};
    for (int i = 0; i < kSlots && found < 0; ++i)
      if (m_s->slots[i].pid.load(std::memory_order_relaxed) == pid &&
          m_s->slots[i].start.load(std::memory_order_relaxed) == start)
        found = i;
    for (int i = 0; i < kSlots && found < 0; ++i) {
      if (m_s->slots[i].pid.load(std::memory_order_relaxed) == 0) {
        m_s->slots[i].held.store(0, std::memory_order_relaxed);
        m_s->slots[i].start.store(start, std::memory_order_relaxed);
        m_s->slots[i].pid.store(pid, std::memory_order_release);
        found = i;
      }
    }
  }
  // No free slot: this process's items are not tracked (a dead consumer's then stay unfinished).
  m_slot_gen.store(gen, std::memory_order_relaxed);
  m_slot.store(found, std::memory_order_relaxed);
  return found;
}

void Ring::task_done() {
  if (!m_s->joinable) throw ValueError("task_done() on a queue that is not joinable");
  int slot = my_slot();
  if (m_s->at_least_once) {
    task_done_alo(slot);
    return;
  }
  bool died = false;
  lock_side(m_s->tasks_mutex, Deadline(Timeout()), died);
  if (died) [[unlikely]] repair_tasks();
  std::uint64_t done, put;
  {
    Unlock unlock{m_s->tasks_mutex};
    done = m_s->done_total.load(std::memory_order_relaxed);
    put = m_s->put_count.load(std::memory_order_acquire);
    if (done + 1 > put) throw ValueError("task_done() called too many times");
    auto& j = m_s->task_j;
    std::int64_t held = slot >= 0 ? m_s->slots[slot].held.load(std::memory_order_relaxed) : 0;
    j.begin(1, slot, 0, done, 1, held);
    m_s->done_total.store(done + 1, std::memory_order_release);
    if (slot >= 0) m_s->slots[slot].held.fetch_sub(1, std::memory_order_acq_rel);
    j.end();
  }
  if (done + 1 >= put) wake_if_waiting(m_s->join_seq);
}

bool Ring::repair_dead_producer() {
  // Only a dead holder is of interest: a live producer finishes its put by itself, and a put
  // lock left by a dead one is free (the kernel cleared its owner), so this never waits.
  LockStatus st = m_s->put_mutex.try_lock();
  if (st == LockStatus::timed_out) return false;
  if (st == LockStatus::owner_died) repair_put();
  m_s->put_mutex.unlock();
  if (st != LockStatus::owner_died) return false;
  // A rolled-back put gave back room and may have been the last unfinished item.
  wake_if_waiting(m_s->space_seq);
  wake_if_waiting(m_s->join_seq);
  return true;
}

std::uint64_t Ring::reclaim_dead() {
  if (!m_s->joinable) return 0;
  // A producer that died inside put left put_count raised for an item that may never be
  // committed; repair it here rather than wait for the next put.
  repair_dead_producer();
  // Take the consumer lock first, so that a consumer that died inside get is repaired (its
  // frames charged to its slot) before its slot is read.
  bool died = false;
  lock_side(m_s->get_mutex, Deadline(Timeout()), died);
  if (died) repair_get();
  Unlock unlock_get{m_s->get_mutex};
  lock_side(m_s->tasks_mutex, Deadline(Timeout()), died);
  if (died) repair_tasks();
  Unlock unlock_tasks{m_s->tasks_mutex};
  std::uint64_t reclaimed = 0;
  for (int i = 0; i < kSlots; ++i) {
    auto& sl = m_s->slots[i];
    pid_t pid = sl.pid.load(std::memory_order_acquire);
    if (pid == 0 || !process_gone(pid, sl.start.load(std::memory_order_relaxed))) continue;
    if (m_s->at_least_once) {
      reclaimed += reclaim_slot_alo(i);
      continue;
    }
    std::int64_t held = sl.held.load(std::memory_order_relaxed);
    auto done = m_s->done_total.load(std::memory_order_relaxed);
    auto put = m_s->put_count.load(std::memory_order_acquire);
    std::uint64_t n = held > 0 ? std::min<std::uint64_t>(static_cast<std::uint64_t>(held), put - std::min(put, done)) : 0;
    auto& j = m_s->task_j;
    j.begin(2, i, 0, done, n, held);
    m_s->done_total.store(done + n, std::memory_order_release);
    m_s->lost_tasks.fetch_add(n, std::memory_order_relaxed);
    sl.held.store(0, std::memory_order_relaxed);
    sl.start.store(0, std::memory_order_relaxed);
    sl.pid.store(0, std::memory_order_release);
    j.end();
    reclaimed += n;
  }
  if (reclaimed) wake_if_waiting(m_s->join_seq);
  if (m_s->at_least_once) {  // items put back, bytes released
    wake_if_waiting(m_s->data_seq);
    wake_if_waiting(m_s->space_seq);
  }
  return reclaimed;
}

JoinResult Ring::join(const Deadline& deadline) {
  if (!m_s->joinable) throw ValueError("join() on a queue that is not joinable");
  auto finished = [s = m_s] {
    return s->done_total.load(std::memory_order_acquire) >= s->put_count.load(std::memory_order_acquire);
  };
  auto report = [this] {
    auto now = m_s->lost_tasks.load(std::memory_order_acquire);
    auto before = m_lost_seen.exchange(now, std::memory_order_acq_rel);
    return JoinResult{true, now > before ? now - before : 0};
  };
  for (;;) {
    if (finished()) return report();
    reclaim_dead();
    if (finished()) return report();
    if (deadline.expired()) return {};
    auto seq = m_s->join_seq.load(std::memory_order_seq_cst);
    if (!(seq & 1) && !m_s->join_seq.compare_exchange_strong(seq, seq | 1, std::memory_order_seq_cst)) continue;
    if (!finished()) futex_wait(m_s->join_seq, seq | 1, slice_of(deadline, kJoinScan));
  }
}

std::uint64_t Ring::unfinished() const noexcept {
  auto done = m_s->done_total.load(std::memory_order_acquire);
  auto put = m_s->put_count.load(std::memory_order_acquire);
  return put > done ? put - done : 0;
}

std::uint64_t Ring::lost_tasks() const noexcept { return m_s->lost_tasks.load(std::memory_order_relaxed); }
bool Ring::at_least_once() const noexcept { return m_s->at_least_once != 0; }
std::uint64_t Ring::redelivered() const noexcept { return m_s->redelivered.load(std::memory_order_relaxed); }

// ---- At least once ----
//
// An at-least-once ring keeps every item taken in the ring until it is marked done: `read` moves
// past it when it is taken, `head` (which bounds the producers) only when it and every older
// item are done. One owner byte per 8-byte word says, for the frame starting there in
// [head, read), who holds it: a consumer's task slot + 1, kOrphan (its consumer died: hand it out
// again, before any new item), or 0 (done). kRedelivered marks an item handed out a second
// time: if that consumer dies too, the item is lost (counted in lost_tasks), not put back again.
// Every change happens under the consumers' lock, journalled in get_j, so that a process killed
// anywhere is rolled forward by the next holder.

namespace {
constexpr std::uint8_t kOwnerMask = 0x7f;
constexpr std::uint8_t kOrphan = 0x7f;
constexpr std::uint8_t kRedelivered = 0x80;
// Temporary marks of a reclaim in progress (see reclaim_slot_alo).
constexpr std::uint8_t kMarkLost = 0x7e;
constexpr std::uint8_t kMarkOrphan = 0x7d;
// get_j.active values beyond those of Journal.
constexpr std::uint32_t kJournalAck = 3;
constexpr std::uint32_t kJournalReclaim = 4;
constexpr std::uint32_t kJournalReclaimTotals = 5;
constexpr std::uint64_t kNoPos = ~std::uint64_t{0};
}  // namespace

std::uint8_t& Ring::owner_at(std::uint64_t pos) const noexcept { return m_owner[(pos & m_s->mask) / 8]; }

std::uint64_t Ring::stride_at(std::uint64_t pos) const noexcept {
  return stride_of(header_len(header_at(m_data, m_s->mask, pos).load(std::memory_order_relaxed)));
}

void Ring::advance_release() noexcept {
  std::uint64_t h = m_s->head.load(std::memory_order_relaxed);
  const std::uint64_t r = m_s->read.load(std::memory_order_relaxed);
  const std::uint64_t start = h;
  while (h != r && (owner_at(h) & kOwnerMask) == 0) {
    owner_at(h) = 0;
    h += stride_at(h);
  }
  if (h != start) m_s->head.store(h, std::memory_order_release);
}

void Ring::recount_alo() noexcept {
  // The counters that describe the owner table, recomputed from it (after a repair).
  std::int64_t held[kSlots] = {};
  std::uint64_t orphans = 0;
  const std::uint64_t r = m_s->read.load(std::memory_order_relaxed);
  for (std::uint64_t p = m_s->head.load(std::memory_order_relaxed); p != r; p += stride_at(p)) {
    std::uint8_t o = owner_at(p) & kOwnerMask;
    if (o == kOrphan) ++orphans;
    else if (o >= 1 && o <= kSlots) ++held[o - 1];
  }
  m_s->orphans.store(orphans, std::memory_order_release);
  for (int i = 0; i < kSlots; ++i) m_s->slots[i].held.store(held[i], std::memory_order_release);
}

void Ring::reclaim_if_due() {
  // An item held by a consumer that died comes back only when someone reclaims it: join() does
  // while it waits, and so do consumers, one of them per interval (a clock read per get).
  auto now = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  auto last = m_s->reclaim_ns.load(std::memory_order_relaxed);
  if (now - last >= static_cast<std::uint64_t>(std::chrono::nanoseconds(kJoinScan).count()) &&
      m_s->reclaim_ns.compare_exchange_strong(last, now, std::memory_order_relaxed))
    reclaim_dead();
}

RingStatus Ring::get_many_alo(FrameSink sink, void* ctx, std::size_t max, const Deadline& deadline, std::size_t& taken) {
  auto* s = m_s;
  const int slot = my_slot();
  // Without a task slot (more than kSlots consumer processes) an item is not tracked: it is
  // released at once, as if done.
  const std::uint8_t mine = slot >= 0 ? static_cast<std::uint8_t>(slot + 1) : 0;
  reclaim_if_due();
  auto available = [s, data = m_data] {
    return s->orphans.load(std::memory_order_acquire) != 0 ||
           header_at(data, s->mask, s->read.load(std::memory_order_acquire)).load(std::memory_order_acquire) != 0;
  };
  for (;;) {
    if (!available()) {
      if (s->closed.load(std::memory_order_acquire)) {
        if (!available()) return RingStatus::closed;
        continue;
      }
      // Sleep in slices, to reclaim between them (see reclaim_if_due).
      if (!wait_data(slice_of(deadline, kJoinScan)) && deadline.expired()) return RingStatus::timed_out;
      reclaim_if_due();
      continue;
    }
    bool died = false;
    if (!lock_side(s->get_mutex, deadline, died)) return RingStatus::timed_out;
    if (died) [[unlikely]] repair_get();
    Unlock unlock{s->get_mutex};
    const std::uint64_t head = s->head.load(std::memory_order_relaxed);
    const std::uint64_t read = s->read.load(std::memory_order_relaxed);
    const std::uint64_t orphans = s->orphans.load(std::memory_order_relaxed);
    // Which frames: orphans first (oldest first), then new ones from `read`. Nothing changes
    // until every frame went to the sink, so a sink that throws leaves them all in place.
    auto for_each_pick = [&](auto&& f) {
      std::size_t k = 0;
      std::uint64_t left = orphans;
      for (std::uint64_t p = head; left != 0 && p != read && k < max; p += stride_at(p))
        if ((owner_at(p) & kOwnerMask) == kOrphan) {
          --left;
          f(p, true);
          ++k;
        }
      std::uint64_t p = read;
      for (; k < max; ++k) {
        const std::uint64_t h = header_at(m_data, s->mask, p).load(std::memory_order_acquire);
        if (h == 0) break;
        if (!header_valid(h) || p - head + stride_of(header_len(h)) + kFrameHeader > s->capacity)
          throw ProtocolError("queue ring corrupt: bad frame header at byte " + std::to_string(p));
        f(p, false);
        p += stride_of(header_len(h));
      }
    };
    std::size_t k = 0, n_new = 0;
    std::uint64_t new_read = read;
    for_each_pick([&](std::uint64_t p, bool orphan) {
      const std::size_t len = header_len(header_at(m_data, s->mask, p).load(std::memory_order_relaxed));
      std::uint64_t poff = ((p & s->mask) + kFrameHeader) & s->mask;
      std::size_t first = std::min<std::size_t>(len, s->capacity - poff);
      sink(ctx, {m_data + poff, first}, {m_data, len - first});
      ++k;
      if (!orphan) {
        ++n_new;
        new_read = p + stride_of(len);
      }
    });
    if (k == 0) {  // another consumer took them first
      if (orphans != 0) recount_alo();  // never spin on a count no frame backs
      continue;
    }
    auto& j = s->get_j;
    const std::uint64_t count = s->get_count.load(std::memory_order_relaxed);
    j.begin(1, slot, read, count, n_new, 0);
    std::uint64_t orphans_taken = 0;
    for_each_pick([&](std::uint64_t p, bool orphan) {
      if (orphan) {
        owner_at(p) = mine ? static_cast<std::uint8_t>(mine | kRedelivered) : 0;
        ++orphans_taken;
      } else {
        owner_at(p) = mine;
      }
    });
    s->orphans.store(orphans - orphans_taken, std::memory_order_relaxed);
    s->read.store(new_read, std::memory_order_release);  // commit of the new frames
    s->get_count.store(count + n_new, std::memory_order_release);
    if (slot >= 0) s->slots[slot].held.fetch_add(static_cast<std::int64_t>(k), std::memory_order_acq_rel);
    if (!mine) advance_release();
    j.end();
    taken = k;
    return RingStatus::ok;
  }
}

void Ring::task_done_alo(int slot) {
  bool died = false;
  lock_side(m_s->get_mutex, Deadline(Timeout()), died);
  if (died) [[unlikely]] repair_get();
  Unlock unlock_get{m_s->get_mutex};
  lock_side(m_s->tasks_mutex, Deadline(Timeout()), died);
  if (died) [[unlikely]] repair_tasks();
  std::uint64_t done, put;
  {
    Unlock unlock_tasks{m_s->tasks_mutex};
    done = m_s->done_total.load(std::memory_order_relaxed);
    put = m_s->put_count.load(std::memory_order_acquire);
    if (done + 1 > put) throw ValueError("task_done() called too many times");
    // The oldest item this process holds is the one done.
    std::uint64_t pos = kNoPos;
    if (slot >= 0) {
      const std::uint8_t mine = static_cast<std::uint8_t>(slot + 1);
      const std::uint64_t r = m_s->read.load(std::memory_order_relaxed);
      for (std::uint64_t p = m_s->head.load(std::memory_order_relaxed); p != r; p += stride_at(p))
        if ((owner_at(p) & kOwnerMask) == mine) {
          pos = p;
          break;
        }
    }
    auto& j = m_s->get_j;
    j.begin(kJournalAck, slot, pos, done, 1, 0);
    if (pos != kNoPos) {
      owner_at(pos) = 0;
      m_s->slots[slot].held.fetch_sub(1, std::memory_order_acq_rel);
      advance_release();
    }
    m_s->done_total.store(done + 1, std::memory_order_release);
    j.end();
  }
  wake_if_waiting(m_s->space_seq);
  if (done + 1 >= put) wake_if_waiting(m_s->join_seq);
}

std::uint64_t Ring::reclaim_slot_alo(int slot) noexcept {
  // Called with both the consumers' and the tasks' locks held. Two passes, so that a reclaimer
  // killed half-way is finished by the next one: mark the dead slot's items (lost if already
  // handed out again, else to hand out again), then count the marks into the totals, then turn
  // the marks into owner bytes.
  const std::uint64_t lost_before = m_s->lost_tasks.load(std::memory_order_relaxed);
  m_s->get_j.begin(kJournalReclaim, slot, 0, m_s->done_total.load(std::memory_order_relaxed), lost_before,
                   static_cast<std::int64_t>(m_s->redelivered.load(std::memory_order_relaxed)));
  repair_get_alo();  // does the work from the journal, as a repair would
  return m_s->lost_tasks.load(std::memory_order_relaxed) - lost_before;
}

void Ring::repair_get_alo() noexcept {
  auto& j = m_s->get_j;
  const std::uint32_t active = j.active.load(std::memory_order_acquire);
  const int slot = j.slot.load(std::memory_order_relaxed);
  const std::uint64_t r = m_s->read.load(std::memory_order_relaxed);
  if (active == 1) {
    // A get: committed when `read` moved (its new frames are the dead consumer's now, handed out
    // again by reclaim_dead); otherwise undo the owner bytes it set past `read`.
    if (r != j.pos_before.load(std::memory_order_relaxed)) {
      m_s->get_count.store(j.count_before.load(std::memory_order_relaxed) + j.n.load(std::memory_order_relaxed),
                           std::memory_order_release);
    } else {
      for (std::uint64_t p = r; header_at(m_data, m_s->mask, p).load(std::memory_order_acquire) != 0 && owner_at(p) != 0;
           p += stride_at(p))
        owner_at(p) = 0;
    }
  } else if (active == kJournalAck) {
    const std::uint64_t pos = j.pos_before.load(std::memory_order_relaxed);
    const std::uint64_t h = m_s->head.load(std::memory_order_relaxed);
    if (pos != kNoPos && pos - h < r - h) owner_at(pos) = 0;  // still in [head, read)
    m_s->done_total.store(j.count_before.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  } else if (active == kJournalReclaim || active == kJournalReclaimTotals) {
    const std::uint64_t h = m_s->head.load(std::memory_order_relaxed);
    if (active == kJournalReclaim) {
      const auto mine = static_cast<std::uint8_t>(slot + 1);
      std::uint64_t lost = 0, back = 0;
      for (std::uint64_t p = h; p != r; p += stride_at(p)) {
        std::uint8_t& o = owner_at(p);
        if ((o & kOwnerMask) == mine) o = (o & kRedelivered) ? kMarkLost : kMarkOrphan;
        if (o == kMarkLost) ++lost;
        if (o == kMarkOrphan) ++back;
      }
      m_s->done_total.store(j.count_before.load(std::memory_order_relaxed) + lost, std::memory_order_release);
      m_s->lost_tasks.store(j.n.load(std::memory_order_relaxed) + lost, std::memory_order_release);
      m_s->redelivered.store(static_cast<std::uint64_t>(j.held_before.load(std::memory_order_relaxed)) + back,
                             std::memory_order_release);
      j.active.store(kJournalReclaimTotals, std::memory_order_release);
    }
    for (std::uint64_t p = h; p != r; p += stride_at(p)) {
      std::uint8_t& o = owner_at(p);
      if (o == kMarkLost) o = 0;
      if (o == kMarkOrphan) o = kOrphan | kRedelivered;
    }
    if (slot >= 0 && slot < kSlots) {
      m_s->slots[slot].held.store(0, std::memory_order_relaxed);
      m_s->slots[slot].start.store(0, std::memory_order_relaxed);
      m_s->slots[slot].pid.store(0, std::memory_order_release);
    }
  }
  if (active != 0) {
    advance_release();
    recount_alo();
    j.end();
  }
}

}  // namespace ipc::detail
