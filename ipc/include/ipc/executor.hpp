// ProcessPoolExecutor, Future, as_completed and wait: concurrent.futures over ipckit's Pool.
//
// The executor shares the Pool's machinery (see pool.hpp): one socket per worker, a pool
// thread that sees a dead worker through its pidfd at once. Unlike Python's executor, a dead
// worker fails only the futures it was running (WorkerLost) and is replaced: the executor
// never becomes "broken".
//
// ipc::wait(futures, ...) is an overload of the ipc::wait that waits on fds, Processes and
// Connections: it takes a std::vector<Future<R>>, a type none of the other overloads accept
// (a Future converts neither to an fd nor to a Waitable), so the name keeps Python's
// concurrent.futures.wait without clashing.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include <ipc/pool.hpp>

namespace ipc {

/// The pending result of ProcessPoolExecutor::submit (Python's concurrent.futures.Future).
/// A copyable handle; copies share the state. Thread-safe.
template <class R>
class Future {
 public:
  /// Waits for the result and returns it. Throws TimeoutError when `timeout` passes first,
  /// CancelledError when cancelled, or the task's exception (WorkerLost, RemoteError, ...), or
  /// ValueError when it would wait in a done callback of the same executor.
  R result(Timeout timeout = {}) const {
    if (!m_state->wait_settled(timeout)) throw TimeoutError("Future::result: timed out");
    if constexpr (std::is_void_v<R>) (void)m_state->value_or_throw();
    else return m_state->value_or_throw();
  }
  /// Waits and returns the task's exception (an exception object of the caller's own, made at
  /// each call), or nullptr when it succeeded. Throws TimeoutError when `timeout` passes first,
  /// CancelledError when the future was cancelled (as Python).
  std::exception_ptr exception(Timeout timeout = {}) const {
    if (!m_state->wait_settled(timeout)) throw TimeoutError("Future::exception: timed out");
    if (m_state->cancelled()) std::rethrow_exception(m_state->error());
    return m_state->error();
  }
  /// True once finished, failed or cancelled (and its callbacks have run).
  bool done() const { return m_state->done(); }
  /// True when cancelled.
  bool cancelled() const { return m_state->cancelled(); }
  /// True while a worker runs it.
  bool running() const { return m_state->running(); }
  /// Cancels it: a queued task is dropped; a running one has its worker killed (and replaced),
  /// which Python cannot do. False when already finished.
  bool cancel() { return m_state->cancel(); }
  /// Calls fn(*this) once done: in the pool thread, or at once in the caller when already done.
  /// What fn throws is printed and ignored, as Python logs it.
  void add_done_callback(std::function<void(const Future&)> fn) {
    m_state->on_settled([self = *this, fn = std::move(fn)] { fn(self); });
  }
  /// Waits until done; false on timeout.
  bool wait(Timeout timeout = {}) const { return m_state->wait_settled(timeout); }
  /// True when both refer to the same task.
  bool operator==(const Future& o) const noexcept { return m_state == o.m_state; }

  /// Wraps a state (used by the executor).
  explicit Future(std::shared_ptr<detail::ResultState<R>> s) : m_state(std::move(s)) {}
  /// The shared state (for as_completed and wait).
  const std::shared_ptr<detail::ResultState<R>>& state() const noexcept { return m_state; }

 private:
  std::shared_ptr<detail::ResultState<R>> m_state;
};

/// A pool of worker processes behind the concurrent.futures interface. The destructor is
/// shutdown(wait = true), so leaving the executor's scope waits for its tasks (Python's `with`).
/// Thread-safe. Not fork-safe: in a forked child, submit, map, result and wait on its parent's
/// executor throw ValueError (as Pool's do); create a new executor there.
class ProcessPoolExecutor {
 public:
  /// Forks `max_workers` workers (0 = cpu_count()); `initializer` and `max_tasks_per_child`
  /// as in Pool. Throws ValueError in a daemonic process, std::system_error when fork fails.
  explicit ProcessPoolExecutor(std::size_t max_workers = 0, std::function<void()> initializer = {},
                               std::size_t max_tasks_per_child = 0);
  ProcessPoolExecutor(const ProcessPoolExecutor&) = delete;
  ProcessPoolExecutor& operator=(const ProcessPoolExecutor&) = delete;
  /// shutdown(wait = true); never throws. From a done callback (the pool's own thread, which
  /// cannot wait for itself) it does not wait: the submitted tasks still finish and the
  /// workers exit after the callback returns.
  ~ProcessPoolExecutor();

  /// Schedules f(args...) and returns its Future. Throws ValueError after shutdown().
  template <PoolCallable F, class... A>
  Future<detail::pool_result_t<F, A...>> submit(F f, A&&... args) {
    using R = detail::pool_result_t<F, A...>;
    auto state = std::make_shared<detail::TaskState<R>>();
    std::vector<detail::TaskSpec> tasks;
    tasks.push_back(detail::make_apply_task(f, args...));
    tasks[0].sink = state;
    state->bind(m_core, detail::pool_submit(*m_core, std::move(tasks)), 1);
    return Future<R>(state);
  }

  /// f(x) for every x of `items`, in input order, in chunks of `chunksize`. Throws
  /// TimeoutError when not all results are in after `timeout` (the rest are cancelled), or
  /// the first failed task's exception, or ValueError after shutdown() (even for an empty
  /// range) or in a done callback of this executor.
  template <PoolCallable F, std::ranges::input_range Range>
  auto map(F f, const Range& items, Timeout timeout = {}, std::size_t chunksize = 1) {
    detail::check_not_in_callback(m_core.get());  // before submitting: no orphan task
    auto v = detail::to_vector(items);
    using T = typename decltype(v)::value_type;
    using R = detail::chunk_result_t<F, T, false>;
    std::vector<detail::TaskSpec> tasks;
    auto offsets = detail::make_chunks<F, T, false>(f, v, chunksize == 0 ? 1 : chunksize, 1, tasks);
    auto state = std::make_shared<detail::MapState<R>>(offsets, v.size());
    for (auto& t : tasks) t.sink = state;
    if (tasks.empty()) {
      detail::pool_check_running(*m_core);  // after shutdown: ValueError, as for any range
      return std::vector<R>();
    }
    state->bind(m_core, detail::pool_submit(*m_core, std::move(tasks)), offsets.size());
    if (!state->wait_settled(timeout)) {
      state->cancel();
      throw TimeoutError("ProcessPoolExecutor::map: results not ready in time");
    }
    return state->take_or_throw();
  }

  /// No more submissions. With `wait`, returns once every submitted task has finished and the
  /// workers have exited. With `cancel_futures`, queued tasks are cancelled first (running ones
  /// finish). Idempotent. Throws ValueError when asked to wait from a done callback.
  void shutdown(bool wait = true, bool cancel_futures = false);

  /// Pids of the current workers.
  std::vector<pid_t> worker_pids() { return detail::pool_pids(*m_core); }

 private:
  std::shared_ptr<detail::PoolCore> m_core;
};

/// How ipc::wait(futures) decides to return (Python's FIRST_COMPLETED, ...).
enum class ReturnWhen { FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED };
/// Return when any future finishes or is cancelled.
inline constexpr ReturnWhen FIRST_COMPLETED = ReturnWhen::FIRST_COMPLETED;
/// Return when any future fails (or when all have finished).
inline constexpr ReturnWhen FIRST_EXCEPTION = ReturnWhen::FIRST_EXCEPTION;
/// Return when all futures have finished.
inline constexpr ReturnWhen ALL_COMPLETED = ReturnWhen::ALL_COMPLETED;

/// The two sets ipc::wait returns (Python's DoneAndNotDoneFutures), each in input order.
template <class R>
struct DoneAndNotDone {
  std::vector<Future<R>> done;
  std::vector<Future<R>> not_done;
};

/// Waits until `when` is met or `timeout` passes, and returns which futures are done
/// (concurrent.futures.wait). Never throws TimeoutError: on timeout, not_done is non-empty.
/// Throws ValueError when it would wait in a done callback of the futures' own executor.
template <class R>
DoneAndNotDone<R> wait(const std::vector<Future<R>>& futures, ReturnWhen when = ALL_COMPLETED, Timeout timeout = {}) {
  auto waiter = std::make_shared<detail::Waiter>();
  std::vector<bool> done(futures.size(), false);
  std::size_t n_done = 0;
  bool failed = false;
  auto note = [&](std::size_t i) {
    if (done[i]) return;
    done[i] = true;
    ++n_done;
    if (futures[i].state()->failed() && !futures[i].cancelled()) failed = true;
  };
  for (std::size_t i = 0; i < futures.size(); ++i)
    if (futures[i].state()->add_waiter(waiter, i)) note(i);
  auto satisfied = [&] {
    if (n_done == futures.size()) return true;
    if (when == ReturnWhen::FIRST_COMPLETED) return n_done > 0;
    if (when == ReturnWhen::FIRST_EXCEPTION) return failed;
    return false;
  };
  if (!satisfied() && (timeout.infinite() || timeout.value() > std::chrono::nanoseconds::zero()))
    for (std::size_t i = 0; i < futures.size(); ++i)
      if (!done[i]) futures[i].state()->check_may_wait();
  Deadline deadline(timeout);
  std::unique_lock lock(waiter->m);
  for (;;) {
    for (std::size_t i : waiter->done) {
      note(i);  // waiters are told once the future has settled
    }
    waiter->done.clear();
    if (satisfied() || deadline.expired()) break;
    if (deadline.infinite()) waiter->cv.wait(lock);
    else waiter->cv.wait_for(lock, deadline.remaining());
  }
  DoneAndNotDone<R> out;
  for (std::size_t i = 0; i < futures.size(); ++i) (done[i] ? out.done : out.not_done).push_back(futures[i]);
  return out;
}

/// Same, with Python's argument order: `ipc::wait(futures, 2s, ipc::FIRST_EXCEPTION)`.
template <class R>
DoneAndNotDone<R> wait(const std::vector<Future<R>>& futures, Timeout timeout, ReturnWhen when = ALL_COMPLETED) {
  return wait(futures, when, timeout);
}

/// The futures of `futures` in the order they finish (concurrent.futures.as_completed): a
/// range whose iteration waits for the next one. Iterating past `timeout` (counted from this
/// call) throws TimeoutError.
template <class R>
class AsCompleted {
 public:
  /// Starts watching `futures` (copies of the handles are kept).
  AsCompleted(std::vector<Future<R>> futures, Timeout timeout)
      : m_futures(std::move(futures)), m_deadline(timeout), m_waiter(std::make_shared<detail::Waiter>()) {
    for (std::size_t i = 0; i < m_futures.size(); ++i)
      if (m_futures[i].state()->add_waiter(m_waiter, i)) m_waiter->done.push_back(i);
  }
  /// The next future to finish, or nullopt when all have been returned. Throws TimeoutError,
  /// or ValueError when it would wait in a done callback of the futures' own executor.
  std::optional<Future<R>> next() {
    if (m_returned == m_futures.size()) return std::nullopt;
    {
      std::lock_guard lock(m_waiter->m);
      if (m_waiter->done.empty())
        for (auto& f : m_futures) f.state()->check_may_wait();
    }
    std::unique_lock lock(m_waiter->m);
    while (m_waiter->done.empty()) {
      if (m_deadline.infinite()) {
        m_waiter->cv.wait(lock);
      } else if (m_waiter->cv.wait_for(lock, m_deadline.remaining()) == std::cv_status::timeout &&
                 m_waiter->done.empty()) {
        throw TimeoutError("as_completed: " + std::to_string(m_futures.size() - m_returned) +
                           " futures unfinished at the timeout");
      }
    }
    std::size_t i = m_waiter->done.front();
    m_waiter->done.erase(m_waiter->done.begin());
    ++m_returned;
    return m_futures[i];
  }

  /// Input iterator for range-for.
  class iterator {
   public:
    using value_type = Future<R>;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(AsCompleted* a) : m_a(a) { ++*this; }
    const Future<R>& operator*() const { return *m_cur; }
    iterator& operator++() {
      m_cur = m_a->next();
      if (!m_cur) m_a = nullptr;
      return *this;
    }
    void operator++(int) { ++*this; }
    bool operator==(std::default_sentinel_t) const { return m_a == nullptr; }

   private:
    AsCompleted* m_a = nullptr;
    std::optional<Future<R>> m_cur;
  };
  /// Waits for the first future to finish.
  iterator begin() { return iterator(this); }
  /// The end.
  std::default_sentinel_t end() const { return {}; }

 private:
  std::vector<Future<R>> m_futures;
  Deadline m_deadline;
  std::shared_ptr<detail::Waiter> m_waiter;
  std::size_t m_returned = 0;
};

/// `for (auto& f : ipc::as_completed(futures)) ...`: futures in the order they finish.
template <class R>
AsCompleted<R> as_completed(const std::vector<Future<R>>& futures, Timeout timeout = {}) {
  return AsCompleted<R>(futures, timeout);
}

}  // namespace ipc
