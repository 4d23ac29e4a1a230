// ipc-lifecycle: watch zombie, orphan, daemonic-child and daemon lifecycles happen, checked from /proc.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <iostream>
#include <string>

#include "lessons.hpp"

namespace demo = lifecycle_tool;

int main(int argc, char** argv) {
  CLI::App app{"ipc-lifecycle: watch process lifecycles happen. Every state shown is read from /proc and\n"
                "checked; the exit code is 0 only if each was what the lesson claims. Run a subcommand with --help."};
  app.set_version_flag("--version", "ipc-lifecycle (ipckit) 0.1.0");
  app.require_subcommand(1);

  demo::Options o;
  auto common = [&o](CLI::App* sub, const std::string& hold_help) {
    sub->add_option("--hold", o.hold, hold_help)->check(CLI::Range(0.0, 3600.0));
    sub->add_flag("--json", o.json, "print one JSON object with the observed states instead of the narration");
  };
  auto* zombie = app.add_subcommand("zombie", demo::kZombieHelp);
  common(zombie, "seconds the zombie is kept unreaped (default 1; 30 with --no-reap)");
  zombie->add_flag("--no-reap", o.no_reap,
                   "do not join: keep the zombie for --hold seconds to inspect it (ends by ending this process)");
  auto* orphan = app.add_subcommand("orphan", demo::kOrphanHelp);
  common(orphan, "seconds the orphans live after their parent exits (default 2)");
  orphan->add_flag("--subreaper", o.subreaper, "set PR_SET_CHILD_SUBREAPER on this tool first: it adopts the orphans");
  orphan->add_option("--children", o.children, "how many children outlive their parent (default 2)")
      ->check(CLI::Range(1, 32));
  auto* daemonic = app.add_subcommand("daemonic", demo::kDaemonicHelp);
  common(daemonic, "seconds main runs before it returns (default 1)");
  auto* daemonize = app.add_subcommand("daemonize", demo::kDaemonizeHelp);
  common(daemonize, "seconds the daemon lives at most with --keep (default 60)");
  daemonize->add_option("--pidfile", o.pidfile, "pidfile (default " + demo::default_pidfile().string() + ")");
  daemonize->add_option("--log", o.log_file, "append the daemon's stdout and stderr to this file (default /dev/null)");
  auto* keep = daemonize->add_flag("--keep", o.keep, "leave the daemon running (at most --hold seconds)");
  daemonize->add_flag("--stop", o.stop, "stop the daemon holding the pidfile (SIGTERM) and exit")->excludes(keep);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }

  try {
    if (*zombie) return demo::zombie(o, std::cout);
    if (*orphan) return demo::orphan(o, std::cout);
    if (*daemonic) return demo::daemonic(o, std::cout);
    return demo::daemonize(o, std::cout);
  } catch (const std::exception& e) {
    std::cout.flush();
    std::fprintf(stderr, "ipc-lifecycle: error: %s\n", e.what());
    return 1;
  }
}
