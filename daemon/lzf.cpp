// LZF compression (Marc Lehmann's format, as Redis's lzf_c.c/lzf_d.c write and read it): the
// compressed strings of RDB payloads (DUMP/RESTORE).
//
// Format: 000LLLLL + L+1 literal bytes; LLLooooo oooooooo: copy L+2 bytes from o+1 back;
// 111ooooo LLLLLLLL oooooooo: copy L+9 bytes from o+1 back.
#include "lzf.hpp"

#include <cstdint>
#include <vector>

namespace ipc::managerd {

namespace {

constexpr unsigned kHlog = 16;
constexpr std::size_t kHsize = std::size_t{1} << kHlog;
constexpr std::size_t kMaxLit = 1 << 5;
constexpr std::size_t kMaxOff = 1 << 13;
constexpr std::size_t kMaxRef = (1 << 8) + (1 << 3);

// The hash of the three bytes at a position, as lzf_c.c's VERY_FAST IDX (the exact hash decides
// which earlier position a match is looked for at, hence the output bytes).
inline std::uint32_t frst(const unsigned char* p) { return (std::uint32_t{p[0]} << 8) | p[1]; }
inline std::uint32_t next(std::uint32_t v, const unsigned char* p) { return (v << 8) | p[2]; }
inline std::size_t idx(std::uint32_t h) { return ((h >> (3 * 8 - kHlog)) - h * 5) & (kHsize - 1); }

}  // namespace

std::string lzf_compress(std::string_view input, std::size_t max_out) {
  const auto* in = reinterpret_cast<const unsigned char*>(input.data());
  const std::size_t in_len = input.size();
  if (in_len == 0 || max_out == 0) return {};
  // Positions + 1 of the last occurrence of each hash (0 = none). Redis leaves its table
  // uninitialised; starting empty is the deterministic choice its INIT_HTAB option makes.
  std::vector<std::uint32_t> htab(kHsize, 0);
  std::string out(max_out + 1, '\0');  // one spare byte, as Redis allocates: the end-of-run marks may touch it
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  std::size_t op = 1;  // o[op - lit - 1] is the current literal run's header
  std::size_t ip = 0;
  std::size_t lit = 0;
  std::uint32_t hval = in_len >= 2 ? frst(in) : 0;
  while (in_len > 2 && ip < in_len - 2) {
    hval = next(hval, in + ip);
    std::uint32_t& slot = htab[idx(hval)];
    const std::size_t ref1 = slot;  // the earlier position + 1
    slot = static_cast<std::uint32_t>(ip + 1);
    std::size_t off = 0;
    const bool match = ref1 > 1 && ref1 - 1 < ip && (off = ip - (ref1 - 1) - 1) < kMaxOff &&
                       in[ref1 - 1 + 2] == in[ip + 2] && in[ref1 - 1] == in[ip] && in[ref1 - 1 + 1] == in[ip + 1];
    if (match) {
      const std::size_t ref = ref1 - 1;
      std::size_t len = 2;
      std::size_t maxlen = in_len - ip - len;
      if (maxlen > kMaxRef) maxlen = kMaxRef;
      if (op + 3 + 1 >= max_out && op - (lit == 0 ? 1 : 0) + 3 + 1 >= max_out) return {};
      o[op - lit - 1] = static_cast<unsigned char>(lit - 1);  // stop the run
      op -= lit == 0 ? 1 : 0;                                 // undo it when empty
      // As lzf_c.c: when more than 16 bytes may match, 16 are compared unrolled (without the
      // maxlen bound: a match may end up to 2 bytes past it), then one by one up to maxlen.
      bool mismatch = false;
      if (maxlen > 16) {
        for (int k = 0; k < 16 && !mismatch; ++k) {
          ++len;
          mismatch = in[ref + len] != in[ip + len];
        }
      }
      if (!mismatch) {
        do ++len;
        while (len < maxlen && in[ref + len] == in[ip + len]);
      }
      len -= 2;  // the number of bytes copied, minus 1
      ++ip;
      if (len < 7) {
        o[op++] = static_cast<unsigned char>((off >> 8) + (len << 5));
      } else {
        o[op++] = static_cast<unsigned char>((off >> 8) + (7 << 5));
        o[op++] = static_cast<unsigned char>(len - 7);
      }
      o[op++] = static_cast<unsigned char>(off);
      lit = 0;
      ++op;  // start a run
      ip += len + 1;
      if (ip >= in_len - 2) break;
      // VERY_FAST: hash the two positions before the new one.
      ip -= 2;
      hval = frst(in + ip);
      hval = next(hval, in + ip);
      htab[idx(hval)] = static_cast<std::uint32_t>(ip + 1);
      ++ip;
      hval = next(hval, in + ip);
      htab[idx(hval)] = static_cast<std::uint32_t>(ip + 1);
      ++ip;
    } else {
      if (op >= max_out) return {};
      ++lit;
      o[op++] = in[ip++];
      if (lit == kMaxLit) {
        o[op - lit - 1] = static_cast<unsigned char>(lit - 1);
        lit = 0;
        ++op;
      }
    }
  }
  if (op + 3 > max_out) return {};  // at most 3 bytes are left
  while (ip < in_len) {
    ++lit;
    o[op++] = in[ip++];
    if (lit == kMaxLit) {
      o[op - lit - 1] = static_cast<unsigned char>(lit - 1);
      lit = 0;
      ++op;
    }
  }
  o[op - lit - 1] = static_cast<unsigned char>(lit - 1);  // end the run
  op -= lit == 0 ? 1 : 0;
  out.resize(op);
  return out;
}

bool lzf_decompress(std::string_view input, std::size_t out_len, std::string& out) {
  const auto* in = reinterpret_cast<const unsigned char*>(input.data());
  const std::size_t in_len = input.size();
  out.assign(out_len, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  std::size_t ip = 0, op = 0;
  while (ip < in_len) {
    std::size_t ctrl = in[ip++];
    if (ctrl < (1 << 5)) {  // a literal run
      ++ctrl;
      if (ctrl > out_len - op || ctrl > in_len - ip) return false;
      for (std::size_t k = 0; k < ctrl; ++k) o[op++] = in[ip++];
    } else {  // a back reference
      std::size_t len = ctrl >> 5;
      std::size_t back = ((ctrl & 0x1f) << 8) + 1;
      if (ip >= in_len) return false;
      if (len == 7) {
        len += in[ip++];
        if (ip >= in_len) return false;
      }
      back += in[ip++];
      len += 2;
      if (len > out_len - op || back > op) return false;
      for (std::size_t k = 0; k < len; ++k, ++op) o[op] = o[op - back];  // may overlap: byte by byte
    }
  }
  return op == out_len;
}

}  // namespace ipc::managerd
