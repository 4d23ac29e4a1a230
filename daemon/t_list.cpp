// List values (list proxies, queues): LPUSH RPUSH LPOP RPOP LRANGE ... and blocking BLPOP/BRPOP.
#include "server.hpp"

#include <algorithm>
#include <cctype>
#include <climits>
#include <cmath>
#include <strings.h>

namespace ipc::managerd {

using detail::resp::parse_ll;

namespace {

List* find_list(Server& srv, Client& c, std::string_view key, bool& bad) {
  return find_typed<Type::list>(srv, c, key, bad);
}

// Replies with the head (left) or tail element of `l` and removes it.
void reply_pop(Client& c, List& l, bool left) {
  if (left) {
    reply_bulk(c, l.front());
    l.pop_front();
  } else {
    reply_bulk(c, l.back());
    l.pop_back();
  }
}

bool parse_long(Client& c, std::string_view s, long long& out) {
  if (parse_ll(s, out)) return true;
  reply_not_integer(c);
  return false;
}

void push_generic(Server& srv, Client& c, Args argv, bool left, bool only_existing) {
  bool bad;
  List* l = find_list(srv, c, argv[1], bad);
  if (bad) return;
  if (!l) {
    if (only_existing) return reply_int(c, 0);
    l = &srv.db.add(argv[1], Type::list).list();
  }
  for (std::size_t i = 2; i < argv.size(); ++i) {
    if (left)
      l->emplace_front(argv[i]);
    else
      l->emplace_back(argv[i]);
  }
  reply_int(c, static_cast<long long>(l->size()));
  srv.modified(argv[1]);
  srv.notify(kNotifyList, left ? "lpush" : "rpush", argv[1]);
  srv.list_pushed(argv[1]);
}

void pop_generic(Server& srv, Client& c, Args argv, bool left) {
  if (argv.size() > 3) return reply_arity(c, left ? "lpop" : "rpop");
  bool has_count = argv.size() == 3;
  long long count = 0;
  if (has_count) {
    // Redis answers both a non-number and a negative count with the same message.
    if (!parse_ll(argv[2], count) || count < 0) return reply_err(c, "value is out of range, must be positive");
  }
  bool bad;
  List* l = find_list(srv, c, argv[1], bad);
  if (bad) return;
  if (!l) return has_count ? reply_nil_array(c) : reply_nil(c);
  if (has_count && count == 0) return reply_array(c, 0);
  if (!has_count) {
    reply_pop(c, *l, left);
  } else {
    std::size_t n = std::min<std::size_t>(static_cast<std::size_t>(count), l->size());
    reply_array(c, n);
    for (std::size_t i = 0; i < n; ++i) reply_pop(c, *l, left);
  }
  srv.notify(kNotifyList, left ? "lpop" : "rpop", argv[1]);
  if (l->empty()) {
    srv.db.remove(argv[1]);
    srv.notify(kNotifyGeneric, "del", argv[1]);
  }
  srv.modified(argv[1]);
}

}  // namespace

// ---- List commands ----

/* LPUSH <key> <element> [<element> ...] */
void cmd_lpush(Server& srv, Client& c, Args argv) { push_generic(srv, c, argv, true, false); }
/* RPUSH <key> <element> [<element> ...] */
void cmd_rpush(Server& srv, Client& c, Args argv) { push_generic(srv, c, argv, false, false); }
/* LPUSHX <key> <element> [<element> ...] */
void cmd_lpushx(Server& srv, Client& c, Args argv) { push_generic(srv, c, argv, true, true); }
/* RPUSHX <key> <element> [<element> ...] */
void cmd_rpushx(Server& srv, Client& c, Args argv) { push_generic(srv, c, argv, false, true); }
/* LPOP <key> [<count>] */
void cmd_lpop(Server& srv, Client& c, Args argv) { pop_generic(srv, c, argv, true); }
/* RPOP <key> [<count>] */
void cmd_rpop(Server& srv, Client& c, Args argv) { pop_generic(srv, c, argv, false); }

/* LLEN <key> */
void cmd_llen(Server& srv, Client& c, Args argv) {
  bool bad;
  List* l = find_list(srv, c, argv[1], bad);
  if (bad) return;
  reply_int(c, l ? static_cast<long long>(l->size()) : 0);
}

/* LINDEX <key> <index> */
void cmd_lindex(Server& srv, Client& c, Args argv) {
  long long idx;
  if (!parse_long(c, argv[2], idx)) return;
  bool bad;
  List* l = find_list(srv, c, argv[1], bad);
  if (bad) return;
  if (!l) return reply_nil(c);
  long long n = static_cast<long long>(l->size());
  if (idx < 0) idx += n;
  if (idx < 0 || idx >= n) return reply_nil(c);
  reply_bulk(c, (*l)[static_cast<std::size_t>(idx)]);
}

/* LSET <key> <index> <element> */
void cmd_lset(Server& srv, Client& c, Args argv) {
  bool bad;
  List* l = find_list(srv, c, argv[1], bad);
  if (bad) return;
  if (!l) return reply_err(c, "no such key");
  long long idx;
  if (!parse_long(c, argv[2], idx)) return;
  long long n = static_cast<long long>(l->size());
  if (idx < 0) idx += n;
  if (idx < 0 || idx >= n) return reply_err(c, "index out of range");
  (*l)[static_cast<std::size_t>(idx)].assign(argv[3]);
  srv.modified(argv[1]);
  srv.notify(kNotifyList, "lset", argv[1]);
  reply_ok(c);
}

/* LRANGE <key> <start> <stop> */
void cmd_lrange(Server& srv, Client& c, Args argv) {
  long long start, end;
  if (!parse_long(c, argv[2], start) || !parse_long(c, argv[3], end)) return;
  bool bad;
  List* l = find_list(srv, c, argv[1], bad);
  if (bad) return;
  if (!l) return reply_array(c, 0);
  long long n = static_cast<long long>(l->size());
  if (start < 0) start += n;
  if (end < 0) end += n;
  if (start < 0) start = 0;
  if (start > end || start >= n) return reply_array(c, 0);
  if (end >= n) end = n - 1;
  reply_array(c, static_cast<std::size_t>(end - start + 1));
  auto it = l->begin() + start, stop = l->begin() + end + 1;
  for (; it != stop; ++it) reply_bulk(c, *it);
}

/* LINSERT <key> <BEFORE | AFTER> <pivot> <element> */
void cmd_linsert(Server& srv, Client& c, Args argv) {
  bool after;
  if (argv[2].size() == 5 && ::strncasecmp(argv[2].data(), "after", 5) == 0)
    after = true;
  else if (argv[2].size() == 6 && ::strncasecmp(argv[2].data(), "before", 6) == 0)
    after = false;
  else
    return reply_syntax_error(c);
  bool bad;
  List* l = find_list(srv, c, argv[1], bad);
  if (bad) return;
  if (!l) return reply_int(c, 0);
  auto it = std::find(l->begin(), l->end(), argv[3]);
  if (it == l->end()) return reply_int(c, -1);
  if (after) ++it;
  l->emplace(it, argv[4]);
  srv.modified(argv[1]);
  srv.notify(kNotifyList, "linsert", argv[1]);
  reply_int(c, static_cast<long long>(l->size()));
}

/* LREM <key> <count> <element> */
void cmd_lrem(Server& srv, Client& c, Args argv) {
  long long count;
  if (!parse_long(c, argv[2], count)) return;
  bool bad;
  List* l = find_list(srv, c, argv[1], bad);
  if (bad) return;
  if (!l) return reply_int(c, 0);
  long long removed = 0;
  if (count >= 0) {
    for (auto it = l->begin(); it != l->end();) {
      if (*it == argv[3] && (count == 0 || removed < count)) {
        it = l->erase(it);
        ++removed;
      } else {
        ++it;
      }
    }
  } else {
    for (long long i = static_cast<long long>(l->size()) - 1; i >= 0 && removed < -count; --i) {
      if ((*l)[static_cast<std::size_t>(i)] == argv[3]) {
        l->erase(l->begin() + i);
        ++removed;
      }
    }
  }
  if (removed) {
    srv.notify(kNotifyList, "lrem", argv[1]);
    if (l->empty()) {
      srv.db.remove(argv[1]);
      srv.notify(kNotifyGeneric, "del", argv[1]);
    }
    srv.modified(argv[1]);
  }
  reply_int(c, removed);
}

/* LTRIM <key> <start> <stop> */
void cmd_ltrim(Server& srv, Client& c, Args argv) {
  long long start, end;
  if (!parse_long(c, argv[2], start) || !parse_long(c, argv[3], end)) return;
  bool bad;
  List* l = find_list(srv, c, argv[1], bad);
  if (bad) return;
  if (!l) return reply_ok(c);
  long long n = static_cast<long long>(l->size());
  if (start < 0) start += n;
  if (end < 0) end += n;
  if (start < 0) start = 0;
  long long ltrim, rtrim;
  if (start > end || start >= n) {
    ltrim = n;
    rtrim = 0;
  } else {
    if (end >= n) end = n - 1;
    ltrim = start;
    rtrim = n - end - 1;
  }
  l->erase(l->begin(), l->begin() + ltrim);
  l->erase(l->end() - rtrim, l->end());
  srv.notify(kNotifyList, "ltrim", argv[1]);
  if (l->empty()) {
    srv.db.remove(argv[1]);
    srv.notify(kNotifyGeneric, "del", argv[1]);
  }
  srv.modified(argv[1]);
  reply_ok(c);
}

namespace {

// Parses a blocking timeout in seconds (a float); false after replying when it is bad.
bool parse_timeout(Client& c, std::string_view s, long long& deadline_ms) {
  long double secs;
  if (!parse_long_double(s, secs) || std::isinf(secs) || secs * 1000 > static_cast<long double>(LLONG_MAX / 2)) {
    reply_err(c, "timeout is not a float or out of range");
    return false;
  }
  if (secs < 0) {
    reply_err(c, "timeout is negative");
    return false;
  }
  long long ms = static_cast<long long>(std::ceil(secs * 1000));
  deadline_ms = ms > 0 ? now_ms() + ms : 0;
  return true;
}

// LEFT/RIGHT; false when it is neither.
bool parse_where(std::string_view s, bool& left) {
  if (s.size() == 4 && ::strncasecmp(s.data(), "left", 4) == 0) {
    left = true;
    return true;
  }
  if (s.size() == 5 && ::strncasecmp(s.data(), "right", 5) == 0) {
    left = false;
    return true;
  }
  return false;
}

std::string pop_one(List& l, bool left) {
  std::string v;
  if (left) {
    v = std::move(l.front());
    l.pop_front();
  } else {
    v = std::move(l.back());
    l.pop_back();
  }
  return v;
}

// Pops up to `count` elements of the list at `key` (which exists and is not empty) and replies
// [key, [elements]] (LMPOP's shape); logs it as LPOP/RPOP key count.
void mpop_reply(Server& srv, Client& c, std::string_view key, List& l, bool left, long long count) {
  std::size_t n = std::min<std::size_t>(static_cast<std::size_t>(count), l.size());
  reply_array(c, 2);
  reply_bulk(c, key);
  reply_array(c, n);
  for (std::size_t i = 0; i < n; ++i) reply_bulk(c, pop_one(l, left));
  c.propagate.push_back({left ? "LPOP" : "RPOP", std::string(key), std::to_string(n)});
  srv.notify(kNotifyList, left ? "lpop" : "rpop", key);
  if (l.empty()) {
    srv.db.remove(key);
    srv.notify(kNotifyGeneric, "del", key);
  }
  srv.modified(key);
}

// LMOVE's work once `src` holds a non-empty list: moves one element to `dst` (created when
// missing) and replies it. The caller checked `dst`'s type.
void move_element(Server& srv, Client& c, std::string_view src, List& l, std::string_view dst, bool from_left,
                  bool to_left) {
  std::string v = pop_one(l, from_left);
  // Push first, as Redis does (its events come in that order); `src` is still in the keyspace, so
  // when it is also `dst` the element goes back into the same list.
  Value* d = srv.db.find(dst);
  List& out = d ? d->list() : srv.db.add(dst, Type::list).list();
  reply_bulk(c, v);
  if (to_left)
    out.push_front(std::move(v));
  else
    out.push_back(std::move(v));
  srv.modified(dst);
  srv.notify(kNotifyList, to_left ? "lpush" : "rpush", dst);
  srv.list_pushed(dst);
  srv.notify(kNotifyList, from_left ? "lpop" : "rpop", src);
  if (l.empty()) {
    srv.db.remove(src);
    srv.notify(kNotifyGeneric, "del", src);
  }
  srv.modified(src);
  c.propagate.push_back({"LMOVE", std::string(src), std::string(dst), from_left ? "LEFT" : "RIGHT",
                         to_left ? "LEFT" : "RIGHT"});
}

// BLPOP/BRPOP (Redis blockingPopGenericCommand).
void bpop_generic(Server& srv, Client& c, Args argv, bool left) {
  long long deadline;
  if (!parse_timeout(c, argv.back(), deadline)) return;
  Args keys = argv.subspan(1, argv.size() - 2);
  for (auto key : keys) {
    Value* v = srv.db.find(key);
    if (!v) continue;
    if (v->type() != Type::list) return reply_wrongtype(c);
    List& l = v->list();
    reply_array(c, 2);
    reply_bulk(c, key);
    reply_pop(c, l, left);
    c.propagate.push_back({left ? "LPOP" : "RPOP", std::string(key)});
    srv.notify(kNotifyList, left ? "lpop" : "rpop", key);
    if (l.empty()) {
      srv.db.remove(key);
      srv.notify(kNotifyGeneric, "del", key);
    }
    srv.modified(key);
    return;
  }
  if (c.in_exec) return reply_nil_array(c);  // inside MULTI/EXEC a blocking pop does not block
  srv.block_client(c, keys, deadline, left);
}

// LMOVE/BLMOVE/RPOPLPUSH/BRPOPLPUSH; `timeout` empty = not blocking.
void lmove_generic(Server& srv, Client& c, std::string_view src, std::string_view dst, bool from_left, bool to_left,
                   std::string_view timeout) {
  long long deadline = 0;
  if (!timeout.empty() && !parse_timeout(c, timeout, deadline)) return;
  bool bad;
  List* l = find_list(srv, c, src, bad);
  if (bad) return;
  if (!l) {
    if (timeout.empty() || c.in_exec) return reply_nil(c);
    std::string_view one[] = {src};
    srv.block_client(c, one, deadline, from_left);
    c.block_target.assign(dst);
    c.block_target_left = to_left;
    return;
  }
  Value* d = srv.db.find(dst);
  if (d && d->type() != Type::list) return reply_wrongtype(c);
  move_element(srv, c, src, *l, dst, from_left, to_left);
}

// LMPOP/BLMPOP: argv[first] is numkeys.
void lmpop_generic(Server& srv, Client& c, Args argv, std::size_t first, long long deadline, bool blocking) {
  long long numkeys;
  if (!parse_ll(argv[first], numkeys) || numkeys <= 0)
    return reply_err(c, "numkeys should be greater than 0");
  if (numkeys > static_cast<long long>(argv.size() - first - 1))
    return reply_syntax_error(c);
  std::size_t where_at = first + 1 + static_cast<std::size_t>(numkeys);
  bool left;
  if (where_at >= argv.size() || !parse_where(argv[where_at], left)) return reply_syntax_error(c);
  long long count = -1;
  for (std::size_t i = where_at + 1; i < argv.size(); ++i) {
    if (argv[i].size() == 5 && ::strncasecmp(argv[i].data(), "count", 5) == 0 && i + 1 < argv.size() &&
        count == -1) {
      if (!parse_ll(argv[++i], count) || count <= 0) return reply_err(c, "count should be greater than 0");
    } else {
      return reply_syntax_error(c);
    }
  }
  if (count == -1) count = 1;
  Args keys = argv.subspan(first + 1, static_cast<std::size_t>(numkeys));
  for (auto key : keys) {
    Value* v = srv.db.find(key);
    if (!v) continue;
    if (v->type() != Type::list) return reply_wrongtype(c);
    return mpop_reply(srv, c, key, v->list(), left, count);
  }
  if (!blocking || c.in_exec) return reply_nil_array(c);
  srv.block_client(c, keys, deadline, left);
  c.block_count = count;
}

}  // namespace

/* BLPOP <key> [<key> ...] <timeout> */
void cmd_blpop(Server& srv, Client& c, Args argv) { bpop_generic(srv, c, argv, true); }
/* BRPOP <key> [<key> ...] <timeout> */
void cmd_brpop(Server& srv, Client& c, Args argv) { bpop_generic(srv, c, argv, false); }

/* LMOVE <source> <destination> <LEFT | RIGHT> <LEFT | RIGHT> */
void cmd_lmove(Server& srv, Client& c, Args argv) {
  bool from, to;
  if (!parse_where(argv[3], from) || !parse_where(argv[4], to)) return reply_syntax_error(c);
  lmove_generic(srv, c, argv[1], argv[2], from, to, {});
}

/* BLMOVE <source> <destination> <LEFT | RIGHT> <LEFT | RIGHT> <timeout> */
void cmd_blmove(Server& srv, Client& c, Args argv) {
  bool from, to;
  if (!parse_where(argv[3], from) || !parse_where(argv[4], to)) return reply_syntax_error(c);
  lmove_generic(srv, c, argv[1], argv[2], from, to, argv[5]);
}

/* RPOPLPUSH <source> <destination> */
void cmd_rpoplpush(Server& srv, Client& c, Args argv) { lmove_generic(srv, c, argv[1], argv[2], false, true, {}); }

/* BRPOPLPUSH <source> <destination> <timeout> */
void cmd_brpoplpush(Server& srv, Client& c, Args argv) {
  lmove_generic(srv, c, argv[1], argv[2], false, true, argv[3]);
}

/* LMPOP <numkeys> <key> [<key> ...] <LEFT | RIGHT> [COUNT <count>] */
void cmd_lmpop(Server& srv, Client& c, Args argv) { lmpop_generic(srv, c, argv, 1, 0, false); }

/* BLMPOP <timeout> <numkeys> <key> [<key> ...] <LEFT | RIGHT> [COUNT <count>] */
void cmd_blmpop(Server& srv, Client& c, Args argv) {
  long long deadline;
  if (!parse_timeout(c, argv[1], deadline)) return;
  lmpop_generic(srv, c, argv, 2, deadline, true);
}

/* LPOS <key> <element> [RANK <rank>] [COUNT <num-matches>] [MAXLEN <len>] */
void cmd_lpos(Server& srv, Client& c, Args argv) {
  long long rank = 1, count = -1, maxlen = 0;
  for (std::size_t i = 3; i < argv.size(); ++i) {
    std::string o(argv[i]);
    for (auto& ch : o) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    bool more = i + 1 < argv.size();
    if (o == "RANK" && more) {
      if (!parse_long(c, argv[++i], rank)) return;
      if (rank == LLONG_MIN) rank = -1;  // Redis negates it, overflows and ends up counting from the tail
      if (rank == 0)
        return reply_err(c, "RANK can't be zero: use 1 to start from the first match, 2 from the second ... "
                            "or use negative to start from the end of the list");
    } else if (o == "COUNT" && more) {
      if (!parse_long(c, argv[++i], count)) return;
      if (count < 0) return reply_err(c, "COUNT can't be negative");
    } else if (o == "MAXLEN" && more) {
      if (!parse_long(c, argv[++i], maxlen)) return;
      if (maxlen < 0) return reply_err(c, "MAXLEN can't be negative");
    } else {
      return reply_syntax_error(c);
    }
  }
  bool bad;
  List* l = find_list(srv, c, argv[1], bad);
  if (bad) return;
  if (!l) return count >= 0 ? reply_array(c, 0) : reply_nil(c);
  std::vector<long long> hits;
  long long n = static_cast<long long>(l->size());
  long long skip = (rank < 0 ? -rank : rank) - 1;
  for (long long k = 0; k < n && (maxlen == 0 || k < maxlen); ++k) {
    long long idx = rank > 0 ? k : n - 1 - k;
    if ((*l)[static_cast<std::size_t>(idx)] != argv[2]) continue;
    if (skip > 0) {
      --skip;
      continue;
    }
    hits.push_back(idx);
    if (count < 0 || (count > 0 && static_cast<long long>(hits.size()) >= count)) break;
  }
  if (count < 0) return hits.empty() ? reply_nil(c) : reply_int(c, hits[0]);
  reply_array(c, hits.size());
  for (long long h : hits) reply_int(c, h);
}

// ---- blocking machinery (Redis blocked.c) ----

void Server::block_client(Client& c, Args keys, long long deadline_ms, bool left) {
  c.blocked = true;
  c.block_wait = false;
  c.block_left = left;
  c.block_deadline = deadline_ms;
  c.block_db = c.db;
  c.block_target.clear();
  c.block_count = 0;
  c.blocked_keys.clear();
  for (auto k : keys) {
    std::string q = db_key(c.db, k);
    if (std::find(c.blocked_keys.begin(), c.blocked_keys.end(), q) != c.blocked_keys.end()) continue;
    auto it = m_blocking.find(q);
    if (it == m_blocking.end()) it = m_blocking.emplace(q, std::deque<Client*>{}).first;
    it->second.push_back(&c);
    c.blocked_keys.push_back(std::move(q));
  }
  if (deadline_ms) m_block_timeouts.emplace(deadline_ms, &c);
  ++m_nblocked;
}

void Server::block_for_wait(Client& c, long long deadline_ms) {
  block_client(c, {}, deadline_ms, true);
  c.block_wait = true;
}

void Server::unblock_client(Client& c) {
  if (!c.blocked) return;
  remove_from_index(m_blocking, c.blocked_keys, &c);
  if (c.block_deadline) m_block_timeouts.erase({c.block_deadline, &c});
  c.blocked = false;
  c.block_wait = false;
  c.blocked_keys.clear();
  --m_nblocked;
  if (!c.closing) m_unblocked.push_back(&c);
}

void Server::list_pushed(std::string_view key) {
  if (m_blocking.empty() || m_loading) return;
  std::string q = db_key(db.selected(), key);
  if (m_blocking.find(q) == m_blocking.end()) return;
  if (std::find(m_ready_keys.begin(), m_ready_keys.end(), q) == m_ready_keys.end()) m_ready_keys.push_back(std::move(q));
}

void Server::db_swapped(int a, int b) {
  if (m_blocking.empty()) return;
  int keep = db.selected();
  for (auto& [q, clients] : m_blocking) {
    auto [d, key] = split_db_key(q);
    if (d != a && d != b) continue;
    db.select(d);
    Value* v = db.find(key);
    if (v && v->type() == Type::list) list_pushed(key);
  }
  db.select(keep);
}

void Server::serve_ready_lists() {
  int keep = db.selected();
  while (!m_ready_keys.empty()) {
    std::vector<std::string> keys;
    keys.swap(m_ready_keys);
    for (auto& q : keys) {
      auto [d, key] = split_db_key(q);
      db.select(d);
      for (;;) {
        auto bit = m_blocking.find(q);
        if (bit == m_blocking.end() || bit->second.empty()) break;
        Value* v = db.find(key);
        if (!v || v->type() != Type::list || v->list().empty()) break;
        Client* c = bit->second.front();  // FIFO: the longest waiting client first
        List& l = v->list();
        std::string k(key);  // the client's blocked_keys own q's storage: copy before unblocking
        const std::size_t out_mark = c->out.size();
        const std::size_t log_mark = m_aof_buf.size();
        if (!c->block_target.empty()) {
          Value* dv = db.find(c->block_target);
          if (dv && dv->type() != Type::list) {
            reply_wrongtype(*c);
          } else {
            std::string target = c->block_target;
            move_element(*this, *c, k, l, target, c->block_left, c->block_target_left);
          }
        } else if (c->block_count > 0) {
          mpop_reply(*this, *c, k, l, c->block_left, c->block_count);
        } else {
          reply_array(*c, 2);
          reply_bulk(*c, k);
          reply_pop(*c, l, c->block_left);
          c->propagate.push_back({c->block_left ? "LPOP" : "RPOP", k});
          notify(kNotifyList, c->block_left ? "lpop" : "rpop", k);
          if (l.empty()) {
            db.remove(k);
            notify(kNotifyGeneric, "del", k);
          }
          modified(k);
        }
        for (auto& p : c->propagate) propagate(p);
        c->propagate.clear();
        // the element is this client's only once the pop is logged
        if (m_aof_buf.size() != log_mark) hold_until_logged(*c, out_mark);
        unblock_client(*c);
        queue_write(*c);
      }
    }
  }
  db.select(keep);
}

void Server::kill_client(Client& k, Client& by) {
  if (&k == &by)
    k.close_after_reply = true;
  else
    close_client(k);
}

void Server::unblock_with(Client& k, bool error) {
  if (error) {
    k.out.append("-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n");
    count_error("UNBLOCKED");
    if (k.last_cmd) ++k.last_cmd->failed_calls;
  } else if (k.block_wait)
    reply_int(k, 0);
  else
    reply_nil_array(k);
  unblock_client(k);
  queue_write(k);
}

void Server::expire_blocked_clients() {
  long long now = now_ms();
  while (!m_block_timeouts.empty() && m_block_timeouts.begin()->first <= now) {
    Client* c = m_block_timeouts.begin()->second;
    if (c->block_wait)
      reply_int(*c, 0);
    else
      reply_nil_array(*c);
    unblock_client(*c);
    queue_write(*c);
  }
}

}  // namespace ipc::managerd
