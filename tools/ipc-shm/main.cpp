// ipc-shm: list ipckit's named shared memory segments, remove one, collect those nobody uses any more.
#include <ipc/errors.hpp>
#include <ipc/shared_memory.hpp>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

namespace {

using json = nlohmann::ordered_json;

std::string octal_mode(mode_t m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m));
  return buf;
}

/// `s` with control characters shown as \xNN: names made before they were refused could
/// otherwise break a line of the listing.
std::string printable(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

json to_json(const ipc::SegmentInfo& s) {
  return json{{"name", s.name},
              {"valid", s.valid},
              {"kind", s.kind.empty() ? json(nullptr) : json(s.kind)},
              {"kind_tag", s.kind_tag.empty() ? json(nullptr) : json(s.kind_tag)},
              {"type", s.type_name.empty() ? json(nullptr) : json(s.type_name)},
              {"size", s.size},
              {"creator_pid", s.creator_pid ? json(s.creator_pid) : json(nullptr)},
              {"creator_alive", s.creator_pid ? json(s.creator_alive) : json(nullptr)},
              {"creating", s.creating},
              {"users", s.users},
              {"uid", s.uid},
              {"mode", octal_mode(s.mode)},
              {"problem", s.problem.empty() ? json(nullptr) : json(s.problem)}};
}

std::string users_text(const std::vector<pid_t>& users) {
  if (users.empty()) return "-";
  std::string s = std::to_string(users[0]);
  if (users.size() > 1) s += ",+" + std::to_string(users.size() - 1);
  return s;
}

int list(bool as_json) {
  auto segs = ipc::list_segments();
  if (as_json) {
    json arr = json::array();
    for (auto& s : segs) arr.push_back(to_json(s));
    std::cout << json{{"segments", arr}}.dump() << "\n";
    return 0;
  }
  std::size_t w = 4, kw = 4, tw = 4;
  for (auto& s : segs) {
    w = std::max(w, printable(s.name).size());
    kw = std::max(kw, s.kind.size());
    tw = std::max(tw, s.type_name.size());
  }
  std::printf("%-*s  %-*s  %-*s  %12s  %8s  %-5s  %-10s  %s\n", static_cast<int>(w), "NAME", static_cast<int>(kw),
              "KIND", static_cast<int>(tw), "TYPE", "SIZE", "CREATOR", "ALIVE", "USERS", "MODE");
  for (auto& s : segs) {
    std::string pid = s.creator_pid ? std::to_string(s.creator_pid) : "-";
    std::string alive = s.creator_pid ? (s.creator_alive ? "yes" : "no") : "-";
    std::string problem = s.creating ? "being created" : s.problem;
    std::printf("%-*s  %-*s  %-*s  %12zu  %8s  %-5s  %-10s  %s%s\n", static_cast<int>(w), printable(s.name).c_str(),
                static_cast<int>(kw), s.kind.empty() ? "?" : s.kind.c_str(), static_cast<int>(tw),
                s.type_name.empty() ? "-" : s.type_name.c_str(), s.size, pid.c_str(), alive.c_str(),
                users_text(s.users).c_str(), octal_mode(s.mode).c_str(),
                problem.empty() ? "" : ("  (" + problem + ")").c_str());
  }
  return 0;
}

int remove(const std::vector<std::string>& names, bool as_json) {
  json removed = json::array(), missing = json::array();
  for (auto& n : names) {
    auto full = ipc::SharedMemory::full_name(n);
    if (ipc::SharedMemory::unlink(full))
      removed.push_back(full);
    else
      missing.push_back(full);
  }
  if (as_json) {
    std::cout << json{{"removed", removed}, {"missing", missing}}.dump() << "\n";
  } else {
    for (auto& r : removed) std::printf("removed %s\n", r.get<std::string>().c_str());
    for (auto& m : missing) std::fprintf(stderr, "ipc-shm: error: %s: no such segment\n", m.get<std::string>().c_str());
  }
  return missing.empty() ? 0 : 1;
}

int collect(bool as_json, bool dry_run, const std::string& prefix) {
  auto decisions = ipc::gc_segments(prefix, dry_run);
  if (as_json) {
    json names = json::array(), all = json::array();
    for (auto& d : decisions) {
      if (d.remove) names.push_back(d.name);
      all.push_back(json{{"name", d.name}, {"action", d.remove ? (dry_run ? "would remove" : "removed") : "kept"},
                         {"reason", d.reason}});
    }
    std::cout << json{{dry_run ? "would_remove" : "removed", names}, {"decisions", all}}.dump() << "\n";
  } else {
    for (auto& d : decisions) {
      const char* action = d.remove ? (dry_run ? "would remove" : "removed") : (dry_run ? "would keep" : "kept");
      // Removals alone, as before, unless asked why: the reasons of the kept ones are for --dry-run.
      if (d.remove || dry_run) std::printf("%s %s: %s\n", action, printable(d.name).c_str(), d.reason.c_str());
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ipc-shm: list ipckit's named shared memory segments (/dev/shm/ipckit-*) with their kind,\n"
               "element type, size, creator and the processes using them; remove them; collect those whose\n"
               "creator is gone and that no process maps or holds open. Without a subcommand: list."};
  app.set_version_flag("--version", "ipc-shm (ipckit) 0.1.0");
  bool as_json = false;
  app.add_flag("--json", as_json, "print one JSON object instead of text");
  auto* ls = app.add_subcommand("list", "list the segments (default)");
  ls->add_flag("--json", as_json, "print one JSON object instead of text");
  std::vector<std::string> names;
  auto* rm = app.add_subcommand("rm", "remove the named segments (NAME, or the full name /ipckit-NAME that list "
                                      "shows); exit 1 if one is missing");
  rm->add_option("NAME", names, "segment names")->required();
  rm->add_flag("--json", as_json, "print one JSON object instead of text");
  bool dry_run = false;
  auto* gc = app.add_subcommand("gc", "remove the segments whose creator is gone and that no process maps or holds "
                                      "open (as seen in /proc: all processes as root, your own otherwise), and the "
                                      "temporary names of creates that were killed");
  gc->add_flag("--json", as_json, "print one JSON object instead of text");
  gc->add_flag("-n,--dry-run", dry_run, "remove nothing; say for each segment whether it would be removed and why");
  std::string prefix;
  gc->add_option("--prefix", prefix, "only segments whose name starts with this (NAME, or /ipckit-NAME)");
  app.require_subcommand(0, 1);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }

  try {
    if (*rm) return remove(names, as_json);
    if (*gc) return collect(as_json, dry_run, prefix);
    return list(as_json);
  } catch (const ipc::ValueError& e) {
    std::fprintf(stderr, "ipc-shm: error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ipc-shm: error: %s\n", e.what());
    return 1;
  }
}
