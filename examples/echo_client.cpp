// Client of examples/echo_server (tutorial 001:1368's client, EXAMPLES.md "concurrent TCP with
// threads" row): connects to the server's address, sends each message and prints the
// upper-cased reply. Usage: echo_client ADDRESS [--authkey KEY] [--pause-ms N] MESSAGE...
#include <ipc/connection.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s ADDRESS [--authkey KEY] [--pause-ms N] MESSAGE...\n", argv[0]);
    return 2;
  }
  std::string address = argv[1];
  std::optional<std::string> authkey;
  int pause_ms = 0;
  std::vector<std::string> messages;
  for (int i = 2; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--authkey") && i + 1 < argc) authkey = argv[++i];
    else if (!std::strcmp(argv[i], "--pause-ms") && i + 1 < argc) pause_ms = std::stoi(argv[++i]);
    else messages.emplace_back(argv[i]);
  }
  try {
    auto conn = ipc::Client(address, authkey, 5s);
    for (const auto& m : messages) {
      conn.send(m);
      std::printf("client %d: sent %s, got %s\n", ::getpid(), m.c_str(), conn.recv<std::string>(5s).c_str());
      std::fflush(stdout);
      std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms));
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "echo_client: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
