// Small process helpers shared by process.cpp and lifecycle.cpp: pidfd syscalls, flushing.
#pragma once

#include <sys/types.h>

namespace ipc::detail {

/// pidfd_open(2): an fd referring to process `pid`; -1 with errno set on failure.
int pidfd_open(pid_t pid) noexcept;

/// pidfd_send_signal(2): sends `sig` to the process behind `pidfd`; -1 with errno on failure.
int pidfd_send_signal(int pidfd, int sig) noexcept;

/// Flushes stdout and stderr, C and C++, writing only where something is pending (before a
/// fork, so buffered output is not printed twice, and before a child's _exit).
void flush_std_streams() noexcept;

}  // namespace ipc::detail
