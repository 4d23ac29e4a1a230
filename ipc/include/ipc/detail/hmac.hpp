// HMAC-SHA256 and random bytes for the Listener/Client authkey challenge (OpenSSL underneath).
#pragma once

#include <array>
#include <cstddef>
#include <span>
#include <string_view>

namespace ipc::detail {

/// Size of an HMAC-SHA256 digest.
inline constexpr std::size_t kDigestSize = 32;

/// HMAC-SHA256 of `message` under `key`. Throws std::runtime_error if OpenSSL fails.
std::array<std::byte, kDigestSize> hmac_sha256(std::string_view key, std::span<const std::byte> message);

/// Constant-time comparison of two byte strings (false when the sizes differ).
bool digest_equal(std::span<const std::byte> a, std::span<const std::byte> b) noexcept;

/// Fills `out` with cryptographically strong random bytes. Throws std::runtime_error on failure.
void random_bytes(std::span<std::byte> out);

}  // namespace ipc::detail
