// The ipc-lifecycle lessons: zombie, orphan, daemonic child and daemon, each run for real and
// checked from /proc. The tool's own code, built on <ipc/lifecycle.hpp> and <ipc/process.hpp>.
#pragma once

#include <filesystem>
#include <iosfwd>

namespace lifecycle_tool {

/// The options of every subcommand (each uses the ones that concern it).
struct Options {
  /// Seconds to hold: zombie: how long it stays unreaped; orphan: how long the orphans live;
  /// daemonic: how long main runs; daemonize --keep: how long the daemon lives at most.
  /// Negative: the subcommand's default.
  double hold = -1;
  /// zombie: do not reap; keep the zombie for `hold` seconds for the user to inspect.
  bool no_reap = false;
  /// orphan: make this process a child subreaper first, so it adopts the orphans.
  bool subreaper = false;
  /// orphan: how many children outlive their parent.
  int children = 2;
  /// daemonize: the pidfile (default: $XDG_RUNTIME_DIR/ipc-lifecycle.pid or /tmp/ipc-lifecycle-<uid>.pid).
  std::filesystem::path pidfile;
  /// daemonize: the daemon's log file (default: /dev/null).
  std::filesystem::path log_file;
  /// daemonize: leave the daemon running (for `hold` seconds at most) instead of stopping it.
  bool keep = false;
  /// daemonize: stop the daemon holding the pidfile instead of starting one.
  bool stop = false;
  /// Print one JSON object with the observed states instead of the narration.
  bool json = false;
};

/// The lesson texts, two lines each, for --help.
extern const char* const kZombieHelp;
extern const char* const kOrphanHelp;
extern const char* const kDaemonicHelp;
extern const char* const kDaemonizeHelp;

/// Each runs one lesson, narrating on `out` (or printing one JSON object there with --json),
/// and returns the exit code: 0 when every observed state was what the lesson claims, 1 when
/// one was not. Throws std::system_error / ipc::Error when the lesson cannot be run at all.
/// They fork: call them from a single-threaded program with no children of its own.
int zombie(const Options& options, std::ostream& out);
/// See zombie().
int orphan(const Options& options, std::ostream& out);
/// See zombie().
int daemonic(const Options& options, std::ostream& out);
/// See zombie().
int daemonize(const Options& options, std::ostream& out);

/// The default pidfile of the daemonize lesson.
std::filesystem::path default_pidfile();

}  // namespace lifecycle_tool
