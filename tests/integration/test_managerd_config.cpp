// ipc-managerd's configuration file: redis.conf-style lines parsed, applied to the options with
// the command line winning, and refused with the file and line when unknown or malformed.
#include <doctest/doctest.h>

#include <CLI/CLI.hpp>

#include <filesystem>
#include <fstream>

#include "config_file.hpp"
#include "managerd_support.hpp"

using namespace ipc::test;
using ipc::managerd::ConfigFileError;

namespace {

std::filesystem::path write_file(const TempDir& dir, const std::string& name, const std::string& text) {
  auto p = dir / name;
  std::ofstream(p) << text;
  return p;
}

/// What apply_config leaves in a small app of the daemon's kinds of options.
struct Parsed {
  std::string socket;
  std::vector<std::string> saves;
  bool verbose = false;
  int maxclients = 0;
  std::vector<std::pair<std::string, std::string>> applied;
};

Parsed parse(const std::vector<std::string>& args, const std::string& text) {
  Parsed r;
  CLI::App app;
  app.add_option("--socket", r.socket);
  app.add_option("--save", r.saves);
  app.add_flag("-v,--verbose", r.verbose);
  app.add_option("--maxclients", r.maxclients)->check(CLI::Range(1, 100));
  std::vector<std::string> argv{"prog"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<const char*> cargv;
  for (auto& a : argv) cargv.push_back(a.c_str());
  app.parse(static_cast<int>(cargv.size()), cargv.data());
  r.applied = ipc::managerd::apply_config(app, ipc::managerd::parse_config(text, "m.conf"));
  return r;
}

std::string error_of(const std::string& text) {
  try {
    parse({}, text);
  } catch (const ConfigFileError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_SUITE("managerd configuration file") {
  TEST_CASE("lines become directives with quotes comments and blank lines handled") {
    auto ds = ipc::managerd::parse_config(
        "# comment\n\n  SOCKET /run/x.sock\nsave 3600 1\nsave \"\"\nlogfile \"/var/log/a b.log\"\n\tverbose yes\r\n",
        "m.conf");
    REQUIRE(ds.size() == 5);
    CHECK(ds[0].name == "socket");
    CHECK(ds[0].value == "/run/x.sock");
    CHECK(ds[0].origin == "m.conf:3");
    CHECK(ds[1].value == "3600 1");
    CHECK(ds[2].value == "");
    CHECK(ds[3].value == "/var/log/a b.log");
    CHECK(ds[4].name == "verbose");
    CHECK(ds[4].value == "yes");
    CHECK(ds[4].origin == "m.conf:7");
  }

  TEST_CASE("the file fills unset options and the command line wins") {
    auto r = parse({"--socket", "/cli.sock"},
                   "socket /file.sock\nsave 3600 1\nsave 60 5\nverbose yes\nmaxclients 7\nmaxclients 9\n");
    CHECK(r.socket == "/cli.sock");
    CHECK(r.saves == std::vector<std::string>{"3600 1", "60 5"});  // repeatable: every line
    CHECK(r.verbose);
    CHECK(r.maxclients == 9);  // a scalar: the last line
    CHECK(r.applied == std::vector<std::pair<std::string, std::string>>{
                           {"--save", "m.conf:3"}, {"--verbose", "m.conf:4"}, {"--maxclients", "m.conf:6"}});

    auto cli = parse({"--save", "1 1", "-v"}, "save 3600 1\nverbose no\n");
    CHECK(cli.saves == std::vector<std::string>{"1 1"});  // the command line replaces the file's list
    CHECK(cli.verbose);
    CHECK_FALSE(parse({}, "verbose no\n").verbose);
  }

  TEST_CASE("unknown and malformed directives are refused with file and line") {
    CHECK(error_of("socket /a\n\nbogus 1\n") == "m.conf:3: unknown directive 'bogus'");
    CHECK(error_of("help yes\n") == "m.conf:1: unknown directive 'help'");
    CHECK(error_of("--socket /a\n") == "m.conf:1: unknown directive '--socket'");
    CHECK(error_of("socket\n") == "m.conf:1: directive 'socket' needs a value");
    CHECK(error_of("socket \"/a\n") == "m.conf:1: unbalanced quotes");
    CHECK(error_of("socket \"/a\"b\n") == "m.conf:1: a closing quote must be followed by a blank");
    CHECK(error_of("\nverbose maybe\n") == "m.conf:2: verbose takes yes or no, not 'maybe'");
    CHECK(error_of("maxclients many\n").starts_with("m.conf:1: maxclients: "));
    CHECK(error_of("maxclients 1000\n").starts_with("m.conf:1: maxclients: "));
  }

  TEST_CASE("the daemon takes its snapshot path and maxclients from the file and the command line wins" * doctest::timeout(60)) {
    TempDir dir;
    auto conf = write_file(dir, "managerd.conf",
                           "# test configuration\nsnapshot " + (dir / "file.snap").string() + "\nmaxclients 50\n");
    {
      auto s = ServerProcess::managerd(dir, {conf.string()});
      RespClient c(s.socket());
      CHECK(c.cmd({"SET", "k", "v"}).str == "OK");
      CHECK(c.cmd({"SAVE"}).str == "OK");
      CHECK(std::filesystem::exists(dir / "file.snap"));
      auto maxclients = c.cmd({"CONFIG", "GET", "maxclients"});  // CONFIG GET reports the file's value
      REQUIRE(maxclients.elements.size() == 2);
      CHECK(maxclients.elements[1].str == "50");
    }
    std::filesystem::remove(dir / "file.snap");
    {
      auto s = ServerProcess::managerd(dir, {conf.string(), "--snapshot", (dir / "cli.snap").string()});
      RespClient c(s.socket());
      CHECK(c.cmd({"SAVE"}).str == "OK");
      CHECK(std::filesystem::exists(dir / "cli.snap"));
      CHECK_FALSE(std::filesystem::exists(dir / "file.snap"));
    }
  }

  TEST_CASE("the daemon refuses a bad file with its name and line and exit code 2" * doctest::timeout(60)) {
    TempDir dir;
    auto bad = write_file(dir, "bad.conf", "socket /tmp/x.sock\nmaxmemory 10zb\n");
    auto [rc, err] = ServerProcess::run_managerd({bad.string()});
    CHECK(rc == 2);
    CHECK(err.find(bad.string() + ":2: --maxmemory: unknown unit in 10zb") != std::string::npos);

    auto unknown = write_file(dir, "unknown.conf", "\n# x\nport 6379\n");
    std::tie(rc, err) = ServerProcess::run_managerd({unknown.string()});
    CHECK(rc == 2);
    CHECK(err.find(unknown.string() + ":3: unknown directive 'port'") != std::string::npos);

    std::tie(rc, err) = ServerProcess::run_managerd({(dir / "missing.conf").string()});
    CHECK(rc == 2);
    CHECK(err.find("missing.conf: cannot read the configuration file") != std::string::npos);
  }
}
