// Reference FullyConnected: out = data · W^T + b with data viewed as (rows, in). flatten=True
// takes rows = dim 0 and in = the rest; flatten=False applies to the last axis.
#include "lib/ops/params.hpp"
#include "lib/ref/kernels.hpp"
#include "lib/ref/ref_util.hpp"

namespace tandem::ref {
namespace {

struct FcGeometry {
  int64_t rows = 0, in = 0, hidden = 0;
  bool has_bias = false;
};

FcGeometry MakeGeometry(const KernelSpec& spec, const ops::FullyConnectedParams& p) {
  const Shape& x = spec.inputs[0].shape;
  const Shape& w = spec.inputs[1].shape;
  if (x.ndim() < 1) ShapeMismatch(spec, "data has no dimensions");
  FcGeometry g;
  g.in = p.flatten ? x.Prod(1, x.ndim()) : x[-1];
  g.rows = p.flatten ? x[0] : x.Prod(0, x.ndim() - 1);
  g.hidden = p.num_hidden;
  g.has_bias = !p.no_bias;
  if (w.ndim() != 2 || w[0] != g.hidden || w[1] != g.in) {
    ShapeMismatch(spec, "weight " + w.ToString() + " should be (" + std::to_string(g.hidden) +
                            "," + std::to_string(g.in) + ") for data " + x.ToString());
  }
  if (g.has_bias && spec.inputs[2].shape.Size() != g.hidden) {
    ShapeMismatch(spec, "bias " + spec.inputs[2].shape.ToString() + " should have num_hidden (" +
                            std::to_string(g.hidden) + ") elements");
  }
  if (spec.outputs[0].shape.Size() != g.rows * g.hidden) {
    ShapeMismatch(spec, "output " + spec.outputs[0].shape.ToString() + " does not hold " +
                            std::to_string(g.rows) + "x" + std::to_string(g.hidden) +
                            " elements");
  }
  return g;
}

void RunFullyConnected(const FcGeometry& g, const float* x, const float* w, const float* bias,
                       float* y) {
  for (int64_t r = 0; r < g.rows; ++r) {
    const float* row = x + r * g.in;
    for (int64_t h = 0; h < g.hidden; ++h) {
      const float* weights = w + h * g.in;
      double acc = bias ? bias[h] : 0.0;
      for (int64_t i = 0; i < g.in; ++i) acc += double{row[i]} * weights[i];
      y[r * g.hidden + h] = static_cast<float>(acc);
    }
  }
}

}  // namespace

std::unique_ptr<Kernel> MakeFullyConnected(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::FullyConnectedParams>(spec.params);
  RequireArity(spec, p.no_bias ? 2 : 3, 1);
  RequireFloat32(spec);
  const FcGeometry geometry = MakeGeometry(spec, p);
  return MakeKernel([geometry](const KernelCall& call) {
    const float* bias = geometry.has_bias ? call.inputs[2].as<const float>() : nullptr;
    RunFullyConnected(geometry, call.inputs[0].as<const float>(),
                      call.inputs[1].as<const float>(), bias, call.outputs[0].as<float>());
  });
}

}  // namespace tandem::ref
