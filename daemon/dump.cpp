// DUMP and RESTORE (Redis's cluster.c) over Redis's RDB object format (rdb.c): values are
// written in the plain encodings every Redis version loads, and read in those plus the compact
// ones redis-server 7.0 writes (integer and LZF strings, intsets, listpacks, quicklists).
#include "server.hpp"

#include "crc64.hpp"

#include <bit>
#include <cmath>
#include <cstring>
#include <optional>
#include <strings.h>

namespace ipc::managerd {

using detail::resp::parse_ll;

namespace {

constexpr unsigned kRdbVersion = 10;  // redis-server 7.0's RDB_VERSION
enum : unsigned char {
  kRdbString = 0, kRdbList = 1, kRdbSet = 2, kRdbZset = 3, kRdbHash = 4, kRdbZset2 = 5, kRdbListZiplist = 10,
  kRdbSetIntset = 11, kRdbZsetZiplist = 12, kRdbHashZiplist = 13, kRdbListQuicklist = 14, kRdbHashListpack = 16,
  kRdbZsetListpack = 17, kRdbListQuicklist2 = 18,
};

// ---- writing ----

void put_len(std::string& out, std::uint64_t n) {  // rdbSaveLen: 6, 14, 32 or 64 bits, big-endian
  if (n < (1u << 6)) {
    out.push_back(static_cast<char>(n));
  } else if (n < (1u << 14)) {
    out.push_back(static_cast<char>(0x40 | (n >> 8)));
    out.push_back(static_cast<char>(n & 0xff));
  } else {
    bool wide = n > 0xffffffffULL;
    out.push_back(static_cast<char>(wide ? 0x81 : 0x80));
    for (int i = wide ? 7 : 3; i >= 0; --i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  }
}

void put_string(std::string& out, std::string_view s) {
  put_len(out, s.size());
  out.append(s);
}

// ---- reading ----

// A bounded cursor over untrusted bytes; every read that would pass the end fails.
struct Cursor {
  std::string_view b;
  std::size_t pos = 0;
  bool ok = true;
  bool take(std::size_t n, std::string_view& out) {
    if (!ok || b.size() - pos < n) return ok = false;
    out = b.substr(pos, n);
    pos += n;
    return true;
  }
  unsigned byte() {
    std::string_view s;
    return take(1, s) ? static_cast<unsigned char>(s[0]) : 0;
  }
};

// rdbLoadLen: the length, or with `encoded` set a special string encoding (0..3).
std::uint64_t get_len(Cursor& c, bool* encoded = nullptr) {
  if (encoded) *encoded = false;
  unsigned first = c.byte();
  switch (first >> 6) {
    case 0: return first & 0x3f;
    case 1: return (static_cast<std::uint64_t>(first & 0x3f) << 8) | c.byte();
    case 3:
      if (!encoded) c.ok = false;
      else *encoded = true;
      return first & 0x3f;
    default: {
      int bytes = first == 0x80 ? 4 : first == 0x81 ? 8 : 0;
      if (!bytes) c.ok = false;
      std::uint64_t n = 0;
      for (int i = 0; i < bytes; ++i) n = (n << 8) | c.byte();
      return n;
    }
  }
}

// LZF decompression (Redis's lzf_d.c format): literal runs and back references.
bool lzf_decompress(std::string_view in, std::size_t out_len, std::string& out) {
  out.clear();
  out.reserve(out_len);
  std::size_t i = 0;
  while (i < in.size()) {
    unsigned ctrl = static_cast<unsigned char>(in[i++]);
    if (ctrl < 32) {  // a literal run of ctrl + 1 bytes
      std::size_t n = ctrl + 1;
      if (in.size() - i < n || out.size() + n > out_len) return false;
      out.append(in.substr(i, n));
      i += n;
    } else {  // a back reference: length (3 bits, or 7 + a byte) and a 13-bit offset
      std::size_t len = ctrl >> 5;
      if (len == 7) {
        if (i >= in.size()) return false;
        len += static_cast<unsigned char>(in[i++]);
      }
      if (i >= in.size()) return false;
      std::size_t back = ((ctrl & 0x1f) << 8) + static_cast<unsigned char>(in[i++]) + 1;
      len += 2;
      if (back > out.size() || out.size() + len > out_len) return false;
      std::size_t from = out.size() - back;
      for (std::size_t k = 0; k < len; ++k) out.push_back(out[from + k]);  // may overlap itself
    }
  }
  return out.size() == out_len;
}

std::optional<std::string> get_string(Cursor& c) {
  bool encoded;
  std::uint64_t n = get_len(c, &encoded);
  if (!c.ok) return std::nullopt;
  std::string_view raw;
  if (!encoded) {
    if (!c.take(n, raw)) return std::nullopt;
    return std::string(raw);
  }
  if (n <= 2) {  // an integer of 1, 2 or 4 little-endian bytes
    std::size_t bytes = std::size_t{1} << n;
    if (!c.take(bytes, raw)) return std::nullopt;
    std::uint32_t u = 0;
    for (std::size_t i = 0; i < bytes; ++i) u |= static_cast<std::uint32_t>(static_cast<unsigned char>(raw[i])) << (8 * i);
    long long v = bytes == 1 ? static_cast<std::int8_t>(u) : bytes == 2 ? static_cast<std::int16_t>(u) : static_cast<std::int32_t>(u);
    return std::to_string(v);
  }
  if (n == 3) {  // LZF: compressed length, original length, data
    std::uint64_t clen = get_len(c), len = get_len(c);
    if (!c.ok || !c.take(clen, raw) || len > c.b.size() * 256) return std::nullopt;
    std::string out;
    if (!lzf_decompress(raw, static_cast<std::size_t>(len), out)) return std::nullopt;
    return out;
  }
  return std::nullopt;
}

// Calls f(entry) for each entry of a listpack (Redis's listpack.c); false when malformed.
template <class F>
bool listpack_each(std::string_view lp, F&& f) {
  if (lp.size() < 7) return false;
  std::size_t i = 6, end = lp.size() - 1;
  if (static_cast<unsigned char>(lp[end]) != 0xff) return false;
  auto u = [&](std::size_t at) { return static_cast<std::uint64_t>(static_cast<unsigned char>(lp[at])); };
  while (i < end) {
    unsigned b = static_cast<unsigned char>(lp[i]);
    std::size_t hdr = 0, len = 0;
    std::optional<long long> num;
    auto need = [&](std::size_t n) { return end - i >= n; };
    if ((b & 0x80) == 0) {
      num = b & 0x7f, hdr = 1;
    } else if ((b & 0xc0) == 0x80) {
      hdr = 1, len = b & 0x3f;
    } else if ((b & 0xe0) == 0xc0) {
      if (!need(2)) return false;
      std::uint64_t v = ((b & 0x1f) << 8) | u(i + 1);
      num = static_cast<long long>(v >= (1u << 12) ? static_cast<std::int64_t>(v) - (1 << 13) : static_cast<std::int64_t>(v));
      hdr = 2;
    } else if ((b & 0xf0) == 0xe0) {
      if (!need(2)) return false;
      hdr = 2, len = ((b & 0x0f) << 8) | u(i + 1);
    } else if (b == 0xf0) {
      if (!need(5)) return false;
      hdr = 5, len = u(i + 1) | u(i + 2) << 8 | u(i + 3) << 16 | u(i + 4) << 24;
    } else if (b >= 0xf1 && b <= 0xf4) {
      static constexpr int widths[] = {2, 3, 4, 8};
      int w = widths[b - 0xf1];
      if (!need(1 + static_cast<std::size_t>(w))) return false;
      std::uint64_t v = 0;
      for (int k = 0; k < w; ++k) v |= u(i + 1 + static_cast<std::size_t>(k)) << (8 * k);
      if (w < 8 && (v >> (8 * w - 1))) v |= ~std::uint64_t{0} << (8 * w);  // sign-extend
      num = static_cast<long long>(v);
      hdr = 1 + static_cast<std::size_t>(w);
    } else {
      return false;
    }
    if (!need(hdr + len)) return false;
    if (num)
      f(std::to_string(*num));
    else
      f(std::string(lp.substr(i + hdr, len)));
    std::size_t entry = hdr + len;  // the back-length: 1 byte per 7 bits of the entry's size
    std::size_t backlen = entry <= 127 ? 1 : entry < 16383 ? 2 : entry < 2097151 ? 3 : entry < 268435455 ? 4 : 5;
    i += entry + backlen;
  }
  return i == end;
}

// Calls f(entry) for each entry of a ziplist (Redis's ziplist.c, RDB versions before 7.0).
template <class F>
bool ziplist_each(std::string_view zl, F&& f) {
  if (zl.size() < 11 || static_cast<unsigned char>(zl.back()) != 0xff) return false;
  std::size_t i = 10, end = zl.size() - 1;
  auto u = [&](std::size_t at) { return static_cast<std::uint64_t>(static_cast<unsigned char>(zl[at])); };
  while (i < end) {
    i += u(i) < 254 ? 1 : 5;  // the previous entry's length
    if (i >= end) return false;
    unsigned b = static_cast<unsigned char>(zl[i]);
    std::size_t hdr, len = 0;
    std::optional<long long> num;
    if ((b >> 6) == 1 && end - i < 2) return false;
    if ((b >> 6) == 2 && end - i < 5) return false;
    switch (b >> 6) {
      case 0: hdr = 1, len = b & 0x3f; break;
      case 1: hdr = 2, len = ((b & 0x3f) << 8) | u(i + 1); break;
      case 2: hdr = 5, len = u(i + 1) << 24 | u(i + 2) << 16 | u(i + 3) << 8 | u(i + 4); break;
      default: {
        hdr = 1;
        int w = b == 0xc0 ? 2 : b == 0xd0 ? 4 : b == 0xe0 ? 8 : b == 0xf0 ? 3 : b == 0xfe ? 1 : 0;
        if (b >= 0xf1 && b <= 0xfd) {
          num = static_cast<long long>(b & 0x0f) - 1;
          break;
        }
        if (!w || end - i < 1 + static_cast<std::size_t>(w)) return false;
        std::uint64_t v = 0;
        for (int k = 0; k < w; ++k) v |= u(i + 1 + static_cast<std::size_t>(k)) << (8 * k);
        if (w < 8 && (v >> (8 * w - 1))) v |= ~std::uint64_t{0} << (8 * w);
        num = static_cast<long long>(v);
        len = static_cast<std::size_t>(w);
      }
    }
    if (end - i < hdr + len) return false;
    if (num)
      f(std::to_string(*num));
    else
      f(std::string(zl.substr(i + hdr, len)));
    i += hdr + len;
  }
  return i == end;
}

// rdbLoadObject for the types served; nullopt on malformed or empty input.
std::optional<Value> load_value(unsigned type, Cursor& c) {
  Value v;
  switch (type) {
    case kRdbString: {
      auto s = get_string(c);
      if (!s) return std::nullopt;
      v.data.emplace<0>(std::move(*s));
      return v;
    }
    case kRdbList:
    case kRdbSet: {
      std::uint64_t n = get_len(c);
      if (!c.ok || n == 0 || n > c.b.size()) return std::nullopt;
      if (type == kRdbList) v.data.emplace<2>(); else v.data.emplace<3>();
      for (std::uint64_t i = 0; i < n; ++i) {
        auto s = get_string(c);
        if (!s) return std::nullopt;
        if (type == kRdbList) v.list().push_back(std::move(*s));
        else if (!v.set().add(*s)) return std::nullopt;  // a duplicate member
      }
      return v;
    }
    case kRdbHash: {
      std::uint64_t n = get_len(c);
      if (!c.ok || n == 0 || n > c.b.size()) return std::nullopt;
      v.data.emplace<1>();
      for (std::uint64_t i = 0; i < n; ++i) {
        auto f = get_string(c), x = get_string(c);
        if (!f || !x || !v.hash().set(*f, *x)) return std::nullopt;
      }
      return v;
    }
    case kRdbZset:
    case kRdbZset2: {
      std::uint64_t n = get_len(c);
      if (!c.ok || n == 0 || n > c.b.size()) return std::nullopt;
      v.data.emplace<4>();
      for (std::uint64_t i = 0; i < n; ++i) {
        auto m = get_string(c);
        if (!m) return std::nullopt;
        double score;
        std::string_view raw;
        if (type == kRdbZset2) {  // 8 bytes, little-endian IEEE-754
          if (!c.take(8, raw)) return std::nullopt;
          std::uint64_t bits = 0;
          for (int k = 0; k < 8; ++k) bits |= static_cast<std::uint64_t>(static_cast<unsigned char>(raw[static_cast<std::size_t>(k)])) << (8 * k);
          score = std::bit_cast<double>(bits);
        } else {  // a length byte (253 nan, 254 inf, 255 -inf) and the text
          unsigned len = c.byte();
          if (len == 253 || !c.ok) return std::nullopt;
          if (len >= 254) {
            score = len == 254 ? HUGE_VAL : -HUGE_VAL;
          } else if (!c.take(len, raw) || !parse_score(raw, score)) {
            return std::nullopt;
          }
        }
        if (std::isnan(score) || !v.zset().add(*m, score)) return std::nullopt;
      }
      return v;
    }
    case kRdbZsetListpack:
    case kRdbZsetZiplist: {
      auto blob = get_string(c);
      if (!blob) return std::nullopt;
      std::vector<std::string> e;
      auto add = [&](std::string s) { e.push_back(std::move(s)); };
      if (!(type == kRdbZsetListpack ? listpack_each(*blob, add) : ziplist_each(*blob, add))) return std::nullopt;
      if (e.empty() || e.size() % 2) return std::nullopt;
      v.data.emplace<4>();
      for (std::size_t i = 0; i < e.size(); i += 2) {
        double score;
        if (!parse_score(e[i + 1], score) || !v.zset().add(e[i], score)) return std::nullopt;
      }
      return v;
    }
    case kRdbSetIntset: {
      auto blob = get_string(c);
      if (!blob || blob->size() < 8) return std::nullopt;
      auto u = [&](std::size_t at) { return static_cast<std::uint64_t>(static_cast<unsigned char>((*blob)[at])); };
      std::uint64_t width = u(0) | u(1) << 8 | u(2) << 16 | u(3) << 24, n = u(4) | u(5) << 8 | u(6) << 16 | u(7) << 24;
      if ((width != 2 && width != 4 && width != 8) || n == 0 || blob->size() != 8 + width * n) return std::nullopt;
      v.data.emplace<3>();
      for (std::uint64_t i = 0; i < n; ++i) {
        std::uint64_t x = 0;
        for (std::uint64_t k = 0; k < width; ++k) x |= u(static_cast<std::size_t>(8 + i * width + k)) << (8 * k);
        if (width < 8 && (x >> (8 * width - 1))) x |= ~std::uint64_t{0} << (8 * width);
        v.set().add(std::to_string(static_cast<long long>(x)));
      }
      return v;
    }
    case kRdbHashListpack:
    case kRdbHashZiplist: {
      auto blob = get_string(c);
      if (!blob) return std::nullopt;
      std::vector<std::string> e;
      auto add = [&](std::string s) { e.push_back(std::move(s)); };
      if (!(type == kRdbHashListpack ? listpack_each(*blob, add) : ziplist_each(*blob, add))) return std::nullopt;
      if (e.empty() || e.size() % 2) return std::nullopt;
      v.data.emplace<1>();
      for (std::size_t i = 0; i < e.size(); i += 2)
        if (!v.hash().set(e[i], e[i + 1])) return std::nullopt;
      return v;
    }
    case kRdbListZiplist:
    case kRdbListQuicklist:
    case kRdbListQuicklist2: {
      v.data.emplace<2>();
      auto add = [&](std::string s) { v.list().push_back(std::move(s)); };
      if (type == kRdbListZiplist) {
        auto blob = get_string(c);
        if (!blob || !ziplist_each(*blob, add)) return std::nullopt;
      } else {
        std::uint64_t nodes = get_len(c);
        if (!c.ok || nodes > c.b.size()) return std::nullopt;
        for (std::uint64_t i = 0; i < nodes; ++i) {
          std::uint64_t container = type == kRdbListQuicklist2 ? get_len(c) : 2;
          auto blob = get_string(c);
          if (!c.ok || !blob) return std::nullopt;
          if (container == 1) add(std::move(*blob));  // a plain node: one large element
          else if (!(type == kRdbListQuicklist2 ? listpack_each(*blob, add) : ziplist_each(*blob, add))) return std::nullopt;
        }
      }
      if (v.list().empty()) return std::nullopt;
      return v;
    }
    default: return std::nullopt;
  }
}

}  // namespace

// ---- RDB object format ----

namespace {

// The value of `v` after its type byte (rdbSaveObject with the plain encodings).
void put_object(std::string& out, const Value& v) {
  switch (v.type()) {
    case Type::string: put_string(out, std::get<0>(v.data)); break;
    case Type::list:
      put_len(out, std::get<2>(v.data).size());
      for (auto& e : std::get<2>(v.data)) put_string(out, e);
      break;
    case Type::set: {
      const Set& s = std::get<3>(v.data);
      put_len(out, s.size());
      for (auto m : s.members()) put_string(out, m);
      break;
    }
    case Type::hash: {
      const Hash& h = std::get<1>(v.data);
      put_len(out, h.size());
      h.for_each([&](std::string_view f, std::string_view x) {
        put_string(out, f);
        put_string(out, x);
      });
      break;
    }
    case Type::zset: {  // RDB_TYPE_ZSET_2: member, then the score as 8 little-endian bytes
      const ZSet& z = std::get<4>(v.data);
      put_len(out, z.size());
      for (auto& [score, m] : z.order()) {
        put_string(out, m);
        auto bits = std::bit_cast<std::uint64_t>(score);
        for (int k = 0; k < 8; ++k) out.push_back(static_cast<char>((bits >> (8 * k)) & 0xff));
      }
      break;
    }
  }
}

unsigned char rdb_type(const Value& v) {
  switch (v.type()) {
    case Type::string: return kRdbString;
    case Type::list: return kRdbList;
    case Type::set: return kRdbSet;
    case Type::hash: return kRdbHash;
    case Type::zset: return kRdbZset2;
  }
  return kRdbString;
}

}  // namespace

void rdb_put_value(std::string& out, const Value& v) {
  out.push_back(static_cast<char>(rdb_type(v)));
  put_object(out, v);
}

std::string rdb_file(Db& db) {
  std::string out = "REDIS00" + std::to_string(kRdbVersion);
  long long now = now_ms();
  int keep = db.selected();
  for (int i = 0; i < db.count(); ++i) {
    if (db.size_of(i) == 0) continue;
    db.select(i);
    out.push_back(static_cast<char>(0xfe));  // RDB_OPCODE_SELECTDB
    put_len(out, static_cast<std::uint64_t>(i));
    for (auto& [key, v] : db.dict()) {
      long long when = db.expire_of(key);
      if (when >= 0 && when <= now) continue;
      if (when >= 0) {  // RDB_OPCODE_EXPIRETIME_MS, 8 bytes little-endian
        out.push_back(static_cast<char>(0xfc));
        for (int b = 0; b < 8; ++b) out.push_back(static_cast<char>((static_cast<std::uint64_t>(when) >> (8 * b)) & 0xff));
      }
      out.push_back(static_cast<char>(rdb_type(v)));
      put_string(out, key);
      put_object(out, v);
    }
  }
  db.select(keep);
  out.push_back(static_cast<char>(0xff));  // RDB_OPCODE_EOF, then the CRC-64 of all before it
  std::uint64_t crc = crc64(out);
  for (int b = 0; b < 8; ++b) out.push_back(static_cast<char>((crc >> (8 * b)) & 0xff));
  return out;
}

std::string dump_payload(const Value& v) {
  std::string out;
  rdb_put_value(out, v);
  out.push_back(static_cast<char>(kRdbVersion & 0xff));
  out.push_back(static_cast<char>(kRdbVersion >> 8));
  std::uint64_t crc = crc64(out);
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((crc >> (8 * i)) & 0xff));
  return out;
}

std::optional<Value> rdb_load_value(std::string_view bytes) {
  Cursor c{bytes};
  unsigned type = c.byte();
  if (!c.ok) return std::nullopt;
  auto v = load_value(type, c);
  if (!v || !c.ok || c.pos != bytes.size()) return std::nullopt;
  return v;
}

// ---- DUMP / RESTORE ----

/* DUMP <key> */
void cmd_dump(Server& srv, Client& c, Args argv) {
  Value* v = srv.db.find(argv[1]);
  if (!v) return reply_nil(c);
  reply_bulk(c, dump_payload(*v));
}

/* RESTORE <key> <ttl> <serialized-value> [REPLACE] [ABSTTL] [IDLETIME <seconds>] [FREQ <frequency>] */
void cmd_restore(Server& srv, Client& c, Args argv) {
  bool replace = false, absttl = false;
  long long idle = -1, freq = -1;
  for (std::size_t j = 4; j < argv.size(); ++j) {
    std::size_t more = argv.size() - j - 1;
    auto is = [&](const char* w) { return argv[j].size() == std::strlen(w) && ::strncasecmp(argv[j].data(), w, argv[j].size()) == 0; };
    if (is("replace")) {
      replace = true;
    } else if (is("absttl")) {
      absttl = true;
    } else if (is("idletime") && more >= 1 && freq == -1) {
      if (!parse_ll(argv[++j], idle)) return reply_not_integer(c);
      if (idle < 0) return reply_err(c, "Invalid IDLETIME value, must be >= 0");
    } else if (is("freq") && more >= 1 && idle == -1) {
      if (!parse_ll(argv[++j], freq)) return reply_not_integer(c);
      if (freq < 0 || freq > 255) return reply_err(c, "Invalid FREQ value, must be >= 0 and <= 255");
    } else {
      return reply_syntax_error(c);
    }
  }
  std::string_view key = argv[1];
  if (!replace && srv.db.find(key)) return reply_error_code(c, "BUSYKEY Target key name already exists.");
  long long ttl;
  if (!parse_ll(argv[2], ttl)) return reply_not_integer(c);
  if (ttl < 0) return reply_err(c, "Invalid TTL value, must be >= 0");
  // The footer: the RDB version (little-endian, not newer than ours) and the CRC-64 of the rest.
  std::string_view p = argv[3];
  if (p.size() < 10) return reply_err(c, "DUMP payload version or checksum are wrong");
  unsigned ver = static_cast<unsigned char>(p[p.size() - 10]) | static_cast<unsigned char>(p[p.size() - 9]) << 8;
  std::uint64_t crc = 0;
  for (int i = 0; i < 8; ++i) crc |= static_cast<std::uint64_t>(static_cast<unsigned char>(p[p.size() - 8 + static_cast<std::size_t>(i)])) << (8 * i);
  if (ver > kRdbVersion || crc != crc64(p.substr(0, p.size() - 8)))
    return reply_err(c, "DUMP payload version or checksum are wrong");
  auto v = rdb_load_value(p.substr(0, p.size() - 10));
  if (!v) return reply_err(c, "Bad data format");
  bool deleted = replace && srv.db.remove(key);
  if (ttl && !absttl) ttl += now_ms();
  if (ttl && ttl <= now_ms()) {  // already expired: nothing is created (a replaced key is gone)
    if (deleted) {
      c.propagate.push_back({"DEL", std::string(key)});
      srv.modified(key);
      srv.notify(kNotifyGeneric, "del", key);
    }
    return reply_ok(c);
  }
  bool is_list = v->type() == Type::list;
  srv.db.set(key, std::move(*v));
  if (ttl) {
    srv.db.set_expire(key, ttl);
    if (!absttl) {  // logged with the absolute time, so a replay does not extend it
      std::vector<std::string> prop(argv.begin(), argv.end());
      prop[2] = std::to_string(ttl);
      prop.emplace_back("ABSTTL");
      c.propagate.push_back(std::move(prop));
    }
  }
  srv.modified(key);
  srv.notify(kNotifyGeneric, "restore", key);
  if (is_list) srv.list_pushed(key);
  reply_ok(c);
}

}  // namespace ipc::managerd
