// What every ipc-lifecycle lesson uses: narration and checks (Lesson), a line channel between
// the lesson's processes (Channel), and /proc formatting helpers.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <ipc/detail/unique_fd.hpp>
#include <ipc/lifecycle.hpp>
#include <ipc/timeout.hpp>

#include "lessons.hpp"

namespace lifecycle_tool {

using json = nlohmann::ordered_json;

/// `s` seconds as a std::chrono duration.
inline std::chrono::duration<double> seconds(double s) { return std::chrono::duration<double>(s); }

/// Narration, observations and checks of one lesson. Children forked during the lesson use
/// their copy to narrate.
class Lesson {
 public:
  /// A lesson named `name`, narrating on `out` (or collecting JSON when o.json).
  Lesson(std::string name, const Options& o, std::ostream& out);

  /// One line of narration (nothing with --json), flushed at once so that the lines of
  /// several processes interleave whole.
  void say(const std::string& line) const;

  /// Records a check of the lesson and narrates it. Returns `ok`.
  bool check(const std::string& what, bool ok);

  /// The observed states, printed under "observed" with --json.
  json& observed() { return m_observed; }

  /// Prints the JSON object (with --json) or the verdict; returns the exit code.
  int finish();

 private:
  std::ostream& m_out;
  bool m_json;
  json m_result;
  json m_observed = json::object();
  json m_checks = json::array();
};

/// A pipe carrying short text lines from the lesson's processes to the tool (lines shorter than
/// PIPE_BUF are written atomically, so several writers never mix their lines).
class Channel {
 public:
  /// A new pipe. Throws std::system_error.
  Channel();
  /// Sends one line (best effort: the reader may be gone).
  void send(const std::string& line) const;
  /// Closes this process's write end, so that EOF means every other writer is gone.
  void close_write() noexcept { m_w.reset(); }
  /// The next line; empty on timeout or at EOF (then eof() is true). Throws std::system_error.
  std::optional<std::string> recv(ipc::Timeout timeout);
  /// True once the write ends are all closed and every line was read.
  bool eof() const noexcept { return m_eof && m_buf.find('\n') == std::string::npos; }

 private:
  ipc::detail::UniqueFd m_r, m_w;
  std::string m_buf;
  bool m_eof = false;
};

/// Splits "word a b c" into its words.
std::vector<std::string> words(const std::string& line);
/// The decimal pid in `s` (0 when it is not one).
pid_t to_pid(const std::string& s);
/// A /proc stat as a JSON object (null when the process does not exist).
json stat_json(const std::optional<ipc::proc::Stat>& s);
/// `ps -o pid,ppid,pgid,sid,tty,stat,comm`-like lines for one process.
std::string ps_lines(const ipc::proc::Stat& s);
/// The command name of `pid`, or "?".
std::string comm_of(pid_t pid);
/// "1.5 s".
std::string fmt_seconds(double s);
/// "this tool (subreaper)", "init", "ancestor subreaper" or "unexpected": who `adopter` is
/// for a process whose tool is `self` with `ancestors`.
std::string adopter_kind(pid_t adopter, pid_t self, const std::vector<pid_t>& ancestors);

}  // namespace lifecycle_tool
