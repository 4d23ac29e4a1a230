// CRC-64 (Jones polynomial, reflected): the checksum at the end of a snapshot (Redis's crc64.c).
#pragma once

#include <cstdint>
#include <string_view>

namespace ipc::managerd {

/// CRC-64/Jones of `data` with a zero seed, as Redis computes it for RDB files. Never throws.
std::uint64_t crc64(std::string_view data) noexcept;

}  // namespace ipc::managerd
