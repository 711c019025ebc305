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
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "tandem/context.hpp"
#include "tandem/ndarray.hpp"
#include "tandem/registry.hpp"

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
// Page-locked host memory (cudaHostAlloc, portable to every device) for NDArray::PinnedHost;
// throws OutOfMemory when the driver refuses. Never returns nullptr.
void* AllocatePinnedHost(size_t bytes);
void FreePinnedHost(void* ptr) noexcept;
// Copies between host and device, or between devices; returns when the copy is complete.
void Copy(void* dst, Context dst_ctx, const void* src, Context src_ctx, size_t bytes);
// Copies every region (as Copy does) and returns when all are complete: regions within one device
// or between host and device are queued on the calling thread's stream and waited for once.
void CopyMany(const std::vector<detail::CopyRegion>& regions);
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

// The host fallback of a GPU plan: a kernel for `spec` (a GPU node) made by `host_factory` (the
// reference kernel) from a host copy of its constant inputs, run on the host between copies of
// its inputs and outputs on the call's stream (synchronising twice). So an operator without a
// CUDA kernel still runs in a GPU plan. nullptr when the factory declines.
std::unique_ptr<Kernel> RunOnHost(const KernelSpec& spec, const KernelFactory& host_factory);

// Runs one call's kernels as a CUDA graph, on the call's stream (the caller then calls FinishCall).
// The first call of plan `plan_id` on this execution context returns false (the caller runs it
// eagerly, so kernels set up their per-context state outside a capture); the second captures
// `run_nodes(staged_inputs, staged_outputs)`, which must launch every kernel of the plan reading
// and writing the given arrays (per-context staging buffers shaped like `inputs` and `outputs`);
// every call then copies `inputs` into the staging buffers, replays the graph and copies the staged
// results into `outputs`. A graph holds the address of `arena` (activations and kernel scratch):
// when it changes, it is captured again. Returns false, having run nothing, when the plan cannot
// be captured (an operation that is not capturable, or a kernel that failed during the capture):
// the caller then runs the kernels itself, which also reports any real error.
using RunNodesFn = std::function<void(const std::vector<NDArray>&, const std::vector<NDArray>&)>;
bool RunAsGraph(ExecContext& exec, uint64_t plan_id, const std::vector<NDArray>& inputs,
                const std::vector<NDArray>& outputs, const void* arena, const RunNodesFn& run_nodes);

}  // namespace tandem::cuda
