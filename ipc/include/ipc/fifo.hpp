// Fifo: a named pipe (mkfifo) carrying the same framed messages as a Connection.
//
// Two unrelated programs meet at a path: one creates the FIFO (mode 0600 unless told otherwise)
// and owns it, so it is unlinked when that Fifo object is destroyed in the creating process;
// the other opens it. Opening never hangs: a writer waits for a reader up to its timeout
// (TimeoutError), and a reader opens at once and waits for messages in recv(timeout). A reader
// sees ConnectionClosed once a writer has connected and every writer has closed.
// Messages up to PIPE_BUF - 8 bytes (4088) from several writers never interleave.
#pragma once

#include <sys/types.h>

#include <filesystem>

#include <ipc/connection.hpp>

namespace ipc {

/// A named pipe end: a Connection (send/recv/poll/wait) with a path, created or opened.
/// Move-only; not thread-safe; fork-safe (a child never unlinks the creator's FIFO).
class Fifo : public Connection {
 public:
  /// Which direction(s) to open.
  enum class Mode { read, write, read_write };

  /// Creates the FIFO at `path` with `perms` (exactly, umask aside), then opens it. The returned
  /// object owns the path and unlinks it on destruction. Throws std::system_error (EEXIST when
  /// the path exists), TimeoutError as open().
  static Fifo create(const std::filesystem::path& path, Mode mode, Timeout timeout = {}, mode_t perms = 0600);

  /// Opens an existing FIFO. Mode::write waits up to `timeout` for a reader (TimeoutError);
  /// Mode::read and Mode::read_write return at once. Throws ValueError when `path` is not a
  /// FIFO, std::system_error (ENOENT, EACCES, ...).
  static Fifo open(const std::filesystem::path& path, Mode mode, Timeout timeout = {});

  /// A closed Fifo.
  Fifo() noexcept = default;
  Fifo(Fifo&& other) noexcept;
  Fifo& operator=(Fifo&& other) noexcept;
  /// Closes; in the creating process also unlinks the path. Never throws.
  ~Fifo();

  /// The path.
  const std::filesystem::path& path() const noexcept { return m_path; }
  /// True when this object created the FIFO and will unlink it.
  bool owner() const noexcept { return m_owner_pid != 0; }
  /// Removes the path now (ownership ends); the open end keeps working. Never throws.
  void unlink() noexcept;

 private:
  Fifo(detail::UniqueFd fd, Mode mode, std::filesystem::path path);

  std::filesystem::path m_path;
  pid_t m_owner_pid = 0;  // creator's pid; 0 when not the owner
};

}  // namespace ipc
