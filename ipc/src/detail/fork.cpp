// The after-fork registry (one pthread_atfork for the library) and the multi-threaded fork warning.
#include <ipc/detail/fork.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
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
// The fork depth (fork_generation()): process-wide like fork itself.
constinit std::atomic<std::uint64_t> g_fork_generation{0};

void run_child_handlers() noexcept {
  g_fork_generation.fetch_add(1, std::memory_order_relaxed);
  const int n = g_count.load(std::memory_order_acquire);
  for (int i = 0; i < n && i < kMaxHandlers; ++i)
    if (AfterForkFn fn = g_handlers[i].load(std::memory_order_acquire)) fn();
}

/// Threads of the calling process, from /proc/self/stat (field 20); 0 when unknown.
/// Reads the start of a small /proc file into `buf`, NUL-terminated, without allocating; false
/// when it cannot be read.
template <std::size_t N>
bool read_proc(const char* path, char (&buf)[N]) noexcept {
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = ::read(fd, buf, N - 1);
  ::close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  return true;
}

long thread_count() noexcept {
  char buf[1024];
  if (!read_proc("/proc/self/stat", buf)) return 0;
  const char* p = std::strrchr(buf, ')');  // the command name may hold spaces and parentheses
  if (!p) return 0;
  // After ") " come fields 3 (state) .. 20 (num_threads).
  for (int field = 2; field < 20 && p; ++field) p = std::strchr(p + 1, ' ');
  return p ? std::strtol(p + 1, nullptr, 10) : 0;
}

#if defined(__SANITIZE_THREAD__)
#define IPCKIT_THREAD_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define IPCKIT_THREAD_SANITIZER 1
#endif
#endif

void install_child_handler() noexcept {
  if (!g_registered.exchange(true)) ::pthread_atfork(nullptr, nullptr, run_child_handlers);
}
// Installed when this file is linked (fork_generation() needs it), whether or not any handler
// is registered.
[[maybe_unused]] const bool g_child_handler_installed = (install_child_handler(), true);

#ifdef IPCKIT_THREAD_SANITIZER
/// True when thread `tid` of this process blocks every signal it can (SigBlk in its status).
/// SIGKILL and SIGSTOP cannot be blocked, glibc keeps 32 and 33 for itself, and newer sanitizer
/// runtimes leave SIGSYS to seccomp.
bool blocks_every_signal(const char* tid) noexcept {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/task/%s/status", tid);
  char buf[4096];
  if (!read_proc(path, buf)) return false;
  const char* p = std::strstr(buf, "\nSigBlk:");
  if (!p) return false;
  unsigned long long blocked = std::strtoull(p + 8, nullptr, 16);
  auto bit = [](int sig) { return 1ULL << (sig - 1); };
  blocked |= bit(SIGKILL) | bit(SIGSTOP) | bit(SIGSYS) | bit(32) | bit(33);
  return blocked == ~0ULL;
}

/// Threads of the sanitizer's runtime: the program neither starts nor can avoid them, and they
/// hold no lock a child needs. ThreadSanitizer runs a background thread from the process's first
/// thread on, and in a child forked from a process with one thread it starts one at the fork and
/// (GCC 12) another with the child's first thread. They are told apart as the runtime starts
/// them: with every signal blocked, so that they never take the program's signals. A thread of
/// the program that blocks every signal is not counted either, in this build only.
long sanitizer_threads() noexcept {
  DIR* dir = ::opendir("/proc/self/task");
  if (!dir) return 0;
  long n = 0;
  while (const dirent* e = ::readdir(dir))
    if (e->d_name[0] != '.' && blocks_every_signal(e->d_name)) ++n;
  ::closedir(dir);
  return n;
}
#else
long sanitizer_threads() noexcept { return 0; }
#endif

}  // namespace

bool register_after_fork_child(AfterForkFn fn) noexcept {
  install_child_handler();
  int i = g_count.load(std::memory_order_relaxed);
  if (i >= kMaxHandlers) return false;
  g_handlers[i].store(fn, std::memory_order_release);
  g_count.store(i + 1, std::memory_order_release);
  return true;
}

std::uint64_t fork_generation() noexcept { return g_fork_generation.load(std::memory_order_relaxed); }

void warn_if_multithreaded_fork() noexcept {
  if (__libc_single_threaded) return;  // never started a thread: the common case, no syscall
  // Once per process (global: the warning is about the process).
  static std::atomic<bool> warned{false};
  if (warned.load(std::memory_order_relaxed)) return;
  long threads = thread_count() - g_internal_threads.load(std::memory_order_relaxed);
  if (threads <= 1) return;
  threads -= sanitizer_threads();  // after the cheap test: it reads every thread's status
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
InternalThread::~InternalThread() {
  if (m_counted) g_internal_threads.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace ipc::detail
