// A program that uses ipckit as an installed package would: a Queue between two processes.
#include <ipc/process.hpp>
#include <ipc/queues.hpp>

#include <chrono>
#include <cstdio>

int main() {
  using namespace std::chrono_literals;
  ipc::Queue<int> q(8);
  ipc::Process producer{[&q] {
    for (int i = 1; i <= 100; ++i) q.put(i, 10s);
  }};
  producer.start();
  long sum = 0;
  for (int i = 0; i < 100; ++i) sum += q.get(10s);
  producer.join(10s);
  std::printf("sum %ld exitcode %d\n", sum, producer.exitcode().value_or(-1000));
  return sum == 5050 && producer.exitcode() == 0 ? 0 : 1;
}
