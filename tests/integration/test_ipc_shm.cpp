// ipc-shm: list, rm and gc on real segments, text and JSON output, exit codes.
#include <doctest/doctest.h>

#include <ipc/process.hpp>
#include <ipc/shared_memory.hpp>
#include <ipc/synchronize.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "test_support.hpp"

using namespace std::chrono_literals;

namespace {

struct Run {
  int code;
  std::string out;
};

/// Runs ipc-shm with `args` (shell words), stdout captured, stderr to /dev/null.
Run ipc_shm(const std::string& args) {
  std::string cmd = std::string(IPC_SHM_PATH) + " " + args + " 2>/dev/null";
  FILE* f = ::popen(cmd.c_str(), "r");
  REQUIRE(f != nullptr);
  std::string out;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  int status = ::pclose(f);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

const nlohmann::json* find(const nlohmann::json& segs, const std::string& name) {
  for (auto& s : segs)
    if (s["name"] == name) return &s;
  return nullptr;
}

}  // namespace

TEST_SUITE("ipc-shm") {
  TEST_CASE("lists segments with creator liveness and collects the dead ones" * doctest::timeout(60)) {
    auto live_name = ipc::test::unique_name("tool-live");
    auto dead_name = ipc::test::unique_name("tool-dead");
    auto lock = ipc::Lock::create(live_name);
    ipc::Event made;
    ipc::Process p{[&] {
      auto shm = ipc::SharedMemory::create(dead_name, 4096);
      made.set();
      std::this_thread::sleep_for(60s);
    }};
    p.start();
    REQUIRE(made.wait(20s));
    p.kill();
    REQUIRE(p.join(20s));

    auto r = ipc_shm("--json");
    REQUIRE(r.code == 0);
    auto j = nlohmann::json::parse(r.out);
    auto* live = find(j["segments"], live_name);
    auto* dead = find(j["segments"], dead_name);
    REQUIRE(live != nullptr);
    REQUIRE(dead != nullptr);
    CHECK((*live)["kind"] == "lock");
    CHECK((*live)["creator_pid"] == ::getpid());
    CHECK((*live)["creator_alive"] == true);
    CHECK((*live)["mode"] == "0600");
    CHECK((*dead)["size"] == 4096);
    CHECK((*dead)["creator_pid"] == p.pid());
    CHECK((*dead)["creator_alive"] == false);

    auto text = ipc_shm("list");
    CHECK(text.code == 0);
    CHECK(text.out.find(live_name) != std::string::npos);
    CHECK(text.out.find("NAME") == 0);

    // Only this test process's names: other tests may be running and have dead creators too.
    std::string mine = "--prefix ipckit-test-" + std::to_string(::getpid()) + "-";
    auto dry = ipc_shm("gc --dry-run --json " + mine);
    CHECK(dry.code == 0);
    CHECK(nlohmann::json::parse(dry.out)["would_remove"].dump().find(dead_name) != std::string::npos);
    CHECK(ipc::test::count_shm_names(dead_name.substr(1)) == 1);

    auto gc = ipc_shm("gc --json " + mine);
    CHECK(gc.code == 0);
    auto removed = nlohmann::json::parse(gc.out)["removed"];
    CHECK(removed.dump().find(dead_name) != std::string::npos);
    CHECK(removed.dump().find(live_name) == std::string::npos);
    CHECK(ipc::test::count_shm_names(dead_name.substr(1)) == 0);
    CHECK(ipc::test::count_shm_names(live_name.substr(1)) == 1);
  }

  TEST_CASE("rm removes a segment and exits 1 for a missing one and 2 for bad usage") {
    auto name = ipc::test::unique_name("tool-rm");
    auto shm = ipc::SharedMemory::create(name, 10);
    auto r = ipc_shm("rm " + name);
    CHECK(r.code == 0);
    CHECK(r.out == "removed " + name + "\n");
    CHECK(ipc::test::count_shm_names(name.substr(1)) == 0);
    CHECK(ipc_shm("rm " + name).code == 1);
    CHECK(ipc_shm("rm").code == 2);
    CHECK(ipc_shm("frobnicate").code == 2);
    CHECK(ipc_shm("rm a/b").code == 2);
    CHECK(ipc_shm("--help").code == 0);
    CHECK(ipc_shm("--version").code == 0);
  }
}
