// Small process helpers shared by the library: pidfd syscalls, waiting on and reaping a pidfd,
// /proc/<pid>/stat, flushing.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

namespace ipc::detail {

/// pidfd_open(2): an fd referring to process `pid`; -1 with errno set on failure.
int pidfd_open(pid_t pid) noexcept;

/// pidfd_send_signal(2): sends `sig` to the process behind `pidfd`; -1 with errno on failure.
int pidfd_send_signal(int pidfd, int sig) noexcept;

/// Flushes stdout and stderr, C and C++, writing only where something is pending (before a
/// fork, so buffered output is not printed twice, and before a child's _exit).
void flush_std_streams() noexcept;

/// Waits until `pidfd` polls readable (its process ended) or `timeout_ms` passed (-1 = no
/// limit, 0 = just look); true when it ended. Retries EINTR. Throws std::system_error.
bool wait_pidfd(int pidfd, int timeout_ms);

/// waitid(P_PIDFD, WEXITED | WNOHANG) on `pidfd`, retrying EINTR: reaps the child if it ended
/// (info.si_pid == 0 while it runs). Returns 0 or the errno (ECHILD: not our child). Never throws.
int reap_pidfd(int pidfd, siginfo_t& info) noexcept;

/// The exit code of a reaped child in Python's convention: its status, or -N when signal N
/// ended it.
inline int exit_code_of(const siginfo_t& info) noexcept {
  return info.si_code == CLD_EXITED ? info.si_status : -info.si_status;
}

/// The fields of /proc/<pid>/stat that ipckit reads (proc(5) numbers them from 1).
struct ProcStat {
  pid_t pid = 0;
  std::string comm;              ///< field 2, without the parentheses
  char state = '\0';             ///< field 3: R, S, D, Z, T, t, X, I, P
  pid_t ppid = 0;                ///< field 4
  pid_t pgrp = 0;                ///< field 5
  pid_t session = 0;             ///< field 6
  int tty_nr = 0;                ///< field 7
  pid_t tpgid = 0;               ///< field 8
  long num_threads = 0;          ///< field 20
  unsigned long long starttime = 0;  ///< field 22: clock ticks after boot
};

/// Reads /proc/<pid>/stat: nullopt when the process is gone (or pid <= 0), ProtocolError when
/// the text cannot be parsed.
std::optional<ProcStat> read_proc_stat(pid_t pid);

/// Start time of `pid` (field 22 of /proc/<pid>/stat), 0 when it is gone. Never throws.
std::uint64_t process_start_time(pid_t pid) noexcept;

/// True when `pid` runs (not a zombie) and, when `start` is not 0, started at `start`: the same
/// process, not a reused pid. Never throws.
bool process_running(pid_t pid, std::uint64_t start) noexcept;

}  // namespace ipc::detail
