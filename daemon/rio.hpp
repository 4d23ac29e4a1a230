// Persistence byte I/O (Redis's rio.c): varint and little-endian encoding, a bounded reader for
// untrusted bytes, crash-safe file writes.
#pragma once

#include <ipc/detail/errno.hpp>
#include <ipc/detail/file_io.hpp>
#include <ipc/errors.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace ipc::managerd {

/// Appends `v` as a LEB128 varint (7 bits a byte, high bit = more).
void put_varint(std::string& out, std::uint64_t v);
/// Appends `s` as a varint length followed by its bytes.
void put_bytes(std::string& out, std::string_view s);
/// Appends `v` as 8 little-endian bytes.
void put_u64(std::string& out, std::uint64_t v);

/// Bounded reader over snapshot bytes: every length is checked against what is left; a corrupt
/// or truncated input throws ipc::ProtocolError naming the byte offset.
struct Reader {
  std::string_view b;
  std::size_t pos = 0;
  [[noreturn]] void fail(const std::string& what) const {
    throw ProtocolError("corrupt snapshot at byte " + std::to_string(pos) + ": " + what);
  }
  unsigned char byte() {
    if (pos >= b.size()) fail("truncated");
    return static_cast<unsigned char>(b[pos++]);
  }
  std::uint64_t varint() {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      unsigned char ch = byte();
      v |= static_cast<std::uint64_t>(ch & 0x7f) << shift;
      if (!(ch & 0x80)) return v;
    }
    fail("bad length");
  }
  std::uint64_t count() {  // an element count: each element takes at least one byte
    std::uint64_t n = varint();
    if (n > b.size() - pos) fail("element count larger than the file");
    return n;
  }
  std::string_view bytes() {
    std::uint64_t n = varint();
    if (n > b.size() - pos) fail("string longer than the file");
    std::string_view s = b.substr(pos, static_cast<std::size_t>(n));
    pos += static_cast<std::size_t>(n);
    return s;
  }
  std::uint64_t u64() {
    if (b.size() - pos < 8) fail("truncated");
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= static_cast<std::uint64_t>(static_cast<unsigned char>(b[pos + static_cast<std::size_t>(i)])) << (8 * i);
    pos += 8;
    return v;
  }
};

// errno_code() and write_all() are the library's (never throw, return std::error_code).
using detail::errno_code;
using detail::write_all;
/// Fsyncs the directory holding `path`, which makes a rename into it durable.
std::error_code fsync_dir_of(const std::string& path) noexcept;
/// Writes `data` to `path` crash-safely: temp file, fsync, rename, fsync of the directory.
/// Throws std::system_error naming the step and file (the temp file is removed).
void write_file_atomically(const std::string& path, std::string_view data);
/// All of `path`. Throws std::system_error (its code says why: ENOENT for a missing file).
std::string read_file(const std::string& path);
/// Removes the files named `<name of path><infix>*` next to `path`: temp files a killed
/// server or child left (errors are ignored: a leftover temp file only takes space).
void remove_stale_temps(const std::string& path, std::string_view infix) noexcept;

}  // namespace ipc::managerd
