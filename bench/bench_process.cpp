// Process start+join latency: ipc::Process vs raw fork+waitpid (Python's figures come from
// bench/py/process.py in the same run).
#include <ipc/process.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include "bench_common.hpp"

namespace {

constexpr int kIters = 300;

double ipckit_us() {
  double s = ipc::bench::seconds([] {
    for (int i = 0; i < kIters; ++i) {
      ipc::Process p{[] {}};
      p.start();
      p.join();
    }
  });
  return s / kIters * 1e6;
}

double raw_us() {
  double s = ipc::bench::seconds([] {
    for (int i = 0; i < kIters; ++i) {
      pid_t pid = ::fork();
      if (pid == 0) ::_exit(0);
      ::waitpid(pid, nullptr, 0);
    }
  });
  return s / kIters * 1e6;
}

}  // namespace

int main() {
  const char* wl = "process start + join";
  ipc::bench::report(wl, "ipckit", ipc::bench::median_of(5, ipckit_us), "us", false);
  ipc::bench::report(wl, "raw fork+waitpid", ipc::bench::median_of(5, raw_us), "us", false);
  ipc::bench::pin_to_cpu(0);
  const char* wlp = "process start + join (pinned)";
  ipc::bench::report(wlp, "ipckit", ipc::bench::median_of(5, ipckit_us), "us", false);
  ipc::bench::report(wlp, "raw fork+waitpid", ipc::bench::median_of(5, raw_us), "us", false);
  return 0;
}
