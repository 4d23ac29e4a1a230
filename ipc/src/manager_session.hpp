// ManagerSession: the connection(s) of one process to a manager's server — one node, or a Redis
// Cluster with a slot map — with reconnection, back-off and the fork check. Internal to ipckit::manager.
#pragma once

#include <functional>

#include <ipc/detail/resp_client.hpp>
#include <ipc/managers.hpp>

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ipc::detail {

/// One server: a Unix socket path, or a TCP host and port.
struct Endpoint {
  std::string path;  ///< non-empty: a Unix socket
  std::string host;
  int port = 0;
  /// "unix:/path" or "host:port".
  std::string text() const { return path.empty() ? host + ":" + std::to_string(port) : "unix:" + path; }
};

/// A parsed manager address.
struct ManagerAddress {
  std::vector<Endpoint> nodes;  ///< one, or the cluster's seed nodes
  bool cluster = false;
  std::string password;
  int db = 0;
  std::string text;             ///< as given, without the password
  bool private_server = false;  ///< a private server: once it is gone it never comes back
};

/// Parses "unix:/path", "tcp:host:port", "redis://[:password@]host:port[/db]" or
/// "redis+cluster://host:port[,host:port...]". Throws ValueError naming what is wrong.
ManagerAddress parse_manager_address(std::string_view address);

/// A new link (and session) for `addr`, registered for link_for() in the calling thread.
std::shared_ptr<ManagerLink> make_link(ManagerAddress addr, const ManagerOptions& options);


class ManagerSession {
 public:
  ManagerSession(ManagerAddress addr, ManagerOptions opts);
  /// Sends the encoded commands `request` (`n` of them) to the node of `key` in one round trip
  /// and returns their replies; follows MOVED/ASK; reconnects with back-off up to `retries`
  /// times (options' when negative). Throws ConnectionClosed naming the address, TimeoutError.
  /// With `watched` false the request (a MULTI..EXEC after a WATCH) is sent only on the
  /// connection that is open now and never re-sent after a reconnection, where the WATCH is no
  /// longer in force: it throws WatchLost instead (the caller starts again from WATCH).
  /// A request whose text depends on when it is sent (BLPOP's timeout: the time left) passes
  /// `rebuild`, called for the text of every resend after a reconnection.
  std::vector<Reply> exchange(std::string_view key, std::string_view request, std::size_t n, Timeout timeout,
                              int retries = -1, bool resend = true,
                              const std::function<std::string_view()>* rebuild = nullptr);
  /// exchange() of one command, its reply returned from a vector kept for the next call.
  Reply exchange1(std::string_view key, std::string_view request, Timeout timeout);
  /// Counts reconnections and redirections (a WATCH does not survive either).
  std::uint64_t generation() const noexcept { return m_generation; }
  const ManagerAddress& address() const noexcept { return m_addr; }
  const ManagerOptions& options() const noexcept { return m_opts; }

 private:
  struct Node {
    Endpoint ep;
    std::optional<RespConnection> conn;
  };
  RespConnection& connection(std::size_t node, const Deadline& dl);
  std::size_t node_for(std::string_view key, const Deadline& dl);
  std::size_t node_index(const std::string& host, int port);
  void refresh_slots(const Deadline& dl);
  void drop(std::size_t node) noexcept;
  void exchange_into(std::vector<Reply>& replies, std::string_view key, std::string_view request, std::size_t n,
                     Timeout timeout, int retries, bool resend,
                     const std::function<std::string_view()>* rebuild = nullptr);

  ManagerAddress m_addr;
  ManagerOptions m_opts;
  std::vector<Node> m_nodes;
  std::vector<std::uint16_t> m_slots;  // cluster: slot -> node; empty until the first refresh
  bool m_slots_stale = true;
  std::uint64_t m_fork_generation;  // of the process whose sockets m_nodes hold
  std::uint64_t m_generation = 0;
  std::vector<Reply> m_replies;  // exchange1's, kept to save an allocation per call
};

}  // namespace ipc::detail
