// E03: join() makes main wait for the child (tutorial 000:162, 001:214).
// Without join, main's second line comes before the child's lines; with join, the child's
// two lines come between main's two; join(200 ms) on a longer child returns after ~200 ms
// while the child is still alive (001:236, scaled from 2 s).
#include <ipc/process.hpp>

#include <chrono>
#include <cstdio>
#include <thread>

using namespace std::chrono_literals;

static void child(const char* tag) {
  std::printf("  child %s: line 1\n", tag);
  std::this_thread::sleep_for(50ms);
  std::printf("  child %s: line 2\n", tag);
}

int main() {
  std::printf("without join:\n");
  {
    ipc::Process p{child, "A"};
    std::printf("main: line 1\n");
    p.start();
    std::printf("main: line 2 (printed before the child's lines)\n");
    std::fflush(stdout);
    p.join();  // only so the next section starts clean
  }
  std::printf("with join:\n");
  {
    ipc::Process p{child, "B"};
    std::printf("main: line 1\n");
    p.start();
    p.join();
    std::printf("main: line 2 (after the child's lines)\n");
  }
  std::printf("join with a timeout:\n");
  ipc::Process slow{[] { std::this_thread::sleep_for(1s); }};
  slow.start();
  auto t0 = std::chrono::steady_clock::now();
  bool ended = slow.join(200ms);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  std::printf("main: join(200ms) returned %s after %lld ms; is_alive() = %s\n", ended ? "true" : "false",
              static_cast<long long>(ms), slow.is_alive() ? "true" : "false");
  slow.join();
  std::printf("main: after join() is_alive() = %s, exitcode = %d\n", slow.is_alive() ? "true" : "false",
              *slow.exitcode());
  return 0;
}
