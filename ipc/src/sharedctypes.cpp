// Value/Array segments: layout, creation with initial bytes, checks when opening.
#include <ipc/sharedctypes.hpp>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <limits>
#include <new>

#include <ipc/detail/fnv.hpp>

namespace ipc::detail {

std::uint64_t type_tag(const std::type_info& type, std::size_t size) noexcept {
  // FNV-1a over the mangled name, then the size mixed in; 0 is reserved for "no tag".
  std::uint64_t h = fnv1a(type.name());
  h ^= static_cast<std::uint64_t>(size) * 0x9e3779b97f4a7c15ull;
  return h ? h : 1;
}

CtypesBlock map_ctypes(OpenMode how, std::string_view name, mode_t mode, std::uint32_t kind, std::uint64_t type_tag,
                       std::size_t count, std::size_t elem_size, bool lock, std::span<const std::byte> init,
                       std::string_view type_name) {
  bool opening = how == OpenMode::open;
  if (!opening && count == 0) throw ValueError("a shared Value/Array needs at least one element");
  if (count > (std::numeric_limits<std::size_t>::max() - kCtypesDataOffset) / elem_size)
    throw ValueError("shared Array of " + std::to_string(count) + " elements is too large");
  std::size_t size = opening ? 0 : kCtypesDataOffset + count * elem_size;
  CtypesBlock b;
  b.shm = map_object(how, name, size, kind, mode, type_tag, [&](std::span<std::byte> bytes) {
    auto* h = new (bytes.data()) CtypesHeader;
    if (lock) h->mutex.init();
    h->has_lock = lock ? 1 : 0;
    h->elem_size = static_cast<std::uint32_t>(elem_size);
    h->count = count;
    if (!init.empty()) std::memcpy(bytes.data() + kCtypesDataOffset, init.data(), init.size());
  }, type_name);
  b.header = static_cast<CtypesHeader*>(b.shm.data());
  if (b.shm.size() < kCtypesDataOffset || b.header->elem_size != elem_size ||
      b.header->count != (b.shm.size() - kCtypesDataOffset) / elem_size)
    throw ProtocolError("shared memory " + b.shm.name() + " has a corrupt Value/Array header");
  b.data = static_cast<std::byte*>(b.shm.data()) + kCtypesDataOffset;
  return b;
}

void release_accessor_lock(Lock& lock) noexcept {
  if (lock.held()) {
    try {
      lock.release();
    } catch (...) {  // cannot happen: held by the caller
    }
    return;
  }
  if (!lock.locked()) return;  // released by hand before the accessor ended: nothing to do
  // Said once per process: a flood of the same line would hide everything else. Global, as the
  // warning is about the process, not one object.
  static std::atomic<bool> warned{false};
  if (!warned.exchange(true))
    std::fputs("ipckit: a locked() accessor was destroyed in a thread that does not hold its lock; the lock stays "
               "held by the thread that took it (keep an accessor in the thread that made it)\n",
               stderr);
}

}  // namespace ipc::detail
