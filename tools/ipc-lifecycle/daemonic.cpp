// The daemonic lesson: a daemonic child ends with its main process and may not have children.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <thread>
#include <vector>

#include <ipc/errors.hpp>
#include <ipc/process.hpp>

#include "lesson.hpp"

namespace lifecycle_tool {

const char* const kDaemonicHelp =
    "A daemonic child (Process::daemon(true)) is terminated when its main process ends, normally or\n"
    "by SIGKILL (PR_SET_PDEATHSIG); it may not start children of its own.";

namespace {

using namespace std::chrono_literals;
namespace proc = ipc::proc;

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

/// Step 1, in main: two daemonic tickers, `hold` seconds, then return.
int main_with_tickers(const Lesson& L, const Channel& ch, double hold) {
  Channel started;
  std::vector<ipc::Process> ds;
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
}

/// Step 1: main returns normally; ipckit's exit handler terminates its daemonic children.
void when_main_returns(Lesson& L, double hold) {
  L.say("1. main runs " + fmt_seconds(hold) + " with two daemonic children printing Ping and Pong, then returns:");
  Channel ch;
  ipc::Process main{[&] { return main_with_tickers(L, ch, hold); }};
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

/// Step 2: main is SIGKILLed; no exit handler runs, PR_SET_PDEATHSIG(SIGKILL) ends the child.
void when_main_is_killed(Lesson& L) {
  L.say("2. main starts a daemonic child and is killed with SIGKILL:");
  Channel ch;
  ipc::Process main{[&] {
    ipc::Process d{[&L, &ch] { return ticker(L, ch, "Tick"); }};
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

/// Step 3: a daemonic child may not have children.
void no_grandchildren(Lesson& L) {
  L.say("3. a daemonic child tries to start a child of its own:");
  Channel ch;
  ipc::Process d{[&] {
    try {
      ipc::Process c{[] {}};
      c.start();
      c.join();
      ch.send("started");
    } catch (const ipc::ValueError& e) {
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

}  // namespace

int daemonic(const Options& o, std::ostream& out) {
  Lesson L("daemonic", o, out);
  const double hold = o.hold >= 0 ? o.hold : 1;
  // So that a daemonic child whose main was SIGKILLed is adopted here, to be checked and reaped.
  proc::set_subreaper();
  L.say("daemonic: Process::daemon(true) ties a child to its main process: it is terminated when main ends,");
  L.say("and it may not start children. Python does the same with multiprocessing's daemon flag.");
  when_main_returns(L, hold);
  when_main_is_killed(L);
  no_grandchildren(L);
  return L.finish();
}

}  // namespace lifecycle_tool
