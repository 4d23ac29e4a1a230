// E05: kill a running child with terminate() (tutorial 001:293).
// is_alive() can still be true right after terminate() because the signal is delivered
// asynchronously; after join it is false and exitcode is -15 (SIGTERM); the child's
// "is end" line never prints.
#include <ipc/process.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>

int main() {
  ipc::Process p{[] {
    std::printf("child %d is run\n", ::getpid());
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::seconds(3));
    std::printf("child %d is end\n", ::getpid());  // never printed
  }};
  p.start();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let the child print (demo pacing)
  p.terminate();
  std::printf("right after terminate(): is_alive() = %s (may still be true)\n", p.is_alive() ? "true" : "false");
  p.join();
  std::printf("after join(): is_alive() = %s, exitcode = %d\n", p.is_alive() ? "true" : "false", *p.exitcode());
  return *p.exitcode() == -15 ? 0 : 1;
}
