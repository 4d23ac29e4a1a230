// The private server of `ipc::Manager m;`: the ipc-managerd engine run in a forked child on a
// socket in a fresh 0700 directory, tied to its owner's life by PR_SET_PDEATHSIG.
#include <ipc/managers.hpp>

#include "manager_session.hpp"
#include "server.hpp"  // ipc::managerd::run_server (the daemon engine)

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include <ipc/detail/errno.hpp>

namespace ipc {

struct Manager::Server {
  pid_t pid = -1;
  pid_t owner = -1;
  std::string dir, socket, log;

  void remove_files() noexcept {
    ::unlink(socket.c_str());
    ::unlink(log.c_str());
    ::rmdir(dir.c_str());
  }
  // SIGTERM, wait up to 5 s, then SIGKILL; reaps the child and removes its files.
  void stop() noexcept {
    if (pid <= 0 || owner != ::getpid()) return;
    ::kill(pid, SIGTERM);
    int st = 0;
    for (int i = 0; i < 5000; ++i) {
      pid_t r = ::waitpid(pid, &st, WNOHANG);
      if (r == pid || (r < 0 && errno == ECHILD)) {
        pid = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &st, 0);
      pid = -1;
    }
    remove_files();
  }
  ~Server() { stop(); }
};

namespace {

// The child: never returns.
[[noreturn]] void run_private_server(pid_t parent, int ready_fd, const std::string& dir, const std::string& socket,
                                     const std::string& log) {
  // Signals first: the engine reads SIGTERM from a signalfd, so a SIGTERM that comes before it
  // starts must stay pending rather than kill us before we clean up.
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGHUP);
  ::sigprocmask(SIG_BLOCK, &mask, nullptr);
  // Die with the owner: SIGTERM when the thread that forked us ends (the process dies, even by
  // SIGKILL). If it died already, getppid() is no longer the owner.
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  int rc = 0;
  if (::getppid() == parent) {
    // Own process group: a terminal's Ctrl-C goes to the owner, which decides (as Python's
    // manager server ignores SIGINT).
    ::setpgid(0, 0);
    int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
      ::dup2(null, 0);
      ::dup2(null, 1);
      ::dup2(null, 2);
    }
    // Keep no fd of the owner's (pipes, sockets, locks): only the readiness pipe, as fd 3.
    ::dup2(ready_fd, 3);
    ::close_range(4, ~0U, 0);
    try {
      managerd::Options o;
      o.socket_path = socket;
      o.ready_fd = 3;
      o.save_on_shutdown = false;
      o.logfile = log;
      rc = managerd::run_server(std::move(o));
    } catch (const std::exception& e) {
      std::ofstream(log, std::ios::app) << "private server: " << e.what() << "\n";
      rc = 1;
    }
    if (rc == 0) ::unlink(log.c_str());
  }
  ::unlink(socket.c_str());
  if (rc == 0) ::rmdir(dir.c_str());
  ::_exit(rc);
}

}  // namespace

Manager::Manager(ManagerOptions options) {
  auto srv = std::make_shared<Server>();
  const char* rt = std::getenv("XDG_RUNTIME_DIR");
  std::string base = (rt && *rt && ::access(rt, W_OK) == 0) ? rt : "/tmp";
  std::string tmpl = base + "/ipckit-manager-XXXXXX";
  if (!::mkdtemp(tmpl.data())) detail::throw_errno("mkdtemp(" + tmpl + ")");  // mode 0700
  srv->dir = tmpl;
  srv->socket = tmpl + "/manager.sock";
  srv->log = tmpl + "/server.log";
  srv->owner = ::getpid();
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    srv->remove_files();
    detail::throw_errno("pipe2");
  }
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    int e = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    srv->remove_files();
    detail::throw_system_error(e, "fork (private manager server)");
  }
  if (pid == 0) {
    ::close(fds[0]);
    run_private_server(parent, fds[1], srv->dir, srv->socket, srv->log);
  }
  ::close(fds[1]);
  srv->pid = pid;
  Deadline dl(options.timeout);
  char c = 0;
  pollfd p{fds[0], POLLIN, 0};
  int pr;
  do pr = ::poll(&p, 1, dl.poll_ms());
  while (pr < 0 && errno == EINTR);
  bool ready = pr == 1 && ::read(fds[0], &c, 1) == 1 && c == '1';
  ::close(fds[0]);
  if (!ready) {
    std::stringstream why;
    why << std::ifstream(srv->log).rdbuf();
    srv->stop();
    throw Error("the private manager server did not start" + (why.str().empty() ? std::string() : ": " + why.str()));
  }
  m_server = srv;
  detail::ManagerAddress addr;
  detail::Endpoint ep;
  ep.path = srv->socket;
  addr.nodes.push_back(ep);
  addr.text = "unix:" + srv->socket;
  addr.private_server = true;
  m_link = detail::make_link(std::move(addr), options);
}

Manager::~Manager() = default;

pid_t Manager::server_pid() const noexcept { return m_server ? m_server->pid : -1; }

void Manager::shutdown() {
  if (m_server) m_server->stop();
}

}  // namespace ipc
