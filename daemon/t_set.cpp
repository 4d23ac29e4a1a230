// Set values: SADD SREM SMEMBERS SISMEMBER SMISMEMBER SCARD SPOP SRANDMEMBER SMOVE SINTER SUNION SDIFF ...
#include "server.hpp"

#include <algorithm>
#include <climits>

namespace ipc::managerd {

using detail::resp::parse_ll;

// ---- Set type API ----

Set::Set(const Set& o) : m_intset(o.m_intset) {
  m_table.reserve(o.size());
  m_dense.reserve(o.size());
  for (const SetMember* m : o.m_dense) m_dense.push_back(&*m_table.insert(SetMember{m->value, m_dense.size()}).first);
}

Set& Set::operator=(const Set& o) {
  if (this != &o) *this = Set(o);
  return *this;
}

bool Set::add(std::string_view m) {
  auto [it, added] = m_table.insert(SetMember{std::string(m), m_dense.size()});
  if (!added) return false;
  m_dense.push_back(&*it);
  if (m_intset) {
    long long n;
    // Redis keeps a set as an intset while every member is an integer and there are few of them;
    // once converted it never goes back.
    if (m_table.size() > kMaxIntsetEntries || !parse_ll(m, n)) m_intset = false;
  }
  return true;
}

bool Set::remove(std::string_view m) {
  auto it = m_table.find(m);
  if (it == m_table.end()) return false;
  const SetMember* last = m_dense.back();  // the last entry of the index takes the removed one's place
  m_dense[it->slot] = last;
  last->slot = it->slot;
  m_dense.pop_back();
  m_table.erase(it);
  // Shrink a table left mostly empty, as Redis resizes its dicts below 10% fill, so scans stay
  // proportional to the members. A scan in progress restarts on the new bucket count
  // (duplicates, never misses); shrinking below 1/4 keeps this amortized O(1).
  if (m_table.bucket_count() > 64 && m_table.size() * 4 < m_table.bucket_count()) m_table.rehash(0);
  return true;
}

std::vector<std::string_view> Set::members() const {
  std::vector<std::string_view> out(m_table.begin(), m_table.end());
  if (m_intset) {
    std::sort(out.begin(), out.end(), [](std::string_view a, std::string_view b) {
      long long x = 0, y = 0;
      parse_ll(a, x);
      parse_ll(b, y);
      return x < y;
    });
  }
  return out;
}

const std::string& Set::random() const { return m_dense[random_index(m_dense.size())]->value; }

namespace {

Set* find_set(Server& srv, Client& c, std::string_view key, bool& bad) {
  return find_typed<Type::set>(srv, c, key, bad);
}

void reply_members(Client& c, const Set& s) {
  auto m = s.members();
  reply_set(c, m.size());
  for (auto v : m) reply_bulk(c, v);
}

// Stores `result` at `dst` (deleting it when empty) and replies its size (the *STORE commands).
void store_result(Server& srv, Client& c, std::string_view dst, Set result, const char* event) {
  long long n = static_cast<long long>(result.size());
  bool existed = srv.db.find(dst) != nullptr;
  if (n == 0) {
    if (existed) {
      srv.db.remove(dst);
      srv.modified(dst);
      srv.notify(kNotifyGeneric, "del", dst);
    }
  } else {
    Value v;
    v.data = std::move(result);
    srv.db.set(dst, std::move(v));
    srv.modified(dst);
    srv.notify(kNotifySet, event, dst);
  }
  reply_int(c, n);
}

enum class SetOp { inter, uni, diff };

// SINTER/SUNION/SDIFF over `keys`; false after replying WRONGTYPE.
bool set_op(Server& srv, Client& c, Args keys, SetOp op, Set& out) {
  std::vector<const Set*> sets;
  for (auto k : keys) {
    Value* v = srv.db.find(k);
    if (v && v->type() != Type::set) {
      reply_wrongtype(c);
      return false;
    }
    sets.push_back(v ? &v->set() : nullptr);
  }
  switch (op) {
    case SetOp::inter: {
      for (auto* s : sets)
        if (!s) return true;  // an empty set makes the intersection empty
      auto smallest = std::min_element(sets.begin(), sets.end(), [](auto* a, auto* b) { return a->size() < b->size(); });
      for (auto m : (*smallest)->members()) {
        bool all = true;
        for (auto* s : sets)
          if (s != *smallest && !s->contains(m)) {
            all = false;
            break;
          }
        if (all) out.add(m);
      }
      break;
    }
    case SetOp::uni:
      for (auto* s : sets)
        if (s)
          for (auto& m : s->table()) out.add(m);
      break;
    case SetOp::diff:
      if (!sets[0]) return true;
      for (auto& m : sets[0]->table()) {
        bool other = false;
        for (std::size_t i = 1; i < sets.size() && !other; ++i) other = sets[i] && sets[i]->contains(m);
        if (!other) out.add(m);
      }
      break;
  }
  return true;
}

void set_op_command(Server& srv, Client& c, Args argv, SetOp op) {
  Set out;
  if (set_op(srv, c, argv.subspan(1), op, out)) reply_members(c, out);
}

void set_op_store(Server& srv, Client& c, Args argv, SetOp op) {
  Set out;
  static const char* events[] = {"sinterstore", "sunionstore", "sdiffstore"};
  if (set_op(srv, c, argv.subspan(2), op, out))
    store_result(srv, c, argv[1], std::move(out), events[static_cast<int>(op)]);
}

// Removes `m` from the set at `key`, deleting the key when it empties. Returns whether the key
// was deleted.
bool remove_member(Server& srv, std::string_view key, Set& s, std::string_view m) {
  s.remove(m);
  if (s.size() == 0) {
    srv.db.remove(key);
    return true;
  }
  return false;
}

}  // namespace

// ---- Set commands ----

/* SADD <key> <member> [<member> ...] */
void cmd_sadd(Server& srv, Client& c, Args argv) {
  bool bad;
  Set* s = find_set(srv, c, argv[1], bad);
  if (bad) return;
  if (!s) s = &srv.db.add(argv[1], Type::set).set();
  long long added = 0;
  for (std::size_t i = 2; i < argv.size(); ++i) added += s->add(argv[i]);
  if (added) {
    srv.modified(argv[1]);
    srv.notify(kNotifySet, "sadd", argv[1]);
  }
  reply_int(c, added);
}

/* SREM <key> <member> [<member> ...] */
void cmd_srem(Server& srv, Client& c, Args argv) {
  bool bad;
  Set* s = find_set(srv, c, argv[1], bad);
  if (bad) return;
  if (!s) return reply_int(c, 0);
  long long removed = 0;
  bool deleted = false;
  for (std::size_t i = 2; i < argv.size() && !deleted; ++i) {
    if (!s->contains(argv[i])) continue;
    ++removed;
    deleted = remove_member(srv, argv[1], *s, argv[i]);
  }
  if (removed) {
    srv.modified(argv[1]);
    srv.notify(kNotifySet, "srem", argv[1]);
    if (deleted) srv.notify(kNotifyGeneric, "del", argv[1]);
  }
  reply_int(c, removed);
}

/* SMEMBERS <key> */
void cmd_smembers(Server& srv, Client& c, Args argv) {
  bool bad;
  Set* s = find_set(srv, c, argv[1], bad);
  if (bad) return;
  if (!s) return reply_set(c, 0);
  reply_members(c, *s);
}

/* SISMEMBER <key> <member> */
void cmd_sismember(Server& srv, Client& c, Args argv) {
  bool bad;
  Set* s = find_set(srv, c, argv[1], bad);
  if (bad) return;
  reply_int(c, s && s->contains(argv[2]) ? 1 : 0);
}

/* SMISMEMBER <key> <member> [<member> ...] */
void cmd_smismember(Server& srv, Client& c, Args argv) {
  bool bad;
  Set* s = find_set(srv, c, argv[1], bad);
  if (bad) return;
  reply_array(c, argv.size() - 2);
  for (std::size_t i = 2; i < argv.size(); ++i) reply_int(c, s && s->contains(argv[i]) ? 1 : 0);
}

/* SCARD <key> */
void cmd_scard(Server& srv, Client& c, Args argv) {
  bool bad;
  Set* s = find_set(srv, c, argv[1], bad);
  if (bad) return;
  reply_int(c, s ? static_cast<long long>(s->size()) : 0);
}

/* SPOP <key> [<count>] */
void cmd_spop(Server& srv, Client& c, Args argv) {
  if (argv.size() > 3) return reply_syntax_error(c);
  long long count = -1;
  if (argv.size() == 3) {
    if (!parse_ll(argv[2], count) || count < 0) return reply_err(c, "value is out of range, must be positive");
  }
  bool bad;
  Set* s = find_set(srv, c, argv[1], bad);
  if (bad) return;
  if (count < 0) {
    if (!s) return reply_nil(c);
    std::string m = s->random();
    reply_bulk(c, m);
    bool deleted = remove_member(srv, argv[1], *s, m);
    srv.modified(argv[1]);
    srv.notify(kNotifySet, "spop", argv[1]);
    if (deleted) srv.notify(kNotifyGeneric, "del", argv[1]);
    c.propagate.push_back({"SREM", std::string(argv[1]), m});
    return;
  }
  if (!s || count == 0) return reply_set(c, 0);
  if (static_cast<std::size_t>(count) >= s->size()) {  // the whole set
    reply_members(c, *s);
    srv.db.remove(argv[1]);
    srv.modified(argv[1]);
    srv.notify(kNotifySet, "spop", argv[1]);
    srv.notify(kNotifyGeneric, "del", argv[1]);
    c.propagate.push_back({"DEL", std::string(argv[1])});
    return;
  }
  std::vector<std::string> popped;
  std::vector<std::string> prop = {"SREM", std::string(argv[1])};
  for (long long i = 0; i < count; ++i) {
    std::string m = s->random();
    s->remove(m);
    prop.push_back(m);
    popped.push_back(std::move(m));
  }
  reply_set(c, popped.size());
  for (auto& m : popped) reply_bulk(c, m);
  srv.modified(argv[1]);
  srv.notify(kNotifySet, "spop", argv[1]);
  c.propagate.push_back(std::move(prop));
}

/* SRANDMEMBER <key> [<count>] */
void cmd_srandmember(Server& srv, Client& c, Args argv) {
  if (argv.size() > 3) return reply_syntax_error(c);
  bool has_count = argv.size() == 3;
  long long count = 0;
  if (has_count && !parse_ll(argv[2], count)) return reply_not_integer(c);
  if (has_count && count == LLONG_MIN) return reply_err(c, kCountRange);
  bool bad;
  Set* s = find_set(srv, c, argv[1], bad);
  if (bad) return;
  if (!has_count) return s ? reply_bulk(c, s->random()) : reply_nil(c);
  if (!s || count == 0) return reply_array(c, 0);
  if (count < 0) {  // repeats allowed
    // Redis 7.0 starts on any count and runs out of memory: refuse a reply that could not fit
    // the client's output buffer.
    if (static_cast<unsigned long long>(-count) > srv.options().client_output_buffer_limit / 4)
      return reply_err(c, "value is out of range");
    reply_array(c, static_cast<std::size_t>(-count));
    if (static_cast<unsigned long long>(-count) < s->size()) {
      for (long long i = 0; i < -count; ++i) reply_bulk(c, s->random());
    } else {  // many picks: one pass to list the members, then O(1) each
      std::vector<std::string_view> all(s->table().begin(), s->table().end());
      for (long long i = 0; i < -count; ++i) reply_bulk(c, all[random_index(all.size())]);
    }
    return;
  }
  if (static_cast<std::size_t>(count) >= s->size()) {
    auto m = s->members();
    reply_array(c, m.size());
    for (auto v : m) reply_bulk(c, v);
    return;
  }
  std::vector<std::string_view> all = s->members();
  // A partial Fisher-Yates shuffle picks `count` distinct members.
  for (std::size_t i = 0; i < static_cast<std::size_t>(count); ++i)
    std::swap(all[i], all[i + random_index(all.size() - i)]);
  reply_array(c, static_cast<std::size_t>(count));
  for (std::size_t i = 0; i < static_cast<std::size_t>(count); ++i) reply_bulk(c, all[i]);
}

/* SMOVE <source> <destination> <member> */
void cmd_smove(Server& srv, Client& c, Args argv) {
  bool bad;
  Set* src = find_set(srv, c, argv[1], bad);
  if (bad) return;
  Set* dst = find_set(srv, c, argv[2], bad);
  if (bad) return;
  if (!src) return reply_int(c, 0);
  if (argv[1] == argv[2]) return reply_int(c, src->contains(argv[3]) ? 1 : 0);
  if (!src->contains(argv[3])) return reply_int(c, 0);
  bool deleted = remove_member(srv, argv[1], *src, argv[3]);
  srv.modified(argv[1]);
  srv.notify(kNotifySet, "srem", argv[1]);
  if (deleted) srv.notify(kNotifyGeneric, "del", argv[1]);
  if (!dst) dst = &srv.db.add(argv[2], Type::set).set();
  if (dst->add(argv[3])) {  // a member the destination already had leaves it untouched (and its WATCHes)
    srv.modified(argv[2]);
    srv.notify(kNotifySet, "sadd", argv[2]);
  }
  reply_int(c, 1);
}

/* SINTER <key> [<key> ...] */
void cmd_sinter(Server& srv, Client& c, Args argv) { set_op_command(srv, c, argv, SetOp::inter); }
/* SUNION <key> [<key> ...] */
void cmd_sunion(Server& srv, Client& c, Args argv) { set_op_command(srv, c, argv, SetOp::uni); }
/* SDIFF <key> [<key> ...] */
void cmd_sdiff(Server& srv, Client& c, Args argv) { set_op_command(srv, c, argv, SetOp::diff); }
/* SINTERSTORE <destination> <key> [<key> ...] */
void cmd_sinterstore(Server& srv, Client& c, Args argv) { set_op_store(srv, c, argv, SetOp::inter); }
/* SUNIONSTORE <destination> <key> [<key> ...] */
void cmd_sunionstore(Server& srv, Client& c, Args argv) { set_op_store(srv, c, argv, SetOp::uni); }
/* SDIFFSTORE <destination> <key> [<key> ...] */
void cmd_sdiffstore(Server& srv, Client& c, Args argv) { set_op_store(srv, c, argv, SetOp::diff); }

/* SINTERCARD <numkeys> <key> [<key> ...] [LIMIT <limit>] */
void cmd_sintercard(Server& srv, Client& c, Args argv) {
  long long numkeys;
  if (!parse_ll(argv[1], numkeys) || numkeys <= 0) return reply_err(c, "numkeys should be greater than 0");
  if (numkeys > static_cast<long long>(argv.size() - 2))
    return reply_err(c, "Number of keys can't be greater than number of args");
  long long limit = 0;
  for (std::size_t i = 2 + static_cast<std::size_t>(numkeys); i < argv.size(); ++i) {
    std::string o(argv[i]);
    for (auto& ch : o) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    if (o == "LIMIT" && i + 1 < argv.size()) {
      // Redis has one message for both a non-integer and a negative LIMIT.
      if (!parse_ll(argv[++i], limit) || limit < 0) return reply_err(c, "LIMIT can't be negative");
    } else {
      return reply_syntax_error(c);
    }
  }
  Set out;
  if (!set_op(srv, c, argv.subspan(2, static_cast<std::size_t>(numkeys)), SetOp::inter, out)) return;
  long long n = static_cast<long long>(out.size());
  reply_int(c, limit > 0 && n > limit ? limit : n);
}

}  // namespace ipc::managerd
