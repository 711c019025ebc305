// Internal: typed parameters of the built-in operators, shared by the op schemas (lib/ops), the
// reference kernels (lib/ref), oneDNN kernels (lib/dnnl) and CUDA kernels (lib/cuda).
// Each struct is what OpSchema::parse returns (inside std::any) for that operator.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace tandem::ops {

// Spatial dims are always padded to the kernel's rank (2 for NCHW, 1 for NCW, 3 for NCDHW).
// The hidden attribute through which the graph rewrite (lib/exec/rewrite.cpp) fuses a ReLU into a
// Convolution.
inline constexpr const char* kFusedActAttr = "__tandem_fused_act__";
// ... and through which it fuses a following residual add (value "add"): the Convolution then takes
// the other operand as one more input, after its bias, and adds it before the fused activation.
inline constexpr const char* kFusedSumAttr = "__tandem_fused_sum__";
inline constexpr const char* kClipMinAttr = "__tandem_clip_min__";
inline constexpr const char* kClipMaxAttr = "__tandem_clip_max__";
// Set only by the channels-last pass on operators whose MXNet attributes cannot say "NHWC" (Pad):
// "True" when the node's data is channels-last.
inline constexpr const char* kChannelsLastAttr = "__tandem_channels_last__";
// Set only by the CPU blocked-activation pass (lib/exec/layout.cpp, ToBlockedConvChains) on
// channels-last 2-D Convolutions, value "True": the data input (kBlockedInAttr) or the output
// (kBlockedOutAttr) is stored in oneDNN's 16-channel blocked layout (nChw16c: N, C/16, H, W, 16)
// instead of NHWC. The tensor's shape stays the NHWC one; the pass sets it only where the channel
// count is a multiple of 16, so the bytes are as many.
inline constexpr const char* kBlockedInAttr = "__tandem_blocked_in__";
// Set only by the CPU rewrite that folds a zero Pad into the Convolution reading it (TensorFlow's
// "SAME" padding, EfficientNet): the padding after each spatial dim, when it differs from `pad`
// (which is then the padding before).
inline constexpr const char* kPadEndAttr = "__tandem_pad_end__";
inline constexpr const char* kBlockedOutAttr = "__tandem_blocked_out__";

// channels_last (MXNet's layout NWC / NHWC / NDHWC) moves the channel axis of the data and of the
// output to the end: data (N, spatial..., C), output (N, spatial'..., F); a Convolution's weight
// is then (F, k..., C / num_group) (OHWI). Bias and a fused residual are as before (the residual
// has the output's shape, so its layout). These give the axis of the channels, and of spatial
// dim i (from 0), in a shape of `ndim` dims of either layout (a weight's too).
inline int ChannelAxis(bool channels_last, int ndim) { return channels_last ? ndim - 1 : 1; }
inline int SpatialAxis(bool channels_last, int i) { return channels_last ? 1 + i : 2 + i; }
// Per-axis values (dims, strides) of a channel-last shape (N, spatial..., C), or of an OHWI weight,
// in channel-first order (N, C, spatial...): the last entry moves to position 1. What the
// libraries' channel-first descriptors take, with the memory order said separately.
template <class T>
std::vector<T> ChannelsFirstOrder(std::vector<T> values) {
  if (values.size() >= 3) std::rotate(values.begin() + 1, values.end() - 1, values.end());
  return values;
}

struct ConvParams {
  std::vector<int64_t> kernel, stride, pad, dilate;
  std::vector<int64_t> pad_end;  // after each spatial dim: `pad` unless kPadEndAttr says otherwise
  int64_t num_filter = 0;
  int64_t num_group = 1;
  bool no_bias = false;
  // Set only by CachedOp's graph rewrite (hidden attribute __tandem_fused_act__="relu"): the
  // convolution applies max(0, .) to its output, replacing a following Activation(relu).
  bool fused_relu = false;
  // Set only by the rewrite on the CPU (__tandem_fused_act__="clip", with the bounds in
  // __tandem_clip_min__ / __tandem_clip_max__): min(max(., clip_min), clip_max) on the output,
  // replacing a following clip (ReLU6 of MobileNet / EfficientNet). GPU kernels decline it.
  bool fused_clip = false;
  float clip_min = 0, clip_max = 0;
  // Set only by the rewrite (hidden attribute __tandem_fused_sum__="add"): one more input, the
  // residual, of the output's shape: output = act(conv(data) + bias + residual).
  bool fused_sum = false;
  bool channels_last = false;
  // Set only by the CPU blocked-activation pass (kBlockedInAttr / kBlockedOutAttr above).
  bool blocked_in = false;
  bool blocked_out = false;
  // Whether a tensor the pass marked blocked (blocked_in for the data, blocked_out for the output,
  // of NHWC shape `nhwc`) is stored blocked. The pass marks tensors once per model; below
  // kBlockedMinBatch rows a tensor stays NHWC, because there the copies at a blocked chain's ends
  // cost more than the blocked kernels gain (MobileNet v2, one thread: batch 1 -9 %, 2 and 4
  // even, 8 +9 %, 16 +21 %). The writer and the readers of a tensor see the same shape, so they
  // always agree.
  static constexpr int64_t kBlockedMinBatch = 4;
  static bool StoredBlocked(bool marked, const std::vector<int64_t>& nhwc) {
    return marked && nhwc.size() == 4 && nhwc[0] >= kBlockedMinBatch;
  }
  // What only the CPU kernels implement (the rewrite asks for these on the CPU only): the clip
  // epilogue, blocked layouts, asymmetric padding. GPU kernels decline such a node.
  bool CpuOnly() const { return fused_clip || blocked_in || blocked_out || pad_end != pad; }
  // Inputs in schema order: data, weight, [bias], [residual].
  size_t residual_input() const { return no_bias ? 2 : 3; }
  size_t num_inputs() const { return residual_input() + (fused_sum ? 1 : 0); }
};

struct BatchNormParams {
  double eps = 1e-3;
  bool fix_gamma = true;
  int axis = 1;  // normalised, non-negative once the input rank is known (kernels get it as given)
  // Set only by the rewrite (hidden attribute __tandem_fused_act__="relu"): y = max(bn(x), 0).
  bool fused_relu = false;
  // The per-channel factor of an inference BatchNorm folded into a scale and shift,
  // gamma / sqrt(var + eps) (gamma 1 under fix_gamma), in double: shared by the folding into a
  // convolution's weights and the oneDNN BatchNorm kernel, so both round alike.
  double FoldedScale(double gamma, double var) const { return (fix_gamma ? 1.0 : gamma) / std::sqrt(var + eps); }
};

enum class ActType { kRelu, kSigmoid, kTanh, kSoftrelu, kSoftsign };
struct ActivationParams {
  ActType act = ActType::kRelu;
};

enum class LeakyType { kLeaky, kPrelu, kElu, kSelu, kGelu, kRrelu };
struct LeakyReLUParams {
  LeakyType act = LeakyType::kLeaky;
  double slope = 0.25;  // leaky / elu alpha; rrelu at inference uses (lower+upper)/2
};

enum class PoolType { kMax, kAvg, kSum };
enum class PoolConvention { kValid, kFull, kSame };
struct PoolingParams {
  PoolType pool = PoolType::kMax;
  bool global_pool = false;
  PoolConvention convention = PoolConvention::kValid;
  std::vector<int64_t> kernel, stride, pad;
  bool count_include_pad = true;
  bool channels_last = false;  // data (N, spatial..., C) -> (N, spatial'..., C)
};

struct FullyConnectedParams {
  int64_t num_hidden = 0;
  bool no_bias = false;
  bool flatten = true;
};

// softmax / log_softmax / SoftmaxActivation / SoftmaxOutput all reduce to this.
struct SoftmaxParams {
  int axis = -1;        // channel-mode SoftmaxActivation and SoftmaxOutput: 1
  bool log = false;
  double temperature = 1.0;
  // SoftmaxOutput without multi_output / preserve_shape: softmax over the flattened (N, rest).
  bool flatten_to_2d = false;
};

// Element-wise parameters (UnaryParams, BinaryParams, ScalarParams): lib/ops/elementwise.hpp.

struct ConcatParams {
  int num_args = 1;
  int dim = 1;
};

struct SliceChannelParams {
  int num_outputs = 1;
  int axis = 1;
  bool squeeze_axis = false;
};

struct ReshapeParams {
  std::vector<int64_t> shape;  // with MXNet codes 0, -1, -2, -3, -4
  bool reverse = false;
};

struct TransposeParams {
  std::vector<int64_t> axes;  // empty: reverse
};

struct CastParams {
  int dtype = 0;  // tandem::DType as int
};

struct ClipParams {
  double a_min = 0, a_max = 0;
};

// identity, _copy, Dropout, BlockGrad, Flatten carry no parameters worth a struct.
struct NoParams {};

enum class ReduceKind { kSum, kMean };
struct ReduceParams {
  ReduceKind kind = ReduceKind::kSum;
  std::vector<int64_t> axis;  // empty: all axes
  bool keepdims = false;
  bool exclude = false;
};

}  // namespace tandem::ops
