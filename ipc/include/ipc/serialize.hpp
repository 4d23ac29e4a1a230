// Serialisation: any cereal-serialisable or trivially copyable type to and from a byte frame.
//
// Trivially copyable types are copied with memcpy (the frame is exactly sizeof(T) bytes).
// Everything else goes through cereal with ipckit's own binary archives, whose reader is
// bounded by the frame: a length prefix larger than the bytes left, a read past the end,
// a bad bool or variant index all throw ipc::ProtocolError, never undefined behaviour or an
// allocation larger than a small multiple of the frame. Frames are for processes of the same
// binary on the same machine: native byte order, no versioning.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include <cereal/cereal.hpp>
#include <cereal/types/array.hpp>
#include <cereal/types/chrono.hpp>
#include <cereal/types/deque.hpp>
#include <cereal/types/list.hpp>
#include <cereal/types/map.hpp>
#include <cereal/types/optional.hpp>
#include <cereal/types/set.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/tuple.hpp>
#include <cereal/types/unordered_map.hpp>
#include <cereal/types/unordered_set.hpp>
#include <cereal/types/utility.hpp>
#include <cereal/types/variant.hpp>
#include <cereal/types/vector.hpp>

#include <ipc/errors.hpp>

namespace ipc {

/// An encoded frame.
using Bytes = std::vector<std::byte>;

namespace detail {

/// cereal output archive appending native-endian binary to a Bytes buffer.
class FrameOutputArchive : public cereal::OutputArchive<FrameOutputArchive, cereal::AllowEmptyClassElision> {
 public:
  explicit FrameOutputArchive(Bytes& out) : OutputArchive(this), m_out(out) {}
  void saveBinary(const void* data, std::size_t size) {
    if (size == 0) return;
    auto p = static_cast<const std::byte*>(data);
    m_out.insert(m_out.end(), p, p + size);
  }

 private:
  Bytes& m_out;
};

/// cereal input archive reading from a byte span; every read and length prefix is checked
/// against the bytes left and fails with ipc::ProtocolError.
class FrameInputArchive : public cereal::InputArchive<FrameInputArchive, cereal::AllowEmptyClassElision> {
 public:
  explicit FrameInputArchive(std::span<const std::byte> in) : InputArchive(this), m_in(in) {}
  void loadBinary(void* data, std::size_t size) {
    if (size == 0) return;  // data may be null (an empty vector's buffer)
    if (size > remaining()) throw ProtocolError("truncated frame: need " + std::to_string(size) +
                                                " bytes, " + std::to_string(remaining()) + " left");
    std::memcpy(data, m_in.data() + m_pos, size);
    m_pos += size;
  }
  std::size_t remaining() const noexcept { return m_in.size() - m_pos; }

 private:
  std::span<const std::byte> m_in;
  std::size_t m_pos = 0;
};

}  // namespace detail
}  // namespace ipc

namespace cereal {

template <class T>
inline std::enable_if_t<std::is_arithmetic_v<T>> CEREAL_SAVE_FUNCTION_NAME(ipc::detail::FrameOutputArchive& ar,
                                                                           const T& t) {
  ar.saveBinary(std::addressof(t), sizeof(t));
}

template <class T>
inline std::enable_if_t<std::is_arithmetic_v<T>> CEREAL_LOAD_FUNCTION_NAME(ipc::detail::FrameInputArchive& ar, T& t) {
  if constexpr (std::is_same_v<T, bool>) {
    // Reading a byte other than 0/1 into a bool is undefined behaviour: check it first.
    std::uint8_t b = 0;
    ar.loadBinary(&b, 1);
    if (b > 1) throw ipc::ProtocolError("corrupt frame: bool byte " + std::to_string(b));
    t = b != 0;
  } else {
    ar.loadBinary(std::addressof(t), sizeof(t));
  }
}

template <class Archive, class T>
inline CEREAL_ARCHIVE_RESTRICT(ipc::detail::FrameInputArchive, ipc::detail::FrameOutputArchive)
    CEREAL_SERIALIZE_FUNCTION_NAME(Archive& ar, NameValuePair<T>& t) {
  ar(t.value);
}

template <class T>
inline void CEREAL_SAVE_FUNCTION_NAME(ipc::detail::FrameOutputArchive& ar, const SizeTag<T>& t) {
  ar(t.size);
}

template <class T>
inline void CEREAL_LOAD_FUNCTION_NAME(ipc::detail::FrameInputArchive& ar, SizeTag<T>& t) {
  ar(t.size);
  // Every element of a container takes at least one byte on the wire (empty types aside,
  // which cost nothing to allocate), so a count above the bytes left is corrupt. This bounds
  // the resize() cereal does next by the frame size.
  if (t.size > ar.remaining())
    throw ipc::ProtocolError("corrupt frame: length prefix " + std::to_string(t.size) + " exceeds the " +
                             std::to_string(ar.remaining()) + " bytes left");
}

template <class T>
inline void CEREAL_SAVE_FUNCTION_NAME(ipc::detail::FrameOutputArchive& ar, const BinaryData<T>& bd) {
  ar.saveBinary(bd.data, static_cast<std::size_t>(bd.size));
}

template <class T>
inline void CEREAL_LOAD_FUNCTION_NAME(ipc::detail::FrameInputArchive& ar, BinaryData<T>& bd) {
  ar.loadBinary(bd.data, static_cast<std::size_t>(bd.size));
}

}  // namespace cereal

CEREAL_REGISTER_ARCHIVE(ipc::detail::FrameOutputArchive)
CEREAL_REGISTER_ARCHIVE(ipc::detail::FrameInputArchive)
CEREAL_SETUP_ARCHIVE_TRAITS(ipc::detail::FrameInputArchive, ipc::detail::FrameOutputArchive)

namespace ipc {

/// Types copied byte for byte: trivially copyable and not pointers (an address means nothing
/// in another process).
template <class T>
concept TriviallySerializable = std::is_trivially_copyable_v<T> && !std::is_pointer_v<T> &&
                                !std::is_member_pointer_v<T>;

/// Types ipckit can send: trivially copyable ones, or any type cereal can save and load.
template <class T>
concept Serializable =
    TriviallySerializable<T> ||
    (cereal::traits::is_output_serializable<T, detail::FrameOutputArchive>::value &&
     cereal::traits::is_input_serializable<T, detail::FrameInputArchive>::value &&
     std::is_default_constructible_v<T>);

/// Appends the encoding of `value` to `out`. Throws only std::bad_alloc.
template <Serializable T>
void encode_append(const T& value, Bytes& out) {
  if constexpr (TriviallySerializable<T>) {
    auto p = reinterpret_cast<const std::byte*>(std::addressof(value));
    out.insert(out.end(), p, p + sizeof(T));
  } else {
    detail::FrameOutputArchive ar(out);
    ar(value);
  }
}

/// Encodes `value` into a new frame. Throws only std::bad_alloc.
template <Serializable T>
Bytes encode(const T& value) {
  Bytes out;
  if constexpr (TriviallySerializable<T>) out.reserve(sizeof(T));
  encode_append(value, out);
  return out;
}

/// Decodes a whole frame into `out`. Throws ProtocolError when the bytes are truncated,
/// corrupt or followed by trailing bytes.
template <Serializable T>
void decode_into(std::span<const std::byte> frame, T& out) {
  if constexpr (TriviallySerializable<T>) {
    if (frame.size() != sizeof(T))
      throw ProtocolError("frame of " + std::to_string(frame.size()) + " bytes for a type of " +
                          std::to_string(sizeof(T)) + " bytes");
    if constexpr (std::is_same_v<T, bool>) {
      if (std::to_integer<unsigned>(frame[0]) > 1) throw ProtocolError("corrupt frame: bool byte");
    }
    std::memcpy(std::addressof(out), frame.data(), sizeof(T));
  } else {
    detail::FrameInputArchive ar(frame);
    try {
      ar(out);
    } catch (const cereal::Exception& e) {  // e.g. a variant index out of range
      throw ProtocolError(std::string("corrupt frame: ") + e.what());
    } catch (const std::length_error& e) {
      throw ProtocolError(std::string("corrupt frame: ") + e.what());
    }
    if (ar.remaining() != 0)
      throw ProtocolError("corrupt frame: " + std::to_string(ar.remaining()) + " trailing bytes");
  }
}

/// Decodes a whole frame. Throws ProtocolError when the bytes are truncated, corrupt or
/// followed by trailing bytes.
template <Serializable T>
T decode(std::span<const std::byte> frame) {
  T out{};
  decode_into(frame, out);
  return out;
}

/// Views any contiguous bytes (std::string, char buffers) as a byte span for decode().
inline std::span<const std::byte> as_bytes(std::string_view s) noexcept {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

}  // namespace ipc
