// Exception helpers: errno to std::system_error with the action attempted.
#include <ipc/errors.hpp>

namespace ipc {

std::system_error make_system_error(int err, std::string_view action) {
  return std::system_error(err, std::generic_category(), std::string(action));
}

void throw_system_error(int err, std::string_view action) { throw make_system_error(err, action); }

}  // namespace ipc
