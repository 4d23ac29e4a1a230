// Must not compile: a Process target that cannot take its arguments. The build checks that the
// compiler says so in one static_assert error, not pages of std::tuple internals.
#include <ipc/process.hpp>

int main() {
  ipc::Process p([](int) {}, "not an int");
  p.start();
  return p.join() ? 0 : 1;
}
