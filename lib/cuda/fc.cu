// FullyConnected on the GPU: out = data · W^T + b through cuBLAS sgemm in strict fp32 (the call's
// handle uses pedantic math), with data viewed as (rows, in) as lib/ref/fully_connected.cpp:
// flatten=True takes rows = dim 0 and in = the rest; flatten=False applies to the last axis.
#include <climits>

#include "lib/cuda/common.cuh"
#include "lib/cuda/kernels.hpp"
#include "lib/ops/params.hpp"
#include "lib/ref/ref_util.hpp"

namespace tandem::cuda {
namespace {

struct FcGeometry {
  int64_t rows = 0, in = 0, hidden = 0;
  bool has_bias = false;
  bool allow_tf32 = false;
};

// Every row of the (rows, hidden) output starts as the bias; the gemm then accumulates onto it.
__global__ void BroadcastBiasKernel(const float* bias, float* y, int64_t rows, int64_t hidden) {
  TANDEM_GRID_STRIDE_LOOP(i, rows * hidden) { y[i] = bias[i % hidden]; }
}

FcGeometry MakeGeometry(const KernelSpec& spec, const ops::FullyConnectedParams& p) {
  const Shape& x = spec.inputs[0].shape;
  const Shape& w = spec.inputs[1].shape;
  if (x.ndim() < 1) ref::ShapeMismatch(spec, "data has no dimensions");
  FcGeometry g;
  g.in = p.flatten ? x.Prod(1, x.ndim()) : x[-1];
  g.rows = p.flatten ? x[0] : x.Prod(0, x.ndim() - 1);
  g.hidden = p.num_hidden;
  g.has_bias = !p.no_bias;
  if (w.ndim() != 2 || w[0] != g.hidden || w[1] != g.in) {
    ref::ShapeMismatch(spec, "weight " + w.ToString() + " should be (" +
                                 std::to_string(g.hidden) + "," + std::to_string(g.in) +
                                 ") for data " + x.ToString());
  }
  if (g.has_bias && spec.inputs[2].shape.Size() != g.hidden) {
    ref::ShapeMismatch(spec, "bias " + spec.inputs[2].shape.ToString() +
                                 " should have num_hidden (" + std::to_string(g.hidden) +
                                 ") elements");
  }
  if (spec.outputs[0].shape.Size() != g.rows * g.hidden) {
    ref::ShapeMismatch(spec, "output " + spec.outputs[0].shape.ToString() + " does not hold " +
                                 std::to_string(g.rows) + "x" + std::to_string(g.hidden) +
                                 " elements");
  }
  return g;
}

void RunFullyConnected(const FcGeometry& g, const KernelCall& call) {
  if (g.rows == 0 || g.hidden == 0) return;
  CudaState& state = StateFor(call);
  float* y = call.outputs[0].as<float>();
  if (g.has_bias) {
    BroadcastBiasKernel<<<BlocksFor(g.rows * g.hidden), kBlockSize, 0, state.stream()>>>(
        call.inputs[2].as<const float>(), y, g.rows, g.hidden);
    TANDEM_CUDA_CHECK_LAUNCH();
  }
  if (g.in == 0) {  // an empty dot product: y is the bias, or zero
    if (!g.has_bias) {
      TANDEM_CUDA_CHECK(cudaMemsetAsync(y, 0, g.rows * g.hidden * sizeof(float), state.stream()));
    }
    return;
  }
  // Row-major Y (rows x hidden) is column-major Y^T (hidden x rows) = W (hidden x in) · X^T; the
  // row-major W and X are column-major W^T and X^T, hence op(A) = T on W and op(B) = N on X.
  const float one = 1.0f;
  const float beta = g.has_bias ? 1.0f : 0.0f;
  // The handle belongs to the call and is shared by its kernels: each gemm sets its own math.
  TANDEM_CUBLAS_CHECK(cublasSetMathMode(
      state.Cublas(), g.allow_tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_PEDANTIC_MATH));
  TANDEM_CUBLAS_CHECK(cublasSgemm(state.Cublas(), CUBLAS_OP_T, CUBLAS_OP_N,
                                  static_cast<int>(g.hidden), static_cast<int>(g.rows),
                                  static_cast<int>(g.in), &one, call.inputs[1].as<const float>(),
                                  static_cast<int>(g.in), call.inputs[0].as<const float>(),
                                  static_cast<int>(g.in), &beta, y, static_cast<int>(g.hidden)));
}

}  // namespace

std::unique_ptr<Kernel> MakeFullyConnected(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::FullyConnectedParams>(spec.params);
  ref::RequireArity(spec, p.no_bias ? 2 : 3, 1);
  if (!AllFloat32(spec)) return nullptr;
  FcGeometry g = MakeGeometry(spec, p);
  g.allow_tf32 = spec.allow_tf32;
  if (g.rows > INT_MAX || g.in > INT_MAX || g.hidden > INT_MAX) return nullptr;  // sgemm takes int
  return MakeKernel([g](const KernelCall& call) { RunFullyConnected(g, call); });
}

}  // namespace tandem::cuda
