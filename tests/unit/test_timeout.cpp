// Timeout and Deadline: conversions, clamping and the poll(2) millisecond rounding.
#include <doctest/doctest.h>

#include <ipc/timeout.hpp>

using namespace std::chrono_literals;

TEST_SUITE("Timeout") {
  TEST_CASE("a default timeout is infinite and its deadline never expires") {
    ipc::Timeout t;
    CHECK(t.infinite());
    ipc::Deadline d(t);
    CHECK(d.infinite());
    CHECK_FALSE(d.expired());
    CHECK(d.poll_ms() == -1);
    CHECK(ipc::Timeout(std::nullopt).infinite());
  }

  TEST_CASE("negative and zero durations mean poll once") {
    CHECK(ipc::Timeout(-5s).value() == 0ns);
    CHECK(ipc::Timeout(0ms).value() == 0ns);
    ipc::Deadline d(ipc::Timeout(0s));
    CHECK(d.expired());
    CHECK(d.poll_ms() == 0);
    CHECK(d.remaining() == 0ns);
    auto ts = d.relative_timespec();
    CHECK(ts.tv_sec == 0);
    CHECK(ts.tv_nsec == 0);
    // Its time point is "now": before a later clock reading, after an earlier one.
    auto before = ipc::Deadline::Clock::now();
    auto at = d.at();
    CHECK(at >= before);
    CHECK(at <= ipc::Deadline::Clock::now());
  }

  TEST_CASE("fractional durations round up to whole nanoseconds and milliseconds") {
    CHECK(ipc::Timeout(std::chrono::duration<double>(1.5e-9)).value() == 2ns);
    ipc::Deadline d(ipc::Timeout(1500us));
    int ms = d.poll_ms();
    CHECK(ms >= 1);
    CHECK(ms <= 2);
  }

  TEST_CASE("huge durations are clamped instead of overflowing") {
    ipc::Timeout t(std::chrono::hours(24 * 365 * 1000));
    CHECK_FALSE(t.infinite());
    CHECK(t.value() > 0ns);
    ipc::Deadline d(t);
    CHECK_FALSE(d.expired());
    CHECK(d.poll_ms() > 0);
  }
}
