// oneDNN binary: elemwise_* and broadcast_* add / sub / mul / div / max / min.
// oneDNN broadcasts only its second source (dims of 1), so the first input must already have the
// output's shape; for commutative ops the inputs are swapped when only the first one broadcasts.
// Anything else (both broadcast) stays with the reference kernel.
#include <memory>
#include <optional>
#include <utility>

#include "lib/dnnl/common.hpp"
#include "lib/dnnl/kernels.hpp"
#include "lib/ops/elementwise.hpp"

namespace tandem::dnnl_backend {
namespace {

// oneDNN's binary algorithm for `kind`; nullopt for the functions it lacks (the reference
// kernel of the element-wise family then takes the node).
std::optional<dnnl::algorithm> Algorithm(ops::BinaryKind kind) {
  switch (kind) {
    case ops::BinaryKind::kAdd: return dnnl::algorithm::binary_add;
    case ops::BinaryKind::kSub: return dnnl::algorithm::binary_sub;
    case ops::BinaryKind::kMul: return dnnl::algorithm::binary_mul;
    case ops::BinaryKind::kDiv: return dnnl::algorithm::binary_div;
    case ops::BinaryKind::kMaximum: return dnnl::algorithm::binary_max;
    case ops::BinaryKind::kMinimum: return dnnl::algorithm::binary_min;
    default: return std::nullopt;
  }
}

bool Commutes(ops::BinaryKind kind) {
  return kind == ops::BinaryKind::kAdd || kind == ops::BinaryKind::kMul ||
         kind == ops::BinaryKind::kMaximum || kind == ops::BinaryKind::kMinimum;
}

// `shape` with leading 1s up to `rank` dims (numpy broadcasting aligns trailing dims).
std::optional<dnnl::memory::dims> Promote(const Shape& shape, int rank) {
  if (shape.ndim() > rank) return std::nullopt;
  dnnl::memory::dims dims(rank - shape.ndim(), 1);
  dims.insert(dims.end(), shape.begin(), shape.end());
  return dims;
}

bool BroadcastsTo(const dnnl::memory::dims& dims, const dnnl::memory::dims& out) {
  for (size_t i = 0; i < out.size(); ++i) {
    if (dims[i] != out[i] && dims[i] != 1) return false;
  }
  return true;
}

}  // namespace

std::unique_ptr<Kernel> MakeBinary(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::BinaryParams>(spec.params);
  const std::optional<dnnl::algorithm> algorithm = Algorithm(p.kind);
  if (!algorithm || !IsPlainF32(spec, 2) || spec.outputs.size() != 1) return nullptr;
  const dnnl::memory::dims out = ToDims(spec.outputs[0].shape);
  const int rank = static_cast<int>(out.size());
  auto lhs = Promote(spec.inputs[0].shape, rank);
  auto rhs = Promote(spec.inputs[1].shape, rank);
  if (!lhs || !rhs) return nullptr;
  size_t first = 0, second = 1;  // which input is oneDNN's src0 / src1
  if (*lhs != out) {
    if (*rhs != out || !Commutes(p.kind)) return nullptr;
    std::swap(first, second);
    std::swap(lhs, rhs);
  }
  if (!BroadcastsTo(*rhs, out)) return nullptr;

  return CreateOrFallback(spec.node, [&]() -> std::unique_ptr<Kernel> {
    const dnnl::memory::desc src0 = PlainDesc(*lhs), src1 = PlainDesc(*rhs), dst = PlainDesc(out);
    dnnl::binary::desc desc(*algorithm, src0, src1, dst);
    dnnl::binary::primitive_desc pd(desc, UserScratchpadAttr(), CpuEngine());
    auto kernel = std::make_unique<PrimitiveKernel>(spec.node);
    kernel->AddStep(dnnl::binary(pd), pd.scratchpad_desc(),
                    {{DNNL_ARG_SRC_0, PrimitiveKernel::Input(first), src0},
                     {DNNL_ARG_SRC_1, PrimitiveKernel::Input(second), src1},
                     {DNNL_ARG_DST, PrimitiveKernel::Output(0), dst}});
    return kernel;
  });
}

}  // namespace tandem::dnnl_backend
