// A Barrier(3) met by five workers (tutorial 000:706).
// The first three workers to arrive pass together ("3 workers reached the barrier", three times).
// The last two would wait forever in Python; this port gives wait() a 0.5 s timeout, so they get
// BrokenBarrierError. Then, after reset(), main joins as a sixth party so that two full groups of
// three pass and nobody is left waiting.
#include <ipc/errors.hpp>
#include <ipc/process.hpp>
#include <ipc/sharedctypes.hpp>
#include <ipc/synchronize.hpp>

#include <chrono>
#include <cstdio>
#include <vector>

using namespace std::chrono_literals;

int main() {
  ipc::Barrier bar(3);
  ipc::Value<int> active(0), passed(0), broken(0);
  auto worker = [&] {
    int n;
    {
      auto a = active.locked();
      n = ++*a;
    }
    std::printf("%s: active workers %d\n", ipc::current_process().name().c_str(), n);
    std::fflush(stdout);
    try {
      bar.wait(500ms);
      std::printf("%s: 3 workers reached the barrier\n", ipc::current_process().name().c_str());
      *passed.locked() += 1;
    } catch (const ipc::BrokenBarrierError& e) {
      std::printf("%s: %s\n", ipc::current_process().name().c_str(), e.what());
      *broken.locked() += 1;
    }
  };

  std::printf("-- five workers, Barrier(3), wait timeout 0.5 s\n");
  {
    std::vector<ipc::Process> ps;
    for (int i = 0; i < 5; ++i) ps.emplace_back(worker);
    for (auto& p : ps) p.start();
    for (auto& p : ps) p.join();
  }
  std::printf("=> %d passed, %d got BrokenBarrierError\n", passed.value(), broken.value());
  bool first_ok = passed.value() == 3 && broken.value() == 2;

  std::printf("-- reset, five workers plus main as the sixth party\n");
  bar.reset();
  active.value(0);
  passed.value(0);
  broken.value(0);
  {
    std::vector<ipc::Process> ps;
    for (int i = 0; i < 5; ++i) ps.emplace_back(worker);
    for (auto& p : ps) p.start();
    bar.wait(5s);
    *passed.locked() += 1;
    for (auto& p : ps) p.join();
  }
  std::printf("=> %d of 6 passed, %d got BrokenBarrierError\n", passed.value(), broken.value());
  return first_ok && passed.value() == 6 ? 0 : 1;
}
