// E02: subclass Process and override run() (tutorial 001:161, 003:418).
// start() runs run() under a new PID whose parent is main; the child's "---1---" lines and
// main's "---main---" lines interleave about every 100 ms (the tutorial's 1 s, scaled down,
// in a bounded loop); calling run() directly runs it in the caller's PID (001:110).
#include <ipc/process.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>

class Worker : public ipc::Process {
 public:
  int run() override {
    for (int i = 0; i < 5; ++i) {
      std::printf("---1--- pid=%d ppid=%d\n", ::getpid(), ::getppid());
      std::fflush(stdout);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return 0;
  }
};

int main() {
  std::printf("main pid=%d\n", ::getpid());
  Worker w;
  w.start();
  for (int i = 0; i < 5; ++i) {
    std::printf("---main--- pid=%d\n", ::getpid());
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  w.join();
  std::printf("calling run() directly runs it here, in pid %d:\n", ::getpid());
  Worker direct;
  direct.run();
  return 0;
}
