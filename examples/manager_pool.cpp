// Manager proxies as Pool task arguments and results (Python's `pool.map(f, [(d, i) ...])`
// with a `Manager().dict()`): each worker process deserialises the proxy and opens its own
// connection to the manager's server on its first call.
//
// Python:                                         C++ (ipckit):
//   def f(d, i): d[i] = i * i                       int f(const std::pair<DictProxy<int, int>, int>& a)
//   with Manager() as m, Pool(4) as pool:           ipc::Manager m; ipc::Pool pool(4);
//     d = m.dict()                                  auto d = m.dict<int, int>("squares");
//     pool.starmap(f, [(d, i) for i in range(10)])  pool.map(f, items);   // items: {(d, 0), (d, 1), ...}
//     print(sorted(d.items()))
#include <ipc/managers.hpp>
#include <ipc/pool.hpp>

#include <unistd.h>

#include <cstdio>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace {

// A task: the proxy arrives serialised (address, password, name) and connects on first use.
int square_into(const std::pair<ipc::DictProxy<int, int>, int>& a) {
  const auto& [d, i] = a;
  d[i] = i * i;
  return static_cast<int>(::getpid());
}

// A task that makes a proxy from a handle and returns it: the parent uses it afterwards.
ipc::ListProxy<std::string> make_log(ipc::ManagerHandle h, int worker_tag) {
  auto l = h.list<std::string>("log");
  l.append("hello from task " + std::to_string(worker_tag));
  return l;
}

// A read-modify-write that only the lock makes safe.
int add_under_lock(ipc::LockProxy lock, ipc::ValueProxy<long> total, int times) {
  for (int k = 0; k < times; ++k) {
    std::lock_guard g(lock);
    total.value(total.value() + 1);
  }
  return times;
}

}  // namespace

int main(int argc, char** argv) {
  // A private server by default (Python's Manager()); or any address: unix:/path, redis://host:port.
  ipc::Manager m = argc > 1 ? ipc::Manager::connect(argv[1]) : ipc::Manager();
  auto d = m.dict<int, int>("squares");
  d.clear();
  ipc::Pool pool(4);

  std::vector<std::pair<ipc::DictProxy<int, int>, int>> items;
  for (int i = 0; i < 10; ++i) items.emplace_back(d, i);
  auto pids = pool.map(square_into, items);
  std::string shown;
  for (const auto& [k, v] : d.to_map()) {
    if (!shown.empty()) shown += ", ";
    shown.append("(").append(std::to_string(k)).append(", ").append(std::to_string(v)).append(")");
  }
  std::printf("squares: [%s]\n", shown.c_str());
  std::printf("written by %zu worker process(es), none of them this one: %s\n", std::set<int>(pids.begin(), pids.end()).size(),
              std::set<int>(pids.begin(), pids.end()).count(static_cast<int>(::getpid())) ? "no" : "yes");

  m.list<std::string>("log").clear();
  auto log = pool.apply(make_log, m.handle(), 7);  // a proxy as a task's result
  log.append("hello from the parent");
  std::printf("log via the returned proxy: %s | %s\n", log.at(0).c_str(), log.at(1).c_str());

  auto total = m.Value("total", 0L);
  total.value(0);
  std::vector<ipc::AsyncResult<int>> rs;
  for (int t = 0; t < 8; ++t) rs.push_back(pool.apply_async(add_under_lock, m.Lock("total-lock"), total, 25));
  for (auto& r : rs) r.get();
  std::printf("total under the lock: %ld (expected 200)\n", total.value());
  return d.size() == 10 && total.value() == 200 ? 0 : 1;
}
