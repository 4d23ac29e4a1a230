// Sorted set values, a basic subset (Redis's t_zset.c): ZADD ZINCRBY ZCARD ZSCORE ZMSCORE ZREM
// ZRANGE (by rank) ZRANK ZREVRANK (ZSCAN is in db.cpp with the other SCANs). Ranges by score or lex, and the set operations, are not served.
#include "server.hpp"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <strings.h>

namespace ipc::managerd {

using detail::resp::parse_ll;

// ---- Sorted set type API ----

bool ZSet::add(std::string_view member, double score) {
  auto it = m_scores.find(member);
  if (it != m_scores.end()) {
    if (it->second == score) return false;
    m_order.erase({it->second, it->first});
    it->second = score;
    m_order.emplace(score, it->first);
    return false;
  }
  if (m_listpack && (m_scores.size() + 1 > max_listpack_entries.load(std::memory_order_relaxed) ||
                     member.size() > max_listpack_value.load(std::memory_order_relaxed)))
    m_listpack = false;  // zsetAdd's conversion: never back, as Redis does not convert back
  m_scores.emplace(std::string(member), score);
  m_order.emplace(score, std::string(member));
  return true;
}

bool ZSet::remove(std::string_view member) {
  auto it = m_scores.find(member);
  if (it == m_scores.end()) return false;
  m_order.erase({it->second, it->first});
  m_scores.erase(it);
  return true;
}

const double* ZSet::score(std::string_view member) const {
  auto it = m_scores.find(member);
  return it == m_scores.end() ? nullptr : &it->second;
}

std::size_t ZSet::rank(std::string_view member) const {
  auto it = m_scores.find(member);
  return static_cast<std::size_t>(std::distance(m_order.begin(), m_order.find({it->second, it->first})));
}

bool parse_score(std::string_view s, double& out) {
  // Redis's getDoubleFromObject: the whole string, no leading space, not NaN, no overflow.
  if (s.empty() || s.size() > 5 * 1024 || std::isspace(static_cast<unsigned char>(s[0]))) return false;
  std::string buf(s);
  char* end = nullptr;
  errno = 0;
  out = std::strtod(buf.c_str(), &end);
  if (static_cast<std::size_t>(end - buf.c_str()) != buf.size() || std::isnan(out)) return false;
  if (errno == ERANGE && (std::isinf(out) || out == 0)) return false;
  return true;
}

std::string format_score(double d) {
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", d);
  return buf;
}

std::string listpack_score(double d) {
  if (d > -4503599627370495.0 && d < 4503599627370496.0 && d == static_cast<double>(static_cast<long long>(d)))
    return std::to_string(static_cast<long long>(d));
  return format_score(d);
}

namespace {

ZSet* find_zset(Server& srv, Client& c, std::string_view key, bool& bad) {
  return find_typed<Type::zset>(srv, c, key, bad);
}

bool is_opt(std::string_view a, const char* w) {
  return a.size() == std::strlen(w) && ::strncasecmp(a.data(), w, a.size()) == 0;
}

void zadd_generic(Server& srv, Client& c, Args argv, bool incr_only) {
  bool nx = false, xx = false, gt = false, lt = false, ch = false, incr = incr_only;
  std::size_t i = 2;
  for (; !incr_only && i < argv.size(); ++i) {
    std::string_view a = argv[i];
    if (is_opt(a, "nx")) nx = true;
    else if (is_opt(a, "xx")) xx = true;
    else if (is_opt(a, "gt")) gt = true;
    else if (is_opt(a, "lt")) lt = true;
    else if (is_opt(a, "ch")) ch = true;
    else if (is_opt(a, "incr")) incr = true;
    else break;
  }
  std::size_t pairs = argv.size() - i;
  if (pairs % 2 || pairs == 0) return reply_syntax_error(c);
  pairs /= 2;
  if (nx && xx) return reply_err(c, "XX and NX options at the same time are not compatible");
  if ((gt && nx) || (lt && nx) || (gt && lt))
    return reply_err(c, "GT, LT, and/or NX options at the same time are not compatible");
  if (incr && pairs > 1) return reply_err(c, "INCR option supports a single increment-element pair");
  std::vector<double> scores(pairs);
  for (std::size_t j = 0; j < pairs; ++j)
    if (!parse_score(argv[i + 2 * j], scores[j])) return reply_err(c, "value is not a valid float");
  bool bad;
  ZSet* z = find_zset(srv, c, argv[1], bad);
  if (bad) return;
  if (!z) {
    if (xx) return incr ? reply_nil(c) : reply_int(c, 0);
    z = &srv.db.add(argv[1], Type::zset).zset();
  }
  long long added = 0, updated = 0, processed = 0;
  double result = 0;
  bool aborted = false;
  for (std::size_t j = 0; j < pairs; ++j) {
    std::string_view member = argv[i + 2 * j + 1];
    double score = scores[j];
    const double* cur = z->score(member);
    if (cur) {
      if (nx) {
        aborted = true;
        continue;
      }
      double next = incr ? *cur + score : score;
      if (std::isnan(next)) {
        if (z->size() == 0) srv.db.remove(argv[1]);
        return reply_err(c, "resulting score is not a number (NaN)");
      }
      if ((lt && next >= *cur) || (gt && next <= *cur)) {
        aborted = true;
        continue;
      }
      result = next;
      if (next != *cur) {
        z->add(member, next);
        ++updated;
      }
      ++processed;
    } else if (!xx) {
      z->add(member, score);
      result = score;
      ++added;
      ++processed;
    } else {
      aborted = true;
    }
  }
  if (z->size() == 0) srv.db.remove(argv[1]);  // XX on a key just created: nothing stays
  if (added || updated) {
    srv.modified(argv[1]);
    srv.notify(kNotifyZset, incr ? "zincr" : "zadd", argv[1]);
  }
  if (incr) {
    if (aborted && !processed) return reply_nil(c);
    return reply_double(c, result);
  }
  reply_int(c, ch ? added + updated : added);
}

// Redis's rank range: negative counts from the end, clamped; false when empty.
bool rank_range(long long size, long long& start, long long& end) {
  if (start < 0) start += size;
  if (end < 0) end += size;
  if (start < 0) start = 0;
  if (start > end || start >= size) return false;
  if (end >= size) end = size - 1;
  return true;
}

}  // namespace

// ---- Sorted set commands ----

/* ZADD <key> [NX|XX] [GT|LT] [CH] [INCR] <score> <member> [<score> <member> ...] */
void cmd_zadd(Server& srv, Client& c, Args argv) { zadd_generic(srv, c, argv, false); }

/* ZINCRBY <key> <increment> <member> */
void cmd_zincrby(Server& srv, Client& c, Args argv) { zadd_generic(srv, c, argv, true); }

/* ZCARD <key> */
void cmd_zcard(Server& srv, Client& c, Args argv) {
  bool bad;
  ZSet* z = find_zset(srv, c, argv[1], bad);
  if (bad) return;
  reply_int(c, z ? static_cast<long long>(z->size()) : 0);
}

/* ZSCORE <key> <member> */
void cmd_zscore(Server& srv, Client& c, Args argv) {
  bool bad;
  ZSet* z = find_zset(srv, c, argv[1], bad);
  if (bad) return;
  const double* s = z ? z->score(argv[2]) : nullptr;
  if (!s) return reply_nil(c);
  reply_double(c, *s);
}

/* ZMSCORE <key> <member> [<member> ...] */
void cmd_zmscore(Server& srv, Client& c, Args argv) {
  bool bad;
  ZSet* z = find_zset(srv, c, argv[1], bad);
  if (bad) return;
  reply_array(c, argv.size() - 2);
  for (std::size_t i = 2; i < argv.size(); ++i) {
    const double* s = z ? z->score(argv[i]) : nullptr;
    if (s) reply_double(c, *s);
    else reply_nil(c);
  }
}

/* ZREM <key> <member> [<member> ...] */
void cmd_zrem(Server& srv, Client& c, Args argv) {
  bool bad;
  ZSet* z = find_zset(srv, c, argv[1], bad);
  if (bad) return;
  if (!z) return reply_int(c, 0);
  long long removed = 0;
  for (std::size_t i = 2; i < argv.size(); ++i) removed += z->remove(argv[i]) ? 1 : 0;
  if (removed) {
    srv.notify(kNotifyZset, "zrem", argv[1]);
    if (z->size() == 0) {
      srv.db.remove(argv[1]);
      srv.notify(kNotifyGeneric, "del", argv[1]);
    }
    srv.modified(argv[1]);
  }
  reply_int(c, removed);
}

/* ZRANGE <key> <start> <stop> [REV] [WITHSCORES] (by rank; BYSCORE and BYLEX are not served) */
void cmd_zrange(Server& srv, Client& c, Args argv) {
  bool rev = false, withscores = false;
  for (std::size_t i = 4; i < argv.size(); ++i) {
    if (is_opt(argv[i], "rev")) rev = true;
    else if (is_opt(argv[i], "withscores")) withscores = true;
    else if (is_opt(argv[i], "byscore") || is_opt(argv[i], "bylex"))
      return reply_err(c, "ZRANGE BYSCORE and BYLEX are not served by ipc-managerd (only ranges by rank)");
    else if (is_opt(argv[i], "limit"))
      return reply_err(c, "syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX");
    else return reply_syntax_error(c);
  }
  long long start, end;
  if (!parse_ll(argv[2], start) || !parse_ll(argv[3], end)) return reply_not_integer(c);
  bool bad;
  ZSet* z = find_zset(srv, c, argv[1], bad);
  if (bad) return;
  if (!z || !rank_range(static_cast<long long>(z->size()), start, end)) return reply_array(c, 0);
  std::size_t n = static_cast<std::size_t>(end - start + 1);
  if (withscores && c.resp == 3) reply_array(c, n);
  else reply_array(c, withscores ? 2 * n : n);
  auto emit = [&](const std::pair<double, std::string>& e) {
    if (withscores && c.resp == 3) reply_array(c, 2);
    reply_bulk(c, e.second);
    if (withscores) reply_double(c, e.first);
  };
  if (!rev) {
    auto it = z->order().begin();
    std::advance(it, start);
    for (std::size_t k = 0; k < n; ++k, ++it) emit(*it);
  } else {
    auto it = z->order().rbegin();
    std::advance(it, start);
    for (std::size_t k = 0; k < n; ++k, ++it) emit(*it);
  }
}

namespace {
void rank_generic(Server& srv, Client& c, Args argv, bool rev) {
  bool bad;
  ZSet* z = find_zset(srv, c, argv[1], bad);
  if (bad) return;
  if (!z || !z->score(argv[2])) return reply_nil(c);
  std::size_t r = z->rank(argv[2]);
  reply_int(c, static_cast<long long>(rev ? z->size() - 1 - r : r));
}
}  // namespace

/* ZRANK <key> <member> */
void cmd_zrank(Server& srv, Client& c, Args argv) { rank_generic(srv, c, argv, false); }
/* ZREVRANK <key> <member> */
void cmd_zrevrank(Server& srv, Client& c, Args argv) { rank_generic(srv, c, argv, true); }

}  // namespace ipc::managerd
