// E18 (tutorial 001:539, 001:571): buyers grab tickets from a JSON file used as the database.
// db.json holds 1 ticket. Without a lock several buyers read count 1 before anyone writes 0, so
// several print 购票成功 (purchase succeeded): the ticket is oversold although the file ends at 0.
// With a Lock around the read-check-write, exactly one buyer succeeds and the others print 没票了
// (sold out). The tutorial sleeps 0.1 s and 0.2 s inside get(); this port sleeps 50 ms and 100 ms.
#include <ipc/process.hpp>
#include <ipc/sharedctypes.hpp>
#include <ipc/synchronize.hpp>

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using nlohmann::json;

namespace {

std::filesystem::path g_db;  // set once in main before any fork; read-only afterwards

/// Reads db.json. Without the lock a buyer may read while another rewrites the file (truncated
/// or half-written), as in the tutorial: retry a few times then.
json load() {
  for (int attempt = 0;; ++attempt) {
    std::ifstream f(g_db);
    json j = json::parse(f, nullptr, false);
    if (!j.is_discarded() || attempt == 100) return j.is_discarded() ? json{{"count", 0}} : j;
    std::this_thread::sleep_for(1ms);
  }
}

void search() { std::printf("%d: tickets left %d\n", ::getpid(), load()["count"].get<int>()); }

void get(ipc::Value<int>& sold) {
  json dic = load();
  std::this_thread::sleep_for(50ms);
  if (dic["count"].get<int>() > 0) {
    dic["count"] = dic["count"].get<int>() - 1;
    std::this_thread::sleep_for(100ms);
    std::ofstream(g_db) << dic.dump();
    *sold.locked() += 1;
    std::printf("%d: 购票成功 (purchase succeeded)\n", ::getpid());
  } else {
    std::printf("%d: 没票了 (sold out)\n", ::getpid());
  }
}

int round(bool with_lock, int buyers) {
  std::ofstream(g_db) << json{{"count", 1}}.dump();
  ipc::Lock lock;
  ipc::Value<int> sold(0);
  std::vector<ipc::Process> ps;
  for (int i = 0; i < buyers; ++i)
    ps.emplace_back([&] {
      search();
      if (with_lock) {
        std::scoped_lock g(lock);
        get(sold);
      } else {
        get(sold);
      }
    });
  for (auto& p : ps) p.start();
  for (auto& p : ps) p.join();
  std::printf("=> %d buyers were told they bought the 1 ticket; db.json now says count = %d\n", sold.value(),
              load()["count"].get<int>());
  return sold.value();
}

}  // namespace

int main() {
  char tmpl[] = "/tmp/ipckit-tickets-XXXXXX";
  if (!::mkdtemp(tmpl)) return 1;
  g_db = std::filesystem::path(tmpl) / "db.json";
  std::printf("-- without a lock, 10 buyers\n");
  int oversold = round(false, 10);
  std::printf("-- with a Lock, 5 buyers\n");
  int sold = round(true, 5);
  std::filesystem::remove_all(tmpl);
  std::printf("without lock: %s; with lock: %s\n", oversold > 1 ? "oversold" : "not oversold this time",
              sold == 1 ? "exactly one ticket sold" : "WRONG");
  return sold == 1 ? 0 : 1;
}
