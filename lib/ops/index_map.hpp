// Internal: the index map shared by the shape / index operators (lib/ops/index_ops.cpp) and their
// kernels (lib/ref/index_map.cpp, lib/cuda/index_map.cu).
//
// slice, slice_axis, slice_like, SwapAxis, tile, repeat, broadcast_to / _axis / _like, Pad,
// reverse, stack, Crop, depth_to_space and space_to_depth all move elements without arithmetic:
// each output element is one input element (or a pad value). Each is described as one or more
// IndexMaps over "virtual" axes: an output of shape (H*2, W) tiled twice along H is the virtual
// shape (2, H, W) whose first axis reads the input with stride 0. One strided loop per backend
// then serves every operator; an operator only says how its axes map.
#pragma once

#include <cstdint>
#include <vector>

#include "tandem/registry.hpp"

namespace tandem::ops {

enum class PadMode { kConstant, kEdge, kReflect };

// One virtual axis: `extent` output positions; output position o reads input coordinate
// c = o - pad_before along an input axis of `in_extent` elements and stride `in_stride` (0 for a
// broadcast, negative for a reversal). A coordinate outside [0, in_extent) is padding.
struct MapAxis {
  int64_t extent = 1;
  int64_t in_stride = 0;
  int64_t out_stride = 0;
  int64_t pad_before = 0;
  int64_t in_extent = 1;
};

// out[out_offset + sum(o_i * out_stride_i)] = in[input][in_offset + sum(c_i * in_stride_i)].
struct IndexMap {
  int input = 0;
  int64_t in_offset = 0, out_offset = 0;
  std::vector<MapAxis> axes;
  bool padded() const {
    for (const MapAxis& a : axes)
      if (a.pad_before != 0 || a.in_extent != a.extent) return true;
    return false;
  }
  int64_t size() const {
    int64_t n = 1;
    for (const MapAxis& a : axes) n *= a.extent;
    return n;
  }
};

// Everything a kernel needs: the maps (each writes a disjoint part of the output; together they
// cover it) and, for Pad, what padding reads.
struct IndexPlan {
  std::vector<IndexMap> maps;
  PadMode mode = PadMode::kConstant;
  double pad_value = 0;
};

// Where padding coordinate c (outside [0, n)) reads from in edge / reflect mode.
inline int64_t PaddedCoordinate(int64_t c, int64_t n, PadMode mode) {
  if (mode == PadMode::kEdge) return c < 0 ? 0 : n - 1;
  // numpy's "reflect": the edge is not repeated (period 2n - 2).
  if (n == 1) return 0;
  const int64_t period = 2 * n - 2;
  c %= period;
  if (c < 0) c += period;
  return c < n ? c : period - c;
}

// The index plan of an index operator's node (its params, input and output shapes), built by
// the operator's own rule in lib/ops/index_ops.cpp; throws ShapeError naming the node.
IndexPlan BuildIndexPlan(const KernelSpec& spec);

}  // namespace tandem::ops
