// Concurrent upper-casing echo server, one process per client (EXAMPLES.md: tutorial 001:1368
// "concurrent TCP with threads" and 001:1817/1862 gevent server, done with processes).
// A Listener accepts connections; each client gets its own handler Process that echoes every
// message upper-cased until that client closes, which ends only its own handler. (The
// tutorial closes the socket inside its loop, i.e. after the first reply; this port does not.)
//
//   echo_server                      demo: serves 3 client processes it starts itself, then exits
//   echo_server --address tcp:127.0.0.1:8080 [--clients N] [--authkey KEY]
//                                    serves N clients (default: forever); try examples/echo_client
#include <ipc/connection.hpp>

#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

// The handler: runs in its own process, one per client.
int serve(ipc::Listener& listener, ipc::Connection& conn) {
  listener.close();  // the handler never accepts (a child's close does not unlink the socket file)
  for (;;) {
    std::string msg;
    try {
      msg = conn.recv<std::string>(30s);
    } catch (const ipc::ConnectionClosed&) {
      std::printf("handler %d: client closed, handler exits\n", ::getpid());
      return 0;
    }
    for (auto& ch : msg) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    std::printf("handler %d: echo %s\n", ::getpid(), msg.c_str());
    std::fflush(stdout);
    conn.send(msg);
  }
}

// A client as in echo_client, run as a process of the demo.
int client(const std::string& address, std::vector<std::string> words) {
  auto conn = ipc::Client(address, std::nullopt, 5s);
  for (const auto& w : words) {
    conn.send(w);
    auto reply = conn.recv<std::string>(5s);
    std::printf("client %d: sent %-6s got %s\n", ::getpid(), w.c_str(), reply.c_str());
    std::fflush(stdout);
    std::this_thread::sleep_for(100ms);  // scaled-down think time, so the clients interleave
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string address = "tcp:127.0.0.1:0";
  std::optional<std::string> authkey;
  long clients = -1;  // -1: forever (server mode) or 3 (demo)
  bool demo = argc == 1;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--address") && i + 1 < argc) address = argv[++i];
    else if (!std::strcmp(argv[i], "--clients") && i + 1 < argc) clients = std::stol(argv[++i]);
    else if (!std::strcmp(argv[i], "--authkey") && i + 1 < argc) authkey = argv[++i];
    else if (!std::strcmp(argv[i], "--demo")) demo = true;
    else {
      std::fprintf(stderr, "usage: %s [--demo] [--address ADDR] [--clients N] [--authkey KEY]\n", argv[0]);
      return 2;
    }
  }
  if (demo && authkey) {
    std::fprintf(stderr, "echo_server: --authkey is for server mode\n");
    return 2;
  }
  if (demo) clients = 3;
  try {
    ipc::Listener listener(address, authkey);
    std::printf("echo_server %d: listening on %s\n", ::getpid(), listener.address().c_str());
    std::fflush(stdout);

    std::vector<ipc::Process> demo_clients;
    if (demo) {
      demo_clients.emplace_back(client, listener.address(), std::vector<std::string>{"hello", "world", "bye"});
      demo_clients.emplace_back(client, listener.address(), std::vector<std::string>{"early"});  // leaves first
      demo_clients.emplace_back(client, listener.address(), std::vector<std::string>{"abc", "def", "ghi"});
      for (auto& c : demo_clients) c.start();
    }

    std::vector<ipc::Process> handlers;
    for (long served = 0; clients < 0 || served < clients; ++served) {
      ipc::Connection conn;
      try {
        conn = listener.accept(demo ? ipc::Timeout(10s) : ipc::Timeout());
      } catch (const ipc::AuthenticationError& e) {
        std::printf("echo_server: refused a client: %s\n", e.what());
        continue;
      }
      ipc::Process& h = handlers.emplace_back([&] { return serve(listener, conn); });
      h.start();
      conn.close();  // the parent's copy: the handler owns the client now
      std::printf("echo_server: client %ld -> handler %d\n", served + 1, h.pid());
      std::fflush(stdout);
      ipc::active_children();  // reap handlers that have finished
    }
    for (auto& c : demo_clients) c.join(10s);
    for (auto& h : handlers) h.join(10s);
    std::printf("echo_server: served %zu clients, all handlers exited\n", handlers.size());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "echo_server: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
