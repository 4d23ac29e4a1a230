// E20 (tutorial 001:844, 002:821): a Semaphore(5) shared by ten users ("five toilet stalls").
// Never more than 5 holders at once (checked with a shared counter of current holders); all 10
// users print once and are joined. The tutorial sleeps 1-3 s per user; this port 0.1-0.3 s.
// With --bounded it uses a BoundedSemaphore(5), and an extra release() is refused (ValueError).
#include <ipc/errors.hpp>
#include <ipc/process.hpp>
#include <ipc/sharedctypes.hpp>
#include <ipc/synchronize.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

int main(int argc, char** argv) {
  bool bounded = argc > 1 && std::strcmp(argv[1], "--bounded") == 0;
  std::unique_ptr<ipc::Semaphore> sem = bounded ? std::make_unique<ipc::BoundedSemaphore>(5)
                                                : std::make_unique<ipc::Semaphore>(5);
  ipc::Value<int> inside(0), peak(0);
  std::vector<ipc::Process> users;
  for (int i = 0; i < 10; ++i)
    users.emplace_back([&, i] {
      std::scoped_lock g(*sem);
      int now;
      {
        auto in = inside.locked();
        now = ++*in;
        auto p = peak.locked();
        *p = std::max(*p, now);
      }
      std::printf("user%d got a stall (%d in use)\n", i, now);
      std::fflush(stdout);
      std::mt19937 rng(static_cast<unsigned>(::getpid()));
      std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 201));
      --*inside.locked();
    });
  for (auto& u : users) u.start();
  for (auto& u : users) u.join();
  std::printf("all 10 users done; at most %d stalls were in use at once (limit 5)\n", peak.value());
  if (bounded) {
    try {
      sem->release();
      std::printf("extra release accepted (value %u)\n", sem->get_value());
      return 1;
    } catch (const ipc::ValueError& e) {
      std::printf("extra release refused: %s\n", e.what());
    }
  }
  return peak.value() <= 5 ? 0 : 1;
}
