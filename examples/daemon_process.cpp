// E08: daemonic processes (tutorial 001:455, 001:449, and 000:592's Ping/Pong shape).
//   daemon_process basic     p1.daemon(true); main prints "main is run PID" and ends: p1 is
//                            terminated with it and never prints "p1 is end".
//   daemon_process pingpong  two daemonic children print Ping / Pong every 0.1 s until main
//                            returns after 1 s (the tutorial: 5 s), then the output stops.
//   daemon_process children  a daemonic child that starts a child gets the error "daemonic
//                            processes are not allowed to have children".
//   daemon_process           runs the three in turn, each as its own main program, and checks
//                            that no process was left behind.
#include <ipc/lifecycle.hpp>
#include <ipc/process.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <thread>

using namespace std::chrono_literals;

struct MyProcess : ipc::Process {
  explicit MyProcess(std::string n) { name(std::move(n)); }
  int run() override {
    std::printf("%s is run\n", name().c_str());
    std::fflush(stdout);
    std::mt19937 rng(static_cast<unsigned>(::getpid()));
    std::this_thread::sleep_for(std::chrono::seconds(1 + rng() % 3));
    std::printf("%s is end\n", name().c_str());  // never printed: main ends first
    return 0;
  }
};

static int basic() {
  MyProcess p1("p1");
  p1.daemon(true);  // before start(), as in Python
  p1.start();
  std::printf("main is run %d\n", ::getpid());
  return 0;  // ipckit's exit handler terminates p1 (SIGTERM), as Python's does
}

static int pingpong() {
  auto display = [](const char* content) {
    for (;;) {
      std::printf("%s", content);
      std::fflush(stdout);
      std::this_thread::sleep_for(100ms);
    }
  };
  ipc::Process ping{display, "Ping"};
  ipc::Process pong{display, "Pong"};
  ping.daemon(true);
  pong.daemon(true);
  ping.start();
  pong.start();
  std::this_thread::sleep_for(1s);
  return 0;  // both daemonic children are terminated now: the output stops
}

static int children() {
  ipc::Process d{[] {
    try {
      ipc::Process grandchild{[] {}};
      grandchild.start();
      std::printf("the daemonic child started a child (unexpected)\n");
    } catch (const ipc::ValueError& e) {
      std::printf("daemonic child: ValueError: %s\n", e.what());
    }
  }};
  d.daemon(true);
  d.start();
  d.join();
  return 0;
}

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "basic") return basic();
  if (mode == "pingpong") return pingpong();
  if (mode == "children") return children();
  if (!mode.empty()) {
    std::fprintf(stderr, "usage: %s [basic|pingpong|children]\n", argv[0]);
    return 2;
  }
  // Run each mode as a main program of its own; as a subreaper, this process would adopt any
  // daemonic child that outlived its main.
  ipc::proc::set_subreaper();
  for (const char* m : {"basic", "pingpong", "children"}) {
    std::printf("--- daemon_process %s\n", m);
    std::fflush(stdout);
    ipc::Process main_program{[m] {
      ::execl("/proc/self/exe", "daemon_process", m, static_cast<char*>(nullptr));
      return 127;
    }};
    main_program.start();
    main_program.join();
    std::printf("%s--- main ended (exit code %d); processes left behind: %zu\n", m == std::string("pingpong") ? "\n" : "",
                *main_program.exitcode(), ipc::proc::children(::getpid()).size());
  }
  return 0;
}
