// Internal: parameters of the vision family (lib/ops/vision.cpp): Deconvolution, UpSampling,
// _contrib_BilinearResize2D, _contrib_AdaptiveAvgPooling2D, as MXNet 1.9.1 defines them.
#pragma once

#include <cstdint>
#include <vector>

namespace tandem::ops {

// Deconvolution (transposed convolution), 1-D to 3-D. Data (N, C, spatial...) -> output
// (N, num_filter, spatial'...); weight (C, num_filter / num_group, k...) — note: input channels
// first, unlike Convolution. channels_last (MXNet's layout NHWC / NDHWC, which MXNet runs only on
// GPU): data (N, spatial..., C), output (N, spatial'..., F), weight (C, k..., F / num_group).
struct DeconvParams {
  std::vector<int64_t> kernel, stride, dilate, pad, adj;
  // Empty when unset (absent, "()" or all zero); else one positive value per spatial dim: the
  // output extent, from which the padding and adj are derived (pad and adj are then ignored).
  std::vector<int64_t> target_shape;
  int64_t num_filter = 0;
  int64_t num_group = 1;
  bool no_bias = true;  // MXNet's default for Deconvolution
  bool channels_last = false;
  size_t num_inputs() const { return no_bias ? 2 : 3; }
};

// The padding (both sides) and the extra extent at the end (adj) of spatial dim i for an input
// of extent `in`, as MXNet's DeconvolutionParam::InferPad: from target_shape when it is set, else
// the pad and adj attributes. Output extent: stride * (in - 1) + dilated kernel - 2 pad + adj.
struct DeconvPadding {
  int64_t pad = 0, adj = 0;
};
inline int64_t DeconvFullExtent(const DeconvParams& p, size_t i, int64_t in) {
  return p.stride[i] * (in - 1) + 1 + (p.kernel[i] - 1) * p.dilate[i];
}
inline DeconvPadding DeconvPaddingFor(const DeconvParams& p, size_t i, int64_t in) {
  if (p.target_shape.empty()) return {p.pad[i], p.adj[i]};
  const int64_t excess = DeconvFullExtent(p, i, in) - p.target_shape[i];  // >= 0 (checked)
  return {(excess + 1) / 2, excess % 2};
}

enum class UpSampleType { kNearest, kBilinear };
struct UpSamplingParams {
  int64_t scale = 1;
  int64_t num_filter = 0;  // bilinear: the channels (a depthwise deconvolution)
  UpSampleType type = UpSampleType::kNearest;
  int64_t num_args = 1;  // nearest: the number of inputs; bilinear: 2 (data, weight)
  bool sum = false;      // multi_input_mode: concat (false) or sum
  // The depthwise deconvolution a bilinear UpSampling is (MXNet's GetDeconvolutionParam): kernel
  // 2 scale - scale % 2, stride scale, pad ceil((scale - 1) / 2), num_group = num_filter, no bias.
  DeconvParams AsDeconv() const {
    DeconvParams d;
    const int64_t k = 2 * scale - scale % 2, pad = scale / 2;  // ceil((s - 1) / 2) = floor(s / 2)
    d.kernel = {k, k};
    d.stride = {scale, scale};
    d.dilate = {1, 1};
    d.pad = {pad, pad};
    d.adj = {0, 0};
    d.num_filter = num_filter;
    d.num_group = num_filter;
    d.no_bias = true;
    return d;
  }
};

enum class ResizeMode { kSize, kOddScale, kLike, kToEvenDown, kToEvenUp, kToOddDown, kToOddUp };
struct BilinearResizeParams {
  int64_t height = 1, width = 1;
  bool has_scale_height = false, has_scale_width = false;
  float scale_height = 0, scale_width = 0;  // float32, as MXNet stores them
  ResizeMode mode = ResizeMode::kSize;
  bool align_corners = true;
};

struct AdaptiveAvgPoolParams {
  int64_t height = 1, width = 1;  // the output's spatial extents
};

}  // namespace tandem::ops
