// The orphan lesson: children whose parent exits first are re-parented by the kernel.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include <ipc/errors.hpp>
#include <ipc/process.hpp>

#include "lesson.hpp"

namespace lifecycle_tool {

const char* const kOrphanHelp =
    "A child whose parent exits first is re-parented by the kernel to init (pid 1) or to the nearest\n"
    "ancestor that set PR_SET_CHILD_SUBREAPER (--subreaper: this tool), which reaps it when it ends.";

namespace {

using namespace std::chrono_literals;
namespace proc = ipc::proc;

/// One orphan-to-be: reports its parent, waits until the parent has exited, reports its new
/// parent, lives `hold` seconds more.
int orphan_child(const Lesson& L, const Channel& up, int i, double hold) {
  const pid_t me = ::getpid();
  const pid_t before = ::getppid();
  const std::string who = "  child " + std::to_string(i) + " (pid " + std::to_string(me) + "): ";
  L.say(who + "my parent is pid " + std::to_string(before));
  up.send("before " + std::to_string(me) + " " + std::to_string(before));
  // The parent's pidfd polls readable once it has exited (we are re-parented by then).
  const bool gone = ipc::parent_process()->join(30s);
  const pid_t after = ::getppid();
  L.say(who + "my parent has exited; my parent is now pid " + std::to_string(after) + " (" + comm_of(after) + ")");
  up.send("after " + std::to_string(me) + " " + std::to_string(after) + " " + (gone ? "1" : "0"));
  std::this_thread::sleep_for(seconds(hold));
  L.say(who + "ending by myself after " + fmt_seconds(hold));
  return 0;
}

/// The parent: starts `n` children, reports, and exits on "go" without joining them.
[[noreturn]] void orphan_parent(const Lesson& L, const Channel& up, Channel& go, int n, double hold) {
  std::vector<ipc::Process> kids;
  for (int i = 0; i < n; ++i) kids.emplace_back([&L, &up, i, hold] { return orphan_child(L, up, i, hold); });
  for (auto& k : kids) k.start();
  up.send("parent " + std::to_string(::getpid()));
  go.recv(30s);
  L.say("  parent (pid " + std::to_string(::getpid()) + "): exiting without joining my children");
  // ipckit, like Python's multiprocessing, joins non-daemonic children at a normal exit; an
  // orphan needs its parent gone first, so leave without running the exit handlers.
  std::fflush(nullptr);
  std::_Exit(0);
}

/// Step 1: collects the parent's and the children's first reports; returns the children's pids
/// and fills `children` with one object each.
std::vector<pid_t> collect_before(Lesson& L, Channel& up, const ipc::Process& parent, int n, json& children) {
  std::vector<pid_t> kids;
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
  return kids;
}

/// Step 3: collects the children's reports after the parent exited; returns the pid that
/// adopted them (0 when unknown).
pid_t collect_after(Lesson& L, Channel& up, const ipc::Process& parent, std::size_t count, json& children) {
  bool all_outlived = true;
  for (std::size_t got = 0; got < count;) {
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
  return adopter;
}

/// Step 4: checks and explains who adopted the orphans.
void explain_adopter(Lesson& L, pid_t adopter, pid_t self, const std::vector<pid_t>& ancestors, bool subreaper) {
  const std::string kind = adopter_kind(adopter, self, ancestors);
  L.observed()["new_parent"] = json{{"pid", adopter}, {"comm", comm_of(adopter)}, {"is", kind}};
  if (subreaper) {
    L.check("the new parent is this tool (pid " + std::to_string(self) + "): the nearest subreaper", adopter == self);
    L.say("  Why: this process called prctl(PR_SET_CHILD_SUBREAPER); orphans below it come here, not to init,");
    L.say("  and it must reap them (it does, below), as a service manager or container init does.");
    return;
  }
  L.check("the new parent is init (pid 1) or the nearest subreaper among this tool's ancestors",
          adopter == 1 || kind == "ancestor subreaper");
  if (adopter == 1)
    L.say("  Why: no ancestor of the parent is a subreaper, so init (pid 1, " + comm_of(1) + ") adopted them; it reaps them.");
  else
    L.say("  Why: pid " + std::to_string(adopter) + " (" + comm_of(adopter) +
          "), an ancestor, set PR_SET_CHILD_SUBREAPER: the nearest such ancestor adopts orphans instead of init.");
}

/// Step 5: the orphans end by themselves; with --subreaper this tool reaps them.
void wait_orphans(Lesson& L, const std::vector<pid_t>& kids, double hold, bool subreaper) {
  L.say("The orphans end by themselves after " + fmt_seconds(hold) + "; waiting for that...");
  bool ended = true, reaped = true;
  for (pid_t k : kids) {
    int code = -1000;
    ended = proc::wait_exit(k, seconds(hold + 10), &code) && ended;
    if (subreaper) reaped = reaped && code == 0 && !proc::exists(k);
  }
  L.observed()["children_ended"] = ended;
  L.check("the orphans ended by themselves", ended);
  if (subreaper) L.check("this tool, their new parent, reaped them (exit code 0, pids gone)", reaped);
}

}  // namespace

int orphan(const Options& o, std::ostream& out) {
  Lesson L("orphan", o, out);
  const double hold = o.hold >= 0 ? o.hold : 2;
  const int n = o.children;
  if (n < 1 || n > 32) throw ipc::ValueError("orphan: --children must be between 1 and 32, not " + std::to_string(n));
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
  ipc::Process parent{[&] { orphan_parent(L, up, go, n, hold); }};
  parent.name("orphan-parent");
  parent.start();
  L.observed()["parent_pid"] = parent.pid();

  json children = json::array();
  const auto kids = collect_before(L, up, parent, n, children);
  // Step 2: the parent exits first.
  go.send("exit");
  const bool parent_ended = parent.join(10s);
  L.check("the parent exited (exit code 0) without joining its children", parent_ended && parent.exitcode() == 0);
  const pid_t adopter = collect_after(L, up, parent, kids.size(), children);
  explain_adopter(L, adopter, self, ancestors, o.subreaper);
  wait_orphans(L, kids, hold, o.subreaper);
  return L.finish();
}

}  // namespace lifecycle_tool
