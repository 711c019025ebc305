// oneDNN BatchNorm at inference with the stored (global) statistics, y = gamma * (x - mean) /
// sqrt(var + eps) + beta, MXNet's formula, folded at creation into one scale and one shift per
// channel: y = x * scale + shift, then the fused ReLU if any, as one oneDNN binary multiply with a
// binary-add and an eltwise post-op. Why not oneDNN's batch_normalization primitive: its jit
// kernel ran 1.3-2.8x slower than the binary one on ResNet-50 v2's pre-activation BatchNorms
// (channels-last, batch 1 and 16, one thread; docs/performance.md), which cannot be folded into a
// convolution (a ReLU sits between). The folded form rounds like a BatchNorm folded into a
// convolution's weights (a few ulps from the reference's order). Only the data travels per call.
#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "lib/dnnl/common.hpp"
#include "lib/dnnl/kernels.hpp"
#include "lib/ops/params.hpp"

namespace tandem::dnnl_backend {
namespace {

// Per channel: scale = BatchNormParams::FoldedScale, shift = beta - mean * scale; in double, as
// the BatchNorm folding into convolutions does.
void FoldStatistics(const NDArray* const stats[4], const ops::BatchNormParams& p, std::vector<float>* scale,
                    std::vector<float>* shift) {
  const auto channels = static_cast<size_t>(stats[0]->size());
  const float *gamma = stats[0]->data<float>(), *beta = stats[1]->data<float>();
  const float *mean = stats[2]->data<float>(), *var = stats[3]->data<float>();
  scale->resize(channels);
  shift->resize(channels);
  for (size_t c = 0; c < channels; ++c) {
    const double s = p.FoldedScale(gamma[c], var[c]);
    (*scale)[c] = static_cast<float>(s);
    (*shift)[c] = static_cast<float>(static_cast<double>(beta[c]) - static_cast<double>(mean[c]) * s);
  }
}

}  // namespace
std::unique_ptr<Kernel> MakeBatchNorm(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::BatchNormParams>(spec.params);
  if (!IsPlainF32(spec, 5)) return nullptr;
  const Shape& data = spec.inputs[0].shape;
  const int axis = p.axis < 0 ? p.axis + data.ndim() : p.axis;
  // Channels on axis 1 (NCHW), or last (NWC / NHWC / NDHWC: the channels-last pass's BatchNorm).
  const bool channels_last = data.ndim() >= 3 && axis == data.ndim() - 1;
  if ((axis != 1 && !channels_last) || data.ndim() < 2 || data.ndim() > 5) return nullptr;
  const int64_t channels = data[axis];
  const NDArray* stats[4];
  for (size_t i = 0; i < 4; ++i) {
    stats[i] = ConstantF32(spec, i + 1);
    if (!stats[i] || stats[i]->size() != channels) return nullptr;
  }
  // Extra outputs (MXNet's mean / var outputs) receive the statistics used.
  for (size_t i = 1; i < spec.outputs.size(); ++i) {
    if (i > 2 || spec.outputs[i].shape.Size() != channels) return nullptr;
  }
  if (spec.outputs[0].shape != data) return nullptr;

  return CreateOrFallback(spec.node, [&]() -> std::unique_ptr<Kernel> {
    const dnnl::memory::desc x =
        channels_last ? ChannelsLastDesc(ops::ChannelsFirstOrder(ToDims(data))) : PlainDesc(data);
    // (1, C, 1, ...) in oneDNN's channel-first logical order, broadcast over the rest.
    dnnl::memory::dims per_channel_dims(static_cast<size_t>(data.ndim()), 1);
    per_channel_dims[1] = channels;
    const dnnl::memory::desc per_channel = PlainDesc(per_channel_dims);
    dnnl::post_ops ops;
    ops.append_binary(dnnl::algorithm::binary_add, per_channel);
    if (p.fused_relu) ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
    dnnl::primitive_attr attr = UserScratchpadAttr();
    attr.set_post_ops(ops);
    dnnl::binary::primitive_desc pd(dnnl::binary::desc(dnnl::algorithm::binary_mul, x, per_channel, x), attr,
                                    CpuEngine());

    std::vector<float> scale, shift;
    FoldStatistics(stats, p, &scale, &shift);
    auto kernel = std::make_unique<PrimitiveKernel>(spec.node);
    auto scale_buffer = kernel->Own(CopyToBuffer(scale.data(), scale.size()));
    auto shift_buffer = kernel->Own(CopyToBuffer(shift.data(), shift.size()));
    kernel->AddStep(dnnl::binary(pd), pd.scratchpad_desc(),
                    {{DNNL_ARG_SRC_0, PrimitiveKernel::Input(0), x},
                     {DNNL_ARG_SRC_1, scale_buffer, per_channel},
                     {DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, shift_buffer, per_channel},
                     {DNNL_ARG_DST, PrimitiveKernel::Output(0), x}});
    // Extra outputs (MXNet's mean / var) receive the statistics used: a reorder between identical
    // plain layouts.
    const dnnl::memory::desc vector = PlainDesc({channels});
    for (size_t i = 1; i < spec.outputs.size(); ++i) {
      auto statistic = kernel->Own(CopyToBuffer(stats[i + 1]->data<float>(), channels));
      kernel->AddReorderStep(statistic, vector, PrimitiveKernel::Output(i), vector);
    }
    return kernel;
  });
}

}  // namespace tandem::dnnl_backend
