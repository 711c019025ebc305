// oneDNN softmax / log-softmax (softmax, log_softmax, SoftmaxActivation, SoftmaxOutput) via
// softmax_v2 (softmax_accurate / softmax_log). A temperature other than 1 stays with the reference.
// SoftmaxOutput's label input is never touched.
#include <memory>

#include "lib/dnnl/common.hpp"
#include "lib/dnnl/kernels.hpp"
#include "lib/ops/params.hpp"

namespace tandem::dnnl_backend {

std::unique_ptr<Kernel> MakeSoftmax(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::SoftmaxParams>(spec.params);
  if (p.temperature != 1.0 || !IsPlainF32(spec, 1) || spec.outputs.size() != 1) return nullptr;
  const Shape& data = spec.inputs[0].shape;
  if (spec.outputs[0].shape != data) return nullptr;
  dnnl::memory::dims dims = ToDims(data);
  int axis = p.axis < 0 ? p.axis + data.ndim() : p.axis;
  if (p.flatten_to_2d) {
    dims = {data[0], data.Size() / data[0]};
    axis = 1;
  }
  if (axis < 0 || axis >= static_cast<int>(dims.size())) return nullptr;

  return CreateOrFallback(spec.node, [&]() -> std::unique_ptr<Kernel> {
    const dnnl::memory::desc x = PlainDesc(dims);
    dnnl::softmax_v2_forward::desc desc(
        dnnl::prop_kind::forward_inference,
        p.log ? dnnl::algorithm::softmax_log : dnnl::algorithm::softmax_accurate, x, x, axis);
    dnnl::softmax_v2_forward::primitive_desc pd(desc, UserScratchpadAttr(), CpuEngine());
    auto kernel = std::make_unique<PrimitiveKernel>(spec.node);
    kernel->AddStep(dnnl::softmax_v2_forward(pd), pd.scratchpad_desc(),
                    {{DNNL_ARG_SRC, PrimitiveKernel::Input(0), x},
                     {DNNL_ARG_DST, PrimitiveKernel::Output(0), x}});
    return kernel;
  });
}

}  // namespace tandem::dnnl_backend
