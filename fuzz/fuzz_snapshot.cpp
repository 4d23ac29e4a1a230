// libFuzzer target: ipc-managerd's snapshot loader must refuse bad bytes with ProtocolError and
// round-trip what it accepts.
#include "server.hpp"

#include <ipc/errors.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ipc::managerd;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  Db db;
  try {
    snapshot_decode(bytes, db);  // as given: almost always refused by the checksum
  } catch (const ipc::ProtocolError&) {
  }
  // With a valid checksum appended, the fuzzer reaches the structure decoder itself.
  try {
    snapshot_decode(snapshot_seal(bytes), db);
  } catch (const ipc::ProtocolError&) {
    return 0;
  }
  // Accepted: what it encodes must load again (keys already expired are dropped on the way).
  std::string again = snapshot_encode(db);
  Db db2;
  snapshot_decode(again, db2);
  if (db2.size() > db.size()) __builtin_trap();
  return 0;
}
