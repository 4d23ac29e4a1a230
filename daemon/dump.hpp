// DUMP and RESTORE (Redis's cluster.c, with rdb.c's value encodings): a value serialised in
// Redis 7.0's RDB format, followed by the RDB version and a CRC-64, that redis-server can RESTORE.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace ipc::managerd {

struct Value;
struct Options;

/// The RDB version the payloads carry (Redis 7.0's); RESTORE takes this one and older.
inline constexpr int kDumpRdbVersion = 10;

/// A payload RESTORE refuses: its what() says why (for the log; the reply is Redis's).
class DumpError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The DUMP payload of `v`: the RDB type byte and value (strings integer-encoded or LZF-compressed
/// as rdbSaveRawString does; lists as quicklist-2 of listpacks split as Redis's RPUSH fills them;
/// hashes as a listpack or a hash table, sets as an intset or a hash table, by `o`'s thresholds),
/// the version (2 bytes, little-endian) and the CRC-64 of all that (8 bytes, little-endian).
/// Never throws but bad_alloc.
std::string dump_payload(const Value& v, const Options& o);

/// True when `payload` ends with a version RESTORE takes and the CRC-64 of what precedes it
/// (Redis's verifyDumpPayload). Never throws.
bool dump_payload_verify(std::string_view payload) noexcept;

/// The value in a verified `payload` (Redis's rdbLoadObjectType + rdbLoadObject): every type
/// and encoding redis-server 7.0 writes for strings, lists, sets and hashes (and the plain
/// list encoding of older versions). Every length, listpack, intset and LZF block is checked
/// before use. Throws DumpError for a malformed or empty value, or a type ipc-managerd lacks.
Value dump_payload_load(std::string_view payload);

}  // namespace ipc::managerd
