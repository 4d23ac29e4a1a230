// Pool machinery: the pool thread, worker processes, dispatch, death and time-limit handling.
#include <ipc/pool.hpp>

#include <ipc/detail/fork.hpp>

#include <cxxabi.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <new>
#include <thread>
#include <typeinfo>

#include <ipc/detail/errno.hpp>
#include <ipc/connection.hpp>
#include <ipc/process.hpp>
#include <ipc/synchronize.hpp>

namespace ipc::detail {
namespace {

// A pool breaks when this many workers of one slot in a row are killed (SIGKILL, SIGTERM) in
// their initializer.
constexpr std::uint32_t kInitKillsMax = 3;
// A worker holds at most this many tasks (one running, the rest queued in its socket).
constexpr std::uint32_t kWindowMax = 32;
// Bytes of queued task payloads a busy worker may hold: a bigger task waits for an idle worker,
// so that it goes to whichever worker is free first.
constexpr std::size_t kBusyBytes = 64 * 1024;
// The worker reads its task stream in reads of this size (a bigger task is read whole); its
// buffer goes back to this size after a task bigger than kTaskKeepBytes.
constexpr std::size_t kTaskReadBytes = 64 * 1024;
constexpr std::size_t kTaskKeepBytes = 4 * 1024 * 1024;

// Bytes of each worker's result ring; a result larger than a quarter of it goes through the
// socket instead.
constexpr std::size_t kRingBytes = 128 * 1024;
constexpr std::uint32_t kWrapMark = 0xFFFFFFFFu;

// Per-task state in the shared page, written by the worker as it takes a task.
enum SlotState : std::uint32_t { kQueued = 0, kRunning = 1, kCancelled = 2 };
// Status of a worker -> parent message.
enum Status : std::uint32_t { kOk = 0, kFailed = 1, kSkipped = 2, kReady = 3, kInitFailed = 4, kWake = 5 };

/// What a worker shares with the parent (an anonymous shared mapping made before fork, so no
/// name in /dev/shm): the state of its queued tasks, and a ring of finished results. A result
/// is committed by one store of `tail`, so a worker killed while writing one loses nothing
/// that was committed: the parent reads the ring before it handles the death. Results go
/// through the ring, not a write(2) each, while the parent is awake; the worker writes a wake
/// message to its socket only when the parent said it is going to sleep.
struct WorkerShared {
  std::atomic<std::uint32_t> slots[kWindowMax];
  alignas(64) std::atomic<std::uint64_t> tail;  // bytes committed by the worker
  alignas(64) std::atomic<std::uint64_t> head;  // bytes consumed by the parent
  alignas(64) std::byte ring[kRingBytes];
};

/// The head of the shared mapping; the workers' parts follow.
struct alignas(64) SharedHeader {
  std::atomic<std::uint32_t> parent_sleeping;
};

constexpr std::size_t round8(std::size_t n) { return (n + 7) & ~std::size_t{7}; }

/// Parent -> worker, the socket carries a plain stream of tasks, each this header and `len`
/// bytes, with no other framing: the pool thread writes it without blocking, resuming where a
/// full socket stopped it (a worker stopped or slow in the middle of reading a 16 MiB argument
/// must not stall the pool). A header with no fn tells the worker to exit. Worker -> parent,
/// results are Connection messages or go through the ring.
struct TaskHeader {
  std::uint32_t len;   // bytes after the header
  std::uint32_t slot;  // index in the worker's slot page
  std::uint64_t id;
  TaskFn fn;
};
static_assert(sizeof(TaskHeader) == kTaskHeaderSize);

struct ResultHeader {
  std::uint64_t id;
  std::uint32_t status;
  std::uint32_t pad;
  std::uint64_t run_ns;
};

std::string demangle(const char* name) {
  int status = 0;
  char* d = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  std::string out = status == 0 && d ? d : name;
  std::free(d);
  return out;
}

// ---- Exceptions across the boundary ----

/// Encodes the exception being handled: mangled type name, readable name, message and, for a
/// std::system_error, its code.
void encode_current_exception(Bytes& out) {
  std::string mangled = "?";
  if (auto* ti = abi::__cxa_current_exception_type()) mangled = ti->name();
  std::string type = mangled == "?" ? "unknown exception" : demangle(mangled.c_str());
  std::string what;
  std::int32_t code = 0;
  std::string category;
  try {
    throw;
  } catch (const RemoteError& e) {  // a nested pool's error: pass the original on
    type = e.type_name();
    what = e.message();
    mangled = "?";
  } catch (const std::system_error& e) {
    what = e.what();
    code = e.code().value();
    category = e.code().category().name();
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
  }
  FrameOutputArchive ar(out);
  ar(mangled, type, what, code, category);
}

template <class E>
bool is_type(const std::string& mangled) {
  return mangled == typeid(E).name();
}

/// Re-creates a task's exception in the parent: the same type for the standard and ipckit
/// exception types, RemoteError for anything else.
std::exception_ptr decode_exception(std::span<const std::byte> bytes) {
  std::string mangled, type, what, category;
  std::int32_t code = 0;
  try {
    FrameInputArchive ar(bytes);
    ar(mangled, type, what, code, category);
  } catch (const std::exception& e) {
    return std::make_exception_ptr(ProtocolError(std::string("pool: undecodable task error: ") + e.what()));
  }
#define IPCKIT_POOL_SAME_TYPE(E) \
  if (is_type<E>(mangled)) return std::make_exception_ptr(E(what))
  IPCKIT_POOL_SAME_TYPE(std::runtime_error);
  IPCKIT_POOL_SAME_TYPE(std::logic_error);
  IPCKIT_POOL_SAME_TYPE(std::invalid_argument);
  IPCKIT_POOL_SAME_TYPE(std::domain_error);
  IPCKIT_POOL_SAME_TYPE(std::length_error);
  IPCKIT_POOL_SAME_TYPE(std::out_of_range);
  IPCKIT_POOL_SAME_TYPE(std::range_error);
  IPCKIT_POOL_SAME_TYPE(std::overflow_error);
  IPCKIT_POOL_SAME_TYPE(std::underflow_error);
  IPCKIT_POOL_SAME_TYPE(Error);
  IPCKIT_POOL_SAME_TYPE(TimeoutError);
  IPCKIT_POOL_SAME_TYPE(ValueError);
  IPCKIT_POOL_SAME_TYPE(QueueFull);
  IPCKIT_POOL_SAME_TYPE(QueueEmpty);
  IPCKIT_POOL_SAME_TYPE(QueueClosed);
  IPCKIT_POOL_SAME_TYPE(ConnectionClosed);
  IPCKIT_POOL_SAME_TYPE(AuthenticationError);
  IPCKIT_POOL_SAME_TYPE(WorkerLost);
  IPCKIT_POOL_SAME_TYPE(ProtocolError);
  IPCKIT_POOL_SAME_TYPE(BrokenBarrierError);
  IPCKIT_POOL_SAME_TYPE(CancelledError);
#undef IPCKIT_POOL_SAME_TYPE
  if (is_type<std::bad_alloc>(mangled)) return std::make_exception_ptr(std::bad_alloc());
  if (is_type<std::system_error>(mangled) && (category == "generic" || category == "system")) {
    std::error_code ec(code, category == "generic" ? std::generic_category() : std::system_category());
    // what() is "<what_arg>: <message>"; give the constructor the what_arg back.
    std::string suffix = ": " + ec.message();
    std::string arg = what;
    if (arg.size() >= suffix.size() && arg.compare(arg.size() - suffix.size(), suffix.size(), suffix) == 0)
      arg.resize(arg.size() - suffix.size());
    return std::make_exception_ptr(std::system_error(ec, arg));
  }
  return std::make_exception_ptr(RemoteError(type, what));
}

std::string signal_name(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  return abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

std::string describe_exit(int code) {
  if (code < 0) return "died of " + signal_name(-code) + " (signal " + std::to_string(-code) + ")";
  return "exited with code " + std::to_string(code);
}

using Clock = std::chrono::steady_clock;

/// Set in every forked child, cleared by a worker as it starts: true in a worker after a task
/// forked a copy of it that returned from the task into the worker's loop. Global because fork
/// is process-wide; set by the after-fork registry.
std::atomic<bool> g_forked_by_task{false};
void note_fork() noexcept { g_forked_by_task.store(true, std::memory_order_relaxed); }
[[maybe_unused]] const bool g_after_fork = register_after_fork_child(note_fork);

struct Task {
  std::uint64_t id = 0;
  TaskFn fn = nullptr;
  Bytes payload;
  std::shared_ptr<Completion> sink;
  std::size_t part = 0;
  Timeout limit;
  Clock::time_point deadline = Clock::time_point::max();
  std::uint32_t slot = 0;
  bool resolved = false;          // cancelled while queued in a worker: only its ack is awaited
  bool cancel_requested = false;  // cancelled while running: its worker is being killed
  bool timed_out = false;         // overran its time limit: its worker is being killed
  bool held = false;              // skipped on purpose by a worker about to be killed: resend
};

/// A finished task's outcome, handed to its Completion outside the pool's lock.
struct Delivery {
  std::shared_ptr<Completion> sink;
  std::size_t part = 0;
  Bytes bytes;
  std::size_t offset = 0;
  std::exception_ptr error;
};

void deliver(std::vector<Delivery>& out) noexcept {
  for (auto& d : out) {
    if (d.error) {
      d.sink->on_error(d.part, d.error);
      continue;
    }
    try {
      d.sink->on_result(d.part, std::span<const std::byte>(d.bytes).subspan(d.offset));
    } catch (...) {
      d.sink->on_error(d.part, std::current_exception());
    }
  }
  out.clear();
}

struct Worker {
  std::size_t index = 0;
  std::unique_ptr<Process> proc;
  Connection conn;  // the parent's end
  std::deque<Task> outstanding;  // in the order sent, which is the order the worker runs them
  std::uint32_t next_slot = 0;
  std::size_t bytes_out = 0;
  std::size_t dispatched = 0;
  std::size_t limited = 0;  // outstanding tasks with a time limit
  std::uint64_t ring_head = 0;  // bytes of the result ring read
  bool ready = false;       // the initializer has run
  bool stopping = false;    // told to exit
  bool doomed = false;      // being killed to stop a task: gets no more tasks
  std::uint32_t init_deaths = 0;  // workers of this slot in a row killed in their initializer
  Bytes batch;
  // Task bytes not written to the socket yet: each chunk holds its bytes, or is (empty bytes)
  // the payload of the outstanding task `task_id`, which stays outstanding until its answer.
  struct OutChunk {
    Bytes bytes;
    std::uint64_t task_id = 0;
  };
  std::deque<OutChunk> sendq;
  std::size_t sendq_off = 0;  // bytes of sendq.front() already written
};

}  // namespace

/// The shared machinery behind Pool and ProcessPoolExecutor. The pool thread holds a reference
/// to it until its last statement, so a Pool destroyed from a callback (on that thread) leaves
/// the machinery alive until the thread has shut the workers down and returned.
class PoolCore : public std::enable_shared_from_this<PoolCore> {
 public:
  PoolCore(std::size_t n, std::function<void()> init, std::size_t maxtasks)
      : m_init(std::move(init)),
        m_maxtasks(maxtasks),
        m_owner(::getpid()),
        m_generation(fork_generation()) {
    m_workers.resize(n);
    m_slots_bytes = sizeof(SharedHeader) + n * sizeof(WorkerShared);
    // Anonymous and shared: inherited by every worker, never a name in /dev/shm.
    void* p = ::mmap(nullptr, m_slots_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw_errno("mmap(pool slots)");
    m_header = new (p) SharedHeader{};
    m_shared = reinterpret_cast<WorkerShared*>(static_cast<std::byte*>(p) + sizeof(SharedHeader));
    for (std::size_t i = 0; i < n; ++i) new (&m_shared[i]) WorkerShared{};
    m_wake.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!m_wake) {
      ::munmap(p, m_slots_bytes);
      throw_errno("eventfd(pool)");
    }
  }
  ~PoolCore() {
    if (m_thread.joinable()) m_thread.detach();  // only when destroyed from its own thread
    ::munmap(m_header, m_slots_bytes);
  }

  void start() {
    m_thread = std::thread([self = shared_from_this()]() mutable {
      {
        detail::InternalThread internal;  // its forks of workers are by design: no fork warning
        self->run();
      }
      self.reset();  // may be the last reference (the Pool was destroyed from a callback)
    });
    std::unique_lock lock(m_mutex);
    m_cv.wait(lock, [&] { return m_started; });
    if (m_start_error) {
      lock.unlock();
      m_thread.join();
      std::rethrow_exception(m_start_error);
    }
  }

  std::uint64_t submit(std::vector<TaskSpec> tasks) {
    check_owner();
    std::lock_guard lock(m_mutex);
    check_running_locked();
    std::uint64_t first = m_next_id;
    for (auto& t : tasks) {
      Task k;
      k.id = m_next_id++;
      k.fn = t.fn;
      k.payload = std::move(t.payload);
      k.sink = std::move(t.sink);
      k.part = t.part;
      k.limit = t.time_limit;
      m_pending.push_back(std::move(k));
    }
    wake_locked();
    return first;
  }

  void check_running() {
    check_owner();
    std::lock_guard lock(m_mutex);
    check_running_locked();
  }

  bool cancel(std::uint64_t first, std::size_t count, bool stop_running) noexcept {
    if (forked_copy()) return false;
    auto in = [&](std::uint64_t id) { return id >= first && id - first < count; };
    std::vector<Delivery> out;
    bool any = false;
    {
      std::lock_guard lock(m_mutex);
      for (auto it = m_pending.begin(); it != m_pending.end();) {
        if (in(it->id)) {
          out.push_back(cancelled(*it, "cancelled before it started"));
          it = m_pending.erase(it);
          any = true;
        } else {
          ++it;
        }
      }
      for (auto& w : m_workers) {
        if (!w) continue;
        for (auto& t : w->outstanding) {
          if (!in(t.id) || t.resolved || t.cancel_requested) continue;
          std::uint32_t expect = kQueued;
          if (slot(*w, t.slot).compare_exchange_strong(expect, kCancelled)) {
            t.resolved = true;  // the worker will skip it
            out.push_back(cancelled(t, "cancelled before it started"));
          } else if (!stop_running) {
            continue;
          } else {
            // Running: stop it the only way there is. The tasks queued behind it are held
            // back first (the worker skips them and they are sent again), so that if it
            // finishes before the signal lands, no other task is killed in its place.
            t.cancel_requested = true;
            for (auto& u : w->outstanding) {
              if (u.id <= t.id || u.resolved) continue;
              std::uint32_t q = kQueued;
              if (slot(*w, u.slot).compare_exchange_strong(q, kCancelled)) u.held = true;
            }
            w->doomed = true;
            kill_worker(*w);
          }
          any = true;
        }
      }
    }
    deliver(out);
    return any;
  }

  bool running(std::uint64_t first, std::size_t count) noexcept {
    if (forked_copy()) return false;
    std::lock_guard lock(m_mutex);
    for (auto& w : m_workers) {
      if (!w) continue;
      for (auto& t : w->outstanding)
        if (t.id >= first && t.id - first < count && !t.resolved && slot(*w, t.slot).load() == kRunning) return true;
    }
    return false;
  }

  void close() noexcept {
    if (forked_copy()) return;
    std::lock_guard lock(m_mutex);
    m_closed = true;
    wake_locked();
  }

  void terminate() noexcept {
    if (forked_copy()) return;
    {
      std::lock_guard lock(m_mutex);
      m_terminating = true;
      wake_locked();
    }
    if (std::this_thread::get_id() == m_thread.get_id()) return;  // from a callback: it ends soon
    join_thread({});
  }

  bool join(Timeout timeout) {
    check_owner();
    {
      std::lock_guard lock(m_mutex);
      if (!m_closed && !m_terminating) throw ValueError("Pool::join: call close() or terminate() first");
    }
    if (std::this_thread::get_id() == m_thread.get_id()) throw ValueError("Pool::join: called from a callback");
    return join_thread(timeout);
  }

  /// True in a forked child of the process that made the pool: the workers, the pool thread
  /// and maybe a lock that thread held at the fork stayed behind, so nothing here may be used.
  bool forked_copy() const noexcept { return fork_generation() != m_generation; }

  /// Throws ValueError in a forked child (see forked_copy), before any lock is taken.
  void check_owner() const {
    if (forked_copy())
      throw ValueError("ipc::Pool: used in a process forked from the one that created it (pid " +
                       std::to_string(m_owner) + "); its workers and thread belong to that process: create a new pool here");
  }

  bool on_own_thread() const noexcept { return std::this_thread::get_id() == m_thread.get_id(); }

  std::vector<pid_t> pids() {
    check_owner();
    std::lock_guard lock(m_mutex);
    std::vector<pid_t> out;
    for (auto& w : m_workers)
      if (w && w->proc) out.push_back(w->proc->pid());
    return out;
  }

  std::size_t size() const noexcept { return m_workers.size(); }

 private:
  std::atomic<std::uint32_t>& slot(const Worker& w, std::uint32_t s) { return m_shared[w.index].slots[s]; }

  void check_running_locked() const {
    // A copy for the caller: m_broken stays the pool thread's (see ResultState::m_error).
    if (m_broken) std::rethrow_exception(decode_error(encode_error(m_broken)));
    if (m_closed || m_terminating) throw ValueError("Pool not running: it was closed or terminated");
  }

  void wake_locked() noexcept {
    if (!m_sleeping) return;
    m_sleeping = false;
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(m_wake.get(), &one, sizeof one);
  }

  bool join_thread(Timeout timeout) {
    std::unique_lock lock(m_mutex);
    if (timeout.infinite()) m_cv.wait(lock, [&] { return m_finished; });
    else if (!m_cv.wait_for(lock, timeout.value(), [&] { return m_finished; })) return false;
    lock.unlock();
    std::lock_guard jl(m_join_mutex);
    if (m_thread.joinable()) m_thread.join();
    return true;
  }

  static Delivery cancelled(Task& t, const char* why) {
    return Delivery{t.sink, t.part, {}, 0, std::make_exception_ptr(CancelledError(std::string("task ") + why))};
  }

  void kill_worker(Worker& w) noexcept {
    try {
      if (w.proc) w.proc->kill();
    } catch (...) {
    }
  }

  // ---- Worker processes ----

  void spawn(std::size_t index) {
    auto& w = m_workers[index];
    if (!w) w = std::make_unique<Worker>();
    w->index = index;
    w->outstanding.clear();
    w->next_slot = 0;
    w->bytes_out = 0;
    w->dispatched = 0;
    w->limited = 0;
    w->ready = false;
    w->stopping = false;
    w->doomed = false;
    w->sendq.clear();
    w->sendq_off = 0;
    for (std::uint32_t s = 0; s < kWindowMax; ++s) slot(*w, s).store(kQueued);
    m_shared[index].tail.store(0);
    m_shared[index].head.store(0);
    w->ring_head = 0;
    auto [parent_end, child_end] = Pipe(true);
    w->conn = std::move(parent_end);
    Connection* child = &child_end;  // this frame is the child's too: fork copies it
    auto proc = std::make_unique<Process>([this, index, child] { return worker_main(index, *child); });
    proc->name("PoolWorker-" + std::to_string(index + 1));
    proc->daemon(true);  // dies with the pool thread (PDEATHSIG) and at exit, as Python's workers
    proc->start();
    w->proc = std::move(proc);
  }

  /// The worker's body, in the forked child: no lock of the parent is taken here.
  int worker_main(std::size_t index, Connection& conn) {
    // The parent's ends of the other workers' sockets, their pidfds and the wake fd came along
    // with fork: close them, so that only the parent holds them. The objects are never
    // destroyed here (the child ends through _exit).
    for (auto& w : m_workers) {
      if (!w) continue;
      if (w->conn.fileno() >= 0) ::close(w->conn.fileno());
      if (w->index != index && w->proc) {
        try {
          ::close(w->proc->sentinel());
        } catch (...) {
        }
      }
    }
    ::close(m_wake.get());
    g_forked_by_task.store(false, std::memory_order_relaxed);
    Bytes out;
    WorkerShared& shared = m_shared[index];
    std::uint64_t tail = 0;
    auto send_status = [&](std::uint64_t id, std::uint32_t status, std::uint64_t ns) {
      ResultHeader h{id, status, 0, ns};
      std::memcpy(out.data(), &h, sizeof h);
      if (status == kOk || status == kFailed || status == kSkipped) {
        // Into the ring when it fits: [u32 length][u32 unused][message], 8-byte aligned.
        const std::size_t rec = round8(8 + out.size());
        std::size_t pos = tail % kRingBytes;
        const std::size_t gap = kRingBytes - pos < rec ? kRingBytes - pos : 0;  // skipped to wrap
        if (rec <= kRingBytes / 4 && tail + gap + rec - shared.head.load(std::memory_order_acquire) <= kRingBytes) {
          if (gap != 0) {
            std::uint32_t mark = kWrapMark;
            std::memcpy(shared.ring + pos, &mark, sizeof mark);
            tail += gap;
            pos = 0;
          }
          auto len = static_cast<std::uint32_t>(out.size());
          std::memcpy(shared.ring + pos, &len, sizeof len);
          std::memcpy(shared.ring + pos + 8, out.data(), out.size());
          tail += rec;
          shared.tail.store(tail, std::memory_order_seq_cst);  // commit
          // Pairs with the parent's store of parent_sleeping and load of tail (both seq_cst):
          // either it sees this result before sleeping, or this sees that it sleeps.
          if (m_header->parent_sleeping.load(std::memory_order_seq_cst) != 0 &&
              m_header->parent_sleeping.exchange(0) != 0) {
            ResultHeader wake{0, kWake, 0, 0};
            conn.send_bytes(std::span<const std::byte>(reinterpret_cast<const std::byte*>(&wake), sizeof wake));
          }
          return;
        }
      }
      conn.send_bytes(std::span<const std::byte>(out));
    };
    out.resize(sizeof(ResultHeader));
    try {
      if (m_init) m_init();
    } catch (...) {
      encode_current_exception(out);
      try {
        send_status(0, kInitFailed, 0);
      } catch (...) {
      }
      return 1;
    }
    std::size_t done = 0;
    // The task stream (see TaskHeader): bytes [pos, have) of `in` are read and not used yet.
    // A buffer of uninitialised bytes, grown for a big task and given back after a huge one.
    std::unique_ptr<std::byte[]> in = std::make_unique_for_overwrite<std::byte[]>(kTaskReadBytes);
    std::size_t cap = kTaskReadBytes, pos = 0, have = 0;
    const int fd = conn.fileno();
    auto fill = [&](std::size_t n) {  // until n unused bytes are in; false at EOF
      if (have - pos >= n) return true;
      const std::size_t want = n > cap ? std::max(n, 2 * cap)
                               : cap > kTaskKeepBytes && n <= kTaskReadBytes && have - pos <= kTaskReadBytes
                                   ? kTaskReadBytes
                                   : cap;
      if (want != cap) {
        auto bigger = std::make_unique_for_overwrite<std::byte[]>(want);
        std::memcpy(bigger.get(), in.get() + pos, have - pos);
        in = std::move(bigger);
        cap = want;
      } else if (pos > 0) {
        std::memmove(in.get(), in.get() + pos, have - pos);
      }
      have -= pos;
      pos = 0;
      while (have < n) {
        ssize_t r = ::read(fd, in.get() + have, cap - have);
        if (r > 0) have += static_cast<std::size_t>(r);
        else if (r < 0 && errno == EINTR) continue;
        else return false;  // EOF or error: the pool is gone
      }
      return true;
    };
    try {
      send_status(0, kReady, 0);
      for (;;) {
        if (!fill(sizeof(TaskHeader))) return 0;  // the pool is gone
        TaskHeader h;
        std::memcpy(&h, in.get() + pos, sizeof h);
        if (h.fn == nullptr) return 0;  // told to stop
        if (!fill(sizeof h + h.len)) return 0;
        std::span<const std::byte> args(in.get() + pos + sizeof h, h.len);
        pos += sizeof h + h.len;
        out.resize(sizeof(ResultHeader));
        std::uint32_t expect = kQueued;
        std::uint32_t status = kOk;
        std::uint64_t ns = 0;
        if (!shared.slots[h.slot].compare_exchange_strong(expect, kRunning)) {
          status = kSkipped;  // cancelled while it waited here
        } else {
          auto t0 = Clock::now();
          try {
            h.fn(args, out);
          } catch (...) {
            out.resize(sizeof(ResultHeader));
            encode_current_exception(out);
            status = kFailed;
          }
          ns = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
          // A copy forked by the task came back here: it must not answer for the worker nor
          // take its tasks. It leaves as a Process does, 0 or 1 when the task threw.
          if (g_forked_by_task.load(std::memory_order_relaxed)) ::_exit(status == kOk ? 0 : 1);
        }
        send_status(h.id, status, ns);
        if (m_maxtasks != 0 && ++done >= m_maxtasks) return 0;
      }
    } catch (const ConnectionClosed&) {
      return 0;  // the pool is gone
    }
  }

  // ---- The pool thread ----

  std::size_t window() const noexcept {
    if (m_avg_ns < 0) return 1;
    if (m_avg_ns < 50e3) return kWindowMax;
    if (m_avg_ns < 500e3) return 4;
    return 1;
  }

  bool usable(const Worker& w) const noexcept {
    return w.proc && !w.stopping && !w.doomed && !w.conn.closed() && (m_maxtasks == 0 || w.dispatched < m_maxtasks);
  }

  /// Hands queued tasks to workers: the least loaded first; short tasks are batched.
  void dispatch() {
    if (m_pending.empty()) return;
    const std::size_t win = window();
    const auto now = Clock::now();
    std::vector<Worker*> sent;
    while (!m_pending.empty()) {
      Task& t = m_pending.front();
      const bool big = t.payload.size() - kTaskHeaderSize > kBusyBytes / 2;
      const bool limited = !t.limit.infinite();
      Worker* best = nullptr;
      for (auto& w : m_workers) {
        if (!w || !usable(*w)) continue;
        if (!w->outstanding.empty()) {
          if (big || limited || w->limited > 0 || w->outstanding.size() >= win ||
              w->bytes_out + t.payload.size() > kBusyBytes)
            continue;
        }
        if (!best || w->outstanding.size() < best->outstanding.size()) best = w.get();
      }
      if (!best) break;
      Worker& w = *best;
      t.slot = w.next_slot;
      t.held = false;
      w.next_slot = (w.next_slot + 1) % kWindowMax;
      slot(w, t.slot).store(kQueued);
      TaskHeader h{static_cast<std::uint32_t>(t.payload.size() - kTaskHeaderSize), t.slot, t.id, t.fn};
      std::memcpy(t.payload.data(), &h, sizeof h);
      if (limited) {
        t.deadline = now + t.limit.value();
        ++w.limited;
      }
      if (w.batch.empty()) sent.push_back(&w);
      if (!(w.batch.empty() && (big || limited)))
        w.batch.insert(w.batch.end(), t.payload.begin(), t.payload.end());
      w.bytes_out += t.payload.size();
      ++w.dispatched;
      w.outstanding.push_back(std::move(t));
      m_pending.pop_front();
    }
    for (Worker* w : sent) {
      if (w->batch.empty()) {
        w->sendq.push_back(Worker::OutChunk{{}, w->outstanding.back().id});
      } else {
        w->sendq.emplace_back();
        w->sendq.back().bytes.swap(w->batch);  // flush() hands the buffer back once written
      }
      flush(*w);
    }
  }

  /// The bytes of a queued chunk.
  std::span<const std::byte> chunk_bytes(const Worker& w, const Worker::OutChunk& c) const noexcept {
    if (!c.bytes.empty()) return c.bytes;
    for (auto& t : w.outstanding)
      if (t.id == c.task_id) return t.payload;
    return {};  // cannot happen: a task stays outstanding until the worker has read it all
  }

  /// Writes what the socket takes of a worker's queued task bytes, without blocking; the rest
  /// waits for POLLOUT.
  void flush(Worker& w) noexcept {
    while (!w.sendq.empty() && !w.conn.closed()) {
      auto data = chunk_bytes(w, w.sendq.front());
      ssize_t n = 0;
      if (w.sendq_off < data.size())
        n = ::send(w.conn.fileno(), data.data() + w.sendq_off, data.size() - w.sendq_off, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) return;
        // The worker is gone: its pidfd reports it, and its unstarted tasks are sent again.
        w.sendq.clear();
        w.sendq_off = 0;
        return;
      }
      w.sendq_off += static_cast<std::size_t>(n);
      if (w.sendq_off >= data.size()) {
        if (w.batch.capacity() == 0) {  // keep the batch buffer's memory for the next batch
          w.sendq.front().bytes.clear();
          w.batch.swap(w.sendq.front().bytes);
        }
        w.sendq.pop_front();
        w.sendq_off = 0;
      }
    }
  }

  /// True when the worker's ring holds results not read yet.
  bool ring_pending(const Worker& w) const noexcept {
    return m_shared[w.index].tail.load(std::memory_order_seq_cst) != w.ring_head;
  }

  /// Reads the results committed to a worker's ring.
  void drain_ring(Worker& w, std::vector<Delivery>& out) {
    WorkerShared& sh = m_shared[w.index];
    const std::uint64_t tail = sh.tail.load(std::memory_order_acquire);
    std::uint64_t head = w.ring_head;
    if (head == tail) return;
    while (head < tail) {
      std::size_t pos = head % kRingBytes;
      std::uint32_t len = 0;
      std::memcpy(&len, sh.ring + pos, sizeof len);
      if (len == kWrapMark) {
        head += kRingBytes - pos;
        continue;
      }
      if (len > kRingBytes - pos - 8) {  // only a corrupt worker writes this
        kill_worker(w);
        head = tail;
        break;
      }
      Bytes msg(sh.ring + pos + 8, sh.ring + pos + 8 + len);
      head += round8(8 + len);
      handle_message(w, std::move(msg), out);
    }
    w.ring_head = head;
    sh.head.store(head, std::memory_order_release);
  }

  /// Reads every message a worker has sent.
  void drain(Worker& w, std::vector<Delivery>& out) {
    drain_ring(w, out);
    for (bool first = true; !w.conn.closed(); first = false) {
      if (!first && !w.conn.has_buffered_message()) break;
      std::optional<Bytes> msg;
      try {
        msg = w.conn.try_recv_bytes(Connection::npos, std::chrono::seconds(0));
      } catch (...) {
        w.conn.close();  // EOF or a truncated message: the worker is gone
        break;
      }
      if (!msg) break;
      handle_message(w, std::move(*msg), out);
    }
  }

  void handle_message(Worker& w, Bytes msg, std::vector<Delivery>& out) {
    if (msg.size() < sizeof(ResultHeader)) {
      kill_worker(w);
      return;
    }
    ResultHeader h;
    std::memcpy(&h, msg.data(), sizeof h);
    if (h.status == kReady) {
      w.ready = true;
      w.init_deaths = 0;
      return;
    }
    if (h.status == kInitFailed) {
      if (!m_broken) {
        m_broken = decode_exception(std::span<const std::byte>(msg).subspan(sizeof h));
        fail_pending(out, m_broken);
      }
      return;
    }
    if (h.status == kWake) return;
    // Results come in the order the tasks were sent, except that a large one may overtake
    // others through the socket while they wait in the ring.
    auto it = std::find_if(w.outstanding.begin(), w.outstanding.end(), [&](const Task& k) { return k.id == h.id; });
    if (it == w.outstanding.end()) return;
    Task t = std::move(*it);
    w.outstanding.erase(it);
    w.bytes_out -= t.payload.size();
    if (!t.limit.infinite()) --w.limited;
    if (h.status != kSkipped) {
      double ns = static_cast<double>(h.run_ns);
      m_avg_ns = m_avg_ns < 0 ? ns : 0.8 * m_avg_ns + 0.2 * ns;
    }
    if (t.held && !t.resolved) {
      t.held = false;
      m_pending.push_front(std::move(t));
      return;
    }
    if (t.resolved || h.status == kSkipped) return;
    if (t.timed_out || t.cancel_requested) {
      // It finished while its worker was being killed: the result stands. The kill goes on
      // (the worker may already be in its next task), and that task is resent.
    }
    if (h.status == kOk) out.push_back(Delivery{std::move(t.sink), t.part, std::move(msg), sizeof h, nullptr});
    else out.push_back(Delivery{std::move(t.sink), t.part, {}, 0, decode_exception(std::span<const std::byte>(msg).subspan(sizeof h))});
  }

  void fail_pending(std::vector<Delivery>& out, std::exception_ptr e) {
    for (auto& t : m_pending) out.push_back(Delivery{t.sink, t.part, {}, 0, e});
    m_pending.clear();
  }

  /// A worker has ended: collect its last results, fail the task it was running, send its
  /// unstarted tasks to others, and replace it.
  void handle_death(Worker& w, std::vector<Delivery>& out) {
    drain(w, out);
    int code = 0;
    try {
      w.proc->join();
      code = w.proc->exitcode().value_or(0);
      w.proc->close();
    } catch (...) {
    }
    const pid_t pid = w.proc->pid();
    w.proc.reset();
    w.conn.close();
    const bool killed_by_pool = w.doomed || std::any_of(w.outstanding.begin(), w.outstanding.end(),
                                                        [](const Task& t) { return t.timed_out; });
    if (!w.ready && !w.stopping && !m_terminating && !m_broken && !killed_by_pool) {
      // Died inside its initializer without reporting (an exception is reported as
      // kInitFailed): a replacement would most likely die the same way, and Python's pool
      // forks replacements forever here. An exit, even with code 0, or a crash breaks the pool
      // at once; SIGKILL and SIGTERM may come from outside (an operator, the OOM killer), so
      // they break it when a slot's worker is killed in its initializer kInitKillsMax times
      // in a row.
      const bool outside_kill = code == -SIGKILL || code == -SIGTERM;
      if (!outside_kill || ++w.init_deaths >= kInitKillsMax) {
        std::string times = outside_kill ? ", " + std::to_string(kInitKillsMax) + " times in a row" : "";
        m_broken = std::make_exception_ptr(WorkerLost("pool worker " + std::to_string(pid) + " " + describe_exit(code) +
                                                      " in its initializer" + times + "; the pool is broken"));
        fail_pending(out, m_broken);
      }
    }
    std::deque<Task> requeue;
    for (auto& t : w.outstanding) {
      if (t.resolved) continue;
      const bool ran = slot(w, t.slot).load() == kRunning;
      std::exception_ptr e;
      if (t.timed_out) {
        e = std::make_exception_ptr(TimeoutError(
            "task exceeded its time limit of " +
            std::to_string(std::chrono::duration<double>(t.limit.value()).count()) + " s; worker " +
            std::to_string(pid) + " was killed and replaced"));
      } else if (t.cancel_requested) {
        e = std::make_exception_ptr(CancelledError("task cancelled while running; worker " + std::to_string(pid) +
                                                   " was killed and replaced"));
      } else if (ran) {
        e = std::make_exception_ptr(WorkerLost("pool worker " + std::to_string(pid) + " " + describe_exit(code) +
                                               " while running task " + std::to_string(t.id)));
      } else if (m_broken) {
        e = m_broken;
      }
      if (e) out.push_back(Delivery{std::move(t.sink), t.part, {}, 0, e});
      else requeue.push_back(std::move(t));
    }
    w.outstanding.clear();
    w.sendq.clear();
    w.sendq_off = 0;
    w.bytes_out = 0;
    w.limited = 0;
    for (auto it = requeue.rbegin(); it != requeue.rend(); ++it) m_pending.push_front(std::move(*it));
    if (!m_terminating && !m_broken && !(m_closed && m_pending.empty() && idle())) spawn(w.index);
  }

  bool idle() const noexcept {
    for (auto& w : m_workers)
      if (w && !w->outstanding.empty()) return false;
    return true;
  }

  bool any_alive() const noexcept {
    for (auto& w : m_workers)
      if (w && w->proc) return true;
    return false;
  }

  void shutdown_workers(std::vector<Delivery>& out) {
    for (auto& w : m_workers)
      if (w) kill_worker(*w);
    for (auto& w : m_workers) {
      if (!w || !w->proc) continue;
      try {
        w->proc->join();
        w->proc->close();
      } catch (...) {
      }
      w->proc.reset();
      w->conn.close();
      for (auto& t : w->outstanding)
        if (!t.resolved) out.push_back(Delivery{t.sink, t.part, {}, 0, std::make_exception_ptr(CancelledError("pool terminated"))});
      w->outstanding.clear();
      w->sendq.clear();
      w->sendq_off = 0;
    }
    for (auto& t : m_pending)
      out.push_back(Delivery{t.sink, t.part, {}, 0, std::make_exception_ptr(CancelledError("pool terminated"))});
    m_pending.clear();
  }

  void run() {
    std::unique_lock lock(m_mutex);
    try {
      for (std::size_t i = 0; i < m_workers.size(); ++i) spawn(i);
    } catch (...) {
      m_start_error = std::current_exception();
      std::vector<Delivery> none;
      shutdown_workers(none);
      m_started = m_finished = true;
      m_cv.notify_all();
      return;
    }
    m_started = true;
    m_cv.notify_all();
    std::vector<Delivery> out;
    std::vector<pollfd> fds;
    std::vector<Worker*> owners;
    for (;;) {
      if (m_terminating) {
        shutdown_workers(out);
        break;
      }
      try {
        dispatch();
      } catch (...) {
        // A worker could not be written to: handled when its pidfd fires.
      }
      if (m_closed && m_pending.empty() && idle()) {
        for (auto& w : m_workers) {
          if (!w || !w->proc || w->stopping) continue;
          w->stopping = true;
          Bytes stop(sizeof(TaskHeader));  // a header with no fn: exit
          w->sendq.push_back(Worker::OutChunk{std::move(stop), 0});
          flush(*w);
        }
        if (!any_alive()) break;
      }
      // Wait for results, deaths, submissions or the nearest time limit.
      auto next_deadline = Clock::time_point::max();
      fds.assign(1, pollfd{m_wake.get(), POLLIN, 0});
      owners.assign(1, nullptr);
      for (auto& w : m_workers) {
        if (!w || !w->proc) continue;
        for (auto& t : w->outstanding) next_deadline = std::min(next_deadline, t.timed_out ? next_deadline : t.deadline);
        if (!w->conn.closed()) {
          fds.push_back(pollfd{w->conn.fileno(), static_cast<short>(POLLIN | (w->sendq.empty() ? 0 : POLLOUT)), 0});
          owners.push_back(w.get());
        }
        try {
          fds.push_back(pollfd{w->proc->sentinel(), POLLIN, 0});
          owners.push_back(w.get());
        } catch (...) {
        }
      }
      int timeout_ms = -1;
      if (next_deadline != Clock::time_point::max()) {
        auto left = std::chrono::ceil<std::chrono::milliseconds>(next_deadline - Clock::now()).count();
        timeout_ms = static_cast<int>(std::clamp<long long>(left, 0, 1 << 30));
      }
      // Tell the workers to wake this thread through their sockets, then look at the rings
      // once more (see WorkerShared).
      m_header->parent_sleeping.store(1, std::memory_order_seq_cst);
      for (auto& w : m_workers)
        if (w && w->proc && ring_pending(*w)) timeout_ms = 0;
      m_sleeping = true;
      lock.unlock();
      int r = ::poll(fds.data(), fds.size(), timeout_ms);
      lock.lock();
      m_sleeping = false;
      m_header->parent_sleeping.store(0, std::memory_order_relaxed);
      for (auto& w : m_workers)
        if (w && w->proc) drain_ring(*w, out);
      if (r < 0 && errno != EINTR) {
        std::fprintf(stderr, "ipc::Pool: poll failed: %s\n", ::strerror(errno));
        m_terminating = true;
        continue;
      }
      if (r > 0 && (fds[0].revents & POLLIN)) {
        std::uint64_t n;
        [[maybe_unused]] auto k = ::read(m_wake.get(), &n, sizeof n);
      }
      std::vector<Worker*> dead;
      for (std::size_t i = 1; r > 0 && i < fds.size(); ++i) {
        if (fds[i].revents == 0) continue;
        Worker* w = owners[i];
        if (w->proc && fds[i].fd == w->conn.fileno()) {
          if (fds[i].revents & POLLOUT) flush(*w);
          if (fds[i].revents & ~POLLOUT) drain(*w, out);
        } else if (std::find(dead.begin(), dead.end(), w) == dead.end()) dead.push_back(w);
      }
      for (Worker* w : dead) {
        try {
          handle_death(*w, out);
        } catch (...) {
          // fork failed: the slot stays empty; the other workers go on
        }
      }
      // Time limits: kill the worker of a task that overran.
      auto now = Clock::now();
      for (auto& w : m_workers) {
        if (!w || !w->proc) continue;
        for (auto& t : w->outstanding) {
          if (!t.timed_out && !t.resolved && t.deadline <= now) {
            t.timed_out = true;
            kill_worker(*w);
          }
        }
      }
      if (!any_alive() && !m_pending.empty() && !m_terminating) {
        // Every worker is gone and none could be replaced: fail what is left.
        fail_pending(out, m_broken ? m_broken : std::make_exception_ptr(WorkerLost("pool has no workers left")));
      }
      if (!out.empty()) {
        lock.unlock();
        deliver(out);
        lock.lock();
      }
    }
    lock.unlock();
    deliver(out);
    lock.lock();
    m_finished = true;
    m_cv.notify_all();
  }

  std::mutex m_mutex;
  std::condition_variable m_cv;
  std::mutex m_join_mutex;
  std::deque<Task> m_pending;
  std::vector<std::unique_ptr<Worker>> m_workers;
  std::function<void()> m_init;
  std::size_t m_maxtasks;
  pid_t m_owner;
  std::uint64_t m_generation;  // fork_generation() in the process that made the pool
  SharedHeader* m_header = nullptr;
  WorkerShared* m_shared = nullptr;  // one per worker index, after the header
  std::size_t m_slots_bytes = 0;
  UniqueFd m_wake;
  bool m_sleeping = false;
  std::uint64_t m_next_id = 1;
  bool m_started = false;
  bool m_closed = false;
  bool m_terminating = false;
  bool m_finished = false;
  std::exception_ptr m_start_error;
  std::exception_ptr m_broken;
  double m_avg_ns = -1;  // moving average of a task's run time, for the batch window
  std::thread m_thread;
};

std::shared_ptr<PoolCore> pool_create(std::size_t processes, std::function<void()> initializer,
                                      std::size_t maxtasksperchild) {
  if (processes == 0) processes = static_cast<std::size_t>(cpu_count());
  if (current_process().daemon())
    throw ValueError("Pool: daemonic processes are not allowed to have children");
  auto core = std::make_shared<PoolCore>(processes, std::move(initializer), maxtasksperchild);
  core->start();
  return core;
}

std::uint64_t pool_submit(PoolCore& core, std::vector<TaskSpec> tasks) { return core.submit(std::move(tasks)); }
void pool_check_running(PoolCore& core) { core.check_running(); }
bool pool_cancel(PoolCore& core, std::uint64_t first, std::size_t count, bool stop_running) noexcept {
  return core.cancel(first, count, stop_running);
}
bool pool_running(PoolCore& core, std::uint64_t first, std::size_t count) noexcept { return core.running(first, count); }
void pool_close(PoolCore& core) noexcept { core.close(); }
void pool_terminate(PoolCore& core) noexcept { core.terminate(); }
bool pool_join(PoolCore& core, Timeout timeout) { return core.join(timeout); }
std::vector<pid_t> pool_pids(PoolCore& core) { return core.pids(); }
std::size_t pool_size(const PoolCore& core) noexcept { return core.size(); }
bool pool_on_own_thread(const PoolCore& core) noexcept { return core.on_own_thread(); }

void check_not_in_callback(const PoolCore* core) {
  if (core) core->check_owner();  // a result pending at the fork never arrives in the child
  if (core && core->on_own_thread())
    throw ValueError(
        "ipc::Pool: waiting for a result from a callback of its own pool would wait forever "
        "(callbacks run in the pool thread, which delivers the results)");
}

Bytes encode_error(const std::exception_ptr& e) {
  Bytes out;
  try {
    std::rethrow_exception(e);
  } catch (...) {
    encode_current_exception(out);
  }
  return out;
}

std::exception_ptr decode_error(std::span<const std::byte> bytes) { return decode_exception(bytes); }

void run_callback(const std::function<void()>& fn) noexcept {
  try {
    fn();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ipc::Pool: exception in callback: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "ipc::Pool: exception in callback\n");
  }
}

}  // namespace ipc::detail
