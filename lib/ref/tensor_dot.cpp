// Reference kernels of dot and batch_dot: plain loops over op(A) (M x K) times op(B) (K x N),
// accumulating in double. float32, float16 and bfloat16 operands (the ops are low_precision).
#include <algorithm>
#include <type_traits>
#include <vector>

#include "lib/ops/tensor_params.hpp"
#include "lib/ref/ref_util.hpp"
#include "lib/ref/tensor_ops.hpp"

namespace tandem::ref {
namespace {

template <class T>
inline double Load(const T* p, int64_t i) {
  if constexpr (std::is_same_v<T, float>) return p[i];
  else return ToFloat(p[i]);
}

template <class T>
inline void Store(T* p, int64_t i, double v) {
  if constexpr (std::is_same_v<T, float>) p[i] = static_cast<float>(v);
  else if constexpr (std::is_same_v<T, f16>) p[i] = ToFloat16(static_cast<float>(v));
  else p[i] = ToBFloat16(static_cast<float>(v));
}

// One product: element (i, k) of op(A) is a[i * a_i + k * a_k], (k, j) of op(B) is
// b[k * b_k + j * b_j]; `batch` products lie a_batch / b_batch / m * n elements apart.
struct Gemm {
  int64_t batch = 1, m = 0, n = 0, k = 0;
  int64_t a_i = 0, a_k = 0, b_k = 0, b_j = 0, a_batch = 0, b_batch = 0;
};

// A row-major rows x cols matrix, transposed or not: the strides of op(X)'s (row, col).
void Strides(bool transpose, int64_t cols, int64_t* row, int64_t* col) {
  *row = transpose ? 1 : cols;
  *col = transpose ? cols : 1;
}

template <class T>
void RunGemm(const Gemm& g, const void* a_data, const void* b_data, void* c_data) {
  const T* a = static_cast<const T*>(a_data);
  const T* b = static_cast<const T*>(b_data);
  T* c = static_cast<T*>(c_data);
  std::vector<double> row(static_cast<size_t>(g.n));
  for (int64_t s = 0; s < g.batch; ++s) {
    const T* as = a + s * g.a_batch;
    const T* bs = b + s * g.b_batch;
    T* cs = c + s * g.m * g.n;
    for (int64_t i = 0; i < g.m; ++i) {
      std::fill(row.begin(), row.end(), 0.0);
      for (int64_t kk = 0; kk < g.k; ++kk) {
        const double av = Load(as, i * g.a_i + kk * g.a_k);
        for (int64_t j = 0; j < g.n; ++j) row[j] += av * Load(bs, kk * g.b_k + j * g.b_j);
      }
      for (int64_t j = 0; j < g.n; ++j) Store(cs, i * g.n + j, row[j]);
    }
  }
}

std::unique_ptr<Kernel> MakeGemmKernel(const KernelSpec& spec, const Gemm& g) {
  const DType t = spec.inputs[0].dtype;
  if (spec.inputs[1].dtype != t || spec.outputs[0].dtype != t ||
      (t != DType::f32 && t != DType::f16 && t != DType::bf16))
    Throw<TypeError>("node '", spec.node, "' (", spec.schema.name, "): dtypes ",
                     DTypeName(spec.inputs[0].dtype), " x ", DTypeName(spec.inputs[1].dtype),
                     " -> ", DTypeName(spec.outputs[0].dtype),
                     "; the reference kernel needs float32, float16 or bfloat16 throughout");
  if (spec.outputs[0].shape.Size() != g.batch * g.m * g.n)
    ShapeMismatch(spec, "output " + spec.outputs[0].shape.ToString() + " does not hold " +
                            std::to_string(g.batch) + " x " + std::to_string(g.m) + " x " +
                            std::to_string(g.n) + " elements");
  return MakeKernel([g, t](const KernelCall& call) {
    const void* a = call.inputs[0].data;
    const void* b = call.inputs[1].data;
    void* c = call.outputs[0].data;
    switch (t) {
      case DType::f16: RunGemm<f16>(g, a, b, c); break;
      case DType::bf16: RunGemm<bf16>(g, a, b, c); break;
      default: RunGemm<float>(g, a, b, c); break;
    }
  });
}

}  // namespace

std::unique_ptr<Kernel> MakeDot(const KernelSpec& spec) {
  RequireArity(spec, 2, 1);
  const auto& p = ParamsAs<ops::DotParams>(spec.params);
  const Shape& l = spec.inputs[0].shape;
  const Shape& r = spec.inputs[1].shape;
  // lhs as a matrix (l[:ls], l[ls:]), rhs as (r[:rs], r[rs:]) (MXNet's DotShape).
  const int ls = p.transpose_a ? 1 : l.ndim() - 1;
  const int rs = p.transpose_b ? r.ndim() - 1 : 1;
  const int64_t a_rows = l.Prod(0, ls), a_cols = l.Prod(ls, l.ndim());
  const int64_t b_rows = r.Prod(0, rs), b_cols = r.Prod(rs, r.ndim());
  Gemm g;
  g.m = p.transpose_a ? a_cols : a_rows;
  g.k = p.transpose_a ? a_rows : a_cols;
  g.n = p.transpose_b ? b_rows : b_cols;
  if ((p.transpose_b ? b_cols : b_rows) != g.k)
    ShapeMismatch(spec, "dot shape error: " + l.ToString() + " X " + r.ToString());
  Strides(p.transpose_a, a_cols, &g.a_i, &g.a_k);
  Strides(p.transpose_b, b_cols, &g.b_k, &g.b_j);
  return MakeGemmKernel(spec, g);
}

std::unique_ptr<Kernel> MakeBatchDot(const KernelSpec& spec) {
  RequireArity(spec, 2, 1);
  const auto& p = ParamsAs<ops::DotParams>(spec.params);
  const Shape& l = spec.inputs[0].shape;
  const Shape& r = spec.inputs[1].shape;
  const int n = l.ndim();
  if (n < 3 || r.ndim() != n || l.Prod(0, n - 2) != r.Prod(0, n - 2))
    ShapeMismatch(spec, "batch_dot shape error: " + l.ToString() + " X " + r.ToString());
  Gemm g;
  g.batch = l.Prod(0, n - 2);
  g.m = p.transpose_a ? l[n - 1] : l[n - 2];
  g.k = p.transpose_a ? l[n - 2] : l[n - 1];
  g.n = p.transpose_b ? r[n - 2] : r[n - 1];
  if ((p.transpose_b ? r[n - 1] : r[n - 2]) != g.k)
    ShapeMismatch(spec, "batch_dot shape error: " + l.ToString() + " X " + r.ToString());
  Strides(p.transpose_a, l[n - 1], &g.a_i, &g.a_k);
  Strides(p.transpose_b, r[n - 1], &g.b_k, &g.b_j);
  g.a_batch = l[n - 2] * l[n - 1];
  g.b_batch = r[n - 2] * r[n - 1];
  return MakeGemmKernel(spec, g);
}

}  // namespace tandem::ref
