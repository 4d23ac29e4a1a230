// The daemonize lesson: a classic Unix daemon by double fork, inspected from /proc, stopped by pidfile.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <ipc/lifecycle.hpp>

#include "lesson.hpp"

namespace lifecycle_tool {

const char* const kDaemonizeHelp =
    "A Unix daemon by double fork: setsid (new session, no terminal), fork again (never a session\n"
    "leader), umask, chdir /, std fds to /dev/null or a log, locked pidfile; --stop ends it by pidfile.";

namespace fs = std::filesystem;

fs::path default_pidfile() {
  if (const char* run = std::getenv("XDG_RUNTIME_DIR"); run && *run && fs::is_directory(run))
    return fs::path(run) / "ipc-lifecycle.pid";
  return fs::path("/tmp") / ("ipc-lifecycle-" + std::to_string(::getuid()) + ".pid");
}

namespace {

using namespace std::chrono_literals;
namespace proc = ipc::proc;

/// The daemon's life in the lesson: writes what it sees of itself to its log (its stdout),
/// waits for SIGTERM/SIGINT or the end of `hold`, removes its pidfile and returns 0.
int run_lesson_daemon(ipc::Daemon d, double hold) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  ::sigprocmask(SIG_BLOCK, &set, nullptr);  // before ready(): a stop may come at once
  d.ready();
  errno = 0;
  int tty = ::open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
  std::string tty_text = tty >= 0 ? "opened (unexpected)" : std::strerror(errno);
  if (tty >= 0) ::close(tty);
  std::printf("ipc-lifecycle daemon pid %d: ppid %d pgrp %d sid %d; open(/dev/tty): %s\n", ::getpid(), ::getppid(),
              ::getpgrp(), ::getsid(0), tty_text.c_str());
  std::fflush(stdout);
  auto whole = std::chrono::duration_cast<std::chrono::nanoseconds>(seconds(hold));
  timespec limit{static_cast<time_t>(whole.count() / 1'000'000'000), static_cast<long>(whole.count() % 1'000'000'000)};
  int sig = ::sigtimedwait(&set, nullptr, &limit);
  std::printf("ipc-lifecycle daemon pid %d: %s\n", ::getpid(),
              sig > 0 ? ("ending on signal " + std::to_string(sig)).c_str() : "ending after its hold time");
  std::fflush(stdout);
  return 0;  // `d` goes now: the pidfile is removed
}

/// --stop: ends the daemon holding `pidfile`.
int stop_lesson(Lesson& L, const fs::path& pidfile) {
  L.say("daemonize --stop: SIGTERM to the pid in " + pidfile.string() + ", if its lock shows it runs.");
  auto pid = ipc::stop_daemon(pidfile, 10s);
  L.observed()["stopped_pid"] = pid ? json(*pid) : json(nullptr);
  L.observed()["pidfile_removed"] = !fs::exists(pidfile);
  if (!pid) L.say("  no daemon holds " + pidfile.string() + " locked: nothing is running (a stale file is ignored).");
  if (L.check("a daemon held the pidfile and ended on SIGTERM" + (pid ? " (pid " + std::to_string(*pid) + ")" : std::string()),
              pid.has_value()))
    L.check("it removed its pidfile on the way out", !fs::exists(pidfile));
  return L.finish();
}

/// Step 1: records what /proc shows of the daemon `d`; returns its stat.
std::optional<proc::Stat> observe_daemon(Lesson& L, const ipc::Daemon& d, const fs::path& pidfile) {
  const pid_t pid = d.pid();
  auto s = proc::stat(pid);
  json fds = json::object();
  for (int fd = 0; fd <= 2; ++fd) fds[std::to_string(fd)] = proc::read_link(pid, "fd/" + std::to_string(fd)).value_or("");
  const auto pidfile_pid = ipc::read_pidfile(pidfile);
  L.observed()["tool"] = json{{"pid", ::getpid()}, {"session", ::getsid(0)}};
  L.observed()["daemon"] = stat_json(s);
  L.observed()["first_child_pid"] = d.session();
  L.observed()["first_child_exists"] = proc::exists(d.session());
  L.observed()["cwd"] = proc::read_link(pid, "cwd").value_or("");
  L.observed()["umask"] = proc::status_field(pid, "Umask").value_or("");
  L.observed()["fds"] = fds;
  L.observed()["pidfile_pid"] = pidfile_pid ? json(*pidfile_pid) : json(nullptr);
  if (s) L.say(ps_lines(*s));
  L.say("  check by hand: ps -o pid,ppid,pgid,sid,tty,stat,comm -p " + std::to_string(pid));
  L.check("the daemon (pid " + std::to_string(pid) + ") runs", s.has_value());
  return s;
}

/// Step 2: checks each property a daemon must have.
void check_daemon(Lesson& L, const ipc::Daemon& d, const proc::Stat& s, const Options& o) {
  const pid_t pid = d.pid();
  const pid_t self = ::getpid();
  const auto ancestors = proc::ancestors(self);
  const std::string out_target =
      o.log_file.empty() ? std::string("/dev/null") : fs::weakly_canonical(fs::absolute(o.log_file)).string();
  const json& fds = L.observed()["fds"];
  L.check("it is in a new session (sid " + std::to_string(s.session) + ", ours is " + std::to_string(::getsid(0)) + ")",
          s.session != ::getsid(0) && s.session == d.session());
  L.check("it is not the session leader (sid != pid): thanks to the second fork it can never acquire a terminal",
          s.session != pid);
  L.check("its process group is the session's (pgid == sid)", s.pgrp == s.session);
  L.check("the session leader, the first child (pid " + std::to_string(d.session()) + "), has exited",
          !proc::exists(d.session()));
  L.check("it has no controlling terminal (tty_nr 0, TTY ?)", s.tty_nr == 0 && s.tpgid == -1);
  const bool ppid_ok =
      s.ppid == 1 || (s.ppid != self && std::find(ancestors.begin(), ancestors.end(), s.ppid) != ancestors.end());
  L.check("its parent is init (pid 1) or the nearest subreaper ancestor, not this process (ppid " +
              std::to_string(s.ppid) + ", " + comm_of(s.ppid) + ")",
          ppid_ok);
  L.check("its working directory is /", L.observed()["cwd"] == "/");
  L.check("its umask is 0022", L.observed()["umask"] == "0022");
  L.check("stdin is /dev/null; stdout and stderr are " + out_target,
          fds["0"] == "/dev/null" && fds["1"] == out_target && fds["2"] == out_target);
  L.check("the pidfile is locked and holds its pid", L.observed()["pidfile_pid"] == pid);
}

/// Step 3: a second daemonize() on the same pidfile is refused.
void check_second_instance(Lesson& L, const ipc::DaemonOptions& d_opts, pid_t pid) {
  try {
    ipc::daemonize(d_opts);
    L.check("a second instance on the same pidfile refuses to start", false);
  } catch (const ipc::AlreadyRunning& e) {
    L.observed()["second_instance_error"] = e.what();
    L.say("  second instance: " + std::string(e.what()));
    L.check("a second instance on the same pidfile refuses to start", e.pid() == pid);
  }
}

/// Step 4: stops the daemon through its pidfile.
void stop_through_pidfile(Lesson& L, const fs::path& pidfile, pid_t pid) {
  L.say("Stopping it through the pidfile (SIGTERM to the pid it holds):");
  auto stopped = ipc::stop_daemon(pidfile, 10s);
  L.observed()["kept"] = false;
  L.observed()["stopped_pid"] = stopped ? json(*stopped) : json(nullptr);
  L.observed()["pidfile_removed"] = !fs::exists(pidfile);
  L.check("it ended on SIGTERM", stopped == pid);
  L.check("it removed its pidfile on the way out", !fs::exists(pidfile));
}

}  // namespace

int daemonize(const Options& o, std::ostream& out) {
  Lesson L("daemonize", o, out);
  const fs::path pidfile = o.pidfile.empty() ? default_pidfile() : o.pidfile;
  L.observed()["pidfile"] = pidfile.string();
  if (o.stop) return stop_lesson(L, pidfile);

  const double hold = o.hold >= 0 ? o.hold : 60;
  L.say("daemonize: fork; the child calls setsid() and forks again; the grandchild is the daemon:");
  L.say("umask, chdir /, std fds to " + (o.log_file.empty() ? std::string("/dev/null") : o.log_file.string()) +
        ", pidfile " + pidfile.string() + ". This process (pid " + std::to_string(::getpid()) +
        ") waits until it is ready.");
  ipc::DaemonOptions d_opts;
  d_opts.pidfile = pidfile;
  d_opts.log_file = o.log_file;
  d_opts.close_fds = true;
  d_opts.wait_for_ready = true;
  d_opts.ready_timeout = 10s;
  auto d = ipc::daemonize(d_opts);
  if (d.is_daemon()) return run_lesson_daemon(std::move(d), hold);

  auto s = observe_daemon(L, d, pidfile);
  if (!s) return L.finish();
  check_daemon(L, d, *s, o);
  check_second_instance(L, d_opts, d.pid());
  if (o.keep) {
    L.observed()["kept"] = true;
    L.say("Left running (--keep) for at most " + fmt_seconds(hold) + ". Stop it with:");
    L.say("  ipc-lifecycle daemonize --stop --pidfile " + pidfile.string());
    return L.finish();
  }
  stop_through_pidfile(L, pidfile, d.pid());
  return L.finish();
}

}  // namespace lifecycle_tool
