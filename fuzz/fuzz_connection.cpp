// libFuzzer target: a Connection reading arbitrary bytes from its peer must deliver whole
// messages or throw ConnectionClosed / ProtocolError (/ TimeoutError) — never crash, hang,
// leak or allocate beyond what the peer actually sent. Build: add fuzz_connection to the
// target list in fuzz/CMakeLists.txt.
#include <ipc/connection.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1 || size > 60000) return 0;  // fits a socket buffer: the write below never blocks
  auto [writer, reader] = ipc::Pipe();
  // First byte: the reader's maximum message size (small values exercise the refusal path).
  reader.max_message_size(data[0] < 128 ? std::size_t{data[0]} * 64 + 1 : ipc::Connection::kDefaultMaxMessageSize);
  ::send(writer.fileno(), data + 1, size - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
  writer.close();
  for (int i = 0;; ++i) {
    try {
      if (i % 2)
        (void)reader.recv<std::string>(std::chrono::seconds(0));
      else
        (void)reader.recv_bytes(ipc::Connection::npos, std::chrono::seconds(0));
    } catch (const ipc::ConnectionClosed&) {
      break;
    } catch (const ipc::ProtocolError&) {
      if (reader.closed()) break;  // stream errors close it; a bad decode leaves it usable
    } catch (const ipc::TimeoutError&) {
      break;  // impossible with EOF pending, but harmless
    } catch (const ipc::ValueError&) {
      break;  // closed by an earlier stream error
    }
  }
  return 0;
}
