// Exit codes as Python reports them: 0, the target's return value, ipc::SystemExit's code,
// 1 for an uncaught exception (its message printed to stderr), -N when killed by signal N.
#include <ipc/process.hpp>

#include <signal.h>

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <thread>
#include <vector>

int main() {
  std::vector<ipc::Process> ps;
  ps.emplace_back([] {});
  ps.emplace_back([] { return 3; });
  ps.emplace_back([] { throw ipc::SystemExit{4}; });
  ps.emplace_back([] { throw std::runtime_error("something went wrong"); });
  ps.emplace_back([] { std::this_thread::sleep_for(std::chrono::seconds(10)); });
  ps.emplace_back([] { std::this_thread::sleep_for(std::chrono::seconds(10)); });
  const char* what[] = {"returns normally", "returns 3", "SystemExit{4}", "throws", "terminate()d", "kill()ed"};
  for (auto& p : ps) p.start();
  ps[4].terminate();
  ps[5].kill();
  for (std::size_t i = 0; i < ps.size(); ++i) {
    ps[i].join();
    std::printf("%-10s %-17s exitcode = %d\n", ps[i].name().c_str(), what[i], *ps[i].exitcode());
  }
  return 0;
}
