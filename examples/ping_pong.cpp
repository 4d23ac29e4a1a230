// E10: Ping/Pong counter to 50, first in a plain global (each child has its own copy: 50 + 50
// lines), then passed through an ipc::Queue (Ping and Pong together print exactly 50).
// Tutorial 000:242, 000:266. Main waits for the first child to exit on the process sentinels
// (ipc::wait, no busy loop), then puts 50 so that the other one stops too. The tutorial's
// 10 ms sleep is scaled down to 1 ms.
#include <ipc/process.hpp>
#include <ipc/queues.hpp>

#include <chrono>
#include <cstdio>
#include <thread>

namespace {

int counter = 0;  // a plain global: every forked child works on its own copy

int sub_task_global(const char* word) {
  int printed = 0;
  while (counter < 50) {
    std::printf("%s", word);
    std::fflush(stdout);
    ++counter;
    ++printed;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return printed;  // the exit code tells main how many times this child printed
}

int sub_task_queue(const char* word, ipc::Queue<int>& queue) {
  int printed = 0;
  int value = queue.get();
  while (value < 50) {
    std::printf("%s", word);
    std::fflush(stdout);
    ++printed;
    queue.put(value + 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    value = queue.get();
  }
  return printed;
}

}  // namespace

int main() {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // one line at a time, also into a pipe
  {
    ipc::Process p1(sub_task_global, "Ping");
    ipc::Process p2(sub_task_global, "Pong");
    p1.start();
    p2.start();
    p1.join();
    p2.join();
    std::printf("\nwith a global: Ping printed %d times, Pong %d times, %d in total\n", *p1.exitcode(),
                *p2.exitcode(), *p1.exitcode() + *p2.exitcode());
  }
  {
    ipc::Queue<int> queue;
    queue.put(0);
    ipc::Process p1(sub_task_queue, "Ping", std::ref(queue));
    ipc::Process p2(sub_task_queue, "Pong", std::ref(queue));
    p1.start();
    p2.start();
    ipc::wait({p1.sentinel(), p2.sentinel()});  // sleeps until one of them exits
    queue.put(50);                              // the other one is waiting in get(): let it stop
    p1.join();
    p2.join();
    std::printf("\nwith a Queue: Ping printed %d times, Pong %d times, %d in total\n", *p1.exitcode(),
                *p2.exitcode(), *p1.exitcode() + *p2.exitcode());
  }
  return 0;
}
