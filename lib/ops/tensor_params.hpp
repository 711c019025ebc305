// Internal: typed parameters of the "tensor" operator family (lib/ops/tensor_ops.cpp): the
// normalisation layers, reductions, arg-reductions and orderings, gathers, products and the
// constant / shape operators. Shared by the schemas and the reference kernels
// (lib/ref/tensor_*.cpp). Axes are stored as MXNet gives them (possibly negative); kernels
// normalise them against the input shape they are built for.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tandem/dtype.hpp"
#include "tandem/error.hpp"

namespace tandem::ops {

// ---- normalisation --------------------------------------------------------------------------

enum class L2NormMode { kInstance, kChannel, kSpatial };
struct L2NormalizationParams {
  double eps = 1e-10;
  L2NormMode mode = L2NormMode::kInstance;
};

struct InstanceNormParams {
  double eps = 1e-3;
};

// LayerNorm and GroupNorm; output_mean_var adds two outputs (mean, std = sqrt(var + eps)).
struct LayerNormParams {
  int64_t axis = -1;
  double eps = 1e-5;
  bool output_mean_var = false;
};

struct GroupNormParams {
  int64_t num_groups = 1;
  double eps = 1e-5;
  bool output_mean_var = false;
};

// ---- reductions -----------------------------------------------------------------------------

enum class AxesReduceKind { kMax, kMin, kProd, kNanSum, kNanProd, kNorm1, kNorm2 };
// max, min, prod, nansum, nanprod, norm: MXNet's ReduceAxesParam (norm: NormParam, whose ord
// picks kNorm1 / kNorm2, and exclude is always false).
struct AxesReduceParams {
  AxesReduceKind kind = AxesReduceKind::kMax;
  std::vector<int64_t> axis;  // empty: every axis (absent, "None" or "()")
  bool keepdims = false;
  bool exclude = false;
  std::optional<DType> out_dtype;  // norm's out_dtype; otherwise the input's dtype
};

// Which axes of an `ndim`-d input are reduced (MXNet's ReduceAxesShapeImpl): an empty list means
// every axis, exclude or not; otherwise the listed axes, or all others with exclude. Throws
// ShapeError naming `node` for an axis out of range or given twice.
inline std::vector<bool> ReducedAxes(const AxesReduceParams& p, int ndim, const std::string& node) {
  if (p.axis.empty()) return std::vector<bool>(static_cast<size_t>(ndim), true);
  std::vector<bool> listed(static_cast<size_t>(ndim), false);
  for (int64_t axis : p.axis) {
    if (axis < -ndim || axis >= ndim)
      Throw<ShapeError>("node '", node, "': reduction axis ", axis, " is out of range for a ", ndim,
                        "-d input");
    const size_t a = static_cast<size_t>(axis < 0 ? axis + ndim : axis);
    if (listed[a]) Throw<ShapeError>("node '", node, "': reduction axis ", axis, " is given twice");
    listed[a] = true;
  }
  if (p.exclude) listed.flip();
  return listed;
}

// argmax, argmin, argmax_channel (axis 1, keepdims false).
struct ArgReduceParams {
  bool is_min = false;
  std::optional<int64_t> axis;  // none: over the flattened input
  bool keepdims = false;
};

enum class TopKOp { kTopK, kSort, kArgSort };
enum class TopKReturn { kValue, kIndices, kMask, kBoth };
// topk, sort, argsort (sort: ret_typ value, k = all; argsort: ret_typ indices, k = all).
struct TopKParams {
  TopKOp op = TopKOp::kTopK;
  std::optional<int64_t> axis = -1;  // none: over the flattened input
  int64_t k = 1;                     // <= 0: every element of the axis
  TopKReturn ret_typ = TopKReturn::kIndices;
  bool is_ascend = false;
  DType dtype = DType::f32;  // of the indices
};

// ---- gathers --------------------------------------------------------------------------------

enum class IndexMode { kClip, kWrap, kRaise };
struct TakeParams {
  int64_t axis = 0;
  IndexMode mode = IndexMode::kClip;
};

struct EmbeddingParams {
  int64_t input_dim = 0;
  int64_t output_dim = 0;
  DType dtype = DType::f32;  // of the weight when nothing else says
};

struct PickParams {
  int64_t axis = -1;
  bool keepdims = false;
  IndexMode mode = IndexMode::kClip;  // clip or wrap
};

struct OneHotParams {
  int64_t depth = 0;
  double on_value = 1.0;
  double off_value = 0.0;
  DType dtype = DType::f32;
};

// ---- products -------------------------------------------------------------------------------

struct DotParams {
  bool transpose_a = false;
  bool transpose_b = false;
};

// ---- constants and shapes -------------------------------------------------------------------

// _arange: out[i] = start + (i / repeat) * step, computed in the output dtype.
struct ArangeParams {
  double start = 0;
  double stop = 0;
  double step = 1;
  int64_t repeat = 1;
  DType dtype = DType::f32;
};

// _contrib_arange_like: the same sequence, shaped like the data (or its axis).
struct ArangeLikeParams {
  double start = 0;
  double step = 1;
  int64_t repeat = 1;
  std::optional<int64_t> axis;
};

// _zeros, _ones, _full.
struct FillParams {
  std::vector<int64_t> shape;
  DType dtype = DType::f32;
  double value = 0;
};

}  // namespace tandem::ops
