// A counter done right. Ten processes add 1 a hundred times each to a manager value. Read then
// write (v.value(v.value() + 1), what the tutorials' `counter.value += 1` does through a proxy)
// loses updates whenever two processes interleave; incr() (INCRBY, one atomic step on the
// server) and update_with() (read-modify-write retried under WATCH/MULTI) reach exactly 1000.
#include <ipc/managers.hpp>
#include <ipc/process.hpp>

#include <cstdio>
#include <vector>

template <class F>
static void in_processes(int n, F f) {
  std::vector<ipc::Process> ps;
  for (int i = 0; i < n; ++i) ps.emplace_back(f);
  for (auto& p : ps) p.start();
  for (auto& p : ps) p.join();
}

int main(int argc, char** argv) {
  ipc::Manager m = argc > 1 ? ipc::Manager::connect(argv[1]) : ipc::Manager();
  auto racy = m.Value("racy", 0);
  racy.value(0);
  in_processes(10, [racy] {
    for (int k = 0; k < 100; ++k) racy.value(racy.value() + 1);  // two round trips: not atomic
  });
  std::printf("read then write: %d (expected 1000)%s\n", racy.value(),
              racy.value() == 1000 ? " - no overlap this time" : " - updates were lost");

  auto counter = m.Value("counter", 0);
  counter.value(0);
  in_processes(10, [counter] {
    for (int k = 0; k < 100; ++k) counter.incr();  // INCRBY: atomic on the server
  });
  std::printf("with incr: %d (expected 1000)\n", counter.value());

  auto d = m.dict<std::string, int>("stats");
  d.clear();
  in_processes(10, [d] {
    for (int k = 0; k < 100; ++k) d.update_with("hits", [](std::optional<int> v) { return v.value_or(0) + 1; });
  });
  std::printf("with update_with: %d (expected 1000)\n", d.at("hits"));
  return counter.value() == 1000 && d.at("hits") == 1000 ? 0 : 1;
}
