// Process: start, join, exit codes, names, daemonic flag, sentinels, reaping.
#include <doctest/doctest.h>

#include <ipc/pool.hpp>
#include <ipc/process.hpp>
#include <ipc/queues.hpp>
#include <ipc/sharedctypes.hpp>
#include <ipc/synchronize.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "child_pipe.hpp"
#include "fork_warning.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;

namespace {

/// A pipe for a child to report to its parent in tests.
struct TestPipe {
  int r = -1, w = -1;
  TestPipe() {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    r = fds[0];
    w = fds[1];
  }
  ~TestPipe() {
    ::close(r);
    ::close(w);
  }
  void put(const std::string& s) const {
    std::string line = s + "\n";
    [[maybe_unused]] auto n = ::write(w, line.data(), line.size());
  }
  void close_write() {
    ::close(w);
    w = -1;
  }
  /// Reads one line (blocking up to 10 s).
  std::string line() const {
    std::string out;
    char c;
    pollfd p{r, POLLIN, 0};
    while (::poll(&p, 1, 10000) == 1 && ::read(r, &c, 1) == 1 && c != '\n') out += c;
    return out;
  }
  std::string all() const {
    std::string out;
    char buf[256];
    ssize_t n;
    while ((n = ::read(r, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
    return out;
  }
};

int g_global = 100;  // E09: a global the child changes

struct Counter : ipc::Process {
  explicit Counter(const TestPipe& p) : m_pipe(p) {}
  int run() override {
    m_pipe.put("run in " + std::to_string(::getpid()));
    return 5;
  }
  const TestPipe& m_pipe;
};

}  // namespace

TEST_SUITE("Process") {
  TEST_CASE("a child gets its arguments and its exit code is the target's return value") {
    ipc::Process p{[](int n, std::string s, std::map<std::string, int> m) {
                     return (n == 18 && s == "xiaohong" && m.at("mm") == 10) ? 7 : 3;
                   },
                   18, "xiaohong", std::map<std::string, int>{{"mm", 10}}};
    CHECK(p.pid() == 0);
    CHECK_FALSE(p.exitcode().has_value());
    p.start();
    CHECK(p.pid() > 0);
    CHECK(p.join());
    REQUIRE(p.exitcode().has_value());
    CHECK(*p.exitcode() == 7);
    CHECK_FALSE(p.is_alive());
  }

  TEST_CASE("shared objects are passed as arguments as in Python" * doctest::timeout(60)) {
    // Python: Process(target=f, args=(v, lock, arr, q)). Non-copyable shared objects are passed
    // by reference (the child is a fork: it sees the same objects); copyable handles are copied.
    ipc::Value<int> v(0);
    ipc::Lock lock;
    ipc::Array<int> arr(3);
    ipc::Event done;
    ipc::Queue<int> q;
    ipc::Process p{[](ipc::Value<int>& v, ipc::Lock& lock, ipc::Array<int>& arr, ipc::Event& done,
                      ipc::Queue<int> q, int n) {
                     std::scoped_lock g(lock);
                     v.value(n);
                     arr[1] = n + 1;
                     q.put(n + 2);
                     done.set();
                     return 0;
                   },
                   v, lock, arr, done, q, 40};
    // A generic lambda gets the objects themselves too, and std::ref still works.
    ipc::Process p2{[](auto& v, auto& arr) {
                      *v.locked() += 100;
                      arr[2] = 9;
                    },
                    std::ref(v), arr};
    p.start();
    REQUIRE(p.join(30s));
    CHECK(*p.exitcode() == 0);
    p2.start();
    REQUIRE(p2.join(30s));
    CHECK(*p2.exitcode() == 0);
    CHECK(v.value() == 140);
    CHECK(arr.to_vector() == std::vector<int>{0, 41, 9});
    CHECK(q.get(10s) == 42);
    CHECK(done.is_set());
    CHECK_FALSE(lock.locked());
  }

  TEST_CASE("the child's parent pid is the caller's pid and its pid differs") {
    TestPipe pipe;
    ipc::Process p{[&] {
      pipe.put(std::to_string(::getpid()) + " " + std::to_string(::getppid()) + " " +
               std::to_string(ipc::current_process().pid()) + " " + std::to_string(ipc::parent_process()->pid()));
    }};
    p.start();
    auto line = pipe.line();
    CHECK(p.join(10s));
    CHECK(line == std::to_string(p.pid()) + " " + std::to_string(::getpid()) + " " + std::to_string(p.pid()) + " " +
                      std::to_string(::getpid()));
    CHECK(*p.exitcode() == 0);
  }

  TEST_CASE("default names are Process-N and the child sees its own name") {
    TestPipe pipe;
    ipc::Process a{[&] { pipe.put(ipc::current_process().name()); }};
    ipc::Process b{[] {}};
    CHECK(a.name().starts_with("Process-"));
    CHECK(b.name().starts_with("Process-"));
    CHECK(a.name() != b.name());
    int na = std::stoi(a.name().substr(8));
    int nb = std::stoi(b.name().substr(8));
    CHECK(nb == na + 1);
    a.name("worker");
    a.start();
    CHECK(pipe.line() == "worker");
    a.join();
    CHECK(ipc::current_process().name() == "MainProcess");
    CHECK(ipc::parent_process() == nullptr);
  }

  TEST_CASE("parent_process in a child is alive and has the parent's name and a sentinel") {
    ipc::Process p{[] {
      auto* pp = ipc::parent_process();
      if (!pp || pp->name() != "MainProcess" || pp->pid() != ::getppid()) return 2;
      if (!pp->is_alive() || pp->sentinel() < 0) return 3;
      if (pp->join(10ms)) return 4;  // the parent is waiting for us: join must time out
      return 0;
    }};
    p.start();
    p.join();
    CHECK(*p.exitcode() == 0);
  }

  TEST_CASE("a grandchild is named after its parent's identity") {
    TestPipe pipe;
    ipc::Process p{[&] {
      ipc::Process g{[] {}};
      pipe.put(ipc::current_process().name() + " " + g.name());
    }};
    p.start();
    auto line = pipe.line();
    p.join();
    CHECK(line == p.name() + " " + p.name() + ":1");
  }

  TEST_CASE("starting twice is an error") {
    ipc::Process p{[] {}};
    p.start();
    CHECK_THROWS_AS(p.start(), ipc::ValueError);
    p.join();
    CHECK_THROWS_AS(p.start(), ipc::ValueError);
  }

  TEST_CASE("join with a timeout returns false while the child runs") {
    ipc::Process p{[] { std::this_thread::sleep_for(30s); }};
    p.start();
    auto t0 = std::chrono::steady_clock::now();
    CHECK_FALSE(p.join(200ms));
    CHECK(std::chrono::steady_clock::now() - t0 >= 200ms);
    CHECK(p.is_alive());
    CHECK_FALSE(p.exitcode().has_value());
    p.terminate();
    CHECK(p.join(10s));
    CHECK(*p.exitcode() == -SIGTERM);
  }

  TEST_CASE("exit codes follow Python: exception 1 and SystemExit code and signal -N") {
    SUBCASE("uncaught exception gives 1 and its message on stderr") {
      TestPipe err;
      ipc::Process p{[&] {
        ::dup2(err.w, 2);
        throw std::runtime_error("boom in child");
      }};
      p.start();
      p.join();
      err.close_write();
      CHECK(*p.exitcode() == 1);
      auto text = err.all();
      CHECK(text.find("Process " + p.name()) != std::string::npos);
      CHECK(text.find("std::runtime_error: boom in child") != std::string::npos);
    }
    SUBCASE("SystemExit sets the code") {
      ipc::Process p{[] { throw ipc::SystemExit{42}; }};
      p.start();
      p.join();
      CHECK(*p.exitcode() == 42);
    }
    SUBCASE("kill gives -9") {
      ipc::Process p{[] { std::this_thread::sleep_for(30s); }};
      p.start();
      p.kill();
      p.join();
      CHECK(*p.exitcode() == -SIGKILL);
    }
    SUBCASE("a non-integral return value is ignored") {
      ipc::Process p{[] { return std::string("ignored"); }};
      p.start();
      p.join();
      CHECK(*p.exitcode() == 0);
    }
  }

  TEST_CASE("join reaps so no zombie is left") {
    ipc::Process p{[] {}};
    p.start();
    pid_t pid = p.pid();
    // Wait for the exit without reaping: the child must be a zombie meanwhile.
    pollfd pf{p.sentinel(), POLLIN, 0};
    REQUIRE(::poll(&pf, 1, 10000) == 1);
    CHECK(ipc::test::proc_state(pid) == 'Z');
    p.join();
    CHECK(ipc::test::proc_state(pid) == '\0');
    CHECK(p.pid() == pid);  // kept after reaping, as Python's p.pid
  }

  TEST_CASE("a subclass overriding run runs in the child and run called directly runs here") {
    TestPipe pipe;
    Counter c(pipe);
    c.start();
    CHECK(pipe.line() == "run in " + std::to_string(c.pid()));
    c.join();
    CHECK(*c.exitcode() == 5);
    Counter direct(pipe);
    CHECK(direct.run() == 5);
    CHECK(pipe.line() == "run in " + std::to_string(::getpid()));
  }

  TEST_CASE("memory is isolated: the parent does not see the child's write") {
    g_global = 100;
    TestPipe pipe;
    ipc::Process p{[&] {
      g_global = 0;
      pipe.put(std::to_string(g_global));
    }};
    p.start();
    CHECK(pipe.line() == "0");
    p.join();
    CHECK(g_global == 100);
  }

  TEST_CASE("a child's unflushed stdout is flushed before it exits") {
    TestPipe out;
    ipc::Process p{[&] {
      ::dup2(out.w, 1);
      std::printf("no newline");  // stays in stdio's buffer unless flushed at exit
    }};
    p.start();
    p.join();
    out.close_write();
    CHECK(out.all() == "no newline");
  }

  TEST_CASE("a daemonic process cannot start children") {
    ipc::Process p{[] {
      ipc::Process g{[] {}};
      try {
        g.start();
      } catch (const ipc::ValueError& e) {
        return std::string(e.what()).find("daemonic processes are not allowed to have children") !=
                       std::string::npos
                   ? 0
                   : 2;
      }
      g.join();
      return 3;
    }};
    p.daemon(true);
    p.start();
    CHECK_THROWS_AS(p.daemon(false), ipc::ValueError);
    p.join();
    CHECK(*p.exitcode() == 0);
  }

  TEST_CASE("sentinels work with ipc::wait and its timeout") {
    ipc::Process slow{[] { std::this_thread::sleep_for(30s); }};
    ipc::Process fast{[] {}};
    slow.start();
    CHECK(ipc::wait({slow.sentinel()}, 100ms).empty());
    fast.start();
    std::vector<ipc::Process*> both{&slow, &fast};
    auto ready = ipc::wait(std::span<ipc::Process* const>(both), 10s);
    REQUIRE(ready.size() == 1);
    CHECK(ready[0] == &fast);
    slow.kill();
    slow.join();
    fast.join();
  }

  TEST_CASE("active_children lists live children and reaps finished ones") {
    ipc::Process a{[] { std::this_thread::sleep_for(30s); }};
    ipc::Process b{[] {}};
    a.start();
    b.start();
    pid_t bpid = b.pid();
    ::waitid(P_PIDFD, static_cast<id_t>(b.sentinel()), nullptr, WEXITED | WNOWAIT);
    auto kids = ipc::active_children();
    CHECK(kids.size() == 1);
    CHECK(kids.at(0) == &a);
    CHECK(ipc::test::proc_state(bpid) == '\0');  // reaped by active_children
    CHECK(*b.exitcode() == 0);
    a.kill();
    a.join();
    CHECK(ipc::active_children().empty());
  }

  TEST_CASE("a Process destroyed while running leaves the child to be reaped later") {
    pid_t pid = 0;
    TestPipe go;
    {
      ipc::Process p{[&] {
        char c;
        [[maybe_unused]] auto n = ::read(go.r, &c, 1);
      }};
      p.start();
      pid = p.pid();
    }
    CHECK(ipc::test::proc_state(pid) != '\0');  // still running
    CHECK(ipc::active_children().empty());      // no object left to list
    go.put("x");
    int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    REQUIRE(fd >= 0);
    ::waitid(P_PIDFD, static_cast<id_t>(fd), nullptr, WEXITED | WNOWAIT);
    ::close(fd);
    CHECK(ipc::test::proc_state(pid) == 'Z');
    ipc::active_children();
    CHECK(ipc::test::proc_state(pid) == '\0');
  }

  TEST_CASE("close is refused while running and then releases the sentinel") {
    ipc::Process p{[] { std::this_thread::sleep_for(30s); }};
    p.start();
    int before = ipc::test::count_open_fds();
    CHECK_THROWS_AS(p.close(), ipc::ValueError);
    p.terminate();
    p.join();
    p.close();
    CHECK(ipc::test::count_open_fds() == before - 1);
    CHECK_THROWS_AS(p.sentinel(), ipc::ValueError);
    CHECK_THROWS_AS(p.join(), ipc::ValueError);
  }

  TEST_CASE("calls before start are clear errors") {
    ipc::Process p{[] {}};
    CHECK_THROWS_AS(p.join(), ipc::ValueError);
    CHECK_THROWS_AS(p.terminate(), ipc::ValueError);
    CHECK_THROWS_AS(p.sentinel(), ipc::ValueError);
    CHECK_FALSE(p.is_alive());
  }

  TEST_CASE("a moved Process keeps tracking its child") {
    std::vector<ipc::Process> ps;
    for (int i = 0; i < 5; ++i) ps.emplace_back([i] { return i + 10; });
    for (auto& p : ps) p.start();
    std::vector<pid_t> pids;
    for (auto& p : ps) pids.push_back(p.pid());
    ps.reserve(100);  // reallocates: every Process is moved
    auto kids = ipc::active_children();
    for (auto& p : ps) p.join();
    for (int i = 0; i < 5; ++i) CHECK(*ps[static_cast<std::size_t>(i)].exitcode() == i + 10);
    CHECK(ipc::active_children().empty());
  }

  TEST_CASE("cpu_count is positive") { CHECK(ipc::cpu_count() >= 1); }

  TEST_CASE("starting processes from a multi-threaded parent warns once on stderr" * doctest::timeout(60)) {
    // 0: no thread; 1: a thread runs while processes start; 2: the same, warning silenced.
    for (int mode = 0; mode < 3; ++mode) {
      std::string out = ipc::test::stderr_of_child([&] {
        if (mode == 2) ::setenv("IPCKIT_FORK_WARNING", "0", 1);
        std::atomic<bool> stop{false};
        std::thread t;
        if (mode > 0) t = std::thread([&] {
          while (!stop.load()) std::this_thread::sleep_for(1ms);
        });
        for (int i = 0; i < 3; ++i) {
          ipc::Process child{[] { return 0; }};
          child.start();
          if (!child.join(30s) || *child.exitcode() != 0) return 2;
        }
        stop = true;
        if (t.joinable()) t.join();
        return 0;
      }, 30s);
      CHECK(ipc::test::fork_warnings(out) == (mode == 1 ? 1u : 0u));
      if (mode == 1) CHECK(out.find("use of fork() may lead to deadlocks in the child") != std::string::npos);
    }
  }

  TEST_CASE("a single-threaded program is not warned in its children or grandchildren" * doctest::timeout(60)) {
    // In every build: a sanitizer's own thread (ThreadSanitizer runs one in each forked child)
    // is not one the program started.
    std::string out = ipc::test::stderr_of_child([&] {
      for (int i = 0; i < 2; ++i) {
        ipc::Process child{[] {
          ipc::Process grandchild{[] { return 0; }};
          grandchild.start();
          return grandchild.join(30s) && *grandchild.exitcode() == 0 ? 0 : 4;
        }};
        child.start();
        if (!child.join(30s) || *child.exitcode() != 0) return 2;
      }
      return 0;
    }, 30s);
    CHECK(ipc::test::fork_warnings(out) == 0);
  }

  TEST_CASE("a Pool's own thread does not make its forks or the user's warn" * doctest::timeout(60)) {
    // The pool thread forks the workers (and their replacements) while main runs, and main
    // starts a Process while the pool thread runs: neither is a thread the user started.
    std::string out = ipc::test::stderr_of_child([&] {
      ipc::Pool pool(2);
      if (pool.apply(+[](int x) { return x * x; }, 7) != 49) return 2;
      ipc::Process child{[] { return 0; }};
      child.start();
      if (!child.join(30s) || *child.exitcode() != 0) return 3;
      return 0;
    }, 30s);
    CHECK(ipc::test::fork_warnings(out) == 0);
  }
}
