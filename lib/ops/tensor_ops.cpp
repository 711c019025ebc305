// Operator family: normalisation layers (L2Normalization, InstanceNorm, LayerNorm, GroupNorm),
// reductions (max, min, prod, nansum, nanprod, norm), arg-reductions and orderings (argmax,
// argmin, argmax_channel, topk, sort, argsort), gathers (take, Embedding, gather_nd, pick, where,
// one_hot), products (dot, batch_dot) and constants / shapes (_arange, _contrib_arange_like,
// shape_array, size_array, _zeros, _ones, _full), with MXNet 1.9.1's attributes, shapes, dtypes
// and numbers of outputs.
#include <algorithm>
#include <cmath>
#include <optional>

#include "lib/ops/builtin_table.hpp"
#include "lib/ops/schema_util.hpp"
#include "lib/ops/tensor_params.hpp"
#include "lib/ref/tensor_ops.hpp"
#if TANDEM_HAVE_DNNL
#include "lib/dnnl/tensor_ops.hpp"
#endif

namespace tandem::ops {
namespace {

// ---- attribute helpers ----------------------------------------------------------------------

// A dtype attribute spelled as MXNet does; `allowed` empty: any dtype tandem knows.
DType DTypeAttr(const AttrReader& r, const std::string& key, DType fallback,
                std::initializer_list<DType> allowed = {}) {
  if (IsUnset(r, key)) return fallback;
  const std::string text = r.Str(key, "");
  DType t;
  try {
    t = ParseDType(text);
  } catch (const InvalidArgument&) {
    r.Fail(key, "unknown dtype");
  }
  if (allowed.size() != 0 && std::find(allowed.begin(), allowed.end(), t) == allowed.end())
    r.Fail(key, "dtype not accepted by this operator");
  return t;
}

std::optional<int64_t> OptionalAxis(const AttrReader& r, const std::string& key,
                                    std::optional<int64_t> fallback) {
  if (!r.Has(key)) return fallback;
  int64_t v;
  if (!r.OptionalInt(key, &v)) return std::nullopt;
  if (v < -32 || v >= 32) r.Fail(key, "out of range");
  return v;
}

int64_t AxisAttr(const AttrReader& r, const std::string& key, int64_t fallback) {
  const int64_t v = r.Int(key, fallback);
  if (v < -32 || v >= 32) r.Fail(key, "out of range");
  return v;
}

double EpsAttr(const AttrReader& r, double fallback) {
  const double eps = r.Float("eps", fallback);
  if (!(eps >= 0)) r.Fail("eps", "must be >= 0");
  return eps;
}

OpSchema DataSchema(std::string name, std::vector<std::string> arguments,
                    std::vector<std::string> aliases = {}) {
  OpSchema s = UnaryIdentitySchema(std::move(name), std::move(aliases));
  s.arguments = FixedNames(std::move(arguments));
  return s;
}

Shape WithDim(const Shape& s, int axis, int64_t value) {
  Shape out = s;
  out[axis] = value;
  return out;
}

// ---- normalisation --------------------------------------------------------------------------

OpSchema L2NormalizationSchema() {
  OpSchema s = UnaryIdentitySchema("L2Normalization");
  s.parse = [](const AttrReader& r) {
    L2NormalizationParams p;
    p.eps = EpsAttr(r, 1e-10);
    const std::string mode = r.Enum("mode", "instance", {"instance", "channel", "spatial"});
    p.mode = mode == "instance" ? L2NormMode::kInstance
             : mode == "channel" ? L2NormMode::kChannel
                                 : L2NormMode::kSpatial;
    return std::any(p);
  };
  s.infer_shape = [](ShapeInferenceArgs& a) {
    const Shape& data = a.in.at(0);
    if (!data.known()) return;
    const auto& p = ParamsAs<L2NormalizationParams>(a.params);
    if (p.mode != L2NormMode::kInstance && data.ndim() < 3)
      FailShape(a.node, "L2Normalization in channel or spatial mode needs at least 3 dims, got ",
                data.ToString());
    AssignShape(a.out, 0, data, a.node, "output");
  };
  return s;
}

// data, gamma, beta -> output [, mean, std]; gamma and beta have `channels` elements.
void AssignAffine(ShapeInferenceArgs& a, int64_t channels) {
  AssignShape(a.in, 1, Shape{channels}, a.node, "gamma");
  AssignShape(a.in, 2, Shape{channels}, a.node, "beta");
}

OpSchema InstanceNormSchema() {
  OpSchema s = DataSchema("InstanceNorm", {"data", "gamma", "beta"});
  s.parse = [](const AttrReader& r) { return std::any(InstanceNormParams{EpsAttr(r, 1e-3)}); };
  s.infer_shape = [](ShapeInferenceArgs& a) {
    const Shape& data = a.in.at(0);
    if (!data.known()) return;
    if (data.ndim() < 3)
      FailShape(a.node, "InstanceNorm needs data of at least 3 dims, got ", data.ToString());
    AssignAffine(a, data[1]);
    AssignShape(a.out, 0, data, a.node, "output");
  };
  return s;
}

std::vector<std::string> MeanVarOutputs(bool output_mean_var) {
  if (output_mean_var) return {"output", "mean", "std"};
  return {"output"};
}

OpSchema LayerNormSchema() {
  OpSchema s = DataSchema("LayerNorm", {"data", "gamma", "beta"});
  s.parse = [](const AttrReader& r) {
    LayerNormParams p;
    p.axis = AxisAttr(r, "axis", -1);
    p.eps = EpsAttr(r, 1e-5);
    p.output_mean_var = r.Bool("output_mean_var", false);
    return std::any(p);
  };
  s.outputs = [](const std::any& p) {
    return MeanVarOutputs(ParamsAs<LayerNormParams>(p).output_mean_var);
  };
  s.infer_shape = [](ShapeInferenceArgs& a) {
    const Shape& data = a.in.at(0);
    if (!data.known()) return;
    const auto& p = ParamsAs<LayerNormParams>(a.params);
    const int axis = NormalizeAxis(p.axis, data.ndim(), a.node, "LayerNorm axis");
    AssignAffine(a, data[axis]);
    AssignShape(a.out, 0, data, a.node, "output");
    if (p.output_mean_var) {
      AssignShape(a.out, 1, WithDim(data, axis, 1), a.node, "mean");
      AssignShape(a.out, 2, WithDim(data, axis, 1), a.node, "std");
    }
  };
  s.mixes_batch = [](const std::any& p) { return ParamsAs<LayerNormParams>(p).axis == 0; };
  return s;
}

OpSchema GroupNormSchema() {
  OpSchema s = DataSchema("GroupNorm", {"data", "gamma", "beta"});
  s.parse = [](const AttrReader& r) {
    GroupNormParams p;
    p.num_groups = r.Int("num_groups", 1);
    if (p.num_groups < 1) r.Fail("num_groups", "must be >= 1");
    p.eps = EpsAttr(r, 1e-5);
    p.output_mean_var = r.Bool("output_mean_var", false);
    return std::any(p);
  };
  s.outputs = [](const std::any& p) {
    return MeanVarOutputs(ParamsAs<GroupNormParams>(p).output_mean_var);
  };
  s.infer_shape = [](ShapeInferenceArgs& a) {
    const Shape& data = a.in.at(0);
    if (!data.known()) return;
    const auto& p = ParamsAs<GroupNormParams>(a.params);
    if (data.ndim() < 3)
      FailShape(a.node, "GroupNorm needs data of at least 3 dims, got ", data.ToString());
    if (data[1] % p.num_groups != 0)
      FailShape(a.node, "GroupNorm: ", data[1], " channels are not divisible by num_groups ",
                p.num_groups);
    // MXNet 1.9: gamma and beta hold one value per group, not per channel.
    AssignAffine(a, p.num_groups);
    AssignShape(a.out, 0, data, a.node, "output");
    if (p.output_mean_var) {
      AssignShape(a.out, 1, Shape{data[0], p.num_groups}, a.node, "mean");
      AssignShape(a.out, 2, Shape{data[0], p.num_groups}, a.node, "std");
    }
  };
  return s;
}

// ---- reductions over a set of axes ----------------------------------------------------------

std::vector<int64_t> AxesAttr(const AttrReader& r) {
  // Absent, "None" and "()" all mean every axis; Tuple also accepts a bare integer.
  std::vector<int64_t> axes;
  if (!IsUnset(r, "axis")) axes = r.Tuple("axis");
  for (int64_t axis : axes)
    if (axis < -32 || axis >= 32) r.Fail("axis", "out of range");
  return axes;
}

// MXNet's ReduceAxesShapeImpl.
Shape ReduceAxesShape(const AxesReduceParams& p, const Shape& data, const std::string& node) {
  const std::vector<bool> reduced = ReducedAxes(p, data.ndim(), node);
  std::vector<int64_t> out;
  for (int i = 0; i < data.ndim(); ++i) {
    if (!reduced[i]) out.push_back(data[i]);
    else if (p.keepdims) out.push_back(1);
  }
  if (out.empty()) out.push_back(1);  // every axis reduced: (1), as MXNet's legacy shapes
  return Shape(std::move(out));
}

OpSchema AxesReduceSchema(std::string name, AxesReduceKind kind,
                          std::vector<std::string> aliases = {}) {
  OpSchema s = UnaryIdentitySchema(std::move(name), std::move(aliases));
  s.parse = [kind](const AttrReader& r) {
    AxesReduceParams p;
    p.kind = kind;
    p.axis = AxesAttr(r);
    p.keepdims = r.Bool("keepdims", false);
    p.exclude = r.Bool("exclude", false);
    return std::any(p);
  };
  s.infer_shape = [](ShapeInferenceArgs& a) {
    const Shape& data = a.in.at(0);
    if (!data.known()) return;
    const auto& p = ParamsAs<AxesReduceParams>(a.params);
    if ((p.kind == AxesReduceKind::kMax || p.kind == AxesReduceKind::kMin) && data.Size() == 0)
      FailShape(a.node, "cannot take the max / min of the empty input ", data.ToString());
    AssignShape(a.out, 0, ReduceAxesShape(p, data, a.node), a.node, "output");
  };
  return s;
}

OpSchema NormSchema() {
  OpSchema s = AxesReduceSchema("norm", AxesReduceKind::kNorm2);
  s.parse = [](const AttrReader& r) {
    AxesReduceParams p;
    const int64_t ord = r.Int("ord", 2);
    if (ord != 1 && ord != 2) r.Fail("ord", "norm supports ord=1 and ord=2 only");
    p.kind = ord == 1 ? AxesReduceKind::kNorm1 : AxesReduceKind::kNorm2;
    p.axis = AxesAttr(r);
    p.keepdims = r.Bool("keepdims", false);
    if (!IsUnset(r, "out_dtype"))
      p.out_dtype = DTypeAttr(r, "out_dtype", DType::f32,
                              {DType::f16, DType::f32, DType::f64, DType::i64, DType::i32,
                               DType::i8});
    return std::any(p);
  };
  s.infer_type = [](const std::any& params, std::vector<DType>& in, std::vector<DType>& out) {
    const auto& p = ParamsAs<AxesReduceParams>(params);
    out.at(0) = p.out_dtype ? *p.out_dtype : in.at(0);
  };
  return s;
}

// ---- argmax / argmin / argmax_channel -------------------------------------------------------

// MXNet's ReduceAxisShapeImpl.
Shape ReduceAxisShape(std::optional<int64_t> axis, bool keepdims, const Shape& data,
                      const std::string& node) {
  if (axis) (void)NormalizeAxis(*axis, data.ndim(), node, "axis");
  if (!axis || data.ndim() == 1)
    return keepdims ? Shape(std::vector<int64_t>(static_cast<size_t>(data.ndim()), 1)) : Shape{1};
  const int a = NormalizeAxis(*axis, data.ndim(), node, "axis");
  if (keepdims) return WithDim(data, a, 1);
  std::vector<int64_t> out;
  for (int i = 0; i < data.ndim(); ++i)
    if (i != a) out.push_back(data[i]);
  return Shape(std::move(out));
}

void InferArgReduce(ShapeInferenceArgs& a) {
  const Shape& data = a.in.at(0);
  if (!data.known()) return;
  const auto& p = ParamsAs<ArgReduceParams>(a.params);
  const Shape out = ReduceAxisShape(p.axis, p.keepdims, data, a.node);
  if (p.axis ? data[NormalizeAxis(*p.axis, data.ndim(), a.node, "axis")] == 0 : data.Size() == 0)
    FailShape(a.node, "cannot search an empty axis of ", data.ToString());
  AssignShape(a.out, 0, out, a.node, "output");
}

OpSchema ArgReduceSchema(std::string name, bool is_min) {
  OpSchema s = UnaryIdentitySchema(std::move(name));
  s.parse = [is_min](const AttrReader& r) {
    ArgReduceParams p;
    p.is_min = is_min;
    p.axis = OptionalAxis(r, "axis", std::nullopt);
    p.keepdims = r.Bool("keepdims", false);
    return std::any(p);
  };
  s.infer_shape = InferArgReduce;
  return s;
}

OpSchema ArgmaxChannelSchema() {
  OpSchema s = UnaryIdentitySchema("argmax_channel");
  s.parse = [](const AttrReader&) { return std::any(ArgReduceParams{false, 1, false}); };
  s.infer_shape = InferArgReduce;
  return s;
}

// ---- topk / sort / argsort ------------------------------------------------------------------

// MXNet's ParseTopKParam: the output shape (of values / indices; a mask has the data's shape).
Shape TopKShape(const TopKParams& p, const Shape& data, const std::string& node) {
  int64_t element_num = data.Size();
  int axis = 0;
  if (p.axis) {
    axis = NormalizeAxis(*p.axis, data.ndim(), node, "axis");
    element_num = data[axis];
  }
  const int64_t k = p.k <= 0 ? element_num : p.k;
  if (k > element_num)
    FailShape(node, "k = ", k, " is larger than the ", element_num, " elements to sort in ",
              data.ToString());
  if (p.ret_typ == TopKReturn::kMask) return data;
  if (!p.axis) return Shape{k};
  return WithDim(data, axis, k);
}

OpSchema TopKLikeSchema(std::string name, TopKOp op) {
  OpSchema s = UnaryIdentitySchema(std::move(name));
  s.parse = [op](const AttrReader& r) {
    TopKParams p;
    p.op = op;
    p.axis = OptionalAxis(r, "axis", -1);
    const std::initializer_list<DType> index_types = {DType::u8, DType::i32, DType::i64,
                                                      DType::f16, DType::f32, DType::f64};
    switch (op) {
      case TopKOp::kTopK: {
        p.k = r.Int("k", 1);
        const std::string ret = r.Enum("ret_typ", "indices", {"value", "indices", "mask", "both"});
        p.ret_typ = ret == "value"     ? TopKReturn::kValue
                    : ret == "indices" ? TopKReturn::kIndices
                    : ret == "mask"    ? TopKReturn::kMask
                                       : TopKReturn::kBoth;
        p.is_ascend = r.Bool("is_ascend", false);
        p.dtype = DTypeAttr(r, "dtype", DType::f32, index_types);
        break;
      }
      case TopKOp::kSort:
        p.k = 0;
        p.ret_typ = TopKReturn::kValue;
        p.is_ascend = r.Bool("is_ascend", true);
        break;
      case TopKOp::kArgSort:
        p.k = 0;
        p.ret_typ = TopKReturn::kIndices;
        p.is_ascend = r.Bool("is_ascend", true);
        p.dtype = DTypeAttr(r, "dtype", DType::f32, index_types);
        break;
    }
    return std::any(p);
  };
  s.outputs = [](const std::any& params) -> std::vector<std::string> {
    const auto& p = ParamsAs<TopKParams>(params);
    // Names as MXNet lists them: ops with a hidden second output number their outputs.
    if (p.ret_typ == TopKReturn::kBoth) return {"output0", "output1"};
    if (p.ret_typ == TopKReturn::kValue) return {"output0"};
    return {"output"};
  };
  s.infer_shape = [](ShapeInferenceArgs& a) {
    const Shape& data = a.in.at(0);
    if (!data.known()) return;
    const auto& p = ParamsAs<TopKParams>(a.params);
    const Shape out = TopKShape(p, data, a.node);
    for (size_t k = 0; k < a.out.size(); ++k) AssignShape(a.out, k, out, a.node, "output");
  };
  s.infer_type = [](const std::any& params, std::vector<DType>& in, std::vector<DType>& out) {
    const auto& p = ParamsAs<TopKParams>(params);
    switch (p.ret_typ) {
      case TopKReturn::kIndices: out.at(0) = p.dtype; break;
      case TopKReturn::kBoth: out.at(0) = in.at(0); out.at(1) = p.dtype; break;
      default: out.at(0) = in.at(0); break;
    }
  };
  s.mixes_batch = [](const std::any& p) {
    const std::optional<int64_t>& axis = ParamsAs<TopKParams>(p).axis;
    return !axis || *axis == 0;  // the flattened input, or along the batch axis
  };
  return s;
}

// ---- gathers --------------------------------------------------------------------------------

IndexMode ModeAttr(const AttrReader& r, std::vector<std::string> allowed) {
  const std::string mode = r.Enum("mode", "clip", allowed);
  return mode == "clip" ? IndexMode::kClip : mode == "wrap" ? IndexMode::kWrap : IndexMode::kRaise;
}

OpSchema TakeSchema() {
  OpSchema s = DataSchema("take", {"a", "indices"});
  s.parse = [](const AttrReader& r) {
    TakeParams p;
    p.axis = AxisAttr(r, "axis", 0);
    p.mode = ModeAttr(r, {"raise", "wrap", "clip"});
    return std::any(p);
  };
  s.infer_shape = [](ShapeInferenceArgs& a) {
    const Shape& data = a.in.at(0);
    const Shape& idx = a.in.at(1);
    if (!data.known() || !idx.known()) return;
    const auto& p = ParamsAs<TakeParams>(a.params);
    const int axis = NormalizeAxis(p.axis, data.ndim(), a.node, "take axis");
    if (data[axis] == 0 && idx.Size() != 0)
      FailShape(a.node, "cannot take from the empty axis ", axis, " of ", data.ToString());
    std::vector<int64_t> out(data.dims().begin(), data.dims().begin() + axis);
    out.insert(out.end(), idx.begin(), idx.end());
    out.insert(out.end(), data.dims().begin() + axis + 1, data.dims().end());
    AssignShape(a.out, 0, Shape(std::move(out)), a.node, "output");
  };
  return s;
}

OpSchema EmbeddingSchema() {
  OpSchema s = DataSchema("Embedding", {"data", "weight"});
  s.parse = [](const AttrReader& r) {
    EmbeddingParams p;
    p.input_dim = r.Int("input_dim");
    p.output_dim = r.Int("output_dim");
    if (p.input_dim < 1) r.Fail("input_dim", "must be >= 1");
    if (p.output_dim < 1) r.Fail("output_dim", "must be >= 1");
    p.dtype = DTypeAttr(r, "dtype", DType::f32);
    // sparse_grad only changes training.
    return std::any(p);
  };
  s.infer_shape = [](ShapeInferenceArgs& a) {
    const auto& p = ParamsAs<EmbeddingParams>(a.params);
    AssignShape(a.in, 1, Shape{p.input_dim, p.output_dim}, a.node, "weight");
    const Shape& data = a.in.at(0);
    if (!data.known()) return;
    std::vector<int64_t> out = data.dims();
    out.push_back(p.output_dim);
    AssignShape(a.out, 0, Shape(std::move(out)), a.node, "output");
  };
  // The output has the weight's dtype, whatever the indices' dtype.
  s.infer_type = [](const std::any&, std::vector<DType>& in, std::vector<DType>& out) {
    out.at(0) = in.at(1);
  };
  return s;
}

OpSchema GatherNDSchema() {
  OpSchema s = DataSchema("gather_nd", {"data", "indices"});
  s.infer_shape = [](ShapeInferenceArgs& a) {
    const Shape& data = a.in.at(0);
    const Shape& idx = a.in.at(1);
    if (!data.known() || !idx.known()) return;
    if (idx.ndim() < 2)
      FailShape(a.node, "gather_nd needs indices of at least 2 dims, got ", idx.ToString());
    const int64_t m = idx[0];
    if (m > data.ndim() || m > 10)
      FailShape(a.node, "gather_nd: ", m, " indices per point for data ", data.ToString(),
                " (at most its ", data.ndim(), " dims, and at most 10)");
    std::vector<int64_t> out(idx.dims().begin() + 1, idx.dims().end());
    out.insert(out.end(), data.dims().begin() + m, data.dims().end());
    AssignShape(a.out, 0, Shape(std::move(out)), a.node, "output");
  };
  return s;
}

OpSchema PickSchema() {
  OpSchema s = DataSchema("pick", {"data", "index"}, {"choose_element_0index"});
  s.parse = [](const AttrReader& r) {
    PickParams p;
    const std::optional<int64_t> axis = OptionalAxis(r, "axis", -1);
    if (!axis) Throw<Unsupported>("node '", r.node(), "' (pick): axis=None is not supported");
    p.axis = *axis;
    p.keepdims = r.Bool("keepdims", false);
    p.mode = ModeAttr(r, {"wrap", "clip"});
    return std::any(p);
  };
  s.infer_shape = [](ShapeInferenceArgs& a) {
    const Shape& data = a.in.at(0);
    if (!data.known()) return;
    const auto& p = ParamsAs<PickParams>(a.params);
    AssignShape(a.out, 0, ReduceAxisShape(p.axis, p.keepdims, data, a.node), a.node, "output");
    const Shape& idx = a.in.at(1);
    if (!idx.known()) return;
    // The index has the output's shape, with or without the picked axis kept as 1.
    const bool kept = idx.ndim() == data.ndim();
    AssignShape(a.in, 1, ReduceAxisShape(p.axis, kept, data, a.node), a.node, "index");
  };
  s.mixes_batch = [](const std::any& p) { return ParamsAs<PickParams>(p).axis == 0; };
  return s;
}

OpSchema WhereSchema() {
  OpSchema s = DataSchema("where", {"condition", "x", "y"});
  s.infer_shape = [](ShapeInferenceArgs& a) {
    Shape t = a.in.at(1).known() ? a.in[1] : a.in.at(2);
    if (!t.known()) t = a.out.at(0);
    if (!t.known()) return;
    AssignShape(a.in, 1, t, a.node, "x");
    AssignShape(a.in, 2, t, a.node, "y");
    AssignShape(a.out, 0, t, a.node, "output");
    const Shape& cond = a.in.at(0);
    if (!cond.known()) return;
    if (cond.ndim() == 1 && t.ndim() != 1) {
      if (cond[0] != t[0])
        FailShape(a.node, "a 1-d condition ", cond.ToString(), " must have x's first dim ",
                  t.ToString());
      return;
    }
    AssignShape(a.in, 0, t, a.node, "condition");
  };
  s.infer_type = [](const std::any&, std::vector<DType>& in, std::vector<DType>& out) {
    out.at(0) = in.at(1);
  };
  return s;
}

OpSchema OneHotSchema() {
  OpSchema s = DataSchema("one_hot", {"indices"});
  s.parse = [](const AttrReader& r) {
    OneHotParams p;
    p.depth = r.Int("depth");
    if (p.depth < 0) r.Fail("depth", "must be >= 0");
    p.on_value = r.Float("on_value", 1.0);
    p.off_value = r.Float("off_value", 0.0);
    p.dtype = DTypeAttr(r, "dtype", DType::f32);
    return std::any(p);
  };
  s.infer_shape = [](ShapeInferenceArgs& a) {
    const Shape& idx = a.in.at(0);
    if (!idx.known()) return;
    std::vector<int64_t> out = idx.dims();
    out.push_back(ParamsAs<OneHotParams>(a.params).depth);
    AssignShape(a.out, 0, Shape(std::move(out)), a.node, "output");
  };
  s.infer_type = [](const std::any& p, std::vector<DType>&, std::vector<DType>& out) {
    out.at(0) = ParamsAs<OneHotParams>(p).dtype;
  };
  return s;
}

// ---- dot / batch_dot ------------------------------------------------------------------------

std::any ParseDot(const AttrReader& r) {
  DotParams p;
  p.transpose_a = r.Bool("transpose_a", false);
  p.transpose_b = r.Bool("transpose_b", false);
  // forward_stype only selects sparse storage.
  return p;
}

Shape Dims(const Shape& s, int begin, int end) {
  return Shape(std::vector<int64_t>(s.dims().begin() + begin, s.dims().begin() + end));
}

// MXNet's DotShape: lhs is seen as a matrix split after its first dim (transpose_a) or before its
// last, rhs before its last dim (transpose_b) or after its first.
void InferDot(ShapeInferenceArgs& a) {
  const Shape& l = a.in.at(0);
  const Shape& r = a.in.at(1);
  if (!l.known() || !r.known()) return;
  const auto& p = ParamsAs<DotParams>(a.params);
  if (l.ndim() == 1 && r.ndim() == 1) {
    if (p.transpose_a || p.transpose_b) FailShape(a.node, "dot cannot transpose vectors");
    if (l[0] != r[0])
      FailShape(a.node, "dot shape error: ", l.ToString(), " X ", r.ToString());
    AssignShape(a.out, 0, Shape{1}, a.node, "output");
    return;
  }
  const int ls = p.transpose_a ? 1 : l.ndim() - 1;  // lhs = (l[:ls], l[ls:])
  const int rs = p.transpose_b ? r.ndim() - 1 : 1;  // rhs = (r[:rs], r[rs:])
  const int64_t lk = p.transpose_a ? l.Prod(0, ls) : l.Prod(ls, l.ndim());
  const int64_t rk = p.transpose_b ? r.Prod(rs, r.ndim()) : r.Prod(0, rs);
  if (lk != rk) FailShape(a.node, "dot shape error: ", l.ToString(), " X ", r.ToString());
  std::vector<int64_t> out;
  if (l.ndim() > 1) {
    const Shape kept = p.transpose_a ? Dims(l, ls, l.ndim()) : Dims(l, 0, ls);
    out.insert(out.end(), kept.begin(), kept.end());
  }
  if (r.ndim() > 1) {
    const Shape kept = p.transpose_b ? Dims(r, 0, rs) : Dims(r, rs, r.ndim());
    out.insert(out.end(), kept.begin(), kept.end());
  }
  AssignShape(a.out, 0, Shape(std::move(out)), a.node, "output");
}

void InferBatchDot(ShapeInferenceArgs& a) {
  const Shape& l = a.in.at(0);
  const Shape& r = a.in.at(1);
  if (!l.known() || !r.known()) return;
  const auto& p = ParamsAs<DotParams>(a.params);
  const int n = l.ndim();
  if (n < 3 || r.ndim() != n)
    FailShape(a.node, "batch_dot needs two inputs of the same rank >= 3, got ", l.ToString(),
              " and ", r.ToString());
  for (int i = 0; i < n - 2; ++i)
    if (l[i] != r[i])
      FailShape(a.node, "batch_dot: the leading batch dims differ: ", l.ToString(), " X ",
                r.ToString());
  const int64_t m = p.transpose_a ? l[n - 1] : l[n - 2];
  const int64_t lk = p.transpose_a ? l[n - 2] : l[n - 1];
  const int64_t rk = p.transpose_b ? r[n - 1] : r[n - 2];
  const int64_t cols = p.transpose_b ? r[n - 2] : r[n - 1];
  if (lk != rk)
    FailShape(a.node, "batch_dot shape error: ", l.ToString(), " X ", r.ToString(),
              " transpose_a=", p.transpose_a, " transpose_b=", p.transpose_b);
  std::vector<int64_t> out(l.dims().begin(), l.dims().end() - 2);
  out.push_back(m);
  out.push_back(cols);
  AssignShape(a.out, 0, Shape(std::move(out)), a.node, "output");
}

OpSchema DotSchema(std::string name, void (*infer)(ShapeInferenceArgs&)) {
  OpSchema s = DataSchema(std::move(name), {"lhs", "rhs"});
  s.parse = ParseDot;
  s.infer_shape = infer;
  // A matrix product keeps its meaning with float32 accumulation of 16-bit operands.
  s.low_precision = true;
  return s;
}

// ---- constants and shapes -------------------------------------------------------------------

// An operator without inputs: its output shape comes from its attributes alone.
OpSchema SourceSchema(std::string name) {
  OpSchema s = UnaryIdentitySchema(std::move(name));
  s.arguments = FixedNames({});
  return s;
}

OpSchema ArangeSchema() {
  OpSchema s = SourceSchema("_arange");
  s.parse = [](const AttrReader& r) {
    ArangeParams p;
    p.start = RequiredFloat(r, "start");
    const bool infer_range = r.Bool("infer_range", false);
    if (IsUnset(r, "stop")) {
      if (infer_range)
        Throw<Unsupported>("node '", r.node(), "' (_arange): infer_range=True without stop is not "
                           "supported (the length would come from the consumer)");
      p.stop = p.start;  // arange(n): from 0 to n
      p.start = 0;
    } else {
      p.stop = r.Float("stop", 0);
    }
    p.step = r.Float("step", 1);
    p.repeat = r.Int("repeat", 1);
    p.dtype = DTypeAttr(r, "dtype", DType::f32);
    if (p.step == 0) r.Fail("step", "must not be 0");
    if (p.repeat < 1) r.Fail("repeat", "must be >= 1");
    if (p.step > 0 ? !(p.start < p.stop) : !(p.start > p.stop))
      Throw<ShapeError>("node '", r.node(), "' (_arange): invalid range (start, stop, step) = (",
                        p.start, ", ", p.stop, ", ", p.step, ")");
    const double count = std::ceil((p.stop - p.start) / p.step) * static_cast<double>(p.repeat);
    if (!(count < 9.0e18)) r.Fail("stop", "the range has too many elements");
    return std::any(p);
  };
  s.infer_shape = [](ShapeInferenceArgs& a) {
    const auto& p = ParamsAs<ArangeParams>(a.params);
    const double count = std::ceil((p.stop - p.start) / p.step) * static_cast<double>(p.repeat);
    AssignShape(a.out, 0, Shape{static_cast<int64_t>(count)}, a.node, "output");
  };
  s.infer_type = [](const std::any& p, std::vector<DType>&, std::vector<DType>& out) {
    out.at(0) = ParamsAs<ArangeParams>(p).dtype;
  };
  return s;
}

OpSchema ArangeLikeSchema() {
  OpSchema s = UnaryIdentitySchema("_contrib_arange_like", {"_npx_arange_like"});
  s.parse = [](const AttrReader& r) {
    ArangeLikeParams p;
    p.start = r.Float("start", 0);
    p.step = r.Float("step", 1);
    p.repeat = r.Int("repeat", 1);
    if (p.repeat < 1) r.Fail("repeat", "must be >= 1");
    p.axis = OptionalAxis(r, "axis", std::nullopt);
    return std::any(p);
  };
  s.infer_shape = [](ShapeInferenceArgs& a) {
    const Shape& data = a.in.at(0);
    if (!data.known()) return;
    const auto& p = ParamsAs<ArangeLikeParams>(a.params);
    if (!p.axis) {
      AssignShape(a.out, 0, data, a.node, "output");
      return;
    }
    const int axis = NormalizeAxis(*p.axis, data.ndim(), a.node, "axis");
    AssignShape(a.out, 0, Shape{data[axis]}, a.node, "output");
  };
  s.mixes_batch = [](const std::any& p) {
    const std::optional<int64_t>& axis = ParamsAs<ArangeLikeParams>(p).axis;
    return !axis || *axis == 0;  // numbers every element: a sample's values depend on its row
  };
  return s;
}

OpSchema ShapeArraySchema(std::string name, bool size) {
  OpSchema s = UnaryIdentitySchema(std::move(name));
  s.infer_shape = [size](ShapeInferenceArgs& a) {
    const Shape& data = a.in.at(0);
    if (!data.known()) return;
    AssignShape(a.out, 0, Shape{size ? 1 : data.ndim()}, a.node, "output");
  };
  s.infer_type = [](const std::any&, std::vector<DType>&, std::vector<DType>& out) {
    out.at(0) = DType::i64;
  };
  return s;
}

OpSchema FillSchema(std::string name, std::optional<double> value) {
  OpSchema s = SourceSchema(std::move(name));
  s.parse = [value](const AttrReader& r) {
    FillParams p;
    p.shape = r.Tuple("shape");
    // MXNet's legacy shapes: an empty shape or a 0 dim is unknown, which inference cannot fill.
    if (p.shape.empty()) r.Fail("shape", "must have at least one dim");
    for (int64_t d : p.shape)
      if (d < 1) r.Fail("shape", "dims must be >= 1");
    (void)Shape(p.shape).Size();  // ShapeError when the count overflows
    p.dtype = DTypeAttr(r, "dtype", DType::f32);
    p.value = value ? *value : RequiredFloat(r, "value");
    return std::any(p);
  };
  s.infer_shape = [](ShapeInferenceArgs& a) {
    AssignShape(a.out, 0, Shape(ParamsAs<FillParams>(a.params).shape), a.node, "output");
  };
  s.infer_type = [](const std::any& p, std::vector<DType>&, std::vector<DType>& out) {
    out.at(0) = ParamsAs<FillParams>(p).dtype;
  };
  return s;
}

}  // namespace
}  // namespace tandem::ops

namespace tandem::detail {

// clang-format off
std::vector<BuiltinOp> TensorOps() {
  using namespace tandem::ops;
  using K = AxesReduceKind;
  return {
  {L2NormalizationSchema,                                       ref::MakeL2Normalization},
  {InstanceNormSchema,                                          ref::MakeInstanceNorm},
  {LayerNormSchema,                                             ref::MakeLayerNorm},
  {GroupNormSchema,                                             ref::MakeGroupNorm},
  {[] { return AxesReduceSchema("max", K::kMax, {"max_axis"}); }, ref::MakeAxesReduce},
  {[] { return AxesReduceSchema("min", K::kMin, {"min_axis"}); }, ref::MakeAxesReduce},
  {[] { return AxesReduceSchema("prod", K::kProd); },           ref::MakeAxesReduce},
  {[] { return AxesReduceSchema("nansum", K::kNanSum); },       ref::MakeAxesReduce},
  {[] { return AxesReduceSchema("nanprod", K::kNanProd); },     ref::MakeAxesReduce},
  {NormSchema,                                                  ref::MakeAxesReduce},
  {[] { return ArgReduceSchema("argmax", false); },             ref::MakeArgReduce},
  {[] { return ArgReduceSchema("argmin", true); },              ref::MakeArgReduce},
  {ArgmaxChannelSchema,                                         ref::MakeArgReduce},
  {[] { return TopKLikeSchema("topk", TopKOp::kTopK); },        ref::MakeTopK},
  {[] { return TopKLikeSchema("sort", TopKOp::kSort); },        ref::MakeTopK},
  {[] { return TopKLikeSchema("argsort", TopKOp::kArgSort); },  ref::MakeTopK},
  {TakeSchema,                                                  ref::MakeTake},
  {EmbeddingSchema,                                             ref::MakeEmbedding},
  {GatherNDSchema,                                              ref::MakeGatherND},
  {PickSchema,                                                  ref::MakePick},
  {WhereSchema,                                                 ref::MakeWhere},
  {OneHotSchema,                                                ref::MakeOneHot},
  {[] { return DotSchema("dot", InferDot); },                   ref::MakeDot,      DNNL_KERNEL(MakeDot)},
  {[] { return DotSchema("batch_dot", InferBatchDot); },        ref::MakeBatchDot, DNNL_KERNEL(MakeBatchDot)},
  {ArangeSchema,                                                ref::MakeArange},
  {ArangeLikeSchema,                                            ref::MakeArange},
  {[] { return ShapeArraySchema("shape_array", false); },       ref::MakeShapeArray},
  {[] { return ShapeArraySchema("size_array", true); },         ref::MakeShapeArray},
  {[] { return FillSchema("_zeros", 0.0); },                    ref::MakeFill},
  {[] { return FillSchema("_ones", 1.0); },                     ref::MakeFill},
  {[] { return FillSchema("_full", std::nullopt); },            ref::MakeFill},
  };
}
// clang-format on

}  // namespace tandem::detail
