// Plain CUDA softmax / log_softmax (also SoftmaxActivation and SoftmaxOutput at inference): the
// input is viewed as (outer, classes, inner) and each of the outer*inner rows along `classes` is
// normalised, y = exp(x/T - max) / sum or its log, as lib/ref/softmax.cpp. One warp per row.
#include <cmath>

#include "lib/cuda/common.cuh"
#include "lib/cuda/kernels.hpp"
#include "lib/ops/params.hpp"
#include "lib/ref/ref_util.hpp"

namespace tandem::cuda {
namespace {

constexpr int kWarp = 32;

struct SoftmaxGeometry {
  int64_t outer = 0, classes = 0, inner = 0;
  float temperature = 1.0f;
  bool log = false;
};

__device__ float WarpMax(float v) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2)
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

__device__ float WarpSum(float v) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2)
    v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__global__ void SoftmaxKernel(SoftmaxGeometry g, const float* x, float* y) {
  const int lane = threadIdx.x % kWarp;
  const int64_t first_row = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / kWarp;
  const int64_t row_step = static_cast<int64_t>(gridDim.x) * blockDim.x / kWarp;
  const int64_t rows = g.outer * g.inner;
  // Every lane of a warp has the same row, so the whole warp stays in (or leaves) the loop.
  for (int64_t row = first_row; row < rows; row += row_step) {
    const int64_t base = (row / g.inner) * g.classes * g.inner + row % g.inner;
    const float* xr = x + base;
    float* yr = y + base;
    float max_value = -INFINITY;
    for (int64_t c = lane; c < g.classes; c += kWarp)
      max_value = fmaxf(max_value, xr[c * g.inner] / g.temperature);
    max_value = WarpMax(max_value);
    float sum = 0.0f;
    for (int64_t c = lane; c < g.classes; c += kWarp)
      sum += expf(xr[c * g.inner] / g.temperature - max_value);
    sum = WarpSum(sum);
    const float log_sum = logf(sum);
    for (int64_t c = lane; c < g.classes; c += kWarp) {
      const float shifted = xr[c * g.inner] / g.temperature - max_value;
      yr[c * g.inner] = g.log ? shifted - log_sum : expf(shifted) / sum;
    }
  }
}

SoftmaxGeometry MakeGeometry(const KernelSpec& spec, const ops::SoftmaxParams& p) {
  const Shape& x = spec.inputs[0].shape;
  if (x.ndim() < 1) ref::ShapeMismatch(spec, "data has no dimensions");
  SoftmaxGeometry g;
  g.temperature = static_cast<float>(p.temperature);
  g.log = p.log;
  if (p.flatten_to_2d) {
    g.outer = x[0];
    g.classes = x.Prod(1, x.ndim());
    g.inner = 1;
  } else {
    const int axis = ref::NormaliseAxis(spec, p.axis, x);
    g.outer = x.Prod(0, axis);
    g.classes = x[axis];
    g.inner = x.Prod(axis + 1, x.ndim());
  }
  if (spec.outputs[0].shape.Size() != x.Size()) {
    ref::ShapeMismatch(spec, "output " + spec.outputs[0].shape.ToString() +
                                 " differs from data " + x.ToString());
  }
  return g;
}

}  // namespace

std::unique_ptr<Kernel> MakeSoftmax(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::SoftmaxParams>(spec.params);
  ref::RequireArity(spec, 1, 1);
  if (!AllFloat32(spec, 1)) return nullptr;  // SoftmaxOutput's label (input 1) is never read
  const SoftmaxGeometry g = MakeGeometry(spec, p);
  const int64_t rows = g.outer * g.inner;
  return MakeKernel([g, rows](const KernelCall& call) {
    if (rows == 0 || g.classes == 0) return;
    CudaState& state = StateFor(call);
    SoftmaxKernel<<<BlocksFor(rows * kWarp), kBlockSize, 0, state.stream()>>>(
        g, call.inputs[0].as<const float>(), call.outputs[0].as<float>());
    TANDEM_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace tandem::cuda
