// A traffic light and cars sharing an Event across processes (tutorials 001:1088, 001:1118, 002:860).
// The light process clears the Event (red), waits, sets it (green), waits, for three cycles. Car
// processes arrive every 0.1-0.2 s: on green they pass at once; on red they wait on the Event and
// pass as soon as the light turns green, never before. The tutorial's red lasts 3 s and green 4 s;
// this port uses 0.3 s and 0.4 s and a bounded number of cycles and cars.
#include <ipc/process.hpp>
#include <ipc/sharedctypes.hpp>
#include <ipc/synchronize.hpp>

#include <chrono>
#include <cstdio>
#include <random>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

int main() {
  ipc::Event green;
  // Milliseconds since start at which the light last turned green (for the cars' check).
  ipc::Value<long> green_at(-1);
  auto t0 = Clock::now();
  auto ms = [t0] { return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count(); };

  ipc::Process light{[&] {
    for (int cycle = 0; cycle < 3; ++cycle) {
      green.clear();
      std::printf("[%4ld ms] light: red\n", static_cast<long>(ms()));
      std::fflush(stdout);
      std::this_thread::sleep_for(300ms);
      green_at.value(static_cast<long>(ms()));
      green.set();
      std::printf("[%4ld ms] light: green\n", static_cast<long>(ms()));
      std::fflush(stdout);
      std::this_thread::sleep_for(400ms);
    }
  }};
  light.start();

  std::vector<ipc::Process> cars;
  std::mt19937 rng(42);
  int early = 0;
  for (int i = 1; i <= 10; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 101));
    cars.emplace_back([&, i] {
      if (green.is_set()) {
        std::printf("[%4ld ms] car %d: green, passes\n", static_cast<long>(ms()), i);
        return 0;
      }
      std::printf("[%4ld ms] car %d: red, waits\n", static_cast<long>(ms()), i);
      std::fflush(stdout);
      if (!green.wait(5s)) return 2;
      long now = static_cast<long>(ms());
      std::printf("[%4ld ms] car %d: light turned green, passes\n", now, i);
      return now >= green_at.value() ? 0 : 1;  // 1: passed before the light turned green
    });
    cars.back().start();
  }
  for (auto& c : cars) {
    c.join();
    early += *c.exitcode() != 0;
  }
  light.join();
  std::printf("%d cars passed, %d passed on red\n", static_cast<int>(cars.size()), early);
  return early == 0 ? 0 : 1;
}
