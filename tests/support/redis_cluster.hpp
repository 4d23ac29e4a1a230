// A real 3-node Redis Cluster on localhost for tests: redis-server --cluster-enabled yes x3 on
// free ports, joined with `redis-cli --cluster create`, killed and removed on destruction.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "test_support.hpp"

namespace ipc::test {

/// Three redis-server masters (no replicas) covering all 16384 slots.
class RedisCluster {
 public:
  /// Starts the nodes in `dir` and waits (up to 30 s) for cluster_state:ok on each. Throws
  /// std::runtime_error with the logs when a node or the cluster cannot be started.
  explicit RedisCluster(const TempDir& dir);
  ~RedisCluster();
  RedisCluster(const RedisCluster&) = delete;
  RedisCluster& operator=(const RedisCluster&) = delete;
  /// "redis+cluster://127.0.0.1:p1,127.0.0.1:p2" (two seeds; the third is found by CLUSTER SLOTS).
  std::string address() const;
  /// The nodes' TCP ports.
  const std::vector<int>& ports() const noexcept { return m_ports; }

 private:
  std::vector<pid_t> m_pids;
  std::vector<int> m_ports;
};

}  // namespace ipc::test
