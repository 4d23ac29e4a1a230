// String values and counters: GET SET GETSET MGET MSET INCR* DECR* INCRBYFLOAT APPEND STRLEN.
#include "server.hpp"

#include <cctype>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <bit>
#include <charconv>
#include <cstdint>
#include <vector>

namespace ipc::managerd {

using detail::resp::parse_ll;

// ---- String type API ----

std::string format_long_double(long double v) {
  char buf[5120];
  int l = std::snprintf(buf, sizeof buf, "%.17Lf", v);
  if (l < 0 || l >= static_cast<int>(sizeof buf)) return "0";
  if (std::strchr(buf, '.')) {
    while (buf[l - 1] == '0') --l;
    if (buf[l - 1] == '.') --l;
  }
  if (l == 2 && buf[0] == '-' && buf[1] == '0') return "0";
  return std::string(buf, static_cast<std::size_t>(l));
}

bool parse_long_double(std::string_view s, long double& out) {
  char buf[5120];
  if (s.empty() || s.size() >= sizeof buf) return false;
  std::memcpy(buf, s.data(), s.size());
  buf[s.size()] = '\0';
  errno = 0;
  char* end = nullptr;
  long double v = std::strtold(buf, &end);
  // The whole string must be the number: strtold stops at an embedded NUL.
  if (std::isspace(static_cast<unsigned char>(buf[0])) || *end != '\0' || end != buf + s.size() ||
      (errno == ERANGE && (v == HUGE_VALL || v == -HUGE_VALL || std::fpclassify(v) == FP_ZERO)) ||
      errno == EINVAL || std::isnan(v))
    return false;
  out = v;
  return true;
}

namespace {

std::string* find_string(Server& srv, Client& c, std::string_view key, bool& bad) {
  return find_typed<Type::string>(srv, c, key, bad);
}

// Stores `val` at `key`, reusing the existing string's memory when there is one.
void store_string(Server& srv, std::string_view key, std::string_view val, bool keep_ttl = false) {
  Value* v = srv.db.find(key);
  if (v && v->type() == Type::string) {
    v->str().assign(val);
    if (!keep_ttl) srv.db.persist(key);
  } else {
    Value nv;
    nv.data.emplace<0>(val);
    srv.db.set(key, std::move(nv), keep_ttl);
  }
  srv.modified(key);
}

std::string upper(std::string_view s) {
  std::string o(s);
  for (auto& ch : o) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return o;
}

void incr_generic(Server& srv, Client& c, std::string_view key, long long incr) {
  bool bad;
  std::string* s = find_string(srv, c, key, bad);
  if (bad) return;
  long long cur = 0;
  if (s && !parse_ll(*s, cur)) return reply_not_integer(c);
  if ((incr < 0 && cur < 0 && incr < LLONG_MIN - cur) || (incr > 0 && cur > 0 && incr > LLONG_MAX - cur))
    return reply_err(c, "increment or decrement would overflow");
  cur += incr;
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, cur);
  std::string_view text(buf, static_cast<std::size_t>(r.ptr - buf));
  if (s) {
    s->assign(text);
    srv.modified(key);
    srv.notify(kNotifyString, "incrby", key);
  } else {
    store_string(srv, key, text);
    srv.notify(kNotifyString, "incrby", key);
  }
  reply_int(c, cur);
}

}  // namespace

// ---- String commands ----

/* GET <key> */
void cmd_get(Server& srv, Client& c, Args argv) {
  bool bad;
  std::string* s = find_string(srv, c, argv[1], bad);
  if (bad) return;
  if (!s) {
    ++srv.stat_misses;
    return reply_nil(c);
  }
  ++srv.stat_hits;
  reply_bulk(c, *s);
}

/* SET <key> <value> [NX|XX] [GET] [EX <seconds>|PX <ms>|EXAT <ts>|PXAT <ts-ms>|KEEPTTL] */
void cmd_set(Server& srv, Client& c, Args argv) {
  bool nx = false, xx = false, get = false, keepttl = false;
  long long expire_at = -1;
  int unit_kinds = 0;
  for (std::size_t i = 3; i < argv.size(); ++i) {
    std::string o = upper(argv[i]);
    bool has_next = i + 1 < argv.size();
    if (o == "NX" && !xx) {
      nx = true;
    } else if (o == "XX" && !nx) {
      xx = true;
    } else if (o == "GET") {
      get = true;
    } else if (o == "KEEPTTL" && unit_kinds == 0) {
      keepttl = true;
      unit_kinds = 1;
    } else if ((o == "EX" || o == "PX" || o == "EXAT" || o == "PXAT") && !keepttl && unit_kinds == 0 && has_next) {
      unit_kinds = 1;
      long long n;
      if (!parse_ll(argv[++i], n)) return reply_not_integer(c);
      bool secs = o == "EX" || o == "EXAT";
      if (n <= 0 || (secs && n > LLONG_MAX / 1000)) return reply_err(c, "invalid expire time in 'set' command");
      if (secs) n *= 1000;
      if (o == "EX" || o == "PX") {
        long long now = now_ms();
        if (n > LLONG_MAX - now) return reply_err(c, "invalid expire time in 'set' command");
        n += now;
      }
      expire_at = n;
    } else {
      return reply_syntax_error(c);
    }
  }
  if (argv[2].size() > srv.options().proto_max_bulk_len)
    return reply_err(c, "string exceeds maximum allowed size (proto-max-bulk-len)");
  Value* v = srv.db.find(argv[1]);
  if (get && v && v->type() != Type::string) return reply_wrongtype(c);  // plain SET overwrites any type
  std::string* old = v && v->type() == Type::string ? &v->str() : nullptr;
  bool exists = v != nullptr;
  if ((nx && exists) || (xx && !exists)) {
    if (get) return old ? reply_bulk(c, *old) : reply_nil(c);
    return reply_nil(c);
  }
  if (get) old ? reply_bulk(c, *old) : reply_nil(c);
  store_string(srv, argv[1], argv[2], keepttl);
  srv.notify(kNotifyString, "set", argv[1]);
  if (expire_at >= 0) {
    srv.db.set_expire(argv[1], expire_at);
    srv.notify(kNotifyGeneric, "expire", argv[1]);
    // Propagated as Redis 7.0 does: SET key value PXAT <ms>.
    c.propagate.push_back({"SET", std::string(argv[1]), std::string(argv[2]), "PXAT", std::to_string(expire_at)});
  } else if (get) {
    std::vector<std::string> without_get;  // propagated without its GET, as Redis does
    for (std::size_t i = 0; i < argv.size(); ++i)
      if (i < 3 || upper(argv[i]) != "GET") without_get.emplace_back(argv[i]);
    c.propagate.push_back(std::move(without_get));
  }
  if (!get) reply_ok(c);
}

/* SETNX <key> <value> */
void cmd_setnx(Server& srv, Client& c, Args argv) {
  if (srv.db.find(argv[1])) return reply_int(c, 0);
  store_string(srv, argv[1], argv[2]);
  srv.notify(kNotifyString, "set", argv[1]);
  reply_int(c, 1);
}

/* GETSET <key> <value> */
void cmd_getset(Server& srv, Client& c, Args argv) {
  bool bad;
  std::string* old = find_string(srv, c, argv[1], bad);
  if (bad) return;
  old ? reply_bulk(c, *old) : reply_nil(c);
  store_string(srv, argv[1], argv[2]);
  srv.notify(kNotifyString, "set", argv[1]);
}

/* GETDEL <key> */
void cmd_getdel(Server& srv, Client& c, Args argv) {
  bool bad;
  std::string* old = find_string(srv, c, argv[1], bad);
  if (bad) return;
  if (!old) return reply_nil(c);
  reply_bulk(c, *old);
  srv.db.remove(argv[1]);
  srv.modified(argv[1]);
  srv.notify(kNotifyGeneric, "del", argv[1]);
  c.propagate.push_back({"DEL", std::string(argv[1])});  // logged and replicated as Redis does
}

/* MGET <key> [<key> ...] */
void cmd_mget(Server& srv, Client& c, Args argv) {
  reply_array(c, argv.size() - 1);
  for (std::size_t i = 1; i < argv.size(); ++i) {
    Value* v = srv.db.find(argv[i]);
    if (v && v->type() == Type::string)
      reply_bulk(c, v->str());
    else
      reply_nil(c);
  }
}

/* MSET <key> <value> [<key> <value> ...] */
void cmd_mset(Server& srv, Client& c, Args argv) {
  if (argv.size() % 2 == 0) return reply_arity(c, "mset");
  for (std::size_t i = 1; i < argv.size(); i += 2) {
    store_string(srv, argv[i], argv[i + 1]);
    srv.notify(kNotifyString, "set", argv[i]);
  }
  reply_ok(c);
}

/* MSETNX <key> <value> [<key> <value> ...] */
void cmd_msetnx(Server& srv, Client& c, Args argv) {
  if (argv.size() % 2 == 0) return reply_arity(c, "msetnx");
  for (std::size_t i = 1; i < argv.size(); i += 2)
    if (srv.db.find(argv[i])) return reply_int(c, 0);
  for (std::size_t i = 1; i < argv.size(); i += 2) {
    store_string(srv, argv[i], argv[i + 1]);
    srv.notify(kNotifyString, "set", argv[i]);
  }
  reply_int(c, 1);
}

/* INCR <key> */
void cmd_incr(Server& srv, Client& c, Args argv) { incr_generic(srv, c, argv[1], 1); }
/* DECR <key> */
void cmd_decr(Server& srv, Client& c, Args argv) { incr_generic(srv, c, argv[1], -1); }

/* INCRBY <key> <increment> */
void cmd_incrby(Server& srv, Client& c, Args argv) {
  long long n;
  if (!parse_ll(argv[2], n)) return reply_not_integer(c);
  incr_generic(srv, c, argv[1], n);
}

/* DECRBY <key> <decrement> */
void cmd_decrby(Server& srv, Client& c, Args argv) {
  long long n;
  if (!parse_ll(argv[2], n)) return reply_not_integer(c);
  if (n == LLONG_MIN) return reply_err(c, "decrement would overflow");
  incr_generic(srv, c, argv[1], -n);
}

/* INCRBYFLOAT <key> <increment> */
void cmd_incrbyfloat(Server& srv, Client& c, Args argv) {
  bool bad;
  std::string* s = find_string(srv, c, argv[1], bad);
  if (bad) return;
  long double cur = 0, incr = 0;
  if ((s && !parse_long_double(*s, cur)) || !parse_long_double(argv[2], incr))
    return reply_err(c, "value is not a valid float");
  cur += incr;
  if (std::isnan(cur) || std::isinf(cur)) return reply_err(c, "increment would produce NaN or Infinity");
  std::string text = format_long_double(cur);
  store_string(srv, argv[1], text, true);
  srv.notify(kNotifyString, "incrbyfloat", argv[1]);
  reply_bulk(c, text);
  // Replay must not depend on float rounding: log the result.
  c.propagate.push_back({"SET", std::string(argv[1]), text, "KEEPTTL"});
}

/* APPEND <key> <value> */
void cmd_append(Server& srv, Client& c, Args argv) {
  bool bad;
  std::string* s = find_string(srv, c, argv[1], bad);
  if (bad) return;
  if (!s) {
    store_string(srv, argv[1], argv[2]);
    srv.notify(kNotifyString, "append", argv[1]);
    return reply_int(c, static_cast<long long>(argv[2].size()));
  }
  if (s->size() + argv[2].size() > srv.options().proto_max_bulk_len)
    return reply_err(c, "string exceeds maximum allowed size (proto-max-bulk-len)");
  s->append(argv[2]);
  srv.modified(argv[1]);
  srv.notify(kNotifyString, "append", argv[1]);
  reply_int(c, static_cast<long long>(s->size()));
}

/* STRLEN <key> */
void cmd_strlen(Server& srv, Client& c, Args argv) {
  bool bad;
  std::string* s = find_string(srv, c, argv[1], bad);
  if (bad) return;
  reply_int(c, s ? static_cast<long long>(s->size()) : 0);
}

}  // namespace ipc::managerd

namespace ipc::managerd {

namespace {

// Reads EX/PX/EXAT/PXAT (and PERSIST when `allow_persist`) for GETEX; false after replying.
bool parse_getex_opts(Client& c, Args argv, long long& expire_at, bool& persist) {
  expire_at = -1;
  persist = false;
  bool seen = false;
  for (std::size_t i = 2; i < argv.size(); ++i) {
    std::string o = upper(argv[i]);
    bool has_next = i + 1 < argv.size();
    if (o == "PERSIST" && !seen) {
      persist = seen = true;
    } else if ((o == "EX" || o == "PX" || o == "EXAT" || o == "PXAT") && !seen && has_next) {
      seen = true;
      long long n;
      if (!parse_ll(argv[++i], n)) {
        reply_not_integer(c);
        return false;
      }
      bool secs = o == "EX" || o == "EXAT";
      if (n <= 0 || (secs && n > LLONG_MAX / 1000)) {
        reply_err(c, "invalid expire time in 'getex' command");
        return false;
      }
      if (secs) n *= 1000;
      if (o == "EX" || o == "PX") {
        long long now = now_ms();
        if (n > LLONG_MAX - now) {
          reply_err(c, "invalid expire time in 'getex' command");
          return false;
        }
        n += now;
      }
      expire_at = n;
    } else {
      reply_syntax_error(c);
      return false;
    }
  }
  return true;
}

// SETEX/PSETEX: `unit` 1000 for seconds.
void setex_generic(Server& srv, Client& c, Args argv, long long unit, const char* name) {
  long long n;
  if (!parse_ll(argv[2], n)) return reply_not_integer(c);
  if (n <= 0 || n > LLONG_MAX / unit || n * unit > LLONG_MAX - now_ms())
    return reply_err(c, std::string("invalid expire time in '") + name + "' command");
  long long when = now_ms() + n * unit;
  store_string(srv, argv[1], argv[3]);
  srv.notify(kNotifyString, "set", argv[1]);
  srv.db.set_expire(argv[1], when);
  srv.notify(kNotifyGeneric, "expire", argv[1]);
  c.propagate.push_back({"SET", std::string(argv[1]), std::string(argv[3]), "PXAT", std::to_string(when)});
  reply_ok(c);
}

void getrange_generic(Server& srv, Client& c, Args argv) {
  long long start, end;
  if (!parse_ll(argv[2], start) || !parse_ll(argv[3], end)) return reply_not_integer(c);
  bool bad;
  std::string* s = find_string(srv, c, argv[1], bad);
  if (bad) return;
  if (!s) return reply_bulk(c, "");
  long long len = static_cast<long long>(s->size());
  if (start < 0 && end < 0 && start > end) return reply_bulk(c, "");
  if (start < 0) start += len;
  if (end < 0) end += len;
  if (start < 0) start = 0;
  if (end < 0) end = 0;
  if (end >= len) end = len - 1;
  if (start > end || len == 0) return reply_bulk(c, "");
  reply_bulk(c, std::string_view(*s).substr(static_cast<std::size_t>(start), static_cast<std::size_t>(end - start + 1)));
}

// A bit offset (SETBIT/GETBIT); false after replying when it is bad.
bool parse_bit_offset(Server& srv, Client& c, std::string_view s, long long& off) {
  if (!parse_ll(s, off) || off < 0 ||
      static_cast<unsigned long long>(off) >> 3 >= srv.options().proto_max_bulk_len) {
    reply_err(c, "bit offset is not an integer or out of range");
    return false;
  }
  return true;
}

}  // namespace

/* GETEX <key> [EX <seconds> | PX <ms> | EXAT <ts> | PXAT <ts-ms> | PERSIST] */
void cmd_getex(Server& srv, Client& c, Args argv) {
  long long when;
  bool persist;
  if (!parse_getex_opts(c, argv, when, persist)) return;
  bool bad;
  std::string* s = find_string(srv, c, argv[1], bad);
  if (bad) return;
  if (!s) return reply_nil(c);
  reply_bulk(c, *s);
  if (when >= 0 && when <= now_ms()) {
    srv.db.remove(argv[1]);
    srv.modified(argv[1]);
    srv.notify(kNotifyGeneric, "del", argv[1]);
    c.propagate.push_back({"DEL", std::string(argv[1])});
  } else if (when >= 0) {
    srv.db.set_expire(argv[1], when);
    srv.modified(argv[1]);
    srv.notify(kNotifyGeneric, "expire", argv[1]);
    c.propagate.push_back({"PEXPIREAT", std::string(argv[1]), std::to_string(when)});
  } else if (persist && srv.db.persist(argv[1])) {
    srv.modified(argv[1]);
    srv.notify(kNotifyGeneric, "persist", argv[1]);
    c.propagate.push_back({"PERSIST", std::string(argv[1])});
  }
}

/* SETEX <key> <seconds> <value> */
void cmd_setex(Server& srv, Client& c, Args argv) { setex_generic(srv, c, argv, 1000, "setex"); }
/* PSETEX <key> <milliseconds> <value> */
void cmd_psetex(Server& srv, Client& c, Args argv) { setex_generic(srv, c, argv, 1, "psetex"); }

/* SETRANGE <key> <offset> <value> */
void cmd_setrange(Server& srv, Client& c, Args argv) {
  long long off;
  if (!parse_ll(argv[2], off)) return reply_not_integer(c);
  if (off < 0) return reply_err(c, "offset is out of range");
  bool bad;
  std::string* s = find_string(srv, c, argv[1], bad);
  if (bad) return;
  std::string_view val = argv[3];
  if (!s) {
    if (val.empty()) return reply_int(c, 0);
  } else if (val.empty()) {
    return reply_int(c, static_cast<long long>(s->size()));
  }
  if (static_cast<unsigned long long>(off) + val.size() > srv.options().proto_max_bulk_len)
    return reply_err(c, "string exceeds maximum allowed size (proto-max-bulk-len)");
  if (!s) {
    store_string(srv, argv[1], "");
    s = &srv.db.find(argv[1])->str();
  }
  std::size_t need = static_cast<std::size_t>(off) + val.size();
  if (s->size() < need) s->resize(need, '\0');
  s->replace(static_cast<std::size_t>(off), val.size(), val);
  srv.modified(argv[1]);
  srv.notify(kNotifyString, "setrange", argv[1]);
  reply_int(c, static_cast<long long>(s->size()));
}

/* GETRANGE <key> <start> <end> */
void cmd_getrange(Server& srv, Client& c, Args argv) { getrange_generic(srv, c, argv); }
/* SUBSTR <key> <start> <end> */
void cmd_substr(Server& srv, Client& c, Args argv) { getrange_generic(srv, c, argv); }

/* SETBIT <key> <offset> <value> */
void cmd_setbit(Server& srv, Client& c, Args argv) {
  long long off;
  if (!parse_bit_offset(srv, c, argv[2], off)) return;
  if (argv[3] != "0" && argv[3] != "1") return reply_err(c, "bit is not an integer or out of range");
  bool bad;
  std::string* s = find_string(srv, c, argv[1], bad);
  if (bad) return;
  if (!s) {
    store_string(srv, argv[1], "");
    s = &srv.db.find(argv[1])->str();
  }
  std::size_t byte = static_cast<std::size_t>(off >> 3);
  if (s->size() <= byte) s->resize(byte + 1, '\0');
  auto bit = static_cast<unsigned>(7 - (off & 7));
  auto& ch = reinterpret_cast<unsigned char&>((*s)[byte]);
  int old = (ch >> bit) & 1;
  if (argv[3] == "1")
    ch = static_cast<unsigned char>(ch | (1u << bit));
  else
    ch = static_cast<unsigned char>(ch & ~(1u << bit));
  srv.modified(argv[1]);
  srv.notify(kNotifyString, "setbit", argv[1]);
  reply_int(c, old);
}

/* GETBIT <key> <offset> */
void cmd_getbit(Server& srv, Client& c, Args argv) {
  long long off;
  if (!parse_bit_offset(srv, c, argv[2], off)) return;
  bool bad;
  std::string* s = find_string(srv, c, argv[1], bad);
  if (bad) return;
  std::size_t byte = static_cast<std::size_t>(off >> 3);
  if (!s || s->size() <= byte) return reply_int(c, 0);
  auto ch = static_cast<unsigned char>((*s)[byte]);
  reply_int(c, (ch >> (7 - (off & 7))) & 1);
}

/* BITCOUNT <key> [<start> <end> [BYTE | BIT]] */
void cmd_bitcount(Server& srv, Client& c, Args argv) {
  bool bad;
  std::string* s = find_string(srv, c, argv[1], bad);
  if (bad) return;
  if (!s) return reply_int(c, 0);
  long long len = static_cast<long long>(s->size());
  long long start = 0, end = len - 1;
  unsigned first_mask = 0, last_mask = 0;
  if (argv.size() == 4 || argv.size() == 5) {
    if (!parse_ll(argv[2], start) || !parse_ll(argv[3], end)) return reply_not_integer(c);
    if (start < 0 && end < 0 && start > end) return reply_int(c, 0);
    bool isbit = false;
    if (argv.size() == 5) {
      std::string o = upper(argv[4]);
      if (o == "BIT") isbit = true;
      else if (o != "BYTE") return reply_syntax_error(c);
    }
    long long total = isbit ? len << 3 : len;
    if (start < 0) start += total;
    if (end < 0) end += total;
    if (start < 0) start = 0;
    if (end < 0) end = 0;
    if (end >= total) end = total - 1;
    if (isbit && start <= end) {
      first_mask = ~((1u << (8 - (start & 7))) - 1) & 0xFF;
      last_mask = (1u << (7 - (end & 7))) - 1;
      start >>= 3;
      end >>= 3;
    }
  } else if (argv.size() != 2) {
    return reply_syntax_error(c);
  }
  if (start > end) return reply_int(c, 0);
  long long n = 0;
  for (long long i = start; i <= end; ++i) n += std::popcount(static_cast<unsigned char>((*s)[static_cast<std::size_t>(i)]));
  if (first_mask) n -= std::popcount(static_cast<unsigned char>((*s)[static_cast<std::size_t>(start)]) & first_mask);
  if (last_mask) n -= std::popcount(static_cast<unsigned char>((*s)[static_cast<std::size_t>(end)]) & last_mask);
  reply_int(c, n);
}

/* LCS <key1> <key2> [LEN] [IDX] [MINMATCHLEN <len>] [WITHMATCHLEN] (Redis's lcsCommand) */
void cmd_lcs(Server& srv, Client& c, Args argv) {
  bool getlen = false, getidx = false, withmatchlen = false;
  long long minmatchlen = 0;
  std::string a, b;
  for (int k = 1; k <= 2; ++k) {
    Value* v = srv.db.find(argv[static_cast<std::size_t>(k)]);
    if (v && v->type() != Type::string) return reply_err(c, "The specified keys must contain string values");
    (k == 1 ? a : b) = v ? v->str() : std::string();
  }
  for (std::size_t j = 3; j < argv.size(); ++j) {
    std::string o = upper(argv[j]);
    if (o == "IDX") {
      getidx = true;
    } else if (o == "LEN") {
      getlen = true;
    } else if (o == "WITHMATCHLEN") {
      withmatchlen = true;
    } else if (o == "MINMATCHLEN" && j + 1 < argv.size()) {
      if (!parse_ll(argv[++j], minmatchlen)) return reply_not_integer(c);
      if (minmatchlen < 0) minmatchlen = 0;
    } else {
      return reply_syntax_error(c);
    }
  }
  if (getidx && getlen) return reply_err(c, "If you want both the length and indexes, please just use IDX.");
  std::size_t alen = a.size(), blen = b.size();
  if (alen >= UINT32_MAX - 1 || blen >= UINT32_MAX - 1) return reply_err(c, "String too long for LCS");
  if (static_cast<unsigned long long>(alen + 1) * (blen + 1) * sizeof(std::uint32_t) > srv.options().proto_max_bulk_len)
    return reply_err(c, "Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
  std::vector<std::uint32_t> dp((alen + 1) * (blen + 1), 0);
  auto at = [&](std::size_t i, std::size_t j) -> std::uint32_t& { return dp[j + i * (blen + 1)]; };
  for (std::size_t i = 1; i <= alen; ++i)
    for (std::size_t j = 1; j <= blen; ++j)
      at(i, j) = a[i - 1] == b[j - 1] ? at(i - 1, j - 1) + 1 : std::max(at(i - 1, j), at(i, j - 1));
  std::uint32_t idx = at(alen, blen);
  std::string result(idx, '\0');
  struct Match {
    long long a1, a2, b1, b2, len;
  };
  std::vector<Match> matches;
  bool computelcs = getidx || !getlen;
  long long arange_start = static_cast<long long>(alen), arange_end = 0, brange_start = 0, brange_end = 0;
  std::size_t i = alen, j = blen;
  while (computelcs && i > 0 && j > 0) {
    bool emit_range = false;
    if (a[i - 1] == b[j - 1]) {
      result[idx - 1] = a[i - 1];
      if (arange_start == static_cast<long long>(alen)) {
        arange_start = static_cast<long long>(i) - 1;
        arange_end = static_cast<long long>(i) - 1;
        brange_start = static_cast<long long>(j) - 1;
        brange_end = static_cast<long long>(j) - 1;
      } else if (arange_start == static_cast<long long>(i) && brange_start == static_cast<long long>(j)) {
        --arange_start;
        --brange_start;
      } else {
        emit_range = true;
      }
      if (arange_start == 0 || brange_start == 0) emit_range = true;
      --idx;
      --i;
      --j;
    } else {
      std::uint32_t lcs1 = at(i - 1, j), lcs2 = at(i, j - 1);
      if (lcs1 > lcs2)
        --i;
      else
        --j;
      if (arange_start != static_cast<long long>(alen)) emit_range = true;
    }
    if (emit_range) {
      long long match_len = arange_end - arange_start + 1;
      if (minmatchlen == 0 || match_len >= minmatchlen) matches.push_back({arange_start, arange_end, brange_start, brange_end, match_len});
      arange_start = static_cast<long long>(alen);
    }
  }
  if (getidx) {
    reply_map(c, 2);
    reply_bulk(c, "matches");
    reply_array(c, matches.size());
    for (auto& m : matches) {
      reply_array(c, withmatchlen ? 3 : 2);
      reply_array(c, 2);
      reply_int(c, m.a1);
      reply_int(c, m.a2);
      reply_array(c, 2);
      reply_int(c, m.b1);
      reply_int(c, m.b2);
      if (withmatchlen) reply_int(c, m.len);
    }
    reply_bulk(c, "len");
    reply_int(c, at(alen, blen));
  } else if (getlen) {
    reply_int(c, at(alen, blen));
  } else {
    reply_bulk(c, result);
  }
}

}  // namespace ipc::managerd
