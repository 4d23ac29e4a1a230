// E14: JoinableQueue with daemonic consumers. Each producer's join() returns only after every
// item has been task_done()'d; main prints its line after all 9 items are taken; the daemonic
// consumers, blocked in get(), end with main and nothing hangs. Tutorial 001:788; the 1-3 s
// sleeps are scaled down to 10-30 ms.
#include <ipc/process.hpp>
#include <ipc/queues.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

void nap() {
  static thread_local std::mt19937 rng(static_cast<unsigned>(::getpid()));
  std::this_thread::sleep_for(std::chrono::milliseconds(10 * (1 + rng() % 3)));
}

void producer(ipc::JoinableQueue<std::string>& q, const std::string& name, const std::string& courier) {
  for (int i = 0; i < 3; ++i) {
    std::string parcel = courier + " " + std::to_string(i);
    nap();
    q.put(parcel);
    std::printf("%s delivered %s\n", name.c_str(), parcel.c_str());
  }
  q.join();  // returns once every parcel put (by anyone) was task_done()
  std::printf("%s: all parcels handled\n", name.c_str());
}

void consumer(ipc::JoinableQueue<std::string>& q, const std::string& name) {
  for (;;) {
    std::string parcel = q.get();
    nap();
    std::printf("%s took %s\n", name.c_str(), parcel.c_str());
    q.task_done();
  }
}

}  // namespace

int main() {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // one line at a time, also into a pipe
  ipc::JoinableQueue<std::string> q;
  std::vector<ipc::Process> procs;
  procs.emplace_back(producer, std::ref(q), "courier1", "sf");
  procs.emplace_back(producer, std::ref(q), "courier2", "yz");
  procs.emplace_back(producer, std::ref(q), "courier3", "jd");
  procs.emplace_back(consumer, std::ref(q), "taker1");
  procs.emplace_back(consumer, std::ref(q), "taker2");
  procs[3].daemon(true);  // ended with main
  procs[4].daemon(true);
  for (auto& p : procs) p.start();
  for (int i = 0; i < 3; ++i) procs[static_cast<std::size_t>(i)].join();  // the queue was emptied and handled
  std::printf("%d is running: unfinished items %llu\n", ::getpid(), static_cast<unsigned long long>(q.unfinished()));
  return 0;  // the daemonic consumers are terminated at exit
}
