// Lifecycles: /proc inspection, pidfiles, daemonize(), and the ipc-lifecycle tool's lessons.
#include <doctest/doctest.h>

#include <ipc/lifecycle.hpp>
#include <ipc/process.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
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

  TEST_CASE("stat parses a command name holding spaces and parentheses" * doctest::timeout(30)) {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    ipc::Process p{[&] {
      ::prctl(PR_SET_NAME, "a) (Z 1 2");
      char c = 1;
      [[maybe_unused]] auto n = ::write(fds[1], &c, 1);
      ::pause();
    }};
    p.start();
    char c = 0;
    REQUIRE(::read(fds[0], &c, 1) == 1);
    auto s = ipc::proc::stat(p.pid());
    REQUIRE(s);
    CHECK(s->comm == "a) (Z 1 2");
    CHECK((s->state == 'S' || s->state == 'R'));  // parsed after the tricky name
    CHECK(s->ppid == ::getpid());
    p.kill();
    p.join(10s);
    ::close(fds[0]);
    ::close(fds[1]);
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

  TEST_CASE("a relative pidfile is removed by the daemon although it changed directory" * doctest::timeout(60)) {
    ipc::test::become_subreaper();
    ipc::test::TempDir dir;
    REQUIRE(::chdir(dir.path().c_str()) == 0);
    ipc::DaemonOptions o;
    o.pidfile = "rel.pid";
    o.wait_for_ready = true;
    auto d = ipc::daemonize(o);
    if (d.is_daemon()) test_daemon_body(std::move(d));
    CHECK(ipc::read_pidfile(dir / "rel.pid") == d.pid());
    CHECK(ipc::proc::read_link(d.pid(), "cwd") == "/");
    CHECK(ipc::stop_daemon("rel.pid", 20s) == d.pid());
    CHECK_FALSE(fs::exists(dir / "rel.pid"));
    REQUIRE(::chdir("/") == 0);
  }

  TEST_CASE("a daemon killed with SIGKILL leaves a stale pidfile that the next daemon takes over" *
            doctest::timeout(60)) {
    ipc::test::become_subreaper();
    ipc::test::TempDir dir;
    ipc::DaemonOptions o;
    o.pidfile = dir / "k.pid";
    o.wait_for_ready = true;
    auto first = ipc::daemonize(o);
    if (first.is_daemon()) test_daemon_body(std::move(first));
    REQUIRE(::kill(first.pid(), SIGKILL) == 0);
    int code = 0;
    REQUIRE(ipc::proc::wait_exit(first.pid(), 10s, &code));
    CHECK(code == -SIGKILL);
    CHECK(fs::exists(o.pidfile));                       // nobody removed it
    CHECK(ipc::read_pidfile(o.pidfile) == std::nullopt);  // but nobody holds it either
    CHECK(ipc::stop_daemon(o.pidfile, 1s) == std::nullopt);
    auto second = ipc::daemonize(o);
    if (second.is_daemon()) test_daemon_body(std::move(second));
    CHECK(second.pid() != first.pid());
    CHECK(ipc::read_pidfile(o.pidfile) == second.pid());
    CHECK(ipc::stop_daemon(o.pidfile, 20s) == second.pid());
    CHECK_FALSE(fs::exists(o.pidfile));
  }

  TEST_CASE("close_fds leaves the daemon only its std fds and the pidfile and the fds it keeps" *
            doctest::timeout(60)) {
    ipc::test::become_subreaper();
    ipc::test::TempDir dir;
    const int extra = ::open("/dev/zero", O_RDONLY | O_CLOEXEC);
    const int kept = ::open("/dev/zero", O_RDONLY | O_CLOEXEC);
    REQUIRE(extra >= 0);
    REQUIRE(kept >= 0);
    ipc::DaemonOptions o;
    o.pidfile = dir / "c.pid";
    o.close_fds = true;
    o.keep_fds = {kept};
    o.wait_for_ready = true;
    auto d = ipc::daemonize(o);
    if (d.is_daemon()) test_daemon_body(std::move(d));
    std::vector<int> fds;
    for (auto& e : fs::directory_iterator("/proc/" + std::to_string(d.pid()) + "/fd")) {
      int fd = std::stoi(e.path().filename().string());
      // The report pipe: the daemon closes it right after writing "ready", maybe not yet.
      if (!ipc::proc::read_link(d.pid(), "fd/" + std::to_string(fd)).value_or("").starts_with("pipe:")) fds.push_back(fd);
    }
    CHECK(fds.size() == 5);  // 0 1 2, the pidfile, `kept`
    CHECK(std::find(fds.begin(), fds.end(), kept) != fds.end());
    CHECK(std::find(fds.begin(), fds.end(), extra) == fds.end());
    bool pidfile_open = false;
    for (int fd : fds)
      pidfile_open = pidfile_open || ipc::proc::read_link(d.pid(), "fd/" + std::to_string(fd)) == fs::canonical(o.pidfile).string();
    CHECK(pidfile_open);
    CHECK(ipc::stop_daemon(o.pidfile, 20s) == d.pid());
    ::close(extra);
    ::close(kept);
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

#ifdef IPC_LIFECYCLE_BIN
#include <nlohmann/json.hpp>

namespace {

struct ToolRun {
  int exitcode = -1000;
  std::string out;
  nlohmann::json json() const { return nlohmann::json::parse(out); }
};

/// Runs the program `bin` with `args`, collecting its stdout until every writer closed it (bounded).
ToolRun run_program(const char* bin, std::vector<std::string> args) {
  int p[2];
  REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
  ipc::Process tool{[&] {
    ::dup2(p[1], STDOUT_FILENO);
    std::vector<char*> argv{const_cast<char*>(bin)};
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(bin, argv.data());
    std::_Exit(127);
  }};
  tool.start();
  ::close(p[1]);
  ToolRun r;
  ipc::Deadline deadline(120s);
  char buf[4096];
  for (;;) {
    pollfd pf{p[0], POLLIN, 0};
    if (::poll(&pf, 1, deadline.poll_ms()) != 1) break;
    ssize_t n = ::read(p[0], buf, sizeof buf);
    if (n <= 0) break;
    r.out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(p[0]);
  if (!tool.join(60s)) tool.kill();
  tool.join(10s);
  r.exitcode = tool.exitcode().value_or(-1000);
  return r;
}

/// Runs ipc-lifecycle with `args`.
ToolRun run_tool(std::vector<std::string> args) { return run_program(IPC_LIFECYCLE_BIN, std::move(args)); }

bool check_passed(const nlohmann::json& j, std::string_view prefix) {
  for (auto& c : j["checks"])
    if (c["check"].get<std::string>().starts_with(prefix)) return c["ok"].get<bool>();
  return false;
}

}  // namespace

TEST_SUITE("ipc-lifecycle") {
  TEST_CASE("zombie shows Z held through kill -9 and gone after join" * doctest::timeout(60)) {
    ipc::test::become_subreaper();
    auto r = run_tool({"zombie", "--json", "--hold", "0.2"});
    REQUIRE(r.exitcode == 0);
    auto j = r.json();
    CHECK(j["ok"] == true);
    auto& o = j["observed"];
    const pid_t child = o["child_pid"];
    CHECK(child > 0);
    CHECK(o["after_exit"]["state"] == "Z");
    CHECK(o["after_exit"]["ppid"] == o["parent_pid"]);
    CHECK(o["status_state"] == "Z (zombie)");
    CHECK(o["after_hold"]["state"] == "Z");
    CHECK(o["after_sigkill"]["state"] == "Z");
    CHECK(o["after_join"].is_null());
    CHECK(o["exists_after_join"] == false);
    CHECK(o["pid_after_join"] == child);
    CHECK(o["exitcode"] == 0);
    CHECK(o["reaped"] == true);
    CHECK_FALSE(ipc::proc::exists(child));
  }

  TEST_CASE("zombie with no-reap keeps it unreaped for the hold" * doctest::timeout(60)) {
    ipc::test::become_subreaper();
    auto r = run_tool({"zombie", "--json", "--no-reap", "--hold", "0.3"});
    REQUIRE(r.exitcode == 0);
    auto j = r.json();
    auto& o = j["observed"];
    CHECK(o["after_exit"]["state"] == "Z");
    CHECK(o["after_hold"]["state"] == "Z");
    CHECK(o["reaped"] == false);
    CHECK_FALSE(o.contains("after_join"));
    CHECK_FALSE(ipc::proc::exists(o["child_pid"].get<pid_t>()));  // reaped when the tool exited
  }

  TEST_CASE("killing the parent of a no-reap zombie hands the zombie to the subreaper" * doctest::timeout(60)) {
    ipc::test::become_subreaper();
    int p[2];
    REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
    ipc::Process tool{[&] {
      ::dup2(p[1], STDOUT_FILENO);
      ::execl(IPC_LIFECYCLE_BIN, IPC_LIFECYCLE_BIN, "zombie", "--no-reap", "--hold", "60", static_cast<char*>(nullptr));
      std::_Exit(127);
    }};
    tool.start();
    ::close(p[1]);
    std::string out;
    pid_t zombie = 0;
    char buf[512];
    while (out.find("--no-reap:") == std::string::npos) {  // printed once the zombie exists
      pollfd pf{p[0], POLLIN, 0};
      REQUIRE(::poll(&pf, 1, 20000) == 1);
      ssize_t n = ::read(p[0], buf, sizeof buf);
      REQUIRE(n > 0);
      out.append(buf, static_cast<std::size_t>(n));
    }
    auto at = out.find("the child (pid ");
    REQUIRE(at != std::string::npos);
    zombie = static_cast<pid_t>(std::stoi(out.substr(at + 15)));
    CHECK(ipc::proc::stat(zombie).value().state == 'Z');
    CHECK(ipc::proc::stat(zombie).value().ppid == tool.pid());
    tool.kill();  // "end its parent"
    REQUIRE(tool.join(10s));
    int code = -1000;
    REQUIRE(ipc::proc::wait_exit(zombie, 10s, &code));  // adopted by us, the subreaper: ours to reap
    CHECK(code == 0);
    CHECK_FALSE(ipc::proc::exists(zombie));
    ::close(p[0]);
  }

  TEST_CASE("orphans are adopted by the nearest subreaper which is this test" * doctest::timeout(60)) {
    ipc::test::become_subreaper();
    auto r = run_tool({"orphan", "--json", "--hold", "0.2", "--children", "3"});
    REQUIRE(r.exitcode == 0);
    auto j = r.json();
    auto& o = j["observed"];
    CHECK(o["subreaper"] == false);
    REQUIRE(o["children"].size() == 3);
    for (auto& c : o["children"]) {
      CHECK(c["ppid_before"] == o["parent_pid"]);
      CHECK(c["ppid_after"] == ::getpid());  // the tool is not a subreaper: we are the nearest one
      int code = -1000;
      CHECK(ipc::proc::wait_exit(c["pid"].get<pid_t>(), 10s, &code));
      CHECK(code == 0);  // it was ours to reap, and it ended by itself
    }
    CHECK(o["new_parent"]["is"] == "ancestor subreaper");
    CHECK(o["children_ended"] == true);
  }

  TEST_CASE("orphans are adopted by the tool when it is a subreaper" * doctest::timeout(60)) {
    ipc::test::become_subreaper();
    auto r = run_tool({"orphan", "--json", "--subreaper", "--hold", "0.2"});
    REQUIRE(r.exitcode == 0);
    auto j = r.json();
    auto& o = j["observed"];
    CHECK(o["subreaper"] == true);
    REQUIRE(o["children"].size() == 2);
    for (auto& c : o["children"]) {
      CHECK(c["ppid_before"] == o["parent_pid"]);
      CHECK(c["ppid_after"] == o["tool_pid"]);
      CHECK_FALSE(ipc::proc::exists(c["pid"].get<pid_t>()));  // the tool reaped them
    }
    CHECK(o["new_parent"]["is"] == "this tool (subreaper)");
    CHECK(check_passed(j, "this tool, their new parent, reaped them"));
  }

  TEST_CASE("daemonic children end with main whether it returns or is SIGKILLed" * doctest::timeout(60)) {
    ipc::test::become_subreaper();
    auto r = run_tool({"daemonic", "--json", "--hold", "0.5"});
    REQUIRE(r.exitcode == 0);
    auto j = r.json();
    auto& a = j["observed"]["main_ends"];
    CHECK(a["main_exitcode"] == 0);
    CHECK(a["ticks_while_main_ran"].get<int>() >= 2);
    CHECK(a["printed_end"] == false);
    CHECK(a["output_closed"] == true);
    CHECK(a["gone_after_main"] == true);
    REQUIRE(a["daemonic_pids"].size() == 2);
    for (auto& d : a["daemonic_pids"]) CHECK_FALSE(ipc::proc::exists(d.get<pid_t>()));
    auto& b = j["observed"]["main_killed"];
    CHECK(b["main_exitcode"] == -SIGKILL);
    CHECK(b["ended"] == true);
    CHECK(b["exitcode"] == -SIGKILL);
    CHECK(b["printed_end"] == false);
    CHECK_FALSE(ipc::proc::exists(b["daemonic_pid"].get<pid_t>()));
    CHECK(j["observed"]["daemonic_start_child"]["error"].get<std::string>().find(
              "daemonic processes are not allowed to have children") != std::string::npos);
  }

  TEST_CASE("daemonize makes a session without a terminal and a locked pidfile and stops it" * doctest::timeout(60)) {
    ipc::test::become_subreaper();
    ipc::test::TempDir dir;
    const auto pidfile = dir / "lc.pid";
    const auto log = dir / "lc.log";
    auto r = run_tool({"daemonize", "--json", "--pidfile", pidfile.string(), "--log", log.string()});
    REQUIRE(r.exitcode == 0);
    auto j = r.json();
    auto& o = j["observed"];
    auto& d = o["daemon"];
    const pid_t pid = d["pid"];
    CHECK(pid > 0);
    // The classic double fork: a session of its own whose leader (the first child) has exited,
    // so sid == pgid == the first child's pid, and sid != the daemon's pid.
    CHECK(d["session"] == o["first_child_pid"]);
    CHECK(d["session"] != pid);
    CHECK(d["pgrp"] == d["session"]);
    CHECK(d["session"] != o["tool"]["session"]);
    CHECK(o["first_child_exists"] == false);
    CHECK(d["tty_nr"] == 0);
    CHECK(d["tpgid"] == -1);
    CHECK(d["ppid"] == ::getpid());  // the nearest subreaper: this test
    CHECK(o["cwd"] == "/");
    CHECK(o["umask"] == "0022");
    CHECK(o["fds"]["0"] == "/dev/null");
    CHECK(o["fds"]["1"] == fs::canonical(log).string());
    CHECK(o["pidfile_pid"] == pid);
    CHECK(o["second_instance_error"].get<std::string>().find("already running") != std::string::npos);
    CHECK(o["stopped_pid"] == pid);
    CHECK(o["pidfile_removed"] == true);
    int code = -1000;
    CHECK(ipc::proc::wait_exit(pid, 10s, &code));
    CHECK(code == 0);  // it ended cleanly on SIGTERM
    CHECK_FALSE(fs::exists(pidfile));
    auto text = slurp(log);
    CHECK(text.find("open(/dev/tty): No such device or address") != std::string::npos);
    CHECK(text.find("ending on signal 15") != std::string::npos);
  }

  TEST_CASE("daemonize keep leaves the daemon running and stop ends it through the pidfile" * doctest::timeout(60)) {
    ipc::test::become_subreaper();
    ipc::test::TempDir dir;
    const auto pidfile = (dir / "keep.pid").string();
    auto r = run_tool({"daemonize", "--json", "--keep", "--hold", "30", "--pidfile", pidfile});
    REQUIRE(r.exitcode == 0);
    const pid_t pid = r.json()["observed"]["daemon"]["pid"];
    auto s = ipc::proc::stat(pid);
    REQUIRE(s);
    CHECK(s->state != 'Z');  // still running after the tool has exited
    CHECK(ipc::read_pidfile(pidfile) == pid);

    auto stop = run_tool({"daemonize", "--json", "--stop", "--pidfile", pidfile});
    CHECK(stop.exitcode == 0);
    CHECK(stop.json()["observed"]["stopped_pid"] == pid);
    int code = -1000;
    CHECK(ipc::proc::wait_exit(pid, 10s, &code));
    CHECK(code == 0);
    CHECK_FALSE(fs::exists(pidfile));

    auto again = run_tool({"daemonize", "--json", "--stop", "--pidfile", pidfile});
    CHECK(again.exitcode == 1);
    CHECK(again.json()["observed"]["stopped_pid"].is_null());
  }

  TEST_CASE("help explains every lesson and usage errors exit 2" * doctest::timeout(60)) {
    auto help = run_tool({"--help"});
    CHECK(help.exitcode == 0);
    for (const char* s : {"zombie", "orphan", "daemonic", "daemonize", "PR_SET_CHILD_SUBREAPER"})
      CHECK(help.out.find(s) != std::string::npos);
    CHECK(run_tool({}).exitcode == 2);
    CHECK(run_tool({"zombie", "--hold", "-1"}).exitcode == 2);
    CHECK(run_tool({"daemonize", "--keep", "--stop"}).exitcode == 2);
  }
}
#endif  // IPC_LIFECYCLE_BIN

#if defined(IPC_LIFECYCLE_BIN) && defined(IPCKIT_EXAMPLES_DIR)
namespace {
int count(const std::string& text, const std::string& what) {
  int n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}
}  // namespace

TEST_SUITE("examples") {
  TEST_CASE("E06 zombie_process shows Z before join and no process after join or after the parent is killed" *
            doctest::timeout(60)) {
    auto r = run_program(IPCKIT_EXAMPLES_DIR "/zombie_process", {});
    REQUIRE(r.exitcode == 0);
    CHECK(count(r.out, "State: Z (zombie)") == 2);
    CHECK(count(r.out, "<defunct>") == 2);
    CHECK(count(r.out, "State: (no such process)") == 2);
    CHECK(r.out.find("after join(), p.pid() is still") != std::string::npos);
  }

  TEST_CASE("E07 orphan_process children outlive main and are adopted by the nearest subreaper" *
            doctest::timeout(60)) {
    ipc::test::become_subreaper();
    auto r = run_program(IPCKIT_EXAMPLES_DIR "/orphan_process", {});  // returns once both orphans closed stdout
    REQUIRE(r.exitcode == 0);
    CHECK(count(r.out, "has exited; my parent is now " + std::to_string(::getpid()) + "\n") == 2);
    CHECK(count(r.out, "ending after 2 s") == 2);
    auto orphans = ipc::proc::children(::getpid());  // adopted by us; they may still be exiting
    CHECK(orphans.size() == 2);
    for (pid_t c : orphans) {
      int code = -1000;
      CHECK(ipc::proc::wait_exit(c, 10s, &code));
      CHECK(code == 0);
    }
    CHECK(ipc::proc::children(::getpid()).empty());
  }

  TEST_CASE("E08 daemon_process daemonic children never print is end and leave nothing behind" *
            doctest::timeout(60)) {
    auto r = run_program(IPCKIT_EXAMPLES_DIR "/daemon_process", {});
    REQUIRE(r.exitcode == 0);
    CHECK(r.out.find("main is run") != std::string::npos);
    CHECK(r.out.find("is end") == std::string::npos);
    CHECK(count(r.out, "processes left behind: 0") == 3);
    CHECK(r.out.find("Ping") != std::string::npos);
    CHECK(r.out.find("Pong") != std::string::npos);
    CHECK(r.out.find("ValueError: start: daemonic processes are not allowed to have children") != std::string::npos);
  }
}
#endif
