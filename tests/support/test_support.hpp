// Test helpers: unique kernel-object names, temp directories, fd counting, /proc inspection.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

namespace ipc::test {

/// How many times the resident memory of a program of this build grows for the same data:
/// ThreadSanitizer keeps shadow and metadata beside every byte the program touches (its
/// documentation says 5 to 10 times; ipc-managerd's reply buffers measure 5). Tests that bound
/// a process's RSS growth multiply the bound by it.
#if defined(__SANITIZE_THREAD__)
inline constexpr long kResidentGrowthFactor = 5;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
inline constexpr long kResidentGrowthFactor = 5;
#else
inline constexpr long kResidentGrowthFactor = 1;
#endif
#else
inline constexpr long kResidentGrowthFactor = 1;
#endif

/// A raw (unframed) stream socket connected to the unix socket file at `path`, or -1.
int connect_unix(const std::filesystem::path& path);

/// A name no other test (or run) uses: "/ipckit-test-<pid>-<n>-<what>".
std::string unique_name(std::string_view what);

/// A fresh directory under $TMPDIR, removed with its contents on destruction unless
/// IPCKIT_KEEP_TMP is set in the environment.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const noexcept { return m_path; }
  std::filesystem::path operator/(std::string_view name) const { return m_path / name; }

 private:
  std::filesystem::path m_path;
};

/// Number of open file descriptors of this process (entries in /proc/self/fd, minus the one
/// used to list them).
int count_open_fds();

/// The state letter of `pid` from /proc/<pid>/stat ('R', 'S', 'Z', ...), or '\0' if it is gone.
char proc_state(pid_t pid);

/// The parent pid of `pid` from /proc/<pid>/stat, or -1 if it is gone.
pid_t proc_ppid(pid_t pid);

/// Names in /dev/shm that start with `prefix`.
int count_shm_names(std::string_view prefix);

/// Runs `gc` until no name in /dev/shm starts with `entry_prefix` or 20 s passed; true when
/// none is left. gc rightly keeps a segment while any process holds it open, and a concurrent
/// listing (another test, ipc-shm list) holds each segment open for a moment.
bool gc_until_gone(std::string_view entry_prefix, const std::function<void()>& gc);

/// Makes this process a child subreaper, so that grandchildren orphaned by a test are
/// re-parented here (and can be reaped) instead of escaping to init.
void become_subreaper();

/// Reaps every child that has exited, without blocking. Returns how many were reaped.
int reap_exited_children();

}  // namespace ipc::test
