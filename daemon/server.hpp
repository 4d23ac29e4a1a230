// ipc-managerd engine: options, typed store, clients, command table and the server (Redis's server.h).
#pragma once

#include <ipc/detail/resp.hpp>
#include <ipc/detail/unique_fd.hpp>

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <variant>
#include <vector>

namespace ipc::managerd {

using Args = std::span<const std::string_view>;

// ---- options ----

/// How often the append-only log is fsynced.
enum class FsyncPolicy { always, everysec, no };

/// Everything ipc-managerd can be told on its command line.
struct Options {
  std::string socket_path;                     ///< empty = default_socket_path()
  bool unix_socket = true;                     ///< false with --no-unix (TCP only)
  std::string tcp_host;                        ///< empty = no TCP listener
  int tcp_port = 0;                            ///< 0 = pick a free port (tests)
  std::string requirepass;                     ///< empty = no AUTH (Unix socket only)
  std::vector<uid_t> allow_uids;               ///< peers allowed besides our own uid
  std::string snapshot;                        ///< snapshot file, empty = none
  std::vector<std::pair<long, long>> save_points;  ///< (seconds, changes): save when both reached
  bool save_on_shutdown = true;                ///< save the snapshot on SIGTERM/SIGINT
  std::string appendonly;                      ///< append-only log, empty = none
  FsyncPolicy appendfsync = FsyncPolicy::everysec;
  int auto_aof_rewrite_percentage = 100;       ///< rewrite when the log grew this much (0 = never)
  std::size_t auto_aof_rewrite_min_size = 64u * 1024 * 1024;  ///< ... and is at least this large
  std::size_t maxclients = 10000;
  std::size_t maxmemory = 0;                   ///< 0 = unlimited
  std::size_t proto_max_bulk_len = 512u * 1024 * 1024;
  std::size_t client_query_buffer_limit = 1024u * 1024 * 1024;
  std::size_t client_output_buffer_limit = 1024u * 1024 * 1024;  ///< hard limit per client
  std::string logfile;                         ///< empty = stderr
  std::string config_file;                     ///< the file started from (CONFIG REWRITE), empty = none
  bool verbose = false;
  int ready_fd = -1;                           ///< written "1" (then closed) once listening
  std::string port_file;                       ///< written with the TCP port once listening
  int busy_poll_us = 50;                       ///< spin this long for more work before sleeping
  std::function<void()> on_ready;              ///< called once listening (--daemonize reports ready)
  int databases = 16;                          ///< number of databases (SELECT 0 .. databases-1)
  int notify_keyspace_events = 0;              ///< kNotify* classes published (notify-keyspace-events)
  /// min-replicas-to-write / min-replicas-max-lag: with N > 0 (and a lag > 0) writes are refused
  /// (NOREPLICAS), as Redis does with fewer good replicas: ipc-managerd never has replicas.
  long long min_replicas_to_write = 0;
  long long min_replicas_max_lag = 10;
  long long repl_ping_replica_period = 10;    ///< seconds between PINGs in the replication stream
  /// Redis's representation thresholds (hash-max-listpack-entries, set-max-intset-entries ...):
  /// CONFIG GET/SET keep them so that clients tuning Redis work; the hash and zset ones also
  /// decide when a Hash becomes a table (Hash::max_small_*) and a ZSet a skiplist
  /// (ZSet::max_listpack_*), the others leave ours at fixed sizes (see Set).
  std::map<std::string, long long, std::less<>> encoding_tunables = {
      {"hash-max-listpack-entries", 512}, {"hash-max-listpack-value", 64}, {"list-max-listpack-size", -2},
      {"list-compress-depth", 0},         {"set-max-intset-entries", 512}, {"zset-max-listpack-entries", 128},
      {"zset-max-listpack-value", 64}};
};

/// Keyspace notification classes (Redis's NOTIFY_*; notify-keyspace-events letters).
enum : int {
  kNotifyKeyspace = 1 << 0,  ///< K: __keyspace@<db>__:<key> <event>
  kNotifyKeyevent = 1 << 1,  ///< E: __keyevent@<db>__:<event> <key>
  kNotifyGeneric = 1 << 2,   ///< g: DEL EXPIRE RENAME ...
  kNotifyString = 1 << 3,    ///< $
  kNotifyList = 1 << 4,      ///< l
  kNotifySet = 1 << 5,       ///< s
  kNotifyHash = 1 << 6,      ///< h
  kNotifyZset = 1 << 7,      ///< z
  kNotifyExpired = 1 << 8,   ///< x
  kNotifyEvicted = 1 << 9,   ///< e
  kNotifyStream = 1 << 10,   ///< t
  kNotifyKeyMiss = 1 << 11,  ///< m
  kNotifyLoaded = 1 << 12,   ///< module key loaded (never here)
  kNotifyModule = 1 << 13,   ///< d
  kNotifyNew = 1 << 14,      ///< n
  kNotifyAll = kNotifyGeneric | kNotifyString | kNotifyList | kNotifySet | kNotifyHash | kNotifyZset |
               kNotifyExpired | kNotifyEvicted | kNotifyStream | kNotifyModule,  ///< A
};
/// Parses notify-keyspace-events letters; -1 for a letter that is not one.
int keyspace_events_parse(std::string_view s);
/// The canonical letters for `flags` (CONFIG GET).
std::string keyspace_events_string(int flags);

/// Applies the representation thresholds of `o` that this server follows (at start, CONFIG SET).
void apply_encoding_tunables(const Options& o);

/// $XDG_RUNTIME_DIR/ipckit/managerd.sock, or /tmp/ipckit-<uid>/managerd.sock.
std::string default_socket_path();

/// Runs the daemon in this process until SHUTDOWN or SIGTERM/SIGINT. Returns the exit code.
/// Throws std::runtime_error / std::system_error when it cannot start (bad snapshot, socket in use).
int run_server(Options opts);

// ---- logging (the daemon's only global: one log sink per process) ----

enum class LogLevel { debug, info, warning, error };
/// Writes one line to the log (stderr or --logfile).
void log(LogLevel level, std::string_view msg);
/// Opens (or reopens, on SIGHUP) the log file; empty = stderr.
void log_open(const std::string& path);
/// Shows debug lines too.
void log_verbose(bool on);

// ---- values ----

/// Transparent hashing so that lookups by string_view do not allocate.
struct SvHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
struct SvEq {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const noexcept { return a == b; }
};
template <class V>
using StrMap = std::unordered_map<std::string, V, SvHash, SvEq>;

/// A hash value: a small insertion-ordered vector (Redis's listpack: same order on the wire)
/// that turns into a hash table past max_small_entries fields or a max_small_value-byte field or value.
class Hash {
 public:
  /// Redis's hash-max-listpack-entries and hash-max-listpack-value (CONFIG SET changes them):
  /// past either a hash turns into a table, so its field order follows Redis's under any setting.
  /// Process-wide like Redis's server.hash_max_listpack_*; atomic because an embedding process
  /// may run more than one server thread (they then share the setting).
  static inline std::atomic<std::size_t> max_small_entries{512};
  static inline std::atomic<std::size_t> max_small_value{64};
  /// The value of `field`, or nullptr.
  std::string* find(std::string_view field);
  /// Sets `field`; true when it is new.
  bool set(std::string_view field, std::string_view value);
  /// Removes `field`; true when it was there.
  bool remove(std::string_view field);
  std::size_t size() const noexcept { return m_big ? m_big->size() : m_small.size(); }
  bool small() const noexcept { return !m_big; }
  /// Calls f(field, value) for each field, in wire order.
  template <class F>
  void for_each(F&& f) const {
    if (m_big)
      for (auto& [k, v] : *m_big) f(std::string_view(k), std::string_view(v));
    else
      for (auto& [k, v] : m_small) f(std::string_view(k), std::string_view(v));
  }
  /// The big table (nullptr while small), for HSCAN.
  const StrMap<std::string>* big() const noexcept { return m_big.get(); }

 private:
  void convert();
  std::vector<std::pair<std::string, std::string>> m_small;
  std::unique_ptr<StrMap<std::string>> m_big;
};

using List = std::deque<std::string>;

/// One member of a Set: its bytes and its position in the Set's dense index.
struct SetMember {
  std::string value;
  mutable std::size_t slot = 0;
  operator const std::string&() const noexcept { return value; }
  operator std::string_view() const noexcept { return value; }
};
struct SetMemberHash : SvHash {
  using SvHash::operator();
  std::size_t operator()(const SetMember& m) const noexcept { return SvHash::operator()(m.value); }
};
struct SetMemberEq {
  using is_transparent = void;
  static std::string_view sv(std::string_view s) noexcept { return s; }
  static std::string_view sv(const SetMember& m) noexcept { return m.value; }
  template <class A, class B>
  bool operator()(const A& a, const B& b) const noexcept { return sv(a) == sv(b); }
};

/// A set value (t_set.cpp): a hash set that remembers whether every member is an integer and
/// there are at most 512 of them (Redis 7.0's intset, whose members come back sorted by value),
/// plus a dense index of its members so that a random pick is O(1) and exactly uniform.
class Set {
 public:
  static constexpr std::size_t kMaxIntsetEntries = 512;
  using Table = std::unordered_set<SetMember, SetMemberHash, SetMemberEq>;
  Set() = default;
  Set(const Set& o);  ///< rebuilds the index over the copy's own nodes
  Set& operator=(const Set& o);
  Set(Set&&) noexcept = default;  ///< nodes move with the table: the index stays valid
  Set& operator=(Set&&) noexcept = default;
  /// Adds `m`; true when it is new.
  bool add(std::string_view m);
  /// Removes `m`; true when it was there.
  bool remove(std::string_view m);
  bool contains(std::string_view m) const { return m_table.find(m) != m_table.end(); }
  std::size_t size() const noexcept { return m_table.size(); }
  /// True while Redis would keep this set as an intset.
  bool intset() const noexcept { return m_intset; }
  /// The members in Redis's reply order (sorted by value while an intset).
  std::vector<std::string_view> members() const;
  /// A uniformly random member (the set must not be empty).
  const std::string& random() const;
  const Table& table() const noexcept { return m_table; }

 private:
  Table m_table;
  std::vector<const SetMember*> m_dense;  // every member once; SetMember::slot is its index here
  bool m_intset = true;
};

/// A sorted set value (t_zset.cpp): scores by member, and the members ordered by (score, member)
/// as Redis orders them.
class ZSet {
 public:
  /// Redis's zset-max-listpack-entries and zset-max-listpack-value (CONFIG SET changes them):
  /// process-wide and atomic as Hash's. A sorted set is a listpack (to OBJECT ENCODING, DUMP and
  /// ZSCAN) until a new member would pass either, then a skiplist for good, as in Redis.
  static inline std::atomic<std::size_t> max_listpack_entries{128};
  static inline std::atomic<std::size_t> max_listpack_value{64};
  /// Adds `member` or changes its score; true when it is new.
  bool add(std::string_view member, double score);
  /// Removes `member`; true when it was there.
  bool remove(std::string_view member);
  /// The score of `member`, or nullptr.
  const double* score(std::string_view member) const;
  /// The 0-based rank of `member`, which must be present (O(rank)).
  std::size_t rank(std::string_view member) const;
  std::size_t size() const noexcept { return m_scores.size(); }
  /// True while Redis would hold this set as a listpack (see max_listpack_entries).
  bool listpack() const noexcept { return m_listpack; }
  /// (score, member) in ascending order.
  const std::set<std::pair<double, std::string>>& order() const noexcept { return m_order; }
  /// member -> score, the table ZSCAN walks for a skiplist (Redis's zset dict).
  const StrMap<double>& scores() const noexcept { return m_scores; }

 private:
  StrMap<double> m_scores;
  std::set<std::pair<double, std::string>> m_order;
  bool m_listpack = true;
};

/// Parses a score as Redis does (the whole string, no leading space, not NaN). False otherwise.
bool parse_score(std::string_view s, double& out);
/// A score as text that parses back to the same double ("inf", "-inf", %.17g).
std::string format_score(double d);
/// A score as Redis 7.0 holds it in a listpack: integral values in a safe range as integers (-0 as
/// 0), others as format_score does.
std::string listpack_score(double d);

/// The type of a value; the order matches Value::data's alternatives.
enum class Type : std::uint8_t { string = 0, hash = 1, list = 2, set = 3, zset = 4 };

/// Redis's name of a type ("string", "hash", "list", "set", "zset").
const char* type_name(Type t) noexcept;

/// One key's value.
struct Value {
  std::variant<std::string, Hash, List, Set, ZSet> data;
  Type type() const noexcept { return static_cast<Type>(data.index()); }
  std::string& str() { return std::get<0>(data); }
  Hash& hash() { return std::get<1>(data); }
  List& list() { return std::get<2>(data); }
  Set& set() { return std::get<3>(data); }
  ZSet& zset() { return std::get<4>(data); }
};

/// Milliseconds since the epoch (CLOCK_REALTIME), for expiry and LASTSAVE.
long long now_ms() noexcept;

/// The keyspace: `count` databases of values plus their expiry times (Redis's db.c). Every
/// per-key call works on the selected database (SELECT); the others are reached by select().
class Db {
 public:
  /// A keyspace of `count` empty databases, database 0 selected.
  explicit Db(int count = 16);
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  /// Selects database `i` (0 <= i < count()) for the calls that follow.
  void select(int i) noexcept { m_cur = &m_tables[static_cast<std::size_t>(i)]; m_sel = i; }
  int selected() const noexcept { return m_sel; }
  int count() const noexcept { return static_cast<int>(m_tables.size()); }
  /// Exchanges the contents of databases `a` and `b` (SWAPDB).
  void swap_databases(int a, int b) noexcept;
  /// Keys (and keys with an expiry) in database `i`.
  std::size_t size_of(int i) const noexcept { return m_tables[static_cast<std::size_t>(i)].dict.size(); }
  std::size_t expires_size_of(int i) const noexcept { return m_tables[static_cast<std::size_t>(i)].expires.size(); }
  /// Keys in all databases.
  std::size_t total_size() const noexcept;
  /// Deletes every key of every database.
  void clear_all();
  /// The live value of `key` (expired keys are deleted on the way), or nullptr.
  Value* find(std::string_view key);
  /// Inserts or replaces `key` (clears any expiry when `keep_ttl` is false).
  Value& set(std::string_view key, Value v, bool keep_ttl = false);
  /// Adds an empty value of type `t` for `key` (which must not exist).
  Value& add(std::string_view key, Type t);
  /// Deletes `key`; true when it existed.
  bool remove(std::string_view key);
  /// Expiry time of `key` in ms since the epoch, -1 when none.
  long long expire_of(std::string_view key) const;
  /// Sets the expiry of an existing key.
  void set_expire(std::string_view key, long long when_ms);
  /// Removes the expiry; true when there was one.
  bool persist(std::string_view key);
  /// Deletes every key of the selected database.
  void clear();
  /// Exchanges contents (every database) with `o`; the selection stays by number.
  void swap(Db& o) noexcept;
  std::size_t size() const noexcept { return m_cur->dict.size(); }
  std::size_t expires_size() const noexcept { return m_cur->expires.size(); }
  /// Keys with an expiry in all databases.
  std::size_t total_expires() const noexcept;
  /// Deletes a sample of expired keys of every database (cron); returns how many.
  std::size_t active_expire(std::size_t budget);
  StrMap<Value>& dict() noexcept { return m_cur->dict; }
  const StrMap<long long>& expires() const noexcept { return m_cur->expires; }
  /// Called with each key deleted by expiry, its database selected (the server logs a DEL and
  /// touches WATCHes).
  std::function<void(std::string_view)> on_expired;
  /// Called with each key added to the selected database (keyspace event "new").
  std::function<void(std::string_view)> on_added;

 private:
  struct Table {
    StrMap<Value> dict;
    StrMap<long long> expires;
  };
  bool expire_if_needed(std::string_view key);
  std::vector<Table> m_tables;
  Table* m_cur;
  int m_sel = 0;
};

/// `key` qualified by its database ("3:key"), for the indexes that span databases (WATCH, blocked
/// clients); the number ends at the first ':' so any key is unambiguous.
inline std::string db_key(int db, std::string_view key) {
  std::string s = std::to_string(db);
  s += ':';
  s.append(key);
  return s;
}
/// Splits a db_key() back into its database and key.
inline std::pair<int, std::string_view> split_db_key(std::string_view q) {
  std::size_t colon = q.find(':');
  int db = 0;
  for (std::size_t i = 0; i < colon; ++i) db = db * 10 + (q[i] - '0');
  return {db, q.substr(colon + 1)};
}

/// A uniformly random number in [0, n) (0 when n <= 1).
std::size_t random_index(std::size_t n);
/// 64 uniformly random bits.
std::uint64_t random_u64();

/// Redis glob matching (KEYS, SCAN MATCH): *, ?, [a-z], [^x], backslash escapes.
bool glob_match(std::string_view pattern, std::string_view s, bool nocase = false);

// ---- clients ----

/// A growable byte buffer with a read position (a client's input).
class Buffer {
 public:
  /// Makes room for at least `n` more bytes and returns where to write them.
  char* prepare(std::size_t n);
  void commit(std::size_t n) noexcept { m_end += n; }
  void consume(std::size_t n) noexcept {
    m_start += n;
    if (m_start == m_end) m_start = m_end = 0;
  }
  std::string_view view() const noexcept { return {m_data.get() + m_start, m_end - m_start}; }
  std::size_t size() const noexcept { return m_end - m_start; }
  std::size_t capacity() const noexcept { return m_cap; }
  /// Frees the memory when empty and larger than `keep` bytes.
  void shrink(std::size_t keep) noexcept;

 private:
  std::unique_ptr<char[]> m_data;
  std::size_t m_cap = 0, m_start = 0, m_end = 0;
};

struct Command;

/// One connection (Redis's client struct).
struct Client {
  std::uint64_t id = 0;
  detail::UniqueFd fd;  // the connection (none for the replay client)
  bool is_unix = true;
  std::string addr;
  std::string laddr;  // the local address the client connected to
  Buffer in;
  std::string out;
  std::size_t out_sent = 0;
  detail::resp::RequestParser parser;
  std::string name;
  bool authenticated = false;
  int resp = 2;                // protocol version (HELLO 2 / HELLO 3)
  int db = 0;                  // selected database (SELECT)
  bool reply_off = false;      // CLIENT REPLY OFF: replies are dropped
  bool reply_skip = false;     // CLIENT REPLY SKIP: the reply of the running command is dropped
  bool reply_skip_next = false;  // ... set by SKIP itself, for the command after it
  // While the running command's replies are dropped (REPLY OFF/SKIP), the pub/sub pushes it
  // produces still go out (Redis's CLIENT_PUSHING): their [begin, end) ranges in `out`.
  bool silenced = false;
  std::vector<std::pair<std::size_t, std::size_t>> pushes;
  bool close_after_reply = false;
  bool close_asap = false;     // closed without its pending replies (output buffer limit passed)
  bool closing = false;
  bool pending_write = false;  // queued in Server::m_pending_writes
  bool want_write = false;     // EPOLLOUT registered
  bool reading_paused = false; // EPOLLIN removed because the output is backed up
  std::uint32_t events = 0;    // epoll events registered
  bool fake = false;           // AOF replay client: replies are discarded
  // MULTI/EXEC/WATCH
  bool in_multi = false;
  bool multi_error = false;
  bool dirty_cas = false;
  bool in_exec = false;
  std::vector<std::vector<std::string>> queued;
  bool replica = false;  // attached by SYNC: gets the replication stream, its input is ignored
  std::uint32_t queued_flags = 0;  // the union of the queued commands' flags (EXEC is checked with it)
  std::vector<std::string> watched;
  // BLPOP/BRPOP
  bool blocked = false;
  bool block_left = true;
  bool block_wait = false;       // WAIT: replies 0 at the deadline
  long long block_deadline = 0;  // ms since epoch, 0 = forever
  std::vector<std::string> blocked_keys;
  int block_db = 0;              // the database of blocked_keys
  // BLMOVE/BRPOPLPUSH: where the popped element goes (empty = a plain BLPOP/BRPOP/BLMPOP)
  std::string block_target;
  bool block_target_left = false;
  long long block_count = 0;     // BLMPOP: elements to pop (0 = one, reply as BLPOP)
  // SUBSCRIBE/PSUBSCRIBE (pubsub.cpp)
  std::vector<std::string> channels, patterns;
  bool subscribed() const noexcept { return !channels.empty() || !patterns.empty(); }
  // CLIENT LIST
  long long ctime = 0;
  long long last_interaction = 0;
  const Command* last_cmd = nullptr;
  std::string last_sub;  // the subcommand of a container command (CLIENT LIST's cmd=client|info)
  // Commands to log in the append-only file instead of the request (set by handlers).
  std::vector<std::vector<std::string>> propagate;
  // Replies from out[out_held] on acknowledge writes that are not in the log yet: they leave only
  // once the log holds its first `held_until` bytes (written, and fsynced under appendfsync always).
  static constexpr std::size_t kNotHeld = static_cast<std::size_t>(-1);
  std::size_t out_held = kNotHeld;
  std::uint64_t held_until = 0;
  std::size_t pending_out() const noexcept { return out.size() - out_sent; }
};

// ---- commands ----

class Server;
using CommandProc = void (*)(Server&, Client&, Args);

/// Command flags (Redis's CMD_*).
enum : std::uint32_t {
  kWrite = 1u << 0,     ///< may modify the keyspace (logged to the append-only file)
  kReadonly = 1u << 1,
  kDenyOom = 1u << 2,   ///< refused past --maxmemory
  kAdmin = 1u << 3,
  kNoAuth = 1u << 4,    ///< allowed before AUTH
  kFast = 1u << 5,
  kBlocking = 1u << 6,
  kNoQueue = 1u << 7,   ///< runs at once even inside MULTI (MULTI, EXEC, DISCARD, WATCH, QUIT)
  kLoading = 1u << 8,
  kNoMulti = 1u << 9,   ///< refused inside MULTI ("Command not allowed inside a transaction")
  kPubsubOk = 1u << 10,     ///< allowed in a RESP2 connection with subscriptions
  kStale = 1u << 11,
  kNoScript = 1u << 12,
  kContainer = 1u << 13,  ///< has subcommands (CLIENT, CONFIG, ...): CLIENT LIST shows cmd=name|sub
};

/// One entry of the command table (Redis's redisCommand).
struct Command {
  const char* name;  ///< lower case
  int arity;         ///< number of arguments including the name; -N means at least N
  std::uint32_t flags;
  CommandProc proc;
  int first_key, last_key, key_step;
  mutable long long calls = 0;
  mutable long long rejected_calls = 0;  ///< refused before running (arity, auth, MULTI, OOM)
  mutable long long failed_calls = 0;    ///< ran and replied an error
};

/// The command table, for COMMAND and dispatch.
std::span<const Command> command_table();

// ---- reply helpers (all append to the client's output buffer) ----

inline void reply_ok(Client& c) { c.out.append("+OK\r\n", 5); }
/// Replies `-ERR <msg>`; for another error code (WRONGTYPE, EXECABORT, ...) use reply_error_code.
inline void reply_err(Client& c, std::string_view msg) {
  c.out.append("-ERR ", 5);
  c.out.append(msg);
  c.out.append("\r\n", 2);
}
/// Replies `-<msg>`, where `msg` starts with its own code ("WRONGTYPE ...", "MISCONF ...").
inline void reply_error_code(Client& c, std::string_view msg) { detail::resp::add_error(c.out, msg); }
inline void reply_wrongtype(Client& c) {
  c.out.append("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n");
}
inline void reply_int(Client& c, long long n) { detail::resp::add_int(c.out, n); }
inline void reply_bulk(Client& c, std::string_view s) { detail::resp::add_bulk(c.out, s); }
/// A null: `$-1` in RESP2, `_` in RESP3.
inline void reply_nil(Client& c) {
  if (c.resp == 3)
    c.out.append("_\r\n", 3);
  else
    c.out.append("$-1\r\n", 5);
}
/// A null array: `*-1` in RESP2, `_` in RESP3.
inline void reply_nil_array(Client& c) {
  if (c.resp == 3)
    c.out.append("_\r\n", 3);
  else
    c.out.append("*-1\r\n", 5);
}
inline void reply_array(Client& c, std::size_t n) { detail::resp::add_array(c.out, n); }
/// The header of a RESP3 aggregate (`%`, `~`, `>`), or of a RESP2 array of `n * mult` elements.
inline void reply_aggregate(Client& c, char resp3_type, std::size_t n, std::size_t mult) {
  if (c.resp == 3) {
    c.out += resp3_type;
    c.out += std::to_string(n);
    c.out.append("\r\n", 2);
  } else {
    detail::resp::add_array(c.out, n * mult);
  }
}
/// A map of `n` key/value pairs (RESP2: an array of 2n).
inline void reply_map(Client& c, std::size_t n) { reply_aggregate(c, '%', n, 2); }
/// A set of `n` members (RESP2: an array).
inline void reply_set(Client& c, std::size_t n) { reply_aggregate(c, '~', n, 1); }
/// A push message of `n` elements (RESP2: an array).
inline void reply_push(Client& c, std::size_t n) { reply_aggregate(c, '>', n, 1); }
/// A verbatim text (RESP3 `=len txt:...`, RESP2 a bulk string).
void reply_verbatim(Client& c, std::string_view text);
/// A double (RESP3 `,`; RESP2 a bulk string), formatted as Redis does (%.17g, inf, -inf).
void reply_double(Client& c, double d);
inline void reply_simple(Client& c, std::string_view s) { detail::resp::add_simple(c.out, s); }
void reply_not_integer(Client& c);
/// Redis's error for a count of LLONG_MIN (HRANDFIELD, SRANDMEMBER: a count must be negatable).
inline constexpr std::string_view kCountRange =
    "value is out of range, value must between -9223372036854775807 and 9223372036854775807";
void reply_syntax_error(Client& c);
void reply_arity(Client& c, std::string_view name);
/// Formats a long double the way Redis does for INCRBYFLOAT (%.17Lf, trailing zeros cut).
std::string format_long_double(long double v);
/// Parses a long double like Redis's string2ld (no spaces, not NaN). False otherwise.
bool parse_long_double(std::string_view s, long double& out);

// Handlers, one per command, grouped by file (Redis's t_*.c). Each is headed by its usage.
#define IPCKIT_CMD(name) void name(Server& srv, Client& c, Args argv)
// db.cpp
IPCKIT_CMD(cmd_del); IPCKIT_CMD(cmd_exists); IPCKIT_CMD(cmd_type); IPCKIT_CMD(cmd_keys);
IPCKIT_CMD(cmd_scan); IPCKIT_CMD(cmd_rename); IPCKIT_CMD(cmd_renamenx); IPCKIT_CMD(cmd_dbsize);
IPCKIT_CMD(cmd_flushall); IPCKIT_CMD(cmd_expire); IPCKIT_CMD(cmd_pexpire); IPCKIT_CMD(cmd_expireat);
IPCKIT_CMD(cmd_pexpireat); IPCKIT_CMD(cmd_ttl); IPCKIT_CMD(cmd_pttl); IPCKIT_CMD(cmd_persist);
IPCKIT_CMD(cmd_select);
IPCKIT_CMD(cmd_flushdb); IPCKIT_CMD(cmd_swapdb); IPCKIT_CMD(cmd_move); IPCKIT_CMD(cmd_copy);
IPCKIT_CMD(cmd_randomkey); IPCKIT_CMD(cmd_expiretime); IPCKIT_CMD(cmd_pexpiretime); IPCKIT_CMD(cmd_object);
IPCKIT_CMD(cmd_touch); IPCKIT_CMD(cmd_memory); IPCKIT_CMD(cmd_wait); IPCKIT_CMD(cmd_unlink); IPCKIT_CMD(cmd_sscan);
IPCKIT_CMD(cmd_zscan);
// t_string.cpp
IPCKIT_CMD(cmd_get); IPCKIT_CMD(cmd_set); IPCKIT_CMD(cmd_setnx); IPCKIT_CMD(cmd_getset);
IPCKIT_CMD(cmd_mget); IPCKIT_CMD(cmd_mset); IPCKIT_CMD(cmd_msetnx); IPCKIT_CMD(cmd_incr);
IPCKIT_CMD(cmd_decr); IPCKIT_CMD(cmd_incrby); IPCKIT_CMD(cmd_decrby); IPCKIT_CMD(cmd_incrbyfloat);
IPCKIT_CMD(cmd_append); IPCKIT_CMD(cmd_strlen); IPCKIT_CMD(cmd_getdel);
IPCKIT_CMD(cmd_getex); IPCKIT_CMD(cmd_setex); IPCKIT_CMD(cmd_psetex); IPCKIT_CMD(cmd_setrange);
IPCKIT_CMD(cmd_getrange); IPCKIT_CMD(cmd_substr); IPCKIT_CMD(cmd_setbit); IPCKIT_CMD(cmd_getbit);
IPCKIT_CMD(cmd_bitcount); IPCKIT_CMD(cmd_lcs);
// t_hash.cpp
IPCKIT_CMD(cmd_hset); IPCKIT_CMD(cmd_hmset); IPCKIT_CMD(cmd_hget); IPCKIT_CMD(cmd_hmget);
IPCKIT_CMD(cmd_hdel); IPCKIT_CMD(cmd_hexists); IPCKIT_CMD(cmd_hlen); IPCKIT_CMD(cmd_hkeys);
IPCKIT_CMD(cmd_hvals); IPCKIT_CMD(cmd_hgetall); IPCKIT_CMD(cmd_hincrby); IPCKIT_CMD(cmd_hincrbyfloat);
IPCKIT_CMD(cmd_hsetnx); IPCKIT_CMD(cmd_hscan); IPCKIT_CMD(cmd_hstrlen); IPCKIT_CMD(cmd_hrandfield);
// t_list.cpp
IPCKIT_CMD(cmd_lpush); IPCKIT_CMD(cmd_rpush); IPCKIT_CMD(cmd_lpushx); IPCKIT_CMD(cmd_rpushx);
IPCKIT_CMD(cmd_lpop); IPCKIT_CMD(cmd_rpop); IPCKIT_CMD(cmd_llen); IPCKIT_CMD(cmd_lindex);
IPCKIT_CMD(cmd_lset); IPCKIT_CMD(cmd_lrange); IPCKIT_CMD(cmd_linsert); IPCKIT_CMD(cmd_lrem);
IPCKIT_CMD(cmd_ltrim); IPCKIT_CMD(cmd_blpop); IPCKIT_CMD(cmd_brpop);
IPCKIT_CMD(cmd_lmove); IPCKIT_CMD(cmd_blmove); IPCKIT_CMD(cmd_rpoplpush); IPCKIT_CMD(cmd_brpoplpush);
IPCKIT_CMD(cmd_lmpop); IPCKIT_CMD(cmd_blmpop); IPCKIT_CMD(cmd_lpos);
// t_set.cpp
IPCKIT_CMD(cmd_sadd); IPCKIT_CMD(cmd_srem); IPCKIT_CMD(cmd_smembers); IPCKIT_CMD(cmd_sismember);
IPCKIT_CMD(cmd_smismember); IPCKIT_CMD(cmd_scard); IPCKIT_CMD(cmd_spop); IPCKIT_CMD(cmd_srandmember);
IPCKIT_CMD(cmd_smove); IPCKIT_CMD(cmd_sinter); IPCKIT_CMD(cmd_sinterstore); IPCKIT_CMD(cmd_sunion);
IPCKIT_CMD(cmd_sunionstore); IPCKIT_CMD(cmd_sdiff); IPCKIT_CMD(cmd_sdiffstore); IPCKIT_CMD(cmd_sintercard);
// pubsub.cpp
IPCKIT_CMD(cmd_subscribe); IPCKIT_CMD(cmd_psubscribe); IPCKIT_CMD(cmd_unsubscribe);
IPCKIT_CMD(cmd_punsubscribe); IPCKIT_CMD(cmd_publish); IPCKIT_CMD(cmd_pubsub);
// multi.cpp
IPCKIT_CMD(cmd_multi); IPCKIT_CMD(cmd_exec); IPCKIT_CMD(cmd_discard); IPCKIT_CMD(cmd_watch);
IPCKIT_CMD(cmd_unwatch);
// dump.cpp
IPCKIT_CMD(cmd_dump); IPCKIT_CMD(cmd_restore);
// rdb.cpp
IPCKIT_CMD(cmd_save); IPCKIT_CMD(cmd_bgsave); IPCKIT_CMD(cmd_lastsave);
// aof.cpp
IPCKIT_CMD(cmd_bgrewriteaof);
// server.cpp
IPCKIT_CMD(cmd_ping); IPCKIT_CMD(cmd_echo); IPCKIT_CMD(cmd_auth); IPCKIT_CMD(cmd_hello);
IPCKIT_CMD(cmd_info); IPCKIT_CMD(cmd_shutdown); IPCKIT_CMD(cmd_client); IPCKIT_CMD(cmd_command);
IPCKIT_CMD(cmd_config); IPCKIT_CMD(cmd_function); IPCKIT_CMD(cmd_no_scripting); IPCKIT_CMD(cmd_sync); IPCKIT_CMD(cmd_replicaof); IPCKIT_CMD(cmd_quit); IPCKIT_CMD(cmd_time); IPCKIT_CMD(cmd_reset);
// t_zset.cpp
IPCKIT_CMD(cmd_zadd); IPCKIT_CMD(cmd_zincrby); IPCKIT_CMD(cmd_zcard); IPCKIT_CMD(cmd_zscore);
IPCKIT_CMD(cmd_zmscore); IPCKIT_CMD(cmd_zrem); IPCKIT_CMD(cmd_zrange); IPCKIT_CMD(cmd_zrank);
IPCKIT_CMD(cmd_zrevrank);
// sort.cpp
IPCKIT_CMD(cmd_sort); IPCKIT_CMD(cmd_sort_ro);
#undef IPCKIT_CMD

// ---- the server ----

/// Fsyncs the append-only file once a second in a background thread (appendfsync everysec).
struct AofSyncer {
  explicit AofSyncer(int fd);
  ~AofSyncer();
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  std::atomic<bool> dirty{false};
  std::atomic<int> fsync_errno{0};  ///< errno of the last failed fdatasync, 0 after a good one
  int fd;
  std::thread th;

 private:
  void loop();
};

/// The daemon: one epoll loop over the listeners, the clients, a signalfd (networking.cpp);
/// command dispatch (server.cpp); persistence (persistence.cpp: snapshots in rdb.cpp, the
/// append-only log in aof.cpp). Single-threaded.
class Server {
 public:
  explicit Server(Options opts);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Loads persistence, listens and serves until shutdown; returns the exit code.
  int run();

  // ---- used by command handlers ----
  Db db;  ///< every database; the running command's (its client's SELECT) is selected
  const Options& options() const noexcept { return m_opts; }
  /// The options CONFIG SET changes.
  Options& mutable_options() noexcept { return m_opts; }
  /// A key changed: counts a change for autosave and invalidates WATCHes on it.
  void modified(std::string_view key);
  /// Every key of database `db` changed (FLUSHDB, SWAPDB); -1 = of every database (FLUSHALL).
  void modified_all(int db = -1);
  /// Elements were pushed to `key`: clients blocked on it are served after this command.
  void list_pushed(std::string_view key);
  /// Blocks `c` on `keys` (of its database) until an element arrives or `deadline_ms` (0 = forever).
  void block_client(Client& c, Args keys, long long deadline_ms, bool left);
  /// Blocks `c` (WAIT) until `deadline_ms` (0 = forever), then replies 0.
  void block_for_wait(Client& c, long long deadline_ms);
  /// Databases `a` and `b` were swapped: clients blocked on their lists may be served.
  void db_swapped(int a, int b);
  /// Logs `argv` to the append-only log for the selected database (a SELECT first when needed).
  void propagate(const std::vector<std::string>& argv);
  /// Sends `argv`, a change to database `dbid`, to the append-only log (unless `to_aof` is false:
  /// PUBLISH) and to the replicas, each stream with a SELECT first when its database differs;
  /// inside EXEC it is held until the transaction ends (Redis's alsoPropagate).
  void feed(int dbid, Args argv, bool to_aof = true);
  /// Attaches `c` as a replica (SYNC): the keyspace as an RDB file in one bulk, then the replication stream.
  void attach_replica(Client& c);
  std::size_t replica_count() const noexcept { return m_replicas.size(); }
  /// Starts a shutdown; `save` = -1 default, 0 NOSAVE, 1 SAVE. Returns false (and replies) on failure.
  bool request_shutdown(Client* c, int save);
  /// Runs a request (arity, auth, MULTI queueing, OOM check, dispatch, append-only logging).
  void execute(Client& c, Args argv);
  /// Replies the error `msg` (with its code) for a command refused before it ran, counts it
  /// (rejected_calls, errorstats) and aborts the client's transaction (EXECABORT).
  void reject(Client& c, std::string_view msg);
  /// Counts one error reply under its code (INFO errorstats); `msg` starts with the code.
  void count_error(std::string_view msg);
  /// Runs a command without the MULTI/auth checks (EXEC, replay).
  void call(Client& c, const Command& cmd, Args argv);
  /// Looks a command up by name, any case.
  const Command* lookup(std::string_view name) const;
  /// Why writes are refused, as a Redis -MISCONF error (without the '-'): the append-only log
  /// could not be written or fsynced, or the last snapshot failed while save points are set.
  /// Empty while the disk takes writes.
  std::string disk_error() const;
  /// Writes the snapshot now (SAVE / SHUTDOWN). Returns false after logging on failure.
  bool save_snapshot();
  /// Forks a child that writes the snapshot (BGSAVE). Throws std::runtime_error without a
  /// snapshot file or when one runs already, std::system_error when fork fails.
  void bgsave();
  /// Forks a child that writes the keyspace as a new, minimal append-only log; writes made
  /// meanwhile go to the old log and to a buffer appended to the new one before it replaces
  /// the old (BGREWRITEAOF). Throws std::runtime_error without a log, when one runs already or
  /// while the log cannot be written; std::system_error when fork fails.
  void bgrewriteaof();
  /// The INFO text for `section` (empty = default sections).
  std::string info(std::string_view section);
  /// CLIENT LIST text.
  std::string client_list();
  /// The first client for which `pred(client)` holds, or nullptr.
  template <class Pred>
  Client* find_client(Pred&& pred) {
    for (auto& up : m_clients)
      if (up && !up->closing && pred(*up)) return up.get();
    return nullptr;
  }
  /// Every client for which `pred(client)` holds.
  template <class Pred>
  std::vector<Client*> find_clients(Pred&& pred) {
    std::vector<Client*> out;
    for (auto& up : m_clients)
      if (up && !up->closing && pred(*up)) out.push_back(up.get());
    return out;
  }
  /// Closes `k` (CLIENT KILL by `by`): at once, or after this reply when it is `by` itself.
  void kill_client(Client& k, Client& by);
  /// Ends the wait of the blocked client `k` (CLIENT UNBLOCK): as a timeout, or with an error.
  void unblock_with(Client& k, bool error);
  /// One client's CLIENT LIST line (CLIENT INFO).
  std::string client_info(const Client& k) const;
  /// Clients with at least one subscription.
  std::size_t pubsub_client_count() const noexcept { return m_pubsub_clients; }
  /// Memory in use (malloc's view), refreshed now.
  std::size_t used_memory();
  /// Drops every WATCH of `c` (and its dirty flag).
  void unwatch_all(Client& c);
  /// WATCHes `key` for `c`.
  void watch_key(Client& c, std::string_view key);
  /// Marks the clients WATCHing `key` dirty.
  void touch_watched(std::string_view key);
  /// Brackets the writes of one EXEC in the append-only log (MULTI ... EXEC).
  void aof_begin_transaction();
  void aof_end_transaction();

  long long changes_since_save = 0;  ///< keyspace changes since the last snapshot
  long long last_save_ms = 0;        ///< time of the last successful snapshot (or start)
  bool last_bgsave_ok = true;
  pid_t bgsave_child = -1;
  pid_t aof_rewrite_child = -1;
  long long aof_rewrites = 0;          ///< completed log rewrites since start
  bool last_aof_rewrite_ok = true;
  long long stat_commands = 0, stat_connections = 0, stat_rejected = 0, stat_expired = 0;
  long long stat_hits = 0, stat_misses = 0;
  long long stat_rejected_calls = 0, stat_total_errors = 0;
  // ---- pub/sub (pubsub.cpp) ----
  /// Subscribes `c` to `channel` (pattern when `pattern`); false when it already was.
  bool pubsub_subscribe(Client& c, std::string_view channel, bool pattern);
  /// Unsubscribes `c` from `channel`; false when it was not subscribed.
  bool pubsub_unsubscribe(Client& c, std::string_view channel, bool pattern);
  /// Delivers `msg` on `channel` to its subscribers and matching patterns; returns how many got it.
  long long pubsub_publish(std::string_view channel, std::string_view msg);
  /// Publishes the keyspace notification `event` of class `type` for `key` of the selected
  /// database, when notify-keyspace-events asks for that class.
  void notify(int type, std::string_view event, std::string_view key) {
    if (m_opts.notify_keyspace_events & type) notify_slow(type, event, key);
  }
  /// Drops every subscription of `c` without replying (close, RESET).
  void pubsub_drop_client(Client& c);
  const StrMap<std::vector<Client*>>& pubsub_channels() const noexcept { return m_channels; }
  std::size_t pubsub_pattern_count() const noexcept { return m_patterns.size(); }
  /// The errors replied since start or CONFIG RESETSTAT, by code (INFO errorstats).
  std::map<std::string, long long>& errorstats() noexcept { return m_errorstats; }
  long long start_ms = 0;
  long long total_changes = 0;       ///< keyspace changes since start (never reset)
  std::string auth_password() const { return m_opts.requirepass; }
  /// True when `pass` is the configured password; the time taken does not depend on where (or
  /// whether) they differ (Redis's time_independent_strcmp). False without a password.
  bool password_matches(std::string_view pass) const;
  std::size_t client_count() const noexcept { return m_nclients; }
  std::size_t blocked_count() const noexcept { return m_nblocked; }
  std::uint16_t tcp_port() const noexcept { return m_tcp_port; }
  const std::string& socket_path() const noexcept { return m_socket_path; }

 private:
  void notify_slow(int type, std::string_view event, std::string_view key);
  // networking.cpp
  void listen_all();
  /// In a background child (BGSAVE, BGREWRITEAOF): closes its copies of the listening sockets.
  void close_listeners_in_child() noexcept;
  void accept_clients(int lfd, bool is_unix);
  Client* create_client(detail::UniqueFd conn, bool is_unix, std::string addr);
  void read_from_client(Client& c);
  void process_input(Client& c);
  void write_to_client(Client& c);
  void queue_write(Client& c);
  void close_client(Client& c);
  void free_closed_clients();
  void update_events(Client& c);
  void handle_signal();
  void before_sleep();
  void hold_until_logged(Client& c, std::size_t out_mark);
  void cron();
  int next_timeout_ms() const;
  void notify_ready();
  // t_list.cpp (blocking)
  void serve_ready_lists();
  void unblock_client(Client& c);
  void expire_blocked_clients();
  // networking.cpp: run() is set_up(), event_loop(), tear_down()
  void set_up();
  void event_loop();
  void tear_down();
  // persistence.cpp, rdb.cpp, aof.cpp
  void load_persistence();
  void aof_append(Args argv);
  void feed_now(int dbid, Args argv, bool to_aof);
  void ping_replicas();
  void aof_append_strings(const std::vector<std::string>& argv);
  bool aof_flush();
  void aof_commit(std::size_t n);
  void aof_write_failed(int err, const char* what);
  void reap_bgsave();
  void autosave();
  void aof_open_and_replay();
  void aof_seed_from_db();
  void reap_aof_rewrite();
  void aof_remove_stale_rewrites();
  bool finish_aof_rewrite(const std::string& tmp);
  void kill_aof_rewrite();
  std::string aof_rewrite_tmp(pid_t child) const;
  long long m_changes_at_bgsave = 0;
  long long m_bgsave_started_ms = 0;
  long long m_last_bgsave_try = 0;

  Options m_opts;
  detail::UniqueFd m_epoll, m_signalfd, m_unix_fd, m_tcp_fd;
  std::string m_socket_path;
  bool m_own_socket = false;
  std::uint16_t m_tcp_port = 0;
  std::vector<std::unique_ptr<Client>> m_clients;  // indexed by fd
  std::vector<Client*> m_pending_writes;
  std::vector<Client*> m_to_free;
  std::vector<Client*> m_unblocked;  // served blocked clients whose buffered input awaits
  std::size_t m_nclients = 0, m_nblocked = 0;
  std::uint64_t m_next_id = 1;
  StrMap<std::deque<Client*>> m_blocking;  // key -> clients blocked on it, FIFO
  std::vector<std::string> m_ready_keys;
  std::set<std::pair<long long, Client*>> m_block_timeouts;
  std::vector<Client*> m_replicas;  // clients attached by SYNC
  int m_repl_db = -1;                // the database the replication stream is in (-1: say it)
  long long m_repl_offset = 0;       // bytes sent down the replication stream since start
  std::string m_replid;              // this server's replication id (INFO master_replid)
  long long m_repl_pinged_ms = 0;
  struct FeedOp {
    int db;
    std::vector<std::string> argv;
    bool to_aof;
  };
  bool m_in_tx = false;              // inside EXEC: feed() holds the commands in m_tx_ops
  std::vector<FeedOp> m_tx_ops;
  StrMap<std::vector<Client*>> m_watched;  // db-qualified key -> clients WATCHing it
  StrMap<std::vector<Client*>> m_channels; // channel -> subscribers, in subscription order
  std::map<std::string, std::vector<Client*>> m_patterns;  // pattern -> subscribers
  std::map<std::string, long long> m_errorstats;
  int m_aof_db = -1;  // the database the append-only log's last SELECT chose (-1 = none yet)
  StrMap<const Command*> m_commands;
  bool m_shutdown = false;
  int m_shutdown_save = -1;
  bool m_loading = false;
  long long m_last_cron = 0;
  bool m_was_busy = false;
  int m_spin_backoff = 0;  // sleeps left without busy-polling
  std::size_t m_used_memory = 0;
  std::size_t m_used_memory_peak = 0;
  std::size_t m_pubsub_clients = 0;
  long long m_mem_checked_at = 0;
  // append-only log
  detail::UniqueFd m_aof_fd;
  std::string m_aof_buf;            // commands not written to the log yet
  std::uint64_t m_aof_written = 0;  // bytes written to the log since start (m_aof_buf comes after)
  std::uint64_t m_aof_acked = 0;    // ... of which replies may acknowledge (fsynced under always)
  int m_aof_write_errno = 0;        // errno of the last failed write or fsync, 0 once one works
  long long m_aof_error_logged = 0; // when that failure was last logged (ms)
  std::vector<Client*> m_held;      // clients whose next reply waits for the log
  std::size_t m_aof_tx_mark = 0;  // size of m_aof_buf before "MULTI"
  std::unique_ptr<AofSyncer> m_aof_syncer;
  std::size_t m_aof_size = 0;       // bytes in the log file
  std::size_t m_aof_base_size = 0;  // its size after the last rewrite (or at start)
  std::string m_aof_rewrite_buf;    // writes made while a rewrite child runs
  long long m_aof_rewrite_try = 0;  // when the last automatic rewrite started (ms)
  Client m_fake;  // runs replayed commands
};

/// The value at `key` when it has type `T` (nullptr when the key is missing). For another type
/// it replies WRONGTYPE, sets `bad` and returns nullptr.
template <Type T>
auto* find_typed(Server& srv, Client& c, std::string_view key, bool& bad) {
  using V = std::variant_alternative_t<static_cast<std::size_t>(T), decltype(Value::data)>;
  bad = false;
  Value* v = srv.db.find(key);
  if (!v) return static_cast<V*>(nullptr);
  if (v->type() != T) {
    reply_wrongtype(c);
    bad = true;
    return static_cast<V*>(nullptr);
  }
  return &std::get<static_cast<std::size_t>(T)>(v->data);
}

/// Removes `c` from the per-key lists of `index` under each of `keys` (WATCH, BLPOP indexes),
/// dropping keys left with no client.
template <class Index>
void remove_from_index(Index& index, const std::vector<std::string>& keys, Client* c) {
  for (auto& k : keys) {
    auto it = index.find(k);
    if (it == index.end()) continue;
    auto& v = it->second;
    v.erase(std::remove(v.begin(), v.end(), c), v.end());
    if (v.empty()) index.erase(it);
  }
}

/// Snapshot I/O (rdb.cpp), exposed for tests and the fuzz target.
/// Serialises `db` to bytes (magic, version, entries, CRC-64).
std::string snapshot_encode(Db& db);
/// Replaces the contents of `db` with the snapshot in `bytes`. Throws ipc::ProtocolError with a
/// clear message for a corrupt or truncated snapshot; `db` is unchanged then.
void snapshot_decode(std::string_view bytes, Db& db);
/// The checksum a snapshot ends with (CRC-64 of everything before it), little-endian appended.
std::string snapshot_seal(std::string_view body);

}  // namespace ipc::managerd
