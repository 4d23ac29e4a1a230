// Background children of the daemon (BGSAVE, BGREWRITEAOF): fork, reap without waiting, kill.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

namespace ipc::managerd {

/// Forks a child that works on a copy-on-write image of the keyspace (stdio flushed first, so
/// that nothing buffered is written twice); the child gets SIGKILL when the server dies.
/// Returns 0 in the child, its pid in the server. Throws std::system_error when fork fails.
pid_t fork_child();
/// Reaps `child` without waiting: nullopt while it runs, else whether it exited with 0.
std::optional<bool> reap_child(pid_t child);
/// Kills and reaps `child` (if one runs), removes its half-written file `tmp`, sets it to -1.
void kill_child(pid_t& child, const std::string& tmp);

}  // namespace ipc::managerd
