// errno to std::error_code and std::system_error: the one place the library maps OS failures.
#pragma once

#include <cerrno>
#include <string_view>
#include <system_error>

namespace ipc::detail {

/// The current errno as an error code. Never throws.
inline std::error_code errno_code() noexcept { return {errno, std::system_category()}; }

/// Builds the std::system_error for errno value `err` while doing `action` ("shm_open(/x)").
std::system_error make_system_error(int err, std::string_view action);

/// Throws std::system_error for errno value `err`; `action` names the call and its resource.
[[noreturn]] void throw_system_error(int err, std::string_view action);

/// Throws std::system_error for the current errno; `action` names the call and its resource.
[[noreturn]] inline void throw_errno(std::string_view action) { throw_system_error(errno, action); }

}  // namespace ipc::detail
