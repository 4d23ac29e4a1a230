// SharedMemory under attack and at its worst moments: names planted by another user, creators
// SIGKILLed inside create, gc racing processes that still use a segment.
#include <doctest/doctest.h>

#include <ipc/errors.hpp>
#include <ipc/process.hpp>
#include <ipc/shared_memory.hpp>
#include <ipc/synchronize.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "child_pipe.hpp"
#include "run_command.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;

namespace {

constexpr uid_t kNobody = 65534;
constexpr gid_t kNogroup = 65534;

/// This test process's prefix for collect_stale_segments (a user name, without "/ipckit-").
std::string my_gc_prefix() { return "/ipckit-test-" + std::to_string(::getpid()) + "-"; }

/// The /dev/shm entry prefix of this test process's names (for count_shm_names).
std::string my_entries() { return "ipckit-test-" + std::to_string(::getpid()) + "-"; }

/// The message of what `f` throws as std::system_error with errno `code`; "" when it does not.
template <class F>
std::string system_error_of(int code, F&& f) {
  try {
    f();
  } catch (const std::system_error& e) {
    if (e.code().value() == code) return e.what();
    return std::string("other errno: ") + e.what();
  } catch (const std::exception& e) {
    return std::string("other exception: ") + e.what();
  }
  return {};
}

/// Number of names being created (temporary names) by `pid` in /dev/shm.
int temp_names_of(pid_t pid) { return ipc::test::count_shm_names("ipckit-.new-" + std::to_string(pid) + "-"); }

}  // namespace

TEST_SUITE("SharedMemory faults") {
  TEST_CASE("a named lock planted by another user is refused by create_or_open and open" * doctest::timeout(60)) {
    if (::geteuid() != 0) {
      MESSAGE("skipped: needs root to become another user");
      return;
    }
    auto name = ipc::test::unique_name("squat");
    // The attacker: another uid makes a valid ipckit lock that everyone may write, and stays.
    ipc::test::ChildPipe pipe;
    ipc::Process attacker{[&] {
      if (::setresgid(kNogroup, kNogroup, kNogroup) != 0 || ::setresuid(kNobody, kNobody, kNobody) != 0) return 4;
      auto lock = ipc::Lock::create(name, 0666);
      pipe.put("planted");
      std::this_thread::sleep_for(60s);  // killed by the test
      return 0;
    }};
    attacker.start();
    REQUIRE(pipe.line() == "planted");
    struct stat st {};
    REQUIRE(::stat(("/dev/shm" + name).c_str(), &st) == 0);
    REQUIRE(st.st_uid == kNobody);

    auto msg = system_error_of(EACCES, [&] { ipc::Lock::create_or_open(name); });
    CHECK(msg.find(name) != std::string::npos);
    CHECK(msg.find("uid 65534") != std::string::npos);
    CHECK(msg.find("0666") != std::string::npos);
    CHECK(system_error_of(EACCES, [&] { ipc::Lock::open(name); }).find(name) != std::string::npos);
    CHECK(system_error_of(EACCES, [&] { ipc::SharedMemory::open(name); }).find("uid 65534") != std::string::npos);
    // An owner the caller names explicitly, with the mode it accepts, is fine.
    auto shm = ipc::SharedMemory::open(name, {.owner = kNobody, .mode = 0666});
    CHECK(shm.creator_pid() == attacker.pid());
    attacker.kill();
    REQUIRE(attacker.join(20s));
    CHECK(ipc::SharedMemory::unlink(name));
  }

  TEST_CASE("a raw file planted with setpriv as nobody is refused and left alone" * doctest::timeout(60)) {
    if (::geteuid() != 0) {
      MESSAGE("skipped: needs root to become another user");
      return;
    }
    auto name = ipc::test::unique_name("setpriv");
    auto path = "/dev/shm" + name;
    auto r = ipc::test::run_command("setpriv --reuid=nobody --regid=nogroup --clear-groups "
                                    "sh -c 'umask 0; head -c 4096 /dev/zero > " + path + "' 2>&1");
    REQUIRE(r.code == 0);
    auto msg = system_error_of(EACCES, [&] { ipc::SharedMemory::create_or_open(name, 64); });
    CHECK(msg.find(name) != std::string::npos);
    CHECK(msg.find("0666") != std::string::npos);
    CHECK(system_error_of(EACCES, [&] { ipc::SharedMemory::open(name); }).find("uid 65534") != std::string::npos);
    CHECK(system_error_of(EEXIST, [&] { ipc::SharedMemory::create(name, 64); }).find(name) != std::string::npos);
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK(st.st_uid == kNobody);  // not replaced, not truncated
    CHECK(st.st_size == 4096);
    ::unlink(path.c_str());
  }

  TEST_CASE("a symbolic link in place of a segment is not followed") {
    auto name = ipc::test::unique_name("link");
    auto target = ipc::test::unique_name("target");
    auto victim = ipc::SharedMemory::create(target, 64);
    REQUIRE(::symlink(("/dev/shm" + target).c_str(), ("/dev/shm" + name).c_str()) == 0);
    CHECK(system_error_of(ELOOP, [&] { ipc::SharedMemory::open(name, {.size = 64}); }).find(name) != std::string::npos);
    CHECK_THROWS_AS(ipc::SharedMemory::create_or_open(name, 64), std::system_error);
    ::unlink(("/dev/shm" + name).c_str());
  }

  TEST_CASE("a FIFO planted in place of a segment neither hangs open nor list" * doctest::timeout(30)) {
    auto name = ipc::test::unique_name("fifo");
    REQUIRE(::mkfifo(("/dev/shm" + name).c_str(), 0600) == 0);
    CHECK_THROWS_WITH_AS(ipc::SharedMemory::open(name), doctest::Contains("not a regular file"), ipc::ProtocolError);
    CHECK_THROWS_AS(ipc::SharedMemory::create_or_open(name, 8), ipc::ProtocolError);
    auto all = ipc::list_segments();
    auto it = std::find_if(all.begin(), all.end(), [&](auto& s) { return s.name == name; });
    REQUIRE(it != all.end());
    CHECK(it->problem == "not a regular file");
    auto decisions = ipc::gc_segments(name, true);
    auto d = std::find_if(decisions.begin(), decisions.end(), [&](auto& x) { return x.name == name; });
    REQUIRE(d != decisions.end());
    CHECK_FALSE(d->remove);
    CHECK(d->reason.find("not a regular file") != std::string::npos);
    ::unlink(("/dev/shm" + name).c_str());
  }

  TEST_CASE("our own segment with a wider mode than asked is refused") {
    auto name = ipc::test::unique_name("wide");
    auto a = ipc::SharedMemory::create(name, 64, {.mode = 0666});
    auto msg = system_error_of(EACCES, [&] { ipc::SharedMemory::create_or_open(name, 64); });
    CHECK(msg.find("0666") != std::string::npos);
    CHECK(ipc::SharedMemory::create_or_open(name, 64, {.mode = 0666}).size() == 64);
    CHECK(ipc::SharedMemory::open(name, {.mode = 0666}).size() == 64);
    CHECK_THROWS_AS(ipc::SharedMemory::open(name, {.mode = 0644}), std::system_error);
  }

  TEST_CASE("a creator killed during init leaves a name that gc and create_or_open recover" * doctest::timeout(60)) {
    auto name = ipc::test::unique_name("half");
    ipc::test::ChildPipe pipe;
    ipc::Process creator{[&] {
      auto shm = ipc::SharedMemory::create(name, 64, {.init = [&](std::span<std::byte>) {
                                                       pipe.put("in init");
                                                       std::this_thread::sleep_for(60s);  // killed here
                                                     }});
    }};
    creator.start();
    REQUIRE(pipe.line() == "in init");
    creator.kill();
    REQUIRE(creator.join(20s));
    try {
      ipc::SharedMemory::open(name, {.init_timeout = 10s});
      FAIL("open of a half-created segment succeeded");
    } catch (const ipc::ProtocolError& e) {
      CHECK(std::string(e.what()).find("pid " + std::to_string(creator.pid())) != std::string::npos);
    }
    auto shm = ipc::SharedMemory::create_or_open(name, 64);
    CHECK(shm.created());
    CHECK(shm.creator_pid() == ::getpid());
  }

  TEST_CASE("creators SIGKILLed at random points of create leave nothing after gc" * doctest::timeout(170)) {
    constexpr int kKills = 100;
    std::mt19937 rng(static_cast<unsigned>(::getpid()));
    std::vector<std::string> names;
    std::vector<pid_t> pids;
    for (int i = 0; i < kKills; ++i) {
      auto name = ipc::test::unique_name("kill");
      ipc::test::ChildPipe pipe;
      ipc::Process creator{[&] {
        pipe.put("go");
        auto shm = ipc::SharedMemory::create(name, 1 << 16, {.init = [](std::span<std::byte> b) {
                                                              for (auto& x : b) x = std::byte{1};
                                                            }});
        shm.release_ownership();
      }};
      creator.start();
      REQUIRE(pipe.line() == "go");
      std::this_thread::sleep_for(std::chrono::microseconds(rng() % 1500));  // the random kill point
      creator.kill();
      REQUIRE(creator.join(20s));
      names.push_back(name);
      pids.push_back(creator.pid());
    }
    SUBCASE("gc removes every name") {
      CHECK(ipc::test::gc_until_gone(my_entries(), [] { ipc::collect_stale_segments(my_gc_prefix()); }));
      for (pid_t p : pids) CHECK(temp_names_of(p) == 0);
      for (auto& n : names) {
        auto shm = ipc::SharedMemory::create_or_open(n, 64);
        CHECK(shm.created());
      }
    }
    SUBCASE("create_or_open recovers every name by itself") {
      int created = 0;
      for (auto& n : names) {
        // A creator that finished leaves a segment of 65536 bytes: open it as what it is.
        auto shm = ipc::SharedMemory::create_or_open(n, 1 << 16);
        created += shm.created() ? 1 : 0;
        if (!shm.created()) {
          CHECK(static_cast<unsigned char*>(shm.data())[100] == 1);
          shm.unlink();
        }
      }
      MESSAGE(created << " of " << kKills << " names were created anew");
      ipc::collect_stale_segments(my_gc_prefix());
      for (pid_t p : pids) CHECK(temp_names_of(p) == 0);
    }
    CHECK(ipc::test::count_shm_names(my_entries()) == 0);
  }

  TEST_CASE("gc keeps a segment another process still maps or holds open after its creator died" *
            doctest::timeout(60)) {
    auto name = ipc::test::unique_name("inuse");
    ipc::test::ChildPipe made, user_ready, fd_ready;
    ipc::Event done;
    ipc::Process creator{[&] {
      auto shm = ipc::SharedMemory::create(name, 64);
      made.put("made");
      std::this_thread::sleep_for(60s);  // killed here
    }};
    creator.start();
    REQUIRE(made.line() == "made");
    // B maps it (the fd is closed once mapped); C only holds an fd open.
    ipc::Process mapper{[&] {
      auto shm = ipc::SharedMemory::open(name, {.size = 64});
      user_ready.put("mapped");
      done.wait(50s);
      return static_cast<int>(static_cast<unsigned char*>(shm.data())[0]);
    }};
    mapper.start();
    REQUIRE(user_ready.line() == "mapped");
    creator.kill();
    REQUIRE(creator.join(20s));

    auto removed = ipc::collect_stale_segments(my_gc_prefix());
    CHECK(std::find(removed.begin(), removed.end(), name) == removed.end());
    REQUIRE(ipc::test::count_shm_names(name.substr(1)) == 1);
    {
      auto again = ipc::SharedMemory::open(name, {.size = 64});  // a new open still works
      static_cast<unsigned char*>(again.data())[0] = 7;
    }
    done.set();
    REQUIRE(mapper.join(20s));
    CHECK(*mapper.exitcode() == 7);

    ipc::Process holder{[&] {
      int fd = ::open(("/dev/shm" + name).c_str(), O_RDONLY | O_CLOEXEC);
      fd_ready.put(fd >= 0 ? "open" : "failed");
      std::this_thread::sleep_for(60s);  // killed here
    }};
    holder.start();
    REQUIRE(fd_ready.line() == "open");
    removed = ipc::collect_stale_segments(my_gc_prefix());
    CHECK(std::find(removed.begin(), removed.end(), name) == removed.end());
    CHECK(ipc::test::count_shm_names(name.substr(1)) == 1);
    holder.kill();
    REQUIRE(holder.join(20s));

    CHECK(ipc::test::gc_until_gone(name.substr(1), [] { ipc::collect_stale_segments(my_gc_prefix()); }));
  }

  TEST_CASE("an opener caught by a removal in progress gets ENOENT instead of a removed segment" *
            doctest::timeout(60)) {
    auto name = ipc::test::unique_name("race");
    auto path = "/dev/shm" + name;
    auto shm = ipc::SharedMemory::create(name, 64);
    shm.release_ownership();
    ipc::test::ChildPipe locked, go;
    // The remover, as gc does it: an exclusive flock, then (when told) unlink and let go.
    ipc::Process remover{[&] {
      int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0 || ::flock(fd, LOCK_EX) != 0) return 2;
      locked.put("locked");
      if (go.line(50000) != "go") return 3;
      return ::unlink(path.c_str()) == 0 ? 0 : 4;
    }};
    remover.start();
    REQUIRE(locked.line() == "locked");
    ipc::Process opener{[&] {
      try {
        ipc::SharedMemory::open(name, {.size = 64, .init_timeout = 30s});
      } catch (const std::system_error& e) {
        return e.code().value() == ENOENT ? 0 : 5;
      }
      return 6;  // it got a segment that was being removed
    }};
    opener.start();
    // Wait (polling) until the opener holds the file open: it is then waiting for the lock.
    struct stat target {};
    REQUIRE(::stat(path.c_str(), &target) == 0);
    auto holds_it = [&] {
      auto dir = "/proc/" + std::to_string(opener.pid()) + "/fd";
      for (int fd = 0; fd < 64; ++fd) {
        struct stat st {};
        if (::stat((dir + "/" + std::to_string(fd)).c_str(), &st) == 0 && st.st_ino == target.st_ino &&
            st.st_dev == target.st_dev)
          return true;
      }
      return false;
    };
    auto until = std::chrono::steady_clock::now() + 20s;
    while (!holds_it() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(1ms);
    REQUIRE(holds_it());
    go.put("go");
    REQUIRE(remover.join(20s));
    CHECK(*remover.exitcode() == 0);
    REQUIRE(opener.join(40s));
    CHECK(*opener.exitcode() == 0);
  }

  TEST_CASE("names with NUL or control characters are refused and the prefix rule is unambiguous") {
    CHECK_THROWS_WITH_AS(ipc::SharedMemory::full_name(std::string("ab\0cd", 5)), doctest::Contains("NUL"),
                         ipc::ValueError);
    CHECK_THROWS_WITH_AS(ipc::SharedMemory::full_name("ab\ncd"), doctest::Contains("control character"),
                         ipc::ValueError);
    CHECK_THROWS_AS(ipc::SharedMemory::full_name("ab\tcd"), ipc::ValueError);
    CHECK_THROWS_AS(ipc::SharedMemory::full_name("ab\x7f"), ipc::ValueError);
    CHECK_THROWS_AS(ipc::SharedMemory::create(std::string("x\0y", 3), 8), ipc::ValueError);
    CHECK_THROWS_AS(ipc::Lock::create("bad\nname"), ipc::ValueError);
    CHECK(ipc::SharedMemory::full_name("x") == "/ipckit-x");
    CHECK(ipc::SharedMemory::full_name("ipckit-x") == "/ipckit-ipckit-x");
    CHECK(ipc::SharedMemory::full_name("ipckit-x") != ipc::SharedMemory::full_name("x"));
    CHECK(ipc::SharedMemory::full_name("/ipckit-x") == "/ipckit-x");
    CHECK(ipc::SharedMemory::full_name("/x") == "/ipckit-x");
    CHECK_THROWS_WITH_AS(ipc::SharedMemory::full_name(".new-1-2"), doctest::Contains("reserved"), ipc::ValueError);
    // Two user names that differ only by the prefix are two segments.
    auto base = ipc::test::unique_name("pfx").substr(std::string("/ipckit-").size());
    auto a = ipc::SharedMemory::create(base, 8);
    auto b = ipc::SharedMemory::create("ipckit-" + base, 8);
    CHECK(a.name() != b.name());
  }
}
