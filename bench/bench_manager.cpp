// Manager proxies: E16 (10 processes write a dict, each joined), d[k] = v + d[k] from 1 and 10
// processes, update/extend of 1,000 items — on the private server and on a redis-server started
// here (same proxies, Unix sockets both). bench/py/manager.py measures Python's Manager().dict().
#include <ipc/managers.hpp>
#include <ipc/process.hpp>

#include "bench_common.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
namespace bench = ipc::bench;

namespace {

// A server (redis-server, or the ipc-managerd binary) on a Unix socket in a temp dir, stopped
// on destruction.
struct ServerChild {
  std::string dir, sock;
  pid_t pid = -1;
  explicit ServerChild(const std::string& managerd = {}) {
    char tmpl[] = "/tmp/ipckit-bench-server-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    dir = tmpl;
    sock = dir + "/server.sock";
    pid = ::fork();
    if (pid == 0) {
      int null = ::open("/dev/null", O_RDWR);
      ::dup2(null, 1);
      ::dup2(null, 2);
      if (managerd.empty())
        ::execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", sock.c_str(), "--save", "",
                 "--appendonly", "no", "--dir", dir.c_str(), static_cast<char*>(nullptr));
      else
        ::execl(managerd.c_str(), managerd.c_str(), "--socket", sock.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    for (int i = 0; i < 2000 && !std::filesystem::exists(sock); ++i) std::this_thread::sleep_for(5ms);
    if (!std::filesystem::exists(sock)) throw std::runtime_error("server did not start: " + (managerd.empty() ? "redis-server" : managerd));
  }
  ~ServerChild() {
    ::kill(pid, SIGTERM);
    ::waitpid(pid, nullptr, 0);
    std::filesystem::remove_all(dir);
  }
};

// E16: 10 children, one after another, each writes d["num"] and is joined. Milliseconds.
double e16(const ipc::Manager& m) {
  auto d = m.dict<std::string, int>("e16");
  return bench::seconds([&] {
           for (int i = 0; i < 10; ++i) {
             ipc::Process p([d, i] { d["num"] = 100 + i; });
             p.start();
             p.join();
           }
         }) * 1e3;
}

// d[k] = v then d[k], `iters` times in each of `procs` processes at once: operations per second.
double set_get(const ipc::Manager& m, int procs, int iters) {
  auto d = m.dict<std::string, int>("setget");
  double s = bench::seconds([&] {
    std::vector<ipc::Process> ps;
    for (int p = 0; p < procs && procs > 1; ++p) {
      ps.emplace_back([d, p, iters] {
        std::string k("k");  // not "k" + to_string(p): gcc 12 -O2 warns (-Wrestrict) falsely
        k += std::to_string(p);
        for (int i = 0; i < iters; ++i) {
          d[k] = i;
          if (static_cast<int>(d[k]) != i) ::_exit(3);
        }
      });
    }
    if (procs == 1) {  // one client: the caller itself, as Python's peer does
      std::string k = "k0";
      for (int i = 0; i < iters; ++i) {
        d[k] = i;
        (void)static_cast<int>(d[k]);
      }
      return;
    }
    for (auto& p : ps) p.start();
    for (auto& p : ps) p.join();
  });
  return 2.0 * procs * iters / s;
}

// One update() of 1,000 pairs (one HSET): calls per second.
double update_1000(const ipc::Manager& m) {
  auto d = m.dict<std::string, int>("upd");
  std::map<std::string, int> src;
  for (int i = 0; i < 1000; ++i) src["key" + std::to_string(i)] = i;
  const int n = 100;
  return n / bench::seconds([&] {
           for (int i = 0; i < n; ++i) d.update(src);
         });
}

// One extend() of 1,000 items (one RPUSH), list cleared every 50 calls: calls per second.
double extend_1000(const ipc::Manager& m) {
  auto l = m.list<int>("ext");
  std::vector<int> src(1000);
  for (int i = 0; i < 1000; ++i) src[static_cast<std::size_t>(i)] = i;
  const int n = 100;
  l.clear();
  return n / bench::seconds([&] {
           for (int i = 0; i < n; ++i) {
             l.extend(src);
             if (i % 50 == 49) l.clear();
           }
         });
}

}  // namespace

int main(int, char** argv) {
  ipc::Manager priv;
  ServerChild redis;
  auto onredis = ipc::Manager::connect("unix:" + redis.sock);
  // The ipc-managerd binary of the same build, when there is one: the same engine as the private
  // server, started on its own (tells the engine's cost from the private server's).
  auto managerd_bin = (std::filesystem::path(argv[0]).parent_path().parent_path() / "daemon" / "ipc-managerd").string();
  std::optional<ServerChild> managerd;
  std::optional<ipc::Manager> onmanagerd;
  if (::access(managerd_bin.c_str(), X_OK) == 0) {
    managerd.emplace(managerd_bin);
    onmanagerd = ipc::Manager::connect("unix:" + managerd->sock);
  }
  const int runs = 5;
  struct Workload {
    std::string name, unit;
    bool higher;
    std::function<double(const ipc::Manager&)> fn;
  };
  std::vector<Workload> ws = {
      {"manager E16: 10 processes write a dict, each joined", "ms", false, e16},
      {"manager dict d[k]=v + d[k], 1 process", "ops/s", true, [](const ipc::Manager& m) { return set_get(m, 1, 3000); }},
      {"manager dict d[k]=v + d[k], 10 processes", "ops/s", true, [](const ipc::Manager& m) { return set_get(m, 10, 1500); }},
      {"manager dict update() of 1,000 items", "calls/s", true, update_1000},
      {"manager list extend() of 1,000 items", "calls/s", true, extend_1000},
  };
  for (auto& w : ws) {
    std::vector<std::function<double()>> fns = {[&] { return w.fn(priv); }, [&] { return w.fn(onredis); }};
    if (onmanagerd) fns.push_back([&] { return w.fn(*onmanagerd); });
    auto med = bench::interleaved_medians(runs, fns);
    bench::report(w.name, "ipckit", med[0], w.unit, w.higher);
    bench::report(w.name, "ipckit proxies on redis", med[1], w.unit, w.higher);
    if (onmanagerd) bench::report(w.name, "ipckit proxies on managerd", med[2], w.unit, w.higher);
  }
  return 0;
}
