// Manager proxies' wire encoding: a command built in place (RequestBuilder) is byte for byte
// the command made from mencode()d arguments.
#include <doctest/doctest.h>

#include <ipc/managers.hpp>

#include <climits>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace {

struct Point {
  int x = 0, y = 0;
  template <class A>
  void serialize(A& a) {
    a(x, y);
  }
};

// `cmd key v...` the reference way: each value through mencode, then add_command.
template <class... V>
std::string reference(std::string_view cmd, std::string_view key, const V&... vs) {
  std::vector<std::string> args{std::string(cmd), std::string(key)};
  (args.push_back(ipc::detail::mencode(vs)), ...);
  std::vector<std::string_view> views(args.begin(), args.end());
  std::string out;
  ipc::detail::resp::add_command(out, views);
  return out;
}

template <class... V>
std::string built(std::string_view cmd, std::string_view key, const V&... vs) {
  ipc::detail::RequestBuilder b(cmd, key);
  (b.value(vs), ...);
  return std::string(b.view());
}

template <class T>
void check_each(const std::vector<T>& values) {
  for (const T& v : values) {
    INFO("value " << ipc::detail::mencode(v));
    CHECK(built("SET", "k", v) == reference("SET", "k", v));
  }
}

}  // namespace

TEST_SUITE("manager") {

TEST_CASE("a value encoded in place is the bytes mencode gives, for every kind of value") {
  check_each<int>({0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, 12345, -1, -9, -10, -100, INT_MAX, INT_MIN});
  check_each<long long>({LLONG_MAX, LLONG_MIN, 1234567890123LL, -987654321098LL});
  check_each<unsigned long long>({0, 9, 10, ULLONG_MAX, 10000000000000000000ULL});
  check_each<short>({SHRT_MIN, SHRT_MAX, 0, -5});
  check_each<unsigned char>({0, 9, 10, 99, 100, 255});
  check_each<signed char>({-128, -10, 0, 127});
  check_each<char>({'a', '0', '\0'});
  check_each<std::int8_t>({-128, 127});
  check_each<bool>({true, false});
  check_each<double>({0.0, -0.0, 0.1, 1.0 / 3, -1e300, 5e-324, 123456789.125,
                      std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
                      std::numeric_limits<double>::max(), std::numeric_limits<double>::lowest()});
  check_each<float>({0.5f, -3.25f, 1e-45f, 3.4e38f});
  check_each<long double>({0.1L, -1.0L / 3, std::numeric_limits<long double>::max(),
                           std::numeric_limits<long double>::denorm_min()});  // texts longer than 32 bytes
  check_each<std::string>({"", "a", "with\r\nCRLF", std::string(1, '\0'), std::string(600, 'x'), std::string(70000, 'y')});
  CHECK(built("HSET", "d", std::string_view("f"), "v") == reference("HSET", "d", std::string_view("f"), "v"));
  CHECK(built("SET", "k", Point{3, -4}) == reference("SET", "k", Point{3, -4}));
}

TEST_CASE("a command of many arguments grows past its first buffer and keeps every byte") {
  // Pairs of a key and a number, as update() sends them; sizes cross the builder's own buffer,
  // then several growths of the heap one, and a header of four digits.
  for (int n : {0, 1, 5, 20, 21, 100, 1000, 5000}) {
    ipc::detail::RequestBuilder b("HSET", "dict", n % 2 ? 0 : 16);
    std::vector<std::string> args{"HSET", "dict"};
    for (int i = 0; i < n; ++i) {
      std::string k = "key" + std::to_string(i * 7919);
      long long v = (i % 3 == 0 ? -1LL : 1LL) * i * 1000003LL;
      b.value(k);
      b.value(v);
      args.push_back(k);
      args.push_back(std::to_string(v));
    }
    std::vector<std::string_view> views(args.begin(), args.end());
    std::string want;
    ipc::detail::resp::add_command(want, views);
    INFO("pairs " << n);
    CHECK(b.count() == args.size());
    CHECK(std::string(b.view()) == want);
    CHECK(std::string(b.view()) == want);  // view() again: the same bytes
  }
}

}  // TEST_SUITE
