// Queue throughput: ipc::Queue vs Boost.Interprocess message_queue vs a bare shared-memory
// SPSC ring (the limit), 1 -> 1 with 8-byte and 1 KiB items, 4 -> 4, and JoinableQueue tasks/s.
// Python's multiprocessing figures come from bench/py/queue.py.
#include <boost/interprocess/ipc/message_queue.hpp>

#include <ipc/process.hpp>
#include <ipc/queues.hpp>
#include <ipc/shared_memory.hpp>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <functional>
#include <new>
#include <string>
#include <vector>

#include "bench_common.hpp"

namespace bi = boost::interprocess;
using ipc::bench::median_of;
using ipc::bench::report;

namespace {

constexpr int kRuns = 5;
constexpr std::uint64_t kSentinel = ~std::uint64_t{0};

/// An item of N bytes whose first 8 carry a number.
template <std::size_t N>
struct Item {
  std::uint64_t seq;
  std::array<char, N - 8> pad;
};

template <class T>
T make_item(std::uint64_t v) {
  if constexpr (std::is_same_v<T, std::uint64_t>) {
    return v;
  } else {
    T t{};
    t.seq = v;
    return t;
  }
}

template <class T>
std::uint64_t seq_of(const T& t) {
  if constexpr (std::is_same_v<T, std::uint64_t>) return t;
  else return t.seq;
}

/// A start flag in shared memory: children spin on it so the clock starts when all are ready.
struct Gate {
  std::atomic<int> ready{0};
  std::atomic<int> go{0};
  std::atomic<std::uint64_t> checksum{0};
};

Gate* make_gate(ipc::SharedMemory& shm) {
  shm = ipc::SharedMemory::anonymous(sizeof(Gate));
  return new (shm.data()) Gate;
}

void wait_go(Gate* g) {
  g->ready.fetch_add(1);
  while (!g->go.load(std::memory_order_acquire)) ::sched_yield();
}

/// Runs `producers` producer and `consumers` consumer children; producer p calls produce(p),
/// consumer c calls consume(c); after the producers end, `finish()` runs in the parent (it puts
/// the sentinels). Returns items per second for `total` items.
template <class P, class C, class F>
double run_mpmc(int producers, int consumers, std::uint64_t total, P produce, C consume, F finish) {
  ipc::SharedMemory shm;
  Gate* g = make_gate(shm);
  std::vector<ipc::Process> prods, conss;
  for (int c = 0; c < consumers; ++c) conss.emplace_back([&, c] {
    wait_go(g);
    consume(c, g);
  });
  for (int p = 0; p < producers; ++p) prods.emplace_back([&, p] {
    wait_go(g);
    produce(p);
  });
  for (auto& p : conss) p.start();
  for (auto& p : prods) p.start();
  while (g->ready.load() != producers + consumers) ::sched_yield();
  double secs = ipc::bench::seconds([&] {
    g->go.store(1, std::memory_order_release);
    for (auto& p : prods) p.join();
    finish();
    for (auto& p : conss) p.join();
  });
  return static_cast<double>(total) / secs;
}

// ---- ipc::Queue ----

template <class T>
double ipckit_mpmc(int np, int nc, std::uint64_t per_producer, std::size_t batch) {
  ipc::Queue<T> q(0, std::size_t{1} << 22);
  return run_mpmc(
      np, nc, per_producer * static_cast<std::uint64_t>(np),
      [&](int) {
        if (batch <= 1) {
          for (std::uint64_t i = 0; i < per_producer; ++i) q.put(make_item<T>(i));
        } else {
          std::vector<T> b(batch);
          for (std::uint64_t i = 0; i < per_producer; i += batch) {
            std::size_t m = std::min<std::uint64_t>(batch, per_producer - i);
            for (std::size_t k = 0; k < m; ++k) b[k] = make_item<T>(i + k);
            q.put_many(std::span<const T>(b.data(), m));
          }
        }
      },
      [&](int, Gate* g) {
        std::uint64_t sum = 0;
        try {
          for (;;) {
            if (batch <= 1) {
              sum += seq_of(q.get());
            } else {
              for (auto& x : q.get_many(batch)) sum += seq_of(x);
            }
          }
        } catch (const ipc::QueueClosed&) {  // closed once the producers are done, and drained
        }
        g->checksum.fetch_add(sum);
      },
      [&] { q.close(); });
}

// ---- Boost.Interprocess message_queue ----

template <class T>
double boost_mpmc(int np, int nc, std::uint64_t per_producer) {
  std::string name = "ipckit-bench-mq-" + std::to_string(::getpid());
  bi::message_queue::remove(name.c_str());
  bi::message_queue mq(bi::create_only, name.c_str(), 4096, sizeof(T));
  double v = run_mpmc(
      np, nc, per_producer * static_cast<std::uint64_t>(np),
      [&](int) {
        for (std::uint64_t i = 0; i < per_producer; ++i) {
          T x = make_item<T>(i);
          mq.send(&x, sizeof x, 0);
        }
      },
      [&](int, Gate* g) {
        std::uint64_t sum = 0;
        T x;
        for (;;) {
          bi::message_queue::size_type got;
          unsigned prio;
          mq.receive(&x, sizeof x, got, prio);
          if (seq_of(x) == kSentinel) break;
          sum += seq_of(x);
        }
        g->checksum.fetch_add(sum);
      },
      [&] {
        for (int c = 0; c < nc; ++c) {
          T s = make_item<T>(kSentinel);
          mq.send(&s, sizeof s, 0);
        }
      });
  bi::message_queue::remove(name.c_str());
  return v;
}

// ---- A bare SPSC ring: the limit ----

/// Spins, yielding the CPU now and then so that a peer waiting for it on a busy machine runs.
inline void spin_wait(int& spins) {
  if (++spins % 1024 == 0) ::sched_yield();
  else __builtin_ia32_pause();
}

/// Single-producer single-consumer ring of fixed slots, cached indices, no syscall but a yield
/// when it has spun long: the fastest a shared-memory queue can be.
template <class T, std::size_t N>
struct SpscRing {
  alignas(64) std::atomic<std::uint64_t> head{0};
  alignas(64) std::uint64_t tail_cache = 0;
  alignas(64) std::atomic<std::uint64_t> tail{0};
  alignas(64) std::uint64_t head_cache = 0;
  alignas(64) T slots[N];

  void push(const T& x) {
    auto t = tail.load(std::memory_order_relaxed);
    int spins = 0;
    while (t - head_cache >= N) {
      head_cache = head.load(std::memory_order_acquire);
      if (t - head_cache >= N) spin_wait(spins);
    }
    slots[t % N] = x;
    tail.store(t + 1, std::memory_order_release);
  }
  T pop() {
    auto h = head.load(std::memory_order_relaxed);
    int spins = 0;
    while (h == tail_cache) {
      tail_cache = tail.load(std::memory_order_acquire);
      if (h == tail_cache) spin_wait(spins);
    }
    T x = slots[h % N];
    head.store(h + 1, std::memory_order_release);
    return x;
  }
};

template <class T>
double spsc(std::uint64_t n) {
  using Ring = SpscRing<T, 4096>;
  auto shm = ipc::SharedMemory::anonymous(sizeof(Ring));
  auto* r = new (shm.data()) Ring;
  return run_mpmc(
      1, 1, n, [&](int) {
        for (std::uint64_t i = 0; i < n; ++i) r->push(make_item<T>(i));
        r->push(make_item<T>(kSentinel));
      },
      [&](int, Gate* g) {
        std::uint64_t sum = 0;
        for (;;) {
          auto x = r->pop();
          if (seq_of(x) == kSentinel) break;
          sum += seq_of(x);
        }
        g->checksum.fetch_add(sum);
      },
      [] {});
}

// ---- JoinableQueue ----

double joinable_tasks(std::uint64_t n) {
  ipc::JoinableQueue<std::uint64_t> q;
  ipc::Process consumer{[&] {
    for (;;) {
      auto x = q.get();
      q.task_done();
      if (x == kSentinel) return 0;
    }
  }};
  consumer.start();
  double secs = ipc::bench::seconds([&] {
    for (std::uint64_t i = 0; i < n; ++i) q.put(i);
    q.join();
  });
  q.put(kSentinel);
  consumer.join();
  return static_cast<double>(n) / secs;
}


template <class T>
void one_to_one(const std::string& workload, std::uint64_t n) {
  auto m = ipc::bench::interleaved_medians(kRuns, {[&] { return ipckit_mpmc<T>(1, 1, n, 1); },
                                [&] { return ipckit_mpmc<T>(1, 1, n, 64); },
                                [&] { return boost_mpmc<T>(1, 1, n / 4); }, [&] { return spsc<T>(n); }});
  report(workload, "ipckit", m[0], "msgs/s", true);
  report(workload, "ipckit (put_many/get_many of 64)", m[1], "msgs/s", true);
  report(workload, "boost interprocess", m[2], "msgs/s", true);
  report(workload, "shm SPSC ring (limit)", m[3], "msgs/s", true);
}

}  // namespace

int main() {
  one_to_one<std::uint64_t>("queue 1 -> 1, 8 B", 2'000'000);
  one_to_one<Item<1024>>("queue 1 -> 1, 1 KiB", 500'000);
  ipc::bench::pin_to_cpu(0);  // both ends on one CPU: spinning is wasted, yielding and batching count
  one_to_one<std::uint64_t>("queue 1 -> 1, 8 B (pinned)", 1'000'000);
  ipc::bench::unpin();
  const std::string w4 = "queue 4 -> 4, 8 B";
  auto m = ipc::bench::interleaved_medians(kRuns, {[] { return ipckit_mpmc<std::uint64_t>(4, 4, 250'000, 1); },
                                [] { return ipckit_mpmc<std::uint64_t>(4, 4, 250'000, 64); },
                                [] { return boost_mpmc<std::uint64_t>(4, 4, 50'000); }});
  report(w4, "ipckit", m[0], "msgs/s", true);
  report(w4, "ipckit (put_many/get_many of 64)", m[1], "msgs/s", true);
  report(w4, "boost interprocess", m[2], "msgs/s", true);
  report("JoinableQueue put + get + task_done + join", "ipckit", median_of(kRuns, [] { return joinable_tasks(500'000); }),
         "tasks/s", true);
  return 0;
}
