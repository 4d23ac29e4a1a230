// Timeout and Deadline: the optional time limit every blocking ipckit call takes.
#pragma once

#include <chrono>
#include <climits>
#include <ctime>
#include <optional>

namespace ipc {

/// How long a blocking call may wait: any std::chrono duration, or none (= wait forever).
/// Negative durations count as zero (poll once). Implicit so that `q.get(2s)` reads well.
class Timeout {
 public:
  /// Waits forever.
  constexpr Timeout() noexcept = default;
  /// Waits forever (spelled `std::nullopt`, Python's `timeout=None`).
  constexpr Timeout(std::nullopt_t) noexcept {}
  /// Waits at most `d`.
  template <class Rep, class Period>
  constexpr Timeout(std::chrono::duration<Rep, Period> d) noexcept
      : m_ns(clamp(std::chrono::duration<double, std::nano>(d).count())) {}

  /// True when there is no limit.
  constexpr bool infinite() const noexcept { return !m_ns.has_value(); }
  /// The limit; only meaningful when !infinite().
  constexpr std::chrono::nanoseconds value() const noexcept { return m_ns.value_or(kMax); }

 private:
  // About 292 years / 2: far enough to mean "forever" and safe to add to steady_clock::now().
  static constexpr std::chrono::nanoseconds kMax{LLONG_MAX / 2};
  // Rounds up to whole nanoseconds so that a tiny positive timeout still waits.
  static constexpr std::chrono::nanoseconds clamp(double ns) noexcept {
    if (!(ns > 0)) return std::chrono::nanoseconds::zero();
    if (ns >= static_cast<double>(kMax.count())) return kMax;
    auto whole = static_cast<long long>(ns);
    return std::chrono::nanoseconds(whole < ns ? whole + 1 : whole);
  }
  std::optional<std::chrono::nanoseconds> m_ns;
};

/// An absolute point on the steady clock derived from a Timeout, so that a call made of several
/// waits (retry after EINTR, spin then sleep) never waits longer than its caller asked.
/// An infinite or zero Timeout never reads the clock (a non-blocking attempt on a hot path must
/// not pay for a clock_gettime, which costs tens of nanoseconds in a virtual machine).
class Deadline {
 public:
  using Clock = std::chrono::steady_clock;

  /// Starts the clock now for `t`.
  explicit Deadline(Timeout t) noexcept
      : m_infinite(t.infinite()),
        m_poll(!m_infinite && t.value() == std::chrono::nanoseconds::zero()),
        m_at(m_infinite || m_poll ? Clock::time_point::max() : Clock::now() + t.value()) {}

  /// True when there is no limit.
  bool infinite() const noexcept { return m_infinite; }
  /// True when the limit has passed (at once for a zero timeout).
  bool expired() const noexcept { return m_poll || (!m_infinite && Clock::now() >= m_at); }
  /// Time left, zero when expired; nanoseconds::max() when infinite.
  std::chrono::nanoseconds remaining() const noexcept {
    if (m_infinite) return std::chrono::nanoseconds::max();
    if (m_poll) return std::chrono::nanoseconds::zero();
    auto left = m_at - Clock::now();
    return left > left.zero() ? std::chrono::duration_cast<std::chrono::nanoseconds>(left)
                              : std::chrono::nanoseconds::zero();
  }
  /// Milliseconds left for poll(2)/epoll_wait(2), rounded up; -1 when infinite.
  int poll_ms() const noexcept {
    if (m_infinite) return -1;
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(remaining()).count();
    return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
  }
  /// Relative timespec of the time left, for futex(2) and friends; meaningless when infinite.
  timespec relative_timespec() const noexcept {
    auto ns = remaining().count();
    return timespec{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
  }
  /// The absolute time point (Clock::time_point::max() when infinite; the current time for a
  /// zero timeout, which has always just expired).
  Clock::time_point at() const noexcept { return m_poll ? Clock::now() : m_at; }

 private:
  bool m_infinite;
  bool m_poll;  // a zero timeout: expired from the start, without a clock read
  Clock::time_point m_at;
};

}  // namespace ipc
