// Lesson narration and checks, the lessons' line channel, and /proc formatting helpers.
#include "lesson.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <system_error>

#include <ipc/detail/file_io.hpp>

namespace lifecycle_tool {

// ---- Lesson ----

Lesson::Lesson(std::string name, const Options& o, std::ostream& out) : m_out(out), m_json(o.json) {
  m_result["lesson"] = std::move(name);
  m_result["ok"] = true;
}

void Lesson::say(const std::string& line) const {
  if (m_json) return;
  m_out << (line + "\n") << std::flush;
}

bool Lesson::check(const std::string& what, bool ok) {
  m_checks.push_back(json{{"check", what}, {"ok", ok}});
  if (!ok) m_result["ok"] = false;
  say(std::string(ok ? "  [ok] " : "  [FAILED] ") + what);
  return ok;
}

int Lesson::finish() {
  const bool ok = m_result["ok"].get<bool>();
  if (m_json) {
    m_result["observed"] = m_observed;
    m_result["checks"] = m_checks;
    m_out << m_result.dump() << "\n" << std::flush;
  } else {
    say(ok ? "=> the lesson held: every observed state was as claimed."
           : "=> the lesson did NOT hold: see the [FAILED] lines above.");
  }
  return ok ? 0 : 1;
}

// ---- Channel ----

Channel::Channel() {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) < 0) throw std::system_error(errno, std::generic_category(), "pipe2");
  m_r.reset(p[0]);
  m_w.reset(p[1]);
}

void Channel::send(const std::string& line) const {
  ipc::detail::write_all(m_w.get(), line + "\n");  // a reader that is gone has nothing to learn
}

std::optional<std::string> Channel::recv(ipc::Timeout timeout) {
  ipc::Deadline deadline(timeout);
  for (;;) {
    if (auto nl = m_buf.find('\n'); nl != std::string::npos) {
      std::string line = m_buf.substr(0, nl);
      m_buf.erase(0, nl + 1);
      return line;
    }
    if (m_eof) return std::nullopt;
    pollfd p{m_r.get(), POLLIN, 0};
    int r = ::poll(&p, 1, deadline.poll_ms());
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw std::system_error(errno, std::generic_category(), "poll(lesson channel)");
    if (r == 0) return std::nullopt;
    char buf[1024];
    ssize_t n = ::read(m_r.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::system_error(errno, std::generic_category(), "read(lesson channel)");
    if (n == 0) m_eof = true;
    m_buf.append(buf, static_cast<std::size_t>(n > 0 ? n : 0));
  }
}

// ---- /proc formatting ----

std::vector<std::string> words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

pid_t to_pid(const std::string& s) { return static_cast<pid_t>(std::strtol(s.c_str(), nullptr, 10)); }

json stat_json(const std::optional<ipc::proc::Stat>& s) {
  if (!s) return nullptr;
  return json{{"pid", s->pid},         {"comm", s->comm},       {"state", std::string(1, s->state)},
              {"state_name", std::string(ipc::proc::state_name(s->state))},
              {"ppid", s->ppid},       {"pgrp", s->pgrp},       {"session", s->session},
              {"tty_nr", s->tty_nr},   {"tpgid", s->tpgid}};
}

std::string ps_lines(const ipc::proc::Stat& s) {
  char line[256];
  std::string comm = s.state == 'Z' ? s.comm + " <defunct>" : s.comm;
  std::snprintf(line, sizeof line, "      %7s %7s %7s %7s %-5s %-4s %s\n      %7d %7d %7d %7d %-5s %-4c %s", "PID",
                "PPID", "PGID", "SID", "TTY", "STAT", "COMMAND", s.pid, s.ppid, s.pgrp, s.session,
                s.tty_nr == 0 ? "?" : "tty", s.state, comm.c_str());
  return line;
}

std::string comm_of(pid_t pid) {
  auto s = ipc::proc::stat(pid);
  return s ? s->comm : std::string("?");
}

std::string fmt_seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g s", s);
  return buf;
}

std::string adopter_kind(pid_t adopter, pid_t self, const std::vector<pid_t>& ancestors) {
  if (adopter == self) return "this tool (subreaper)";
  if (adopter == 1) return "init";
  if (std::find(ancestors.begin(), ancestors.end(), adopter) != ancestors.end()) return "ancestor subreaper";
  return "unexpected";
}

}  // namespace lifecycle_tool
