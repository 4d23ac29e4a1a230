// The after-fork registry (one pthread_atfork for the library) and the multi-threaded fork warning.
#include <ipc/detail/fork.hpp>

#include <fcntl.h>
#include <pthread.h>
#include <sys/single_threaded.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace ipc::detail {

namespace {

constexpr int kMaxHandlers = 16;

// The registry is global because fork is process-wide. Constant-initialised, so registering from
// any translation unit's static initialiser works whatever the initialisation order; handlers
// are only appended (during static initialisation, before any fork).
constinit std::atomic<AfterForkFn> g_handlers[kMaxHandlers] = {};
constinit std::atomic<int> g_count{0};
constinit std::atomic<bool> g_registered{false};
// ipckit's own running threads: process-wide like the thread count they are subtracted from.
constinit std::atomic<long> g_internal_threads{0};

void run_child_handlers() noexcept {
  const int n = g_count.load(std::memory_order_acquire);
  for (int i = 0; i < n && i < kMaxHandlers; ++i)
    if (AfterForkFn fn = g_handlers[i].load(std::memory_order_acquire)) fn();
}

/// Threads of the calling process, from /proc/self/stat (field 20); 0 when unknown.
long thread_count() noexcept {
  int fd = ::open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[1024];
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  const char* p = std::strrchr(buf, ')');  // the command name may hold spaces and parentheses
  if (!p) return 0;
  // After ") " come fields 3 (state) .. 20 (num_threads).
  for (int field = 2; field < 20 && p; ++field) p = std::strchr(p + 1, ' ');
  return p ? std::strtol(p + 1, nullptr, 10) : 0;
}

}  // namespace

bool register_after_fork_child(AfterForkFn fn) noexcept {
  if (!g_registered.exchange(true)) ::pthread_atfork(nullptr, nullptr, run_child_handlers);
  int i = g_count.load(std::memory_order_relaxed);
  if (i >= kMaxHandlers) return false;
  g_handlers[i].store(fn, std::memory_order_release);
  g_count.store(i + 1, std::memory_order_release);
  return true;
}

void warn_if_multithreaded_fork() noexcept {
  if (__libc_single_threaded) return;  // never started a thread: the common case, no syscall
  // Once per process (global: the warning is about the process).
  static std::atomic<bool> warned{false};
  if (warned.load(std::memory_order_relaxed)) return;
  long threads = thread_count() - g_internal_threads.load(std::memory_order_relaxed);
  if (threads <= 1) return;
  if (warned.exchange(true)) return;
  if (const char* env = std::getenv("IPCKIT_FORK_WARNING"); env && std::strcmp(env, "0") == 0) return;
  std::fprintf(stderr,
               "ipckit: warning: this process (pid=%d) is multi-threaded (%ld threads), use of fork() may lead to "
               "deadlocks in the child: a lock another thread held at the fork stays held there. Start processes "
               "before threads (set IPCKIT_FORK_WARNING=0 to silence this)\n",
               static_cast<int>(::getpid()), threads);
}

InternalThread::InternalThread() noexcept { g_internal_threads.fetch_add(1, std::memory_order_relaxed); }
InternalThread::~InternalThread() { g_internal_threads.fetch_sub(1, std::memory_order_relaxed); }

}  // namespace ipc::detail
