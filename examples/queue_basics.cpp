// E11: the bounded Queue(3) API: full() after 3 puts, FIFO gets, empty(), a non-blocking get
// that raises at once, a get with a timeout that raises after it (the tutorial's 3 s is scaled
// down to 300 ms), and put_nowait on a full queue. Tutorial 001:679.
#include <ipc/errors.hpp>
#include <ipc/queues.hpp>

#include <chrono>
#include <cstdio>

int main() {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // one line at a time, also into a pipe
  using namespace std::chrono_literals;
  ipc::Queue<int> q(3);  // at most 3 items
  q.put(1);
  q.put(2);
  q.put(3);
  std::printf("full: %s\n", q.full() ? "true" : "false");
  std::printf("%d\n", q.get());
  std::printf("%d\n", q.get());
  std::printf("%d\n", q.get());
  std::printf("empty: %s\n", q.empty() ? "true" : "false");
  try {
    q.get_nowait();  // Python: q.get(block=False)
  } catch (const ipc::QueueEmpty& e) {
    std::printf("get_nowait raised QueueEmpty at once: %s\n", e.what());
  }
  auto t0 = std::chrono::steady_clock::now();
  try {
    q.get(300ms);  // Python: q.get(block=True, timeout=3)
  } catch (const ipc::QueueEmpty&) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    std::printf("get(300ms) raised QueueEmpty after %lld ms\n", static_cast<long long>(ms));
  }
  for (int i = 0; i < 3; ++i) q.put_nowait(i);
  try {
    q.put_nowait(4);
  } catch (const ipc::QueueFull& e) {
    std::printf("put_nowait on a full queue raised QueueFull: %s\n", e.what());
  }
  return 0;
}
