// CRC-64 (Jones polynomial, reflected, as Redis uses for RDB files), table-driven.
#include "crc64.hpp"

#include <array>

namespace ipc::managerd {

namespace {

constexpr std::array<std::uint64_t, 256> make_crc_table() {
  std::array<std::uint64_t, 256> t{};
  for (std::uint64_t i = 0; i < 256; ++i) {
    std::uint64_t crc = i;
    for (int k = 0; k < 8; ++k) crc = (crc & 1) ? (crc >> 1) ^ 0x95ac9329ac4bc9b5ULL : crc >> 1;
    t[i] = crc;
  }
  return t;
}
constexpr auto kCrcTable = make_crc_table();

}  // namespace

std::uint64_t crc64(std::string_view data) noexcept {
  std::uint64_t crc = 0;
  for (unsigned char ch : data) crc = kCrcTable[(crc ^ ch) & 0xff] ^ (crc >> 8);
  return crc;
}

}  // namespace ipc::managerd
