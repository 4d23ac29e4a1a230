// Queue, SimpleQueue and JoinableQueue across processes: API, ordering, batches, close, named queues.
#include <doctest/doctest.h>

#include <ipc/errors.hpp>
#include <ipc/process.hpp>
#include <ipc/queues.hpp>
#include <ipc/shared_memory.hpp>

#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <new>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "child_pipe.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;

namespace {

/// The prefix of every name this test process makes with unique_name (for leak checks).
std::string my_prefix() { return "ipckit-test-" + std::to_string(::getpid()) + "-"; }

/// A cereal-serialisable item with a payload, to test the encoded (non-memcpy) path.
struct Record {
  int producer = 0;
  std::uint64_t seq = 0;
  std::string text;
  std::vector<std::uint32_t> values;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(producer, seq, text, values);
  }
};

/// A trivially copyable item: producer id and sequence number.
struct Tagged {
  std::uint32_t producer;
  std::uint32_t seq;
};

/// What one consumer saw, in shared memory.
struct Tally {
  std::atomic<std::uint64_t> count;
  std::atomic<std::uint64_t> sum;
  std::atomic<std::uint64_t> mix;  // sum of a hash of each item: catches swaps that keep the sum
};

std::uint64_t mix_of(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  return x;
}

}  // namespace

TEST_SUITE("Queue") {
  TEST_CASE("a bounded queue keeps FIFO order and reports qsize and empty and full") {
    ipc::Queue<int> q(3);
    CHECK(q.empty());
    CHECK_FALSE(q.full());
    CHECK(q.maxsize() == 3);
    q.put(1);
    q.put(2);
    q.put(3);
    CHECK(q.qsize() == 3);
    CHECK(q.full());
    CHECK(q.get() == 1);
    CHECK(q.get() == 2);
    CHECK(q.get() == 3);
    CHECK(q.empty());
    CHECK(q.lost_items() == 0);
  }

  TEST_CASE("get_nowait on an empty queue and put_nowait on a full one throw at once") {
    ipc::Queue<int> q(1);
    CHECK_THROWS_AS(q.get_nowait(), ipc::QueueEmpty);
    q.put_nowait(7);
    CHECK_THROWS_AS(q.put_nowait(8), ipc::QueueFull);
    CHECK(q.get_nowait() == 7);
  }

  TEST_CASE("get and put with a timeout wait at least that long and then throw") {
    ipc::Queue<int> q(1);
    auto t0 = std::chrono::steady_clock::now();
    CHECK_THROWS_AS(q.get(150ms), ipc::QueueEmpty);
    CHECK(std::chrono::steady_clock::now() - t0 >= 150ms);
    q.put(1);
    t0 = std::chrono::steady_clock::now();
    CHECK_THROWS_AS(q.put(2, 150ms), ipc::QueueFull);
    CHECK(std::chrono::steady_clock::now() - t0 >= 150ms);
  }

  TEST_CASE("try_put and try_get report failure without throwing") {
    ipc::Queue<std::string> q(1);
    CHECK_FALSE(q.try_get(0ms).has_value());
    CHECK(q.try_put("a", 0ms));
    CHECK_FALSE(q.try_put("b", 10ms));
    auto v = q.try_get();
    REQUIRE(v.has_value());
    CHECK(*v == "a");
  }

  TEST_CASE("encoded types of many sizes travel intact including across the ring's end") {
    // A small ring so that frames wrap around its end many times.
    ipc::Queue<Record> q(0, 4096);
    CHECK(q.capacity() == 4096);
    std::mt19937 rng(42);
    std::vector<Record> sent;
    for (int i = 0; i < 2000; ++i) {
      Record r;
      r.producer = i % 7;
      r.seq = static_cast<std::uint64_t>(i);
      r.text.assign(rng() % 300, static_cast<char>('a' + i % 26));
      r.values.resize(rng() % 40);
      for (auto& v : r.values) v = static_cast<std::uint32_t>(rng());
      sent.push_back(r);
    }
    ipc::Process consumer{[&] {
      for (const auto& want : sent) {
        auto got = q.get(20s);
        if (got.seq != want.seq || got.text != want.text || got.values != want.values) return 1;
      }
      return 0;
    }};
    consumer.start();
    for (const auto& r : sent) q.put(r, 20s);
    REQUIRE(consumer.join(60s));
    CHECK(*consumer.exitcode() == 0);
  }

  TEST_CASE("an item larger than the ring is refused with ValueError and the largest one fits") {
    ipc::Queue<std::vector<std::uint8_t>> q(0, 1024);
    CHECK(q.max_item_bytes() == 1008);
    // A vector encodes as an 8-byte length then its bytes.
    std::vector<std::uint8_t> big(1008 - 8, 0xab);
    q.put(big);
    CHECK(q.get() == big);
    big.push_back(1);
    CHECK_THROWS_AS(q.put(big), ipc::ValueError);
    CHECK_THROWS_AS(q.put_nowait(big), ipc::ValueError);
    CHECK_THROWS_AS(q.try_put(big), ipc::ValueError);
    CHECK(q.empty());
    CHECK_THROWS_AS(ipc::Queue<int>(0, std::size_t{1} << 32), ipc::ValueError);
  }

  TEST_CASE("put_many and get_many move batches in order under the item limit") {
    ipc::Queue<int> q(100);
    std::vector<int> in(250);
    for (int i = 0; i < 250; ++i) in[static_cast<std::size_t>(i)] = i;
    CHECK_THROWS_AS(q.put_many(in, 50ms), ipc::QueueFull);
    CHECK(q.qsize() == 100);
    auto first = q.get_many(1000);
    REQUIRE(first.size() == 100);
    for (int i = 0; i < 100; ++i) CHECK(first[static_cast<std::size_t>(i)] == i);
    CHECK_THROWS_AS(q.get_many(10, 0ms), ipc::QueueEmpty);

    ipc::Queue<std::string> s;
    ipc::Process producer{[&] {
      std::vector<std::string> batch;
      for (int i = 0; i < 5000; ++i) batch.push_back(std::to_string(i));
      s.put_many(batch, 20s);
      return 0;
    }};
    producer.start();
    int next = 0;
    while (next < 5000) {
      auto got = s.get_many(64, 20s);
      REQUIRE_FALSE(got.empty());
      CHECK(got.size() <= 64);
      for (auto& x : got) REQUIRE(x == std::to_string(next++));
    }
    REQUIRE(producer.join(30s));
    CHECK(*producer.exitcode() == 0);
  }

  TEST_CASE("put blocks when full until a get in another process frees a slot") {
    ipc::Queue<int> q(2);
    ipc::test::ChildPipe pipe;
    q.put(1);
    q.put(2);
    ipc::Process p{[&] {
      pipe.put("blocking");
      q.put(3, 20s);
      pipe.put("put");
      return 0;
    }};
    p.start();
    REQUIRE(pipe.line() == "blocking");
    CHECK(q.qsize() == 2);
    CHECK(q.get(10s) == 1);
    CHECK(pipe.line() == "put");
    CHECK(q.get(10s) == 2);
    CHECK(q.get(10s) == 3);
    REQUIRE(p.join(10s));
    CHECK(*p.exitcode() == 0);
  }

  TEST_CASE("4 producers and 4 consumers pass every item exactly once in each producer's order" * doctest::timeout(170)) {
    // 1M items in all (about 2 s in a Debug build on 2 CPUs).
    constexpr std::uint32_t kPerProducer = 250'000;
    constexpr int kProducers = 4, kConsumers = 4;
    ipc::Queue<Tagged> q(1000, 1 << 16);
    auto shm = ipc::SharedMemory::anonymous(sizeof(Tally) * kConsumers);
    auto* tallies = new (shm.data()) Tally[kConsumers]();
    std::vector<ipc::Process> procs;
    for (int c = 0; c < kConsumers; ++c) {
      procs.emplace_back([&, c] {
        std::array<std::int64_t, kProducers> last;
        last.fill(-1);
        auto& t = tallies[c];
        try {
          for (;;) {
            auto batch = q.get_many(c % 2 ? 16 : 1, 60s);  // half the consumers take batches
            for (auto& x : batch) {
              if (x.producer >= kProducers || static_cast<std::int64_t>(x.seq) <= last[x.producer]) return 2;
              last[x.producer] = x.seq;
              auto id = (std::uint64_t{x.producer} << 32) | x.seq;
              t.count.fetch_add(1);
              t.sum.fetch_add(id);
              t.mix.fetch_add(mix_of(id));
            }
          }
        } catch (const ipc::QueueClosed&) {
          return 0;
        }
      });
    }
    for (int p = 0; p < kProducers; ++p) {
      procs.emplace_back([&, p] {
        for (std::uint32_t i = 0; i < kPerProducer; ++i) {
          Tagged t{static_cast<std::uint32_t>(p), i};
          if (p == 3 && i + 8 <= kPerProducer && i % 8 == 0) {  // one producer puts batches
            std::array<Tagged, 8> b;
            for (std::uint32_t k = 0; k < 8; ++k) b[k] = Tagged{3, i + k};
            q.put_many(b, 60s);
            i += 7;
          } else {
            q.put(t, 60s);
          }
        }
        return 0;
      });
    }
    for (auto& p : procs) p.start();
    for (int p = kConsumers; p < kConsumers + kProducers; ++p) {
      REQUIRE(procs[static_cast<std::size_t>(p)].join(160s));
      CHECK(*procs[static_cast<std::size_t>(p)].exitcode() == 0);
    }
    q.close();
    for (int c = 0; c < kConsumers; ++c) {
      REQUIRE(procs[static_cast<std::size_t>(c)].join(60s));
      CHECK(*procs[static_cast<std::size_t>(c)].exitcode() == 0);
    }
    std::uint64_t count = 0, sum = 0, mix = 0, want_sum = 0, want_mix = 0;
    for (int c = 0; c < kConsumers; ++c) {
      count += tallies[c].count;
      sum += tallies[c].sum;
      mix += tallies[c].mix;
    }
    for (std::uint64_t p = 0; p < kProducers; ++p)
      for (std::uint64_t i = 0; i < kPerProducer; ++i) {
        want_sum += (p << 32) | i;
        want_mix += mix_of((p << 32) | i);
      }
    CHECK(count == std::uint64_t{kProducers} * kPerProducer);
    CHECK(sum == want_sum);
    CHECK(mix == want_mix);
    CHECK(q.empty());
    CHECK(q.lost_items() == 0);
  }

  TEST_CASE("threads of one process share a queue handle with a process at the other end" * doctest::timeout(120)) {
    constexpr std::uint64_t kPerThread = 20'000;
    ipc::JoinableQueue<std::uint64_t> q(64);
    auto shm = ipc::SharedMemory::anonymous(sizeof(Tally));
    auto* t = new (shm.data()) Tally{};
    ipc::Process consumers{[&] {
      std::vector<std::thread> threads;
      for (int k = 0; k < 2; ++k)
        threads.emplace_back([&] {
          while (auto x = q.try_get(30s)) {
            t->count.fetch_add(1);
            t->sum.fetch_add(*x);
            q.task_done();
          }
        });
      for (auto& th : threads) th.join();
      return 0;
    }};
    consumers.start();
    std::vector<std::thread> producers;
    for (std::uint64_t k = 0; k < 3; ++k)
      producers.emplace_back([&, k] {
        for (std::uint64_t i = 0; i < kPerThread; ++i) q.put(k * kPerThread + i);
      });
    for (auto& th : producers) th.join();
    REQUIRE(q.join(60s));
    q.close();
    REQUIRE(consumers.join(60s));
    CHECK(*consumers.exitcode() == 0);
    std::uint64_t n = 3 * kPerThread;
    CHECK(t->count.load() == n);
    CHECK(t->sum.load() == n * (n - 1) / 2);
    CHECK(q.unfinished() == 0);
  }

  TEST_CASE("close wakes a get and a put blocked in other processes") {
    ipc::Queue<int> empty_q;
    ipc::Queue<int> full_q(1);
    full_q.put(1);
    ipc::test::ChildPipe pipe;
    ipc::Process getter{[&] {
      pipe.put("g");
      try {
        empty_q.get(30s);
      } catch (const ipc::QueueClosed&) {
        return 0;
      }
      return 1;
    }};
    ipc::Process putter{[&] {
      pipe.put("p");
      try {
        full_q.put(2, 30s);
      } catch (const ipc::QueueClosed&) {
        return 0;
      }
      return 1;
    }};
    getter.start();
    putter.start();
    REQUIRE(!pipe.line().empty());
    REQUIRE(!pipe.line().empty());
    std::this_thread::sleep_for(50ms);  // not needed for correctness: lets them reach the futex
    empty_q.close();
    full_q.close();
    REQUIRE(getter.join(10s));
    REQUIRE(putter.join(10s));
    CHECK(*getter.exitcode() == 0);
    CHECK(*putter.exitcode() == 0);
  }

  TEST_CASE("after close getters drain what is left then see QueueClosed and puts fail") {
    ipc::Queue<int> q;
    q.put(1);
    q.put(2);
    q.close();
    CHECK(q.closed());
    CHECK_THROWS_AS(q.put(3), ipc::QueueClosed);
    CHECK_FALSE(q.try_put(3));
    CHECK(q.get() == 1);
    CHECK(q.get_nowait() == 2);
    CHECK_THROWS_AS(q.get(), ipc::QueueClosed);
    CHECK_THROWS_AS(q.get_nowait(), ipc::QueueClosed);
    CHECK_THROWS_AS(q.get_many(5), ipc::QueueClosed);
    CHECK_FALSE(q.try_get().has_value());
    // QueueClosed is a ConnectionClosed (EOFError), so generic end-of-stream handlers catch it.
    CHECK_THROWS_AS(q.get(), ipc::ConnectionClosed);
  }

  TEST_CASE("a named queue is opened by another process and its creator unlinks it") {
    auto name = ipc::test::unique_name("queue");
    auto reply_name = ipc::test::unique_name("reply");
    {
      auto q = ipc::Queue<std::string>::create(name, 10);
      auto reply = ipc::Queue<std::string>::create(reply_name);
      CHECK(q.name() == name);
      CHECK(ipc::test::count_shm_names(name.substr(1)) == 1);
      ipc::Process p{[&] {
        // Opened by name only: nothing inherited from the parent's handles is used.
        auto o = ipc::Queue<std::string>::open(name);
        auto r = ipc::Queue<std::string>::open(reply_name);
        if (o.maxsize() != 10) return 2;
        o.put("hello from " + std::to_string(::getpid()));
        return r.get(10s) == "thanks" ? 0 : 3;
      }};
      p.start();
      auto msg = q.get(10s);
      CHECK(msg == "hello from " + std::to_string(p.pid()));
      reply.put("thanks");
      REQUIRE(p.join(10s));
      CHECK(*p.exitcode() == 0);
    }
    CHECK(ipc::test::count_shm_names(my_prefix()) == 0);
    CHECK_THROWS_AS(ipc::Queue<std::string>::open(name), std::system_error);
  }

  TEST_CASE("opening a named queue as the wrong element type or size or kind fails clearly") {
    auto name = ipc::test::unique_name("queue");
    auto q = ipc::Queue<std::uint64_t>::create(name);
    auto message = [&](auto&& f) -> std::string {
      try {
        f();
      } catch (const ipc::ValueError& e) {
        return e.what();
      }
      return "no ValueError";
    };
    auto size_msg = message([&] { ipc::Queue<std::uint32_t>::open(name); });
    CHECK(size_msg.find("holds elements of 8 bytes") != std::string::npos);
    CHECK(size_msg.find("4 bytes") != std::string::npos);
    auto type_msg = message([&] { ipc::Queue<double>::open(name); });  // same size, other type
    CHECK(type_msg.find("another element type") != std::string::npos);
    auto kind_msg = message([&] { ipc::JoinableQueue<std::uint64_t>::open(name); });
    CHECK(kind_msg.find("'queu'") != std::string::npos);
    CHECK_THROWS_AS(ipc::SimpleQueue<std::uint64_t>::open(name), ipc::ValueError);
    CHECK_NOTHROW(ipc::Queue<std::uint64_t>::open(name));
    CHECK_THROWS_AS(ipc::SharedMemory::open(name, {.kind = ipc::shm_kind("lock")}), ipc::ValueError);
  }

  TEST_CASE("opening a named queue of another layout version fails with ProtocolError") {
    auto name = ipc::test::unique_name("queue");
    auto q = ipc::Queue<int>::create(name);
    // The ring header starts with an 8-byte magic and a 4-byte layout version.
    auto raw = ipc::SharedMemory::open(name);
    auto* version = reinterpret_cast<std::uint32_t*>(static_cast<std::byte*>(raw.data()) + 8);
    const std::uint32_t current = *version;
    REQUIRE(current == 3);
    *version = 99;
    try {
      ipc::Queue<int>::open(name);
      FAIL("opened a queue of another version");
    } catch (const ipc::ProtocolError& e) {
      CHECK(std::string(e.what()).find("layout version 99") != std::string::npos);
    }
    *version = current;
    CHECK_NOTHROW(ipc::Queue<int>::open(name));
  }

  TEST_CASE("creating a named queue that exists fails and no name leaks") {
    auto name = ipc::test::unique_name("queue");
    {
      auto q = ipc::JoinableQueue<int>::create(name);
      CHECK_THROWS_AS(ipc::JoinableQueue<int>::create(name), std::system_error);
      auto s = ipc::SimpleQueue<int>::create(ipc::test::unique_name("squeue"));
      CHECK(ipc::test::count_shm_names(my_prefix()) == 2);
    }
    CHECK(ipc::test::count_shm_names(my_prefix()) == 0);
  }
}

TEST_SUITE("Queue names and messages") {
  TEST_CASE("QueueEmpty and QueueFull say which queue and how long they waited") {
    auto name = ipc::test::unique_name("msg");
    auto q = ipc::Queue<int>::create(name, 1);
    try {
      q.get(50ms);
      FAIL("get on an empty queue returned");
    } catch (const ipc::QueueEmpty& e) {
      CHECK(std::string(e.what()) == "queue " + q.name() + " is empty after waiting 0.05 s");
    }
    try {
      q.get_nowait();
      FAIL("get_nowait on an empty queue returned");
    } catch (const ipc::QueueEmpty& e) {
      CHECK(std::string(e.what()) == "queue " + q.name() + " is empty (did not wait)");
    }
    q.put(1);
    try {
      q.put(2, 1500ms);
      FAIL("put on a full queue returned");
    } catch (const ipc::QueueFull& e) {
      CHECK(std::string(e.what()) == "queue " + q.name() + " is full after waiting 1.5 s");
    }
    ipc::JoinableQueue<int> anon;
    try {
      anon.get_many(3, 0ms);
      FAIL("get_many on an empty queue returned");
    } catch (const ipc::QueueEmpty& e) {
      CHECK(std::string(e.what()) == "anonymous queue is empty (did not wait)");
    }
  }

  TEST_CASE("create_or_open creates a named queue once and opens it after" * doctest::timeout(60)) {
    auto name = ipc::test::unique_name("coo");
    auto q = ipc::Queue<int>::create_or_open(name, 8, 4096);
    ipc::Process other{[&] {
      auto o = ipc::Queue<int>::create_or_open(name, 8, 4096);
      o.put(42);
      return 0;
    }};
    other.start();
    REQUIRE(other.join(30s));
    CHECK(*other.exitcode() == 0);
    CHECK(q.get(10s) == 42);
    // An existing queue of another shape is refused.
    CHECK_THROWS_AS(ipc::Queue<int>::create_or_open(name, 9, 4096), ipc::ValueError);
    CHECK_THROWS(ipc::Queue<int>::create_or_open(name, 8, 8192));
    CHECK_THROWS_AS(ipc::Queue<long>::create_or_open(name, 8, 4096), ipc::ValueError);
    CHECK_THROWS_AS(ipc::JoinableQueue<int>::create_or_open(name, 8, 4096), ipc::ValueError);
    auto s = ipc::SimpleQueue<int>::create_or_open(ipc::test::unique_name("coo-simple"), 4096);
    s.put(1);
    CHECK(s.get() == 1);
    auto j = ipc::JoinableQueue<int>::create_or_open(ipc::test::unique_name("coo-j"), 0, 4096, 0600,
                                                      ipc::Delivery::at_least_once);
    CHECK(j.delivery() == ipc::Delivery::at_least_once);
    CHECK_THROWS_AS(ipc::JoinableQueue<int>::create_or_open(j.name(), 0, 4096), ipc::ValueError);
  }
}

TEST_SUITE("SimpleQueue") {
  TEST_CASE("a simple queue passes items between processes and ends with close") {
    ipc::SimpleQueue<std::string> q;
    CHECK(q.empty());
    ipc::Process p{[&] {
      for (const char* s : {"A", "B", "C"}) q.put(s);
      q.close();
      return 0;
    }};
    p.start();
    std::string got;
    try {
      for (;;) got += q.get(10s);
    } catch (const ipc::QueueClosed&) {
    }
    CHECK(got == "ABC");
    REQUIRE(p.join(10s));
    CHECK(*p.exitcode() == 0);
  }
}

TEST_SUITE("JoinableQueue") {
  TEST_CASE("join returns once every item put is task_done in daemonic consumers" * doctest::timeout(60)) {
    ipc::JoinableQueue<int> q;
    auto shm = ipc::SharedMemory::anonymous(sizeof(std::atomic<int>));
    auto* processed = new (shm.data()) std::atomic<int>(0);
    std::vector<ipc::Process> consumers;
    for (int c = 0; c < 2; ++c) {
      consumers.emplace_back([&] {
        for (;;) {
          q.get();
          processed->fetch_add(1);
          q.task_done();
        }
      });
      consumers.back().daemon(true);
      consumers.back().start();
    }
    for (int i = 0; i < 500; ++i) q.put(i);
    REQUIRE(q.join(30s));
    CHECK(processed->load() == 500);
    CHECK(q.unfinished() == 0);
    CHECK(q.lost_tasks() == 0);
    for (auto& c : consumers) c.terminate();
    for (auto& c : consumers) REQUIRE(c.join(10s));
  }

  TEST_CASE("join with a timeout returns false while an item is not done") {
    ipc::JoinableQueue<int> q;
    CHECK(q.join(0ms));
    q.put(1);
    CHECK(q.unfinished() == 1);
    CHECK_FALSE(q.join(100ms));
    q.get();
    CHECK_FALSE(q.join(10ms));
    q.task_done();
    CHECK(q.join(0ms));
  }

  TEST_CASE("task_done called more often than items were put throws ValueError") {
    ipc::JoinableQueue<int> q;
    CHECK_THROWS_AS(q.task_done(), ipc::ValueError);
    q.put(1);
    q.get();
    q.task_done();
    CHECK_THROWS_AS(q.task_done(), ipc::ValueError);
    CHECK(q.unfinished() == 0);
  }

  TEST_CASE("an at-least-once queue passes items in order and frees the ring as tasks are done" * doctest::timeout(60)) {
    ipc::JoinableQueue<std::uint64_t> q(0, 256, ipc::Delivery::at_least_once);  // room for 15 items
    std::uint64_t next_put = 0, next_get = 0;
    for (int round = 0; round < 200; ++round) {
      while (q.try_put(next_put, 0ms)) ++next_put;
      CHECK(q.qsize() == 15);
      auto batch = q.get_many(4, 1s);
      for (auto x : batch) CHECK(x == next_get++);
      // Taken but not done: the bytes stay, no room yet.
      CHECK_FALSE(q.try_put(next_put, 0ms));
      for (std::size_t i = 0; i < batch.size(); ++i) q.task_done();
      CHECK(q.try_put(next_put, 0ms));
      ++next_put;
    }
    while (auto x = q.try_get(0ms)) {
      CHECK(*x == next_get++);
      q.task_done();
    }
    CHECK(next_get == next_put);
    CHECK(q.join(0ms));
    CHECK(q.redelivered() == 0);
  }

  TEST_CASE("an at-least-once named queue is opened with its delivery mode") {
    auto name = ipc::test::unique_name("alo");
    auto q = ipc::JoinableQueue<int>::create(name, 0, 4096, 0600, ipc::Delivery::at_least_once);
    auto o = ipc::JoinableQueue<int>::open(name);
    CHECK(o.delivery() == ipc::Delivery::at_least_once);
    o.put(5);
    CHECK(q.get(1s) == 5);
    q.task_done();
    CHECK(o.join(1s));
  }
}
