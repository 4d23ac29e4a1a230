// ipc-shm: list, rm and gc on real segments, text and JSON output, exit codes.
#include <doctest/doctest.h>

#include <ipc/process.hpp>
#include <ipc/shared_memory.hpp>
#include <ipc/synchronize.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "child_pipe.hpp"
#include "run_command.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;

namespace {

/// Runs ipc-shm with `args` (shell words), stdout captured, stderr to /dev/null.
ipc::test::CommandResult ipc_shm(const std::string& args) {
  return ipc::test::run_command(std::string(IPC_SHM_PATH) + " " + args + " 2>/dev/null");
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
    CHECK((*live)["kind"] == "Lock");
    CHECK((*live)["kind_tag"] == "lock");
    CHECK((*live)["users"] == nlohmann::json::array({::getpid()}));
    CHECK((*live)["creator_pid"] == ::getpid());
    CHECK((*live)["creator_alive"] == true);
    CHECK((*live)["mode"] == "0600");
    CHECK((*dead)["size"] == 4096);
    CHECK((*dead)["creator_pid"] == p.pid());
    CHECK((*dead)["creator_alive"] == false);
    CHECK((*dead)["kind"] == "SharedMemory");
    CHECK((*dead)["users"].empty());

    auto text = ipc_shm("list");
    CHECK(text.code == 0);
    CHECK(text.out.find(live_name) != std::string::npos);
    CHECK(text.out.find("NAME") == 0);
    CHECK(text.out.find(" Lock ") != std::string::npos);

    // Only this test process's names: other tests may be running and have dead creators too.
    std::string mine = "--prefix /ipckit-test-" + std::to_string(::getpid()) + "-";
    auto dry = ipc_shm("gc --dry-run --json " + mine);
    CHECK(dry.code == 0);
    CHECK(nlohmann::json::parse(dry.out)["would_remove"].dump().find(dead_name) != std::string::npos);
    CHECK(ipc::test::count_shm_names(dead_name.substr(1)) == 1);

    std::string removed;
    CHECK(ipc::test::gc_until_gone(dead_name.substr(1), [&] {
      auto gc = ipc_shm("gc --json " + mine);
      CHECK(gc.code == 0);
      removed += nlohmann::json::parse(gc.out)["removed"].dump();
    }));
    CHECK(removed.find(dead_name) != std::string::npos);
    CHECK(removed.find(live_name) == std::string::npos);
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

  TEST_CASE("list shows the element type and gc --dry-run says why each name is kept or removed" *
            doctest::timeout(60)) {
    auto typed_name = ipc::test::unique_name("tool-typed");
    auto used_name = ipc::test::unique_name("tool-used");
    auto dead_name = ipc::test::unique_name("tool-gone");
    auto typed = ipc::SharedMemory::create(typed_name, 24, {.type_name = std::string(ipc::shm_type_name<double>())});
    ipc::test::ChildPipe made, mapped;
    ipc::Event done;
    // A creates two segments and is killed; B keeps one of them mapped.
    ipc::Process a{[&] {
      auto u = ipc::SharedMemory::create(used_name, 64);
      auto d = ipc::SharedMemory::create(dead_name, 64);
      made.put("made");
      std::this_thread::sleep_for(60s);  // killed here
    }};
    a.start();
    REQUIRE(made.line() == "made");
    ipc::Process b{[&] {
      auto u = ipc::SharedMemory::open(used_name, {.size = 64});
      mapped.put("mapped");
      done.wait(50s);
    }};
    b.start();
    REQUIRE(mapped.line() == "mapped");
    a.kill();
    REQUIRE(a.join(20s));

    auto j = nlohmann::json::parse(ipc_shm("list --json").out);
    auto* t = find(j["segments"], typed_name);
    REQUIRE(t != nullptr);
    CHECK((*t)["type"] == "double");
    auto text = ipc_shm("list");
    CHECK(text.out.find(" double ") != std::string::npos);

    std::string my_full = "/ipckit-test-" + std::to_string(::getpid()) + "-";
    std::string mine = "--prefix " + my_full;
    auto dry = ipc_shm("gc --dry-run " + mine);
    CHECK(dry.code == 0);
    std::string a_pid = std::to_string(a.pid()), b_pid = std::to_string(b.pid());
    CHECK(dry.out.find("would keep " + used_name + ": creator pid " + a_pid + " is gone but pid " + b_pid +
                       " maps it or holds it open") != std::string::npos);
    CHECK(dry.out.find("would remove " + dead_name + ": creator pid " + a_pid +
                       " is gone and no process maps it or holds it open") != std::string::npos);
    CHECK(dry.out.find("would keep " + typed_name + ": creator pid " + std::to_string(::getpid()) + " still runs") !=
          std::string::npos);
    auto dj = nlohmann::json::parse(ipc_shm("gc --dry-run --json " + mine).out);
    auto would = dj["would_remove"].dump();
    CHECK(would.find(dead_name) != std::string::npos);
    CHECK(would.find(used_name) == std::string::npos);
    // Temporary names of killed creates (other tests kill some) are collected whatever the prefix.
    int mine_decided = 0;
    for (auto& d : dj["decisions"]) mine_decided += d["name"].get<std::string>().starts_with(my_full) ? 1 : 0;
    CHECK(mine_decided == 3);

    std::string out;
    CHECK(ipc::test::gc_until_gone(dead_name.substr(1), [&] { out += ipc_shm("gc " + mine).out; }));
    CHECK(out.find("removed " + dead_name + ": creator pid " + a_pid +
                   " is gone and no process maps it or holds it open\n") != std::string::npos);
    CHECK(out.find(used_name) == std::string::npos);
    CHECK(ipc::test::count_shm_names(used_name.substr(1)) == 1);
    done.set();
    REQUIRE(b.join(20s));
    out.clear();
    CHECK(ipc::test::gc_until_gone(used_name.substr(1), [&] { out += ipc_shm("gc --json " + mine).out; }));
    CHECK(out.find(used_name) != std::string::npos);
  }
}
