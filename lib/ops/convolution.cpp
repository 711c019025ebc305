// Convolution: N-d (1..3 spatial dims) grouped, dilated convolution, channel-first (NCHW, weight
// OIHW) or, with MXNet's layout NWC / NHWC / NDHWC, channel-last (NHWC, weight OHWI).
#include "lib/ops/schema_util.hpp"
#include "lib/ops/schemas.hpp"

namespace tandem::ops {
namespace {

std::any ParseConvolution(const AttrReader& r) {
  ConvParams p;
  p.kernel = ParseKernel(r);
  const size_t rank = p.kernel.size();
  p.stride = SpatialTuple(r, "stride", rank, 1, 1);
  p.dilate = SpatialTuple(r, "dilate", rank, 1, 1);
  p.pad = SpatialTuple(r, "pad", rank, 0, 0);
  p.pad_end = r.Has(kPadEndAttr) ? SpatialTuple(r, kPadEndAttr, rank, 0, 0) : p.pad;
  const FilterGroups g = ParseFilterGroups(r);
  p.num_filter = g.num_filter;
  p.num_group = g.num_group;
  p.no_bias = r.Bool("no_bias", false);
  const std::string fused = r.Str(kFusedActAttr, "");
  if (!fused.empty() && fused != "relu" && fused != "clip")
    r.Fail(kFusedActAttr, "only 'relu' or 'clip' can be fused");
  p.fused_relu = fused == "relu";
  p.fused_clip = fused == "clip";
  if (p.fused_clip) {
    p.clip_min = static_cast<float>(r.Float(kClipMinAttr, 0.0));
    p.clip_max = static_cast<float>(r.Float(kClipMaxAttr, 0.0));
  }
  const std::string sum = r.Str(kFusedSumAttr, "");
  if (!sum.empty() && sum != "add") r.Fail(kFusedSumAttr, "only 'add' can be fused");
  p.fused_sum = sum == "add";
  // workspace, cudnn_tune and cudnn_off only steer MXNet's algorithm choice.
  p.channels_last = ParseChannelsLast(r, rank);
  p.blocked_in = r.Bool(kBlockedInAttr, false);
  p.blocked_out = r.Bool(kBlockedOutAttr, false);
  if ((p.blocked_in || p.blocked_out) && (!p.channels_last || rank != 2))
    r.Fail(p.blocked_in ? kBlockedInAttr : kBlockedOutAttr, "a blocked layout needs a channels-last 2-D convolution");
  if (p.blocked_out && p.fused_sum) r.Fail(kBlockedOutAttr, "a blocked output cannot take a fused residual");
  return p;
}

void InferConvolution(ShapeInferenceArgs& a) {
  const auto& p = ParamsAs<ConvParams>(a.params);
  const Shape& data = a.in.at(0);
  if (!data.known()) return;
  const int rank = static_cast<int>(p.kernel.size());
  const int64_t channels =
      WindowDataChannels(a.node, data, rank, p.channels_last, p.num_group, "convolution");

  std::vector<int64_t> out_spatial;
  for (int i = 0; i < rank; ++i) {
    const int64_t x = data[SpatialAxis(p.channels_last, i)];
    // Kernel, dilate and pad are at most 2^31 - 1, so extent fits; data dims may be up to 2^63
    // (a zero-sized array), so the padded room is computed in 128 bits.
    const int64_t extent = p.dilate[i] * (p.kernel[i] - 1) + 1;
    const __int128 room = static_cast<__int128>(x) + p.pad[i] + static_cast<__int128>(p.pad_end[i]) - extent;
    if (room < 0)
      FailShape(a.node, "dilated kernel extent ", extent, " exceeds the padded input (data ",
                data.ToString(), ", pad ", p.pad[i], ")");
    if (room / p.stride[i] + 1 > INT64_MAX)
      FailShape(a.node, "the output of data ", data.ToString(), " with pad ", p.pad[i], " has more than 2^63 positions");
    out_spatial.push_back(static_cast<int64_t>(room / p.stride[i] + 1));
  }
  const Shape out = ChannelOrdered(p.channels_last, data[0], p.num_filter, out_spatial);
  const Shape weight = ChannelOrdered(p.channels_last, p.num_filter, channels / p.num_group, p.kernel);
  AssignShape(a.in, 1, weight, a.node, "weight");
  if (!p.no_bias) AssignShape(a.in, 2, Shape{p.num_filter}, a.node, "bias");
  // A fused residual is added element by element: it has the output's shape, never broadcast.
  if (p.fused_sum) AssignShape(a.in, p.residual_input(), out, a.node, "residual");
  // A blocked tensor holds exactly its NHWC bytes only when its channels fill whole blocks.
  if ((p.blocked_in && channels % 16 != 0) || (p.blocked_out && p.num_filter % 16 != 0))
    FailShape(a.node, "a blocked (nChw16c) data or output needs a multiple of 16 channels (data ",
              data.ToString(), ", num_filter ", p.num_filter, ")");
  AssignShape(a.out, 0, out, a.node, "output");
}

}  // namespace

OpSchema ConvolutionSchema() {
  OpSchema s;
  s.name = "Convolution";
  s.parse = ParseConvolution;
  s.arguments = [](const std::any& params) {
    const auto& p = ParamsAs<ConvParams>(params);
    std::vector<std::string> names = {"data", "weight"};
    if (!p.no_bias) names.push_back("bias");
    if (p.fused_sum) names.push_back("residual");  // only in graphs CachedOp rewrote
    return names;
  };
  s.aux_states = FixedNames({});
  s.outputs = FixedNames({"output"});
  s.infer_shape = InferConvolution;
  s.low_precision = true;
  return s;
}

}  // namespace tandem::ops
