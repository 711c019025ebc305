// FullyConnected: y = x W^T + b, over the flattened input or over its last axis.
#include "lib/ops/schema_util.hpp"
#include "lib/ops/schemas.hpp"

namespace tandem::ops {
namespace {

std::any ParseFullyConnected(const AttrReader& r) {
  FullyConnectedParams p;
  p.num_hidden = r.Int("num_hidden");
  if (p.num_hidden <= 0) r.Fail("num_hidden", "must be positive");
  p.no_bias = r.Bool("no_bias", false);
  p.flatten = r.Bool("flatten", true);
  return p;
}

void InferFullyConnected(ShapeInferenceArgs& a) {
  const auto& p = ParamsAs<FullyConnectedParams>(a.params);
  const Shape& data = a.in.at(0);
  if (!data.known()) return;
  int64_t in_features;
  Shape out;
  if (p.flatten) {
    // Size() checks for overflow (Prod does not): a zero-sized data may have huge other dims.
    in_features = Shape(std::vector<int64_t>(data.dims().begin() + 1, data.dims().end())).Size();
    out = Shape{data[0], p.num_hidden};
  } else {
    in_features = data[-1];
    out = data;
    out[-1] = p.num_hidden;
  }
  AssignShape(a.in, 1, Shape{p.num_hidden, in_features}, a.node, "weight");
  if (!p.no_bias) AssignShape(a.in, 2, Shape{p.num_hidden}, a.node, "bias");
  AssignShape(a.out, 0, out, a.node, "output");
}

}  // namespace

OpSchema FullyConnectedSchema() {
  OpSchema s;
  s.name = "FullyConnected";
  s.parse = ParseFullyConnected;
  s.arguments = [](const std::any& params) {
    return ParamsAs<FullyConnectedParams>(params).no_bias
               ? std::vector<std::string>{"data", "weight"}
               : std::vector<std::string>{"data", "weight", "bias"};
  };
  s.aux_states = FixedNames({});
  s.outputs = FixedNames({"output"});
  s.infer_shape = InferFullyConnected;
  s.low_precision = true;
  return s;
}

}  // namespace tandem::ops
