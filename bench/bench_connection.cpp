// Connection benchmarks: Pipe round-trip latency (8 B, 1 KiB; unpinned and both processes pinned
// to CPU 0) and 1 KiB one-way throughput, ipckit against raw socketpair(2) and pipe(2) with the
// same message sizes. Prints one JSON object per line; medians of several runs.
#include <ipc/connection.hpp>

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kRuns = 5;

void emit(const std::string& workload, const std::string& impl, double value, const char* unit, bool higher) {
  std::printf("{\"workload\": \"%s\", \"impl\": \"%s\", \"value\": %.3f, \"unit\": \"%s\", \"higher_is_better\": %s}\n",
              workload.c_str(), impl.c_str(), value, unit, higher ? "true" : "false");
  std::fflush(stdout);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void pin_cpu0() {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(0, &set);
  ::sched_setaffinity(0, sizeof set, &set);
}

void unpin() {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int i = 0; i < CPU_SETSIZE; ++i) CPU_SET(i, &set);
  ::sched_setaffinity(0, sizeof set, &set);
}

// Runs `child` in a forked process (it inherits the CPU affinity) and `parent` here; returns
// what parent returns. The child _exits, never returning into main.
template <class C, class P>
double with_child(C child, P parent) {
  std::fflush(stdout);
  pid_t pid = ::fork();
  if (pid == 0) {
    child();
    ::_exit(0);
  }
  double r = parent();
  ::waitpid(pid, nullptr, 0);
  return r;
}

bool read_full(int fd, void* buf, std::size_t n) {
  auto* p = static_cast<char*>(buf);
  while (n > 0) {
    ssize_t r = ::read(fd, p, n);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

bool write_full(int fd, const void* buf, std::size_t n) {
  auto* p = static_cast<const char*>(buf);
  while (n > 0) {
    ssize_t r = ::write(fd, p, n);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

// ---- Round trip: raw fds (socketpair: one fd each way; pipe: two pipes) ----

template <std::size_t N>
double raw_round_trip_us(bool socket, int iters) {
  int a_r, a_w, b_r, b_w;  // parent reads a_r / writes a_w; child reads b_r / writes b_w
  int sv[2] = {-1, -1}, p1[2] = {-1, -1}, p2[2] = {-1, -1};
  if (socket) {
    ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
    a_r = a_w = sv[0];
    b_r = b_w = sv[1];
  } else {
    ::pipe2(p1, O_CLOEXEC);  // parent -> child
    ::pipe2(p2, O_CLOEXEC);  // child -> parent
    a_w = p1[1];
    b_r = p1[0];
    b_w = p2[1];
    a_r = p2[0];
  }
  const int warm = iters / 10;
  double us = with_child(
      [&] {
        if (!socket) {  // close the parent's ends, or EOF never comes (the fork rule)
          ::close(a_w);
          ::close(a_r);
        }
        std::array<char, N> buf{};
        while (read_full(b_r, buf.data(), N) && write_full(b_w, buf.data(), N)) {
        }
      },
      [&] {
        if (!socket) {
          ::close(b_r);
          ::close(b_w);
        }
        std::array<char, N> buf{};
        for (int i = 0; i < warm; ++i) {
          write_full(a_w, buf.data(), N);
          read_full(a_r, buf.data(), N);
        }
        auto t0 = Clock::now();
        for (int i = 0; i < iters; ++i) {
          buf[0] = static_cast<char>(i);
          write_full(a_w, buf.data(), N);
          read_full(a_r, buf.data(), N);
        }
        double r = std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / iters;
        if (socket) {
          ::shutdown(a_w, SHUT_RDWR);
        } else {
          ::close(a_w);
          ::close(a_r);
        }
        return r;
      });
  if (socket) {
    ::close(sv[0]);
    ::close(sv[1]);
  }
  return us;
}

// ---- Round trip: ipckit Pipe() (socketpair) or two Pipe(false) (pipe(2)) ----

template <std::size_t N>
double ipc_round_trip_us(bool duplex, int iters) {
  using Msg = std::array<char, N>;
  ipc::Connection to_child_r, to_child_w, to_parent_r, to_parent_w;
  if (duplex) {
    auto [a, b] = ipc::Pipe(true);
    to_child_w = std::move(a);  // the parent's end (reads and writes)
    to_child_r = std::move(b);  // the child's end
  } else {
    auto [r1, w1] = ipc::Pipe(false);
    auto [r2, w2] = ipc::Pipe(false);
    to_child_r = std::move(r1);
    to_child_w = std::move(w1);
    to_parent_r = std::move(r2);
    to_parent_w = std::move(w2);
  }
  ipc::Connection& parent_out = to_child_w;
  ipc::Connection& parent_in = duplex ? to_child_w : to_parent_r;
  ipc::Connection& child_in = to_child_r;
  ipc::Connection& child_out = duplex ? to_child_r : to_parent_w;
  const int warm = iters / 10;
  return with_child(
      [&] {
        parent_out.close();
        if (!duplex) parent_in.close();
        try {
          for (;;) child_out.send(child_in.recv<Msg>());
        } catch (const ipc::Error&) {
        }
      },
      [&] {
        child_in.close();
        if (!duplex) child_out.close();
        Msg m{};
        for (int i = 0; i < warm; ++i) {
          parent_out.send(m);
          m = parent_in.recv<Msg>();
        }
        auto t0 = Clock::now();
        for (int i = 0; i < iters; ++i) {
          m[0] = static_cast<char>(i);
          parent_out.send(m);
          m = parent_in.recv<Msg>();
        }
        double r = std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / iters;
        parent_out.close();
        parent_in.close();
        return r;
      });
}

// ---- Throughput: 1 KiB one way ----

double raw_throughput(bool socket, int count) {
  int fds[2];
  if (socket) {
    ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds);
  } else {
    ::pipe2(fds, O_CLOEXEC);
  }
  int rd = fds[0], wr = fds[1];
  double rate = with_child(
      [&] {
        ::close(rd);
        std::array<char, 1024> buf{};
        for (int i = 0; i < count; ++i) write_full(wr, buf.data(), buf.size());
      },
      [&] {
        ::close(wr);
        std::vector<char> buf(64 * 1024);
        std::size_t want = static_cast<std::size_t>(count) * 1024, got = 0;
        auto t0 = Clock::now();
        while (got < want) {
          ssize_t r = ::read(rd, buf.data(), std::min(buf.size(), want - got));
          if (r <= 0) break;
          got += static_cast<std::size_t>(r);
        }
        return count / std::chrono::duration<double>(Clock::now() - t0).count();
      });
  ::close(rd);
  return rate;
}

double ipc_throughput(bool duplex, int count) {
  auto [r, w] = ipc::Pipe(duplex);
  return with_child(
      [&] {
        r.close();
        std::array<char, 1024> m{};
        for (int i = 0; i < count; ++i) w.send(m);
      },
      [&] {
        w.close();
        std::array<std::byte, 1024> buf{};
        auto t0 = Clock::now();
        for (int i = 0; i < count; ++i) r.recv_bytes_into(buf);
        return count / std::chrono::duration<double>(Clock::now() - t0).count();
      });
}

// Measures every impl of a workload in turn, kRuns rounds, and emits the medians: interleaving
// keeps a load spike on this shared machine from landing on one impl only.
void compare(const std::string& workload, const char* unit, bool higher,
             const std::vector<std::pair<std::string, std::function<double()>>>& impls) {
  std::vector<std::vector<double>> results(impls.size());
  for (int run = 0; run < kRuns; ++run)
    for (std::size_t i = 0; i < impls.size(); ++i) results[i].push_back(impls[i].second());
  for (std::size_t i = 0; i < impls.size(); ++i) emit(workload, impls[i].first, median(results[i]), unit, higher);
}

}  // namespace

int main() {
  // As Python does at startup: with SIGPIPE ignored, ipckit's pipe(2) ends skip the SIGPIPE
  // guard (two rt_sigprocmask calls per send). Raw pipe(2) has no guard at all.
  ::signal(SIGPIPE, SIG_IGN);
  for (bool pinned : {false, true}) {
    if (pinned) pin_cpu0();
    else unpin();
    const std::string tag = pinned ? " (pinned)" : " (unpinned)";
    const int iters = pinned ? 5000 : 2000;

    auto rt = [&]<std::size_t N>(const std::string& size) {
      compare("Pipe round trip " + size + tag, "us", false,
              {{"ipckit", [&] { return ipc_round_trip_us<N>(true, iters); }},
               {"raw socketpair", [&] { return raw_round_trip_us<N>(true, iters); }},
               {"raw pipe(2)", [&] { return raw_round_trip_us<N>(false, iters); }}});
      compare("one-way Pipe(duplex=false) pair round trip " + size + tag, "us", false,
              {{"ipckit", [&] { return ipc_round_trip_us<N>(false, iters); }},
               {"raw pipe(2)", [&] { return raw_round_trip_us<N>(false, iters); }}});
    };
    rt.template operator()<8>("8 B");
    rt.template operator()<1024>("1 KiB");

    const int count = 50000;
    compare("Pipe 1 KiB one-way throughput" + tag, "msgs/s", true,
            {{"ipckit", [&] { return ipc_throughput(true, count); }},
             {"raw socketpair", [&] { return raw_throughput(true, count); }},
             {"raw pipe(2)", [&] { return raw_throughput(false, count); }}});
  }
  return 0;
}
