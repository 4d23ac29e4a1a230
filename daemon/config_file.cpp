// ipc-managerd's configuration file: parsing redis.conf-style lines and applying them to the
// command-line options (CLI11), so that every option is a directive and the command line wins.
#include "config_file.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace ipc::managerd {

namespace {

bool blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

std::string join(const std::vector<std::string>& args, std::size_t from) {
  std::string out;
  for (std::size_t i = from; i < args.size(); ++i) out += (i > from ? " " : "") + args[i];
  return out;
}

}  // namespace

std::vector<ConfigDirective> parse_config(std::string_view text, const std::string& path) {
  std::vector<ConfigDirective> out;
  std::size_t lineno = 0;
  while (!text.empty()) {
    ++lineno;
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    std::size_t start = 0;
    while (start < line.size() && blank(line[start])) ++start;
    line.remove_prefix(start);
    if (line.empty() || line.front() == '#') continue;
    const std::string origin = path + ":" + std::to_string(lineno);
    auto args = split_config_args(line, origin);
    std::string name = args[0];
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    if (args.size() < 2) throw ConfigFileError(origin + ": directive '" + name + "' needs a value");
    out.push_back({std::move(name), join(args, 1), origin});
  }
  return out;
}

std::vector<ConfigDirective> read_config_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw ConfigFileError(path + ": cannot read the configuration file: " + std::strerror(errno));
  std::ostringstream text;
  text << f.rdbuf();
  if (f.bad()) throw ConfigFileError(path + ": cannot read the configuration file");
  return parse_config(text.str(), path);
}

std::vector<std::pair<std::string, std::string>> apply_config(CLI::App& app,
                                                              const std::vector<ConfigDirective>& directives) {
  // Group the lines by option, in file order, before touching any: the command line's count
  // must be read before the file adds to it.
  std::vector<CLI::Option*> order;
  std::map<CLI::Option*, std::vector<const ConfigDirective*>> lines;
  for (const auto& d : directives) {
    CLI::Option* opt = nullptr;
    if (d.name != "help" && d.name != "version" && !d.name.empty() && d.name[0] != '-')
      opt = app.get_option_no_throw("--" + d.name);
    if (opt == nullptr || !opt->get_configurable())
      throw ConfigFileError(d.origin + ": unknown directive '" + d.name + "'");
    if (!lines.contains(opt)) order.push_back(opt);
    lines[opt].push_back(&d);
  }
  std::vector<std::pair<std::string, std::string>> applied;
  for (CLI::Option* opt : order) {
    if (opt->count() > 0) continue;  // the command line wins
    const auto& ds = lines[opt];
    const bool flag = opt->get_expected_max() == 0;  // add_flag sets expected(0)
    const bool repeatable = !flag && opt->get_items_expected_max() > 1;
    const ConfigDirective* last = ds.back();
    try {
      for (const ConfigDirective* d : ds) {
        if (!repeatable && d != last) continue;  // a scalar's last line wins
        if (flag) {
          if (d->value != "yes" && d->value != "no")
            throw ConfigFileError(d->origin + ": " + d->name + " takes yes or no, not '" + d->value + "'");
          opt->add_result(d->value == "yes" ? "true" : "false");
        } else {
          opt->add_result(d->value);
        }
      }
      opt->run_callback();
    } catch (const CLI::Error& e) {
      throw ConfigFileError(last->origin + ": " + last->name + ": " + e.what());
    }
    applied.emplace_back("--" + last->name, last->origin);
  }
  return applied;
}

}  // namespace ipc::managerd
