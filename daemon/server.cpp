// The command table, dispatch (arity, auth, MULTI, OOM), server commands (PING INFO CLIENT ...), logging.
#include "server.hpp"
#include "config_rewrite.hpp"

#include <ipc/detail/hmac.hpp>

#include <malloc.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include <cctype>
#include <climits>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <mutex>

namespace ipc::managerd {

using detail::resp::parse_ll;

// ---- logging ----

namespace {
// The log sink is process-wide on purpose: the daemon has one log, reopened on SIGHUP.
FILE* g_log = nullptr;
bool g_verbose = false;
}  // namespace

void log_open(const std::string& path) {
  if (path.empty()) return;
  FILE* f = std::fopen(path.c_str(), "ae");
  if (!f) return;  // keep the old sink: losing the log is worse than not rotating it
  if (g_log) std::fclose(g_log);
  g_log = f;
  std::setvbuf(g_log, nullptr, _IOLBF, 0);
}

void log_verbose(bool on) { g_verbose = on; }

void log(LogLevel level, std::string_view msg) {
  if (level == LogLevel::debug && !g_verbose) return;
  FILE* f = g_log ? g_log : stderr;
  timeval tv{};
  ::gettimeofday(&tv, nullptr);
  tm t{};
  ::gmtime_r(&tv.tv_sec, &t);
  char ts[32];
  std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &t);
  static const char* marks[] = {"debug", "info", "warning", "error"};
  std::fprintf(f, "ipc-managerd[%d] %s.%03dZ %s: %.*s\n", static_cast<int>(::getpid()), ts,
               static_cast<int>(tv.tv_usec / 1000), marks[static_cast<int>(level)],
               static_cast<int>(msg.size()), msg.data());
  std::fflush(f);
}

// ---- the command table ----

namespace {

constexpr std::uint32_t W = kWrite, R = kReadonly, M = kDenyOom, A = kAdmin, N = kNoAuth, F = kFast,
                        B = kBlocking, X = kNoMulti, L = kLoading, Q = kNoQueue, P = kPubsubOk, S = kStale,
                        NS = kNoScript;

// name, arity, flags, handler, first key, last key, key step (Redis's redisCommandTable); arity,
// flags and keys as redis-server 7.0 reports them in COMMAND INFO.
const Command kCommands[] = {
    {"del", -2, W, cmd_del, 1, -1, 1},
    {"unlink", -2, W | F, cmd_unlink, 1, -1, 1},
    {"exists", -2, R | F, cmd_exists, 1, -1, 1},
    {"type", 2, R | F, cmd_type, 1, 1, 1},
    {"keys", 2, R, cmd_keys, 0, 0, 0},
    {"scan", -2, R, cmd_scan, 0, 0, 0},
    {"rename", 3, W, cmd_rename, 1, 2, 1},
    {"renamenx", 3, W | F, cmd_renamenx, 1, 2, 1},
    {"dbsize", 1, R | F, cmd_dbsize, 0, 0, 0},
    {"flushall", -1, W, cmd_flushall, 0, 0, 0},
    {"flushdb", -1, W, cmd_flushdb, 0, 0, 0},
    {"expire", -3, W | F, cmd_expire, 1, 1, 1},
    {"pexpire", -3, W | F, cmd_pexpire, 1, 1, 1},
    {"expireat", -3, W | F, cmd_expireat, 1, 1, 1},
    {"pexpireat", -3, W | F, cmd_pexpireat, 1, 1, 1},
    {"ttl", 2, R | F, cmd_ttl, 1, 1, 1},
    {"pttl", 2, R | F, cmd_pttl, 1, 1, 1},
    {"persist", 2, W | F, cmd_persist, 1, 1, 1},
    {"select", 2, L | S | F, cmd_select, 0, 0, 0},
    {"swapdb", 3, W | F, cmd_swapdb, 0, 0, 0},
    {"move", 3, W | F, cmd_move, 1, 1, 1},
    {"copy", -3, W | M, cmd_copy, 1, 2, 1},
    {"randomkey", 1, R, cmd_randomkey, 0, 0, 0},
    {"expiretime", 2, R | F, cmd_expiretime, 1, 1, 1},
    {"pexpiretime", 2, R | F, cmd_pexpiretime, 1, 1, 1},
    {"object", -2, kContainer, cmd_object, 0, 0, 0},
    {"dump", 2, R, cmd_dump, 1, 1, 1},
    {"restore", -4, W | M, cmd_restore, 1, 1, 1},
    {"touch", -2, R | F, cmd_touch, 1, -1, 1},
    {"wait", 3, NS, cmd_wait, 0, 0, 0},
    {"get", 2, R | F, cmd_get, 1, 1, 1},
    {"set", -3, W | M, cmd_set, 1, 1, 1},
    {"setnx", 3, W | M | F, cmd_setnx, 1, 1, 1},
    {"getset", 3, W | M | F, cmd_getset, 1, 1, 1},
    {"getdel", 2, W | F, cmd_getdel, 1, 1, 1},
    {"mget", -2, R | F, cmd_mget, 1, -1, 1},
    {"mset", -3, W | M, cmd_mset, 1, -1, 2},
    {"msetnx", -3, W | M, cmd_msetnx, 1, -1, 2},
    {"incr", 2, W | M | F, cmd_incr, 1, 1, 1},
    {"decr", 2, W | M | F, cmd_decr, 1, 1, 1},
    {"incrby", 3, W | M | F, cmd_incrby, 1, 1, 1},
    {"decrby", 3, W | M | F, cmd_decrby, 1, 1, 1},
    {"incrbyfloat", 3, W | M | F, cmd_incrbyfloat, 1, 1, 1},
    {"append", 3, W | M | F, cmd_append, 1, 1, 1},
    {"strlen", 2, R | F, cmd_strlen, 1, 1, 1},
    {"getex", -2, W | F, cmd_getex, 1, 1, 1},
    {"setex", 4, W | M, cmd_setex, 1, 1, 1},
    {"psetex", 4, W | M, cmd_psetex, 1, 1, 1},
    {"setrange", 4, W | M, cmd_setrange, 1, 1, 1},
    {"getrange", 4, R, cmd_getrange, 1, 1, 1},
    {"setbit", 4, W | M, cmd_setbit, 1, 1, 1},
    {"getbit", 3, R | F, cmd_getbit, 1, 1, 1},
    {"bitcount", -2, R, cmd_bitcount, 1, 1, 1},
    {"lcs", -3, R, cmd_lcs, 1, 2, 1},
    {"substr", 4, R, cmd_substr, 1, 1, 1},
    {"hset", -4, W | M | F, cmd_hset, 1, 1, 1},
    {"hmset", -4, W | M | F, cmd_hmset, 1, 1, 1},
    {"hsetnx", 4, W | M | F, cmd_hsetnx, 1, 1, 1},
    {"hget", 3, R | F, cmd_hget, 1, 1, 1},
    {"hmget", -3, R | F, cmd_hmget, 1, 1, 1},
    {"hdel", -3, W | F, cmd_hdel, 1, 1, 1},
    {"hexists", 3, R | F, cmd_hexists, 1, 1, 1},
    {"hlen", 2, R | F, cmd_hlen, 1, 1, 1},
    {"hstrlen", 3, R | F, cmd_hstrlen, 1, 1, 1},
    {"hkeys", 2, R, cmd_hkeys, 1, 1, 1},
    {"hvals", 2, R, cmd_hvals, 1, 1, 1},
    {"hgetall", 2, R, cmd_hgetall, 1, 1, 1},
    {"hincrby", 4, W | M | F, cmd_hincrby, 1, 1, 1},
    {"hincrbyfloat", 4, W | M | F, cmd_hincrbyfloat, 1, 1, 1},
    {"hscan", -3, R, cmd_hscan, 1, 1, 1},
    {"hrandfield", -2, R, cmd_hrandfield, 1, 1, 1},
    {"lpush", -3, W | M | F, cmd_lpush, 1, 1, 1},
    {"rpush", -3, W | M | F, cmd_rpush, 1, 1, 1},
    {"lpushx", -3, W | M | F, cmd_lpushx, 1, 1, 1},
    {"rpushx", -3, W | M | F, cmd_rpushx, 1, 1, 1},
    {"lpop", -2, W | F, cmd_lpop, 1, 1, 1},
    {"rpop", -2, W | F, cmd_rpop, 1, 1, 1},
    {"llen", 2, R | F, cmd_llen, 1, 1, 1},
    {"lindex", 3, R, cmd_lindex, 1, 1, 1},
    {"lset", 4, W | M, cmd_lset, 1, 1, 1},
    {"lrange", 4, R, cmd_lrange, 1, 1, 1},
    {"linsert", 5, W | M, cmd_linsert, 1, 1, 1},
    {"lrem", 4, W, cmd_lrem, 1, 1, 1},
    {"ltrim", 4, W, cmd_ltrim, 1, 1, 1},
    {"blpop", -3, W | NS | B, cmd_blpop, 1, -2, 1},
    {"brpop", -3, W | NS | B, cmd_brpop, 1, -2, 1},
    {"lmove", 5, W | M, cmd_lmove, 1, 2, 1},
    {"blmove", 6, W | M | NS | B, cmd_blmove, 1, 2, 1},
    {"rpoplpush", 3, W | M, cmd_rpoplpush, 1, 2, 1},
    {"brpoplpush", 4, W | M | NS | B, cmd_brpoplpush, 1, 2, 1},
    {"lmpop", -4, W, cmd_lmpop, 0, 0, 0},
    {"blmpop", -5, W | B, cmd_blmpop, 0, 0, 0},
    {"lpos", -3, R, cmd_lpos, 1, 1, 1},
    {"sadd", -3, W | M | F, cmd_sadd, 1, 1, 1},
    {"srem", -3, W | F, cmd_srem, 1, 1, 1},
    {"smembers", 2, R, cmd_smembers, 1, 1, 1},
    {"sismember", 3, R | F, cmd_sismember, 1, 1, 1},
    {"smismember", -3, R | F, cmd_smismember, 1, 1, 1},
    {"scard", 2, R | F, cmd_scard, 1, 1, 1},
    {"spop", -2, W | F, cmd_spop, 1, 1, 1},
    {"srandmember", -2, R, cmd_srandmember, 1, 1, 1},
    {"smove", 4, W | F, cmd_smove, 1, 2, 1},
    {"sinter", -2, R, cmd_sinter, 1, -1, 1},
    {"sinterstore", -3, W | M, cmd_sinterstore, 1, -1, 1},
    {"sunion", -2, R, cmd_sunion, 1, -1, 1},
    {"sunionstore", -3, W | M, cmd_sunionstore, 1, -1, 1},
    {"sdiff", -2, R, cmd_sdiff, 1, -1, 1},
    {"sdiffstore", -3, W | M, cmd_sdiffstore, 1, -1, 1},
    {"sintercard", -3, R, cmd_sintercard, 0, 0, 0},
    {"sscan", -3, R, cmd_sscan, 1, 1, 1},
    {"subscribe", -2, NS | L | S | P, cmd_subscribe, 0, 0, 0},
    {"psubscribe", -2, NS | L | S | P, cmd_psubscribe, 0, 0, 0},
    {"unsubscribe", -1, NS | L | S | P, cmd_unsubscribe, 0, 0, 0},
    {"punsubscribe", -1, NS | L | S | P, cmd_punsubscribe, 0, 0, 0},
    {"publish", 3, L | S | F, cmd_publish, 0, 0, 0},
    {"pubsub", -2, kContainer, cmd_pubsub, 0, 0, 0},
    {"multi", 1, NS | L | S | F | Q, cmd_multi, 0, 0, 0},
    {"exec", 1, NS | L | S | Q, cmd_exec, 0, 0, 0},
    {"discard", 1, NS | L | S | F | Q, cmd_discard, 0, 0, 0},
    {"watch", -2, NS | L | S | F | Q, cmd_watch, 1, -1, 1},
    {"unwatch", 1, NS | L | S | F, cmd_unwatch, 0, 0, 0},
    {"save", 1, A | NS | X, cmd_save, 0, 0, 0},
    {"bgsave", -1, A | NS, cmd_bgsave, 0, 0, 0},
    {"lastsave", 1, L | S | F, cmd_lastsave, 0, 0, 0},
    {"bgrewriteaof", 1, A | NS, cmd_bgrewriteaof, 0, 0, 0},
    {"ping", -1, F | P, cmd_ping, 0, 0, 0},
    {"echo", 2, L | S | F, cmd_echo, 0, 0, 0},
    {"auth", -2, NS | L | S | F | N, cmd_auth, 0, 0, 0},
    {"hello", -1, NS | L | S | F | N, cmd_hello, 0, 0, 0},
    {"info", -1, L | S, cmd_info, 0, 0, 0},
    {"shutdown", -1, A | NS | L | S | X, cmd_shutdown, 0, 0, 0},
    {"client", -2, kContainer, cmd_client, 0, 0, 0},
    {"command", -1, L | S | kContainer, cmd_command, 0, 0, 0},
    {"config", -2, kContainer, cmd_config, 0, 0, 0},
    {"function", -2, kContainer, cmd_function, 0, 0, 0},
    {"eval", -3, NS | S, cmd_no_scripting, 0, 0, 0},
    {"evalsha", -3, NS | S, cmd_no_scripting, 0, 0, 0},
    {"eval_ro", -3, NS | S | R, cmd_no_scripting, 0, 0, 0},
    {"evalsha_ro", -3, NS | S | R, cmd_no_scripting, 0, 0, 0},
    {"fcall", -3, NS | S, cmd_no_scripting, 0, 0, 0},
    {"fcall_ro", -3, NS | S | R, cmd_no_scripting, 0, 0, 0},
    {"script", -2, kContainer, cmd_no_scripting, 0, 0, 0},
    {"sync", 1, A | NS | X, cmd_sync, 0, 0, 0},
    {"replicaof", 3, A | NS | S, cmd_replicaof, 0, 0, 0},
    {"slaveof", 3, A | NS | S, cmd_replicaof, 0, 0, 0},
    {"quit", -1, NS | L | S | F | N | Q | P, cmd_quit, 0, 0, 0},
    {"time", 1, L | S | F, cmd_time, 0, 0, 0},
    {"reset", 1, NS | L | S | F | N | Q | P, cmd_reset, 0, 0, 0},
    {"memory", -2, kContainer, cmd_memory, 0, 0, 0},
    {"sort", -2, W | M, cmd_sort, 1, 1, 1},
    {"sort_ro", -2, R, cmd_sort_ro, 1, 1, 1},
    {"zadd", -4, W | M | F, cmd_zadd, 1, 1, 1},
    {"zincrby", 4, W | M | F, cmd_zincrby, 1, 1, 1},
    {"zcard", 2, R | F, cmd_zcard, 1, 1, 1},
    {"zscore", 3, R | F, cmd_zscore, 1, 1, 1},
    {"zmscore", -3, R | F, cmd_zmscore, 1, 1, 1},
    {"zrem", -3, W | F, cmd_zrem, 1, 1, 1},
    {"zrange", -4, R, cmd_zrange, 1, 1, 1},
    {"zrank", 3, R | F, cmd_zrank, 1, 1, 1},
    {"zrevrank", 3, R | F, cmd_zrevrank, 1, 1, 1},
    {"zscan", -3, R, cmd_zscan, 1, 1, 1},
};

std::string lower(std::string_view s) {
  std::string o(s);
  for (auto& ch : o) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return o;
}

}  // namespace

std::span<const Command> command_table() { return kCommands; }

const Command* Server::lookup(std::string_view name) const {
  char buf[32] = {};
  if (name.size() >= sizeof buf) return nullptr;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char ch = name[i];
    buf[i] = ch >= 'A' && ch <= 'Z' ? static_cast<char>(ch + ('a' - 'A')) : ch;  // ASCII, no locale
  }
  auto it = m_commands.find(std::string_view(buf, name.size()));
  return it == m_commands.end() ? nullptr : it->second;
}

// Hands the hash and zset thresholds of `o` to Hash and ZSet (the representations that follow them).
void apply_encoding_tunables(const Options& o) {
  auto get = [&](std::string_view name) { return static_cast<std::size_t>(o.encoding_tunables.find(name)->second); };
  Hash::max_small_entries.store(get("hash-max-listpack-entries"), std::memory_order_relaxed);
  Hash::max_small_value.store(get("hash-max-listpack-value"), std::memory_order_relaxed);
  ZSet::max_listpack_entries.store(get("zset-max-listpack-entries"), std::memory_order_relaxed);
  ZSet::max_listpack_value.store(get("zset-max-listpack-value"), std::memory_order_relaxed);
}

Server::Server(Options opts) : m_opts(std::move(opts)) {
  for (const auto& cmd : kCommands) m_commands.emplace(cmd.name, &cmd);
  apply_encoding_tunables(m_opts);
  start_ms = now_ms();
  last_save_ms = start_ms;
  m_fake.fake = true;
  m_fake.authenticated = true;
  Db sized(m_opts.databases);
  db.swap(sized);
  db.on_added = [this](std::string_view key) { notify(kNotifyNew, "new", key); };
  db.on_expired = [this](std::string_view key) {
    ++stat_expired;
    touch_watched(key);
    notify(kNotifyExpired, "expired", key);
    if (!m_loading) propagate({"DEL", std::string(key)});
  };
}

void Server::modified(std::string_view key) {
  ++changes_since_save;
  ++total_changes;
  touch_watched(key);
}

void Server::modified_all(int which) {
  ++changes_since_save;
  ++total_changes;
  int keep = db.selected();
  for (auto& [qkey, clients] : m_watched) {
    auto [d, key] = split_db_key(qkey);
    if (which >= 0 && d != which) continue;
    db.select(d);
    if (db.find(key))
      for (Client* w : clients) w->dirty_cas = true;
  }
  db.select(keep);
}

// Defined only when built with a sanitizer, whose allocator replaces malloc (and so mallinfo2's
// figures): weak, so that a normal build sees nullptr.
extern "C" std::size_t __sanitizer_get_current_allocated_bytes() __attribute__((weak));

std::size_t Server::used_memory() {
  if (&__sanitizer_get_current_allocated_bytes != nullptr) {
    m_used_memory = __sanitizer_get_current_allocated_bytes();
  } else {
    struct mallinfo2 mi = ::mallinfo2();
    m_used_memory = mi.uordblks + mi.hblkhd;
  }
  return m_used_memory;
}

void Server::reject(Client& c, std::string_view msg) {
  if (!c.reply_off && !c.reply_skip) detail::resp::add_error(c.out, msg);
  c.reply_skip = false;
  ++stat_rejected_calls;
  count_error(msg);
  if (c.in_multi) c.multi_error = true;
}

void Server::count_error(std::string_view msg) {
  std::string_view code = msg.substr(0, std::min(msg.find(' '), msg.size()));
  if (code.size() > 128) code = code.substr(0, 128);
  ++m_errorstats[std::string(code)];
  ++stat_total_errors;
}

void Server::execute(Client& c, Args argv) {
  const Command* cmd = lookup(argv[0]);
  if (!cmd) {
    std::string args;
    for (std::size_t i = 1; i < argv.size() && args.size() < 128; ++i) {
      std::size_t room = 128 - args.size();
      args += '\'';
      args.append(argv[i].substr(0, room));
      args += "' ";
    }
    return reject(c, "ERR unknown command '" + std::string(argv[0].substr(0, 128)) +
                         "', with args beginning with: " + args);
  }
  int argc = static_cast<int>(argv.size());
  if ((cmd->arity > 0 && cmd->arity != argc) || argc < -cmd->arity) {
    ++cmd->rejected_calls;
    return reject(c, "ERR wrong number of arguments for '" + std::string(cmd->name) + "' command");
  }
  if (!c.authenticated && !(cmd->flags & kNoAuth)) {
    ++cmd->rejected_calls;
    return reject(c, "NOAUTH Authentication required.");
  }
  if (c.in_multi && (cmd->flags & kNoMulti)) {
    ++cmd->rejected_calls;
    return reject(c, "ERR Command not allowed inside a transaction");
  }
  // EXEC is checked with the flags of the commands it would run (Redis's mstate.cmd_flags), and a
  // refused EXEC discards the transaction.
  const bool exec = cmd->proc == cmd_exec && c.in_multi;
  const std::uint32_t flags = exec ? cmd->flags | c.queued_flags : cmd->flags;
  auto refuse = [&](std::string_view why) {
    if (exec) {
      c.in_multi = c.multi_error = false;
      c.queued.clear();
      c.queued_flags = 0;
      unwatch_all(c);
      ++stat_rejected_calls;
      count_error("EXECABORT");
      return reply_error_code(c, "EXECABORT Transaction discarded because of: " + std::string(why));
    }
    ++cmd->rejected_calls;
    reject(c, why);
  };
  // Inside MULTI, queuing itself takes memory: past maxmemory only EXEC, DISCARD, QUIT and RESET
  // get through (Redis's processCommand).
  const bool queues = c.in_multi && cmd->proc != cmd_exec && cmd->proc != cmd_discard && cmd->proc != cmd_quit &&
                      cmd->proc != cmd_reset;
  if (m_opts.maxmemory && ((flags & kDenyOom) || queues)) {
    // mallinfo2 walks the arenas: sample it every 64 writes or 100 ms (cron) instead of always.
    if ((total_changes & 63) == 0) used_memory();
    if (m_used_memory > m_opts.maxmemory && used_memory() > m_opts.maxmemory)
      return refuse("OOM command not allowed when used memory > 'maxmemory'.");
  }
  if (m_aof_write_errno != 0 || (m_aof_syncer && m_aof_syncer->fsync_errno != 0) ||
      (!last_bgsave_ok && !m_opts.save_points.empty())) {
    // The disk does not take writes: refuse them, as Redis does (PING too, so that monitoring
    // notices); reads go on.
    if (((flags & kWrite) || cmd->proc == cmd_ping) && !m_loading) return refuse(disk_error());
  }
  // No replica is ever connected: with min-replicas-to-write set, every write is refused.
  if (m_opts.min_replicas_to_write > 0 && m_opts.min_replicas_max_lag > 0 && (flags & kWrite) && !m_loading)
    return refuse("NOREPLICAS Not enough good replicas to write.");
  if (c.resp == 2 && c.subscribed() && !(cmd->flags & kPubsubOk)) {
    ++cmd->rejected_calls;
    return reject(c, "ERR Can't execute '" + std::string(cmd->name) +
                         "': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context");
  }
  if (c.in_multi && !(cmd->flags & kNoQueue)) {
    c.queued.emplace_back(argv.begin(), argv.end());
    c.queued_flags |= cmd->flags;
    c.out.append("+QUEUED\r\n", 9);
    return;
  }
  call(c, *cmd, argv);
}

void Server::propagate(const std::vector<std::string>& argv) {
  if (m_loading || (!m_aof_fd && m_replicas.empty())) return;
  std::vector<std::string_view> v(argv.begin(), argv.end());
  feed(db.selected(), v);
}

std::string Server::disk_error() const {
  if (!last_bgsave_ok && !m_opts.save_points.empty())
    return "MISCONF ipc-managerd is configured to save snapshots, but it's currently unable to persist to disk. "
           "Commands that may modify the data set are disabled, because this instance is configured to report "
           "errors during writes if snapshotting fails. Please check the ipc-managerd log for details about the "
           "snapshot error.";
  int err = m_aof_write_errno;
  if (err == 0 && m_aof_syncer) err = m_aof_syncer->fsync_errno;
  if (err == 0) return {};
  return std::string("MISCONF Errors writing to the AOF file: ") + std::strerror(err);
}

void Server::call(Client& c, const Command& cmd, Args argv) {
  long long before = total_changes;
  if (db.selected() != c.db) db.select(c.db);
  const std::size_t out_mark = c.out.size();
  const std::size_t log_mark = m_aof_buf.size();
  bool skip_reply = c.reply_skip;
  c.reply_skip = false;
  const bool was_silenced = c.silenced;
  c.silenced = was_silenced || ((c.reply_off || skip_reply) && !c.in_exec);
  cmd.proc(*this, c, argv);
  c.silenced = was_silenced;
  if (c.reply_skip_next) {  // CLIENT REPLY SKIP: for the next command
    c.reply_skip_next = false;
    c.reply_skip = true;
  }
  ++cmd.calls;
  ++stat_commands;
  c.last_cmd = &cmd;
  if (cmd.flags & kContainer) c.last_sub = argv.size() > 1 ? lower(argv[1]) : std::string();
  if (c.out.size() > out_mark && c.out[out_mark] == '-') {
    ++cmd.failed_calls;
    std::string_view e(c.out.data() + out_mark + 1, c.out.size() - out_mark - 1);
    count_error(e.substr(0, e.find('\r')));
  }
  if ((m_aof_fd || !m_replicas.empty()) && !m_loading && (cmd.flags & kWrite) && total_changes != before) {
    if (c.propagate.empty())
      feed(db.selected(), argv);
    else
      for (auto& p : c.propagate) propagate(p);
  }
  if (!c.propagate.empty()) c.propagate.clear();
  if ((c.reply_off || skip_reply) && !c.in_exec) {  // CLIENT REPLY ON's own reply goes out
    std::string pushed;
    for (auto [b, e] : c.pushes) pushed.append(c.out, b, e - b);
    c.pushes.clear();
    c.out.resize(out_mark);
    c.out += pushed;
  } else if (!c.in_exec) {
    c.pushes.clear();
  }
  // The reply acknowledges what was just logged (EXEC: the whole transaction): it waits for the log.
  if (m_aof_buf.size() != log_mark && !c.in_exec) hold_until_logged(c, out_mark);
  if (!m_ready_keys.empty() && !c.in_exec) serve_ready_lists();
}

// ---- server commands ----

void reply_verbatim(Client& c, std::string_view text) {
  if (c.resp != 3) return reply_bulk(c, text);
  c.out += '=';
  c.out += std::to_string(text.size() + 4);
  c.out.append("\r\ntxt:", 6);
  c.out.append(text);
  c.out.append("\r\n", 2);
}

void reply_double(Client& c, double d) {
  char buf[64];
  if (std::isinf(d))
    std::snprintf(buf, sizeof buf, "%s", d > 0 ? "inf" : "-inf");
  else
    std::snprintf(buf, sizeof buf, "%.17g", d);
  if (c.resp != 3) return reply_bulk(c, buf);
  c.out += ',';
  c.out += buf;
  c.out.append("\r\n", 2);
}

/* PING [<message>] */
void cmd_ping(Server&, Client& c, Args argv) {
  if (argv.size() > 2) return reply_arity(c, "ping");
  if (c.resp == 2 && c.subscribed()) {  // a subscribed RESP2 connection gets a "pong" message
    reply_array(c, 2);
    reply_bulk(c, "pong");
    return reply_bulk(c, argv.size() == 2 ? argv[1] : std::string_view());
  }
  if (argv.size() == 2) return reply_bulk(c, argv[1]);
  c.out.append("+PONG\r\n", 7);
}

/* RESET */
void cmd_reset(Server& srv, Client& c, Args) {
  c.in_multi = c.multi_error = false;
  c.queued.clear();
  srv.unwatch_all(c);
  srv.pubsub_drop_client(c);
  c.db = 0;
  c.resp = 2;
  c.name.clear();
  c.authenticated = srv.auth_password().empty();
  reply_simple(c, "RESET");
}

/* ECHO <message> */
void cmd_echo(Server&, Client& c, Args argv) { reply_bulk(c, argv[1]); }

/* QUIT */
void cmd_quit(Server&, Client& c, Args) {
  reply_ok(c);
  c.close_after_reply = true;
}

/* TIME */
void cmd_time(Server&, Client& c, Args) {
  timeval tv{};
  ::gettimeofday(&tv, nullptr);
  reply_array(c, 2);
  reply_bulk(c, std::to_string(tv.tv_sec));
  reply_bulk(c, std::to_string(tv.tv_usec));
}

/* EVAL EVALSHA EVAL_RO EVALSHA_RO FCALL FCALL_RO <script|sha|function> <numkeys> ...; SCRIPT ... */
// There is no scripting engine. The commands are known so that they are refused with a reason
// (not "unknown command") and, inside MULTI, queued like on Redis: EXEC then runs the rest of
// the transaction and answers this error in the script's place, instead of the whole
// transaction being aborted by an unknown command.
void cmd_no_scripting(Server&, Client& c, Args argv) {
  std::string name = lower(argv[0]);
  if (name == "script") name += " " + lower(argv[1].substr(0, 128));
  for (auto& ch : name) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  reply_err(c, name + " is not supported: ipc-managerd has no scripting engine");
}

/* FUNCTION FLUSH [ASYNC|SYNC] | FUNCTION LIST [LIBRARYNAME <pattern>] [WITHCODE] */
// There is no scripting engine: the library set is always empty, so FLUSH (which every client
// that resets a server sends, Redis's test suite included) succeeds and LIST is empty.
void cmd_function(Server&, Client& c, Args argv) {
  std::string sub = lower(argv[1]);
  if (sub == "flush") {
    if (argv.size() > 3)
      return reply_err(c, "unknown subcommand or wrong number of arguments for '" + std::string(argv[1]) + "'. Try FUNCTION HELP.");
    if (argv.size() == 3 && lower(argv[2]) != "async" && lower(argv[2]) != "sync")
      return reply_err(c, "FUNCTION FLUSH only supports SYNC|ASYNC option");
    return reply_ok(c);
  }
  if (sub == "list") {
    bool withcode = false, named = false;
    for (std::size_t i = 2; i < argv.size(); ++i) {
      std::string a = lower(argv[i]);
      if (a == "withcode" && !withcode) {
        withcode = true;
      } else if (a == "libraryname" && !named) {
        if (i + 1 >= argv.size()) return reply_err(c, "library name argument was not given");
        named = true;
        ++i;
      } else {
        return reply_err(c, "Unknown argument " + std::string(argv[i]));
      }
    }
    return reply_array(c, 0);
  }
  if (sub == "load" || sub == "delete" || sub == "dump" || sub == "restore" || sub == "kill" || sub == "stats" ||
      sub == "help")
    return reply_err(c, "FUNCTION " + sub + " is not supported: ipc-managerd has no scripting engine");
  reply_err(c, "unknown subcommand '" + std::string(argv[1].substr(0, 128)) + "'. Try FUNCTION HELP.");
}

bool Server::password_matches(std::string_view pass) const {
  if (m_opts.requirepass.empty()) return false;
  // detail::secret_equal compares keyed digests of both: neither an early exit nor a length
  // check tells how close a guess came (Redis's time_independent_strcmp).
  return detail::secret_equal(pass, m_opts.requirepass);
}

namespace {
bool check_password(Server& srv, Client& c, std::string_view user, std::string_view pass) {
  bool match = srv.password_matches(pass);  // computed for any user name: the time is the same
  if (user == "default" && match) {
    c.authenticated = true;
    return true;
  }
  c.out.append("-WRONGPASS invalid username-password pair or user is disabled.\r\n");
  return false;
}
}  // namespace

/* AUTH [<username>] <password> */
void cmd_auth(Server& srv, Client& c, Args argv) {
  if (argv.size() > 3) return reply_syntax_error(c);
  if (argv.size() == 2 && srv.auth_password().empty())
    return reply_err(c, "AUTH <password> called without any password configured for the default user. "
                        "Are you sure your configuration is correct?");
  std::string_view user = argv.size() == 3 ? argv[1] : std::string_view("default");
  if (argv.size() == 3 && srv.auth_password().empty()) {
    // No password configured: the default user is "nopass" (any password works for it).
    if (user == "default") return reply_ok(c);
    return (void)c.out.append("-WRONGPASS invalid username-password pair or user is disabled.\r\n");
  }
  if (check_password(srv, c, user, argv.back())) reply_ok(c);
}

namespace {
bool valid_client_name(std::string_view n) {
  for (char ch : n)
    if (ch < '!' || ch > '~') return false;
  return true;
}
}  // namespace

/* HELLO [<protover> [AUTH <username> <password>] [SETNAME <clientname>]] */
void cmd_hello(Server& srv, Client& c, Args argv) {
  std::size_t next = 1;
  int proto = c.resp;
  if (argv.size() >= 2) {
    long long ver;
    if (!parse_ll(argv[1], ver)) return reply_err(c, "Protocol version is not an integer or out of range");
    ++next;
    if (ver < 2 || ver > 3) return reply_error_code(c, "NOPROTO unsupported protocol version");
    proto = static_cast<int>(ver);
  }
  std::string_view user, pass, setname;
  bool has_auth = false, has_name = false;
  for (std::size_t j = next; j < argv.size(); ++j) {
    std::size_t more = argv.size() - 1 - j;
    std::string opt = lower(argv[j]);
    if (opt == "auth" && more >= 2) {
      user = argv[j + 1];
      pass = argv[j + 2];
      has_auth = true;
      j += 2;
    } else if (opt == "setname" && more >= 1) {
      setname = argv[j + 1];
      has_name = true;
      ++j;
    } else {
      return reply_err(c, "Syntax error in HELLO option '" + std::string(argv[j]) + "'");
    }
  }
  if (has_auth && !check_password(srv, c, user, pass)) return;
  if (!c.authenticated)
    return reply_error_code(c, "NOAUTH HELLO must be called with the client already authenticated, otherwise the "
                               "HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and "
                               "select the RESP protocol version at the same time");
  if (has_name) {
    if (!valid_client_name(setname))
      return reply_err(c, "Client names cannot contain spaces, newlines or special characters.");
    c.name = setname;
  }
  c.resp = proto;
  reply_map(c, 7);
  reply_bulk(c, "server");
  reply_bulk(c, "ipc-managerd");
  reply_bulk(c, "version");
  reply_bulk(c, "7.0.0");
  reply_bulk(c, "proto");
  reply_int(c, proto);
  reply_bulk(c, "id");
  reply_int(c, static_cast<long long>(c.id));
  reply_bulk(c, "mode");
  reply_bulk(c, "standalone");
  reply_bulk(c, "role");
  reply_bulk(c, "master");
  reply_bulk(c, "modules");
  reply_array(c, 0);
}

/* INFO [<section> ...] */
void cmd_info(Server& srv, Client& c, Args argv) {
  std::string sections;
  for (std::size_t i = 1; i < argv.size(); ++i) sections += lower(argv[i]) + " ";
  reply_verbatim(c, srv.info(sections));
}

std::string Server::info(std::string_view sections) {
  // Redis 7.0: no argument or "default" = the default sections; "all" adds commandstats;
  // "everything" too; otherwise the named sections (several may be given).
  auto asked = [&](std::string_view name) {
    std::size_t at = 0;
    while (at < sections.size()) {
      std::size_t sp = sections.find(' ', at);
      std::string_view w = sections.substr(at, sp - at);
      if (w == name) return true;
      at = sp == std::string_view::npos ? sections.size() : sp + 1;
    }
    return false;
  };
  bool everything = asked("all") || asked("everything");
  bool deflt = sections.empty() || asked("default") || everything;
  auto want = [&](std::string_view name) { return deflt || asked(name); };
  std::string s;
  auto add = [&](const char* fmt, auto... a) {  // sized to fit: file paths may be long
    int n = std::snprintf(nullptr, 0, fmt, a...);
    if (n <= 0) return;
    std::size_t at = s.size();
    s.resize(at + static_cast<std::size_t>(n) + 1);
    std::snprintf(s.data() + at, static_cast<std::size_t>(n) + 1, fmt, a...);
    s.resize(at + static_cast<std::size_t>(n));
  };
  long long now = now_ms();
  if (want("server")) {
    add("# Server\r\nredis_version:7.0.0\r\nipckit_version:0.1.0\r\nredis_mode:standalone\r\n"
        "os:Linux\r\narch_bits:64\r\nmultiplexing_api:epoll\r\nprocess_id:%d\r\nprocess_supervised:no\r\n"
        "tcp_port:%d\r\nunix_socket:%s\r\nserver_time_usec:%lld\r\nuptime_in_seconds:%lld\r\n"
        "uptime_in_days:%lld\r\nhz:10\r\nconfigured_hz:10\r\nio_threads_active:0\r\n\r\n",
        static_cast<int>(::getpid()), static_cast<int>(m_tcp_port), m_socket_path.c_str(), now * 1000,
        (now - start_ms) / 1000, (now - start_ms) / 86'400'000);
  }
  if (want("clients")) {
    add("# Clients\r\nconnected_clients:%zu\r\ncluster_connections:0\r\nmaxclients:%zu\r\nblocked_clients:%zu\r\n"
        "tracking_clients:0\r\nclients_in_timeout_table:%zu\r\npubsub_clients:%zu\r\n\r\n",
        m_nclients, m_opts.maxclients, m_nblocked, m_block_timeouts.size(), pubsub_client_count());
  }
  if (want("memory")) {
    std::size_t used = used_memory();
    add("# Memory\r\nused_memory:%zu\r\nused_memory_human:%.2fM\r\nused_memory_peak:%zu\r\nmaxmemory:%zu\r\n"
        "maxmemory_human:%.2fM\r\nmaxmemory_policy:noeviction\r\nmem_allocator:libc\r\n"
        "lazyfree_pending_objects:0\r\nlazyfreed_objects:0\r\n\r\n",
        used, static_cast<double>(used) / (1024.0 * 1024.0), m_used_memory_peak = std::max(m_used_memory_peak, used),
        m_opts.maxmemory, static_cast<double>(m_opts.maxmemory) / (1024.0 * 1024.0));
  }
  if (want("persistence")) {
    add("# Persistence\r\nloading:0\r\nasync_loading:0\r\nrdb_changes_since_last_save:%lld\r\n"
        "rdb_bgsave_in_progress:%d\r\nrdb_last_save_time:%lld\r\nrdb_last_bgsave_status:%s\r\nsnapshot_file:%s\r\n"
        "aof_enabled:%d\r\naof_file:%s\r\naof_fsync:%s\r\naof_rewrite_in_progress:%d\r\naof_rewrite_scheduled:0\r\n"
        "aof_rewrites:%lld\r\naof_last_bgrewrite_status:%s\r\naof_last_write_status:%s\r\naof_current_size:%zu\r\n"
        "aof_base_size:%zu\r\naof_buffer_length:%zu\r\n\r\n",
        changes_since_save, bgsave_child > 0 ? 1 : 0, last_save_ms / 1000, last_bgsave_ok ? "ok" : "err",
        m_opts.snapshot.c_str(), m_aof_fd ? 1 : 0, m_opts.appendonly.c_str(),
        m_opts.appendfsync == FsyncPolicy::always ? "always"
        : m_opts.appendfsync == FsyncPolicy::everysec ? "everysec" : "no",
        aof_rewrite_child > 0 ? 1 : 0, aof_rewrites, last_aof_rewrite_ok ? "ok" : "err",
        m_aof_write_errno == 0 && !(m_aof_syncer && m_aof_syncer->fsync_errno != 0) ? "ok" : "err", m_aof_size,
        m_aof_base_size, m_aof_buf.size());
  }
  if (want("stats")) {
    add("# Stats\r\ntotal_connections_received:%lld\r\ntotal_commands_processed:%lld\r\n"
        "rejected_connections:%lld\r\nexpired_keys:%lld\r\nevicted_keys:0\r\nkeyspace_hits:%lld\r\n"
        "keyspace_misses:%lld\r\npubsub_channels:%zu\r\npubsub_patterns:%zu\r\ntotal_error_replies:%lld\r\n"
        "unexpected_error_replies:0\r\n\r\n",
        stat_connections, stat_commands, stat_rejected, stat_expired, stat_hits, stat_misses, m_channels.size(),
        m_patterns.size(), stat_total_errors);
  }
  if (want("replication")) {
    if (m_replid.empty())
      for (int i = 0; i < 40; ++i) m_replid += "0123456789abcdef"[random_index(16)];
    s += "# Replication\r\nrole:master\r\nconnected_slaves:" + std::to_string(replica_count()) + "\r\n";
    int n = 0;
    for (Client* r : m_replicas) {
      std::string ip = r->addr.substr(0, r->addr.rfind(':'));
      s += "slave" + std::to_string(n++) + ":ip=" + ip + ",port=0,state=online,offset=" +
           std::to_string(m_repl_offset) + ",lag=0\r\n";
    }
    // No backlog: a replica that reconnects syncs again from a snapshot (no PSYNC).
    s += "master_failover_state:no-failover\r\nmaster_replid:" + m_replid +
         "\r\nmaster_replid2:0000000000000000000000000000000000000000\r\nmaster_repl_offset:" +
         std::to_string(m_repl_offset) +
         "\r\nsecond_repl_offset:-1\r\nrepl_backlog_active:0\r\nrepl_backlog_size:1048576\r\n"
         "repl_backlog_first_byte_offset:0\r\nrepl_backlog_histlen:0\r\n\r\n";
  }
  if (want("cpu")) {
    rusage self{}, children{};
    ::getrusage(RUSAGE_SELF, &self);
    ::getrusage(RUSAGE_CHILDREN, &children);
    auto secs = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; };
    add("# CPU\r\nused_cpu_sys:%.6f\r\nused_cpu_user:%.6f\r\nused_cpu_sys_children:%.6f\r\n"
        "used_cpu_user_children:%.6f\r\n\r\n",
        secs(self.ru_stime), secs(self.ru_utime), secs(children.ru_stime), secs(children.ru_utime));
  }
  if (everything || asked("commandstats")) {
    s += "# Commandstats\r\n";
    for (auto& k : command_table())
      if (k.calls || k.rejected_calls || k.failed_calls)
        add("cmdstat_%s:calls=%lld,usec=0,usec_per_call=0.00,rejected_calls=%lld,failed_calls=%lld\r\n", k.name,
            k.calls, k.rejected_calls, k.failed_calls);
    s += "\r\n";
  }
  if (want("errorstats")) {
    s += "# Errorstats\r\n";
    for (auto& [code, n] : m_errorstats) {
      s += "errorstat_" + code;
      add(":count=%lld\r\n", n);
    }
    s += "\r\n";
  }
  if (want("keyspace")) {
    s += "# Keyspace\r\n";
    for (int i = 0; i < db.count(); ++i)
      if (db.size_of(i)) add("db%d:keys=%zu,expires=%zu,avg_ttl=0\r\n", i, db.size_of(i), db.expires_size_of(i));
    s += "\r\n";
  }
  while (s.size() >= 2 && s.ends_with("\r\n\r\n")) s.resize(s.size() - 2);
  return s;
}

/* SHUTDOWN [NOSAVE | SAVE] */
void cmd_shutdown(Server& srv, Client& c, Args argv) {
  int save = -1;
  for (std::size_t i = 1; i < argv.size(); ++i) {
    std::string o = lower(argv[i]);
    if (o == "nosave") save = 0;
    else if (o == "save") save = 1;
    else if (o == "now" || o == "force" || o == "abort") continue;
    else return reply_syntax_error(c);
  }
  srv.request_shutdown(&c, save);
}

/* CLIENT LIST | SETNAME <name> | GETNAME | ID | INFO */
void cmd_client(Server& srv, Client& c, Args argv) {
  std::string sub = lower(argv[1]);
  auto arity = [&](std::size_t want) {
    if (argv.size() == want) return true;
    reply_arity(c, "client|" + sub);
    return false;
  };
  if (sub == "list") {
    int type = -1;  // 0 normal, 1 pubsub, 2 replica or master (none here)
    std::vector<long long> ids;
    if (argv.size() == 4 && lower(argv[2]) == "type") {
      std::string t = lower(argv[3]);
      if (t == "normal") type = 0;
      else if (t == "pubsub") type = 1;
      else if (t == "master" || t == "replica" || t == "slave") type = 2;
      else return reply_err(c, "Unknown client type '" + std::string(argv[3]) + "'");
    } else if (argv.size() >= 4 && lower(argv[2]) == "id") {
      for (std::size_t i = 3; i < argv.size(); ++i) {
        long long id;
        if (!parse_ll(argv[i], id)) return reply_err(c, "Invalid client ID");
        ids.push_back(id);
      }
    } else if (argv.size() != 2) {
      return reply_syntax_error(c);
    }
    std::string out;
    for (Client* k : srv.find_clients([&](const Client& o) {
           if (type == 2 || (type == 0 && o.subscribed()) || (type == 1 && !o.subscribed())) return false;
           return ids.empty() || std::find(ids.begin(), ids.end(), static_cast<long long>(o.id)) != ids.end();
         }))
      out += srv.client_info(*k);
    reply_verbatim(c, out);
  } else if (sub == "reply") {
    if (!arity(3)) return;
    std::string mode = lower(argv[2]);
    if (mode == "on") {
      c.reply_off = false;
      reply_ok(c);
    } else if (mode == "off") {
      c.reply_off = true;
    } else if (mode == "skip") {
      if (!c.reply_off) c.reply_skip_next = true;
    } else {
      reply_syntax_error(c);
    }
  } else if (sub == "setname") {
    if (!arity(3)) return;
    if (!valid_client_name(argv[2]))
      return reply_err(c, "Client names cannot contain spaces, newlines or special characters.");
    c.name = argv[2];
    reply_ok(c);
  } else if (sub == "getname") {
    if (!arity(2)) return;
    c.name.empty() ? reply_nil(c) : reply_bulk(c, c.name);
  } else if (sub == "id") {
    if (!arity(2)) return;
    reply_int(c, static_cast<long long>(c.id));
  } else if (sub == "info") {
    if (!arity(2)) return;
    reply_verbatim(c, srv.client_info(c));
  } else if (sub == "kill") {
    if (argv.size() < 3) return reply_arity(c, "client|kill");
    if (argv.size() == 3) {  // the old form: CLIENT KILL addr:port
      Client* k = srv.find_client([&](const Client& o) { return o.addr == argv[2]; });
      if (!k) return reply_err(c, "No such client");
      srv.kill_client(*k, c);
      return reply_ok(c);
    }
    long long id = 0;
    std::string_view addr, laddr;
    int type = -1;  // 0 normal, 1 pubsub
    bool skipme = true;
    for (std::size_t i = 2; i < argv.size(); i += 2) {
      if (i + 1 >= argv.size()) return reply_syntax_error(c);
      std::string opt = lower(argv[i]);
      std::string_view val = argv[i + 1];
      if (opt == "id") {
        if (!parse_ll(val, id) || id < 1) return reply_err(c, "client-id should be greater than 0");
      } else if (opt == "addr") {
        addr = val;
      } else if (opt == "laddr") {
        laddr = val;
      } else if (opt == "type") {
        std::string t = lower(val);
        if (t == "normal") type = 0;
        else if (t == "pubsub") type = 1;
        else if (t == "master" || t == "replica" || t == "slave") type = 2;  // there are none
        else return reply_err(c, "Unknown client type '" + std::string(val) + "'");
      } else if (opt == "user") {
        if (val != "default") return reply_err(c, "No such user '" + std::string(val) + "'");
      } else if (opt == "skipme") {
        std::string v = lower(val);
        if (v == "yes") skipme = true;
        else if (v == "no") skipme = false;
        else return reply_syntax_error(c);
      } else {
        return reply_syntax_error(c);
      }
    }
    std::vector<Client*> victims = srv.find_clients([&](const Client& o) {
      if (id && static_cast<long long>(o.id) != id) return false;
      if (!addr.empty() && o.addr != addr) return false;
      if (!laddr.empty() && o.laddr != laddr) return false;
      if (type == 2 || (type == 0 && o.subscribed()) || (type == 1 && !o.subscribed())) return false;
      return !(skipme && &o == &c);
    });
    for (Client* k : victims) srv.kill_client(*k, c);
    reply_int(c, static_cast<long long>(victims.size()));
  } else if (sub == "unblock") {
    if (argv.size() != 3 && argv.size() != 4) return reply_arity(c, "client|unblock");
    long long id;
    if (!parse_ll(argv[2], id)) return reply_not_integer(c);
    bool error = false;
    if (argv.size() == 4) {
      std::string why = lower(argv[3]);
      if (why == "error") error = true;
      else if (why != "timeout") return reply_err(c, "CLIENT UNBLOCK reason should be TIMEOUT or ERROR");
    }
    Client* k = srv.find_client([&](const Client& o) { return static_cast<long long>(o.id) == id && o.blocked; });
    if (!k) return reply_int(c, 0);
    srv.unblock_with(*k, error);
    reply_int(c, 1);
  } else if (sub == "no-evict") {
    if (!arity(3)) return;
    std::string v = lower(argv[2]);
    if (v != "on" && v != "off") return reply_syntax_error(c);
    reply_ok(c);  // nothing is evicted here (noeviction)
  } else {
    reply_err(c, "unknown subcommand '" + std::string(argv[1].substr(0, 128)) + "'. Try CLIENT HELP.");
  }
}

namespace {

// COMMAND INFO and COMMAND DOCS entries of redis-server 7.0.15 for the commands served, in RESP3.
struct CommandDoc {
  const char* name;
  std::string_view info, docs;
};
const CommandDoc kCommandDocs[] = {
#include "commands.inc"
};

const CommandDoc* find_doc(std::string_view name) {
  for (auto& d : kCommandDocs)
    if (name == d.name) return &d;
  return nullptr;
}

// Copies one RESP3 value from `in` at `pos` to `out` as RESP2 (maps become flat arrays, sets
// arrays); returns the position after it. The input is our own generated table: well formed.
std::size_t resp3_to_resp2(std::string_view in, std::size_t pos, std::string& out) {
  std::size_t eol = in.find("\r\n", pos);
  char t = in[pos];
  long long n = 0;
  std::string_view num = in.substr(pos + 1, eol - pos - 1);
  parse_ll(num, n);
  std::size_t next = eol + 2;
  switch (t) {
    case '$':
      out.append(in.substr(pos, next - pos + static_cast<std::size_t>(n) + 2));
      return next + static_cast<std::size_t>(n) + 2;
    case '%':
    case '~':
    case '*': {
      long long elems = t == '%' ? n * 2 : n;
      out += '*';
      out += std::to_string(elems);
      out += "\r\n";
      for (long long i = 0; i < elems; ++i) next = resp3_to_resp2(in, next, out);
      return next;
    }
    default:
      out.append(in.substr(pos, next - pos));
      return next;
  }
}

void reply_resp3(Client& c, std::string_view raw) {
  if (c.resp == 3)
    c.out.append(raw);
  else
    resp3_to_resp2(raw, 0, c.out);
}

}  // namespace

/* COMMAND [COUNT | INFO [<name> ...] | DOCS [<name> ...] | LIST | GETKEYS ...] */
void cmd_command(Server& srv, Client& c, Args argv) {
  auto table = command_table();
  if (argv.size() == 1) {
    reply_array(c, table.size());
    for (auto& k : table) reply_resp3(c, find_doc(k.name)->info);
    return;
  }
  std::string sub = lower(argv[1]);
  if (sub == "count" && argv.size() == 2) {
    reply_int(c, static_cast<long long>(table.size()));
  } else if (sub == "info") {
    if (argv.size() == 2) {
      reply_array(c, table.size());
      for (auto& k : table) reply_resp3(c, find_doc(k.name)->info);
      return;
    }
    reply_array(c, argv.size() - 2);
    for (std::size_t i = 2; i < argv.size(); ++i) {
      const Command* k = srv.lookup(argv[i]);
      k ? reply_resp3(c, find_doc(k->name)->info) : reply_nil_array(c);
    }
  } else if (sub == "docs") {
    std::vector<const CommandDoc*> docs;
    if (argv.size() == 2) {
      for (auto& k : table) docs.push_back(find_doc(k.name));
    } else {
      for (std::size_t i = 2; i < argv.size(); ++i)
        if (const Command* k = srv.lookup(argv[i])) docs.push_back(find_doc(k->name));
    }
    reply_map(c, docs.size());
    for (auto* d : docs) {
      reply_bulk(c, d->name);
      reply_resp3(c, d->docs);
    }
  } else if (sub == "list" && argv.size() == 2) {
    reply_array(c, table.size());
    for (auto& k : table) reply_bulk(c, k.name);
  } else if (sub == "count" || sub == "list") {
    reply_arity(c, "command|" + sub);
  } else {
    reply_err(c, "unknown subcommand '" + std::string(argv[1].substr(0, 128)) + "'. Try COMMAND HELP.");
  }
}

namespace {

std::string fsync_name(FsyncPolicy p) {
  return p == FsyncPolicy::always ? "always" : p == FsyncPolicy::everysec ? "everysec" : "no";
}

// Parses a memory amount the way Redis's memtoull does: digits and an optional unit (b, k, kb,
// m, mb, g, gb; any case). False otherwise.
bool parse_memory(std::string_view s, std::size_t& out) {
  std::size_t digits = 0;
  while (digits < s.size() && s[digits] >= '0' && s[digits] <= '9') ++digits;
  if (digits == 0) return false;
  std::string unit = lower(s.substr(digits));
  unsigned long long mul = 1;
  if (unit.empty() || unit == "b") mul = 1;
  else if (unit == "k") mul = 1000;
  else if (unit == "kb") mul = 1024;
  else if (unit == "m") mul = 1000ull * 1000;
  else if (unit == "mb") mul = 1024ull * 1024;
  else if (unit == "g") mul = 1000ull * 1000 * 1000;
  else if (unit == "gb") mul = 1024ull * 1024 * 1024;
  else return false;
  unsigned long long v = 0;
  auto r = std::from_chars(s.data(), s.data() + digits, v);
  if (r.ec != std::errc() || v > ~0ull / mul) return false;
  out = static_cast<std::size_t>(v * mul);
  return true;
}

// Redis 7.0's old names of the representation thresholds, shown and set as the new ones.
const std::pair<const char*, const char*> kTunableAliases[] = {
    {"hash-max-ziplist-entries", "hash-max-listpack-entries"},
    {"hash-max-ziplist-value", "hash-max-listpack-value"},
    {"list-max-ziplist-size", "list-max-listpack-size"},
    {"zset-max-ziplist-entries", "zset-max-listpack-entries"},
    {"zset-max-ziplist-value", "zset-max-listpack-value"},
};

// The parameters CONFIG GET shows, with their current values.
std::vector<std::pair<std::string, std::string>> config_params(Server& srv) {
  const auto& o = srv.options();
  std::vector<std::pair<std::string, std::string>> tunables;
  for (auto& [name, v] : o.encoding_tunables) tunables.emplace_back(name, std::to_string(v));
  for (auto [alias, name] : kTunableAliases)
    tunables.emplace_back(alias, std::to_string(o.encoding_tunables.find(std::string_view(name))->second));
  std::string save;
  for (auto& [secs, changes] : o.save_points)
    save += (save.empty() ? "" : " ") + std::to_string(secs) + " " + std::to_string(changes);
  std::vector<std::pair<std::string, std::string>> params = {
      {"save", save},
      {"appendonly", o.appendonly.empty() ? "no" : "yes"},
      {"appendfsync", fsync_name(o.appendfsync)},
      {"maxclients", std::to_string(o.maxclients)},
      {"maxmemory", std::to_string(o.maxmemory)},
      {"maxmemory-policy", "noeviction"},
      {"proto-max-bulk-len", std::to_string(o.proto_max_bulk_len)},
      {"client-query-buffer-limit", std::to_string(o.client_query_buffer_limit)},
      {"databases", std::to_string(o.databases)},
      {"port", std::to_string(srv.tcp_port())},
      {"unixsocket", srv.socket_path()},
      {"dbfilename", o.snapshot},
      {"auto-aof-rewrite-percentage", std::to_string(o.auto_aof_rewrite_percentage)},
      {"auto-aof-rewrite-min-size", std::to_string(o.auto_aof_rewrite_min_size)},
      {"notify-keyspace-events", keyspace_events_string(o.notify_keyspace_events)},
      {"min-replicas-to-write", std::to_string(o.min_replicas_to_write)},
      {"min-slaves-to-write", std::to_string(o.min_replicas_to_write)},
      {"min-replicas-max-lag", std::to_string(o.min_replicas_max_lag)},
      {"min-slaves-max-lag", std::to_string(o.min_replicas_max_lag)},
      {"repl-ping-replica-period", std::to_string(o.repl_ping_replica_period)},
      {"repl-ping-slave-period", std::to_string(o.repl_ping_replica_period)},
  };
  params.insert(params.end(), tunables.begin(), tunables.end());
  return params;
}

// The current name of a representation threshold given by its current or old name.
std::string_view tunable_name(std::string_view name) {
  for (auto [alias, current] : kTunableAliases)
    if (name == alias) return current;
  return name;
}

// Applies one CONFIG SET; returns the reason when the value is refused (empty = applied).
std::string config_set_one(Server& srv, const std::string& name, std::string_view val) {
  Options& o = srv.mutable_options();
  std::size_t mem = 0;
  if (name == "save") {
    std::vector<std::pair<long, long>> points;
    std::vector<std::string> words;
    std::string cur;
    for (char ch : val) {
      if (ch == ' ') {
        if (!cur.empty()) words.push_back(std::move(cur));
        cur.clear();
      } else {
        cur += ch;
      }
    }
    if (!cur.empty()) words.push_back(std::move(cur));
    if (words.size() % 2) return "Invalid save parameters";
    for (std::size_t i = 0; i < words.size(); i += 2) {
      long long a, b;
      if (!parse_ll(words[i], a) || !parse_ll(words[i + 1], b) || a < 1 || b < 0) return "Invalid save parameters";
      points.emplace_back(a, b);
    }
    o.save_points = std::move(points);
  } else if (name == "appendfsync") {
    std::string v = lower(val);
    if (v == "always") o.appendfsync = FsyncPolicy::always;
    else if (v == "everysec") o.appendfsync = FsyncPolicy::everysec;
    else if (v == "no") o.appendfsync = FsyncPolicy::no;
    else return "argument(s) must be one of the following: everysec, always, no";
  } else if (name == "maxclients") {
    long long n;
    if (!parse_ll(val, n)) return "argument couldn't be parsed into an integer";
    if (n < 1 || n > 4'294'967'295LL) return "argument must be between 1 and 4294967295 inclusive";
    o.maxclients = static_cast<std::size_t>(n);
  } else if (name == "maxmemory") {
    if (!parse_memory(val, mem)) return "argument must be a memory value";
    o.maxmemory = mem;
    srv.used_memory();  // the OOM check compares a sample: take a fresh one for the new limit
  } else if (name == "maxmemory-policy") {
    if (lower(val) != "noeviction") return "argument(s) must be one of the following: noeviction";
  } else if (name == "proto-max-bulk-len") {
    if (!parse_memory(val, mem)) return "argument must be a memory value";
    if (mem < 1024 * 1024) return "argument must be between 1048576 and 9223372036854775807 inclusive";
    o.proto_max_bulk_len = mem;
  } else if (name == "client-query-buffer-limit") {
    if (!parse_memory(val, mem)) return "argument must be a memory value";
    if (mem < 1024 * 1024) return "argument must be between 1048576 and 9223372036854775807 inclusive";
    o.client_query_buffer_limit = mem;
  } else if (name == "auto-aof-rewrite-percentage") {
    long long n;
    if (!parse_ll(val, n)) return "argument couldn't be parsed into an integer";
    if (n < 0 || n > 2147483647) return "argument must be between 0 and 2147483647 inclusive";
    o.auto_aof_rewrite_percentage = static_cast<int>(n);
  } else if (auto t = o.encoding_tunables.find(tunable_name(name)); t != o.encoding_tunables.end()) {
    long long n;
    if (t->first.ends_with("-value")) {  // Redis's *-max-listpack-value are memory values ("1kb")
      if (!parse_memory(val, mem) || mem > static_cast<std::size_t>(LLONG_MAX))
        return "argument must be a memory value";
      n = static_cast<long long>(mem);
    } else if (!parse_ll(val, n)) {
      return "argument couldn't be parsed into an integer";
    }
    bool list = t->first == "list-max-listpack-size";
    long long lo = list ? INT_MIN : 0, hi = list || t->first == "list-compress-depth" ? INT_MAX : LLONG_MAX;
    if (n < lo || n > hi)
      return "argument must be between " + std::to_string(lo) + " and " + std::to_string(hi) + " inclusive";
    t->second = n;
    apply_encoding_tunables(o);
  } else if (name == "notify-keyspace-events") {
    int flags = keyspace_events_parse(val);
    if (flags < 0) return "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.";
    o.notify_keyspace_events = flags;
  } else if (name == "min-replicas-to-write" || name == "min-slaves-to-write" || name == "min-replicas-max-lag" ||
             name == "min-slaves-max-lag") {
    long long n;
    if (!parse_ll(val, n)) return "argument couldn't be parsed into an integer";
    if (n < 0 || n > INT_MAX) return "argument must be between 0 and 2147483647 inclusive";
    (name.find("to-write") != std::string::npos ? o.min_replicas_to_write : o.min_replicas_max_lag) = n;
  } else if (name == "repl-ping-replica-period" || name == "repl-ping-slave-period") {
    long long n;
    if (!parse_ll(val, n)) return "argument couldn't be parsed into an integer";
    if (n < 1 || n > INT_MAX) return "argument must be between 1 and 2147483647 inclusive";
    o.repl_ping_replica_period = n;
  } else if (name == "auto-aof-rewrite-min-size") {
    if (!parse_memory(val, mem)) return "argument must be a memory value";
    o.auto_aof_rewrite_min_size = mem;
  } else if (name == "dbfilename") {
    // Redis protects it (enable-protected-configs no, its default) and so does ipc-managerd.
    return "can't set protected config";
  } else {
    // appendonly, databases, port, unixsocket: fixed at start (a restart applies them).
    return "can't set immutable config";
  }
  return {};
}

}  // namespace

/* CONFIG GET <parameter> [<parameter> ...] | CONFIG SET <parameter> <value> [...] | CONFIG RESETSTAT | CONFIG REWRITE */
void cmd_config(Server& srv, Client& c, Args argv) {
  std::string sub = lower(argv[1]);
  if (sub == "get") {
    if (argv.size() < 3) return reply_arity(c, "config|get");
    auto params = config_params(srv);
    std::vector<const std::pair<std::string, std::string>*> hits;
    for (auto& p : params)
      for (std::size_t i = 2; i < argv.size(); ++i)
        if (glob_match(argv[i], p.first, true)) {
          hits.push_back(&p);
          break;
        }
    reply_map(c, hits.size());
    for (auto* p : hits) {
      reply_bulk(c, p->first);
      reply_bulk(c, p->second);
    }
  } else if (sub == "resetstat") {
    if (argv.size() != 2) return reply_arity(c, "config|resetstat");
    srv.stat_commands = srv.stat_connections = srv.stat_rejected = srv.stat_expired = 0;
    srv.stat_hits = srv.stat_misses = srv.stat_rejected_calls = srv.stat_total_errors = 0;
    srv.errorstats().clear();
    for (auto& k : command_table()) k.calls = k.rejected_calls = k.failed_calls = 0;
    reply_ok(c);
  } else if (sub == "set") {
    if (argv.size() < 4 || argv.size() % 2) return reply_arity(c, "config|set");
    auto params = config_params(srv);
    // Check every name first: an unknown one fails the whole command before anything changes.
    for (std::size_t i = 2; i < argv.size(); i += 2) {
      std::string name = lower(argv[i]);
      bool known = false;
      for (auto& p : params) known = known || p.first == name;
      if (!known)
        return reply_err(c, "Unknown option or number of arguments for CONFIG SET - '" + std::string(argv[i]) + "'");
    }
    for (std::size_t i = 2; i < argv.size(); i += 2) {
      std::string why = config_set_one(srv, lower(argv[i]), argv[i + 1]);
      if (!why.empty())
        return reply_err(c, "CONFIG SET failed (possibly related to argument '" + std::string(argv[i]) + "') - " + why);
    }
    reply_ok(c);
  } else if (sub == "rewrite") {
    if (argv.size() != 2) return reply_arity(c, "config|rewrite");
    config_rewrite(srv, c);
  } else {
    reply_err(c, "unknown subcommand '" + std::string(argv[1].substr(0, 128)) + "'. Try CONFIG HELP.");
  }
}

/* SYNC: the client becomes a replica. It gets the keyspace as one bulk, a Redis RDB file (version
   10, the encodings DUMP writes: a redis-server replica loads it), and then every change as Redis
   propagates it (SELECT, MULTI/EXEC around transactions, absolute expiry times, PING). */
void cmd_sync(Server& srv, Client& c, Args) {
  if (c.replica) return;
  srv.attach_replica(c);
}

/* REPLICAOF NO ONE | REPLICAOF <host> <port>: ipc-managerd is always a master (it serves replicas,
   SYNC, but never follows another server), so NO ONE is a no-op and a master address is refused. */
void cmd_replicaof(Server&, Client& c, Args argv) {
  if (lower(argv[1]) == "no" && lower(argv[2]) == "one") return reply_ok(c);
  reply_err(c, "REPLICAOF <host> <port> is not supported: ipc-managerd is always a master");
}

std::string Server::client_info(const Client& k) const {
  long long now = now_ms();
  char flags[16];
  char* f = flags;
  if (k.subscribed()) *f++ = 'P';
  if (k.in_multi) *f++ = 'x';
  if (k.blocked) *f++ = 'b';
  if (k.dirty_cas) *f++ = 'd';
  if (k.close_after_reply) *f++ = 'c';
  if (k.is_unix) *f++ = 'U';
  if (f == flags) *f++ = 'N';
  *f = '\0';
  std::string cmd = "NULL";
  if (k.last_cmd) {
    cmd = k.last_cmd->name;
    if (!k.last_sub.empty()) cmd += "|" + k.last_sub;
  }
  char buf[1024];
  std::snprintf(buf, sizeof buf,
                "id=%llu addr=%s laddr=%s fd=%d name=%s age=%lld idle=%lld flags=%s db=%d sub=%zu psub=%zu "
                "ssub=0 multi=%d qbuf=%zu qbuf-free=%zu argv-mem=0 multi-mem=0 rbs=%zu rbp=0 obl=%zu oll=0 "
                "omem=%zu tot-mem=%zu events=r%s cmd=%s user=default redir=-1 resp=%d\n",
                static_cast<unsigned long long>(k.id), k.addr.c_str(), k.laddr.c_str(), k.fd.get(), k.name.c_str(),
                (now - k.ctime) / 1000, (now - k.last_interaction) / 1000, flags, k.db, k.channels.size(),
                k.patterns.size(), k.in_multi ? static_cast<int>(k.queued.size()) : -1, k.in.size(),
                k.in.capacity() - k.in.size(), k.in.capacity(), k.pending_out(), k.out.capacity(),
                k.in.capacity() + k.out.capacity() + sizeof(Client), k.want_write ? "w" : "", cmd.c_str(), k.resp);
  return buf;
}

std::string Server::client_list() {
  std::string s;
  for (auto& up : m_clients)
    if (up && !up->closing) s += client_info(*up);
  return s;
}

}  // namespace ipc::managerd
