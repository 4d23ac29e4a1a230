// Hash values (dict proxies): HSET HGET HMGET HDEL HEXISTS HLEN HKEYS HVALS HGETALL HINCRBY* ...
#include "server.hpp"

#include <climits>
#include <cmath>
#include <strings.h>

namespace ipc::managerd {

using detail::resp::parse_ll;

// ---- Hash type API ----

std::string* Hash::find(std::string_view field) {
  if (m_big) {
    auto it = m_big->find(field);
    return it == m_big->end() ? nullptr : &it->second;
  }
  for (auto& [k, v] : m_small)
    if (k == field) return &v;
  return nullptr;
}

void Hash::convert() {
  m_big = std::make_unique<StrMap<std::string>>();
  m_big->reserve(m_small.size() * 2);
  for (auto& [k, v] : m_small) m_big->emplace(std::move(k), std::move(v));
  m_small.clear();
  m_small.shrink_to_fit();
}

bool Hash::set(std::string_view field, std::string_view value) {
  const std::size_t max_value = max_small_value.load(std::memory_order_relaxed);
  if (!m_big && (field.size() > max_value || value.size() > max_value)) convert();
  if (std::string* v = find(field)) {
    v->assign(value);
    return false;
  }
  if (!m_big && m_small.size() + 1 > max_small_entries.load(std::memory_order_relaxed)) convert();
  if (m_big)
    m_big->emplace(std::string(field), std::string(value));
  else
    m_small.emplace_back(std::string(field), std::string(value));
  return true;
}

bool Hash::remove(std::string_view field) {
  if (m_big) {
    auto it = m_big->find(field);
    if (it == m_big->end()) return false;
    m_big->erase(it);
    return true;
  }
  for (auto it = m_small.begin(); it != m_small.end(); ++it) {
    if (it->first == field) {
      m_small.erase(it);  // keeps the order of the others, as a listpack does
      return true;
    }
  }
  return false;
}

namespace {

Hash* find_hash(Server& srv, Client& c, std::string_view key, bool& bad) {
  return find_typed<Type::hash>(srv, c, key, bad);
}

// The hash at `key`, created when missing; nullptr after replying WRONGTYPE.
Hash* hash_for_write(Server& srv, Client& c, std::string_view key) {
  bool bad;
  Hash* h = find_hash(srv, c, key, bad);
  if (bad) return nullptr;
  return h ? h : &srv.db.add(key, Type::hash).hash();
}

// Deletes the key when its hash became empty.
void drop_if_empty(Server& srv, std::string_view key, Hash& h) {
  if (h.size() == 0) srv.db.remove(key);
}

}  // namespace

// ---- Hash commands ----

/* HSET <key> <field> <value> [<field> <value> ...] */
void cmd_hset(Server& srv, Client& c, Args argv) {
  if (argv.size() % 2 == 1) return reply_arity(c, "hset");
  Hash* h = hash_for_write(srv, c, argv[1]);
  if (!h) return;
  long long created = 0;
  for (std::size_t i = 2; i < argv.size(); i += 2) created += h->set(argv[i], argv[i + 1]);
  srv.modified(argv[1]);
  srv.notify(kNotifyHash, "hset", argv[1]);
  reply_int(c, created);
}

/* HMSET <key> <field> <value> [<field> <value> ...] */
void cmd_hmset(Server& srv, Client& c, Args argv) {
  if (argv.size() % 2 == 1) return reply_arity(c, "hmset");
  Hash* h = hash_for_write(srv, c, argv[1]);
  if (!h) return;
  for (std::size_t i = 2; i < argv.size(); i += 2) h->set(argv[i], argv[i + 1]);
  srv.modified(argv[1]);
  srv.notify(kNotifyHash, "hset", argv[1]);
  reply_ok(c);
}

/* HSETNX <key> <field> <value> */
void cmd_hsetnx(Server& srv, Client& c, Args argv) {
  Hash* h = hash_for_write(srv, c, argv[1]);
  if (!h) return;
  if (h->find(argv[2])) return reply_int(c, 0);
  h->set(argv[2], argv[3]);
  srv.modified(argv[1]);
  srv.notify(kNotifyHash, "hset", argv[1]);
  reply_int(c, 1);
}

/* HGET <key> <field> */
void cmd_hget(Server& srv, Client& c, Args argv) {
  bool bad;
  Hash* h = find_hash(srv, c, argv[1], bad);
  if (bad) return;
  std::string* v = h ? h->find(argv[2]) : nullptr;
  v ? reply_bulk(c, *v) : reply_nil(c);
}

/* HMGET <key> <field> [<field> ...] */
void cmd_hmget(Server& srv, Client& c, Args argv) {
  bool bad;
  Hash* h = find_hash(srv, c, argv[1], bad);
  if (bad) return;
  reply_array(c, argv.size() - 2);
  for (std::size_t i = 2; i < argv.size(); ++i) {
    std::string* v = h ? h->find(argv[i]) : nullptr;
    v ? reply_bulk(c, *v) : reply_nil(c);
  }
}

/* HDEL <key> <field> [<field> ...] */
void cmd_hdel(Server& srv, Client& c, Args argv) {
  bool bad;
  Hash* h = find_hash(srv, c, argv[1], bad);
  if (bad) return;
  if (!h) return reply_int(c, 0);
  long long n = 0;
  for (std::size_t i = 2; i < argv.size() && h->size() > 0; ++i) n += h->remove(argv[i]);
  if (n > 0) {
    srv.notify(kNotifyHash, "hdel", argv[1]);
    if (h->size() == 0) srv.notify(kNotifyGeneric, "del", argv[1]);
    drop_if_empty(srv, argv[1], *h);
    srv.modified(argv[1]);
  }
  reply_int(c, n);
}

/* HEXISTS <key> <field> */
void cmd_hexists(Server& srv, Client& c, Args argv) {
  bool bad;
  Hash* h = find_hash(srv, c, argv[1], bad);
  if (bad) return;
  reply_int(c, h && h->find(argv[2]) ? 1 : 0);
}

/* HLEN <key> */
void cmd_hlen(Server& srv, Client& c, Args argv) {
  bool bad;
  Hash* h = find_hash(srv, c, argv[1], bad);
  if (bad) return;
  reply_int(c, h ? static_cast<long long>(h->size()) : 0);
}

/* HSTRLEN <key> <field> */
void cmd_hstrlen(Server& srv, Client& c, Args argv) {
  bool bad;
  Hash* h = find_hash(srv, c, argv[1], bad);
  if (bad) return;
  std::string* v = h ? h->find(argv[2]) : nullptr;
  reply_int(c, v ? static_cast<long long>(v->size()) : 0);
}

namespace {
void hgetall_generic(Server& srv, Client& c, Args argv, bool keys, bool vals) {
  bool bad;
  Hash* h = find_hash(srv, c, argv[1], bad);
  if (bad) return;
  bool map = keys && vals;  // HGETALL: a map in RESP3
  if (!h) return map ? reply_map(c, 0) : reply_array(c, 0);
  if (map)
    reply_map(c, h->size());
  else
    reply_array(c, h->size());
  h->for_each([&](std::string_view k, std::string_view v) {
    if (keys) reply_bulk(c, k);
    if (vals) reply_bulk(c, v);
  });
}
}  // namespace

/* HKEYS <key> */
void cmd_hkeys(Server& srv, Client& c, Args argv) { hgetall_generic(srv, c, argv, true, false); }
/* HVALS <key> */
void cmd_hvals(Server& srv, Client& c, Args argv) { hgetall_generic(srv, c, argv, false, true); }
/* HGETALL <key> */
void cmd_hgetall(Server& srv, Client& c, Args argv) { hgetall_generic(srv, c, argv, true, true); }

/* HINCRBY <key> <field> <increment> */
void cmd_hincrby(Server& srv, Client& c, Args argv) {
  long long incr, cur = 0;
  if (!parse_ll(argv[3], incr)) return reply_not_integer(c);
  Hash* h = hash_for_write(srv, c, argv[1]);
  if (!h) return;
  if (std::string* v = h->find(argv[2])) {
    if (!parse_ll(*v, cur)) {
      drop_if_empty(srv, argv[1], *h);
      return reply_err(c, "hash value is not an integer");
    }
  }
  if ((incr < 0 && cur < 0 && incr < LLONG_MIN - cur) || (incr > 0 && cur > 0 && incr > LLONG_MAX - cur)) {
    drop_if_empty(srv, argv[1], *h);
    return reply_err(c, "increment or decrement would overflow");
  }
  cur += incr;
  h->set(argv[2], std::to_string(cur));
  srv.modified(argv[1]);
  srv.notify(kNotifyHash, "hincrby", argv[1]);
  reply_int(c, cur);
}

/* HINCRBYFLOAT <key> <field> <increment> */
void cmd_hincrbyfloat(Server& srv, Client& c, Args argv) {
  long double incr, cur = 0;
  if (!parse_long_double(argv[3], incr)) return reply_err(c, "value is not a valid float");
  if (std::isnan(incr) || std::isinf(incr)) return reply_err(c, "value is NaN or Infinity");
  Hash* h = hash_for_write(srv, c, argv[1]);
  if (!h) return;
  if (std::string* v = h->find(argv[2])) {
    if (!parse_long_double(*v, cur)) {
      drop_if_empty(srv, argv[1], *h);
      return reply_err(c, "hash value is not a float");
    }
  }
  cur += incr;
  if (std::isnan(cur) || std::isinf(cur)) {
    drop_if_empty(srv, argv[1], *h);
    return reply_err(c, "increment would produce NaN or Infinity");
  }
  std::string text = format_long_double(cur);
  h->set(argv[2], text);
  srv.modified(argv[1]);
  srv.notify(kNotifyHash, "hincrbyfloat", argv[1]);
  reply_bulk(c, text);
  c.propagate.push_back({"HSET", std::string(argv[1]), std::string(argv[2]), text});
}

}  // namespace ipc::managerd

namespace ipc::managerd {

/* HRANDFIELD <key> [<count> [WITHVALUES]] */
void cmd_hrandfield(Server& srv, Client& c, Args argv) {
  long long count = 0;
  bool withvalues = false;
  if (argv.size() >= 3) {
    if (!parse_ll(argv[2], count)) return reply_not_integer(c);
    if (count == LLONG_MIN) return reply_err(c, kCountRange);
    if (argv.size() > 4 || (argv.size() == 4 && !(argv[3].size() == 10 && ::strncasecmp(argv[3].data(), "withvalues", 10) == 0)))
      return reply_syntax_error(c);
    if (argv.size() == 4) {
      withvalues = true;
      if (count < -LLONG_MAX / 2 || count > LLONG_MAX / 2) return reply_err(c, "value is out of range");
    }
  }
  bool bad;
  Hash* h = find_typed<Type::hash>(srv, c, argv[1], bad);
  if (bad) return;
  std::vector<std::pair<std::string_view, std::string_view>> all;
  if (h) {
    all.reserve(h->size());
    h->for_each([&](std::string_view f, std::string_view v) { all.emplace_back(f, v); });
  }
  if (argv.size() == 2) {
    if (!h) return reply_nil(c);
    return reply_bulk(c, all[random_index(all.size())].first);
  }
  if (!h || count == 0) return reply_array(c, 0);
  auto emit = [&](const std::pair<std::string_view, std::string_view>& fv) {
    if (withvalues && c.resp == 3) reply_array(c, 2);
    reply_bulk(c, fv.first);
    if (withvalues) reply_bulk(c, fv.second);
  };
  auto header = [&](std::size_t n) { reply_array(c, withvalues && c.resp == 2 ? n * 2 : n); };
  if (count < 0) {  // repeats allowed
    // Redis 7.0 starts on any count and runs out of memory: refuse a reply that could not fit
    // the client's output buffer.
    if (static_cast<unsigned long long>(-count) > srv.options().client_output_buffer_limit / 4)
      return reply_err(c, "value is out of range");
    header(static_cast<std::size_t>(-count));
    for (long long i = 0; i < -count; ++i) emit(all[random_index(all.size())]);
    return;
  }
  std::size_t n = std::min(static_cast<std::size_t>(count), all.size());
  if (n < all.size())  // a partial Fisher-Yates shuffle picks n distinct fields
    for (std::size_t i = 0; i < n; ++i) std::swap(all[i], all[i + random_index(all.size() - i)]);
  header(n);
  for (std::size_t i = 0; i < n; ++i) emit(all[i]);
}

}  // namespace ipc::managerd
