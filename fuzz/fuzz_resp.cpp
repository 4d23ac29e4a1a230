// libFuzzer target: the RESP request parser (incremental, fed in random splits) and reply parser.
#include <ipc/detail/resp.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

using namespace ipc::detail::resp;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view all(reinterpret_cast<const char*>(data), size);
  Limits lim;
  lim.max_bulk_len = 1 << 20;
  // Request parser: feed the bytes in steps (the first byte picks the step) as a socket would.
  RequestParser p(lim);
  std::size_t step = size ? (data[0] % 7) + 1 : 1;
  std::string buf;
  std::size_t fed = 0;
  while (fed < size) {
    std::size_t n = std::min(step, size - fed);
    buf.append(all.substr(fed, n));
    fed += n;
    for (;;) {
      auto st = p.parse(buf);
      if (st == Status::need_more) break;
      if (st == Status::error) {
        p.reset();
        buf.clear();
        break;
      }
      std::size_t total = 0;
      for (auto a : p.args()) total += a.size();  // touch every argument
      if (p.consumed() == 0 || p.consumed() > buf.size()) __builtin_trap();
      (void)total;
      buf.erase(0, p.consumed());
    }
  }
  // Reply parser on the whole input.
  Reply r;
  std::size_t used = 0;
  std::string err;
  if (parse_reply(all, r, used, err, lim) == Status::reply) {
    if (used > size) __builtin_trap();
    (void)format_reply(r);
  }
  return 0;
}
