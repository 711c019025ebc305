// oneDNN dot / batch_dot: one matmul primitive over (batch, M, K) x (batch, K, N), float32. The
// transposes are strides of the operands' memory descriptors, so nothing is copied.
//
// The kernel declines (the reference takes over) for non-float32 tensors, empty shapes and plans
// that must be batch invariant (dynamic batching): a matmul's blocking, hence its rounding, may
// change with the row count.
#include "lib/dnnl/common.hpp"
#include "lib/dnnl/tensor_ops.hpp"
#include "lib/ops/tensor_params.hpp"

namespace tandem::dnnl_backend {
namespace {

using dnnl::memory;

// A row-major (rows, cols) matrix of each of `batch` items, read as its transpose or not:
// the (batch, rows', cols') descriptor of op(X) over X's bytes.
memory::desc OperandDesc(int64_t batch, int64_t rows, int64_t cols, bool transpose) {
  const memory::dims strides = transpose ? memory::dims{rows * cols, 1, cols}
                                         : memory::dims{rows * cols, cols, 1};
  const memory::dims dims = transpose ? memory::dims{batch, cols, rows}
                                      : memory::dims{batch, rows, cols};
  return memory::desc(dims, memory::data_type::f32, strides);
}

// lhs is stored (batch, a_rows, a_cols), rhs (batch, b_rows, b_cols).
std::unique_ptr<Kernel> MakeMatmul(const KernelSpec& spec, const ops::DotParams& p, int64_t batch,
                                   int64_t a_rows, int64_t a_cols, int64_t b_rows, int64_t b_cols) {
  if (!IsPlainF32(spec, 2) || spec.outputs.size() != 1 || spec.batch_invariant) return nullptr;
  const int64_t m = p.transpose_a ? a_cols : a_rows;
  const int64_t k = p.transpose_a ? a_rows : a_cols;
  const int64_t n = p.transpose_b ? b_rows : b_cols;
  if ((p.transpose_b ? b_cols : b_rows) != k || spec.outputs[0].shape.Size() != batch * m * n)
    return nullptr;
  return CreateOrFallback(spec.node, [&]() -> std::unique_ptr<Kernel> {
    const memory::desc a = OperandDesc(batch, a_rows, a_cols, p.transpose_a);
    const memory::desc b = OperandDesc(batch, b_rows, b_cols, p.transpose_b);
    const memory::desc c = PlainDesc({batch, m, n});
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, c), UserScratchpadAttr(), CpuEngine());
    auto kernel = std::make_unique<PrimitiveKernel>(spec.node);
    kernel->AddStep(dnnl::matmul(pd), pd.scratchpad_desc(),
                    {{DNNL_ARG_SRC, PrimitiveKernel::Input(0), a},
                     {DNNL_ARG_WEIGHTS, PrimitiveKernel::Input(1), b},
                     {DNNL_ARG_DST, PrimitiveKernel::Output(0), c}});
    return kernel;
  });
}

}  // namespace

std::unique_ptr<Kernel> MakeDot(const KernelSpec& spec) {
  if (spec.inputs.size() < 2) return nullptr;
  const auto& p = ParamsAs<ops::DotParams>(spec.params);
  const Shape& l = spec.inputs[0].shape;
  const Shape& r = spec.inputs[1].shape;
  if (!l.known() || !r.known()) return nullptr;
  // MXNet's DotShape: lhs split after its first dim (transpose_a) or before its last; rhs before
  // its last (transpose_b) or after its first.
  const int ls = p.transpose_a ? 1 : l.ndim() - 1;
  const int rs = p.transpose_b ? r.ndim() - 1 : 1;
  return MakeMatmul(spec, p, 1, l.Prod(0, ls), l.Prod(ls, l.ndim()), r.Prod(0, rs),
                    r.Prod(rs, r.ndim()));
}

std::unique_ptr<Kernel> MakeBatchDot(const KernelSpec& spec) {
  if (spec.inputs.size() < 2) return nullptr;
  const auto& p = ParamsAs<ops::DotParams>(spec.params);
  const Shape& l = spec.inputs[0].shape;
  const Shape& r = spec.inputs[1].shape;
  const int nd = l.ndim();
  if (nd < 3 || r.ndim() != nd || l.Prod(0, nd - 2) != r.Prod(0, nd - 2)) return nullptr;
  return MakeMatmul(spec, p, l.Prod(0, nd - 2), l[nd - 2], l[nd - 1], r[nd - 2], r[nd - 1]);
}

}  // namespace tandem::dnnl_backend
