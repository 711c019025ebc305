// oneDNN Convolution: 1-D/2-D/3-D, groups, stride, dilation, symmetric padding, optional bias,
// and, when the graph rewrite asked for them, a fused ReLU or clip (an eltwise post-op) and a
// fused residual add (channels-last: a sum post-op into the residual's memory; plain layout: a
// second, in-place binary step, which then takes the activation as its post-op).
// Source and destination stay in the graph's layout, plain NC(D)HW or, with channels_last,
// N(D)HWC; the weights (OI(D)HW or O(D)HWI) are reordered once per model (shared by the plans of
// every input shape), into whatever layout the chosen implementation prefers.
#include <algorithm>
#include <memory>
#include <optional>
#include <string>

#include "lib/dnnl/common.hpp"
#include "lib/dnnl/kernels.hpp"
#include "lib/core/plan_cache.hpp"
#include "lib/exec/planning.hpp"
#include "lib/ops/params.hpp"

namespace tandem::dnnl_backend {
namespace {

// oneDNN counts dilation from 0 (MXNet's dilate 1 is oneDNN's 0).
bool ConvGeometry(const ops::ConvParams& p, size_t rank, dnnl::memory::dims* strides,
                  dnnl::memory::dims* dilates, dnnl::memory::dims* pads, dnnl::memory::dims* pads_end) {
  if (p.kernel.size() != rank || p.stride.size() != rank || p.pad.size() != rank ||
      p.pad_end.size() != rank || p.dilate.size() != rank)
    return false;
  for (size_t i = 0; i < rank; ++i) {
    if (p.stride[i] < 1 || p.dilate[i] < 1 || p.pad[i] < 0 || p.pad_end[i] < 0) return false;
    strides->push_back(p.stride[i]);
    dilates->push_back(p.dilate[i] - 1);
    pads->push_back(p.pad[i]);
    pads_end->push_back(p.pad_end[i]);
  }
  return true;
}

// (F, C/g, k...) as oneDNN wants it: (g, F/g, C/g, k...) when grouped (same bytes).
dnnl::memory::dims WeightDims(const Shape& weight, int64_t groups) {
  dnnl::memory::dims dims = weight.dims();
  if (groups == 1) return dims;
  dims[0] /= groups;
  dims.insert(dims.begin(), groups);
  return dims;
}

// The fused activation (ReLU, or clip on the CPU) as an eltwise post-op; none when not fused.
void AppendActivation(const ops::ConvParams& p, dnnl::post_ops& ops) {
  if (p.fused_relu) ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
  if (p.fused_clip) ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_clip, p.clip_min, p.clip_max);
}

// Post-ops: [sum, when dst holds the residual as the convolution starts], then the activation.
dnnl::primitive_attr WithPostOps(const ops::ConvParams& p, bool sum, bool activation) {
  dnnl::primitive_attr attr = UserScratchpadAttr();
  dnnl::post_ops ops;
  if (sum) ops.append_sum(1.0f);
  if (activation) AppendActivation(p, ops);
  if (ops.len() > 0) attr.set_post_ops(ops);
  return attr;
}

// The fused residual add as a second step, dst = act(dst + residual), in place: a jit binary
// primitive with the activation as its post-op. Not a post-op of the convolution: oneDNN 2.6 runs
// plain-layout convolutions as gemm:jit, where a binary_add post-op made resnet18-v1's residual
// layers 3 to 6 times slower and a sum post-op (on a copy of the residual) 25 % slower than the
// convolution plus this step (DNNL_VERBOSE, batch 1, one thread).
void AddResidualStep(PrimitiveKernel& kernel, const dnnl::memory::desc& dst,
                     const ops::ConvParams& p) {
  dnnl::binary::desc desc(dnnl::algorithm::binary_add, dst, dst, dst);
  dnnl::binary::primitive_desc pd(desc, WithPostOps(p, false, true), CpuEngine());
  kernel.AddStep(dnnl::binary(pd), pd.scratchpad_desc(),
                 {{DNNL_ARG_SRC_0, PrimitiveKernel::Output(0), dst},
                  {DNNL_ARG_SRC_1, PrimitiveKernel::Input(p.residual_input()), dst},
                  {DNNL_ARG_DST, PrimitiveKernel::Output(0), dst}});
}

// oneDNN's 16-channel blocked layout (nChw16c) of logical dims (N, C, H, W); C is padded up to
// whole blocks (get_size() counts the padding).
dnnl::memory::desc Blocked16Desc(const Shape& data) {
  return dnnl::memory::desc(ToDims(data), dnnl::memory::data_type::f32, dnnl::memory::format_tag::nChw16c);
}

// Output pixels from which a Winograd F(2x2, 3x3) layer beats the direct one inside a plan, the
// copies to and from its blocked layout included: ResNet-50's 56x56, 28x28 and 14x14 layers
// (one thread, batch 1, whole model: 18.5-19.2 img/s from 28x28 up, 19.2-19.4 from 14x14 up);
// at 7x7 the gain alone is 3-7 % and the transformed weights (16/9 the size, cold at batch 1)
// take it back. One threshold for every batch size, so each weight is kept in one form.
constexpr int64_t kWinogradMinPixels = 14 * 14;

// The small-tile Winograd form of a 3x3, stride-1, pad-1, ungrouped 2-D convolution
// (CachedOpFlags::winograd; channels-last plans) for one sample, in oneDNN's blocked layout, or
// nothing: not such a layer, too small to gain, or oneDNN offers only another kernel for it.
// oneDNN has F(2x2, 3x3) at batch 1 only (its F(4x4, 3x3) kernel, about 10x the direct error, is
// never taken), so a batch runs it sample by sample: at batch 16 that is still 1.6-1.9x faster
// than the direct kernel on ResNet-50's 56x56 and 28x28 layers (docs/performance.md).
std::optional<dnnl::convolution_forward::primitive_desc> SmallTileWinograd(
    const KernelSpec& spec, const ops::ConvParams& p, Shape data, Shape output,
    const dnnl::primitive_attr& attr) {
  const auto all = [](const std::vector<int64_t>& v, int64_t x) {
    return std::all_of(v.begin(), v.end(), [x](int64_t e) { return e == x; });
  };
  if (!spec.winograd || !p.channels_last || data.ndim() != 4 || p.num_group != 1 || !all(p.kernel, 3) ||
      !all(p.stride, 1) || !all(p.dilate, 1) || !all(p.pad, 1) || !all(p.pad_end, 1) ||
      output[2] * output[3] < kWinogradMinPixels)
    return std::nullopt;
  data[0] = output[0] = 1;
  const dnnl::memory::desc weights = AnyDesc({output[1], data[1], 3, 3});
  const dnnl::memory::desc bias = p.no_bias ? dnnl::memory::desc() : PlainDesc({output[1]});
  try {
    dnnl::convolution_forward::primitive_desc pd(
        dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference,
                                        dnnl::algorithm::convolution_winograd, Blocked16Desc(data), weights,
                                        bias, Blocked16Desc(output), {1, 1}, {0, 0}, {1, 1}, {1, 1}),
        attr, CpuEngine());
    if (std::string(pd.impl_info_str()).find("wino_2x3") == std::string::npos) return std::nullopt;
    return pd;
  } catch (const dnnl::error&) {
    return std::nullopt;  // no Winograd kernel for this shape, attribute or machine
  }
}

}  // namespace

std::unique_ptr<Kernel> MakeConvolution(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::ConvParams>(spec.params);
  if (!IsPlainF32(spec, p.num_inputs()) || spec.outputs.size() != 1) return nullptr;
  if (p.fused_sum && spec.inputs[p.residual_input()].shape != spec.outputs[0].shape) return nullptr;
  const bool last = p.channels_last;
  // oneDNN's logical dims are channel-first whatever the layout.
  const Shape data = last ? Shape(ChannelsFirstDims(spec.inputs[0].shape)) : spec.inputs[0].shape;
  const Shape weight = last ? Shape(ChannelsFirstDims(spec.inputs[1].shape)) : spec.inputs[1].shape;
  const Shape output = last ? Shape(ChannelsFirstDims(spec.outputs[0].shape)) : spec.outputs[0].shape;
  const int rank = data.ndim() - 2;
  if (rank < 1 || rank > 3 || weight.ndim() != data.ndim()) return nullptr;
  const int64_t groups = p.num_group;
  if (groups < 1 || data[1] % groups != 0 || weight[0] % groups != 0) return nullptr;

  dnnl::memory::dims strides, dilates, pads, pads_end;
  if (!ConvGeometry(p, rank, &strides, &dilates, &pads, &pads_end)) return nullptr;
  WeightAndBias constants;
  if (!ConstantWeightAndBias(spec, p.no_bias, &constants)) return nullptr;

  // The blocked-activation pass (lib/exec/layout.cpp) marks a data input or output nChw16c; the
  // convolution then runs nChw16c to nChw16c (oneDNN 2.6 has no fast kernel for one layout in and
  // another out), and the side that stays NHWC goes through a blocked copy in the call's scratch.
  const bool blocked_in = ops::ConvParams::StoredBlocked(p.blocked_in, spec.inputs[0].shape.dims());
  const bool blocked_out = ops::ConvParams::StoredBlocked(p.blocked_out, spec.outputs[0].shape.dims());
  const bool blocked = blocked_in || blocked_out;
  return CreateOrFallback(spec.node, [&]() -> std::unique_ptr<Kernel> {
    const dnnl::memory::desc src_given = blocked_in ? Blocked16Desc(data) : LayoutDesc(data, last);
    const dnnl::memory::desc dst_given = blocked_out ? Blocked16Desc(output) : LayoutDesc(output, last);
    dnnl::memory::desc src = blocked ? Blocked16Desc(data) : src_given;
    dnnl::memory::desc dst = blocked ? Blocked16Desc(output) : dst_given;
    const dnnl::memory::dims weight_dims = WeightDims(weight, groups);
    const dnnl::memory::desc weights_given =
        last ? ChannelsLastDesc(weight_dims, groups != 1) : PlainDesc(weight_dims);
    const dnnl::memory::desc bias = p.no_bias ? dnnl::memory::desc() : PlainDesc({weight[0]});
    const dnnl::memory::desc weights = AnyDesc(weight_dims);
    const auto kind = dnnl::prop_kind::forward_inference;
    const auto direct = dnnl::algorithm::convolution_direct;
    using Desc = dnnl::convolution_forward::desc;
    auto describe = [&](const dnnl::memory::desc& from, const dnnl::memory::desc& to) {
      return p.no_bias ? Desc(kind, direct, from, weights, to, strides, dilates, pads, pads_end)
                       : Desc(kind, direct, from, weights, bias, to, strides, dilates, pads, pads_end);
    };
    // Channels-last convolutions (brgemm kernels) add the residual as a sum post-op while they
    // store the output, into the residual's own memory where the planner grants it (else the
    // residual is copied into the output first). A binary_add post-op instead pushed the 1x1
    // ones off brgemm onto jit_1x1 kernels, 50 % slower (ResNet-50 v2, DNNL_VERBOSE). Plain-layout
    // ones keep the separate step (see AddResidualStep).
    const bool sum_post_op = p.fused_sum && last;
    // Without the sum post-op, the activation follows the add, in the add's step.
    const dnnl::primitive_attr attr = WithPostOps(p, sum_post_op, sum_post_op || !p.fused_sum);
    dnnl::convolution_forward::primitive_desc pd(describe(src, dst), attr, CpuEngine());
    int64_t samples = 1;  // > 1: a batch-1 Winograd primitive walks the batch
    if (auto winograd = SmallTileWinograd(spec, p, data, output, attr)) {
      // Runs blocked like the pass's chains; a channels-last side goes through a copy.
      pd = *winograd;
      src = Blocked16Desc(data);
      dst = Blocked16Desc(output);
      samples = data[0];
      if (detail::PlanChoiceCounters* counters = detail::PlanningCounters()) ++counters->winograd;
    } else if (blocked && std::string(pd.impl_info_str()).rfind("ref", 0) == 0) {
      // No jit kernel for this shape in the blocked layout (oneDNN's reference one would be
      // hundreds of times slower): the channels-last kernel, through the copies.
      src = LayoutDesc(data, last);
      dst = LayoutDesc(output, last);
      pd = dnnl::convolution_forward::primitive_desc(describe(src, dst), attr, CpuEngine());
    }

    auto kernel = std::make_unique<PrimitiveKernel>(spec.node);
    auto packed =
        kernel->Own(SharedReorder(*constants.weight, weights_given, pd.weights_desc()));
    const bool src_copy = src != src_given, dst_copy = dst != dst_given;
    const PrimitiveKernel::Source conv_src = src_copy ? kernel->Temp(src.get_size()) : PrimitiveKernel::Input(0);
    const PrimitiveKernel::Source conv_dst = dst_copy ? kernel->Temp(dst.get_size()) : PrimitiveKernel::Output(0);
    // One sample's slice of the batch when a Winograd primitive walks it; the whole batch else.
    const size_t src_sample = samples > 1 ? pd.src_desc().get_size() : 0;
    const size_t dst_sample = samples > 1 ? pd.dst_desc().get_size() : 0;
    std::vector<PrimitiveKernel::Binding> args = {
        {DNNL_ARG_SRC, conv_src, pd.src_desc(), src_sample},
        {DNNL_ARG_WEIGHTS, packed, pd.weights_desc()},
        {DNNL_ARG_DST, conv_dst, pd.dst_desc(), dst_sample}};
    if (!p.no_bias) {
      auto bias_copy = kernel->Own(CopyToBuffer(constants.bias->data<float>(), weight[0]));
      args.push_back({DNNL_ARG_BIAS, bias_copy, bias});
    }
    if (src_copy) kernel->AddReorderStep(PrimitiveKernel::Input(0), src_given, conv_src, src);
    // The sum post-op adds what dst holds: the residual (in dst_given's layout), copied there first.
    if (sum_post_op && dst_copy)
      kernel->AddReorderStep(PrimitiveKernel::Input(p.residual_input()), dst_given, conv_dst, dst);
    else if (sum_post_op)
      kernel->CopyInputToOutputFirst(p.residual_input(), dst.get_size());
    kernel->AddPerSampleStep(dnnl::convolution_forward(pd), pd.scratchpad_desc(), std::move(args), samples);
    if (dst_copy) kernel->AddReorderStep(conv_dst, dst, PrimitiveKernel::Output(0), dst_given);
    if (p.fused_sum && !sum_post_op) AddResidualStep(*kernel, dst, p);
    return kernel;
  });
}

}  // namespace tandem::dnnl_backend
