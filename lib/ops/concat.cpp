// Concat: joins its inputs along one axis; every other dimension must agree.
#include "lib/ops/schema_util.hpp"
#include "lib/ops/schemas.hpp"

namespace tandem::ops {
namespace {

std::any ParseConcat(const AttrReader& r) {
  ConcatParams p;
  const int64_t num_args = r.Int("num_args");
  if (num_args < 1 || num_args > 65536) r.Fail("num_args", "must be between 1 and 65536");
  p.num_args = static_cast<int>(num_args);
  const int64_t dim = r.Int("dim", 1);
  if (dim < -32 || dim >= 32) r.Fail("dim", "out of range");
  p.dim = static_cast<int>(dim);
  return p;
}

void InferConcat(ShapeInferenceArgs& a) {
  const auto& p = ParamsAs<ConcatParams>(a.params);
  for (const Shape& s : a.in)
    if (!s.known()) return;
  const Shape& first = a.in.at(0);
  const int dim = NormalizeAxis(p.dim, first.ndim(), a.node, "Concat dim");
  Shape out = first;
  for (size_t i = 1; i < a.in.size(); ++i) {
    const Shape& s = a.in[i];
    bool fits = s.ndim() == first.ndim();
    for (int d = 0; fits && d < s.ndim(); ++d) fits = d == dim || s[d] == first[d];
    if (!fits)
      FailShape(a.node, "cannot concatenate input ", i, " of shape ", s.ToString(),
                " with input 0 of shape ", first.ToString(), " along dim ", dim);
    // Checked: zero-sized inputs may have dims near 2^63 (see test_fuzz_regressions).
    if (__builtin_add_overflow(out[dim], s[dim], &out[dim]))
      FailShape(a.node, "the concatenated dim ", dim, " has more than 2^63 elements");
  }
  AssignShape(a.out, 0, out, a.node, "output");
}

}  // namespace

OpSchema ConcatSchema() {
  OpSchema s = UnaryIdentitySchema("Concat", {"concat"});
  s.parse = ParseConcat;
  s.arguments = [](const std::any& params) {
    return NumberedNames("arg", ParamsAs<ConcatParams>(params).num_args);
  };
  s.infer_shape = InferConcat;
  s.low_precision = true;
  return s;
}

}  // namespace tandem::ops
