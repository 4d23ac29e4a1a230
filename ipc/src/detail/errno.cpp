// errno helpers: errno to std::system_error with the action attempted.
#include <ipc/detail/errno.hpp>

#include <string>

namespace ipc::detail {

std::system_error make_system_error(int err, std::string_view action) {
  return std::system_error(err, std::generic_category(), std::string(action));
}

void throw_system_error(int err, std::string_view action) { throw make_system_error(err, action); }

}  // namespace ipc::detail
