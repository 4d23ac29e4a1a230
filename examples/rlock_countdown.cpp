// E19 (tutorial 002:365): ten children decrement a shared Array counter under one RLock.
// Prints "say hi 9" ... "say hi 0", each once, strictly descending, one every 0.1 s (the
// tutorial sleeps 1 s while holding the lock). Each child takes the RLock twice (re-entrant) to
// show that its holder can acquire it again.
#include <ipc/process.hpp>
#include <ipc/sharedctypes.hpp>
#include <ipc/synchronize.hpp>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

int main() {
  ipc::Array<int> array(1);
  array[0] = 10;
  ipc::RLock lock;
  std::vector<ipc::Process> ps;
  for (int i = 0; i < 10; ++i)
    ps.emplace_back([&] {
      std::scoped_lock outer(lock);
      array[0] = array[0] - 1;
      std::this_thread::sleep_for(100ms);
      std::scoped_lock inner(lock);  // re-entrant: depth 2
      std::printf("say hi %d (lock depth %u)\n", array[0], lock.count());
      std::fflush(stdout);
    });
  for (auto& p : ps) p.start();
  for (auto& p : ps) p.join();
  return array[0] == 0 ? 0 : 1;
}
