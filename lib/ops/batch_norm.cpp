// BatchNorm at inference: normalise with the moving statistics (aux states).
#include "lib/ops/schema_util.hpp"
#include "lib/ops/schemas.hpp"

namespace tandem::ops {
namespace {

std::any ParseBatchNorm(const AttrReader& r) {
  BatchNormParams p;
  p.eps = r.Float("eps", 1e-3);
  if (!(p.eps >= 0)) r.Fail("eps", "must be >= 0");
  p.fix_gamma = r.Bool("fix_gamma", true);
  const int64_t axis = r.Int("axis", 1);
  if (axis < -32 || axis >= 32) r.Fail("axis", "out of range");
  p.axis = static_cast<int>(axis);
  const std::string fused = r.Str(kFusedActAttr, "");
  if (!fused.empty() && fused != "relu") r.Fail(kFusedActAttr, "only 'relu' can be fused");
  p.fused_relu = fused == "relu";
  // A third output (mean / var of the batch) only makes sense in training.
  if (r.Bool("output_mean_var", false))
    Throw<Unsupported>("node '", r.node(), "' (", r.op(), "): output_mean_var=True is not supported");
  // momentum, use_global_stats and cudnn_off do not change inference results.
  return p;
}

void InferBatchNorm(ShapeInferenceArgs& a) {
  const auto& p = ParamsAs<BatchNormParams>(a.params);
  const Shape& data = a.in.at(0);
  if (!data.known()) return;
  const int axis = NormalizeAxis(p.axis, data.ndim(), a.node, "BatchNorm axis");
  const Shape channels{data[axis]};
  static const char* const kNames[] = {"gamma", "beta", "moving_mean", "moving_var"};
  for (size_t i = 0; i < 4; ++i) AssignShape(a.in, i + 1, channels, a.node, kNames[i]);
  AssignShape(a.out, 0, data, a.node, "output");
}

}  // namespace

OpSchema BatchNormSchema() {
  OpSchema s;
  s.name = "BatchNorm";
  s.parse = ParseBatchNorm;
  s.arguments = FixedNames({"data", "gamma", "beta"});
  s.aux_states = FixedNames({"moving_mean", "moving_var"});
  s.outputs = FixedNames({"output"});
  s.infer_shape = InferBatchNorm;
  return s;
}

}  // namespace tandem::ops
