// Lifecycles: /proc inspection, pidfiles, daemonize(), and the ipc-lifecycle tool's lessons.
#include <doctest/doctest.h>

#include <ipc/lifecycle.hpp>
#include <ipc/process.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "test_support.hpp"

using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

/// The body of a daemon started by a test: blocks SIGTERM, reports ready, waits (bounded) for
/// SIGTERM, removes its pidfile and ends. Never returns into doctest.
[[noreturn]] void test_daemon_body(ipc::Daemon d) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  ::sigprocmask(SIG_BLOCK, &set, nullptr);
  std::printf("daemon %d ready\n", d.pid());
  std::fflush(stdout);
  d.ready();
  timespec limit{60, 0};
  int sig = ::sigtimedwait(&set, nullptr, &limit);
  std::printf("daemon %d ends on %d\n", d.pid(), sig);
  std::fflush(stdout);
  { ipc::Daemon gone = std::move(d); }  // removes the pidfile
  ::_exit(sig == SIGTERM ? 0 : 3);
}

std::string slurp(const fs::path& p) {
  std::ifstream f(p);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

}  // namespace

TEST_SUITE("proc") {
  TEST_CASE("stat of the calling process matches getppid getpgrp and getsid") {
    auto s = ipc::proc::stat(::getpid());
    REQUIRE(s);
    CHECK(s->pid == ::getpid());
    CHECK(s->state == 'R');
    CHECK(s->ppid == ::getppid());
    CHECK(s->pgrp == ::getpgrp());
    CHECK(s->session == ::getsid(0));
    CHECK(s->num_threads >= 1);
    CHECK(s->starttime > 0);
    CHECK(slurp("/proc/self/comm") == s->comm + "\n");
    CHECK(ipc::proc::exists(::getpid()));
    CHECK(ipc::proc::status_field(::getpid(), "State").value().starts_with("R"));
    CHECK(ipc::proc::status_field(::getpid(), "NoSuchField") == std::nullopt);
    CHECK(ipc::proc::read_link(::getpid(), "cwd") == fs::current_path().string());
  }

  TEST_CASE("an exited child that is not waited for is a zombie until join reaps it" * doctest::timeout(30)) {
    ipc::Process p{[] { return 4; }};
    p.start();
    const pid_t pid = p.pid();
    pollfd pf{p.sentinel(), POLLIN, 0};
    REQUIRE(::poll(&pf, 1, 10000) == 1);  // it has exited; nobody has waited for it
    auto z = ipc::proc::stat(pid);
    REQUIRE(z);
    CHECK(z->state == 'Z');
    CHECK(z->ppid == ::getpid());
    CHECK(ipc::proc::state_name(z->state) == "zombie");
    CHECK(ipc::proc::status_field(pid, "State").value() == "Z (zombie)");
    CHECK(ipc::proc::exists(pid));
    CHECK(ipc::proc::children(::getpid()) == std::vector<pid_t>{pid});
    REQUIRE(p.join(10s));
    CHECK(*p.exitcode() == 4);
    CHECK_FALSE(ipc::proc::stat(pid));
    CHECK_FALSE(ipc::proc::exists(pid));
    CHECK(ipc::proc::children(::getpid()).empty());
  }

  TEST_CASE("ancestors end at pid 1 and start with the parent") {
    auto a = ipc::proc::ancestors(::getpid());
    REQUIRE(!a.empty());
    CHECK(a.front() == ::getppid());
    CHECK(a.back() == 1);
  }

  TEST_CASE("set_subreaper adopts an orphaned grandchild and wait_exit reaps it" * doctest::timeout(30)) {
    CHECK_FALSE(ipc::proc::is_subreaper());
    ipc::proc::set_subreaper();
    CHECK(ipc::proc::is_subreaper());
    int up[2], down[2];  // grandchild -> parent, parent -> test
    REQUIRE(::pipe2(up, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(down, O_CLOEXEC) == 0);
    ipc::Process parent{[&] {
      ipc::Process child{[&] {
        pid_t self = ::getpid();
        [[maybe_unused]] auto n = ::write(up[1], &self, sizeof self);
        ipc::parent_process()->join(10s);  // until the parent is gone
        return 7;
      }};
      child.start();
      pid_t pid = 0;
      // Wait until the child runs (and watches us), then leave without joining it.
      if (::read(up[0], &pid, sizeof pid) != sizeof pid) std::_Exit(2);
      [[maybe_unused]] auto n = ::write(down[1], &pid, sizeof pid);
      std::_Exit(0);  // without joining the child: it becomes an orphan
    }};
    parent.start();
    pid_t grandchild = 0;
    REQUIRE(::read(down[0], &grandchild, sizeof grandchild) == sizeof grandchild);
    REQUIRE(parent.join(10s));
    int code = -100;
    REQUIRE(ipc::proc::wait_exit(grandchild, 10s, &code));
    CHECK(code == 7);  // it was re-parented to us, so we reaped it and saw its exit code
    CHECK_FALSE(ipc::proc::exists(grandchild));
    for (int fd : {up[0], up[1], down[0], down[1]}) ::close(fd);
  }

  TEST_CASE("wait_exit times out while the process runs and is true for a pid that is gone" * doctest::timeout(30)) {
    ipc::Process p{[] { ::pause(); }};
    p.start();
    CHECK_FALSE(ipc::proc::wait_exit(p.pid(), 50ms));
    p.kill();
    REQUIRE(p.join(10s));
    CHECK(ipc::proc::wait_exit(p.pid(), 1s));
    CHECK_THROWS_AS(ipc::proc::wait_exit(0, 1s), ipc::ValueError);
  }
}

TEST_SUITE("Pidfile") {
  TEST_CASE("a pidfile holds the pid and a second acquire is refused with the holder's pid") {
    ipc::test::TempDir dir;
    const auto path = dir / "x.pid";
    {
      auto pf = ipc::Pidfile::acquire(path);
      pf.write();
      CHECK(slurp(path) == std::to_string(::getpid()) + "\n");
      CHECK(ipc::read_pidfile(path) == ::getpid());
      try {
        ipc::Pidfile::acquire(path);
        FAIL("a second acquire succeeded");
      } catch (const ipc::AlreadyRunning& e) {
        CHECK(e.pid() == ::getpid());
        CHECK(std::string(e.what()).find("already running") != std::string::npos);
        CHECK(std::string(e.what()).find(std::to_string(::getpid())) != std::string::npos);
      }
    }
    CHECK_FALSE(fs::exists(path));  // removed with the handle
    CHECK(ipc::read_pidfile(path) == std::nullopt);
  }

  TEST_CASE("a stale pidfile left by a dead instance is not running and can be taken over") {
    ipc::test::TempDir dir;
    const auto path = dir / "stale.pid";
    std::ofstream(path) << "999999\n";
    CHECK(ipc::read_pidfile(path) == std::nullopt);
    CHECK(ipc::stop_daemon(path, 1s) == std::nullopt);
    auto pf = ipc::Pidfile::acquire(path);
    CHECK(slurp(path).empty());  // the stale pid is gone before ours is written
    pf.write(1234);
    CHECK(ipc::read_pidfile(path) == 1234);
  }

  TEST_CASE("the lock is held by another process while its pidfile handle lives" * doctest::timeout(30)) {
    ipc::test::TempDir dir;
    const auto path = dir / "child.pid";
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    ipc::Process holder{[&] {
      auto pf = ipc::Pidfile::acquire(path);
      pf.write();
      char c = 1;
      [[maybe_unused]] auto n = ::write(fds[1], &c, 1);
      ::pause();  // until killed: the kernel drops the lock with the process
    }};
    holder.start();
    char c = 0;
    REQUIRE(::read(fds[0], &c, 1) == 1);
    CHECK(ipc::read_pidfile(path) == holder.pid());
    CHECK_THROWS_AS(ipc::Pidfile::acquire(path), ipc::AlreadyRunning);
    holder.kill();
    REQUIRE(holder.join(10s));
    CHECK(fs::exists(path));  // killed: nobody removed it
    CHECK(ipc::read_pidfile(path) == std::nullopt);
    CHECK_NOTHROW(ipc::Pidfile::acquire(path));
    ::close(fds[0]);
    ::close(fds[1]);
  }
}

TEST_SUITE("daemonize") {
  TEST_CASE("a daemon has its own session without a terminal and a pidfile and stop_daemon ends it" *
            doctest::timeout(60)) {
    ipc::test::become_subreaper();  // the daemon is re-parented here, not to init
    ipc::test::TempDir dir;
    const auto pidfile = dir / "d.pid";
    const auto log = dir / "d.log";
    ipc::DaemonOptions o;
    o.pidfile = pidfile;
    o.log_file = log;
    o.umask = 027;
    o.wait_for_ready = true;
    auto d = ipc::daemonize(o);
    if (d.is_daemon()) test_daemon_body(std::move(d));

    const pid_t pid = d.pid();
    REQUIRE(pid > 0);
    CHECK(pid != ::getpid());
    CHECK(ipc::read_pidfile(pidfile) == pid);
    CHECK(slurp(pidfile) == std::to_string(pid) + "\n");
    auto s = ipc::proc::stat(pid);
    REQUIRE(s);
    CHECK(s->session == d.session());
    CHECK(s->session != ::getsid(0));  // left our session
    CHECK(s->session != pid);          // not a session leader: cannot acquire a terminal
    CHECK(s->pgrp == s->session);
    CHECK(s->tty_nr == 0);  // no controlling terminal
    CHECK(s->tpgid == -1);
    CHECK(s->ppid == ::getpid());                   // adopted by us, the subreaper
    CHECK_FALSE(ipc::proc::exists(d.session()));    // the first child is gone (and reaped)
    CHECK(ipc::proc::read_link(pid, "cwd") == "/");
    CHECK(ipc::proc::status_field(pid, "Umask") == "0027");
    CHECK(ipc::proc::read_link(pid, "fd/0") == "/dev/null");
    CHECK(ipc::proc::read_link(pid, "fd/1") == fs::canonical(log).string());
    CHECK(ipc::proc::read_link(pid, "fd/2") == fs::canonical(log).string());

    // A second instance refuses to start, in the caller, with the running one's pid.
    try {
      ipc::daemonize(o);
      FAIL("a second daemon started on a locked pidfile");
    } catch (const ipc::AlreadyRunning& e) {
      CHECK(e.pid() == pid);
    }

    CHECK(ipc::stop_daemon(pidfile, 20s) == pid);
    CHECK_FALSE(ipc::proc::exists(pid));  // ended, and reaped by stop_daemon (we are its parent)
    CHECK_FALSE(fs::exists(pidfile));     // the daemon removed it on its way out
    auto text = slurp(log);
    CHECK(text.find("daemon " + std::to_string(pid) + " ready") != std::string::npos);
    CHECK(text.find("daemon " + std::to_string(pid) + " ends on " + std::to_string(SIGTERM)) != std::string::npos);
    CHECK(ipc::stop_daemon(pidfile, 1s) == std::nullopt);
  }

  TEST_CASE("a daemon that reports failure makes daemonize throw its message in the caller" *
            doctest::timeout(60)) {
    ipc::test::become_subreaper();
    ipc::test::TempDir dir;
    ipc::DaemonOptions o;
    o.pidfile = dir / "f.pid";
    o.wait_for_ready = true;
    auto start = [&] {
      auto d = ipc::daemonize(o);
      if (d.is_daemon()) {
        d.fail("bind(/nowhere): Permission denied");
        { ipc::Daemon gone = std::move(d); }
        ::_exit(1);
      }
    };
    CHECK_THROWS_WITH_AS(start(), doctest::Contains("bind(/nowhere): Permission denied"), ipc::DaemonStartError);
    int status = 0;
    REQUIRE(::waitpid(-1, &status, 0) > 0);  // the daemon, re-parented to us
    CHECK(WEXITSTATUS(status) == 1);
    CHECK_FALSE(fs::exists(o.pidfile));
  }

  TEST_CASE("a setup failure in the daemon is reported to the caller" * doctest::timeout(60)) {
    ipc::test::become_subreaper();
    ipc::DaemonOptions o;
    o.working_dir = "/nonexistent-ipckit-dir";
    auto start = [&] {
      auto d = ipc::daemonize(o);
      if (d.is_daemon()) ::_exit(0);  // not reached: chdir fails first
    };
    CHECK_THROWS_WITH_AS(start(), doctest::Contains("chdir(/nonexistent-ipckit-dir): No such file or directory"),
                         ipc::DaemonStartError);
    REQUIRE(::waitpid(-1, nullptr, 0) > 0);
  }

  TEST_CASE("a daemon that ends without reporting is a start failure") {
    ipc::test::become_subreaper();
    ipc::DaemonOptions o;
    o.wait_for_ready = true;
    auto start = [&] {
      auto d = ipc::daemonize(o);
      if (d.is_daemon()) ::_exit(0);
    };
    CHECK_THROWS_WITH_AS(start(), doctest::Contains("ended before it reported ready"), ipc::DaemonStartError);
    REQUIRE(::waitpid(-1, nullptr, 0) > 0);
  }

  TEST_CASE("a bad log file or a caller with live children is refused before forking" * doctest::timeout(30)) {
    ipc::DaemonOptions o;
    o.log_file = "/nonexistent-ipckit-dir/x.log";
    CHECK_THROWS_AS(ipc::daemonize(o), std::system_error);
    ipc::Process p{[] { ::pause(); }};
    p.start();
    CHECK_THROWS_AS(ipc::daemonize({}), ipc::ValueError);
    p.kill();
    p.join(10s);
  }
}
