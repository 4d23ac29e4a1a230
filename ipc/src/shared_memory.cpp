// SharedMemory: anonymous and named POSIX segments, their header, and the listing ipc-shm uses.
#include <ipc/shared_memory.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <utility>

#include <ipc/detail/errno.hpp>
#include <ipc/detail/futex.hpp>
#include <ipc/detail/proc_util.hpp>
#include <ipc/detail/unique_fd.hpp>
#include <ipc/errors.hpp>

namespace ipc {

namespace {

using detail::UniqueFd;

// ---- Header of a named segment ----

constexpr std::uint64_t kMagic = 0x314d48534b435049ull;  // "IPCKSHM1" little-endian
// 2: 128-byte header with the element type; 3: Value/Array type tags are FNV-1a with its standard
// offset basis (a version-2 segment's tag would not match, so it is refused by version instead).
constexpr std::uint32_t kVersion = 3;
constexpr std::uint32_t kReady = 0x59444552u;            // "REDY": the creator finished init
constexpr std::size_t kHeaderSize = 128;
constexpr std::size_t kTypeNameSize = 64;

/// The first 128 bytes of every named ipckit segment. The creator fills it before the name
/// exists, runs init, then publishes `state = kReady` (release) and wakes openers waiting on
/// that futex word.
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
  char type_name[kTypeNameSize];  // NUL-terminated element type, "" when none
};
static_assert(sizeof(SegmentHeader) == kHeaderSize);

/// Where glibc's shm_open puts POSIX shm objects. Segments are opened by path so that O_NOFOLLOW,
/// O_NONBLOCK and link(2) apply (glibc's shm_open is open(2) on this path too).
constexpr std::string_view kShmDir = "/dev/shm";

/// Temporary names of segments being built are "/ipckit-.new-<pid>-<start>-<random>": the
/// creator's pid and start time tell gc whether it still runs, before any header exists.
constexpr std::string_view kTempTag = ".new-";

std::string shm_path(const std::string& full) {
  std::string p(kShmDir);
  return p.append(full);
}

std::string octal(mode_t m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m & 07777));
  return buf;
}

std::string kind_tag(std::uint32_t kind) {
  std::string s(4, '?');
  for (int i = 0; i < 4; ++i) {
    char c = static_cast<char>((kind >> (8 * i)) & 0xff);
    s[static_cast<std::size_t>(i)] = (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  return s;
}

/// The type name of a header, printable characters only.
std::string header_type_name(const SegmentHeader& h) {
  std::string s;
  for (std::size_t i = 0; i < kTypeNameSize && h.type_name[i] != '\0'; ++i) {
    char c = h.type_name[i];
    s += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  return s;
}

/// A fresh temporary name for a segment that this process is about to build.
std::string temp_name(pid_t pid, std::uint64_t start) {
  std::uint64_t r = 0;
  if (::getrandom(&r, sizeof r, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof r))
    r = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  char buf[96];
  std::snprintf(buf, sizeof buf, "%.*s%.*s%d-%llu-%016llx", static_cast<int>(SharedMemory::kPrefix.size()),
                SharedMemory::kPrefix.data(), static_cast<int>(kTempTag.size()), kTempTag.data(), pid,
                static_cast<unsigned long long>(start), static_cast<unsigned long long>(r));
  return buf;
}

/// Parses the creator out of a temporary name ("/ipckit-.new-<pid>-<start>-<hex>"); false when
/// `full` is not one.
bool parse_temp_name(std::string_view full, pid_t& pid, std::uint64_t& start) {
  if (!full.starts_with(SharedMemory::kPrefix)) return false;
  full.remove_prefix(SharedMemory::kPrefix.size());
  if (!full.starts_with(kTempTag)) return false;
  full.remove_prefix(kTempTag.size());
  std::string s(full);
  int p = 0;
  unsigned long long st = 0;
  if (std::sscanf(s.c_str(), "%d-%llu-", &p, &st) != 2 || p <= 0) return false;
  pid = p;
  start = st;
  return true;
}

/// Refuses a segment file that is not a regular file, belongs to another owner than the one
/// expected, or grants its group or others more than `mode` allows. Checked on the opened fd,
/// so the file judged is the file used.
void check_file(const struct stat& st, const std::string& full, std::optional<uid_t> owner, mode_t mode) {
  if (!S_ISREG(st.st_mode)) throw ProtocolError("shared memory " + full + " is not a regular file");
  uid_t want = owner ? *owner : ::geteuid();
  mode_t extra = st.st_mode & 07077 & ~(mode & 077);
  if (st.st_uid != want || extra != 0)
    detail::throw_system_error(EACCES, "shared memory " + full + " is owned by uid " + std::to_string(st.st_uid) +
                                   " with mode " + octal(st.st_mode) + "; expected owner uid " +
                                   std::to_string(want) + " and at most mode " + octal(mode & 0777) +
                                   " (anyone may plant a name in " + std::string(kShmDir) + "): refused");
}

/// Checks a header found ready; throws ProtocolError / ValueError with the segment's name.
void check_header(const SegmentHeader& h, const std::string& name, std::size_t file_size, const ShmExpect& expect) {
  if (h.header_size != kHeaderSize || h.user_size > file_size - kHeaderSize)
    throw ProtocolError("shared memory " + name + " has a corrupt header (sizes do not fit the file)");
  if (expect.kind != 0 && h.kind != expect.kind)
    throw ValueError("shared memory " + name + " holds a '" + kind_tag(h.kind) + "' (" + shm_kind_name(h.kind) +
                     "), not a '" + kind_tag(expect.kind) + "' (" + shm_kind_name(expect.kind) + ")");
  if (expect.size != 0 && h.user_size != expect.size)
    throw ValueError("shared memory " + name + " has size " + std::to_string(h.user_size) + ", expected " +
                     std::to_string(expect.size));
  if (expect.type_tag != 0 && h.type_tag != expect.type_tag) {
    auto stored = header_type_name(h);
    throw ValueError("shared memory " + name + " holds another element type than the one asked for" +
                     (stored.empty() ? std::string() : " (it holds " + stored + ")"));
  }
}

void* map_fd(int fd, std::size_t size, int prot, const std::string& name) {
  void* p = ::mmap(nullptr, size, prot, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) detail::throw_errno("mmap(" + name + ")");
  return p;
}

// Removing a stale name races with processes opening it and with other removers. The rules:
// a remover holds an exclusive flock on the file while it checks that the name still names that
// file (and, in gc, that nobody uses it) and unlinks it; an opener holds a shared flock until
// its mapping exists and then checks that the name still names the file it opened. So a name
// replaced by a new segment is never removed, and gc never removes a segment under an opener.

/// Polls `flock(fd, op | LOCK_NB)` until it succeeds or `deadline` passes: 0, EWOULDBLOCK, or
/// the errno. Locks are held briefly, but any process that can open the file can flock it.
int flock_until(int fd, int op, const Deadline& deadline) noexcept {
  for (;;) {
    if (::flock(fd, op | LOCK_NB) == 0) return 0;
    if (errno != EWOULDBLOCK && errno != EINTR) return errno;
    if (deadline.expired()) return EWOULDBLOCK;
    ::usleep(1000);
  }
}

/// True when the name `full` still names the file (dev, ino).
bool names_file(const std::string& full, dev_t dev, ino_t ino) noexcept {
  struct stat now {};
  return ::lstat(shm_path(full).c_str(), &now) == 0 && now.st_dev == dev && now.st_ino == ino;
}

/// Opens `full` and takes an exclusive flock on it, if it still is the file (dev, ino). Returns
/// 0 with the fd in `out`, ESTALE when the name is gone or names another file, EWOULDBLOCK when
/// another process held a lock for two seconds, else the errno.
int lock_if_same(const std::string& full, dev_t dev, ino_t ino, UniqueFd& out) noexcept {
  UniqueFd fd(::open(shm_path(full).c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd) return errno == ENOENT ? ESTALE : errno;
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return errno;
  if (st.st_dev != dev || st.st_ino != ino) return ESTALE;
  if (int err = flock_until(fd.get(), LOCK_EX, Deadline(std::chrono::seconds(2)))) return err;
  out = std::move(fd);
  return 0;
}

/// Unlinks `full` if it still names (dev, ino); the caller holds the exclusive flock. 0, ESTALE
/// or the errno.
int unlink_locked(const std::string& full, dev_t dev, ino_t ino) noexcept {
  if (!names_file(full, dev, ino)) return ESTALE;
  if (::unlink(shm_path(full).c_str()) != 0) return errno == ENOENT ? ESTALE : errno;
  return 0;
}

/// Unlinks `full` only if it still names the file (dev, ino), under the exclusive flock.
int unlink_if_same(const std::string& full, dev_t dev, ino_t ino) noexcept {
  UniqueFd fd;
  if (int err = lock_if_same(full, dev, ino, fd)) return err;
  return unlink_locked(full, dev, ino);
}

/// Removes a temporary name when the create that made it ends, however it ends.
struct TempName {
  std::string full;
  ~TempName() {
    if (!full.empty()) ::unlink(shm_path(full).c_str());
  }
};

}  // namespace

std::string shm_kind_name(std::uint32_t kind) {
  static constexpr std::pair<std::uint32_t, std::string_view> kNames[] = {
      {shm_kind("data"), "SharedMemory"}, {shm_kind("lock"), "Lock"},          {shm_kind("rlck"), "RLock"},
      {shm_kind("sema"), "Semaphore"},    {shm_kind("evnt"), "Event"},         {shm_kind("cond"), "Condition"},
      {shm_kind("barr"), "Barrier"},      {shm_kind("valu"), "Value"},         {shm_kind("arry"), "Array"},
      {shm_kind("queu"), "Queue"},        {shm_kind("sque"), "SimpleQueue"},   {shm_kind("jque"), "JoinableQueue"},
  };
  for (auto& [k, n] : kNames)
    if (k == kind) return std::string(n);
  return kind_tag(kind);
}

/// A segment found whose creator died before finishing it (create_or_open replaces it).
struct SharedMemory::Orphan {
  bool found = false;
  dev_t dev = 0;
  ino_t ino = 0;
};

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
    close();
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

SharedMemory::~SharedMemory() { close(); }

void SharedMemory::close() noexcept {
  // Only the creating process unlinks: a forked child holds a copy of this handle too.
  if (m_owner && !m_name.empty() && m_owner_pid == ::getpid()) ::unlink(shm_path(m_name).c_str());
  if (m_base) ::munmap(m_base, m_map_size);
  m_base = m_data = nullptr;
  m_map_size = m_size = 0;
  m_name.clear();
  m_owner = false;
  m_owner_pid = 0;
}

std::string SharedMemory::full_name(std::string_view name) {
  // A NUL would cut the name short in every syscall; control characters break listings.
  for (char c : name) {
    if (c == '\0') throw ValueError("shared memory name contains a NUL byte");
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      throw ValueError("shared memory name contains a control character (code " +
                       std::to_string(static_cast<unsigned char>(c)) + ")");
  }
  // A leading '/' marks a full name, which keeps its prefix; any other name is a user name and
  // always gets one, so "x" and "ipckit-x" are two segments.
  std::string_view bare = name;
  bool full_form = bare.starts_with('/');
  if (full_form) {
    bare.remove_prefix(1);
    if (bare.starts_with(kPrefix.substr(1))) bare.remove_prefix(kPrefix.size() - 1);
  }
  if (bare.empty()) throw ValueError("shared memory name '" + std::string(name) + "' is empty");
  if (bare.find('/') != std::string_view::npos)
    throw ValueError("shared memory name '" + std::string(name) + "' contains '/' after its first character");
  if (bare.starts_with('.'))
    throw ValueError("shared memory name '" + std::string(name) +
                     "' starts with '.', which is reserved for names being created");
  std::string full(kPrefix);
  full.append(bare);
  if (full.size() - 1 > NAME_MAX)
    throw ValueError("shared memory name '" + full.substr(0, 40) + "...' is too long (" +
                     std::to_string(full.size() - 1) + " > " + std::to_string(NAME_MAX) + " characters)");
  return full;
}

bool SharedMemory::unlink(std::string_view name) {
  auto full = full_name(name);
  if (::unlink(shm_path(full).c_str()) == 0) return true;
  if (errno == ENOENT) return false;
  detail::throw_errno("shm_unlink(" + full + ")");
}

void SharedMemory::unlink() {
  if (m_name.empty()) return;
  m_owner = false;
  if (::unlink(shm_path(m_name).c_str()) != 0 && errno != ENOENT) detail::throw_errno("shm_unlink(" + m_name + ")");
}

pid_t SharedMemory::creator_pid() const noexcept {
  if (!m_base) return 0;
  if (m_name.empty()) return m_owner_pid;
  return static_cast<const SegmentHeader*>(m_base)->creator_pid;
}

SharedMemory SharedMemory::anonymous(std::size_t size) {
  if (size == 0) throw ValueError("shared memory size must be positive");
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) detail::throw_errno("mmap(anonymous shared, " + std::to_string(size) + " bytes)");
  SharedMemory m;
  m.m_base = m.m_data = p;
  m.m_map_size = m.m_size = size;
  m.m_owner_pid = ::getpid();
  return m;
}

SharedMemory SharedMemory::create(std::string_view name, std::size_t size, const ShmOptions& options) {
  if (size == 0) throw ValueError("shared memory size must be positive");
  if (size > static_cast<std::size_t>(std::numeric_limits<off_t>::max()) - kHeaderSize)
    throw ValueError("shared memory size " + std::to_string(size) + " is too large");
  auto full = full_name(name);
  pid_t pid = ::getpid();
  std::uint64_t start = detail::process_start_time(pid);
  // Built under a temporary name (O_EXCL, so never a planted file) and linked into place with
  // its header complete: a name is never seen half-written. link(2) fails on an existing name,
  // whoever made it, as O_EXCL would.
  TempName temp;
  UniqueFd fd;
  for (int attempt = 0; !fd; ++attempt) {
    temp.full = temp_name(pid, start);
    fd.reset(::open(shm_path(temp.full).c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                    options.mode & 0777));
    if (!fd && (errno != EEXIST || attempt >= 16)) {
      int err = errno;
      temp.full.clear();  // not ours
      detail::throw_system_error(err, "shm_open(" + full + ")");
    }
  }
  if (::fchmod(fd.get(), options.mode & 0777) != 0) detail::throw_errno("fchmod(" + full + ")");
  std::size_t total = kHeaderSize + size;
  if (::ftruncate(fd.get(), static_cast<off_t>(total)) != 0) detail::throw_errno("ftruncate(" + full + ")");
  SharedMemory m;
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
  h->creator_pid = pid;
  h->creator_start = start;
  std::memcpy(h->type_name, options.type_name.data(), std::min(options.type_name.size(), kTypeNameSize - 1));
  if (::link(shm_path(temp.full).c_str(), shm_path(full).c_str()) != 0) detail::throw_errno("shm_open(" + full + ")");
  // From here the name is ours: m's destructor unlinks it if init throws.
  m.m_name = full;
  m.m_owner = true;
  m.m_owner_pid = pid;
  ::unlink(shm_path(temp.full).c_str());
  temp.full.clear();
  if (options.init) options.init(m.buf());
  h->state.store(kReady, std::memory_order_release);
  detail::futex_wake_all(h->state);
  return m;
}

SharedMemory SharedMemory::open(std::string_view name, const ShmExpect& expect) {
  return open_full(full_name(name), expect, nullptr);
}

SharedMemory SharedMemory::open_full(const std::string& full, const ShmExpect& expect, Orphan* orphan) {
  // O_NOFOLLOW: a planted symbolic link is refused; O_NONBLOCK: a planted FIFO cannot hang us.
  UniqueFd fd(::open(shm_path(full).c_str(), O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd) {
    if (errno == ELOOP) detail::throw_system_error(ELOOP, "shm_open(" + full + "): a symbolic link, not a segment");
    detail::throw_errno("shm_open(" + full + ")");
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) detail::throw_errno("fstat(" + full + ")");
  check_file(st, full, expect.owner, expect.mode);
  Deadline deadline(expect.init_timeout);
  // Shared flock until the mapping exists (closing the fd releases it), then the name must still
  // be this file: gc may have removed it while we waited (see lock_if_same).
  if (int err = flock_until(fd.get(), LOCK_SH, deadline))
    detail::throw_system_error(err, "flock(" + full + "), held by a process removing it");
  if (!names_file(full, st.st_dev, st.st_ino)) detail::throw_system_error(ENOENT, "shm_open(" + full + "): removed meanwhile");
  auto total = static_cast<std::size_t>(st.st_size);
  // ipckit links a name into place only with its header written: a shorter file is foreign.
  if (total < kHeaderSize)
    throw ProtocolError("shared memory " + full + " is too small for an ipckit header (" + std::to_string(total) +
                        " bytes)");
  SharedMemory m;
  m.m_base = map_fd(fd.get(), total, PROT_READ | PROT_WRITE, full);
  m.m_map_size = total;
  m.m_name = full;
  auto* h = static_cast<SegmentHeader*>(m.m_base);
  if (h->magic == 0 && h->state.load(std::memory_order_acquire) == 0)
    throw ProtocolError("shared memory " + full + " was never initialised (its creator died or is not ipckit)");
  if (h->magic != kMagic) throw ProtocolError("shared memory " + full + " is not an ipckit segment (bad magic)");
  if (h->version != kVersion)
    throw ProtocolError("shared memory " + full + " has header version " + std::to_string(h->version) +
                        ", this library reads version " + std::to_string(kVersion));
  // Wait for the creator's init; a creator that died meanwhile will never finish it.
  for (;;) {
    std::uint32_t s = h->state.load(std::memory_order_acquire);
    if (s == kReady) break;
    if (s != 0) throw ProtocolError("shared memory " + full + " is not an ipckit segment (bad state word)");
    if (!detail::process_running(h->creator_pid, h->creator_start)) {
      if (h->state.load(std::memory_order_acquire) == kReady) break;
      if (orphan) {
        *orphan = Orphan{true, st.st_dev, st.st_ino};
        return SharedMemory();
      }
      throw ProtocolError("shared memory " + full + " was never initialised: its creator, pid " +
                          std::to_string(h->creator_pid) +
                          ", died before finishing it (create_or_open replaces it, ipc-shm gc removes it)");
    }
    if (deadline.expired())
      throw ProtocolError("shared memory " + full + " was not initialised in time: its creator, pid " +
                          std::to_string(h->creator_pid) + ", still runs its init");
    // Slices: the creator's death wakes nobody, so look at it again every 20 ms.
    Deadline slice(Timeout(std::min<std::chrono::nanoseconds>(deadline.remaining(), std::chrono::milliseconds(20))));
    detail::futex_wait(h->state, 0, slice);
  }
  check_header(*h, full, total, expect);
  m.m_data = static_cast<std::byte*>(m.m_base) + kHeaderSize;
  m.m_size = static_cast<std::size_t>(h->user_size);
  return m;
}

SharedMemory SharedMemory::create_or_open(std::string_view name, std::size_t size, const ShmOptions& options) {
  auto full = full_name(name);
  ShmExpect expect;
  expect.size = size;
  expect.kind = options.kind;
  expect.type_tag = options.type_tag;
  expect.owner = options.owner;
  expect.mode = options.mode;
  // Bounded: each failed create means the name existed; each failed open means it vanished or
  // was an orphan we removed.
  for (int attempt = 0;; ++attempt) {
    try {
      return create(full, size, options);
    } catch (const std::system_error& e) {
      if (e.code().value() != EEXIST || attempt >= 8) throw;
    }
    Orphan orphan;
    try {
      auto m = open_full(full, expect, &orphan);
      if (!orphan.found) return m;
    } catch (const std::system_error& e) {
      if (e.code().value() != ENOENT || attempt >= 8) throw;
      continue;
    }
    // Its creator died in init: nobody can use it, replace it.
    int err = unlink_if_same(full, orphan.dev, orphan.ino);
    if (err != 0 && err != ESTALE) detail::throw_system_error(err, "shm_unlink(" + full + ") of a half-created segment");
  }
}

// ---- Listing and gc for ipc-shm ----

namespace {

using FileKey = std::pair<dev_t, ino_t>;

/// The processes that map or hold open each file of the device `shm_dev`, from
/// /proc/<pid>/maps and /proc/<pid>/fd of every process this one may inspect (all of them as
/// root, its own user's otherwise). The fds of `skip_fds_of` (gc's own locks) are not counted.
std::map<FileKey, std::vector<pid_t>> shm_users(dev_t shm_dev, pid_t skip_fds_of = 0) {
  std::map<FileKey, std::vector<pid_t>> users;
  auto add = [&](FileKey k, pid_t pid) {
    auto& v = users[k];
    if (v.empty() || v.back() != pid) v.push_back(pid);
  };
  DIR* proc = ::opendir("/proc");
  if (!proc) return users;
  while (auto* e = ::readdir(proc)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    std::string base = "/proc/" + std::string(e->d_name);
    std::ifstream maps(base + "/maps");
    std::string line;
    while (std::getline(maps, line)) {
      // "start-end perms offset major:minor inode path"
      unsigned maj = 0, min = 0;
      unsigned long long ino = 0;
      if (std::sscanf(line.c_str(), "%*s %*s %*s %x:%x %llu", &maj, &min, &ino) == 3 && ino != 0 &&
          makedev(maj, min) == shm_dev)
        add({shm_dev, static_cast<ino_t>(ino)}, static_cast<pid_t>(pid));
    }
    if (pid == skip_fds_of) continue;
    DIR* fds = ::opendir((base + "/fd").c_str());
    if (!fds) continue;
    while (auto* f = ::readdir(fds)) {
      if (f->d_name[0] == '.') continue;
      std::string link = base + "/fd/" + f->d_name;
      char target[PATH_MAX];
      ssize_t n = ::readlink(link.c_str(), target, sizeof target);
      if (n <= 0 || !std::string_view(target, static_cast<std::size_t>(n)).starts_with(kShmDir)) continue;
      struct stat st {};
      if (::stat(link.c_str(), &st) == 0 && st.st_dev == shm_dev) add({st.st_dev, st.st_ino}, static_cast<pid_t>(pid));
    }
    ::closedir(fds);
  }
  ::closedir(proc);
  return users;
}

/// Fills `info` from the segment's file: owner, mode, header (without opening it for writing).
void read_segment(SegmentInfo& info, const std::map<FileKey, std::vector<pid_t>>& users) {
  auto path = shm_path(info.name);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  struct stat st {};
  if (!fd) {
    info.problem = errno == EACCES ? "permission denied" : errno == ELOOP ? "a symbolic link" : std::strerror(errno);
    if (::lstat(path.c_str(), &st) == 0) {
      info.uid = st.st_uid;
      info.mode = st.st_mode & 07777;
      info.size = static_cast<std::size_t>(st.st_size);
    }
    return;
  }
  if (::fstat(fd.get(), &st) != 0) {
    info.problem = std::strerror(errno);
    return;
  }
  info.uid = st.st_uid;
  info.mode = st.st_mode & 07777;
  info.size = static_cast<std::size_t>(st.st_size);
  info.dev = st.st_dev;
  info.ino = st.st_ino;
  if (auto u = users.find({st.st_dev, st.st_ino}); u != users.end()) info.users = u->second;
  if (!S_ISREG(st.st_mode)) {
    info.problem = "not a regular file";
    return;
  }
  if (info.size < kHeaderSize) {
    info.problem = "too small for an ipckit header";
    return;
  }
  alignas(SegmentHeader) unsigned char raw[kHeaderSize];
  if (::pread(fd.get(), raw, sizeof raw, 0) != static_cast<ssize_t>(sizeof raw)) {
    info.problem = "header unreadable";
    return;
  }
  if (std::all_of(std::begin(raw), std::end(raw), [](unsigned char c) { return c == 0; })) {
    info.problem = "never written";
    return;
  }
  SegmentHeader h;
  std::memcpy(static_cast<void*>(&h), raw, sizeof h);
  if (h.magic != kMagic) {
    info.problem = "bad magic";
    return;
  }
  if (h.version != kVersion) {
    info.problem = "header version " + std::to_string(h.version);
    return;
  }
  if (!info.creating) {
    info.creator_pid = h.creator_pid;
    info.creator_alive = detail::process_running(h.creator_pid, h.creator_start);
  }
  info.kind = shm_kind_name(h.kind);
  info.kind_tag = kind_tag(h.kind);
  info.type_name = header_type_name(h);
  if (h.state.load(std::memory_order_relaxed) != kReady) {
    info.problem = info.creator_alive ? "being initialised" : "never initialised";
  } else if (h.header_size != kHeaderSize || h.user_size > info.size - kHeaderSize) {
    info.problem = "corrupt header";
  } else if (!info.creating) {
    info.valid = true;
    info.size = static_cast<std::size_t>(h.user_size);
  }
}

std::string pid_list(const std::vector<pid_t>& pids) {
  std::string s;
  for (std::size_t i = 0; i < pids.size() && i < 8; ++i) s += (i ? ", " : "") + std::to_string(pids[i]);
  if (pids.size() > 8) s += ", ... (" + std::to_string(pids.size()) + " processes)";
  return s;
}

/// gc's verdict on one segment (not yet acted on).
GcDecision judge(const SegmentInfo& s) {
  GcDecision d{s.name, false, {}};
  std::string creator = "creator pid " + std::to_string(s.creator_pid);
  std::string used = s.users.empty() ? std::string()
                                     : "pid " + pid_list(s.users) + (s.users.size() > 1 ? " map it or hold it open"
                                                                                         : " maps it or holds it open");
  if (s.creating) {
    d.remove = !s.creator_alive;
    d.reason = d.remove ? "temporary name of a create by pid " + std::to_string(s.creator_pid) + ", which is gone"
                        : "being created by pid " + std::to_string(s.creator_pid);
  } else if (s.creator_pid > 0 && s.creator_alive) {
    d.reason = creator + " still runs";
  } else if (s.creator_pid > 0) {
    d.remove = s.users.empty();
    if (!d.remove)
      d.reason = creator + " is gone but " + used;
    else if (s.valid)
      d.reason = creator + " is gone and no process maps it or holds it open";
    else
      d.reason = creator + " died before finishing it (" + s.problem + ") and no process uses it";
  } else if (s.ino != 0 && (s.problem == "too small for an ipckit header" || s.problem == "never written")) {
    d.remove = s.users.empty();
    d.reason = d.remove ? "never written by its creator (" + s.problem + ") and no process maps it or holds it open"
                        : s.problem + " but " + used;
  } else {
    d.reason = "not judged: " + (s.problem.empty() ? std::string("no creator recorded") : s.problem) +
               " (ipc-shm rm removes it if it is yours)";
  }
  return d;
}

}  // namespace

std::vector<SegmentInfo> list_segments() {
  std::vector<SegmentInfo> out;
  std::string dir_path(kShmDir);
  struct stat dir_st {};
  if (::stat(dir_path.c_str(), &dir_st) != 0) detail::throw_errno("stat(" + dir_path + ")");
  DIR* dir = ::opendir(dir_path.c_str());
  if (!dir) detail::throw_errno("opendir(" + dir_path + ")");
  std::vector<std::string> names;
  while (auto* e = ::readdir(dir)) {
    std::string_view n = e->d_name;
    if (n.starts_with(SharedMemory::kPrefix.substr(1))) names.emplace_back("/").append(n);
  }
  ::closedir(dir);
  std::sort(names.begin(), names.end());
  auto users = shm_users(dir_st.st_dev);
  for (auto& full : names) {
    SegmentInfo info;
    info.name = full;
    std::uint64_t start = 0;
    if (parse_temp_name(full, info.creator_pid, start)) {
      info.creating = true;
      info.creator_alive = detail::process_running(info.creator_pid, start);
    }
    read_segment(info, users);
    out.push_back(std::move(info));
  }
  return out;
}

std::vector<GcDecision> gc_segments(std::string_view prefix, bool dry_run) {
  std::string full_prefix = prefix.empty() ? std::string(SharedMemory::kPrefix) : SharedMemory::full_name(prefix);
  // A removal that could not be done keeps the name, with the reason.
  auto not_removed = [](GcDecision& d, int err, uid_t uid) {
    d.remove = false;
    if (err == ESTALE)
      d.reason = "replaced or removed by another process meanwhile";
    else if (err == EPERM || err == EACCES)
      d.reason += "; not removed: permission denied (owner uid " + std::to_string(uid) + ")";
    else if (err == EWOULDBLOCK)
      d.reason += "; not removed: another process holds a lock on it";
    else
      detail::throw_system_error(err, "shm_unlink(" + d.name + ")");
  };
  struct Held {
    std::size_t index;
    const SegmentInfo* info;
    UniqueFd fd;
  };
  auto segs = list_segments();
  std::vector<GcDecision> out;
  std::vector<Held> held;
  for (auto& s : segs) {
    auto d = judge(s);
    // Temporary names belong to no user name: a dead creator's are garbage whatever the prefix.
    if (!s.name.starts_with(full_prefix) && !(s.creating && d.remove)) continue;
    if (d.remove && !dry_run) {
      if (s.creating) {
        if (::unlink(shm_path(s.name).c_str()) != 0 && errno != ENOENT) not_removed(d, errno, s.uid);
      } else {
        UniqueFd fd;
        if (int err = lock_if_same(s.name, s.dev, s.ino, fd))
          not_removed(d, err, s.uid);
        else
          held.push_back(Held{out.size(), &s, std::move(fd)});
      }
    }
    out.push_back(std::move(d));
  }
  if (!held.empty()) {
    // With the candidates locked, no opener can get past its shared lock: one more look at /proc
    // sees everyone who opened one since the listing.
    auto users = shm_users(held.front().info->dev, ::getpid());
    for (auto& h : held) {
      auto& d = out[h.index];
      if (auto u = users.find({h.info->dev, h.info->ino}); u != users.end() && !u->second.empty()) {
        d.remove = false;
        d.reason = "pid " + pid_list(u->second) + " opened it meanwhile";
      } else if (int err = unlink_locked(d.name, h.info->dev, h.info->ino)) {
        not_removed(d, err, h.info->uid);
      }
    }
  }
  return out;
}

std::vector<std::string> collect_stale_segments(std::string_view prefix) {
  std::vector<std::string> removed;
  for (auto& d : gc_segments(prefix, false))
    if (d.remove) removed.push_back(d.name);
  return removed;
}

}  // namespace ipc
