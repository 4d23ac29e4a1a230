// Pool and ProcessPoolExecutor throughput: map of trivial tasks (chunksize 1 and default),
// apply_async, executor submit+result, and the speed-up of a CPU-bound map on every core.
// Python's multiprocessing.Pool / ProcessPoolExecutor figures come from bench/py/pool.py.
#include <ipc/executor.hpp>
#include <ipc/pool.hpp>
#include <ipc/process.hpp>

#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "bench_common.hpp"

using ipc::bench::median_of;
using ipc::bench::report;
using ipc::bench::seconds;

namespace {

constexpr int kRuns = 5;
constexpr int kMapTasks = 100'000;
constexpr int kApplyTasks = 20'000;
constexpr int kPrimeInputs = 2'000;
constexpr int kPrimeBase = 25'000;  // count primes below kPrimeBase + i (about 0.7 ms each here: a run of
                                    // 0.2 s was too short for a steady speed-up figure)

long square(long x) { return x * x; }

/// Primes below n by trial division: a CPU-bound task whose result is used.
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

}  // namespace

int main() {
  const int cores = ipc::cpu_count();
  std::vector<long> xs(kMapTasks);
  std::iota(xs.begin(), xs.end(), 0L);
  {
    ipc::Pool pool;  // cpu_count() workers, as Python's Pool()
    (void)pool.map(square, xs);  // warm up: workers started, pages touched
    long check = 0;
    double one = median_of(kRuns, [&] {
      return kMapTasks / seconds([&] { check += pool.map(square, xs, 1).back(); });
    });
    report("Pool.map x*x 100k tasks, chunksize 1", "ipckit", one, "tasks/s", true);
    double def = median_of(kRuns, [&] {
      return kMapTasks / seconds([&] { check += pool.map(square, xs).back(); });
    });
    report("Pool.map x*x 100k tasks, default chunksize", "ipckit", def, "tasks/s", true);
    double apply = median_of(kRuns, [&] {
      return kApplyTasks / seconds([&] {
               std::vector<ipc::AsyncResult<long>> rs;
               rs.reserve(kApplyTasks);
               for (long i = 0; i < kApplyTasks; ++i) rs.push_back(pool.apply_async(square, i));
               for (auto& r : rs) check += r.get();
             });
    });
    report("Pool.apply_async + get, 20k tasks", "ipckit", apply, "tasks/s", true);
    if (check == 42) std::printf("#\n");  // keep the results alive
  }
  {
    ipc::ProcessPoolExecutor ex;
    (void)ex.submit(square, 1L).result();
    long check = 0;
    double fut = median_of(kRuns, [&] {
      return kApplyTasks / seconds([&] {
               std::vector<ipc::Future<long>> fs;
               fs.reserve(kApplyTasks);
               for (long i = 0; i < kApplyTasks; ++i) fs.push_back(ex.submit(square, i));
               for (auto& f : fs) check += f.result();
             });
    });
    report("ProcessPoolExecutor submit + result, 20k tasks", "ipckit", fut, "tasks/s", true);
    if (check == 42) std::printf("#\n");
  }
  {
    std::vector<int> ns(kPrimeInputs);
    for (int i = 0; i < kPrimeInputs; ++i) ns[i] = kPrimeBase + i;
    long check = 0;
    ipc::Pool pool;
    (void)pool.map(count_primes, std::vector<int>{10, 20});
    double serial = median_of(3, [&] {
      return seconds([&] {
        for (int n : ns) check += count_primes(n);
      });
    });
    double parallel = median_of(3, [&] { return seconds([&] { check += pool.map(count_primes, ns).back(); }); });
    report("CPU-bound map speed-up on " + std::to_string(cores) + " cores (ideal " + std::to_string(cores) + ")",
           "ipckit", serial / parallel, "x", true);
    if (check == 42) std::printf("#\n");
  }
  return 0;
}
