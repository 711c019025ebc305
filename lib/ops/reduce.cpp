// sum / mean over a set of axes (or all axes), optionally keeping them as size-1 dims.
#include <algorithm>

#include "lib/ops/schema_util.hpp"
#include "lib/ops/schemas.hpp"

namespace tandem::ops {
namespace {

std::any ParseReduce(const AttrReader& r, ReduceKind kind) {
  ReduceParams p;
  p.kind = kind;
  // Absent, "None" and "()" all mean every axis; Tuple also accepts a bare integer.
  if (!IsUnset(r, "axis")) p.axis = r.Tuple("axis");
  for (int64_t axis : p.axis)
    if (axis < -32 || axis >= 32) r.Fail("axis", "out of range");
  p.keepdims = r.Bool("keepdims", false);
  p.exclude = r.Bool("exclude", false);
  return p;
}

// Which axes of an `ndim`-d input are reduced; throws on out-of-range or repeated axes.
std::vector<bool> ReducedAxes(const ReduceParams& p, int ndim, const std::string& node) {
  // Like MXNet, an empty axis list reduces everything even when exclude is set.
  if (p.axis.empty()) return std::vector<bool>(static_cast<size_t>(ndim), true);
  std::vector<bool> listed(static_cast<size_t>(ndim), false);
  for (int64_t axis : p.axis) {
    const int a = NormalizeAxis(axis, ndim, node, "reduction axis");
    if (listed[a]) FailShape(node, "reduction axis ", axis, " is given twice");
    listed[a] = true;
  }
  if (p.exclude) listed.flip();
  return listed;
}

void InferReduce(ShapeInferenceArgs& a) {
  const Shape& data = a.in.at(0);
  if (!data.known()) return;
  const auto& p = ParamsAs<ReduceParams>(a.params);
  const std::vector<bool> reduced = ReducedAxes(p, data.ndim(), a.node);
  std::vector<int64_t> out;
  for (int i = 0; i < data.ndim(); ++i) {
    if (!reduced[i]) {
      out.push_back(data[i]);
    } else if (p.keepdims) {
      out.push_back(1);
    }
  }
  // Reducing every axis gives one element; tandem has no 0-d shapes, so it is (1) as in MXNet.
  if (out.empty()) out.push_back(1);
  AssignShape(a.out, 0, Shape(std::move(out)), a.node, "output");
}

}  // namespace

OpSchema SumSchema() {
  OpSchema s = UnaryIdentitySchema("sum", {"sum_axis"});
  s.parse = [](const AttrReader& r) { return ParseReduce(r, ReduceKind::kSum); };
  s.infer_shape = InferReduce;
  return s;
}

OpSchema MeanSchema() {
  OpSchema s = UnaryIdentitySchema("mean");
  s.parse = [](const AttrReader& r) { return ParseReduce(r, ReduceKind::kMean); };
  s.infer_shape = InferReduce;
  return s;
}

}  // namespace tandem::ops
