// A program that uses the installed ipckit::manager: a private Manager's dict counted from 4 processes.
#include <ipc/managers.hpp>
#include <ipc/process.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

int main() {
  using namespace std::chrono_literals;
  ipc::Manager m;
  auto d = m.dict<std::string, long>("counts");
  std::vector<ipc::Process> ps;
  for (int i = 0; i < 4; ++i) ps.emplace_back([d] { for (int k = 0; k < 25; ++k) d.incr("n", 1); });
  for (auto& p : ps) p.start();
  bool ok = true;
  for (auto& p : ps) ok = p.join(20s) && p.exitcode() == 0 && ok;
  long n = d.get("n").value_or(-1);
  std::printf("manager n %ld\n", n);
  return ok && n == 100 ? 0 : 1;
}
