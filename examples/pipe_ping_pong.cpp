// Pipe ping-pong (issue 4's ping-pong counter; the multiprocessing.Pipe counterpart of E10):
// a parent and a child pass a counter back and forth over a duplex Pipe, and the second half
// shows the fork rule for pipes: each process must close the ends it does not use, otherwise
// a reader never sees EOF, because its own copy of the write end keeps the pipe open.
#include <ipc/connection.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>

using namespace std::chrono_literals;

int main() {
  // ---- Part 1: ping-pong over a duplex Pipe ----
  auto [ping_end, pong_end] = ipc::Pipe();
  ipc::Process pong{[&] {
    ping_end.close();  // rule: the child closes the parent's end
    try {
      for (;;) {
        int n = pong_end.recv<int>();
        std::printf("  Pong %d (pid %d)\n", n, ::getpid());
        std::fflush(stdout);
        pong_end.send(n + 1);
      }
    } catch (const ipc::ConnectionClosed&) {
      std::printf("  pong: the parent closed its end, EOF, exiting\n");
    }
    return 0;
  }};
  pong.start();
  pong_end.close();  // rule: the parent closes the child's end

  int n = 0;
  while (n < 10) {
    std::printf("Ping %d (pid %d)\n", n, ::getpid());
    std::fflush(stdout);
    ping_end.send(n + 1);
    n = ping_end.recv<int>(5s);
  }
  ping_end.close();  // the child's recv() now throws ConnectionClosed
  pong.join(5s);
  std::printf("counter reached %d; pong exited with %d\n\n", n, pong.exitcode().value_or(-1));

  // ---- Part 2: why the unused ends must be closed ----
  auto [r, w] = ipc::Pipe(false);
  ipc::Process writer{[&] {
    r.close();
    w.send(std::string("the only message"));
    return 0;  // exiting closes the child's copy of w
  }};
  writer.start();
  writer.join(5s);
  std::printf("reader got: %s\n", r.recv<std::string>(5s).c_str());
  try {
    r.recv<std::string>(300ms);
  } catch (const ipc::TimeoutError&) {
    std::printf("parent still holds the write end: no EOF, recv timed out after 300 ms\n");
  }
  w.close();
  try {
    r.recv<std::string>(300ms);
  } catch (const ipc::ConnectionClosed&) {
    std::printf("after w.close() in the parent: recv sees EOF (ConnectionClosed)\n");
  }
  return 0;
}
