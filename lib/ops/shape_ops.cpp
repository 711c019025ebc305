// Ops that only change the shape or the order of axes: Flatten, Reshape, transpose.
#include <algorithm>

#include "lib/ops/schema_util.hpp"
#include "lib/ops/schemas.hpp"

namespace tandem::ops {
namespace {

std::string CodesToString(const std::vector<int64_t>& codes) {
  return Shape(codes).ToString();
}

void InferFlatten(ShapeInferenceArgs& a) {
  const Shape& data = a.in.at(0);
  if (!data.known()) return;
  // Size() checks for overflow (Prod does not): a zero-sized data may have huge other dims.
  const Shape rest(std::vector<int64_t>(data.dims().begin() + 1, data.dims().end()));
  AssignShape(a.out, 0, Shape{data[0], rest.Size()}, a.node, "output");
}

// The legacy target_shape attribute (files before MXNet 0.9): 0 marks the one dim to infer, and
// keep_highest copies the first dim from the input; both map onto the newer codes.
std::vector<int64_t> LegacyTargetShapeCodes(const AttrReader& r) {
  std::vector<int64_t> codes = r.Tuple("target_shape");
  if (codes.empty()) return codes;
  const bool keep_highest = r.Bool("keep_highest", false);
  for (size_t i = 0; i < codes.size(); ++i) {
    if (keep_highest && i == 0) {
      codes[i] = 0;
    } else if (codes[i] == 0) {
      codes[i] = -1;
    } else if (codes[i] < 0) {
      r.Fail("target_shape", "dims must be positive, or 0 for the one to infer");
    }
  }
  return codes;
}

std::any ParseReshape(const AttrReader& r) {
  ReshapeParams p;
  p.shape = r.Tuple("shape");
  p.reverse = r.Bool("reverse", false);
  if (p.shape.empty()) {
    p.shape = LegacyTargetShapeCodes(r);
    p.reverse = false;
  }
  if (p.shape.empty()) r.Fail("shape", "required attribute is missing");
  for (int64_t c : p.shape)
    if (c < -4) r.Fail("shape", "values must be dims or the codes 0, -1, -2, -3, -4");
  return p;
}

void InferReshapeNode(ShapeInferenceArgs& a) {
  const Shape& data = a.in.at(0);
  if (!data.known()) return;
  const auto& p = ParamsAs<ReshapeParams>(a.params);
  AssignShape(a.out, 0, InferReshape(data, p.shape, p.reverse, a.node), a.node, "output");
}

std::any ParseTranspose(const AttrReader& r) {
  TransposeParams p;
  p.axes = r.Tuple("axes");
  std::vector<int64_t> sorted = p.axes;
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < sorted.size(); ++i)
    if (sorted[i] != static_cast<int64_t>(i))
      r.Fail("axes", "must be a permutation of 0.." + std::to_string(sorted.size() - 1));
  return p;
}

void InferTranspose(ShapeInferenceArgs& a) {
  const Shape& data = a.in.at(0);
  if (!data.known()) return;
  const auto& axes = ParamsAs<TransposeParams>(a.params).axes;
  if (!axes.empty() && static_cast<int>(axes.size()) != data.ndim())
    FailShape(a.node, "transpose axes ", CodesToString(axes), " do not fit data ",
              data.ToString());
  Shape out = data;
  for (int i = 0; i < data.ndim(); ++i)
    out[i] = axes.empty() ? data[data.ndim() - 1 - i] : data[static_cast<int>(axes[i])];
  AssignShape(a.out, 0, out, a.node, "output");
}

}  // namespace

// Mirrors MXNet's InferReshapeShape (src/operator/tensor/matrix_op-inl.h), including how
// `reverse` reverses both the input dims and the codes, with its CHECKs turned into ShapeErrors.
Shape InferReshape(const Shape& in, const std::vector<int64_t>& codes, bool reverse,
                   const std::string& node) {
  std::vector<int64_t> src = in.dims(), params = codes, out;
  if (reverse) {
    std::reverse(src.begin(), src.end());
    std::reverse(params.begin(), params.end());
  }
  auto fail = [&](const std::string& why) {
    FailShape(node, "cannot reshape ", in.ToString(), " with shape=", CodesToString(codes),
              reverse ? " (reverse)" : "", ": ", why);
  };
  // Products of dims and codes are checked: codes are arbitrary int64s from the file, and a
  // zero-sized input may have huge dims (see test_fuzz_regressions).
  auto mul = [&](int64_t x, int64_t y) {
    int64_t r = 0;
    if (__builtin_mul_overflow(x, y, &r)) fail("dims multiply past 64 bits");
    return r;
  };
  size_t s = 0;  // next source dim
  int infer_at = -1;
  for (size_t i = 0; i < params.size(); ++i) {
    const int64_t code = params[i];
    if (code == 0) {
      if (s >= src.size()) fail("code 0 has no input dim left to copy");
      out.push_back(src[s++]);
    } else if (code == -1) {
      if (infer_at >= 0) fail("more than one dim to infer (-1)");
      infer_at = static_cast<int>(out.size());
      out.push_back(1);
      ++s;
    } else if (code == -2) {
      while (s < src.size()) out.push_back(src[s++]);
    } else if (code == -3) {
      if (s + 1 >= src.size()) fail("code -3 needs two input dims to merge");
      out.push_back(mul(src[s], src[s + 1]));
      s += 2;
    } else if (code == -4) {
      if (i + 2 >= params.size()) fail("code -4 must be followed by two values");
      if (s >= src.size()) fail("code -4 has no input dim left to split");
      const int64_t whole = src[s++];
      int64_t d1 = params[++i], d2 = params[++i];
      if (d1 == -1 && d2 == -1) fail("code -4 cannot split into two unknown (-1) dims");
      if (d1 < -1 || d2 < -1 || d1 == 0 || d2 == 0) fail("code -4 needs positive dims or one -1");
      if (d1 == -1) d1 = whole / d2;
      if (d2 == -1) d2 = whole / d1;
      if (mul(d1, d2) != whole)
        fail("split dims " + std::to_string(d1) + " x " + std::to_string(d2) +
             " do not make the input dim " + std::to_string(whole));
      out.push_back(d1);
      out.push_back(d2);
    } else if (code > 0) {
      out.push_back(code);
      ++s;
    } else {
      fail("unknown code " + std::to_string(code));
    }
  }
  if (infer_at >= 0) {
    int64_t rest = 1;
    for (int64_t d : out) rest = mul(rest, d);
    if (rest == 0) fail("the dim to infer (-1) is ambiguous next to a zero-sized dim");
    out[infer_at] = in.Size() / rest;
  }
  if (reverse) std::reverse(out.begin(), out.end());
  Shape result(std::move(out));
  if (!result.known()) fail("the result has no dims");
  if (result.Size() != in.Size())
    fail("the result " + result.ToString() + " has a different number of elements");
  return result;
}

OpSchema FlattenSchema() {
  OpSchema s = UnaryIdentitySchema("Flatten", {"flatten"});
  s.infer_shape = InferFlatten;
  s.view_of_input = true;
  s.low_precision = true;
  return s;
}

OpSchema ReshapeSchema() {
  OpSchema s = UnaryIdentitySchema("Reshape", {"reshape"});
  s.parse = ParseReshape;
  s.infer_shape = InferReshapeNode;
  s.view_of_input = true;
  s.low_precision = true;
  return s;
}

OpSchema TransposeSchema() {
  OpSchema s = UnaryIdentitySchema("Transpose", {"transpose"});
  s.parse = ParseTranspose;
  s.infer_shape = InferTranspose;
  s.low_precision = true;
  return s;
}

}  // namespace tandem::ops
