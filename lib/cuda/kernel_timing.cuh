// Internal: measuring candidate kernels at plan time. The convolution factories time each kernel
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
#include <string>
#include <vector>

#include "lib/cuda/common.cuh"
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

// Measured choices kept for the process by key (shape, device, ...), so a second CachedOp or a
// second thread planning the same shape reuses the first measurement. The mutex is not held while
// measuring, which takes milliseconds: two threads meeting a new key at once both measure, and
// the first result stored is the one both return.
template <class Choice>
class ChoiceTable {
 public:
  template <class Measure>
  Choice FindOrMeasure(const std::string& key, Measure&& measure) {
    {
      std::lock_guard lock(mutex_);
      if (auto it = known_.find(key); it != known_.end()) return it->second;
    }
    Choice measured = measure();
    std::lock_guard lock(mutex_);
    return known_.emplace(key, std::move(measured)).first->second;
  }

 private:
  std::mutex mutex_;
  std::map<std::string, Choice> known_;
};

}  // namespace tandem::cuda
