// Lost updates on a shared counter, fixed by a lock (tutorials 000:623, 001:990, 001:1017,
// 001:1451, 002:698, 002:735, 002:782, 002:979, 002:986, 003:352).
// Four processes each add 1 half a million times to a shared Value<int>. Without the lock the
// read-modify-writes interleave and the total falls short of 2 000 000; under the Value's lock
// (locked(), the C++ form of Python's `with v.get_lock():`) it is exact. Then 100 decrements
// spread over 10 processes, with a short pause between read and write (the tutorials' 100 -> 0
// race): without the lock it ends above 0, with it exactly at 0.
#include <ipc/process.hpp>
#include <ipc/sharedctypes.hpp>
#include <ipc/synchronize.hpp>

#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

/// A few dozen nanoseconds of work between the read and the write of an increment, as real code
/// has; it widens the window in which another process's update gets lost.
static void think() {
  for (int i = 0; i < 20; ++i) asm volatile("" ::: "memory");  // an empty step the optimiser keeps
}

/// Runs f in n processes that all start working at the same moment (an Event), so they overlap.
template <class F>
static void run(int n, F f) {
  ipc::Event go;
  std::vector<ipc::Process> ps;
  for (int i = 0; i < n; ++i) ps.emplace_back([&] {
    go.wait();
    f();
  });
  for (auto& p : ps) p.start();
  go.set();
  for (auto& p : ps) p.join();
}

int main() {
  ipc::Value<int> a(0);
  run(4, [&] {
    volatile int& x = a.get_obj();  // volatile: each step really reads and writes shared memory
    for (int k = 0; k < 500'000; ++k) {
      int seen = x;
      think();
      x = seen + 1;
    }
  });
  std::printf("increments without the lock: %d (expected 2000000)%s\n", a.value(),
              a.value() == 2'000'000 ? " - no overlap this time: the machine did not run them at once" : "");

  ipc::Value<int> b(0);
  run(4, [&] {
    for (int k = 0; k < 500'000; ++k) {
      auto v = b.locked();
      int seen = *v;
      think();
      *v = seen + 1;
    }
  });
  std::printf("increments under the lock:   %d (expected 2000000)\n", b.value());

  ipc::Value<int> c(100);
  run(10, [&] {
    for (int k = 0; k < 10; ++k) {
      int seen = c.value();
      std::this_thread::sleep_for(1ms);
      c.value(seen - 1);
    }
  });
  std::printf("100 decrements without the lock: 100 -> %d\n", c.value());

  ipc::Value<int> d(100);
  run(10, [&] {
    for (int k = 0; k < 10; ++k) {
      auto v = d.locked();
      int seen = *v;
      std::this_thread::sleep_for(1ms);
      *v = seen - 1;
    }
  });
  std::printf("100 decrements under the lock:   100 -> %d\n", d.value());
  return b.value() == 2'000'000 && d.value() == 0 ? 0 : 1;
}
