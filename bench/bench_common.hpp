// Helpers shared by the benchmark programs: timing, medians, CPU pinning, JSON lines.
#pragma once

#include <sched.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <cstdio>
#include <string>
#include <vector>

namespace ipc::bench {

/// Seconds taken by fn().
template <class F>
double seconds(F&& fn) {
  auto t0 = std::chrono::steady_clock::now();
  fn();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// Median of `runs` measurements of fn() (each returns a figure).
template <class F>
double median_of(int runs, F&& fn) {
  std::vector<double> v;
  for (int i = 0; i < runs; ++i) v.push_back(fn());
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

/// Runs each of `fns` `runs` times, interleaved (a b c a b c ...) so that a change in a shared
/// machine's load weighs on every implementation alike; returns the medians in order.
inline std::vector<double> interleaved_medians(int runs, const std::vector<std::function<double()>>& fns) {
  std::vector<std::vector<double>> v(fns.size());
  for (int r = 0; r < runs; ++r)
    for (std::size_t i = 0; i < fns.size(); ++i) v[i].push_back(fns[i]());
  std::vector<double> out;
  for (auto& x : v) {
    std::sort(x.begin(), x.end());
    out.push_back(x[x.size() / 2]);
  }
  return out;
}

/// Pins the calling process (and children forked afterwards) to one CPU.
inline void pin_to_cpu(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  ::sched_setaffinity(0, sizeof set, &set);
}

/// Lets the calling process run on every CPU again.
inline void unpin() {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int i = 0; i < CPU_SETSIZE; ++i) CPU_SET(i, &set);
  ::sched_setaffinity(0, sizeof set, &set);
}

/// Prints one result row for bench/run.py.
inline void report(const std::string& workload, const std::string& impl, double value, const std::string& unit,
                   bool higher_is_better) {
  std::printf("{\"workload\": \"%s\", \"impl\": \"%s\", \"value\": %.6g, \"unit\": \"%s\", \"higher_is_better\": %s}\n",
              workload.c_str(), impl.c_str(), value, unit.c_str(), higher_is_better ? "true" : "false");
  std::fflush(stdout);
}

}  // namespace ipc::bench
