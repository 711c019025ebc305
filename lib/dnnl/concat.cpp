// oneDNN Concat along one dim, plain layouts in and out.
#include <memory>
#include <vector>

#include "lib/dnnl/common.hpp"
#include "lib/dnnl/kernels.hpp"
#include "lib/ops/params.hpp"

namespace tandem::dnnl_backend {

std::unique_ptr<Kernel> MakeConcat(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::ConcatParams>(spec.params);
  if (spec.inputs.empty() || !IsPlainF32(spec, spec.inputs.size()) || spec.outputs.size() != 1)
    return nullptr;
  const Shape& out = spec.outputs[0].shape;
  const int dim = p.dim < 0 ? p.dim + out.ndim() : p.dim;
  if (dim < 0 || dim >= out.ndim()) return nullptr;
  for (const TensorDesc& in : spec.inputs) {
    if (in.shape.ndim() != out.ndim()) return nullptr;
  }

  return CreateOrFallback(spec.node, [&]() -> std::unique_ptr<Kernel> {
    std::vector<dnnl::memory::desc> srcs;
    for (const TensorDesc& in : spec.inputs) srcs.push_back(PlainDesc(in.shape));
    const dnnl::memory::desc dst = PlainDesc(out);
    dnnl::concat::primitive_desc pd(dst, dim, srcs, CpuEngine(), UserScratchpadAttr());
    std::vector<PrimitiveKernel::Binding> args = {{DNNL_ARG_DST, PrimitiveKernel::Output(0), dst}};
    for (size_t i = 0; i < srcs.size(); ++i)
      args.push_back({DNNL_ARG_MULTIPLE_SRC + static_cast<int>(i), PrimitiveKernel::Input(i),
                      srcs[i]});
    auto kernel = std::make_unique<PrimitiveKernel>(spec.node);
    kernel->AddStep(dnnl::concat(pd), pd.scratchpad_desc(), std::move(args));
    return kernel;
  });
}

}  // namespace tandem::dnnl_backend
