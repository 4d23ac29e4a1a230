// The keyspace (Db: lookup, expiry) and the key commands: DEL EXISTS TYPE KEYS SCAN RENAME ...
#include "server.hpp"

#include <cctype>
#include <charconv>
#include <climits>
#include <ctime>
#include <iterator>
#include <random>
#include <type_traits>

namespace ipc::managerd {

using detail::resp::parse_ll;

long long now_ms() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<long long>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

// ---- Db ----

Db::Db(int count) : m_tables(static_cast<std::size_t>(count < 1 ? 1 : count)), m_cur(&m_tables[0]) {}

void Db::swap_databases(int a, int b) noexcept {
  std::swap(m_tables[static_cast<std::size_t>(a)], m_tables[static_cast<std::size_t>(b)]);
}

std::size_t Db::total_size() const noexcept {
  std::size_t n = 0;
  for (auto& t : m_tables) n += t.dict.size();
  return n;
}

std::size_t Db::total_expires() const noexcept {
  std::size_t n = 0;
  for (auto& t : m_tables) n += t.expires.size();
  return n;
}

void Db::clear_all() {
  for (auto& t : m_tables) {
    t.dict.clear();
    t.expires.clear();
  }
}

void Db::swap(Db& o) noexcept {
  m_tables.swap(o.m_tables);
  select(m_sel < count() ? m_sel : 0);
  o.select(o.m_sel < o.count() ? o.m_sel : 0);
}

bool Db::expire_if_needed(std::string_view key) {
  auto& ex = m_cur->expires;
  auto it = ex.find(key);
  if (it == ex.end() || it->second > now_ms()) return false;
  std::string k = it->first;  // the callback may look at the key after erasure
  ex.erase(it);
  m_cur->dict.erase(k);
  if (on_expired) on_expired(k);
  return true;
}

Value* Db::find(std::string_view key) {
  if (!m_cur->expires.empty() && expire_if_needed(key)) return nullptr;
  auto it = m_cur->dict.find(key);
  return it == m_cur->dict.end() ? nullptr : &it->second;
}

Value& Db::set(std::string_view key, Value v, bool keep_ttl) {
  auto& d = m_cur->dict;
  auto it = d.find(key);
  if (it != d.end()) {
    it->second = std::move(v);
    if (!keep_ttl && !m_cur->expires.empty()) m_cur->expires.erase(it->first);
    return it->second;
  }
  Value& added = d.emplace(std::string(key), std::move(v)).first->second;
  if (on_added) on_added(key);
  return added;
}

Value& Db::add(std::string_view key, Type t) {
  Value v;
  switch (t) {
    case Type::string: v.data.emplace<0>(); break;
    case Type::hash: v.data.emplace<1>(); break;
    case Type::list: v.data.emplace<2>(); break;
    case Type::set: v.data.emplace<3>(); break;
    case Type::zset: v.data.emplace<4>(); break;
  }
  Value& added = m_cur->dict.emplace(std::string(key), std::move(v)).first->second;
  if (on_added) on_added(key);
  return added;
}

bool Db::remove(std::string_view key) {
  auto& d = m_cur->dict;
  auto it = d.find(key);
  if (it == d.end()) return false;
  if (!m_cur->expires.empty()) m_cur->expires.erase(it->first);
  d.erase(it);
  return true;
}

long long Db::expire_of(std::string_view key) const {
  auto it = m_cur->expires.find(key);
  return it == m_cur->expires.end() ? -1 : it->second;
}

void Db::set_expire(std::string_view key, long long when_ms) {
  auto& ex = m_cur->expires;
  auto it = ex.find(key);
  if (it != ex.end())
    it->second = when_ms;
  else
    ex.emplace(std::string(key), when_ms);
}

bool Db::persist(std::string_view key) {
  auto& ex = m_cur->expires;
  auto it = ex.find(key);
  if (it == ex.end()) return false;
  ex.erase(it);
  return true;
}

void Db::clear() {
  m_cur->dict.clear();
  m_cur->expires.clear();
}

std::size_t Db::active_expire(std::size_t budget) {
  long long now = now_ms();
  std::size_t total = 0;
  int keep = m_sel;
  for (int i = 0; i < count(); ++i) {
    if (m_tables[static_cast<std::size_t>(i)].expires.empty()) continue;
    select(i);
    std::vector<std::string> dead;
    std::size_t seen = 0;
    for (auto& [k, when] : m_cur->expires) {
      if (when <= now) dead.push_back(k);
      if (++seen >= budget) break;
    }
    for (auto& k : dead) expire_if_needed(k);
    total += dead.size();
  }
  select(keep);
  return total;
}

const char* type_name(Type t) noexcept {
  static const char* names[] = {"string", "hash", "list", "set", "zset"};
  return names[static_cast<int>(t)];
}

// ---- glob matching (Redis util.c stringmatchlen) ----

namespace {

// A faithful port of Redis's stringmatchlen_impl; `skip` stops retrying longer matches once a
// '*' failed (keeps the matcher linear-ish on hostile patterns).
bool glob_impl(const char* p, std::size_t plen, const char* s, std::size_t slen, bool nocase, bool& skip) {
  auto low = [&](char ch) { return nocase ? static_cast<char>(std::tolower(static_cast<unsigned char>(ch))) : ch; };
  // pattern[k] beyond the end reads as NUL, as in the C original.
  auto P = [&](std::size_t k) -> char { return k < plen ? p[k] : '\0'; };
  while (plen && slen) {
    switch (p[0]) {
      case '*':
        while (plen > 1 && p[1] == '*') {
          ++p;
          --plen;
        }
        if (plen == 1) return true;
        while (slen) {
          if (glob_impl(p + 1, plen - 1, s, slen, nocase, skip)) return true;
          if (skip) return false;
          ++s;
          --slen;
        }
        skip = true;
        return false;
      case '?':
        ++s;
        --slen;
        break;
      case '[': {
        ++p;
        --plen;
        bool neg = P(0) == '^';
        if (neg) {
          ++p;
          --plen;
        }
        bool match = false;
        for (;;) {
          if (P(0) == '\\' && plen >= 2) {
            ++p;
            --plen;
            if (p[0] == s[0]) match = true;
          } else if (P(0) == ']') {
            break;
          } else if (plen == 0) {
            --p;
            ++plen;
            break;
          } else if (plen >= 3 && p[1] == '-') {
            char a = low(p[0]), b = low(p[2]), ch = low(s[0]);
            if (a > b) std::swap(a, b);
            p += 2;
            plen -= 2;
            if (ch >= a && ch <= b) match = true;
          } else if (low(p[0]) == low(s[0])) {
            match = true;
          }
          ++p;
          --plen;
        }
        if (neg) match = !match;
        if (!match) return false;
        ++s;
        --slen;
        break;
      }
      case '\\':
        if (plen >= 2) {
          ++p;
          --plen;
        }
        [[fallthrough]];
      default:
        if (low(p[0]) != low(s[0])) return false;
        ++s;
        --slen;
        break;
    }
    ++p;
    --plen;
    if (slen == 0) {
      while (plen && *p == '*') {
        ++p;
        --plen;
      }
      break;
    }
  }
  return plen == 0 && slen == 0;
}

}  // namespace

bool glob_match(std::string_view p, std::string_view s, bool nocase) {
  bool skip = false;
  return glob_impl(p.data(), p.size(), s.data(), s.size(), nocase, skip);
}

namespace {
std::mt19937_64& random_engine() {
  // One generator for the daemon's random picks (RANDOMKEY, SPOP, SRANDMEMBER, HRANDFIELD); the
  // daemon is single-threaded, so a function-local static is safe.
  static std::mt19937_64 gen{std::random_device{}()};
  return gen;
}
}  // namespace

std::size_t random_index(std::size_t n) { return n <= 1 ? 0 : static_cast<std::size_t>(random_engine()() % n); }

std::uint64_t random_u64() { return random_engine()(); }

// ---- shared reply helpers ----

void reply_not_integer(Client& c) { reply_err(c, "value is not an integer or out of range"); }
void reply_syntax_error(Client& c) { reply_err(c, "syntax error"); }
void reply_arity(Client& c, std::string_view name) {
  c.out.append("-ERR wrong number of arguments for '");
  c.out.append(name);
  c.out.append("' command\r\n");
}

// ---- key commands ----

/* DEL <key> [<key> ...] */
void cmd_del(Server& srv, Client& c, Args argv) {
  long long n = 0;
  for (std::size_t i = 1; i < argv.size(); ++i) {
    if (srv.db.find(argv[i]) && srv.db.remove(argv[i])) {
      srv.modified(argv[i]);
      srv.notify(kNotifyGeneric, "del", argv[i]);
      ++n;
    }
  }
  reply_int(c, n);
}

/* EXISTS <key> [<key> ...] */
void cmd_exists(Server& srv, Client& c, Args argv) {
  long long n = 0;
  for (std::size_t i = 1; i < argv.size(); ++i)
    if (srv.db.find(argv[i])) ++n;
  reply_int(c, n);
}

/* TYPE <key> */
void cmd_type(Server& srv, Client& c, Args argv) {
  Value* v = srv.db.find(argv[1]);
  if (!v) return reply_simple(c, "none");
  reply_simple(c, type_name(v->type()));
}

/* KEYS <pattern> */
void cmd_keys(Server& srv, Client& c, Args argv) {
  std::vector<std::string_view> out;
  bool all = argv[1] == "*";
  long long now = now_ms();
  for (auto& [k, v] : srv.db.dict()) {
    if (!all && !glob_match(argv[1], k)) continue;
    long long when = srv.db.expire_of(k);
    if (when >= 0 && when <= now) continue;
    out.push_back(k);
  }
  reply_array(c, out.size());
  for (auto k : out) reply_bulk(c, k);
}

namespace {

// Scans `m` from `cursor`: the cursor is (bucket_count << 32 | next bucket). When the table was
// rehashed since the cursor was handed out, the scan restarts (Redis allows duplicates, never
// misses). Returns the next cursor (0 = done).
template <class Map, class F>
unsigned long long scan_buckets(const Map& m, unsigned long long cursor, long long count, F&& emit) {
  std::size_t bc = m.bucket_count();
  std::size_t idx = 0;
  if (cursor != 0 && (cursor >> 32) == bc) idx = static_cast<std::size_t>(cursor & 0xffffffffu);
  long long emitted = 0, empty_budget = count > LLONG_MAX / 10 ? LLONG_MAX : count * 10;
  while (idx < bc && emitted < count && empty_budget > 0) {
    if (m.bucket_size(idx) == 0) --empty_budget;
    for (auto it = m.begin(idx); it != m.end(idx); ++it) {
      emit(*it);
      ++emitted;
    }
    ++idx;
  }
  return idx >= bc ? 0 : (static_cast<unsigned long long>(bc) << 32) | idx;
}

struct ScanOpts {
  std::string_view match;
  bool has_match = false;
  long long count = 10;
  int type = -1;
};

// Parses [MATCH p] [COUNT n] [TYPE t] from argv[from]; replies and returns false on error.
bool parse_scan_opts(Client& c, Args argv, std::size_t from, ScanOpts& o, bool allow_type) {
  for (std::size_t i = from; i < argv.size(); i += 2) {
    std::string opt(argv[i]);
    for (auto& ch : opt) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    bool has_arg = i + 1 < argv.size();
    if (opt == "count" && has_arg) {
      if (!parse_ll(argv[i + 1], o.count)) {
        reply_not_integer(c);
        return false;
      }
      if (o.count < 1) {
        reply_syntax_error(c);
        return false;
      }
    } else if (opt == "match" && has_arg) {
      o.match = argv[i + 1];
      o.has_match = !(o.match == "*");
    } else if (opt == "type" && has_arg && allow_type) {
      std::string t(argv[i + 1]);
      for (auto& ch : t) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      if (t == "string") o.type = 0;
      else if (t == "hash") o.type = 1;
      else if (t == "list") o.type = 2;
      else if (t == "set") o.type = 3;
      else if (t == "zset") o.type = 4;
      else o.type = 99;  // a Redis type we do not have: nothing matches
    } else {
      reply_syntax_error(c);
      return false;
    }
  }
  return true;
}

bool parse_cursor(Client& c, std::string_view s, unsigned long long& cursor) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), cursor);
  if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size()) {
    reply_err(c, "invalid cursor");
    return false;
  }
  return true;
}

void reply_scan(Client& c, unsigned long long next, const std::vector<std::string>& items) {
  reply_array(c, 2);
  reply_bulk(c, std::to_string(next));
  reply_array(c, items.size());
  for (auto& s : items) reply_bulk(c, s);
}

// The value an HSCAN, SSCAN or ZSCAN walks, checked in Redis's order (cursor, key and its type,
// then the options); nullptr once it replied (an error, or an empty scan for a missing key).
Value* scan_key(Server& srv, Client& c, Args argv, Type type, unsigned long long& cursor, ScanOpts& o) {
  if (!parse_cursor(c, argv[2], cursor)) return nullptr;
  Value* v = srv.db.find(argv[1]);
  if (!v) {
    reply_scan(c, 0, {});
    return nullptr;
  }
  if (v->type() != type) {
    reply_wrongtype(c);
    return nullptr;
  }
  return parse_scan_opts(c, argv, 3, o, false) ? v : nullptr;
}

}  // namespace

/* SCAN <cursor> [MATCH <pattern>] [COUNT <count>] [TYPE <type>] */
void cmd_scan(Server& srv, Client& c, Args argv) {
  unsigned long long cursor;
  ScanOpts o;
  if (!parse_cursor(c, argv[1], cursor) || !parse_scan_opts(c, argv, 2, o, true)) return;
  std::vector<std::string> keys;
  auto next = scan_buckets(srv.db.dict(), cursor, o.count, [&](auto& kv) { keys.push_back(kv.first); });
  std::vector<std::string> out;
  for (auto& k : keys) {
    if (o.has_match && !glob_match(o.match, k)) continue;
    Value* v = srv.db.find(k);
    if (!v || (o.type >= 0 && static_cast<int>(v->type()) != o.type)) continue;
    out.push_back(std::move(k));
  }
  reply_scan(c, next, out);
}

/* HSCAN <key> <cursor> [MATCH <pattern>] [COUNT <count>] */
void cmd_hscan(Server& srv, Client& c, Args argv) {
  unsigned long long cursor;
  ScanOpts o;
  Value* v = scan_key(srv, c, argv, Type::hash, cursor, o);
  if (!v) return;
  std::vector<std::string> out;
  auto emit = [&](std::string_view k, std::string_view val) {
    if (o.has_match && !glob_match(o.match, k)) return;
    out.emplace_back(k);
    out.emplace_back(val);
  };
  unsigned long long next = 0;
  if (const auto* big = v->hash().big())
    next = scan_buckets(*big, cursor, o.count, [&](auto& kv) { emit(kv.first, kv.second); });
  else
    v->hash().for_each(emit);  // small hashes come back whole, as Redis does for listpacks
  reply_scan(c, next, out);
}

/* SSCAN <key> <cursor> [MATCH <pattern>] [COUNT <count>] */
void cmd_sscan(Server& srv, Client& c, Args argv) {
  unsigned long long cursor;
  ScanOpts o;
  Value* v = scan_key(srv, c, argv, Type::set, cursor, o);
  if (!v) return;
  const Set& set = v->set();
  std::vector<std::string> out;
  unsigned long long next = 0;
  if (set.intset()) {  // small integer sets come back whole and sorted, as Redis does for intsets
    for (auto m : set.members())
      if (!o.has_match || glob_match(o.match, m)) out.emplace_back(m);
  } else {
    next = scan_buckets(set.table(), cursor, o.count, [&](const std::string& m) {
      if (!o.has_match || glob_match(o.match, m)) out.push_back(m);
    });
  }
  reply_scan(c, next, out);
}

/* ZSCAN <key> <cursor> [MATCH <pattern>] [COUNT <count>] */
void cmd_zscan(Server& srv, Client& c, Args argv) {
  unsigned long long cursor;
  ScanOpts o;
  Value* v = scan_key(srv, c, argv, Type::zset, cursor, o);
  if (!v) return;
  const ZSet& z = v->zset();
  std::vector<std::string> out;
  unsigned long long next = 0;
  if (z.listpack()) {  // a listpack comes back whole, in order, with the scores as it holds them
    for (auto& [score, m] : z.order()) {
      if (o.has_match && !glob_match(o.match, m)) continue;
      out.push_back(m);
      out.push_back(listpack_score(score));
    }
  } else {
    next = scan_buckets(z.scores(), cursor, o.count, [&](const auto& kv) {
      if (o.has_match && !glob_match(o.match, kv.first)) return;
      out.push_back(kv.first);
      out.push_back(format_score(kv.second));  // ld2string's %.17Lg of the double: the same digits
    });
  }
  reply_scan(c, next, out);
}

namespace {
void rename_generic(Server& srv, Client& c, Args argv, bool nx) {
  Value* src = srv.db.find(argv[1]);
  if (!src) return reply_err(c, "no such key");
  if (argv[1] == argv[2]) return nx ? reply_int(c, 0) : reply_ok(c);
  if (nx && srv.db.find(argv[2])) return reply_int(c, 0);
  long long when = srv.db.expire_of(argv[1]);
  Value moved = std::move(*src);
  srv.db.remove(argv[1]);
  bool is_list = moved.type() == Type::list;
  srv.db.set(argv[2], std::move(moved));
  if (when >= 0) srv.db.set_expire(argv[2], when);
  srv.modified(argv[1]);
  srv.modified(argv[2]);
  srv.notify(kNotifyGeneric, "rename_from", argv[1]);
  srv.notify(kNotifyGeneric, "rename_to", argv[2]);
  if (is_list) srv.list_pushed(argv[2]);
  nx ? reply_int(c, 1) : reply_ok(c);
}
}  // namespace

/* RENAME <key> <newkey> */
void cmd_rename(Server& srv, Client& c, Args argv) { rename_generic(srv, c, argv, false); }

/* RENAMENX <key> <newkey> */
void cmd_renamenx(Server& srv, Client& c, Args argv) { rename_generic(srv, c, argv, true); }

/* DBSIZE */
void cmd_dbsize(Server& srv, Client& c, Args) { reply_int(c, static_cast<long long>(srv.db.size())); }

namespace {
// FLUSHALL/FLUSHDB's [ASYNC|SYNC]; replies and returns false when it is something else.
bool flush_option_ok(Client& c, Args argv) {
  if (argv.size() > 2) {
    reply_syntax_error(c);
    return false;
  }
  if (argv.size() == 2) {
    std::string o(argv[1]);
    for (auto& ch : o) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    if (o != "ASYNC" && o != "SYNC") {
      reply_syntax_error(c);
      return false;
    }
  }
  return true;
}

// A database number argument (SELECT, MOVE, COPY DB, SWAPDB): false after replying when it is
// not an integer (`not_int`) or out of range.
bool parse_db_index(Server& srv, Client& c, std::string_view s, int& out, std::string_view not_int) {
  long long n;
  if (!parse_ll(s, n) || n < INT_MIN || n > INT_MAX) {
    reply_err(c, not_int);
    return false;
  }
  if (n < 0 || n >= srv.db.count()) {
    reply_err(c, "DB index is out of range");
    return false;
  }
  out = static_cast<int>(n);
  return true;
}
}  // namespace

/* FLUSHALL [ASYNC|SYNC] */
void cmd_flushall(Server& srv, Client& c, Args argv) {
  if (!flush_option_ok(c, argv)) return;
  srv.modified_all();
  srv.db.clear_all();
  reply_ok(c);
}

/* FLUSHDB [ASYNC|SYNC] */
void cmd_flushdb(Server& srv, Client& c, Args argv) {
  if (!flush_option_ok(c, argv)) return;
  srv.modified_all(srv.db.selected());
  srv.db.clear();
  reply_ok(c);
}

/* SELECT <index> */
void cmd_select(Server& srv, Client& c, Args argv) {
  int n;
  if (!parse_db_index(srv, c, argv[1], n, "value is not an integer or out of range")) return;
  c.db = n;
  srv.db.select(n);
  reply_ok(c);
}

/* SWAPDB <index1> <index2> */
void cmd_swapdb(Server& srv, Client& c, Args argv) {
  int a, b;
  if (!parse_db_index(srv, c, argv[1], a, "invalid first DB index") ||
      !parse_db_index(srv, c, argv[2], b, "invalid second DB index"))
    return;
  if (a != b) {
    srv.modified_all(a);  // WATCHed keys that existed before or exist after are touched
    srv.modified_all(b);
    srv.db.swap_databases(a, b);
    srv.modified_all(a);
    srv.modified_all(b);
    srv.db_swapped(a, b);
  }
  reply_ok(c);
}

/* MOVE <key> <db> */
void cmd_move(Server& srv, Client& c, Args argv) {
  int src = srv.db.selected(), dst;
  if (!parse_db_index(srv, c, argv[2], dst, "value is not an integer or out of range")) return;
  if (src == dst) return reply_err(c, "source and destination objects are the same");
  Value* v = srv.db.find(argv[1]);
  if (!v) return reply_int(c, 0);
  long long when = srv.db.expire_of(argv[1]);
  srv.db.select(dst);
  if (srv.db.find(argv[1])) {
    srv.db.select(src);
    return reply_int(c, 0);
  }
  // Into the target first, as Redis does (its "new" event comes before "move_from").
  bool is_list = v->type() == Type::list;
  srv.db.set(argv[1], std::move(*v));
  if (when >= 0) srv.db.set_expire(argv[1], when);
  srv.db.select(src);
  srv.db.remove(argv[1]);
  srv.modified(argv[1]);
  srv.notify(kNotifyGeneric, "move_from", argv[1]);
  srv.db.select(dst);
  srv.modified(argv[1]);
  srv.notify(kNotifyGeneric, "move_to", argv[1]);
  if (is_list) srv.list_pushed(argv[1]);
  srv.db.select(src);
  reply_int(c, 1);
}

/* COPY <source> <destination> [DB <destination-db>] [REPLACE] */
void cmd_copy(Server& srv, Client& c, Args argv) {
  int src = srv.db.selected(), dst = src;
  bool replace = false;
  for (std::size_t i = 3; i < argv.size(); ++i) {
    std::string o(argv[i]);
    for (auto& ch : o) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    if (o == "REPLACE") {
      replace = true;
    } else if (o == "DB" && i + 1 < argv.size()) {
      if (!parse_db_index(srv, c, argv[++i], dst, "value is not an integer or out of range")) return;
    } else {
      return reply_syntax_error(c);
    }
  }
  if (src == dst && argv[1] == argv[2]) return reply_err(c, "source and destination objects are the same");
  Value* v = srv.db.find(argv[1]);
  if (!v) return reply_int(c, 0);
  long long when = srv.db.expire_of(argv[1]);
  Value copy;
  std::visit([&](auto& x) {
    using T = std::decay_t<decltype(x)>;
    if constexpr (std::is_same_v<T, Hash>) {
      Hash h;
      x.for_each([&](std::string_view f, std::string_view val) { h.set(f, val); });
      copy.data = std::move(h);
    } else {
      copy.data = x;
    }
  }, v->data);
  srv.db.select(dst);
  if (srv.db.find(argv[2])) {
    if (!replace) {
      srv.db.select(src);
      return reply_int(c, 0);
    }
    srv.db.remove(argv[2]);
  }
  bool is_list = copy.type() == Type::list;
  srv.db.set(argv[2], std::move(copy));
  if (when >= 0) srv.db.set_expire(argv[2], when);
  srv.modified(argv[2]);
  srv.notify(kNotifyGeneric, "copy_to", argv[2]);
  if (is_list) srv.list_pushed(argv[2]);
  srv.db.select(src);
  reply_int(c, 1);
}

/* RANDOMKEY */
void cmd_randomkey(Server& srv, Client& c, Args) {
  auto& d = srv.db.dict();
  for (int tries = 0; tries < 100 && !d.empty(); ++tries) {
    // Random buckets until a non-empty one, then a random key of it, as Redis's dictGetRandomKey
    // (taking the next non-empty bucket instead favours keys after runs of empty ones). The table
    // does not shrink as Redis's does: a sparse one is walked to a random position instead.
    std::size_t bc = d.bucket_count();
    std::string key;
    if (d.size() * 16 < bc) {
      key = std::next(d.begin(), static_cast<long>(random_index(d.size())))->first;
    } else {
      std::size_t b = random_index(bc);
      while (d.bucket_size(b) == 0) b = random_index(bc);
      key = std::next(d.begin(b), static_cast<long>(random_index(d.bucket_size(b))))->first;
    }
    if (srv.db.find(key)) return reply_bulk(c, key);  // expired keys are dropped on the way
  }
  reply_nil(c);
}

/* OBJECT <ENCODING | FREQ | IDLETIME | REFCOUNT | HELP> [<key>] */
void cmd_object(Server& srv, Client& c, Args argv) {
  std::string sub(argv[1]);
  for (auto& ch : sub) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (sub == "help" && argv.size() == 2) {
    static const char* lines[] = {
        "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ENCODING <key>",
        "    Return the kind of internal representation used in order to store the value",
        "    associated with a <key>.",
        "FREQ <key>",
        "    Return the access frequency index of the <key>. The returned integer is",
        "    proportional to the logarithm of the recent access frequency of the key.",
        "IDLETIME <key>",
        "    Return the idle time of the <key>, that is the approximated number of",
        "    seconds elapsed since the last access to the key.",
        "REFCOUNT <key>",
        "    Return the number of references of the value associated with the specified",
        "    <key>.",
        "HELP",
        "    Prints this help.",
    };
    reply_array(c, std::size(lines));
    for (auto* l : lines) reply_simple(c, l);
    return;
  }
  bool known = sub == "encoding" || sub == "freq" || sub == "idletime" || sub == "refcount";
  if (!known) return reply_err(c, "unknown subcommand '" + std::string(argv[1].substr(0, 128)) + "'. Try OBJECT HELP.");
  if (argv.size() != 3) return reply_arity(c, "object|" + sub);
  Value* v = srv.db.find(argv[2]);
  if (!v) return reply_nil(c);
  if (sub == "refcount") return reply_int(c, 1);  // values are never shared here
  if (sub == "idletime") return reply_int(c, 0);  // access times are not tracked (no LRU eviction)
  if (sub == "freq")
    return reply_err(c, "An LFU maxmemory policy is not selected, access frequency not tracked. Please note that "
                        "when switching between policies at runtime LRU and LFU data will take some time to adjust.");
  // Redis's names for the representation Redis would use, which is also ours where we have two.
  switch (v->type()) {
    case Type::string: {
      long long n;
      const std::string& s = v->str();
      if (s.size() <= 20 && parse_ll(s, n)) return reply_bulk(c, "int");
      return reply_bulk(c, s.size() <= 44 ? "embstr" : "raw");
    }
    case Type::hash: return reply_bulk(c, v->hash().small() ? "listpack" : "hashtable");
    case Type::list: return reply_bulk(c, "quicklist");
    case Type::set: return reply_bulk(c, v->set().intset() ? "intset" : "hashtable");
    case Type::zset: return reply_bulk(c, v->zset().listpack() ? "listpack" : "skiplist");
  }
}

namespace {

// Bytes a string of `n` bytes takes in a std::string (heap block past the 15-byte inline buffer).
std::size_t string_bytes(std::size_t n) { return sizeof(std::string) + (n > 15 ? n + 1 : 0); }

// Estimated bytes of `v`: exact for strings, and for containers the mean of the first `samples`
// elements (0 = all) times the size, plus the per-element overhead of our node-based tables.
// Like Redis's objectComputeSize, an estimate that grows with the contents.
std::size_t value_bytes(Value& v, std::size_t samples) {
  auto estimate = [&](std::size_t count, std::size_t node, auto&& for_each) {
    std::size_t seen = 0, bytes = 0;
    for_each([&](std::size_t b) {
      if (samples && seen >= samples) return false;
      bytes += b;
      ++seen;
      return true;
    });
    return seen ? bytes / seen * count + node * count : 0;
  };
  switch (v.type()) {
    case Type::string: return string_bytes(v.str().size());
    case Type::list: {
      auto& l = v.list();
      return sizeof(List) + estimate(l.size(), 0, [&](auto&& add) {
        for (auto& e : l) if (!add(string_bytes(e.size()))) break;
      });
    }
    case Type::hash: {
      auto& h = v.hash();
      std::size_t node = h.small() ? 0 : 2 * sizeof(void*) + sizeof(std::size_t);
      return sizeof(Hash) + estimate(h.size(), node, [&](auto&& add) {
        bool go = true;
        h.for_each([&](std::string_view f, std::string_view x) {
          if (go) go = add(string_bytes(f.size()) + string_bytes(x.size()));
        });
      });
    }
    case Type::set: {
      auto& t = v.set().table();
      return sizeof(Set) + estimate(t.size(), 2 * sizeof(void*) + sizeof(std::size_t), [&](auto&& add) {
        for (auto& m : t) if (!add(string_bytes(m.value.size()) + 2 * sizeof(void*))) break;
      });
    }
    case Type::zset: {  // each member is in the score table and in the ordered tree
      auto& o = v.zset().order();
      return sizeof(ZSet) + estimate(o.size(), 6 * sizeof(void*) + 2 * sizeof(double), [&](auto&& add) {
        for (auto& e : o) if (!add(2 * string_bytes(e.second.size()))) break;
      });
    }
  }
  return 0;
}

}  // namespace

/* MEMORY USAGE <key> [SAMPLES <count>] | MEMORY HELP */
void cmd_memory(Server& srv, Client& c, Args argv) {
  std::string sub(argv[1]);
  for (auto& ch : sub) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (sub == "help" && argv.size() == 2) {
    static const char* lines[] = {
        "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "USAGE <key> [SAMPLES <count>]",
        "    Return memory in bytes used by <key> and its value. Nested values are",
        "    sampled up to <count> times (default: 5, 0 means sample all).",
        "HELP",
        "    Prints this help.",
    };
    reply_array(c, std::size(lines));
    for (auto* l : lines) reply_simple(c, l);
    return;
  }
  if (sub != "usage") return reply_err(c, "unknown subcommand '" + std::string(argv[1].substr(0, 128)) + "'. Try MEMORY HELP.");
  if (argv.size() < 3) return reply_arity(c, "memory|usage");
  long long samples = 5;
  for (std::size_t i = 3; i < argv.size(); i += 2) {  // SAMPLES <count> pairs
    std::string a(argv[i]);
    for (auto& ch : a) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (a != "samples" || i + 1 >= argv.size()) return reply_syntax_error(c);
    if (!parse_ll(argv[i + 1], samples)) return reply_not_integer(c);
    if (samples < 0) return reply_syntax_error(c);
  }
  Value* v = srv.db.find(argv[2]);
  if (!v) return reply_nil(c);
  std::size_t key_bytes = string_bytes(argv[2].size()) + 2 * sizeof(void*);  // the key and its table node
  reply_int(c, static_cast<long long>(key_bytes + value_bytes(*v, static_cast<std::size_t>(samples))));
}

/* TOUCH <key> [<key> ...] */
void cmd_touch(Server& srv, Client& c, Args argv) { cmd_exists(srv, c, argv); }

/* UNLINK <key> [<key> ...] */
void cmd_unlink(Server& srv, Client& c, Args argv) { cmd_del(srv, c, argv); }

/* WAIT <numreplicas> <timeout> (there are no replicas: 0, after the timeout when some were asked for) */
void cmd_wait(Server& srv, Client& c, Args argv) {
  long long want, timeout;
  if (!parse_ll(argv[1], want)) return reply_not_integer(c);
  if (!parse_ll(argv[2], timeout)) return reply_err(c, "timeout is not an integer or out of range");
  if (timeout < 0) return reply_err(c, "timeout is negative");
  if (want <= 0 || c.in_exec) return reply_int(c, 0);
  srv.block_for_wait(c, timeout ? now_ms() + timeout : 0);
}

namespace {

// EXPIRE family (Redis expireGenericCommand): `base` is added to the time, `unit` 1000 for s.
void expire_generic(Server& srv, Client& c, Args argv, long long base, long long unit) {
  enum { NX = 1, XX = 2, GT = 4, LT = 8 };
  int flags = 0;
  for (std::size_t i = 3; i < argv.size(); ++i) {
    std::string o(argv[i]);
    for (auto& ch : o) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    if (o == "NX") flags |= NX;
    else if (o == "XX") flags |= XX;
    else if (o == "GT") flags |= GT;
    else if (o == "LT") flags |= LT;
    else return reply_err(c, "Unsupported option " + std::string(argv[i]));
  }
  if ((flags & NX) && (flags & (XX | GT | LT)))
    return reply_err(c, "NX and XX, GT or LT options at the same time are not compatible");
  if ((flags & GT) && (flags & LT)) return reply_err(c, "GT and LT options at the same time are not compatible");
  long long when;
  if (!parse_ll(argv[2], when)) return reply_not_integer(c);
  std::string cmdname(argv[0]);
  for (auto& ch : cmdname) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (when > LLONG_MAX / unit || when < LLONG_MIN / unit)
    return reply_err(c, "invalid expire time in '" + cmdname + "' command");
  when *= unit;
  if ((when > 0 && base > LLONG_MAX - when) || (when < 0 && base < LLONG_MIN - when))
    return reply_err(c, "invalid expire time in '" + cmdname + "' command");
  when += base;
  if (!srv.db.find(argv[1])) return reply_int(c, 0);
  long long cur = srv.db.expire_of(argv[1]);
  if ((flags & NX) && cur >= 0) return reply_int(c, 0);
  if ((flags & XX) && cur < 0) return reply_int(c, 0);
  if ((flags & GT) && (cur < 0 || when <= cur)) return reply_int(c, 0);
  if ((flags & LT) && cur >= 0 && when >= cur) return reply_int(c, 0);
  if (when <= now_ms()) {
    srv.db.remove(argv[1]);
    c.propagate.push_back({"DEL", std::string(argv[1])});
    srv.notify(kNotifyGeneric, "del", argv[1]);
  } else {
    srv.db.set_expire(argv[1], when);
    c.propagate.push_back({"PEXPIREAT", std::string(argv[1]), std::to_string(when)});
    srv.notify(kNotifyGeneric, "expire", argv[1]);
  }
  srv.modified(argv[1]);
  reply_int(c, 1);
}

void ttl_generic(Server& srv, Client& c, Args argv, bool ms) {
  if (!srv.db.find(argv[1])) return reply_int(c, -2);
  long long when = srv.db.expire_of(argv[1]);
  if (when < 0) return reply_int(c, -1);
  long long left = when - now_ms();
  if (left < 0) left = 0;
  reply_int(c, ms ? left : (left + 500) / 1000);
}

}  // namespace

/* EXPIRE <key> <seconds> [NX|XX|GT|LT] */
void cmd_expire(Server& srv, Client& c, Args argv) { expire_generic(srv, c, argv, now_ms(), 1000); }
/* PEXPIRE <key> <milliseconds> [NX|XX|GT|LT] */
void cmd_pexpire(Server& srv, Client& c, Args argv) { expire_generic(srv, c, argv, now_ms(), 1); }
/* EXPIREAT <key> <unix-time-seconds> [NX|XX|GT|LT] */
void cmd_expireat(Server& srv, Client& c, Args argv) { expire_generic(srv, c, argv, 0, 1000); }
/* PEXPIREAT <key> <unix-time-milliseconds> [NX|XX|GT|LT] */
void cmd_pexpireat(Server& srv, Client& c, Args argv) { expire_generic(srv, c, argv, 0, 1); }
/* EXPIRETIME <key> */
void cmd_expiretime(Server& srv, Client& c, Args argv) {
  if (!srv.db.find(argv[1])) return reply_int(c, -2);
  long long when = srv.db.expire_of(argv[1]);
  reply_int(c, when < 0 ? -1 : (when + 500) / 1000);
}

/* PEXPIRETIME <key> */
void cmd_pexpiretime(Server& srv, Client& c, Args argv) {
  if (!srv.db.find(argv[1])) return reply_int(c, -2);
  reply_int(c, srv.db.expire_of(argv[1]));
}

/* TTL <key> */
void cmd_ttl(Server& srv, Client& c, Args argv) { ttl_generic(srv, c, argv, false); }
/* PTTL <key> */
void cmd_pttl(Server& srv, Client& c, Args argv) { ttl_generic(srv, c, argv, true); }

/* PERSIST <key> */
void cmd_persist(Server& srv, Client& c, Args argv) {
  if (!srv.db.find(argv[1])) return reply_int(c, 0);
  if (!srv.db.persist(argv[1])) return reply_int(c, 0);
  srv.modified(argv[1]);
  srv.notify(kNotifyGeneric, "persist", argv[1]);
  reply_int(c, 1);
}

}  // namespace ipc::managerd
