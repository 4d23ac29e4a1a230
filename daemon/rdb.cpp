// Snapshots (Redis's rdb.c): the format (magic, version, entries, CRC-64), SAVE BGSAVE LASTSAVE.
#include "server.hpp"

#include "child.hpp"
#include "crc64.hpp"
#include "rio.hpp"

#include <ipc/errors.hpp>

#include <unistd.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <stdexcept>

namespace ipc::managerd {

namespace {

constexpr char kMagic[8] = {'I', 'P', 'C', 'K', 'S', 'N', 'A', 'P'};
constexpr std::uint32_t kVersion = 2;      // 2: database markers; version 1 files load into database 0
constexpr unsigned char kSelectDb = 0xfe;  // followed by a varint: the entries after it are in that database
constexpr unsigned char kEnd = 0xff;

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
      case Type::zset:  // member, then the score's IEEE-754 bits
        put_varint(out, v.zset().size());
        for (auto& [score, m] : v.zset().order()) {
          put_bytes(out, m);
          put_u64(out, std::bit_cast<std::uint64_t>(score));
        }
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
    if (t > 4) r.fail("unknown value type " + std::to_string(t));
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
      case Type::zset: {
        std::uint64_t n = r.count();
        for (std::uint64_t i = 0; i < n; ++i) {
          std::string_view m = r.bytes();
          double score = std::bit_cast<double>(r.u64());
          if (std::isnan(score)) r.fail("NaN score");
          if (!v.zset().add(m, score)) r.fail("duplicate sorted set member");
        }
        if (n == 0) r.fail("empty sorted set");
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
  try {
    write_file_atomically(m_opts.snapshot, snapshot_encode(db));
  } catch (const std::exception& e) {
    log(LogLevel::error, std::string("snapshot not saved: ") + e.what());
    last_bgsave_ok = false;  // as a failed BGSAVE: writes are refused while save points are set
    return false;
  }
  last_bgsave_ok = true;
  changes_since_save = 0;
  last_save_ms = now_ms();
  log(LogLevel::info, "snapshot saved to " + m_opts.snapshot + " (" + std::to_string(db.total_size()) + " keys)");
  return true;
}

void Server::bgsave() {
  if (m_opts.snapshot.empty())
    throw std::runtime_error("no snapshot file configured (start ipc-managerd with --snapshot FILE)");
  if (bgsave_child > 0) throw std::runtime_error("Background save already in progress");
  pid_t pid = fork_child();
  if (pid == 0) {
    close_listeners_in_child();
    // The child owns a copy-on-write image of the keyspace: write it and leave without running
    // any of the parent's exit handlers.
    try {
      write_file_atomically(m_opts.snapshot, snapshot_encode(db));
      ::_exit(0);
    } catch (const std::exception& e) {
      log(LogLevel::error, std::string("background snapshot failed: ") + e.what());
    }
    ::_exit(1);
  }
  bgsave_child = pid;
  m_changes_at_bgsave = changes_since_save;
  m_bgsave_started_ms = now_ms();
  m_last_bgsave_try = m_bgsave_started_ms;
  log(LogLevel::info, "background snapshot started by pid " + std::to_string(pid));
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
  try {
    srv.bgsave();
  } catch (const std::exception& e) {
    return reply_err(c, e.what());
  }
  reply_simple(c, "Background saving started");
}

/* LASTSAVE */
void cmd_lastsave(Server& srv, Client& c, Args) { reply_int(c, srv.last_save_ms / 1000); }

}  // namespace ipc::managerd
