// E23: submit + add_done_callback + shutdown(wait) (tutorial 001:1617). 19 tasks on 4 workers
// use at most 4 distinct worker pids; each result n*n (0 ... 324) reaches its callback exactly
// once, in the parent's pid; shutdown(wait) returns after every callback.
#include <ipc/executor.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <utility>
#include <vector>

namespace {

std::pair<int, pid_t> task(int n) {
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  return {n * n, ::getpid()};
}

}  // namespace

int main() {
  std::mutex m;
  std::map<int, int> seen;  // result -> how many callbacks got it
  std::set<pid_t> workers;
  std::set<pid_t> callback_pids;
  ipc::ProcessPoolExecutor executor(4);
  for (int n = 0; n < 19; ++n) {
    auto f = executor.submit(task, n);
    f.add_done_callback([&](const ipc::Future<std::pair<int, pid_t>>& done) {
      auto [square, pid] = done.result();
      std::lock_guard lock(m);
      std::printf("  callback in pid %d: %d (computed by worker %d)\n", ::getpid(), square, pid);
      ++seen[square];
      workers.insert(pid);
      callback_pids.insert(::getpid());
    });
  }
  executor.shutdown(true);  // returns after every task and every callback
  std::lock_guard lock(m);
  bool once = seen.size() == 19;
  for (auto& [sq, count] : seen) once = once && count == 1;
  std::printf("%zu callbacks, each result once: %s, all in the parent (pid %d): %s, worker pids: %zu (<= 4)\n",
              seen.size(), once ? "yes" : "no", ::getpid(),
              callback_pids == std::set<pid_t>{::getpid()} ? "yes" : "no", workers.size());
  return 0;
}
