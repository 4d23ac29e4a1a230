// The servers a Manager test runs against: a private server, ipc-managerd, a real redis-server
// (on a Unix socket in a temp dir) and a real 3-node Redis Cluster. Each starts its server or
// throws saying why, so a test never passes without its server. Link ipckit::manager and
// ipckit_managerd_test_support.
#pragma once

#include <ipc/managers.hpp>

#include <optional>
#include <string>

#include "managerd_support.hpp"
#include "redis_cluster.hpp"
#include "test_support.hpp"

namespace ipc::test {

/// `ipc::Manager m;`: the private server, started by the first manager() call.
struct PrivateServer {
  std::optional<ipc::Manager> owner;
  /// The owner Manager (a copy); `o` applies to the first call only.
  ipc::Manager manager(ipc::ManagerOptions o = {}) {
    if (!owner) owner.emplace(o);
    return *owner;
  }
  std::string address() const { return owner->address(); }
};

/// The real ipc-managerd on a socket in a temp dir.
struct Managerd {
  TempDir dir;
  ServerProcess srv = ServerProcess::managerd(dir);
  ipc::Manager manager(ipc::ManagerOptions o = {}) { return ipc::Manager::connect(address(), {}, o); }
  std::string address() const { return "unix:" + srv.socket(); }
};

/// A real redis-server on a Unix socket in a temp dir.
struct RedisServer {
  TempDir dir;
  ServerProcess srv = ServerProcess::redis(dir);
  ipc::Manager manager(ipc::ManagerOptions o = {}) { return ipc::Manager::connect(address(), {}, o); }
  std::string address() const { return "unix:" + srv.socket(); }
};

/// A real 3-node Redis Cluster on localhost.
struct RedisClusterBackend {
  TempDir dir;
  RedisCluster cluster{dir};
  ipc::Manager manager(ipc::ManagerOptions o = {}) { return ipc::Manager::connect(address(), {}, o); }
  std::string address() const { return cluster.address(); }
};

}  // namespace ipc::test
