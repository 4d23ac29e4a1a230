// E25: many children that each sleep (tutorial 001:1550: 1000 children sleep 2 s).
// Total is about the sleep plus process-creation cost, not the sum. The count is an argument
// (default 200) so it stays under RLIMIT_NPROC; the sleep is 0.5 s here.
#include <ipc/process.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

int main(int argc, char** argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 200;
  auto t0 = std::chrono::steady_clock::now();
  std::vector<ipc::Process> ps;
  ps.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) ps.emplace_back([] { std::this_thread::sleep_for(std::chrono::milliseconds(500)); });
  for (auto& p : ps) p.start();
  for (auto& p : ps) p.join();
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%d children sleeping 0.5 s each: %.2f s in total (serially it would be %.0f s)\n", n, s, n * 0.5);
  return 0;
}
