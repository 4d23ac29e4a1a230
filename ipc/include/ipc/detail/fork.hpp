// After-fork handlers from one registry, and the warning about forking a multi-threaded process.
#pragma once

#include <cstdint>

namespace ipc::detail {

/// A handler run in the child right after a fork: it must only reset process-local state
/// (no locks, no allocation), as the child may inherit locks other threads held.
using AfterForkFn = void (*)() noexcept;

/// Registers `fn` to run in the child after every fork of this process (ipc::Process, a raw
/// fork(), anything that calls fork), after the handlers registered before it. One
/// pthread_atfork registration serves them all. Meant for namespace-scope initialisers of the
/// library (a fixed table of 16 slots); returns false when the table is full. Never throws.
bool register_after_fork_child(AfterForkFn fn) noexcept;

/// How many forks lie between the first process and this one (0 in it, one more in each forked
/// child, bumped by the registry before any handler runs). An object that remembers the value it
/// was made under knows, without a getpid() system call, that it is now in a forked copy.
/// Never throws.
std::uint64_t fork_generation() noexcept;

/// Says once per process on stderr, as Python 3.12 does, that forking a process that has more
/// than one thread may deadlock the child (a lock another thread held at the fork stays held
/// there forever). Call before fork(). Silenced by IPCKIT_FORK_WARNING=0 in the environment.
/// Costs nothing in a process that never started a thread. Never throws.
/// Threads that ipckit itself runs (the pool thread, a Manager lock's lease renewer) do not
/// count: they hold no lock a child needs, and a user cannot avoid them.
void warn_if_multithreaded_fork() noexcept;

/// Threads of this process the fork warning counts: all but ipckit's own (running, or joined
/// and not yet gone from the kernel's list) and the sanitizer runtime's. 0 when
/// /proc cannot be read. Never throws.
long untracked_threads() noexcept;

/// Counts one thread as ipckit's own (see above) from its construction to its destruction.
/// Construct it before starting the thread and move it into the thread's callable, so that the
/// thread counts from the moment it exists: one constructed at the top of the thread's body
/// counts only once the thread has run, and a fork meanwhile would warn. (A starter that waits
/// until its thread runs, as the pool does, may construct it there.) Destroyed on the thread it
/// counts (the end of its body, or its callable's destruction there), it leaves that thread's id
/// with the registry until the kernel has dropped the thread: a joined thread is still in the
/// process's thread count for a moment. Never throws.
class InternalThread {
 public:
  InternalThread() noexcept;
  /// Takes over `o`'s count; `o` counts nothing any more.
  InternalThread(InternalThread&& o) noexcept : m_counted(o.m_counted), m_creator(o.m_creator) { o.m_counted = false; }
  ~InternalThread();
  InternalThread(const InternalThread&) = delete;
  InternalThread& operator=(const InternalThread&) = delete;
  InternalThread& operator=(InternalThread&&) = delete;

 private:
  bool m_counted = true;
  int m_creator;  // the thread that made it: destroyed there, the counted thread never ran
};

}  // namespace ipc::detail
