// The append-only log (Redis's aof.c): appending, fsync policies, replay at start, BGREWRITEAOF.
#include "server.hpp"

#include "child.hpp"
#include "dump.hpp"
#include "rio.hpp"

#include <ipc/errors.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace ipc::managerd {

namespace {

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
      case Type::zset:
        command({"ZADD", key}, [&] {
          for (auto& [score, m] : v.zset().order()) {
            detail::resp::add_bulk(out, format_score(score));
            detail::resp::add_bulk(out, m);
          }
        }, 2 * v.zset().size());
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
    if (!dirty.exchange(false)) continue;
    if (::fdatasync(fd) == 0) {
      fsync_errno = 0;
    } else {
      fsync_errno = errno;  // the server refuses writes until a later fdatasync works (Redis does too)
      dirty = true;
    }
  }
}

void Server::aof_append(Args argv) {
  if (!m_aof_fd || m_loading) return;
  detail::resp::add_command(m_aof_buf, argv);
}

void Server::aof_append_strings(const std::vector<std::string>& argv) {
  if (!m_aof_fd || m_loading) return;
  detail::resp::add_array(m_aof_buf, argv.size());
  for (auto& a : argv) detail::resp::add_bulk(m_aof_buf, a);
}

void Server::aof_begin_transaction() {
  m_in_tx = true;
  m_tx_ops.clear();
}

// Redis 7.0's propagation of a transaction: one command goes alone, more are wrapped in
// MULTI ... EXEC (after the SELECT of the first one), none leaves nothing.
void Server::aof_end_transaction() {
  m_in_tx = false;
  auto ops = std::move(m_tx_ops);
  m_tx_ops.clear();
  if (ops.empty()) return;
  std::vector<std::string_view> v;
  auto send = [&](const FeedOp& op) {
    v.assign(op.argv.begin(), op.argv.end());
    feed_now(op.db, v, op.to_aof);
  };
  if (ops.size() == 1) return send(ops[0]);
  send({ops.front().db, {"MULTI"}, true});
  for (auto& op : ops) send(op);
  send({ops.back().db, {"EXEC"}, true});
}

void Server::feed(int dbid, Args argv, bool to_aof) {
  if (m_loading || (!m_aof_fd && m_replicas.empty())) return;
  if (m_in_tx) {
    m_tx_ops.push_back({dbid, std::vector<std::string>(argv.begin(), argv.end()), to_aof});
    return;
  }
  feed_now(dbid, argv, to_aof);
}

void Server::feed_now(int dbid, Args argv, bool to_aof) {
  if (to_aof && m_aof_fd) {
    if (m_aof_db != dbid) {
      aof_append_strings({"SELECT", std::to_string(dbid)});
      m_aof_db = dbid;
    }
    aof_append(argv);
  }
  if (m_replicas.empty()) return;
  std::string buf;
  if (m_repl_db != dbid) {
    std::string n = std::to_string(dbid);
    const std::string_view sel[] = {"SELECT", n};
    detail::resp::add_command(buf, sel);
    m_repl_db = dbid;
  }
  detail::resp::add_command(buf, argv);
  m_repl_offset += static_cast<long long>(buf.size());
  for (Client* r : m_replicas) {
    r->out += buf;
    queue_write(*r);
  }
}

void Server::attach_replica(Client& c) {
  std::string snap = rdb_file(db, m_opts);  // a real RDB file: redis-server replicas load it
  c.out += '$';
  c.out += std::to_string(snap.size());
  c.out += "\r\n";
  c.out += snap;  // no CRLF after the payload, as Redis sends its RDB
  c.replica = true;
  m_replicas.push_back(&c);
  m_repl_db = -1;  // the new replica learns the database from the next command's SELECT
  m_repl_pinged_ms = now_ms();
}

void Server::ping_replicas() {
  if (m_replicas.empty()) return;
  long long now = now_ms();
  if (now - m_repl_pinged_ms < m_opts.repl_ping_replica_period * 1000) return;
  m_repl_pinged_ms = now;
  const std::string_view ping[] = {"PING"};
  bool held = m_in_tx;
  m_in_tx = false;
  feed_now(m_repl_db < 0 ? 0 : m_repl_db, ping, false);
  m_in_tx = held;
}

// Writes the buffered commands to the log (and fsyncs them under appendfsync always) before any
// reply that acknowledges them leaves (Redis's flushAppendOnlyFile). On failure the commands stay
// in the buffer and are tried again on the next call; writes are refused meanwhile (disk_error).
bool Server::aof_flush() {
  if (!m_aof_fd || (m_aof_buf.empty() && m_aof_acked == m_aof_written)) return true;
  const bool always = m_opts.appendfsync == FsyncPolicy::always;
  std::size_t off = 0;
  const char* what = "write";
  int err = write_all(m_aof_fd.get(), m_aof_buf, &off).value();  // a write of 0 bytes is ENOSPC
  if (err == 0 && always && ::fdatasync(m_aof_fd.get()) != 0) {
    err = errno;
    what = "fdatasync";
  }
  if (err != 0) {
    // Take back what went in, so that the whole buffer is written again later and the log never
    // holds half a command. What cannot be taken back counts as written, never as acknowledged
    // until an fdatasync covers it.
    if (off > 0 && ::ftruncate(m_aof_fd.get(), static_cast<off_t>(m_aof_size)) == 0) off = 0;
    aof_commit(off);
    aof_write_failed(err, what);
    return false;
  }
  aof_commit(off);
  m_aof_acked = m_aof_written;
  if (!always && m_aof_syncer) m_aof_syncer->dirty = true;
  if (m_aof_write_errno != 0) {
    m_aof_write_errno = 0;
    log(LogLevel::warning, "append-only log write error looks solved: writes are accepted again");
  }
  for (Client* c : m_held) queue_write(*c);
  m_held.clear();
  if (m_aof_buf.capacity() > 4 * 1024 * 1024 && m_aof_buf.empty()) std::string().swap(m_aof_buf);
  return true;
}

// The first `n` bytes of the buffer are in the log file now.
void Server::aof_commit(std::size_t n) {
  if (n == 0) return;
  m_aof_size += n;
  m_aof_written += n;
  if (aof_rewrite_child > 0) m_aof_rewrite_buf.append(m_aof_buf, 0, n);
  m_aof_buf.erase(0, n);
}

void Server::aof_write_failed(int err, const char* what) {
  bool first = m_aof_write_errno == 0;
  m_aof_write_errno = err;
  long long now = now_ms();
  if (!first && now - m_aof_error_logged < 30'000) return;  // Redis logs it at most every 30 s too
  m_aof_error_logged = now;
  log(LogLevel::error, std::string("append-only log ") + what + " failed: " + std::strerror(err) + " (" +
                           std::to_string(m_aof_buf.size()) +
                           " bytes waiting); writes are refused with MISCONF until the log can be written");
}

void Server::aof_seed_from_db() {
  m_aof_buf += aof_dump(db);
  m_aof_db = -1;  // the dump ends in its last database: the next write says which it is in
  if (!aof_flush() || ::fsync(m_aof_fd.get()) != 0)
    throw std::runtime_error("cannot write the append-only log " + m_opts.appendonly + ": " +
                             std::strerror(m_aof_write_errno ? m_aof_write_errno : errno));
  m_aof_base_size = m_aof_size;
}

// ---- append-only log rewrite (BGREWRITEAOF) ----

std::string Server::aof_rewrite_tmp(pid_t child) const {
  return m_opts.appendonly + ".rewrite-" + std::to_string(child);
}

void Server::bgrewriteaof() {
  if (!m_aof_fd)
    throw std::runtime_error("no append-only file configured (start ipc-managerd with --appendonly FILE)");
  if (aof_rewrite_child > 0) throw std::runtime_error("Background append only file rewriting already in progress");
  // The child's keyspace and the old log must agree: the rewrite buffer takes what follows.
  if (!aof_flush())
    throw std::runtime_error(std::string("the append-only log cannot be written (") +
                             std::strerror(m_aof_write_errno) + "): not rewriting it now");
  pid_t pid = fork_child();
  if (pid == 0) {
    close_listeners_in_child();
    std::string tmp = aof_rewrite_tmp(::getpid());
    detail::UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    std::error_code ec = fd ? write_all(fd.get(), aof_dump(db)) : errno_code();
    if (!ec && ::fsync(fd.get()) != 0) ec = errno_code();
    if (ec) log(LogLevel::error, "append-only log rewrite: " + tmp + ": " + ec.message());
    ::_exit(ec ? 1 : 0);
  }
  aof_rewrite_child = pid;
  m_aof_rewrite_buf.clear();
  m_aof_db = -1;  // the new log ends in the dump's last database: the next write says which it is in
  m_aof_rewrite_try = now_ms();
  log(LogLevel::info, "append-only log rewrite started by pid " + std::to_string(pid));
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
  detail::UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
  std::error_code ec = fd ? write_all(fd.get(), m_aof_rewrite_buf) : errno_code();
  if (!ec && (::fsync(fd.get()) != 0 || ::rename(tmp.c_str(), m_opts.appendonly.c_str()) != 0)) ec = errno_code();
  if (ec) {
    log(LogLevel::error, "append-only log rewrite: " + tmp + ": " + ec.message());
    return false;
  }
  if ((ec = fsync_dir_of(m_opts.appendonly)))  // the new log is in place; only its name may not last a crash
    log(LogLevel::warning, "append-only log rewrite: fsync of the directory: " + ec.message());
  struct stat st{};
  ::fstat(fd.get(), &st);
  m_aof_syncer.reset();  // its fd is about to go
  m_aof_fd = std::move(fd);
  m_aof_size = m_aof_base_size = static_cast<std::size_t>(st.st_size);
  if (m_opts.appendfsync == FsyncPolicy::everysec) m_aof_syncer = std::make_unique<AofSyncer>(m_aof_fd.get());
  return true;
}

void Server::kill_aof_rewrite() {
  kill_child(aof_rewrite_child, aof_rewrite_tmp(aof_rewrite_child));
  std::string().swap(m_aof_rewrite_buf);
}

/* BGREWRITEAOF */
void cmd_bgrewriteaof(Server& srv, Client& c, Args) {
  try {
    srv.bgrewriteaof();
  } catch (const std::exception& e) {
    return reply_err(c, e.what());
  }
  reply_simple(c, "Background append only file rewriting started");
}

void Server::aof_open_and_replay() {
  const std::string& path = m_opts.appendonly;
  m_aof_fd.reset(::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!m_aof_fd) detail::throw_errno("open(" + path + ")");
  std::string data = read_file(path);
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
    if (::ftruncate(m_aof_fd.get(), static_cast<off_t>(good)) != 0) detail::throw_errno("ftruncate(" + path + ")");
    ::fsync(m_aof_fd.get());
    m_aof_size = m_aof_base_size = good;
  }
  log(LogLevel::info, "replayed " + std::to_string(replayed) + " commands from " + path);
}

void Server::aof_remove_stale_rewrites() {
  // A server killed during a rewrite leaves the child's temp file (the child dies with it).
  remove_stale_temps(m_opts.appendonly, ".rewrite-");
}

}  // namespace ipc::managerd
