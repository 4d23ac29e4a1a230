// FIFO reader (issue 4: "a FIFO pair of programs"; named pipes appear in the tutorials' prose,
// 001:622). Creates a named pipe (mode 0600), prints every message a writer sends until the
// last writer closes, then exits; the FIFO is unlinked by its creator on the way out.
// Usage: fifo_reader [PATH] [--timeout-s N]   (then run: fifo_writer PATH msg...)
#include <ipc/fifo.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

int main(int argc, char** argv) {
  std::string path = "/tmp/ipckit-fifo-demo-" + std::to_string(::getuid());
  int timeout_s = 30;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--timeout-s") && i + 1 < argc) timeout_s = std::stoi(argv[++i]);
    else path = argv[i];
  }
  try {
    auto fifo = ipc::Fifo::create(path, ipc::Fifo::Mode::read);
    std::printf("reader: waiting on %s\n", path.c_str());
    std::fflush(stdout);
    int count = 0;
    try {
      for (;;) {
        auto msg = fifo.recv<std::string>(std::chrono::seconds(timeout_s));
        std::printf("reader: got \"%s\"\n", msg.c_str());
        std::fflush(stdout);
        ++count;
      }
    } catch (const ipc::ConnectionClosed&) {
      std::printf("reader: writer closed after %d messages; removing %s\n", count, path.c_str());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fifo_reader: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
