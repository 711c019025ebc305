// Split-K implicit-GEMM convolution (strict fp32, NCHW, 2-D, one group), with the rewrite's
// fused bias, residual and ReLU. Why: at batch 1 the deep layers of a ResNet have few output
// pixels and long reductions (7x7 outputs, K = 512 * 3 * 3), and no cuDNN fp32 engine splits the
// reduction enough to fill the GPU (108 us for one such 3x3 convolution on an H200). Here the
// reduction is cut into `splits` slices computed by separate thread blocks into a workspace, then
// summed in a fixed order by a second kernel that also applies the epilogue, so results are
// deterministic and do not depend on the batch size's tiling of pixels. With one slice the first
// kernel applies the epilogue itself.
//
// GEMM view, per call: Y[co, j] = sum_k W[co, k] * X_col[k, j], with k = (ci, r, s) and
// j = (image, oy, ox); X_col is never stored: each thread gathers one column's values from x.
#include <algorithm>
#include <cstdlib>
#include <vector>

#include "lib/cuda/common.cuh"
#include "lib/cuda/conv_splitk.hpp"
#include "lib/cuda/kernel_timing.cuh"

namespace tandem::cuda {
namespace {

constexpr int kThreads = 256;  // 16 x 16 threads, each computing a (BM/16) x (BN/16) block

// The tile shapes a geometry may pick (SplitKGeometry::tile): output channels x output pixels
// per block x reduction step. Small tiles for the 7x7 layers (49 pixels at batch 1), large ones
// where the GEMM is large enough to fill the GPU with them, since they load each operand fewer
// times; the longer step halves the barriers per multiply-add. Slices cover whole steps.
struct TileShape {
  int m, n, k;
};
constexpr TileShape kTileShapes[] = {{64, 64, 8},   {128, 64, 8}, {64, 128, 8},
                                     {128, 128, 8}, {64, 64, 16}, {128, 64, 16}};
constexpr int kNumTileShapes = sizeof(kTileShapes) / sizeof(kTileShapes[0]);

// Writes output channel m of output pixel j (of the whole batch) to NCHW y after the epilogue,
// in the reference's order: bias, then residual, then ReLU (NaN stays NaN).
__device__ __forceinline__ void StoreWithEpilogue(const SplitKGeometry& g, int m, int j, float v,
                                                  const float* __restrict__ bias,
                                                  const float* __restrict__ residual, bool relu,
                                                  float* __restrict__ y) {
  const int pixels = g.oh * g.ow;
  if (bias) v += bias[m];
  const int64_t yi = (static_cast<int64_t>(j / pixels) * g.cout + m) * pixels + j % pixels;
  if (residual) v += residual[yi];
  if (relu && v < 0.0f) v = 0.0f;
  y[yi] = v;
}

// One block's BM x BN outputs over the reduction slice blockIdx.z. With one slice it applies the
// epilogue (bias, residual, ReLU) and writes y; otherwise it writes its partial sums. Double
// buffered: the next step's operands are fetched into registers while this step's are used.
template <int BM, int BN, int kTileK>
__global__ void __launch_bounds__(kThreads)
    SplitKPartials(const float* __restrict__ x, const float* __restrict__ w,
                   float* __restrict__ partial, const float* __restrict__ bias,
                   const float* __restrict__ residual, float* __restrict__ y, SplitKGeometry g,
                   bool relu) {
  constexpr int TM = BM / 16, TN = BN / 16;
  constexpr int kALoads = BM * kTileK / kThreads, kBLoads = BN * kTileK / kThreads;
  constexpr int kBRowsPerPass = kThreads / BN;
  // k-major, so a thread reads its TM (TN) values as float4s; the +4 spreads the transposing
  // stores of W over all banks and keeps rows 16-byte aligned.
  __shared__ __align__(16) float a_tile[2][kTileK][BM + 4];
  __shared__ __align__(16) float b_tile[2][kTileK][BN + 4];
  const int t = threadIdx.x, tx = t % 16, ty = t / 16;
  const int m0 = blockIdx.y * BM, j0 = blockIdx.x * BN;
  const int k_begin = blockIdx.z * g.k_per_split;
  const int k_end = min(g.k, k_begin + g.k_per_split);
  const int taps = g.kh * g.kw, pixels = g.oh * g.ow;

  // The output pixel whose im2col column this thread loads, the same on every step.
  const int b_j = t % BN, b_row = t / BN;
  const int j = j0 + b_j;
  const bool j_valid = j < g.n;
  const int pq = j_valid ? j % pixels : 0;
  const int iy0 = (pq / g.ow) * g.stride_h - g.pad_h;
  const int ix0 = (pq % g.ow) * g.stride_w - g.pad_w;
  const float* x_image = x + static_cast<int64_t>(j_valid ? j / pixels : 0) * g.cin * g.h * g.w;

  float a_next[kALoads], b_next[kBLoads];
  auto fetch = [&](int k0) {
#pragma unroll
    for (int i = 0; i < kALoads; ++i) {  // 8 consecutive k of one row of W per 8 threads
      const int idx = t + kThreads * i, m = m0 + idx / kTileK, k = k0 + idx % kTileK;
      a_next[i] = (m < g.cout && k < k_end) ? w[static_cast<int64_t>(m) * g.k + k] : 0.0f;
    }
#pragma unroll
    for (int i = 0; i < kBLoads; ++i) {
      const int k = k0 + b_row + kBRowsPerPass * i;
      float v = 0.0f;
      if (j_valid && k < k_end) {
        const int ci = k / taps, rs = k - ci * taps;
        const int iy = iy0 + (rs / g.kw) * g.dil_h, ix = ix0 + (rs % g.kw) * g.dil_w;
        if (iy >= 0 && iy < g.h && ix >= 0 && ix < g.w)
          v = x_image[(static_cast<int64_t>(ci) * g.h + iy) * g.w + ix];
      }
      b_next[i] = v;
    }
  };
  auto stash = [&](int buf) {
#pragma unroll
    for (int i = 0; i < kALoads; ++i) {
      const int idx = t + kThreads * i;
      a_tile[buf][idx % kTileK][idx / kTileK] = a_next[i];
    }
#pragma unroll
    for (int i = 0; i < kBLoads; ++i) b_tile[buf][b_row + kBRowsPerPass * i][b_j] = b_next[i];
  };

  float acc[TM][TN] = {};
  fetch(k_begin);
  stash(0);
  __syncthreads();
  int buf = 0;
  for (int k0 = k_begin; k0 < k_end; k0 += kTileK) {
    const bool more = k0 + kTileK < k_end;
    if (more) fetch(k0 + kTileK);
#pragma unroll
    for (int kk = 0; kk < kTileK; ++kk) {
      float a[TM], b[TN];
#pragma unroll
      for (int i = 0; i < TM; i += 4)
        *reinterpret_cast<float4*>(&a[i]) =
            *reinterpret_cast<const float4*>(&a_tile[buf][kk][ty * TM + i]);
#pragma unroll
      for (int c = 0; c < TN; c += 4)
        *reinterpret_cast<float4*>(&b[c]) =
            *reinterpret_cast<const float4*>(&b_tile[buf][kk][tx * TN + c]);
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int c = 0; c < TN; ++c) acc[i][c] = fmaf(a[i], b[c], acc[i][c]);
    }
    if (more) stash(buf ^ 1);  // the other buffer: everyone finished reading it last step
    __syncthreads();
    buf ^= 1;
  }

  const bool direct = g.splits == 1;
  float* out = partial + static_cast<int64_t>(blockIdx.z) * g.cout * g.n;
#pragma unroll
  for (int i = 0; i < TM; ++i) {
    const int m = m0 + ty * TM + i;
    if (m >= g.cout) continue;
#pragma unroll
    for (int c = 0; c < TN; ++c) {
      const int jc = j0 + tx * TN + c;
      if (jc >= g.n) continue;
      if (direct)
        StoreWithEpilogue(g, m, jc, acc[i][c], bias, residual, relu, y);
      else
        out[static_cast<int64_t>(m) * g.n + jc] = acc[i][c];
    }
  }
}

// Sums the slices in order, then bias, residual and ReLU in the reference's order.
__global__ void SplitKReduce(const float* __restrict__ partial, const float* __restrict__ bias,
                             const float* __restrict__ residual, float* __restrict__ y,
                             SplitKGeometry g, bool relu) {
  const int64_t total = static_cast<int64_t>(g.cout) * g.n;
  constexpr int kLoadsInFlight = 8;  // the sum is latency-bound: one L2 round trip per 8 slices
  TANDEM_GRID_STRIDE_LOOP(i, total) {
    float v = 0.0f;
    for (int z0 = 0; z0 < g.splits; z0 += kLoadsInFlight) {
      float slice[kLoadsInFlight];
#pragma unroll
      for (int u = 0; u < kLoadsInFlight; ++u)
        slice[u] = z0 + u < g.splits ? partial[(z0 + u) * total + i] : 0.0f;
#pragma unroll
      for (int u = 0; u < kLoadsInFlight; ++u)
        if (z0 + u < g.splits) v += slice[u];  // in slice order, whatever the unrolling
    }
    StoreWithEpilogue(g, static_cast<int>(i / g.n), static_cast<int>(i % g.n), v, bias, residual,
                      relu, y);
  }
}

// Launches the slices kernel of the tile shape g.tile names (tried from kTileShapes[I] on).
template <int I = 0>
void LaunchPartials(const SplitKGeometry& g, const float* x, const float* w, float* partial,
                    const float* bias, const float* residual, bool relu, float* y,
                    cudaStream_t stream) {
  if constexpr (I < kNumTileShapes) {
    constexpr TileShape t = kTileShapes[I];
    if (g.tile != I)
      return LaunchPartials<I + 1>(g, x, w, partial, bias, residual, relu, y, stream);
    const dim3 grid((g.n + t.n - 1) / t.n, (g.cout + t.m - 1) / t.m, g.splits);
    SplitKPartials<t.m, t.n, t.k>
        <<<grid, kThreads, 0, stream>>>(x, w, partial, bias, residual, y, g, relu);
  }
}

}  // namespace

std::optional<SplitKGeometry> SplitKGeometryOf(const KernelSpec& spec, const ops::ConvParams& p,
                                               int splits, int tile) {
  if (p.kernel.size() != 2 || p.channels_last || p.num_group != 1 || !AllFloat32(spec) ||
      !FitsInt32(spec) || splits < 1 || tile < 0 || tile >= kNumTileShapes)
    return std::nullopt;
  const Shape& x = spec.inputs[0].shape;
  const Shape& y = spec.outputs[0].shape;
  if (x.ndim() != 4 || y.ndim() != 4) return std::nullopt;
  SplitKGeometry g;
  g.tile = tile;
  g.batch = static_cast<int>(x[0]);
  g.cin = static_cast<int>(x[1]);
  g.h = static_cast<int>(x[2]);
  g.w = static_cast<int>(x[3]);
  g.cout = static_cast<int>(y[1]);
  g.oh = static_cast<int>(y[2]);
  g.ow = static_cast<int>(y[3]);
  g.kh = static_cast<int>(p.kernel[0]);
  g.kw = static_cast<int>(p.kernel[1]);
  auto at = [](const std::vector<int64_t>& v, size_t i, int fallback) {
    return static_cast<int>(SpatialAt(v, i, fallback));
  };
  g.stride_h = at(p.stride, 0, 1);
  g.stride_w = at(p.stride, 1, 1);
  g.pad_h = at(p.pad, 0, 0);
  g.pad_w = at(p.pad, 1, 0);
  g.dil_h = at(p.dilate, 0, 1);
  g.dil_w = at(p.dilate, 1, 1);
  const int64_t k = int64_t{g.cin} * g.kh * g.kw, n = int64_t{g.batch} * g.oh * g.ow;
  if (k > INT32_MAX || n > INT32_MAX || k * g.cout > INT32_MAX ||
      int64_t{g.cin} * g.h * g.w > INT32_MAX)
    return std::nullopt;
  g.k = static_cast<int>(k);
  g.n = static_cast<int>(n);
  // Each slice covers a whole number of reduction steps; slices past the end are dropped.
  const int step = kTileShapes[tile].k;
  const int steps = (g.k + step - 1) / step;
  const int per_split = (steps + splits - 1) / splits;
  g.k_per_split = per_split * step;
  g.splits = (steps + per_split - 1) / per_split;  // at most `splits`, none of them empty
  return g;
}

int SplitKTileShapes() { return kNumTileShapes; }

int64_t SplitKBlocks(const SplitKGeometry& g) {
  const TileShape& t = kTileShapes[g.tile];
  return int64_t{(g.n + t.n - 1) / t.n} * ((g.cout + t.m - 1) / t.m) * g.splits;
}

size_t SplitKWorkspaceBytes(const SplitKGeometry& g) {
  return g.splits == 1 ? 0 : static_cast<size_t>(g.splits) * g.cout * g.n * sizeof(float);
}

void RunSplitK(const SplitKGeometry& g, const float* x, const float* w, const float* bias,
               const float* residual, bool relu, float* y, float* workspace, cudaStream_t stream) {
  LaunchPartials(g, x, w, workspace, bias, residual, relu, y, stream);
  TANDEM_CUDA_CHECK_LAUNCH();
  if (g.splits == 1) return;  // the partials kernel wrote y
  const int64_t total = int64_t{g.cout} * g.n;
  SplitKReduce<<<BlocksFor(total), kBlockSize, 0, stream>>>(workspace, bias, residual, y, g, relu);
  TANDEM_CUDA_CHECK_LAUNCH();
}

}  // namespace tandem::cuda

namespace tandem::cuda {
namespace {

class SplitKConvolution final : public Kernel {
 public:
  SplitKConvolution(const SplitKGeometry& g, const ops::ConvParams& p)
      : g_(g),
        has_bias_(!p.no_bias),
        residual_input_(p.fused_sum ? p.residual_input() : 0),
        relu_(p.fused_relu) {}

  void Run(const KernelCall& call) const override {
    CudaState& state = StateFor(call);
    RunSplitK(g_, call.inputs[0].as<const float>(), call.inputs[1].as<const float>(),
              has_bias_ ? call.inputs[2].as<const float>() : nullptr,
              residual_input_ ? call.inputs[residual_input_].as<const float>() : nullptr, relu_,
              call.outputs[0].as<float>(), static_cast<float*>(call.scratch), state.stream());
  }
  size_t ScratchBytes() const override { return SplitKWorkspaceBytes(g_); }

 private:
  SplitKGeometry g_;
  bool has_bias_;
  size_t residual_input_;
  bool relu_;
};

}  // namespace

std::unique_ptr<Kernel> MakeSplitKConvolution(const SplitKGeometry& g, const ops::ConvParams& p) {
  return std::make_unique<SplitKConvolution>(g, p);
}

std::optional<SplitKTiming> FastestSplitK(const KernelSpec& spec, const ops::ConvParams& p,
                                          const KernelCall& call, CudaState& state) {
  constexpr size_t kMaxSplitKWorkspace = size_t{64} << 20;
  std::vector<SplitKTiming> measured;
  for (int tile = 0; tile < SplitKTileShapes(); ++tile) {
    int previous = 0;
    double tile_best = 0;
    int slower_in_a_row = 0;
    for (int splits : {1, 2, 4, 8, 16, 32, 64, 128}) {
      const std::optional<SplitKGeometry> g = SplitKGeometryOf(spec, p, splits, tile);
      if (!g || g->splits == previous) continue;
      const size_t workspace_bytes = SplitKWorkspaceBytes(*g);
      if (workspace_bytes > kMaxSplitKWorkspace) continue;
      previous = g->splits;
      const std::unique_ptr<detail::Storage> workspace =
          ZeroedBlock(state.device(), workspace_bytes);
      const std::unique_ptr<Kernel> kernel = MakeSplitKConvolution(*g, p);
      const KernelCall with_workspace{call.inputs, call.outputs, PtrOf(workspace), nullptr};
      const double ms = TimeMs(state.stream(), [&] { kernel->Run(with_workspace); });
      measured.push_back({*g, ms});
      // Past a tile shape's best slice count, more slices only add blocks and partial sums: a
      // later candidate would be both slower and larger than the best one, which the choice
      // below never takes. Two slower in a row (not one, for timing noise) end the tile's search.
      if (tile_best == 0 || ms < tile_best) {
        tile_best = ms;
        slower_in_a_row = 0;
      } else if (++slower_in_a_row == 2) {
        break;
      }
    }
  }
  if (measured.empty()) return std::nullopt;
  const auto fastest = *std::min_element(measured.begin(), measured.end(), [](auto& a, auto& b) {
    return a.ms < b.ms;
  });
  // Among those nearly as fast, the fewest thread blocks: the same work with fewer partial sums
  // and block start-ups, which is what counts when calls from several threads share the GPU
  // (ResNet-50 v1 bs1 on an H200, 8 threads: 1939 img/s for the fastest, 2153 for this; one
  // thread's latency 0.92 ms against 0.99 ms).
  constexpr double kNearlyAsFast = 1.15;
  auto chosen = fastest;
  for (const auto& m : measured)
    if (m.ms <= fastest.ms * kNearlyAsFast && SplitKBlocks(m.geometry) < SplitKBlocks(chosen.geometry))
      chosen = m;
  return chosen;
}

int SplitKSetting() {
  const char* v = std::getenv("TANDEM_CONV_SPLITK");
  return v ? std::atoi(v) : -1;
}

std::unique_ptr<Kernel> ForcedSplitK(const KernelSpec& spec, const ops::ConvParams& p) {
  const int forced = SplitKSetting();
  if (forced <= 0) return nullptr;
  // The tile shape cycles with the count, so a few settings reach every tile shape.
  const std::optional<SplitKGeometry> g = SplitKGeometryOf(spec, p, forced, forced % SplitKTileShapes());
  return g ? MakeSplitKConvolution(*g, p) : nullptr;
}

}  // namespace tandem::cuda
