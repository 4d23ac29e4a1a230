// Futex wait/wake on shared words, and the cached thread id.
#include <ipc/detail/futex.hpp>

#include <ipc/detail/fork.hpp>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <ctime>

namespace ipc::detail {

namespace {

static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);

long sys_futex(void* addr, int op, std::uint32_t val, const timespec* ts, std::uint32_t val3) noexcept {
  return ::syscall(SYS_futex, addr, op, val, ts, nullptr, val3);
}

FutexResult wait_impl(std::atomic<std::uint32_t>& word, std::uint32_t expected, const timespec* abs) noexcept {
  // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time (steady_clock on Linux).
  long r = sys_futex(&word, FUTEX_WAIT_BITSET, expected, abs, FUTEX_BITSET_MATCH_ANY);
  if (r == 0) return FutexResult::woken;
  switch (errno) {
    case EAGAIN: return FutexResult::value_changed;
    case EINTR: return FutexResult::interrupted;
    case ETIMEDOUT: return FutexResult::timed_out;
    default: return FutexResult::woken;  // EFAULT/EINVAL cannot happen on a mapped aligned word
  }
}

void reset_tid_in_child() noexcept { t_tid = 0; }

// Registered once per process, at load time (before any fork).
[[maybe_unused]] const bool g_after_fork_registered = register_after_fork_child(reset_tid_in_child);

}  // namespace

// The cached tid of this thread; 0 = not yet read. Per thread by nature; reset in a forked
// child by the after-fork handler above because the child's only thread has a new tid.
constinit thread_local int t_tid = 0;

FutexResult futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected, const Deadline& deadline) noexcept {
  if (deadline.infinite()) return wait_impl(word, expected, nullptr);
  if (deadline.expired()) return FutexResult::timed_out;
  auto since = deadline.at().time_since_epoch();
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(since);
  timespec abs{static_cast<time_t>(secs.count()),
               static_cast<long>(std::chrono::duration_cast<std::chrono::nanoseconds>(since - secs).count())};
  return wait_impl(word, expected, &abs);
}

FutexResult futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected) noexcept {
  return wait_impl(word, expected, nullptr);
}

int futex_wake(std::atomic<std::uint32_t>& word, int count) noexcept {
  long r = sys_futex(&word, FUTEX_WAKE, static_cast<std::uint32_t>(count), nullptr, 0);
  return r < 0 ? 0 : static_cast<int>(r);
}

int futex_wake_all(std::atomic<std::uint32_t>& word) noexcept { return futex_wake(word, INT_MAX); }

int current_tid_slow() noexcept {
  t_tid = static_cast<int>(::gettid());
  return t_tid;
}

}  // namespace ipc::detail
