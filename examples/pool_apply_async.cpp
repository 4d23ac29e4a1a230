// E21: Pool.apply_async with callbacks, then close() and join() (tutorial 002:413, 003:561).
// apply_async does not block, so every submission line prints at once; Pool(5) runs 30 tasks of
// 0.1 s in about 0.6 s; Pool(3) with 10 tasks of 0.5 s never runs more than 3 at a time and takes
// about 2 s; there are never more distinct worker pids than workers, and they are reused.
// (The tutorial's seconds are scaled down to tenths.)
#include <ipc/pool.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

using Clock = std::chrono::steady_clock;

namespace {

/// What a task reports: who ran it and when (steady_clock is system-wide, so the parent can
/// compare the workers' times).
struct Run {
  pid_t pid;
  long long start_ns;
  long long end_ns;
};

long long now_ns() { return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count(); }

Run work(int i, int ms) {
  Run r{::getpid(), now_ns(), 0};
  std::printf("  task %2d runs in pid %d\n", i, ::getpid());
  std::fflush(stdout);
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  r.end_ns = now_ns();
  return r;
}

/// The most tasks that were running at the same moment.
int max_overlap(const std::vector<Run>& runs) {
  std::vector<std::pair<long long, int>> ev;
  for (auto& r : runs) {
    ev.emplace_back(r.start_ns, +1);
    ev.emplace_back(r.end_ns, -1);
  }
  std::sort(ev.begin(), ev.end());  // an end sorts before a start at the same instant
  int cur = 0, best = 0;
  for (auto& [t, d] : ev) best = std::max(best, cur += d);
  return best;
}

void demo(std::size_t workers, int tasks, int ms) {
  std::printf("Pool(%zu): %d tasks of %d ms\n", workers, tasks, ms);
  auto t0 = Clock::now();
  ipc::Pool pool(workers);
  std::mutex m;
  std::vector<Run> runs;
  for (int i = 0; i < tasks; ++i) {
    pool.apply_async({.callback = [&](const Run& r) {
                        std::lock_guard lock(m);  // callbacks run in the pool's thread, in this process
                        runs.push_back(r);
                      }},
                     work, i, ms);
    std::printf("  submitted task %d\n", i);  // returns at once: all these lines come first
  }
  pool.close();
  pool.join();  // returns after every task (and callback) has finished
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  std::set<pid_t> pids;
  for (auto& r : runs) pids.insert(r.pid);
  std::printf("Pool(%zu): %zu results, %.2f s, distinct worker pids: %zu (<= %zu), at most %d at a time\n", workers,
              runs.size(), secs, pids.size(), workers, max_overlap(runs));
}

}  // namespace

int main() {
  demo(5, 30, 100);
  demo(3, 10, 500);
  return 0;
}
