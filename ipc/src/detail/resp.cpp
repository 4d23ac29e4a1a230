// RESP2 codec: request parser (Redis networking.c semantics and messages), writers, reply parser.
#include <ipc/detail/resp.hpp>

#include <climits>
#include <cstring>

namespace ipc::detail::resp {

namespace {

bool is_space(char c) noexcept {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\v' || c == '\f';
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Splits an inline line the way Redis's sdssplitargs does (quotes, \x escapes). Appends the
// unescaped bytes of each argument to `store` and (offset, length) pairs to `spans`.
bool split_inline(std::string_view line, std::string& store,
                  std::vector<std::pair<std::size_t, std::size_t>>& spans) {
  std::size_t i = 0, n = line.size();
  auto at = [&](std::size_t k) -> char { return k < n ? line[k] : '\0'; };
  for (;;) {
    while (i < n && is_space(line[i])) ++i;
    if (i >= n || line[i] == '\0') return true;
    bool inq = false, insq = false, done = false;
    std::size_t start = store.size();
    while (!done) {
      char c = at(i);
      if (inq) {
        if (c == '\\' && at(i + 1) == 'x' && hex_value(at(i + 2)) >= 0 && hex_value(at(i + 3)) >= 0) {
          store.push_back(static_cast<char>(hex_value(at(i + 2)) * 16 + hex_value(at(i + 3))));
          i += 3;
        } else if (c == '\\' && at(i + 1)) {
          ++i;
          char e = at(i);
          switch (e) {
            case 'n': e = '\n'; break;
            case 'r': e = '\r'; break;
            case 't': e = '\t'; break;
            case 'b': e = '\b'; break;
            case 'a': e = '\a'; break;
            default: break;
          }
          store.push_back(e);
        } else if (c == '"') {
          if (at(i + 1) && !is_space(at(i + 1))) return false;  // closing quote must end the arg
          done = true;
        } else if (!c) {
          return false;  // unterminated quotes
        } else {
          store.push_back(c);
        }
      } else if (insq) {
        if (c == '\\' && at(i + 1) == '\'') {
          ++i;
          store.push_back('\'');
        } else if (c == '\'') {
          if (at(i + 1) && !is_space(at(i + 1))) return false;
          done = true;
        } else if (!c) {
          return false;
        } else {
          store.push_back(c);
        }
      } else {
        switch (c) {
          case ' ': case '\n': case '\r': case '\t': case '\0': done = true; break;
          case '"': inq = true; break;
          case '\'': insq = true; break;
          default: store.push_back(c); break;
        }
      }
      if (at(i)) ++i;
    }
    spans.emplace_back(start, store.size() - start);
  }
}

void append_num(std::string& out, char type, long long n) {
  char buf[24];
  buf[0] = type;
  auto r = std::to_chars(buf + 1, buf + sizeof buf - 2, n);
  r.ptr[0] = '\r';
  r.ptr[1] = '\n';
  out.append(buf, static_cast<std::size_t>(r.ptr + 2 - buf));
}

}  // namespace

bool parse_ll(std::string_view s, long long& out) noexcept {
  if (s.empty() || s.size() > 20) return false;
  if (s.size() == 1 && s[0] == '0') {
    out = 0;
    return true;
  }
  std::size_t i = 0;
  bool neg = false;
  if (s[0] == '-') {
    neg = true;
    i = 1;
    if (s.size() == 1) return false;
  }
  if (s[i] < '1' || s[i] > '9') return false;  // no leading zeros, '+' or spaces (as Redis)
  unsigned long long v = 0;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    if (v > (ULLONG_MAX - static_cast<unsigned>(s[i] - '0')) / 10) return false;
    v = v * 10 + static_cast<unsigned>(s[i] - '0');
  }
  if (neg) {
    if (v > static_cast<unsigned long long>(LLONG_MAX) + 1) return false;
    out = static_cast<long long>(0 - v);
  } else {
    if (v > static_cast<unsigned long long>(LLONG_MAX)) return false;
    out = static_cast<long long>(v);
  }
  return true;
}

// ---- RequestParser ----

void RequestParser::reset() noexcept {
  m_args.clear();
  m_spans.clear();
  m_pos = 0;
  m_multibulk = 0;
  m_bulk = -1;
  m_bulk_need = 0;
  m_consumed = 0;
}

Status RequestParser::fail(const char* msg) {
  m_error = msg;
  return Status::error;
}

Status RequestParser::parse(std::string_view buf) {
  if (m_multibulk == 0 && m_pos == 0) {
    m_args.clear();
    m_spans.clear();
    m_consumed = 0;
  }
  if (buf.empty()) return Status::need_more;
  return buf[0] == '*' ? parse_multibulk(buf) : parse_inline(buf);
}

Status RequestParser::parse_inline(std::string_view buf) {
  const void* nl = std::memchr(buf.data(), '\n', buf.size());
  if (!nl) {
    if (buf.size() > m_limits.max_inline) return fail("Protocol error: too big inline request");
    return Status::need_more;
  }
  std::size_t end = static_cast<std::size_t>(static_cast<const char*>(nl) - buf.data());
  std::size_t len = end;
  if (len > 0 && buf[len - 1] == '\r') --len;
  m_inline.clear();
  m_spans.clear();
  if (!split_inline(buf.substr(0, len), m_inline, m_spans))
    return fail("Protocol error: unbalanced quotes in request");
  m_consumed = end + 1;
  m_args.clear();
  for (auto [off, n] : m_spans) m_args.emplace_back(m_inline.data() + off, n);
  return m_args.empty() ? Status::empty : Status::request;
}

Status RequestParser::parse_multibulk(std::string_view buf) {
  const char* base = buf.data();
  std::size_t size = buf.size();
  if (m_multibulk == 0) {
    const void* cr = std::memchr(base, '\r', size);
    if (!cr) {
      if (size > m_limits.max_inline) return fail("Protocol error: too big mbulk count string");
      return Status::need_more;
    }
    std::size_t at = static_cast<std::size_t>(static_cast<const char*>(cr) - base);
    if (at + 2 > size) return Status::need_more;  // the '\n' is not there yet
    long long n;
    if (!parse_ll(std::string_view(base + 1, at - 1), n) || n > INT_MAX ||
        n > static_cast<long long>(m_limits.max_args))
      return fail("Protocol error: invalid multibulk length");
    m_pos = at + 2;
    if (n <= 0) {
      m_consumed = m_pos;
      m_pos = 0;
      return Status::empty;
    }
    m_multibulk = n;
    m_bulk = -1;
    m_spans.clear();
    m_spans.reserve(static_cast<std::size_t>(n < 1024 ? n : 1024));
  }
  // The scan runs on locals (stored back when more bytes are needed): a request of many
  // small arguments spends most of its time here.
  const char* const end = base + size;
  std::size_t pos = m_pos;
  long long bulk = m_bulk;
  std::size_t have = m_spans.size();
  const auto want = static_cast<std::size_t>(m_multibulk);
  while (have < want) {
    if (bulk < 0 && pos < size && base[pos] == '$') {
      // The usual header, "$<digits>\r\n" without a leading zero, read in one pass; anything
      // else (and a length over the limit) is left to the general path below.
      const char* d = base + pos + 1;
      const char* lim = end - d > 18 ? d + 18 : end;
      const char* e = d;
      unsigned long long n = 0;
      while (e < lim && static_cast<unsigned char>(*e - '0') < 10) n = n * 10 + static_cast<unsigned>(*e++ - '0');
      if (e > d && end - e >= 2 && e[0] == '\r' && e[1] == '\n' && (*d != '0' || e == d + 1) &&
          n <= m_limits.max_bulk_len) {
        pos = static_cast<std::size_t>(e + 2 - base);
        bulk = static_cast<long long>(n);
      }
    }
    if (bulk < 0) {
      const void* cr = std::memchr(base + pos, '\r', size - pos);
      if (!cr) {
        if (size - pos > m_limits.max_inline) return fail("Protocol error: too big bulk count string");
        m_pos = pos;
        m_bulk = -1;
        return Status::need_more;
      }
      std::size_t at = static_cast<std::size_t>(static_cast<const char*>(cr) - base);
      if (at + 2 > size) {
        m_pos = pos;
        m_bulk = -1;
        return Status::need_more;
      }
      if (base[pos] != '$') {
        m_error = "Protocol error: expected '$', got '";
        m_error += base[pos];
        m_error += '\'';
        return Status::error;
      }
      long long n;
      if (!parse_ll(std::string_view(base + pos + 1, at - pos - 1), n) || n < 0 ||
          static_cast<unsigned long long>(n) > m_limits.max_bulk_len)
        return fail("Protocol error: invalid bulk length");
      pos = at + 2;
      bulk = n;
    }
    std::size_t need = static_cast<std::size_t>(bulk) + 2;
    if (size - pos < need) {
      m_pos = pos;
      m_bulk = bulk;
      m_bulk_need = need - (size - pos);
      return Status::need_more;
    }
    m_spans.emplace_back(pos, static_cast<std::size_t>(bulk));
    ++have;
    pos += need;
    bulk = -1;
  }
  m_pos = pos;
  m_bulk = -1;
  m_args.clear();
  for (auto [off, n] : m_spans) m_args.emplace_back(base + off, n);
  m_consumed = m_pos;
  m_pos = 0;
  m_multibulk = 0;
  m_bulk_need = 0;
  return Status::request;
}

// ---- writers ----

void add_simple(std::string& out, std::string_view s) {
  out.push_back('+');
  out.append(s);
  out.append("\r\n", 2);
}

void add_error(std::string& out, std::string_view msg) {
  std::size_t start = out.size();
  out.push_back('-');
  out.append(msg);
  for (std::size_t i = start + 1; i < out.size(); ++i)
    if (out[i] == '\r' || out[i] == '\n') out[i] = ' ';
  out.append("\r\n", 2);
}

void add_int(std::string& out, long long n) {
  if (n >= 0 && n < 10) {
    char buf[4] = {':', static_cast<char>('0' + n), '\r', '\n'};
    out.append(buf, 4);
    return;
  }
  append_num(out, ':', n);
}

void add_bulk(std::string& out, std::string_view data) {
  append_num(out, '$', static_cast<long long>(data.size()));
  out.append(data);
  out.append("\r\n", 2);
}

void add_nil(std::string& out) { out.append("$-1\r\n", 5); }
void add_nil_array(std::string& out) { out.append("*-1\r\n", 5); }
void add_array(std::string& out, std::size_t n) { append_num(out, '*', static_cast<long long>(n)); }

void add_command(std::string& out, std::span<const std::string_view> args) {
  add_array(out, args.size());
  for (auto a : args) add_bulk(out, a);
}

void add_command(std::string& out, std::initializer_list<std::string_view> args) {
  add_command(out, std::span<const std::string_view>(args.begin(), args.size()));
}

// ---- reply parser ----

void append_repr(std::string& out, std::string_view s) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\a': out += "\\a"; break;
      case '\b': out += "\\b"; break;
      default:
        if (c < 32 || c >= 127) {
          static constexpr char kHex[] = "0123456789abcdef";
          out += "\\x";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

namespace {

struct ReplyReader {
  std::string_view buf;
  const Limits& limits;
  std::string& err;
  std::size_t pos = 0;

  // 1 = ok, 0 = need more, -1 = error
  int line(std::string_view& out) {
    const void* cr = std::memchr(buf.data() + pos, '\r', buf.size() - pos);
    if (!cr) {
      if (buf.size() - pos > limits.max_inline) return bad("reply line too long");
      return 0;
    }
    std::size_t at = static_cast<std::size_t>(static_cast<const char*>(cr) - buf.data());
    if (at + 2 > buf.size()) return 0;
    if (buf[at + 1] != '\n') return bad("reply line not terminated by CRLF");
    out = buf.substr(pos, at - pos);
    pos = at + 2;
    return 1;
  }
  int bad(const char* m) {
    err = m;
    return -1;
  }
  int read(Reply& r, std::size_t depth) {
    if (depth > limits.max_depth) return bad("reply nested too deeply");
    if (pos >= buf.size()) return 0;
    char t = buf[pos++];
    std::string_view l;
    int rc = line(l);
    if (rc <= 0) return rc;
    long long n = 0;
    switch (t) {
      case '+': r.type = Reply::Type::simple; r.str.assign(l); return 1;
      case '-': r.type = Reply::Type::error; r.str.assign(l); return 1;
      case ':':
        if (!parse_ll(l, n)) return bad("bad integer reply");
        r.type = Reply::Type::integer;
        r.integer = n;
        return 1;
      // RESP3 types map onto the RESP2 shapes: null -> nil, double/big number/boolean -> their
      // text, verbatim -> bulk (without its "txt:" format), map -> flat array, set/push -> array.
      case '_': r.type = Reply::Type::nil; return 1;
      case ',': case '(': case '#': r.type = Reply::Type::bulk; r.str.assign(l); return 1;
      case '=':
      case '$':
        if (!parse_ll(l, n) || n < -1 || (n >= 0 && static_cast<unsigned long long>(n) > limits.max_bulk_len))
          return bad("bad bulk length in reply");
        if (n == -1) {
          r.type = Reply::Type::nil;
          return 1;
        }
        if (buf.size() - pos < static_cast<std::size_t>(n) + 2) return 0;
        if (buf[pos + static_cast<std::size_t>(n)] != '\r' || buf[pos + static_cast<std::size_t>(n) + 1] != '\n')
          return bad("bulk reply not terminated by CRLF");
        r.type = Reply::Type::bulk;
        r.str.assign(buf.substr(pos, static_cast<std::size_t>(n)));
        if (t == '=' && r.str.size() >= 4) r.str.erase(0, 4);
        pos += static_cast<std::size_t>(n) + 2;
        return 1;
      case '%': case '~': case '>':
      case '*': {
        if (!parse_ll(l, n) || n < -1 || (n >= 0 && static_cast<unsigned long long>(n) > limits.max_args))
          return bad("bad array length in reply");
        if (t == '%') {
          if (n < 0 || static_cast<unsigned long long>(n) > limits.max_args / 2) return bad("bad map length in reply");
          n *= 2;
        }
        if (n == -1) {
          r.type = Reply::Type::nil_array;
          return 1;
        }
        r.type = Reply::Type::array;
        r.elements.clear();
        // Do not trust the count for the reservation: each element needs at least 3 bytes.
        std::size_t cap = (buf.size() - pos) / 3;
        r.elements.reserve(static_cast<std::size_t>(n) < cap ? static_cast<std::size_t>(n) : cap);
        for (long long i = 0; i < n; ++i) {
          r.elements.emplace_back();
          int e = read(r.elements.back(), depth + 1);
          if (e <= 0) return e;
        }
        return 1;
      }
      default:
        err = "unexpected reply type byte '";
        err += t;
        err += '\'';
        return -1;
    }
  }
};

void format_into(const Reply& r, std::string& out, std::size_t indent) {
  switch (r.type) {
    case Reply::Type::simple: out += r.str; break;
    case Reply::Type::error: out.append("(error) ").append(r.str); break;
    case Reply::Type::integer: out.append("(integer) ").append(std::to_string(r.integer)); break;
    case Reply::Type::nil: case Reply::Type::nil_array: out += "(nil)"; break;
    case Reply::Type::bulk: append_repr(out, r.str); break;
    case Reply::Type::array: {
      if (r.elements.empty()) {
        out += "(empty array)";
        break;
      }
      std::size_t width = std::to_string(r.elements.size()).size();
      for (std::size_t i = 0; i < r.elements.size(); ++i) {
        if (i > 0) {
          out += '\n';
          out.append(indent, ' ');
        }
        std::string num = std::to_string(i + 1);
        out.append(width - num.size(), ' ');
        out += num;
        out += ") ";
        format_into(r.elements[i], out, indent + width + 2);
      }
      break;
    }
  }
}

}  // namespace

Status parse_reply(std::string_view buf, Reply& out, std::size_t& consumed, std::string& err,
                   const Limits& limits) {
  ReplyReader rd{buf, limits, err};
  int rc = rd.read(out, 0);
  if (rc < 0) return Status::error;
  if (rc == 0) return Status::need_more;
  consumed = rd.pos;
  return Status::reply;
}

std::string format_reply(const Reply& r) {
  std::string out;
  format_into(r, out, 0);
  return out;
}

}  // namespace ipc::detail::resp
