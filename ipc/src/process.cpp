// Process: fork, pidfd tracking, reaping, daemonic children and the at-exit policy.
#include <ipc/process.hpp>

#include <cxxabi.h>
#include <ext/stdio_sync_filebuf.h>
#include <stdio_ext.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <mutex>
#include <new>

#include <ipc/detail/errno.hpp>
#include <ipc/detail/fork.hpp>
#include <ipc/detail/proc_util.hpp>
#include <ipc/detail/unique_fd.hpp>

namespace ipc {
namespace detail {

/// What the parent knows of one child. Shared by the Process object and the registry, so that a
/// child outlives its Process object until it is reaped.
struct ChildRecord {
  pid_t pid = 0;
  pid_t parent = 0;  // the process that forked it: only that one may reap it
  int pidfd = -1;
  bool daemon = false;
  std::optional<int> exitcode;
  Process* owner = nullptr;  // null once the Process object is destroyed
  ~ChildRecord() { close_fd(pidfd); }
};

int pidfd_open(pid_t pid) noexcept { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

int pidfd_send_signal(int pidfd, int sig) noexcept {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

/// In a freshly forked child every write to a libc or libstdc++ object costs a copy-on-write
/// page fault, which dominates a short child's cost: hence the checks before each flush. Other
/// FILEs are the program's business, as in Python (which flushes sys.stdout/sys.stderr only).
void flush_std_streams() noexcept {
  for (std::ostream* os : {&std::cout, &std::cerr}) {
    // With sync_with_stdio (the default) the C++ streams write straight into the C FILEs, so
    // the __fpending checks below cover them; otherwise flush the C++ buffer.
    if (dynamic_cast<__gnu_cxx::stdio_sync_filebuf<char>*>(os->rdbuf()) == nullptr) {
      try {
        os->flush();
      } catch (...) {
      }
    }
  }
  if (::__fpending(stdout) > 0) std::fflush(stdout);
  if (::__fpending(stderr) > 0) std::fflush(stderr);
}

namespace {

/// Per-process bookkeeping of the process tree, as Python keeps _children, _current_process and
/// _parent_process as module globals: children must be reachable after their Process objects
/// are gone (to reap them and to apply the at-exit policy), and current_process() must work
/// from any function. Reset in every child right after fork. Guarded by `mutex`.
struct ProcessState {
  std::mutex mutex;
  std::vector<std::shared_ptr<ChildRecord>> children;
  Process* current = nullptr;
  std::optional<ParentProcess> parent;
  std::string identity;  // "" in the main process
  int counter = 0;       // children started (named) so far
  bool atexit_registered = false;
};

ProcessState& state() {
  static ProcessState s;
  return s;
}

/// Reaps `rec` if it has ended, without blocking. Call with the state mutex held.
bool try_reap_locked(ChildRecord& rec) {
  if (rec.exitcode) return true;
  if (rec.pidfd < 0) return false;
  siginfo_t info{};
  if (int err = reap_pidfd(rec.pidfd, info))
    throw_system_error(err, "waitid(pidfd of pid " + std::to_string(rec.pid) + ")");
  if (info.si_pid == 0) return false;  // still running
  rec.exitcode = exit_code_of(info);
  return true;
}

/// Removes reaped children from the registry. Call with the state mutex held.
void prune_locked(ProcessState& s) {
  std::erase_if(s.children, [](const std::shared_ptr<ChildRecord>& r) {
    try {
      return try_reap_locked(*r);
    } catch (const std::system_error&) {
      return true;  // reaped behind our back (waitpid(-1) in user code): nothing left to track
    }
  });
}


/// Terminates daemonic children, then joins every child: Python's behaviour at interpreter
/// exit. A daemonic child that ignores SIGTERM gets SIGKILL after a second.
void finish_children() noexcept {
  auto& s = state();
  std::vector<std::shared_ptr<ChildRecord>> kids;
  {
    std::lock_guard lock(s.mutex);
    if (s.children.empty()) return;  // the common case in a child: touch nothing more (COW)
    kids = s.children;
  }
  for (auto& k : kids)
    if (k->daemon && !k->exitcode) pidfd_send_signal(k->pidfd, SIGTERM);
  Deadline grace(std::chrono::seconds(1));
  for (auto& k : kids) {
    try {
      for (;;) {
        {
          std::lock_guard lock(s.mutex);
          if (try_reap_locked(*k)) break;
        }
        if (k->daemon && grace.expired()) pidfd_send_signal(k->pidfd, SIGKILL);
        wait_pidfd(k->pidfd, k->daemon && !grace.expired() ? grace.poll_ms() : -1);
      }
    } catch (...) {
    }
  }
  std::lock_guard lock(s.mutex);
  s.children.clear();
}

void at_exit() noexcept { finish_children(); }

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define IPCKIT_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define IPCKIT_SANITIZED 1
#endif

/// Ends a child: _exit(2) without the libc wrapper. A parent never calls _exit, so its PLT slot
/// is unbound and every child would bind it (a symbol lookup costing about ten page faults in
/// a VM); syscall() is bound in the parent by pidfd_open. Sanitizer builds keep _exit: their
/// runtimes intercept it to report (TSan turns a child's exit code into 66 after a race).
[[noreturn]] void exit_child(int code) noexcept {
#ifdef IPCKIT_SANITIZED
  ::_exit(code);
#else
  ::syscall(SYS_exit_group, code);
  __builtin_unreachable();
#endif
}

std::string describe_current_exception() {
  std::string type = "unknown exception";
  if (auto* ti = abi::__cxa_current_exception_type()) {
    int status = 0;
    char* dem = abi::__cxa_demangle(ti->name(), nullptr, nullptr, &status);
    type = status == 0 && dem ? dem : ti->name();
    std::free(dem);
  }
  try {
    throw;
  } catch (const std::exception& e) {
    return type + ": " + e.what();
  } catch (...) {
    return type;
  }
}

}  // namespace

/// Lets process.cpp's free functions reach Process and ParentProcess internals.
class ProcessRegistryAccess {
 public:
  static void set_self(Process& p, pid_t pid) {
    p.m_is_self = true;
    if (!p.m_child) p.m_child = std::make_shared<ChildRecord>();
    p.m_child->pid = pid;
  }
  static ParentProcess make_parent(pid_t pid, std::string name) {
    ParentProcess pp;
    pp.m_pid = pid;
    pp.m_name = std::move(name);
    return pp;
  }
  static const std::string& identity(const Process& p) { return p.m_identity; }
};

}  // namespace detail

using detail::ChildRecord;
using detail::state;

Process::Process() {
  auto& s = state();
  std::lock_guard lock(s.mutex);
  int n = ++s.counter;
  m_identity = s.identity.empty() ? std::to_string(n) : s.identity + ":" + std::to_string(n);
  m_name = "Process-" + m_identity;
  m_daemon = s.current ? s.current->m_daemon : false;  // Python inherits the creator's flag
}

Process::Process(MainTag) : m_name("MainProcess"), m_is_self(true) {}

Process::Process(Process&& o) noexcept
    : m_target(std::move(o.m_target)),
      m_name(std::move(o.m_name)),
      m_daemon(o.m_daemon),
      m_closed(o.m_closed),
      m_is_self(o.m_is_self),
      m_identity(std::move(o.m_identity)),
      m_child(std::move(o.m_child)) {
  std::lock_guard lock(state().mutex);
  if (m_child && m_child->owner == &o) m_child->owner = this;
  if (state().current == &o) state().current = this;
}

Process& Process::operator=(Process&& o) noexcept {
  if (this == &o) return *this;
  std::lock_guard lock(state().mutex);
  if (m_child && m_child->owner == this) m_child->owner = nullptr;
  m_target = std::move(o.m_target);
  m_name = std::move(o.m_name);
  m_daemon = o.m_daemon;
  m_closed = o.m_closed;
  m_is_self = o.m_is_self;
  m_identity = std::move(o.m_identity);
  m_child = std::move(o.m_child);
  if (m_child && m_child->owner == &o) m_child->owner = this;
  if (state().current == &o) state().current = this;
  return *this;
}

Process::~Process() {
  std::lock_guard lock(state().mutex);
  if (m_child && m_child->owner == this) m_child->owner = nullptr;
  if (state().current == this) state().current = nullptr;
}

int Process::run() { return m_target ? m_target->call() : 0; }

void Process::check_usable(const char* what) const {
  if (m_closed) throw ValueError(std::string(what) + ": process object is closed");
  if (!m_child) throw ValueError(std::string(what) + ": process has not been started");
}

void Process::daemon(bool d) {
  if (m_child) throw ValueError("daemon: cannot change the daemon flag of a started process");
  m_daemon = d;
}

void Process::start() {
  if (m_closed) throw ValueError("start: process object is closed");
  if (m_child || m_is_self) throw ValueError("start: cannot start a process twice");
  auto& s = state();
  {
    std::lock_guard lock(s.mutex);
    if (s.current && s.current->m_daemon)
      throw ValueError("start: daemonic processes are not allowed to have children");
    prune_locked(s);  // Python's _cleanup(): reap what has finished
    if (!s.atexit_registered) {
      std::atexit(detail::at_exit);
      s.atexit_registered = true;
    }
  }
  auto rec = std::make_shared<ChildRecord>();
  rec->daemon = m_daemon;
  rec->owner = this;
  if (m_daemon) {
    // The libc calls a daemonic child makes first, made here so that their PLT slots are bound
    // in the parent: a child binding one itself takes about ten page faults in a VM.
    int pdeath = 0;
    ::prctl(PR_GET_PDEATHSIG, &pdeath);
    (void)::getppid();
  }
  const pid_t self = ::getpid();
  rec->parent = self;
  detail::warn_if_multithreaded_fork();
  detail::flush_std_streams();  // or the child would print the parent's buffered output again
  pid_t pid = ::fork();
  if (pid < 0) detail::throw_errno("fork");
  if (pid == 0) child_main(std::move(rec), self);
  rec->pid = pid;
  rec->pidfd = detail::pidfd_open(pid);  // no race: an unreaped child's pid cannot be reused
  if (rec->pidfd < 0) {
    int err = errno;
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    detail::throw_system_error(err, "pidfd_open(" + std::to_string(pid) + ")");
  }
  std::lock_guard lock(s.mutex);
  s.children.push_back(rec);
  m_child = std::move(rec);
}

void Process::child_main(std::shared_ptr<ChildRecord> rec, pid_t parent) {
  int code = 1;
  try {
    if (m_daemon) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      // The parent died before prctl took effect: end as PDEATHSIG would have ended us.
      if (::getppid() != parent) ::raise(SIGKILL);
    }
    auto& s = state();
    {
      // Only this thread exists in the child, but the mutex may have been held by another
      // thread of the parent at fork time: start from a fresh one.
      new (&s.mutex) std::mutex();
      // From a string_view, not a char*: std::string's char* constructor calls strlen through
      // a PLT slot the parent may never have bound, and binding it here costs a dozen page
      // faults in every child.
      std::string parent_name = s.current ? s.current->m_name : std::string(std::string_view("MainProcess"));
      s.children.clear();  // siblings are not ours to reap; closes their pidfds here
      s.parent = detail::ProcessRegistryAccess::make_parent(parent, std::move(parent_name));
      s.current = this;
      s.identity = m_identity;
      s.counter = 0;
      s.atexit_registered = false;
    }
    rec->pid = ::getpid();
    rec->pidfd = -1;
    m_child = std::move(rec);
    m_is_self = true;
    code = run();
  } catch (const SystemExit& e) {
    code = e.code;
  } catch (...) {
    // Python prints the traceback of an uncaught exception and exits with 1.
    std::string what = detail::describe_current_exception();
    detail::flush_std_streams();
    std::fprintf(stderr, "Process %s:\nTraceback: uncaught exception %s\n", m_name.c_str(), what.c_str());
    code = 1;
  }
  detail::finish_children();
  detail::flush_std_streams();
  detail::exit_child(code & 0xff);
}

bool Process::join(Timeout timeout) {
  check_usable("join");
  if (m_is_self) throw ValueError("join: a process cannot join itself");
  if (m_child->parent != ::getpid()) throw ValueError("join: can only join a child process");
  Deadline deadline(timeout);
  auto& s = state();
  for (;;) {
    {
      std::lock_guard lock(s.mutex);
      if (detail::try_reap_locked(*m_child)) {
        std::erase(s.children, m_child);
        return true;
      }
    }
    if (deadline.expired()) return false;
    detail::wait_pidfd(m_child->pidfd, deadline.poll_ms());
  }
}

bool Process::is_alive() {
  if (m_is_self) return true;
  if (!m_child || m_closed) return false;
  if (m_child->parent != ::getpid()) throw ValueError("is_alive: can only test a child process");
  auto& s = state();
  std::lock_guard lock(s.mutex);
  if (detail::try_reap_locked(*m_child)) {
    std::erase(s.children, m_child);
    return false;
  }
  return true;
}

pid_t Process::pid() const noexcept {
  if (m_is_self) return ::getpid();
  return m_child ? m_child->pid : 0;
}

std::optional<int> Process::exitcode() {
  if (!m_child || m_is_self) return std::nullopt;
  if (m_closed || m_child->parent != ::getpid()) return m_child->exitcode;
  is_alive();
  return m_child->exitcode;
}

void Process::terminate() {
  check_usable("terminate");
  std::lock_guard lock(state().mutex);
  if (m_child->exitcode) return;
  if (detail::pidfd_send_signal(m_child->pidfd, SIGTERM) < 0 && errno != ESRCH)
    detail::throw_errno("pidfd_send_signal(" + std::to_string(m_child->pid) + ", SIGTERM)");
}

void Process::kill() {
  check_usable("kill");
  std::lock_guard lock(state().mutex);
  if (m_child->exitcode) return;
  if (detail::pidfd_send_signal(m_child->pidfd, SIGKILL) < 0 && errno != ESRCH)
    detail::throw_errno("pidfd_send_signal(" + std::to_string(m_child->pid) + ", SIGKILL)");
}

void Process::close() {
  if (m_closed) return;
  if (m_child && !m_is_self) {
    if (is_alive())
      throw ValueError("close: cannot close a process while it is still running; join() or terminate() it first");
    std::lock_guard lock(state().mutex);
    detail::close_fd(m_child->pidfd);
    m_child->pidfd = -1;
  }
  m_closed = true;
}

int Process::sentinel() const {
  check_usable("sentinel");
  if (m_is_self) throw ValueError("sentinel: a process has no sentinel for itself");
  return m_child->pidfd;
}

int ParentProcess::sentinel() const {
  if (m_pidfd < 0) {
    // Opened lazily (a child that never asks pays nothing). If the parent has died, its pid may
    // belong to another process by now: only a pidfd opened while it is still our parent counts.
    if (::getppid() != m_pid) return -1;
    int fd = detail::pidfd_open(m_pid);
    if (fd >= 0 && ::getppid() != m_pid) {
      detail::close_fd(fd);
      return -1;
    }
    m_pidfd = fd;
  }
  return m_pidfd;
}

bool ParentProcess::is_alive() const {
  int fd = sentinel();
  return fd >= 0 && !detail::wait_pidfd(fd, 0);
}

bool ParentProcess::join(Timeout timeout) const {
  int fd = sentinel();
  if (fd < 0) return true;  // already gone
  return detail::wait_pidfd(fd, Deadline(timeout).poll_ms());
}

Process& current_process() {
  auto& s = state();
  std::lock_guard lock(s.mutex);
  if (s.current) return *s.current;
  // The main process's own object: created on first use, never destroyed (it may be asked
  // for from atexit handlers).
  static Process* main = new Process(Process::MainTag{});
  return *main;
}

const ParentProcess* parent_process() {
  auto& s = state();
  std::lock_guard lock(s.mutex);
  return s.parent ? &*s.parent : nullptr;
}

std::vector<Process*> active_children() {
  auto& s = state();
  std::lock_guard lock(s.mutex);
  detail::prune_locked(s);
  std::vector<Process*> out;
  for (auto& r : s.children)
    if (r->owner) out.push_back(r->owner);
  return out;
}

int cpu_count() {
  long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

// The ipc::wait forms are defined with the others in connection.cpp (one implementation).

}  // namespace ipc
