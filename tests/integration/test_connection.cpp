// Connections between processes: Pipe across fork, Listener/Client on unix, abstract and TCP
// addresses with and without authkey, peer credentials, Fifo, wait() over mixed objects.
#include <doctest/doctest.h>

#include <ipc/connection.hpp>
#include <ipc/fifo.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <ranges>
#include <string>
#include <thread>

#include "run_command.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;

namespace {

/// The three kinds of address, fresh for each test.
std::vector<std::string> addresses(const ipc::test::TempDir& dir) {
  return {"unix:" + (dir / "sock").string(), "unix:@" + ipc::test::unique_name("abs").substr(1), "tcp:127.0.0.1:0"};
}

/// A raw socket that connects to a unix listener and then never says a word.
int connect_silently(const std::filesystem::path& path) {
  int fd = ipc::test::connect_unix(path);
  REQUIRE(fd >= 0);
  return fd;
}

/// A directory anyone may create files in, sticky like /tmp (mode 1777), removed at the end.
struct SharedTempDir : ipc::test::TempDir {
  SharedTempDir() { ::chmod(path().c_str(), 01777); }
};

/// The uid of "nobody", the other user of the tests that need one.
uid_t nobody_uid() {
  const passwd* pw = ::getpwnam("nobody");
  return pw ? pw->pw_uid : 65534;
}

/// Runs a shell command as nobody (needs root); its exit code.
int as_nobody(const std::string& cmd) {
  return ipc::test::run_command("setpriv --reuid=nobody --regid=nogroup --clear-groups sh -c '" + cmd + "'").code;
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
    int silent = connect_silently(dir / "s");
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
    int silent = connect_silently(dir / "s");
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

  TEST_CASE("wait_for_writer times out with no writer and returns once one opens" * doctest::timeout(30)) {
    ipc::test::TempDir dir;
    auto path = dir / "f";
    auto reader = ipc::Fifo::create(path, ipc::Fifo::Mode::read);
    auto t0 = std::chrono::steady_clock::now();
    CHECK_FALSE(reader.wait_for_writer(150ms));
    CHECK(std::chrono::steady_clock::now() - t0 >= 150ms);
    // A writer that opens and stays silent until told: the reader sees it without any data.
    auto [go_r, go_w] = ipc::Pipe(false);
    ipc::Process p{[&] {
      go_w.close();
      auto w = ipc::Fifo::open(path, ipc::Fifo::Mode::write, 10s);
      go_r.recv<int>(10s);
      w.send(std::string("after the open"));
    }};
    p.start();
    go_r.close();
    CHECK(reader.wait_for_writer(10s));
    CHECK_FALSE(reader.poll());  // nothing was sent yet
    go_w.send(1);
    CHECK(reader.recv<std::string>(10s) == "after the open");
    CHECK(p.join(10s));
    auto rw = ipc::Fifo::open(path, ipc::Fifo::Mode::read_write);
    CHECK_THROWS_AS(rw.wait_for_writer(0s), ipc::ValueError);
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

TEST_SUITE("Fifo with several writers") {
  TEST_CASE("small messages from several writer processes never interleave" * doctest::timeout(60)) {
    ipc::test::TempDir dir;
    auto path = dir / "f";
    // read_write: the reader is a writer too, so it sees no EOF in a gap between writers.
    auto reader = ipc::Fifo::create(path, ipc::Fifo::Mode::read_write);
    std::vector<ipc::Process> writers;
    for (int w = 0; w < 4; ++w)
      writers.emplace_back([path, w] {
        auto f = ipc::Fifo::open(path, ipc::Fifo::Mode::write, 10s);
        for (int i = 0; i < 300; ++i) f.send(std::vector<int>(500, w * 1000 + i));  // ~2 KiB frames
      });
    for (auto& w : writers) w.start();
    std::vector<int> next(4, 0);
    for (int n = 0; n < 1200; ++n) {
      auto v = reader.recv<std::vector<int>>(20s);
      REQUIRE(v.size() == 500);
      int w = v[0] / 1000, i = v[0] % 1000;
      REQUIRE(w < 4);
      CHECK(std::count(v.begin(), v.end(), v[0]) == 500);  // whole, not mixed with another frame
      CHECK(i == next[w]++);                                // each writer's order kept
    }
    for (auto& w : writers) CHECK(w.join(10s));
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

TEST_SUITE("wait on a listener with an authkey") {
  TEST_CASE("a silent client does not freeze a server loop of wait and accept" * doctest::timeout(60)) {
    ipc::test::TempDir dir;
    ipc::Listener l("unix:" + (dir / "s").string(), "key");
    l.handshake_timeout(60s);  // the silent client is not dropped while the test runs
    auto [in_r, in_w] = ipc::Pipe(false);    // feeder -> server
    auto [out_r, out_w] = ipc::Pipe(false);  // server -> feeder
    auto [res_r, res_w] = ipc::Pipe(false);  // server -> test: what it served
    int silent = connect_silently(dir / "s");  // in the backlog before the server starts

    // The server: the natural loop over ipc::wait, accept() without a timeout.
    ipc::Process server{[&] {
      bool served_pipe = false, accepted = false;
      while (!served_pipe || !accepted) {
        auto ready = ipc::wait({l, in_r}, 30s);
        if (ready.empty()) return 3;
        for (auto& w : ready) {
          if (w.is(l)) {
            auto c = l.accept();
            res_w.send("accepted " + c.recv<std::string>(10s));
            accepted = true;
          } else {
            out_w.send(in_r.recv<int>() + 1);
            res_w.send(std::string("served the pipe"));
            served_pipe = true;
          }
        }
      }
      return 0;
    }};
    // The feeder writes on the pipe and connects as a good client only once it got its answer,
    // so the server has to serve the pipe while the silent client is still connected.
    ipc::Process feeder{[&] {
      in_w.send(41);
      if (out_r.recv<int>(20s) != 42) return 4;
      auto c = ipc::Client(l.address(), "key", 20s);
      c.send(std::string("good"));
      return 0;
    }};
    server.start();
    feeder.start();
    bool done = server.join(30s);
    if (!done) server.kill();
    CHECK(done);
    CHECK(feeder.join(30s));
    CHECK(server.exitcode() == 0);
    CHECK(feeder.exitcode() == 0);
    res_w.close();
    CHECK(res_r.recv<std::string>(1s) == "served the pipe");
    CHECK(res_r.recv<std::string>(1s) == "accepted good");
    ::close(silent);
  }

  TEST_CASE("wait drops a silent client at the handshake limit and reports a wrong key as ready" *
            doctest::timeout(60)) {
    ipc::test::TempDir dir;
    ipc::Listener l("unix:" + (dir / "s").string(), "key");
    l.handshake_timeout(100ms);
    int silent = connect_silently(dir / "s");
    // Only a handshake in progress: never ready, and the silent client is hung up on while
    // wait() sleeps (after the challenge frame it reads EOF).
    CHECK(ipc::wait({l}, 500ms).empty());
    ipc::Connection c{ipc::detail::UniqueFd(silent), true, true};
    CHECK(c.recv_bytes(256, 5s).size() > 0);
    CHECK_THROWS_AS(c.recv_bytes(256, 5s), ipc::ConnectionClosed);

    l.handshake_timeout(20s);
    ipc::Process wrong{[a = l.address()] {
      try {
        ipc::Client(a, "not the key", 20s);
      } catch (const ipc::AuthenticationError&) {
        return 7;
      }
      return 0;
    }};
    wrong.start();
    auto ready = ipc::wait({l}, 20s);
    REQUIRE(ready.size() == 1);
    CHECK_THROWS_AS(l.accept(0s), ipc::AuthenticationError);  // at once: the verdict is in
    CHECK(wrong.join(10s));
    CHECK(wrong.exitcode() == 7);
    CHECK_FALSE(l.poll());
  }

  TEST_CASE("accept without a timeout returns a finished client while another stays silent" *
            doctest::timeout(60)) {
    ipc::test::TempDir dir;
    ipc::Listener l("unix:" + (dir / "s").string(), "key");
    l.handshake_timeout(60s);
    int silent = connect_silently(dir / "s");
    ipc::Process good{[a = l.address()] { ipc::Client(a, "key", 20s).send(5); }};
    good.start();
    CHECK(l.accept().recv<int>(10s) == 5);
    CHECK(good.join(10s));
    CHECK_FALSE(l.poll(50ms));  // the silent one is still pending, not finished
    ::close(silent);
  }
}

TEST_SUITE("wait_indices") {
  TEST_CASE("a server keeps its readers in a vector and drops each one that closes" * doctest::timeout(60)) {
    std::vector<ipc::Connection> readers;
    std::vector<ipc::Process> writers;
    for (int w = 0; w < 5; ++w) {
      auto [r, wr] = ipc::Pipe(false);
      writers.emplace_back([&wr, w] {
        for (int i = 0; i < 20 * (w + 1); ++i) wr.send(w);
      });
      writers.back().start();
      wr.close();
      readers.push_back(std::move(r));  // the vector reallocates: indices do not care
    }
    std::vector<int> got(5, 0);
    int rounds = 0;
    while (!readers.empty() && ++rounds < 100000) {
      for (std::size_t i : ipc::wait_indices(readers, 10s)) {
        try {
          ++got.at(static_cast<std::size_t>(readers[i].recv<int>(1s)));
        } catch (const ipc::ConnectionClosed&) {
          readers[i].close();
        }
      }
      std::erase_if(readers, [](const ipc::Connection& c) { return c.closed(); });
    }
    CHECK(readers.empty());
    CHECK(got == std::vector<int>{20, 40, 60, 80, 100});
    for (auto& w : writers) CHECK(w.join(10s));
  }

  TEST_CASE("wait_indices takes spans and vectors of any waitable and erasing backwards is safe" *
            doctest::timeout(30)) {
    std::vector<ipc::Connection> ends;
    std::vector<ipc::Connection> peers;
    for (int i = 0; i < 4; ++i) {
      auto [a, b] = ipc::Pipe();
      ends.push_back(std::move(a));
      peers.push_back(std::move(b));
    }
    CHECK(ipc::wait_indices(ends, 10ms).empty());
    peers[1].send(1);
    peers[3].send(3);
    CHECK(ipc::wait_indices(std::span<ipc::Connection>(ends), 5s) == std::vector<std::size_t>{1, 3});
    for (std::size_t i : ipc::wait_indices(ends, 5s) | std::views::reverse) {
      CHECK(ends[i].recv<int>() == static_cast<int>(i));
      ends.erase(ends.begin() + static_cast<std::ptrdiff_t>(i));  // later indices come first
    }
    CHECK(ends.size() == 2);
    ipc::Process p{[] {}};
    p.start();
    std::vector<ipc::Waitable> mixed{ends[0], ends[1], p};
    CHECK(ipc::wait_indices(mixed, 10s) == std::vector<std::size_t>{2});
    CHECK(p.join(10s));
    std::vector<int> fds{ends[0].fileno(), ends[1].fileno()};
    peers[2].send(2);  // ends[1] is what was ends[2]
    CHECK(ipc::wait_indices(fds, 5s) == std::vector<std::size_t>{1});
    ends[0].close();
    CHECK_THROWS_AS(ipc::wait_indices(ends, 0s), ipc::ValueError);
  }
}

TEST_SUITE("bounded sends on a shared end") {
  // Two sender processes share one write end (one file description, inherited by fork) and send
  // with timeouts while a third process reads; this process shares the description too and
  // samples its flags the whole time.
  void two_senders_one_reader(bool duplex) {
    constexpr int kPerSender = 3000;
    auto [r, w] = ipc::Pipe(duplex);
    ipc::Process reader{[&] {
      w.close();
      std::vector<int> next(2, 0);
      for (int n = 0; n < 2 * kPerSender; ++n) {
        auto v = r.recv<std::vector<int>>(20s);  // ~2 KiB: a frame within PIPE_BUF stays whole
        if (v.size() != 500 || std::count(v.begin(), v.end(), v[0]) != 500) return 3;
        int s = v[0] / 100000, i = v[0] % 100000;
        if (s < 0 || s > 1 || i != next[static_cast<std::size_t>(s)]++) return 4;
        if (n % 200 == 0) std::this_thread::sleep_for(1ms);  // let the pipe fill now and then
      }
      return 0;
    }};
    reader.start();
    std::vector<ipc::Process> senders;
    for (int s = 0; s < 2; ++s)
      senders.emplace_back([&, s] {
        r.close();
        for (int i = 0; i < kPerSender; ++i) w.send(std::vector<int>(500, s * 100000 + i), 10s);
        return 0;
      });
    for (auto& s : senders) s.start();
    r.close();
    int samples = 0, nonblocking = 0;
    while (senders[0].is_alive() || senders[1].is_alive()) {
      int fl = ::fcntl(w.fileno(), F_GETFL);
      REQUIRE(fl >= 0);
      ++samples;
      if (fl & O_NONBLOCK) ++nonblocking;
    }
    CAPTURE(samples);
    CHECK(nonblocking == 0);
    for (auto& s : senders) {
      CHECK(s.join(30s));
      CHECK(s.exitcode() == 0);
    }
    CHECK(reader.join(30s));
    CHECK(reader.exitcode() == 0);
  }

  TEST_CASE("two processes sending with timeouts on one pipe never make it non-blocking" * doctest::timeout(120)) {
    two_senders_one_reader(false);
  }

  TEST_CASE("two processes sending with timeouts on one socket never make it non-blocking" * doctest::timeout(120)) {
    two_senders_one_reader(true);
  }

  TEST_CASE("a bounded send on a FIFO times out when full and leaves the end blocking") {
    ipc::test::TempDir dir;
    auto reader = ipc::Fifo::create(dir / "f", ipc::Fifo::Mode::read);
    auto writer = ipc::Fifo::open(dir / "f", ipc::Fifo::Mode::write, 1s);
    writer.send(std::string(1000, 'a'), 1s);
    CHECK(reader.recv<std::string>(1s) == std::string(1000, 'a'));
    CHECK_THROWS_AS(
        [&] {
          for (;;) writer.send(std::string(3000, 'b'), 50ms);
        }(),
        ipc::TimeoutError);
    CHECK_FALSE(writer.closed());  // the frame that did not fit was not started
    CHECK((::fcntl(writer.fileno(), F_GETFL) & O_NONBLOCK) == 0);
    CHECK(reader.recv<std::string>(1s) == std::string(3000, 'b'));
  }

  TEST_CASE("two senders on one pipe both time out when nobody reads" * doctest::timeout(60)) {
    for (bool duplex : {false, true}) {
      CAPTURE(duplex);
      auto [r, w] = ipc::Pipe(duplex);
      std::vector<ipc::Process> senders;
      for (int s = 0; s < 2; ++s)
        senders.emplace_back([&] {
          try {
            for (int i = 0; i < 1000000; ++i) w.send(std::string(3000, 'x'), 100ms);
          } catch (const ipc::TimeoutError&) {
            return 0;
          }
          return 5;
        });
      for (auto& s : senders) s.start();
      for (auto& s : senders) {
        bool done = s.join(20s);
        if (!done) s.kill();
        CHECK(done);
        CHECK(s.exitcode() == 0);
      }
      CHECK((::fcntl(w.fileno(), F_GETFL) & O_NONBLOCK) == 0);
    }
  }
}

TEST_SUITE("paths planted by another user") {
  TEST_CASE("a FIFO planted by another user is neither opened nor adopted") {
    if (::geteuid() != 0) return;  // needs root to become nobody
    SharedTempDir dir;
    auto path = dir / "f";
    REQUIRE(as_nobody("mkfifo -m 666 " + path.string()) == 0);
    CHECK_THROWS_WITH_AS(ipc::Fifo::open(path, ipc::Fifo::Mode::read), doctest::Contains("owned by uid 65534"),
                         std::system_error);
    CHECK_THROWS_AS(ipc::Fifo::open(path, ipc::Fifo::Mode::read_write), std::system_error);
    CHECK_THROWS_AS(ipc::Fifo::create(path, ipc::Fifo::Mode::read), std::system_error);  // EEXIST
    struct stat st{};
    REQUIRE(::lstat(path.c_str(), &st) == 0);  // still there, still theirs
    CHECK(st.st_uid == nobody_uid());
    CHECK((st.st_mode & 0777) == 0666);
    // Named explicitly, the other user's FIFO is accepted with the access it grants.
    auto f = ipc::Fifo::open(path, ipc::Fifo::Mode::read_write, {}, {nobody_uid(), 0666});
    CHECK_FALSE(f.owner());
    f.send(1);
    CHECK(f.recv<int>(1s) == 1);
    // Naming the owner does not widen the access: 0666 is more than 0600.
    CHECK_THROWS_WITH_AS(ipc::Fifo::open(path, ipc::Fifo::Mode::read, {}, {nobody_uid()}),
                         doctest::Contains("mode 0666"), std::system_error);
  }

  TEST_CASE("a symbolic link planted by another user is not followed") {
    if (::geteuid() != 0) return;
    SharedTempDir dir;
    auto mine = ipc::Fifo::create(dir / "mine", ipc::Fifo::Mode::read_write);
    REQUIRE(as_nobody("ln -s " + (dir / "mine").string() + " " + (dir / "link").string()) == 0);
    CHECK_THROWS_WITH_AS(ipc::Fifo::open(dir / "link", ipc::Fifo::Mode::write, 1s),
                         doctest::Contains("symbolic link"), std::system_error);
    CHECK_THROWS_AS(ipc::Fifo::open(dir / "link", ipc::Fifo::Mode::read, {}, {nobody_uid(), 0666}),
                    std::system_error);
    CHECK_THROWS_AS(ipc::Fifo::create(dir / "link", ipc::Fifo::Mode::read), std::system_error);
    CHECK(std::filesystem::is_symlink(dir / "link"));
    // A Listener does not bind through it or remove it either.
    CHECK_THROWS_AS(ipc::Listener("unix:" + (dir / "link").string()), std::system_error);
    CHECK(std::filesystem::is_symlink(dir / "link"));
  }

  TEST_CASE("a FIFO of our own that grants others more than asked is refused") {
    ipc::test::TempDir dir;
    auto path = dir / "g";
    REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
    REQUIRE(::chmod(path.c_str(), 0622) == 0);
    CHECK_THROWS_WITH_AS(ipc::Fifo::open(path, ipc::Fifo::Mode::read), doctest::Contains("grants"),
                         std::system_error);
    auto f = ipc::Fifo::open(path, ipc::Fifo::Mode::read, {}, {std::nullopt, 0622});
    CHECK_FALSE(f.closed());
  }

  TEST_CASE("a stale socket file of another user is not replaced by a Listener") {
    if (::geteuid() != 0) return;
    SharedTempDir dir;
    auto path = dir / "s";
    // Bound and closed by nobody: a stale socket file owned by another user.
    REQUIRE(as_nobody("python3 -c \"import socket; socket.socket(socket.AF_UNIX).bind(\\\"" + path.string() +
                      "\\\")\"") == 0);
    struct stat st{};
    REQUIRE(::lstat(path.c_str(), &st) == 0);
    REQUIRE(S_ISSOCK(st.st_mode));
    CHECK_THROWS_WITH_AS(ipc::Listener("unix:" + path.string()), doctest::Contains("owned by uid 65534"),
                         std::system_error);
    REQUIRE(::lstat(path.c_str(), &st) == 0);  // still there, still theirs
    CHECK(st.st_uid == nobody_uid());
  }
}
