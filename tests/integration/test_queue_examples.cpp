// The queue examples (E10-E14) run and show what their tutorials claim.
#include <doctest/doctest.h>

#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

/// Exit code and output (stdout and stderr) of an example program.
struct ExampleRun {
  int code;
  std::string out;
};

ExampleRun run_queue_example(const std::string& name) {
  std::string cmd = std::string(IPCKIT_EXAMPLES_DIR) + "/" + name + " 2>&1";
  FILE* f = ::popen(cmd.c_str(), "r");
  REQUIRE(f != nullptr);
  std::string out;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
  int status = ::pclose(f);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

/// Lines of `out` matching `re`, with their first capture group.
std::vector<std::string> captures(const std::string& out, const std::string& re) {
  std::vector<std::string> r;
  std::regex rx(re);
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_search(line, m, rx)) r.push_back(m.size() > 1 ? m[1].str() : m[0].str());
  }
  return r;
}

}  // namespace

TEST_SUITE("queue examples") {
  TEST_CASE("ping_pong prints 100 times with a global and exactly 50 times through a Queue" * doctest::timeout(60)) {
    auto r = run_queue_example("ping_pong");
    REQUIRE(r.code == 0);
    CHECK(r.out.find("with a global: Ping printed 50 times, Pong 50 times, 100 in total") != std::string::npos);
    auto total = captures(r.out, "with a Queue: .*, (\\d+) in total");
    REQUIRE(total.size() == 1);
    CHECK(total[0] == "50");
  }

  TEST_CASE("queue_basics shows full and FIFO order and empty and both exceptions" * doctest::timeout(60)) {
    auto r = run_queue_example("queue_basics");
    REQUIRE(r.code == 0);
    CHECK(r.out.find("full: true\n1\n2\n3\nempty: true\n") != std::string::npos);
    CHECK(r.out.find("get_nowait raised QueueEmpty at once") != std::string::npos);
    auto ms = captures(r.out, "get\\(300ms\\) raised QueueEmpty after (\\d+) ms");
    REQUIRE(ms.size() == 1);
    CHECK(std::stoi(ms[0]) >= 300);
    CHECK(r.out.find("put_nowait on a full queue raised QueueFull") != std::string::npos);
  }

  TEST_CASE("queue_producer_consumer takes all 9 parcels once each in each courier's order" * doctest::timeout(60)) {
    auto r = run_queue_example("queue_producer_consumer");
    REQUIRE(r.code == 0);
    auto taken = captures(r.out, "taker\\d took (\\w+ \\d)");
    CHECK(taken.size() == 9);
    CHECK(std::set<std::string>(taken.begin(), taken.end()).size() == 9);
    auto delivered = captures(r.out, "courier\\d delivered (\\w+ \\d)");
    CHECK(delivered.size() == 9);
    CHECK(r.out.find("all 9 parcels taken") != std::string::npos);
    CHECK(r.out.find("taken: A\ntaken: B\ntaken: C\n") != std::string::npos);
  }

  TEST_CASE("queue_token_chain passes one token along 5 children and leaves one item" * doctest::timeout(60)) {
    auto r = run_queue_example("queue_token_chain");
    REQUIRE(r.code == 0);
    auto took = captures(r.out, "process \\d took (\\d) from the queue");
    auto put = captures(r.out, "then put (\\d)");
    REQUIRE(took.size() == 5);
    REQUIRE(put.size() == 5);
    CHECK(took[0] == "0");
    for (std::size_t i = 1; i < 5; ++i) CHECK(took[i] == put[i - 1]);  // each takes the previous one's index
    auto left = captures(r.out, "left in the queue: 1 item, value (\\d)");
    REQUIRE(left.size() == 1);
    CHECK(left[0] == put[4]);
  }

  TEST_CASE("joinable_queue returns from every join after all 9 items and ends its daemonic consumers" * doctest::timeout(60)) {
    auto r = run_queue_example("joinable_queue");
    REQUIRE(r.code == 0);
    auto taken = captures(r.out, "taker\\d took (\\w+ \\d)");
    CHECK(taken.size() == 9);
    auto main_line = r.out.find("is running: unfinished items 0");
    REQUIRE(main_line != std::string::npos);
    // Every "took" line and every producer's join come before main's line.
    CHECK(r.out.rfind("took") < main_line);
    CHECK(captures(r.out, "(courier\\d): all parcels handled").size() == 3);
  }
}
