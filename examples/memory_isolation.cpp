// E09: a child's writes to globals are not visible to other processes
// (tutorial 001:189, 002:215, 003:475). The parent still prints 100 after the child set 0;
// a global list stays empty in the parent while child i sees only [i]; p2 prints 100, not the
// 200 that p1 set.
#include <ipc/process.hpp>

#include <cstdio>
#include <string>
#include <vector>

static int g_n = 100;
static std::vector<int> g_list;

static std::string show(const std::vector<int>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

int main() {
  ipc::Process zero{[] {
    g_n = 0;
    std::printf("child: n = %d\n", g_n);
  }};
  zero.start();
  zero.join();
  std::printf("parent: n = %d (unchanged)\n", g_n);

  std::vector<ipc::Process> ps;
  for (int i = 0; i < 3; ++i)
    ps.emplace_back([](int i) {
      g_list.push_back(i);
      std::printf("child %d: list = %s\n", i, show(g_list).c_str());
    }, i);
  for (auto& p : ps) p.start();
  for (auto& p : ps) p.join();
  std::printf("parent: list = %s\n", show(g_list).c_str());

  ipc::Process p1{[] {
    g_n = 200;
    std::printf("p1: set n = %d\n", g_n);
  }};
  ipc::Process p2{[] { std::printf("p2: n = %d\n", g_n); }};
  p1.start();
  p1.join();
  p2.start();
  p2.join();
  return g_n == 100 && g_list.empty() ? 0 : 1;
}
