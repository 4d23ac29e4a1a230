// Persistence byte I/O: varints, little-endian integers, whole-file reads and crash-safe writes.
#include "rio.hpp"

#include <ipc/detail/unique_fd.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace ipc::managerd {

void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void put_bytes(std::string& out, std::string_view s) {
  put_varint(out, s.size());
  out.append(s);
}

void put_u64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::error_code fsync_dir_of(const std::string& path) noexcept {
  auto slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  detail::UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dfd || ::fsync(dfd.get()) != 0) return errno_code();
  return {};
}

void write_file_atomically(const std::string& path, std::string_view data) {
  std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  detail::UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd) detail::throw_errno("open(" + tmp + ")");
  std::error_code ec = write_all(fd.get(), data);
  const char* step = "write";
  if (!ec && ::fsync(fd.get()) != 0) {
    ec = errno_code();
    step = "fsync";
  }
  fd.reset();
  if (!ec && ::rename(tmp.c_str(), path.c_str()) != 0) {
    ec = errno_code();
    step = "rename";
  }
  if (ec) {
    ::unlink(tmp.c_str());
    throw std::system_error(ec, std::string(step) + "(" + tmp + ")");
  }
  // Redis's rdbSave fails too when the directory cannot be fsynced: the rename may not last.
  if ((ec = fsync_dir_of(path))) throw std::system_error(ec, "fsync(directory of " + path + ")");
}

std::string read_file(const std::string& path) {
  std::string out;
  if (std::error_code ec = detail::read_file(path, out)) throw std::system_error(ec, "read(" + path + ")");
  return out;
}

void remove_stale_temps(const std::string& path, std::string_view infix) noexcept {
  namespace fs = std::filesystem;
  try {
    fs::path p(path);
    std::string prefix = p.filename().string() + std::string(infix);
    std::error_code ec;
    for (auto& e : fs::directory_iterator(p.parent_path().empty() ? fs::path(".") : p.parent_path(), ec))
      if (e.path().filename().string().starts_with(prefix)) fs::remove(e.path(), ec);
  } catch (const std::exception&) {  // bad_alloc from a path: nothing to clean then
  }
}

}  // namespace ipc::managerd
