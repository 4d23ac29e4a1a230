// Futex wait/wake on a 32-bit word in shared memory, with Deadline timeouts.
#pragma once

#include <atomic>
#include <cstdint>

#include <ipc/timeout.hpp>

namespace ipc::detail {

/// The outcome of futex_wait: woken (or spuriously returned), the word did not hold the expected
/// value, interrupted by a signal, or the deadline passed. Callers re-check their condition in
/// every case but timed_out.
enum class FutexResult { woken, value_changed, interrupted, timed_out };

/// Sleeps while `word` holds `expected`, until a futex_wake on the same word, a signal or
/// `deadline`. Shared futex (no FUTEX_PRIVATE_FLAG): the word may live in a mapping shared by
/// several processes at different addresses. The timeout is absolute on CLOCK_MONOTONIC, so a
/// retry loop never extends the caller's deadline. Never throws.
FutexResult futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected, const Deadline& deadline) noexcept;

/// Sleeps while `word` holds `expected`, with no limit. Never throws.
FutexResult futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected) noexcept;

/// Wakes up to `count` sleepers on `word` (INT_MAX = all); returns how many woke. Never throws.
int futex_wake(std::atomic<std::uint32_t>& word, int count) noexcept;

/// Wakes every sleeper on `word`. Never throws.
int futex_wake_all(std::atomic<std::uint32_t>& word) noexcept;

/// The calling thread's kernel thread id, cached per thread (and refreshed in a forked child).
int current_tid() noexcept;

}  // namespace ipc::detail
