// SharedMemory: anonymous and named POSIX segments, their header, and the listing ipc-shm uses.
#include <ipc/shared_memory.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include <ipc/detail/futex.hpp>
#include <ipc/detail/unique_fd.hpp>
#include <ipc/errors.hpp>

namespace ipc {

namespace {

// ---- Header of a named segment ----

constexpr std::uint64_t kMagic = 0x314d48534b435049ull;  // "IPCKSHM1" little-endian
constexpr std::uint32_t kVersion = 1;
constexpr std::uint32_t kReady = 0x59444552u;  // "REDY": the creator finished init
constexpr std::size_t kHeaderSize = 64;

/// The first 64 bytes of every named ipckit segment. The creator fills it, runs init, then
/// publishes `state = kReady` (release) and wakes openers waiting on that futex word.
struct SegmentHeader {
  std::uint64_t magic;
  std::atomic<std::uint32_t> state;
  std::uint32_t version;
  std::uint32_t kind;
  std::uint32_t header_size;
  std::uint64_t user_size;
  std::uint64_t type_tag;
  std::int32_t creator_pid;
  std::uint32_t reserved0;
  std::uint64_t creator_start;  // creator's start time (clock ticks since boot): guards pid reuse
  std::uint64_t reserved1;
};
static_assert(sizeof(SegmentHeader) == kHeaderSize);

/// Start time of `pid` (field 22 of /proc/<pid>/stat), 0 when it is gone.
std::uint64_t process_start_time(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(f, line)) return 0;
  auto close = line.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  // Fields after comm start at 3 (state); starttime is field 22.
  for (int i = 3; i < 22; ++i) rest >> field;
  std::uint64_t start = 0;
  rest >> start;
  return start;
}

/// True when `pid` runs and started at `start` (so it is the same process, not a reused pid).
bool process_alive(pid_t pid, std::uint64_t start) {
  if (pid <= 0) return false;
  if (::kill(pid, 0) != 0 && errno != EPERM) return false;
  return start == 0 || process_start_time(pid) == start;
}

std::string kind_name(std::uint32_t kind) {
  std::string s(4, '?');
  for (int i = 0; i < 4; ++i) {
    char c = static_cast<char>((kind >> (8 * i)) & 0xff);
    s[static_cast<std::size_t>(i)] = (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  return s;
}

/// Checks a header found ready; throws ProtocolError / ValueError with the segment's name.
void check_header(const SegmentHeader& h, const std::string& name, std::size_t file_size, const ShmExpect& expect) {
  if (h.magic != kMagic) throw ProtocolError("shared memory " + name + " is not an ipckit segment (bad magic)");
  if (h.version != kVersion)
    throw ProtocolError("shared memory " + name + " has header version " + std::to_string(h.version) +
                        ", this library reads version " + std::to_string(kVersion));
  if (h.header_size != kHeaderSize || h.user_size > file_size - kHeaderSize)
    throw ProtocolError("shared memory " + name + " has a corrupt header (sizes do not fit the file)");
  if (expect.kind != 0 && h.kind != expect.kind)
    throw ValueError("shared memory " + name + " holds a '" + kind_name(h.kind) + "', not a '" +
                     kind_name(expect.kind) + "'");
  if (expect.size != 0 && h.user_size != expect.size)
    throw ValueError("shared memory " + name + " has size " + std::to_string(h.user_size) + ", expected " +
                     std::to_string(expect.size));
  if (expect.type_tag != 0 && h.type_tag != expect.type_tag)
    throw ValueError("shared memory " + name + " holds another element type than the one asked for");
}

void* map_fd(int fd, std::size_t size, int prot, const std::string& name) {
  void* p = ::mmap(nullptr, size, prot, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) throw_errno("mmap(" + name + ")");
  return p;
}

}  // namespace

// ---- SharedMemory ----

SharedMemory::SharedMemory(SharedMemory&& o) noexcept
    : m_base(std::exchange(o.m_base, nullptr)),
      m_map_size(std::exchange(o.m_map_size, 0)),
      m_data(std::exchange(o.m_data, nullptr)),
      m_size(std::exchange(o.m_size, 0)),
      m_name(std::move(o.m_name)),
      m_owner(std::exchange(o.m_owner, false)),
      m_owner_pid(std::exchange(o.m_owner_pid, 0)) {
  o.m_name.clear();
}

SharedMemory& SharedMemory::operator=(SharedMemory&& o) noexcept {
  if (this != &o) {
    reset();
    m_base = std::exchange(o.m_base, nullptr);
    m_map_size = std::exchange(o.m_map_size, 0);
    m_data = std::exchange(o.m_data, nullptr);
    m_size = std::exchange(o.m_size, 0);
    m_name = std::move(o.m_name);
    o.m_name.clear();
    m_owner = std::exchange(o.m_owner, false);
    m_owner_pid = std::exchange(o.m_owner_pid, 0);
  }
  return *this;
}

SharedMemory::~SharedMemory() { reset(); }

void SharedMemory::reset() noexcept {
  // Only the creating process unlinks: a forked child holds a copy of this handle too.
  if (m_owner && !m_name.empty() && m_owner_pid == ::getpid()) ::shm_unlink(m_name.c_str());
  if (m_base) ::munmap(m_base, m_map_size);
  m_base = m_data = nullptr;
  m_map_size = m_size = 0;
  m_name.clear();
  m_owner = false;
  m_owner_pid = 0;
}

std::string SharedMemory::full_name(std::string_view name) {
  std::string_view bare = name;
  if (bare.starts_with('/')) bare.remove_prefix(1);
  if (bare.empty()) throw ValueError("shared memory name is empty");
  if (bare.find('/') != std::string_view::npos)
    throw ValueError("shared memory name '" + std::string(name) + "' contains '/' after its first character");
  // Built with append: gcc 12 -O2 gives a false -Wrestrict on `"/" + std::string(...)`.
  std::string full(bare.starts_with(kPrefix.substr(1)) ? std::string_view("/") : kPrefix);
  full.append(bare);
  if (full.size() - 1 > NAME_MAX)
    throw ValueError("shared memory name '" + full.substr(0, 40) + "...' is too long (" +
                     std::to_string(full.size() - 1) + " > " + std::to_string(NAME_MAX) + " characters)");
  return full;
}

bool SharedMemory::unlink(std::string_view name) {
  auto full = full_name(name);
  if (::shm_unlink(full.c_str()) == 0) return true;
  if (errno == ENOENT) return false;
  throw_errno("shm_unlink(" + full + ")");
}

void SharedMemory::unlink() {
  if (m_name.empty()) return;
  m_owner = false;
  if (::shm_unlink(m_name.c_str()) != 0 && errno != ENOENT) throw_errno("shm_unlink(" + m_name + ")");
}

pid_t SharedMemory::creator_pid() const noexcept {
  if (!m_base) return 0;
  if (m_name.empty()) return m_owner_pid;
  return static_cast<const SegmentHeader*>(m_base)->creator_pid;
}

SharedMemory SharedMemory::anonymous(std::size_t size) {
  if (size == 0) throw ValueError("shared memory size must be positive");
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw_errno("mmap(anonymous shared, " + std::to_string(size) + " bytes)");
  SharedMemory m;
  m.m_base = m.m_data = p;
  m.m_map_size = m.m_size = size;
  m.m_owner_pid = ::getpid();
  return m;
}

SharedMemory SharedMemory::create(std::string_view name, std::size_t size, const ShmOptions& options) {
  if (size == 0) throw ValueError("shared memory size must be positive");
  auto full = full_name(name);
  detail::UniqueFd fd(::shm_open(full.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, options.mode & 0777));
  if (!fd) throw_errno("shm_open(" + full + ")");
  SharedMemory m;
  // From here the name is ours: m's destructor unlinks it if anything below throws.
  m.m_name = full;
  m.m_owner = true;
  m.m_owner_pid = ::getpid();
  if (::fchmod(fd.get(), options.mode & 0777) != 0) throw_errno("fchmod(" + full + ")");
  std::size_t total = kHeaderSize + size;
  if (::ftruncate(fd.get(), static_cast<off_t>(total)) != 0) throw_errno("ftruncate(" + full + ")");
  m.m_base = map_fd(fd.get(), total, PROT_READ | PROT_WRITE, full);
  m.m_map_size = total;
  m.m_data = static_cast<std::byte*>(m.m_base) + kHeaderSize;
  m.m_size = size;
  auto* h = static_cast<SegmentHeader*>(m.m_base);
  h->magic = kMagic;
  h->version = kVersion;
  h->kind = options.kind;
  h->header_size = kHeaderSize;
  h->user_size = size;
  h->type_tag = options.type_tag;
  h->creator_pid = ::getpid();
  h->creator_start = process_start_time(::getpid());
  if (options.init) options.init(m.bytes());
  h->state.store(kReady, std::memory_order_release);
  detail::futex_wake_all(h->state);
  return m;
}

SharedMemory SharedMemory::open(std::string_view name, const ShmExpect& expect) {
  auto full = full_name(name);
  detail::UniqueFd fd(::shm_open(full.c_str(), O_RDWR | O_CLOEXEC, 0));
  if (!fd) throw_errno("shm_open(" + full + ")");
  Deadline deadline(expect.init_timeout);
  struct stat st {};
  // A creator between shm_open and ftruncate leaves an empty file: wait for its size.
  for (;;) {
    if (::fstat(fd.get(), &st) != 0) throw_errno("fstat(" + full + ")");
    if (static_cast<std::size_t>(st.st_size) >= kHeaderSize) break;
    if (deadline.expired())
      throw ProtocolError("shared memory " + full + " is too small for an ipckit header (" +
                          std::to_string(st.st_size) + " bytes)");
    ::usleep(1000);
  }
  auto total = static_cast<std::size_t>(st.st_size);
  SharedMemory m;
  m.m_base = map_fd(fd.get(), total, PROT_READ | PROT_WRITE, full);
  m.m_map_size = total;
  m.m_name = full;
  auto* h = static_cast<SegmentHeader*>(m.m_base);
  for (;;) {
    std::uint32_t s = h->state.load(std::memory_order_acquire);
    if (s == kReady) break;
    if (s != 0) throw ProtocolError("shared memory " + full + " is not an ipckit segment (bad state word)");
    if (detail::futex_wait(h->state, 0, deadline) == detail::FutexResult::timed_out &&
        h->state.load(std::memory_order_acquire) != kReady)
      throw ProtocolError("shared memory " + full + " was never initialised (its creator died or is not ipckit)");
  }
  check_header(*h, full, total, expect);
  m.m_data = static_cast<std::byte*>(m.m_base) + kHeaderSize;
  m.m_size = static_cast<std::size_t>(h->user_size);
  return m;
}

SharedMemory SharedMemory::create_or_open(std::string_view name, std::size_t size, const ShmOptions& options) {
  // Bounded: each failed create means the name existed; each failed open means it vanished.
  for (int attempt = 0;; ++attempt) {
    try {
      return create(name, size, options);
    } catch (const std::system_error& e) {
      if (e.code().value() != EEXIST || attempt >= 8) throw;
    }
    try {
      return open(name, ShmExpect{size, options.kind, options.type_tag});
    } catch (const std::system_error& e) {
      if (e.code().value() != ENOENT || attempt >= 8) throw;
    }
  }
}

// ---- Listing for ipc-shm ----

std::vector<SegmentInfo> list_segments() {
  std::vector<SegmentInfo> out;
  DIR* dir = ::opendir("/dev/shm");
  if (!dir) throw_errno("opendir(/dev/shm)");
  std::vector<std::string> names;
  while (auto* e = ::readdir(dir)) {
    std::string_view n = e->d_name;
    if (n.starts_with(SharedMemory::kPrefix.substr(1))) names.emplace_back("/").append(n);
  }
  ::closedir(dir);
  std::sort(names.begin(), names.end());
  for (auto& full : names) {
    SegmentInfo info;
    info.name = full;
    detail::UniqueFd fd(::shm_open(full.c_str(), O_RDONLY | O_CLOEXEC, 0));
    if (!fd) {
      info.problem = errno == EACCES ? "permission denied" : std::strerror(errno);
      struct stat st {};
      if (::stat(("/dev/shm" + full).c_str(), &st) == 0) {
        info.uid = st.st_uid;
        info.mode = st.st_mode & 07777;
        info.size = static_cast<std::size_t>(st.st_size);
      }
      out.push_back(std::move(info));
      continue;
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
      info.problem = std::strerror(errno);
      out.push_back(std::move(info));
      continue;
    }
    info.uid = st.st_uid;
    info.mode = st.st_mode & 07777;
    info.size = static_cast<std::size_t>(st.st_size);
    if (info.size < kHeaderSize) {
      info.problem = "too small for an ipckit header";
      out.push_back(std::move(info));
      continue;
    }
    SegmentHeader h;
    if (::pread(fd.get(), &h, sizeof h, 0) != static_cast<ssize_t>(sizeof h)) {
      info.problem = "header unreadable";
    } else if (h.magic != kMagic) {
      info.problem = "bad magic";
    } else if (h.version != kVersion) {
      info.problem = "header version " + std::to_string(h.version);
    } else {
      info.creator_pid = h.creator_pid;
      info.creator_alive = process_alive(h.creator_pid, h.creator_start);
      info.kind = kind_name(h.kind);
      if (h.state.load(std::memory_order_relaxed) != kReady) {
        info.problem = "never initialised";
      } else if (h.header_size != kHeaderSize || h.user_size > info.size - kHeaderSize) {
        info.problem = "corrupt header";
      } else {
        info.valid = true;
        info.size = static_cast<std::size_t>(h.user_size);
      }
    }
    out.push_back(std::move(info));
  }
  return out;
}

std::vector<std::string> collect_stale_segments(std::string_view prefix) {
  std::string full_prefix = prefix.empty() ? std::string(SharedMemory::kPrefix) : SharedMemory::full_name(prefix);
  std::vector<std::string> removed;
  for (auto& s : list_segments()) {
    if (!s.name.starts_with(full_prefix)) continue;
    // Also segments whose creator died during init: they have a header with a dead creator.
    bool has_creator = s.creator_pid > 0;
    if (!has_creator || s.creator_alive) continue;
    if (::shm_unlink(s.name.c_str()) != 0) {
      if (errno == ENOENT) continue;
      throw_errno("shm_unlink(" + s.name + ")");
    }
    removed.push_back(s.name);
  }
  return removed;
}

}  // namespace ipc
