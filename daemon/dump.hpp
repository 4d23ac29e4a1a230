// DUMP and RESTORE (Redis's cluster.c, with rdb.c's value encodings): a value serialised in
// Redis 7.0's RDB format, followed by the RDB version and a CRC-64, that redis-server can RESTORE.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace ipc::managerd {

struct Value;
struct Options;
class Db;

/// The RDB version the payloads carry (Redis 7.0's); RESTORE takes this one and older.
inline constexpr int kDumpRdbVersion = 10;

/// A payload RESTORE refuses: its what() says why (for the log; the reply is Redis's).
class DumpError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The DUMP payload of `v`: the RDB type byte and value (strings integer-encoded or LZF-compressed
/// as rdbSaveRawString does; lists as quicklist-2 of listpacks split as Redis's RPUSH fills them;
/// hashes as a listpack or a hash table as the Hash is, sets as an intset or a hash table by `o`'s
/// thresholds, sorted sets as a listpack or ZSET_2 as the ZSet is), the version (2 bytes, little-endian)
/// and the CRC-64 of all that (8 bytes, little-endian). Never throws but bad_alloc.
std::string dump_payload(const Value& v, const Options& o);

/// Every unexpired key of `db` as a Redis RDB file (the one SYNC sends; redis-server loads it):
/// "REDIS0010", per non-empty database a SELECTDB and its keys (absolute expiry in ms, type,
/// key, value in DUMP's encodings), EOF and the CRC-64. Leaves `db`'s selection as it was.
/// Never throws but bad_alloc.
std::string rdb_file(Db& db, const Options& o);

/// True when `payload` ends with a version RESTORE takes and the CRC-64 of what precedes it
/// (Redis's verifyDumpPayload). Never throws.
bool dump_payload_verify(std::string_view payload) noexcept;

/// The value in a verified `payload` (Redis's rdbLoadObjectType + rdbLoadObject): every type
/// and encoding redis-server 7.0 writes for strings, lists, sets, hashes and sorted sets (and the
/// plain list and text-score sorted set encodings of older versions). Every length, listpack, intset and LZF block is checked
/// before use. Throws DumpError for a malformed or empty value, or a type ipc-managerd lacks.
Value dump_payload_load(std::string_view payload);

}  // namespace ipc::managerd
