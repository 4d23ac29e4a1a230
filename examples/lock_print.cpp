// E17 (tutorial 001:492, 001:512): three children print "is run" / "is end" without and with a Lock.
// Without the lock all "is run" lines come before the "is end" lines and the run takes one
// child's sleep; with the Lock each pid's "is run" is directly followed by its own "is end" and
// the run takes three sleeps. The tutorial sleeps 2 s; this port sleeps 0.3 s.
#include <ipc/process.hpp>
#include <ipc/synchronize.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

static void work() {
  std::printf("%d is run\n", ::getpid());
  std::fflush(stdout);
  std::this_thread::sleep_for(300ms);
  std::printf("%d is end\n", ::getpid());
  std::fflush(stdout);
}

template <class F>
static double run_three(F f) {
  auto t0 = std::chrono::steady_clock::now();
  std::vector<ipc::Process> ps;
  for (int i = 0; i < 3; ++i) ps.emplace_back(f);
  for (auto& p : ps) p.start();
  for (auto& p : ps) p.join();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int main() {
  std::printf("-- without a lock (concurrent: the lines interleave)\n");
  double t1 = run_three(work);
  std::printf("took %.1f s\n", t1);

  std::printf("-- with a Lock (serial: run/end pairs stay together)\n");
  ipc::Lock lock;
  double t2 = run_three([&lock] {
    std::scoped_lock g(lock);
    work();
  });
  std::printf("took %.1f s\n", t2);
  return 0;
}
