// Process: run a callable in a forked child, with Python's multiprocessing.Process contract.
//
// Lifetime rules (as Python's, made explicit):
// - join()/is_alive()/exitcode() reap the child: once one of them has seen the exit, no zombie
//   is left.
// - A Process destroyed while its child still runs does not kill it. The child goes on; ipckit
//   keeps its record and reaps it in active_children(), in the next start(), or when this
//   process exits normally (at exit, daemonic children are terminated and every child is
//   joined, as Python's multiprocessing does). Until one of those happens, a child that has
//   finished stays a zombie.
// - A daemonic child is terminated when its parent exits: at normal exit by SIGTERM (SIGKILL
//   after 1 s if it ignores that), and by PR_SET_PDEATHSIG(SIGKILL) when the parent dies any
//   other way. Linux ties PDEATHSIG to the thread that forked: start daemonic children from a
//   thread that lives as long as they should.
// - A daemonic process cannot start children (ValueError), as in Python.
// - Forking a multi-threaded process copies only the calling thread: a lock another thread held
//   at that moment (in malloc, stdio, or the program's own) stays held forever in the child,
//   which may deadlock there. Start processes before threads. As Python 3.12 does, start() says
//   so once per process on stderr when the parent has more than one thread
//   (IPCKIT_FORK_WARNING=0 silences it).
#pragma once

#include <sys/types.h>

#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <ipc/errors.hpp>
#include <ipc/timeout.hpp>

namespace ipc {

/// Thrown inside a child to end its run() with `code` (Python's sys.exit(code)). Deliberately not
/// a std::exception, so that `catch (const std::exception&)` in user code does not swallow it.
struct SystemExit {
  int code = 0;
};

namespace detail {
struct ChildRecord;
class ProcessRegistryAccess;

/// Type-erased target of a Process: a callable and its bound arguments, move-only.
struct Target {
  virtual ~Target() = default;
  virtual int call() = 0;
};

/// Maps a target's return value to an exit code: an integer is the code, anything else is 0.
template <class F, class... A>
int invoke_to_code(F& f, A&... a) {
  using R = std::invoke_result_t<F&, A&...>;
  if constexpr (std::is_integral_v<R> && !std::is_same_v<R, bool>) {
    return static_cast<int>(std::invoke(f, a...));
  } else {
    std::invoke(f, a...);
    return 0;
  }
}

/// How Process keeps an argument `A` (as forwarded) until the child calls the target: a copy
/// (or the moved-in value), or a reference for an lvalue that cannot be copied (Lock, Value,
/// Array, Event...: the forked child sees the same object, as Python passes them).
template <class A>
using stored_arg_t = std::conditional_t<std::is_lvalue_reference_v<A> && !std::is_copy_constructible_v<std::decay_t<A>>,
                                        std::reference_wrapper<std::remove_reference_t<A>>, std::decay_t<A>>;

/// A stored argument as the target receives it (a std::ref or a stored reference unwrapped).
template <class T>
T& unwrap_arg(T& a) noexcept {
  return a;
}
template <class T>
T& unwrap_arg(std::reference_wrapper<T>& a) noexcept {
  return a.get();
}

/// True when a Process target F can be called with arguments Args (as forwarded).
template <class F, class... Args>
inline constexpr bool process_target_ok =
    std::is_invocable_v<std::decay_t<F>&, std::unwrap_reference_t<stored_arg_t<Args&&>>&...>;

template <class F, class... Args>
struct BoundTarget final : Target {
  template <class G, class... A>
  explicit BoundTarget(G&& g, A&&... a) : fn(std::forward<G>(g)), args(std::forward<A>(a)...) {}
  int call() override {
    return std::apply([this](auto&... a) { return invoke_to_code(fn, unwrap_arg(a)...); }, args);
  }
  F fn;
  std::tuple<Args...> args;
};
}  // namespace detail

/// A child process running a callable, or a subclass's run(). Not thread-safe per object;
/// movable, not copyable. Fork-safe: the child gets a copy of this object as its
/// current_process().
class Process {
 public:
  /// A process whose run() is overridden by a subclass (the default run() does nothing).
  Process();

  /// A process that will call fn(args...) in the child. Arguments are copied or moved now,
  /// except an lvalue that cannot be copied (a Lock, Value, Array, Event...), which is passed by
  /// reference, as Python passes shared objects: the child is a fork, so it sees that object,
  /// which must live until start(). std::ref(x) passes any x by reference. An integral return
  /// value becomes the exit code; any other return value is ignored (0). A target that cannot
  /// be called with the arguments is one static_assert error.
  template <class F, class... Args>
    requires(!std::is_base_of_v<Process, std::remove_cvref_t<F>>)
  explicit Process(F&& fn, Args&&... args) : Process() {
    static_assert(detail::process_target_ok<F, Args...>,
                  "ipc::Process(fn, args...): fn cannot be called as fn(arg&...), with each argument a copy, or a "
                  "reference when it is an lvalue that cannot be copied (Lock, Value, Array, ...)");
    if constexpr (detail::process_target_ok<F, Args...>)
      m_target = std::make_unique<detail::BoundTarget<std::decay_t<F>, detail::stored_arg_t<Args&&>...>>(
          std::forward<F>(fn), std::forward<Args>(args)...);
  }

  Process(Process&& other) noexcept;
  /// Moves `other` in; what this object held is let go as by the destructor.
  Process& operator=(Process&& other) noexcept;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  /// Lets the child go on if it still runs (see the file comment); never throws.
  virtual ~Process();

  /// The child's body: calls the target. Override it in a subclass. Calling it directly runs it
  /// in the calling process, as in Python. Returns the exit code.
  virtual int run();

  /// Forks the child and runs run() there. Throws ValueError when started twice, closed, or
  /// called from a daemonic process; std::system_error when fork fails.
  void start();

  /// Waits for the child to end and reaps it; returns false when `timeout` passed first.
  /// Throws ValueError when not started, closed, or not a child of the caller.
  bool join(Timeout timeout = {});

  /// True from start() until the child has ended (reaps it when it has).
  bool is_alive();

  /// The child's pid; 0 before start() (Python's None). Kept after the child is reaped.
  pid_t pid() const noexcept;

  /// Empty while running or before start(); the exit code once ended: 0, the target's return
  /// value or SystemExit code (mod 256), 1 for an uncaught exception, -N when killed by signal N.
  std::optional<int> exitcode();

  /// Sends SIGTERM to the child (through its pidfd: never to a recycled pid). No-op once ended.
  /// Throws ValueError when not started or closed.
  void terminate();

  /// Sends SIGKILL to the child. No-op once ended. Throws ValueError when not started or closed.
  void kill();

  /// Releases the pidfd. Throws ValueError while the child still runs.
  void close();

  /// A pidfd that polls readable when the child ends (Python's sentinel); owned by this object.
  /// Throws ValueError when not started or closed.
  int sentinel() const;

  /// The name: "Process-N" by default ("Process-1:2" for the 2nd child of Process-1).
  const std::string& name() const noexcept { return m_name; }
  /// Sets the name (before or after start; informational).
  void name(std::string n) { m_name = std::move(n); }

  /// The daemon flag.
  bool daemon() const noexcept { return m_daemon; }
  /// Sets the daemon flag. Throws ValueError after start().
  void daemon(bool d);

 private:
  struct MainTag {};
  explicit Process(MainTag);
  friend Process& current_process();
  friend class detail::ProcessRegistryAccess;
  [[noreturn]] void child_main(std::shared_ptr<detail::ChildRecord> rec, pid_t parent);
  void check_usable(const char* what) const;

  std::unique_ptr<detail::Target> m_target;
  std::string m_name;
  bool m_daemon = false;
  bool m_closed = false;
  bool m_is_self = false;  // this object describes the calling process (main or current child)
  std::string m_identity;  // "1", "1:2": position in the process tree, for default names
  std::shared_ptr<detail::ChildRecord> m_child;
};

/// The parent of the calling process, as seen from a child started by ipckit.
class ParentProcess {
 public:
  /// The parent's pid.
  pid_t pid() const noexcept { return m_pid; }
  /// The parent's name.
  const std::string& name() const noexcept { return m_name; }
  /// True while the parent runs.
  bool is_alive() const;
  /// A pidfd that polls readable when the parent ends (opened on first use, owned by the
  /// calling process); -1 when the parent has already ended.
  int sentinel() const;
  /// Waits for the parent to end; false on timeout. Throws std::system_error if poll fails.
  bool join(Timeout timeout = {}) const;

 private:
  friend class detail::ProcessRegistryAccess;
  pid_t m_pid = 0;
  std::string m_name;
  mutable int m_pidfd = -1;
};

/// The Process object describing the calling process ("MainProcess" in the main program).
Process& current_process();

/// The parent of the calling process, or nullptr in a process not started by ipckit.
const ParentProcess* parent_process();

/// Live children of the calling process that still have a Process object; reaps every finished
/// child first, including those whose Process object is gone.
std::vector<Process*> active_children();

/// Number of CPUs online (Python's os.cpu_count()).
int cpu_count();

/// Waits until at least one fd polls readable (or hangs up); returns the ready ones in input
/// order, or an empty vector on timeout. Throws std::system_error when poll fails.
std::vector<int> wait(std::span<const int> fds, Timeout timeout = {});
/// Same as above, for a braced list: `ipc::wait({p.sentinel(), conn.fileno()}, 1s)`.
std::vector<int> wait(std::initializer_list<int> fds, Timeout timeout = {});
/// Waits until at least one process has ended; returns those that have. Empty on timeout.
std::vector<Process*> wait(std::span<Process* const> processes, Timeout timeout = {});

}  // namespace ipc
