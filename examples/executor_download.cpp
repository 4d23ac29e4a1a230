// E22: ProcessPoolExecutor(max_workers=4).submit; leaving the executor's scope waits
// (tutorial 000:211). The 3 downloads (0.3-0.6 s here, 3-6 s in the tutorial) start together;
// the scope ends only when all have finished; the total is about the longest, not the sum.
#include <ipc/executor.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

using Clock = std::chrono::steady_clock;

namespace {

std::string download(std::string url, int tenths) {
  std::printf("  pid %d: downloading %s (%d.%d s)\n", ::getpid(), url.c_str(), tenths / 10, tenths % 10);
  std::fflush(stdout);
  std::this_thread::sleep_for(std::chrono::milliseconds(100 * tenths));
  std::printf("  pid %d: finished %s\n", ::getpid(), url.c_str());
  std::fflush(stdout);
  return url + ": " + std::to_string(tenths * 100) + " KB";
}

}  // namespace

int main() {
  const std::vector<std::pair<std::string, int>> jobs{{"a.example/1", 3}, {"b.example/2", 6}, {"c.example/3", 4}};
  auto t0 = Clock::now();
  std::vector<ipc::Future<std::string>> futures;
  {
    ipc::ProcessPoolExecutor executor(4);  // Python: with ProcessPoolExecutor(max_workers=4) as executor:
    for (auto& [url, t] : jobs) futures.push_back(executor.submit(download, url, t));
    std::printf("main: all submitted, leaving the executor's scope\n");
    std::fflush(stdout);
  }  // the destructor is shutdown(wait=true): it returns when every download is done
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  int done = 0;
  for (auto& f : futures) done += f.done();
  std::printf("main: scope left after %d of 3 downloads finished, %.2f s (longest 0.6 s, sum 1.3 s)\n", done, secs);
  for (auto& f : futures) std::printf("  %s\n", f.result().c_str());
  return 0;
}
