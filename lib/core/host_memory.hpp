// Internal: host (CPU) buffers for tensors, weights and arenas, 64-byte aligned.
//
// Buffers of kMapThreshold bytes and more are mapped straight from the OS (mmap) instead of coming
// from malloc's heaps, and unmapped when freed. Weight copies, repacked weights and activation
// arenas are such buffers: freeing one (a destroyed CachedOp, an evicted plan, an arena released
// after a call without static_alloc) gives its memory back at once, and a caller thread's arena
// never sits in (and fragments) that thread's malloc heap, where freed room is rarely returned.
// Sanitizer builds use malloc for every size, so ASan still checks every buffer's bounds.
#pragma once

#include <cstddef>

namespace tandem::detail {

inline constexpr size_t kHostAlignment = 64;
inline constexpr size_t kMapThreshold = size_t{256} << 10;

// Never null: throws OutOfMemory. `bytes` may be 0. FreeHost must get the same `bytes`.
void* AllocateHost(size_t bytes);
void FreeHost(void* ptr, size_t bytes) noexcept;

}  // namespace tandem::detail
