// E07: orphan process (tutorial 001:419). The parent exits while its two children still sleep:
// they keep running, re-parented to init (PPID 1) or to the nearest ancestor that is a child
// subreaper (systemd --user, a container init, a test harness), which reaps them when they end.
// The tutorial's children sleep 50 s; these sleep 2 s. Run it as `orphan_process | cat` to have
// the shell wait for the orphans' output (they keep the pipe open).
#include <ipc/process.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

using namespace std::chrono_literals;

// A pipe: each child writes one byte once it runs. Global because run() is a plain function,
// as the tutorial's target=run; set once in main before any fork.
static int g_started[2];

static void run() {
  const pid_t before = ::getppid();
  std::printf("child %d: my parent is %d\n", ::getpid(), before);
  std::fflush(stdout);
  if (::write(g_started[1], "x", 1) != 1) return;
  // Wait until the parent has gone. Its pidfd could not be opened if it had already exited.
  if (const auto* parent = ipc::parent_process(); parent && parent->sentinel() >= 0) parent->join(10s);
  std::printf("child %d: my parent %d has exited; my parent is now %d\n", ::getpid(), before, ::getppid());
  std::fflush(stdout);
  std::this_thread::sleep_for(2s);
  std::printf("child %d: ending after 2 s; my parent %d reaps me\n", ::getpid(), ::getppid());
}

int main() {
  if (::pipe2(g_started, O_CLOEXEC) != 0) return 1;
  ipc::Process p1{run};
  ipc::Process p2{run};
  p1.start();
  p2.start();
  char buf[2];  // wait until both children run, so that they see this process as their parent
  for (int got = 0; got < 2;) {
    ssize_t n = ::read(g_started[0], buf, sizeof buf - static_cast<std::size_t>(got));
    if (n <= 0) return 1;
    got += static_cast<int>(n);
  }
  std::printf("main %d: exiting now, without joining p1 (%d) and p2 (%d)\n", ::getpid(), p1.pid(), p2.pid());
  std::fflush(stdout);
  // Python's multiprocessing joins non-daemonic children when the main program ends (an atexit
  // handler), and so does ipckit: returning from main would wait 2 s for the children and they
  // would never be orphans. The tutorial's claim needs the parent gone first, so leave here
  // without running the exit handlers (output flushed above).
  std::_Exit(0);
}
