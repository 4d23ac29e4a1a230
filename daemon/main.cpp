// ipc-managerd: parses the command line (CLI11) and the configuration file, and runs the manager daemon's engine.
#include "config_file.hpp"
#include "server.hpp"

#include <ipc/lifecycle.hpp>

#include <CLI/CLI.hpp>

#include <sys/stat.h>

#include <cctype>
#include <climits>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

// "100mb", "2G", "4096" -> bytes (Redis's memtoull units: k/kb/m/mb/g/gb); `option` names it in errors.
std::size_t parse_size(const std::string& s, const std::string& option) {
  std::size_t i = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
  if (i == 0) throw CLI::ValidationError(option, "not a size: " + s);
  unsigned long long n = std::stoull(s.substr(0, i));
  std::string unit = s.substr(i);
  for (auto& ch : unit) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  unsigned long long mul = 1;
  if (unit.empty() || unit == "b") mul = 1;
  else if (unit == "k") mul = 1000;
  else if (unit == "kb") mul = 1024;
  else if (unit == "m") mul = 1000 * 1000;
  else if (unit == "mb") mul = 1024 * 1024;
  else if (unit == "g") mul = 1000ULL * 1000 * 1000;
  else if (unit == "gb") mul = 1024ULL * 1024 * 1024;
  else throw CLI::ValidationError(option, "unknown unit in " + s);
  return static_cast<std::size_t>(n * mul);
}

std::string read_password(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error("cannot read --requirepass-file " + path);
  std::string pass;
  std::getline(f, pass);
  while (!pass.empty() && (pass.back() == '\r' || pass.back() == ' ')) pass.pop_back();
  if (pass.empty()) throw std::runtime_error("--requirepass-file " + path + " is empty");
  struct stat st{};
  if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 077))
    ipc::managerd::log(ipc::managerd::LogLevel::warning, "password file " + path + " is readable by others");
  return pass;
}

int managerd_main(int argc, char** argv) {
  using namespace ipc::managerd;
  Options o;
  CLI::App app{"ipc-managerd: the ipckit manager daemon (shared dicts, lists, counters over RESP)"};
  app.set_version_flag("--version", "ipc-managerd 0.1.0");
  std::string tcp, passfile, maxmemory, bulk, qbuf, obuf, aof_min, fsync = "everysec";
  std::vector<std::string> saves;
  bool no_unix = false, no_save_on_shutdown = false, daemonize = false;
  std::string pidfile, config_path;
  app.add_option("config", config_path,
                 "Configuration file of \"directive value\" lines (redis.conf-style): the long options without "
                 "\"--\"; flags take yes or no. The command line wins over the file.")
      ->configurable(false);
  app.add_option("--socket", o.socket_path, "Unix socket path (default " + default_socket_path() + ")");
  app.add_flag("--no-unix", no_unix, "Do not listen on a Unix socket (TCP only)");
  app.add_option("--tcp", tcp, "Also listen on TCP HOST:PORT (needs --requirepass-file)");
  app.add_option("--requirepass-file", passfile, "File whose first line is the password clients AUTH with");
  app.add_option("--allow-uid", o.allow_uids, "Also accept Unix-socket peers with this uid (repeatable)");
  app.add_option("--snapshot", o.snapshot, "Snapshot file: loaded at start, written by SAVE/BGSAVE/SIGTERM");
  app.add_option("--save", saves, "\"SECONDS CHANGES\": snapshot when both are reached (repeatable; \"\" = never)");
  app.add_flag("--no-save-on-shutdown", no_save_on_shutdown, "Do not write the snapshot on SIGTERM/SIGINT");
  app.add_option("--appendonly", o.appendonly, "Append-only log file, replayed at start");
  app.add_option("--appendfsync", fsync, "always | everysec | no")->check(CLI::IsMember({"always", "everysec", "no"}));
  app.add_option("--auto-aof-rewrite-percentage", o.auto_aof_rewrite_percentage,
                 "Rewrite the append-only log when it grew by this % since the last rewrite (0 = never; default 100)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--auto-aof-rewrite-min-size", aof_min, "... and is at least this large (default 64mb)");
  app.add_option("--maxclients", o.maxclients, "Maximum connected clients");
  app.add_option("--databases", o.databases, "Number of databases (SELECT 0 .. N-1; default 16)")->check(CLI::Range(1, 1000000));
  app.add_option("--maxmemory", maxmemory, "Refuse writes past this much memory (e.g. 100mb); 0 = no limit");
  app.add_option("--proto-max-bulk-len", bulk, "Largest string a request may carry (default 512mb)");
  app.add_option("--client-query-buffer-limit", qbuf, "Largest unparsed input per client (default 1gb)");
  app.add_option("--client-output-buffer-limit", obuf,
                 "Close a client whose unsent replies pass this (default 1gb; checked while EXEC builds its reply)");
  app.add_option("--busy-poll-us", o.busy_poll_us, "After a busy iteration, poll this many microseconds for more requests before sleeping (0 = off)");
  app.add_option("--logfile", o.logfile, "Log to this file (reopened on SIGHUP) instead of stderr");
  app.add_flag("-v,--verbose", o.verbose, "Log debug lines too");
  app.add_flag("--daemonize", daemonize, "Detach (double fork, setsid, chdir /); returns once the server listens");
  app.add_option("--pidfile", pidfile, "Write and lock this pidfile; a second server with it refuses to start");
  // Redis's parameters that CONFIG SET changes and CONFIG REWRITE writes back to the file.
  const std::string redis_group = "Redis parameters (CONFIG GET/SET, written back by CONFIG REWRITE)";
  std::string keyspace_events, maxmemory_policy;
  app.add_option("--notify-keyspace-events", keyspace_events, "Keyspace notification classes (Redis's letters, e.g. KEA)")
      ->group(redis_group);
  app.add_option("--maxmemory-policy", maxmemory_policy, "Only noeviction (writes past --maxmemory are refused)")
      ->check(CLI::IsMember({"noeviction"}))
      ->group(redis_group);
  app.add_option("--min-replicas-to-write,--min-slaves-to-write", o.min_replicas_to_write,
                 "Refuse writes unless this many replicas are connected (none ever are: 0 = off)")
      ->check(CLI::Range(0LL, static_cast<long long>(INT_MAX)))
      ->group(redis_group);
  app.add_option("--min-replicas-max-lag,--min-slaves-max-lag", o.min_replicas_max_lag,
                 "Seconds within which such a replica must have answered (default 10)")
      ->check(CLI::Range(0LL, static_cast<long long>(INT_MAX)))
      ->group(redis_group);
  app.add_option("--repl-ping-replica-period,--repl-ping-slave-period", o.repl_ping_replica_period,
                 "Seconds between PINGs in a replica's stream (default 10)")
      ->check(CLI::Range(1LL, static_cast<long long>(INT_MAX)))
      ->group(redis_group);
  for (auto& [name, value] : o.encoding_tunables) {
    // The hash and zset ones decide representations; the others are kept for CONFIG GET/SET.
    std::string names = "--" + name;
    if (name.find("listpack") != std::string::npos) {  // each has its Redis 6 "ziplist" name too
      std::string old = name;
      old.replace(old.find("listpack"), 8, "ziplist");
      names += ",--" + old;
    }
    long long lo = name == "list-max-listpack-size" ? INT_MIN : 0;
    long long hi = name.starts_with("list-") ? INT_MAX : LLONG_MAX;
    app.add_option(names, value, "Redis's representation threshold (default " + std::to_string(value) + ")")
        ->check(CLI::Range(lo, hi))
        ->group(redis_group);
  }
  app.add_option("--ready-fd", o.ready_fd, "Write \"1\" to this fd once listening")->group("");
  app.add_option("--port-file", o.port_file, "Write the TCP port here once listening")->group("");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  // The file fills the options the command line left unset (CONFIG GET then reports its values).
  std::vector<std::pair<std::string, std::string>> from_file;
  try {
    if (!config_path.empty()) from_file = apply_config(app, read_config_file(config_path));
  } catch (const ConfigFileError& e) {
    std::fprintf(stderr, "ipc-managerd: error: %s\n", e.what());
    return 2;
  }
  try {
    o.unix_socket = !no_unix;
    if (!keyspace_events.empty()) {
      o.notify_keyspace_events = keyspace_events_parse(keyspace_events);
      if (o.notify_keyspace_events < 0)
        throw CLI::ValidationError("--notify-keyspace-events",
                                   "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.");
    }
    o.save_on_shutdown = !no_save_on_shutdown;
    o.appendfsync = fsync == "always" ? FsyncPolicy::always : fsync == "no" ? FsyncPolicy::no : FsyncPolicy::everysec;
    if (!maxmemory.empty()) o.maxmemory = parse_size(maxmemory, "--maxmemory");
    if (!bulk.empty()) o.proto_max_bulk_len = parse_size(bulk, "--proto-max-bulk-len");
    if (!qbuf.empty()) o.client_query_buffer_limit = parse_size(qbuf, "--client-query-buffer-limit");
    if (!obuf.empty()) o.client_output_buffer_limit = parse_size(obuf, "--client-output-buffer-limit");
    if (!aof_min.empty()) o.auto_aof_rewrite_min_size = parse_size(aof_min, "--auto-aof-rewrite-min-size");
    if (!tcp.empty()) {
      auto colon = tcp.rfind(':');
      o.tcp_host = colon == std::string::npos ? "127.0.0.1" : tcp.substr(0, colon);
      o.tcp_port = std::stoi(colon == std::string::npos ? tcp : tcp.substr(colon + 1));
      if (o.tcp_port < 0 || o.tcp_port > 65535) throw CLI::ValidationError("--tcp", "bad port in " + tcp);
    }
    if (!passfile.empty()) o.requirepass = read_password(passfile);
    if (!tcp.empty() && o.requirepass.empty())
      throw CLI::ValidationError("--tcp", "--tcp needs --requirepass-file (TCP clients must authenticate)");
    if (no_unix && tcp.empty()) throw CLI::ValidationError("--no-unix", "--no-unix needs --tcp");
    bool saves_given = !saves.empty();
    for (auto& s : saves) {
      if (s.empty()) continue;
      long secs = 0, changes = 0;
      if (std::sscanf(s.c_str(), "%ld %ld", &secs, &changes) != 2 || secs <= 0 || changes <= 0)
        throw CLI::ValidationError("--save", "expected \"SECONDS CHANGES\", got \"" + s + "\"");
      o.save_points.emplace_back(secs, changes);
    }
    if (!saves_given && !o.snapshot.empty()) o.save_points = {{3600, 1}, {300, 100}, {60, 10000}};
  } catch (const CLI::Error& e) {
    // A value that came from the file is reported with its file and line.
    std::string where;
    for (const auto& [option, origin] : from_file)
      if (std::string_view(e.what()).starts_with(option + ":")) where = origin + ": ";
    std::fprintf(stderr, "ipc-managerd: error: %s%s\n", where.c_str(), e.what());
    return 2;
  }
  // Paths are made absolute: a daemon works from "/".
  auto absolute = [](std::string& p) {
    if (!p.empty()) p = std::filesystem::absolute(p).string();
  };
  o.config_file = config_path;
  for (std::string* p : {&o.config_file, &o.socket_path, &o.snapshot, &o.appendonly, &o.logfile, &o.port_file, &pidfile}) absolute(*p);
  if (!daemonize) {
    ipc::Pidfile pf;
    if (!pidfile.empty()) {
      pf = ipc::Pidfile::acquire(pidfile);  // throws AlreadyRunning for a second instance
      pf.write();
    }
    return run_server(std::move(o));
  }
  ipc::DaemonOptions d;
  d.pidfile = pidfile;
  d.log_file = o.logfile;
  d.umask = 077;
  d.wait_for_ready = true;
  ipc::Daemon daemon = ipc::daemonize(d);
  if (!daemon.is_daemon()) {
    std::printf("ipc-managerd: running as pid %d\n", static_cast<int>(daemon.pid()));
    return 0;
  }
  o.on_ready = [&daemon] { daemon.ready(); };
  try {
    return run_server(std::move(o));
  } catch (const std::exception& e) {
    daemon.fail(e.what());
    return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return managerd_main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ipc-managerd: error: %s\n", e.what());
    return 1;
  }
}
