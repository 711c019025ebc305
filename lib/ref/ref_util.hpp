// Internal: small helpers shared by the reference kernels (validation, axes, index walking).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "tandem/registry.hpp"

namespace tandem::ref {

// Throws TypeError unless the first `num_inputs` inputs and every output are float32. Inputs past
// `num_inputs` (e.g. SoftmaxOutput's label) are not checked because they are never read.
inline void RequireFloat32(const KernelSpec& spec, size_t num_inputs) {
  for (size_t i = 0; i < num_inputs && i < spec.inputs.size(); ++i) {
    if (spec.inputs[i].dtype != DType::f32) {
      Throw<TypeError>("node '", spec.node, "' (", spec.schema.name, "): input ", i, " has dtype ",
                       DTypeName(spec.inputs[i].dtype), "; the reference kernel needs float32");
    }
  }
  for (size_t i = 0; i < spec.outputs.size(); ++i) {
    if (spec.outputs[i].dtype != DType::f32) {
      Throw<TypeError>("node '", spec.node, "' (", spec.schema.name, "): output ", i,
                       " has dtype ", DTypeName(spec.outputs[i].dtype),
                       "; the reference kernel needs float32");
    }
  }
}

inline void RequireFloat32(const KernelSpec& spec) { RequireFloat32(spec, spec.inputs.size()); }

// The executor should never hand us fewer tensors than the schema declares; a clear error beats
// an out-of-range read if it ever does.
inline void RequireArity(const KernelSpec& spec, size_t min_inputs, size_t min_outputs) {
  if (spec.inputs.size() < min_inputs || spec.outputs.size() < min_outputs) {
    Throw<InternalError>("node '", spec.node, "' (", spec.schema.name, "): kernel got ",
                         spec.inputs.size(), " inputs and ", spec.outputs.size(),
                         " outputs; needs at least ", min_inputs, " and ", min_outputs);
  }
}

// Maps a possibly negative axis into [0, rank); throws ShapeError when out of range.
inline int NormaliseAxis(const KernelSpec& spec, int64_t axis, const Shape& shape) {
  const int rank = shape.ndim();
  const int64_t a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) {
    Throw<ShapeError>("node '", spec.node, "' (", spec.schema.name, "): axis ", axis,
                      " is out of range for shape ", shape.ToString());
  }
  return static_cast<int>(a);
}

// Three spatial extents (D, H, W); kernels of lower rank pad them with leading 1s.
using Dims3 = std::array<int64_t, 3>;

// Element strides of a (count, channels, D, H, W) tensor stored channel-first (NCDHW, and OIDHW
// weights) or channel-last (NDHWC, ODHWI): kernels that index through these do not depend on the
// layout.
struct LayoutStrides {
  int64_t item = 0, channel = 0;
  Dims3 spatial{};
  int64_t At(int64_t d, int64_t h, int64_t w) const {
    return d * spatial[0] + h * spatial[1] + w * spatial[2];
  }
};

inline LayoutStrides StridesOf(int64_t channels, const Dims3& dims, bool channels_last) {
  LayoutStrides s;
  if (channels_last) {
    s.channel = 1;
    s.spatial = {dims[1] * dims[2] * channels, dims[2] * channels, channels};
    s.item = dims[0] * s.spatial[0];
  } else {
    s.spatial = {dims[1] * dims[2], dims[2], 1};
    s.channel = dims[0] * s.spatial[0];
    s.item = channels * s.channel;
  }
  return s;
}

[[noreturn]] inline void ShapeMismatch(const KernelSpec& spec, const std::string& what) {
  Throw<ShapeError>("node '", spec.node, "' (", spec.schema.name, "): ", what);
}

// Row-major element strides of `shape`.
inline std::vector<int64_t> RowMajorStrides(const Shape& shape) {
  std::vector<int64_t> strides(shape.ndim(), 1);
  for (int i = shape.ndim() - 2; i >= 0; --i) strides[i] = strides[i + 1] * shape[i + 1];
  return strides;
}

// Advances a row-major multi-index over `dims` by one; false once every index has been visited.
inline bool NextIndex(std::vector<int64_t>& index, const std::vector<int64_t>& dims) {
  for (int i = static_cast<int>(dims.size()) - 1; i >= 0; --i) {
    if (++index[i] < dims[i]) return true;
    index[i] = 0;
  }
  return false;
}

}  // namespace tandem::ref
