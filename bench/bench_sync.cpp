// Lock throughput, uncontended and with 4 processes incrementing a shared counter, and the
// tutorials' Array example: ipckit vs a process-shared robust pthread mutex (the limit: ipckit's
// locks are built on it), Boost.Interprocess interprocess_mutex (not robust) and raw fork (the
// Array example's floor). Python's figures come from bench/py/sync.py in the same run.
#include <ipc/process.hpp>
#include <ipc/sharedctypes.hpp>
#include <ipc/synchronize.hpp>

#include <boost/interprocess/sync/interprocess_mutex.hpp>

#include <pthread.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <new>
#include <vector>

#include "bench_common.hpp"

namespace {

constexpr int kUncontendedIters = 5'000'000;
constexpr int kProcs = 4;
constexpr long kPerProc = 2'000'000;
constexpr int kRuns = 7;

/// A process-shared robust pthread mutex, the same configuration ipckit uses (minus error checking).
struct RobustPthread {
  pthread_mutex_t m;
  RobustPthread() {
    pthread_mutexattr_t a;
    ::pthread_mutexattr_init(&a);
    ::pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    ::pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    ::pthread_mutex_init(&m, &a);
    ::pthread_mutexattr_destroy(&a);
  }
  void lock() {
    if (::pthread_mutex_lock(&m) == EOWNERDEAD) ::pthread_mutex_consistent(&m);
  }
  void unlock() { ::pthread_mutex_unlock(&m); }
};

/// A peer mutex and a counter on separate cache lines, in an anonymous shared mapping.
template <class M>
struct PeerShared {
  alignas(64) M mutex;
  alignas(64) long counter = 0;
  alignas(64) std::atomic<int> go{0};
};

template <class T>
T* map_shared() {
  void* p = ::mmap(nullptr, sizeof(T), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) std::abort();
  return new (p) T;
}

template <class T>
void unmap_shared(T* p) {
  p->~T();
  ::munmap(p, sizeof(T));
}

/// Forks kProcs children running body(), releases them together with `go`, waits for all; seconds.
template <class Body>
double run_procs(std::atomic<int>& go, Body body) {
  go.store(0);
  std::vector<pid_t> pids;
  for (int i = 0; i < kProcs; ++i) {
    pid_t pid = ::fork();
    if (pid == 0) {
      while (go.load(std::memory_order_acquire) == 0) {
      }
      body();
      ::_exit(0);
    }
    pids.push_back(pid);
  }
  return ipc::bench::seconds([&] {
    go.store(1, std::memory_order_release);
    for (pid_t p : pids) ::waitpid(p, nullptr, 0);
  });
}

// ---- uncontended acquire + release, M ops/s ----

double ipckit_uncontended() {
  static ipc::Lock lock;  // one mapping for all runs
  return kUncontendedIters / ipc::bench::seconds([] {
           for (int i = 0; i < kUncontendedIters; ++i) {
             lock.lock();
             lock.unlock();
           }
         }) / 1e6;
}

template <class M>
double peer_uncontended() {
  auto* s = map_shared<PeerShared<M>>();
  double r = kUncontendedIters / ipc::bench::seconds([&] {
               for (int i = 0; i < kUncontendedIters; ++i) {
                 s->mutex.lock();
                 s->mutex.unlock();
               }
             }) / 1e6;
  unmap_shared(s);
  return r;
}

// ---- 4 processes: counter += 1 under the lock, M increments/s in total ----

double ipckit_contended() {
  ipc::Value<long> v(0);
  ipc::RawValue<int> go_word(0);
  auto& go = reinterpret_cast<std::atomic<int>&>(go_word.get_obj());
  double s = run_procs(go, [&] {
    for (long k = 0; k < kPerProc; ++k) *v.locked() += 1;
  });
  if (v.value() != kProcs * kPerProc) std::abort();
  return kProcs * kPerProc / s / 1e6;
}

template <class M>
double peer_contended() {
  auto* sh = map_shared<PeerShared<M>>();
  double s = run_procs(sh->go, [&] {
    for (long k = 0; k < kPerProc; ++k) {
      sh->mutex.lock();
      ++sh->counter;
      sh->mutex.unlock();
    }
  });
  if (sh->counter != kProcs * kPerProc) std::abort();
  unmap_shared(sh);
  return kProcs * kPerProc / s / 1e6;
}

// ---- the tutorials' Array example: 5 processes add 100 to every element of Array(1000), ms ----

double ipckit_array_ms() {
  return ipc::bench::seconds([] {
           ipc::Array<int> arr(1000);
           std::vector<ipc::Process> ps;
           for (int i = 0; i < 5; ++i)
             ps.emplace_back([&arr] {
               auto g = arr.locked();
               for (auto& x : g) x += 100;
             });
           for (auto& p : ps) p.start();
           for (auto& p : ps) p.join();
           if (arr[999] != 500) std::abort();
         }) * 1e3;
}

double raw_fork_ms() {
  return ipc::bench::seconds([] {
           pid_t pids[5];
           for (auto& pid : pids)
             if ((pid = ::fork()) == 0) ::_exit(0);
           for (auto pid : pids) ::waitpid(pid, nullptr, 0);
         }) * 1e3;
}


}  // namespace

int main() {
  using boost::interprocess::interprocess_mutex;
  const char* impls[] = {"ipckit", "robust pthread mutex", "boost interprocess"};
  const char* wl1 = "lock acquire+release, uncontended";
  auto u = ipc::bench::interleaved_medians(kRuns, {ipckit_uncontended, peer_uncontended<RobustPthread>,
                                       peer_uncontended<interprocess_mutex>});
  for (int i = 0; i < 3; ++i) ipc::bench::report(wl1, impls[i], u[static_cast<std::size_t>(i)], "M ops/s", true);

  const char* wl2 = "counter += 1 under lock, 4 processes";
  auto c = ipc::bench::interleaved_medians(kRuns, {ipckit_contended, peer_contended<RobustPthread>,
                                       peer_contended<interprocess_mutex>});
  for (int i = 0; i < 3; ++i) ipc::bench::report(wl2, impls[i], c[static_cast<std::size_t>(i)], "M ops/s", true);

  const char* wl3 = "Array(1000): 5 processes add 100 each";
  auto a = ipc::bench::interleaved_medians(9, {ipckit_array_ms, raw_fork_ms});
  ipc::bench::report(wl3, "ipckit", a[0], "ms", false);
  ipc::bench::report(wl3, "raw fork+waitpid x5", a[1], "ms", false);
  return 0;
}
