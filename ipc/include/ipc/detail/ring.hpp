// Ring: the untyped multi-producer multi-consumer byte ring behind ipc::Queue, in shared memory.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>

#include <ipc/detail/robust_mutex.hpp>
#include <ipc/timeout.hpp>

namespace ipc::detail {

struct RingState;

/// One frame to put: a pointer and a length (frames of put_many).
struct FrameRef {
  const std::byte* data;
  std::size_t size;
};

/// Receives a frame taken by Ring::get: the payload in one or two pieces (two when it wraps
/// around the end of the ring). Runs while the consumer lock is held; if it throws, the frame
/// stays in the ring and the exception propagates.
using FrameSink = void (*)(void* ctx, std::span<const std::byte> first, std::span<const std::byte> second);

/// What a ring operation gave.
enum class RingStatus { ok, timed_out, closed };

/// What Ring::join found: whether every task was done (false: the deadline came first), and how
/// many tasks were lost with dead consumers since this handle's previous finished join.
struct JoinResult {
  bool finished = false;
  std::uint64_t lost = 0;
  /// finished.
  explicit operator bool() const noexcept { return finished; }
};

/// A handle on a ring laid out in shared memory by Ring::init: variable-size frames (8-byte
/// header + payload, 8-byte aligned) in a power-of-two byte area, with a limit in items too.
///
/// Producers are serialised by one robust mutex and consumers by another, so a producer and a
/// consumer never contend for a lock; they meet only on the published tail/head positions, like
/// a single-producer single-consumer ring. A frame becomes visible only when its header word is
/// stored, after the frame was completely written, so a consumer never sees a partial frame;
/// consumers find frames by their headers and never read the producers' positions. Each side keeps
/// a small journal in shared memory; when a process dies holding a side's lock, the next locker
/// uses it to roll the half-done operation back (a put) or forward (a get that already took its
/// frames), and counts the items that died with it in lost_items().
///
/// Waits spin briefly, then sleep on a futex; a side wakes the other only when a sleeper flagged
/// the wait word, so a busy queue makes no syscall per message. Sleepers re-check at least every
/// second, so a waker that dies between taking an item and passing a wake-up on stalls nobody
/// for long. Thread-safe and fork-safe (the handle points into the mapping; a forked child
/// notices that its cached task slot is its parent's).
class Ring {
 public:
  /// Bytes of shared memory needed for a ring whose data area has `capacity` bytes (rounded
  /// up as init() does), with the owner table of an at-least-once ring when asked.
  static std::size_t bytes_needed(std::size_t capacity, bool at_least_once = false);
  /// The data area init() makes for a requested capacity: a power of two, at least 64 bytes.
  /// Throws ValueError when it would exceed 2^40 bytes.
  static std::size_t round_capacity(std::size_t capacity);

  /// Lays a ring out in `mem` (zeroed, bytes_needed(capacity) bytes at least). `maxsize` limits
  /// items (0 = bytes only); `joinable` enables task accounting; `elem_size`/`type_hash`
  /// describe the element type for open-time checks; `at_least_once` (joinable rings only)
  /// keeps each item taken in the ring until it is marked done, to hand it out again once if its
  /// consumer dies first. Throws ValueError for at_least_once without joinable.
  static void init(std::span<std::byte> mem, std::size_t capacity, std::size_t maxsize, bool joinable,
                   std::uint64_t elem_size, std::uint64_t type_hash, bool at_least_once = false);

  /// Attaches to a ring laid out by init(). Throws ProtocolError when `mem` holds no ring of
  /// this layout version, ValueError when it does not fit `mem` or is not/is joinable as asked
  /// or holds another element type (`what` names the queue in the message).
  Ring(std::span<std::byte> mem, bool joinable, std::uint64_t elem_size, std::uint64_t type_hash,
       const char* what);

  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  /// Puts one frame, waiting for space until `deadline`. Throws ValueError when the frame can
  /// never fit (larger than the ring), std::system_error on lock failures.
  RingStatus put(std::span<const std::byte> frame, const Deadline& deadline) {
    FrameRef f{frame.data(), frame.size()};
    std::size_t done = 0;
    return put_many({&f, 1}, deadline, done);
  }

  /// Puts frames in order, as many per lock as fit, waiting for space until `deadline`; `done`
  /// counts the frames put (all of them when ok). Throws as put().
  RingStatus put_many(std::span<const FrameRef> frames, const Deadline& deadline, std::size_t& done);

  /// Takes up to `max` frames (at least one unless not ok) under one lock, handing each to
  /// `sink`; `taken` counts them. Waits until `deadline` for the first. Closed means closed
  /// and drained. Throws std::system_error on lock failures, what `sink` throws.
  RingStatus get_many(FrameSink sink, void* ctx, std::size_t max, const Deadline& deadline, std::size_t& taken);

  /// Takes one frame; see get_many.
  RingStatus get(FrameSink sink, void* ctx, const Deadline& deadline) {
    std::size_t taken = 0;
    return get_many(sink, ctx, 1, deadline, taken);
  }

  /// Closes the ring for everyone: puts fail, gets drain what is left then report closed,
  /// every waiter wakes up. Idempotent. Never throws.
  void close() noexcept;
  /// True once close() was called.
  bool closed() const noexcept;

  /// Items in the ring (a snapshot).
  std::size_t qsize() const noexcept;
  /// True when maxsize items are in the ring, or not even an empty frame fits (a snapshot).
  bool full() const noexcept;
  /// The item limit (0 = none).
  std::size_t maxsize() const noexcept;
  /// The data area in bytes; a frame larger than this minus 16 (its header and the next one)
  /// never fits.
  std::size_t capacity() const noexcept;
  /// The largest payload a single put accepts.
  std::size_t max_frame() const noexcept;
  /// Items that died with a producer killed mid-put or a consumer killed mid-get.
  std::uint64_t lost_items() const noexcept;
  /// How many times a lock of this ring was recovered from a process that died holding it.
  std::uint64_t recoveries() const noexcept;

  // ---- task accounting (joinable rings only) ----

  /// Marks one item taken by get as done. Throws ValueError when called more often than items
  /// were put.
  void task_done();
  /// Waits until every item put was marked done (or held by a process that died, see
  /// lost_tasks); not finished at `deadline`. A finished join reports the tasks lost since the
  /// previous finished join of this handle. Throws std::system_error on lock failures.
  JoinResult join(const Deadline& deadline);
  /// Items put and not yet marked done.
  std::uint64_t unfinished() const noexcept;
  /// Items counted as done because the process that took them died before task_done().
  std::uint64_t lost_tasks() const noexcept;
  /// True for an at-least-once ring (see init).
  bool at_least_once() const noexcept;
  /// Items put back at the head because the consumer that took them died before task_done()
  /// (at-least-once rings).
  std::uint64_t redelivered() const noexcept;
  /// Counts the items held by dead consumers as done now, and rolls back the put of a producer
  /// that died inside put() (join() does both by itself while it waits). Returns how many
  /// tasks were reclaimed. Throws std::system_error on lock failures.
  std::uint64_t reclaim_dead();

 private:
  void lock_put(const Deadline& deadline, bool& timed_out);
  void lock_get(const Deadline& deadline, bool& timed_out);
  void repair_put() noexcept;
  void repair_get() noexcept;
  void repair_tasks() noexcept;
  /// Repairs the put of a producer that died holding the put lock, if one did; true when it
  /// did. Never waits for a live producer.
  bool repair_dead_producer();
  int my_slot();
  bool wait_space(std::size_t stride, const Deadline& deadline);
  bool wait_data(const Deadline& deadline);
  // At-least-once rings (ring.cpp, "At least once").
  RingStatus get_many_alo(FrameSink sink, void* ctx, std::size_t max, const Deadline& deadline, std::size_t& taken);
  void task_done_alo(int slot);
  void reclaim_if_due();
  std::uint64_t reclaim_slot_alo(int slot) noexcept;
  void repair_get_alo() noexcept;
  void advance_release() noexcept;
  void recount_alo() noexcept;
  std::uint8_t& owner_at(std::uint64_t pos) const noexcept;
  std::uint64_t stride_at(std::uint64_t pos) const noexcept;

  RingState* m_s = nullptr;
  std::byte* m_data = nullptr;
  std::uint8_t* m_owner = nullptr;            // at-least-once rings: one byte per 8-byte word
  std::atomic<int> m_slot{-1};                // this process's task slot (joinable rings)
  std::atomic<std::uint64_t> m_slot_gen{0};  // fork generation m_slot belongs to
  std::atomic<std::uint64_t> m_lost_seen{0};  // lost_tasks() at this handle's last finished join
};

}  // namespace ipc::detail
