// Pool and AsyncResult: a pool of forked worker processes running tasks (multiprocessing.pool).
//
// How it works (and why it never hangs):
// - Workers are forked once by the pool's own thread (the "pool thread"), each with a
//   socketpair (ipc::Pipe) to the parent. The pool thread polls every worker's socket and its
//   pidfd (Process::sentinel), so a worker that dies is seen at once, and the parent knows
//   exactly which task it ran: the task fails with WorkerLost naming the signal, the tasks
//   queued behind it go to other workers, and a fresh worker is forked.
// - A task is a stateless callable (a function pointer, a captureless lambda, or a functor
//   that cereal can serialise) plus arguments, both encoded with ipc::serialize; the worker
//   runs it and sends back the encoded result or exception.
// - Short tasks are sent to a worker in batches (one write for many tasks); each worker marks
//   in a small shared page which of its queued tasks it is running, so cancel() can drop a
//   queued task that is already in a worker's pipe, and a dead worker's queue is re-sent.
// - Fork safety: a worker is forked by the pool thread while it holds the pool's lock, so no
//   other thread is changing the pool's state at that moment. The child never takes that lock:
//   it reads its copy of the worker table (to close the other workers' fds), then uses only its
//   own socket, the shared page and the task functions. It allocates memory, which is safe
//   after fork with glibc (fork takes the allocator's locks), and Process re-creates its
//   registry lock in the child. Locks held by the program's own threads at fork time are the
//   program's business, as with any fork from a threaded process.
// - Callbacks (callback, error_callback, Future::add_done_callback) run in the pool thread,
//   as Python runs them in its result-handler thread; they must not block for long. Waiting
//   there for a result of the same pool (get, wait, map, imap's next, Future::result) would
//   wait for the very thread that delivers it: it throws ValueError instead of hanging as
//   Python does. Destroying or terminating the pool there is fine: the pool thread finishes
//   the job once the callback returns.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ranges>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <ipc/errors.hpp>
#include <ipc/serialize.hpp>
#include <ipc/timeout.hpp>

namespace ipc {

/// A callable a pool can send to a worker: a function pointer, a stateless (empty) class such
/// as a captureless lambda, or a class cereal can serialise (its state travels with each task).
/// A lambda with captures is refused: its captures would point into the parent's memory.
template <class F>
concept PoolCallable =
    (std::is_pointer_v<F> && std::is_function_v<std::remove_pointer_t<F>>) ||
    (std::is_class_v<F> && std::is_empty_v<F> && std::is_default_constructible_v<F>) ||
    (std::is_class_v<F> && !std::is_empty_v<F> &&
     cereal::traits::is_output_serializable<F, detail::FrameOutputArchive>::value &&
     cereal::traits::is_input_serializable<F, detail::FrameInputArchive>::value &&
     std::is_default_constructible_v<F>);

namespace detail {

class PoolCore;

/// Runs one encoded task in a worker: decodes callable and arguments from `in`, appends the
/// encoded result to `out`. Throws whatever the task throws.
using TaskFn = void (*)(std::span<const std::byte> in, Bytes& out);

/// Receives the outcome of the tasks of one submission (one AsyncResult, map or Future).
/// Called from the pool thread, outside the pool's lock.
class Completion {
 public:
  virtual ~Completion() = default;
  /// Task `part` succeeded; `bytes` is its encoded result. May throw (ProtocolError).
  virtual void on_result(std::size_t part, std::span<const std::byte> bytes) = 0;
  /// Task `part` failed with `e` (its exception, WorkerLost, TimeoutError, CancelledError).
  virtual void on_error(std::size_t part, std::exception_ptr e) noexcept = 0;
};

/// Every task payload starts with this many bytes reserved for the pool's task header.
inline constexpr std::size_t kTaskHeaderSize = 24;

/// One task handed to the pool.
struct TaskSpec {
  TaskFn fn = nullptr;
  Bytes payload;  // kTaskHeaderSize reserved bytes, then the encoded callable and arguments
  std::shared_ptr<Completion> sink;
  std::size_t part = 0;
  Timeout time_limit;  // infinite: no limit
};

/// Starts a pool of `processes` workers (0 = cpu_count()). Throws ValueError for a daemonic
/// caller, std::system_error when a worker cannot be forked.
std::shared_ptr<PoolCore> pool_create(std::size_t processes, std::function<void()> initializer,
                                      std::size_t maxtasksperchild);
/// Queues `tasks`; returns the id of the first (ids are consecutive). Throws ValueError when the
/// pool is closed or terminated, or the initializer failed (that exception).
std::uint64_t pool_submit(PoolCore& core, std::vector<TaskSpec> tasks);
/// Throws as pool_submit() does when the pool takes no more tasks (for an empty submission).
void pool_check_running(PoolCore& core);
/// Cancels tasks [first, first + count): drops queued ones and, when `stop_running`, kills the
/// worker of running ones. True when at least one was cancelled or stopped.
bool pool_cancel(PoolCore& core, std::uint64_t first, std::size_t count, bool stop_running = true) noexcept;
/// True while any of tasks [first, first + count) is running in a worker.
bool pool_running(PoolCore& core, std::uint64_t first, std::size_t count) noexcept;
/// No more submissions; workers exit once every queued task is done.
void pool_close(PoolCore& core) noexcept;
/// Kills the workers; every unfinished task fails with CancelledError. Returns when all are reaped.
void pool_terminate(PoolCore& core) noexcept;
/// Waits until the pool thread has finished (after close or terminate). False on timeout.
/// Throws ValueError while the pool is still running (neither closed nor terminated).
bool pool_join(PoolCore& core, Timeout timeout);
/// The pids of the current workers.
std::vector<pid_t> pool_pids(PoolCore& core);
/// The number of worker processes.
std::size_t pool_size(const PoolCore& core) noexcept;
/// True when called from the pool's own thread (in a callback).
bool pool_on_own_thread(const PoolCore& core) noexcept;
/// Runs a user callback, reporting (not propagating) what it throws, as Python logs it.
void run_callback(const std::function<void()>& fn) noexcept;
/// Encodes `e` (not null) as a worker encodes its task's exception: type, message and, for a
/// std::system_error, its code. Throws std::bad_alloc.
Bytes encode_error(const std::exception_ptr& e);
/// A new exception object made from encode_error()'s (or a worker's) bytes: the same type for
/// the standard and ipckit exception types, RemoteError for any other; ProtocolError for bytes
/// that do not decode. Throws std::bad_alloc.
std::exception_ptr decode_error(std::span<const std::byte> bytes);
/// Throws ValueError when called from a callback of `core` (its pool thread): a wait there for
/// one of its results would wait for itself, as only that thread delivers them; and in a forked
/// child of the process that made the pool, where none of its results can arrive.
void check_not_in_callback(const PoolCore* core);

// ---- Encoding of callables, arguments and results ----

/// Appends `v`: raw bytes for trivially copyable types, cereal otherwise.
template <class T>
void put(FrameOutputArchive& ar, const T& v) {
  if constexpr (TriviallySerializable<T>) ar.saveBinary(std::addressof(v), sizeof(T));
  else ar(v);
}

/// Reads a value written by put().
template <class T>
void get(FrameInputArchive& ar, T& v) {
  if constexpr (TriviallySerializable<T>) ar.loadBinary(std::addressof(v), sizeof(T));
  else ar(v);
}

template <class F>
void put_callable(FrameOutputArchive& ar, const F& f) {
  if constexpr (std::is_pointer_v<F>) {
    auto addr = reinterpret_cast<std::uintptr_t>(f);  // valid in the worker: a fork of this binary
    ar.saveBinary(&addr, sizeof addr);
  } else if constexpr (!std::is_empty_v<F>) {
    ar(f);
  }
}

template <class F>
F get_callable(FrameInputArchive& ar) {
  if constexpr (std::is_pointer_v<F>) {
    std::uintptr_t addr = 0;
    ar.loadBinary(&addr, sizeof addr);
    return reinterpret_cast<F>(addr);
  } else if constexpr (std::is_empty_v<F>) {
    return F{};
  } else {
    F f{};
    ar(f);
    return f;
  }
}

/// The result type of f(args...), with void kept.
template <class F, class... A>
using pool_result_t = std::decay_t<std::invoke_result_t<F&, std::decay_t<A>&...>>;

/// Worker side of apply: decode f and args, call, encode the result.
template <class F, class... A>
void run_apply(std::span<const std::byte> in, Bytes& out) {
  FrameInputArchive ar(in);
  F f = get_callable<F>(ar);
  std::tuple<std::decay_t<A>...> args;
  std::apply([&](auto&... x) { (get(ar, x), ...); }, args);
  using R = pool_result_t<F, A...>;
  if constexpr (std::is_void_v<R>) {
    std::apply(f, args);
  } else {
    R r = std::apply(f, args);
    FrameOutputArchive oar(out);
    put(oar, r);
  }
}

/// Worker side of a map chunk: a count, then the items; calls f(item) (or std::apply for
/// starmap) for each and encodes the results in order.
template <class F, class T, bool Star>
void run_chunk(std::span<const std::byte> in, Bytes& out) {
  FrameInputArchive ar(in);
  F f = get_callable<F>(ar);
  std::uint64_t n = 0;
  ar.loadBinary(&n, sizeof n);
  FrameOutputArchive oar(out);
  for (std::uint64_t i = 0; i < n; ++i) {
    T item{};
    get(ar, item);
    if constexpr (Star) put(oar, std::apply(f, item));
    else put(oar, std::invoke(f, item));
  }
}

template <class F, class T, bool Star>
struct chunk_result {
  using type = std::decay_t<std::invoke_result_t<F&, T&>>;
};
template <class F, class T>
struct chunk_result<F, T, true> {
  using type = std::decay_t<decltype(std::apply(std::declval<F&>(), std::declval<T&>()))>;
};
/// The result type of one item of a map (Star: std::apply over a tuple item).
template <class F, class T, bool Star>
using chunk_result_t = typename chunk_result<F, T, Star>::type;

// ---- Result states shared between the caller and the pool thread ----

/// Collects completions for as_completed() and wait() over several results.
struct Waiter {
  std::mutex m;
  std::condition_variable cv;
  std::vector<std::size_t> done;  // indices of the results that completed
};

/// The state behind an AsyncResult<T> or Future<T>: value or exception, callbacks, waiters.
template <class T>
class ResultState {
 public:
  using Value = std::conditional_t<std::is_void_v<T>, std::monostate, T>;
  virtual ~ResultState() = default;

  /// True once done and the callbacks have run.
  bool done() const {
    std::lock_guard lock(m_mutex);
    return m_settled;
  }
  bool cancelled() const {
    std::lock_guard lock(m_mutex);
    return m_cancelled;
  }
  /// True once done with an exception.
  bool failed() const {
    std::lock_guard lock(m_mutex);
    return m_failed;
  }
  /// The exception, or null: a new exception object at each call (see m_error).
  std::exception_ptr error() const {
    std::lock_guard lock(m_mutex);
    return m_failed ? decode_error(m_error) : nullptr;
  }
  /// The value (a copy) or the exception (a new object, see m_error), once done.
  Value value_or_throw() const {
    std::lock_guard lock(m_mutex);
    if (m_failed) std::rethrow_exception(decode_error(m_error));
    return *m_value;
  }
  /// Moves the value out or throws the exception, once done (single consumer: map()).
  Value take_or_throw() {
    std::lock_guard lock(m_mutex);
    if (m_failed) std::rethrow_exception(decode_error(m_error));
    return std::move(*m_value);
  }
  /// Adds a callback run once done, before waiters wake (Pool's callback and error_callback:
  /// get() returns after it has run). Runs at once, in the caller, when already done.
  void on_done(std::function<void()> fn) {
    {
      std::lock_guard lock(m_mutex);
      if (!m_done) {
        m_callbacks.push_back(std::move(fn));
        return;
      }
    }
    run_callback(fn);
  }
  /// Adds a callback run once settled, so that it may call get()/result() (Future's
  /// add_done_callback). Runs at once, in the caller, when already settled.
  void on_settled(std::function<void()> fn) {
    {
      std::lock_guard lock(m_mutex);
      if (!m_settled) {
        m_settled_callbacks.push_back(std::move(fn));
        return;
      }
    }
    run_callback(fn);
  }
  /// Registers `w` to be told (with `index`) when done; true when already done (not registered).
  bool add_waiter(const std::shared_ptr<Waiter>& w, std::size_t index) {
    std::lock_guard lock(m_mutex);
    if (m_done) return true;
    m_waiters.emplace_back(w, index);
    return false;
  }
  /// Throws ValueError when not done and called from a callback of its pool (see
  /// check_not_in_callback): waiting for it there would never end.
  void check_may_wait() const {
    if (done()) return;
    auto core = m_core.lock();
    check_not_in_callback(core.get());
  }
  /// Cancels the tasks behind this result.
  bool cancel() {
    auto core = m_core.lock();
    if (!core || done()) return false;
    return pool_cancel(*core, m_first, m_count);
  }
  bool running() {
    auto core = m_core.lock();
    return core && !done() && pool_running(*core, m_first, m_count);
  }
  void bind(const std::shared_ptr<PoolCore>& core, std::uint64_t first, std::size_t count) {
    m_core = core;
    m_first = first;
    m_count = count;
  }

  void set_value(Value v) { finish(std::move(v), nullptr); }
  void set_error(std::exception_ptr e) { finish(std::nullopt, std::move(e)); }

 private:
  void finish(std::optional<Value> v, std::exception_ptr e) {
    std::vector<std::function<void()>> callbacks;
    std::vector<std::pair<std::shared_ptr<Waiter>, std::size_t>> waiters;
    // The exception object stays in this thread: only its encoding is kept (see m_error).
    const bool failed = e != nullptr;
    bool cancelled = false;
    Bytes error;
    if (failed) {
      try {
        std::rethrow_exception(e);
      } catch (const CancelledError&) {
        cancelled = true;
      } catch (...) {
      }
      error = encode_error(e);
    }
    {
      std::lock_guard lock(m_mutex);
      if (m_done) return;
      m_done = true;
      if (failed) {
        m_failed = true;
        m_cancelled = cancelled;
        m_error = std::move(error);
      } else {
        m_value = std::move(v);
      }
      callbacks.swap(m_callbacks);
      waiters.swap(m_waiters);
    }
    // Python runs the callbacks before waking get(): a caller that returns from get() knows its
    // callback has run.
    for (auto& cb : callbacks) run_callback(cb);
    {
      std::lock_guard lock(m_mutex);
      m_settled = true;
      callbacks.clear();
      callbacks.swap(m_settled_callbacks);
    }
    m_cv.notify_all();
    for (auto& cb : callbacks) run_callback(cb);
    for (auto& [w, i] : waiters) {
      {
        std::lock_guard lock(w->m);
        w->done.push_back(i);
      }
      w->cv.notify_all();
    }
  }

  mutable std::mutex m_mutex;
  std::condition_variable m_cv;
  bool m_done = false;
  bool m_settled = false;
  bool m_cancelled = false;
  std::optional<Value> m_value;
  // The exception, encoded as a worker sends one, and re-created for each caller that asks
  // (get(), result(), exception(), an error callback): an exception object never passes from
  // the thread that made it to another. Sharing one would be sound (its reference count is
  // atomic), but that count lives in libstdc++, which ThreadSanitizer does not instrument: a
  // caller reading the exception it caught while the pool thread drops the last reference
  // (with the state, after the map's last task) looked like a use after free.
  Bytes m_error;
  bool m_failed = false;
  std::vector<std::function<void()>> m_callbacks;
  std::vector<std::function<void()>> m_settled_callbacks;
  std::vector<std::pair<std::shared_ptr<Waiter>, std::size_t>> m_waiters;
  std::weak_ptr<PoolCore> m_core;
  std::uint64_t m_first = 0;
  std::size_t m_count = 0;

 public:
  /// True once done and the callbacks have run (what get()/wait() wait for). A zero timeout
  /// only looks. Throws ValueError when it would wait from a callback of its own pool.
  bool wait_settled(Timeout timeout) {
    std::unique_lock lock(m_mutex);
    if (m_settled) return true;
    if (!timeout.infinite() && timeout.value() <= std::chrono::nanoseconds::zero()) return false;
    if (auto core = m_core.lock()) {
      lock.unlock();
      check_not_in_callback(core.get());
      lock.lock();
    }
    if (timeout.infinite()) {
      m_cv.wait(lock, [&] { return m_settled; });
      return true;
    }
    return m_cv.wait_for(lock, timeout.value(), [&] { return m_settled; });
  }
};

/// The result of one apply task.
template <class R>
class TaskState final : public ResultState<R>, public Completion {
 public:
  void on_result(std::size_t, std::span<const std::byte> bytes) override {
    if constexpr (std::is_void_v<R>) {
      this->set_value(std::monostate{});
    } else {
      FrameInputArchive ar(bytes);
      R r{};
      get(ar, r);
      if (ar.remaining() != 0) throw ProtocolError("pool: trailing bytes after a task result");
      this->set_value(std::move(r));
    }
  }
  void on_error(std::size_t, std::exception_ptr e) noexcept override { this->set_error(std::move(e)); }
};

/// The results of a map: one vector filled chunk by chunk; the first failure completes it.
template <class R>
class MapState final : public ResultState<std::vector<R>>, public Completion {
 public:
  explicit MapState(std::vector<std::size_t> offsets, std::size_t total)
      : m_offsets(std::move(offsets)), m_out(total), m_left(m_offsets.size()) {}
  void on_result(std::size_t part, std::span<const std::byte> bytes) override {
    FrameInputArchive ar(bytes);
    std::size_t end = part + 1 < m_offsets.size() ? m_offsets[part + 1] : m_out.size();
    for (std::size_t i = m_offsets[part]; i < end; ++i) get(ar, m_out[i]);
    if (ar.remaining() != 0) throw ProtocolError("pool: trailing bytes after a chunk's results");
    std::lock_guard lock(m_fill);
    if (--m_left == 0 && !m_failed) this->set_value(std::move(m_out));
  }
  void on_error(std::size_t, std::exception_ptr e) noexcept override {
    {
      std::lock_guard lock(m_fill);
      m_failed = true;
    }
    this->set_error(std::move(e));
  }

 private:
  std::vector<std::size_t> m_offsets;
  std::vector<R> m_out;  // chunks write disjoint ranges; only the pool thread writes
  std::mutex m_fill;
  std::size_t m_left;
  bool m_failed = false;
};

/// The results of an imap: chunks queued as they finish, read in order or as they come.
template <class R>
class StreamState final : public Completion {
 public:
  StreamState(std::vector<std::size_t> offsets, std::size_t total, bool ordered)
      : m_offsets(std::move(offsets)), m_total(total), m_ordered(ordered) {}
  void on_result(std::size_t part, std::span<const std::byte> bytes) override {
    FrameInputArchive ar(bytes);
    std::size_t end = part + 1 < m_offsets.size() ? m_offsets[part + 1] : m_total;
    std::vector<R> items(end - m_offsets[part]);
    for (auto& r : items) get(ar, r);
    if (ar.remaining() != 0) throw ProtocolError("pool: trailing bytes after a chunk's results");
    push(part, Chunk{std::move(items), {}, false});
  }
  void on_error(std::size_t part, std::exception_ptr e) noexcept override {
    try {
      push(part, Chunk{{}, encode_error(e), true});  // as ResultState::m_error, for the same reason
    } catch (...) {
    }
  }

  /// The next result; nullopt at the end. Throws TimeoutError, or a failed chunk's exception
  /// (iteration then goes on after that chunk).
  /// Throws ValueError when it would wait from a callback of `core`, its pool.
  std::optional<R> next(Timeout timeout, const PoolCore* core) {
    std::unique_lock lock(m_mutex);
    if (m_cur && m_pos < m_cur->items.size()) return std::move(m_cur->items[m_pos++]);
    if (m_taken == m_offsets.size()) return std::nullopt;
    auto ready = [&] { return m_ordered ? m_done.count(m_next) != 0 : !m_done.empty(); };
    if (!ready() && (timeout.infinite() || timeout.value() > std::chrono::nanoseconds::zero()))
      check_not_in_callback(core);
    if (timeout.infinite()) m_cv.wait(lock, ready);
    else if (!m_cv.wait_for(lock, timeout.value(), ready)) throw TimeoutError("imap: next() timed out");
    auto it = m_ordered ? m_done.find(m_next) : m_done.begin();
    m_cur = std::move(it->second);
    m_done.erase(it);
    ++m_next;
    ++m_taken;
    m_pos = 0;
    if (m_cur->failed) {
      auto e = decode_error(m_cur->error);
      m_cur.reset();
      std::rethrow_exception(e);
    }
    if (m_cur->items.empty()) {
      lock.unlock();
      return next(timeout, core);
    }
    return std::move(m_cur->items[m_pos++]);
  }

 private:
  struct Chunk {
    std::vector<R> items;
    Bytes error;  // encoded, when failed
    bool failed = false;
  };
  void push(std::size_t part, Chunk c) {
    {
      std::lock_guard lock(m_mutex);
      m_done.emplace(part, std::move(c));
    }
    m_cv.notify_all();
  }
  std::vector<std::size_t> m_offsets;
  std::size_t m_total;
  bool m_ordered;
  std::mutex m_mutex;
  std::condition_variable m_cv;
  std::map<std::size_t, Chunk> m_done;
  std::optional<Chunk> m_cur;
  std::size_t m_pos = 0;
  std::size_t m_next = 0;   // next chunk in order (ordered mode)
  std::size_t m_taken = 0;  // chunks handed out
};

/// Splits `items` into chunks of `chunksize` (0 = Python's default for `workers`) and builds
/// their tasks; returns the chunks' first indices.
template <class F, class T, bool Star>
std::vector<std::size_t> make_chunks(const F& f, const std::vector<T>& items, std::size_t chunksize,
                                     std::size_t workers, std::vector<TaskSpec>& tasks) {
  if (chunksize == 0) {
    // Python's Pool.map: divmod(len, workers * 4), one more when there is a remainder.
    chunksize = items.size() / (workers * 4);
    if (items.size() % (workers * 4) != 0) ++chunksize;
    if (chunksize == 0) chunksize = 1;
  }
  std::vector<std::size_t> offsets;
  for (std::size_t first = 0; first < items.size(); first += chunksize) {
    std::size_t last = std::min(items.size(), first + chunksize);
    TaskSpec t;
    t.fn = &run_chunk<F, T, Star>;
    // Reserved first: also keeps GCC 12's -Warray-bounds from a false alarm on the insert.
    t.payload.reserve(kTaskHeaderSize + 16 + (last - first) * (TriviallySerializable<T> ? sizeof(T) : 8));
    t.payload.resize(kTaskHeaderSize);
    FrameOutputArchive ar(t.payload);
    put_callable(ar, f);
    std::uint64_t n = last - first;
    ar.saveBinary(&n, sizeof n);
    for (std::size_t i = first; i < last; ++i) put(ar, items[i]);
    t.part = offsets.size();
    offsets.push_back(first);
    tasks.push_back(std::move(t));
  }
  return offsets;
}

/// The task of f(args...).
template <class F, class... A>
TaskSpec make_apply_task(const F& f, const A&... args) {
  TaskSpec t;
  t.fn = &run_apply<F, std::decay_t<A>...>;
  t.payload.reserve(kTaskHeaderSize + 64);  // also keeps GCC 12's -Warray-bounds quiet
  t.payload.resize(kTaskHeaderSize);
  FrameOutputArchive ar(t.payload);
  put_callable(ar, f);
  (put(ar, static_cast<const std::decay_t<A>&>(args)), ...);
  return t;
}

template <class Range>
auto to_vector(const Range& r) {
  using T = std::decay_t<std::ranges::range_value_t<Range>>;
  return std::vector<T>(std::ranges::begin(r), std::ranges::end(r));
}

}  // namespace detail

/// Options of one apply_async task: Python's callback and error_callback, and a time limit.
template <class R>
struct ApplyOptions {
  using Callback = std::conditional_t<std::is_void_v<R>, std::function<void()>, std::function<void(const R&)>>;
  /// Called in the pool thread with the result, before get() returns it.
  Callback callback = {};
  /// Called in the pool thread with the exception when the task fails.
  std::function<void(const std::exception&)> error_callback = {};
  /// The task's time limit: a task still running after it has its worker killed (and replaced)
  /// and fails with TimeoutError. Infinite by default.
  Timeout time_limit = {};
};

/// The pending result of Pool::apply_async / map_async (Python's AsyncResult). Copyable handle;
/// thread-safe.
template <class T>
class AsyncResult {
 public:
  /// Waits for the result and returns it (a copy). Throws TimeoutError when `timeout` passes
  /// first, or the task's exception (WorkerLost, TimeoutError, CancelledError, RemoteError...),
  /// or ValueError when it would wait in a callback of the same pool (the thread that
  /// delivers results cannot wait for one).
  T get(Timeout timeout = {}) const {
    if (!m_state->wait_settled(timeout)) throw TimeoutError("AsyncResult::get: timed out");
    if constexpr (std::is_void_v<T>) (void)m_state->value_or_throw();
    else return m_state->value_or_throw();
  }
  /// Waits until the result is ready; false on timeout. Throws ValueError as get() does.
  bool wait(Timeout timeout = {}) const { return m_state->wait_settled(timeout); }
  /// True when the task has finished (successfully or not).
  bool ready() const { return m_state->done(); }
  /// True when the task finished without an exception. Throws ValueError when not ready.
  bool successful() const {
    if (!ready()) throw ValueError("AsyncResult::successful: result is not ready");
    return !m_state->failed();
  }
  /// Cancels the task: a queued task is dropped, a running one has its worker killed (and
  /// replaced). get() then throws CancelledError. False when it had already finished.
  bool cancel() { return m_state->cancel(); }

  /// Wraps a state (used by Pool).
  explicit AsyncResult(std::shared_ptr<detail::ResultState<T>> s) : m_state(std::move(s)) {}

 private:
  std::shared_ptr<detail::ResultState<T>> m_state;
};

/// A lazy iterator over the results of imap/imap_unordered (Python's IMapIterator). Copies
/// share one position. Thread-safe.
template <class R>
class IMapIterator {
 public:
  /// The next result, or nullopt when all have been returned. Throws TimeoutError when
  /// `timeout` passes first, or the task's exception for a failed item (then continue calling),
  /// or ValueError when it would wait in a callback of the same pool.
  std::optional<R> next(Timeout timeout = {}) { return m_state->next(timeout, m_core.get()); }

  /// Input iterator for range-for (each step waits without limit).
  class iterator {
   public:
    using value_type = R;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(IMapIterator* it) : m_it(it) { ++*this; }
    const R& operator*() const { return *m_cur; }
    iterator& operator++() {
      m_cur = m_it->next();
      if (!m_cur) m_it = nullptr;
      return *this;
    }
    void operator++(int) { ++*this; }
    bool operator==(std::default_sentinel_t) const { return m_it == nullptr; }

   private:
    IMapIterator* m_it = nullptr;
    std::optional<R> m_cur;
  };
  /// Starts iterating (waits for the first result).
  iterator begin() { return iterator(this); }
  /// The end.
  std::default_sentinel_t end() const { return {}; }

  /// Wraps a state (used by Pool).
  IMapIterator(std::shared_ptr<detail::StreamState<R>> s, std::shared_ptr<detail::PoolCore> core)
      : m_state(std::move(s)), m_core(std::move(core)) {}

 private:
  std::shared_ptr<detail::StreamState<R>> m_state;
  std::shared_ptr<detail::PoolCore> m_core;  // keeps the pool's machinery while iterating
};

/// A pool of worker processes (Python's multiprocessing.Pool). Tasks are PoolCallables with
/// Serializable arguments and results; exceptions come back as the same standard or ipckit
/// type, or as RemoteError. A worker that dies fails only its task (WorkerLost) and is
/// replaced. Thread-safe: any thread may submit. Not fork-safe: in a forked child, a pool of
/// its parent throws ValueError from every call that submits or waits (close(), terminate()
/// and the destructor do nothing there); create a new pool in the child. Workers are daemonic:
/// a task cannot start processes of its own (ValueError), as in Python. A task may still fork()
/// by hand: a forked copy that returns from the task exits there (0, or 1 when the task threw)
/// without touching the pool.
class Pool {
 public:
  /// Forks `processes` workers (0 = cpu_count()). `initializer` runs first in every worker
  /// (captures are copied by fork: what they refer to must outlive the pool); if it throws,
  /// the pool is broken and every task fails with that exception. A worker that exits (even
  /// with code 0) or crashes in the initializer breaks it too, with WorkerLost saying how
  /// (Python forks replacements forever); one killed by SIGKILL or SIGTERM there is replaced,
  /// up to 3 times in a row. A worker exits and is replaced after `maxtasksperchild` tasks
  /// (0 = never). Throws ValueError in a daemonic process, std::system_error when fork fails.
  explicit Pool(std::size_t processes = 0, std::function<void()> initializer = {}, std::size_t maxtasksperchild = 0)
      : m_core(detail::pool_create(processes, std::move(initializer), maxtasksperchild)) {}
  Pool(Pool&&) noexcept = default;
  Pool& operator=(Pool&&) = delete;
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;
  /// terminate()s and reaps every worker (Python's `with Pool() as p:`); never throws. From a
  /// callback (the pool's own thread), the pool thread kills and reaps the workers as soon as
  /// the callback returns.
  ~Pool() {
    if (m_core) detail::pool_terminate(*m_core);
  }

  /// Runs f(args...) in a worker and returns its result; throws the task's exception, or
  /// ValueError in a callback of this pool (which cannot wait for its own results).
  template <PoolCallable F, class... A>
  detail::pool_result_t<F, A...> apply(F f, A&&... args) {
    detail::check_not_in_callback(m_core.get());  // before submitting: no orphan task
    return apply_async(std::move(f), std::forward<A>(args)...).get();
  }

  /// Submits f(args...) and returns at once. Throws ValueError when the pool is closed.
  template <PoolCallable F, class... A>
  AsyncResult<detail::pool_result_t<F, A...>> apply_async(F f, A&&... args) {
    return apply_async({}, std::move(f), std::forward<A>(args)...);
  }

  /// Submits f(args...) with callbacks and a time limit:
  /// `pool.apply_async({.callback = on_ok, .error_callback = on_err, .time_limit = 2s}, f, x)`.
  template <PoolCallable F, class... A>
  AsyncResult<detail::pool_result_t<F, A...>> apply_async(
      std::type_identity_t<ApplyOptions<detail::pool_result_t<F, A...>>> options, F f, A&&... args) {
    using R = detail::pool_result_t<F, A...>;
    auto state = std::make_shared<detail::TaskState<R>>();
    attach_callbacks<R>(*state, options);
    std::vector<detail::TaskSpec> tasks;
    tasks.push_back(detail::make_apply_task(f, args...));
    tasks[0].sink = state;
    tasks[0].time_limit = options.time_limit;
    state->bind(m_core, detail::pool_submit(*m_core, std::move(tasks)), 1);
    return AsyncResult<R>(state);
  }

  /// f(x) for every x of `items`, in input order; splits them into chunks of `chunksize`
  /// (0 = Python's default). Throws the first failed task's exception (e.g. WorkerLost), or
  /// ValueError when the pool is closed or in a callback of this pool.
  template <PoolCallable F, std::ranges::input_range Range>
  auto map(F f, const Range& items, std::size_t chunksize = 0) {
    detail::check_not_in_callback(m_core.get());
    return map_async(std::move(f), items, chunksize).get_moved();
  }

  /// map() without waiting: an AsyncResult of the whole vector. Throws ValueError when the
  /// pool is closed, even for an empty range.
  template <PoolCallable F, std::ranges::input_range Range>
  auto map_async(F f, const Range& items, std::size_t chunksize = 0) {
    return submit_map<F, false>(std::move(f), detail::to_vector(items), chunksize);
  }

  /// f(a, b, ...) for every tuple of `items`, in order (Python's starmap).
  template <PoolCallable F, std::ranges::input_range Range>
  auto starmap(F f, const Range& items, std::size_t chunksize = 0) {
    detail::check_not_in_callback(m_core.get());
    return starmap_async(std::move(f), items, chunksize).get_moved();
  }

  /// starmap() without waiting.
  template <PoolCallable F, std::ranges::input_range Range>
  auto starmap_async(F f, const Range& items, std::size_t chunksize = 0) {
    return submit_map<F, true>(std::move(f), detail::to_vector(items), chunksize);
  }

  /// Results of f(x) streamed in input order as they finish (the input is consumed at once).
  template <PoolCallable F, std::ranges::input_range Range>
  auto imap(F f, const Range& items, std::size_t chunksize = 1) {
    return submit_stream<F>(std::move(f), detail::to_vector(items), chunksize, true);
  }

  /// Results of f(x) streamed in completion order, each exactly once.
  template <PoolCallable F, std::ranges::input_range Range>
  auto imap_unordered(F f, const Range& items, std::size_t chunksize = 1) {
    return submit_stream<F>(std::move(f), detail::to_vector(items), chunksize, false);
  }

  /// No more tasks may be submitted; workers exit once the queued tasks are done.
  void close() noexcept { detail::pool_close(*m_core); }
  /// Kills the workers at once (SIGKILL) and reaps them; unfinished tasks fail with
  /// CancelledError. From a callback, returns at once and the pool thread does it next.
  void terminate() noexcept { detail::pool_terminate(*m_core); }
  /// Waits for the workers to exit after close() or terminate(); false on timeout. Throws
  /// ValueError when called before close()/terminate().
  bool join(Timeout timeout = {}) { return detail::pool_join(*m_core, timeout); }

  /// Number of worker processes.
  std::size_t processes() const noexcept { return detail::pool_size(*m_core); }
  /// Pids of the current workers (changes when a worker is replaced).
  std::vector<pid_t> worker_pids() { return detail::pool_pids(*m_core); }

 private:
  template <class R, class S>
  static void attach_callbacks(S& state, const ApplyOptions<R>& o) {
    if (!o.callback && !o.error_callback) return;
    state.on_done([&state, cb = o.callback, ecb = o.error_callback] {
      auto e = state.error();
      if (e) {
        if (!ecb) return;
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          ecb(ex);
        }
      } else if (cb) {
        if constexpr (std::is_void_v<R>) cb();
        else cb(state.value_or_throw());
      }
    });
  }

  /// AsyncResult of a map whose get() may move the vector out once.
  template <class R>
  struct MapHandle : AsyncResult<std::vector<R>> {
    std::shared_ptr<detail::MapState<R>> state;
    MapHandle(std::shared_ptr<detail::MapState<R>> s) : AsyncResult<std::vector<R>>(s), state(std::move(s)) {}
    std::vector<R> get_moved() {
      state->wait_settled({});
      return state->take_or_throw();
    }
  };

  template <class F, bool Star, class T>
  auto submit_map(F f, const std::vector<T>& items, std::size_t chunksize) {
    using R = detail::chunk_result_t<F, T, Star>;
    static_assert(!std::is_void_v<R>, "map: the function must return a value");
    std::vector<detail::TaskSpec> tasks;
    auto offsets = detail::make_chunks<F, T, Star>(f, items, chunksize, processes(), tasks);
    auto state = std::make_shared<detail::MapState<R>>(offsets, items.size());
    for (auto& t : tasks) t.sink = state;
    if (tasks.empty()) {
      detail::pool_check_running(*m_core);  // Python: "Pool not running" even for no items
      state->set_value({});
    } else {
      state->bind(m_core, detail::pool_submit(*m_core, std::move(tasks)), offsets.size());
    }
    return MapHandle<R>(state);
  }

  template <class F, class T>
  auto submit_stream(F f, const std::vector<T>& items, std::size_t chunksize, bool ordered) {
    using R = detail::chunk_result_t<F, T, false>;
    static_assert(!std::is_void_v<R>, "imap: the function must return a value");
    if (chunksize == 0) chunksize = 1;
    std::vector<detail::TaskSpec> tasks;
    auto offsets = detail::make_chunks<F, T, false>(f, items, chunksize, processes(), tasks);
    auto state = std::make_shared<detail::StreamState<R>>(offsets, items.size(), ordered);
    for (auto& t : tasks) t.sink = state;
    if (tasks.empty()) detail::pool_check_running(*m_core);
    else detail::pool_submit(*m_core, std::move(tasks));
    return IMapIterator<R>(state, m_core);
  }

  std::shared_ptr<detail::PoolCore> m_core;
};

}  // namespace ipc
