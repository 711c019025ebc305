// Plain CUDA BatchNorm (inference): y = gamma * (x - mean) / sqrt(var + eps) + beta per channel,
// gamma := 1 when fix_gamma, with the moving statistics, as lib/ref/batch_norm.cpp.
#include "lib/cuda/common.cuh"
#include "lib/cuda/kernels.hpp"
#include "lib/ops/params.hpp"
#include "lib/ref/ref_util.hpp"

namespace tandem::cuda {
namespace {

struct BatchNormGeometry {
  int64_t size = 0, channels = 0, inner = 0;  // data viewed as (outer, channels, inner)
  float eps = 0;
  bool fix_gamma = false;
  bool relu = false;  // fused by the rewrite
};

enum Input { kData, kGamma, kBeta, kMean, kVar, kNumInputs };

__global__ void BatchNormKernel(BatchNormGeometry g, const float* x, const float* gamma,
                                const float* beta, const float* mean, const float* var,
                                float* y) {
  TANDEM_GRID_STRIDE_LOOP(i, g.size) {
    const int64_t c = (i / g.inner) % g.channels;
    const float scale = g.fix_gamma ? 1.0f : gamma[c];
    const float inv_std = 1.0f / sqrtf(var[c] + g.eps);
    const float v = scale * ((x[i] - mean[c]) * inv_std) + beta[c];
    y[i] = g.relu ? fmaxf(v, 0.0f) : v;
  }
}

}  // namespace

std::unique_ptr<Kernel> MakeBatchNorm(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::BatchNormParams>(spec.params);
  ref::RequireArity(spec, kNumInputs, 1);
  if (!AllFloat32(spec)) return nullptr;
  const Shape& x = spec.inputs[kData].shape;
  const int axis = ref::NormaliseAxis(spec, p.axis, x);
  BatchNormGeometry g;
  g.size = x.Size();
  g.channels = x[axis];
  g.inner = x.Prod(axis + 1, x.ndim());
  g.eps = static_cast<float>(p.eps);
  g.fix_gamma = p.fix_gamma;
  g.relu = p.fused_relu;
  for (int i = kGamma; i < kNumInputs; ++i) {
    if (spec.inputs[i].shape.Size() != g.channels) {
      ref::ShapeMismatch(spec, "input " + std::to_string(i) + " has shape " +
                                   spec.inputs[i].shape.ToString() + "; expected " +
                                   std::to_string(g.channels) + " channels of data " +
                                   x.ToString());
    }
  }
  if (spec.outputs[0].shape.Size() != x.Size()) {
    ref::ShapeMismatch(spec, "output " + spec.outputs[0].shape.ToString() +
                                 " differs from data " + x.ToString());
  }
  return MakeKernel([g](const KernelCall& call) {
    if (g.size == 0) return;
    CudaState& state = StateFor(call);
    BatchNormKernel<<<BlocksFor(g.size), kBlockSize, 0, state.stream()>>>(
        g, call.inputs[kData].as<const float>(), call.inputs[kGamma].as<const float>(),
        call.inputs[kBeta].as<const float>(), call.inputs[kMean].as<const float>(),
        call.inputs[kVar].as<const float>(), call.outputs[0].as<float>());
    TANDEM_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace tandem::cuda
