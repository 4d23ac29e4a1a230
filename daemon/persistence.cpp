// Persistence: snapshots (temp file + fsync + rename, CRC-64) and the append-only log; SAVE BGSAVE LASTSAVE.
#include "server.hpp"

#include <ipc/errors.hpp>

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <csignal>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>

namespace ipc::managerd {

// ---- CRC-64 (Jones polynomial, reflected, as Redis uses for RDB files) ----

namespace {

constexpr std::array<std::uint64_t, 256> make_crc_table() {
  std::array<std::uint64_t, 256> t{};
  for (std::uint64_t i = 0; i < 256; ++i) {
    std::uint64_t crc = i;
    for (int k = 0; k < 8; ++k) crc = (crc & 1) ? (crc >> 1) ^ 0x95ac9329ac4bc9b5ULL : crc >> 1;
    t[i] = crc;
  }
  return t;
}
constexpr auto kCrcTable = make_crc_table();

std::uint64_t crc64(std::string_view data) {
  std::uint64_t crc = 0;
  for (unsigned char ch : data) crc = kCrcTable[(crc ^ ch) & 0xff] ^ (crc >> 8);
  return crc;
}

constexpr char kMagic[8] = {'I', 'P', 'C', 'K', 'S', 'N', 'A', 'P'};
constexpr std::uint32_t kVersion = 2;         // 2: database markers; version 1 files load into database 0
constexpr unsigned char kSelectDb = 0xfe;     // followed by a varint: the entries after it are in that database
constexpr unsigned char kEnd = 0xff;

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

// Bounded reader over the snapshot bytes: every length is checked against what is left.
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

// Writes all of `data` to `fd`; false (errno set) on failure.
bool write_all(int fd, std::string_view data) {
  std::size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = EIO;
      return false;
    }
    off += static_cast<std::size_t>(n);
  }
  return true;
}

// Fsyncs the directory holding `path`, which makes a rename into it durable.
void fsync_dir_of(const std::string& path) {
  auto slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

// Writes `data` to `path` crash-safely: temp file, fsync, rename, fsync of the directory.
bool write_file_atomically(const std::string& path, std::string_view data, std::string& err) {
  std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    err = "open(" + tmp + "): " + std::strerror(errno);
    return false;
  }
  if (!write_all(fd, data)) {
    err = "write(" + tmp + "): " + std::strerror(errno);
    ::close(fd);
    ::unlink(tmp.c_str());
    return false;
  }
  if (::fsync(fd) != 0) {
    err = "fsync(" + tmp + "): " + std::strerror(errno);
    ::close(fd);
    ::unlink(tmp.c_str());
    return false;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    err = "rename(" + tmp + ", " + path + "): " + std::strerror(errno);
    ::unlink(tmp.c_str());
    return false;
  }
  fsync_dir_of(path);
  return true;
}

bool read_file(const std::string& path, std::string& out, std::string& err) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    err = std::strerror(errno);
    return false;
  }
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      err = std::strerror(errno);
      ::close(fd);
      return false;
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return true;
}

// ---- background children (BGSAVE, BGREWRITEAOF) ----

// Forks a child that works on a copy-on-write image of the keyspace (stdio flushed first, so
// that nothing buffered is written twice). -1 with `err` set when fork fails.
pid_t fork_child(std::string& err) {
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) err = std::string("fork: ") + std::strerror(errno);
  return pid;
}

// Reaps `child` without waiting: nullopt while it runs, else whether it exited with 0.
std::optional<bool> reap_child(pid_t child) {
  int status = 0;
  pid_t r = ::waitpid(child, &status, WNOHANG);
  if (r == 0) return std::nullopt;
  return r > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// Kills and reaps `child` (if one runs), removes its half-written file `tmp`, sets it to -1.
void kill_child(pid_t& child, const std::string& tmp) {
  if (child <= 0) return;
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  ::unlink(tmp.c_str());
  child = -1;
}

// The keyspace as the shortest command log that rebuilds it: one SET, HSET or RPUSH per key
// (and a PEXPIREAT for a key with a time to live).
std::string aof_dump(Db& db) {
  std::string out;
  auto command = [&out](std::initializer_list<std::string_view> head, auto&& add_rest, std::size_t rest) {
    detail::resp::add_array(out, head.size() + rest);
    for (auto a : head) detail::resp::add_bulk(out, a);
    add_rest();
  };
  int keep = db.selected();
  for (int i = 0; i < db.count(); ++i) {
  if (db.size_of(i) == 0) continue;
  db.select(i);
  std::string index = std::to_string(i);
  command({"SELECT", index}, [] {}, 0);
  for (auto& entry : db.dict()) {  // not a structured binding: lambdas below capture the value
    const std::string& key = entry.first;
    auto& v = entry.second;
    switch (v.type()) {
      case Type::string: command({"SET", key, v.str()}, [] {}, 0); break;
      case Type::hash:
        command({"HSET", key}, [&] {
          v.hash().for_each([&](std::string_view f, std::string_view val) {
            detail::resp::add_bulk(out, f);
            detail::resp::add_bulk(out, val);
          });
        }, 2 * v.hash().size());
        break;
      case Type::list:
        command({"RPUSH", key}, [&] {
          for (auto& e : v.list()) detail::resp::add_bulk(out, e);
        }, v.list().size());
        break;
      case Type::set:
        command({"SADD", key}, [&] {
          for (auto& m : v.set().table()) detail::resp::add_bulk(out, m);
        }, v.set().size());
        break;
    }
    long long when = db.expire_of(key);
    if (when >= 0) command({"PEXPIREAT", key, std::to_string(when)}, [] {}, 0);
  }
  }
  db.select(keep);
  return out;
}

}  // namespace

// ---- snapshot format ----

std::string snapshot_encode(Db& db) {
  std::string out(kMagic, sizeof kMagic);
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((kVersion >> (8 * i)) & 0xff));
  long long now = now_ms();
  int keep = db.selected();
  for (int i = 0; i < db.count(); ++i) {
  if (db.size_of(i) == 0) continue;
  db.select(i);
  out.push_back(static_cast<char>(kSelectDb));
  put_varint(out, static_cast<std::uint64_t>(i));
  for (auto& [key, v] : db.dict()) {
    long long when = db.expire_of(key);
    if (when >= 0 && when <= now) continue;
    out.push_back(static_cast<char>(v.type()));
    out.push_back(when >= 0 ? 1 : 0);
    if (when >= 0) put_u64(out, static_cast<std::uint64_t>(when));
    put_bytes(out, key);
    switch (v.type()) {
      case Type::string: put_bytes(out, v.str()); break;
      case Type::hash:
        put_varint(out, v.hash().size());
        v.hash().for_each([&](std::string_view f, std::string_view val) {
          put_bytes(out, f);
          put_bytes(out, val);
        });
        break;
      case Type::list:
        put_varint(out, v.list().size());
        for (auto& e : v.list()) put_bytes(out, e);
        break;
      case Type::set:
        put_varint(out, v.set().size());
        for (auto& m : v.set().table()) put_bytes(out, m);
        break;
    }
  }
  }
  db.select(keep);
  out.push_back(static_cast<char>(kEnd));
  put_u64(out, crc64(out));
  return out;
}

std::string snapshot_seal(std::string_view body) {
  std::string out(body);
  put_u64(out, crc64(body));
  return out;
}

void snapshot_decode(std::string_view bytes, Db& db) {
  if (bytes.size() < sizeof kMagic + 4 + 1 + 8 || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0)
    throw ProtocolError("not an ipc-managerd snapshot (bad magic or too short)");
  std::string_view body = bytes.substr(0, bytes.size() - 8);
  Reader tail{bytes, bytes.size() - 8};
  if (tail.u64() != crc64(body)) throw ProtocolError("snapshot checksum mismatch: the file is corrupt");
  Reader r{body, sizeof kMagic};
  std::uint32_t ver = 0;
  for (int i = 0; i < 4; ++i) ver |= static_cast<std::uint32_t>(r.byte()) << (8 * i);
  if (ver != 1 && ver != kVersion) throw ProtocolError("unsupported snapshot version " + std::to_string(ver));
  Db fresh(db.count());
  for (;;) {
    unsigned char t = r.byte();
    if (t == kEnd) break;
    if (t == kSelectDb && ver >= 2) {
      std::uint64_t i = r.varint();
      if (i >= static_cast<std::uint64_t>(fresh.count()))
        r.fail("database " + std::to_string(i) + " out of range (start with --databases " + std::to_string(i + 1) +
               " or more)");
      fresh.select(static_cast<int>(i));
      continue;
    }
    if (t > 3) r.fail("unknown value type " + std::to_string(t));
    unsigned char has_expire = r.byte();
    if (has_expire > 1) r.fail("bad expiry flag");
    long long when = has_expire ? static_cast<long long>(r.u64()) : -1;
    std::string_view key = r.bytes();
    if (fresh.dict().count(key)) r.fail("duplicate key");
    Value& v = fresh.add(key, static_cast<Type>(t));
    switch (static_cast<Type>(t)) {
      case Type::string: v.str().assign(r.bytes()); break;
      case Type::hash: {
        std::uint64_t n = r.count();
        for (std::uint64_t i = 0; i < n; ++i) {
          std::string_view f = r.bytes();
          std::string_view val = r.bytes();
          if (!v.hash().set(f, val)) r.fail("duplicate hash field");
        }
        if (n == 0) r.fail("empty hash");
        break;
      }
      case Type::list: {
        std::uint64_t n = r.count();
        for (std::uint64_t i = 0; i < n; ++i) v.list().emplace_back(r.bytes());
        if (n == 0) r.fail("empty list");
        break;
      }
      case Type::set: {
        std::uint64_t n = r.count();
        for (std::uint64_t i = 0; i < n; ++i)
          if (!v.set().add(r.bytes())) r.fail("duplicate set member");
        if (n == 0) r.fail("empty set");
        break;
      }
    }
    if (when >= 0) fresh.set_expire(key, when);
  }
  if (r.pos != body.size()) r.fail("trailing bytes after the end marker");
  fresh.select(0);
  db.swap(fresh);
}

// ---- snapshots in the server ----

bool Server::save_snapshot() {
  if (m_opts.snapshot.empty()) return false;
  std::string err;
  std::string data = snapshot_encode(db);
  if (!write_file_atomically(m_opts.snapshot, data, err)) {
    log(LogLevel::error, "snapshot not saved: " + err);
    return false;
  }
  changes_since_save = 0;
  last_save_ms = now_ms();
  log(LogLevel::info, "snapshot saved to " + m_opts.snapshot + " (" + std::to_string(db.total_size()) + " keys)");
  return true;
}

bool Server::bgsave(std::string& err) {
  if (m_opts.snapshot.empty()) {
    err = "no snapshot file configured (start ipc-managerd with --snapshot FILE)";
    return false;
  }
  if (bgsave_child > 0) {
    err = "Background save already in progress";
    return false;
  }
  pid_t pid = fork_child(err);
  if (pid < 0) return false;
  if (pid == 0) {
    // The child owns a copy-on-write image of the keyspace: write it and leave without running
    // any of the parent's exit handlers.
    std::string e;
    std::string data = snapshot_encode(db);
    bool ok = write_file_atomically(m_opts.snapshot, data, e);
    if (!ok) log(LogLevel::error, "background snapshot failed: " + e);
    ::_exit(ok ? 0 : 1);
  }
  bgsave_child = pid;
  m_changes_at_bgsave = changes_since_save;
  m_bgsave_started_ms = now_ms();
  m_last_bgsave_try = m_bgsave_started_ms;
  log(LogLevel::info, "background snapshot started by pid " + std::to_string(pid));
  return true;
}

void Server::reap_bgsave() {
  if (bgsave_child <= 0) return;
  auto exited_ok = reap_child(bgsave_child);
  if (!exited_ok) return;
  bgsave_child = -1;
  last_bgsave_ok = *exited_ok;
  if (last_bgsave_ok) {
    changes_since_save -= m_changes_at_bgsave;
    last_save_ms = m_bgsave_started_ms;
    log(LogLevel::info, "background snapshot saved to " + m_opts.snapshot);
  } else {
    log(LogLevel::error, "background snapshot failed");
  }
}

void Server::autosave() {
  // The append-only log: rewrite it once it grew by the percentage since the last rewrite.
  if (m_aof_fd >= 0 && aof_rewrite_child <= 0 && m_opts.auto_aof_rewrite_percentage > 0 &&
      m_aof_size >= m_opts.auto_aof_rewrite_min_size &&
      m_aof_size >= m_aof_base_size + m_aof_base_size / 100 * static_cast<std::size_t>(m_opts.auto_aof_rewrite_percentage) &&
      (last_aof_rewrite_ok || now_ms() - m_aof_rewrite_try >= 5000)) {  // retry a failed one after 5 s
    log(LogLevel::info, "append-only log grew to " + std::to_string(m_aof_size) + " bytes: rewriting it");
    std::string err;
    if (!bgrewriteaof(err)) log(LogLevel::error, err);
  }
  if (m_opts.snapshot.empty() || bgsave_child > 0 || changes_since_save == 0) return;
  long long now = now_ms();
  if (!last_bgsave_ok && now - m_last_bgsave_try < 5000) return;  // retry a failed save after 5 s
  for (auto& [secs, changes] : m_opts.save_points) {
    if (changes_since_save >= changes && now - last_save_ms >= secs * 1000) {
      log(LogLevel::info, std::to_string(changes) + " changes in " + std::to_string(secs) + " seconds: saving");
      std::string err;
      if (!bgsave(err)) log(LogLevel::error, err);
      return;
    }
  }
}

bool Server::request_shutdown(Client* c, int save) {
  kill_aof_rewrite();
  kill_child(bgsave_child, m_opts.snapshot + ".tmp-" + std::to_string(bgsave_child));
  bool want = save == 1 || (save == -1 && !m_opts.snapshot.empty());
  if (want) {
    if (m_opts.snapshot.empty()) {
      if (c) reply_err(*c, "no snapshot file configured (start ipc-managerd with --snapshot FILE)");
      return false;
    }
    if (!save_snapshot()) {
      if (c) reply_err(*c, "Errors trying to SHUTDOWN. Check logs.");
      return false;
    }
  }
  aof_flush();
  if (m_aof_fd >= 0) ::fsync(m_aof_fd);
  m_shutdown = true;
  log(LogLevel::info, "shutting down");
  return true;
}

/* SAVE */
void cmd_save(Server& srv, Client& c, Args) {
  if (srv.bgsave_child > 0) return reply_err(c, "Background save already in progress");
  if (srv.options().snapshot.empty())
    return reply_err(c, "no snapshot file configured (start ipc-managerd with --snapshot FILE)");
  if (!srv.save_snapshot()) return reply_err(c, "snapshot save failed: see the server log");
  reply_ok(c);
}

/* BGSAVE [SCHEDULE] */
void cmd_bgsave(Server& srv, Client& c, Args argv) {
  if (argv.size() > 2) return reply_syntax_error(c);
  std::string err;
  if (!srv.bgsave(err)) return reply_err(c, err);
  reply_simple(c, "Background saving started");
}

/* LASTSAVE */
void cmd_lastsave(Server& srv, Client& c, Args) { reply_int(c, srv.last_save_ms / 1000); }

// ---- append-only log ----

AofSyncer::AofSyncer(int f) : fd(f), th([this] { loop(); }) {}

AofSyncer::~AofSyncer() {
  {
    std::lock_guard lk(mu);
    stop = true;
  }
  cv.notify_one();
  th.join();
}

void AofSyncer::loop() {
  std::unique_lock lk(mu);
  while (!stop) {
    cv.wait_for(lk, std::chrono::seconds(1));
    if (dirty.exchange(false)) ::fdatasync(fd);
  }
}

void Server::aof_append(Args argv) {
  if (m_aof_fd < 0 || m_loading) return;
  detail::resp::add_command(m_aof_buf, argv);
}

void Server::aof_append_strings(const std::vector<std::string>& argv) {
  if (m_aof_fd < 0 || m_loading) return;
  detail::resp::add_array(m_aof_buf, argv.size());
  for (auto& a : argv) detail::resp::add_bulk(m_aof_buf, a);
}

void Server::aof_begin_transaction() {
  if (m_aof_fd < 0) return;
  m_aof_tx_mark = m_aof_buf.size();
  aof_append_strings({"MULTI"});
}

void Server::aof_end_transaction() {
  if (m_aof_fd < 0) return;
  if (m_aof_buf.size() == m_aof_tx_mark + 15)  // nothing written since "*1\r\n$5\r\nMULTI\r\n"
    m_aof_buf.resize(m_aof_tx_mark);
  else
    aof_append_strings({"EXEC"});
}

void Server::aof_flush() {
  if (m_aof_fd < 0 || m_aof_buf.empty()) return;
  std::size_t off = 0;
  while (off < m_aof_buf.size()) {
    ssize_t n = ::write(m_aof_fd, m_aof_buf.data() + off, m_aof_buf.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      log(LogLevel::error, std::string("append-only log write failed: ") + std::strerror(errno));
      break;
    }
    off += static_cast<std::size_t>(n);
  }
  m_aof_size += off;
  if (aof_rewrite_child > 0) m_aof_rewrite_buf.append(m_aof_buf, 0, off);
  m_aof_buf.erase(0, off);
  if (m_opts.appendfsync == FsyncPolicy::always)
    ::fdatasync(m_aof_fd);
  else if (m_aof_syncer)
    m_aof_syncer->dirty = true;
  if (m_aof_buf.capacity() > 4 * 1024 * 1024 && m_aof_buf.empty()) std::string().swap(m_aof_buf);
}

void Server::aof_seed_from_db() {
  m_aof_buf += aof_dump(db);
  m_aof_db = -1;  // the dump ends in its last database: the next write says which it is in
  aof_flush();
  ::fsync(m_aof_fd);
  m_aof_base_size = m_aof_size;
}

// ---- append-only log rewrite (BGREWRITEAOF) ----

std::string Server::aof_rewrite_tmp(pid_t child) const {
  return m_opts.appendonly + ".rewrite-" + std::to_string(child);
}

bool Server::bgrewriteaof(std::string& err) {
  if (m_aof_fd < 0) {
    err = "no append-only file configured (start ipc-managerd with --appendonly FILE)";
    return false;
  }
  if (aof_rewrite_child > 0) {
    err = "Background append only file rewriting already in progress";
    return false;
  }
  aof_flush();  // the child's keyspace and the old log agree: the buffer takes what follows
  const pid_t server = ::getpid();
  pid_t pid = fork_child(err);
  if (pid < 0) return false;
  if (pid == 0) {
    // Dies with the server: a rewrite nobody will finish must not go on writing.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != server) ::_exit(1);  // the server died before prctl took effect
    std::string tmp = aof_rewrite_tmp(::getpid());
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    bool ok = fd >= 0 && write_all(fd, aof_dump(db)) && ::fsync(fd) == 0;
    if (!ok) log(LogLevel::error, "append-only log rewrite: " + tmp + ": " + std::strerror(errno));
    ::_exit(ok ? 0 : 1);
  }
  aof_rewrite_child = pid;
  m_aof_rewrite_buf.clear();
  m_aof_db = -1;  // the new log ends in the dump's last database: the next write says which it is in
  m_aof_rewrite_try = now_ms();
  log(LogLevel::info, "append-only log rewrite started by pid " + std::to_string(pid));
  return true;
}

void Server::reap_aof_rewrite() {
  if (aof_rewrite_child <= 0) return;
  auto exited_ok = reap_child(aof_rewrite_child);
  if (!exited_ok) return;
  aof_flush();  // while the child still counts: pending writes go to the rewrite buffer too
  std::string tmp = aof_rewrite_tmp(aof_rewrite_child);
  aof_rewrite_child = -1;
  bool ok = *exited_ok && finish_aof_rewrite(tmp);
  std::string().swap(m_aof_rewrite_buf);
  last_aof_rewrite_ok = ok;
  if (ok) {
    ++aof_rewrites;
    log(LogLevel::info, "append-only log rewritten: " + std::to_string(m_aof_size) + " bytes");
  } else {
    ::unlink(tmp.c_str());
    log(LogLevel::error, "append-only log rewrite failed; the old log stays in use");
  }
}

bool Server::finish_aof_rewrite(const std::string& tmp) {
  // The child wrote the keyspace as of the fork; add what was written since, make it durable,
  // then put it in the old log's place. No command runs in between (the caller flushed the
  // log buffer into the rewrite buffer): nothing is lost.
  int fd = ::open(tmp.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0 || !write_all(fd, m_aof_rewrite_buf) || ::fsync(fd) != 0 ||
      ::rename(tmp.c_str(), m_opts.appendonly.c_str()) != 0) {
    log(LogLevel::error, "append-only log rewrite: " + tmp + ": " + std::strerror(errno));
    if (fd >= 0) ::close(fd);
    return false;
  }
  fsync_dir_of(m_opts.appendonly);
  struct stat st{};
  ::fstat(fd, &st);
  m_aof_syncer.reset();  // its fd is about to go
  ::close(m_aof_fd);
  m_aof_fd = fd;
  m_aof_size = m_aof_base_size = static_cast<std::size_t>(st.st_size);
  if (m_opts.appendfsync == FsyncPolicy::everysec) m_aof_syncer = std::make_unique<AofSyncer>(m_aof_fd);
  return true;
}

void Server::kill_aof_rewrite() {
  kill_child(aof_rewrite_child, aof_rewrite_tmp(aof_rewrite_child));
  std::string().swap(m_aof_rewrite_buf);
}

/* BGREWRITEAOF */
void cmd_bgrewriteaof(Server& srv, Client& c, Args) {
  std::string err;
  if (!srv.bgrewriteaof(err)) return reply_err(c, err);
  reply_simple(c, "Background append only file rewriting started");
}

void Server::aof_open_and_replay() {
  const std::string& path = m_opts.appendonly;
  m_aof_fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (m_aof_fd < 0) throw_errno("open(" + path + ")");
  std::string data, err;
  if (!read_file(path, data, err)) throw std::runtime_error("cannot read " + path + ": " + err);
  m_aof_size = m_aof_base_size = data.size();
  if (data.empty()) return;
  db.clear_all();  // the log is the source of truth when it has data
  m_loading = true;
  detail::resp::RequestParser parser;
  std::size_t pos = 0, multi_at = 0;
  long long replayed = 0;
  using detail::resp::Status;
  while (pos < data.size()) {
    auto st = parser.parse(std::string_view(data).substr(pos));
    if (st == Status::need_more) break;
    if (st == Status::error || data[pos] != '*') {
      m_loading = false;
      throw ProtocolError("corrupt append-only file " + path + " at byte " + std::to_string(pos) + ": " +
                          (st == Status::error ? parser.error() : std::string("not a multibulk command")) +
                          " (fix or move the file; the server does not start with half the data)");
    }
    if (st == Status::request) {
      auto args = parser.args();
      if (!m_fake.in_multi) multi_at = pos;
      execute(m_fake, args);
      // A SELECT of a database this server does not have (also inside a logged transaction):
      // replaying on would put its keys in another database.
      if (m_fake.out.find("-ERR DB index is out of range") != std::string::npos) {
        m_loading = false;
        throw std::runtime_error("append-only file " + path + " uses more databases than --databases " +
                                 std::to_string(db.count()) + " (start with more)");
      }
      m_fake.out.clear();
      ++replayed;
    }
    pos += parser.consumed();
  }
  std::size_t good = pos;
  if (m_fake.in_multi) {  // a transaction without its EXEC: it never happened
    good = multi_at;
    m_fake.in_multi = false;
    m_fake.queued.clear();
  }
  m_loading = false;
  if (good < data.size()) {
    log(LogLevel::warning, "append-only file " + path + " ends with an incomplete command: cutting " +
                               std::to_string(data.size() - good) + " bytes at byte " + std::to_string(good));
    if (::ftruncate(m_aof_fd, static_cast<off_t>(good)) != 0) throw_errno("ftruncate(" + path + ")");
    ::fsync(m_aof_fd);
    m_aof_size = m_aof_base_size = good;
  }
  log(LogLevel::info, "replayed " + std::to_string(replayed) + " commands from " + path);
}

void Server::aof_remove_stale_rewrites() {
  // A server killed during a rewrite leaves the child's temp file (the child dies with it).
  namespace fs = std::filesystem;
  fs::path log_path(m_opts.appendonly);
  std::string prefix = log_path.filename().string() + ".rewrite-";
  std::error_code ec;
  for (auto& e : fs::directory_iterator(log_path.parent_path().empty() ? fs::path(".") : log_path.parent_path(), ec))
    if (e.path().filename().string().starts_with(prefix)) fs::remove(e.path(), ec);
}

void Server::load_persistence() {
  bool aof_has_data = false;
  if (!m_opts.appendonly.empty()) {
    struct stat st{};
    aof_has_data = ::stat(m_opts.appendonly.c_str(), &st) == 0 && st.st_size > 0;
  }
  if (!m_opts.snapshot.empty() && !aof_has_data) {
    std::string data, err;
    if (read_file(m_opts.snapshot, data, err)) {
      try {
        snapshot_decode(data, db);
      } catch (const ProtocolError& e) {
        throw ProtocolError("refusing to start: snapshot " + m_opts.snapshot + ": " + e.what());
      }
      log(LogLevel::info, "loaded " + std::to_string(db.total_size()) + " keys from " + m_opts.snapshot);
    } else if (errno != ENOENT && err != std::strerror(ENOENT)) {
      throw std::runtime_error("cannot read snapshot " + m_opts.snapshot + ": " + err);
    } else {
      log(LogLevel::info, "no snapshot at " + m_opts.snapshot + ": starting empty");
    }
  }
  if (!m_opts.appendonly.empty()) {
    aof_remove_stale_rewrites();
    aof_open_and_replay();
    if (!aof_has_data && db.total_size() > 0) aof_seed_from_db();  // the new log starts from the snapshot
    if (m_opts.appendfsync == FsyncPolicy::everysec) m_aof_syncer = std::make_unique<AofSyncer>(m_aof_fd);
  }
}

}  // namespace ipc::managerd
