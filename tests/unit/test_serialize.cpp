// Serialisation: round trips of common types, and garbage that must throw ProtocolError.
#include <doctest/doctest.h>

#include <ipc/serialize.hpp>

#include <map>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

namespace {
struct Point {
  int x;
  double y;
};

struct Order {
  std::string customer;
  std::vector<int> items;
  std::optional<std::string> note;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(customer, items, note);
  }
  bool operator==(const Order&) const = default;
};

template <class T>
T round_trip(const T& v) {
  return ipc::decode<T>(ipc::encode(v));
}
}  // namespace

TEST_SUITE("serialize") {
  TEST_CASE("trivially copyable types are memcpy frames of exactly sizeof bytes") {
    Point p{3, 4.5};
    auto bytes = ipc::encode(p);
    CHECK(bytes.size() == sizeof(Point));
    auto q = ipc::decode<Point>(bytes);
    CHECK(q.x == 3);
    CHECK(q.y == 4.5);
    CHECK(round_trip(42) == 42);
    CHECK(round_trip('c') == 'c');
  }

  TEST_CASE("strings vectors maps tuples optionals and variants round trip") {
    CHECK(round_trip(std::string("xiaohong")) == "xiaohong");
    CHECK(round_trip(std::string()).empty());
    CHECK(round_trip(std::vector<int>{1, 2, 3}) == std::vector<int>{1, 2, 3});
    std::map<std::string, int> m{{"mm", 10}, {"age", 18}};
    CHECK(round_trip(m) == m);
    auto t = std::make_tuple(std::string("x"), 18, std::map<std::string, int>{{"mm", 10}});
    CHECK(round_trip(t) == t);
    CHECK(round_trip(std::optional<int>{}) == std::nullopt);
    CHECK(round_trip(std::optional<int>{7}) == 7);
    std::variant<int, std::string> v = std::string("v");
    CHECK(round_trip(v) == v);
    std::vector<std::string> vs{"a", "", "ccc"};
    CHECK(round_trip(vs) == vs);
  }

  TEST_CASE("user types with a serialize member round trip") {
    Order o{"ann", {1, 2}, "fragile"};
    CHECK(round_trip(o) == o);
    Order empty{};
    CHECK(round_trip(empty) == empty);
  }

  TEST_CASE("encode_append concatenates frames") {
    ipc::Bytes buf;
    ipc::encode_append(1, buf);
    ipc::encode_append(2, buf);
    CHECK(buf.size() == 2 * sizeof(int));
  }

  TEST_CASE("a truncated frame throws ProtocolError") {
    auto bytes = ipc::encode(std::string("hello world"));
    for (std::size_t n = 0; n < bytes.size(); ++n) {
      std::span<const std::byte> cut(bytes.data(), n);
      CHECK_THROWS_AS(ipc::decode<std::string>(cut), ipc::ProtocolError);
    }
    CHECK_THROWS_AS(ipc::decode<Point>(std::span<const std::byte>(bytes.data(), 3)), ipc::ProtocolError);
  }

  TEST_CASE("trailing bytes are rejected") {
    auto bytes = ipc::encode(std::string("abc"));
    bytes.push_back(std::byte{0});
    CHECK_THROWS_AS(ipc::decode<std::string>(bytes), ipc::ProtocolError);
  }

  TEST_CASE("a huge length prefix throws before allocating") {
    ipc::Bytes bytes(8);
    std::uint64_t huge = std::uint64_t{1} << 60;
    std::memcpy(bytes.data(), &huge, 8);
    CHECK_THROWS_AS(ipc::decode<std::string>(bytes), ipc::ProtocolError);
    CHECK_THROWS_AS(ipc::decode<std::vector<double>>(bytes), ipc::ProtocolError);
    CHECK_THROWS_AS((ipc::decode<std::map<int, std::string>>(bytes)), ipc::ProtocolError);
    CHECK_THROWS_AS(ipc::decode<std::vector<std::vector<std::string>>>(bytes), ipc::ProtocolError);
  }

  TEST_CASE("a bad bool byte or variant index throws ProtocolError") {
    ipc::Bytes b{std::byte{2}};
    CHECK_THROWS_AS(ipc::decode<bool>(b), ipc::ProtocolError);
    CHECK_THROWS_AS(ipc::decode<std::optional<int>>(b), ipc::ProtocolError);
    auto v = ipc::encode(std::variant<int, std::string>{5});
    v[0] = std::byte{9};  // cereal writes the index as a 32-bit integer first
    CHECK_THROWS_AS((ipc::decode<std::variant<int, std::string>>(v)), ipc::ProtocolError);
  }

  TEST_CASE("random garbage never crashes and fails only with ProtocolError") {
    std::mt19937 rng(12345);
    int decoded = 0;
    for (int i = 0; i < 20000; ++i) {
      ipc::Bytes g(rng() % 64);
      for (auto& b : g) b = static_cast<std::byte>(rng());
      try {
        auto o = ipc::decode<Order>(g);
        ++decoded;
        CHECK(o.customer.size() <= g.size());
      } catch (const ipc::ProtocolError&) {
      }
    }
    // Mostly garbage fails; a few short frames happen to be valid, which is fine.
    CHECK(decoded < 20000);
  }
}
