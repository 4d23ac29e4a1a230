// RESP2 codec (the Redis wire protocol): incremental request parser, reply writers, reply parser.
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ipc::detail::resp {

/// Bounds a parser enforces before it allocates or waits for more bytes.
struct Limits {
  std::size_t max_bulk_len = 512u * 1024 * 1024;  ///< Redis proto-max-bulk-len
  std::size_t max_args = 1024 * 1024;             ///< elements of one multibulk request
  std::size_t max_inline = 64 * 1024;             ///< one inline request line
  std::size_t max_depth = 32;                     ///< nesting of replies (reply parser only)
};

/// What one parse step produced.
enum class Status {
  need_more,  ///< the request is incomplete: call again with the same bytes and more appended
  request,    ///< a whole request: args() and consumed() are valid
  empty,      ///< a blank inline line or `*0`: skip consumed() bytes, nothing to run
  error,      ///< a protocol error: error() holds Redis's message; the connection should close
  reply = request,  ///< parse_reply: a whole reply (same value: one parse step's "complete")
};

/// Incremental parser for client requests (inline `SET a b\r\n` and multibulk `*3\r\n$3\r\nSET...`).
/// Feed it the unconsumed bytes starting at the current request each time; it remembers how far
/// it got so a large request is scanned once. args() are views into the bytes passed to the last
/// parse() call (or into the parser for inline requests with quotes) and stay valid until the
/// next parse()/reset(). After warm-up it does not allocate per request. Not thread-safe.
class RequestParser {
 public:
  explicit RequestParser(Limits limits = {}) noexcept : m_limits(limits) {}

  /// Parses one request from `buf` (which begins at the first byte of the request). Never throws
  /// for bad input (it returns Status::error); may throw std::bad_alloc.
  Status parse(std::string_view buf);
  /// Arguments of the request just parsed.
  std::span<const std::string_view> args() const noexcept { return {m_args.data(), m_args.size()}; }
  /// Bytes of the request just parsed (or skipped); the caller drops them before the next parse.
  std::size_t consumed() const noexcept { return m_consumed; }
  /// Redis's text for the protocol error ("Protocol error: invalid bulk length").
  const std::string& error() const noexcept { return m_error; }
  /// Forgets any partial request (after the caller dropped its bytes).
  void reset() noexcept;
  /// Bytes the current partial multibulk request still needs, at least (0 when unknown); lets
  /// the caller grow its buffer once for a large bulk.
  std::size_t bulk_remaining() const noexcept { return m_bulk_need; }
  /// Changes the limits (takes effect at the next request).
  void set_limits(Limits l) noexcept { m_limits = l; }

 private:
  Status parse_inline(std::string_view buf);
  Status parse_multibulk(std::string_view buf);
  Status fail(const char* msg);

  Limits m_limits;
  std::vector<std::string_view> m_args;
  std::vector<std::pair<std::size_t, std::size_t>> m_spans;  // offset, length of each bulk
  std::string m_inline;                                       // unescaped inline arguments
  std::string m_error;
  std::size_t m_consumed = 0;
  std::size_t m_pos = 0;        // how far into the current request has been scanned
  long long m_multibulk = 0;    // declared element count, 0 = not read yet
  long long m_bulk = -1;        // declared length of the bulk being read, -1 = header not read
  std::size_t m_bulk_need = 0;
};

// ---- reply writers: append one RESP2 value to `out` ----

/// `+s\r\n` (s must not contain CR or LF).
void add_simple(std::string& out, std::string_view s);
/// `-msg\r\n`; `msg` starts with the error code ("ERR ...", "WRONGTYPE ..."). CR/LF become spaces.
void add_error(std::string& out, std::string_view msg);
/// `:n\r\n`.
void add_int(std::string& out, long long n);
/// `$len\r\ndata\r\n`.
void add_bulk(std::string& out, std::string_view data);
/// `$-1\r\n` (nil).
void add_nil(std::string& out);
/// `*-1\r\n` (nil array).
void add_nil_array(std::string& out);
/// `*n\r\n`: the header of an array whose n elements follow.
void add_array(std::string& out, std::size_t n);
/// A request as a client sends it: `*n` then one bulk per argument.
void add_command(std::string& out, std::span<const std::string_view> args);
/// The same for an initializer list of arguments.
void add_command(std::string& out, std::initializer_list<std::string_view> args);

// ---- reply parser (clients: ipc-ctl, the manager proxies) ----

/// One decoded reply.
struct Reply {
  enum class Type : std::uint8_t { simple, error, integer, bulk, nil, array, nil_array };
  Type type = Type::nil;
  std::string str;             ///< simple, error, bulk
  long long integer = 0;       ///< integer
  std::vector<Reply> elements; ///< array
};

/// Parses one reply from the front of `buf`. Returns Status::need_more when incomplete,
/// Status::reply with `out` filled and `consumed` set when whole, Status::error with `err` set
/// for bytes that are not RESP or exceed `limits` (bulk length, element count, nesting). RESP3
/// replies are read onto the RESP2 shapes: null -> nil, map -> flat array, set/push -> array,
/// double, boolean, big number and verbatim text -> bulk.
Status parse_reply(std::string_view buf, Reply& out, std::size_t& consumed, std::string& err,
                   const Limits& limits = {});

/// Appends `s` in double quotes with Redis's escapes (sdscatrepr: \\ \" \n \r \t \a \b, other
/// bytes outside printable ASCII as \xhh), as redis-cli shows a bulk and CONFIG REWRITE writes one.
void append_repr(std::string& out, std::string_view s);

/// Formats a reply the way redis-cli does (`(integer) 1`, `"bar"`, `(nil)`, numbered arrays).
std::string format_reply(const Reply& r);

/// Parses a whole decimal long long the way Redis does (no spaces, no '+', no leading zeros
/// except "0", fits in 64 bits). Returns false otherwise.
bool parse_ll(std::string_view s, long long& out) noexcept;

}  // namespace ipc::detail::resp
