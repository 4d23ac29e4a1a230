// Test helpers for ipc-managerd: real daemon / redis-server processes and a RESP client.
#include "managerd_support.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <utility>

namespace ipc::test {

namespace {

using Clock = std::chrono::steady_clock;

pid_t spawn(const std::vector<std::string>& argv, const std::string& log_path, int keep_fd) {
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (log >= 0) {
      ::dup2(log, 2);
      ::dup2(log, 1);
    }
    if (keep_fd >= 0) ::fcntl(keep_fd, F_SETFD, 0);
    ::execv(cargv[0], cargv.data());
    ::_exit(127);
  }
  return pid;
}

int wait_for(pid_t pid, int secs) {
  auto end = Clock::now() + std::chrono::seconds(secs);
  int status = 0;
  while (Clock::now() < end) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return -2;
}

bool can_connect(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
  ::close(fd);
  return ok;
}

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace

ServerProcess ServerProcess::managerd(const TempDir& dir, std::vector<std::string> extra) {
  ServerProcess p;
  p.m_socket = (dir / "managerd.sock").string();
  p.m_log = (dir / "managerd.log").string();
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  std::vector<std::string> argv = {IPCKIT_MANAGERD_BIN, "--socket", p.m_socket, "--ready-fd", std::to_string(fds[1])};
  argv.insert(argv.end(), extra.begin(), extra.end());
  p.m_pid = spawn(argv, p.m_log, fds[1]);
  ::close(fds[1]);
  pollfd pf{fds[0], POLLIN, 0};
  char c = 0;
  bool ready = ::poll(&pf, 1, 20000) == 1 && ::read(fds[0], &c, 1) == 1 && c == '1';
  ::close(fds[0]);
  if (!ready) {
    ::kill(p.m_pid, SIGKILL);
    ::waitpid(p.m_pid, nullptr, 0);
    p.m_pid = -1;
    throw std::runtime_error("ipc-managerd did not start: " + slurp(p.m_log));
  }
  return p;
}

ServerProcess ServerProcess::redis(const TempDir& dir) {
  ServerProcess p;
  p.m_socket = (dir / "redis.sock").string();
  p.m_log = (dir / "redis.log").string();
  std::vector<std::string> argv = {"/usr/bin/redis-server", "--save", "", "--appendonly", "no", "--port", "0",
                                   "--unixsocket", p.m_socket, "--unixsocketperm", "700", "--dir", dir.path().string()};
  p.m_pid = spawn(argv, p.m_log, -1);
  auto end = Clock::now() + std::chrono::seconds(20);
  while (!can_connect(p.m_socket)) {
    if (Clock::now() > end || ::waitpid(p.m_pid, nullptr, WNOHANG) == p.m_pid)
      throw std::runtime_error("redis-server did not start: " + slurp(p.m_log));
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return p;
}

std::pair<int, std::string> ServerProcess::run_managerd(std::vector<std::string> args) {
  TempDir d;
  std::string log = (d / "run.log").string();
  args.insert(args.begin(), IPCKIT_MANAGERD_BIN);
  pid_t pid = spawn(args, log, -1);
  int st = wait_for(pid, 20);
  if (st == -2) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return {-1, slurp(log)};
  }
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, slurp(log)};
}

ServerProcess::ServerProcess(ServerProcess&& o) noexcept
    : m_pid(std::exchange(o.m_pid, -1)), m_socket(std::move(o.m_socket)), m_log(std::move(o.m_log)) {}

ServerProcess::~ServerProcess() {
  if (m_pid > 0) stop();
}

int ServerProcess::stop() {
  if (m_pid <= 0) return -1;
  ::kill(m_pid, SIGTERM);
  int st = wait_for(m_pid, 20);
  if (st == -2) {
    ::kill(m_pid, SIGKILL);
    ::waitpid(m_pid, &st, 0);
  }
  m_pid = -1;
  return st;
}

void ServerProcess::kill9() {
  if (m_pid <= 0) return;
  ::kill(m_pid, SIGKILL);
  ::waitpid(m_pid, nullptr, 0);
  m_pid = -1;
}

int ServerProcess::wait_exit(int secs) {
  if (m_pid <= 0) return -1;
  int st = wait_for(m_pid, secs);
  if (st == -2) return -1;
  m_pid = -1;
  return st;
}

std::string ServerProcess::log() const { return slurp(m_log); }

// ---- RespClient ----

namespace {

detail::RespConnection connect_retrying(const std::string& path) {
  auto end = Clock::now() + std::chrono::seconds(10);
  for (;;) {
    try {
      return detail::RespConnection::unix_socket(path, std::chrono::seconds(10));
    } catch (const std::system_error&) {
      if (Clock::now() > end) throw std::runtime_error("cannot connect to " + path);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
}

}  // namespace

RespClient::RespClient(const std::string& path) : m_conn(connect_retrying(path)) {}

std::string RespClient::raw_cmd(const std::vector<std::string>& args) {
  std::vector<std::string_view> v(args.begin(), args.end());
  std::string out;
  detail::resp::add_command(out, v);
  send(out);
  return read_raw();
}

Reply RespClient::cmd(std::vector<std::string> args, std::chrono::milliseconds timeout) {
  std::vector<std::string_view> v(args.begin(), args.end());
  return m_conn.call(std::span<const std::string_view>(v), timeout);
}

Reply RespClient::cmd(std::initializer_list<std::string_view> args) {
  return m_conn.call(args, std::chrono::seconds(10));
}

RunResult run_program(const std::vector<std::string>& argv, const std::string& input) {
  TempDir d;
  std::string in = (d / "in").string(), out = (d / "out").string(), err = (d / "err").string();
  std::ofstream(in) << input;
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    int i = ::open(in.c_str(), O_RDONLY), o = ::open(out.c_str(), O_WRONLY | O_CREAT, 0600),
        e = ::open(err.c_str(), O_WRONLY | O_CREAT, 0600);
    ::dup2(i, 0);
    ::dup2(o, 1);
    ::dup2(e, 2);
    ::execv(cargv[0], cargv.data());
    ::_exit(127);
  }
  RunResult r;
  int st = wait_for(pid, 20);
  if (st == -2) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  } else if (WIFEXITED(st)) {
    r.code = WEXITSTATUS(st);
  }
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

std::string text(const Reply& r) {
  switch (r.type) {
    case Reply::Type::integer: return std::to_string(r.integer);
    case Reply::Type::nil: case Reply::Type::nil_array: return "(nil)";
    case Reply::Type::array: {
      std::string s = "[";
      for (std::size_t i = 0; i < r.elements.size(); ++i) s += (i ? "," : "") + text(r.elements[i]);
      return s + "]";
    }
    default: return r.str;
  }
}

std::string info_field(RespClient& c, const std::string& section, const std::string& name) {
  std::string info = c.cmd({"INFO", section}).str;
  auto at = info.find("\n" + name + ":");  // every field line follows the "# Section" line
  if (at == std::string::npos) return {};
  at += 1 + name.size() + 1;
  return info.substr(at, info.find("\r\n", at) - at);
}

}  // namespace ipc::test
