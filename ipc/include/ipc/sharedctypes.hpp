// Value<T>, Array<T>, RawValue<T> and RawArray<T>: trivially copyable data in shared memory.
//
// The C++ reading of Python's multiprocessing.sharedctypes: T plays the typecode ('i' = int,
// 'd' = double, 'c' = char, or any trivially copyable struct). Value and Array carry a robust
// lock (get_lock(), or locked() for a scoped accessor: `*counter.locked() += 1;`) unless built
// with lock = false, or use a caller's Lock (`Value<int>(0, lock)`, Python's lock=...);
// RawValue/RawArray never have one. As with Python's default RLock, the accessors that lock
// (value(), value(v), to_vector(), locked()) may be called by a thread that already holds the
// lock: `std::scoped_lock g{v.get_lock()}; v.value(v.value() + 1);` is Python's
// `with v.get_lock(): v.value += 1`. (get_lock() itself is a Lock: acquiring it twice from one
// thread is a ValueError.) Like the synchronisation objects, the
// default constructors map their own anonymous shared memory (shared with children forked
// later); create/open/create_or_open use a named segment ("/ipckit-<name>", mode 0600, unlinked
// by the creating handle), whose header records the element type so that opening with another T
// fails. Owner death: see synchronize.hpp; a locked() accessor tells owner_died().
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include <ipc/detail/shared_object.hpp>
#include <ipc/errors.hpp>
#include <ipc/shared_memory.hpp>
#include <ipc/synchronize.hpp>

namespace ipc {

namespace detail {

/// The start of a Value/Array segment; the elements follow at kCtypesDataOffset.
struct CtypesHeader {
  RobustMutex mutex;
  std::uint32_t has_lock;
  std::uint32_t elem_size;
  std::uint64_t count;
};
inline constexpr std::size_t kCtypesDataOffset = 128;
static_assert(sizeof(CtypesHeader) <= kCtypesDataOffset);

/// A mapped Value/Array segment.
struct CtypesBlock {
  SharedMemory shm;
  CtypesHeader* header = nullptr;
  std::byte* data = nullptr;
};

/// Maps a Value/Array segment: creates it with `count` elements of `elem_size` bytes copied
/// from `init` (zeros when empty), or opens it (count 0 = any) and checks kind and type tag.
/// Throws ValueError for count 0 or a mismatch, and as SharedMemory::create/open.
CtypesBlock map_ctypes(OpenMode how, std::string_view name, mode_t mode, std::uint32_t kind, std::uint64_t type_tag,
                       std::size_t count, std::size_t elem_size, bool lock, std::span<const std::byte> init,
                       std::string_view type_name = {});

/// A tag for T: its size and a hash of its type name (same compiler, same tag).
std::uint64_t type_tag(const std::type_info& type, std::size_t size) noexcept;

template <class T>
std::uint64_t type_tag_of() noexcept {
  return type_tag(typeid(T), sizeof(T));
}

inline constexpr std::uint32_t kKindValue = shm_kind("valu");
inline constexpr std::uint32_t kKindArray = shm_kind("arry");

/// What Value and Array share: the mapped segment, the view of its lock, releasing a held lock
/// before unmapping. Move-only.
class CtypesHandle {
 public:
  CtypesHandle(CtypesHandle&&) noexcept = default;
  /// Lets go of the current object first (as the destructor), then takes `o`'s.
  CtypesHandle& operator=(CtypesHandle&& o) noexcept {
    if (this != &o) {
      drop();
      m_block = std::move(o.m_block);
      m_lock = std::move(o.m_lock);
    }
    return *this;
  }
  /// Unmaps; releases the lock first if the calling thread holds it. Never throws.
  ~CtypesHandle() { drop(); }

  /// The lock. Throws ValueError when the object was made with lock = false.
  Lock& get_lock() const {
    if (!m_lock) throw ValueError("this shared object has no lock (made with lock=false)");
    return *m_lock;
  }
  /// True when the object has a lock.
  bool has_lock() const noexcept { return m_lock.has_value(); }
  /// The full name of a named object, empty for an anonymous one.
  const std::string& name() const noexcept { return m_block.shm.name(); }

 protected:
  /// Wraps a mapped block; its own lock (if it has one), or the caller's `external` lock.
  explicit CtypesHandle(CtypesBlock block, const Lock* external = nullptr) noexcept : m_block(std::move(block)) {
    if (external) m_lock.emplace(LockAccess::view(LockAccess::mutex_of(*external)));
    else if (m_block.header->has_lock) m_lock.emplace(LockAccess::view(&m_block.header->mutex));
  }
  /// Runs f() under the lock when there is one and the calling thread does not hold it yet.
  template <class F>
  auto with_lock(F f) const {
    if (!m_lock || m_lock->held()) return f();
    std::scoped_lock g(*m_lock);
    return f();
  }
  /// Acquires the lock for a locked() accessor unless the calling thread holds it already
  /// (`owns` tells which). Throws TimeoutError, ValueError (no lock).
  Lock& acquire_for_access(Timeout timeout, bool& owns) const {
    Lock& l = get_lock();
    owns = !l.held();
    if (owns && !l.acquire(timeout)) throw TimeoutError("timed out waiting for a shared object's lock");
    return l;
  }

  CtypesBlock m_block;

 private:
  void drop() noexcept {
    // A moved-from object has no mapping (and its Lock view no mutex).
    if (m_block.shm && m_block.header->has_lock) release_if_held(&m_block.header->mutex);
  }
  mutable std::optional<Lock> m_lock;
};

}  // namespace detail

namespace detail {
/// Releases `lock` at the end of an accessor that acquired it, if the calling thread holds it.
/// An accessor destroyed by another thread (moved there) cannot release a lock it does not own
/// and must not throw from a destructor: it leaves the lock to the thread that holds it, and
/// says so on stderr. Never throws.
void release_accessor_lock(Lock& lock) noexcept;
}  // namespace detail

/// A held lock and the Value it guards; releases on destruction (unless the lock was already
/// held by the thread that made it). Move-only; keep it in the thread that made it.
template <class T>
class LockedValue {
 public:
  /// Takes over an acquired `lock`; `owns` false: the caller held it before, do not release.
  LockedValue(Lock& lock, T* p, bool owns = true) noexcept : m_lock(owns ? &lock : nullptr), m_view(&lock), m_p(p) {}
  LockedValue(LockedValue&& o) noexcept
      : m_lock(std::exchange(o.m_lock, nullptr)), m_view(o.m_view), m_p(o.m_p) {}
  LockedValue& operator=(LockedValue&&) = delete;
  /// Releases the lock if this accessor acquired it and the calling thread holds it. Never
  /// throws (see detail::release_accessor_lock).
  ~LockedValue() {
    if (m_lock) detail::release_accessor_lock(*m_lock);
  }
  /// The value.
  T& operator*() const noexcept { return *m_p; }
  /// Member access to the value.
  T* operator->() const noexcept { return m_p; }
  /// True when the lock was taken over from a process that died holding it.
  bool owner_died() const noexcept { return m_view->owner_died(); }

 private:
  Lock* m_lock;  // to release; null when not ours
  Lock* m_view;
  T* m_p;
};

/// A held lock and the Array elements it guards; releases on destruction (unless the lock was
/// already held by the thread that made it). Move-only; keep it in the thread that made it.
template <class T>
class LockedArray {
 public:
  /// Takes over an acquired `lock`; `owns` false: the caller held it before, do not release.
  LockedArray(Lock& lock, std::span<T> s, bool owns = true) noexcept
      : m_lock(owns ? &lock : nullptr), m_view(&lock), m_span(s) {}
  LockedArray(LockedArray&& o) noexcept
      : m_lock(std::exchange(o.m_lock, nullptr)), m_view(o.m_view), m_span(o.m_span) {}
  LockedArray& operator=(LockedArray&&) = delete;
  /// Releases the lock if this accessor acquired it and the calling thread holds it. Never
  /// throws (see detail::release_accessor_lock).
  ~LockedArray() {
    if (m_lock) detail::release_accessor_lock(*m_lock);
  }
  /// Element i, unchecked.
  T& operator[](std::size_t i) const noexcept { return m_span[i]; }
  /// Element i; throws std::out_of_range when i >= size().
  T& at(std::size_t i) const { return checked(m_span, i); }
  /// s[i], or std::out_of_range when i >= s.size().
  static T& checked(std::span<T> s, std::size_t i) {
    if (i >= s.size())
      throw std::out_of_range("Array index " + std::to_string(i) + " out of range (size " + std::to_string(s.size()) +
                              ")");
    return s[i];
  }
  /// Number of elements.
  std::size_t size() const noexcept { return m_span.size(); }
  /// Iteration.
  T* begin() const noexcept { return m_span.data(); }
  T* end() const noexcept { return m_span.data() + m_span.size(); }
  /// The elements.
  std::span<T> span() const noexcept { return m_span; }
  /// True when the lock was taken over from a process that died holding it.
  bool owner_died() const noexcept { return m_view->owner_died(); }

 private:
  Lock* m_lock;  // to release; null when not ours
  Lock* m_view;
  std::span<T> m_span;
};

// ---- Value ----

/// One T in shared memory with an optional robust lock (Python's multiprocessing.Value).
/// value()/value(v) read and write under the lock (when there is one); get_obj() is the raw
/// object; locked() holds the lock for a read-modify-write. Move-only handle; thread-safe
/// through the lock only; fork-safe.
template <class T>
class Value : public detail::CtypesHandle {
  static_assert(std::is_trivially_copyable_v<T>, "Value<T> needs a trivially copyable T");
  static_assert(alignof(T) <= 64, "Value<T> supports alignments up to 64");

 public:
  /// An anonymous value holding `initial`, with a lock unless `lock` is false. Throws
  /// std::system_error when the mapping fails.
  explicit Value(T initial = T{}, bool lock = true) : Value(map(detail::OpenMode::anonymous, {}, initial, lock, 0600)) {}
  /// An anonymous value holding `initial`, guarded by the caller's `lock` (Python's
  /// Value(typecode, init, lock=lock)): get_lock() and locked() use it. `lock` must outlive the
  /// value and be shared with the same processes. Throws std::system_error when mapping fails.
  Value(T initial, const Lock& lock)
      : Value(map(detail::OpenMode::anonymous, {}, initial, false, 0600), &lock) {}
  /// Creates the named value. Throws as SharedMemory::create.
  static Value create(std::string_view name, T initial = T{}, bool lock = true, mode_t mode = 0600) {
    return Value(map(detail::OpenMode::create, name, initial, lock, mode));
  }
  /// Opens the named value. Throws ValueError when it holds another type, as SharedMemory::open.
  static Value open(std::string_view name) { return Value(map(detail::OpenMode::open, name, T{}, true, 0600)); }
  /// Creates (holding `initial`) or opens the named value.
  static Value create_or_open(std::string_view name, T initial = T{}, bool lock = true, mode_t mode = 0600) {
    return Value(map(detail::OpenMode::create_or_open, name, initial, lock, mode));
  }

  /// A copy of the value, read under the lock (if any).
  T value() const {
    return with_lock([this] { return *m_ptr; });
  }
  /// Stores `v` under the lock (if any).
  void value(const T& v) {
    with_lock([&] { *m_ptr = v; });
  }
  /// The raw object, not locked.
  T& get_obj() noexcept { return *m_ptr; }
  /// Holds the lock and gives access to the value until the accessor is destroyed. Throws
  /// TimeoutError when `timeout` passed first, ValueError when there is no lock.
  LockedValue<T> locked(Timeout timeout = {}) {
    bool owns = true;
    Lock& l = acquire_for_access(timeout, owns);
    return LockedValue<T>(l, m_ptr, owns);
  }

 protected:
  static detail::CtypesBlock map(detail::OpenMode how, std::string_view name, const T& initial, bool lock, mode_t mode) {
    return detail::map_ctypes(how, name, mode, detail::kKindValue, detail::type_tag_of<T>(), 1, sizeof(T), lock,
                              std::as_bytes(std::span<const T>(&initial, 1)), shm_type_name<T>());
  }
  explicit Value(detail::CtypesBlock block, const Lock* external = nullptr) noexcept
      : CtypesHandle(std::move(block), external), m_ptr(reinterpret_cast<T*>(m_block.data)) {}

 private:
  T* m_ptr = nullptr;
};

/// A Value without a lock (Python's sharedctypes.RawValue).
template <class T>
class RawValue : public Value<T> {
 public:
  /// An anonymous raw value holding `initial`.
  explicit RawValue(T initial = T{}) : Value<T>(initial, false) {}
  /// Creates the named raw value.
  static RawValue create(std::string_view name, T initial = T{}, mode_t mode = 0600) {
    return RawValue(Value<T>::map(detail::OpenMode::create, name, initial, false, mode));
  }
  /// Opens a named value (with or without a lock; the lock is not used).
  static RawValue open(std::string_view name) {
    return RawValue(Value<T>::map(detail::OpenMode::open, name, T{}, false, 0600));
  }

 private:
  explicit RawValue(detail::CtypesBlock block) noexcept : Value<T>(std::move(block)) {}
};

// ---- Array ----

/// A fixed-size array of T in shared memory with an optional robust lock (Python's
/// multiprocessing.Array). Element access (operator[], at, iteration, span) is raw: hold the lock
/// (get_lock() or locked()) for anything another process may change concurrently. Move-only
/// handle; fork-safe.
template <class T>
class Array : public detail::CtypesHandle {
  static_assert(std::is_trivially_copyable_v<T>, "Array<T> needs a trivially copyable T");
  static_assert(alignof(T) <= 64, "Array<T> supports alignments up to 64");

 public:
  /// An anonymous array of `n` zeroed elements. Throws ValueError when n is 0.
  explicit Array(std::size_t n, bool lock = true) : Array(map(detail::OpenMode::anonymous, {}, n, {}, lock, 0600)) {}
  /// An anonymous array holding a copy of `init`.
  Array(std::initializer_list<T> init, bool lock = true)
      : Array(map(detail::OpenMode::anonymous, {}, init.size(), std::span<const T>(init.begin(), init.size()), lock,
                  0600)) {}
  /// An anonymous array holding a copy of `init`.
  explicit Array(std::span<const T> init, bool lock = true)
      : Array(map(detail::OpenMode::anonymous, {}, init.size(), init, lock, 0600)) {}
  /// An anonymous array of `n` zeroed elements guarded by the caller's `lock` (Python's
  /// Array(typecode, n, lock=lock)); see Value(initial, lock). Throws ValueError when n is 0.
  Array(std::size_t n, const Lock& lock) : Array(map(detail::OpenMode::anonymous, {}, n, {}, false, 0600), &lock) {}
  /// An anonymous array holding a copy of `init`, guarded by the caller's `lock`.
  Array(std::initializer_list<T> init, const Lock& lock)
      : Array(map(detail::OpenMode::anonymous, {}, init.size(), std::span<const T>(init.begin(), init.size()), false,
                  0600),
              &lock) {}
  /// Creates the named array of `n` zeroed elements.
  static Array create(std::string_view name, std::size_t n, bool lock = true, mode_t mode = 0600) {
    return Array(map(detail::OpenMode::create, name, n, {}, lock, mode));
  }
  /// Creates the named array holding a copy of `init`.
  static Array create(std::string_view name, std::span<const T> init, bool lock = true, mode_t mode = 0600) {
    return Array(map(detail::OpenMode::create, name, init.size(), init, lock, mode));
  }
  /// Opens the named array (any size). Throws ValueError when it holds another type.
  static Array open(std::string_view name) { return Array(map(detail::OpenMode::open, name, 0, {}, true, 0600)); }
  /// Creates (with `n` zeroed elements) or opens the named array (its size must be n).
  static Array create_or_open(std::string_view name, std::size_t n, bool lock = true, mode_t mode = 0600) {
    return Array(map(detail::OpenMode::create_or_open, name, n, {}, lock, mode));
  }

  /// Number of elements.
  std::size_t size() const noexcept { return m_span.size(); }
  /// Element i, unchecked and unlocked.
  T& operator[](std::size_t i) const noexcept { return m_span[i]; }
  /// Element i, unlocked; throws std::out_of_range when i >= size().
  T& at(std::size_t i) const { return LockedArray<T>::checked(m_span, i); }
  /// Iteration over the elements (unlocked).
  T* begin() const noexcept { return m_span.data(); }
  T* end() const noexcept { return m_span.data() + m_span.size(); }
  /// The elements (unlocked).
  std::span<T> span() const noexcept { return m_span; }
  /// The elements (unlocked; Python's get_obj()).
  std::span<T> get_obj() const noexcept { return m_span; }
  /// A copy of the elements, taken under the lock (if any).
  std::vector<T> to_vector() const {
    return with_lock([this] { return std::vector<T>(m_span.begin(), m_span.end()); });
  }
  /// Holds the lock and gives access to the elements until the accessor is destroyed. Throws
  /// TimeoutError when `timeout` passed first, ValueError when there is no lock.
  LockedArray<T> locked(Timeout timeout = {}) {
    bool owns = true;
    Lock& l = acquire_for_access(timeout, owns);
    return LockedArray<T>(l, m_span, owns);
  }

 protected:
  static detail::CtypesBlock map(detail::OpenMode how, std::string_view name, std::size_t n, std::span<const T> init,
                                 bool lock, mode_t mode) {
    return detail::map_ctypes(how, name, mode, detail::kKindArray, detail::type_tag_of<T>(), n, sizeof(T), lock,
                              std::as_bytes(init), shm_type_name<T>());
  }
  explicit Array(detail::CtypesBlock block, const Lock* external = nullptr) noexcept
      : CtypesHandle(std::move(block), external),
        m_span(reinterpret_cast<T*>(m_block.data), static_cast<std::size_t>(m_block.header->count)) {}

 private:
  std::span<T> m_span;
};

/// An Array without a lock (Python's sharedctypes.RawArray).
template <class T>
class RawArray : public Array<T> {
 public:
  /// An anonymous raw array of `n` zeroed elements.
  explicit RawArray(std::size_t n) : Array<T>(n, false) {}
  /// An anonymous raw array holding a copy of `init`.
  RawArray(std::initializer_list<T> init) : Array<T>(init, false) {}
  /// Creates the named raw array of `n` zeroed elements.
  static RawArray create(std::string_view name, std::size_t n, mode_t mode = 0600) {
    return RawArray(Array<T>::map(detail::OpenMode::create, name, n, {}, false, mode));
  }
  /// Opens a named array (with or without a lock; the lock is not used).
  static RawArray open(std::string_view name) {
    return RawArray(Array<T>::map(detail::OpenMode::open, name, 0, {}, false, 0600));
  }

 private:
  explicit RawArray(detail::CtypesBlock block) noexcept : Array<T>(std::move(block)) {}
};

}  // namespace ipc
