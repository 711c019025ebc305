// oneDNN Transpose: one reorder, from the input read through permuted strides into the plain
// output. The layout pass inserts a transpose at each border of a channels-last run (the model's
// NCHW input into NHWC, and back), and the reference kernel's element-by-element index walk cost
// ~5 % of an EfficientNet-Lite0 call on one thread.
#include <memory>
#include <vector>

#include "lib/dnnl/common.hpp"
#include "lib/dnnl/kernels.hpp"
#include "lib/ops/params.hpp"

namespace tandem::dnnl_backend {

std::unique_ptr<Kernel> MakeTranspose(const KernelSpec& spec) {
  if (!IsPlainF32(spec, 1) || spec.outputs.size() != 1) return nullptr;
  const Shape& in = spec.inputs[0].shape;
  const int rank = in.ndim();
  constexpr int kMaxRank = 6;
  if (rank < 1 || rank > kMaxRank || in.Size() == 0) return nullptr;
  // Output axis i is input axis axes[i] (empty: reversed). Anything odd (repeats, out of range)
  // is left to the reference kernel, which names the problem.
  const auto& p = ParamsAs<ops::TransposeParams>(spec.params);
  std::vector<int> axes(rank);
  for (int i = 0; i < rank; ++i) axes[i] = rank - 1 - i;
  if (!p.axes.empty()) {
    if (static_cast<int>(p.axes.size()) != rank) return nullptr;
    std::vector<bool> seen(rank, false);
    for (int i = 0; i < rank; ++i) {
      const int64_t a = p.axes[i] < 0 ? p.axes[i] + rank : p.axes[i];
      if (a < 0 || a >= rank || seen[a]) return nullptr;
      seen[a] = true;
      axes[i] = static_cast<int>(a);
    }
  }
  dnnl::memory::dims dims(rank), strides(rank), in_strides(rank);
  int64_t stride = 1;
  for (int i = rank - 1; i >= 0; --i) {
    in_strides[i] = stride;
    stride *= in[i];
  }
  for (int i = 0; i < rank; ++i) {
    dims[i] = in[axes[i]];
    strides[i] = in_strides[axes[i]];
  }
  if (Shape(std::vector<int64_t>(dims.begin(), dims.end())) != spec.outputs[0].shape)
    return nullptr;
  return CreateOrFallback(spec.node, [&]() -> std::unique_ptr<Kernel> {
    const dnnl::memory::desc from(dims, dnnl::memory::data_type::f32, strides);
    const dnnl::memory::desc to = PlainDesc(dims);
    auto kernel = std::make_unique<PrimitiveKernel>(spec.node);
    kernel->AddReorderStep(PrimitiveKernel::Input(0), from, PrimitiveKernel::Output(0), to);
    return kernel;
  });
}

}  // namespace tandem::dnnl_backend
