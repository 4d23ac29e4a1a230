// Queue, SimpleQueue and JoinableQueue: cross-process FIFO queues in shared memory.
//
// A queue is one shared-memory ring of variable-size frames (the encoded items, see
// serialize.hpp) with a capacity in bytes and an optional limit in items (maxsize). Any number
// of processes put and get; each producer's items arrive in the order it put them. A put costs
// one lock, one memcpy of the encoded item into the ring and no syscall unless a consumer
// sleeps; waits spin briefly and then sleep on a futex.
//
// Crash safety: a producer or consumer killed (even by SIGKILL) in the middle of put or get
// leaves the queue usable: the locks are robust, an item is visible only once completely
// written, and the next process to take the dead one's lock repairs the ring. At most the
// items of the interrupted call are lost, and lost_items() counts them.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <ipc/detail/fnv.hpp>
#include <ipc/detail/ring.hpp>
#include <ipc/errors.hpp>
#include <ipc/serialize.hpp>
#include <ipc/shared_memory.hpp>
#include <ipc/timeout.hpp>

namespace ipc {

namespace detail {

/// A tag of T's name as the compiler spells it: equal in processes of the same binary, and
/// different for different types, so opening a queue as the wrong Queue<T> fails clearly.
template <class T>
constexpr std::uint64_t queue_type_hash() noexcept {
  return fnv1a(__PRETTY_FUNCTION__);
}

/// The mapping and ring shared by every copy of one queue handle.
struct QueueCore {
  SharedMemory shm;
  Ring ring;
  QueueCore(SharedMemory mem, bool joinable, std::uint64_t elem_size, std::uint64_t type_hash, const std::string& what);
};

/// What a queue is made of: its kind tag and element type.
struct QueueSpec {
  std::string_view type_name;  // the element type's name, shown by ipc-shm
  std::uint32_t kind;
  bool joinable;
  std::uint64_t elem_size;
  std::uint64_t type_hash;
  bool at_least_once = false;
};

/// An anonymous queue (shared with children forked later). Throws ValueError, std::system_error.
std::shared_ptr<QueueCore> make_queue(const QueueSpec& spec, std::size_t maxsize, std::size_t capacity);
/// A new named queue. Throws as SharedMemory::create, ValueError for a bad capacity.
std::shared_ptr<QueueCore> create_queue(const QueueSpec& spec, std::string_view name, std::size_t maxsize,
                                        std::size_t capacity, mode_t mode);
/// An existing named queue, checked against spec. Throws as SharedMemory::open, ValueError on a
/// kind/type/size mismatch, ProtocolError on another layout version.
std::shared_ptr<QueueCore> open_queue(const QueueSpec& spec, std::string_view name);
/// The named queue, created as create_queue does or, when it exists, opened as open_queue does
/// and checked to have the same capacity and maxsize. Throws as those, ValueError on a mismatch.
std::shared_ptr<QueueCore> create_or_open_queue(const QueueSpec& spec, std::string_view name, std::size_t maxsize,
                                                std::size_t capacity, mode_t mode);

/// Throws QueueFull / QueueEmpty / QueueClosed for a status that is not ok; the message names
/// the queue `core` and says how long the call waited.
[[noreturn]] void throw_put_status(const QueueCore& core, RingStatus st, Timeout waited, std::size_t done = 0,
                                   std::size_t total = 1);
[[noreturn]] void throw_get_status(const QueueCore& core, RingStatus st, Timeout waited);
/// Throws TasksLost for `lost` tasks of the queue `name` (empty: anonymous), `total` ever.
[[noreturn]] void throw_tasks_lost(const std::string& name, std::uint64_t lost, std::uint64_t total);
/// Throws ProtocolError for a frame whose size is not sizeof(T).
[[noreturn]] void throw_bad_frame(std::size_t got, std::size_t want);

/// Per-thread encode buffer reused by put (no allocation per message once warm).
Bytes& put_scratch() noexcept;
/// Per-thread buffer get copies non-trivial frames into before decoding them.
Bytes& get_scratch() noexcept;

}  // namespace detail

/// How a JoinableQueue treats an item whose consumer dies before task_done().
enum class Delivery {
  /// The item is lost with its consumer: join() counts it as done and throws TasksLost.
  at_most_once,
  /// The item is put back at the head of the queue, once, and redelivered() counts it; if its
  /// second consumer dies too, it is lost as above. An item not yet marked done keeps its bytes
  /// in the ring, so a slow task can make producers wait for room.
  at_least_once,
};

/// What JoinableQueue::try_join found: `finished` (false: the timeout came first) and `lost`,
/// the tasks that died with their consumers since the previous join on that handle.
using JoinResult = detail::JoinResult;

/// A FIFO queue of T shared by processes: Python's multiprocessing.Queue. T is any
/// ipc::Serializable type. Handles are cheap to copy (they share the mapping) and may be
/// passed to ipc::Process children, which inherit the anonymous mapping across fork.
///
/// Capacity: items live in a ring of `capacity` bytes (rounded up to a power of two); an item
/// takes its encoded size + 8 bytes, rounded up to 8, and the ring keeps 8 bytes free (the
/// header after the last item). A put waits while the ring lacks the bytes or holds maxsize items (maxsize 0 = no item limit, only bytes). An item whose
/// encoding exceeds max_item_bytes() can never fit and is refused with ValueError (it is not
/// split): create the queue with a larger capacity.
///
/// Timeouts bound the wait for room or items. A call with a zero or short timeout still waits
/// up to 1 s for the lock of its side while another process copies an item in or out (a busy
/// lock is not a full or empty queue). Sleeping callers re-check once a second even without a
/// wake-up, so a process killed at the wrong moment delays others by at most that.
///
/// close() closes the queue for every process (unlike Python, where it is per handle): puts
/// throw QueueClosed at once, gets return the items still queued and then throw QueueClosed,
/// every blocked caller wakes up. Thread-safe; fork-safe. A named queue is unlinked by the
/// handle that created it (the last copy of it in the creating process).
template <Serializable T>
class Queue {
 public:
  /// Default ring size: 4 MiB of shared memory (pages are touched only as the ring fills).
  static constexpr std::size_t kDefaultCapacity = std::size_t{1} << 22;
  /// The kind tag of a named Queue's segment.
  static constexpr std::uint32_t kKind = shm_kind("queu");

  /// An anonymous queue holding at most `maxsize` items (0 = unbounded but for the bytes) in
  /// `capacity` bytes. Throws ValueError for a capacity above 2 GiB, std::system_error.
  explicit Queue(std::size_t maxsize = 0, std::size_t capacity = kDefaultCapacity)
      : m_core(detail::make_queue(spec(kKind, false), maxsize, capacity)) {}

  /// Creates the named queue `name` (see SharedMemory::full_name), mode 0600 by default; this
  /// handle's process unlinks it when its last handle goes. Throws as SharedMemory::create.
  static Queue create(std::string_view name, std::size_t maxsize = 0, std::size_t capacity = kDefaultCapacity,
                      mode_t mode = 0600) {
    return Queue(detail::create_queue(spec(kKind, false), name, maxsize, capacity, mode));
  }
  /// Opens the named queue `name` created by another process. Throws std::system_error (ENOENT),
  /// ValueError when it is not a Queue of this T (kind, element size or type differs),
  /// ProtocolError when it has another layout version.
  static Queue open(std::string_view name) { return Queue(detail::open_queue(spec(kKind, false), name)); }
  /// Creates the named queue, or opens it if it exists (then its maxsize and capacity must be
  /// those given: ValueError otherwise). Only a handle that created it unlinks it. Throws as
  /// create() and open().
  static Queue create_or_open(std::string_view name, std::size_t maxsize = 0,
                              std::size_t capacity = kDefaultCapacity, mode_t mode = 0600) {
    return Queue(detail::create_or_open_queue(spec(kKind, false), name, maxsize, capacity, mode));
  }

  /// Puts `item`, waiting until there is room or `timeout` passes. Throws QueueFull on timeout,
  /// QueueClosed when closed, ValueError when the item can never fit.
  void put(const T& item, Timeout timeout = {}) {
    if (auto st = put_impl(item, Deadline(timeout)); st != detail::RingStatus::ok)
      detail::throw_put_status(*m_core, st, timeout);
  }
  /// Puts without waiting for room. Throws QueueFull, QueueClosed, ValueError.
  void put_nowait(const T& item) { put(item, std::chrono::nanoseconds::zero()); }
  /// Puts, waiting up to `timeout`; false when full at the deadline or closed. Throws ValueError
  /// when the item can never fit.
  bool try_put(const T& item, Timeout timeout = {}) {
    return put_impl(item, Deadline(timeout)) == detail::RingStatus::ok;
  }

  /// Takes the oldest item, waiting until there is one or `timeout` passes. Throws QueueEmpty
  /// on timeout, QueueClosed when closed and drained, ProtocolError when the bytes do not decode.
  T get(Timeout timeout = {}) {
    T out{};
    if (auto st = get_impl(out, Deadline(timeout)); st != detail::RingStatus::ok)
      detail::throw_get_status(*m_core, st, timeout);
    return out;
  }
  /// Takes an item without waiting. Throws QueueEmpty, QueueClosed, ProtocolError.
  T get_nowait() { return get(std::chrono::nanoseconds::zero()); }
  /// Takes an item, waiting up to `timeout`; empty when none came or closed and drained.
  /// Throws ProtocolError when the bytes do not decode.
  std::optional<T> try_get(Timeout timeout = {}) {
    std::optional<T> out(std::in_place);
    if (get_impl(*out, Deadline(timeout)) != detail::RingStatus::ok) out.reset();
    return out;
  }

  /// Puts every item in order, as many per lock as fit, waiting for room until `timeout`.
  /// Throws QueueFull on timeout (the message says how many were put: a prefix), QueueClosed,
  /// ValueError when an item can never fit (then none is put).
  void put_many(std::span<const T> items, Timeout timeout = {}) {
    Deadline deadline(timeout);
    std::vector<detail::FrameRef> frames;
    frames.reserve(items.size());
    std::size_t done = 0;
    detail::RingStatus st;
    if constexpr (TriviallySerializable<T>) {
      for (const auto& x : items) frames.push_back({reinterpret_cast<const std::byte*>(std::addressof(x)), sizeof(T)});
      st = m_core->ring.put_many(frames, deadline, done);
    } else {
      Bytes buf;
      std::vector<std::size_t> ends;
      ends.reserve(items.size());
      for (const auto& x : items) {
        encode_append(x, buf);
        ends.push_back(buf.size());
      }
      std::size_t begin = 0;
      for (auto end : ends) {
        frames.push_back({buf.data() + begin, end - begin});
        begin = end;
      }
      st = m_core->ring.put_many(frames, deadline, done);
    }
    if (st != detail::RingStatus::ok) detail::throw_put_status(*m_core, st, timeout, done, items.size());
  }

  /// Takes up to `max` items (at least one) under one lock, waiting for the first until
  /// `timeout`. Throws QueueEmpty on timeout, QueueClosed when closed and drained, ProtocolError.
  std::vector<T> get_many(std::size_t max, Timeout timeout = {}) {
    std::vector<T> out;
    std::size_t taken = 0;
    detail::RingStatus st;
    if constexpr (TriviallySerializable<T>) {
      out.reserve(std::min<std::size_t>(max, std::max<std::size_t>(qsize(), 1)));
      st = m_core->ring.get_many(
          [](void* ctx, std::span<const std::byte> a, std::span<const std::byte> b) {
            auto& v = *static_cast<std::vector<T>*>(ctx);
            T x{};
            if (a.size() + b.size() == sizeof(T)) {
              std::memcpy(static_cast<void*>(std::addressof(x)), a.data(), a.size());
              std::memcpy(reinterpret_cast<std::byte*>(std::addressof(x)) + a.size(), b.data(), b.size());
            }
            v.push_back(x);
          },
          &out, max, Deadline(timeout), taken);
    } else {
      struct Ctx {
        Bytes buf;
        std::vector<std::size_t> ends;
      } ctx;
      st = m_core->ring.get_many(
          [](void* c, std::span<const std::byte> a, std::span<const std::byte> b) {
            auto& x = *static_cast<Ctx*>(c);
            x.buf.insert(x.buf.end(), a.begin(), a.end());
            x.buf.insert(x.buf.end(), b.begin(), b.end());
            x.ends.push_back(x.buf.size());
          },
          &ctx, max, Deadline(timeout), taken);
      if (st == detail::RingStatus::ok) {
        out.resize(ctx.ends.size());
        std::size_t begin = 0;
        for (std::size_t i = 0; i < ctx.ends.size(); ++i) {
          decode_into(std::span<const std::byte>(ctx.buf).subspan(begin, ctx.ends[i] - begin), out[i]);
          begin = ctx.ends[i];
        }
      }
    }
    if (st != detail::RingStatus::ok) detail::throw_get_status(*m_core, st, timeout);
    return out;
  }

  /// Number of items queued (a snapshot, as in Python: it may change at once).
  std::size_t qsize() const noexcept { return m_core->ring.qsize(); }
  /// True when no item is queued (a snapshot).
  bool empty() const noexcept { return qsize() == 0; }
  /// True when maxsize items are queued or the ring has no byte left (a snapshot; a put of a
  /// large item may still wait while this is false).
  bool full() const noexcept { return m_core->ring.full(); }
  /// The item limit given at creation (0 = none).
  std::size_t maxsize() const noexcept { return m_core->ring.maxsize(); }
  /// The ring's size in bytes.
  std::size_t capacity() const noexcept { return m_core->ring.capacity(); }
  /// The largest encoded item a put accepts.
  std::size_t max_item_bytes() const noexcept { return m_core->ring.max_frame(); }

  /// Closes the queue for every process (see the class comment). Idempotent; never throws.
  void close() noexcept { m_core->ring.close(); }
  /// True once some process closed the queue.
  bool closed() const noexcept { return m_core->ring.closed(); }
  /// Items that died with a producer killed mid-put or a consumer killed mid-get.
  std::uint64_t lost_items() const noexcept { return m_core->ring.lost_items(); }
  /// How many times a process died holding one of the queue's locks and the queue was repaired.
  std::uint64_t recoveries() const noexcept { return m_core->ring.recoveries(); }

  /// The full name of a named queue ("/ipckit-..."); empty for an anonymous one.
  const std::string& name() const noexcept { return m_core->shm.name(); }
  /// Removes a named queue's name now (opened handles keep working). No-op for anonymous.
  /// Throws std::system_error.
  void unlink() { m_core->shm.unlink(); }

 protected:
  explicit Queue(std::shared_ptr<detail::QueueCore> core) : m_core(std::move(core)) {}
  static detail::QueueSpec spec(std::uint32_t kind, bool joinable) noexcept {
    return {.type_name = shm_type_name<T>(),
            .kind = kind,
            .joinable = joinable,
            .elem_size = sizeof(T),
            .type_hash = detail::queue_type_hash<T>()};
  }

  detail::RingStatus put_impl(const T& item, const Deadline& deadline) {
    if constexpr (TriviallySerializable<T>) {
      return m_core->ring.put({reinterpret_cast<const std::byte*>(std::addressof(item)), sizeof(T)}, deadline);
    } else {
      Bytes& buf = detail::put_scratch();
      buf.clear();
      encode_append(item, buf);
      return m_core->ring.put(buf, deadline);
    }
  }

  detail::RingStatus get_impl(T& out, const Deadline& deadline) {
    if constexpr (TriviallySerializable<T>) {
      struct Ctx {
        T* out;
        std::size_t size;
      } ctx{std::addressof(out), 0};
      auto st = m_core->ring.get(
          [](void* c, std::span<const std::byte> a, std::span<const std::byte> b) {
            auto& x = *static_cast<Ctx*>(c);
            x.size = a.size() + b.size();
            if (x.size != sizeof(T)) return;  // reported after the frame is released
            std::memcpy(static_cast<void*>(x.out), a.data(), a.size());
            std::memcpy(reinterpret_cast<std::byte*>(x.out) + a.size(), b.data(), b.size());
          },
          &ctx, deadline);
      if (st == detail::RingStatus::ok && ctx.size != sizeof(T)) [[unlikely]]
        detail::throw_bad_frame(ctx.size, sizeof(T));
      return st;
    } else {
      Bytes& buf = detail::get_scratch();
      buf.clear();
      auto st = m_core->ring.get(
          [](void* c, std::span<const std::byte> a, std::span<const std::byte> b) {
            auto& v = *static_cast<Bytes*>(c);
            v.insert(v.end(), a.begin(), a.end());
            v.insert(v.end(), b.begin(), b.end());
          },
          &buf, deadline);
      if (st == detail::RingStatus::ok) decode_into(std::span<const std::byte>(buf), out);
      return st;
    }
  }

  std::shared_ptr<detail::QueueCore> m_core;
};

/// Python's multiprocessing.SimpleQueue: put, get, empty and close, with no item limit (only
/// the ring's bytes). Same ring, crash safety and rules as Queue.
template <Serializable T>
class SimpleQueue : private Queue<T> {
  using Base = Queue<T>;

 public:
  /// The kind tag of a named SimpleQueue's segment.
  static constexpr std::uint32_t kKind = shm_kind("sque");

  /// An anonymous simple queue of `capacity` bytes. Throws ValueError, std::system_error.
  explicit SimpleQueue(std::size_t capacity = Base::kDefaultCapacity)
      : Base(detail::make_queue(Base::spec(kKind, false), 0, capacity)) {}
  /// Creates the named simple queue `name`. Throws as Queue::create.
  static SimpleQueue create(std::string_view name, std::size_t capacity = Base::kDefaultCapacity,
                            mode_t mode = 0600) {
    return SimpleQueue(detail::create_queue(Base::spec(kKind, false), name, 0, capacity, mode));
  }
  /// Opens the named simple queue `name`. Throws as Queue::open.
  static SimpleQueue open(std::string_view name) { return SimpleQueue(detail::open_queue(Base::spec(kKind, false), name)); }
  /// Creates or opens the named simple queue `name`. Throws as Queue::create_or_open.
  static SimpleQueue create_or_open(std::string_view name, std::size_t capacity = Base::kDefaultCapacity,
                                    mode_t mode = 0600) {
    return SimpleQueue(detail::create_or_open_queue(Base::spec(kKind, false), name, 0, capacity, mode));
  }

  using Base::close;
  using Base::closed;
  using Base::empty;
  using Base::get;
  using Base::lost_items;
  using Base::name;
  using Base::put;
  using Base::recoveries;
  using Base::try_get;
  using Base::unlink;

 private:
  explicit SimpleQueue(std::shared_ptr<detail::QueueCore> core) : Base(std::move(core)) {}
};

/// Python's multiprocessing.JoinableQueue: a Queue whose consumers call task_done() for every
/// item they got, and join() waits until every item put is done.
///
/// A producer killed inside put() does not make join() hang: join() rolls its uncommitted item
/// back (lost_items() counts it) without waiting for the next put.
///
/// A consumer killed between get and task_done does not make join() hang: the queue tracks, per
/// consumer process, the items it took and has not marked done; join() (or reclaim_dead())
/// counts those of a process that has exited as done, lost_tasks() counts them, and the next
/// join() that finishes throws TasksLost saying how many (try_join() returns it). This
/// accounting is exact when each item is marked done by the process that got it (the usual
/// pattern); up to 64 consumer processes are tracked at once, more work but are not covered.
/// With Delivery::at_least_once a dead consumer's items are put back at the head once instead
/// (redelivered()), and only an item whose second consumer dies too is lost.
template <Serializable T>
class JoinableQueue : public Queue<T> {
  using Base = Queue<T>;

 public:
  /// The kind tag of a named JoinableQueue's segment.
  static constexpr std::uint32_t kKind = shm_kind("jque");

  /// An anonymous joinable queue; see Queue's constructor, and Delivery.
  explicit JoinableQueue(std::size_t maxsize = 0, std::size_t capacity = Base::kDefaultCapacity,
                         Delivery delivery = Delivery::at_most_once)
      : Base(detail::make_queue(spec_of(delivery), maxsize, capacity)) {}
  /// Creates the named joinable queue `name`. Throws as Queue::create.
  static JoinableQueue create(std::string_view name, std::size_t maxsize = 0,
                              std::size_t capacity = Base::kDefaultCapacity, mode_t mode = 0600,
                              Delivery delivery = Delivery::at_most_once) {
    return JoinableQueue(detail::create_queue(spec_of(delivery), name, maxsize, capacity, mode));
  }
  /// Opens the named joinable queue `name`. Throws as Queue::open.
  static JoinableQueue open(std::string_view name) {
    return JoinableQueue(detail::open_queue(Base::spec(kKind, true), name));
  }
  /// Creates or opens the named joinable queue `name` (an existing one must also have this
  /// delivery mode). Throws as Queue::create_or_open.
  static JoinableQueue create_or_open(std::string_view name, std::size_t maxsize = 0,
                                      std::size_t capacity = Base::kDefaultCapacity, mode_t mode = 0600,
                                      Delivery delivery = Delivery::at_most_once) {
    return JoinableQueue(detail::create_or_open_queue(spec_of(delivery), name, maxsize, capacity, mode));
  }

  /// Marks one item got from the queue as processed. Throws ValueError when called more times
  /// than items were put (Python's "task_done() called too many times").
  void task_done() { this->m_core->ring.task_done(); }
  /// Waits until every item put has been marked done (or was held by a consumer that died);
  /// false when `timeout` passes first. Throws TasksLost (a WorkerLost) instead of returning
  /// true when tasks died with their consumers since the previous join on this handle (the wait
  /// is over then: the next join waits for what is put later); std::system_error on lock
  /// failures.
  bool join(Timeout timeout = {}) {
    auto r = this->m_core->ring.join(Deadline(timeout));
    if (r.lost != 0) detail::throw_tasks_lost(this->name(), r.lost, lost_tasks());
    return r.finished;
  }
  /// join() without the exception: `finished` is join()'s result, `lost` the tasks lost since
  /// the previous join on this handle (reported once, here or by join()). Throws
  /// std::system_error on lock failures.
  JoinResult try_join(Timeout timeout = {}) { return this->m_core->ring.join(Deadline(timeout)); }
  /// Items put and not yet marked done.
  std::uint64_t unfinished() const noexcept { return this->m_core->ring.unfinished(); }
  /// Items counted as done because the consumer that held them died before task_done().
  std::uint64_t lost_tasks() const noexcept { return this->m_core->ring.lost_tasks(); }
  /// The delivery mode the queue was made with.
  Delivery delivery() const noexcept {
    return this->m_core->ring.at_least_once() ? Delivery::at_least_once : Delivery::at_most_once;
  }
  /// Items put back at the head because their consumer died before task_done()
  /// (Delivery::at_least_once).
  std::uint64_t redelivered() const noexcept { return this->m_core->ring.redelivered(); }
  /// Counts the items held by dead consumers as done now (or puts them back, see Delivery) and rolls back the put of a producer
  /// that died inside put() (its item is in lost_items()); returns how many tasks were
  /// reclaimed. join() does this by itself while it waits. Throws std::system_error on lock
  /// failures.
  std::uint64_t reclaim_dead() { return this->m_core->ring.reclaim_dead(); }

 private:
  explicit JoinableQueue(std::shared_ptr<detail::QueueCore> core) : Base(std::move(core)) {}
  static detail::QueueSpec spec_of(Delivery d) noexcept {
    auto s = Base::spec(kKind, true);
    s.at_least_once = d == Delivery::at_least_once;
    return s;
  }
};

}  // namespace ipc
