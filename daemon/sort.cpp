// SORT and SORT_RO (Redis's sort.c): lists and sets sorted by value or by other keys, GET, STORE.
#include "server.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <strings.h>

namespace ipc::managerd {

using detail::resp::parse_ll;

namespace {

// The value a BY or GET pattern names for `elem` (Redis's lookupKeyByPattern): "#" is the
// element itself; otherwise the first '*' is replaced by it and the result names a string key,
// or with "->field" after the '*' a field of a hash key. Nothing for a pattern without '*', a
// missing key or field, or a key of another type.
std::optional<std::string> lookup_by_pattern(Server& srv, std::string_view pattern, std::string_view elem) {
  if (pattern == "#") return std::string(elem);
  std::size_t star = pattern.find('*');
  if (star == std::string_view::npos) return std::nullopt;
  std::string_view field;
  std::size_t arrow = pattern.find("->", star + 1);
  if (arrow != std::string_view::npos && arrow + 2 < pattern.size()) {
    field = pattern.substr(arrow + 2);
    pattern = pattern.substr(0, arrow);
  }
  std::string key;
  key.reserve(pattern.size() + elem.size());
  key.append(pattern.substr(0, star)).append(elem).append(pattern.substr(star + 1));
  Value* v = srv.db.find(key);
  if (!v) return std::nullopt;
  if (!field.empty()) {
    if (v->type() != Type::hash) return std::nullopt;
    std::string* f = v->hash().find(field);
    if (!f) return std::nullopt;
    return *f;
  }
  if (v->type() != Type::string) return std::nullopt;
  return v->str();
}

struct SortItem {
  std::string elem;
  double score = 0;
  std::optional<std::string> by;  // the BY value for an ALPHA sort by pattern
};

// Byte order, shorter first on a common prefix (Redis's compareStringObjects).
int compare_binary(std::string_view a, std::string_view b) {
  int r = std::memcmp(a.data(), b.data(), std::min(a.size(), b.size()));
  if (r) return r;
  return a.size() < b.size() ? -1 : (a.size() > b.size() ? 1 : 0);
}

// Up to the first NUL, as Redis's strcoll() in the C locale it runs in sees the strings.
int compare_c_string(const std::string& a, const std::string& b) { return std::strcmp(a.c_str(), b.c_str()); }

void sort_generic(Server& srv, Client& c, Args argv, bool readonly) {
  bool desc = false, alpha = false, dontsort = false;
  long long limit_start = 0, limit_count = -1;
  std::optional<std::string_view> sortby, storekey;
  std::vector<std::string_view> gets;
  for (std::size_t j = 2; j < argv.size(); ++j) {
    std::size_t left = argv.size() - j - 1;
    std::string_view a = argv[j];
    auto is = [&](const char* w) { return a.size() == std::strlen(w) && ::strncasecmp(a.data(), w, a.size()) == 0; };
    if (is("asc")) {
      desc = false;
    } else if (is("desc")) {
      desc = true;
    } else if (is("alpha")) {
      alpha = true;
    } else if (is("limit") && left >= 2) {
      if (!parse_ll(argv[j + 1], limit_start) || !parse_ll(argv[j + 2], limit_count)) return reply_not_integer(c);
      j += 2;
    } else if (!readonly && is("store") && left >= 1) {
      storekey = argv[++j];
    } else if (is("by") && left >= 1) {
      sortby = argv[++j];
      // A BY pattern without '*' names no per-element key: nothing to sort by.
      if (sortby->find('*') == std::string_view::npos) dontsort = true;
    } else if (is("get") && left >= 1) {
      gets.push_back(argv[++j]);
    } else {
      return reply_syntax_error(c);
    }
  }

  Value* v = srv.db.find(argv[1]);
  if (v && v->type() != Type::list && v->type() != Type::set && v->type() != Type::zset) return reply_wrongtype(c);
  bool is_set = v && v->type() == Type::set;
  // A set's own order is not the same on a replica or after a reload: stored results are sorted.
  if (dontsort && is_set && storekey) {
    dontsort = false;
    alpha = true;
    sortby.reset();
  }

  // A list, or a sorted set in score order: both have an order of their own (BY nosort keeps it).
  std::vector<std::string_view> ordered;
  if (v && v->type() == Type::list)
    ordered.assign(v->list().begin(), v->list().end());
  else if (v && v->type() == Type::zset)
    for (auto& e : v->zset().order()) ordered.push_back(e.second);
  long long vectorlen = !v ? 0 : is_set ? static_cast<long long>(v->set().size()) : static_cast<long long>(ordered.size());
  long long start = std::min(std::max(limit_start, 0LL), vectorlen);
  limit_count = std::min(std::max(limit_count, -1LL), vectorlen);
  long long end = limit_count < 0 ? vectorlen - 1 : start + limit_count - 1;
  if (start >= vectorlen) {
    start = vectorlen - 1;
    end = vectorlen - 2;
  }
  if (end >= vectorlen) end = vectorlen - 1;

  std::vector<SortItem> items;
  if (v && !is_set && dontsort) {
    // A list (or sorted set) in its own order (reversed by DESC), only the LIMIT range.
    const auto& l = ordered;
    if (end >= start) {
      items.reserve(static_cast<std::size_t>(end - start + 1));
      for (long long i = start; i <= end; ++i) {
        std::size_t at = static_cast<std::size_t>(desc ? vectorlen - 1 - i : i);
        items.push_back({std::string(l[at]), 0, std::nullopt});
      }
      end -= start;
      start = 0;
    }
  } else if (v && !is_set) {
    items.reserve(ordered.size());
    for (auto e : ordered) items.push_back({std::string(e), 0, std::nullopt});
  } else if (v) {
    items.reserve(v->set().size());
    for (auto m : v->set().members()) items.push_back({std::string(m), 0, std::nullopt});
  }

  bool conversion_error = false;
  if (!dontsort) {
    for (auto& it : items) {
      std::optional<std::string> byval;
      if (sortby) {
        byval = lookup_by_pattern(srv, *sortby, it.elem);
        if (!byval) continue;  // a missing weight sorts as 0 (or first, ALPHA)
      }
      if (alpha) {
        if (sortby) it.by = std::move(byval);
        continue;
      }
      // strtod as Redis calls it: on the C string, so the number ends at a NUL byte.
      const std::string& s = sortby ? *byval : it.elem;
      char* eptr = nullptr;
      errno = 0;
      it.score = std::strtod(s.c_str(), &eptr);
      if (*eptr != '\0' || errno == ERANGE || std::isnan(it.score)) conversion_error = true;
    }
    bool store = storekey.has_value(), by = sortby.has_value();
    auto cmp = [&](const SortItem& x, const SortItem& y) {
      int r;
      if (!alpha) {
        r = x.score > y.score ? 1 : x.score < y.score ? -1 : compare_binary(x.elem, y.elem);
      } else if (by) {
        if (!x.by || !y.by)
          r = x.by.has_value() == y.by.has_value() ? 0 : (!x.by ? -1 : 1);
        else
          r = store ? compare_binary(*x.by, *y.by) : compare_c_string(*x.by, *y.by);
      } else {
        r = store ? compare_binary(x.elem, y.elem) : compare_c_string(x.elem, y.elem);
      }
      return desc ? r > 0 : r < 0;
    };
    std::stable_sort(items.begin(), items.end(), cmp);
  }

  long long count = end - start + 1;
  std::size_t outputlen = static_cast<std::size_t>(gets.empty() ? count : static_cast<long long>(gets.size()) * count);
  if (conversion_error) return reply_err(c, "One or more scores can't be converted into double");
  if (!storekey) {
    reply_array(c, outputlen);
    for (long long j = start; j <= end; ++j) {
      const std::string& e = items[static_cast<std::size_t>(j)].elem;
      if (gets.empty()) reply_bulk(c, e);
      for (auto g : gets) {
        auto val = lookup_by_pattern(srv, g, e);
        if (val)
          reply_bulk(c, *val);
        else
          reply_nil(c);
      }
    }
    return;
  }
  List out;
  for (long long j = start; j <= end; ++j) {
    std::string& e = items[static_cast<std::size_t>(j)].elem;
    if (gets.empty()) out.push_back(std::move(e));
    for (auto g : gets) out.push_back(lookup_by_pattern(srv, g, e).value_or(std::string()));
  }
  if (outputlen) {
    Value nv;
    nv.data.emplace<2>(std::move(out));
    srv.db.set(*storekey, std::move(nv));
    srv.modified(*storekey);
    srv.notify(kNotifyList, "sortstore", *storekey);
    srv.list_pushed(*storekey);
  } else if (srv.db.remove(*storekey)) {
    srv.modified(*storekey);
    srv.notify(kNotifyGeneric, "del", *storekey);
  }
  reply_int(c, static_cast<long long>(outputlen));
}

}  // namespace

// ---- SORT commands ----

/* SORT <key> [BY <pattern>] [LIMIT <offset> <count>] [GET <pattern> ...] [ASC|DESC] [ALPHA] [STORE <destination>] */
void cmd_sort(Server& srv, Client& c, Args argv) { sort_generic(srv, c, argv, false); }
/* SORT_RO <key> [BY <pattern>] [LIMIT <offset> <count>] [GET <pattern> ...] [ASC|DESC] [ALPHA] */
void cmd_sort_ro(Server& srv, Client& c, Args argv) { sort_generic(srv, c, argv, true); }

}  // namespace ipc::managerd
