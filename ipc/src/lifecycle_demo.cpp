// The ipc-lifecycle lessons: each lifecycle run for real, narrated, and checked from /proc.
#include <ipc/lifecycle_demo.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ostream>
#include <sstream>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include <ipc/detail/unique_fd.hpp>
#include <ipc/lifecycle.hpp>
#include <ipc/process.hpp>

namespace ipc::lifecycle_demo {

const char* const kZombieHelp =
    "An exited child stays in the process table as a zombie (Z, <defunct>) until its parent waits\n"
    "for it: join() is that wait. Shows Z, holds it unreaped, shows kill -9 cannot remove it, joins.";
const char* const kOrphanHelp =
    "A child whose parent exits first is re-parented by the kernel to init (pid 1) or to the nearest\n"
    "ancestor that set PR_SET_CHILD_SUBREAPER (--subreaper: this tool), which reaps it when it ends.";
const char* const kDaemonicHelp =
    "A daemonic child (Process::daemon(true)) is terminated when its main process ends, normally or\n"
    "by SIGKILL (PR_SET_PDEATHSIG); it may not start children of its own.";
const char* const kDaemonizeHelp =
    "A Unix daemon by double fork: setsid (new session, no terminal), fork again (never a session\n"
    "leader), umask, chdir /, std fds to /dev/null or a log, locked pidfile; --stop ends it by pidfile.";

namespace {

using json = nlohmann::ordered_json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::chrono::duration<double> seconds(double s) { return std::chrono::duration<double>(s); }

/// Narration, observations and checks of one lesson. Children forked during the lesson use
/// their copy to narrate.
class Lesson {
 public:
  Lesson(std::string name, const Options& o, std::ostream& out) : m_out(out), m_json(o.json) {
    m_result["lesson"] = std::move(name);
    m_result["ok"] = true;
  }

  /// One line of narration (nothing with --json), flushed at once so that the lines of
  /// several processes interleave whole.
  void say(const std::string& line) const {
    if (m_json) return;
    m_out << (line + "\n") << std::flush;
  }

  /// Records a check of the lesson and narrates it. Returns `ok`.
  bool check(const std::string& what, bool ok) {
    m_checks.push_back(json{{"check", what}, {"ok", ok}});
    if (!ok) m_result["ok"] = false;
    say(std::string(ok ? "  [ok] " : "  [FAILED] ") + what);
    return ok;
  }

  /// The observed states, printed under "observed" with --json.
  json& observed() { return m_observed; }

  /// Prints the JSON object (with --json) or the verdict; returns the exit code.
  int finish() {
    const bool ok = m_result["ok"].get<bool>();
    if (m_json) {
      m_result["observed"] = m_observed;
      m_result["checks"] = m_checks;
      m_out << m_result.dump() << "\n" << std::flush;
    } else {
      say(ok ? "=> the lesson held: every observed state was as claimed."
             : "=> the lesson did NOT hold: see the [FAILED] lines above.");
    }
    return ok ? 0 : 1;
  }

 private:
  std::ostream& m_out;
  bool m_json;
  json m_result;
  json m_observed = json::object();
  json m_checks = json::array();
};

/// A pipe carrying short text lines from the lesson's processes to the tool (lines shorter than
/// PIPE_BUF are written atomically, so several writers never mix their lines).
class Channel {
 public:
  Channel() {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) < 0) throw_errno("pipe2");
    m_r.reset(p[0]);
    m_w.reset(p[1]);
  }
  /// Sends one line (best effort: the reader may be gone).
  void send(const std::string& line) const {
    std::string s = line + "\n";
    const char* p = s.data();
    std::size_t left = s.size();
    while (left > 0) {
      ssize_t n = ::write(m_w.get(), p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      p += n;
      left -= static_cast<std::size_t>(n);
    }
  }
  /// Closes this process's write end, so that EOF means every other writer is gone.
  void close_write() noexcept { m_w.reset(); }
  /// The next line; empty on timeout or at EOF (then eof() is true).
  std::optional<std::string> recv(Timeout timeout) {
    Deadline deadline(timeout);
    for (;;) {
      if (auto nl = m_buf.find('\n'); nl != std::string::npos) {
        std::string line = m_buf.substr(0, nl);
        m_buf.erase(0, nl + 1);
        return line;
      }
      if (m_eof) return std::nullopt;
      pollfd p{m_r.get(), POLLIN, 0};
      int r = ::poll(&p, 1, deadline.poll_ms());
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) throw_errno("poll(lesson channel)");
      if (r == 0) return std::nullopt;
      char buf[1024];
      ssize_t n = ::read(m_r.get(), buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw_errno("read(lesson channel)");
      if (n == 0) m_eof = true;
      m_buf.append(buf, static_cast<std::size_t>(n > 0 ? n : 0));
    }
  }
  /// True once the write ends are all closed and every line was read.
  bool eof() const noexcept { return m_eof && m_buf.find('\n') == std::string::npos; }

 private:
  detail::UniqueFd m_r, m_w;
  std::string m_buf;
  bool m_eof = false;
};

/// Splits "word a b c" into its words.
std::vector<std::string> words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

pid_t to_pid(const std::string& s) { return static_cast<pid_t>(std::strtol(s.c_str(), nullptr, 10)); }

json stat_json(const std::optional<proc::Stat>& s) {
  if (!s) return nullptr;
  return json{{"pid", s->pid},         {"comm", s->comm},       {"state", std::string(1, s->state)},
              {"state_name", std::string(proc::state_name(s->state))},
              {"ppid", s->ppid},       {"pgrp", s->pgrp},       {"session", s->session},
              {"tty_nr", s->tty_nr},   {"tpgid", s->tpgid}};
}

/// `ps -o pid,ppid,pgid,sid,tty,stat,comm`-like lines for one process.
std::string ps_lines(const proc::Stat& s) {
  char line[256];
  std::string comm = s.state == 'Z' ? s.comm + " <defunct>" : s.comm;
  std::snprintf(line, sizeof line, "      %7s %7s %7s %7s %-5s %-4s %s\n      %7d %7d %7d %7d %-5s %-4c %s", "PID",
                "PPID", "PGID", "SID", "TTY", "STAT", "COMMAND", s.pid, s.ppid, s.pgrp, s.session,
                s.tty_nr == 0 ? "?" : "tty", s.state, comm.c_str());
  return line;
}

std::string comm_of(pid_t pid) {
  auto s = proc::stat(pid);
  return s ? s->comm : std::string("?");
}

std::string fmt_seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g s", s);
  return buf;
}

}  // namespace

// ---- zombie ----

int zombie(const Options& o, std::ostream& out) {
  Lesson L("zombie", o, out);
  const double hold = o.hold >= 0 ? o.hold : (o.no_reap ? 30 : 1);
  const pid_t self = ::getpid();
  L.say("zombie: a child that has exited stays in the process table until its parent waits for it.");
  L.say("The parent here (pid " + std::to_string(self) + ") starts a child that exits at once, and does not join() it.");

  Process child{[] { return 0; }};
  child.name("zombie-child");
  child.start();
  const pid_t pid = child.pid();
  L.observed()["parent_pid"] = self;
  L.observed()["child_pid"] = pid;

  // The sentinel (a pidfd) polls readable when the child exits; polling it does not reap.
  const bool exited = !ipc::wait({child.sentinel()}, 10s).empty();
  L.check("the child (pid " + std::to_string(pid) + ") has exited", exited);
  auto z = proc::stat(pid);
  L.observed()["after_exit"] = stat_json(z);
  if (z) L.say(ps_lines(*z));
  L.check("it is still in /proc with state Z (zombie)", z && z->state == 'Z');
  L.check("its parent is this process", z && z->ppid == self);
  L.observed()["status_state"] = proc::status_field(pid, "State").value_or("");
  L.say("  check by hand: ps -o pid,ppid,stat,args -p " + std::to_string(pid) + "   (STAT Z, <defunct>)");
  L.say("               grep State /proc/" + std::to_string(pid) + "/status   (State: " +
        proc::status_field(pid, "State").value_or("?") + ")");

  if (o.no_reap) {
    L.say("--no-reap: the zombie stays for " + fmt_seconds(hold) + " while its parent (this process, pid " +
          std::to_string(self) + ") runs without waiting for it. Inspect it now.");
    L.say("  To clear it: end its parent (Ctrl-C here, or kill " + std::to_string(self) +
          "): init or the nearest subreaper adopts the zombie and reaps it at once.");
    L.say("  kill -9 " + std::to_string(pid) + " does nothing: a zombie is already dead; only a wait can remove it.");
    std::this_thread::sleep_for(seconds(hold));
    auto still = proc::stat(pid);
    L.observed()["after_hold"] = stat_json(still);
    L.check("after " + fmt_seconds(hold) + " unreaped it is still a zombie", still && still->state == 'Z');
    L.observed()["reaped"] = false;
    L.say("Hold over: on this normal exit ipckit joins its children (as Python does), which reaps it.");
    return L.finish();
  }

  L.say("Holding it " + fmt_seconds(hold) + " without join()...");
  std::this_thread::sleep_for(seconds(hold));
  auto held = proc::stat(pid);
  L.observed()["after_hold"] = stat_json(held);
  L.check("after " + fmt_seconds(hold) + " it is still a zombie: time does not reap, only waiting does",
          held && held->state == 'Z');

  // Safe: an unreaped child's pid cannot have been reused.
  ::kill(pid, SIGKILL);
  auto killed = proc::stat(pid);
  L.observed()["after_sigkill"] = stat_json(killed);
  L.check("after kill -9 it is still a zombie: it is already dead", killed && killed->state == 'Z');

  L.say("Now join(): it waits for the child (waitid), which reaps it.");
  const bool joined = child.join(10s);
  L.check("join() returned", joined);
  auto after = proc::stat(pid);
  L.observed()["after_join"] = stat_json(after);
  L.observed()["exists_after_join"] = proc::exists(pid);
  L.observed()["pid_after_join"] = child.pid();
  L.observed()["exitcode"] = child.exitcode() ? json(*child.exitcode()) : json(nullptr);
  L.observed()["reaped"] = joined;
  L.check("after join() pid " + std::to_string(pid) + " is gone from /proc", !after && !proc::exists(pid));
  L.check("p.pid() still holds the old number", child.pid() == pid);
  L.check("its exit code is 0 (the SIGKILL to the zombie changed nothing)", child.exitcode() == 0);
  return L.finish();
}

// ---- orphan ----

int orphan(const Options& o, std::ostream& out) {
  Lesson L("orphan", o, out);
  const double hold = o.hold >= 0 ? o.hold : 2;
  const int n = o.children;
  if (n < 1 || n > 32) throw ValueError("orphan: --children must be between 1 and 32, not " + std::to_string(n));
  if (o.subreaper) proc::set_subreaper();
  const pid_t self = ::getpid();
  const auto ancestors = proc::ancestors(self);
  L.say("orphan: a parent starts " + std::to_string(n) + " children and exits first; the kernel re-parents them.");
  L.say(o.subreaper ? "This tool (pid " + std::to_string(self) + ") set PR_SET_CHILD_SUBREAPER, so it should adopt them."
                    : "The new parent is init (pid 1) unless an ancestor is a subreaper (systemd --user, tini, a test).");
  L.observed()["tool_pid"] = self;
  L.observed()["subreaper"] = o.subreaper;

  Channel up;  // children and parent -> this process
  Channel go;  // this process -> the parent: "exit now"
  Process parent{[&] {
    std::vector<Process> kids;
    for (int i = 0; i < n; ++i) {
      kids.emplace_back([&, i] {
        const pid_t me = ::getpid();
        const pid_t before = ::getppid();
        const std::string who = "  child " + std::to_string(i) + " (pid " + std::to_string(me) + "): ";
        L.say(who + "my parent is pid " + std::to_string(before));
        up.send("before " + std::to_string(me) + " " + std::to_string(before));
        // The parent's pidfd polls readable once it has exited (we are re-parented by then).
        const bool gone = parent_process()->join(30s);
        const pid_t after = ::getppid();
        L.say(who + "my parent has exited; my parent is now pid " + std::to_string(after) + " (" + comm_of(after) + ")");
        up.send("after " + std::to_string(me) + " " + std::to_string(after) + " " + (gone ? "1" : "0"));
        std::this_thread::sleep_for(seconds(hold));
        L.say(who + "ending by myself after " + fmt_seconds(hold));
        return 0;
      });
    }
    for (auto& k : kids) k.start();
    up.send("parent " + std::to_string(::getpid()));
    go.recv(30s);
    L.say("  parent (pid " + std::to_string(::getpid()) + "): exiting without joining my children");
    // ipckit, like Python's multiprocessing, joins non-daemonic children at a normal exit; an
    // orphan needs its parent gone first, so leave without running the exit handlers.
    std::fflush(nullptr);
    std::_Exit(0);
  }};
  parent.name("orphan-parent");
  parent.start();
  L.observed()["parent_pid"] = parent.pid();

  std::vector<pid_t> kids;
  json children = json::array();
  bool parent_reported = false;
  for (int got = 0; got < n + 1;) {
    auto line = up.recv(10s);
    if (!line) break;
    auto w = words(*line);
    if (w.size() == 2 && w[0] == "parent") {
      parent_reported = true;
      ++got;
    } else if (w.size() == 3 && w[0] == "before") {
      kids.push_back(to_pid(w[1]));
      children.push_back(json{{"pid", to_pid(w[1])}, {"ppid_before", to_pid(w[2])}, {"ppid_after", nullptr}});
      ++got;
    }
  }
  bool before_ok = parent_reported && static_cast<int>(kids.size()) == n;
  for (auto& c : children) before_ok = before_ok && c["ppid_before"] == parent.pid();
  L.check("all " + std::to_string(n) + " children run and see the parent (pid " + std::to_string(parent.pid()) +
              ") as their parent",
          before_ok);
  go.send("exit");
  const bool parent_ended = parent.join(10s);
  L.check("the parent exited (exit code 0) without joining its children", parent_ended && parent.exitcode() == 0);

  bool all_outlived = true;
  for (std::size_t got = 0; got < kids.size();) {
    auto line = up.recv(40s);
    if (!line) break;
    auto w = words(*line);
    if (w.size() != 4 || w[0] != "after") continue;
    for (auto& c : children)
      if (c["pid"] == to_pid(w[1])) c["ppid_after"] = to_pid(w[2]);
    all_outlived = all_outlived && w[3] == "1";
    ++got;
  }
  L.observed()["children"] = children;
  pid_t adopter = children.empty() || children[0]["ppid_after"].is_null() ? 0 : children[0]["ppid_after"].get<pid_t>();
  bool same = true;
  for (auto& c : children) same = same && c["ppid_after"] == adopter;
  L.check("every child outlived its parent and saw its parent pid change", all_outlived && same && adopter > 0 &&
                                                                            adopter != parent.pid());

  std::string kind;
  const bool in_ancestors = std::find(ancestors.begin(), ancestors.end(), adopter) != ancestors.end();
  if (adopter == self) {
    kind = "this tool (subreaper)";
  } else if (adopter == 1) {
    kind = "init";
  } else if (in_ancestors) {
    kind = "ancestor subreaper";
  } else {
    kind = "unexpected";
  }
  L.observed()["new_parent"] = json{{"pid", adopter}, {"comm", comm_of(adopter)}, {"is", kind}};
  if (o.subreaper) {
    L.check("the new parent is this tool (pid " + std::to_string(self) + "): the nearest subreaper", adopter == self);
    L.say("  Why: this process called prctl(PR_SET_CHILD_SUBREAPER); orphans below it come here, not to init,");
    L.say("  and it must reap them (it does, below), as a service manager or container init does.");
  } else {
    L.check("the new parent is init (pid 1) or the nearest subreaper among this tool's ancestors",
            adopter == 1 || (in_ancestors && adopter != self));
    if (adopter == 1)
      L.say("  Why: no ancestor of the parent is a subreaper, so init (pid 1, " + comm_of(1) + ") adopted them; it reaps them.");
    else
      L.say("  Why: pid " + std::to_string(adopter) + " (" + comm_of(adopter) +
            "), an ancestor, set PR_SET_CHILD_SUBREAPER: the nearest such ancestor adopts orphans instead of init.");
  }

  L.say("The orphans end by themselves after " + fmt_seconds(hold) + "; waiting for that...");
  bool ended = true, reaped = true;
  for (pid_t k : kids) {
    int code = -1000;
    ended = proc::wait_exit(k, seconds(hold + 10), &code) && ended;
    if (o.subreaper) reaped = reaped && code == 0 && !proc::exists(k);
  }
  L.observed()["children_ended"] = ended;
  L.check("the orphans ended by themselves", ended);
  if (o.subreaper) L.check("this tool, their new parent, reaped them (exit code 0, pids gone)", reaped);
  return L.finish();
}

// ---- daemonic ----

namespace {

/// A daemonic child's body: prints "<name>" every 200 ms for far longer than main runs, then
/// "<name> is end" (which the lesson says never happens). After its first tick it tells
/// `started` (if given), so that main's hold only starts once its children print.
int ticker(const Lesson& L, const Channel& ch, const std::string& name, const Channel* started = nullptr) {
  for (int i = 0; i < 300; ++i) {
    ch.send("tick " + name + " " + std::to_string(::getpid()));
    L.say("    " + name + " (daemonic, pid " + std::to_string(::getpid()) + ")");
    if (i == 0 && started) started->send(name);
    std::this_thread::sleep_for(200ms);
  }
  ch.send("end " + name);
  L.say("    " + name + " is end");
  return 0;
}

}  // namespace

int daemonic(const Options& o, std::ostream& out) {
  Lesson L("daemonic", o, out);
  const double hold = o.hold >= 0 ? o.hold : 1;
  // So that a daemonic child whose main was SIGKILLed is adopted here, to be checked and reaped.
  proc::set_subreaper();
  L.say("daemonic: Process::daemon(true) ties a child to its main process: it is terminated when main ends,");
  L.say("and it may not start children. Python does the same with multiprocessing's daemon flag.");

  // 1. main returns normally: ipckit's exit handler terminates its daemonic children.
  {
    L.say("1. main runs " + fmt_seconds(hold) + " with two daemonic children printing Ping and Pong, then returns:");
    Channel ch;
    Process main{[&] {
      Channel started;
      std::vector<Process> ds;
      for (const char* name : {"Ping", "Pong"}) {
        ds.emplace_back([&L, &ch, &started, name] { return ticker(L, ch, name, &started); });
        ds.back().daemon(true);
        ds.back().name(name);
      }
      for (auto& d : ds) d.start();
      ch.send("daemons " + std::to_string(ds[0].pid()) + " " + std::to_string(ds[1].pid()));
      for (std::size_t i = 0; i < ds.size(); ++i) started.recv(10s);  // both print from now on
      std::this_thread::sleep_for(seconds(hold));
      L.say("  main (pid " + std::to_string(::getpid()) + "): returning; my daemonic children are terminated now");
      ch.send("main-returns");
      return 0;
    }};
    main.name("main");
    main.start();
    ch.close_write();
    std::vector<pid_t> daemons;
    int before = 0, after = 0;
    bool returned = false, printed_end = false;
    while (auto line = ch.recv(seconds(hold + 10))) {
      auto w = words(*line);
      if (w.empty()) continue;
      if (w[0] == "daemons" && w.size() == 3) daemons = {to_pid(w[1]), to_pid(w[2])};
      if (w[0] == "tick") (returned ? after : before) += 1;
      if (w[0] == "end") printed_end = true;
      if (w[0] == "main-returns") returned = true;
    }
    const bool joined = main.join(10s);
    const bool eof = ch.eof();
    bool gone = daemons.size() == 2;
    for (pid_t d : daemons) gone = gone && !proc::exists(d);
    L.observed()["main_ends"] = json{{"main_pid", main.pid()},
                                     {"main_exitcode", main.exitcode() ? json(*main.exitcode()) : json(nullptr)},
                                     {"daemonic_pids", daemons},
                                     {"ticks_while_main_ran", before},
                                     {"ticks_after_main_returned", after},
                                     {"printed_end", printed_end},
                                     {"output_closed", eof},
                                     {"gone_after_main", gone}};
    L.check("the daemonic children printed while main ran", before >= 2);
    L.check("main ended with exit code 0", joined && main.exitcode() == 0);
    L.check("their output stopped with main: every writer was gone when main had ended", eof);
    L.check("neither printed \"is end\"", !printed_end);
    L.check("both are gone from /proc (terminated and reaped by main's exit handler)", gone);
  }

  // 2. main is SIGKILLed: no exit handler runs, PR_SET_PDEATHSIG(SIGKILL) ends the child.
  {
    L.say("2. main starts a daemonic child and is killed with SIGKILL:");
    Channel ch;
    Process main{[&] {
      Process d{[&L, &ch] { return ticker(L, ch, "Tick"); }};
      d.daemon(true);
      d.name("Tick");
      d.start();
      ch.send("daemon " + std::to_string(d.pid()));
      std::this_thread::sleep_for(60s);  // until killed
      return 0;
    }};
    main.name("main");
    main.start();
    ch.close_write();
    pid_t d = 0;
    int ticks = 0;
    bool printed_end = false;
    while (auto line = ch.recv(10s)) {
      auto w = words(*line);
      if (w.size() == 2 && w[0] == "daemon") d = to_pid(w[1]);
      if (!w.empty() && w[0] == "tick" && ++ticks >= 2) break;
    }
    L.say("  killing main (pid " + std::to_string(main.pid()) + ") with SIGKILL");
    main.kill();
    const bool joined = main.join(10s);
    int code = 0;
    const bool ended = d > 0 && proc::wait_exit(d, 10s, &code);
    while (auto line = ch.recv(5s))
      if (line->starts_with("end")) printed_end = true;
    L.observed()["main_killed"] = json{{"main_pid", main.pid()},
                                       {"main_exitcode", main.exitcode() ? json(*main.exitcode()) : json(nullptr)},
                                       {"daemonic_pid", d},
                                       {"ticks_before_kill", ticks},
                                       {"ended", ended},
                                       {"exitcode", code},
                                       {"printed_end", printed_end},
                                       {"output_closed", ch.eof()}};
    L.check("the daemonic child printed while main lived", ticks >= 2);
    L.check("main was killed by SIGKILL (exit code -9)", joined && main.exitcode() == -SIGKILL);
    L.check("the daemonic child ended too, killed by SIGKILL (PR_SET_PDEATHSIG)", ended && code == -SIGKILL);
    L.check("its output stopped and it never printed \"is end\"", ch.eof() && !printed_end);
  }

  // 3. A daemonic child may not have children.
  {
    L.say("3. a daemonic child tries to start a child of its own:");
    Channel ch;
    Process d{[&] {
      try {
        Process c{[] {}};
        c.start();
        c.join();
        ch.send("started");
      } catch (const ValueError& e) {
        ch.send(std::string("error ") + e.what());
      }
      return 0;
    }};
    d.daemon(true);
    d.start();
    auto line = ch.recv(10s).value_or("");
    d.join(10s);
    std::string error = line.starts_with("error ") ? line.substr(6) : "";
    L.say("  it got: " + (error.empty() ? line : "ValueError: " + error));
    L.observed()["daemonic_start_child"] = json{{"error", error}};
    L.check("it got ValueError \"daemonic processes are not allowed to have children\"",
            error.find("daemonic processes are not allowed to have children") != std::string::npos);
  }
  return L.finish();
}

// ---- daemonize ----

fs::path default_pidfile() {
  if (const char* run = std::getenv("XDG_RUNTIME_DIR"); run && *run && fs::is_directory(run))
    return fs::path(run) / "ipc-lifecycle.pid";
  return fs::path("/tmp") / ("ipc-lifecycle-" + std::to_string(::getuid()) + ".pid");
}

namespace {

/// The daemon's life in the lesson: writes what it sees of itself to its log (its stdout),
/// waits for SIGTERM/SIGINT or the end of `hold`, removes its pidfile and returns 0.
int run_lesson_daemon(Daemon d, double hold) {
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

}  // namespace

int daemonize(const Options& o, std::ostream& out) {
  Lesson L("daemonize", o, out);
  const fs::path pidfile = o.pidfile.empty() ? default_pidfile() : o.pidfile;
  L.observed()["pidfile"] = pidfile.string();
  if (o.stop) {
    L.say("daemonize --stop: SIGTERM to the pid in " + pidfile.string() + ", if its lock shows it runs.");
    auto pid = stop_daemon(pidfile, 10s);
    L.observed()["stopped_pid"] = pid ? json(*pid) : json(nullptr);
    L.observed()["pidfile_removed"] = !fs::exists(pidfile);
    if (!pid) L.say("  no daemon holds " + pidfile.string() + " locked: nothing is running (a stale file is ignored).");
    if (L.check("a daemon held the pidfile and ended on SIGTERM" + (pid ? " (pid " + std::to_string(*pid) + ")" : std::string()),
                pid.has_value()))
      L.check("it removed its pidfile on the way out", !fs::exists(pidfile));
    return L.finish();
  }

  const double hold = o.hold >= 0 ? o.hold : 60;
  const pid_t self = ::getpid();
  L.say("daemonize: fork; the child calls setsid() and forks again; the grandchild is the daemon:");
  L.say("umask, chdir /, std fds to " + (o.log_file.empty() ? std::string("/dev/null") : o.log_file.string()) +
        ", pidfile " + pidfile.string() + ". This process (pid " + std::to_string(self) + ") waits until it is ready.");
  DaemonOptions d_opts;
  d_opts.pidfile = pidfile;
  d_opts.log_file = o.log_file;
  d_opts.close_fds = true;
  d_opts.wait_for_ready = true;
  d_opts.ready_timeout = 10s;
  auto d = ipc::daemonize(d_opts);
  if (d.is_daemon()) return run_lesson_daemon(std::move(d), hold);

  const pid_t pid = d.pid();
  auto s = proc::stat(pid);
  const auto ancestors = proc::ancestors(self);
  const std::string out_target = o.log_file.empty() ? std::string("/dev/null") : fs::weakly_canonical(fs::absolute(o.log_file)).string();
  json fds = json::object();
  for (int fd = 0; fd <= 2; ++fd) fds[std::to_string(fd)] = proc::read_link(pid, "fd/" + std::to_string(fd)).value_or("");
  const auto pidfile_pid = read_pidfile(pidfile);
  L.observed()["tool"] = json{{"pid", self}, {"session", ::getsid(0)}};
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
  if (!s) return L.finish();
  L.check("it is in a new session (sid " + std::to_string(s->session) + ", ours is " + std::to_string(::getsid(0)) + ")",
          s->session != ::getsid(0) && s->session == d.session());
  L.check("it is not the session leader (sid != pid): thanks to the second fork it can never acquire a terminal",
          s->session != pid);
  L.check("its process group is the session's (pgid == sid)", s->pgrp == s->session);
  L.check("the session leader, the first child (pid " + std::to_string(d.session()) + "), has exited",
          !proc::exists(d.session()));
  L.check("it has no controlling terminal (tty_nr 0, TTY ?)", s->tty_nr == 0 && s->tpgid == -1);
  const bool ppid_ok =
      s->ppid == 1 || (s->ppid != self && std::find(ancestors.begin(), ancestors.end(), s->ppid) != ancestors.end());
  L.check("its parent is init (pid 1) or the nearest subreaper ancestor, not this process (ppid " +
              std::to_string(s->ppid) + ", " + comm_of(s->ppid) + ")",
          ppid_ok);
  L.check("its working directory is /", L.observed()["cwd"] == "/");
  L.check("its umask is 0022", L.observed()["umask"] == "0022");
  L.check("stdin is /dev/null; stdout and stderr are " + out_target,
          fds["0"] == "/dev/null" && fds["1"] == out_target && fds["2"] == out_target);
  L.check("the pidfile is locked and holds its pid", pidfile_pid == pid);
  try {
    ipc::daemonize(d_opts);
    L.check("a second instance on the same pidfile refuses to start", false);
  } catch (const AlreadyRunning& e) {
    L.observed()["second_instance_error"] = e.what();
    L.say("  second instance: " + std::string(e.what()));
    L.check("a second instance on the same pidfile refuses to start", e.pid() == pid);
  }

  if (o.keep) {
    L.observed()["kept"] = true;
    L.say("Left running (--keep) for at most " + fmt_seconds(hold) + ". Stop it with:");
    L.say("  ipc-lifecycle daemonize --stop --pidfile " + pidfile.string());
    return L.finish();
  }
  L.say("Stopping it through the pidfile (SIGTERM to the pid it holds):");
  auto stopped = stop_daemon(pidfile, 10s);
  L.observed()["kept"] = false;
  L.observed()["stopped_pid"] = stopped ? json(*stopped) : json(nullptr);
  L.observed()["pidfile_removed"] = !fs::exists(pidfile);
  L.check("it ended on SIGTERM", stopped == pid);
  L.check("it removed its pidfile on the way out", !fs::exists(pidfile));
  return L.finish();
}

}  // namespace ipc::lifecycle_demo
