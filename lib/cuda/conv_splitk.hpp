// Internal: the split-K implicit-GEMM convolution (lib/cuda/conv_splitk.cu), strict fp32, NCHW,
// 2-D, one group. The cuDNN convolution factory measures it against cuDNN's engines for each
// shape (lib/cuda/cudnn_graph.cu), the plain-CUDA one against the direct kernel (conv.cu), and
// each keeps it where it is faster.
//
// Thread safety: a SplitKGeometry is a value and the kernel keeps only that; Run may be called
// from any number of threads at once, each call on its own stream with its own scratch (the
// partial sums).
#pragma once

#include <cuda_runtime.h>

#include <memory>
#include <optional>

#include "lib/ops/params.hpp"
#include "tandem/registry.hpp"

namespace tandem::cuda {

class CudaState;  // lib/cuda/common.cuh

struct SplitKGeometry {
  int batch = 0, cin = 0, h = 0, w = 0, cout = 0, oh = 0, ow = 0, kh = 0, kw = 0;
  int stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1;
  int k = 0;  // reduction length, cin * kh * kw
  int n = 0;  // output pixels of the whole batch
  int k_per_split = 0, splits = 1;
  int tile = 0;  // which tile shape the kernel uses, 0 .. SplitKTileShapes() - 1
};

int SplitKTileShapes();

// The geometry of `spec` with tile shape `tile`, cut into at most `splits` reduction slices of
// whole reduction steps of the tile shape (fewer when that many would leave some empty), or nothing
// when the kernel does not cover the spec (layout, groups, dtype, sizes).
std::optional<SplitKGeometry> SplitKGeometryOf(const KernelSpec& spec, const ops::ConvParams& p,
                                               int splits, int tile);
size_t SplitKWorkspaceBytes(const SplitKGeometry& g);  // 0 for one slice
int64_t SplitKBlocks(const SplitKGeometry& g);         // thread blocks of the slices kernel
// On `stream`: the slices into `workspace`, then their ordered sum plus the epilogue (bias,
// residual: null when absent) into y; one slice writes y directly.
void RunSplitK(const SplitKGeometry& g, const float* x, const float* w, const float* bias,
               const float* residual, bool relu, float* y, float* workspace, cudaStream_t stream);
// The kernel for one geometry of `p` (bias, fused residual and ReLU as p says).
std::unique_ptr<Kernel> MakeSplitKConvolution(const SplitKGeometry& g, const ops::ConvParams& p);

struct SplitKTiming {
  SplitKGeometry geometry;
  double ms = 0.0;  // per run, as kernel_timing.cuh's TimeMs measures it
};
// Plan time: the geometry to use for `spec` (tile shape and slice count, workspace up to 64 MiB)
// and its time, measured on `call`'s buffers on `state`'s stream; nothing when the kernel does not
// cover the spec. Among the geometries within 15 % of the fastest it takes the one with the
// fewest thread blocks (see conv_splitk.cu).
std::optional<SplitKTiming> FastestSplitK(const KernelSpec& spec, const ops::ConvParams& p,
                                          const KernelCall& call, CudaState& state);

// TANDEM_CONV_SPLITK=N: N > 0 (tests) forces the split-K kernel with N slices and tile shape
// N mod SplitKTileShapes() wherever it covers the spec; 0 (A/B benchmarks) leaves it out; unset
// (-1) lets it compete with the other kernels of the shape.
int SplitKSetting();
// The split-K kernel TANDEM_CONV_SPLITK=N > 0 forces for `spec`, or null (not forced, or not
// covered).
std::unique_ptr<Kernel> ForcedSplitK(const KernelSpec& spec, const ops::ConvParams& p);

}  // namespace tandem::cuda
