// Queue, SimpleQueue and JoinableQueue: making and opening the shared ring, status errors.
#include <ipc/queues.hpp>

#include <chrono>
#include <cstdio>
#include <string>

namespace ipc::detail {

QueueCore::QueueCore(SharedMemory mem, bool joinable, std::uint64_t elem_size, std::uint64_t type_hash,
                     const std::string& what)
    : shm(std::move(mem)), ring(shm.bytes(), joinable, elem_size, type_hash, what.c_str()) {}

std::shared_ptr<QueueCore> make_queue(const QueueSpec& spec, std::size_t maxsize, std::size_t capacity) {
  auto mem = SharedMemory::anonymous(Ring::bytes_needed(capacity, spec.at_least_once));
  Ring::init(mem.bytes(), capacity, maxsize, spec.joinable, spec.elem_size, spec.type_hash, spec.at_least_once);
  return std::make_shared<QueueCore>(std::move(mem), spec.joinable, spec.elem_size, spec.type_hash,
                                     "anonymous queue");
}

namespace {

/// The named segment of a queue, created (its ring laid out before others can see it) or, with
/// `or_open`, opened when it exists (an existing queue of another capacity has another size:
/// SharedMemory refuses it). Throws as SharedMemory::create/create_or_open.
std::shared_ptr<QueueCore> map_named_queue(const QueueSpec& spec, std::string_view name, std::size_t maxsize,
                                           std::size_t capacity, mode_t mode, bool or_open) {
  ShmOptions opts;
  opts.mode = mode;
  opts.kind = spec.kind;
  opts.type_tag = spec.type_hash;
  opts.type_name = std::string(spec.type_name);
  opts.init = [&](std::span<std::byte> mem) {
    Ring::init(mem, capacity, maxsize, spec.joinable, spec.elem_size, spec.type_hash, spec.at_least_once);
  };
  const std::size_t size = Ring::bytes_needed(capacity, spec.at_least_once);
  auto mem = or_open ? SharedMemory::create_or_open(name, size, opts) : SharedMemory::create(name, size, opts);
  std::string what = "queue " + mem.name();
  return std::make_shared<QueueCore>(std::move(mem), spec.joinable, spec.elem_size, spec.type_hash, what);
}

}  // namespace

std::shared_ptr<QueueCore> create_queue(const QueueSpec& spec, std::string_view name, std::size_t maxsize,
                                        std::size_t capacity, mode_t mode) {
  return map_named_queue(spec, name, maxsize, capacity, mode, false);
}

std::shared_ptr<QueueCore> create_or_open_queue(const QueueSpec& spec, std::string_view name, std::size_t maxsize,
                                                std::size_t capacity, mode_t mode) {
  auto core = map_named_queue(spec, name, maxsize, capacity, mode, true);
  const std::string what = "queue " + core->shm.name();
  if (core->ring.maxsize() != maxsize)
    throw ValueError(what + " exists with maxsize " + std::to_string(core->ring.maxsize()) + ", not " +
                     std::to_string(maxsize));
  if (core->ring.at_least_once() != spec.at_least_once)
    throw ValueError(what + " exists with " + (core->ring.at_least_once() ? "at-least-once" : "at-most-once") +
                     " delivery");
  return core;
}

std::shared_ptr<QueueCore> open_queue(const QueueSpec& spec, std::string_view name) {
  // The element type is checked by the ring's own header (clearer messages than the type tag).
  auto mem = SharedMemory::open(name, {.kind = spec.kind});
  std::string what = "queue " + mem.name();
  return std::make_shared<QueueCore>(std::move(mem), spec.joinable, spec.elem_size, spec.type_hash, what);
}

namespace {

/// "queue /ipckit-jobs" or "anonymous queue".
std::string describe(const QueueCore& core) {
  return core.shm.name().empty() ? std::string("anonymous queue") : "queue " + core.shm.name();
}

/// " after waiting 1.5 s" or " (did not wait)".
std::string waited_for(Timeout t) {
  if (t.infinite()) return {};
  if (t.value().count() == 0) return " (did not wait)";
  char buf[48];
  std::snprintf(buf, sizeof buf, " after waiting %.3g s", std::chrono::duration<double>(t.value()).count());
  return buf;
}

}  // namespace

void throw_put_status(const QueueCore& core, RingStatus st, Timeout waited, std::size_t done, std::size_t total) {
  std::string count = total > 1 ? " (" + std::to_string(done) + " of " + std::to_string(total) + " items put)" : "";
  if (st == RingStatus::closed) throw QueueClosed(describe(core) + " is closed" + count);
  throw QueueFull(describe(core) + " is full" + waited_for(waited) + count);
}

void throw_get_status(const QueueCore& core, RingStatus st, Timeout waited) {
  if (st == RingStatus::closed) throw QueueClosed(describe(core) + " is closed and drained");
  throw QueueEmpty(describe(core) + " is empty" + waited_for(waited));
}

void throw_tasks_lost(const std::string& name, std::uint64_t lost, std::uint64_t total) {
  throw TasksLost(std::to_string(lost) + (lost == 1 ? " task" : " tasks") + " of " +
                      (name.empty() ? std::string("an anonymous queue") : "queue " + name) +
                      " died with the consumer that held " + (lost == 1 ? "it" : "them") + " (" +
                      std::to_string(total) + " since the queue was made)",
                  lost);
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
