// libFuzzer target: RESTORE's payload loader must refuse bad bytes with DumpError, never crash,
// and what it accepts must DUMP to a payload that loads to the same value.
#include "dump.hpp"
#include "server.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using namespace ipc::managerd;

// The bytes with a footer that passes the version and checksum check appended, so that the
// fuzzer reaches the value decoder.
std::string seal(std::string_view body) {
  std::string out(body);
  out.push_back(static_cast<char>(kDumpRdbVersion));
  out.push_back('\0');
  return snapshot_seal(out);  // out + its CRC-64, little-endian: the checksum DUMP uses
}

// Whether two values hold the same data (hash and set order aside).
bool same(Value& a, Value& b) {
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case Type::string: return a.str() == b.str();
    case Type::list: return a.list() == b.list();
    case Type::set: {
      if (a.set().size() != b.set().size()) return false;
      for (auto& m : a.set().table())
        if (!b.set().contains(m)) return false;
      return true;
    }
    case Type::hash: {
      bool ok = a.hash().size() == b.hash().size();
      a.hash().for_each([&](std::string_view f, std::string_view v) {
        const std::string* w = b.hash().find(f);
        ok = ok && w && *w == v;
      });
      return ok;
    }
    case Type::zset: return a.zset().order() == b.zset().order();  // -0 and 0 compare equal
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  if (dump_payload_verify(bytes)) {
    try {
      dump_payload_load(bytes);
    } catch (const DumpError&) {
    }
  }
  const std::string payload = seal(bytes);
  if (!dump_payload_verify(payload)) __builtin_trap();
  Value v;
  try {
    v = dump_payload_load(payload);
  } catch (const DumpError&) {
    return 0;
  }
  Options o;
  const std::string again = dump_payload(v, o);
  Value w = dump_payload_load(again);  // our own payload must load, to the same value
  if (!same(v, w)) __builtin_trap();
  return 0;
}
