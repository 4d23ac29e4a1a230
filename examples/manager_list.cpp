// A shared list: five workers append the squares of their numbers to one manager list (each
// extend is one round trip), then the parent sorts what came back, edits it in place and pops.
#include <ipc/managers.hpp>
#include <ipc/process.hpp>

#include <algorithm>
#include <cstdio>
#include <vector>

int main(int argc, char** argv) {
  ipc::Manager m = argc > 1 ? ipc::Manager::connect(argv[1]) : ipc::Manager();
  auto squares = m.list<int>("squares");
  squares.clear();
  std::vector<ipc::Process> workers;
  for (int w = 0; w < 5; ++w) {
    workers.emplace_back([squares, w] {
      std::vector<int> mine;
      for (int x = w * 4; x < w * 4 + 4; ++x) mine.push_back(x * x);
      squares.extend(mine);  // one RPUSH: the worker's four squares stay together
    });
    workers.back().start();
  }
  for (auto& p : workers) p.join();
  auto all = squares.to_vector();
  std::sort(all.begin(), all.end());
  std::printf("%zu squares, sorted:", all.size());
  for (int x : all) std::printf(" %d", x);
  std::printf("\n");
  squares[0] = -1;  // LSET
  squares.insert(1, 1000);
  std::printf("after squares[0] = -1 and insert(1, 1000): first three = %d %d %d\n", squares.at(0), squares.at(1),
              squares.at(2));
  int last = squares.pop();
  std::printf("pop() -> %d, %zu left\n", last, squares.size());
  return all.size() == 20 ? 0 : 1;
}
