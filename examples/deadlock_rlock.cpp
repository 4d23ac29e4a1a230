// Deadlock with two locks taken in opposite orders, fixed by one RLock (tutorial 001:1250, 001:1315).
// Four worker processes run f1 (A then B) and f2 (B, pause, then A). With two Locks a worker
// holding B waits for A while another holds A and waits for B: they block. Python hangs here; this
// port acquires with a 1 s timeout, reports the deadlock and backs off. With a single RLock used
// as both A and B (mutexA = mutexB = RLock()), taken re-entrantly, all four workers finish.
#include <ipc/process.hpp>
#include <ipc/synchronize.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

/// Runs f1 then f2 with locks `a` and `b`; returns 0 when done, 1 when a deadlock was detected.
template <class L>
int worker(const std::string& name, L& a, L& b) {
  auto say = [&](const char* what) {
    std::printf("%s %s\n", name.c_str(), what);
    std::fflush(stdout);
  };
  // f1
  if (!a.acquire(1s)) return say("timed out waiting for A: deadlock detected"), 1;
  say("got A");
  if (!b.acquire(1s)) return a.release(), say("timed out waiting for B: deadlock detected"), 1;
  say("got B");
  b.release();
  a.release();
  // f2
  if (!b.acquire(1s)) return say("timed out waiting for B: deadlock detected"), 1;
  say("got B");
  std::this_thread::sleep_for(100ms);
  if (!a.acquire(1s)) return b.release(), say("timed out waiting for A: deadlock detected"), 1;
  say("got A");
  a.release();
  b.release();
  return 0;
}

template <class L>
int run(L& a, L& b) {
  std::vector<ipc::Process> ps;
  for (int i = 1; i <= 4; ++i) ps.emplace_back([&, i] { return worker("worker" + std::to_string(i), a, b); });
  for (auto& p : ps) p.start();
  int finished = 0;
  for (auto& p : ps) {
    p.join();
    finished += *p.exitcode() == 0;
  }
  return finished;
}

}  // namespace

int main() {
  std::printf("-- two Locks, opposite orders\n");
  ipc::Lock a, b;
  int ok1 = run(a, b);
  std::printf("=> %d of 4 workers finished; the others detected the deadlock\n", ok1);

  std::printf("-- one RLock as both A and B\n");
  ipc::RLock r;
  int ok2 = run(r, r);
  std::printf("=> %d of 4 workers finished\n", ok2);
  return ok2 == 4 ? 0 : 1;
}
