// Splitting a configuration line into arguments (Redis's sdssplitargs): shared by the
// configuration file reader (the program) and CONFIG REWRITE (the engine).
#include "config_file.hpp"

namespace ipc::managerd {

namespace {

bool blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

}  // namespace

std::vector<std::string> split_config_args(std::string_view line, const std::string& origin) {
  std::vector<std::string> args;
  std::size_t i = 0;
  while (true) {
    while (i < line.size() && blank(line[i])) ++i;
    if (i == line.size()) return args;
    std::string arg;
    if (line[i] == '"' || line[i] == '\'') {
      const char quote = line[i++];
      bool closed = false;
      while (i < line.size()) {
        char c = line[i++];
        if (c == quote) {
          closed = true;
          break;
        }
        if (quote == '"' && c == '\\' && i < line.size()) {
          char e = line[i++];
          c = e == 'n' ? '\n' : e == 't' ? '\t' : e;
        }
        arg += c;
      }
      if (!closed) throw ConfigFileError(origin + ": unbalanced quotes");
      if (i < line.size() && !blank(line[i]))
        throw ConfigFileError(origin + ": a closing quote must be followed by a blank");
    } else {
      while (i < line.size() && !blank(line[i])) arg += line[i++];
    }
    args.push_back(std::move(arg));
  }
}

}  // namespace ipc::managerd
