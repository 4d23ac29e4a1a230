// SharedMemory: anonymous and named segments across processes, headers, errors, listing, cleanup.
#include <doctest/doctest.h>

#include <ipc/errors.hpp>
#include <ipc/process.hpp>
#include <ipc/queues.hpp>
#include <ipc/shared_memory.hpp>
#include <ipc/sharedctypes.hpp>
#include <ipc/synchronize.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include "child_pipe.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;

namespace {

/// The prefix of every name this test process makes with unique_name (for leak checks).
std::string my_prefix() { return "ipckit-test-" + std::to_string(::getpid()) + "-"; }

/// Writes raw bytes as a shm object (not through SharedMemory), for corrupt-header tests.
void write_raw(const std::string& full, const void* bytes, std::size_t n) {
  int fd = ::shm_open(full.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  REQUIRE(fd >= 0);
  REQUIRE(::write(fd, bytes, n) == static_cast<ssize_t>(n));
  ::close(fd);
}

}  // namespace

TEST_SUITE("SharedMemory") {
  TEST_CASE("an anonymous segment is shared with a forked child") {
    auto shm = ipc::SharedMemory::anonymous(4096);
    CHECK(shm.size() == 4096);
    CHECK(shm.name().empty());
    CHECK(static_cast<unsigned char*>(shm.data())[100] == 0);
    ipc::Process p{[&] { std::strcpy(static_cast<char*>(shm.data()), "hello from the child"); }};
    p.start();
    REQUIRE(p.join(10s));
    CHECK(*p.exitcode() == 0);
    CHECK(std::string(static_cast<char*>(shm.data())) == "hello from the child");
  }

  TEST_CASE("a named segment is seen by an opener in another process and the creator unlinks it") {
    auto name = ipc::test::unique_name("shm");
    std::string full;
    {
      auto shm = ipc::SharedMemory::create(name, 1000);
      full = shm.name();
      CHECK(full == name);  // unique_name already carries the prefix
      CHECK(shm.created());
      CHECK(shm.size() == 1000);
      CHECK(shm.creator_pid() == ::getpid());
      CHECK(reinterpret_cast<std::uintptr_t>(shm.data()) % 64 == 0);
      struct stat st {};
      REQUIRE(::stat(("/dev/shm" + full).c_str(), &st) == 0);
      CHECK((st.st_mode & 0777) == 0600);
      ipc::Process p{[&] {
        auto o = ipc::SharedMemory::open(name, {.size = 1000});
        if (o.created() || o.creator_pid() != ::getppid()) return 3;
        std::strcpy(static_cast<char*>(o.data()), "written by opener");
        return 0;
      }};
      p.start();
      REQUIRE(p.join(10s));
      CHECK(*p.exitcode() == 0);
      CHECK(std::string(static_cast<char*>(shm.data())) == "written by opener");
      CHECK(ipc::test::count_shm_names(full.substr(1)) == 1);
    }
    CHECK(ipc::test::count_shm_names(full.substr(1)) == 0);
  }

  TEST_CASE("names get the ipckit prefix and bad names are refused") {
    CHECK(ipc::SharedMemory::full_name("abc") == "/ipckit-abc");
    CHECK(ipc::SharedMemory::full_name("/abc") == "/ipckit-abc");
    CHECK(ipc::SharedMemory::full_name("/ipckit-abc") == "/ipckit-abc");
    CHECK_THROWS_AS(ipc::SharedMemory::full_name(""), ipc::ValueError);
    CHECK_THROWS_AS(ipc::SharedMemory::full_name("/"), ipc::ValueError);
    CHECK_THROWS_AS(ipc::SharedMemory::full_name("a/b"), ipc::ValueError);
    CHECK_THROWS_WITH_AS(ipc::SharedMemory::create(std::string(300, 'x'), 10), doctest::Contains("too long"),
                         ipc::ValueError);
    CHECK_THROWS_AS(ipc::SharedMemory::create(ipc::test::unique_name("zero"), 0), ipc::ValueError);
    CHECK_THROWS_AS(ipc::SharedMemory::anonymous(0), ipc::ValueError);
  }

  TEST_CASE("opening a missing name fails with ENOENT naming the segment") {
    auto name = ipc::test::unique_name("missing");
    try {
      ipc::SharedMemory::open(name);
      FAIL("open of a missing name succeeded");
    } catch (const std::system_error& e) {
      CHECK(e.code().value() == ENOENT);
      CHECK(std::string(e.what()).find(name) != std::string::npos);
    }
  }

  TEST_CASE("creating an existing name fails and create_or_open opens it") {
    auto name = ipc::test::unique_name("dup");
    auto a = ipc::SharedMemory::create(name, 64);
    try {
      ipc::SharedMemory::create(name, 64);
      FAIL("second create succeeded");
    } catch (const std::system_error& e) {
      CHECK(e.code().value() == EEXIST);
    }
    auto b = ipc::SharedMemory::create_or_open(name, 64);
    CHECK_FALSE(b.created());
    static_cast<char*>(a.data())[0] = 'x';
    CHECK(static_cast<char*>(b.data())[0] == 'x');
    CHECK_THROWS_AS(ipc::SharedMemory::create_or_open(name, 128), ipc::ValueError);
  }

  TEST_CASE("opening with the wrong size or kind is a clear error") {
    auto name = ipc::test::unique_name("size");
    auto a = ipc::SharedMemory::create(name, 100, {.kind = ipc::shm_kind("lock")});
    CHECK_THROWS_WITH_AS(ipc::SharedMemory::open(name, {.size = 200}), doctest::Contains("has size 100, expected 200"),
                         ipc::ValueError);
    CHECK_THROWS_WITH_AS(ipc::SharedMemory::open(name, {.kind = ipc::shm_kind("valu")}),
                         doctest::Contains("holds a 'lock' (Lock), not a 'valu' (Value)"), ipc::ValueError);
    CHECK(ipc::SharedMemory::open(name, {.size = 100, .kind = ipc::shm_kind("lock")}).size() == 100);
  }

  TEST_CASE("a segment with a foreign header or version is refused") {
    SUBCASE("bad magic") {
      auto name = ipc::test::unique_name("magic");
      char junk[128];
      std::memset(junk, 0, sizeof junk);
      std::memcpy(junk, "NOTIPCKT", 8);
      std::uint32_t ready = 0x59444552u;
      std::memcpy(junk + 8, &ready, 4);
      write_raw(name, junk, sizeof junk);
      CHECK_THROWS_WITH_AS(ipc::SharedMemory::open(name), doctest::Contains("bad magic"), ipc::ProtocolError);
      ipc::SharedMemory::unlink(name);
    }
    SUBCASE("wrong version") {
      auto name = ipc::test::unique_name("version");
      auto a = ipc::SharedMemory::create(name, 32);
      // The version field follows the 8-byte magic and 4-byte state word of the 128-byte header.
      std::uint32_t v = 99;
      std::memcpy(static_cast<char*>(a.data()) - 128 + 12, &v, 4);
      CHECK_THROWS_WITH_AS(ipc::SharedMemory::open(name), doctest::Contains("version 99"), ipc::ProtocolError);
    }
    SUBCASE("too small") {
      auto name = ipc::test::unique_name("small");
      write_raw(name, "abc", 3);
      CHECK_THROWS_AS(ipc::SharedMemory::open(name, {.init_timeout = 50ms}), ipc::ProtocolError);
      ipc::SharedMemory::unlink(name);
    }
    SUBCASE("never initialised") {
      auto name = ipc::test::unique_name("uninit");
      char zeros[128] = {};
      write_raw(name, zeros, sizeof zeros);
      CHECK_THROWS_WITH_AS(ipc::SharedMemory::open(name, {.init_timeout = 50ms}),
                           doctest::Contains("never initialised"), ipc::ProtocolError);
      ipc::SharedMemory::unlink(name);
    }
    CHECK(ipc::test::count_shm_names(my_prefix()) == 0);
  }

  TEST_CASE("an opener waits for the creator's init to finish") {
    auto name = ipc::test::unique_name("init");
    ipc::test::ChildPipe pipe, back;
    ipc::Process creator{[&] {
      auto shm = ipc::SharedMemory::create(name, 8, {.init = [&](std::span<std::byte> b) {
                                                      pipe.put("creating");
                                                      std::this_thread::sleep_for(300ms);
                                                      b[0] = std::byte{42};
                                                    }});
      pipe.put("ready");
      back.line();  // wait for the parent to be done
    }};
    creator.start();
    REQUIRE(pipe.line() == "creating");
    auto o = ipc::SharedMemory::open(name, {.init_timeout = 10s});
    CHECK(static_cast<unsigned char*>(o.data())[0] == 42);
    REQUIRE(pipe.line() == "ready");
    back.put("done");
    REQUIRE(creator.join(10s));
    CHECK(*creator.exitcode() == 0);
    CHECK(ipc::test::count_shm_names(name.substr(1)) == 0);
  }

  TEST_CASE("close and buf work as Python's close() and buf") {
    auto name = ipc::test::unique_name("close");
    auto shm = ipc::SharedMemory::create(name, 32, {.type_name = "Point"});
    CHECK(shm.buf().size() == 32);
    CHECK(static_cast<void*>(shm.buf().data()) == shm.data());
    auto all = ipc::list_segments();
    auto it = std::find_if(all.begin(), all.end(), [&](auto& s) { return s.name == name; });
    REQUIRE(it != all.end());
    CHECK(it->kind == "SharedMemory");
    CHECK(it->type_name == "Point");
    {
      auto opener = ipc::SharedMemory::open(name, {.size = 32});
      opener.close();  // an opener only unmaps
      CHECK_FALSE(opener);
      CHECK(opener.buf().empty());
    }
    CHECK(ipc::test::count_shm_names(name.substr(1)) == 1);
    shm.close();  // the creator also unlinks
    CHECK_FALSE(shm);
    CHECK(shm.size() == 0);
    CHECK(ipc::test::count_shm_names(name.substr(1)) == 0);
    shm.close();  // twice is harmless
    CHECK(ipc::shm_type_name<int>() == "int");
    CHECK(ipc::shm_type_name<std::uint64_t>().find("long") != std::string_view::npos);
  }

  TEST_CASE("list_segments names the kind in full and the element type of named objects") {
    auto vname = ipc::test::unique_name("kv");
    auto aname = ipc::test::unique_name("ka");
    auto qname = ipc::test::unique_name("kq");
    auto lname = ipc::test::unique_name("kl");
    auto v = ipc::Value<int>::create(vname, 5);
    auto a = ipc::Array<double>::create(aname, 4);
    auto q = ipc::JoinableQueue<long>::create(qname);
    auto l = ipc::Lock::create(lname);
    auto all = ipc::list_segments();
    auto get = [&](const std::string& n) -> const ipc::SegmentInfo& {
      auto it = std::find_if(all.begin(), all.end(), [&](auto& s) { return s.name == n; });
      REQUIRE(it != all.end());
      return *it;
    };
    CHECK(get(vname).kind == "Value");
    CHECK(get(vname).type_name == "int");
    CHECK(get(aname).kind == "Array");
    CHECK(get(aname).type_name == "double");
    CHECK(get(qname).kind == "JoinableQueue");
    CHECK(get(qname).kind_tag == "jque");
    CHECK(get(qname).type_name == "long int");
    CHECK(get(lname).kind == "Lock");
    CHECK(get(lname).type_name.empty());
    CHECK(ipc::shm_kind_name(ipc::shm_kind("zzzz")) == "zzzz");
  }

  TEST_CASE("a forked child holding the creator's handle does not unlink the name") {
    auto name = ipc::test::unique_name("fork");
    auto shm = ipc::SharedMemory::create(name, 16);
    ipc::Process p{[&] {
      ipc::SharedMemory moved = std::move(shm);  // destroyed here, in the child
    }};
    p.start();
    REQUIRE(p.join(10s));
    CHECK(*p.exitcode() == 0);
    CHECK(ipc::test::count_shm_names(name.substr(1)) == 1);
    CHECK(shm.created());
  }

  TEST_CASE("explicit unlink removes the name and keeps the mapping") {
    auto name = ipc::test::unique_name("unlink");
    auto shm = ipc::SharedMemory::create(name, 16);
    shm.unlink();
    CHECK_FALSE(shm.created());
    CHECK(ipc::test::count_shm_names(name.substr(1)) == 0);
    static_cast<char*>(shm.data())[0] = 1;
    CHECK_FALSE(ipc::SharedMemory::unlink(name));
  }

  TEST_CASE("opening a 0600 segment of another user is permission denied") {
    auto name = ipc::test::unique_name("perm");
    auto shm = ipc::SharedMemory::create(name, 16, {.mode = 0600});
    ipc::Process p{[&] {
      // As root, become nobody first; as a normal user, a 0000 segment of ours does the same.
      if (::getuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) return 4;
      try {
        ipc::SharedMemory::open(name);
      } catch (const std::system_error& e) {
        return e.code().value() == EACCES ? 0 : 2;
      }
      return 3;
    }};
    if (::getuid() != 0) {
      ::chmod(("/dev/shm" + name).c_str(), 0);
    }
    p.start();
    REQUIRE(p.join(10s));
    CHECK(*p.exitcode() == 0);
  }

  TEST_CASE("list_segments reports creator liveness and collect_stale_segments removes dead ones") {
    auto live_name = ipc::test::unique_name("live");
    auto dead_name = ipc::test::unique_name("dead");
    auto live = ipc::SharedMemory::create(live_name, 123, {.kind = ipc::shm_kind("lock")});
    ipc::test::ChildPipe pipe;
    ipc::Process p{[&] {
      auto shm = ipc::SharedMemory::create(dead_name, 77);
      pipe.put("made");
      std::this_thread::sleep_for(60s);  // killed here, before its destructor can unlink
    }};
    p.start();
    REQUIRE(pipe.line() == "made");
    p.kill();
    REQUIRE(p.join(10s));
    auto all = ipc::list_segments();
    auto find = [&](const std::string& n) { return std::find_if(all.begin(), all.end(), [&](auto& s) { return s.name == n; }); };
    auto l = find(live_name);
    auto d = find(dead_name);
    REQUIRE(l != all.end());
    REQUIRE(d != all.end());
    CHECK(l->valid);
    CHECK(l->size == 123);
    CHECK(l->kind == "Lock");
    CHECK(l->kind_tag == "lock");
    CHECK(l->users == std::vector<pid_t>{::getpid()});
    CHECK(l->creator_pid == ::getpid());
    CHECK(l->creator_alive);
    CHECK(l->mode == 0600);
    CHECK(d->valid);
    CHECK(d->size == 77);
    CHECK(d->creator_pid == p.pid());
    CHECK_FALSE(d->creator_alive);
    CHECK(d->users.empty());
    std::vector<std::string> removed;
    CHECK(ipc::test::gc_until_gone(dead_name.substr(1), [&] {
      for (auto& n : ipc::collect_stale_segments("/" + my_prefix())) removed.push_back(n);
    }));
    CHECK(std::find(removed.begin(), removed.end(), dead_name) != removed.end());
    CHECK(std::find(removed.begin(), removed.end(), live_name) == removed.end());
    CHECK(ipc::test::count_shm_names(live_name.substr(1)) == 1);
  }

  TEST_CASE("no shared memory names of this test process are left behind") {
    {
      auto a = ipc::SharedMemory::create(ipc::test::unique_name("a"), 10);
      auto b = ipc::SharedMemory::create_or_open(ipc::test::unique_name("b"), 10);
      ipc::SharedMemory c = std::move(a);
      a = std::move(b);
    }
    CHECK(ipc::test::count_shm_names(my_prefix()) == 0);
  }
}

// Run by ctest as its own serial test after the others (see tests/CMakeLists.txt); skipped in the
// normal discovered run, where other tests may be between a kill and their own clean-up.
TEST_CASE("no test segments are left by test processes that ended" * doctest::skip()) {
  std::vector<std::string> leaked;
  for (auto& s : ipc::list_segments())
    if (s.name.starts_with("/ipckit-test-") && !(s.creator_pid > 0 && s.creator_alive)) leaked.push_back(s.name);
  for (auto& n : leaked) {
    MESSAGE("leaked: " << n);
    ipc::SharedMemory::unlink(n);  // report once, then clean up so the next run starts clean
  }
  CHECK(leaked.empty());
}
