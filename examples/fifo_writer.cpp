// FIFO writer, the other program of the pair (see fifo_reader.cpp): opens the named pipe a
// reader created, waiting at most 5 s for the reader, and sends each argument as a message.
// Usage: fifo_writer [PATH] MESSAGE...   (PATH defaults to fifo_reader's default)
#include <ipc/fifo.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

using namespace std::chrono_literals;

int main(int argc, char** argv) {
  std::string path = "/tmp/ipckit-fifo-demo-" + std::to_string(::getuid());
  std::vector<std::string> messages;
  for (int i = 1; i < argc; ++i) {
    if (i == 1 && argv[i][0] == '/') path = argv[i];
    else messages.emplace_back(argv[i]);
  }
  if (messages.empty()) messages = {"hello", "from", "another", "program"};
  try {
    auto fifo = ipc::Fifo::open(path, ipc::Fifo::Mode::write, 5s);
    for (const auto& m : messages) fifo.send(m);
    std::printf("writer %d: sent %zu messages to %s\n", ::getpid(), messages.size(), path.c_str());
  } catch (const ipc::TimeoutError&) {
    std::fprintf(stderr, "fifo_writer: error: no reader opened %s within 5 s\n", path.c_str());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fifo_writer: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
