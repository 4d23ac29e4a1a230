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

void random_bytes(std::span<std::byte> out) {
  if (::RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(out.size())) != 1)
    throw std::runtime_error("RAND_bytes failed (OpenSSL)");
}

}  // namespace ipc::detail
