// A real 3-node Redis Cluster on localhost for tests.
#include "redis_cluster.hpp"

#include <ipc/detail/resp_client.hpp>

#include "managerd_support.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace ipc::test {

namespace {

bool port_free(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(static_cast<std::uint16_t>(port));
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
  ::close(fd);
  return ok;
}

// A port p with p and its cluster bus port p + 10000 free (below the ephemeral range).
int pick_port(std::vector<int>& taken) {
  static std::mt19937 rng(static_cast<unsigned>(::getpid()));  // test process only
  for (int i = 0; i < 1000; ++i) {
    int p = 20000 + static_cast<int>(rng() % 10000);
    bool used = false;
    for (int t : taken) used |= t == p;
    if (!used && port_free(p) && port_free(p + 10000)) {
      taken.push_back(p);
      return p;
    }
  }
  throw std::runtime_error("no free port pair for a Redis Cluster node");
}

std::string slurp(const std::string& path) {
  std::stringstream s;
  s << std::ifstream(path).rdbuf();
  return s.str();
}

}  // namespace

RedisCluster::RedisCluster(const TempDir& dir) {
  std::vector<int> taken;
  for (int i = 0; i < 3; ++i) {
    int port = pick_port(taken);
    std::string p = std::to_string(port);
    std::vector<std::string> argv = {"/usr/bin/redis-server", "--port", p, "--bind", "127.0.0.1",
                                     "--cluster-enabled", "yes", "--cluster-config-file",
                                     (dir / ("nodes-" + p + ".conf")).string(), "--cluster-node-timeout", "3000",
                                     "--save", "", "--appendonly", "no", "--dir", dir.path().string(),
                                     "--logfile", (dir / ("redis-" + p + ".log")).string()};
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
      int null = ::open("/dev/null", O_RDWR);
      ::dup2(null, 1);
      ::execv(cargv[0], cargv.data());
      ::_exit(127);
    }
    m_pids.push_back(pid);
    m_ports.push_back(port);
  }
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  auto fail = [&](const std::string& why) {
    std::string logs;
    for (int port : m_ports) logs += "\n--- node " + std::to_string(port) + ":\n" + slurp((dir / ("redis-" + std::to_string(port) + ".log")).string());
    throw std::runtime_error("Redis Cluster did not start: " + why + logs);
  };
  for (int port : m_ports) {
    for (;;) {
      try {
        auto c = detail::RespConnection::tcp("127.0.0.1", port, std::chrono::seconds(1));
        if (c.call({"PING"}, std::chrono::seconds(2)).str == "PONG") break;
      } catch (const std::exception&) {
      }
      if (std::chrono::steady_clock::now() > end) fail("node " + std::to_string(port) + " does not answer");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  std::vector<std::string> create = {"/usr/bin/redis-cli", "--cluster", "create"};
  for (int port : m_ports) create.push_back("127.0.0.1:" + std::to_string(port));
  create.insert(create.end(), {"--cluster-replicas", "0", "--cluster-yes"});
  auto r = run_program(create);
  if (r.code != 0) fail("redis-cli --cluster create failed: " + r.out + r.err);
  for (int port : m_ports) {
    for (;;) {
      try {
        auto c = detail::RespConnection::tcp("127.0.0.1", port, std::chrono::seconds(1));
        auto info = c.call({"CLUSTER", "INFO"}, std::chrono::seconds(2)).str;
        if (info.find("cluster_state:ok") != std::string::npos && info.find("cluster_known_nodes:3") != std::string::npos)
          break;
      } catch (const std::exception&) {
      }
      if (std::chrono::steady_clock::now() > end) fail("cluster_state is not ok on node " + std::to_string(port));
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
}

RedisCluster::~RedisCluster() {
  for (pid_t pid : m_pids) ::kill(pid, SIGKILL);
  for (pid_t pid : m_pids) ::waitpid(pid, nullptr, 0);
}

std::string RedisCluster::address() const {
  return "redis+cluster://127.0.0.1:" + std::to_string(m_ports[0]) + ",127.0.0.1:" + std::to_string(m_ports[1]);
}

}  // namespace ipc::test
