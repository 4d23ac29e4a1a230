// map_object: the one place where synchronisation objects and shared ctypes get their memory.
#include <ipc/detail/shared_object.hpp>

namespace ipc::detail {

SharedMemory map_object(OpenMode how, std::string_view name, std::size_t size, std::uint32_t kind, mode_t mode,
                        std::uint64_t type_tag, const std::function<void(std::span<std::byte>)>& init,
                        std::string_view type_name) {
  switch (how) {
    case OpenMode::anonymous: {
      auto shm = SharedMemory::anonymous(size);
      if (init) init(shm.buf());
      return shm;
    }
    case OpenMode::create:
      return SharedMemory::create(name, size, ShmOptions{mode, kind, type_tag, init, std::string(type_name)});
    case OpenMode::open:
      return SharedMemory::open(name, ShmExpect{.size = size, .kind = kind, .type_tag = type_tag, .mode = mode});
    case OpenMode::create_or_open:
      return SharedMemory::create_or_open(name, size, ShmOptions{mode, kind, type_tag, init, std::string(type_name)});
  }
  return {};
}

}  // namespace ipc::detail
