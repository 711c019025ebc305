// oneDNN FullyConnected: y = x W^T + b as inner_product_forward on a 2-D view of the data
// ((N, rest) when flattening, (leading dims, last) otherwise). The weights are reordered once, at
// kernel creation, into the layout the implementation prefers.
#include <memory>

#include "lib/dnnl/common.hpp"
#include "lib/dnnl/kernels.hpp"
#include "lib/ops/params.hpp"

namespace tandem::dnnl_backend {

std::unique_ptr<Kernel> MakeFullyConnected(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::FullyConnectedParams>(spec.params);
  const size_t num_inputs = p.no_bias ? 2 : 3;
  if (!IsPlainF32(spec, num_inputs) || spec.outputs.size() != 1) return nullptr;
  const Shape& data = spec.inputs[0].shape;
  const Shape& weight = spec.inputs[1].shape;
  if (weight.ndim() != 2) return nullptr;
  const int64_t hidden = weight[0], features = weight[1];
  const int split = p.flatten ? 1 : data.ndim() - 1;
  if (split < 1) return nullptr;  // a 1-D input without flatten: not a batch of rows
  const int64_t batch = data.Prod(0, split);
  if (data.Prod(split, data.ndim()) != features || spec.outputs[0].shape.Size() != batch * hidden)
    return nullptr;
  const NDArray* weight_values = ConstantF32(spec, 1);
  const NDArray* bias_values = p.no_bias ? nullptr : ConstantF32(spec, 2);
  if (!weight_values || (!p.no_bias && !bias_values)) return nullptr;

  return CreateOrFallback(spec.node, [&]() -> std::unique_ptr<Kernel> {
    const dnnl::memory::desc src = PlainDesc({batch, features});
    const dnnl::memory::desc dst = PlainDesc({batch, hidden});
    const dnnl::memory::desc weights = AnyDesc({hidden, features});
    const dnnl::memory::desc bias = p.no_bias ? dnnl::memory::desc() : PlainDesc({hidden});
    const auto kind = dnnl::prop_kind::forward_inference;
    auto desc = p.no_bias ? dnnl::inner_product_forward::desc(kind, src, weights, dst)
                          : dnnl::inner_product_forward::desc(kind, src, weights, bias, dst);
    dnnl::inner_product_forward::primitive_desc pd(desc, UserScratchpadAttr(), CpuEngine());

    auto kernel = std::make_unique<PrimitiveKernel>(spec.node);
    auto packed = kernel->Own(
        SharedReorder(*weight_values, PlainDesc({hidden, features}), pd.weights_desc()));
    std::vector<PrimitiveKernel::Binding> args = {
        {DNNL_ARG_SRC, PrimitiveKernel::Input(0), src},
        {DNNL_ARG_WEIGHTS, packed, pd.weights_desc()},
        {DNNL_ARG_DST, PrimitiveKernel::Output(0), dst}};
    if (!p.no_bias) {
      auto bias_copy = kernel->Own(CopyToBuffer(bias_values->data<float>(), hidden));
      args.push_back({DNNL_ARG_BIAS, bias_copy, bias});
    }
    kernel->AddStep(dnnl::inner_product_forward(pd), pd.scratchpad_desc(), std::move(args));
    return kernel;
  });
}

}  // namespace tandem::dnnl_backend
