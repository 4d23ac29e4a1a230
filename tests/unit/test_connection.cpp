// Connection and Pipe in one process: framing, types, limits, timeouts, bad input, wait().
#include <doctest/doctest.h>

#include <ipc/connection.hpp>
#include <ipc/detail/hmac.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

using namespace std::chrono_literals;

namespace {

struct Point {
  int x;
  double y;
};

/// Writes raw bytes to an fd (bypassing framing) to forge bad input.
void raw_write(int fd, const void* data, std::size_t n) { REQUIRE(::write(fd, data, n) == static_cast<ssize_t>(n)); }

/// A frame header as the library writes it: length, then length ^ "IPKC".
void raw_header(int fd, std::uint32_t len) {
  std::uint32_t h[2] = {len, len ^ 0x49504B43u};
  raw_write(fd, h, sizeof h);
}

}  // namespace

TEST_SUITE("Connection") {
  TEST_CASE("send and recv carry trivially copyable and cereal types") {
    auto [a, b] = ipc::Pipe();
    a.send(42);
    a.send(Point{3, 2.5});
    a.send(std::string("hello"));
    a.send(std::map<std::string, std::vector<int>>{{"k", {1, 2, 3}}});
    CHECK(b.recv<int>() == 42);
    auto p = b.recv<Point>();
    CHECK(p.x == 3);
    CHECK(p.y == 2.5);
    CHECK(b.recv<std::string>() == "hello");
    CHECK(b.recv<std::map<std::string, std::vector<int>>>().at("k") == std::vector<int>{1, 2, 3});
    // duplex: the other way too
    b.send(std::string("back"));
    CHECK(a.recv<std::string>() == "back");
  }

  TEST_CASE("send_bytes with offset and size and recv_bytes and empty messages") {
    auto [b, a] = ipc::Pipe(false);  // read end first
    std::string s = "0123456789";
    auto bytes = ipc::as_bytes(s);
    a.send_bytes(bytes, 2, 3);
    a.send_bytes(bytes, 7);
    a.send_bytes(std::string_view{});
    a.send_bytes("text");
    auto m1 = b.recv_bytes();
    CHECK(std::string(reinterpret_cast<const char*>(m1.data()), m1.size()) == "234");
    auto m2 = b.recv_bytes();
    CHECK(std::string(reinterpret_cast<const char*>(m2.data()), m2.size()) == "789");
    CHECK(b.recv_bytes().empty());
    CHECK(b.recv_bytes().size() == 4);
    CHECK_THROWS_AS(a.send_bytes(bytes, 11), ipc::ValueError);
    CHECK_THROWS_AS(a.send_bytes(bytes, 5, 6), ipc::ValueError);
  }

  TEST_CASE("a one-way pipe has a read end and a write end and misuse is an error") {
    auto [r, w] = ipc::Pipe(false);
    CHECK(r.readable());
    CHECK_FALSE(r.writable());
    CHECK(w.writable());
    CHECK_FALSE(w.readable());
    CHECK_THROWS_AS(r.send(1), ipc::ValueError);
    CHECK_THROWS_AS(w.recv<int>(), ipc::ValueError);
    CHECK_THROWS_AS(w.poll(), ipc::ValueError);
  }

  TEST_CASE("a 64 MiB message arrives whole") {
    auto [a, b] = ipc::Pipe();
    std::vector<std::uint32_t> big(16 * 1024 * 1024);
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::uint32_t>(i * 2654435761u);
    std::thread sender([&, &a = a] { a.send(big); });
    auto got = b.recv<std::vector<std::uint32_t>>(60s);
    sender.join();
    CHECK(got.size() == big.size());
    CHECK(got == big);
    // and as raw bytes, followed by a small message on the same stream
    std::thread sender2([&, &a = a] {
      a.send_bytes(std::span<const std::byte>(reinterpret_cast<const std::byte*>(big.data()), big.size() * 4));
      a.send(7);
    });
    auto raw = b.recv_bytes();
    CHECK(raw.size() == big.size() * 4);
    CHECK(std::memcmp(raw.data(), big.data(), raw.size()) == 0);
    CHECK(b.recv<int>(10s) == 7);
    sender2.join();
  }

  TEST_CASE("poll reports a waiting message and times out otherwise") {
    auto [a, b] = ipc::Pipe();
    CHECK_FALSE(b.poll());
    CHECK_FALSE(b.poll(50ms));
    a.send(1);
    a.send(2);
    CHECK(b.poll());
    CHECK(b.recv<int>() == 1);
    // The second message may already sit in b's buffer: poll must still say so.
    CHECK(b.has_buffered_message());
    CHECK(b.poll());
    CHECK(b.recv<int>() == 2);
    CHECK_FALSE(b.poll());
  }

  TEST_CASE("recv with a timeout throws TimeoutError and try_recv returns nothing") {
    auto [a, b] = ipc::Pipe();
    auto t0 = std::chrono::steady_clock::now();
    CHECK_THROWS_AS(b.recv<int>(100ms), ipc::TimeoutError);
    CHECK(std::chrono::steady_clock::now() - t0 >= 100ms);
    CHECK_FALSE(b.try_recv<int>(10ms).has_value());
    CHECK_FALSE(b.try_recv_bytes(ipc::Connection::npos, 0s).has_value());
    a.send(5);
    CHECK(b.try_recv<int>(1s) == 5);
  }

  TEST_CASE("a message received in parts across timeouts is kept and completed") {
    auto [a, b] = ipc::Pipe();
    SUBCASE("small message") {
      raw_header(a.fileno(), 8);
      raw_write(a.fileno(), "abcd", 4);
      CHECK_THROWS_AS(b.recv_bytes(ipc::Connection::npos, 20ms), ipc::TimeoutError);
      raw_write(a.fileno(), "efgh", 4);
      auto m = b.recv_bytes(ipc::Connection::npos, 1s);
      CHECK(std::string(reinterpret_cast<const char*>(m.data()), m.size()) == "abcdefgh");
    }
    SUBCASE("message larger than the read buffer") {
      std::string part(100000, 'x');
      raw_header(a.fileno(), 200000);
      std::thread t([&, fd = a.fileno()] { raw_write(fd, part.data(), part.size()); });
      CHECK_THROWS_AS(b.recv_bytes(ipc::Connection::npos, 100ms), ipc::TimeoutError);
      t.join();
      std::thread t2([&, fd = a.fileno()] { raw_write(fd, part.data(), part.size()); });
      auto m = b.recv_bytes(ipc::Connection::npos, 10s);
      t2.join();
      CHECK(m.size() == 200000);
    }
  }

  TEST_CASE("send with a timeout gives up when the peer does not read") {
    SUBCASE("socket buffer already full: nothing is sent and the connection stays usable") {
      auto [a, b] = ipc::Pipe();
      std::vector<char> chunk(4096, 'f');
      while (::send(a.fileno(), chunk.data(), chunk.size(), MSG_DONTWAIT) > 0) {
      }
      while (::send(a.fileno(), chunk.data(), 1, MSG_DONTWAIT) > 0) {
      }
      CHECK_THROWS_WITH_AS(a.send(1, 50ms), doctest::Contains("nothing was sent"), ipc::TimeoutError);
      CHECK_FALSE(a.closed());
    }
    SUBCASE("a big message on a pipe: part is written and the connection is closed") {
      auto [r, w] = ipc::Pipe(false);
      CHECK_THROWS_WITH_AS(w.send(std::string(4 << 20, 'x'), 100ms), doctest::Contains("connection is closed"),
                           ipc::TimeoutError);
      CHECK(w.closed());
      CHECK_THROWS_AS(r.recv<std::string>(5s), ipc::ConnectionClosed);  // truncated frame
    }
    SUBCASE("a bounded send that fits completes") {
      auto [a, b] = ipc::Pipe(false);
      b.send(std::string(1000, 'y'), 1s);
      CHECK(a.recv<std::string>(1s).size() == 1000);
    }
  }

  TEST_CASE("recv on a closed peer throws ConnectionClosed") {
    auto [a, b] = ipc::Pipe();
    a.send(1);
    a.close();
    CHECK(a.closed());
    CHECK(b.recv<int>() == 1);
    CHECK(b.poll());  // EOF counts as readable, as in Python
    CHECK_THROWS_AS(b.recv<int>(), ipc::ConnectionClosed);
    CHECK_THROWS_AS(b.recv<int>(1s), ipc::ConnectionClosed);
    CHECK_THROWS_AS(b.send(2), ipc::ConnectionClosed);  // EPIPE without dying of SIGPIPE
    CHECK_THROWS_AS(a.send(1), ipc::ValueError);        // our own end is closed
  }

  TEST_CASE("writing to a pipe whose reader is gone throws ConnectionClosed instead of SIGPIPE") {
    auto [r, w] = ipc::Pipe(false);
    r.close();
    CHECK_THROWS_AS(w.send(1), ipc::ConnectionClosed);
    CHECK_THROWS_AS(w.send(std::string(100000, 'x')), ipc::ConnectionClosed);
  }

  TEST_CASE("a truncated frame gives ConnectionClosed and closes the connection") {
    auto [a, b] = ipc::Pipe();
    raw_header(a.fileno(), 100);
    raw_write(a.fileno(), "only part", 9);
    a.close();
    CHECK_THROWS_AS(b.recv_bytes(), ipc::ConnectionClosed);
    CHECK(b.closed());
  }

  TEST_CASE("an oversized length prefix is refused before allocating") {
    auto [a, b] = ipc::Pipe();
    SUBCASE("above the default maximum") {
      raw_header(a.fileno(), 0xFFFFFF00u);
      CHECK_THROWS_AS(b.recv_bytes(), ipc::ProtocolError);
    }
    SUBCASE("above a configured maximum") {
      b.max_message_size(1000);
      raw_header(a.fileno(), 1001);
      CHECK_THROWS_AS(b.recv<std::string>(), ipc::ProtocolError);
    }
    SUBCASE("above recv_bytes maxlength") {
      a.send(std::string(100, 'x'));
      CHECK_THROWS_AS(b.recv_bytes(10), ipc::ProtocolError);
    }
    CHECK(b.closed());
  }

  TEST_CASE("the maximum message size is enforced by the sender too") {
    auto [a, b] = ipc::Pipe();
    a.max_message_size(16);
    CHECK_THROWS_WITH_AS(a.send(std::string(100, 'x')), doctest::Contains("exceeds max_message_size"),
                         ipc::ValueError);
    a.send(std::string(4, 'x'));  // nothing of the refused message was written
    CHECK(b.recv<std::string>(1s) == "xxxx");
    CHECK_THROWS_AS(a.max_message_size(0), ipc::ValueError);
  }

  TEST_CASE("garbage on the stream gives ProtocolError") {
    auto [a, b] = ipc::Pipe();
    raw_write(a.fileno(), "GET / HTTP/1.1\r\n\r\n", 18);
    CHECK_THROWS_WITH_AS(b.recv<int>(1s), doctest::Contains("garbage"), ipc::ProtocolError);
    CHECK(b.closed());
  }

  TEST_CASE("bytes that do not decode as the type give ProtocolError and the stream goes on") {
    auto [a, b] = ipc::Pipe();
    a.send(std::int16_t{1});
    a.send(9);
    CHECK_THROWS_AS(b.recv<int>(), ipc::ProtocolError);
    CHECK(b.recv<int>() == 9);
  }

  TEST_CASE("recv_bytes_into fills a buffer or throws BufferTooShort with the message") {
    auto [a, b] = ipc::Pipe();
    a.send_bytes("abcdef");
    a.send_bytes("ab");
    std::array<std::byte, 4> buf{};
    try {
      b.recv_bytes_into(buf);
      FAIL("expected BufferTooShort");
    } catch (const ipc::BufferTooShort& e) {
      CHECK(e.bytes().size() == 6);
    }
    CHECK(b.recv_bytes_into(buf) == 2);
    CHECK(buf[1] == std::byte{'b'});
  }

  TEST_CASE("peer credentials of a socketpair name this process") {
    auto [a, b] = ipc::Pipe();
    CHECK(a.peer_pid() == ::getpid());
    CHECK(a.peer_uid() == ::getuid());
    CHECK(a.peer_gid() == ::getgid());
    auto [r, w] = ipc::Pipe(false);
    CHECK_THROWS_AS(r.peer_credentials(), ipc::ValueError);
  }

  TEST_CASE("pipes and closes leak no fd") {
    int before = ipc::test::count_open_fds();
    {
      auto [a, b] = ipc::Pipe();
      auto [c, d] = ipc::Pipe(false);
      a.send(1);
      ipc::Connection moved = std::move(b);
      CHECK(moved.recv<int>() == 1);
      c.close();
      c.close();  // idempotent
    }
    CHECK(ipc::test::count_open_fds() == before);
  }

  TEST_CASE("wait returns the ready connections and honours buffered messages") {
    auto [a, b] = ipc::Pipe();
    auto [c, d] = ipc::Pipe();
    CHECK(ipc::wait({b, d}, 20ms).empty());
    c.send(1);
    auto ready = ipc::wait({b, d}, 1s);
    REQUIRE(ready.size() == 1);
    CHECK(ready[0].is(d));
    CHECK(ready[0].connection() == &d);
    a.send(1);
    a.send(2);
    CHECK(b.recv<int>() == 1);
    // 2 may now be buffered inside b with nothing left on its fd: wait must still report b
    ready = ipc::wait({b, d}, 1s);
    CHECK(ready.size() == 2);
    CHECK(b.recv<int>() == 2);
    CHECK(d.recv<int>() == 1);
    b.close();
    CHECK_THROWS_AS(ipc::wait({b, d}, 0s), ipc::ValueError);
    // The fd overloads still work.
    c.send(3);
    CHECK(ipc::wait({d.fileno()}, 1s) == std::vector<int>{d.fileno()});
  }
}

TEST_SUITE("authkey digests") {
  TEST_CASE("digests and secrets compare equal only when identical") {
    auto d1 = ipc::detail::hmac_sha256("key", std::as_bytes(std::span<const char>("challenge", 9)));
    auto d2 = ipc::detail::hmac_sha256("key", std::as_bytes(std::span<const char>("challenge", 9)));
    auto d3 = ipc::detail::hmac_sha256("kez", std::as_bytes(std::span<const char>("challenge", 9)));
    CHECK(ipc::detail::digest_equal(d1, d2));
    CHECK_FALSE(ipc::detail::digest_equal(d1, d3));
    CHECK_FALSE(ipc::detail::digest_equal(d1, std::span<const std::byte>(d2).first(31)));
    CHECK(ipc::detail::secret_equal("sesame", "sesame"));
    CHECK(ipc::detail::secret_equal("", ""));
    CHECK_FALSE(ipc::detail::secret_equal("sesame", "sesamf"));
    CHECK_FALSE(ipc::detail::secret_equal("sesame", "sesame!"));
    CHECK_FALSE(ipc::detail::secret_equal("sesame", ""));
    CHECK_FALSE(ipc::detail::secret_equal(std::string_view("a\0b", 3), std::string_view("a\0c", 3)));
  }
}
