// ipc-shm: list ipckit's named shared memory segments, remove one, collect those whose creator died.
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

json to_json(const ipc::SegmentInfo& s) {
  return json{{"name", s.name},
              {"valid", s.valid},
              {"kind", s.valid ? json(s.kind) : json(nullptr)},
              {"size", s.size},
              {"creator_pid", s.creator_pid ? json(s.creator_pid) : json(nullptr)},
              {"creator_alive", s.creator_pid ? json(s.creator_alive) : json(nullptr)},
              {"uid", s.uid},
              {"mode", octal_mode(s.mode)},
              {"problem", s.problem.empty() ? json(nullptr) : json(s.problem)}};
}

int list(bool as_json) {
  auto segs = ipc::list_segments();
  if (as_json) {
    json arr = json::array();
    for (auto& s : segs) arr.push_back(to_json(s));
    std::cout << json{{"segments", arr}}.dump() << "\n";
    return 0;
  }
  std::size_t w = 4;
  for (auto& s : segs) w = std::max(w, s.name.size());
  std::printf("%-*s  %-4s  %12s  %8s  %-5s  %-4s\n", static_cast<int>(w), "NAME", "KIND", "SIZE", "CREATOR", "ALIVE",
              "MODE");
  for (auto& s : segs) {
    std::string pid = s.creator_pid ? std::to_string(s.creator_pid) : "-";
    std::string alive = s.creator_pid ? (s.creator_alive ? "yes" : "no") : "-";
    std::printf("%-*s  %-4s  %12zu  %8s  %-5s  %s%s\n", static_cast<int>(w), s.name.c_str(),
                s.valid ? s.kind.c_str() : "?", s.size, pid.c_str(), alive.c_str(), octal_mode(s.mode).c_str(),
                s.problem.empty() ? "" : ("  (" + s.problem + ")").c_str());
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
  std::vector<std::string> names;
  if (dry_run) {
    auto full_prefix = prefix.empty() ? std::string(ipc::SharedMemory::kPrefix) : ipc::SharedMemory::full_name(prefix);
    for (auto& s : ipc::list_segments())
      if (s.name.starts_with(full_prefix) && s.creator_pid > 0 && !s.creator_alive) names.push_back(s.name);
  } else {
    names = ipc::collect_stale_segments(prefix);
  }
  if (as_json) {
    std::cout << json{{dry_run ? "would_remove" : "removed", names}}.dump() << "\n";
  } else {
    for (auto& n : names) std::printf("%s %s\n", dry_run ? "would remove" : "removed", n.c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ipc-shm: list ipckit's named shared memory segments (/dev/shm/ipckit-*) with their size,\n"
               "kind and creator; remove them; collect those whose creator died. Without a subcommand: list."};
  app.set_version_flag("--version", "ipc-shm (ipckit) 0.1.0");
  bool as_json = false;
  app.add_flag("--json", as_json, "print one JSON object instead of text");
  auto* ls = app.add_subcommand("list", "list the segments (default)");
  ls->add_flag("--json", as_json, "print one JSON object instead of text");
  std::vector<std::string> names;
  auto* rm = app.add_subcommand("rm", "remove the named segments (NAME or /ipckit-NAME); exit 1 if one is missing");
  rm->add_option("NAME", names, "segment names")->required();
  rm->add_flag("--json", as_json, "print one JSON object instead of text");
  bool dry_run = false;
  auto* gc = app.add_subcommand("gc", "remove the segments whose creator is no longer running");
  gc->add_flag("--json", as_json, "print one JSON object instead of text");
  gc->add_flag("-n,--dry-run", dry_run, "only show what would be removed");
  std::string prefix;
  gc->add_option("--prefix", prefix, "only segments whose name starts with this (NAME or /ipckit-NAME)");
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
