// E12: producers put and consumers get. Three couriers (sf, yz, jd) deliver 3 parcels each; two
// consumers take them and stop on a sentinel. Unlike the tutorial, which sends 2 sentinels per
// producer (so a consumer can quit while others still produce), the port sends one sentinel per
// consumer after joining the producers. Then the 003 variant: one task puts A, B, C and the
// other takes until the queue stays empty. Tutorial 001:727 and 003:526; the 1-3 s sleeps are
// scaled down to 10-30 ms.
#include <ipc/errors.hpp>
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

void producer(ipc::Queue<std::string>& q, const std::string& name, const std::string& courier) {
  for (int i = 0; i < 3; ++i) {
    std::string parcel = courier + " " + std::to_string(i);
    nap();
    q.put(parcel);
    std::printf("%s delivered %s\n", name.c_str(), parcel.c_str());
  }
}

void consumer(ipc::Queue<std::string>& q, const std::string& name) {
  for (;;) {
    std::string parcel = q.get();
    if (parcel.empty()) break;  // the sentinel
    nap();
    std::printf("%s took %s\n", name.c_str(), parcel.c_str());
  }
}

void task1(ipc::Queue<std::string>& q) {
  for (const char* s : {"A", "B", "C"}) q.put(s);
}

void task2(ipc::Queue<std::string>& q) {
  using namespace std::chrono_literals;
  try {
    for (;;) std::printf("taken: %s\n", q.get(500ms).c_str());  // 003 polls empty() every 0.5 s
  } catch (const ipc::QueueEmpty&) {
  }
}

}  // namespace

int main() {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // one line at a time, also into a pipe
  ipc::Queue<std::string> q;
  std::vector<ipc::Process> producers, consumers;
  producers.emplace_back(producer, std::ref(q), "courier1", "sf");
  producers.emplace_back(producer, std::ref(q), "courier2", "yz");
  producers.emplace_back(producer, std::ref(q), "courier3", "jd");
  consumers.emplace_back(consumer, std::ref(q), "taker1");
  consumers.emplace_back(consumer, std::ref(q), "taker2");
  for (auto& p : producers) p.start();
  for (auto& c : consumers) c.start();
  std::printf("%d is running\n", ::getpid());
  for (auto& p : producers) p.join();
  for (std::size_t i = 0; i < consumers.size(); ++i) q.put("");  // one sentinel per consumer
  for (auto& c : consumers) c.join();
  std::printf("all 9 parcels taken\n");

  ipc::Queue<std::string> abc;
  ipc::Process p1(task1, std::ref(abc));
  ipc::Process p2(task2, std::ref(abc));
  p1.start();
  p2.start();
  p1.join();
  p2.join();
  return 0;
}
