// E24: 8 CPU-bound children (tutorial 001:1521). Prints cpu_count(); wall time is about one
// task's time x ceil(8 / cores), not 8 x (no interpreter lock to serialise them). Each child's
// result is printed so the compiler cannot drop the work.
#include <ipc/process.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <vector>

static int work(int seed) {
  std::uint64_t x = static_cast<std::uint64_t>(seed);
  for (int i = 0; i < 100'000'000; ++i) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
  std::printf("  task %d: %llu\n", seed, static_cast<unsigned long long>(x % 1000));
  return 0;
}

int main() {
  std::printf("cpu_count() = %d\n", ipc::cpu_count());
  auto t0 = std::chrono::steady_clock::now();
  work(0);
  double one = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  t0 = std::chrono::steady_clock::now();
  std::vector<ipc::Process> ps;
  for (int i = 1; i <= 8; ++i) ps.emplace_back(work, i);
  for (auto& p : ps) p.start();
  for (auto& p : ps) p.join();
  double all = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  int rounds = (8 + ipc::cpu_count() - 1) / ipc::cpu_count();
  std::printf("one task: %.2f s; 8 tasks in processes: %.2f s (expected about %.2f s = %d rounds)\n", one, all,
              one * rounds, rounds);
  return 0;
}
