// Internal: the channels-last pass (CachedOpFlags::channels_last). It runs after
// RewriteForInference and makes 2-D convolution activations NHWC inside the graph, which is what
// cuDNN's tensor-core kernels prefer; the graph's inputs and outputs keep their NCHW shapes.
//   - Every 2-D Convolution whose weight is a float32 parameter, and every 2-D Pooling, becomes the
//     same node with layout="NHWC"; a Convolution's weight becomes a new OHWI parameter.
//   - NHWC flows on through the ops that do not care about the layout, when every tensor input
//     they take is NHWC: Activation, LeakyReLU (not prelu), the element-wise and scalar ops, clip,
//     Cast to float32, the copies (Dropout, identity, BlockGrad), BatchNorm and Concat (their
//     axis renumbered), a Convolution's fused residual; broadcast ops also with a one-element
//     parameter as the other operand.
//   - A transpose is inserted where an NCHW tensor enters an NHWC node, (0, 2, 3, 1), and where an
//     NHWC tensor leaves for any other reader or a graph output, (0, 3, 1, 2): one per tensor and
//     direction, shared by its readers.
// Only 4-D tensors become NHWC: every chain starts at a 2-D Convolution or Pooling, whose data
// and output are 4-D by definition, and each op above keeps its input's rank.
#pragma once

#include <map>
#include <string>

#include "tandem/ndarray.hpp"
#include "tandem/symbol.hpp"

namespace tandem::detail {

// `params` (keyed by variable name) gains the transposed weights and loses the arrays nothing
// reads any more; the arrays themselves are never written. *converted_nodes: how many nodes now
// run channels-last (not counting the transposes).
Symbol ToChannelsLast(const Symbol& symbol, std::map<std::string, NDArray>& params,
                      int* converted_nodes);

// The CPU blocked-activation pass, after ToChannelsLast on a float32 oneDNN plan: a tensor that
// one channels-last convolution writes and only convolutions read (as their data) is stored in
// oneDNN's nChw16c layout instead of NHWC (kBlockedOutAttr on the writer, kBlockedInAttr on the
// readers). oneDNN 2.6's jit kernels for that layout beat its channels-last brgemm ones on
// depthwise and narrow 1x1 layers, where a call is memory-bound (docs/performance.md); the
// expanded tensors inside MobileNet / EfficientNet blocks are such tensors. Only tensors of a
// multiple of 16 channels, so the bytes and the memory plan stay as they are.
// *blocked_tensors: how many tensors are now blocked.
Symbol ToBlockedConvChains(const Symbol& symbol, const std::map<std::string, NDArray>& params,
                           int* blocked_tensors);

}  // namespace tandem::detail
