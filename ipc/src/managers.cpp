// Manager and proxies: addresses, the per-process session (reconnect, back-off, fork check),
// transactions, locks with leases, events.
#include <ipc/managers.hpp>

#include <ipc/detail/fork.hpp>

#include "manager_session.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <system_error>
#include <thread>

namespace ipc::detail {

// ---- addresses ----

namespace {

Endpoint host_port(std::string_view hp, std::string_view whole) {
  auto colon = hp.rfind(':');
  if (colon == std::string_view::npos || colon == 0)
    throw ValueError("manager address '" + std::string(whole) + "': expected host:port");
  Endpoint ep;
  ep.host = std::string(hp.substr(0, colon));
  if (ep.host.size() > 2 && ep.host.front() == '[' && ep.host.back() == ']') ep.host = ep.host.substr(1, ep.host.size() - 2);
  auto port = hp.substr(colon + 1);
  auto r = std::from_chars(port.data(), port.data() + port.size(), ep.port);
  if (port.empty() || r.ec != std::errc() || r.ptr != port.data() + port.size() || ep.port <= 0 || ep.port > 65535)
    throw ValueError("manager address '" + std::string(whole) + "': bad port '" + std::string(port) + "'");
  return ep;
}

}  // namespace

ManagerAddress parse_manager_address(std::string_view a) {
  ManagerAddress out;
  auto starts = [&](std::string_view p) { return a.substr(0, p.size()) == p; };
  if (starts("unix:")) {
    Endpoint ep;
    ep.path = std::string(a.substr(5));
    if (ep.path.empty()) throw ValueError("manager address 'unix:' needs a socket path");
    out.nodes.push_back(ep);
    out.text = std::string(a);
  } else if (starts("tcp:")) {
    out.nodes.push_back(host_port(a.substr(4), a));
    out.text = std::string(a);
  } else if (starts("redis://")) {
    auto rest = a.substr(8);
    std::string shown = "redis://";
    if (auto at = rest.rfind('@'); at != std::string_view::npos) {
      auto cred = rest.substr(0, at);
      if (auto c = cred.find(':'); c != std::string_view::npos) cred = cred.substr(c + 1);  // user names unsupported: ignored
      out.password = std::string(cred);
      rest = rest.substr(at + 1);
    }
    if (auto slash = rest.find('/'); slash != std::string_view::npos) {
      auto db = rest.substr(slash + 1);
      if (!db.empty()) {
        auto r = std::from_chars(db.data(), db.data() + db.size(), out.db);
        if (r.ec != std::errc() || r.ptr != db.data() + db.size() || out.db < 0)
          throw ValueError("manager address '" + std::string(a) + "': bad database number");
      }
      rest = rest.substr(0, slash);
    }
    out.nodes.push_back(host_port(rest, a));
    out.text = shown + std::string(rest) + (out.db ? "/" + std::to_string(out.db) : "");
  } else if (starts("redis+cluster://")) {
    auto rest = a.substr(16);
    if (auto at = rest.rfind('@'); at != std::string_view::npos) {
      auto cred = rest.substr(0, at);
      if (auto c = cred.find(':'); c != std::string_view::npos) cred = cred.substr(c + 1);
      out.password = std::string(cred);
      rest = rest.substr(at + 1);
    }
    out.text = "redis+cluster://" + std::string(rest);
    while (!rest.empty()) {
      auto comma = rest.find(',');
      out.nodes.push_back(host_port(rest.substr(0, comma), a));
      if (comma == std::string_view::npos) break;
      rest = rest.substr(comma + 1);
    }
    if (out.nodes.empty()) throw ValueError("manager address '" + std::string(a) + "' names no node");
    out.cluster = true;
  } else {
    throw ValueError("manager address '" + std::string(a) +
                     "': expected unix:/path, tcp:host:port, redis://host:port or redis+cluster://host:port,...");
  }
  return out;
}

// ---- session ----


ManagerSession::ManagerSession(ManagerAddress addr, ManagerOptions opts)
    : m_addr(std::move(addr)), m_opts(opts), m_fork_generation(detail::fork_generation()) {
  for (auto& ep : m_addr.nodes) m_nodes.push_back(Node{ep, std::nullopt});
}

void ManagerSession::drop(std::size_t node) noexcept {
  if (node < m_nodes.size()) m_nodes[node].conn.reset();
  ++m_generation;
}

namespace {

Timeout left(const Deadline& dl) { return dl.infinite() ? Timeout{} : Timeout{dl.remaining()}; }

bool is_error(const Reply& r, std::string_view prefix) {
  return r.type == Reply::Type::error && r.str.compare(0, prefix.size(), prefix) == 0;
}

// errno values that mean "the server is not there (yet)": retried with back-off.
bool transient(int e) {
  return e == ECONNREFUSED || e == ENOENT || e == ECONNRESET || e == EPIPE || e == ECONNABORTED ||
         e == EAGAIN || e == ENOTCONN || e == ETIMEDOUT;
}

}  // namespace

RespConnection& ManagerSession::connection(std::size_t node, const Deadline& dl) {
  auto& n = m_nodes[node];
  if (n.conn) return *n.conn;
  RespConnection c = n.ep.path.empty() ? RespConnection::tcp(n.ep.host, n.ep.port, left(dl))
                                       : RespConnection::unix_socket(n.ep.path, left(dl));
  if (!m_addr.password.empty()) {
    auto r = c.call({"AUTH", m_addr.password}, left(dl));
    if (r.type == Reply::Type::error)
      throw ManagerError("AUTH at " + n.ep.text() + " failed: " + r.str, r.str);
  }
  if (m_addr.db != 0) {
    auto r = c.call({"SELECT", std::to_string(m_addr.db)}, left(dl));
    if (r.type == Reply::Type::error) throw ManagerError("SELECT at " + n.ep.text() + " failed: " + r.str, r.str);
  }
  n.conn.emplace(std::move(c));
  return *n.conn;
}

std::vector<Reply> ManagerSession::exchange(std::string_view key, std::string_view request, std::size_t n,
                                            Timeout timeout, int retries, bool resend,
                                            const std::function<std::string_view()>* rebuild) {
  std::vector<Reply> replies;
  exchange_into(replies, key, request, n, timeout, retries, resend, rebuild);
  return replies;
}

Reply ManagerSession::exchange1(std::string_view key, std::string_view request, Timeout timeout) {
  exchange_into(m_replies, key, request, 1, timeout, -1, true);
  return std::move(m_replies[0]);
}

void ManagerSession::exchange_into(std::vector<Reply>& replies, std::string_view key, std::string_view request,
                                   std::size_t n, Timeout timeout, int retries, bool resend,
                                   const std::function<std::string_view()>* rebuild) {
  if (retries < 0) retries = m_opts.retries;
  Deadline dl(timeout);
  if (auto gen = detail::fork_generation(); gen != m_fork_generation) {
    // A forked child: the parent's sockets must not be used (replies would go to either).
    // Closing our copies does not disturb the parent's.
    for (auto& node : m_nodes) node.conn.reset();
    m_fork_generation = gen;
  }
  int attempt = 0, redirects = 0;
  std::optional<std::size_t> ask;
  // The connection a transaction's WATCH lives on is gone: its EXEC must not go on another.
  auto watch_lost = [&] {
    return WatchLost("the connection to the manager at " + m_addr.text + " was lost during a transaction");
  };
  for (;;) {
    std::size_t ni = 0;
    try {
      ni = ask ? *ask : node_for(key, dl);
      if (!resend && !m_nodes[ni].conn)
        throw watch_lost();
      auto& c = connection(ni, dl);
      replies.clear();
      if (ask) {
        c.send("*1\r\n$6\r\nASKING\r\n", left(dl));
        c.send(request, left(dl));
        c.read(left(dl));
      } else {
        c.send(request, left(dl));
      }
      for (std::size_t i = 0; i < n; ++i) replies.push_back(c.read(left(dl)));
    } catch (const WatchLost&) {
      throw;
    } catch (const ConnectionClosed& e) {
      drop(ni);
      m_slots_stale = m_addr.cluster;
      if (!resend) throw watch_lost();
      if (attempt >= retries) throw ConnectionClosed("cannot reach the manager at " + m_addr.text + ": " + e.what());
      backoff_sleep(attempt++, m_opts.backoff, m_opts.max_backoff, dl);
      if (rebuild) request = (*rebuild)();
      continue;
    } catch (const std::system_error& e) {
      drop(ni);
      m_slots_stale = m_addr.cluster;
      if (!resend) throw watch_lost();
      int code = e.code().value();
      // A private server never comes back: no socket (or no listener) means its Manager is gone.
      if (m_addr.private_server && (code == ENOENT || code == ECONNREFUSED))
        throw ConnectionClosed("the private manager server at " + m_addr.text +
                               " is gone (its Manager was destroyed or shut down): " + e.what());
      if (!transient(code) || attempt >= retries)
        throw ConnectionClosed("cannot reach the manager at " + m_addr.text + ": " + e.what());
      backoff_sleep(attempt++, m_opts.backoff, m_opts.max_backoff, dl);
      if (rebuild) request = (*rebuild)();
      continue;
    } catch (const TimeoutError& e) {
      drop(ni);  // the reply may still come: this connection is out of step
      throw TimeoutError("the manager at " + m_addr.text + " did not answer in time: " + e.what());
    }
    ask.reset();
    if (m_addr.cluster) {
      const Reply* redirect = nullptr;
      for (auto& r : replies)
        if (is_error(r, "MOVED ") || is_error(r, "ASK ") || is_error(r, "TRYAGAIN") || is_error(r, "CLUSTERDOWN")) {
          redirect = &r;
          break;
        }
      if (redirect) {
        if (++redirects > 16) throw ManagerError("too many cluster redirections for key '" + std::string(key) + "'", redirect->str);
        ++m_generation;
        if (is_error(*redirect, "TRYAGAIN") || is_error(*redirect, "CLUSTERDOWN")) {
          m_slots_stale = true;
          backoff_sleep(redirects, m_opts.backoff, m_opts.max_backoff, dl);
          continue;
        }
        // "MOVED 3999 127.0.0.1:6381" / "ASK 3999 127.0.0.1:6381"
        auto sp1 = redirect->str.find(' '), sp2 = redirect->str.find(' ', sp1 + 1);
        std::string hp = redirect->str.substr(sp2 + 1);
        auto colon = hp.rfind(':');
        std::size_t target = node_index(hp.substr(0, colon), std::atoi(hp.c_str() + colon + 1));
        if (is_error(*redirect, "ASK ")) {
          ask = target;
        } else {
          int slot = std::atoi(redirect->str.c_str() + sp1 + 1);
          if (!m_slots.empty() && slot >= 0 && slot < 16384) m_slots[static_cast<std::size_t>(slot)] = static_cast<std::uint16_t>(target);
          m_slots_stale = true;
        }
        continue;
      }
    }
    return;
  }
}

void backoff_sleep(int attempt, std::chrono::milliseconds backoff, std::chrono::milliseconds max, const Deadline& dl) {
  std::chrono::milliseconds d = backoff * (1LL << std::min(attempt, 20));
  if (d > max) d = max;
  if (!dl.infinite()) {
    auto rem = std::chrono::duration_cast<std::chrono::milliseconds>(dl.remaining());
    if (rem <= std::chrono::milliseconds(0)) throw TimeoutError("timed out waiting for the manager");
    d = std::min(d, rem);
  }
  std::this_thread::sleep_for(d);
}

// ---- calls ----

std::string describe(std::string_view key, std::string_view field) {
  std::string f(field);
  if (!f.empty() && f[0] == kBlobTag) f = "<blob>";
  return "key '" + std::string(key) + "' field '" + f + "'";
}

void throw_wrong_type(const std::string& what, std::string_view bytes, const char* type) {
  std::string shown;
  for (char ch : bytes.substr(0, 32)) shown += (ch >= 32 && ch < 127) ? ch : '.';
  throw WrongTypeError(what + " holds \"" + shown + (bytes.size() > 32 ? "...\"" : "\"") + ", which is not a " + type);
}

void check_reply(const Reply& r, std::string_view key) {
  if (r.type != Reply::Type::error) return;
  if (r.str.compare(0, 9, "WRONGTYPE") == 0)
    throw WrongTypeError("key '" + std::string(key) + "': " + r.str);
  throw ManagerError("key '" + std::string(key) + "': " + r.str, r.str);
}

Reply mcall(ManagerSession& s, std::string_view key, std::initializer_list<std::string_view> args, Timeout timeout) {
  RequestBuilder req;
  for (auto a : args) req.arg(a);
  return mcall(s, key, req, timeout);
}

Reply mcall(ManagerSession& s, std::string_view key, const std::vector<std::string>& args, Timeout timeout) {
  RequestBuilder req;
  for (auto& a : args) req.arg(a);
  return mcall(s, key, req, timeout);
}

Reply mcall(ManagerSession& s, std::string_view key, RequestBuilder& request, Timeout timeout) {
  auto r = s.exchange1(key, request.view(), timeout);
  check_reply(r, key);
  return r;
}

Reply mblpop(ManagerSession& s, std::string_view key, Timeout timeout) {
  Deadline dl(timeout);
  std::string req;
  // Rebuilt for a resend after a reconnection: the BLPOP then waits only the time left.
  std::function<std::string_view()> build = [&]() -> std::string_view {
    req.clear();
    resp::add_command(req, {"BLPOP", key, redis_seconds(dl.infinite() ? Timeout{} : Timeout{dl.remaining()})});
    return req;
  };
  // The server times the wait; the socket gets a margin on top for the reply.
  auto r = s.exchange(key, build(), 1, round_trip_limit(dl, Timeout{}), -1, true, &build);
  check_reply(r[0], key);
  return std::move(r[0]);
}

std::vector<Reply> mpipeline(ManagerSession& s, std::string_view key, const std::vector<std::vector<std::string>>& cmds,
                             Timeout timeout, bool resend) {
  std::string req;
  std::vector<std::string_view> v;
  for (auto& c : cmds) {
    v.assign(c.begin(), c.end());
    resp::add_command(req, v);
  }
  return s.exchange(key, req, cmds.size(), timeout, -1, resend);
}

std::uint64_t mgeneration(const ManagerSession& s) noexcept { return s.generation(); }

namespace {

// A short tag (no '{' or '}') for every cluster slot: "{tag}" puts a key in that slot. Built
// once on first use by trying "0", "1", ... in base 36 (about 170,000 CRC16s, a few ms).
const std::vector<std::string>& slot_tags() {
  static const std::vector<std::string> tags = [] {  // immutable once built (thread-safe static)
    std::vector<std::string> t(16384);
    std::size_t left = t.size();
    for (unsigned long long i = 0; left > 0; ++i) {
      char buf[16];
      auto r = std::to_chars(buf, buf + sizeof buf, i, 36);
      std::string cand(buf, r.ptr);
      auto& slot = t[key_slot(cand)];
      if (slot.empty()) {
        slot = std::move(cand);
        --left;
      }
    }
    return t;
  }();
  return tags;
}

}  // namespace

std::string aux_key(std::string_view name, std::string_view what) {
  // Redis Cluster hashes the text between the first '{' and the first '}' after it, when that
  // is not empty; otherwise the whole key.
  auto open = name.find('{');
  auto close = open == std::string_view::npos ? open : name.find('}', open + 1);
  bool tagged = close != std::string_view::npos && close > open + 1;
  if (tagged) return std::string(name) + ":" + std::string(what);
  // "{name}:what" hashes `name` unless name holds a '}' (the tag would end there): then a tag
  // of the name's slot is put in front instead.
  if (name.find('}') == std::string_view::npos) return "{" + std::string(name) + "}:" + std::string(what);
  return "{" + slot_tags()[key_slot(name)] + "}" + std::string(name) + ":" + std::string(what);
}

Timeout round_trip_limit(const Deadline& wait, Timeout call) {
  if (wait.infinite()) return call;
  auto limit = wait.remaining() + std::chrono::seconds(1);
  return call.infinite() || limit < call.value() ? Timeout{limit} : call;
}

std::string redis_seconds(Timeout t) {
  if (t.infinite()) return "0";
  double s = std::chrono::duration<double>(t.value()).count();
  if (s < 0.001) s = 0.001;  // 0 would mean "forever"
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", s);
  return buf;
}

// ---- links: what proxies carry between processes ----

std::shared_ptr<ManagerLink> make_link(ManagerAddress addr, const ManagerOptions& options) {
  auto link = std::make_shared<ManagerLink>();
  link->options = options;
  link->address = addr.text;
  link->password = addr.password;
  link->private_server = addr.private_server;
  link->session = std::make_shared<ManagerSession>(std::move(addr), options);
  register_link(link);
  return link;
}

LinkSpec link_spec(const std::shared_ptr<ManagerLink>& link) {
  LinkSpec s;
  if (!link) return s;
  s.address = link->address;
  s.password = link->password;
  s.private_server = link->private_server;
  s.options = link->options;
  return s;
}

namespace {

// The links of the calling thread, by their encoded spec. Thread-local by design: a link's
// connection is not thread-safe, so proxies deserialised in two threads must not share one.
// Links made by a Manager are held weakly (they close with their Manager); links made by
// deserialising are also held strongly for the thread's life, as Python keeps a process's
// connection per server, so a pool worker does not reconnect for every task.
struct LinkRegistry {
  std::map<std::string, std::weak_ptr<ManagerLink>> live;
  std::map<std::string, std::shared_ptr<ManagerLink>> kept;
};
thread_local LinkRegistry t_links;

std::string spec_key(const LinkSpec& s) {
  Bytes b = ipc::encode(s);
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

}  // namespace

void register_link(const std::shared_ptr<ManagerLink>& link) {
  auto key = spec_key(link_spec(link));
  // Forget entries of links that are gone, so the map does not grow with every Manager made.
  std::erase_if(t_links.live, [](const auto& e) { return e.second.expired(); });
  t_links.live[key] = link;
}

std::shared_ptr<ManagerLink> link_for(const LinkSpec& spec) {
  if (spec.address.empty()) return nullptr;
  auto key = spec_key(spec);
  if (auto it = t_links.live.find(key); it != t_links.live.end())
    if (auto l = it->second.lock()) return l;
  auto addr = parse_manager_address(spec.address);
  addr.password = spec.password;
  addr.private_server = spec.private_server;
  auto link = make_link(std::move(addr), spec.options);
  t_links.kept[key] = link;
  return link;
}

void throw_unbound(const char* what) {
  throw ValueError(std::string(what) + " names no manager object: get proxies from a Manager or ManagerHandle");
}

std::vector<Reply> ProxyBase::watch_transaction(
    const std::vector<std::vector<std::string>>& reads,
    const std::function<std::optional<std::vector<std::vector<std::string>>>(const std::vector<Reply>&)>& fn) const {
  Deadline dl(timeout());
  for (int attempt = 0;; ++attempt) {
    std::vector<std::vector<std::string>> first{{"WATCH", m_key}};
    first.insert(first.end(), reads.begin(), reads.end());
    auto r = mpipeline(session(), m_key, first, left(dl));
    check_reply(r[0], m_key);
    auto gen = mgeneration(session());
    std::vector<Reply> got(r.begin() + 1, r.end());
    std::optional<std::vector<std::vector<std::string>>> cmds;
    try {
      cmds = fn(got);
    } catch (...) {
      // Leave no WATCH behind on the connection: it would make a later MULTI/EXEC fail.
      try {
        mpipeline(session(), m_key, {{"UNWATCH"}}, left(dl));
      } catch (...) {
      }
      throw;
    }
    if (!cmds) {
      mpipeline(session(), m_key, {{"UNWATCH"}}, left(dl));
      return {};
    }
    std::vector<std::vector<std::string>> tx{{"MULTI"}};
    tx.insert(tx.end(), cmds->begin(), cmds->end());
    tx.push_back({"EXEC"});
    if (mgeneration(session()) != gen) continue;
    std::vector<Reply> res;
    try {
      res = mpipeline(session(), m_key, tx, left(dl), false);
    } catch (const WatchLost&) {
      // The EXEC may or may not have run before the server went away; like any call in flight
      // across a crash it may then apply twice (README), but never unwatched on stale data.
      if (dl.expired()) throw;
      continue;
    }
    if (mgeneration(session()) != gen) continue;  // redirected: the WATCH was lost, run again
    auto& exec = res.back();
    for (auto& q : res) check_reply(q, m_key);
    if (exec.type == Reply::Type::array) {
      for (auto& e : exec.elements) check_reply(e, m_key);
      return exec.elements;
    }
    // EXEC returned nil: another client changed the key after WATCH. Back off a little (with
    // jitter) so that many contending processes do not retry in lock step.
    if (attempt > 2) {
      static thread_local std::minstd_rand rng(static_cast<unsigned>(::getpid()));  // per-thread jitter source
      auto us = std::chrono::microseconds(rng() % (100u * static_cast<unsigned>(std::min(attempt, 20))));
      if (dl.infinite() || dl.remaining() > us) std::this_thread::sleep_for(us);
    }
    if (dl.expired()) throw TimeoutError("update of key '" + m_key + "' kept conflicting until the timeout");
  }
}

void joinable_task_done(ManagerSession& s, const std::string& key, const std::string& unfinished, Timeout timeout) {
  auto r = mcall(s, key, {"DECR", unfinished}, timeout);
  if (r.integer < 0) {
    mcall(s, key, {"INCR", unfinished}, timeout);
    throw ValueError("task_done() called too many times on queue '" + key + "'");
  }
}

bool joinable_join(ManagerSession& s, const std::string& key, const std::string& unfinished, Timeout timeout,
                   const ManagerOptions& opts) {
  Deadline dl(timeout);
  for (int i = 0;; ++i) {
    auto r = mcall(s, key, {"GET", unfinished}, round_trip_limit(dl, opts.timeout));
    long long n = 0;
    if (r.type == Reply::Type::bulk && !resp::parse_ll(r.str, n))
      throw_wrong_type("the unfinished count '" + unfinished + "' of queue '" + key + "'", r.str, "integer");
    if (n <= 0) return true;
    if (dl.expired()) return false;
    auto pause = std::chrono::milliseconds(std::min(1 << std::min(i, 5), 20));
    if (!dl.infinite() && dl.remaining() < pause) pause = std::chrono::ceil<std::chrono::milliseconds>(dl.remaining());
    std::this_thread::sleep_for(pause);
  }
}

}  // namespace ipc::detail

namespace ipc {

using detail::Reply;

std::vector<std::string> NamespaceProxy::attributes() const {
  std::vector<std::string> out;
  for (auto& e : call({"HKEYS", m_key}).elements) out.push_back(e.str);
  return out;
}

// ---- EventProxy ----

EventProxy::EventProxy(std::shared_ptr<detail::ManagerLink> link, std::string name)
    : ProxyBase(std::move(link), std::move(name)) {}

void EventProxy::set() const { detail::mcall(session(), m_key, {"SET", flag(), "1"}, timeout()); }
void EventProxy::clear() const { detail::mcall(session(), m_key, {"DEL", flag()}, timeout()); }
bool EventProxy::is_set() const { return detail::mcall(session(), m_key, {"EXISTS", flag()}, timeout()).integer == 1; }

bool EventProxy::wait(Timeout t) const {
  Deadline dl(t);
  for (int i = 0;; ++i) {
    auto limit = detail::round_trip_limit(dl, timeout());
    if (detail::mcall(session(), m_key, {"EXISTS", flag()}, limit).integer == 1) return true;
    if (dl.expired()) return false;
    auto pause = std::chrono::milliseconds(std::min(1 << std::min(i, 5), 20));
    if (!dl.infinite() && dl.remaining() < pause) pause = std::chrono::ceil<std::chrono::milliseconds>(dl.remaining());
    std::this_thread::sleep_for(pause);
  }
}

// ---- LockProxy ----

// The lease is the key {name}:lock = token with a PX expiry; {name}:owner = token has no expiry
// and is deleted only by a clean release. Acquiring sets both in one MULTI after WATCH saw the
// lease free, and reads the old owner with GETSET: if there was one, its holder died.
struct LockProxy::State {
  std::shared_ptr<detail::ManagerLink> link;
  std::string name, lease_key, owner_key, token;
  bool held = false;
  bool owner_died = false;
  pid_t holder_pid = 0;
  // Renewal thread: its own session (a connection is not shared between threads).
  std::thread renewer;
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;

  enum class Drop { not_ours, dropped, raced };
  /// Deletes `keys` while the lease still holds this proxy's token (WATCH, GET, then MULTI DEL
  /// EXEC): not_ours when it does not, raced when the lease changed before the EXEC. Throws
  /// WatchLost when the EXEC's connection was lost (it may have run), and like exchange().
  Drop drop_if_ours(detail::ManagerSession& s, std::initializer_list<std::string_view> keys, Timeout limit) {
    std::string req;
    detail::resp::add_command(req, {"WATCH", lease_key});
    detail::resp::add_command(req, {"GET", lease_key});
    auto r = s.exchange(lease_key, req, 2, limit);
    auto gen = s.generation();
    req.clear();
    if (r[1].type != Reply::Type::bulk || r[1].str != token) {
      detail::resp::add_command(req, {"UNWATCH"});
      s.exchange(lease_key, req, 1, limit);
      return Drop::not_ours;
    }
    std::vector<std::string_view> del{"DEL"};
    del.insert(del.end(), keys);
    detail::resp::add_command(req, {"MULTI"});
    detail::resp::add_command(req, del);
    detail::resp::add_command(req, {"EXEC"});
    auto t = s.exchange(lease_key, req, 3, limit, -1, false);
    return s.generation() == gen && t[2].type == Reply::Type::array ? Drop::dropped : Drop::raced;
  }

  void start_renewer() {
    stop = false;
    // Counted as ipckit's own before it exists: a fork right after acquire() must not warn.
    renewer = std::thread([this, addr = link->session->address(), opts = link->options,
                           internal = detail::InternalThread()] {
      detail::ManagerSession s(addr, opts);
      auto period = opts.lease / 3;
      std::unique_lock lk(mu);
      while (!cv.wait_for(lk, period, [&] { return stop; })) {
        lk.unlock();
        try {
          // Extend only while the lease is still ours (compare, then PEXPIRE under WATCH).
          std::string req;
          detail::resp::add_command(req, {"WATCH", lease_key});
          detail::resp::add_command(req, {"GET", lease_key});
          auto r = s.exchange(lease_key, req, 2, opts.timeout);
          if (r[1].type == Reply::Type::bulk && r[1].str == token) {
            req.clear();
            auto ms = std::to_string(opts.lease.count());
            detail::resp::add_command(req, {"MULTI"});
            detail::resp::add_command(req, {"PEXPIRE", lease_key, ms});
            detail::resp::add_command(req, {"EXEC"});
            s.exchange(lease_key, req, 3, opts.timeout, -1, false);
          } else {
            req.clear();
            detail::resp::add_command(req, {"UNWATCH"});
            s.exchange(lease_key, req, 1, opts.timeout);
          }
        } catch (const std::exception&) {
          // The server is away: keep trying each period; release() reports a lost lease.
        }
        lk.lock();
      }
    });
  }
  void stop_renewer() noexcept {
    if (!renewer.joinable()) return;
    {
      std::lock_guard lk(mu);
      stop = true;
    }
    cv.notify_all();
    renewer.join();
  }
};

LockProxy::LockProxy() : m(std::make_unique<State>()) {}

LockProxy::LockProxy(std::shared_ptr<detail::ManagerLink> link, std::string name) : m(std::make_unique<State>()) {
  m->link = std::move(link);
  m->lease_key = detail::aux_key(name, "lock");
  m->owner_key = detail::aux_key(name, "owner");
  m->name = std::move(name);
}

LockProxy::LockProxy(const LockProxy& o) : LockProxy() {
  if (o.m && o.m->link) *this = LockProxy(o.m->link, o.m->name);
}

LockProxy& LockProxy::operator=(const LockProxy& o) {
  if (this != &o) *this = LockProxy(o);
  return *this;
}

LockProxy::LockProxy(LockProxy&&) noexcept = default;
LockProxy& LockProxy::operator=(LockProxy&& o) noexcept {
  if (this != &o) {
    if (m && m->held && m->holder_pid == ::getpid()) {
      try {
        release();
      } catch (...) {
      }
    }
    m = std::move(o.m);
  }
  return *this;
}

LockProxy::~LockProxy() {
  if (!m) return;
  if (m->held && m->holder_pid == ::getpid()) {
    try {
      release();
    } catch (...) {  // a destructor never throws: the lease runs out on the server anyway
    }
  }
  if (m->renewer.joinable() && m->holder_pid == ::getpid()) m->stop_renewer();
  if (m->renewer.joinable()) m->renewer.detach();  // copied by fork: no thread behind it here
}

bool LockProxy::acquire(Timeout timeout) {
  if (!m || !m->link) detail::throw_unbound("a default-constructed or moved-from LockProxy");
  if (m->held && m->holder_pid == ::getpid()) throw ValueError("lock '" + m->name + "' is already held by this proxy");
  auto& s = *m->link->session;
  static thread_local std::mt19937_64 rng(std::random_device{}());  // per-thread token source
  char tok[64];
  std::snprintf(tok, sizeof tok, "%d:%016llx", static_cast<int>(::getpid()), static_cast<unsigned long long>(rng()));
  m->token = tok;
  auto lease_ms = std::to_string(m->link->options.lease.count());
  Deadline dl(timeout);
  for (int i = 0;; ++i) {
    auto limit = detail::round_trip_limit(dl, m->link->options.timeout);
    std::string req;
    detail::resp::add_command(req, {"WATCH", m->lease_key});
    detail::resp::add_command(req, {"GET", m->lease_key});
    auto r = s.exchange(m->lease_key, req, 2, limit);
    detail::check_reply(r[1], m->name);
    auto gen = s.generation();
    if (r[1].type == Reply::Type::bulk && r[1].str == m->token) {
      // Our EXEC ran before its connection was lost (WatchLost below): the lease is ours.
      req.clear();
      detail::resp::add_command(req, {"UNWATCH"});
      s.exchange(m->lease_key, req, 1, limit);
      m->held = true;
      m->holder_pid = ::getpid();
      m->owner_died = false;  // unknown: the reply that said so was lost
      m->start_renewer();
      return true;
    }
    if (r[1].type == Reply::Type::nil) {
      req.clear();
      detail::resp::add_command(req, {"MULTI"});
      detail::resp::add_command(req, {"SET", m->lease_key, m->token, "PX", lease_ms});
      detail::resp::add_command(req, {"GETSET", m->owner_key, m->token});
      detail::resp::add_command(req, {"EXEC"});
      std::vector<Reply> t;
      try {
        t = s.exchange(m->lease_key, req, 4, limit, -1, false);
      } catch (const detail::WatchLost&) {
        if (dl.expired()) throw;
        continue;  // the next GET tells whether it ran
      }
      detail::check_reply(t[3], m->name);
      if (t[3].type == Reply::Type::array && t[3].elements.size() == 2 && t[3].elements[1].type == Reply::Type::error) {
        // The owner key holds another type: take back the lease just set, then name the lock.
        try {
          m->drop_if_ours(s, {m->lease_key}, limit);
        } catch (const std::exception&) {  // the lease runs out by itself
        }
        detail::check_reply(t[3].elements[1], m->name);
      }
      if (s.generation() == gen && t[3].type == Reply::Type::array && t[3].elements.size() == 2) {
        m->held = true;
        m->holder_pid = ::getpid();
        m->owner_died = t[3].elements[1].type == Reply::Type::bulk;
        m->start_renewer();
        return true;
      }
    } else {
      req.clear();
      detail::resp::add_command(req, {"UNWATCH"});
      s.exchange(m->lease_key, req, 1, limit);
    }
    if (dl.expired()) return false;
    auto pause = std::chrono::milliseconds(std::min(1 << std::min(i, 5), 20));
    if (!dl.infinite() && dl.remaining() < pause) pause = std::chrono::ceil<std::chrono::milliseconds>(dl.remaining());
    std::this_thread::sleep_for(pause);
  }
}

void LockProxy::release() {
  if (!m || !m->link) detail::throw_unbound("a default-constructed or moved-from LockProxy");
  if (!m->held || m->holder_pid != ::getpid()) throw ValueError("release of lock '" + m->name + "', which is not held");
  m->stop_renewer();
  m->held = false;
  m->owner_died = false;
  auto& s = *m->link->session;
  bool maybe_released = false;  // a DEL was sent and its connection lost before the answer
  for (;;) {
    State::Drop d;
    try {
      d = m->drop_if_ours(s, {m->lease_key, m->owner_key}, m->link->options.timeout);
    } catch (const detail::WatchLost&) {
      maybe_released = true;
      continue;
    }
    if (d == State::Drop::dropped || (d == State::Drop::not_ours && maybe_released)) return;
    if (d == State::Drop::not_ours) throw ValueError("lock '" + m->name + "' was lost: its lease expired before release");
  }
}

bool LockProxy::held() const noexcept { return m && m->held && m->holder_pid == ::getpid(); }
bool LockProxy::owner_died() const noexcept { return held() && m->owner_died; }
const std::string& LockProxy::name() const noexcept {
  static const std::string none;  // the name of a moved-from proxy
  return m ? m->name : none;
}
std::string LockProxy::address() const { return m && m->link ? m->link->address : std::string(); }
std::shared_ptr<detail::ManagerLink> LockProxy::link() const noexcept { return m ? m->link : nullptr; }

// ---- Manager ----

Manager Manager::connect(std::string_view address, std::string password, ManagerOptions options) {
  auto addr = detail::parse_manager_address(address);
  if (!password.empty()) addr.password = std::move(password);
  Manager m{ConnectTag{}};
  m.m_link = detail::make_link(std::move(addr), options);
  // Connect now so that a wrong address fails here, naming it (one attempt, no back-off).
  std::string req;
  detail::resp::add_command(req, {"PING"});
  auto r = m.m_link->session->exchange("", req, 1, options.timeout, 0);
  detail::check_reply(r[0], "");
  return m;
}

Manager::Manager(Manager&&) noexcept = default;
Manager& Manager::operator=(Manager&&) noexcept = default;

bool ManagerHandle::ping() const {
  auto r = detail::mcall(*link()->session, "", {"PING"}, m_link->options.timeout);
  return r.str == "PONG";
}

const std::string& ManagerHandle::address() const noexcept {
  static const std::string none;  // the address of an unbound handle
  return m_link ? m_link->address : none;
}

}  // namespace ipc
