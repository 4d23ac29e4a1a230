// libFuzzer target: ipc::decode of arbitrary bytes into nested types must either succeed or
// throw ipc::ProtocolError — never crash, leak or allocate without bound.
#include <ipc/serialize.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

namespace {
// `canonical`: the type has one encoding per value, so a successful decode must re-encode to
// the same bytes (maps do not: keys may come unsorted or repeated).
template <class T, bool canonical = true>
void try_decode(std::span<const std::byte> in) {
  try {
    T v = ipc::decode<T>(in);
    if (canonical && ipc::encode(v) != ipc::Bytes(in.begin(), in.end())) __builtin_trap();
  } catch (const ipc::ProtocolError&) {
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::span<const std::byte> in(reinterpret_cast<const std::byte*>(data) + 1, size - 1);
  switch (data[0] % 6) {
    case 0: try_decode<std::string>(in); break;
    case 1: try_decode<std::vector<std::string>>(in); break;
    case 2: try_decode<std::map<std::string, std::vector<int>>, false>(in); break;
    case 3: try_decode<std::tuple<int, std::optional<std::string>, double>>(in); break;
    case 4: try_decode<std::variant<int, std::string, std::vector<double>>>(in); break;
    default: try_decode<std::vector<std::vector<std::map<int, bool>>>, false>(in); break;
  }
  return 0;
}
