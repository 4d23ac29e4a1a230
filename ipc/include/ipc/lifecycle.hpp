// Process lifecycles: daemonize() (the classic double fork), pidfiles, and /proc state inspection.
//
// A daemon made by daemonize() is the grandchild of the caller:
//
//   caller ──fork──▶ first child: setsid() (new session, no controlling terminal), fork again, _exit
//                        └──fork──▶ daemon: umask, chdir, std fds to /dev/null or a log file,
//                                   pidfile, then returns from daemonize() as the daemon
//
// The second fork makes the daemon a process that is *not* a session leader (its session id is
// the first child's pid, which has exited), so it can never acquire a controlling terminal by
// opening one; its parent is init (pid 1) or the nearest subreaper once the first child exits.
// The caller's daemonize() returns in the original process too, after the daemon has reported
// that it is ready (or has failed: then it throws), so a start script sees the real outcome.
#pragma once

#include <sys/types.h>

#include <csignal>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <ipc/detail/unique_fd.hpp>
#include <ipc/errors.hpp>
#include <ipc/timeout.hpp>

namespace ipc {

/// A pidfile is locked by a running instance: a second instance refuses to start.
class AlreadyRunning : public Error {
 public:
  AlreadyRunning(const std::string& what, pid_t holder) : Error(what), m_pid(holder) {}
  /// The pid written in the pidfile by the running instance (0 if it could not be read).
  pid_t pid() const noexcept { return m_pid; }

 private:
  pid_t m_pid;
};

/// The daemon reported that its start failed, or ended before it reported ready. The message is
/// the daemon's own ("bind(/run/x.sock): Address already in use").
class DaemonStartError : public Error {
 public:
  using Error::Error;
};

// ---- Pidfile ----

/// A pidfile held by this process: created (mode 0644), locked with an open-file-description
/// lock (fcntl F_OFD_SETLK, whole file) for as long as the handle lives, holding "<pid>\n".
/// The lock, not the file's existence, says that the instance runs: a pidfile left by a crash is
/// reused. OFD locks are shared across fork() (the lock belongs to the open file, not to the
/// process), which is how daemonize() hands it to the daemon. Move-only; not thread-safe.
class Pidfile {
 public:
  /// An empty handle (holds nothing).
  Pidfile() = default;
  /// Creates or opens `path` and locks it. Throws AlreadyRunning when another open file holds
  /// the lock, std::system_error when the file cannot be created or locked.
  static Pidfile acquire(const std::filesystem::path& path);

  Pidfile(Pidfile&&) noexcept = default;
  /// Moves `o` in; what this handle held is removed first, as by the destructor.
  Pidfile& operator=(Pidfile&& o) noexcept;
  Pidfile(const Pidfile&) = delete;
  Pidfile& operator=(const Pidfile&) = delete;
  /// Removes the file (while still holding the lock, so no newcomer locks a file about to go)
  /// and closes it, if this handle owns it. Never throws.
  ~Pidfile();

  /// Replaces the content with "<pid>\n" (the caller's pid by default). Throws std::system_error.
  void write(pid_t pid = 0);
  /// Closes this handle's fd without removing the file; the lock stays held while another
  /// process still has the open file (a forked daemon). Used by daemonize()'s original process.
  void release() noexcept;

  /// The path given to acquire(), made absolute; empty for an empty handle.
  const std::filesystem::path& path() const noexcept { return m_path; }
  /// The locked fd, or -1.
  int fd() const noexcept { return m_fd.get(); }
  /// True when this handle holds a pidfile.
  explicit operator bool() const noexcept { return static_cast<bool>(m_fd); }

 private:
  std::filesystem::path m_path;
  detail::UniqueFd m_fd;
};

/// The pid of the instance that holds `path` locked, read from the file. Empty when the file
/// does not exist or is not locked (a stale pidfile). Throws std::system_error on other I/O
/// errors and ProtocolError when a locked file does not hold a pid.
std::optional<pid_t> read_pidfile(const std::filesystem::path& path);

/// Stops the instance holding `path`: sends `sig` (SIGTERM by default) and waits, up to
/// `timeout`, until it has ended. Returns its pid, or empty when nothing held the pidfile.
/// Throws TimeoutError when it still runs after `timeout` (SIGKILL is not sent: the caller
/// decides), std::system_error when it cannot be signalled.
std::optional<pid_t> stop_daemon(const std::filesystem::path& path, Timeout timeout = std::chrono::seconds(10),
                                 int sig = SIGTERM);

// ---- daemonize ----

/// How daemonize() sets the daemon up. Every field has a usable default.
struct DaemonOptions {
  /// Pidfile to create, lock and fill with the daemon's pid; removed when the daemon's Daemon
  /// handle is destroyed. Empty: none.
  std::filesystem::path pidfile;
  /// stdout and stderr of the daemon are appended to this file (created 0640); empty: /dev/null.
  /// stdin is always /dev/null.
  std::filesystem::path log_file;
  /// The daemon's working directory ("/" so that it keeps no file system busy).
  std::filesystem::path working_dir = "/";
  /// The daemon's file mode creation mask.
  mode_t umask = 022;
  /// Close every other inherited fd (>= 3) in the daemon, except those in `keep_fds`.
  bool close_fds = false;
  /// Fds to keep open when `close_fds` is set.
  std::vector<int> keep_fds;
  /// When false, daemonize() reports the daemon ready as soon as the setup above succeeded.
  /// When true, the daemon must call Daemon::ready() (or fail()) itself, e.g. after binding its
  /// socket, and the original process waits for that.
  bool wait_for_ready = false;
  /// How long the original process waits for the daemon's report.
  Timeout ready_timeout = std::chrono::seconds(30);
};

/// The outcome of daemonize(), in each of the two processes it returns in. Move-only.
/// In the daemon it owns the pidfile (removed on destruction) and the channel to the original
/// process; keep it alive for the daemon's whole life.
class Daemon {
 public:
  /// An empty handle (neither process); daemonize() makes the real ones.
  Daemon() = default;
  Daemon(Daemon&&) noexcept = default;
  /// Moves `o` in; a pidfile held here before is removed first.
  Daemon& operator=(Daemon&&) noexcept = default;
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;
  /// In the daemon: if neither ready() nor fail() was called, the original process sees the
  /// channel close and throws DaemonStartError. Removes the pidfile. Never throws.
  ~Daemon();

  /// True in the daemon, false in the original process.
  bool is_daemon() const noexcept { return m_is_daemon; }
  /// The daemon's pid (in both processes).
  pid_t pid() const noexcept { return m_pid; }
  /// The session id the daemon runs in: the pid of the (exited) first child.
  pid_t session() const noexcept { return m_session; }

  /// In the daemon: tells the original process that the start succeeded. Idempotent.
  /// Throws ValueError in the original process.
  void ready();
  /// In the daemon: tells the original process that the start failed with `why` (it throws
  /// DaemonStartError(why)); the daemon should then exit. Throws ValueError in the original process.
  void fail(std::string_view why);

  /// The pidfile handle (empty without DaemonOptions::pidfile, and in the original process).
  Pidfile& pidfile() noexcept { return m_pidfile; }

 private:
  friend Daemon daemonize(const DaemonOptions& options);
  void report(char kind, std::string_view text);
  bool m_is_daemon = false;
  pid_t m_pid = 0;
  pid_t m_session = 0;
  detail::UniqueFd m_report;  // daemon: write end of the pipe to the original process
  Pidfile m_pidfile;
};

/// Turns the caller into a classic Unix daemon by double fork (see the file comment) and returns
/// twice: in the daemon (is_daemon() true) and, once the daemon reported ready, in the original
/// process (is_daemon() false, pid() the daemon's); the caller then typically returns from main.
///
/// Errors found before forking throw in the caller: AlreadyRunning (pidfile locked),
/// std::system_error (pidfile, log file, pipe, fork), ValueError (the caller has live
/// ipckit children: call daemonize() before starting any, and before starting threads — only
/// the calling thread exists in the daemon). Errors in the children (setsid, chdir, ...) and the
/// daemon's own fail() throw DaemonStartError in the original process; a daemon that does not
/// report within `ready_timeout` makes it throw TimeoutError (the daemon keeps running).
/// The daemon never throws out of daemonize(): a setup failure there reports and _exit(1)s.
/// The daemon inherits the caller's signal dispositions, signal mask and environment.
/// Note: the daemon's session id is the first child's pid, not its own (see the file comment).
Daemon daemonize(const DaemonOptions& options = {});

// ---- /proc inspection ----

namespace proc {

/// Fields of /proc/<pid>/stat (proc(5)).
struct Stat {
  pid_t pid = 0;
  std::string comm;      // the command name, without the parentheses
  char state = '?';      // R running, S sleeping, D disk sleep, Z zombie, T stopped, t traced, I idle, X dead
  pid_t ppid = 0;        // parent pid
  pid_t pgrp = 0;        // process group id
  pid_t session = 0;     // session id
  int tty_nr = 0;        // controlling terminal (device number); 0 = none
  pid_t tpgid = 0;       // foreground process group of the terminal; -1 = none
  int num_threads = 0;
  unsigned long long starttime = 0;  // clock ticks after boot: with pid, identifies a process
};

/// /proc/<pid>/stat of `pid`, or empty when there is no such process (never existed or reaped).
/// A zombie still has one (state 'Z'). Throws ProtocolError when the file cannot be parsed.
std::optional<Stat> stat(pid_t pid);

/// True while `pid` names a process, zombies included (kill(pid, 0) succeeds or says EPERM).
bool exists(pid_t pid) noexcept;

/// The value of one "Name:\tvalue" line of /proc/<pid>/status ("State" gives "Z (zombie)",
/// "Umask" gives "0022"), trimmed; empty when the process or the field does not exist.
std::optional<std::string> status_field(pid_t pid, std::string_view name);

/// The target of /proc/<pid>/<link> ("cwd", "exe", "fd/0"); empty when unreadable.
std::optional<std::string> read_link(pid_t pid, std::string_view link);

/// Pids whose parent is `pid`, from a scan of /proc (ascending).
std::vector<pid_t> children(pid_t pid);

/// `pid`'s ancestors, nearest first, up to and including pid 1 (or the first unreadable one).
std::vector<pid_t> ancestors(pid_t pid);

/// Whether the calling process is a child subreaper (prctl PR_GET_CHILD_SUBREAPER).
bool is_subreaper();

/// Makes the calling process a child subreaper (or not): orphaned descendants are re-parented
/// to it instead of init. Throws std::system_error.
void set_subreaper(bool on = true);

/// The word for a state letter: 'Z' → "zombie", 'S' → "sleeping", ...
std::string_view state_name(char state) noexcept;

/// Waits up to `timeout` until `pid` has ended (through a pidfd, so any process, not only a
/// child); a child of the caller (re-parented orphans included) is then reaped and, if
/// `exitcode` is given, its exit code stored there (-N when killed by signal N). Returns true
/// when it has ended (or did not exist), false on timeout. Throws std::system_error.
/// Not for children started with ipc::Process: join() those, or their Process loses its exit code.
bool wait_exit(pid_t pid, Timeout timeout = {}, int* exitcode = nullptr);

}  // namespace proc

}  // namespace ipc
