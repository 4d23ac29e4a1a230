// The command table, dispatch (arity, auth, MULTI, OOM), server commands (PING INFO CLIENT ...), logging.
#include "server.hpp"

#include <ipc/detail/hmac.hpp>

#include <malloc.h>
#include <sys/time.h>
#include <unistd.h>

#include <cctype>
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
                        B = kBlocking, X = kNoMulti, L = kLoading;

// name, arity, flags, handler, first key, last key, key step (Redis's redisCommandTable).
const Command kCommands[] = {
    // keys
    {"del", -2, W, cmd_del, 1, -1, 1},
    {"unlink", -2, W | F, cmd_del, 1, -1, 1},
    {"exists", -2, R | F, cmd_exists, 1, -1, 1},
    {"type", 2, R | F, cmd_type, 1, 1, 1},
    {"keys", 2, R, cmd_keys, 0, 0, 0},
    {"scan", -2, R, cmd_scan, 0, 0, 0},
    {"rename", 3, W, cmd_rename, 1, 2, 1},
    {"renamenx", 3, W | F, cmd_renamenx, 1, 2, 1},
    {"dbsize", 1, R | F, cmd_dbsize, 0, 0, 0},
    {"flushall", -1, W, cmd_flushall, 0, 0, 0},
    {"flushdb", -1, W, cmd_flushall, 0, 0, 0},
    {"expire", -3, W | F, cmd_expire, 1, 1, 1},
    {"pexpire", -3, W | F, cmd_pexpire, 1, 1, 1},
    {"expireat", -3, W | F, cmd_expireat, 1, 1, 1},
    {"pexpireat", -3, W | F, cmd_pexpireat, 1, 1, 1},
    {"ttl", 2, R | F, cmd_ttl, 1, 1, 1},
    {"pttl", 2, R | F, cmd_pttl, 1, 1, 1},
    {"persist", 2, W | F, cmd_persist, 1, 1, 1},
    {"select", 2, L | F, cmd_select, 0, 0, 0},
    // strings
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
    {"append", 3, W | M, cmd_append, 1, 1, 1},
    {"strlen", 2, R | F, cmd_strlen, 1, 1, 1},
    // hashes
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
    // lists
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
    {"blpop", -3, W | B, cmd_blpop, 1, -2, 1},
    {"brpop", -3, W | B, cmd_brpop, 1, -2, 1},
    // transactions
    {"multi", 1, F | X | L, cmd_multi, 0, 0, 0},
    {"exec", 1, X | L, cmd_exec, 0, 0, 0},
    {"discard", 1, F | X | L, cmd_discard, 0, 0, 0},
    {"watch", -2, F | X | L, cmd_watch, 1, -1, 1},
    {"unwatch", 1, F | L, cmd_unwatch, 0, 0, 0},
    // persistence
    {"save", 1, A, cmd_save, 0, 0, 0},
    {"bgsave", -1, A, cmd_bgsave, 0, 0, 0},
    {"lastsave", 1, F | L, cmd_lastsave, 0, 0, 0},
    {"bgrewriteaof", 1, A, cmd_bgrewriteaof, 0, 0, 0},
    // server
    {"ping", -1, F, cmd_ping, 0, 0, 0},
    {"echo", 2, F, cmd_echo, 0, 0, 0},
    {"auth", -2, N | F | L, cmd_auth, 0, 0, 0},
    {"hello", -1, N | F | L, cmd_hello, 0, 0, 0},
    {"info", -1, L, cmd_info, 0, 0, 0},
    {"shutdown", -1, A | X | L, cmd_shutdown, 0, 0, 0},
    {"client", -2, L, cmd_client, 0, 0, 0},
    {"command", -1, L, cmd_command, 0, 0, 0},
    {"config", -2, A | L, cmd_config, 0, 0, 0},
    {"quit", -1, N | F | X | L, cmd_quit, 0, 0, 0},
    {"time", 1, F | L, cmd_time, 0, 0, 0},
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

Server::Server(Options opts) : m_opts(std::move(opts)) {
  for (const auto& cmd : kCommands) m_commands.emplace(cmd.name, &cmd);
  start_ms = now_ms();
  last_save_ms = start_ms;
  m_fake.fake = true;
  m_fake.authenticated = true;
  db.on_expired = [this](std::string_view key) {
    ++stat_expired;
    touch_watched(key);
    if (!m_loading) aof_append_strings({"DEL", std::string(key)});
  };
}

void Server::modified(std::string_view key) {
  ++changes_since_save;
  ++total_changes;
  touch_watched(key);
}

void Server::modified_all() {
  ++changes_since_save;
  ++total_changes;
  for (auto& [key, clients] : m_watched)
    if (db.find(key))
      for (Client* w : clients) w->dirty_cas = true;
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
    std::string msg = "unknown command '" + std::string(argv[0].substr(0, 128)) + "', with args beginning with: " + args;
    detail::resp::add_error(c.out, "ERR " + msg);
    if (c.in_multi) c.multi_error = true;
    return;
  }
  int argc = static_cast<int>(argv.size());
  if ((cmd->arity > 0 && cmd->arity != argc) || argc < -cmd->arity) {
    reply_arity(c, cmd->name);
    if (c.in_multi) c.multi_error = true;
    return;
  }
  if (!c.authenticated && !(cmd->flags & kNoAuth)) {
    c.out.append("-NOAUTH Authentication required.\r\n");
    if (c.in_multi) c.multi_error = true;
    return;
  }
  if (m_opts.maxmemory && (cmd->flags & kDenyOom)) {
    // mallinfo2 walks the arenas: sample it every 64 writes or 100 ms (cron) instead of always.
    if ((total_changes & 63) == 0) used_memory();
    if (m_used_memory > m_opts.maxmemory && used_memory() > m_opts.maxmemory) {
      c.out.append("-OOM command not allowed when used memory > 'maxmemory'.\r\n");
      if (c.in_multi) c.multi_error = true;
      return;
    }
  }
  if (m_aof_write_errno != 0 || (m_aof_syncer && m_aof_syncer->fsync_errno != 0) ||
      (!last_bgsave_ok && !m_opts.save_points.empty())) {
    // The disk does not take writes: refuse them, as Redis does (PING too, so that monitoring
    // notices); reads go on.
    bool writes = (cmd->flags & kWrite) || cmd->proc == cmd_ping;
    if (cmd->proc == cmd_exec)
      for (auto& q : c.queued)
        if (const Command* k = lookup(q[0]); k && (k->flags & kWrite)) writes = true;
    if (writes && !m_loading) {
      std::string why = disk_error();
      if (cmd->proc == cmd_exec && c.in_multi) {
        c.in_multi = c.multi_error = false;
        c.queued.clear();
        unwatch_all(c);
        return reply_error_code(c, "EXECABORT Transaction discarded because of: " + why);
      }
      reply_error_code(c, why);
      if (c.in_multi) c.multi_error = true;
      return;
    }
  }
  if (c.in_multi && !(cmd->flags & kNoMulti)) {
    c.queued.emplace_back(argv.begin(), argv.end());
    c.out.append("+QUEUED\r\n", 9);
    return;
  }
  call(c, *cmd, argv);
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
  const std::size_t out_mark = c.out.size();
  const std::size_t log_mark = m_aof_buf.size();
  cmd.proc(*this, c, argv);
  ++cmd.calls;
  ++stat_commands;
  c.last_cmd = &cmd;
  if (m_aof_fd && !m_loading && (cmd.flags & kWrite) && total_changes != before) {
    if (c.propagate.empty())
      aof_append(argv);
    else
      for (auto& p : c.propagate) aof_append_strings(p);
  }
  if (!c.propagate.empty()) c.propagate.clear();
  // The reply acknowledges what was just logged (EXEC: the whole transaction): it waits for the log.
  if (m_aof_buf.size() != log_mark && !c.in_exec) hold_until_logged(c, out_mark);
  if (!m_ready_keys.empty() && !c.in_exec) serve_ready_lists();
}

// ---- server commands ----

/* PING [<message>] */
void cmd_ping(Server&, Client& c, Args argv) {
  if (argv.size() > 2) return reply_arity(c, "ping");
  if (argv.size() == 2) return reply_bulk(c, argv[1]);
  c.out.append("+PONG\r\n", 7);
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
  if (argv.size() >= 2) {
    long long ver;
    if (!parse_ll(argv[1], ver)) return reply_err(c, "Protocol version is not an integer or out of range");
    ++next;
    if (ver != 2) return reply_error_code(c, "NOPROTO sorry, this protocol version is not supported (RESP2 only)");
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
  reply_array(c, 14);
  reply_bulk(c, "server");
  reply_bulk(c, "ipc-managerd");
  reply_bulk(c, "version");
  reply_bulk(c, "7.0.0");
  reply_bulk(c, "proto");
  reply_int(c, 2);
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
  std::string section = argv.size() >= 2 ? lower(argv[1]) : std::string();
  reply_bulk(c, srv.info(section));
}

std::string Server::info(std::string_view section) {
  bool all = section.empty() || section == "all" || section == "everything" || section == "default";
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
  if (all || section == "server") {
    add("# Server\r\nredis_version:7.0.0\r\nipckit_version:0.1.0\r\nredis_mode:standalone\r\n"
        "os:Linux\r\nprocess_id:%d\r\ntcp_port:%d\r\nunix_socket:%s\r\nuptime_in_seconds:%lld\r\n"
        "uptime_in_days:%lld\r\n\r\n",
        static_cast<int>(::getpid()), static_cast<int>(m_tcp_port), m_socket_path.c_str(),
        (now - start_ms) / 1000, (now - start_ms) / 86'400'000);
  }
  if (all || section == "clients") {
    add("# Clients\r\nconnected_clients:%zu\r\nblocked_clients:%zu\r\nmaxclients:%zu\r\n\r\n", m_nclients,
        m_nblocked, m_opts.maxclients);
  }
  if (all || section == "memory") {
    std::size_t used = used_memory();
    add("# Memory\r\nused_memory:%zu\r\nused_memory_human:%.2fM\r\nmaxmemory:%zu\r\nmaxmemory_policy:noeviction\r\n\r\n",
        used, static_cast<double>(used) / (1024.0 * 1024.0), m_opts.maxmemory);
  }
  if (all || section == "persistence") {
    add("# Persistence\r\nloading:0\r\nrdb_changes_since_last_save:%lld\r\nrdb_bgsave_in_progress:%d\r\n"
        "rdb_last_save_time:%lld\r\nrdb_last_bgsave_status:%s\r\nsnapshot_file:%s\r\naof_enabled:%d\r\n"
        "aof_file:%s\r\naof_fsync:%s\r\naof_rewrite_in_progress:%d\r\naof_rewrites:%lld\r\n"
        "aof_last_bgrewrite_status:%s\r\naof_last_write_status:%s\r\naof_current_size:%zu\r\n"
        "aof_base_size:%zu\r\naof_buffer_length:%zu\r\n\r\n",
        changes_since_save, bgsave_child > 0 ? 1 : 0, last_save_ms / 1000, last_bgsave_ok ? "ok" : "err",
        m_opts.snapshot.c_str(), m_aof_fd ? 1 : 0, m_opts.appendonly.c_str(),
        m_opts.appendfsync == FsyncPolicy::always ? "always"
        : m_opts.appendfsync == FsyncPolicy::everysec ? "everysec" : "no",
        aof_rewrite_child > 0 ? 1 : 0, aof_rewrites, last_aof_rewrite_ok ? "ok" : "err",
        m_aof_write_errno == 0 && !(m_aof_syncer && m_aof_syncer->fsync_errno != 0) ? "ok" : "err", m_aof_size,
        m_aof_base_size, m_aof_buf.size());
  }
  if (all || section == "stats") {
    add("# Stats\r\ntotal_connections_received:%lld\r\ntotal_commands_processed:%lld\r\n"
        "rejected_connections:%lld\r\nexpired_keys:%lld\r\nkeyspace_hits:%lld\r\nkeyspace_misses:%lld\r\n\r\n",
        stat_connections, stat_commands, stat_rejected, stat_expired, stat_hits, stat_misses);
  }
  if (all || section == "keyspace") {
    s += "# Keyspace\r\n";
    if (db.size()) add("db0:keys=%zu,expires=%zu,avg_ttl=0\r\n", db.size(), db.expires_size());
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
    reply_bulk(c, srv.client_list());
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
    std::string all = srv.client_list();
    std::string key = "id=" + std::to_string(c.id) + " ";
    std::size_t at = all.find(key);
    reply_bulk(c, at == std::string::npos ? "" : all.substr(at, all.find('\n', at) - at + 1));
  } else {
    reply_err(c, "unknown subcommand '" + std::string(argv[1].substr(0, 128)) + "'. Try CLIENT HELP.");
  }
}

/* COMMAND [COUNT | INFO <name> ... | DOCS | LIST] */
void cmd_command(Server& srv, Client& c, Args argv) {
  auto entry = [&](const Command& k) {
    reply_array(c, 10);
    reply_bulk(c, k.name);
    reply_int(c, k.arity);
    std::vector<const char*> flags;
    if (k.flags & kWrite) flags.push_back("write");
    if (k.flags & kReadonly) flags.push_back("readonly");
    if (k.flags & kDenyOom) flags.push_back("denyoom");
    if (k.flags & kAdmin) flags.push_back("admin");
    if (k.flags & kNoAuth) flags.push_back("no_auth");
    if (k.flags & kFast) flags.push_back("fast");
    if (k.flags & kBlocking) flags.push_back("blocking");
    reply_array(c, flags.size());
    for (auto* f : flags) reply_simple(c, f);
    reply_int(c, k.first_key);
    reply_int(c, k.last_key);
    reply_int(c, k.key_step);
    for (int i = 0; i < 4; ++i) reply_array(c, 0);  // ACL categories, tips, key specs, subcommands
  };
  auto table = command_table();
  if (argv.size() == 1) {
    reply_array(c, table.size());
    for (auto& k : table) entry(k);
    return;
  }
  std::string sub = lower(argv[1]);
  if (sub == "count") {
    reply_int(c, static_cast<long long>(table.size()));
  } else if (sub == "info") {
    reply_array(c, argv.size() - 2);
    for (std::size_t i = 2; i < argv.size(); ++i) {
      const Command* k = srv.lookup(argv[i]);
      k ? entry(*k) : reply_nil_array(c);
    }
  } else if (sub == "list") {
    reply_array(c, table.size());
    for (auto& k : table) reply_bulk(c, k.name);
  } else if (sub == "docs") {
    reply_array(c, 0);
  } else {
    reply_err(c, "unknown subcommand '" + std::string(argv[1].substr(0, 128)) + "'. Try COMMAND HELP.");
  }
}

/* CONFIG GET <parameter> [<parameter> ...] | CONFIG RESETSTAT */
void cmd_config(Server& srv, Client& c, Args argv) {
  std::string sub = lower(argv[1]);
  const auto& o = srv.options();
  if (sub == "get") {
    if (argv.size() < 3) return reply_arity(c, "config|get");
    std::string save;
    for (auto& [secs, changes] : o.save_points)
      save += (save.empty() ? "" : " ") + std::to_string(secs) + " " + std::to_string(changes);
    std::vector<std::pair<std::string, std::string>> params = {
        {"save", save},
        {"appendonly", o.appendonly.empty() ? "no" : "yes"},
        {"appendfsync", o.appendfsync == FsyncPolicy::always ? "always"
                        : o.appendfsync == FsyncPolicy::everysec ? "everysec" : "no"},
        {"maxclients", std::to_string(o.maxclients)},
        {"maxmemory", std::to_string(o.maxmemory)},
        {"maxmemory-policy", "noeviction"},
        {"proto-max-bulk-len", std::to_string(o.proto_max_bulk_len)},
        {"client-query-buffer-limit", std::to_string(o.client_query_buffer_limit)},
        {"databases", "1"},
        {"port", std::to_string(srv.tcp_port())},
        {"unixsocket", srv.socket_path()},
        {"dbfilename", o.snapshot},
    };
    std::vector<const std::pair<std::string, std::string>*> hits;
    for (auto& p : params)
      for (std::size_t i = 2; i < argv.size(); ++i)
        if (glob_match(argv[i], p.first, true)) {
          hits.push_back(&p);
          break;
        }
    reply_array(c, hits.size() * 2);
    for (auto* p : hits) {
      reply_bulk(c, p->first);
      reply_bulk(c, p->second);
    }
  } else if (sub == "resetstat") {
    srv.stat_commands = srv.stat_connections = srv.stat_rejected = srv.stat_expired = 0;
    srv.stat_hits = srv.stat_misses = 0;
    reply_ok(c);
  } else if (sub == "set") {
    reply_err(c, "CONFIG SET is not supported by ipc-managerd: restart it with the option");
  } else {
    reply_err(c, "unknown subcommand '" + std::string(argv[1].substr(0, 128)) + "'. Try CONFIG HELP.");
  }
}

std::string Server::client_list() {
  std::string s;
  long long now = now_ms();
  for (auto& up : m_clients) {
    if (!up || up->closing) continue;
    Client& k = *up;
    char buf[512];
    const char* flags = k.blocked ? "b" : k.in_multi ? "x" : "N";
    std::snprintf(buf, sizeof buf,
                  "id=%llu addr=%s fd=%d name=%s age=%lld idle=%lld flags=%s db=0 multi=%d qbuf=%zu "
                  "obl=%zu omem=%zu events=r cmd=%s user=default resp=2\n",
                  static_cast<unsigned long long>(k.id), k.addr.c_str(), k.fd.get(), k.name.c_str(),
                  (now - k.ctime) / 1000, (now - k.last_interaction) / 1000, flags,
                  k.in_multi ? static_cast<int>(k.queued.size()) : -1, k.in.size(), k.pending_out(),
                  k.out.capacity(), k.last_cmd ? k.last_cmd->name : "NULL");
    s += buf;
  }
  return s;
}

}  // namespace ipc::managerd
