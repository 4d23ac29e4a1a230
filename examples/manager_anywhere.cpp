// One program, any server: the same proxies on the private server (no argument), on a running
// ipc-managerd ("unix:/run/user/1000/ipckit/managerd.sock"), on Redis ("redis://127.0.0.1:6379")
// or on a Redis Cluster ("redis+cluster://127.0.0.1:7000,127.0.0.1:7001"). Only the address
// changes. A producer fills a joinable queue; three workers take jobs, record results in a
// dict and count them; a lock guards a shared log line by line.
#include <ipc/managers.hpp>
#include <ipc/process.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

using namespace std::chrono_literals;

int main(int argc, char** argv) {
  ipc::Manager m = argc > 1 ? ipc::Manager::connect(argv[1]) : ipc::Manager();
  std::printf("server: %s\n", argc > 1 ? argv[1] : "private (ipc::Manager m;)");
  auto jobs = m.JoinableQueue<int>("anywhere:jobs");
  auto results = m.dict<int, long>("anywhere:results");
  auto done = m.Value("anywhere:done", 0);
  auto log = m.list<std::string>("anywhere:log");
  results.clear();
  log.clear();
  done.value(0);

  std::vector<ipc::Process> workers;
  for (int w = 0; w < 3; ++w) {
    workers.emplace_back([=] {
      auto lock = m.Lock("anywhere:log-lock");
      while (auto job = jobs.try_get(500ms)) {
        results[*job] = static_cast<long>(*job) * *job;
        done.incr();
        {
          std::lock_guard g(lock);
          log.append("worker " + std::to_string(w) + " did job " + std::to_string(*job));
        }
        jobs.task_done();
      }
    });
    workers.back().start();
  }
  for (int j = 1; j <= 12; ++j) jobs.put(j);
  bool joined = jobs.join(30s);
  for (auto& p : workers) p.join();
  long sum = 0;
  for (const auto& [job, square] : results) sum += square;
  std::printf("queue joined: %s; %d jobs done; %zu log lines; sum of squares 1..12 = %ld (expected 650)\n",
              joined ? "yes" : "no", done.value(), log.size(), sum);
  return joined && sum == 650 ? 0 : 1;
}
