// Internal: measuring candidate kernels at plan time (what is measured is kept by a ChoiceTable,
// lib/exec/choice_table.hpp). The convolution factories time each kernel
// that covers a shape (cuDNN's engines in cudnn_graph.cu, the split-K kernel in conv_splitk.cu,
// the direct kernel in conv.cu) and keep the fastest. Needs no cuDNN.
//
// Thread safety: everything here works on the caller's own stream and its own buffers; nothing
// is shared, so any number of threads may measure at once (each only sees a slower GPU). A
// ChoiceTable is shared by design: its mutex guards lookups and inserts, never a measurement.
#pragma once

#include <cuda_runtime.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "lib/cuda/common.cuh"
#include "lib/exec/choice_table.hpp"
#include "tandem/registry.hpp"

namespace tandem::cuda {

// Milliseconds per run of `run` on `stream`: the best of a few timed rounds after a warm-up.
// Each round is queued behind a hold, so the time is the GPU's and not the launches': a model
// runs as a replayed CUDA graph, where launching costs next to nothing, and a two-kernel
// candidate must not lose to a one-kernel one for its second launch alone.
double TimeMs(cudaStream_t stream, const std::function<void()>& run);

// Zeroed device memory for measuring kernels on; null for 0 bytes.
std::unique_ptr<detail::Storage> ZeroedBlock(int device, size_t bytes);

inline void* PtrOf(const std::unique_ptr<detail::Storage>& block) {
  return block ? block->ptr : nullptr;
}

// Zeroed device buffers shaped like a spec's tensors, and a call of a kernel on them.
class TrialBuffers {
 public:
  TrialBuffers(const KernelSpec& spec, size_t scratch);
  KernelCall Call() const { return KernelCall{inputs_, outputs_, scratch_, nullptr}; }

 private:
  TensorArg Add(int device, const TensorDesc& t);

  std::vector<std::unique_ptr<detail::Storage>> blocks_;
  std::vector<TensorArg> inputs_, outputs_;
  void* scratch_ = nullptr;
};

// The plan cache fingerprint of GPU `device`: its name and compute capability, the driver and
// CUDA runtime versions and tandem's version (a choice measured under any other is not reused).
// Factories that depend on more (cuDNN) append its version.
const std::string& DeviceFingerprint(int device);

using detail::ChoiceId;
using detail::ChoiceTable;

// TANDEM_CUDNN_GRAPH_LOG set: the convolution factories print one stderr line per choice they
// measure or read from the plan cache (benchmarks quote these; scripts/gpu-check.sh's plancache
// step compares the chosen kernels of two processes).
bool ChoiceLogOn();

}  // namespace tandem::cuda
