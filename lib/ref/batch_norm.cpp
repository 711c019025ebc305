// Reference BatchNorm (inference): y = gamma * (x - mean) / sqrt(var + eps) + beta per channel,
// with gamma := 1 when fix_gamma, using the moving statistics (aux states).
#include <algorithm>
#include <cmath>

#include "lib/ops/params.hpp"
#include "lib/ref/kernels.hpp"
#include "lib/ref/ref_util.hpp"

namespace tandem::ref {
namespace {

struct BatchNormGeometry {
  int64_t outer = 0, channels = 0, inner = 0;  // data viewed as (outer, channels, inner)
  double eps = 0;
  bool fix_gamma = false;
  bool relu = false;  // fused by the rewrite
};

enum Input { kData, kGamma, kBeta, kMean, kVar, kNumInputs };

void RunBatchNorm(const BatchNormGeometry& g, const KernelCall& call) {
  const float* x = call.inputs[kData].as<const float>();
  const float* gamma = call.inputs[kGamma].as<const float>();
  const float* beta = call.inputs[kBeta].as<const float>();
  const float* mean = call.inputs[kMean].as<const float>();
  const float* var = call.inputs[kVar].as<const float>();
  float* y = call.outputs[0].as<float>();
  for (int64_t c = 0; c < g.channels; ++c) {
    const double scale = g.fix_gamma ? 1.0 : double{gamma[c]};
    const double inv_std = 1.0 / std::sqrt(double{var[c]} + g.eps);
    for (int64_t o = 0; o < g.outer; ++o) {
      const int64_t base = (o * g.channels + c) * g.inner;
      for (int64_t i = 0; i < g.inner; ++i) {
        const double normalised = (double{x[base + i]} - mean[c]) * inv_std;
        const float v = static_cast<float>(scale * normalised + beta[c]);
        y[base + i] = g.relu ? std::max(v, 0.0f) : v;
      }
    }
  }
}

}  // namespace

std::unique_ptr<Kernel> MakeBatchNorm(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::BatchNormParams>(spec.params);
  RequireArity(spec, kNumInputs, 1);
  RequireFloat32(spec);
  const Shape& x = spec.inputs[kData].shape;
  const int axis = NormaliseAxis(spec, p.axis, x);
  BatchNormGeometry g;
  g.outer = x.Prod(0, axis);
  g.channels = x[axis];
  g.inner = x.Prod(axis + 1, x.ndim());
  g.eps = p.eps;
  g.fix_gamma = p.fix_gamma;
  g.relu = p.fused_relu;
  for (int i = kGamma; i < kNumInputs; ++i) {
    if (spec.inputs[i].shape.Size() != g.channels) {
      ShapeMismatch(spec, "input " + std::to_string(i) + " has shape " +
                              spec.inputs[i].shape.ToString() + "; expected " +
                              std::to_string(g.channels) + " channels of data " + x.ToString());
    }
  }
  if (spec.outputs[0].shape.Size() != x.Size()) {
    ShapeMismatch(spec, "output " + spec.outputs[0].shape.ToString() + " differs from data " +
                            x.ToString());
  }
  return MakeKernel([g](const KernelCall& call) { RunBatchNorm(g, call); });
}

}  // namespace tandem::ref
