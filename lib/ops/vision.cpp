// Operator family: Deconvolution, UpSampling, _contrib_BilinearResize2D, _contrib_AdaptiveAvgPooling2D,
// with MXNet 1.9.1's attributes, defaults and shape rules (quirks included, see each schema).
#include <algorithm>
#include <cmath>

#include "lib/ops/builtin_table.hpp"
#include "lib/ops/schema_util.hpp"
#include "lib/ops/vision_params.hpp"
#include "lib/ref/vision.hpp"
#if TANDEM_HAVE_DNNL
#include "lib/dnnl/vision.hpp"
#endif
#if TANDEM_HAVE_CUDA
#include "lib/cuda/kernels.hpp"
#endif

namespace tandem::ops {
namespace {

// ---------------------------------------------------------------------------------------------
// Deconvolution

std::any ParseDeconvolution(const AttrReader& r) {
  DeconvParams p;
  p.kernel = ParseKernel(r);
  const size_t rank = p.kernel.size();
  p.stride = SpatialTuple(r, "stride", rank, 1, 1, /*repeat_single=*/false);
  p.dilate = SpatialTuple(r, "dilate", rank, 1, 1, /*repeat_single=*/false);
  p.pad = SpatialTuple(r, "pad", rank, 0, 0, /*repeat_single=*/false);
  p.adj = SpatialTuple(r, "adj", rank, 0, 0, /*repeat_single=*/false);
  if (rank == 3)
    for (int64_t d : p.dilate)
      if (d != 1) r.Fail("dilate", "dilation is not supported in 3-D deconvolution (as in MXNet)");
  // target_shape: unset when empty or all zero; otherwise it replaces pad and adj.
  std::vector<int64_t> target = r.Tuple("target_shape");
  bool any_target = false;
  for (int64_t t : target) any_target = any_target || t != 0;
  if (any_target) {
    if (target.size() != rank)
      r.Fail("target_shape", "must have " + std::to_string(rank) + " values, like the kernel");
    for (int64_t t : target)
      if (t <= 0 || t > INT64_MAX / 2) r.Fail("target_shape", "values must be positive");
    p.target_shape = target;
  } else {
    for (size_t i = 0; i < rank; ++i)
      if (p.adj[i] >= p.stride[i]) r.Fail("adj", "must be smaller than the stride");
  }
  const FilterGroups g = ParseFilterGroups(r);
  p.num_filter = g.num_filter;
  p.num_group = g.num_group;
  p.no_bias = r.Bool("no_bias", true);
  // MXNet's Deconvolution knows no NWC; workspace, cudnn_tune and cudnn_off only steer MXNet.
  if (r.Str("layout", "") == "NWC") r.Fail("layout", "expected one of: NCW, NCHW, NCDHW, NHWC, NDHWC");
  p.channels_last = ParseChannelsLast(r, rank);
  return p;
}

void InferDeconvolution(ShapeInferenceArgs& a) {
  const auto& p = ParamsAs<DeconvParams>(a.params);
  const Shape& data = a.in.at(0);
  if (!data.known()) return;
  const int rank = static_cast<int>(p.kernel.size());
  const int64_t channels =
      WindowDataChannels(a.node, data, rank, p.channels_last, p.num_group, "deconvolution");
  std::vector<int64_t> out_spatial;
  for (int i = 0; i < rank; ++i) {
    const int64_t x = data[SpatialAxis(p.channels_last, i)];
    // stride, kernel and dilate are below 2^31 but x may be near 2^63: 128 bits.
    const __int128 full = static_cast<__int128>(p.stride[i]) * (static_cast<__int128>(x) - 1) + 1 +
                          static_cast<__int128>(p.kernel[i] - 1) * p.dilate[i];
    if (full > INT64_MAX / 2)
      FailShape(a.node, "the output of data ", data.ToString(), " has more than 2^62 positions");
    if (!p.target_shape.empty() && p.target_shape[i] > full)
      FailShape(a.node, "target_shape ", p.target_shape[i], " is larger than the largest output ",
                static_cast<int64_t>(full), " of data ", data.ToString());
    const DeconvPadding pad = DeconvPaddingFor(p, i, x);
    if (pad.adj >= p.stride[i])
      FailShape(a.node, "target_shape ", p.target_shape[i], " needs adj ", pad.adj,
                ", which must be smaller than the stride ", p.stride[i]);
    const __int128 out = full - 2 * static_cast<__int128>(pad.pad) + pad.adj;
    if (out < 1)
      FailShape(a.node, "data ", data.ToString(), " with pad ", pad.pad,
                " gives an empty deconvolution output");
    out_spatial.push_back(static_cast<int64_t>(out));
  }
  const int64_t filters_per_group = p.num_filter / p.num_group;
  const Shape weight = ChannelOrdered(p.channels_last, channels, filters_per_group, p.kernel);
  AssignShape(a.in, 1, weight, a.node, "weight");
  if (!p.no_bias) AssignShape(a.in, 2, Shape{p.num_filter}, a.node, "bias");
  AssignShape(a.out, 0, ChannelOrdered(p.channels_last, data[0], p.num_filter, out_spatial), a.node,
              "output");
}

OpSchema DeconvolutionSchema() {
  OpSchema s;
  s.name = "Deconvolution";
  s.aliases = {"_npx_deconvolution"};
  s.parse = ParseDeconvolution;
  s.arguments = [](const std::any& params) {
    const auto& p = ParamsAs<DeconvParams>(params);
    std::vector<std::string> names = {"data", "weight"};
    if (!p.no_bias) names.push_back("bias");
    return names;
  };
  s.aux_states = FixedNames({});
  s.outputs = FixedNames({"output"});
  s.infer_shape = InferDeconvolution;
  s.low_precision = true;
  return s;
}

// ---------------------------------------------------------------------------------------------
// UpSampling

std::any ParseUpSampling(const AttrReader& r) {
  UpSamplingParams p;
  p.scale = r.Int("scale");
  if (p.scale < 1 || p.scale > kMaxWindowValue) r.Fail("scale", "must be >= 1 and <= 2147483647");
  if (!r.Has("sample_type")) r.Fail("sample_type", "required attribute is missing");
  p.type = r.Enum("sample_type", "nearest", {"nearest", "bilinear"}) == "nearest"
               ? UpSampleType::kNearest
               : UpSampleType::kBilinear;
  p.sum = r.Enum("multi_input_mode", "concat", {"concat", "sum"}) == "sum";
  p.num_args = r.Int("num_args");
  if (p.num_args < 1) r.Fail("num_args", "must be >= 1");
  if (p.num_args > 65536) r.Fail("num_args", "must be <= 65536");
  p.num_filter = r.Int("num_filter", 0);
  if (p.type == UpSampleType::kBilinear && p.num_filter < 1)
    r.Fail("num_filter", "bilinear upsampling needs num_filter, the number of channels");
  // workspace only steers MXNet.
  return p;
}

void InferUpSampling(ShapeInferenceArgs& a) {
  const auto& p = ParamsAs<UpSamplingParams>(a.params);
  const Shape& first = a.in.at(0);
  if (!first.known()) return;
  if (first.ndim() != 4)
    FailShape(a.node, "UpSampling needs 4-d (N, C, H, W) data, got ", first.ToString());
  const __int128 oh128 = static_cast<__int128>(first[2]) * p.scale;
  const __int128 ow128 = static_cast<__int128>(first[3]) * p.scale;
  if (oh128 > INT64_MAX || ow128 > INT64_MAX || oh128 * ow128 > INT64_MAX)
    FailShape(a.node, "upsampling ", first.ToString(), " by ", p.scale, " overflows");
  const int64_t oh = static_cast<int64_t>(oh128), ow = static_cast<int64_t>(ow128);
  if (p.type == UpSampleType::kBilinear) {
    if (first[1] != p.num_filter)
      FailShape(a.node, "bilinear UpSampling of data ", first.ToString(),
                " needs num_filter equal to its channels, got ", p.num_filter);
    const int64_t k = 2 * p.scale - p.scale % 2;
    AssignShape(a.in, 1, Shape{first[1], 1, k, k}, a.node, "weight");
    AssignShape(a.out, 0, Shape{first[0], first[1], oh, ow}, a.node, "output");
    return;
  }
  int64_t channels = 0;
  for (size_t i = 0; i < a.in.size(); ++i) {
    const Shape& s = a.in[i];
    if (!s.known()) return;
    if (s.ndim() != 4)
      FailShape(a.node, "UpSampling input ", i, " must be 4-d (N, C, H, W), got ", s.ToString());
    if (s[0] != first[0])
      FailShape(a.node, "UpSampling input ", i, " ", s.ToString(), " has another batch size than ",
                first.ToString());
    if (s[2] < 1 || s[3] < 1 || oh % s[2] != 0 || ow % s[3] != 0 || oh / s[2] != ow / s[3])
      FailShape(a.node, "UpSampling input ", i, " ", s.ToString(),
                " does not scale by one integer factor to the output's ", oh, "x", ow);
    if (p.sum) {
      if (i > 0 && s[1] != channels)
        FailShape(a.node, "UpSampling with multi_input_mode=sum needs inputs of equal channels, "
                  "input ", i, " is ", s.ToString());
      channels = s[1];
    } else {
      channels += s[1];
    }
  }
  AssignShape(a.out, 0, Shape{first[0], channels, oh, ow}, a.node, "output");
}

OpSchema UpSamplingSchema() {
  OpSchema s;
  s.name = "UpSampling";
  s.parse = ParseUpSampling;
  s.arguments = [](const std::any& params) {
    const auto& p = ParamsAs<UpSamplingParams>(params);
    if (p.type == UpSampleType::kBilinear) return std::vector<std::string>{"data", "weight"};
    return NumberedNames("arg", p.num_args);
  };
  s.aux_states = FixedNames({});
  s.outputs = FixedNames({"output"});
  s.infer_shape = InferUpSampling;
  return s;
}

// ---------------------------------------------------------------------------------------------
// _contrib_BilinearResize2D

std::any ParseBilinearResize(const AttrReader& r) {
  BilinearResizeParams p;
  p.height = r.Int("height", 1);
  if (p.height < 1) r.Fail("height", "must be >= 1");
  p.width = r.Int("width", 1);
  if (p.width < 1) r.Fail("width", "must be >= 1");
  p.has_scale_height = !IsUnset(r, "scale_height");
  if (p.has_scale_height) p.scale_height = static_cast<float>(r.Float("scale_height", 0));
  p.has_scale_width = !IsUnset(r, "scale_width");
  if (p.has_scale_width) p.scale_width = static_cast<float>(r.Float("scale_width", 0));
  static const std::vector<std::string> kModes = {"size",        "odd_scale",  "like",
                                                  "to_even_down", "to_even_up", "to_odd_down",
                                                  "to_odd_up"};
  const std::string mode = r.Enum("mode", "size", kModes);
  p.mode = static_cast<ResizeMode>(std::find(kModes.begin(), kModes.end(), mode) - kModes.begin());
  p.align_corners = r.Bool("align_corners", true);
  // MXNet reads scale_width whenever scale_height is set in mode "size" (and both in
  // "odd_scale"): without it, it fails ("bad optional access").
  if ((p.mode == ResizeMode::kSize && p.has_scale_height && !p.has_scale_width) ||
      (p.mode == ResizeMode::kOddScale && !p.has_scale_width))
    r.Fail("scale_width", "required with scale_height / mode odd_scale");
  if (p.mode == ResizeMode::kOddScale && !p.has_scale_height)
    r.Fail("scale_height", "required with mode odd_scale");
  return p;
}

// MXNet computes the new extents in float32 and stores them in int16; larger or negative values
// (which MXNet wraps) are refused.
int64_t ResizeExtent(float value, const std::string& node, const Shape& data) {
  if (!(value > -1.0f) || value >= 32768.0f)
    FailShape(node, "resizing ", data.ToString(), " gives an extent (", value,
              ") outside 0 to 32767");
  return static_cast<int64_t>(value);  // truncation toward 0, as MXNet's casts
}

void InferBilinearResize(ShapeInferenceArgs& a) {
  const auto& p = ParamsAs<BilinearResizeParams>(a.params);
  const Shape& data = a.in.at(0);
  if (!data.known()) return;
  if (data.ndim() != 4)
    FailShape(a.node, "BilinearResize2D needs 4-d (N, C, H, W) data, got ", data.ToString());
  const int64_t h = data[2], w = data[3];
  const auto f = [](int64_t v) { return static_cast<float>(v); };
  int64_t oh = 0, ow = 0;
  switch (p.mode) {
    case ResizeMode::kSize:
      oh = p.has_scale_height ? ResizeExtent(p.scale_height * f(h), a.node, data) : p.height;
      ow = p.has_scale_height ? ResizeExtent(p.scale_width * f(w), a.node, data) : p.width;
      break;
    case ResizeMode::kOddScale:
      oh = h % 2 == 0 ? ResizeExtent(f(h) * p.scale_height, a.node, data)
                      : ResizeExtent(f(h - 1) * p.scale_height, a.node, data) + 1;
      ow = w % 2 == 0 ? ResizeExtent(f(w) * p.scale_width, a.node, data)
                      : ResizeExtent(f(w - 1) * p.scale_width, a.node, data) + 1;
      break;
    case ResizeMode::kLike: {
      const Shape& like = a.in.at(1);
      if (!like.known()) return;
      if (like.ndim() < 4)
        FailShape(a.node, "BilinearResize2D's like input must have 4 dims, got ", like.ToString());
      oh = like[2];
      ow = like[3];
      break;
    }
    case ResizeMode::kToEvenDown:
      oh = h % 2 == 0 ? h : h - 1;
      ow = w % 2 == 0 ? w : w - 1;
      break;
    case ResizeMode::kToEvenUp:
      oh = h % 2 == 0 ? h : h + 1;
      ow = w % 2 == 0 ? w : w + 1;
      break;
    case ResizeMode::kToOddDown:
      oh = h % 2 == 1 ? h : h - 1;
      ow = w % 2 == 1 ? w : w - 1;
      break;
    case ResizeMode::kToOddUp:
      oh = h % 2 == 1 ? h : h + 1;
      ow = w % 2 == 1 ? w : w + 1;
      break;
  }
  if (oh < 0 || ow < 0 || oh > 32767 || ow > 32767)
    FailShape(a.node, "resizing ", data.ToString(), " to ", oh, "x", ow,
              " leaves MXNet's range 0 to 32767");
  if ((h == 0 || w == 0) && oh * ow != 0)
    FailShape(a.node, "cannot resize the empty image ", data.ToString(), " to ", oh, "x", ow);
  AssignShape(a.out, 0, Shape{data[0], data[1], oh, ow}, a.node, "output");
}

OpSchema BilinearResize2DSchema() {
  OpSchema s;
  s.name = "_contrib_BilinearResize2D";
  s.parse = ParseBilinearResize;
  s.arguments = [](const std::any& params) {
    const auto& p = ParamsAs<BilinearResizeParams>(params);
    if (p.mode == ResizeMode::kLike) return std::vector<std::string>{"data", "like"};
    return std::vector<std::string>{"data"};
  };
  s.aux_states = FixedNames({});
  s.outputs = FixedNames({"output"});
  s.infer_shape = InferBilinearResize;
  return s;
}

// ---------------------------------------------------------------------------------------------
// _contrib_AdaptiveAvgPooling2D

std::any ParseAdaptiveAvgPool(const AttrReader& r) {
  AdaptiveAvgPoolParams p;
  const std::vector<int64_t> size = r.Tuple("output_size");  // "None" and "()": empty
  // MXNet: no value or more than two give 1x1; one value is square.
  if (size.size() == 1) p.height = p.width = size[0];
  if (size.size() == 2) {
    p.height = size[0];
    p.width = size[1];
  }
  if (p.height < 1 || p.width < 1 || p.height > kMaxWindowValue || p.width > kMaxWindowValue)
    r.Fail("output_size", "values must be positive and <= 2147483647");
  return p;
}

void InferAdaptiveAvgPool(ShapeInferenceArgs& a) {
  const auto& p = ParamsAs<AdaptiveAvgPoolParams>(a.params);
  const Shape& data = a.in.at(0);
  if (!data.known()) return;
  if (data.ndim() != 4)
    FailShape(a.node, "AdaptiveAvgPooling2D needs 4-d (N, C, H, W) data, got ", data.ToString());
  AssignShape(a.out, 0, Shape{data[0], data[1], p.height, p.width}, a.node, "output");
}

OpSchema AdaptiveAvgPooling2DSchema() {
  OpSchema s = UnaryIdentitySchema("_contrib_AdaptiveAvgPooling2D");
  s.parse = ParseAdaptiveAvgPool;
  s.infer_shape = InferAdaptiveAvgPool;
  return s;
}

}  // namespace
}  // namespace tandem::ops

namespace tandem::detail {

// clang-format off
std::vector<BuiltinOp> VisionOps() {
  return {
  {ops::DeconvolutionSchema,        ref::MakeDeconvolution,        DNNL_KERNEL(MakeDeconvolution), nullptr, CUDNN_KERNEL(MakeCudnnDeconvolution)},
  {ops::UpSamplingSchema,           ref::MakeUpSampling,           DNNL_KERNEL(MakeUpSampling),    nullptr, nullptr},
  {ops::BilinearResize2DSchema,     ref::MakeBilinearResize2D,     nullptr,                        nullptr, nullptr},
  {ops::AdaptiveAvgPooling2DSchema, ref::MakeAdaptiveAvgPooling2D, nullptr,                        nullptr, nullptr},
  };
}
// clang-format on

}  // namespace tandem::detail
