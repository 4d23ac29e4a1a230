// Two processes alternate with a Condition: one adds to 5, the other reduces to 0 (tutorial 002:914).
// They share a Value<int> num and a Condition. num runs 1..5, then 4..0, repeatedly (three rounds
// here instead of forever) and never leaves 0..5. The adder must hold the condition first: if the
// reducer started first, num would go negative forever. This port makes the reducer wait until
// num reaches 5 (wait_for with a predicate), so the order of start does not matter. The tutorial
// sleeps 1 s per step; this port 40 ms.
#include <ipc/process.hpp>
#include <ipc/sharedctypes.hpp>
#include <ipc/synchronize.hpp>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <thread>

using namespace std::chrono_literals;

int main() {
  constexpr int kRounds = 3;
  ipc::Condition con;
  ipc::Value<int> num(0);
  ipc::Value<int> out_of_range(0);
  auto say = [](const char* what) {
    std::printf("%s\n", what);
    std::fflush(stdout);
  };
  auto step = [&](int delta) {
    int n = num.value() + delta;
    num.value(n);
    if (n < 0 || n > 5) out_of_range.value(out_of_range.value() + 1);
    std::printf("num is now %d\n", n);
    std::fflush(stdout);
    std::this_thread::sleep_for(40ms);
  };

  ipc::Process a{[&] {
    std::unique_lock g(con);
    for (int r = 0; r < kRounds; ++r) {
      say("A (add) starts");
      while (num.value() < 5) step(+1);
      say("A pauses");
      con.notify();
      if (r + 1 < kRounds && !con.wait_for([&] { return num.value() == 0; }, 10s)) return 1;
    }
    return 0;
  }};
  ipc::Process b{[&] {
    std::unique_lock g(con);
    for (int r = 0; r < kRounds; ++r) {
      if (!con.wait_for([&] { return num.value() == 5; }, 10s)) return 1;
      say("B (reduce) starts");
      while (num.value() > 0) step(-1);
      say("B pauses");
      con.notify();
    }
    return 0;
  }};
  a.start();
  b.start();
  a.join();
  b.join();
  std::printf("done after %d rounds; num left 0..5 %d times\n", kRounds, out_of_range.value());
  return *a.exitcode() == 0 && *b.exitcode() == 0 && out_of_range.value() == 0 ? 0 : 1;
}
