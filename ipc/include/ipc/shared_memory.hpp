// SharedMemory: anonymous (inherited across fork) and named POSIX shared memory segments.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <ipc/timeout.hpp>

namespace ipc {

/// A four-letter tag saying what lives in a named segment ("data", "lock", "valu", ...), stored
/// in its header so that opening a Lock by the name of a Value fails clearly and ipc-shm can show it.
constexpr std::uint32_t shm_kind(const char (&tag)[5]) noexcept {
  return static_cast<std::uint32_t>(static_cast<unsigned char>(tag[0])) |
         static_cast<std::uint32_t>(static_cast<unsigned char>(tag[1])) << 8 |
         static_cast<std::uint32_t>(static_cast<unsigned char>(tag[2])) << 16 |
         static_cast<std::uint32_t>(static_cast<unsigned char>(tag[3])) << 24;
}

/// The tag of a plain SharedMemory segment.
inline constexpr std::uint32_t kShmKindData = shm_kind("data");

/// How a named segment is created.
struct ShmOptions {
  /// Permission bits, applied exactly (not filtered by the umask).
  mode_t mode = 0600;
  /// What lives in the segment (see shm_kind); openers that ask for another kind get ValueError.
  std::uint32_t kind = kShmKindData;
  /// A tag of the stored type (e.g. size and type hash of a Value<T>); openers that ask for
  /// another tag get ValueError. 0 = none.
  std::uint64_t type_tag = 0;
  /// Run by the creator on the zeroed user bytes before any opener can use them (openers wait
  /// until it returned). If it throws, the segment is unlinked and the exception propagates.
  std::function<void(std::span<std::byte>)> init = nullptr;
};

/// What an opener expects of a named segment; a mismatch throws ValueError. 0 = anything.
struct ShmExpect {
  /// Required user size in bytes.
  std::size_t size = 0;
  /// Required kind.
  std::uint32_t kind = 0;
  /// Required type tag.
  std::uint64_t type_tag = 0;
  /// How long to wait for a creator that is still initialising the segment.
  Timeout init_timeout = std::chrono::seconds(2);
};

/// A mapping of shared memory, anonymous or named; move-only RAII handle (munmap on destruction).
///
/// Anonymous segments (MAP_SHARED|MAP_ANONYMOUS) are shared with children forked after their
/// creation. Named segments are POSIX shm objects called "/ipckit-<name>" (the prefix is added
/// when missing so that `ipc-shm` finds them), created with mode 0600 unless told otherwise, with a
/// 64-byte header (magic, version, kind, creator pid and start time, user size) before the user
/// bytes. The handle that created a named segment owns it and unlinks it when destroyed in the
/// creating process (never in a forked child); other handles only unmap. Not thread-safe per object.
class SharedMemory {
 public:
  /// The prefix of every ipckit segment name.
  static constexpr std::string_view kPrefix = "/ipckit-";

  /// An empty handle.
  SharedMemory() noexcept = default;
  SharedMemory(SharedMemory&& o) noexcept;
  /// Releases the current mapping first (as the destructor), then takes `o`'s.
  SharedMemory& operator=(SharedMemory&& o) noexcept;
  SharedMemory(const SharedMemory&) = delete;
  SharedMemory& operator=(const SharedMemory&) = delete;
  /// Unmaps; the owner of a named segment also unlinks it (only in the creating process). Never throws.
  ~SharedMemory();

  /// A zeroed anonymous segment of `size` bytes, shared with children forked later.
  /// Throws ValueError for size 0, std::system_error when mmap fails.
  static SharedMemory anonymous(std::size_t size);

  /// Creates the named segment; fails if it exists. Throws ValueError for a bad name or size 0,
  /// std::system_error (EEXIST, EACCES, ...) from shm_open/ftruncate/mmap.
  static SharedMemory create(std::string_view name, std::size_t size, const ShmOptions& options = {});

  /// Opens an existing named segment. Throws std::system_error (ENOENT when missing, EACCES),
  /// ProtocolError when it is not an ipckit segment (bad magic, version, truncated, never
  /// initialised), ValueError when it does not match `expect` or the name is bad.
  static SharedMemory open(std::string_view name, const ShmExpect& expect = {});

  /// Creates the named segment, or opens it if it exists (then size, kind and type tag must
  /// match). created() tells which. Throws as create() and open().
  static SharedMemory create_or_open(std::string_view name, std::size_t size, const ShmOptions& options = {});

  /// The full name ("/ipckit-x") for a user name ("x", "/x" or "/ipckit-x"). Throws ValueError
  /// when empty, containing '/' after the first character, or longer than NAME_MAX.
  static std::string full_name(std::string_view name);

  /// Removes the name `name` (full_name rules). Returns false when it did not exist. Throws
  /// std::system_error on other failures, ValueError for a bad name.
  static bool unlink(std::string_view name);

  /// The user bytes (after the header of a named segment); nullptr when empty.
  void* data() const noexcept { return m_data; }
  /// The user bytes as a span.
  std::span<std::byte> bytes() const noexcept { return {static_cast<std::byte*>(m_data), m_size}; }
  /// Size of the user bytes.
  std::size_t size() const noexcept { return m_size; }
  /// The full name of a named segment; empty for an anonymous one.
  const std::string& name() const noexcept { return m_name; }
  /// True when this handle maps something.
  explicit operator bool() const noexcept { return m_data != nullptr; }
  /// True for a named segment.
  bool named() const noexcept { return !m_name.empty(); }
  /// True when this handle created the named segment (and will unlink it).
  bool created() const noexcept { return m_owner; }
  /// Pid of the creating process (named: from the header; anonymous: the mapping process).
  pid_t creator_pid() const noexcept;
  /// Removes the name now (the mapping stays valid); this handle no longer owns it. A missing
  /// name is not an error. Throws std::system_error on other failures. No-op for anonymous.
  void unlink();
  /// Keeps the name after this handle is destroyed (gives up ownership).
  void release_ownership() noexcept { m_owner = false; }

 private:
  void reset() noexcept;

  void* m_base = nullptr;     // start of the mapping
  std::size_t m_map_size = 0;  // what munmap needs
  void* m_data = nullptr;     // user bytes
  std::size_t m_size = 0;
  std::string m_name;
  bool m_owner = false;
  pid_t m_owner_pid = 0;  // process allowed to unlink (fork children inherit m_owner but not this)
};

/// One named segment as ipc-shm sees it.
struct SegmentInfo {
  std::string name;            ///< full name, "/ipckit-..."
  bool valid = false;          ///< an initialised ipckit header was found
  std::string problem;         ///< why not valid ("bad magic", "permission denied", ...)
  std::string kind;            ///< four-letter kind tag ("data", "lock", ...)
  std::size_t size = 0;        ///< user size (valid) or file size (not valid)
  pid_t creator_pid = 0;       ///< 0 when unknown
  bool creator_alive = false;  ///< the creator (same pid and start time) still runs
  uid_t uid = 0;               ///< owner of the shm file
  mode_t mode = 0;             ///< permission bits of the shm file
};

/// Lists the names in /dev/shm that start with "ipckit-", reading their headers. Never opens a
/// segment for writing. Throws std::system_error when /dev/shm cannot be read.
std::vector<SegmentInfo> list_segments();

/// Removes, among list_segments() whose full name starts with `prefix` (SharedMemory::full_name
/// rules; empty = all), the segments whose creator is no longer alive; returns their names.
/// Throws std::system_error when a name cannot be removed, ValueError for a bad prefix.
std::vector<std::string> collect_stale_segments(std::string_view prefix = {});

}  // namespace ipc
