// HMAC-SHA256 and random bytes through OpenSSL's libcrypto.
#include <ipc/detail/hmac.hpp>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <stdexcept>

namespace ipc::detail {

std::array<std::byte, kDigestSize> hmac_sha256(std::string_view key, std::span<const std::byte> message) {
  std::array<std::byte, kDigestSize> out{};
  unsigned int len = 0;
  auto* ok = ::HMAC(::EVP_sha256(), key.data(), static_cast<int>(key.size()),
                    reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                    reinterpret_cast<unsigned char*>(out.data()), &len);
  if (!ok || len != kDigestSize) throw std::runtime_error("HMAC-SHA256 failed (OpenSSL)");
  return out;
}

bool digest_equal(std::span<const std::byte> a, std::span<const std::byte> b) noexcept {
  return a.size() == b.size() && ::CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool secret_equal(std::string_view a, std::string_view b) noexcept {
  // The key only has to be unknown to whoever supplies `a` or `b`; drawn once per process
  // (a function-local static: thread-safe initialisation, immutable afterwards).
  static const std::array<std::byte, kDigestSize> key = [] {
    std::array<std::byte, kDigestSize> k{};
    if (::RAND_bytes(reinterpret_cast<unsigned char*>(k.data()), static_cast<int>(k.size())) != 1) k.fill(std::byte{0});
    return k;
  }();
  std::string_view k(reinterpret_cast<const char*>(key.data()), key.size());
  try {
    auto da = hmac_sha256(k, std::as_bytes(std::span<const char>(a.data(), a.size())));
    auto db = hmac_sha256(k, std::as_bytes(std::span<const char>(b.data(), b.size())));
    return digest_equal(da, db);
  } catch (...) {
    return false;
  }
}

void random_bytes(std::span<std::byte> out) {
  if (::RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(out.size())) != 1)
    throw std::runtime_error("RAND_bytes failed (OpenSSL)");
}

}  // namespace ipc::detail
