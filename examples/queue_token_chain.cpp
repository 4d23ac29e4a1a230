// E13: 5 children pass one token through a Queue(20): each takes exactly one value and puts
// back its own index, so the values taken form a chain (0, then the indices of earlier takers)
// and one item is left at the end. Tutorial 002:329.
#include <ipc/process.hpp>
#include <ipc/queues.hpp>

#include <cstdio>
#include <vector>

int main() {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // one line at a time, also into a pipe
  ipc::Queue<int> q(20);
  q.put(0);
  std::vector<ipc::Process> children;
  for (int i = 0; i < 5; ++i) {
    children.emplace_back([&q, i] {
      int got = q.get();
      std::printf("process %d took %d from the queue, then put %d\n", i, got, i);
      q.put(i);
    });
  }
  for (auto& c : children) c.start();
  for (auto& c : children) c.join();
  std::size_t left = q.qsize();
  std::printf("left in the queue: %zu item, value %d\n", left, q.get());
  return 0;
}
