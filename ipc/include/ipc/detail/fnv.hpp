// FNV-1a, the 64-bit hash behind the type tags stored in segment headers.
#pragma once

#include <cstdint>
#include <string_view>

namespace ipc::detail {

/// 64-bit FNV-1a of `s` (Fowler/Noll/Vo: offset basis 0xcbf29ce484222325, prime 0x100000001b3).
/// Not cryptographic: tags, not secrets.
constexpr std::uint64_t fnv1a(std::string_view s) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ull;
  return h;
}

static_assert(fnv1a("") == 0xcbf29ce484222325ull && fnv1a("a") == 0xaf63dc4c8601ec8cull,
              "FNV-1a test vectors");

}  // namespace ipc::detail
