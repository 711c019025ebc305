// Internal: the CUDA device layer lib/core/device.cpp calls for GPU contexts (memory, copies,
// synchronisation), plus the per-call hook the executor calls when a plan has run. Plain C++: no
// CUDA header is needed to include this file.
//
// Memory comes from a per-device caching pool (cudaMalloc only, never managed memory): freed blocks
// are kept for reuse and handed back to the driver only when an allocation would otherwise fail.
// All copies and fills are synchronous: when they return, the bytes are in place.
//
// Thread safety: every function may be called from any thread; the pool of each device has its
// own lock. Functions that take a device id make that device current in the calling thread only
// for their own duration.
#pragma once

#include <cstddef>

#include "tandem/context.hpp"

namespace tandem {
class ExecContext;
}

namespace tandem::cuda {

// Number of visible GPUs; 0 (never an error) when there is no driver or no device.
int DeviceCount();
// Throws DeviceError unless gpu(id) exists ("gpu(3) requested, 1 GPU visible").
void CheckDevice(int id);

// Device memory of gpu(id); throws OutOfMemory when the device has no room even after the pool
// released its cached blocks, DeviceError for other CUDA failures. Never returns nullptr.
void* Allocate(int id, size_t bytes);
// Returns a block from Allocate to the pool of gpu(id) (never throws).
void Free(int id, void* ptr, size_t bytes) noexcept;
// Copies between host and device, or between devices; returns when the copy is complete.
void Copy(void* dst, Context dst_ctx, const void* src, Context src_ctx, size_t bytes);
// Sets `bytes` bytes at `ptr` on gpu(id) to `value`; returns when done.
void Memset(int id, void* ptr, int value, size_t bytes);
// Waits for all work on gpu(id).
void Synchronize(int id);
// Hands every cached (free) block of gpu(id) back to the driver.
void ReleaseCachedMemory(int id);

// Waits for every kernel the call behind `exec` launched (its stream). The executor calls this
// when a plan has run on a GPU context, so outputs are complete when Forward returns, and before
// the call's arena may be released or reused by another stream.
void FinishCall(ExecContext& exec);

}  // namespace tandem::cuda
