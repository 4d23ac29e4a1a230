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
// Ids of ipckit threads that have finished but may still be in the kernel's thread count (0 =
// free slot): process-wide like that count. A full table only risks a needless warning.
constexpr int kMaxRetired = 64;
constinit std::atomic<pid_t> g_retired[kMaxRetired] = {};
// The fork depth (fork_generation()): process-wide like fork itself.
constinit std::atomic<std::uint64_t> g_fork_generation{0};

void run_child_handlers() noexcept {
  g_fork_generation.fetch_add(1, std::memory_order_relaxed);
  const int n = g_count.load(std::memory_order_acquire);
  for (int i = 0; i < n && i < kMaxHandlers; ++i)
    if (AfterForkFn fn = g_handlers[i].load(std::memory_order_acquire)) fn();
}

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
/// True when thread `tid` of this process is one of the sanitizer runtime's: the program
/// neither starts nor can avoid them, and they hold no lock a child needs. ThreadSanitizer runs a
/// background thread from the process's first thread on, and in a child forked from a process
/// with one thread it starts one at the fork and (GCC 12) another with the child's first thread.
/// They are told apart as the runtime starts them: with every signal blocked (SigBlk in the
/// thread's status), so that they never take the program's signals. A thread of the program that
/// blocks every signal is not counted either, in this build only.
/// (SIGKILL and SIGSTOP cannot be blocked, glibc keeps 32 and 33 for itself, and newer sanitizer
/// runtimes leave SIGSYS to seccomp.)
bool sanitizer_thread(const char* tid) noexcept {
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

#else
bool sanitizer_thread(const char*) noexcept { return false; }
#endif

/// Threads of this process listed in /proc/self/task that are neither finished ipckit threads
/// nor the sanitizer's (0 when it cannot be read); frees the g_retired slots of threads no
/// longer listed. The list and not the count in /proc/self/stat: the kernel lowers that count a
/// moment before it drops the thread from the list, and a thread must be seen as listed or not
/// in one place.
long listed_program_threads() noexcept {
  pid_t retired[kMaxRetired];
  bool listed[kMaxRetired] = {};
  for (int i = 0; i < kMaxRetired; ++i) retired[i] = g_retired[i].load();
  DIR* dir = ::opendir("/proc/self/task");
  if (!dir) return 0;
  long n = 0;
  while (const dirent* e = ::readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    auto tid = static_cast<pid_t>(std::strtol(e->d_name, nullptr, 10));
    bool finished = false;
    for (int i = 0; i < kMaxRetired; ++i)
      if (retired[i] == tid) listed[i] = finished = true;
    if (!finished && !sanitizer_thread(e->d_name)) ++n;
  }
  ::closedir(dir);
  for (int i = 0; i < kMaxRetired; ++i)
    if (retired[i] != 0 && !listed[i]) g_retired[i].compare_exchange_strong(retired[i], 0);
  return n;
}

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
  long threads = untracked_threads();
  if (threads <= 1) return;
  if (warned.exchange(true)) return;
  if (const char* env = std::getenv("IPCKIT_FORK_WARNING"); env && std::strcmp(env, "0") == 0) return;
  std::fprintf(stderr,
               "ipckit: warning: this process (pid=%d) is multi-threaded (%ld threads), use of fork() may lead to "
               "deadlocks in the child: a lock another thread held at the fork stays held there. Start processes "
               "before threads (set IPCKIT_FORK_WARNING=0 to silence this)\n",
               static_cast<int>(::getpid()), threads);
}

long untracked_threads() noexcept {
  // In this order: a finishing thread enters g_retired before it leaves g_internal_threads, so
  // it is subtracted at least once. One caught inside its destructor is subtracted twice: at
  // worst a warning is missed, never a false one given.
  long internal = g_internal_threads.load();
  long n = listed_program_threads();
  return n ? n - internal : 0;
}

InternalThread::InternalThread() noexcept : m_creator(static_cast<int>(::gettid())) { g_internal_threads.fetch_add(1); }
InternalThread::~InternalThread() {
  if (!m_counted) return;
  pid_t self = ::gettid();
  if (self != m_creator) {
    auto enter = [self] {
      for (auto& slot : g_retired) {
        pid_t free = 0;
        if (slot.compare_exchange_strong(free, self)) return true;
      }
      return false;
    };
    if (!enter()) {
      listed_program_threads();  // frees the slots of threads gone since
      enter();
    }
  }
  g_internal_threads.fetch_sub(1);
}

}  // namespace ipc::detail
