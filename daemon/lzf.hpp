// LZF compression (Marc Lehmann's format, as Redis's lzf_c.c/lzf_d.c write and read it): the
// compressed strings of RDB payloads (DUMP/RESTORE).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace ipc::managerd {

/// Compresses `in` into at most `max_out` bytes, choosing the same literal runs and back
/// references as Redis's lzf_compress (HLOG 16, VERY_FAST, hash table starting empty). Returns
/// the compressed bytes, or an empty string when they would not fit in `max_out` (or `in` is
/// empty). Never throws but bad_alloc.
std::string lzf_compress(std::string_view in, std::size_t max_out);

/// Decompresses `in`, which must expand to exactly `out_len` bytes. Returns false for a
/// malformed input (a back reference before the start, a truncated run, a different length);
/// `out` is unspecified then. Never throws but bad_alloc.
bool lzf_decompress(std::string_view in, std::size_t out_len, std::string& out);

}  // namespace ipc::managerd
