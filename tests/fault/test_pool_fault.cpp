// Pool and executor under worker death: SIGKILL mid-task, _exit, time limits, terminate; no
// hang, the right error, a replacement worker, no zombie and nothing in /dev/shm.
#include <doctest/doctest.h>

#include <ipc/executor.hpp>
#include <ipc/pool.hpp>
#include <ipc/process.hpp>

#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "child_pipe.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;

namespace {

int square(int x) { return x * x; }

/// Tells the test its pid through `fd`, then sleeps `ms`.
int report_then_sleep(int fd, int ms) {
  std::string line = std::to_string(::getpid()) + "\n";
  [[maybe_unused]] auto n = ::write(fd, line.data(), line.size());
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return 1;
}

int kill_self_on_13(int x) {
  if (x == 13) ::raise(SIGKILL);
  return x * 2;
}

int exit_3() { ::_exit(3); }

/// Kills its worker for a negative `x`; otherwise waits for a byte on the fd `x` and returns it.
int kill_self_or_wait(int x) {
  if (x < 0) ::raise(SIGKILL);
  char c = 0;
  [[maybe_unused]] auto n = ::read(x, &c, 1);
  return c;
}

int sleep_ms(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}

/// Reads one byte from `fd` (blocks until the test writes it) and returns it.
int wait_for_byte(int fd) {
  char c = 0;
  [[maybe_unused]] auto n = ::read(fd, &c, 1);
  return c;
}

std::size_t length_of(std::string s) { return s.size(); }

/// Tells the test its pid through `report`, waits for a byte on `gate`, says "go" and returns
/// `n` bytes: a big result whose sending starts when the test wants.
std::string big_after_byte(int report, int gate, std::size_t n) {
  std::string line = std::to_string(::getpid()) + "\n";
  [[maybe_unused]] auto k = ::write(report, line.data(), line.size());
  wait_for_byte(gate);
  k = ::write(report, "go\n", 3);
  return std::string(n, 'r');
}

int throw_now() { throw std::runtime_error("boom"); }

/// Forks a copy of the worker that returns from the task (into the worker's loop) and reaps it.
int fork_and_return() {
  pid_t p = ::fork();
  if (p == 0) return 1;
  int status = 0;
  if (::waitpid(p, &status, 0) != p) return -1;
  return WIFEXITED(status) ? 100 + WEXITSTATUS(status) : -2;
}

/// Waits (bounded) until `pid` is in state `want` ('S': blocked in a syscall); false if it never is.
bool wait_state(pid_t pid, char want) {
  for (int i = 0; i < 2000; ++i) {
    if (ipc::test::proc_state(pid) == want) return true;
    std::this_thread::sleep_for(5ms);
  }
  return false;
}

/// Waits (bounded) until none of `pids` exists any more, zombies included.
bool wait_gone(const std::vector<pid_t>& pids) {
  for (int i = 0; i < 2000; ++i) {
    bool any = false;
    for (pid_t p : pids) any = any || ipc::test::proc_state(p) != '\0';
    if (!any) return true;
    std::this_thread::sleep_for(5ms);
  }
  return false;
}

/// Waits (bounded) until this process has `n` open fds again (a pool closes its own fds in its
/// thread, which may still be finishing when the workers are gone); true when it does.
bool wait_fds(int n) {
  for (int i = 0; i < 2000; ++i) {
    if (ipc::test::count_open_fds() == n) return true;
    std::this_thread::sleep_for(5ms);
  }
  return false;
}

/// Processes whose parent is this process, from /proc (zombies included).
std::vector<pid_t> children_of_self() {
  std::vector<pid_t> out;
  DIR* d = ::opendir("/proc");
  if (!d) return out;
  while (auto* e = ::readdir(d)) {
    pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
    if (pid > 0 && ipc::test::proc_ppid(pid) == ::getpid()) out.push_back(pid);
  }
  ::closedir(d);
  return out;
}

/// True when `pid` is alive and not a zombie.
bool running(pid_t pid) {
  char s = ipc::test::proc_state(pid);
  return s != '\0' && s != 'Z';
}

}  // namespace

TEST_SUITE("Pool fault") {

TEST_CASE("a worker SIGKILLed mid-task fails that task with WorkerLost and is replaced" * doctest::timeout(60)) {
  int shm_before = ipc::test::count_shm_names("");
  ipc::test::ChildPipe pipe;
  {
    ipc::Pool pool(2);
    auto victim = pool.apply_async(report_then_sleep, pipe.w, 30000);
    pid_t pid = std::stoi(pipe.line());
    REQUIRE(::kill(pid, SIGKILL) == 0);
    try {
      victim.get(20s);
      FAIL("no exception");
    } catch (const ipc::WorkerLost& e) {
      CHECK(std::string(e.what()).find("SIGKILL") != std::string::npos);
      CHECK(std::string(e.what()).find(std::to_string(pid)) != std::string::npos);
    }
    // The pool goes on with a fresh worker, and the dead one is reaped.
    std::vector<int> in(50, 4);
    CHECK(pool.map(square, in, 1) == std::vector<int>(50, 16));
    auto pids = pool.worker_pids();
    CHECK(pids.size() == 2);
    CHECK(std::find(pids.begin(), pids.end(), pid) == pids.end());
    CHECK(ipc::test::proc_state(pid) == '\0');
  }
  CHECK(children_of_self().empty());
  CHECK(ipc::test::count_shm_names("") == shm_before);
}

TEST_CASE("map with a task that kills its worker throws WorkerLost instead of hanging" * doctest::timeout(60)) {
  ipc::Pool pool(2);
  std::vector<int> in;
  for (int i = 0; i < 40; ++i) in.push_back(i);
  CHECK_THROWS_AS(pool.map(kill_self_on_13, in, 1), ipc::WorkerLost);
  CHECK_THROWS_AS(pool.map(kill_self_on_13, in), ipc::WorkerLost);  // chunked: the chunk fails
  // Retried without the bad item, every other task succeeds.
  std::erase(in, 13);
  auto out = pool.map(kill_self_on_13, in, 1);
  REQUIRE(out.size() == in.size());
  for (std::size_t i = 0; i < in.size(); ++i) CHECK(out[i] == in[i] * 2);
  CHECK(pool.worker_pids().size() == 2);
}

TEST_CASE("the caller reads a failed map's error while the pool thread drops the map's state" * doctest::timeout(60)) {
  // The map fails at its first task while its second still runs: the pool thread holds the
  // map's state until that task ends, after the caller has caught and read the error. Nothing
  // the caller does after reading it synchronises with the pool thread (a pipe to a worker
  // does not), so under ThreadSanitizer this fails if the caller threw the exception object
  // that the pool thread's drop of the state destroys: their only order is the exception's
  // reference count inside libstdc++, which the sanitizer does not see. Each caller throws an
  // exception object of its own.
  ipc::test::ChildPipe gate, delivered;
  ipc::Pool pool(1);  // one worker: tasks run, and their results come back, in submission order
  std::vector<int> in{-1, gate.r};
  std::optional failing = pool.map_async(kill_self_or_wait, in, 1);
  // Queued behind the map's second task: its callback says the pool thread is past that task.
  auto after = pool.apply_async({.callback = [&](const int&) { delivered.put("after"); }}, square, 3);
  std::string what;
  try {
    auto r = std::move(*failing);  // the caller's last handle on the state, gone before the catch
    failing.reset();
    (void)r.get();
  } catch (const ipc::WorkerLost& e) {
    what = e.what();
  }
  CHECK(what.find("while running task") != std::string::npos);
  gate.put("x");
  CHECK(delivered.line() == "after");
  CHECK(after.get(10s) == 9);
}

TEST_CASE("a task calling _exit fails with WorkerLost naming the exit code" * doctest::timeout(30)) {
  ipc::Pool pool(1);
  CHECK_THROWS_WITH_AS(pool.apply(exit_3), doctest::Contains("exited with code 3"), ipc::WorkerLost);
  CHECK(pool.apply(square, 3) == 9);
}

TEST_CASE("a task over its time limit has its worker killed and replaced" * doctest::timeout(60)) {
  ipc::test::ChildPipe pipe;
  ipc::Pool pool(2);
  auto slow = pool.apply_async({.time_limit = 300ms}, report_then_sleep, pipe.w, 30000);
  pid_t pid = std::stoi(pipe.line());
  auto fast = pool.apply_async({.time_limit = 20s}, square, 6);
  CHECK_THROWS_AS(slow.get(20s), ipc::TimeoutError);
  CHECK(fast.get(20s) == 36);
  for (int i = 0; i < 200 && ipc::test::proc_state(pid) != '\0'; ++i) std::this_thread::sleep_for(10ms);
  CHECK(ipc::test::proc_state(pid) == '\0');
  auto pids = pool.worker_pids();
  CHECK(pids.size() == 2);
  CHECK(std::find(pids.begin(), pids.end(), pid) == pids.end());
  CHECK(pool.apply(square, 7) == 49);
}

TEST_CASE("terminate with running tasks kills the workers and fails their results" * doctest::timeout(10)) {
  ipc::Pool pool(2);
  auto pids = pool.worker_pids();
  auto a = pool.apply_async(sleep_ms, 60000);
  auto b = pool.apply_async(sleep_ms, 60000);
  auto c = pool.apply_async(sleep_ms, 60000);  // still queued
  for (int i = 0; i < 500 && !(pool.worker_pids().size() == 2); ++i) std::this_thread::sleep_for(10ms);
  pool.terminate();
  CHECK_THROWS_AS(a.get(1s), ipc::CancelledError);
  CHECK_THROWS_AS(b.get(1s), ipc::CancelledError);
  CHECK_THROWS_AS(c.get(1s), ipc::CancelledError);
  for (pid_t p : pids) CHECK(ipc::test::proc_state(p) == '\0');
  CHECK(pool.join(5s));
  CHECK(children_of_self().empty());
}

TEST_CASE("the executor fails only the future whose worker died and stays usable" * doctest::timeout(60)) {
  ipc::test::ChildPipe pipe;
  ipc::ProcessPoolExecutor ex(2);
  auto victim = ex.submit(report_then_sleep, pipe.w, 30000);
  pid_t pid = std::stoi(pipe.line());
  std::vector<ipc::Future<int>> others;
  for (int i = 0; i < 20; ++i) others.push_back(ex.submit(square, i));
  REQUIRE(::kill(pid, SIGKILL) == 0);
  CHECK_THROWS_AS(victim.result(20s), ipc::WorkerLost);
  CHECK(victim.exception() != nullptr);
  for (int i = 0; i < 20; ++i) CHECK(others[i].result(20s) == i * i);
  CHECK(ex.submit(square, 9).result(20s) == 81);
  CHECK(!running(pid));
}

TEST_CASE("a worker killed while idle is replaced without failing anything" * doctest::timeout(30)) {
  ipc::Pool pool(2);
  auto pids = pool.worker_pids();
  REQUIRE(pids.size() == 2);
  REQUIRE(::kill(pids[0], SIGKILL) == 0);
  for (int i = 0; i < 500 && ipc::test::proc_state(pids[0]) != '\0'; ++i) std::this_thread::sleep_for(10ms);
  std::vector<int> in(100, 2);
  CHECK(pool.map(square, in, 1) == std::vector<int>(100, 4));
  CHECK(pool.worker_pids().size() == 2);
}

// ---- Misuse from callbacks (they run in the pool's own thread) ----

TEST_CASE("destroying the pool from its own callback neither deadlocks nor crashes" * doctest::timeout(60)) {
  const int fds_before = ipc::test::count_open_fds();
  auto pool = std::make_unique<ipc::Pool>(2);
  auto pids = pool->worker_pids();
  auto running = pool->apply_async(sleep_ms, 60000);
  std::promise<void> submitted, done;  // the callback destroys the pool once this thread is done with it
  auto r = pool->apply_async({.callback = [&](const int&) {
                               submitted.get_future().wait();
                               pool.reset();
                               done.set_value();
                             }},
                             square, 3);
  submitted.set_value();
  done.get_future().wait();
  CHECK(r.get(10s) == 9);
  CHECK_THROWS_AS(running.get(10s), ipc::CancelledError);
  CHECK(wait_gone(pids));
  CHECK(children_of_self().empty());
  CHECK(wait_fds(fds_before));
}

TEST_CASE("terminate from an error callback stops the pool and join returns" * doctest::timeout(60)) {
  ipc::Pool pool(2);
  auto pids = pool.worker_pids();
  auto r = pool.apply_async({.error_callback = [&](const std::exception&) { pool.terminate(); }}, throw_now);
  auto a = pool.apply_async(sleep_ms, 60000);
  auto b = pool.apply_async(sleep_ms, 60000);
  CHECK_THROWS_WITH_AS(r.get(10s), "boom", std::runtime_error);
  CHECK(pool.join(10s));
  CHECK_THROWS_AS(a.get(10s), ipc::CancelledError);
  CHECK_THROWS_AS(b.get(10s), ipc::CancelledError);
  CHECK_THROWS_AS(pool.apply_async(square, 1), ipc::ValueError);
  CHECK(wait_gone(pids));
  CHECK(children_of_self().empty());
}

TEST_CASE("destroying the executor from a done callback neither deadlocks nor crashes" * doctest::timeout(60)) {
  ipc::test::ChildPipe gate;
  auto ex = std::make_unique<ipc::ProcessPoolExecutor>(2);
  auto pids = ex->worker_pids();
  auto f = ex->submit(wait_for_byte, gate.r);
  std::promise<void> done;
  f.add_done_callback([&](const ipc::Future<int>&) {
    ex.reset();
    done.set_value();
  });
  gate.put("x");
  done.get_future().wait();
  CHECK(f.result(10s) == 'x');
  CHECK(wait_gone(pids));
  CHECK(children_of_self().empty());
}

TEST_CASE("waiting inside a callback for a result of the same pool throws ValueError instead of deadlocking" *
          doctest::timeout(60)) {
  ipc::test::ChildPipe gate;
  ipc::Pool pool(2);
  auto blocked = pool.apply_async(wait_for_byte, gate.r);
  std::promise<ipc::AsyncResult<int>> self;
  auto self_f = self.get_future().share();
  std::promise<std::vector<std::string>> seen;
  std::vector<int> in{1, 2, 3};
  auto r = pool.apply_async({.callback = [&](const int&) {
                              std::vector<std::string> what;
                              auto attempt = [&](auto fn) {
                                try {
                                  fn();
                                  what.push_back("returned");
                                } catch (const ipc::ValueError& e) {
                                  what.push_back(e.what());
                                } catch (const std::exception& e) {
                                  what.push_back(std::string("other: ") + e.what());
                                }
                              };
                              attempt([&] { blocked.get(); });
                              attempt([&] { blocked.get(5s); });
                              attempt([&] { blocked.wait(); });
                              attempt([&] { self_f.get().get(); });  // its own result
                              attempt([&] { pool.apply(square, 2); });
                              attempt([&] { pool.map(square, in); });
                              attempt([&] { pool.map_async(square, in).get(); });
                              attempt([&] { pool.imap(square, in).next(); });
                              attempt([&] { pool.imap_unordered(square, in).next(5s); });
                              what.push_back(blocked.ready() ? "ready" : "not ready");  // no wait: fine
                              what.push_back(blocked.wait(0s) ? "ready" : "not ready");
                              seen.set_value(what);
                            }},
                            square, 6);
  self.set_value(r);
  auto what = seen.get_future().get();
  REQUIRE(what.size() == 11);
  for (std::size_t i = 0; i < 9; ++i) {
    INFO("attempt ", i, ": ", what[i]);
    CHECK(what[i].find("from a callback") != std::string::npos);
  }
  CHECK(what[9] == "not ready");
  CHECK(what[10] == "not ready");
  gate.put("x");
  CHECK(blocked.get(10s) == 'x');
  CHECK(r.get(10s) == 36);
  CHECK(pool.apply(square, 5) == 25);  // the pool goes on
}

TEST_CASE("waiting inside a done callback for another future of the executor throws ValueError" *
          doctest::timeout(60)) {
  ipc::test::ChildPipe gate, f_gate;
  ipc::ProcessPoolExecutor ex(2);
  auto blocked = ex.submit(wait_for_byte, gate.r);
  // f finishes only once its callback is added: a callback added to a done future runs at once
  // in the adding thread, where waiting for `blocked` would block the test for good.
  auto f = ex.submit(wait_for_byte, f_gate.r);
  std::promise<std::vector<std::string>> seen;
  f.add_done_callback([&](const ipc::Future<int>& d) {
    std::vector<std::string> what;
    auto attempt = [&](auto fn) {
      try {
        fn();
        what.push_back("returned");
      } catch (const ipc::ValueError& e) {
        what.push_back(e.what());
      }
    };
    attempt([&] { what.push_back(std::to_string(d.result())); });  // itself: settled, fine
    attempt([&] { blocked.result(); });
    attempt([&] { (void)blocked.exception(); });
    attempt([&] { ipc::wait(std::vector<ipc::Future<int>>{blocked}); });
    attempt([&] { ipc::as_completed(std::vector<ipc::Future<int>>{blocked}).next(); });
    seen.set_value(what);
  });
  f_gate.put("1");  // f returns '1', 49
  auto what = seen.get_future().get();
  REQUIRE(what.size() == 6);
  CHECK(what[0] == "49");
  CHECK(what[1] == "returned");
  for (std::size_t i = 2; i < 6; ++i) {
    INFO("attempt ", i, ": ", what[i]);
    CHECK(what[i].find("from a callback") != std::string::npos);
  }
  gate.put("x");
  CHECK(blocked.result(10s) == 'x');
}

TEST_CASE("exceptions thrown by callbacks are reported and the pool goes on" * doctest::timeout(60)) {
  ipc::Pool pool(2);
  auto r = pool.apply_async({.callback = [](const int&) { throw std::runtime_error("callback failed"); }}, square, 4);
  CHECK(r.get(10s) == 16);
  CHECK(r.successful());
  auto e = pool.apply_async({.error_callback = [](const std::exception&) { throw 17; }}, throw_now);
  CHECK_THROWS_WITH_AS(e.get(10s), "boom", std::runtime_error);
  ipc::ProcessPoolExecutor ex(1);
  auto f = ex.submit(square, 5);
  f.add_done_callback([](const ipc::Future<int>&) { throw std::logic_error("done callback failed"); });
  CHECK(f.result(10s) == 25);
  CHECK(pool.apply(square, 6) == 36);
  CHECK(ex.submit(square, 6).result(10s) == 36);
}

// ---- Hostile initializers ----

TEST_CASE("an initializer that exits or dies breaks the pool loudly instead of forking workers forever" *
          doctest::timeout(120)) {
  std::function<void()> init;
  std::string why;
  SUBCASE("_exit(0)") {
    init = [] { ::_exit(0); };
    why = "exited with code 0 in its initializer";
  }
  SUBCASE("_exit(5)") {
    init = [] { ::_exit(5); };
    why = "exited with code 5 in its initializer";
  }
  SUBCASE("SIGKILL") {
    init = [] { ::raise(SIGKILL); };
    why = "died of SIGKILL";
  }
  SUBCASE("SIGSEGV") {
    init = [] {
      ::signal(SIGSEGV, SIG_DFL);
      ::raise(SIGSEGV);
    };
    why = "died of SIGSEGV";
  }
  {
    ipc::Pool pool(2, init);
    CHECK_THROWS_WITH_AS(pool.apply(square, 2), doctest::Contains(why.c_str()), ipc::WorkerLost);
    CHECK_THROWS_WITH_AS(pool.apply_async(square, 3), doctest::Contains("initializer"), ipc::WorkerLost);
    std::vector<int> in{1, 2};
    CHECK_THROWS_AS(pool.map(square, in), ipc::WorkerLost);
  }
  CHECK(children_of_self().empty());
}

// ---- Workers stopped or killed in the middle of a transfer ----

TEST_CASE("a worker stopped while receiving a 16 MiB argument does not stall the pool" * doctest::timeout(60)) {
  ipc::Pool pool(1);
  CHECK(pool.apply(square, 1) == 1);  // the worker is ready and idle
  auto pids = pool.worker_pids();
  REQUIRE(pids.size() == 1);
  REQUIRE(::kill(pids[0], SIGSTOP) == 0);
  auto r = pool.apply_async({.time_limit = 300ms}, length_of, std::string(16u << 20, 'a'));
  CHECK_THROWS_WITH_AS(r.get(20s), doctest::Contains("time limit"), ipc::TimeoutError);
  CHECK(wait_gone(pids));
  CHECK(pool.apply(length_of, std::string(16u << 20, 'b')) == 16u << 20);  // its replacement
  // terminate() while the pool thread would be writing to a stopped worker.
  auto now = pool.worker_pids();
  REQUIRE(::kill(now[0], SIGSTOP) == 0);
  auto t = pool.apply_async(length_of, std::string(16u << 20, 'c'));
  pool.terminate();
  CHECK_THROWS_AS(t.get(10s), ipc::CancelledError);
  CHECK(wait_gone(now));
  CHECK(children_of_self().empty());
}

TEST_CASE("a worker killed while receiving a 16 MiB argument has the task sent to its replacement" *
          doctest::timeout(60)) {
  ipc::Pool pool(1);
  CHECK(pool.apply(square, 1) == 1);
  auto pids = pool.worker_pids();
  REQUIRE(::kill(pids[0], SIGSTOP) == 0);
  auto r = pool.apply_async(length_of, std::string(16u << 20, 'a'));
  REQUIRE(::kill(pids[0], SIGKILL) == 0);
  CHECK(r.get(30s) == 16u << 20);  // it never started: sent again, not failed
  CHECK(wait_gone(pids));
  CHECK(pool.worker_pids() != pids);
}

TEST_CASE("a worker killed in the middle of sending a 32 MiB result fails that task only" * doctest::timeout(60)) {
  ipc::test::ChildPipe report, gate;
  ipc::Pool pool(2);
  auto big = pool.apply_async(big_after_byte, report.w, gate.r, std::size_t{32} << 20);
  pid_t pid = std::stoi(report.line());
  std::atomic<bool> was_blocked{false};
  // The other worker's callback holds the pool thread: nobody reads the big result, so its
  // worker blocks in the middle of the write, where it is killed.
  auto other = pool.apply_async({.callback = [&](const int&) {
                                  gate.put("x");
                                  if (report.line() == "go" && wait_state(pid, 'S')) was_blocked = true;
                                  ::kill(pid, SIGKILL);
                                }},
                                square, 2);
  CHECK(other.get(30s) == 4);
  CHECK(was_blocked);
  CHECK_THROWS_WITH_AS(big.get(30s), doctest::Contains("SIGKILL"), ipc::WorkerLost);
  CHECK(pool.apply(square, 3) == 9);
  CHECK(wait_gone({pid}));
}

TEST_CASE("terminate while a worker is blocked writing a 32 MiB result that nobody reads returns" *
          doctest::timeout(60)) {
  ipc::test::ChildPipe report, gate;
  auto pool = std::make_unique<ipc::Pool>(2);
  auto pids = pool->worker_pids();
  auto big = pool->apply_async(big_after_byte, report.w, gate.r, std::size_t{32} << 20);
  pid_t pid = std::stoi(report.line());
  std::atomic<bool> was_blocked{false};
  SUBCASE("from the callback that holds the pool thread") {
    auto other = pool->apply_async({.callback = [&](const int&) {
                                     gate.put("x");
                                     if (report.line() == "go" && wait_state(pid, 'S')) was_blocked = true;
                                     pool->terminate();
                                   }},
                                   square, 2);
    CHECK(other.get(30s) == 4);
    CHECK(pool->join(10s));
  }
  SUBCASE("from the caller while the writer is stopped mid-write") {
    auto other = pool->apply_async({.callback = [&](const int&) {
                                     gate.put("x");
                                     if (report.line() == "go" && wait_state(pid, 'S')) was_blocked = true;
                                     ::kill(pid, SIGSTOP);
                                   }},
                                   square, 2);
    CHECK(other.get(30s) == 4);
    pool->terminate();
  }
  CHECK(was_blocked);
  CHECK_THROWS_AS(big.get(10s), ipc::CancelledError);
  pool.reset();
  CHECK(wait_gone(pids));
  CHECK(children_of_self().empty());
}

TEST_CASE("a stopped worker over its time limit is killed and replaced" * doctest::timeout(60)) {
  ipc::test::ChildPipe pipe;
  ipc::Pool pool(1);
  auto r = pool.apply_async({.time_limit = 300ms}, report_then_sleep, pipe.w, 30000);
  pid_t pid = std::stoi(pipe.line());
  REQUIRE(::kill(pid, SIGSTOP) == 0);
  CHECK_THROWS_WITH_AS(r.get(20s), doctest::Contains("time limit"), ipc::TimeoutError);
  CHECK(wait_gone({pid}));
  CHECK(pool.apply(square, 8) == 64);
}

// ---- Forks ----

TEST_CASE("a task that forks a copy of its worker which returns does not disturb the pool" * doctest::timeout(60)) {
  const int fds_before = ipc::test::count_open_fds();
  {
    ipc::Pool pool(1);
    for (int i = 0; i < 3; ++i) CHECK(pool.apply(fork_and_return) == 100);  // the copy exited with 0
    std::vector<int> in(100, 3);
    CHECK(pool.map(square, in, 1) == std::vector<int>(100, 9));
  }
  CHECK(children_of_self().empty());
  CHECK(ipc::test::count_open_fds() == fds_before);
}

TEST_CASE("a forked child cannot use its parent's pool and is told so" * doctest::timeout(60)) {
  ipc::Pool pool(2);
  CHECK(pool.apply(square, 2) == 4);
  ipc::test::ChildPipe pipe;
  ipc::Process child([&] {
    std::string what;
    for (int step = 0; step < 3; ++step) {
      try {
        if (step == 0) pool.apply(square, 3);
        if (step == 1) pool.map(square, std::vector<int>{1, 2});
        if (step == 2) pool.join(1s);
        what += "returned;";
      } catch (const ipc::ValueError& e) {
        what += std::string(e.what()) + ";";
      }
    }
    pool.terminate();  // no effect on the parent's workers
    pipe.put(what);
    return 0;
  });
  child.start();
  std::string what = pipe.line(30000);
  REQUIRE(child.join(30s));
  CHECK(child.exitcode() == 0);
  CHECK(what.find("returned") == std::string::npos);
  CHECK(what.find("forked") != std::string::npos);
  CHECK(pool.apply(square, 4) == 16);  // the parent's pool is untouched
  CHECK(pool.worker_pids().size() == 2);
}

// ---- Threads ----

TEST_CASE("several threads use one pool at once" * doctest::timeout(120)) {
  ipc::Pool pool(2);
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      try {
        for (int round = 0; round < 5; ++round) {
          std::vector<int> in(300);
          for (int i = 0; i < 300; ++i) in[i] = t * 1000 + round * 300 + i;
          std::vector<int> want;
          for (int x : in) want.push_back(x * x);
          if (pool.map(square, in, static_cast<std::size_t>(1 + t)) != want) ++bad;
          if (pool.apply(square, t) != t * t) ++bad;
          std::vector<int> got;
          for (int v : pool.imap(square, in, 7)) got.push_back(v);
          if (got != want) ++bad;
          auto ex = pool.apply_async(throw_now);
          try {
            ex.get(30s);
            ++bad;
          } catch (const std::runtime_error&) {
          }
        }
      } catch (...) {
        ++bad;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(bad == 0);
}

// ---- Executor shutdown ----

TEST_CASE("executor shutdown without waiting then destruction finishes every task and reaps the workers" *
          doctest::timeout(60)) {
  std::vector<ipc::Future<int>> fs;
  std::vector<pid_t> pids;
  const int fds_before = ipc::test::count_open_fds();
  {
    ipc::ProcessPoolExecutor ex(2);
    pids = ex.worker_pids();
    for (int i = 0; i < 6; ++i) fs.push_back(ex.submit(sleep_ms, 20 + i));
    ex.shutdown(false);
    CHECK_THROWS_AS(ex.submit(square, 1), ipc::ValueError);
    ex.shutdown(false);  // idempotent
  }
  for (int i = 0; i < 6; ++i) CHECK(fs[i].result(0s) == 20 + i);
  CHECK(wait_gone(pids));
  CHECK(children_of_self().empty());
  CHECK(ipc::test::count_open_fds() == fds_before);
}

}  // TEST_SUITE
