// Internal: one launch helper for element-wise maps (out[i] = f(in[i])) shared by the activation,
// scalar and clip kernels.
#pragma once

#include <memory>

#include "lib/cuda/common.cuh"
#include "lib/ref/ref_util.hpp"

namespace tandem::cuda {

template <class F>
__global__ void MapKernel(const float* in, float* out, int64_t n, F f) {
  TANDEM_GRID_STRIDE_LOOP(i, n) { out[i] = f(in[i]); }
}

// A kernel applying `f` to every one of `size` float32 elements of input 0 into output 0.
template <class F>
std::unique_ptr<Kernel> MakeMapKernel(int64_t size, F f) {
  return MakeKernel([size, f](const KernelCall& call) {
    if (size == 0) return;
    CudaState& state = StateFor(call);
    MapKernel<<<BlocksFor(size), kBlockSize, 0, state.stream()>>>(
        call.inputs[0].as<const float>(), call.outputs[0].as<float>(), size, f);
    TANDEM_CUDA_CHECK_LAUNCH();
  });
}

// Throws ShapeError unless output 0 holds as many elements as input 0.
inline void CheckSameSize(const KernelSpec& spec) {
  if (spec.outputs[0].shape.Size() != spec.inputs[0].shape.Size()) {
    ref::ShapeMismatch(spec, "output " + spec.outputs[0].shape.ToString() +
                                 " differs from input " + spec.inputs[0].shape.ToString());
  }
}

}  // namespace tandem::cuda
