// Internal: what the cuDNN kernel files share (lib/cuda/cudnn.cu: the legacy API;
// lib/cuda/cudnn_graph.cu: the graph API): the "cuDNN does not cover this spec" fallback and the
// convolution factory's hand-over between the two.
#pragma once

#include <memory>
#include <string>

#include "lib/cuda/common.cuh"
#include "lib/cuda/kernel_timing.cuh"
#include "lib/ops/params.hpp"

namespace tandem::cuda {

// Thrown inside a factory when cuDNN says it does not cover the spec; the factory returns nullptr.
struct NotCovered {};

// Success: returns. "Bad parameter" / "not supported": NotCovered. Anything else is a real failure.
inline void CheckOrFallBack(cudnnStatus_t status, const char* call, const char* file, int line) {
  if (status == CUDNN_STATUS_SUCCESS) return;
  const int category = CUDNN_STATUS_CATEGORY(status);
  if (category == CUDNN_STATUS_BAD_PARAM || category == CUDNN_STATUS_NOT_SUPPORTED) {
    throw NotCovered{};
  }
  ThrowCudnnError(status, call, file, line);
}
#define TANDEM_CUDNN_OR_FALLBACK(expr) \
  ::tandem::cuda::CheckOrFallBack((expr), #expr, __FILE__, __LINE__)

// Runs `make` and turns "cuDNN does not cover this" into nullptr.
template <class Make>
std::unique_ptr<Kernel> CreateOrFallBack(Make&& make) {
  try {
    return make();
  } catch (const NotCovered&) {
    return nullptr;
  }
}

// The plan cache fingerprint of a cuDNN choice: the device's, and cuDNN's version at run time.
inline std::string CudnnFingerprint(int device) {
  return DeviceFingerprint(device) + " cudnn " + std::to_string(cudnnGetVersion());
}

// The fastest measured kernel for the convolution of `spec`: `legacy` (the legacy-API kernel,
// also measured here), one cuDNN graph-API operation graph (with its bias, fused residual and
// ReLU), or in strict fp32 the split-K kernel (conv_splitk.hpp). Never fails: anything the
// graph API cannot do keeps `legacy`.
std::unique_ptr<Kernel> FastestConvolution(const KernelSpec& spec, const ops::ConvParams& p,
                                           cudnnDataType_t type, std::unique_ptr<Kernel> legacy);

}  // namespace tandem::cuda
