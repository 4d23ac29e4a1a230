// E01: start children with a target and arguments; print PID, PPID and name.
// Tutorial 001:141/316, 002:103, 003:442. Each child's PPID is main's PID, names are
// Process-1..Process-5, pid() is readable right after start(), arguments arrive intact.
#include <ipc/process.hpp>

#include <unistd.h>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

static void task(const std::string& name, int age, const std::map<std::string, int>& extra) {
  std::printf("child %s: pid=%d ppid=%d name=%s args=(%s, %d, {mm: %d})\n", ipc::current_process().name().c_str(),
              ::getpid(), ::getppid(), ipc::current_process().name().c_str(), name.c_str(), age, extra.at("mm"));
}

int main() {
  std::printf("main: pid=%d name=%s\n", ::getpid(), ipc::current_process().name().c_str());
  std::vector<ipc::Process> children;
  for (int i = 0; i < 5; ++i) children.emplace_back(task, "xiaohong", 18, std::map<std::string, int>{{"mm", 10}});
  for (auto& p : children) {
    p.start();
    std::printf("main: started %s, pid=%d\n", p.name().c_str(), p.pid());  // readable at once
  }
  // Without join() first, this line usually prints before the children's lines.
  std::printf("main: all started\n");
  for (auto& p : children) p.join();
  for (auto& p : children) std::printf("main: %s exited with %d\n", p.name().c_str(), *p.exitcode());
  return 0;
}
