// A parallel map of a CPU-bound function: Pool.map over every core against a serial loop.
// Counting primes by trial division keeps each core busy; the results must match, and the
// speed-up approaches the number of cores (less on a busy machine).
#include <ipc/pool.hpp>
#include <ipc/process.hpp>

#include <chrono>
#include <cstdio>
#include <vector>

namespace {

int count_primes(int n) {
  int count = 0;
  for (int k = 2; k < n; ++k) {
    bool prime = true;
    for (int d = 2; d * d <= k; ++d) {
      if (k % d == 0) {
        prime = false;
        break;
      }
    }
    count += prime;
  }
  return count;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main() {
  std::vector<int> ns;
  for (int i = 0; i < 400; ++i) ns.push_back(10000 + 10 * i);
  auto t0 = std::chrono::steady_clock::now();
  std::vector<int> serial;
  for (int n : ns) serial.push_back(count_primes(n));
  double ts = seconds_since(t0);

  ipc::Pool pool;  // cpu_count() workers
  t0 = std::chrono::steady_clock::now();
  std::vector<int> parallel = pool.map(count_primes, ns);  // in input order
  double tp = seconds_since(t0);

  std::printf("primes below %d: %d\n", ns.back(), parallel.back());
  std::printf("serial %.2f s, Pool.map on %zu workers %.2f s: speed-up %.2fx (cores: %d)\n", ts, pool.processes(), tp,
              ts / tp, ipc::cpu_count());
  std::printf("results equal: %s\n", serial == parallel ? "yes" : "no");
  return 0;
}
