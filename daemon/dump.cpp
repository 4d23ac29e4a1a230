// DUMP and RESTORE (Redis's cluster.c, with rdb.c's value encodings): a value serialised in
// Redis 7.0's RDB format, followed by the RDB version and a CRC-64, that redis-server can RESTORE.
#include "dump.hpp"

#include "crc64.hpp"
#include "lzf.hpp"
#include "server.hpp"

#include <algorithm>
#include <bit>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <new>

namespace ipc::managerd {

namespace {

// RDB object types (rdb.h) of the values ipc-managerd has.
enum : unsigned char {
  kRdbString = 0,
  kRdbList = 1,  // read only: a count and the elements (Redis before 3.2)
  kRdbSet = 2,
  kRdbZset = 3,  // read only: scores as text (Redis before 4.0)
  kRdbHash = 4,
  kRdbZset2 = 5,
  kRdbSetIntset = 11,
  kRdbHashListpack = 16,
  kRdbZsetListpack = 17,
  kRdbListQuicklist2 = 18,
};
// RDB file opcodes (rdb.h).
constexpr unsigned char kOpExpireTimeMs = 0xfc, kOpSelectDb = 0xfe, kOpEof = 0xff;
// A length's two top bits (rdbSaveLen): 00 6 bits, 01 14 bits, 10 32/64 bits, 11 an encoding.
enum : unsigned char { kEncInt8 = 0, kEncInt16 = 1, kEncInt32 = 2, kEncLzf = 3 };
constexpr unsigned char kLen32 = 0x80, kLen64 = 0x81, kEncVal = 0xc0;
// Quicklist node containers.
constexpr std::uint64_t kContainerPlain = 1, kContainerPacked = 2;
// Quicklist fill (quicklist.c): node size limits for fill -1..-5, the hard size limit when the
// fill is a count, and the size from which an element gets a plain node of its own.
constexpr std::size_t kOptimizationLevel[] = {4096, 8192, 16384, 32768, 65536};
constexpr std::size_t kSizeSafetyLimit = 8192;
constexpr std::size_t kSizeEstimateOverhead = 8;
constexpr std::size_t kPackedThreshold = std::size_t{1} << 30;

/// `s` as a 64-bit integer when it is one in canonical form (Redis's string2ll and
/// lpStringToInt64: no sign but '-', no leading zero, fewer than 21 bytes).
bool int_string(std::string_view s, long long& v) { return s.size() < 21 && detail::resp::parse_ll(s, v); }

void put_le(std::string& out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::uint64_t get_le(std::string_view b, std::size_t pos, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= std::uint64_t{static_cast<unsigned char>(b[pos + static_cast<std::size_t>(i)])} << (8 * i);
  return v;
}

// ---- writing (rdb.c's rdbSave* functions) ----

void save_len(std::string& out, std::uint64_t len) {
  if (len < (1 << 6)) {
    out.push_back(static_cast<char>(len));
  } else if (len < (1 << 14)) {
    out.push_back(static_cast<char>(((len >> 8) & 0xff) | 0x40));
    out.push_back(static_cast<char>(len & 0xff));
  } else if (len <= UINT32_MAX) {
    out.push_back(static_cast<char>(kLen32));
    for (int i = 3; i >= 0; --i) out.push_back(static_cast<char>((len >> (8 * i)) & 0xff));  // big-endian
  } else {
    out.push_back(static_cast<char>(kLen64));
    for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((len >> (8 * i)) & 0xff));
  }
}

/// rdbSaveRawString: a small integer as such, more than 20 bytes LZF-compressed when that saves
/// at least 4 bytes, the bytes as they are otherwise.
void save_string(std::string& out, std::string_view s) {
  long long v = 0;
  if (s.size() <= 11 && int_string(s, v) && v >= INT32_MIN && v <= INT32_MAX) {
    if (v >= -128 && v <= 127) {
      out.push_back(static_cast<char>(kEncVal | kEncInt8));
      put_le(out, static_cast<std::uint64_t>(v), 1);
    } else if (v >= -32768 && v <= 32767) {
      out.push_back(static_cast<char>(kEncVal | kEncInt16));
      put_le(out, static_cast<std::uint64_t>(v), 2);
    } else {
      out.push_back(static_cast<char>(kEncVal | kEncInt32));
      put_le(out, static_cast<std::uint64_t>(v), 4);
    }
    return;
  }
  if (s.size() > 20) {
    std::string packed = lzf_compress(s, s.size() - 4);
    if (!packed.empty()) {
      out.push_back(static_cast<char>(kEncVal | kEncLzf));
      save_len(out, packed.size());
      save_len(out, s.size());
      out += packed;
      return;
    }
  }
  save_len(out, s.size());
  out.append(s);
}

/// The number of bytes of a listpack entry's back length (lpEncodeBacklen), and the bytes.
std::size_t backlen_size(std::uint64_t l) {
  return l <= 127 ? 1 : l < 16383 ? 2 : l < 2097151 ? 3 : l < 268435455 ? 4 : 5;
}
void put_backlen(std::string& out, std::uint64_t l) {
  const std::size_t n = backlen_size(l);
  // Most significant 7 bits first; every byte but the first has its high bit set, so that the
  // length reads backwards from the entry's last byte.
  for (std::size_t i = 0; i < n; ++i) {
    unsigned char b = static_cast<unsigned char>((l >> (7 * (n - 1 - i))) & 127);
    if (i > 0) b |= 128;
    out.push_back(static_cast<char>(b));
  }
}

/// A listpack built by appending (listpack.c's lpAppend): integers in their smallest encoding.
class ListpackWriter {
 public:
  ListpackWriter() : m_buf(6, '\0') {}
  void append(std::string_view s) {
    const std::size_t start = m_buf.size();
    long long v = 0;
    if (int_string(s, v)) {
      if (v >= 0 && v <= 127) {
        m_buf.push_back(static_cast<char>(v));
      } else if (v >= -4096 && v <= 4095) {
        std::uint64_t u = static_cast<std::uint64_t>(v < 0 ? (1 << 13) + v : v);
        m_buf.push_back(static_cast<char>((u >> 8) | 0xc0));
        m_buf.push_back(static_cast<char>(u & 0xff));
      } else if (v >= -32768 && v <= 32767) {
        m_buf.push_back(static_cast<char>(0xf1));
        put_le(m_buf, static_cast<std::uint64_t>(v), 2);
      } else if (v >= -8388608 && v <= 8388607) {
        m_buf.push_back(static_cast<char>(0xf2));
        put_le(m_buf, static_cast<std::uint64_t>(v), 3);
      } else if (v >= INT32_MIN && v <= INT32_MAX) {
        m_buf.push_back(static_cast<char>(0xf3));
        put_le(m_buf, static_cast<std::uint64_t>(v), 4);
      } else {
        m_buf.push_back(static_cast<char>(0xf4));
        put_le(m_buf, static_cast<std::uint64_t>(v), 8);
      }
    } else if (s.size() < 64) {
      m_buf.push_back(static_cast<char>(0x80 | s.size()));
      m_buf.append(s);
    } else if (s.size() < 4096) {
      m_buf.push_back(static_cast<char>(0xe0 | (s.size() >> 8)));
      m_buf.push_back(static_cast<char>(s.size() & 0xff));
      m_buf.append(s);
    } else {
      m_buf.push_back(static_cast<char>(0xf0));
      put_le(m_buf, s.size(), 4);
      m_buf.append(s);
    }
    put_backlen(m_buf, m_buf.size() - start);
    ++m_count;
  }
  /// The listpack's size once finished (lpBytes).
  std::size_t bytes() const noexcept { return m_buf.size() + 1; }
  std::size_t count() const noexcept { return m_count; }
  /// The listpack: header (total bytes, element count or 65535 when unknown), entries, 0xff.
  std::string finish() {
    m_buf.push_back(static_cast<char>(0xff));
    std::string head;
    put_le(head, m_buf.size(), 4);
    put_le(head, std::min<std::size_t>(m_count, 65535), 2);
    m_buf.replace(0, 6, head);
    return std::move(m_buf);
  }

 private:
  std::string m_buf;
  std::size_t m_count = 0;
};

long long tunable(const Options& o, std::string_view name, long long fallback) {
  auto it = o.encoding_tunables.find(name);
  return it == o.encoding_tunables.end() ? fallback : it->second;
}

/// _quicklistNodeAllowInsert: whether an element of `sz` bytes joins a node of `node_sz` bytes
/// and `count` elements under `fill`.
bool node_allows_insert(std::size_t node_sz, std::size_t count, int fill, std::size_t sz) {
  const std::size_t new_sz = node_sz + sz + kSizeEstimateOverhead;
  if (fill < 0) {
    const std::size_t level = static_cast<std::size_t>(-fill) - 1;
    if (level < std::size(kOptimizationLevel) && new_sz <= kOptimizationLevel[level]) return true;
  }
  if (new_sz > kSizeSafetyLimit) return false;
  return static_cast<long long>(count) < fill;
}

/// A list as Redis 7.0 holds it after RPUSHes of its elements in order: a quicklist of
/// listpack nodes filled up to list-max-listpack-size, an element of 1 GB or more alone in a
/// plain node.
void save_list(std::string& out, const List& list, const Options& o) {
  const int fill = static_cast<int>(std::clamp<long long>(tunable(o, "list-max-listpack-size", -2), -5, 32767));
  struct Node {
    bool plain = false;
    const std::string* element = nullptr;
    ListpackWriter lp;
  };
  std::vector<Node> nodes;
  for (const std::string& e : list) {
    if (e.size() >= kPackedThreshold) {
      nodes.push_back({true, &e, {}});
      continue;
    }
    if (nodes.empty() || nodes.back().plain || !node_allows_insert(nodes.back().lp.bytes(), nodes.back().lp.count(), fill, e.size()))
      nodes.emplace_back();
    nodes.back().lp.append(e);
  }
  out.push_back(static_cast<char>(kRdbListQuicklist2));
  save_len(out, nodes.size());
  for (auto& n : nodes) {
    save_len(out, n.plain ? kContainerPlain : kContainerPacked);
    save_string(out, n.plain ? std::string_view(*n.element) : std::string_view(n.lp.finish()));
  }
}

void save_hash(std::string& out, const Hash& h) {
  // A Hash stays small by the same rule (hash-max-listpack-entries and -value, and never small
  // again once a table) as Redis keeps a listpack, so the encoding is Redis's.
  if (h.small()) {
    ListpackWriter lp;
    h.for_each([&](std::string_view f, std::string_view v) {
      lp.append(f);
      lp.append(v);
    });
    out.push_back(static_cast<char>(kRdbHashListpack));
    save_string(out, lp.finish());
    return;
  }
  out.push_back(static_cast<char>(kRdbHash));
  save_len(out, h.size());
  h.for_each([&](std::string_view f, std::string_view v) {
    save_string(out, f);
    save_string(out, v);
  });
}

void save_set(std::string& out, const Set& s, const Options& o) {
  if (s.intset() && static_cast<long long>(s.size()) <= tunable(o, "set-max-intset-entries", 512)) {
    std::vector<long long> values;
    values.reserve(s.size());
    for (auto& m : s.table()) {
      long long v = 0;
      int_string(m, v);
      values.push_back(v);
    }
    std::sort(values.begin(), values.end());
    // The narrowest width that holds every member (an intset is upgraded, never narrowed).
    int width = 2;
    for (long long v : values) {
      if (v < INT32_MIN || v > INT32_MAX) width = 8;
      else if ((v < INT16_MIN || v > INT16_MAX) && width < 4) width = 4;
    }
    std::string blob;
    put_le(blob, static_cast<std::uint64_t>(width), 4);
    put_le(blob, values.size(), 4);
    for (long long v : values) put_le(blob, static_cast<std::uint64_t>(v), width);
    out.push_back(static_cast<char>(kRdbSetIntset));
    save_string(out, blob);
    return;
  }
  out.push_back(static_cast<char>(kRdbSet));
  save_len(out, s.size());
  for (auto& m : s.table()) save_string(out, m);
}

/// A sorted set as Redis 7.0 holds one built by ZADD: a listpack of (member, score) in order while
/// the ZSet is one (zset-max-listpack-entries and -value, ZSet::listpack), otherwise a skiplist,
/// saved from the greatest element down with binary scores (ZSET_2).
void save_zset(std::string& out, const ZSet& z) {
  if (z.listpack()) {
    ListpackWriter lp;
    for (auto& [score, m] : z.order()) {
      lp.append(m);
      lp.append(listpack_score(score));
    }
    out.push_back(static_cast<char>(kRdbZsetListpack));
    save_string(out, lp.finish());
    return;
  }
  out.push_back(static_cast<char>(kRdbZset2));
  save_len(out, z.size());
  for (auto it = z.order().rbegin(); it != z.order().rend(); ++it) {
    save_string(out, it->second);
    put_le(out, std::bit_cast<std::uint64_t>(it->first), 8);
  }
}

/// The RDB type byte and value of `v` (rdbSaveObjectType + rdbSaveObject).
void save_object(std::string& out, const Value& v, const Options& o) {
  switch (v.type()) {
    case Type::string:
      out.push_back(static_cast<char>(kRdbString));
      save_string(out, std::get<std::string>(v.data));
      break;
    case Type::list: save_list(out, std::get<List>(v.data), o); break;
    case Type::hash: save_hash(out, std::get<Hash>(v.data)); break;
    case Type::set: save_set(out, std::get<Set>(v.data), o); break;
    case Type::zset: save_zset(out, std::get<ZSet>(v.data)); break;
  }
}

// ---- reading (rdb.c's rdbLoad* functions, every length checked) ----

/// A bounded reader over a payload: any overrun or bad encoding throws DumpError.
struct PayloadReader {
  std::string_view b;
  std::size_t pos = 0;

  [[noreturn]] void fail(const std::string& why) const {
    throw DumpError(why + " at byte " + std::to_string(pos));
  }
  std::size_t left() const noexcept { return b.size() - pos; }
  unsigned char byte() {
    if (pos >= b.size()) fail("truncated");
    return static_cast<unsigned char>(b[pos++]);
  }
  std::string_view raw(std::uint64_t n) {
    if (n > left()) fail("length past the end");
    std::string_view s = b.substr(pos, static_cast<std::size_t>(n));
    pos += static_cast<std::size_t>(n);
    return s;
  }
  /// rdbLoadLenByRef: a length, or (`encoded` set) a string encoding.
  std::uint64_t len(bool* encoded = nullptr) {
    if (encoded) *encoded = false;
    const unsigned char c = byte();
    switch (c >> 6) {
      case 0: return c & 0x3f;
      case 1: return (std::uint64_t{c & 0x3fu} << 8) | byte();
      case 3:
        // Where a plain length is read, Redis takes an encoding's 6 bits as one: so do we.
        if (encoded) *encoded = true;
        return c & 0x3f;
      default: break;
    }
    if (c != kLen32 && c != kLen64) fail("unknown length encoding");
    std::uint64_t v = 0;
    for (int i = 0; i < (c == kLen32 ? 4 : 8); ++i) v = (v << 8) | byte();
    return v;
  }
  /// rdbGenericLoadStringObject: raw, integer-encoded or LZF-compressed.
  std::string string() {
    bool encoded = false;
    std::uint64_t n = len(&encoded);
    if (!encoded) return std::string(raw(n));
    switch (n) {
      case kEncInt8: return std::to_string(static_cast<std::int8_t>(get_le(raw(1), 0, 1)));
      case kEncInt16: return std::to_string(static_cast<std::int16_t>(get_le(raw(2), 0, 2)));
      case kEncInt32: return std::to_string(static_cast<std::int32_t>(get_le(raw(4), 0, 4)));
      case kEncLzf: {
        std::uint64_t clen = len(), ulen = len();
        std::string_view packed = raw(clen);
        // A back reference of 3 bytes copies at most 264: no valid block expands further, so a
        // larger claimed length is refused before anything is allocated for it.
        if (ulen / 88 > clen) fail("LZF length larger than the block can hold");
        std::string out;
        if (!lzf_decompress(packed, static_cast<std::size_t>(ulen), out)) fail("invalid LZF block");
        return out;
      }
      default: fail("unknown string encoding");
    }
  }
};

/// The elements of a listpack blob, after checking its header, every entry's encoding and back
/// length, the terminator and the element count (lpValidateIntegrity, deep).
std::vector<std::string> listpack_elements(std::string_view lp) {
  PayloadReader r{lp, 0};
  if (lp.size() < 7) r.fail("listpack too short");
  if (get_le(lp, 0, 4) != lp.size()) r.fail("listpack size mismatch");
  const std::uint64_t declared = get_le(lp, 4, 2);
  r.pos = 6;
  std::vector<std::string> out;
  while (true) {
    const std::size_t start = r.pos;
    const unsigned char e = r.byte();
    if (e == 0xff) break;
    std::string value;
    auto as_int = [&](int bytes, int bits) {
      std::uint64_t u = get_le(r.raw(static_cast<std::uint64_t>(bytes)), 0, bytes);
      // Sign-extend from `bits`.
      std::int64_t v = bits == 64 ? static_cast<std::int64_t>(u)
                                  : static_cast<std::int64_t>(u << (64 - bits)) >> (64 - bits);
      value = std::to_string(v);
    };
    if ((e & 0x80) == 0) {
      value = std::to_string(e & 0x7f);
    } else if ((e & 0xc0) == 0x80) {
      value = r.raw(e & 0x3f);
    } else if ((e & 0xe0) == 0xc0) {
      std::uint64_t u = (std::uint64_t{e & 0x1fu} << 8) | r.byte();
      value = std::to_string(static_cast<std::int64_t>(u << 51) >> 51);
    } else if ((e & 0xf0) == 0xe0) {
      std::uint64_t n = (std::uint64_t{e & 0x0fu} << 8) | r.byte();
      value = r.raw(n);
    } else if (e == 0xf0) {
      value = r.raw(get_le(r.raw(4), 0, 4));
    } else if (e == 0xf1) {
      as_int(2, 16);
    } else if (e == 0xf2) {
      as_int(3, 24);
    } else if (e == 0xf3) {
      as_int(4, 32);
    } else if (e == 0xf4) {
      as_int(8, 64);
    } else {
      r.fail("unknown listpack entry encoding");
    }
    const std::size_t entry_len = r.pos - start;
    std::string expect;
    put_backlen(expect, entry_len);
    if (r.raw(expect.size()) != expect) r.fail("listpack back length mismatch");
    out.push_back(std::move(value));
  }
  if (r.pos != lp.size()) r.fail("bytes after the listpack terminator");
  if (declared != 65535 && declared != out.size()) r.fail("listpack element count mismatch");
  return out;
}

/// The members of an intset blob: width 2, 4 or 8, strictly ascending (intsetValidateIntegrity, deep).
std::vector<long long> intset_members(std::string_view blob) {
  PayloadReader r{blob, 0};
  if (blob.size() < 8) r.fail("intset too short");
  const std::uint64_t width = get_le(blob, 0, 4), count = get_le(blob, 4, 4);
  if (width != 2 && width != 4 && width != 8) r.fail("bad intset encoding");
  if (count == 0 || count * width != blob.size() - 8) r.fail("intset size mismatch");
  std::vector<long long> out;
  out.reserve(static_cast<std::size_t>(count));
  const int bits = static_cast<int>(width) * 8;
  for (std::uint64_t i = 0; i < count; ++i) {
    std::uint64_t u = get_le(blob, 8 + static_cast<std::size_t>(i * width), static_cast<int>(width));
    long long v = bits == 64 ? static_cast<long long>(u) : static_cast<long long>(static_cast<std::int64_t>(u << (64 - bits)) >> (64 - bits));
    if (!out.empty() && v <= out.back()) r.fail("intset not strictly ascending");
    out.push_back(v);
  }
  return out;
}

void put_field(PayloadReader& r, Hash& h, std::string_view f, std::string_view v) {
  if (!h.set(f, v)) r.fail("duplicate hash field");
}

}  // namespace

std::string dump_payload(const Value& v, const Options& o) {
  std::string out;
  save_object(out, v, o);
  put_le(out, kDumpRdbVersion, 2);
  put_le(out, crc64(out), 8);
  return out;
}

std::string rdb_file(Db& db, const Options& o) {
  std::string out = "REDIS00" + std::to_string(kDumpRdbVersion);
  const long long now = now_ms();
  const int keep = db.selected();
  std::string obj;
  for (int i = 0; i < db.count(); ++i) {
    if (db.size_of(i) == 0) continue;
    db.select(i);
    out.push_back(static_cast<char>(kOpSelectDb));
    save_len(out, static_cast<std::uint64_t>(i));
    for (auto& [key, v] : db.dict()) {
      const long long when = db.expire_of(key);
      if (when >= 0 && when <= now) continue;
      if (when >= 0) {
        out.push_back(static_cast<char>(kOpExpireTimeMs));
        put_le(out, static_cast<std::uint64_t>(when), 8);
      }
      obj.clear();
      save_object(obj, v, o);
      out.push_back(obj[0]);  // the type, then the key, then the value
      save_string(out, key);
      out.append(obj, 1);
    }
  }
  db.select(keep);
  out.push_back(static_cast<char>(kOpEof));
  put_le(out, crc64(out), 8);
  return out;
}

bool dump_payload_verify(std::string_view p) noexcept {
  if (p.size() < 10) return false;
  const std::uint64_t version = get_le(p, p.size() - 10, 2);
  if (version > static_cast<std::uint64_t>(kDumpRdbVersion)) return false;
  return crc64(p.substr(0, p.size() - 8)) == get_le(p, p.size() - 8, 8);
}

Value dump_payload_load(std::string_view payload) {
  if (payload.size() < 10) throw DumpError("payload too short");
  // As Redis's rioInitWithBuffer over the whole argument: the value may run into the footer
  // (Redis reads it so), and bytes between the value and the footer are not looked at.
  PayloadReader r{payload, 0};
  Value v;
  const unsigned char type = r.byte();
  try {
    switch (type) {
      case kRdbString: v.data = r.string(); break;
      case kRdbList: {
        List l;
        for (std::uint64_t n = r.len(); n > 0; --n) l.push_back(r.string());
        if (l.empty()) r.fail("empty list");
        v.data = std::move(l);
        break;
      }
      case kRdbListQuicklist2: {
        List l;
        for (std::uint64_t n = r.len(); n > 0; --n) {
          const std::uint64_t container = r.len();
          if (container != kContainerPlain && container != kContainerPacked) r.fail("bad quicklist container");
          std::string data = r.string();
          if (data.empty()) r.fail("empty quicklist node");
          if (container == kContainerPlain) {
            l.push_back(std::move(data));
            continue;
          }
          for (auto& e : listpack_elements(data)) l.push_back(std::move(e));
        }
        if (l.empty()) r.fail("empty list");
        v.data = std::move(l);
        break;
      }
      case kRdbSet: {
        Set s;
        for (std::uint64_t n = r.len(); n > 0; --n)
          if (!s.add(r.string())) r.fail("duplicate set member");
        if (s.size() == 0) r.fail("empty set");
        v.data = std::move(s);
        break;
      }
      case kRdbSetIntset: {
        Set s;
        for (long long m : intset_members(r.string())) s.add(std::to_string(m));
        v.data = std::move(s);
        break;
      }
      case kRdbHash: {
        Hash h;
        for (std::uint64_t n = r.len(); n > 0; --n) {
          std::string f = r.string();
          put_field(r, h, f, r.string());
        }
        if (h.size() == 0) r.fail("empty hash");
        v.data = std::move(h);
        break;
      }
      case kRdbHashListpack: {
        auto elements = listpack_elements(r.string());
        if (elements.empty() || elements.size() % 2) r.fail("hash listpack of an odd or zero length");
        Hash h;
        for (std::size_t i = 0; i < elements.size(); i += 2) put_field(r, h, elements[i], elements[i + 1]);
        v.data = std::move(h);
        break;
      }
      case kRdbZset:
      case kRdbZset2: {
        ZSet z;
        for (std::uint64_t n = r.len(); n > 0; --n) {
          std::string m = r.string();
          double score = 0;
          if (type == kRdbZset2) {
            score = std::bit_cast<double>(get_le(r.raw(8), 0, 8));
          } else {  // rdbLoadDoubleValue: a length byte (253 nan, 254 inf, 255 -inf), then text
            const unsigned char n2 = r.byte();
            if (n2 == 254 || n2 == 255) score = n2 == 254 ? HUGE_VAL : -HUGE_VAL;
            else if (n2 == 253 || !parse_score(r.raw(n2), score)) r.fail("bad sorted set score");
          }
          if (std::isnan(score)) r.fail("NaN sorted set score");
          if (!z.add(m, score)) r.fail("duplicate sorted set member");
        }
        if (z.size() == 0) r.fail("empty sorted set");
        v.data = std::move(z);
        break;
      }
      case kRdbZsetListpack: {
        auto elements = listpack_elements(r.string());
        if (elements.empty() || elements.size() % 2) r.fail("sorted set listpack of an odd or zero length");
        ZSet z;
        for (std::size_t i = 0; i < elements.size(); i += 2) {
          double score = 0;
          if (!parse_score(elements[i + 1], score)) r.fail("bad sorted set score");
          if (!z.add(elements[i], score)) r.fail("duplicate sorted set member");
        }
        v.data = std::move(z);
        break;
      }
      default: r.fail("RDB type " + std::to_string(type) + " is not a type ipc-managerd has");
    }
  } catch (const std::bad_alloc&) {
    r.fail("value too large");
  } catch (const std::length_error&) {
    r.fail("value too large");
  }
  return v;
}

// ---- commands ----

/* DUMP <key> */
void cmd_dump(Server& srv, Client& c, Args argv) {
  Value* v = srv.db.find(argv[1]);
  if (!v) return reply_nil(c);
  reply_bulk(c, dump_payload(*v, srv.options()));
}

/* RESTORE <key> <ttl> <serialized-value> [REPLACE] [ABSTTL] [IDLETIME <seconds>] [FREQ <frequency>] */
void cmd_restore(Server& srv, Client& c, Args argv) {
  bool replace = false, absttl = false;
  long long idletime = -1, freq = -1;
  // Options first, as Redis's restoreCommand; IDLETIME and FREQ exclude each other. Access
  // times and frequencies are not tracked here, so their values are checked and then unused.
  for (std::size_t j = 4; j < argv.size(); ++j) {
    const std::size_t additional = argv.size() - j - 1;
    std::string opt(argv[j]);
    std::transform(opt.begin(), opt.end(), opt.begin(), [](unsigned char ch) { return std::tolower(ch); });
    if (opt == "replace") {
      replace = true;
    } else if (opt == "absttl") {
      absttl = true;
    } else if (opt == "idletime" && additional >= 1 && freq == -1) {
      if (!detail::resp::parse_ll(argv[++j], idletime)) return reply_not_integer(c);
      if (idletime < 0) return reply_err(c, "Invalid IDLETIME value, must be >= 0");
    } else if (opt == "freq" && additional >= 1 && idletime == -1) {
      if (!detail::resp::parse_ll(argv[++j], freq)) return reply_not_integer(c);
      if (freq < 0 || freq > 255) return reply_err(c, "Invalid FREQ value, must be >= 0 and <= 255");
    } else {
      return reply_syntax_error(c);
    }
  }
  const std::string_view key = argv[1];
  if (!replace && srv.db.find(key)) return reply_error_code(c, "BUSYKEY Target key name already exists.");
  long long ttl = 0;
  if (!detail::resp::parse_ll(argv[2], ttl)) return reply_not_integer(c);
  if (ttl < 0) return reply_err(c, "Invalid TTL value, must be >= 0");
  if (!dump_payload_verify(argv[3])) return reply_err(c, "DUMP payload version or checksum are wrong");
  Value v;
  try {
    v = dump_payload_load(argv[3]);
  } catch (const DumpError& e) {
    log(LogLevel::debug, std::string("RESTORE refused a payload: ") + e.what());
    return reply_err(c, "Bad data format");
  }
  const bool deleted = replace && srv.db.remove(key);
  const long long now = now_ms();
  if (ttl && !absttl) ttl += now;
  if (ttl && ttl <= now) {
    // Already expired: nothing is added, and a replaced key is deleted (logged as a DEL).
    if (deleted) {
      c.propagate.push_back({"DEL", std::string(key)});
      srv.modified(key);
      srv.notify(kNotifyGeneric, "del", key);
    }
    return reply_ok(c);
  }
  const bool is_list = v.type() == Type::list;
  srv.db.set(key, std::move(v));
  if (ttl) {
    srv.db.set_expire(key, ttl);
    if (!absttl) {
      // The log gets the absolute time, so a replay does not extend the key's life.
      std::vector<std::string> logged(argv.begin(), argv.end());
      logged[2] = std::to_string(ttl);
      logged.emplace_back("ABSTTL");
      c.propagate.push_back(std::move(logged));
    }
  }
  srv.modified(key);
  srv.notify(kNotifyGeneric, "restore", key);
  if (is_list) srv.list_pushed(key);
  reply_ok(c);
}

}  // namespace ipc::managerd
