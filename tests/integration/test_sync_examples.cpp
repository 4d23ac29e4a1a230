// The shared memory and synchronisation examples run and show what their tutorials claim.
#include <doctest/doctest.h>

#include <sys/wait.h>

#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct Run {
  int code;
  std::string out;
};

Run run_example(const std::string& cmd) {
  std::string full = std::string(IPCKIT_EXAMPLES_DIR) + "/" + cmd + " 2>&1";
  FILE* f = ::popen(full.c_str(), "r");
  REQUIRE(f != nullptr);
  std::string out;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  int status = ::pclose(f);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::vector<std::string> lines_with(const std::string& out, const std::string& what) {
  std::vector<std::string> r;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);)
    if (line.find(what) != std::string::npos) r.push_back(line);
  return r;
}

}  // namespace

TEST_SUITE("sync examples") {
  TEST_CASE("shared_array prints 101 to 501 once each and main reads 501" * doctest::timeout(60)) {
    auto r = run_example("shared_array");
    CHECK(r.code == 0);
    for (int v : {101, 201, 301, 401, 501})
      CHECK(lines_with(r.out, "change: " + std::to_string(v)).size() == 1);
    CHECK(r.out.find("main: temp = [501, 2, 3, 4]") != std::string::npos);
  }

  TEST_CASE("ticket_lock never oversells with the lock" * doctest::timeout(60)) {
    auto r = run_example("ticket_lock");
    CHECK(r.code == 0);
    CHECK(r.out.find("with lock: exactly one ticket sold") != std::string::npos);
  }

  TEST_CASE("rlock_countdown says hi from 9 down to 0 in order" * doctest::timeout(60)) {
    auto r = run_example("rlock_countdown");
    CHECK(r.code == 0);
    auto hi = lines_with(r.out, "say hi ");
    REQUIRE(hi.size() == 10);
    for (int i = 0; i < 10; ++i) CHECK(hi[static_cast<std::size_t>(i)].rfind("say hi " + std::to_string(9 - i), 0) == 0);
  }

  TEST_CASE("lock_print keeps each run and end pair together under the lock" * doctest::timeout(60)) {
    auto r = run_example("lock_print");
    CHECK(r.code == 0);
    auto locked = r.out.substr(r.out.find("-- with a Lock"));
    auto runs = lines_with(locked, " is run");
    auto ends = lines_with(locked, " is end");
    REQUIRE(runs.size() == 3);
    REQUIRE(ends.size() == 3);
    std::istringstream in(locked);
    std::vector<std::string> ls;
    for (std::string line; std::getline(in, line);)
      if (line.find(" is ") != std::string::npos) ls.push_back(line);
    for (std::size_t i = 0; i + 1 < ls.size(); i += 2)
      CHECK(ls[i].substr(0, ls[i].find(' ')) == ls[i + 1].substr(0, ls[i + 1].find(' ')));
  }

  TEST_CASE("the other synchronisation examples succeed" * doctest::timeout(120)) {
    for (const char* ex : {"semaphore_wc", "semaphore_wc --bounded", "value_counter_race", "deadlock_rlock",
                           "event_traffic_light", "condition_add_reduce", "barrier_wait"}) {
      CAPTURE(ex);
      auto r = run_example(ex);
      CHECK(r.code == 0);
    }
    CHECK(run_example("semaphore_wc --bounded").out.find("extra release refused") != std::string::npos);
  }
}
