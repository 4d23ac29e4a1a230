// ipc-managerd on a full or failing disk: a write the append-only log (or a snapshot) could not
// take is never acknowledged; writes are refused with -MISCONF until the disk takes them again,
// reads go on, and after kill -9 every acknowledged write is there. The disks are real: a 2 MB
// tmpfs, and a loop device shrunk under its file system for EIO.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include "managerd_support.hpp"

using namespace ipc::test;
using namespace std::chrono_literals;

namespace {

// A tmpfs of `size` mounted on `dir` while the object lives (needs CAP_SYS_ADMIN).
class Tmpfs {
 public:
  Tmpfs(const std::filesystem::path& dir, const std::string& size) : m_dir(dir) {
    std::filesystem::create_directories(dir);
    std::string opts = "size=" + size + ",mode=0700";
    if (::mount("ipckit-test", dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, opts.c_str()) == 0)
      m_mounted = true;
    else
      m_error = std::strerror(errno);
  }
  ~Tmpfs() {
    if (m_mounted) ::umount2(m_dir.c_str(), MNT_DETACH);
  }
  Tmpfs(const Tmpfs&) = delete;
  Tmpfs& operator=(const Tmpfs&) = delete;
  bool mounted() const noexcept { return m_mounted; }
  const std::string& error() const noexcept { return m_error; }

 private:
  std::filesystem::path m_dir;
  bool m_mounted = false;
  std::string m_error;
};

// An ext2 file system on a loop device over a 16 MiB image file, mounted on `dir` while the
// object lives. fail() shrinks the device under it so that writeback gets EIO; heal() grows it
// back. Needs root, losetup and mkfs.ext2 (e2fsprogs).
class FailingDisk {
 public:
  FailingDisk(const std::filesystem::path& image, const std::filesystem::path& dir) : m_image(image), m_dir(dir) {
    std::filesystem::create_directories(dir);
    if (::truncate(image.c_str(), kSize) != 0 && !(std::ofstream(image) && ::truncate(image.c_str(), kSize) == 0)) {
      m_error = "cannot create " + image.string();
      return;
    }
    auto mkfs = run_program({"/usr/sbin/mkfs.ext2", "-q", "-F", image.string()});
    if (mkfs.code != 0) {
      m_error = "mkfs.ext2: " + mkfs.err;
      return;
    }
    auto lo = run_program({"/usr/sbin/losetup", "-f", "--show", image.string()});
    if (lo.code != 0) {
      m_error = "losetup: " + lo.err;
      return;
    }
    m_loop = lo.out.substr(0, lo.out.find('\n'));
    if (::mount(m_loop.c_str(), dir.c_str(), "ext2", MS_NOSUID | MS_NODEV, nullptr) != 0 &&
        ::mount(m_loop.c_str(), dir.c_str(), "ext4", MS_NOSUID | MS_NODEV, nullptr) != 0) {  // ext4 mounts ext2
      m_error = "mount " + m_loop + ": " + std::strerror(errno);
      return;
    }
    m_mounted = true;
  }
  ~FailingDisk() {
    if (m_mounted) {
      heal();
      ::umount2(m_dir.c_str(), MNT_DETACH);
    }
    if (!m_loop.empty()) run_program({"/usr/sbin/losetup", "-d", m_loop});
  }
  FailingDisk(const FailingDisk&) = delete;
  FailingDisk& operator=(const FailingDisk&) = delete;
  bool mounted() const noexcept { return m_mounted; }
  const std::string& error() const noexcept { return m_error; }
  /// Blocks past the first 64 KiB now fail with EIO.
  void fail() { resize(64 * 1024); }
  /// Every block works again.
  void heal() { resize(kSize); }

 private:
  static constexpr off_t kSize = 16 * 1024 * 1024;
  void resize(off_t size) {
    REQUIRE(::truncate(m_image.c_str(), size) == 0);
    int fd = ::open(m_loop.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    int rc = ::ioctl(fd, LOOP_SET_CAPACITY, 0);
    ::close(fd);
    REQUIRE(rc == 0);
  }
  std::filesystem::path m_image, m_dir;
  std::string m_loop;
  bool m_mounted = false;
  std::string m_error;
};

// False, after saying why, when the tmpfs could not be mounted: the test is skipped then.
bool mounted_or_skip(const Tmpfs& disk) {
  if (!disk.mounted())
    MESSAGE("skipped: cannot mount a tmpfs (" << disk.error() << "); this test needs root or CAP_SYS_ADMIN");
  return disk.mounted();
}

// Writes `bytes` of filler to `path`, to be removed later to free space.
void write_filler(const std::filesystem::path& path, std::size_t bytes) {
  std::ofstream f(path, std::ios::binary);
  f << std::string(bytes, 'f');
  f.flush();
  REQUIRE(f.good());
}

// Fills what is left of the file system holding `path` with a file there.
void fill_up(const std::filesystem::path& path) {
  std::ofstream f(path, std::ios::binary);
  std::string chunk(4096, 'f');
  while (f.write(chunk.data(), static_cast<std::streamsize>(chunk.size()))) {
  }
}

std::string key_of(int i) { return "k:" + std::to_string(i); }
std::string value_of(int i) {
  std::string v = "v" + std::to_string(i) + ":";
  return v + std::string(1024 - v.size(), static_cast<char>('a' + i % 26));
}

// Polls INFO until `name` reads `want` (up to `limit`, or until `give_up` turns true).
bool wait_info(RespClient& c, const std::string& section, const std::string& name, const std::string& want,
               const std::atomic<bool>* give_up = nullptr, std::chrono::seconds limit = 30s) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (info_field(c, section, name) == want) return true;
    if (give_up && *give_up) return info_field(c, section, name) == want;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

bool is_ok(const Reply& r) { return r.type == Reply::Type::simple && r.str == "OK"; }

// How a test breaks the log's disk and mends it.
struct DiskFault {
  std::string policy;                   // --appendfsync
  std::function<void(const std::atomic<int>& replies, const std::atomic<bool>& done)> fail;  // none: it fills up
  std::function<void()> heal;
  std::string misconf;                  // the -MISCONF reply expected meanwhile
  std::string logged;                   // what the log must say
  std::size_t min_acked;
};

// One writer sends 1 KB SETs one at a time while the log's disk fails. The write that does not
// get into the log must not be acknowledged: its reply waits while writes from anyone get
// -MISCONF and reads are served; once the disk is mended it is logged and acknowledged. After
// kill -9 every acknowledged key is back.
void failing_disk_keeps_every_acknowledged_write(const TempDir& dir, const std::string& aof, const DiskFault& f) {
  std::vector<std::string> opts{"--appendonly", aof, "--appendfsync", f.policy, "--auto-aof-rewrite-percentage", "0"};
  std::vector<int> acked;
  std::vector<std::string> odd_replies;
  {
    auto srv = ServerProcess::managerd(dir, opts);
    RespClient w(srv.socket());
    RespClient r(srv.socket());
    REQUIRE(is_ok(r.cmd({"SET", "before", "1"})));
    std::atomic<bool> stop{false}, done{false};
    std::atomic<int> replies{0};
    std::thread writer([&] {
      try {
        for (int i = 0; i < 20000 && !stop; ++i) {
          auto rep = w.cmd({"SET", key_of(i), value_of(i)}, 60s);
          if (is_ok(rep))
            acked.push_back(i);
          else
            odd_replies.push_back(text(rep));
          ++replies;
        }
      } catch (const std::exception& e) {
        odd_replies.push_back(e.what());
      }
      done = true;
    });
    if (f.fail) f.fail(replies, done);
    bool failing = wait_info(r, "persistence", "aof_last_write_status", "err", &done);
    CHECK(failing);
    if (failing) {
      auto rep = r.cmd({"SET", "refused", "x"});
      CHECK(rep.type == Reply::Type::error);
      CHECK(rep.str == f.misconf);
      r.cmd({"MULTI"});
      r.cmd({"INCR", "refused"});
      CHECK(r.cmd({"EXEC"}).str.starts_with("EXECABORT"));
      CHECK(text(r.cmd({"GET", "before"})) == "1");
      CHECK(text(r.cmd({"GET", key_of(0)})) == value_of(0));
      CHECK(text(r.cmd({"GET", "refused"})) == "(nil)");
      CHECK(srv.log().find(f.logged) != std::string::npos);
    }
    stop = true;
    f.heal();  // the held write can go in now
    writer.join();
    CHECK(odd_replies.empty());
    CHECK(wait_info(r, "persistence", "aof_last_write_status", "ok"));
    CHECK(info_field(r, "persistence", "aof_buffer_length") == "0");
    CHECK(is_ok(r.cmd({"SET", "after", "2"})));
    srv.kill9();
  }
  auto srv = ServerProcess::managerd(dir, opts);
  RespClient c(srv.socket());
  CHECK(text(c.cmd({"GET", "before"})) == "1");
  CHECK(text(c.cmd({"GET", "after"})) == "2");
  CHECK(text(c.cmd({"GET", "refused"})) == "(nil)");
  std::size_t missing = 0;
  for (int i : acked)
    if (c.cmd({"GET", key_of(i)}).str != value_of(i)) ++missing;
  INFO(acked.size() << " writes acknowledged, " << missing << " of them lost");
  CHECK(acked.size() > f.min_acked);
  CHECK(missing == 0);
}

// The log on a 2 MB tmpfs that the writes fill (a 256 KiB filler file is removed to mend it).
void full_tmpfs(const std::string& policy) {
  TempDir dir;
  Tmpfs disk(dir / "disk", "2m");
  if (!mounted_or_skip(disk)) return;
  auto filler = dir / "disk" / "filler";
  write_filler(filler, 256 * 1024);
  failing_disk_keeps_every_acknowledged_write(
      dir, (dir / "disk" / "log.aof").string(),
      {policy, nullptr, [&] { std::filesystem::remove(filler); },
       "MISCONF Errors writing to the AOF file: No space left on device", "No space left on device", 500});
}

}  // namespace

TEST_SUITE("managerd disk") {

TEST_CASE("a full log disk under appendfsync always refuses writes and loses no acknowledged one" * doctest::timeout(180)) {
  full_tmpfs("always");
}

TEST_CASE("a full log disk under appendfsync everysec refuses writes and loses no acknowledged one" * doctest::timeout(180)) {
  full_tmpfs("everysec");
}

TEST_CASE("pipelined writes on a full log disk get OK only once logged and MISCONF otherwise" * doctest::timeout(180)) {
  TempDir dir;
  Tmpfs disk(dir / "disk", "2m");
  if (!mounted_or_skip(disk)) return;
  auto aof = (dir / "disk" / "log.aof").string();
  auto filler = dir / "disk" / "filler";
  write_filler(filler, 256 * 1024);
  std::vector<std::string> opts{"--appendonly", aof, "--appendfsync", "always", "--auto-aof-rewrite-percentage", "0"};
  constexpr int kWrites = 3000;
  std::vector<int> acked, refused;
  {
    auto srv = ServerProcess::managerd(dir, opts);
    RespClient w(srv.socket());
    RespClient r(srv.socket());
    std::string batch;
    for (int i = 0; i < kWrites; ++i) {
      std::string k = key_of(i), v = value_of(i);
      batch += "*3\r\n$3\r\nSET\r\n$" + std::to_string(k.size()) + "\r\n" + k + "\r\n$" +
               std::to_string(v.size()) + "\r\n" + v + "\r\n";
    }
    std::thread sender([&] { w.send(batch); });
    CHECK(wait_info(r, "persistence", "aof_last_write_status", "err"));
    sender.join();
    std::filesystem::remove(filler);
    for (int i = 0; i < kWrites; ++i) {
      auto rep = w.read(60s);
      if (is_ok(rep))
        acked.push_back(i);
      else if (rep.type == Reply::Type::error && rep.str.starts_with("MISCONF Errors writing to the AOF file"))
        refused.push_back(i);
      else
        FAIL("unexpected reply " << text(rep));
    }
    srv.kill9();
  }
  INFO(acked.size() << " acknowledged, " << refused.size() << " refused");
  CHECK(acked.size() > 500);
  CHECK(refused.size() > 0);
  auto srv = ServerProcess::managerd(dir, opts);
  RespClient c(srv.socket());
  std::size_t lost = 0, ghosts = 0;
  for (int i : acked)
    if (c.cmd({"GET", key_of(i)}).str != value_of(i)) ++lost;
  for (int i : refused)
    if (c.cmd({"GET", key_of(i)}).type != Reply::Type::nil) ++ghosts;
  CHECK(lost == 0);
  CHECK(ghosts == 0);
}

TEST_CASE("an fdatasync that fails with EIO under appendfsync always is never acknowledged" * doctest::timeout(180)) {
  TempDir dir;
  FailingDisk disk(dir / "disk.img", dir / "disk");
  if (!disk.mounted()) {
    MESSAGE("skipped: cannot set up a loop device (" << disk.error() << "); this test needs root, losetup and mkfs.ext2");
    return;
  }
  auto fail = [&](const std::atomic<int>& replies, const std::atomic<bool>& done) {
    for (int i = 0; i < 3000 && replies < 100 && !done; ++i) std::this_thread::sleep_for(10ms);
    disk.fail();  // from here on, what the log writes does not reach the device
  };
  failing_disk_keeps_every_acknowledged_write(
      dir, (dir / "disk" / "log.aof").string(),
      {"always", fail, [&] { disk.heal(); }, "MISCONF Errors writing to the AOF file: Input/output error",
       "append-only log fdatasync failed: Input/output error", 100});
}

TEST_CASE("a snapshot that cannot be written refuses writes with MISCONF until a save succeeds" * doctest::timeout(120)) {
  TempDir dir;
  Tmpfs disk(dir / "disk", "2m");
  if (!mounted_or_skip(disk)) return;
  auto snap = (dir / "disk" / "dump.snap").string();
  auto srv = ServerProcess::managerd(dir, {"--snapshot", snap, "--save", "3600 1"});
  RespClient c(srv.socket());
  for (int i = 0; i < 200; ++i) REQUIRE(is_ok(c.cmd({"SET", key_of(i), value_of(i)})));
  auto filler = dir / "disk" / "filler";
  fill_up(filler);

  SUBCASE("BGSAVE") {
    CHECK(text(c.cmd({"BGSAVE"})) == "Background saving started");
    CHECK(wait_info(c, "persistence", "rdb_bgsave_in_progress", "0"));
  }
  SUBCASE("SAVE") { CHECK(c.cmd({"SAVE"}).type == Reply::Type::error); }

  CHECK(info_field(c, "persistence", "rdb_last_bgsave_status") == "err");
  auto rep = c.cmd({"SET", "x", "1"});
  CHECK(rep.type == Reply::Type::error);
  CHECK(rep.str.starts_with("MISCONF ipc-managerd is configured to save snapshots, but it's currently unable to "
                            "persist to disk."));
  CHECK(text(c.cmd({"GET", key_of(7)})) == value_of(7));
  CHECK(c.cmd({"PING"}).str.starts_with("MISCONF"));  // as Redis: monitoring sees the failure
  CHECK(!std::filesystem::exists(snap));

  std::filesystem::remove(filler);
  CHECK(text(c.cmd({"BGSAVE"})) == "Background saving started");
  CHECK(wait_info(c, "persistence", "rdb_bgsave_in_progress", "0"));
  CHECK(info_field(c, "persistence", "rdb_last_bgsave_status") == "ok");
  CHECK(is_ok(c.cmd({"SET", "x", "1"})));
  CHECK(std::filesystem::exists(snap));
}

}  // TEST_SUITE
