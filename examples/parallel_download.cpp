// E04: start every child, then join them all (tutorial 001:242, 002:132/164, 000:435).
// Downloads are simulated with sleeps (the tutorial's seconds scaled to tenths): a serial run
// takes the sum of the sleeps; start-all-then-join-all takes about the longest one; main's
// total-time line prints last.
#include <ipc/process.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

using Clock = std::chrono::steady_clock;

static void download(int tenths) {
  std::printf("  pid %d: downloading, %d.%d s\n", ::getpid(), tenths / 10, tenths % 10);
  std::fflush(stdout);
  std::this_thread::sleep_for(std::chrono::milliseconds(100 * tenths));
  std::printf("  pid %d: done after %d.%d s\n", ::getpid(), tenths / 10, tenths % 10);
}

static double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

int main() {
  const std::vector<int> sizes{5, 3, 2};  // tenths of a second; sum 1.0 s, longest 0.5 s
  auto t0 = Clock::now();
  for (int s : sizes) download(s);
  std::printf("serial: %.2f s (the sum)\n", since(t0));

  t0 = Clock::now();
  std::vector<ipc::Process> ps;
  for (int s : sizes) ps.emplace_back(download, s);
  for (auto& p : ps) p.start();  // start all first...
  for (auto& p : ps) p.join();   // ...then join all: they overlap
  std::printf("parallel: %.2f s (about the longest)\n", since(t0));
  return 0;
}
