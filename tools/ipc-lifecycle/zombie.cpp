// The zombie lesson: an exited child stays in the process table until its parent waits for it.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <ipc/process.hpp>

#include "lesson.hpp"

namespace lifecycle_tool {

const char* const kZombieHelp =
    "An exited child stays in the process table as a zombie (Z, <defunct>) until its parent waits\n"
    "for it: join() is that wait. Shows Z, holds it unreaped, shows kill -9 cannot remove it, joins.";

namespace {

using namespace std::chrono_literals;
namespace proc = ipc::proc;

/// Step 1: waits (without reaping) until `child` has exited and checks that it is a zombie of `self`.
void observe_zombie(Lesson& L, const ipc::Process& child, pid_t self) {
  const pid_t pid = child.pid();
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
}

/// --no-reap: keeps the zombie for `hold` seconds for the user to inspect, and leaves it.
int hold_for_inspection(Lesson& L, pid_t pid, pid_t self, double hold) {
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

/// Step 2: neither time nor SIGKILL removes the zombie.
void hold_and_kill(Lesson& L, pid_t pid, double hold) {
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
}

/// Step 3: join() reaps it.
void reap(Lesson& L, ipc::Process& child) {
  const pid_t pid = child.pid();
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
}

}  // namespace

int zombie(const Options& o, std::ostream& out) {
  Lesson L("zombie", o, out);
  const double hold = o.hold >= 0 ? o.hold : (o.no_reap ? 30 : 1);
  const pid_t self = ::getpid();
  L.say("zombie: a child that has exited stays in the process table until its parent waits for it.");
  L.say("The parent here (pid " + std::to_string(self) + ") starts a child that exits at once, and does not join() it.");

  ipc::Process child{[] { return 0; }};
  child.name("zombie-child");
  child.start();
  L.observed()["parent_pid"] = self;
  L.observed()["child_pid"] = child.pid();

  observe_zombie(L, child, self);
  if (o.no_reap) return hold_for_inspection(L, child.pid(), self, hold);
  hold_and_kill(L, child.pid(), hold);
  reap(L, child);
  return L.finish();
}

}  // namespace lifecycle_tool
