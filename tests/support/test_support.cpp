// Test helpers: unique names, temp directories, fd counting, /proc inspection.
#include "test_support.hpp"

#include <dirent.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <chrono>

namespace ipc::test {

std::string unique_name(std::string_view what) {
  // Per-process counter: a name must differ between calls of one test; the pid separates
  // processes and runs.
  static std::atomic<int> counter{0};
  return "/ipckit-test-" + std::to_string(::getpid()) + "-" + std::to_string(++counter) + "-" + std::string(what);
}

int connect_unix(const std::filesystem::path& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  std::strncpy(un.sun_path, path.c_str(), sizeof(un.sun_path) - 1);
  if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&un), sizeof un) == 0) return fd;
  if (fd >= 0) ::close(fd);
  return -1;
}

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/ipckit-test-XXXXXX";
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  m_path = tmpl;
}

TempDir::~TempDir() {
  if (std::getenv("IPCKIT_KEEP_TMP")) return;
  std::error_code ec;
  std::filesystem::remove_all(m_path, ec);
}

int count_open_fds() {
  int n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  if (!d) return -1;
  while (auto* e = ::readdir(d))
    if (e->d_name[0] != '.') ++n;
  ::closedir(d);
  return n - 1;
}

namespace {
// Fields after the "(comm)" of /proc/<pid>/stat: state ppid ...
bool read_stat(pid_t pid, char& state, pid_t& ppid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(f, line)) return false;
  auto close = line.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream rest(line.substr(close + 1));
  rest >> state >> ppid;
  return static_cast<bool>(rest);
}
}  // namespace

char proc_state(pid_t pid) {
  char s = 0;
  pid_t pp = 0;
  return read_stat(pid, s, pp) ? s : '\0';
}

pid_t proc_ppid(pid_t pid) {
  char s = 0;
  pid_t pp = 0;
  return read_stat(pid, s, pp) ? pp : -1;
}

int count_shm_names(std::string_view prefix) {
  int n = 0;
  for (auto& e : std::filesystem::directory_iterator("/dev/shm"))
    if (e.path().filename().string().starts_with(prefix)) ++n;
  return n;
}

bool gc_until_gone(std::string_view entry_prefix, const std::function<void()>& gc) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (;;) {
    gc();
    if (count_shm_names(entry_prefix) == 0) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling, not waiting out a race
  }
}

void become_subreaper() { ::prctl(PR_SET_CHILD_SUBREAPER, 1); }

int reap_exited_children() {
  int n = 0;
  while (::waitpid(-1, nullptr, WNOHANG) > 0) ++n;
  return n;
}

}  // namespace ipc::test
