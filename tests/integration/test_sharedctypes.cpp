// Value, Array, RawValue, RawArray: sharing across processes, locks, named segments, errors.
#include <doctest/doctest.h>

#include <ipc/errors.hpp>
#include <ipc/process.hpp>
#include <ipc/sharedctypes.hpp>
#include <ipc/synchronize.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

using namespace std::chrono_literals;

namespace {

struct Point {
  double x, y;
  int tag;
};

std::string my_prefix() { return "ipckit-test-" + std::to_string(::getpid()) + "-"; }

}  // namespace

TEST_SUITE("Value") {
  TEST_CASE("many processes incrementing a Value under its lock reach the exact total" * doctest::timeout(120)) {
    ipc::Value<long> counter(0);
    constexpr int kProcs = 6;
    constexpr int kIncrements = 20000;
    std::vector<ipc::Process> ps;
    for (int i = 0; i < kProcs; ++i)
      ps.emplace_back([&] {
        for (int k = 0; k < kIncrements; ++k) *counter.locked() += 1;
      });
    for (auto& p : ps) p.start();
    for (auto& p : ps) {
      REQUIRE(p.join(100s));
      CHECK(*p.exitcode() == 0);
    }
    CHECK(counter.value() == static_cast<long>(kProcs) * kIncrements);
  }

  TEST_CASE("the Python form with v.get_lock(): v.value += 1 gives the exact total in 8 processes" * doctest::timeout(170)) {
    // Python:  with v.get_lock(): v.value += 1
    ipc::Value<long> v(0);
    constexpr int kProcs = 8;
    constexpr int kIncrements = 100000;
    std::vector<ipc::Process> ps;
    for (int i = 0; i < kProcs; ++i)
      ps.emplace_back([&] {
        for (int k = 0; k < kIncrements; ++k) {
          std::scoped_lock g{v.get_lock()};
          v.value(v.value() + 1);
        }
      });
    for (auto& p : ps) p.start();
    for (auto& p : ps) {
      REQUIRE(p.join(160s));
      CHECK(*p.exitcode() == 0);
    }
    CHECK(v.value() == static_cast<long>(kProcs) * kIncrements);
  }

  TEST_CASE("accessors called with the lock held neither deadlock nor release it") {
    ipc::Value<int> v(1);
    ipc::Array<int> a{1, 2, 3};
    {
      std::scoped_lock g{v.get_lock(), a.get_lock()};
      v.value(v.value() + 1);
      CHECK(a.to_vector() == std::vector<int>{1, 2, 3});
      {
        auto inner = v.locked();  // re-entered, as with Python's RLock
        *inner += 10;
        auto arr = a.locked();
        arr[0] = 7;
      }
      // The inner accessors did not release what the scoped_lock holds.
      CHECK(v.get_lock().held());
      CHECK(a.get_lock().held());
      // get_lock() itself is a non-recursive Lock.
      CHECK_THROWS_AS(v.get_lock().acquire(), ipc::ValueError);
    }
    CHECK_FALSE(v.get_lock().locked());
    CHECK_FALSE(a.get_lock().locked());
    CHECK(v.value() == 12);
    CHECK(a[0] == 7);
  }

  TEST_CASE("a Value and an Array and a Condition share a caller's Lock" * doctest::timeout(120)) {
    // Python: lock = Lock(); v = Value('i', 0, lock=lock); a = Array('i', 2, lock=lock);
    //         cond = Condition(lock)
    ipc::Lock lock;
    ipc::Value<int> v(0, lock);
    ipc::Array<int> a(2, lock);
    ipc::Condition cond(lock);
    {
      std::scoped_lock g{lock};
      CHECK(v.get_lock().held());
      CHECK(a.get_lock().held());
      CHECK(cond.held());
    }
    constexpr int kProcs = 4, kIncrements = 5000;
    std::vector<ipc::Process> ps;
    for (int i = 0; i < kProcs; ++i)
      ps.emplace_back([&] {
        for (int k = 0; k < kIncrements; ++k) {
          std::scoped_lock g{lock};
          v.value(v.value() + 1);
          a[0] += 1;
          a.locked()[1] = v.value();  // re-entered accessor
          cond.notify_all();
        }
      });
    for (auto& p : ps) p.start();
    {
      std::scoped_lock g{cond};
      CHECK(cond.wait_for([&] { return v.value() == kProcs * kIncrements; }, 100s));
      CHECK(a[0] == kProcs * kIncrements);
      CHECK(a[1] == kProcs * kIncrements);
    }
    for (auto& p : ps) {
      REQUIRE(p.join(100s));
      CHECK(*p.exitcode() == 0);
    }
    CHECK_FALSE(lock.locked());
  }

  TEST_CASE("an accessor destroyed in another thread neither throws nor releases the lock") {
    ipc::Value<int> v(0);
    auto g = std::make_unique<ipc::LockedValue<int>>(v.locked());
    **g = 5;
    std::thread t([&] { g.reset(); });  // ~LockedValue in a thread that does not hold the lock
    t.join();
    CHECK(g == nullptr);
    CHECK(v.get_lock().held());  // still held by this thread, which took it
    v.get_lock().release();
    CHECK(v.value() == 5);
    // An accessor whose lock was released by hand ends quietly too.
    ipc::Array<int> a(1);
    {
      auto acc = a.locked();
      a.get_lock().release();
    }
    CHECK_FALSE(a.get_lock().locked());
  }

  TEST_CASE("value get and set and get_lock and structs") {
    ipc::Value<Point> v(Point{1.5, 2.5, 7});
    CHECK(v.value().x == 1.5);
    CHECK(v.value().tag == 7);
    v.value(Point{3, 4, 5});
    {
      auto g = v.locked();
      CHECK(g->x == 3);
      g->tag = 9;
      CHECK_FALSE(g.owner_died());
      CHECK(v.get_lock().held());
    }
    CHECK_FALSE(v.get_lock().locked());
    {
      std::scoped_lock g(v.get_lock());
      v.get_obj().y = 10;
    }
    CHECK(v.value().y == 10);
    CHECK(v.value().tag == 9);
    CHECK(v.has_lock());
  }

  TEST_CASE("a Value without a lock has no get_lock") {
    ipc::Value<int> v(5, false);
    CHECK_FALSE(v.has_lock());
    CHECK_THROWS_AS(v.get_lock(), ipc::ValueError);
    CHECK_THROWS_AS(v.locked(), ipc::ValueError);
    v.value(6);
    CHECK(v.value() == 6);
    ipc::RawValue<double> r(2.5);
    CHECK_FALSE(r.has_lock());
    r.get_obj() *= 2;
    CHECK(r.value() == 5.0);
  }

  TEST_CASE("locked times out while another process holds the lock" * doctest::timeout(30)) {
    ipc::Value<int> v(0);
    ipc::Event held, done;
    ipc::Process p{[&] {
      auto g = v.locked();
      held.set();
      done.wait(20s);
    }};
    p.start();
    REQUIRE(held.wait(20s));
    CHECK_THROWS_AS(v.locked(50ms), ipc::TimeoutError);
    done.set();
    CHECK(*v.locked(20s) == 0);
    REQUIRE(p.join(20s));
  }

  TEST_CASE("a named Value is opened by name and checked for its type") {
    auto name = ipc::test::unique_name("val");
    {
      auto v = ipc::Value<int>::create(name, 41);
      ipc::Process p{[&] {
        auto o = ipc::Value<int>::open(name);
        *o.locked() += 1;
      }};
      p.start();
      REQUIRE(p.join(20s));
      CHECK(*p.exitcode() == 0);
      CHECK(v.value() == 42);
      CHECK_THROWS_WITH_AS(ipc::Value<double>::open(name), doctest::Contains("another element type"), ipc::ValueError);
      CHECK_THROWS_AS(ipc::Value<unsigned>::open(name), ipc::ValueError);
      CHECK_THROWS_AS(ipc::Array<int>::open(name), ipc::ValueError);
      CHECK_THROWS_AS(ipc::Lock::open(name), ipc::ValueError);
      auto same = ipc::Value<int>::create_or_open(name, 0);
      CHECK(same.value() == 42);
      auto raw = ipc::RawValue<int>::open(name);
      CHECK(raw.get_obj() == 42);
    }
    CHECK(ipc::test::count_shm_names(my_prefix()) == 0);
  }
}

TEST_SUITE("Array") {
  TEST_CASE("five processes add 100 to every element under the lock" * doctest::timeout(60)) {
    ipc::Array<int> arr(1000);
    CHECK(arr.size() == 1000);
    CHECK(std::all_of(arr.begin(), arr.end(), [](int x) { return x == 0; }));
    std::vector<ipc::Process> ps;
    for (int i = 0; i < 5; ++i)
      ps.emplace_back([&] {
        auto g = arr.locked();
        for (auto& x : g) x += 100;
      });
    for (auto& p : ps) p.start();
    for (auto& p : ps) {
      REQUIRE(p.join(20s));
      CHECK(*p.exitcode() == 0);
    }
    auto copy = arr.to_vector();
    CHECK(std::all_of(copy.begin(), copy.end(), [](int x) { return x == 500; }));
  }

  TEST_CASE("indexing and at and span and initialisers") {
    ipc::Array<double> a{1.0, 2.0, 3.0};
    CHECK(a.size() == 3);
    CHECK(a[1] == 2.0);
    CHECK(a.at(2) == 3.0);
    CHECK_THROWS_AS(a.at(3), std::out_of_range);
    a.span()[0] = 10;
    CHECK(std::accumulate(a.begin(), a.end(), 0.0) == 15.0);
    {
      auto g = a.locked();
      CHECK(g.size() == 3);
      CHECK(g.at(0) == 10);
      CHECK_THROWS_AS(g.at(5), std::out_of_range);
    }
    std::vector<int> src{4, 5, 6, 7};
    ipc::Array<int> b(std::span<const int>(src), false);
    CHECK_FALSE(b.has_lock());
    CHECK(b.to_vector() == src);
    CHECK_THROWS_AS(ipc::Array<int>(0), ipc::ValueError);
    ipc::RawArray<char> chars(16);
    CHECK(chars.size() == 16);
    CHECK_THROWS_AS(chars.get_lock(), ipc::ValueError);
  }

  TEST_CASE("a named Array keeps its size and type") {
    auto name = ipc::test::unique_name("arr");
    std::vector<int> init{1, 2, 3, 4, 5};
    auto a = ipc::Array<int>::create(name, std::span<const int>(init));
    auto o = ipc::Array<int>::open(name);
    CHECK(o.size() == 5);
    CHECK(o.to_vector() == init);
    o[0] = 100;
    CHECK(a[0] == 100);
    CHECK_THROWS_AS(ipc::Array<int>::create_or_open(name, 6), ipc::ValueError);
    CHECK(ipc::Array<int>::create_or_open(name, 5).size() == 5);
    CHECK_THROWS_AS(ipc::Array<long>::open(name), ipc::ValueError);
    CHECK_THROWS_AS(ipc::Value<int>::open(name), ipc::ValueError);
  }
}
