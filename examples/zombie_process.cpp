// E06: zombie process (tutorial 001:355, 001:375, 001:381, 001:391). A child exits while its parent
// sleeps without waiting for it: meanwhile `ps -o stat` shows it as Z (<defunct>) and
// /proc/PID/status says "State: Z (zombie)". join() is the wait that reaps it: afterwards the PID is
// gone, though p.pid() still holds the old (now meaningless) number. Killing the parent also
// clears a zombie: its adopter (init, or a subreaper) reaps it. The tutorial sleeps 1000 s; this
// port sleeps 0.5 s.
#include <ipc/lifecycle.hpp>
#include <ipc/process.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

using namespace std::chrono_literals;

static void show(pid_t pid) {
  std::fflush(stdout);
  // procps's own view, as the tutorial's `ps aux | grep Z` (ps's exit status is not our concern).
  std::string cmd = "ps -o pid,ppid,stat,args -p " + std::to_string(pid) + " 2>/dev/null";
  if (std::system(cmd.c_str()) != 0) std::printf("  (ps shows no process %d)\n", pid);
  auto state = ipc::proc::status_field(pid, "State");
  std::printf("  /proc/%d/status: State: %s\n", pid, state ? state->c_str() : "(no such process)");
}

int main() {
  // 1. The child exits, the parent sleeps without join(): a zombie.
  ipc::Process p{[] { std::printf("child %d: exiting\n", ::getpid()); }};
  p.start();
  std::printf("main %d: sleeping without join()\n", ::getpid());
  ipc::wait({p.sentinel()}, 10s);  // the child has exited (polling the pidfd does not reap it)
  std::this_thread::sleep_for(500ms);
  show(p.pid());

  // 2. join() sends the wait: the kernel frees the PID; p.pid() keeps the number.
  p.join();
  std::printf("main: after join(), p.pid() is still %d, but:\n", p.pid());
  show(p.pid());

  // 3. The other remedy: kill the parent. Its zombie child is adopted and reaped by the new
  // parent; this program makes itself a subreaper to stand in for init, which does the same.
  ipc::proc::set_subreaper();
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return 1;
  ipc::Process parent{[&] {
    ipc::Process child{[] {}};
    child.start();
    pid_t pid = child.pid();
    ipc::wait({child.sentinel()}, 10s);
    if (::write(fds[1], &pid, sizeof pid) != sizeof pid) return 1;
    std::this_thread::sleep_for(60s);  // never waits for its child: killed below
    return 0;
  }};
  parent.start();
  pid_t zombie = 0;
  if (::read(fds[0], &zombie, sizeof zombie) != sizeof zombie) return 1;
  std::printf("main: parent %d keeps its exited child %d unreaped:\n", parent.pid(), zombie);
  show(zombie);
  std::printf("main: kill -9 %d (the parent)\n", parent.pid());
  parent.kill();
  parent.join();
  ipc::proc::wait_exit(zombie, 10s);  // as the adopter, reap it (init would do the same)
  std::printf("main: the zombie was adopted and reaped:\n");
  show(zombie);
  return 0;
}
