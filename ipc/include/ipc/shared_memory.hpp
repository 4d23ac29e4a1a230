// SharedMemory: anonymous (inherited across fork) and named POSIX shared memory segments.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
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

/// The full name of a kind tag ("Lock" for "lock", "JoinableQueue" for "jque", ...); the tag
/// itself for a tag ipckit does not know.
std::string shm_kind_name(std::uint32_t kind);

/// The name of type T as the compiler spells it ("int", "Point", "std::array<int, 4>"), for
/// headers and listings; not a stable identifier across compilers.
template <class T>
constexpr std::string_view shm_type_name() noexcept {
  std::string_view f = __PRETTY_FUNCTION__;  // "... [with T = int; ...]" (gcc) or "... [T = int]" (clang)
  auto at = f.find("T = ");
  if (at == std::string_view::npos) return {};
  f.remove_prefix(at + 4);
  return f.substr(0, f.find_first_of(";]"));
}

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
  /// The element type's name, stored in the header for `ipc-shm list` (at most 63 bytes are
  /// kept). Empty = none.
  std::string type_name = {};
  /// create_or_open: the owner an existing segment must have; default the effective uid.
  std::optional<uid_t> owner = std::nullopt;
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
  /// The owner the segment must have; default the effective uid. A segment of another owner
  /// is refused (EACCES) unless named here: anyone may plant a name in /dev/shm.
  std::optional<uid_t> owner = std::nullopt;
  /// The most permission bits the segment may grant to its group and others; a wider segment
  /// is refused (EACCES).
  mode_t mode = 0600;
};

/// A mapping of shared memory, anonymous or named; move-only RAII handle (munmap on destruction).
///
/// Anonymous segments (MAP_SHARED|MAP_ANONYMOUS) are shared with children forked after their
/// creation. Named segments are POSIX shm objects called "/ipckit-<name>" (see full_name), created
/// with mode 0600 unless told otherwise, with a 128-byte header (magic, version, kind, element
/// type, creator pid and start time, user size) before the user bytes. A segment is built under a
/// temporary name and linked into place with its header complete, so a name never shows a
/// half-written header; a creator that dies during init leaves a header naming it, which
/// create_or_open replaces and ipc-shm gc removes. Opening checks, on the opened file, that its
/// owner is the caller's effective uid (or the one named) and that its mode grants no more than
/// asked. The handle that created a named segment owns it and unlinks it when destroyed or
/// closed in the creating process (never in a forked child); other handles only unmap. Not
/// thread-safe per object.
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

  /// Creates the named segment; fails if the name exists, whoever made it. Throws ValueError for
  /// a bad name or size 0, std::system_error (EEXIST, ENOSPC, ...) from open/ftruncate/mmap/link.
  static SharedMemory create(std::string_view name, std::size_t size, const ShmOptions& options = {});

  /// Opens an existing named segment (never through a symbolic link). Throws std::system_error
  /// (ENOENT when missing, EACCES when we may not read it or its owner or mode is not the one
  /// expected, ELOOP for a symbolic link), ProtocolError when it is not an ipckit segment (bad
  /// magic, version, truncated, never initialised, creator died in init), ValueError when it does
  /// not match `expect` or the name is bad.
  static SharedMemory open(std::string_view name, const ShmExpect& expect = {});

  /// Creates the named segment, or opens it if it exists (then size, kind and type tag must
  /// match, and owner and mode as open() checks them against `options.owner` and `options.mode`);
  /// a segment whose creator died before finishing it is replaced. created() tells which. Throws
  /// as create() and open(); never opens a segment of another owner unless named.
  static SharedMemory create_or_open(std::string_view name, std::size_t size, const ShmOptions& options = {});

  /// The full name of a segment. A name without a leading '/' is a user name and always gets the
  /// prefix ("x" -> "/ipckit-x", "ipckit-x" -> "/ipckit-ipckit-x"); a name with a leading '/' is
  /// a full name, completed with the prefix when it lacks it ("/ipckit-x" and "/x" -> "/ipckit-x").
  /// Throws ValueError when the name is empty, holds a NUL, a control character or a '/' after
  /// the first character, starts with '.' (reserved for names being created), or is longer
  /// than NAME_MAX.
  static std::string full_name(std::string_view name);

  /// Removes the name `name` (full_name rules). Returns false when it did not exist. Throws
  /// std::system_error on other failures, ValueError for a bad name.
  static bool unlink(std::string_view name);

  /// The user bytes (after the header of a named segment); nullptr when empty.
  void* data() const noexcept { return m_data; }
  /// The user bytes as a span (Python's `buf`).
  std::span<std::byte> buf() const noexcept { return {static_cast<std::byte*>(m_data), m_size}; }
  /// Deprecated: the former name of buf().
  std::span<std::byte> bytes() const noexcept { return buf(); }
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
  /// Unmaps now (Python's `close()`); the owner of a named segment also unlinks it (only in the
  /// creating process), as the destructor does. The handle is empty afterwards. Never throws.
  void close() noexcept;

 private:
  struct Orphan;
  static SharedMemory open_full(const std::string& full, const ShmExpect& expect, Orphan* orphan);

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
  std::string kind;            ///< full kind name ("SharedMemory", "Lock", "Queue", ...); "" when unknown
  std::string kind_tag;        ///< four-letter kind tag ("data", "lock", ...); "" when unknown
  std::string type_name;       ///< element type of a Value, Array or Queue; "" when none
  std::size_t size = 0;        ///< user size (valid) or file size (not valid)
  pid_t creator_pid = 0;       ///< 0 when unknown
  bool creator_alive = false;  ///< the creator (same pid and start time) still runs
  bool creating = false;       ///< a temporary name of a segment being created ("/ipckit-.new-...")
  std::vector<pid_t> users;    ///< processes that map it or hold it open (those we may inspect)
  uid_t uid = 0;               ///< owner of the shm file
  mode_t mode = 0;             ///< permission bits of the shm file
  dev_t dev = 0;               ///< device and inode of the shm file (0 when it could not be opened)
  ino_t ino = 0;
};

/// Lists the names in /dev/shm that start with "ipckit-", reading their headers, and the
/// processes that use each (from /proc/<pid>/maps and /proc/<pid>/fd of every process this
/// one may inspect). Never opens a segment for writing, never follows a symbolic link. Throws
/// std::system_error when /dev/shm cannot be read.
std::vector<SegmentInfo> list_segments();

/// What gc does with one segment, and why.
struct GcDecision {
  std::string name;    ///< full name
  bool remove = false;  ///< removed (or, in a dry run, would be removed)
  std::string reason;  ///< e.g. "creator pid 42 is gone and no process maps it or holds it open"
};

/// Decides for every segment whose full name starts with `prefix` (full_name rules; empty = all)
/// whether it is stale, and unless `dry_run` removes the stale ones. Stale: its creator is gone
/// and no process maps it or holds it open, or it is a temporary name of a creator that is gone,
/// or it was never written (shorter than a header, or a zero header) and nobody uses it. Kept:
/// a live creator, any user, a foreign or unreadable file. A name is removed only if it still
/// names the file that was judged and no process opened it meanwhile (checked under an flock
/// that openers wait for: a name replaced or opened meanwhile stays).
/// Temporary names of dead creators are collected whatever the prefix. Throws std::system_error
/// when a name cannot be removed, ValueError for a bad prefix.
std::vector<GcDecision> gc_segments(std::string_view prefix = {}, bool dry_run = false);

/// gc_segments(prefix) and the names it removed.
std::vector<std::string> collect_stale_segments(std::string_view prefix = {});

}  // namespace ipc
