// oneDNN Deconvolution (deconvolution_forward): 1-D/2-D/3-D, groups, stride, dilation, padding
// (given, or derived from target_shape), adj, optional bias, channel-first or channel-last; and
// the bilinear UpSampling, which is a depthwise deconvolution. Source and destination stay in the
// graph's layout; MXNet's weight, (C, F / G, k...) or (C, k..., F / G), is described to oneDNN by
// strides and reordered once per model into the layout the chosen implementation prefers.
// adj (extra output positions at the end) is expressed, as MXNet does, through the destination's
// extent alone: both sides keep the symmetric padding.
#include <memory>

#include "lib/dnnl/common.hpp"
#include "lib/dnnl/vision.hpp"
#include "lib/ops/params.hpp"
#include "lib/ops/vision_params.hpp"

namespace tandem::dnnl_backend {
namespace {

// MXNet's weight as oneDNN's logical weights, (F, C, k...) or grouped (G, F / G, C / G, k...),
// described by strides over the given bytes.
dnnl::memory::desc GivenWeights(int64_t channels, int64_t filters, int64_t groups,
                                const std::vector<int64_t>& kernel, bool channels_last) {
  const int64_t cg = channels / groups, fg = filters / groups;
  int64_t taps = 1;
  for (int64_t k : kernel) taps *= k;
  // Element strides of MXNet's dims: input channel, filter within the group, kernel taps.
  const int64_t channel_stride = fg * taps;
  const int64_t filter_stride = channels_last ? 1 : taps;
  const int64_t tap_unit = channels_last ? fg : 1;
  dnnl::memory::dims dims, strides;
  if (groups > 1) {
    dims.push_back(groups);
    strides.push_back(cg * channel_stride);
  }
  dims.push_back(fg);
  strides.push_back(filter_stride);
  dims.push_back(cg);
  strides.push_back(channel_stride);
  std::vector<int64_t> tap_strides(kernel.size(), tap_unit);
  for (int i = static_cast<int>(kernel.size()) - 2; i >= 0; --i)
    tap_strides[i] = tap_strides[i + 1] * kernel[i + 1];
  for (size_t i = 0; i < kernel.size(); ++i) {
    dims.push_back(kernel[i]);
    strides.push_back(tap_strides[i]);
  }
  return dnnl::memory::desc(dims, dnnl::memory::data_type::f32, strides);
}

std::unique_ptr<Kernel> MakeDeconvolutionWith(const KernelSpec& spec, const ops::DeconvParams& p) {
  if (!IsPlainF32(spec, p.num_inputs()) || spec.outputs.size() != 1) return nullptr;
  const bool last = p.channels_last;
  // oneDNN's logical dims are channel-first whatever the layout.
  const Shape data = last ? Shape(ChannelsFirstDims(spec.inputs[0].shape)) : spec.inputs[0].shape;
  const Shape output = last ? Shape(ChannelsFirstDims(spec.outputs[0].shape)) : spec.outputs[0].shape;
  const Shape& weight = spec.inputs[1].shape;
  const size_t rank = p.kernel.size();
  if (rank < 1 || rank > 3 || data.ndim() != static_cast<int>(rank) + 2 ||
      output.ndim() != data.ndim() || weight.ndim() != data.ndim())
    return nullptr;
  if (p.stride.size() != rank || p.dilate.size() != rank || p.pad.size() != rank ||
      p.adj.size() != rank)
    return nullptr;
  const int64_t groups = p.num_group, channels = data[1], filters = p.num_filter;
  if (groups < 1 || channels % groups != 0 || filters % groups != 0 || output[1] != filters ||
      output[0] != data[0])
    return nullptr;
  std::vector<int64_t> expected = {channels};  // MXNet's weight shape
  if (!last) expected.push_back(filters / groups);
  expected.insert(expected.end(), p.kernel.begin(), p.kernel.end());
  if (last) expected.push_back(filters / groups);
  if (weight != Shape(expected)) return nullptr;
  dnnl::memory::dims strides, dilates, pads;
  for (size_t i = 0; i < rank; ++i) {
    const ops::DeconvPadding pad = ops::DeconvPaddingFor(p, i, data[2 + i]);
    // The destination's extent must be the deconvolution's with this padding and adj.
    if (output[2 + i] != ops::DeconvFullExtent(p, i, data[2 + i]) - 2 * pad.pad + pad.adj ||
        pad.adj >= p.stride[i])
      return nullptr;
    strides.push_back(p.stride[i]);
    dilates.push_back(p.dilate[i] - 1);  // oneDNN counts dilation from 0
    pads.push_back(pad.pad);
  }
  WeightAndBias constants;
  if (!ConstantWeightAndBias(spec, p.no_bias, &constants)) return nullptr;

  return CreateOrFallback(spec.node, [&]() -> std::unique_ptr<Kernel> {
    const dnnl::memory::desc src = LayoutDesc(data, last);
    const dnnl::memory::desc dst = LayoutDesc(output, last);
    const dnnl::memory::desc weights_given = GivenWeights(channels, filters, groups, p.kernel, last);
    const dnnl::memory::desc weights = AnyDesc(weights_given.dims());
    const dnnl::memory::desc bias = p.no_bias ? dnnl::memory::desc() : PlainDesc({filters});
    const auto kind = dnnl::prop_kind::forward_inference;
    const auto direct = dnnl::algorithm::deconvolution_direct;
    using Desc = dnnl::deconvolution_forward::desc;
    auto desc = p.no_bias
                    ? Desc(kind, direct, src, weights, dst, strides, dilates, pads, pads)
                    : Desc(kind, direct, src, weights, bias, dst, strides, dilates, pads, pads);
    dnnl::deconvolution_forward::primitive_desc pd(desc, UserScratchpadAttr(), CpuEngine());

    auto kernel = std::make_unique<PrimitiveKernel>(spec.node);
    auto packed = kernel->Own(SharedReorder(*constants.weight, weights_given, pd.weights_desc()));
    std::vector<PrimitiveKernel::Binding> args = {
        {DNNL_ARG_SRC, PrimitiveKernel::Input(0), src},
        {DNNL_ARG_WEIGHTS, packed, pd.weights_desc()},
        {DNNL_ARG_DST, PrimitiveKernel::Output(0), dst}};
    if (!p.no_bias) {
      auto bias_copy = kernel->Own(CopyToBuffer(constants.bias->data<float>(), filters));
      args.push_back({DNNL_ARG_BIAS, bias_copy, bias});
    }
    kernel->AddStep(dnnl::deconvolution_forward(pd), pd.scratchpad_desc(), std::move(args));
    return kernel;
  });
}

}  // namespace

std::unique_ptr<Kernel> MakeDeconvolution(const KernelSpec& spec) {
  return MakeDeconvolutionWith(spec, ParamsAs<ops::DeconvParams>(spec.params));
}

std::unique_ptr<Kernel> MakeUpSampling(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::UpSamplingParams>(spec.params);
  if (p.type != ops::UpSampleType::kBilinear) return nullptr;
  return MakeDeconvolutionWith(spec, p.AsDeconv());
}

}  // namespace tandem::dnnl_backend
