// oneDNN element-wise activations: Activation (relu, sigmoid, tanh, softrelu), clip and LeakyReLU
// (leaky, rrelu at inference, elu, gelu, prelu). softsign and selu have no oneDNN 2.6 algorithm
// and stay with the reference kernel.
#include <memory>
#include <optional>

#include "lib/dnnl/common.hpp"
#include "lib/dnnl/kernels.hpp"
#include "lib/ops/params.hpp"

namespace tandem::dnnl_backend {
namespace {

struct EltwiseOp {
  dnnl::algorithm algorithm;
  float alpha = 0, beta = 0;
};

std::unique_ptr<Kernel> MakeEltwise(const KernelSpec& spec, EltwiseOp op) {
  if (!IsPlainF32(spec, 1) || spec.outputs.size() != 1 ||
      spec.outputs[0].shape != spec.inputs[0].shape)
    return nullptr;
  return CreateOrFallback(spec.node, [&]() -> std::unique_ptr<Kernel> {
    const dnnl::memory::desc x = PlainDesc(spec.inputs[0].shape);
    dnnl::eltwise_forward::desc desc(dnnl::prop_kind::forward_inference, op.algorithm, x,
                                     op.alpha, op.beta);
    dnnl::eltwise_forward::primitive_desc pd(desc, UserScratchpadAttr(), CpuEngine());
    auto kernel = std::make_unique<PrimitiveKernel>(spec.node);
    kernel->AddStep(dnnl::eltwise_forward(pd), pd.scratchpad_desc(),
                    {{DNNL_ARG_SRC, PrimitiveKernel::Input(0), x},
                     {DNNL_ARG_DST, PrimitiveKernel::Output(0), x}});
    return kernel;
  });
}

// MXNet's gamma is one slope per channel (axis 1) or a single shared slope.
std::unique_ptr<Kernel> MakePrelu(const KernelSpec& spec) {
  if (!IsPlainF32(spec, 2) || spec.outputs.size() != 1) return nullptr;
  const Shape& data = spec.inputs[0].shape;
  const int64_t slopes = spec.inputs[1].shape.Size();
  if (data.ndim() < 2 || spec.outputs[0].shape != data || (slopes != 1 && slopes != data[1]))
    return nullptr;
  return CreateOrFallback(spec.node, [&]() -> std::unique_ptr<Kernel> {
    const dnnl::memory::desc x = PlainDesc(data);
    dnnl::memory::dims slope_dims(data.ndim(), 1);
    slope_dims[1] = slopes;
    const dnnl::memory::desc gamma = PlainDesc(slope_dims);
    dnnl::prelu_forward::desc desc(dnnl::prop_kind::forward_inference, x, gamma);
    dnnl::prelu_forward::primitive_desc pd(desc, UserScratchpadAttr(), CpuEngine());
    auto kernel = std::make_unique<PrimitiveKernel>(spec.node);
    kernel->AddStep(dnnl::prelu_forward(pd), pd.scratchpad_desc(),
                    {{DNNL_ARG_SRC, PrimitiveKernel::Input(0), x},
                     {DNNL_ARG_WEIGHTS, PrimitiveKernel::Input(1), gamma},
                     {DNNL_ARG_DST, PrimitiveKernel::Output(0), x}});
    return kernel;
  });
}

std::optional<EltwiseOp> ActivationOp(ops::ActType act) {
  using dnnl::algorithm;
  switch (act) {
    case ops::ActType::kRelu: return EltwiseOp{algorithm::eltwise_relu};
    case ops::ActType::kSigmoid: return EltwiseOp{algorithm::eltwise_logistic};
    case ops::ActType::kTanh: return EltwiseOp{algorithm::eltwise_tanh};
    case ops::ActType::kSoftrelu: return EltwiseOp{algorithm::eltwise_soft_relu};
    case ops::ActType::kSoftsign: return std::nullopt;
  }
  return std::nullopt;
}

std::optional<EltwiseOp> LeakyOp(const ops::LeakyReLUParams& p) {
  using dnnl::algorithm;
  const auto slope = static_cast<float>(p.slope);
  switch (p.act) {
    // rrelu at inference is a leaky relu with the mean slope (already in p.slope).
    case ops::LeakyType::kLeaky:
    case ops::LeakyType::kRrelu: return EltwiseOp{algorithm::eltwise_relu, slope};
    case ops::LeakyType::kElu: return EltwiseOp{algorithm::eltwise_elu, slope};
    case ops::LeakyType::kGelu: return EltwiseOp{algorithm::eltwise_gelu_erf};
    case ops::LeakyType::kPrelu:
    case ops::LeakyType::kSelu: return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace

std::unique_ptr<Kernel> MakeActivation(const KernelSpec& spec) {
  auto op = ActivationOp(ParamsAs<ops::ActivationParams>(spec.params).act);
  return op ? MakeEltwise(spec, *op) : nullptr;
}

// clip(x, a_min, a_max) (MXNet computes in float32 too: bounds rounded to float).
std::unique_ptr<Kernel> MakeClip(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::ClipParams>(spec.params);
  return MakeEltwise(spec, {dnnl::algorithm::eltwise_clip, static_cast<float>(p.a_min),
                            static_cast<float>(p.a_max)});
}

std::unique_ptr<Kernel> MakeLeakyReLU(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::LeakyReLUParams>(spec.params);
  if (p.act == ops::LeakyType::kPrelu) return MakePrelu(spec);
  auto op = LeakyOp(p);
  return op ? MakeEltwise(spec, *op) : nullptr;
}

}  // namespace tandem::dnnl_backend
