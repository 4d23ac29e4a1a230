// E15 (tutorial 002:262): five children modify a shared int Array.
// Each child adds 100 to temp[0] under the array's own lock and prints the new value, so the
// children print 101, 201, 301, 401, 501 (one each, in any process order) and main then reads 501:
// no +100 is lost because each read-modify-write holds the lock.
#include <ipc/process.hpp>
#include <ipc/sharedctypes.hpp>

#include <cstdio>
#include <vector>

int main() {
  ipc::Array<int> temp{1, 2, 3, 4};
  std::vector<ipc::Process> children;
  for (int i = 0; i < 5; ++i)
    children.emplace_back([&temp] {
      auto arr = temp.locked();  // the array's lock, held until the end of this scope
      arr[0] += 100;
      std::printf("here is %s, first element after the change: %d\n", ipc::current_process().name().c_str(), arr[0]);
    });
  for (auto& p : children) p.start();
  for (auto& p : children) p.join();
  auto all = temp.to_vector();
  std::printf("main: temp = [%d, %d, %d, %d]\n", all[0], all[1], all[2], all[3]);
  return all[0] == 501 ? 0 : 1;
}
