// Whole-buffer writes and whole-file reads on blocking fds, with errors as std::error_code.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <limits>
#include <string>
#include <string_view>
#include <system_error>

namespace ipc::detail {

/// Writes all of `data` to the blocking `fd`, retrying EINTR and short writes. Returns the error
/// of the write that failed ({} when every byte went), a write of 0 bytes counting as ENOSPC (as
/// Redis reads it); `*written`, when given, gets how many bytes went in either way. Never throws.
std::error_code write_all(int fd, std::string_view data, std::size_t* written = nullptr) noexcept;

/// write_all at file offset `offset` (pwrite(2)): the file position does not move. Never throws.
std::error_code write_all_at(int fd, std::string_view data, off_t offset) noexcept;

/// Replaces `out` with the whole file behind `fd`, read from offset 0 with pread(2) (the file
/// position does not move; regular and /proc files, not pipes), retrying EINTR. EFBIG when the
/// file holds more than `limit` bytes, ENOMEM when `out` cannot grow. Never throws.
std::error_code read_all(int fd, std::string& out,
                         std::size_t limit = std::numeric_limits<std::size_t>::max()) noexcept;

/// Replaces `out` with the whole file at `path` (opened O_RDONLY | O_CLOEXEC), as read_all does;
/// ENOENT when there is no such file. Never throws.
std::error_code read_file(const std::string& path, std::string& out,
                          std::size_t limit = std::numeric_limits<std::size_t>::max()) noexcept;

}  // namespace ipc::detail
