// String values and counters: GET SET GETSET MGET MSET INCR* DECR* INCRBYFLOAT APPEND STRLEN.
#include "server.hpp"

#include <cctype>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

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
  if (std::isspace(static_cast<unsigned char>(buf[0])) || *end != '\0' ||
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
  } else {
    store_string(srv, key, text);
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
  if (expire_at >= 0) {
    srv.db.set_expire(argv[1], expire_at);
    c.propagate.push_back({"SET", std::string(argv[1]), std::string(argv[2])});
    c.propagate.push_back({"PEXPIREAT", std::string(argv[1]), std::to_string(expire_at)});
  }
  if (!get) reply_ok(c);
}

/* SETNX <key> <value> */
void cmd_setnx(Server& srv, Client& c, Args argv) {
  if (srv.db.find(argv[1])) return reply_int(c, 0);
  store_string(srv, argv[1], argv[2]);
  reply_int(c, 1);
}

/* GETSET <key> <value> */
void cmd_getset(Server& srv, Client& c, Args argv) {
  bool bad;
  std::string* old = find_string(srv, c, argv[1], bad);
  if (bad) return;
  old ? reply_bulk(c, *old) : reply_nil(c);
  store_string(srv, argv[1], argv[2]);
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
  for (std::size_t i = 1; i < argv.size(); i += 2) store_string(srv, argv[i], argv[i + 1]);
  reply_ok(c);
}

/* MSETNX <key> <value> [<key> <value> ...] */
void cmd_msetnx(Server& srv, Client& c, Args argv) {
  if (argv.size() % 2 == 0) return reply_arity(c, "msetnx");
  for (std::size_t i = 1; i < argv.size(); i += 2)
    if (srv.db.find(argv[i])) return reply_int(c, 0);
  for (std::size_t i = 1; i < argv.size(); i += 2) store_string(srv, argv[i], argv[i + 1]);
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
    return reply_int(c, static_cast<long long>(argv[2].size()));
  }
  if (s->size() + argv[2].size() > srv.options().proto_max_bulk_len)
    return reply_err(c, "string exceeds maximum allowed size (proto-max-bulk-len)");
  s->append(argv[2]);
  srv.modified(argv[1]);
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
