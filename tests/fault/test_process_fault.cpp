// Process under faults: parents killed with SIGKILL, daemonic children at every kind of exit.
#include <doctest/doctest.h>

#include <ipc/process.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "test_support.hpp"

using namespace std::chrono_literals;

namespace {

/// Reads a pid the child wrote as raw bytes; -1 on timeout.
pid_t read_pid(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 10000) != 1) return -1;
  pid_t pid = -1;
  if (::read(fd, &pid, sizeof pid) != sizeof pid) return -1;
  return pid;
}

/// Waits (up to 10 s) for a re-parented grandchild to end and reaps it; returns its wait status,
/// or -1 if it is still running.
int reap_grandchild(pid_t pid) {
  int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return -2;
  pollfd p{fd, POLLIN, 0};
  int ready = ::poll(&p, 1, 10000);
  ::close(fd);
  if (ready != 1) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return -1;
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

/// Starts, in a middle process, a child with the given daemon flag that sleeps forever and
/// reports its pid; then the middle process does `then`.
template <class Then>
ipc::Process middle(int report_fd, bool daemonic, Then then) {
  return ipc::Process{[=] {
    ipc::Process c{[] { std::this_thread::sleep_for(60s); }};
    c.daemon(daemonic);
    c.start();
    pid_t pid = c.pid();
    [[maybe_unused]] auto n = ::write(report_fd, &pid, sizeof pid);
    then();
  }};
}

}  // namespace

TEST_SUITE("Process faults") {
  TEST_CASE("a daemonic child dies when its parent is SIGKILLed") {
    ipc::test::become_subreaper();
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    auto mid = middle(fds[1], true, [] { std::this_thread::sleep_for(60s); });
    mid.start();
    pid_t grandchild = read_pid(fds[0]);
    REQUIRE(grandchild > 0);
    CHECK(ipc::test::proc_state(grandchild) != '\0');
    mid.kill();
    mid.join();
    CHECK(*mid.exitcode() == -SIGKILL);
    int status = reap_grandchild(grandchild);
    REQUIRE(status >= 0);
    CHECK(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGKILL);
    ::close(fds[0]);
    ::close(fds[1]);
  }

  TEST_CASE("a daemonic child is terminated when its parent's run returns") {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    auto mid = middle(fds[1], true, [] {});
    mid.start();
    pid_t grandchild = read_pid(fds[0]);
    REQUIRE(grandchild > 0);
    mid.join(20s);
    CHECK(*mid.exitcode() == 0);
    // The middle process reaped it itself before exiting: the pid is gone, not re-parented.
    CHECK(ipc::test::proc_state(grandchild) == '\0');
    ::close(fds[0]);
    ::close(fds[1]);
  }

  TEST_CASE("a daemonic child is terminated when its parent throws") {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    auto mid = middle(fds[1], true, [] {
      ::close(2);  // keep the test log clean of the expected traceback
      throw std::runtime_error("main failed");
    });
    mid.start();
    pid_t grandchild = read_pid(fds[0]);
    REQUIRE(grandchild > 0);
    mid.join(20s);
    CHECK(*mid.exitcode() == 1);
    CHECK(ipc::test::proc_state(grandchild) == '\0');
    ::close(fds[0]);
    ::close(fds[1]);
  }

  TEST_CASE("a daemonic child is terminated when the main program calls exit") {
    ipc::test::become_subreaper();
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    // A raw fork plays a main program whose std::exit runs ipckit's at-exit policy.
    pid_t main_pid = ::fork();
    REQUIRE(main_pid >= 0);
    if (main_pid == 0) {
      ipc::Process c{[] { std::this_thread::sleep_for(60s); }};
      c.daemon(true);
      c.start();
      pid_t pid = c.pid();
      [[maybe_unused]] auto n = ::write(fds[1], &pid, sizeof pid);
      std::exit(0);
    }
    pid_t grandchild = read_pid(fds[0]);
    REQUIRE(grandchild > 0);
    int status = 0;
    REQUIRE(::waitpid(main_pid, &status, 0) == main_pid);
    CHECK(WIFEXITED(status));
    CHECK(ipc::test::proc_state(grandchild) == '\0');
    ::close(fds[0]);
    ::close(fds[1]);
  }

  TEST_CASE("a non-daemonic child outlives its SIGKILLed parent and is re-parented") {
    ipc::test::become_subreaper();
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    auto mid = middle(fds[1], false, [] { std::this_thread::sleep_for(60s); });
    mid.start();
    pid_t grandchild = read_pid(fds[0]);
    REQUIRE(grandchild > 0);
    mid.kill();
    mid.join();
    // Re-parented to this test process, the subreaper; wait until the kernel shows it.
    for (int i = 0; i < 1000 && ipc::test::proc_ppid(grandchild) != ::getpid(); ++i)
      ipc::wait({}, 10ms);
    CHECK(ipc::test::proc_ppid(grandchild) == ::getpid());
    CHECK(ipc::test::proc_state(grandchild) != 'Z');  // alive, not a zombie
    CHECK(ipc::test::proc_state(grandchild) != '\0');
    ::kill(grandchild, SIGKILL);
    int status = reap_grandchild(grandchild);
    CHECK(WTERMSIG(status) == SIGKILL);
    ::close(fds[0]);
    ::close(fds[1]);
  }

  TEST_CASE("the main program waits at exit for its non-daemonic children as Python does") {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    pid_t main_pid = ::fork();
    REQUIRE(main_pid >= 0);
    if (main_pid == 0) {
      ::close(fds[0]);
      ipc::Process c{[w = fds[1]] {
        std::this_thread::sleep_for(300ms);
        [[maybe_unused]] auto n = ::write(w, "done", 4);
      }};
      c.start();
      std::exit(0);  // must not return before the child has written
    }
    ::close(fds[1]);
    int status = 0;
    REQUIRE(::waitpid(main_pid, &status, 0) == main_pid);
    char buf[8] = {};
    pollfd p{fds[0], POLLIN, 0};
    REQUIRE(::poll(&p, 1, 0) == 1);  // already written when main had exited
    CHECK(::read(fds[0], buf, sizeof buf) == 4);
    CHECK(std::string(buf) == "done");
    ::close(fds[0]);
  }
}
