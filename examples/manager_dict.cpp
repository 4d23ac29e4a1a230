// E16: sharing data with a Manager (tutorial 002:297). Ten children write one key of a manager
// dict, one after another (each is joined before the next starts); every child prints the dict
// as it left it, and the parent sees the last write: num = 109.
//
// Python:                                   C++ (ipckit):
//   with Manager() as m:                      ipc::Manager m;
//     d = m.dict()                            auto d = m.dict<std::string, int>("d");
//     p = Process(target=f, args=(d, i))      ipc::Process p([d, i] { d["num"] = 100 + i; ... });
#include <ipc/managers.hpp>
#include <ipc/process.hpp>

#include <cstdio>
#include <string>

int main(int argc, char** argv) {
  // A private server by default (Python's Manager()); or any address: unix:/path, redis://host:port.
  ipc::Manager m = argc > 1 ? ipc::Manager::connect(argv[1]) : ipc::Manager();
  auto d = m.dict<std::string, int>("E16");
  d.clear();
  for (int i = 0; i < 10; ++i) {
    ipc::Process p([d, i] {
      d["num"] = 100 + i;  // the child's own connection: opened on first use after fork
      std::string items;
      for (const auto& [k, v] : d) items += (items.empty() ? "" : ", ") + ("('" + k + "', " + std::to_string(v) + ")");
      std::printf("child %d: [%s]\n", i, items.c_str());
    });
    p.start();
    p.join();
  }
  std::printf("parent: num = %d\n", d.at("num"));
  return d.at("num") == 109 ? 0 : 1;
}
