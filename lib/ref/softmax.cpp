// Reference softmax / log_softmax (also SoftmaxActivation and SoftmaxOutput at inference): the
// input is viewed as (outer, classes, inner) and each of the outer*inner rows along `classes` is
// normalised: y = exp(x/T - max) / sum, or its log.
#include <algorithm>
#include <cmath>

#include "lib/ops/params.hpp"
#include "lib/ref/kernels.hpp"
#include "lib/ref/ref_util.hpp"

namespace tandem::ref {
namespace {

struct SoftmaxGeometry {
  int64_t outer = 0, classes = 0, inner = 0;
  double temperature = 1.0;
  bool log = false;
};

SoftmaxGeometry MakeGeometry(const KernelSpec& spec, const ops::SoftmaxParams& p) {
  const Shape& x = spec.inputs[0].shape;
  if (x.ndim() < 1) ShapeMismatch(spec, "data has no dimensions");
  SoftmaxGeometry g;
  g.temperature = p.temperature;
  g.log = p.log;
  if (p.flatten_to_2d) {
    g.outer = x[0];
    g.classes = x.Prod(1, x.ndim());
    g.inner = 1;
  } else {
    const int axis = NormaliseAxis(spec, p.axis, x);
    g.outer = x.Prod(0, axis);
    g.classes = x[axis];
    g.inner = x.Prod(axis + 1, x.ndim());
  }
  if (spec.outputs[0].shape.Size() != x.Size()) {
    ShapeMismatch(spec, "output " + spec.outputs[0].shape.ToString() + " differs from data " +
                            x.ToString());
  }
  return g;
}

// One row: `classes` elements `stride` apart.
void SoftmaxRow(const SoftmaxGeometry& g, const float* x, float* y, int64_t stride) {
  double max = -INFINITY;
  for (int64_t c = 0; c < g.classes; ++c) max = std::max(max, x[c * stride] / g.temperature);
  double sum = 0;
  for (int64_t c = 0; c < g.classes; ++c) sum += std::exp(x[c * stride] / g.temperature - max);
  const double log_sum = std::log(sum);
  for (int64_t c = 0; c < g.classes; ++c) {
    const double shifted = x[c * stride] / g.temperature - max;
    y[c * stride] = static_cast<float>(g.log ? shifted - log_sum : std::exp(shifted) / sum);
  }
}

void RunSoftmax(const SoftmaxGeometry& g, const float* x, float* y) {
  for (int64_t o = 0; o < g.outer; ++o) {
    for (int64_t i = 0; i < g.inner; ++i) {
      const int64_t base = o * g.classes * g.inner + i;
      SoftmaxRow(g, x + base, y + base, g.inner);
    }
  }
}

}  // namespace

std::unique_ptr<Kernel> MakeSoftmax(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::SoftmaxParams>(spec.params);
  RequireArity(spec, 1, 1);
  RequireFloat32(spec, 1);  // SoftmaxOutput's label (input 1) is never read
  const SoftmaxGeometry geometry = MakeGeometry(spec, p);
  return MakeKernel([geometry](const KernelCall& call) {
    RunSoftmax(geometry, call.inputs[0].as<const float>(), call.outputs[0].as<float>());
  });
}

}  // namespace tandem::ref
