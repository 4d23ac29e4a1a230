// ipc-managerd's configuration file: redis.conf-style "directive value" lines whose directives
// are the command-line options without "--"; the command line wins over the file.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace CLI {
class App;
}

namespace ipc::managerd {

/// An unknown directive, a malformed line or a bad value; what() starts with "<file>:<line>: ".
class ConfigFileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// One "directive value" line of a configuration file.
struct ConfigDirective {
  std::string name;    ///< lower-cased: "maxmemory"
  std::string value;   ///< the arguments joined by one space, quotes removed: "3600 1"
  std::string origin;  ///< "<file>:<line>"
};

/// The arguments of one line (Redis's sdssplitargs, without its hex escapes): blank-separated,
/// "double-quoted" (with \" \\ \n \t escapes) or 'single-quoted'. Throws ConfigFileError, its
/// message starting with `origin`, for unbalanced quotes or a closing quote not followed by a blank.
std::vector<std::string> split_config_args(std::string_view line, const std::string& origin);

/// Parses configuration text. Lines are trimmed; empty lines and lines starting with '#' are
/// skipped; arguments are separated by blanks and may be "double-quoted" (with \" \\ \n \t
/// escapes) or 'single-quoted'. Throws ConfigFileError for unbalanced quotes or a directive
/// without a value. `path` names the file in the origins.
std::vector<ConfigDirective> parse_config(std::string_view text, const std::string& path);

/// Reads and parses the file `path`. Throws ConfigFileError when it cannot be read or parsed.
std::vector<ConfigDirective> read_config_file(const std::string& path);

/// Sets, after `app` parsed the command line, each option named by a directive that the command
/// line did not give. A repeated directive adds a value to a repeatable option (--save,
/// --allow-uid) and replaces the value of any other; flags take yes or no. Returns the options
/// set from the file with the origin of their last line ("--maxmemory", "<file>:<line>").
/// Throws ConfigFileError for an unknown directive or a value the option refuses.
std::vector<std::pair<std::string, std::string>> apply_config(CLI::App& app,
                                                              const std::vector<ConfigDirective>& directives);

}  // namespace ipc::managerd
