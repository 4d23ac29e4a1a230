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

/// Constant-time comparison of two byte strings (false when the sizes differ). For digests,
/// whose size is public: the time does not depend on where they differ.
bool digest_equal(std::span<const std::byte> a, std::span<const std::byte> b) noexcept;

/// Compares two secrets (passwords) in a time that depends neither on where they differ nor on
/// their lengths: both are hashed with HMAC-SHA256 under a per-process random key and the
/// digests compared with CRYPTO_memcmp (Redis's time_independent_strcmp does the same with
/// SHA-256). Never throws: false if OpenSSL fails.
bool secret_equal(std::string_view a, std::string_view b) noexcept;

/// Fills `out` with cryptographically strong random bytes. Throws std::runtime_error on failure.
void random_bytes(std::span<std::byte> out);

}  // namespace ipc::detail
