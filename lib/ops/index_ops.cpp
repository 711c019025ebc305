// The shape / index family: operators that move elements without arithmetic (slice, slice_axis,
// slice_like, SwapAxis, tile, repeat, broadcast_to / _axis / _like, Pad, reverse, stack, Crop,
// depth_to_space, space_to_depth) and the views expand_dims / squeeze. Each operator gives its
// attributes, its output shape (MXNet 1.9.1's rules) and how its axes map onto the input
// (lib/ops/index_map.hpp); one strided kernel per backend runs them all.
#include <algorithm>
#include <optional>
#include <sstream>

#include "lib/ops/builtin_table.hpp"
#include "lib/ops/index_map.hpp"
#include "lib/ops/schema_util.hpp"
#include "lib/ref/kernels.hpp"
#if TANDEM_HAVE_CUDA
#include "lib/cuda/kernels.hpp"
#endif

namespace tandem::ops {
namespace {

using Dims = std::vector<int64_t>;
using Planner = IndexPlan (*)(const std::any& params, const std::vector<TensorDesc>& in,
                              const Shape& out, const std::string& node);

// What every index operator's parse returns: its own parameters and how to plan it.
struct IndexParams {
  std::any op;
  Planner plan = nullptr;
};

template <class P>
const P& OpParams(const std::any& params) {
  return ParamsAs<P>(ParamsAs<IndexParams>(params).op);
}

Dims Strides(const Shape& s) {
  Dims strides(static_cast<size_t>(s.ndim()), 1);
  for (int i = s.ndim() - 2; i >= 0; --i) strides[i] = strides[i + 1] * s[i + 1];
  return strides;
}

// The plain map of `in` onto `out` axis by axis (same rank): every axis reads its own input axis.
IndexMap Identity(const Shape& in, int input = 0) {
  IndexMap m;
  m.input = input;
  const Dims s = Strides(in);
  for (int i = 0; i < in.ndim(); ++i) m.axes.push_back({in[i], s[i], 0, 0, in[i]});
  return m;
}

// Fills the output strides of `m`'s axes as a dense row-major output over their extents.
IndexMap Dense(IndexMap m) {
  int64_t stride = 1;
  for (auto it = m.axes.rbegin(); it != m.axes.rend(); ++it) {
    it->out_stride = stride;
    stride *= it->extent;
  }
  return m;
}

IndexPlan Single(IndexMap m) { return IndexPlan{{Dense(std::move(m))}}; }

// "(1, None, -2)" -> {1, nullopt, -2}; MXNet writes None for an unset entry of begin/end/step.
std::vector<std::optional<int64_t>> OptionalTuple(const AttrReader& r, const std::string& key) {
  std::vector<std::optional<int64_t>> out;
  const std::string* text = r.Find(key);
  if (!text) return out;
  std::string s = *text;
  for (char& c : s)
    if (c == '(' || c == ')' || c == '[' || c == ']' || c == ',') c = ' ';
  std::istringstream in(s);
  for (std::string item; in >> item;) {
    if (item == "None") {
      out.push_back(std::nullopt);
      continue;
    }
    try {
      size_t used = 0;
      const long long v = std::stoll(item, &used);
      if (used != item.size()) throw std::invalid_argument(item);
      out.push_back(v);
    } catch (const std::exception&) {
      r.Fail(key, "expected a tuple of integers or None, got '" + *text + "'");
    }
  }
  return out;
}

template <class P, class Parse>
OpSchema IndexSchema(std::string name, std::vector<std::string> aliases, Parse parse,
                     void (*infer)(const P&, ShapeInferenceArgs&), Planner plan) {
  OpSchema s = UnaryIdentitySchema(std::move(name), std::move(aliases));
  s.parse = [parse, plan](const AttrReader& r) { return std::any(IndexParams{parse(r), plan}); };
  s.infer_shape = [infer](ShapeInferenceArgs& a) { infer(OpParams<P>(a.params), a); };
  s.low_precision = true;  // moves elements of any dtype
  return s;
}

// ---- slice (crop), slice_axis, slice_like: a begin, an extent and a step per axis ----------------

struct SliceParams {
  std::vector<std::optional<int64_t>> begin, end, step;
};
struct AxisRange {
  int64_t begin = 0, size = 0, step = 1;
};

// MXNet's GetIndexRange + SetSliceOpOutputDimSize for one axis of length `len`.
AxisRange SliceRange(std::optional<int64_t> begin, std::optional<int64_t> end, int64_t step,
                     int64_t len) {
  if (len == 0) return {0, 0, step};
  int64_t b = begin ? *begin : (step < 0 ? len - 1 : 0);
  int64_t e = end ? *end : (step < 0 ? -1 : len);
  if (b < 0) b += len;
  if (e < 0 && end) e += len;
  if (b < 0 && step > 0) b = 0;
  if (b > len - 1 && step < 0) b = len - 1;
  if (b < 0 || b > len - 1) b = -1;
  e = std::min(std::max<int64_t>(e, -1), len);
  int64_t size = 0;
  if (e != b && b >= 0)
    size = step > 0 ? (e > b ? (e - b - 1) / step + 1 : 0) : (e < b ? (b - e - 1) / (-step) + 1 : 0);
  return {std::max<int64_t>(b, 0), size, step};
}

std::vector<AxisRange> SliceRanges(const SliceParams& p, const Shape& data, const std::string& node) {
  if (static_cast<int>(p.begin.size()) > data.ndim())
    FailShape(node, "slice begin has ", p.begin.size(), " entries, data ", data.ToString(), " has ",
              data.ndim(), " dims");
  std::vector<AxisRange> ranges;
  for (int i = 0; i < data.ndim(); ++i) {
    if (i >= static_cast<int>(p.begin.size())) {
      ranges.push_back({0, data[i], 1});
      continue;
    }
    const int64_t step = i < static_cast<int>(p.step.size()) && p.step[i] ? *p.step[i] : 1;
    const std::optional<int64_t> end = i < static_cast<int>(p.end.size()) ? p.end[i] : std::nullopt;
    ranges.push_back(SliceRange(p.begin[i], end, step, data[i]));
  }
  return ranges;
}

IndexMap RangeMap(const Shape& in, const std::vector<AxisRange>& ranges) {
  IndexMap m = Identity(in);
  for (size_t i = 0; i < ranges.size(); ++i) {
    MapAxis& a = m.axes[i];
    m.in_offset += ranges[i].begin * a.in_stride;
    a.in_stride *= ranges[i].step;
    a.extent = a.in_extent = ranges[i].size;
  }
  return m;
}

Shape RangeShape(const std::vector<AxisRange>& ranges) {
  Dims dims;
  for (const AxisRange& r : ranges) dims.push_back(r.size);
  return Shape(dims);
}

SliceParams ParseSlice(const AttrReader& r) {
  SliceParams p{OptionalTuple(r, "begin"), OptionalTuple(r, "end"), OptionalTuple(r, "step")};
  if (!r.Has("begin")) r.Fail("begin", "required attribute is missing");
  if (!r.Has("end")) r.Fail("end", "required attribute is missing");
  if (p.end.size() != p.begin.size()) r.Fail("end", "must have as many entries as begin");
  if (!p.step.empty() && p.step.size() != p.begin.size())
    r.Fail("step", "must be empty or have as many entries as begin");
  for (const auto& s : p.step)
    if (s && *s == 0) r.Fail("step", "must not be 0");
  return p;
}

void InferSlice(const SliceParams& p, ShapeInferenceArgs& a) {
  if (!a.in[0].known()) return;
  AssignShape(a.out, 0, RangeShape(SliceRanges(p, a.in[0], a.node)), a.node, "output");
}

IndexPlan PlanSlice(const std::any& params, const std::vector<TensorDesc>& in, const Shape&,
                    const std::string& node) {
  return Single(RangeMap(in[0].shape, SliceRanges(OpParams<SliceParams>(params), in[0].shape, node)));
}

struct SliceAxisParams {
  int64_t axis = 0, begin = 0;
  std::optional<int64_t> end;
};

SliceAxisParams ParseSliceAxis(const AttrReader& r) {
  SliceAxisParams p;
  p.axis = r.Int("axis");
  p.begin = r.Int("begin");
  int64_t end = 0;
  if (r.OptionalInt("end", &end)) p.end = end;
  return p;
}

std::vector<AxisRange> SliceAxisRanges(const SliceAxisParams& p, const Shape& data,
                                       const std::string& node) {
  const int axis = NormalizeAxis(p.axis, data.ndim(), node, "slice_axis axis");
  const int64_t len = data[axis];
  int64_t begin = p.begin < 0 ? p.begin + len : p.begin;
  int64_t end = p.end ? (*p.end < 0 ? *p.end + len : *p.end) : len;
  if (end > len || begin < 0 || begin >= end)
    FailShape(node, "slice_axis begin ", p.begin, " / end ",
              p.end ? std::to_string(*p.end) : "None", " do not fit axis ", axis, " of ",
              data.ToString());
  std::vector<AxisRange> ranges;
  for (int i = 0; i < data.ndim(); ++i) ranges.push_back({0, data[i], 1});
  ranges[axis] = {begin, end - begin, 1};
  return ranges;
}

void InferSliceAxis(const SliceAxisParams& p, ShapeInferenceArgs& a) {
  if (!a.in[0].known()) return;
  AssignShape(a.out, 0, RangeShape(SliceAxisRanges(p, a.in[0], a.node)), a.node, "output");
}

IndexPlan PlanSliceAxis(const std::any& params, const std::vector<TensorDesc>& in, const Shape&,
                        const std::string& node) {
  return Single(
      RangeMap(in[0].shape, SliceAxisRanges(OpParams<SliceAxisParams>(params), in[0].shape, node)));
}

struct SliceLikeParams {
  Dims axes;
};

std::vector<AxisRange> SliceLikeRanges(const SliceLikeParams& p, const Shape& data,
                                       const Shape& like, const std::string& node) {
  std::vector<AxisRange> ranges;
  for (int i = 0; i < data.ndim(); ++i) ranges.push_back({0, data[i], 1});
  auto take = [&](int axis) {
    if (axis >= like.ndim() || like[axis] > data[axis])
      FailShape(node, "slice_like cannot slice axis ", axis, " of ", data.ToString(), " like ",
                like.ToString());
    ranges[axis].size = like[axis];
  };
  if (p.axes.empty()) {
    if (like.ndim() != data.ndim())
      FailShape(node, "slice_like without axes needs shape_like ", like.ToString(),
                " to have the rank of data ", data.ToString());
    for (int i = 0; i < data.ndim(); ++i) take(i);
  } else {
    for (int64_t axis : p.axes) take(NormalizeAxis(axis, data.ndim(), node, "slice_like axes"));
  }
  return ranges;
}

void InferSliceLike(const SliceLikeParams& p, ShapeInferenceArgs& a) {
  if (!a.in[0].known() || !a.in[1].known()) return;
  AssignShape(a.out, 0, RangeShape(SliceLikeRanges(p, a.in[0], a.in[1], a.node)), a.node, "output");
}

IndexPlan PlanSliceLike(const std::any& params, const std::vector<TensorDesc>& in, const Shape&,
                        const std::string& node) {
  return Single(RangeMap(
      in[0].shape, SliceLikeRanges(OpParams<SliceLikeParams>(params), in[0].shape, in[1].shape, node)));
}

// ---- Crop (legacy): the H, W window of an NCHW tensor --------------------------------------------

struct CropParams {
  int64_t num_args = 1;
  Dims offset{0, 0}, h_w{0, 0};
  bool center_crop = false;
};

CropParams ParseCrop(const AttrReader& r) {
  CropParams p;
  p.num_args = r.Int("num_args");
  if (p.num_args != 1 && p.num_args != 2) r.Fail("num_args", "must be 1 or 2");
  p.offset = r.Tuple("offset", {0, 0});
  p.h_w = r.Tuple("h_w", {0, 0});
  p.center_crop = r.Bool("center_crop", false);
  if (p.offset.size() != 2) r.Fail("offset", "must have 2 values (y, x)");
  if (p.h_w.size() != 2) r.Fail("h_w", "must have 2 values (h, w)");
  return p;
}

std::vector<AxisRange> CropRanges(const CropParams& p, const std::vector<Shape>& in,
                                  const std::string& node) {
  const Shape& data = in[0];
  if (data.ndim() != 4) FailShape(node, "Crop needs 4-D NCHW data, got ", data.ToString());
  int64_t h = p.h_w[0], w = p.h_w[1];
  if (p.num_args == 2) {
    if (in[1].ndim() != 4) FailShape(node, "Crop's crop_like must be 4-D, got ", in[1].ToString());
    h = in[1][2];
    w = in[1][3];
  }
  int64_t y = p.offset[0], x = p.offset[1];
  if (p.center_crop) {
    y = (data[2] - h) / 2;
    x = (data[3] - w) / 2;
  }
  if (h <= 0 || w <= 0 || y < 0 || x < 0 || y + h > data[2] || x + w > data[3])
    FailShape(node, "Crop window ", h, "x", w, " at (", y, ", ", x, ") does not fit data ",
              data.ToString());
  return {{0, data[0], 1}, {0, data[1], 1}, {y, h, 1}, {x, w, 1}};
}

void InferCrop(const CropParams& p, ShapeInferenceArgs& a) {
  for (const Shape& s : a.in)
    if (!s.known()) return;
  AssignShape(a.out, 0, RangeShape(CropRanges(p, a.in, a.node)), a.node, "output");
}

IndexPlan PlanCrop(const std::any& params, const std::vector<TensorDesc>& in, const Shape&,
                   const std::string& node) {
  std::vector<Shape> shapes;
  for (const TensorDesc& t : in) shapes.push_back(t.shape);
  return Single(RangeMap(in[0].shape, CropRanges(OpParams<CropParams>(params), shapes, node)));
}

// ---- SwapAxis, reverse ------------------------------------------------------------------------

struct SwapAxisParams {
  int64_t dim1 = 0, dim2 = 0;
};

SwapAxisParams ParseSwapAxis(const AttrReader& r) { return {r.Int("dim1", 0), r.Int("dim2", 0)}; }

std::pair<int, int> SwapDims(const SwapAxisParams& p, const Shape& data, const std::string& node) {
  return {NormalizeAxis(p.dim1, data.ndim(), node, "SwapAxis dim1"),
          NormalizeAxis(p.dim2, data.ndim(), node, "SwapAxis dim2")};
}

void InferSwapAxis(const SwapAxisParams& p, ShapeInferenceArgs& a) {
  if (!a.in[0].known()) return;
  auto [d1, d2] = SwapDims(p, a.in[0], a.node);
  Dims dims = a.in[0].dims();
  std::swap(dims[d1], dims[d2]);
  AssignShape(a.out, 0, Shape(dims), a.node, "output");
}

IndexPlan PlanSwapAxis(const std::any& params, const std::vector<TensorDesc>& in, const Shape&,
                       const std::string& node) {
  auto [d1, d2] = SwapDims(OpParams<SwapAxisParams>(params), in[0].shape, node);
  IndexMap m = Identity(in[0].shape);
  std::swap(m.axes[d1], m.axes[d2]);
  return Single(std::move(m));
}

struct ReverseParams {
  Dims axis;
};

ReverseParams ParseReverse(const AttrReader& r) {
  if (!r.Has("axis")) r.Fail("axis", "required attribute is missing");
  return {r.Tuple("axis")};
}

void InferReverse(const ReverseParams& p, ShapeInferenceArgs& a) {
  if (!a.in[0].known()) return;
  for (int64_t axis : p.axis) NormalizeAxis(axis, a.in[0].ndim(), a.node, "reverse axis");
  AssignShape(a.out, 0, a.in[0], a.node, "output");
}

IndexPlan PlanReverse(const std::any& params, const std::vector<TensorDesc>& in, const Shape&,
                      const std::string& node) {
  const Shape& data = in[0].shape;
  IndexMap m = Identity(data);
  Dims axes;
  for (int64_t axis : OpParams<ReverseParams>(params).axis)
    axes.push_back(NormalizeAxis(axis, data.ndim(), node, "reverse axis"));
  std::sort(axes.begin(), axes.end());
  axes.erase(std::unique(axes.begin(), axes.end()), axes.end());  // twice = once, as MXNet
  for (int64_t axis : axes) {
    MapAxis& a = m.axes[axis];
    m.in_offset += (a.extent - 1) * a.in_stride;
    a.in_stride = -a.in_stride;
  }
  return Single(std::move(m));
}

// ---- tile, repeat, broadcast_to / broadcast_axis / broadcast_like -------------------------------

struct TileParams {
  Dims reps;
};

TileParams ParseTile(const AttrReader& r) {
  TileParams p{r.Tuple("reps")};
  if (!r.Has("reps")) r.Fail("reps", "required attribute is missing");
  for (int64_t v : p.reps)
    if (v < 0) r.Fail("reps", "must not be negative");
  return p;
}

// Input shape and reps brought to the same rank with leading 1s, as numpy.tile.
std::pair<Dims, Dims> TileAligned(const TileParams& p, const Shape& data) {
  Dims in = data.dims(), reps = p.reps;
  const size_t rank = std::max(in.size(), reps.size());
  in.insert(in.begin(), rank - in.size(), 1);
  reps.insert(reps.begin(), rank - reps.size(), 1);
  return {in, reps};
}

void InferTile(const TileParams& p, ShapeInferenceArgs& a) {
  if (!a.in[0].known()) return;
  auto [in, reps] = TileAligned(p, a.in[0]);
  Dims out;
  for (size_t i = 0; i < in.size(); ++i) out.push_back(in[i] * reps[i]);
  AssignShape(a.out, 0, Shape(out), a.node, "output");
}

IndexPlan PlanTile(const std::any& params, const std::vector<TensorDesc>& in, const Shape&,
                   const std::string&) {
  auto [dims, reps] = TileAligned(OpParams<TileParams>(params), in[0].shape);
  const Dims strides = Strides(Shape(dims));
  IndexMap m;
  for (size_t i = 0; i < dims.size(); ++i) {
    m.axes.push_back({reps[i], 0, 0, 0, reps[i]});  // which copy: reads the same input
    m.axes.push_back({dims[i], strides[i], 0, 0, dims[i]});
  }
  return Single(std::move(m));
}

struct RepeatParams {
  int64_t repeats = 0;
  std::optional<int64_t> axis;
};

RepeatParams ParseRepeat(const AttrReader& r) {
  RepeatParams p;
  p.repeats = r.Int("repeats");
  if (p.repeats < 0) r.Fail("repeats", "must not be negative");
  int64_t axis = 0;
  if (r.OptionalInt("axis", &axis)) p.axis = axis;
  return p;
}

void InferRepeat(const RepeatParams& p, ShapeInferenceArgs& a) {
  const Shape& data = a.in[0];
  if (!data.known()) return;
  if (!p.axis) {
    AssignShape(a.out, 0, Shape{data.Size() * p.repeats}, a.node, "output");
    return;
  }
  Dims dims = data.dims();
  dims[NormalizeAxis(*p.axis, data.ndim(), a.node, "repeat axis")] *= p.repeats;
  AssignShape(a.out, 0, Shape(dims), a.node, "output");
}

IndexPlan PlanRepeat(const std::any& params, const std::vector<TensorDesc>& in, const Shape&,
                     const std::string& node) {
  const auto& p = OpParams<RepeatParams>(params);
  const Shape data = p.axis ? in[0].shape : Shape{in[0].shape.Size()};
  const int axis = p.axis ? NormalizeAxis(*p.axis, data.ndim(), node, "repeat axis") : 0;
  IndexMap m = Identity(data);
  m.axes.insert(m.axes.begin() + axis + 1, MapAxis{p.repeats, 0, 0, 0, p.repeats});
  return Single(std::move(m));
}

// Shared by the three broadcasts: `target` has the input's rank; input dims of 1 read stride 0.
IndexPlan BroadcastPlan(const Shape& data, const Shape& target) {
  IndexMap m = Identity(data);
  for (int i = 0; i < data.ndim(); ++i)
    if (data[i] != target[i]) m.axes[i] = {target[i], 0, 0, 0, target[i]};
  return Single(std::move(m));
}

void CheckBroadcast(const Shape& data, const Shape& target, const std::string& node) {
  bool ok = data.ndim() == target.ndim();
  for (int i = 0; ok && i < data.ndim(); ++i) ok = data[i] == target[i] || data[i] == 1;
  if (!ok) FailShape(node, "cannot broadcast ", data.ToString(), " to ", target.ToString());
}

struct BroadcastToParams {
  Dims shape;
};

BroadcastToParams ParseBroadcastTo(const AttrReader& r) {
  if (!r.Has("shape")) r.Fail("shape", "required attribute is missing");
  return {r.Tuple("shape")};
}

Shape BroadcastToShape(const BroadcastToParams& p, const Shape& data, const std::string& node) {
  if (static_cast<int>(p.shape.size()) != data.ndim())
    FailShape(node, "broadcast_to shape ", Shape(p.shape).ToString(), " must have the rank of ",
              data.ToString());
  Dims dims = p.shape;
  for (size_t i = 0; i < dims.size(); ++i)
    if (dims[i] == 0) dims[i] = data[static_cast<int>(i)];
  CheckBroadcast(data, Shape(dims), node);
  return Shape(dims);
}

void InferBroadcastTo(const BroadcastToParams& p, ShapeInferenceArgs& a) {
  if (!a.in[0].known()) return;
  AssignShape(a.out, 0, BroadcastToShape(p, a.in[0], a.node), a.node, "output");
}

IndexPlan PlanBroadcastTo(const std::any& params, const std::vector<TensorDesc>& in,
                          const Shape& out, const std::string&) {
  return BroadcastPlan(in[0].shape, out);
}

struct BroadcastAxisParams {
  Dims axis, size;
};

BroadcastAxisParams ParseBroadcastAxis(const AttrReader& r) {
  BroadcastAxisParams p{r.Tuple("axis"), r.Tuple("size")};
  if (p.axis.size() != p.size.size()) r.Fail("size", "must have as many entries as axis");
  return p;
}

void InferBroadcastAxis(const BroadcastAxisParams& p, ShapeInferenceArgs& a) {
  const Shape& data = a.in[0];
  if (!data.known()) return;
  Dims dims = data.dims();
  for (size_t i = 0; i < p.axis.size(); ++i) {
    const int axis = NormalizeAxis(p.axis[i], data.ndim(), a.node, "broadcast_axis axis");
    if (dims[axis] != 1 && dims[axis] != p.size[i])
      FailShape(a.node, "broadcast_axis: axis ", axis, " of ", data.ToString(), " is not 1");
    dims[axis] = p.size[i];
  }
  AssignShape(a.out, 0, Shape(dims), a.node, "output");
}

struct BroadcastLikeParams {
  std::optional<Dims> lhs_axes, rhs_axes;
};

BroadcastLikeParams ParseBroadcastLike(const AttrReader& r) {
  BroadcastLikeParams p;
  if (!IsUnset(r, "lhs_axes")) p.lhs_axes = r.Tuple("lhs_axes");
  if (!IsUnset(r, "rhs_axes")) p.rhs_axes = r.Tuple("rhs_axes");
  if (p.lhs_axes.has_value() != p.rhs_axes.has_value() ||
      (p.lhs_axes && p.lhs_axes->size() != p.rhs_axes->size()))
    r.Fail("rhs_axes", "lhs_axes and rhs_axes must both be given, with as many entries");
  return p;
}

void InferBroadcastLike(const BroadcastLikeParams& p, ShapeInferenceArgs& a) {
  const Shape &lhs = a.in[0], &rhs = a.in[1];
  if (!lhs.known() || !rhs.known()) return;
  Shape target = rhs;
  if (p.lhs_axes) {
    Dims dims = lhs.dims();
    for (size_t i = 0; i < p.lhs_axes->size(); ++i)
      dims[NormalizeAxis((*p.lhs_axes)[i], lhs.ndim(), a.node, "lhs_axes")] =
          rhs[NormalizeAxis((*p.rhs_axes)[i], rhs.ndim(), a.node, "rhs_axes")];
    target = Shape(dims);
  }
  CheckBroadcast(lhs, target, a.node);
  AssignShape(a.out, 0, target, a.node, "output");
}

// ---- Pad ------------------------------------------------------------------------------------------

struct PadParams {
  PadMode mode = PadMode::kConstant;
  Dims pad_width;
  double constant_value = 0;
  // Set only by the channels-last pass (hidden attribute, see ops::kChannelsLastAttr): the data
  // is N(D)HWC, so the channel axis that must not be padded is the last one.
  bool channels_last = false;
};

PadParams ParsePad(const AttrReader& r) {
  PadParams p;
  const std::string mode = r.Enum("mode", "constant", {"constant", "edge", "reflect"});
  p.mode = mode == "edge" ? PadMode::kEdge : mode == "reflect" ? PadMode::kReflect : PadMode::kConstant;
  if (!r.Has("pad_width")) r.Fail("pad_width", "required attribute is missing");
  p.pad_width = r.Tuple("pad_width");
  for (int64_t v : p.pad_width)
    if (v < 0) r.Fail("pad_width", "must not be negative");
  p.constant_value = r.Float("constant_value", 0.0);
  p.channels_last = r.Bool(kChannelsLastAttr, false);
  return p;
}

// MXNet pads 4-D and 5-D data along the spatial axes only (the batch and channel widths are 0).
void CheckPad(const PadParams& p, const Shape& data, const std::string& node) {
  if (data.ndim() != 4 && data.ndim() != 5)
    FailShape(node, "Pad takes 4-D or 5-D data, got ", data.ToString());
  if (static_cast<int>(p.pad_width.size()) != 2 * data.ndim())
    FailShape(node, "Pad pad_width has ", p.pad_width.size(), " values; data ", data.ToString(),
              " needs ", 2 * data.ndim());
  const int channel = p.channels_last ? data.ndim() - 1 : 1;
  for (int axis : {0, channel})
    if (p.pad_width[2 * axis] != 0 || p.pad_width[2 * axis + 1] != 0)
      FailShape(node, "Pad cannot pad the batch or channel axis (pad_width ",
                Shape(p.pad_width).ToString(), ")");
  for (int i = 1; i < data.ndim(); ++i)
    if (i != channel && p.mode == PadMode::kReflect &&
        (p.pad_width[2 * i] >= data[i] || p.pad_width[2 * i + 1] >= data[i]))
      FailShape(node, "Pad reflect widths must be smaller than the axis, got ",
                Shape(p.pad_width).ToString(), " for ", data.ToString());
}

void InferPad(const PadParams& p, ShapeInferenceArgs& a) {
  const Shape& data = a.in[0];
  if (!data.known()) return;
  CheckPad(p, data, a.node);
  Dims dims = data.dims();
  for (int i = 0; i < data.ndim(); ++i) dims[i] += p.pad_width[2 * i] + p.pad_width[2 * i + 1];
  AssignShape(a.out, 0, Shape(dims), a.node, "output");
}

IndexPlan PlanPad(const std::any& params, const std::vector<TensorDesc>& in, const Shape&,
                  const std::string& node) {
  const auto& p = OpParams<PadParams>(params);
  CheckPad(p, in[0].shape, node);
  IndexMap m = Identity(in[0].shape);
  for (size_t i = 0; i < m.axes.size(); ++i) {
    m.axes[i].pad_before = p.pad_width[2 * i];
    m.axes[i].extent += p.pad_width[2 * i] + p.pad_width[2 * i + 1];
  }
  IndexPlan plan = Single(std::move(m));
  plan.mode = p.mode;
  plan.pad_value = p.constant_value;
  return plan;
}

// ---- stack ----------------------------------------------------------------------------------------

struct StackParams {
  int64_t axis = 0, num_args = 1;
};

StackParams ParseStack(const AttrReader& r) {
  StackParams p{r.Int("axis", 0), r.Int("num_args")};
  if (p.num_args < 1) r.Fail("num_args", "must be at least 1");
  return p;
}

void InferStack(const StackParams& p, ShapeInferenceArgs& a) {
  Shape known;
  for (const Shape& s : a.in)
    if (s.known()) known = s;
  if (!known.known()) return;
  for (size_t i = 0; i < a.in.size(); ++i) AssignShape(a.in, i, known, a.node, "arg" + std::to_string(i));
  Dims dims = known.dims();
  const int axis = NormalizeAxis(p.axis, known.ndim() + 1, a.node, "stack axis");
  dims.insert(dims.begin() + axis, static_cast<int64_t>(a.in.size()));
  AssignShape(a.out, 0, Shape(dims), a.node, "output");
}

IndexPlan PlanStack(const std::any& params, const std::vector<TensorDesc>& in, const Shape& out,
                    const std::string& node) {
  const auto& p = OpParams<StackParams>(params);
  const int axis = NormalizeAxis(p.axis, out.ndim(), node, "stack axis");
  const Dims out_strides = Strides(out);
  IndexPlan plan;
  for (size_t k = 0; k < in.size(); ++k) {
    IndexMap m = Identity(in[k].shape, static_cast<int>(k));
    for (int i = 0; i < static_cast<int>(m.axes.size()); ++i)
      m.axes[i].out_stride = out_strides[i < axis ? i : i + 1];
    m.out_offset = static_cast<int64_t>(k) * out_strides[axis];
    plan.maps.push_back(std::move(m));
  }
  return plan;
}

// ---- depth_to_space / space_to_depth (MXNet's DCR order) ----------------------------------------

struct BlockParams {
  int64_t block_size = 1;
};

BlockParams ParseBlock(const AttrReader& r) {
  BlockParams p{r.Int("block_size")};
  if (p.block_size < 1) r.Fail("block_size", "must be at least 1");
  return p;
}

void CheckBlock(bool to_space, int64_t b, const Shape& d, const std::string& node) {
  const bool ok = d.ndim() == 4 && (to_space ? d[1] % (b * b) == 0 : d[2] % b == 0 && d[3] % b == 0);
  if (!ok)
    FailShape(node, to_space ? "depth_to_space" : "space_to_depth", " with block_size ", b,
              " does not fit data ", d.ToString());
}

template <bool kToSpace>
void InferBlock(const BlockParams& p, ShapeInferenceArgs& a) {
  const Shape& d = a.in[0];
  if (!d.known()) return;
  const int64_t b = p.block_size;
  CheckBlock(kToSpace, b, d, a.node);
  const Shape out = kToSpace ? Shape{d[0], d[1] / (b * b), d[2] * b, d[3] * b}
                             : Shape{d[0], d[1] * b * b, d[2] / b, d[3] / b};
  AssignShape(a.out, 0, out, a.node, "output");
}

IndexPlan PlanDepthToSpace(const std::any& params, const std::vector<TensorDesc>& in, const Shape&,
                           const std::string& node) {
  const Shape& d = in[0].shape;
  const int64_t b = OpParams<BlockParams>(params).block_size;
  CheckBlock(true, b, d, node);
  const int64_t c = d[1] / (b * b), h = d[2], w = d[3], plane = h * w;
  // Output (N, c, H, b, W, b) reads input (N, [b, b, c], H, W).
  IndexMap m;
  m.axes = {{d[0], d[1] * plane, 0, 0, d[0]}, {c, plane, 0, 0, c},    {h, w, 0, 0, h},
            {b, b * c * plane, 0, 0, b},       {w, 1, 0, 0, w},        {b, c * plane, 0, 0, b}};
  return Single(std::move(m));
}

IndexPlan PlanSpaceToDepth(const std::any& params, const std::vector<TensorDesc>& in, const Shape&,
                           const std::string& node) {
  const Shape& d = in[0].shape;
  const int64_t b = OpParams<BlockParams>(params).block_size;
  CheckBlock(false, b, d, node);
  const int64_t c = d[1], h = d[2] / b, w = d[3] / b, width = d[3];
  // Output (N, [b, b, c], H/b, W/b) reads input (N, c, H/b, b, W/b, b).
  IndexMap m;
  m.axes = {{d[0], c * d[2] * width, 0, 0, d[0]}, {b, width, 0, 0, b}, {b, 1, 0, 0, b},
            {c, d[2] * width, 0, 0, c},          {h, b * width, 0, 0, h}, {w, b, 0, 0, w}};
  return Single(std::move(m));
}

// ---- views: expand_dims, squeeze ----------------------------------------------------------------

void InferExpandDims(ShapeInferenceArgs& a) {
  const Shape& d = a.in[0];
  if (!d.known()) return;
  const int64_t axis = ParamsAs<int64_t>(a.params);
  if (axis < -d.ndim() - 1 || axis > d.ndim())
    FailShape(a.node, "expand_dims axis ", axis, " is out of range for ", d.ToString());
  Dims dims = d.dims();
  dims.insert(dims.begin() + (axis < 0 ? axis + d.ndim() + 1 : axis), 1);
  AssignShape(a.out, 0, Shape(dims), a.node, "output");
}

void InferSqueeze(ShapeInferenceArgs& a) {
  const Shape& d = a.in[0];
  if (!d.known()) return;
  const auto& axes = ParamsAs<std::optional<Dims>>(a.params);
  std::vector<bool> drop(static_cast<size_t>(d.ndim()), false);
  for (int i = 0; i < d.ndim(); ++i) drop[i] = !axes && d[i] == 1;
  if (axes)
    for (int64_t axis : *axes) {
      const int i = NormalizeAxis(axis, d.ndim(), a.node, "squeeze axis");
      if (d[i] != 1) FailShape(a.node, "cannot squeeze axis ", i, " of ", d.ToString(), ": not 1");
      drop[i] = true;
    }
  Dims dims;
  for (int i = 0; i < d.ndim(); ++i)
    if (!drop[i]) dims.push_back(d[i]);
  if (dims.empty()) dims.push_back(1);  // MXNet keeps a scalar as (1,)
  AssignShape(a.out, 0, Shape(dims), a.node, "output");
}

OpSchema ViewSchema(std::string name, std::function<std::any(const AttrReader&)> parse,
                    void (*infer)(ShapeInferenceArgs&)) {
  OpSchema s = UnaryIdentitySchema(std::move(name));
  s.parse = std::move(parse);
  s.infer_shape = infer;
  s.view_of_input = true;
  s.low_precision = true;
  return s;
}

}  // namespace

IndexPlan BuildIndexPlan(const KernelSpec& spec) {
  const auto& p = ParamsAs<IndexParams>(spec.params);
  return p.plan(spec.params, spec.inputs, spec.outputs.at(0).shape, spec.node);
}

}  // namespace tandem::ops

namespace tandem::detail {
namespace {

using namespace tandem::ops;

template <class P, class Parse>
BuiltinOp Index(std::string name, std::vector<std::string> aliases, Parse parse,
                void (*infer)(const P&, ShapeInferenceArgs&), Planner plan,
                std::function<void(OpSchema&)> adjust = {}) {
  return {[=] {
            OpSchema s = IndexSchema<P>(name, aliases, parse, infer, plan);
            if (adjust) adjust(s);
            return s;
          },
          ref::MakeIndexMap, nullptr, CUDA_KERNEL(MakeIndexMap)};
}

void TwoInputs(OpSchema& s, std::vector<std::string> names) { s.arguments = FixedNames(std::move(names)); }

}  // namespace

// clang-format off
std::vector<BuiltinOp> IndexOps() {
  return {
    Index<SliceParams>("slice", {"crop", "_slice"}, ParseSlice, InferSlice, PlanSlice),
    Index<SliceAxisParams>("slice_axis", {}, ParseSliceAxis, InferSliceAxis, PlanSliceAxis),
    Index<SliceLikeParams>("slice_like", {}, [](const AttrReader& r) { return SliceLikeParams{r.Tuple("axes")}; },
        InferSliceLike, PlanSliceLike, [](OpSchema& s) { TwoInputs(s, {"data", "shape_like"}); }),
    Index<CropParams>("Crop", {}, ParseCrop, InferCrop, PlanCrop, [](OpSchema& s) {
        s.arguments = [](const std::any& p) { return NumberedNames("arg", OpParams<CropParams>(p).num_args); }; }),
    Index<SwapAxisParams>("SwapAxis", {"swapaxes"}, ParseSwapAxis, InferSwapAxis, PlanSwapAxis),
    Index<ReverseParams>("reverse", {"flip"}, ParseReverse, InferReverse, PlanReverse),
    Index<TileParams>("tile", {}, ParseTile, InferTile, PlanTile),
    Index<RepeatParams>("repeat", {}, ParseRepeat, InferRepeat, PlanRepeat),
    Index<BroadcastToParams>("broadcast_to", {}, ParseBroadcastTo, InferBroadcastTo, PlanBroadcastTo),
    Index<BroadcastAxisParams>("broadcast_axis", {"broadcast_axes"}, ParseBroadcastAxis, InferBroadcastAxis,
        PlanBroadcastTo),
    Index<BroadcastLikeParams>("broadcast_like", {}, ParseBroadcastLike, InferBroadcastLike, PlanBroadcastTo,
        [](OpSchema& s) { TwoInputs(s, {"lhs", "rhs"}); }),
    Index<PadParams>("Pad", {"pad"}, ParsePad, InferPad, PlanPad),
    Index<StackParams>("stack", {}, ParseStack, InferStack, PlanStack, [](OpSchema& s) {
        s.arguments = [](const std::any& p) { return NumberedNames("arg", OpParams<StackParams>(p).num_args); }; }),
    Index<BlockParams>("depth_to_space", {}, ParseBlock, InferBlock<true>, PlanDepthToSpace),
    Index<BlockParams>("space_to_depth", {}, ParseBlock, InferBlock<false>, PlanSpaceToDepth),
    {[] { return ViewSchema("expand_dims", [](const AttrReader& r) { return std::any(r.Int("axis")); },
                            InferExpandDims); },
     ref::MakeCopy, nullptr, CUDA_KERNEL(MakeCopy)},
    {[] { return ViewSchema("squeeze", [](const AttrReader& r) {
                              return std::any(IsUnset(r, "axis") ? std::optional<Dims>() : r.Tuple("axis")); },
                            InferSqueeze); },
     ref::MakeCopy, nullptr, CUDA_KERNEL(MakeCopy)},
  };
}
// clang-format on

}  // namespace tandem::detail
