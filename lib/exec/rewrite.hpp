// Internal: inference rewrites CachedOp applies to a graph before planning it (each can be
// switched off in CachedOpFlags):
//   fold_batch_norm   Convolution -> BatchNorm becomes one Convolution with folded weights and bias
//                     (inference BatchNorm is a per-channel affine map of the moving statistics);
//   fuse_activations  Convolution -> Activation(relu) becomes one Convolution with a ReLU epilogue
//                     (and Convolution -> clip one with a clip epilogue, in CPU plans (`cpu_plan`;
//                     the GPU kernels have no clip epilogue); BatchNorm -> Activation(relu)
//                     one BatchNorm with a ReLU (pre-activation ResNets);
//   fuse_residual_add Convolution -> elemwise_add / broadcast_add (equal shapes) with another tensor
//                     becomes one Convolution that takes that tensor as an extra input and adds it
//                     before its ReLU epilogue (the ResNet shortcut);
//   (always, CPU)     a zero Pad of the spatial axes read only by a 2-D Convolution becomes that
//                     Convolution's (possibly asymmetric) padding (TensorFlow "SAME" models);
//   drop_identity     Dropout, BlockGrad and identity nodes disappear (first, so that they hide no
//                     pattern from the others); their readers read their input.
//   fold_constants    nodes computed from parameters alone are evaluated once (reference kernels,
//                     CPU) and become parameters; second, so that a weight computed by a chain of
//                     nodes is a plain parameter when BatchNorm folding looks for one.
// A rewrite applies only where the result is the same function: the intermediate output has no
// other reader and is not a graph output, and every array folded is a float32 parameter.
// Rewritten nodes keep the Convolution's name (errors still name the node the user wrote).
// The caller's parameters are never modified: folded weights are new arrays, owned by the result.
#pragma once

#include <map>
#include <string>

#include "tandem/cached_op.hpp"
#include "tandem/symbol.hpp"

namespace tandem::detail {

struct RewrittenGraph {
  Symbol symbol;
  std::map<std::string, NDArray> params;  // `params` of the input, plus the folded arrays
  int folded_batch_norms = 0;
  int fused_activations = 0;
  int fused_residual_adds = 0;
  int dropped_identities = 0;
  int folded_constants = 0;
  int fused_pads = 0;
};

// `params` are keyed by variable name (no "arg:" / "aux:" prefix). `cpu_plan`: the plan runs on the
// CPU (clip fusion and Pad folding, which only the CPU kernels implement).
RewrittenGraph RewriteForInference(const Symbol& symbol,
                                   const std::map<std::string, NDArray>& params,
                                   const CachedOpFlags& flags, bool cpu_plan);

}  // namespace tandem::detail
