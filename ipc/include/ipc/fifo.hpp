// Fifo: a named pipe (mkfifo) carrying the same framed messages as a Connection.
//
// Two unrelated programs meet at a path: one creates the FIFO (mode 0600 unless told otherwise)
// and owns it, so it is unlinked when that Fifo object is destroyed in the creating process;
// the other opens it. Opening never hangs: a writer waits for a reader up to its timeout
// (TimeoutError), and a reader opens at once and waits for messages in recv(timeout), or for a
// writer to open in wait_for_writer(timeout). A reader sees ConnectionClosed once a writer has
// connected and every writer has closed.
// Messages up to PIPE_BUF - 8 bytes (4088) from several writers never interleave. A reader that
// serves writers coming and going opens with Mode::read_write, so it never sees EOF in between.
//
// A FIFO is a file in a directory others may write to (/tmp): open() never follows a symbolic
// link and accepts only a FIFO owned by the caller's effective uid (or by the owner named in
// PathOwner) that grants group and others no more than asked; create() never adopts a path
// that exists.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <utility>

#include <ipc/connection.hpp>

namespace ipc {

/// Whose FIFO Fifo::open() accepts: one owned by `uid` (empty: the caller's effective uid) whose
/// mode grants group and others nothing beyond `perms`. A symbolic link is never followed.
/// `{}` is the default; `{other_uid, 0660}` accepts another user's FIFO shared with the group.
struct PathOwner {
  /// The caller's own, granting others at most `perms`; or `uid`'s.
  PathOwner(std::optional<uid_t> uid = std::nullopt, mode_t perms = 0600) noexcept : uid(uid), perms(perms) {}
  /// The owner required; std::nullopt means geteuid().
  std::optional<uid_t> uid;
  /// The most access the file may grant group and others (its owner bits are not checked).
  mode_t perms;
};

/// A named pipe end: a Connection (send/recv/poll/wait) with a path, created or opened.
/// Move-only; not thread-safe; fork-safe (a child never unlinks the creator's FIFO).
class Fifo : public Connection {
 public:
  /// Which direction(s) to open.
  enum class Mode { read, write, read_write };

  /// Creates the FIFO at `path` with `perms` (exactly, umask aside), then opens it. The returned
  /// object owns the path and unlinks it on destruction. Never adopts an existing path or
  /// follows a link. Throws std::system_error (EEXIST when the path exists, EPERM when another
  /// user replaced it in between), TimeoutError as open().
  static Fifo create(const std::filesystem::path& path, Mode mode, Timeout timeout = {}, mode_t perms = 0600);

  /// Opens an existing FIFO that `owner` accepts (default: the caller's own, mode 0600 at most).
  /// Mode::write waits up to `timeout` for a reader (TimeoutError); Mode::read and
  /// Mode::read_write return at once. Throws ValueError when `path` is not a FIFO,
  /// std::system_error: ELOOP for a symbolic link, EPERM for another owner or a mode granting
  /// more than owner.perms (the message says which), ENOENT, EACCES, ...
  static Fifo open(const std::filesystem::path& path, Mode mode, Timeout timeout = {}, PathOwner owner = {});

  /// A closed Fifo.
  Fifo() noexcept = default;
  /// Takes over `other`'s fd and ownership of the path.
  Fifo(Fifo&& other) noexcept;
  /// Unlinks this one's path if owned, then takes over `other`'s.
  Fifo& operator=(Fifo&& other) noexcept;
  /// Closes; in the creating process also unlinks the path. Never throws.
  ~Fifo();

  /// Waits until a writer has opened the FIFO (a blocking open with a timeout, for Mode::read);
  /// bytes it already sent are kept for recv(). Returns false when `timeout` passes first.
  /// Throws ValueError when closed or not opened in Mode::read.
  bool wait_for_writer(Timeout timeout = {});

  /// The path.
  const std::filesystem::path& path() const noexcept { return m_path; }
  /// True when this object created the FIFO and will unlink it.
  bool owner() const noexcept { return m_owner_pid != 0; }
  /// Removes the path now (ownership ends); the open end keeps working. Never throws.
  void unlink() noexcept;

 private:
  Fifo(detail::UniqueFd fd, Mode mode, std::filesystem::path path);
  static Fifo open_checked(const std::filesystem::path& path, Mode mode, Timeout timeout, const PathOwner& owner,
                           const char* what, std::optional<std::pair<dev_t, ino_t>> created);

  std::filesystem::path m_path;
  dev_t m_dev = 0;  // the FIFO this object created: only that file is unlinked
  ino_t m_ino = 0;
  Mode m_mode = Mode::read;
  pid_t m_owner_pid = 0;  // creator's pid; 0 when not the owner
};

}  // namespace ipc
