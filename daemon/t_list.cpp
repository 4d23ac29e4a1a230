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
  if (l->empty()) srv.db.remove(argv[1]);
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
    if (l->empty()) srv.db.remove(argv[1]);
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
  if (l->empty()) srv.db.remove(argv[1]);
  srv.modified(argv[1]);
  reply_ok(c);
}

namespace {

// BLPOP/BRPOP (Redis blockingPopGenericCommand).
void bpop_generic(Server& srv, Client& c, Args argv, bool left) {
  long double secs;
  if (!parse_long_double(argv.back(), secs) || std::isinf(secs) || secs * 1000 > static_cast<long double>(LLONG_MAX / 2))
    return reply_err(c, "timeout is not a float or out of range");
  if (secs < 0) return reply_err(c, "timeout is negative");
  long long ms = static_cast<long long>(std::ceil(secs * 1000));
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
    if (l.empty()) srv.db.remove(key);
    srv.modified(key);
    return;
  }
  if (c.in_exec) return reply_nil_array(c);  // inside MULTI/EXEC a blocking pop does not block
  srv.block_client(c, keys, ms > 0 ? now_ms() + ms : 0, left);
}

}  // namespace

/* BLPOP <key> [<key> ...] <timeout> */
void cmd_blpop(Server& srv, Client& c, Args argv) { bpop_generic(srv, c, argv, true); }
/* BRPOP <key> [<key> ...] <timeout> */
void cmd_brpop(Server& srv, Client& c, Args argv) { bpop_generic(srv, c, argv, false); }

// ---- blocking machinery (Redis blocked.c) ----

void Server::block_client(Client& c, Args keys, long long deadline_ms, bool left) {
  c.blocked = true;
  c.block_left = left;
  c.block_deadline = deadline_ms;
  c.blocked_keys.clear();
  for (auto k : keys) {
    if (std::find(c.blocked_keys.begin(), c.blocked_keys.end(), k) != c.blocked_keys.end()) continue;
    c.blocked_keys.emplace_back(k);
    auto it = m_blocking.find(k);
    if (it == m_blocking.end()) it = m_blocking.emplace(std::string(k), std::deque<Client*>{}).first;
    it->second.push_back(&c);
  }
  if (deadline_ms) m_block_timeouts.emplace(deadline_ms, &c);
  ++m_nblocked;
}

void Server::unblock_client(Client& c) {
  if (!c.blocked) return;
  remove_from_index(m_blocking, c.blocked_keys, &c);
  if (c.block_deadline) m_block_timeouts.erase({c.block_deadline, &c});
  c.blocked = false;
  c.blocked_keys.clear();
  --m_nblocked;
  if (!c.closing) m_unblocked.push_back(&c);
}

void Server::list_pushed(std::string_view key) {
  if (m_blocking.empty() || m_loading) return;
  if (m_blocking.find(key) == m_blocking.end()) return;
  if (std::find(m_ready_keys.begin(), m_ready_keys.end(), key) == m_ready_keys.end())
    m_ready_keys.emplace_back(key);
}

void Server::serve_ready_lists() {
  while (!m_ready_keys.empty()) {
    std::vector<std::string> keys;
    keys.swap(m_ready_keys);
    for (auto& key : keys) {
      for (;;) {
        auto bit = m_blocking.find(key);
        if (bit == m_blocking.end() || bit->second.empty()) break;
        Value* v = db.find(key);
        if (!v || v->type() != Type::list || v->list().empty()) break;
        Client* c = bit->second.front();  // FIFO: the longest waiting client first
        List& l = v->list();
        const std::size_t out_mark = c->out.size();
        reply_array(*c, 2);
        reply_bulk(*c, key);
        reply_pop(*c, l, c->block_left);
        aof_append_strings({c->block_left ? "LPOP" : "RPOP", key});
        hold_until_logged(*c, out_mark);  // the element is this client's only once the pop is logged
        if (l.empty()) db.remove(key);
        modified(key);
        unblock_client(*c);
        queue_write(*c);
      }
    }
  }
}

void Server::expire_blocked_clients() {
  long long now = now_ms();
  while (!m_block_timeouts.empty() && m_block_timeouts.begin()->first <= now) {
    Client* c = m_block_timeouts.begin()->second;
    reply_nil_array(*c);
    unblock_client(*c);
    queue_write(*c);
  }
}

}  // namespace ipc::managerd
