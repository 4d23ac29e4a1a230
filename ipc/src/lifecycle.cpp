// Lifecycles: the double-fork daemonize(), OFD-locked pidfiles, and /proc inspection.
#include <ipc/lifecycle.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <iostream>

#include <ipc/detail/errno.hpp>
#include <ipc/detail/file_io.hpp>
#include <ipc/detail/proc_util.hpp>
#include <ipc/process.hpp>

namespace ipc {
namespace {

namespace fs = std::filesystem;
using detail::UniqueFd;

using detail::flush_std_streams;
using detail::pidfd_open;
using detail::pidfd_send_signal;

/// Parses a decimal pid (surrounding whitespace allowed); 0 when the text is not one.
pid_t parse_pid(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n')) s.remove_suffix(1);
  pid_t pid = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), pid);
  if (ec != std::errc() || end != s.data() + s.size() || pid <= 0) return 0;
  return pid;
}

/// Files read here (pidfiles, /proc/<pid>/status) are far smaller than this.
constexpr std::size_t kSmallFile = 1u << 20;

std::string proc_path(pid_t pid, std::string_view what) {
  return "/proc/" + std::to_string(pid) + "/" + std::string(what);
}

/// In a child of daemonize(): tells the original process what failed and ends this process.
[[noreturn]] void report_and_exit(int fd, const std::string& what, int err) noexcept {
  std::string line = "F " + what + (err ? std::string(": ") + std::strerror(err) : std::string()) + "\n";
  detail::write_all(fd, line);
  ::_exit(1);
}

/// Closes every fd >= 3 of the calling process except those in `keep`.
void close_other_fds(const std::vector<int>& keep) {
  std::vector<int> fds;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    int self = ::dirfd(d);
    while (auto* e = ::readdir(d)) {
      int fd = 0;
      auto [p, ec] = std::from_chars(e->d_name, e->d_name + std::strlen(e->d_name), fd);
      if (ec == std::errc() && fd >= 3 && fd != self) fds.push_back(fd);
    }
    ::closedir(d);
  }
  for (int fd : fds)
    if (std::find(keep.begin(), keep.end(), fd) == keep.end()) detail::close_fd(fd);
}

bool same_file(int fd, const fs::path& path) {
  struct stat a {}, b {};
  return ::fstat(fd, &a) == 0 && ::stat(path.c_str(), &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/// Whether some open file other than ours holds a lock on `fd`'s file (F_OFD_GETLK tests without
/// taking the lock, so probing never makes a starting instance fail).
bool locked_by_other(int fd, const fs::path& path) {
  struct flock lk {};
  lk.l_type = F_RDLCK;  // conflicts with the holder's write lock
  lk.l_whence = SEEK_SET;
  if (::fcntl(fd, F_OFD_GETLK, &lk) < 0) detail::throw_errno("fcntl(F_OFD_GETLK, " + path.string() + ")");
  return lk.l_type != F_UNLCK;
}

}  // namespace

// ---- Pidfile ----

Pidfile Pidfile::acquire(const fs::path& relative) {
  // Absolute, so that a daemon that chdir()s away removes the right file.
  const fs::path path = fs::absolute(relative);
  // The previous holder removes the file while it still holds the lock; if we opened that
  // file before it went, our lock would be on a name nobody sees: check and start again.
  for (int attempt = 0; attempt < 100; ++attempt) {
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (!fd) detail::throw_errno("open(pidfile " + path.string() + ")");
    struct flock lk {};
    lk.l_type = F_WRLCK;
    lk.l_whence = SEEK_SET;  // l_start = l_len = 0: the whole file, however long it gets
    if (::fcntl(fd.get(), F_OFD_SETLK, &lk) < 0) {
      if (errno != EAGAIN && errno != EACCES) detail::throw_errno("fcntl(F_OFD_SETLK, " + path.string() + ")");
      std::string text;
      pid_t holder = detail::read_all(fd.get(), text, kSmallFile) ? 0 : parse_pid(text);
      throw AlreadyRunning("already running: pidfile " + path.string() + " is locked by " +
                               (holder ? "pid " + std::to_string(holder) : std::string("an instance that is starting")),
                           holder);
    }
    if (!same_file(fd.get(), path)) continue;
    // A stale pid from a crashed instance must not be read as ours until write() replaces it.
    if (::ftruncate(fd.get(), 0) < 0) detail::throw_errno("ftruncate(pidfile " + path.string() + ")");
    Pidfile p;
    p.m_path = path;
    p.m_fd = std::move(fd);
    return p;
  }
  throw Error("pidfile " + path.string() + " keeps being replaced while it is locked");
}

Pidfile& Pidfile::operator=(Pidfile&& o) noexcept {
  if (this != &o) {
    Pidfile old(std::move(*this));  // removed at the end of this scope
    m_path = std::move(o.m_path);
    m_fd = std::move(o.m_fd);
    o.m_path.clear();
  }
  return *this;
}

Pidfile::~Pidfile() {
  if (!m_fd) return;
  // Unlink before closing: the lock still keeps a newcomer from taking the file we remove.
  if (same_file(m_fd.get(), m_path)) ::unlink(m_path.c_str());
  m_fd.reset();
}

void Pidfile::write(pid_t pid) {
  if (!m_fd) throw ValueError("Pidfile::write: the handle holds no pidfile");
  std::string text = std::to_string(pid ? pid : ::getpid()) + "\n";
  if (::ftruncate(m_fd.get(), 0) < 0) detail::throw_errno("ftruncate(pidfile " + m_path.string() + ")");
  if (auto ec = detail::write_all_at(m_fd.get(), text, 0))
    throw std::system_error(ec, "write(pidfile " + m_path.string() + ")");
}

void Pidfile::release() noexcept {
  m_fd.reset();
  m_path.clear();
}

std::optional<pid_t> read_pidfile(const fs::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return std::nullopt;
    detail::throw_errno("open(pidfile " + path.string() + ")");
  }
  if (!locked_by_other(fd.get(), path)) return std::nullopt;
  std::string text;
  if (auto ec = detail::read_all(fd.get(), text, kSmallFile))
    throw std::system_error(ec, "read(pidfile " + path.string() + ")");
  pid_t pid = parse_pid(text);
  if (!pid) throw ProtocolError("pidfile " + path.string() + " is locked but holds no pid (an instance is starting?)");
  return pid;
}

std::optional<pid_t> stop_daemon(const fs::path& path, Timeout timeout, int sig) {
  Deadline deadline(timeout);
  auto pid = read_pidfile(path);
  if (!pid) return std::nullopt;
  UniqueFd pidfd(pidfd_open(*pid));
  if (!pidfd) {
    if (errno == ESRCH) return pid;  // ended meanwhile
    detail::throw_errno("pidfd_open(" + std::to_string(*pid) + ")");
  }
  // The pidfd is for whatever process has that pid now; the lock, still held with the same pid
  // written in it, shows that it is the instance (a live holder's pid cannot be reused).
  if (read_pidfile(path) != pid) return pid;
  if (pidfd_send_signal(pidfd.get(), sig) < 0 && errno != ESRCH)
    detail::throw_errno("pidfd_send_signal(" + std::to_string(*pid) + ", " + std::to_string(sig) + ")");
  if (!detail::wait_pidfd(pidfd.get(), deadline.poll_ms()))
    throw TimeoutError("stop_daemon: pid " + std::to_string(*pid) + " (pidfile " + path.string() +
                       ") still runs after signal " + std::to_string(sig));
  siginfo_t info{};
  detail::reap_pidfd(pidfd.get(), info);  // if ours
  return pid;
}

// ---- daemonize ----

Daemon::~Daemon() = default;

void Daemon::report(char kind, std::string_view text) {
  if (!m_is_daemon) throw ValueError("Daemon: ready()/fail() are for the daemon, not the original process");
  if (!m_report) return;
  std::string line;
  line += kind;
  line += ' ';
  line += text;
  line += '\n';
  detail::write_all(m_report.get(), line);
  m_report.reset();
}

void Daemon::ready() { report('R', std::to_string(m_pid) + " " + std::to_string(m_session)); }

void Daemon::fail(std::string_view why) {
  std::string one_line(why);
  std::replace(one_line.begin(), one_line.end(), '\n', ' ');
  report('F', one_line);
}

Daemon daemonize(const DaemonOptions& o) {
  if (auto kids = active_children(); !kids.empty())
    throw ValueError("daemonize: call it before starting child processes (" + std::to_string(kids.size()) +
                     " still run)");
  // Everything that can fail for a reason the user must fix is done here, where it can throw.
  Pidfile pidfile;
  if (!o.pidfile.empty()) pidfile = Pidfile::acquire(o.pidfile);
  UniqueFd null_fd(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!null_fd) detail::throw_errno("open(/dev/null)");
  UniqueFd log_fd;
  if (!o.log_file.empty()) {
    log_fd.reset(::open(o.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0640));
    if (!log_fd) detail::throw_errno("open(log file " + o.log_file.string() + ")");
  }
  int p[2];
  if (::pipe2(p, O_CLOEXEC) < 0) detail::throw_errno("pipe2");
  UniqueFd report_r(p[0]), report_w(p[1]);

  flush_std_streams();  // or both processes would write what is buffered
  std::fflush(nullptr);  // and the program's other FILEs: the daemon outlives this process
  const pid_t first = ::fork();
  if (first < 0) detail::throw_errno("fork");
  if (first == 0) {
    // ---- first child: leave the caller's session and terminal, then fork the daemon ----
    report_r.reset();
    if (::setsid() < 0) report_and_exit(report_w.get(), "setsid", errno);
    const pid_t second = ::fork();
    if (second < 0) report_and_exit(report_w.get(), "fork (second)", errno);
    // Exiting makes the daemon an orphan (adopted by init or the nearest subreaper) and leaves
    // it in a session whose leader is gone: it can never acquire a controlling terminal.
    if (second > 0) ::_exit(0);

    // ---- the daemon ----
    ::umask(o.umask);
    if (::chdir(o.working_dir.c_str()) < 0) report_and_exit(report_w.get(), "chdir(" + o.working_dir.string() + ")", errno);
    const int out = log_fd ? log_fd.get() : null_fd.get();
    if (::dup2(null_fd.get(), STDIN_FILENO) < 0 || ::dup2(out, STDOUT_FILENO) < 0 || ::dup2(out, STDERR_FILENO) < 0)
      report_and_exit(report_w.get(), "dup2(std fds)", errno);
    null_fd.reset();
    log_fd.reset();
    if (o.close_fds) {
      std::vector<int> keep = o.keep_fds;
      keep.push_back(report_w.get());
      if (pidfile) keep.push_back(pidfile.fd());
      close_other_fds(keep);
    }
    Daemon d;
    d.m_is_daemon = true;
    d.m_pid = ::getpid();
    d.m_session = ::getsid(0);
    if (pidfile) {
      try {
        pidfile.write(d.m_pid);
      } catch (const std::exception& e) {
        report_and_exit(report_w.get(), e.what(), 0);
      }
    }
    d.m_pidfile = std::move(pidfile);
    d.m_report = std::move(report_w);
    if (!o.wait_for_ready) d.ready();
    return d;
  }

  // ---- the original process ----
  report_w.reset();
  pidfile.release();  // the daemon holds the lock now (same open file)
  null_fd.reset();
  log_fd.reset();
  while (::waitpid(first, nullptr, 0) < 0 && errno == EINTR) {
  }
  Deadline deadline(o.ready_timeout);
  std::string msg;
  pollfd pfd{report_r.get(), POLLIN, 0};
  while (msg.find('\n') == std::string::npos && msg.size() < 65536) {
    int r = ::poll(&pfd, 1, deadline.poll_ms());
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) detail::throw_errno("poll(daemon report pipe)");
    if (r == 0) throw TimeoutError("daemonize: the daemon did not report ready in time");
    char buf[512];
    ssize_t n = ::read(report_r.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) detail::throw_errno("read(daemon report pipe)");
    if (n == 0) break;
    msg.append(buf, static_cast<std::size_t>(n));
  }
  if (auto nl = msg.find('\n'); nl != std::string::npos) msg.resize(nl);
  if (msg.starts_with("R ")) {
    Daemon d;
    std::string_view rest(msg);
    rest.remove_prefix(2);
    auto sp = rest.find(' ');
    d.m_pid = parse_pid(rest.substr(0, sp));
    d.m_session = sp == std::string_view::npos ? 0 : parse_pid(rest.substr(sp + 1));
    if (d.m_pid) return d;
  }
  if (msg.starts_with("F ")) throw DaemonStartError("daemon failed to start: " + msg.substr(2));
  throw DaemonStartError("daemon failed to start: it ended before it reported ready");
}

// ---- /proc inspection ----

namespace proc {

std::optional<Stat> stat(pid_t pid) {
  auto p = detail::read_proc_stat(pid);
  if (!p) return std::nullopt;
  Stat s;
  s.pid = pid;
  s.comm = std::move(p->comm);
  s.state = p->state;
  s.ppid = p->ppid;
  s.pgrp = p->pgrp;
  s.session = p->session;
  s.tty_nr = p->tty_nr;
  s.tpgid = p->tpgid;
  s.num_threads = static_cast<int>(p->num_threads);
  s.starttime = p->starttime;
  return s;
}

bool exists(pid_t pid) noexcept { return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM); }

std::optional<std::string> status_field(pid_t pid, std::string_view name) {
  std::string text;
  if (detail::read_file(proc_path(pid, "status"), text, kSmallFile)) return std::nullopt;
  std::string_view all(text);
  while (!all.empty()) {
    auto nl = all.find('\n');
    std::string_view line = all.substr(0, nl);
    all = nl == std::string_view::npos ? std::string_view() : all.substr(nl + 1);
    if (line.size() > name.size() && line.starts_with(name) && line[name.size()] == ':') {
      line.remove_prefix(name.size() + 1);
      while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
      while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
      return std::string(line);
    }
  }
  return std::nullopt;
}

std::optional<std::string> read_link(pid_t pid, std::string_view link) {
  char buf[4096];
  ssize_t n = ::readlink(proc_path(pid, link).c_str(), buf, sizeof buf);
  if (n < 0) return std::nullopt;
  return std::string(buf, static_cast<std::size_t>(n));
}

std::vector<pid_t> children(pid_t pid) {
  std::vector<pid_t> out;
  DIR* d = ::opendir("/proc");
  if (!d) detail::throw_errno("opendir(/proc)");
  while (auto* e = ::readdir(d)) {
    pid_t p = parse_pid(e->d_name);
    if (!p) continue;
    try {
      if (auto s = stat(p); s && s->ppid == pid) out.push_back(p);
    } catch (const ProtocolError&) {
    }
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<pid_t> ancestors(pid_t pid) {
  std::vector<pid_t> out;
  for (int i = 0; i < 4096 && pid > 1; ++i) {
    auto s = stat(pid);
    if (!s || s->ppid <= 0) break;
    out.push_back(s->ppid);
    pid = s->ppid;
  }
  return out;
}

bool is_subreaper() {
  int on = 0;
  if (::prctl(PR_GET_CHILD_SUBREAPER, &on) < 0) detail::throw_errno("prctl(PR_GET_CHILD_SUBREAPER)");
  return on != 0;
}

void set_subreaper(bool on) {
  if (::prctl(PR_SET_CHILD_SUBREAPER, on ? 1 : 0) < 0) detail::throw_errno("prctl(PR_SET_CHILD_SUBREAPER)");
}

std::string_view state_name(char state) noexcept {
  switch (state) {
    case 'R': return "running";
    case 'S': return "sleeping";
    case 'D': return "disk sleep";
    case 'Z': return "zombie";
    case 'T': return "stopped";
    case 't': return "tracing stop";
    case 'X': return "dead";
    case 'I': return "idle";
    case 'P': return "parked";
    default: return "unknown";
  }
}

bool wait_exit(pid_t pid, Timeout timeout, int* exitcode) {
  if (pid <= 0) throw ValueError("wait_exit: bad pid " + std::to_string(pid));
  UniqueFd pidfd(pidfd_open(pid));
  if (!pidfd) {
    if (errno == ESRCH) return true;
    detail::throw_errno("pidfd_open(" + std::to_string(pid) + ")");
  }
  if (!detail::wait_pidfd(pidfd.get(), Deadline(timeout).poll_ms())) return false;
  siginfo_t info{};
  if (int err = detail::reap_pidfd(pidfd.get(), info)) {
    if (err == ECHILD) return true;  // not our child: its own parent reaps it
    detail::throw_system_error(err, "waitid(pidfd of " + std::to_string(pid) + ")");
  }
  if (exitcode && info.si_pid != 0) *exitcode = detail::exit_code_of(info);
  return true;
}

}  // namespace proc
}  // namespace ipc
