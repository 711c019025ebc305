// SliceChannel (split): cuts one axis into num_outputs equal pieces.
#include "lib/ops/schema_util.hpp"
#include "lib/ops/schemas.hpp"

namespace tandem::ops {
namespace {

std::any ParseSliceChannel(const AttrReader& r) {
  SliceChannelParams p;
  const int64_t n = r.Int("num_outputs");
  if (n < 1 || n > 65536) r.Fail("num_outputs", "must be between 1 and 65536");
  p.num_outputs = static_cast<int>(n);
  const int64_t axis = r.Int("axis", 1);
  if (axis < -32 || axis >= 32) r.Fail("axis", "out of range");
  p.axis = static_cast<int>(axis);
  p.squeeze_axis = r.Bool("squeeze_axis", false);
  return p;
}

void InferSliceChannel(ShapeInferenceArgs& a) {
  const auto& p = ParamsAs<SliceChannelParams>(a.params);
  const Shape& data = a.in.at(0);
  if (!data.known()) return;
  const int axis = NormalizeAxis(p.axis, data.ndim(), a.node, "SliceChannel axis");
  if (data[axis] % p.num_outputs != 0)
    FailShape(a.node, "axis ", axis, " of data ", data.ToString(), " cannot be split into ",
              p.num_outputs, " equal pieces");
  const int64_t piece = data[axis] / p.num_outputs;
  std::vector<int64_t> dims = data.dims();
  if (p.squeeze_axis) {
    if (piece != 1)
      FailShape(a.node, "squeeze_axis needs pieces of size 1, but data ", data.ToString(),
                " split ", p.num_outputs, " ways along axis ", axis, " gives ", piece);
    dims.erase(dims.begin() + axis);
  } else {
    dims[axis] = piece;
  }
  // Squeezing a 1-d input would leave a 0-d piece, which tandem cannot represent.
  if (dims.empty()) FailShape(a.node, "squeezing data ", data.ToString(), " leaves no axes");
  const Shape out(std::move(dims));
  for (size_t k = 0; k < a.out.size(); ++k)
    AssignShape(a.out, k, out, a.node, "output" + std::to_string(k));
}

}  // namespace

OpSchema SliceChannelSchema() {
  OpSchema s = UnaryIdentitySchema("SliceChannel", {"split"});
  s.parse = ParseSliceChannel;
  s.outputs = [](const std::any& params) {
    return NumberedNames("output", ParamsAs<SliceChannelParams>(params).num_outputs);
  };
  s.infer_shape = InferSliceChannel;
  s.low_precision = true;
  return s;
}

}  // namespace tandem::ops
