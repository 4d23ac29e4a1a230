// Manager and its proxies: named shared dicts, lists, values, namespaces, queues, locks and events
// kept by a RESP server (a private ipc-managerd engine, a running ipc-managerd, Redis, Redis Cluster).
//
// Link ipckit::manager. Python's multiprocessing.managers, with the wire format of DESIGN.md
// decision 6: numbers are decimal text (so HINCRBY works), strings are themselves, other
// serialisable types are cereal blobs behind a NUL byte. Every object `name` lives in the key
// `name`; its helper keys are `{name}:<what>`, so all of an object's keys hash to the same Redis
// Cluster slot (a name that already holds a `{tag}` keeps it).
//
// Processes: a Manager and its proxies may be copied into ipc::Process children; each process
// opens its own connection on first use (the pid is checked on every call), so no socket is ever
// shared across fork. Proxies and ManagerHandle are also ipc::Serializable (cereal), so they can
// be Pool and ProcessPoolExecutor arguments and results and ipc::Queue items: what travels is
// the server's address, its password (as Python's authkey travels with a pickled proxy), the
// options and the object's name; the receiving process connects lazily on its first call.
// Threads: a Manager and the proxies made from it share one connection and are not thread-safe;
// give each thread its own Manager::connect(). Proxies deserialised in one thread share one
// connection per server (and that of a live Manager of the same server made in that thread).
#pragma once

#include <ipc/detail/resp.hpp>
#include <ipc/errors.hpp>
#include <ipc/serialize.hpp>
#include <ipc/timeout.hpp>

#include <sys/types.h>

#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <ranges>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace ipc {

// ---- errors ----

/// The server answered with an error reply (`-ERR ...`, `-WRONGTYPE ...`, `-NOAUTH ...`);
/// what() carries it, reply() is the reply's text alone.
class ManagerError : public Error {
 public:
  /// `what` is the message (naming the key), `reply` the server's error text.
  ManagerError(const std::string& what, std::string reply) : Error(what), m_reply(std::move(reply)) {}
  /// The server's error text, e.g. "WRONGTYPE Operation against a key holding the wrong kind of value".
  const std::string& reply() const noexcept { return m_reply; }

 private:
  std::string m_reply;
};

/// A stored value (or key) is not of the type the proxy expects; what() names the key.
class WrongTypeError : public Error {
 public:
  using Error::Error;
};

/// A missing dict key or namespace attribute read without a default (Python's KeyError).
class KeyError : public Error {
 public:
  using Error::Error;
};

/// A list index out of range, or pop() from an empty list (Python's IndexError).
class IndexError : public Error {
 public:
  using Error::Error;
};

// ---- options ----

/// How a Manager talks to its server. The defaults suit a local server.
struct ManagerOptions {
  /// Limit of every call that is not a wait the caller times itself (get(timeout), acquire).
  Timeout timeout = std::chrono::seconds(10);
  /// Reconnection attempts after the server went away, before the call fails.
  int retries = 8;
  /// First pause between attempts; doubled each time up to max_backoff.
  std::chrono::milliseconds backoff{20};
  /// Longest pause between attempts.
  std::chrono::milliseconds max_backoff{1000};
  /// Lease of a Lock: a holder renews it every lease/3; a dead holder's lock is free after it.
  std::chrono::milliseconds lease{5000};
};

namespace detail {

using resp::Reply;

/// One process's connection(s) to the server: one node, or a Redis Cluster with a slot map.
/// Connects lazily and again after fork (getpid() differs) or after the server went away.
class ManagerSession;

/// Shared state behind a Manager and its proxies.
struct ManagerLink {
  std::shared_ptr<ManagerSession> session;
  ManagerOptions options;
  std::string address;          ///< the server's address, without the password
  std::string password;         ///< sent with AUTH on each connection
  bool private_server = false;  ///< a private server: gone for good once it stops
};

/// What a proxy or ManagerHandle carries to another process: enough to connect to the same
/// server with the same options. Empty address: an unbound proxy.
struct LinkSpec {
  std::string address;
  std::string password;
  bool private_server = false;
  ManagerOptions options;

  template <class Archive>
  void save(Archive& ar) const {
    std::int64_t t = options.timeout.infinite() ? -1 : static_cast<std::int64_t>(options.timeout.value().count());
    ar(address, password, private_server, t, options.retries, static_cast<std::int64_t>(options.backoff.count()),
       static_cast<std::int64_t>(options.max_backoff.count()), static_cast<std::int64_t>(options.lease.count()));
  }
  template <class Archive>
  void load(Archive& ar) {
    std::int64_t t = 0, backoff = 0, max_backoff = 0, lease = 0;
    ar(address, password, private_server, t, options.retries, backoff, max_backoff, lease);
    options.timeout = t < 0 ? Timeout{} : Timeout{std::chrono::nanoseconds(t)};
    options.backoff = std::chrono::milliseconds(backoff);
    options.max_backoff = std::chrono::milliseconds(max_backoff);
    options.lease = std::chrono::milliseconds(lease);
  }
};

/// The spec of `link` (an empty one for a null link).
LinkSpec link_spec(const std::shared_ptr<ManagerLink>& link);
/// A link for `spec` in the calling thread: the live one of a Manager or proxy of the same
/// server and options made or deserialised in this thread, or a new one (kept for the thread's
/// life, so that a pool worker keeps its connection from task to task). Null for an empty spec.
/// Throws ValueError for a bad address.
std::shared_ptr<ManagerLink> link_for(const LinkSpec& spec);
/// Makes `link` findable by link_for() in the calling thread while it lives.
void register_link(const std::shared_ptr<ManagerLink>& link);
/// Throws ValueError: `what` (a proxy or handle) was default-constructed and names no server.
[[noreturn]] void throw_unbound(const char* what);

/// Calls one command on the node holding `key`; error replies are thrown as ManagerError
/// (WrongTypeError for WRONGTYPE), naming `key`. Throws ConnectionClosed (server unreachable
/// after the retries, naming the address) or TimeoutError.
Reply mcall(ManagerSession& s, std::string_view key, std::initializer_list<std::string_view> args,
            Timeout timeout);
/// The same with a vector of arguments.
Reply mcall(ManagerSession& s, std::string_view key, const std::vector<std::string>& args, Timeout timeout);
class RequestBuilder;
/// The same with a command already encoded (update, extend).
Reply mcall(ManagerSession& s, std::string_view key, RequestBuilder& request, Timeout timeout);
/// The connection that held a WATCH was lost before its EXEC got an answer: the transaction
/// may or may not have run, and must not be re-sent unwatched. Callers start again from WATCH.
class WatchLost : public ConnectionClosed {
 public:
  using ConnectionClosed::ConnectionClosed;
};

/// Sends `cmds` in one round trip to the node of `key` and returns every reply (error replies
/// are returned, not thrown). Throws like mcall. With `resend` false (an EXEC after a WATCH),
/// throws WatchLost instead of reconnecting and sending again.
std::vector<Reply> mpipeline(ManagerSession& s, std::string_view key,
                             const std::vector<std::vector<std::string>>& cmds, Timeout timeout, bool resend = true);
/// Counts reconnections of `s`: a WATCH is lost when it changes between two pipelines.
std::uint64_t mgeneration(const ManagerSession& s) noexcept;
/// Throws ManagerError (or WrongTypeError) when `r` is an error reply, naming `key`.
void check_reply(const Reply& r, std::string_view key);
/// Redis Cluster's key slot: CRC16 (XMODEM) of the key, or of its first non-empty `{tag}`, mod 16384.
std::uint16_t key_slot(std::string_view key) noexcept;
/// The helper key `{name}:what` (or `name:what` when name already holds a hash tag).
std::string aux_key(std::string_view name, std::string_view what);
/// A pause of `backoff` doubled `attempt` times, capped at `max`, cut at the deadline.
void backoff_sleep(int attempt, std::chrono::milliseconds backoff, std::chrono::milliseconds max,
                   const Deadline& dl);
/// The limit of one round trip made while waiting up to `wait`: the time left plus 1 s for the
/// reply (a stalled server cannot hold the caller much past its wait), at most `call`.
Timeout round_trip_limit(const Deadline& wait, Timeout call);
/// Seconds as Redis's BLPOP wants them ("0" = forever).
std::string redis_seconds(Timeout t);
/// BLPOP of `key` waiting up to `timeout` on the server (a nil reply when nothing came). After a
/// lost connection it reconnects and waits only the time left. Throws like mcall.
Reply mblpop(ManagerSession& s, std::string_view key, Timeout timeout);

/// JoinableQueueProxy::task_done: DECR of the unfinished count (undone and ValueError below 0).
void joinable_task_done(ManagerSession& s, const std::string& key, const std::string& unfinished, Timeout timeout);
/// JoinableQueueProxy::join: polls the unfinished count until it is 0 or the deadline passes.
bool joinable_join(ManagerSession& s, const std::string& key, const std::string& unfinished, Timeout timeout,
                   const ManagerOptions& opts);

/// The first byte of a cereal blob; text values (numbers, strings) do not start with it.
inline constexpr char kBlobTag = '\0';

/// Encodes a value for the wire (DESIGN.md decision 6).
template <class T>
std::string mencode(const T& v) {
  if constexpr (std::is_same_v<T, bool>) {
    return v ? "1" : "0";
  } else if constexpr (std::is_arithmetic_v<T>) {
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, r.ptr);
  } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    return std::string(std::string_view(v));
  } else {
    static_assert(Serializable<T>, "a manager value must be a number, a string or serialisable with cereal");
    Bytes b = ipc::encode(v);
    std::string s(1, kBlobTag);
    s.append(reinterpret_cast<const char*>(b.data()), b.size());
    return s;
  }
}

/// One command encoded as it is built: each argument goes straight into the RESP bytes as a
/// bulk (a number is formatted in place, with no std::string per argument), and view() writes
/// the `*n` header into room kept for it in front. Small commands stay in the builder itself;
/// big ones (update, extend) grow on the heap. Neither copyable nor movable.
class RequestBuilder {
 public:
  /// An empty command with room for about `reserve` bytes of arguments.
  explicit RequestBuilder(std::size_t reserve = 0) {
    if (reserve > sizeof m_inline - kHead) {
      m_heap.reset(new char[kHead + reserve]);
      m_buf = m_heap.get();
      m_cap = kHead + reserve;
    }
  }
  /// The command `cmd key`, with room for about `reserve` more bytes of arguments.
  RequestBuilder(std::string_view cmd, std::string_view key, std::size_t reserve = 0)
      : RequestBuilder(reserve + cmd.size() + key.size() + 2 * kBulkOverhead) {
    arg(cmd);
    arg(key);
  }
  RequestBuilder(const RequestBuilder&) = delete;
  RequestBuilder& operator=(const RequestBuilder&) = delete;

  /// Appends `s` as one argument.
  void arg(std::string_view s) {
    char* p = room(s.size() + kBulkOverhead);
    *p++ = '$';
    p = std::to_chars(p, p + 20, s.size()).ptr;
    *p++ = '\r';
    *p++ = '\n';
    if (!s.empty()) std::memcpy(p, s.data(), s.size());
    p += s.size();
    *p++ = '\r';
    *p++ = '\n';
    m_len = static_cast<std::size_t>(p - m_buf);
    ++m_count;
  }
  /// Appends `v` as one argument, encoded as mencode(v) encodes it (DESIGN.md decision 6).
  template <class T>
  void value(const T& v);
  /// Number of arguments so far.
  std::size_t count() const noexcept { return m_count; }
  /// The whole command, header included; valid until the builder changes or goes.
  std::string_view view() {
    char head[kHead];
    head[0] = '*';
    char* e = std::to_chars(head + 1, head + kHead - 2, m_count).ptr;
    *e++ = '\r';
    *e++ = '\n';
    auto n = static_cast<std::size_t>(e - head);
    std::memcpy(m_buf + kHead - n, head, n);
    return {m_buf + kHead - n, m_len - (kHead - n)};
  }

 private:
  static constexpr std::size_t kHead = 24;          // `*n\r\n` fits in front
  static constexpr std::size_t kBulkOverhead = 26;  // `$` + up to 20 digits + two CRLFs
  char* room(std::size_t n) {
    if (m_cap - m_len < n) grow(n);
    return m_buf + m_len;
  }
  void grow(std::size_t n) {
    std::size_t cap = std::max(m_cap * 2, m_len + n);
    std::unique_ptr<char[]> b(new char[cap]);
    std::memcpy(b.get(), m_buf, m_len);
    m_heap = std::move(b);
    m_buf = m_heap.get();
    m_cap = cap;
  }
  // An integer as one bulk, the same text as std::to_chars: the digits go right to left into
  // a scratch buffer (two at a time), then one fixed-size copy.
  template <class T>
  void integer(T v) {
    using U = std::make_unsigned_t<T>;
    U u = v < 0 ? static_cast<U>(U(0) - static_cast<U>(v)) : static_cast<U>(v);
    char tmp[48];  // the digits end at tmp + 24; the copy below reads 24 bytes from their start
    char* const e = tmp + 24;
    char* d = e;
    while (u >= 100) {
      unsigned r = static_cast<unsigned>(u % 100);
      u = static_cast<U>(u / 100);
      d -= 2;
      d[0] = kDigitPairs[2 * r];
      d[1] = kDigitPairs[2 * r + 1];
    }
    if (u >= 10) {
      d -= 2;
      d[0] = kDigitPairs[2 * u];
      d[1] = kDigitPairs[2 * u + 1];
    } else {
      *--d = static_cast<char>('0' + u);
    }
    if (v < 0) *--d = '-';
    number(d, static_cast<std::size_t>(e - d), std::integral_constant<std::size_t, 24>{});
  }
  static constexpr char kDigitPairs[] =
      "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
      "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
      "8081828384858687888990919293949596979899";
  // A number's text (`n` bytes, `Copy` of them readable) as one bulk.
  template <std::size_t Copy = 32>
  void number(const char* text, std::size_t n, std::integral_constant<std::size_t, Copy> = {}) {
    char* p = room(Copy + 8);
    *p++ = '$';
    if (n < 10) {
      *p++ = static_cast<char>('0' + n);
    } else {
      *p++ = static_cast<char>('0' + n / 10);
      *p++ = static_cast<char>('0' + n % 10);
    }
    *p++ = '\r';
    *p++ = '\n';
    std::memcpy(p, text, Copy);  // fixed size: a few stores, no call; the bytes past n are overwritten or unused
    p += n;
    *p++ = '\r';
    *p++ = '\n';
    m_len = static_cast<std::size_t>(p - m_buf);
    ++m_count;
  }

  char m_inline[512];
  std::unique_ptr<char[]> m_heap;
  char* m_buf = m_inline;
  std::size_t m_cap = sizeof m_inline;
  std::size_t m_len = kHead;
  std::size_t m_count = 0;
};

template <class T>
void RequestBuilder::value(const T& v) {
  if constexpr (std::is_same_v<T, bool>) {
    arg(v ? "1" : "0");
  } else if constexpr (std::is_integral_v<T>) {
    integer(v);
  } else if constexpr (std::is_arithmetic_v<T>) {
    char text[64];
    auto r = std::to_chars(text, text + sizeof text, v);  // as mencode: the shortest round-trip text
    auto n = static_cast<std::size_t>(r.ptr - text);
    if (n <= 32)
      number(text, n);
    else
      arg(std::string_view(text, n));  // a long double's longest texts
  } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    arg(std::string_view(v));
  } else {
    arg(mencode(v));
  }
}

/// Names what a value is for errors: "key 'd' field 'a'".
std::string describe(std::string_view key, std::string_view field);
/// Throws WrongTypeError: `what` holds `bytes`, which are not a `type`.
[[noreturn]] void throw_wrong_type(const std::string& what, std::string_view bytes, const char* type);
/// The name of what is decoded, for errors: given as text, or made only when needed by a callable.
inline const std::string& what_text(const std::string& what) { return what; }
/// The same for a callable returning the text (built only when an error is thrown).
template <class F>
  requires std::is_invocable_r_v<std::string, const F&>
std::string what_text(const F& what) {
  return what();
}

/// Decodes a value read from the wire; `what` names it in the WrongTypeError thrown for bytes
/// that are not a T.
template <class T, class What>
T mdecode(std::string_view s, const What& what) {
  if constexpr (std::is_same_v<T, bool>) {
    if (s == "1") return true;
    if (s == "0") return false;
    throw_wrong_type(what_text(what), s, "bool");
  } else if constexpr (std::is_arithmetic_v<T>) {
    T v{};
    auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size())
      throw_wrong_type(what_text(what), s, std::is_integral_v<T> ? "integer" : "number");
    return v;
  } else if constexpr (std::is_convertible_v<const T&, std::string_view> && std::is_constructible_v<T, std::string_view>) {
    return T(s);
  } else {
    if (s.empty() || s[0] != kBlobTag) throw_wrong_type(what_text(what), s, "cereal blob");
    try {
      return ipc::decode<T>(as_bytes(s.substr(1)));
    } catch (const ProtocolError& e) {
      throw_wrong_type(what_text(what), s, e.what());
    }
  }
}

/// A value from a bulk reply, or empty for nil.
template <class T, class What>
std::optional<T> decode_opt(const Reply& r, const What& what) {
  if (r.type == Reply::Type::nil) return std::nullopt;
  if (r.type != Reply::Type::bulk && r.type != Reply::Type::simple) {
    if (r.type == Reply::Type::integer) return mdecode<T>(std::to_string(r.integer), what);
    throw_wrong_type(what_text(what), "", "bulk reply");
  }
  return mdecode<T>(r.str, what);
}

/// Iterates over a snapshot taken when begin() was called (Python iterates a manager dict's
/// keys the same way: a copy made on the server).
template <class T>
class SnapshotIterator {
 public:
  using value_type = T;
  using difference_type = std::ptrdiff_t;
  using reference = const T&;
  using pointer = const T*;
  using iterator_category = std::forward_iterator_tag;
  SnapshotIterator() = default;
  SnapshotIterator(std::shared_ptr<const std::vector<T>> v, std::size_t i) : m_v(std::move(v)), m_i(i) {}
  reference operator*() const { return (*m_v)[m_i]; }
  pointer operator->() const { return &(*m_v)[m_i]; }
  SnapshotIterator& operator++() {
    ++m_i;
    return *this;
  }
  SnapshotIterator operator++(int) {
    auto t = *this;
    ++m_i;
    return t;
  }
  /// Equal when both are past their snapshot's end (end() has none), or at one position of one snapshot.
  bool operator==(const SnapshotIterator& o) const {
    bool a = !m_v || m_i >= m_v->size(), b = !o.m_v || o.m_i >= o.m_v->size();
    return (a && b) || (!a && !b && m_v == o.m_v && m_i == o.m_i);
  }

 private:
  std::shared_ptr<const std::vector<T>> m_v;
  std::size_t m_i = 0;
};

/// Base of every proxy: the shared link and the object's key. Serialisable with cereal: the
/// server's address (and password) and the key travel; the receiver connects on first use.
class ProxyBase {
 public:
  /// The object's name (its main key on the server).
  const std::string& name() const noexcept { return m_key; }
  /// True when the proxy names an object on a server (false when default-constructed).
  bool bound() const noexcept { return m_link != nullptr; }
  /// The server's address (empty when unbound).
  std::string address() const { return m_link ? m_link->address : std::string(); }

 protected:
  ProxyBase() = default;
  ProxyBase(std::shared_ptr<ManagerLink> link, std::string key) : m_link(std::move(link)), m_key(std::move(key)) {}
  ManagerSession& session() const {
    if (!m_link) throw_unbound("a default-constructed proxy");
    return *m_link->session;
  }
  Timeout timeout() const {
    if (!m_link) throw_unbound("a default-constructed proxy");
    return m_link->options.timeout;
  }
  Reply call(std::initializer_list<std::string_view> args) const { return mcall(session(), m_key, args, timeout()); }
  Reply call(const std::vector<std::string>& args) const { return mcall(session(), m_key, args, timeout()); }
  Reply call(RequestBuilder& request) const { return mcall(session(), m_key, request, timeout()); }
  /// Runs `cmd m_key values...`, each value encoded as mencode encodes it.
  template <class... A>
  Reply command(std::string_view cmd, const A&... values) const {
    RequestBuilder b(cmd, m_key);
    (b.value(values), ...);
    return call(b);
  }
  /// A builder for `cmd m_key` with room for `per_item` arguments per element of `range` (when
  /// it knows its size).
  template <class Range>
  RequestBuilder request(std::string_view cmd, const Range& range, std::size_t per_item) const {
    std::size_t reserve = 0;
    if constexpr (std::ranges::sized_range<const Range>) reserve = static_cast<std::size_t>(std::ranges::size(range)) * per_item * 16;
    return RequestBuilder(cmd, m_key, reserve);
  }
  std::vector<Reply> pipeline(const std::vector<std::vector<std::string>>& cmds) const {
    return mpipeline(session(), m_key, cmds, timeout());
  }
  /// Runs fn(watched_reads) → commands for MULTI until EXEC commits (optimistic locking on
  /// m_key). `reads` are run after WATCH in the same round trip; fn returns the commands of the
  /// transaction, or nothing to give up (UNWATCH). Returns EXEC's replies (empty when fn gave up).
  std::vector<Reply> watch_transaction(
      const std::vector<std::vector<std::string>>& reads,
      const std::function<std::optional<std::vector<std::vector<std::string>>>(const std::vector<Reply>&)>& fn) const;

  std::shared_ptr<ManagerLink> m_link;
  std::string m_key;

 private:
  friend class cereal::access;
  template <class Archive>
  void save(Archive& ar) const {
    ar(link_spec(m_link), m_key);
  }
  template <class Archive>
  void load(Archive& ar) {
    LinkSpec spec;
    ar(spec, m_key);
    m_link = link_for(spec);
  }
};

}  // namespace detail

// ---- proxies ----

/// A shared dict (a Redis hash `name`). Copyable; copies name the same object. Not thread-safe.
template <class K, class V>
class DictProxy : public detail::ProxyBase {
 public:
  /// `d[k]`: reads, assigns and updates one field; `+=`/`-=` on numbers run on the server (HINCRBY).
  class Item {
   public:
    /// The value; throws KeyError when the key is missing.
    operator V() const { return m_d->at(m_k); }
    /// Sets the value.
    Item& operator=(const V& v) {
      m_d->set(m_k, v);
      return *this;
    }
    /// Adds `by` atomically on the server.
    Item& operator+=(const V& by) {
      m_d->incr(m_k, by);
      return *this;
    }
    /// Subtracts `by` atomically on the server.
    Item& operator-=(const V& by) {
      m_d->incr(m_k, static_cast<V>(-by));
      return *this;
    }

   private:
    friend class DictProxy;
    Item(const DictProxy* d, K k) : m_d(d), m_k(std::move(k)) {}
    const DictProxy* m_d;
    K m_k;
  };
  using iterator = detail::SnapshotIterator<std::pair<K, V>>;

  /// An unbound proxy (every call throws ValueError); deserialising fills it in.
  DictProxy() = default;
  /// A proxy for the dict `name` (made by Manager::dict).
  DictProxy(std::shared_ptr<detail::ManagerLink> link, std::string name) : ProxyBase(std::move(link), std::move(name)) {}

  /// d[k] = v (HSET).
  void set(const K& k, const V& v) const { command("HSET", k, v); }
  /// The value of `k`, or empty (HGET).
  std::optional<V> get(const K& k) const {
    return detail::decode_opt<V>(command("HGET", k), [&] { return detail::describe(m_key, detail::mencode(k)); });
  }
  /// The value of `k`, or `def`.
  V get(const K& k, const V& def) const { return get(k).value_or(def); }
  /// The value of `k`; throws KeyError naming it when missing.
  V at(const K& k) const {
    auto v = get(k);
    if (!v) throw KeyError(detail::describe(m_key, detail::mencode(k)) + " does not exist");
    return *v;
  }
  /// A handle on `k`: `d["a"] = 1; d["a"] += 1; int x = d["a"];`.
  Item operator[](const K& k) const { return Item(this, k); }
  /// Removes `k`; true when it was there (HDEL).
  bool erase(const K& k) const { return command("HDEL", k).integer == 1; }
  /// True when `k` is there (HEXISTS).
  bool contains(const K& k) const { return command("HEXISTS", k).integer == 1; }
  /// Number of keys (HLEN).
  std::size_t size() const { return static_cast<std::size_t>(call({"HLEN", m_key}).integer); }
  /// True when the dict is empty or missing.
  bool empty() const { return size() == 0; }
  /// The keys (HKEYS).
  std::vector<K> keys() const {
    std::vector<K> out;
    for (auto& e : call({"HKEYS", m_key}).elements) out.push_back(detail::mdecode<K>(e.str, detail::describe(m_key, e.str)));
    return out;
  }
  /// The values (HVALS).
  std::vector<V> values() const {
    std::vector<V> out;
    for (auto& e : call({"HVALS", m_key}).elements) out.push_back(detail::mdecode<V>(e.str, "a value of key '" + m_key + "'"));
    return out;
  }
  /// The (key, value) pairs (HGETALL).
  std::vector<std::pair<K, V>> items() const {
    auto r = call({"HGETALL", m_key});
    std::vector<std::pair<K, V>> out;
    for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2) {
      auto what = detail::describe(m_key, r.elements[i].str);
      out.emplace_back(detail::mdecode<K>(r.elements[i].str, what), detail::mdecode<V>(r.elements[i + 1].str, what));
    }
    return out;
  }
  /// The items as a std::map (ordered by key).
  std::map<K, V> to_map() const {
    auto it = items();
    return std::map<K, V>(it.begin(), it.end());
  }
  /// Iterates over a snapshot of items().
  iterator begin() const { return iterator(std::make_shared<const std::vector<std::pair<K, V>>>(items()), 0); }
  /// End of the snapshot (compares by position only).
  iterator end() const { return iterator(nullptr, 0); }
  /// Sets every pair of `pairs` in one round trip (one HSET).
  template <class Range>
  void update(const Range& pairs) const {
    auto req = request("HSET", pairs, 2);
    for (const auto& [k, v] : pairs) {
      req.value(k);
      req.value(v);
    }
    if (req.count() > 2) call(req);
  }
  /// The same for a braced list: `d.update({{"a", 1}, {"b", 2}})`.
  void update(std::initializer_list<std::pair<K, V>> pairs) const { update<std::initializer_list<std::pair<K, V>>>(pairs); }
  /// The value of `k`, first setting it to `def` when missing (HSETNX + HGET, one round trip).
  V setdefault(const K& k, const V& def) const {
    auto f = detail::mencode(k);
    auto r = pipeline({{"HSETNX", m_key, f, detail::mencode(def)}, {"HGET", m_key, f}});
    detail::check_reply(r[0], m_key);
    detail::check_reply(r[1], m_key);
    return *detail::decode_opt<V>(r[1], detail::describe(m_key, f));
  }
  /// Removes `k` and returns its value, or empty when missing (atomic: MULTI HGET HDEL EXEC).
  std::optional<V> pop(const K& k) const {
    auto f = detail::mencode(k);
    auto r = pipeline({{"MULTI"}, {"HGET", m_key, f}, {"HDEL", m_key, f}, {"EXEC"}});
    for (auto& x : r) detail::check_reply(x, m_key);
    if (r[3].type != detail::Reply::Type::array || r[3].elements.size() != 2)
      throw ManagerError("key '" + m_key + "': pop's transaction did not run", "EXEC returned nil");
    return detail::decode_opt<V>(r[3].elements[0], detail::describe(m_key, f));
  }
  /// Removes `k` and returns its value, or `def` when missing.
  V pop(const K& k, const V& def) const { return pop(k).value_or(def); }
  /// Removes every key (DEL).
  void clear() const { call({"DEL", m_key}); }
  /// Adds `by` to the number at `k` (missing = 0) on the server and returns the new value
  /// (HINCRBY / HINCRBYFLOAT). Throws ManagerError when the stored value is not a number.
  V incr(const K& k, V by = V(1)) const {
    static_assert(std::is_arithmetic_v<V> && !std::is_same_v<V, bool>, "incr needs a numeric value type");
    auto r = command(std::is_integral_v<V> ? "HINCRBY" : "HINCRBYFLOAT", k, by);
    return *detail::decode_opt<V>(r, [&] { return detail::describe(m_key, detail::mencode(k)); });
  }
  /// Atomically replaces the value of `k` with fn(current) (current empty when missing),
  /// retried under WATCH/MULTI until no other client changed the dict in between. Returns the
  /// value stored.
  V update_with(const K& k, const std::function<V(std::optional<V>)>& fn) const {
    auto f = detail::mencode(k);
    V result{};
    watch_transaction({{"HGET", m_key, f}}, [&](const std::vector<detail::Reply>& r) {
      detail::check_reply(r[0], m_key);
      result = fn(detail::decode_opt<V>(r[0], detail::describe(m_key, f)));
      return std::optional<std::vector<std::vector<std::string>>>(
          std::vector<std::vector<std::string>>{{"HSET", m_key, f, detail::mencode(result)}});
    });
    return result;
  }
};

/// A shared list (a Redis list `name`). Copyable; copies name the same object. Not thread-safe.
template <class T>
class ListProxy : public detail::ProxyBase {
 public:
  /// `l[i]`: reads or assigns one element.
  class Item {
   public:
    /// The element; throws IndexError when out of range.
    operator T() const { return m_l->at(m_i); }
    /// Sets the element (LSET); throws IndexError when out of range.
    Item& operator=(const T& v) {
      m_l->set(m_i, v);
      return *this;
    }

   private:
    friend class ListProxy;
    Item(const ListProxy* l, long long i) : m_l(l), m_i(i) {}
    const ListProxy* m_l;
    long long m_i;
  };
  using iterator = detail::SnapshotIterator<T>;

  /// An unbound proxy (every call throws ValueError); deserialising fills it in.
  ListProxy() = default;
  /// A proxy for the list `name` (made by Manager::list).
  ListProxy(std::shared_ptr<detail::ManagerLink> link, std::string name) : ProxyBase(std::move(link), std::move(name)) {}

  /// Appends `v` (RPUSH).
  void append(const T& v) const { command("RPUSH", v); }
  /// Appends every element of `range` in one round trip (one RPUSH).
  template <class Range>
  void extend(const Range& range) const {
    auto req = request("RPUSH", range, 1);
    for (const auto& v : range) req.value(v);
    if (req.count() > 2) call(req);
  }
  /// The same for a braced list.
  void extend(std::initializer_list<T> values) const { extend<std::initializer_list<T>>(values); }
  /// Inserts `v` before index `i` (Python's list.insert: clamped to the ends; negative from the end).
  void insert(long long i, const T& v) const {
    if (i == 0) {
      call({"LPUSH", m_key, detail::mencode(v)});
      return;
    }
    // LINSERT needs a pivot value, not an index: read the list under WATCH, then cut it at the
    // index and push the new element and the tail back in one MULTI.
    watch_transaction({{"LRANGE", m_key, "0", "-1"}}, [&](const std::vector<detail::Reply>& r) {
      detail::check_reply(r[0], m_key);
      auto& all = r[0].elements;
      long long n = static_cast<long long>(all.size());
      long long at = i < 0 ? std::max(0LL, n + i) : std::min(i, n);
      std::vector<std::string> push{"RPUSH", m_key, detail::mencode(v)};
      for (long long j = at; j < n; ++j) push.push_back(all[static_cast<std::size_t>(j)].str);
      std::vector<std::vector<std::string>> cmds;
      if (at == 0)
        cmds.push_back({"DEL", m_key});
      else if (at < n)
        cmds.push_back({"LTRIM", m_key, "0", std::to_string(at - 1)});
      cmds.push_back(std::move(push));
      return std::optional<std::vector<std::vector<std::string>>>(std::move(cmds));
    });
  }
  /// Removes and returns the last element (RPOP); throws IndexError when empty.
  T pop() const {
    auto v = detail::decode_opt<T>(call({"RPOP", m_key}), "the last element of list '" + m_key + "'");
    if (!v) throw IndexError("pop from empty list '" + m_key + "'");
    return *v;
  }
  /// Removes and returns element `i` (negative from the end); throws IndexError when out of range.
  T pop(long long i) const {
    if (i == -1) return pop();
    if (i == 0) {
      auto v = detail::decode_opt<T>(call({"LPOP", m_key}), "the first element of list '" + m_key + "'");
      if (!v) throw IndexError("pop from empty list '" + m_key + "'");
      return *v;
    }
    std::optional<T> out;
    auto mark = detail::aux_key(m_key, "removed");  // a value no proxy stores: it starts with '{'
    watch_transaction({{"LINDEX", m_key, std::to_string(i)}}, [&](const std::vector<detail::Reply>& r) {
      detail::check_reply(r[0], m_key);
      out = detail::decode_opt<T>(r[0], element(i));
      if (!out) return std::optional<std::vector<std::vector<std::string>>>();
      return std::optional<std::vector<std::vector<std::string>>>(
          std::vector<std::vector<std::string>>{{"LSET", m_key, std::to_string(i), mark}, {"LREM", m_key, "1", mark}});
    });
    if (!out) throw IndexError(element(i) + " is out of range");
    return *out;
  }
  /// Element `i` (negative from the end); throws IndexError when out of range (LINDEX).
  T at(long long i) const {
    auto v = detail::decode_opt<T>(call({"LINDEX", m_key, std::to_string(i)}), element(i));
    if (!v) throw IndexError(element(i) + " is out of range");
    return *v;
  }
  /// A handle on element `i`.
  Item operator[](long long i) const { return Item(this, i); }
  /// Sets element `i` (LSET); throws IndexError when out of range.
  void set(long long i, const T& v) const {
    try {
      call({"LSET", m_key, std::to_string(i), detail::mencode(v)});
    } catch (const ManagerError& e) {
      if (e.reply().find("out of range") != std::string::npos || e.reply().find("no such key") != std::string::npos)
        throw IndexError(element(i) + " is out of range");
      throw;
    }
  }
  /// Number of elements (LLEN).
  std::size_t size() const { return static_cast<std::size_t>(call({"LLEN", m_key}).integer); }
  /// True when the list is empty or missing.
  bool empty() const { return size() == 0; }
  /// All elements (LRANGE 0 -1).
  std::vector<T> to_vector() const {
    std::vector<T> out;
    auto r = call({"LRANGE", m_key, "0", "-1"});
    out.reserve(r.elements.size());
    for (std::size_t i = 0; i < r.elements.size(); ++i)
      out.push_back(detail::mdecode<T>(r.elements[i].str, element(static_cast<long long>(i))));
    return out;
  }
  /// Index of the first element equal to `v`; throws ValueError when there is none.
  std::size_t index(const T& v) const {
    auto want = detail::mencode(v);
    auto r = call({"LRANGE", m_key, "0", "-1"});
    for (std::size_t i = 0; i < r.elements.size(); ++i)
      if (r.elements[i].str == want) return i;
    throw ValueError("value is not in list '" + m_key + "'");
  }
  /// Removes the first element equal to `v` (LREM 1); throws ValueError when there is none.
  void remove(const T& v) const {
    if (call({"LREM", m_key, "1", detail::mencode(v)}).integer == 0)
      throw ValueError("list.remove(x): x not in list '" + m_key + "'");
  }
  /// Removes every element (DEL).
  void clear() const { call({"DEL", m_key}); }
  /// Iterates over a snapshot of to_vector().
  iterator begin() const { return iterator(std::make_shared<const std::vector<T>>(to_vector()), 0); }
  /// End of the snapshot (compares by position only).
  iterator end() const { return iterator(nullptr, 0); }

 private:
  std::string element(long long i) const { return "element " + std::to_string(i) + " of list '" + m_key + "'"; }
};

/// A shared value (a Redis string `name`). Copyable. Not thread-safe.
template <class T>
class ValueProxy : public detail::ProxyBase {
 public:
  /// An unbound proxy (every call throws ValueError); deserialising fills it in.
  ValueProxy() = default;
  /// A proxy for the value `name` (made by Manager::Value).
  ValueProxy(std::shared_ptr<detail::ManagerLink> link, std::string name) : ProxyBase(std::move(link), std::move(name)) {}
  /// The value (GET); throws KeyError when the key was deleted.
  T value() const {
    auto v = detail::decode_opt<T>(call({"GET", m_key}), [&] { return "key '" + m_key + "'"; });
    if (!v) throw KeyError("key '" + m_key + "' does not exist");
    return *v;
  }
  /// Sets the value (SET).
  void value(const T& v) const { command("SET", v); }
  /// Adds `by` on the server and returns the new value (INCRBY / INCRBYFLOAT).
  T incr(T by = T(1)) const {
    static_assert(std::is_arithmetic_v<T> && !std::is_same_v<T, bool>, "incr needs a numeric value type");
    return *detail::decode_opt<T>(command(std::is_integral_v<T> ? "INCRBY" : "INCRBYFLOAT", by),
                                  [&] { return "key '" + m_key + "'"; });
  }
  /// Sets `desired` if the value is `expected` (atomically, under WATCH/MULTI); true when set.
  bool compare_and_set(const T& expected, const T& desired) const {
    bool done = false;
    auto r = watch_transaction({{"GET", m_key}}, [&](const std::vector<detail::Reply>& rs) {
      detail::check_reply(rs[0], m_key);
      auto cur = detail::decode_opt<T>(rs[0], "key '" + m_key + "'");
      if (!cur || !(*cur == expected)) return std::optional<std::vector<std::vector<std::string>>>();
      done = true;
      return std::optional<std::vector<std::vector<std::string>>>(
          std::vector<std::vector<std::string>>{{"SET", m_key, detail::mencode(desired)}});
    });
    return done && !r.empty();
  }
  /// Replaces the value with fn(current) atomically (WATCH/MULTI, retried); returns it.
  T update_with(const std::function<T(std::optional<T>)>& fn) const {
    T result{};
    watch_transaction({{"GET", m_key}}, [&](const std::vector<detail::Reply>& rs) {
      detail::check_reply(rs[0], m_key);
      result = fn(detail::decode_opt<T>(rs[0], "key '" + m_key + "'"));
      return std::optional<std::vector<std::vector<std::string>>>(
          std::vector<std::vector<std::string>>{{"SET", m_key, detail::mencode(result)}});
    });
    return result;
  }
};

/// Named attributes of any serialisable type (a Redis hash `name`; Python's Namespace).
class NamespaceProxy : public detail::ProxyBase {
 public:
  /// An unbound proxy (every call throws ValueError); deserialising fills it in.
  NamespaceProxy() = default;
  /// A proxy for the namespace `name` (made by Manager::Namespace).
  NamespaceProxy(std::shared_ptr<detail::ManagerLink> link, std::string name) : ProxyBase(std::move(link), std::move(name)) {}
  /// Sets attribute `attr`.
  template <class T>
  void set(std::string_view attr, const T& v) const {
    call({"HSET", m_key, attr, detail::mencode(v)});
  }
  /// Attribute `attr`; throws KeyError when missing, WrongTypeError when not a T.
  template <class T>
  T get(std::string_view attr) const {
    auto v = detail::decode_opt<T>(call({"HGET", m_key, attr}), detail::describe(m_key, attr));
    if (!v) throw KeyError("namespace '" + m_key + "' has no attribute '" + std::string(attr) + "'");
    return *v;
  }
  /// Attribute `attr`, or `def` when missing.
  template <class T>
  T get(std::string_view attr, const T& def) const {
    return detail::decode_opt<T>(call({"HGET", m_key, attr}), detail::describe(m_key, attr)).value_or(def);
  }
  /// True when `attr` is set.
  bool contains(std::string_view attr) const { return call({"HEXISTS", m_key, attr}).integer == 1; }
  /// Deletes `attr`; true when it was set.
  bool erase(std::string_view attr) const { return call({"HDEL", m_key, attr}).integer == 1; }
  /// The attribute names.
  std::vector<std::string> attributes() const;
};

/// A FIFO queue over a Redis list (RPUSH, BLPOP). Unbounded. Copyable. Not thread-safe.
template <class T>
class QueueProxy : public detail::ProxyBase {
 public:
  /// An unbound proxy (every call throws ValueError); deserialising fills it in.
  QueueProxy() = default;
  /// A proxy for the queue `name` (made by Manager::Queue).
  QueueProxy(std::shared_ptr<detail::ManagerLink> link, std::string name) : ProxyBase(std::move(link), std::move(name)) {}
  /// Appends `v`.
  void put(const T& v) const { command("RPUSH", v); }
  /// Removes and returns the first item, waiting up to `timeout` (BLPOP); throws QueueEmpty
  /// when none came.
  T get(Timeout timeout = {}) const {
    auto v = try_get(timeout);
    if (!v) throw QueueEmpty("queue '" + m_key + "' is empty");
    return std::move(*v);
  }
  /// The same, empty instead of QueueEmpty.
  std::optional<T> try_get(Timeout timeout = {}) const {
    if (!timeout.infinite() && timeout.value() == std::chrono::nanoseconds::zero())
      return detail::decode_opt<T>(call({"LPOP", m_key}), "an item of queue '" + m_key + "'");
    auto r = detail::mblpop(session(), m_key, timeout);
    if (r.type != detail::Reply::Type::array || r.elements.size() != 2) return std::nullopt;
    return detail::mdecode<T>(r.elements[1].str, "an item of queue '" + m_key + "'");
  }
  /// get() without waiting.
  T get_nowait() const { return get(std::chrono::seconds(0)); }
  /// Number of items (LLEN).
  std::size_t qsize() const { return static_cast<std::size_t>(call({"LLEN", m_key}).integer); }
  /// True when there is no item.
  bool empty() const { return qsize() == 0; }
};

/// A QueueProxy whose consumers call task_done() for each item and join() waits until every
/// item put is done. The count of unfinished items is the key `{name}:unfinished`.
template <class T>
class JoinableQueueProxy : public QueueProxy<T> {
 public:
  /// An unbound proxy (every call throws ValueError); deserialising fills it in.
  JoinableQueueProxy() = default;
  /// A proxy for the joinable queue `name` (made by Manager::JoinableQueue).
  JoinableQueueProxy(std::shared_ptr<detail::ManagerLink> link, std::string name)
      : QueueProxy<T>(std::move(link), std::move(name)) {}
  /// Appends `v` and counts it unfinished (one MULTI).
  void put(const T& v) const {
    auto r = this->pipeline({{"MULTI"}, {"RPUSH", this->m_key, detail::mencode(v)}, {"INCR", unfinished()}, {"EXEC"}});
    detail::check_reply(r[3], this->m_key);
  }
  /// Marks one item got as done; throws ValueError when called more often than items were put.
  void task_done() const { detail::joinable_task_done(this->session(), this->m_key, unfinished(), this->timeout()); }
  /// Waits until every item put is done (polls with back-off); false when `timeout` passed first.
  bool join(Timeout timeout = {}) const {
    auto& s = this->session();
    return detail::joinable_join(s, this->m_key, unfinished(), timeout, this->m_link->options);
  }

 private:
  std::string unfinished() const { return detail::aux_key(this->m_key, "unfinished"); }
};

/// A lock on the server with a lease: the holder's process renews it every lease/3 from a thread
/// of its own; a holder that dies stops renewing and the lock is free within one lease. The
/// next acquirer then sees owner_died() true (the data it guards may be half-updated). Keys
/// `{name}:lock` (the lease) and `{name}:owner` (cleared on release). A holding belongs to one
/// proxy: a copy (or a deserialised proxy, e.g. a Pool task's argument) names the same lock
/// but starts unheld. Serialisable. Not thread-safe.
class LockProxy {
 public:
  /// An unbound proxy (acquire and release throw ValueError); deserialising fills it in.
  LockProxy();
  /// A proxy for the lock `name` (made by Manager::Lock).
  LockProxy(std::shared_ptr<detail::ManagerLink> link, std::string name);
  /// A proxy for the same lock, not holding it.
  LockProxy(const LockProxy& o);
  /// Releases what this proxy holds, then names `o`'s lock (unheld).
  LockProxy& operator=(const LockProxy& o);
  /// Moves the proxy (and a holding with it).
  LockProxy(LockProxy&&) noexcept;
  /// Releases what this proxy holds, then takes `o`'s.
  LockProxy& operator=(LockProxy&&) noexcept;
  /// Releases the lock if this process holds it.
  ~LockProxy();
  /// Takes the lock, waiting up to `timeout`; false when it timed out. Throws ValueError when
  /// this proxy already holds it.
  bool acquire(Timeout timeout = {});
  /// Releases the lock. Throws ValueError when not held, or when the lease was lost (the
  /// process stalled longer than the lease and another process may have taken it).
  void release();
  /// acquire() without a limit (BasicLockable, for std::lock_guard).
  void lock() { acquire(); }
  /// release() (BasicLockable).
  void unlock() { release(); }
  /// True while this proxy holds the lock.
  bool held() const noexcept;
  /// True when the current holding was taken over from a holder that died holding it.
  bool owner_died() const noexcept;
  /// The lock's name.
  const std::string& name() const noexcept;
  /// The server's address (empty when unbound).
  std::string address() const;

 private:
  friend class cereal::access;
  template <class Archive>
  void save(Archive& ar) const {
    ar(detail::link_spec(link()), name());
  }
  template <class Archive>
  void load(Archive& ar) {
    detail::LinkSpec spec;
    std::string n;
    ar(spec, n);
    *this = LockProxy(detail::link_for(spec), std::move(n));
  }
  std::shared_ptr<detail::ManagerLink> link() const noexcept;

  struct State;
  std::unique_ptr<State> m;
};

/// An event flag on the server (the key `{name}:event`); wait() polls with back-off. Copyable,
/// serialisable. Not thread-safe.
class EventProxy : public detail::ProxyBase {
 public:
  /// An unbound proxy (every call throws ValueError); deserialising fills it in.
  EventProxy() = default;
  /// A proxy for the event `name` (made by Manager::Event).
  EventProxy(std::shared_ptr<detail::ManagerLink> link, std::string name);
  /// Sets the flag.
  void set() const;
  /// Clears the flag.
  void clear() const;
  /// True when set.
  bool is_set() const;
  /// Waits until set, up to `timeout`; false when it timed out.
  bool wait(Timeout timeout = {}) const;

 private:
  std::string flag() const { return detail::aux_key(m_key, "event"); }
};

// ---- Manager ----

/// A reference to a manager's server that hands out proxies, without owning a private server:
/// Manager::handle(), or a Manager seen from another process. Copyable and ipc::Serializable
/// (cereal), so it can be a Pool task's argument or result or an ipc::Queue item: the address,
/// the password and the options travel (the password in clear inside the blob, as Python's
/// authkey does); the receiver connects on its first call. A handle of a private server works
/// while that server's Manager lives; afterwards every call throws ConnectionClosed naming the
/// address. Not thread-safe (see the top of this header).
class ManagerHandle {
 public:
  /// An unbound handle: its factories throw ValueError; deserialising fills it in.
  ManagerHandle() = default;

  /// The shared dict `name`. Throws ValueError when unbound.
  template <class K, class V>
  DictProxy<K, V> dict(std::string name) const {
    return DictProxy<K, V>(link(), std::move(name));
  }
  /// The shared list `name`. Throws ValueError when unbound.
  template <class T>
  ListProxy<T> list(std::string name) const {
    return ListProxy<T>(link(), std::move(name));
  }
  /// The shared value `name`, set to `initial` unless it exists already (SET NX). Throws like
  /// any call.
  template <class T>
  ValueProxy<T> Value(std::string name, const T& initial) const {
    ValueProxy<T> v(link(), std::move(name));
    detail::mcall(*m_link->session, v.name(), {"SET", v.name(), detail::mencode(initial), "NX"}, m_link->options.timeout);
    return v;
  }
  /// The namespace `name`. Throws ValueError when unbound.
  NamespaceProxy Namespace(std::string name) const { return NamespaceProxy(link(), std::move(name)); }
  /// The queue `name`. Throws ValueError when unbound.
  template <class T>
  QueueProxy<T> Queue(std::string name) const {
    return QueueProxy<T>(link(), std::move(name));
  }
  /// The joinable queue `name`. Throws ValueError when unbound.
  template <class T>
  JoinableQueueProxy<T> JoinableQueue(std::string name) const {
    return JoinableQueueProxy<T>(link(), std::move(name));
  }
  /// The lock `name` (a new proxy each call; one holder per proxy). Throws ValueError when unbound.
  LockProxy Lock(std::string name) const { return LockProxy(link(), std::move(name)); }
  /// The event `name`. Throws ValueError when unbound.
  EventProxy Event(std::string name) const { return EventProxy(link(), std::move(name)); }

  /// The server's address ("unix:/run/user/1000/ipckit-manager-Ab12Cd/manager.sock", ...), without
  /// the password; empty when unbound.
  const std::string& address() const noexcept;
  /// True when the handle names a server (false when default-constructed).
  bool bound() const noexcept { return m_link != nullptr; }
  /// Sends PING; true when the server answered PONG. Throws like any call.
  bool ping() const;

 protected:
  explicit ManagerHandle(std::shared_ptr<detail::ManagerLink> link) : m_link(std::move(link)) {}
  /// The link; throws ValueError when unbound.
  const std::shared_ptr<detail::ManagerLink>& link() const {
    if (!m_link) detail::throw_unbound("a default-constructed ManagerHandle");
    return m_link;
  }
  std::shared_ptr<detail::ManagerLink> m_link;

 private:
  friend class cereal::access;
  template <class Archive>
  void save(Archive& ar) const {
    ar(detail::link_spec(m_link));
  }
  template <class Archive>
  void load(Archive& ar) {
    detail::LinkSpec spec;
    ar(spec);
    m_link = detail::link_for(spec);
  }
};

/// Python's multiprocessing.Manager(): hands out proxies for named objects on a RESP server.
/// `Manager m;` starts a private server (the ipc-managerd engine, forked) on a socket in a 0700
/// directory; it lives exactly as long as `m` in the process that made it, and dies with that
/// process even on SIGKILL (PR_SET_PDEATHSIG: it then removes its socket and directory).
/// Manager::connect() joins an existing server. Movable, copyable into ipc::Process children (see
/// the top of this header); only the owner's destructor stops a private server. A Manager is
/// not serialisable (making one starts a server): send handle() to Pool tasks instead.
class Manager : private ManagerHandle {
 public:
  /// Starts a private server and connects to it. Throws std::system_error or ipc::Error when
  /// the server cannot start (within options.timeout).
  explicit Manager(ManagerOptions options = {});
  /// Connects to `address`: "unix:/path", "tcp:host:port", "redis://[:password@]host:port[/db]"
  /// or "redis+cluster://[:password@]host:port[,host:port...]". `password` is sent with AUTH
  /// (it overrides one in a redis:// address). Connects at once: throws ConnectionClosed naming
  /// the address when the server cannot be reached, ManagerError when AUTH fails, ValueError
  /// for a bad address.
  static Manager connect(std::string_view address, std::string password = {}, ManagerOptions options = {});
  /// Moves; the private server (if any) goes with it.
  Manager(Manager&&) noexcept;
  /// Moves; the private server (if any) goes with it.
  Manager& operator=(Manager&&) noexcept;
  /// Copies share the connection and the private server, which stops with the last copy.
  Manager(const Manager&) = default;
  /// Copies share the connection and the private server, which stops with the last copy.
  Manager& operator=(const Manager&) = default;
  /// Stops the private server (when this is its owner and the last copy) and waits for it.
  ~Manager();

  using ManagerHandle::address;
  using ManagerHandle::dict;
  using ManagerHandle::Event;
  using ManagerHandle::JoinableQueue;
  using ManagerHandle::list;
  using ManagerHandle::Lock;
  using ManagerHandle::Namespace;
  using ManagerHandle::ping;
  using ManagerHandle::Queue;
  using ManagerHandle::Value;

  /// A serialisable handle on this Manager's server, for Pool tasks and queues. It does not keep
  /// a private server alive: once this Manager (the last copy) is gone, calls through it throw
  /// ConnectionClosed naming the address.
  ManagerHandle handle() const { return *this; }
  /// Pid of the private server, -1 for a connected Manager or once shut down.
  pid_t server_pid() const noexcept;
  /// Stops the private server now (owner only; no-op otherwise). Proxies fail afterwards with
  /// ConnectionClosed naming the address.
  void shutdown();

 private:
  struct Server;
  struct ConnectTag {};
  explicit Manager(ConnectTag) {}
  std::shared_ptr<Server> m_server;
};

}  // namespace ipc
