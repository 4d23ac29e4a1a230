// Helpers that put a synchronisation object's state into an anonymous or named SharedMemory.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <span>
#include <string_view>

#include <ipc/shared_memory.hpp>

namespace ipc::detail {

/// How a shared object is obtained.
enum class OpenMode { anonymous, create, open, create_or_open };

/// Maps `size` bytes for an object of `kind`: anonymous (init runs at once), or named following
/// `how` (init runs only when this call creates the segment, before openers can see it).
/// `type_name` (the element type, for ipc-shm) is stored in a segment this call creates. An
/// opened segment must belong to the effective uid and grant no more than `mode`. Throws as
/// SharedMemory::create/open.
SharedMemory map_object(OpenMode how, std::string_view name, std::size_t size, std::uint32_t kind, mode_t mode,
                        std::uint64_t type_tag, const std::function<void(std::span<std::byte>)>& init,
                        std::string_view type_name = {});

}  // namespace ipc::detail
