// ipc-ctl: command-line client for ipc-managerd (any RESP server): one command, or interactive.
#include <ipc/detail/resp.hpp>
#include <ipc/detail/resp_client.hpp>
#include <ipc/errors.hpp>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <editline/readline.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

namespace {

using ipc::detail::RespConnection;
using ipc::detail::resp::Reply;

nlohmann::json to_json(const Reply& r) {
  switch (r.type) {
    case Reply::Type::simple: case Reply::Type::bulk: return r.str;
    case Reply::Type::error: return nlohmann::json{{"error", r.str}};
    case Reply::Type::integer: return r.integer;
    case Reply::Type::nil: case Reply::Type::nil_array: return nullptr;
    case Reply::Type::array: {
      auto a = nlohmann::json::array();
      for (auto& e : r.elements) a.push_back(to_json(e));
      return a;
    }
  }
  return nullptr;
}

// Replies that are field/value pairs on the wire (HGETALL) become a JSON object: {"f": "v", ...}.
nlohmann::json to_json(const Reply& r, std::string_view command) {
  if (command == "hgetall" && r.type == Reply::Type::array && r.elements.size() % 2 == 0) {
    auto o = nlohmann::json::object();
    for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2) o[r.elements[i].str] = to_json(r.elements[i + 1]);
    return o;
  }
  return to_json(r);
}

// redis-cli's --no-raw output on a terminal, raw output (one value per line) otherwise.
// `command` is the lower-cased command name (it shapes the JSON of some replies).
std::string render(const Reply& r, bool json, bool tty, std::string_view command = {}) {
  if (json) return to_json(r, command).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (tty) return ipc::detail::resp::format_reply(r);
  switch (r.type) {
    case Reply::Type::nil: case Reply::Type::nil_array: return "";
    case Reply::Type::integer: return std::to_string(r.integer);
    case Reply::Type::array: {
      std::string s;
      for (std::size_t i = 0; i < r.elements.size(); ++i) s += (i ? "\n" : "") + render(r.elements[i], false, false);
      return s;
    }
    default: return r.str;
  }
}

struct Ctl {
  std::string socket, tcp, pass_file;
  bool json = false;
  std::optional<double> timeout;
  ipc::Timeout limit() const {
    if (!timeout) return {};
    return std::chrono::duration<double>(*timeout);
  }
};

RespConnection connect(const Ctl& o) {
  RespConnection conn = [&] {
    if (!o.tcp.empty()) {
      auto colon = o.tcp.rfind(':');
      if (colon == std::string::npos) throw CLI::ValidationError("--tcp", "expected HOST:PORT");
      return RespConnection::tcp(o.tcp.substr(0, colon), std::stoi(o.tcp.substr(colon + 1)), o.limit());
    }
    return RespConnection::unix_socket(o.socket.empty() ? ipc::detail::default_managerd_socket() : o.socket,
                                       o.limit());
  }();
  if (!o.pass_file.empty()) {
    std::ifstream f(o.pass_file);
    std::string pass;
    if (!f || !std::getline(f, pass)) throw std::runtime_error("cannot read " + o.pass_file);
    auto r = conn.call({"AUTH", pass}, o.limit());
    if (r.type == Reply::Type::error) throw ipc::AuthenticationError(r.str);
  }
  return conn;
}

// Splits a line like redis-cli does (quotes, \x escapes), with the server's own inline parser.
bool split(const std::string& line, std::vector<std::string>& out) {
  ipc::detail::resp::RequestParser p;
  std::string l = line + "\n";
  auto st = p.parse(l);
  out.clear();
  if (st == ipc::detail::resp::Status::error) return false;
  for (auto a : p.args()) out.emplace_back(a);
  return true;
}

/// Reads command lines: with line editing and history recall (libedit, the BSD readline) on a
/// terminal, plain lines otherwise.
class LineReader {
 public:
  /// `history_file`: where the history is loaded from and saved to (empty = none).
  LineReader(bool tty, std::string history_file) : m_tty(tty), m_file(std::move(history_file)) {
    if (!m_tty) return;
    ::using_history();
    ::stifle_history(kHistoryLines);
    if (!m_file.empty()) ::read_history(m_file.c_str());
  }
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;
  ~LineReader() {
    if (m_tty && !m_file.empty()) ::write_history(m_file.c_str());
  }

  /// The next line; nullopt at end of input (Ctrl-D on a terminal).
  std::optional<std::string> next() {
    if (!m_tty) {
      std::string line;
      if (!std::getline(std::cin, line)) return std::nullopt;
      return line;
    }
    char* raw = ::readline("ipc-ctl> ");
    if (!raw) return std::nullopt;
    std::string line(raw);
    std::free(raw);
    return line;
  }

  /// Records a command in the history (recalled with the up arrow, saved at exit).
  void remember(const std::string& line) {
    if (m_tty) ::add_history(line.c_str());
  }

 private:
  static constexpr int kHistoryLines = 1000;
  bool m_tty;
  std::string m_file;
};

int interactive(RespConnection& conn, const Ctl& o) {
  bool tty = ::isatty(0) && ::isatty(1);
  const char* home = std::getenv("HOME");
  const char* hist_env = std::getenv("IPC_CTL_HISTFILE");
  std::string hist = hist_env ? std::string(hist_env) : home ? std::string(home) + "/.ipc-ctl_history" : std::string();
  LineReader reader(tty, hist);
  int rc = 0;
  while (auto line = reader.next()) {
    std::vector<std::string> args;
    if (!split(*line, args)) {
      std::fprintf(stderr, "ipc-ctl: error: unbalanced quotes\n");
      rc = 1;
      continue;
    }
    if (args.empty()) continue;
    reader.remember(*line);
    std::string first = args[0];
    for (auto& ch : first) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (first == "exit" || first == "quit") break;
    std::vector<std::string_view> v(args.begin(), args.end());
    Reply r = conn.call(v, o.limit());
    std::printf("%s\n", render(r, o.json, tty, first).c_str());
    std::fflush(stdout);
    if (r.type == Reply::Type::error) rc = 1;
  }
  return rc;
}

int ctl_main(int argc, char** argv) {
  Ctl o;
  std::vector<std::string> command;
  CLI::App app{"ipc-ctl: talk to ipc-managerd (or any Redis server). Without a command: interactive."};
  app.set_version_flag("--version", "ipc-ctl 0.1.0");
  auto* sock = app.add_option("-s,--socket", o.socket, "Unix socket (default " + ipc::detail::default_managerd_socket() + ")");
  app.add_option("--tcp", o.tcp, "HOST:PORT instead of the Unix socket")->excludes(sock);
  app.add_option("--pass-file", o.pass_file, "File whose first line is the password (AUTH)");
  app.add_flag("--json", o.json, "Print replies as JSON (errors as {\"error\": ...})");
  app.add_option("-t,--timeout", o.timeout, "Seconds to wait for a reply (default: no limit)");
  // Everything from the command on is the command's ("ipc-ctl echo -s" echoes "-s").
  app.prefix_command();
  app.footer("Command: CMD [ARGS...], e.g. ping, info, hset h k v, lrange l 0 -1, save, shutdown");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  command = app.remaining();
  if (!command.empty() && command[0].size() > 1 && command[0][0] == '-') {
    std::fprintf(stderr, "ipc-ctl: error: unknown option %s (run with --help)\n", command[0].c_str());
    return 2;
  }
  RespConnection conn = connect(o);
  if (command.empty()) return interactive(conn, o);
  std::vector<std::string_view> v(command.begin(), command.end());
  std::string first = command[0];
  for (auto& ch : first) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  Reply r;
  try {
    r = conn.call(v, o.limit());
  } catch (const ipc::ConnectionClosed&) {
    if (first == "shutdown") return 0;  // the server closes the connection when it stops
    throw;
  }
  std::string out = render(r, o.json, ::isatty(1), first);
  if (r.type == Reply::Type::error && !o.json) {
    std::fprintf(stderr, "%s\n", out.c_str());
    return 1;
  }
  std::printf("%s\n", out.c_str());
  return r.type == Reply::Type::error ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return ctl_main(argc, argv);
  } catch (const CLI::Error& e) {
    std::fprintf(stderr, "ipc-ctl: error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ipc-ctl: error: %s\n", e.what());
    return 1;
  }
}
