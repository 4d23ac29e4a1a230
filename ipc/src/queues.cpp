// Queue, SimpleQueue and JoinableQueue: making and opening the shared ring, status errors.
#include <ipc/queues.hpp>

#include <string>

namespace ipc::detail {

QueueCore::QueueCore(SharedMemory mem, bool joinable, std::uint64_t elem_size, std::uint64_t type_hash,
                     const std::string& what)
    : shm(std::move(mem)), ring(shm.bytes(), joinable, elem_size, type_hash, what.c_str()) {}

std::shared_ptr<QueueCore> make_queue(const QueueSpec& spec, std::size_t maxsize, std::size_t capacity) {
  auto mem = SharedMemory::anonymous(Ring::bytes_needed(capacity));
  Ring::init(mem.bytes(), capacity, maxsize, spec.joinable, spec.elem_size, spec.type_hash);
  return std::make_shared<QueueCore>(std::move(mem), spec.joinable, spec.elem_size, spec.type_hash,
                                     "anonymous queue");
}

std::shared_ptr<QueueCore> create_queue(const QueueSpec& spec, std::string_view name, std::size_t maxsize,
                                        std::size_t capacity, mode_t mode) {
  ShmOptions opts;
  opts.mode = mode;
  opts.kind = spec.kind;
  opts.type_tag = spec.type_hash;
  opts.type_name = std::string(spec.type_name);
  opts.init = [&](std::span<std::byte> mem) {
    Ring::init(mem, capacity, maxsize, spec.joinable, spec.elem_size, spec.type_hash);
  };
  auto mem = SharedMemory::create(name, Ring::bytes_needed(capacity), opts);
  std::string what = "queue " + mem.name();
  return std::make_shared<QueueCore>(std::move(mem), spec.joinable, spec.elem_size, spec.type_hash, what);
}

std::shared_ptr<QueueCore> open_queue(const QueueSpec& spec, std::string_view name) {
  // The element type is checked by the ring's own header (clearer messages than the type tag).
  auto mem = SharedMemory::open(name, {.kind = spec.kind});
  std::string what = "queue " + mem.name();
  return std::make_shared<QueueCore>(std::move(mem), spec.joinable, spec.elem_size, spec.type_hash, what);
}

void throw_put_status(RingStatus st, std::size_t done, std::size_t total) {
  if (st == RingStatus::closed) {
    if (total > 1) throw QueueClosed("queue is closed (" + std::to_string(done) + " of " + std::to_string(total) + " items put)");
    throw QueueClosed("queue is closed");
  }
  if (total > 1) throw QueueFull("queue is full (" + std::to_string(done) + " of " + std::to_string(total) + " items put)");
  throw QueueFull("queue is full");
}

void throw_get_status(RingStatus st) {
  if (st == RingStatus::closed) throw QueueClosed("queue is closed and drained");
  throw QueueEmpty("queue is empty");
}

void throw_bad_frame(std::size_t got, std::size_t want) {
  throw ProtocolError("queue frame of " + std::to_string(got) + " bytes for an item of " + std::to_string(want) +
                      " bytes");
}

// Per-thread scratch buffers: reused so that steady-state put/get of encoded types allocates
// nothing. thread_local, so threads sharing a queue never share a buffer.
Bytes& put_scratch() noexcept {
  thread_local Bytes buf;
  return buf;
}

Bytes& get_scratch() noexcept {
  thread_local Bytes buf;
  return buf;
}

}  // namespace ipc::detail
