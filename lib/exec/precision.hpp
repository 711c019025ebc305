// Internal: the reduced-precision pass CachedOp applies for CachedOpFlags::compute_dtype
// (float16 / bfloat16), after the inference rewrites.
//
// Every operator node gets a precision class: "low" (runs in compute_dtype: Convolution,
// FullyConnected, Pooling, activations, element-wise add / sub / mul, scalar ops, Concat, copies
// and reshapes) or "float32" (softmax, BatchNorm, reductions, division, any operator the pass does
// not know, custom ones included). Where a float tensor reaches a node of the other precision, a
// Cast node converts it (one per tensor and target type, shared by all readers). Float parameters
// read only by low nodes are converted once, here, under the same name (so Symbol::ListInputs and
// index-based roles do not change); other parameters stay as they are and get a Cast node. Graph
// outputs computed in low precision are cast back, so a model's outputs stay float32.
#pragma once

#include <map>
#include <string>

#include "tandem/ndarray.hpp"
#include "tandem/symbol.hpp"

namespace tandem::detail {

struct LoweredGraph {
  Symbol symbol;
  std::map<std::string, NDArray> params;  // the input's, with converted arrays where read low
  int inserted_casts = 0;
};

// `low` must be DType::f16 or DType::bf16. `params` are keyed by variable name.
LoweredGraph LowerPrecision(const Symbol& symbol, const std::map<std::string, NDArray>& params,
                            DType low);

// True for the float types a plan can compute in (float32, float16, bfloat16).
bool IsComputeDType(DType t);

}  // namespace tandem::detail
