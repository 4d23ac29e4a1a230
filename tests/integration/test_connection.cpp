// Connections between processes: Pipe across fork, Listener/Client on unix, abstract and TCP
// addresses with and without authkey, peer credentials, Fifo, wait() over mixed objects.
#include <doctest/doctest.h>

#include <ipc/connection.hpp>
#include <ipc/fifo.hpp>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>

#include "test_support.hpp"

using namespace std::chrono_literals;

namespace {

/// The three kinds of address, fresh for each test.
std::vector<std::string> addresses(const ipc::test::TempDir& dir) {
  return {"unix:" + (dir / "sock").string(), "unix:@" + ipc::test::unique_name("abs").substr(1), "tcp:127.0.0.1:0"};
}

}  // namespace

TEST_SUITE("Connection between processes") {
  TEST_CASE("a Connection passed to a Process works in the child and EOF follows the close rule" *
            doctest::timeout(30)) {
    auto [parent_end, child_end] = ipc::Pipe();
    ipc::Process p{[&] {
      parent_end.close();  // the child closes the end it does not use
      int n = child_end.recv<int>(10s);
      for (int i = 0; i < n; ++i) child_end.send(std::to_string(i));
      return 0;
    }};
    p.start();
    child_end.close();  // the parent closes the end it does not use
    parent_end.send(3);
    CHECK(parent_end.recv<std::string>(10s) == "0");
    CHECK(parent_end.recv<std::string>(10s) == "1");
    CHECK(parent_end.recv<std::string>(10s) == "2");
    // The child has exited: with every copy of child_end closed, recv sees EOF.
    CHECK_THROWS_AS(parent_end.recv<std::string>(10s), ipc::ConnectionClosed);
    CHECK(p.join(10s));
    CHECK(*p.exitcode() == 0);
  }

  TEST_CASE("a one-way Pipe delivers a 64 MiB message from a child") {
    auto [r, w] = ipc::Pipe(false);
    ipc::Process p{[&] {
      r.close();
      w.send(std::string(64 << 20, 'z'));
    }};
    p.start();
    w.close();
    auto s = r.recv<std::string>(60s);
    CHECK(s.size() == (64u << 20));
    CHECK(s.find_first_not_of('z') == std::string::npos);
    CHECK(p.join(10s));
  }
}

TEST_SUITE("Listener and Client") {
  TEST_CASE("a client connects on unix path and abstract and tcp addresses" * doctest::timeout(60)) {
    ipc::test::TempDir dir;
    for (const auto& addr : addresses(dir)) {
      CAPTURE(addr);
      int before = ipc::test::count_open_fds();
      {
        ipc::Listener l(addr);
        if (addr.starts_with("tcp:")) CHECK(l.address() != addr);  // the real port
        ipc::Process p{[a = l.address()] {
          auto c = ipc::Client(a, std::nullopt, 10s);
          c.send(std::string("ping"));
          return c.recv<std::string>(10s) == "PING" ? 0 : 3;
        }};
        p.start();
        auto c = l.accept(10s);
        CHECK(c.recv<std::string>(10s) == "ping");
        c.send(std::string("PING"));
        CHECK(p.join(10s));
        CHECK(*p.exitcode() == 0);
      }
      CHECK(ipc::test::count_open_fds() == before);
    }
  }

  TEST_CASE("the socket file has mode 0600 and the listener unlinks it") {
    ipc::test::TempDir dir;
    auto path = dir / "s";
    {
      ipc::Listener l("unix:" + path.string());
      struct stat st{};
      REQUIRE(::stat(path.c_str(), &st) == 0);
      CHECK(S_ISSOCK(st.st_mode));
      CHECK((st.st_mode & 0777) == 0600);
      // A second listener on the same live path is refused.
      CHECK_THROWS_AS(ipc::Listener("unix:" + path.string()), std::system_error);
    }
    CHECK_FALSE(std::filesystem::exists(path));
  }

  TEST_CASE("a stale socket file left by a dead listener is replaced") {
    ipc::test::TempDir dir;
    auto path = dir / "s";
    {
      // A bound and closed socket leaves its file behind, as a killed listener does.
      int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_un un{};
      un.sun_family = AF_UNIX;
      std::strcpy(un.sun_path, path.c_str());
      REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&un), sizeof un) == 0);
      ::close(fd);
    }
    REQUIRE(std::filesystem::exists(path));
    ipc::Listener l("unix:" + path.string());
    CHECK(l.fileno() >= 0);
  }

  TEST_CASE("a forked child's copy of the listener does not unlink the socket file") {
    ipc::test::TempDir dir;
    auto path = dir / "s";
    ipc::Listener l("unix:" + path.string());
    ipc::Process p{[&] { l.close(); }};
    p.start();
    CHECK(p.join(10s));
    CHECK(std::filesystem::exists(path));
  }

  TEST_CASE("peer credentials name the client process") {
    ipc::test::TempDir dir;
    ipc::Listener l("unix:" + (dir / "s").string());
    ipc::Process p{[a = l.address()] {
      auto c = ipc::Client(a, std::nullopt, 10s);
      return c.recv<int>(10s) == 1 ? 0 : 3;
    }};
    p.start();
    auto c = l.accept(10s);
    CHECK(c.peer_pid() == p.pid());
    CHECK(c.peer_uid() == ::getuid());
    CHECK(c.peer_gid() == ::getgid());
    c.send(1);
    CHECK(p.join(10s));
    CHECK(*p.exitcode() == 0);
  }

  TEST_CASE("with the right authkey both sides pass the challenge" * doctest::timeout(60)) {
    ipc::test::TempDir dir;
    for (const auto& addr : addresses(dir)) {
      CAPTURE(addr);
      ipc::Listener l(addr, "sesame");
      ipc::Process p{[a = l.address()] {
        auto c = ipc::Client(a, "sesame", 10s);
        c.send(99);
        return 0;
      }};
      p.start();
      auto c = l.accept(10s);
      CHECK(c.recv<int>(10s) == 99);
      CHECK(p.join(10s));
      CHECK(*p.exitcode() == 0);
    }
  }

  TEST_CASE("a wrong authkey fails on both sides and closes the connection" * doctest::timeout(60)) {
    ipc::test::TempDir dir;
    int before = ipc::test::count_open_fds();
    {
      ipc::Listener l("unix:" + (dir / "s").string(), "right");
      ipc::Process p{[a = l.address()] {
        try {
          auto c = ipc::Client(a, "wrong", 10s);
        } catch (const ipc::AuthenticationError&) {
          return 7;
        }
        return 0;
      }};
      p.start();
      CHECK_THROWS_AS(l.accept(10s), ipc::AuthenticationError);
      CHECK(p.join(10s));
      CHECK(*p.exitcode() == 7);
      // The listener stays usable for the next client.
      ipc::Process q{[a = l.address()] {
        auto c = ipc::Client(a, "right", 10s);
        c.send(1);
      }};
      q.start();
      CHECK(l.accept(10s).recv<int>(10s) == 1);
      CHECK(q.join(10s));
    }
    CHECK(ipc::test::count_open_fds() == before);
  }

  TEST_CASE("a client that connects and never speaks does not block the listener for others" *
            doctest::timeout(60)) {
    ipc::test::TempDir dir;
    ipc::Listener l("unix:" + (dir / "s").string(), "key");
    // A raw socket that connects and then says nothing.
    int silent = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    std::strcpy(un.sun_path, (dir / "s").c_str());
    REQUIRE(::connect(silent, reinterpret_cast<sockaddr*>(&un), sizeof un) == 0);
    ipc::Process p{[a = l.address()] {
      auto c = ipc::Client(a, "key", 20s);
      c.send(std::string("served"));
    }};
    p.start();
    // The silent client arrived first; the good one is served anyway, well before the
    // handshake limit (10 s) could have dropped the silent one.
    auto c = l.accept(8s);
    CHECK(c.recv<std::string>(10s) == "served");
    CHECK(p.join(10s));
    ::close(silent);
  }

  TEST_CASE("a silent client is dropped after the handshake timeout") {
    ipc::test::TempDir dir;
    ipc::Listener l("unix:" + (dir / "s").string(), "key");
    l.handshake_timeout(100ms);
    int silent = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    std::strcpy(un.sun_path, (dir / "s").c_str());
    REQUIRE(::connect(silent, reinterpret_cast<sockaddr*>(&un), sizeof un) == 0);
    CHECK_THROWS_AS(l.accept(500ms), ipc::TimeoutError);
    // The listener hung up on it: after the challenge frame, EOF.
    ipc::Connection c{ipc::detail::UniqueFd(silent), true, true};
    CHECK(c.recv_bytes(256, 5s).size() > 0);
    CHECK_THROWS_AS(c.recv_bytes(256, 5s), ipc::ConnectionClosed);
  }

  TEST_CASE("a client without the authkey cannot talk to a listener that requires one" * doctest::timeout(30)) {
    ipc::test::TempDir dir;
    ipc::Listener l("unix:" + (dir / "s").string(), "key");
    ipc::Process p{[a = l.address()] {
      auto c = ipc::Client(a, std::nullopt, 10s);
      c.send(std::string("let me in"));
      try {
        c.recv_bytes(256, 10s);  // the challenge
        c.recv_bytes(256, 10s);  // the failure verdict
      } catch (const ipc::ConnectionClosed&) {
      }
    }};
    p.start();
    CHECK_THROWS_AS(l.accept(10s), ipc::AuthenticationError);
    CHECK(p.join(10s));
  }

  TEST_CASE("connecting to a missing path or a closed port gives a clear error and leaks no fd") {
    ipc::test::TempDir dir;
    int before = ipc::test::count_open_fds();
    try {
      ipc::Client("unix:" + (dir / "nothing-here").string());
      FAIL("expected an error");
    } catch (const std::system_error& e) {
      CHECK(e.code().value() == ENOENT);
      CHECK(std::string(e.what()).find("nothing-here") != std::string::npos);
    }
    std::string tcp_addr;
    {
      ipc::Listener l("tcp:127.0.0.1:0");
      tcp_addr = l.address();
    }
    CHECK_THROWS_AS(ipc::Client(tcp_addr, std::nullopt, 5s), std::system_error);
    CHECK_THROWS_AS(ipc::Client("bogus:addr"), ipc::ValueError);
    CHECK_THROWS_AS(ipc::Listener("unix:"), ipc::ValueError);
    CHECK_THROWS_AS(ipc::Client("tcp:127.0.0.1"), ipc::ValueError);
    CHECK(ipc::test::count_open_fds() == before);
  }

  TEST_CASE("accept times out when nobody connects") {
    ipc::Listener l("tcp:127.0.0.1:0");
    CHECK_THROWS_AS(l.accept(50ms), ipc::TimeoutError);
    l.close();
    CHECK_THROWS_AS(l.accept(50ms), ipc::ValueError);
  }

  TEST_CASE("a client with an authkey times out against a listener that never answers") {
    ipc::Listener l("tcp:127.0.0.1:0");  // no authkey: never sends a challenge
    CHECK_THROWS_AS(ipc::Client(l.address(), "key", 200ms), ipc::TimeoutError);
  }
}

TEST_SUITE("Fifo") {
  TEST_CASE("a created FIFO has mode 0600 and is unlinked by its creator only") {
    ipc::test::TempDir dir;
    auto path = dir / "f";
    {
      auto f = ipc::Fifo::create(path, ipc::Fifo::Mode::read_write);
      struct stat st{};
      REQUIRE(::stat(path.c_str(), &st) == 0);
      CHECK(S_ISFIFO(st.st_mode));
      CHECK((st.st_mode & 0777) == 0600);
      CHECK(f.owner());
      f.send(std::string("self"));
      CHECK(f.recv<std::string>(1s) == "self");
      ipc::Process p{[&] { f.unlink(); }};  // a child's copy never unlinks
      p.start();
      CHECK(p.join(10s));
      CHECK(std::filesystem::exists(path));
      CHECK_THROWS_AS(ipc::Fifo::create(path, ipc::Fifo::Mode::read_write), std::system_error);
    }
    CHECK_FALSE(std::filesystem::exists(path));
  }

  TEST_CASE("opening a FIFO for writing with no reader times out") {
    ipc::test::TempDir dir;
    int before = ipc::test::count_open_fds();
    {
      auto path = dir / "f";
      auto owner = ipc::Fifo::create(path, ipc::Fifo::Mode::read);
      owner.close();  // no reader any more
      auto t0 = std::chrono::steady_clock::now();
      CHECK_THROWS_AS(ipc::Fifo::open(path, ipc::Fifo::Mode::write, 200ms), ipc::TimeoutError);
      CHECK(std::chrono::steady_clock::now() - t0 >= 200ms);
    }
    CHECK(ipc::test::count_open_fds() == before);
  }

  TEST_CASE("a reader opens at once and recv times out while no writer comes") {
    ipc::test::TempDir dir;
    auto f = ipc::Fifo::create(dir / "f", ipc::Fifo::Mode::read, 1s);
    CHECK_FALSE(f.poll());
    CHECK_THROWS_AS(f.recv<int>(100ms), ipc::TimeoutError);
  }

  TEST_CASE("missing paths and non-FIFOs are refused") {
    ipc::test::TempDir dir;
    CHECK_THROWS_AS(ipc::Fifo::open(dir / "none", ipc::Fifo::Mode::read), std::system_error);
    CHECK_THROWS_AS(ipc::Fifo::open(dir.path(), ipc::Fifo::Mode::read), ipc::ValueError);
  }

  TEST_CASE("a writer process and a reader talk through a FIFO and the reader sees EOF" * doctest::timeout(30)) {
    ipc::test::TempDir dir;
    auto path = dir / "f";
    auto reader = ipc::Fifo::create(path, ipc::Fifo::Mode::read);
    ipc::Process p{[path] {
      auto w = ipc::Fifo::open(path, ipc::Fifo::Mode::write, 10s);
      for (int i = 0; i < 100; ++i) w.send(i);
      w.send(std::string(1 << 20, 'q'));  // bigger than the pipe buffer
    }};
    p.start();
    for (int i = 0; i < 100; ++i) REQUIRE(reader.recv<int>(10s) == i);
    CHECK(reader.recv<std::string>(10s).size() == (1u << 20));
    CHECK_THROWS_AS(reader.recv<int>(10s), ipc::ConnectionClosed);
    CHECK(p.join(10s));
  }
}

TEST_SUITE("wait") {
  TEST_CASE("wait over a mix of connections and listeners and fifos and processes" * doctest::timeout(30)) {
    ipc::test::TempDir dir;
    auto [a, b] = ipc::Pipe();
    ipc::Listener l("unix:" + (dir / "s").string());
    auto fifo = ipc::Fifo::create(dir / "f", ipc::Fifo::Mode::read_write);
    ipc::Process p{[] { std::this_thread::sleep_for(30s); }};
    p.start();

    CHECK(ipc::wait({b, l, fifo, p}, 20ms).empty());

    fifo.send(1);
    auto ready = ipc::wait({b, l, fifo, p}, 5s);
    REQUIRE(ready.size() == 1);
    CHECK(ready[0].is(fifo));
    CHECK(fifo.recv<int>() == 1);

    ipc::Process client{[addr = l.address()] { auto c = ipc::Client(addr, std::nullopt, 10s); }};
    client.start();
    ready = ipc::wait({b, l, fifo, p}, 10s);
    REQUIRE(ready.size() == 1);
    CHECK(ready[0].listener() == &l);
    auto c = l.accept(10s);
    CHECK(client.join(10s));

    p.kill();
    ready = ipc::wait({b, l, fifo, p}, 10s);
    REQUIRE(ready.size() == 1);
    CHECK(ready[0].process() == &p);
    CHECK(p.join(10s));

    a.send(5);
    std::vector<ipc::Waitable> objs{b, fifo};
    ready = ipc::wait(objs, 5s);
    REQUIRE(ready.size() == 1);
    CHECK(ready[0].is(b));
  }
}
