// cuDNN kernels (Backend::kCudnn): Convolution (+ bias, groups, dilation, the rewrite's fused
// residual add and ReLU), Deconvolution (cuDNN's backward-data convolution), Pooling, Activation
// and softmax, for the specs where cuDNN computes exactly what lib/ref does; nullptr otherwise
// (the plain CUDA kernel runs instead). Convolution, pooling and activation also take float16 /
// bfloat16 tensors (float32 accumulation, tensor cores) and channels-last (NHWC) layouts
// (ConvParams / PoolingParams::channels_last: the tensors are stored (N, H, W, C), weights
// (O, kh, kw, I)).
//
// Descriptors and the convolution algorithm are chosen once, when the kernel is created, and are
// only read afterwards, so one kernel serves every thread; each call brings its own cuDNN handle
// (bound to its stream) and its workspace (KernelCall::scratch, device memory). Convolutions use
// CUDNN_FMA_MATH: strict fp32, no TF32 tensor-core shortcuts, unless the CachedOp was built with
// allow_tf32 (then CUDNN_TENSOR_OP_MATH: TF32 on Ampere and later, about 1e-3 relative error).
#include <climits>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "lib/cuda/common.cuh"
#include "lib/cuda/cudnn_common.cuh"
#include "lib/cuda/kernels.hpp"
#include "lib/ops/params.hpp"
#include "lib/ops/vision_params.hpp"
#include "lib/ref/ref_util.hpp"

namespace tandem::cuda {
namespace {

// ---- fallbacks and handles ----

// Kernel creation has no call (and so no handle): algorithm queries use one handle per device,
// created on first use, kept for the process and used under a lock (one for every caller: the
// statics live outside the template, which is instantiated per lambda).
std::mutex& PlanningHandleMutex() {
  static std::mutex mutex;
  return mutex;
}

cudnnHandle_t PlanningHandle(int device) {  // PlanningHandleMutex held
  static auto* handles = new std::map<int, cudnnHandle_t>();
  cudnnHandle_t& handle = (*handles)[device];
  if (!handle) TANDEM_CUDNN_CHECK(cudnnCreate(&handle));
  return handle;
}

template <class F>
void WithPlanningHandle(int device, F&& use) {
  std::lock_guard lock(PlanningHandleMutex());
  DeviceGuard guard(device);
  use(PlanningHandle(device));
}

// ---- the legacy API's measured algorithm choices ----

// What an algorithm choice depends on besides the device: dtype, math mode, layout, the shapes of
// x, w and y and the convolution's settings (`settings`, as the caller words them).
std::string AlgorithmKey(const KernelSpec& spec, cudnnDataType_t type, bool tensor_ops,
                         const std::string& settings) {
  std::string key = "type " + std::to_string(type) + " tensor_ops " + std::to_string(tensor_ops);
  for (const Shape* s : {&spec.inputs[0].shape, &spec.inputs[1].shape, &spec.outputs[0].shape})
    key.append(" ").append(s->ToString());
  return key + " " + settings;
}

std::string IntsText(const std::vector<int>& values) {
  std::string s;
  for (int v : values) s += std::to_string(v) + ",";
  return s;
}

// A stored algorithm number below `count`, or nothing.
std::optional<int> ParseAlgorithm(const std::string& payload, int count) {
  int algo = -1;
  char extra = 0;
  if (std::sscanf(payload.c_str(), "%d %c", &algo, &extra) != 1 || algo < 0 || algo >= count)
    return std::nullopt;
  return algo;
}

// cudnnFind's choice for a shape (its measurement: every algorithm run on scratch buffers), kept
// for the process and in the plan cache (lib/exec/choice_table.hpp), like the graph API's.
// `find(handle)` measures and returns the algorithm; `accept(handle, algo)` adopts an algorithm
// (false when this spec cannot use it: a stored one is then measured again).
template <class Find, class Accept>
void ChooseRemembered(ChoiceTable<int>& table, const ChoiceId& id, Find&& find, Accept&& accept) {
  const char* what = id.kind.c_str();
  const int algo = table.FindOrMeasure(
      id,
      [&] {
        int found = 0;
        WithPlanningHandle(id.device, [&](cudnnHandle_t handle) { found = find(handle); });
        if (ChoiceLogOn())
          std::fprintf(stderr, "[tandem cudnn algo] %s %s -> algo %d | measured\n", what,
                       id.key.c_str(), found);
        return found;
      },
      [](int algo) { return std::to_string(algo); },
      [&](const std::string& payload) -> std::optional<int> {
        const std::optional<int> stored = ParseAlgorithm(payload, 1 << 10);
        bool ok = false;
        if (stored)
          WithPlanningHandle(id.device, [&](cudnnHandle_t handle) { ok = accept(handle, *stored); });
        if (!ok) return std::nullopt;
        if (ChoiceLogOn())
          std::fprintf(stderr, "[tandem cudnn algo] %s %s -> algo %d | from the plan cache\n",
                       what, id.key.c_str(), *stored);
        return stored;
      });
  bool ok = false;
  WithPlanningHandle(id.device, [&](cudnnHandle_t handle) { ok = accept(handle, algo); });
  if (!ok) throw NotCovered{};
}

// ---- descriptors (RAII) ----

class TensorDescriptor {
 public:
  TensorDescriptor() { TANDEM_CUDNN_CHECK(cudnnCreateTensorDescriptor(&d_)); }
  ~TensorDescriptor() { cudnnDestroyTensorDescriptor(d_); }
  TensorDescriptor(const TensorDescriptor&) = delete;
  TensorDescriptor& operator=(const TensorDescriptor&) = delete;
  // Dense tensor of `dims` as stored (cuDNN wants at least 4). channels_last: stored as
  // (N, spatial..., C); cuDNN is told the logical (N, C, spatial...) dims with matching strides.
  void Set(std::vector<int> dims, cudnnDataType_t type = CUDNN_DATA_FLOAT,
           bool channels_last = false) {
    std::vector<int> strides(dims.size(), 1);
    for (int i = static_cast<int>(dims.size()) - 2; i >= 0; --i)
      strides[i] = strides[i + 1] * dims[i + 1];
    if (channels_last) {
      dims = ops::ChannelsFirstOrder(std::move(dims));
      strides = ops::ChannelsFirstOrder(std::move(strides));
    }
    TANDEM_CUDNN_OR_FALLBACK(cudnnSetTensorNdDescriptor(d_, type, static_cast<int>(dims.size()),
                                                        dims.data(), strides.data()));
  }
  cudnnTensorDescriptor_t get() const { return d_; }

 private:
  cudnnTensorDescriptor_t d_ = nullptr;
};

class FilterDescriptor {
 public:
  FilterDescriptor() { TANDEM_CUDNN_CHECK(cudnnCreateFilterDescriptor(&d_)); }
  ~FilterDescriptor() { cudnnDestroyFilterDescriptor(d_); }
  FilterDescriptor(const FilterDescriptor&) = delete;
  FilterDescriptor& operator=(const FilterDescriptor&) = delete;
  // `dims` as stored: (O, I, spatial...), or (O, spatial..., I) for channels_last (MXNet's NHWC
  // weight layout, cuDNN's NHWC filter format, given to cuDNN as logical (O, I, spatial...)).
  void Set(const std::vector<int>& dims, cudnnDataType_t type = CUDNN_DATA_FLOAT,
           bool channels_last = false) {
    const std::vector<int> logical = channels_last ? ops::ChannelsFirstOrder(dims) : dims;
    TANDEM_CUDNN_OR_FALLBACK(cudnnSetFilterNdDescriptor(
        d_, type, channels_last ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW,
        static_cast<int>(logical.size()), logical.data()));
  }
  cudnnFilterDescriptor_t get() const { return d_; }

 private:
  cudnnFilterDescriptor_t d_ = nullptr;
};

class ConvolutionDescriptor {
 public:
  ConvolutionDescriptor() { TANDEM_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&d_)); }
  ~ConvolutionDescriptor() { cudnnDestroyConvolutionDescriptor(d_); }
  ConvolutionDescriptor(const ConvolutionDescriptor&) = delete;
  ConvolutionDescriptor& operator=(const ConvolutionDescriptor&) = delete;
  cudnnConvolutionDescriptor_t get() const { return d_; }

 private:
  cudnnConvolutionDescriptor_t d_ = nullptr;
};

class PoolingDescriptor {
 public:
  PoolingDescriptor() { TANDEM_CUDNN_CHECK(cudnnCreatePoolingDescriptor(&d_)); }
  ~PoolingDescriptor() { cudnnDestroyPoolingDescriptor(d_); }
  PoolingDescriptor(const PoolingDescriptor&) = delete;
  PoolingDescriptor& operator=(const PoolingDescriptor&) = delete;
  cudnnPoolingDescriptor_t get() const { return d_; }

 private:
  cudnnPoolingDescriptor_t d_ = nullptr;
};

class ActivationDescriptor {
 public:
  ActivationDescriptor() { TANDEM_CUDNN_CHECK(cudnnCreateActivationDescriptor(&d_)); }
  ~ActivationDescriptor() { cudnnDestroyActivationDescriptor(d_); }
  ActivationDescriptor(const ActivationDescriptor&) = delete;
  ActivationDescriptor& operator=(const ActivationDescriptor&) = delete;
  cudnnActivationDescriptor_t get() const { return d_; }

 private:
  cudnnActivationDescriptor_t d_ = nullptr;
};

std::vector<int> ToInt(const std::vector<int64_t>& v) { return {v.begin(), v.end()}; }

// NC + spatial dims with 1-D widened to 2-D (a leading extent of 1): cuDNN wants 4-D or 5-D.
std::vector<int64_t> Widen1D(const Shape& s) {
  std::vector<int64_t> dims = s.dims();
  if (dims.size() == 3) dims.insert(dims.begin() + 2, 1);
  return dims;
}

// Spatial parameters (kernel, stride, ...) widened like Widen1D, `fill` for the added dim.
std::vector<int> SpatialParam(const std::vector<int64_t>& values, int spatial, int fallback,
                              int fill) {
  std::vector<int> out;
  if (spatial == 1) out.push_back(fill);
  for (int i = 0; i < spatial; ++i)
    out.push_back(static_cast<int>(SpatialAt(values, i, fallback)));
  return out;
}

// cuDNN's name for a tensor type it computes on, or false. float16 and bfloat16 tensors compute
// with float32 accumulation (cuDNN's pseudo-half configurations) on tensor cores.
bool CudnnType(DType t, cudnnDataType_t* out) {
  switch (t) {
    case DType::f32: *out = CUDNN_DATA_FLOAT; return true;
    case DType::f16: *out = CUDNN_DATA_HALF; return true;
    case DType::bf16: *out = CUDNN_DATA_BFLOAT16; return true;
    default: return false;
  }
}

// The one type of every tensor of `spec` (the first `num_inputs` inputs and the outputs), if
// they share one cuDNN computes on.
bool UniformCudnnType(const KernelSpec& spec, size_t num_inputs, cudnnDataType_t* out) {
  const DType t = spec.outputs[0].dtype;
  for (size_t i = 0; i < num_inputs && i < spec.inputs.size(); ++i)
    if (spec.inputs[i].dtype != t) return false;
  for (const TensorDesc& o : spec.outputs)
    if (o.dtype != t) return false;
  return CudnnType(t, out);
}
bool UniformCudnnType(const KernelSpec& spec, cudnnDataType_t* out) {
  return UniformCudnnType(spec, spec.inputs.size(), out);
}

bool AnyEmpty(const KernelSpec& spec) {
  for (const TensorDesc& t : spec.inputs)
    if (t.shape.Size() == 0) return true;
  for (const TensorDesc& t : spec.outputs)
    if (t.shape.Size() == 0) return true;
  return false;
}

bool ParamsFitInt(const std::vector<int64_t>& values) {
  for (int64_t v : values)
    if (v < 0 || v > INT_MAX) return false;
  return true;
}

const float kOne = 1.0f;
const float kZero = 0.0f;

// ---- Convolution ----

// Workspaces above this are not worth it: another algorithm is chosen.
constexpr size_t kMaxWorkspace = size_t{1} << 30;

class CudnnConvolution final : public Kernel {
 public:
  // Throws NotCovered when cuDNN cannot run this spec.
  CudnnConvolution(const KernelSpec& spec, const ops::ConvParams& p, cudnnDataType_t type)
      : has_bias_(!p.no_bias),
        relu_(p.fused_relu),
        residual_(p.fused_sum ? p.residual_input() : 0),
        // float16 / bfloat16 exist to run on tensor cores; float32 only with allow_tf32.
        tensor_ops_(spec.allow_tf32 || type != CUDNN_DATA_FLOAT) {
    const int spatial = static_cast<int>(p.kernel.size());
    const bool nhwc = p.channels_last;
    const std::vector<int64_t> y_dims = nhwc ? spec.outputs[0].shape.dims() : Widen1D(spec.outputs[0].shape);
    x_.Set(ToInt(nhwc ? spec.inputs[0].shape.dims() : Widen1D(spec.inputs[0].shape)), type, nhwc);
    y_.Set(ToInt(y_dims), type, nhwc);
    w_.Set(ToInt(nhwc ? spec.inputs[1].shape.dims() : Widen1D(spec.inputs[1].shape)), type, nhwc);
    const std::vector<int> pad = SpatialParam(p.pad, spatial, 0, 0);
    const std::vector<int> stride = SpatialParam(p.stride, spatial, 1, 1);
    const std::vector<int> dilate = SpatialParam(p.dilate, spatial, 1, 1);
    TANDEM_CUDNN_OR_FALLBACK(cudnnSetConvolutionNdDescriptor(
        conv_.get(), static_cast<int>(pad.size()), pad.data(), stride.data(), dilate.data(),
        CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    TANDEM_CUDNN_OR_FALLBACK(
        cudnnSetConvolutionGroupCount(conv_.get(), static_cast<int>(p.num_group)));
    TANDEM_CUDNN_OR_FALLBACK(cudnnSetConvolutionMathType(
        conv_.get(), tensor_ops_ ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH));
    CheckOutputShape(nhwc ? ops::ChannelsFirstOrder(y_dims) : y_dims);
    const int channels = static_cast<int>(nhwc ? y_dims.back() : y_dims[1]);
    if (has_bias_) {
      std::vector<int> bias_dims(y_dims.size(), 1);
      bias_dims[1] = channels;
      bias_.Set(bias_dims, type);
    }
    TANDEM_CUDNN_OR_FALLBACK(cudnnSetActivationDescriptor(
        relu_desc_.get(), relu_ ? CUDNN_ACTIVATION_RELU : CUDNN_ACTIVATION_IDENTITY,
        CUDNN_PROPAGATE_NAN, 0.0));
    if (relu_) flat_.Set({1, 1, 1, static_cast<int>(spec.outputs[0].shape.Size())}, type);
    static auto* known = new ChoiceTable<int>();
    ChooseRemembered(
        *known,
        ChoiceId{"cudnn-conv-fwd-algo/1",
                 AlgorithmKey(spec, type, tensor_ops_,
                              "nhwc " + std::to_string(nhwc) + " pad " + IntsText(pad) +
                                  " stride " + IntsText(stride) + " dilate " + IntsText(dilate) +
                                  " groups " + std::to_string(p.num_group)),
                 CudnnFingerprint(spec.ctx.id), spec.ctx.id},
        [&](cudnnHandle_t handle) { return FindAlgorithm(handle); },
        [&](cudnnHandle_t handle, int algo) { return Accept(handle, algo); });
    // cuDNN runs the fused call with an identity activation only on this algorithm.
    fused_ = has_bias_ && (relu_ || algo_ == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM);
  }

  void Run(const KernelCall& call) const override {
    CudaState& state = StateFor(call);
    cudnnHandle_t handle = state.Cudnn();
    // The fused residual (same shape as y, its own buffer) or, without one, y itself.
    const void* z = residual_ ? call.inputs[residual_].data : call.outputs[0].data;
    if (fused_) {
      // One kernel for conv + bias (+ residual) + ReLU: y = act(conv(x) + alpha2 * z + bias),
      // alpha2 = 1 with a residual, else 0 (z aliasing y is then never read).
      TANDEM_CUDNN_CHECK(cudnnConvolutionBiasActivationForward(
          handle, &kOne, x_.get(), call.inputs[0].data, w_.get(), call.inputs[1].data,
          conv_.get(), algo_, call.scratch, workspace_, residual_ ? &kOne : &kZero, y_.get(), z,
          bias_.get(), call.inputs[2].data, relu_desc_.get(), y_.get(), call.outputs[0].data));
      return;
    }
    // Without a ReLU the fused call would need CUDNN_ACTIVATION_IDENTITY, which cuDNN only runs
    // with CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, not the measured algorithm: separate
    // steps, in the reference's order.
    TANDEM_CUDNN_CHECK(cudnnConvolutionForward(
        handle, &kOne, x_.get(), call.inputs[0].data, w_.get(), call.inputs[1].data, conv_.get(),
        algo_, call.scratch, workspace_, &kZero, y_.get(), call.outputs[0].data));
    if (has_bias_) {
      TANDEM_CUDNN_CHECK(cudnnAddTensor(handle, &kOne, bias_.get(), call.inputs[2].data, &kOne,
                                        y_.get(), call.outputs[0].data));
    }
    if (residual_) {
      TANDEM_CUDNN_CHECK(
          cudnnAddTensor(handle, &kOne, y_.get(), z, &kOne, y_.get(), call.outputs[0].data));
    }
    if (relu_) {
      TANDEM_CUDNN_CHECK(cudnnActivationForward(handle, relu_desc_.get(), &kOne, flat_.get(),
                                                call.outputs[0].data, &kZero, flat_.get(),
                                                call.outputs[0].data));
    }
  }

  size_t ScratchBytes() const override { return workspace_; }

 private:
  void CheckOutputShape(const std::vector<int64_t>& expected) {
    std::vector<int> dims(expected.size());
    TANDEM_CUDNN_OR_FALLBACK(cudnnGetConvolutionNdForwardOutputDim(
        conv_.get(), x_.get(), w_.get(), static_cast<int>(dims.size()), dims.data()));
    if (std::vector<int64_t>(dims.begin(), dims.end()) != expected) throw NotCovered{};
  }

  // The fastest algorithm cuDNN measures on this very shape (as PyTorch's cudnn.benchmark does;
  // the heuristics' first choice was seen to be 3-5x slower at batch 1), among those that compute
  // in plain fp32 (TF32 tensor-op math only with allow_tf32) with a sane workspace. FFT algorithms
  // are skipped: their rounding error is well above direct fp32 accumulation.
  int FindAlgorithm(cudnnHandle_t handle) {
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int returned = 0;
    cudnnStatus_t found = cudnnFindConvolutionForwardAlgorithm(
        handle, x_.get(), w_.get(), conv_.get(), y_.get(), CUDNN_CONVOLUTION_FWD_ALGO_COUNT,
        &returned, perf);
    if (found != CUDNN_STATUS_SUCCESS) {  // measuring needs memory; the heuristics do not
      TANDEM_CUDNN_OR_FALLBACK(cudnnGetConvolutionForwardAlgorithm_v7(
          handle, x_.get(), w_.get(), conv_.get(), y_.get(), CUDNN_CONVOLUTION_FWD_ALGO_COUNT,
          &returned, perf));
    }
    for (int i = 0; i < returned; ++i) {
      const cudnnConvolutionFwdAlgoPerf_t& candidate = perf[i];
      if (candidate.status != CUDNN_STATUS_SUCCESS) continue;
      if (!tensor_ops_ && (candidate.mathType == CUDNN_TENSOR_OP_MATH ||
                           candidate.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION))
        continue;
      if (Accept(handle, candidate.algo)) return candidate.algo;
    }
    throw NotCovered{};
  }

  // Adopts `algo` (measured here or read from the plan cache) when it is not FFT and its
  // workspace is sane; the descriptor's math mode (strict fp32 unless tensor_ops_) stays as set.
  bool Accept(cudnnHandle_t handle, int algo) {
    const auto a = static_cast<cudnnConvolutionFwdAlgo_t>(algo);
    if (algo < 0 || algo >= CUDNN_CONVOLUTION_FWD_ALGO_COUNT ||
        a == CUDNN_CONVOLUTION_FWD_ALGO_FFT || a == CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING)
      return false;
    size_t bytes = 0;
    if (cudnnGetConvolutionForwardWorkspaceSize(handle, x_.get(), w_.get(), conv_.get(), y_.get(),
                                                a, &bytes) != CUDNN_STATUS_SUCCESS ||
        bytes > kMaxWorkspace)
      return false;
    algo_ = a;
    workspace_ = bytes;
    return true;
  }

  bool has_bias_;
  bool relu_;  // fused ReLU (CachedOp's graph rewrite)
  size_t residual_;  // input index of the fused residual add, 0 for none (same rewrite)
  bool tensor_ops_;  // TF32 for float32 with allow_tf32; always for float16 / bfloat16
  bool fused_ = false;  // one cudnnConvolutionBiasActivationForward call
  TensorDescriptor x_, y_, bias_, flat_;
  ActivationDescriptor relu_desc_;
  FilterDescriptor w_;
  ConvolutionDescriptor conv_;
  cudnnConvolutionFwdAlgo_t algo_ = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
  size_t workspace_ = 0;
};

// ---- Deconvolution ----

// MXNet's Deconvolution is the data gradient of the convolution that maps its output (N, F,
// out...) to its input (N, C, in...) with the same weight (C, F / groups, k...): cuDNN's
// backward-data convolution with the padding of DeconvPaddingFor; adj only makes the output
// larger, which the output descriptor says. Bias is added afterwards. NCHW / NCDHW only.
class CudnnDeconvolution final : public Kernel {
 public:
  // Throws NotCovered when cuDNN cannot run this spec.
  CudnnDeconvolution(const KernelSpec& spec, const ops::DeconvParams& p, cudnnDataType_t type)
      : has_bias_(!p.no_bias), tensor_ops_(spec.allow_tf32 || type != CUDNN_DATA_FLOAT) {
    const Shape& in = spec.inputs[0].shape;
    const size_t spatial = p.kernel.size();
    dy_.Set(ToInt(in.dims()), type);
    dx_.Set(ToInt(spec.outputs[0].shape.dims()), type);
    w_.Set(ToInt(spec.inputs[1].shape.dims()), type, false);
    std::vector<int> pad, stride = ToInt(p.stride), dilate = ToInt(p.dilate);
    for (size_t i = 0; i < spatial; ++i) pad.push_back(static_cast<int>(ops::DeconvPaddingFor(p, i, in[2 + i]).pad));
    TANDEM_CUDNN_OR_FALLBACK(cudnnSetConvolutionNdDescriptor(conv_.get(), static_cast<int>(spatial), pad.data(),
                                                             stride.data(), dilate.data(),
                                                             CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    TANDEM_CUDNN_OR_FALLBACK(cudnnSetConvolutionGroupCount(conv_.get(), static_cast<int>(p.num_group)));
    TANDEM_CUDNN_OR_FALLBACK(
        cudnnSetConvolutionMathType(conv_.get(), tensor_ops_ ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH));
    // The forward convolution of the output must give back the input's shape.
    std::vector<int> dims(in.ndim());
    TANDEM_CUDNN_OR_FALLBACK(cudnnGetConvolutionNdForwardOutputDim(conv_.get(), dx_.get(), w_.get(),
                                                                   static_cast<int>(dims.size()), dims.data()));
    if (std::vector<int64_t>(dims.begin(), dims.end()) != in.dims()) throw NotCovered{};
    if (has_bias_) {
      std::vector<int> bias_dims(in.ndim(), 1);
      bias_dims[1] = static_cast<int>(p.num_filter);
      bias_.Set(bias_dims, type);
    }
    static auto* known = new ChoiceTable<int>();
    ChooseRemembered(
        *known,
        ChoiceId{"cudnn-deconv-bwd-data-algo/1",
                 AlgorithmKey(spec, type, tensor_ops_,
                              "pad " + IntsText(pad) + " stride " + IntsText(stride) +
                                  " dilate " + IntsText(dilate) + " groups " +
                                  std::to_string(p.num_group) + " bias " +
                                  std::to_string(has_bias_)),
                 CudnnFingerprint(spec.ctx.id), spec.ctx.id},
        [&](cudnnHandle_t handle) { return FindAlgorithm(handle); },
        [&](cudnnHandle_t handle, int algo) { return Accept(handle, algo); });
  }

  void Run(const KernelCall& call) const override {
    cudnnHandle_t handle = StateFor(call).Cudnn();
    TANDEM_CUDNN_CHECK(cudnnConvolutionBackwardData(handle, &kOne, w_.get(), call.inputs[1].data, dy_.get(),
                                                    call.inputs[0].data, conv_.get(), algo_, call.scratch,
                                                    workspace_, &kZero, dx_.get(), call.outputs[0].data));
    if (has_bias_)
      TANDEM_CUDNN_CHECK(cudnnAddTensor(handle, &kOne, bias_.get(), call.inputs[2].data, &kOne, dx_.get(),
                                        call.outputs[0].data));
  }

  size_t ScratchBytes() const override { return workspace_; }

 private:
  // The fastest measured algorithm in the allowed math, without FFT (its rounding is coarser),
  // with a sane workspace; as the convolution's FindAlgorithm.
  int FindAlgorithm(cudnnHandle_t handle) {
    cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    int returned = 0;
    if (cudnnFindConvolutionBackwardDataAlgorithm(handle, w_.get(), dy_.get(), conv_.get(), dx_.get(),
                                                  CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &returned,
                                                  perf) != CUDNN_STATUS_SUCCESS)
      TANDEM_CUDNN_OR_FALLBACK(cudnnGetConvolutionBackwardDataAlgorithm_v7(
          handle, w_.get(), dy_.get(), conv_.get(), dx_.get(), CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT,
          &returned, perf));
    for (int i = 0; i < returned; ++i) {
      const cudnnConvolutionBwdDataAlgoPerf_t& c = perf[i];
      if (c.status != CUDNN_STATUS_SUCCESS) continue;
      if (!tensor_ops_ &&
          (c.mathType == CUDNN_TENSOR_OP_MATH || c.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION))
        continue;
      if (Accept(handle, c.algo)) return c.algo;
    }
    throw NotCovered{};
  }

  // Adopts `algo` (measured or stored) when it is not FFT and its workspace is sane.
  bool Accept(cudnnHandle_t handle, int algo) {
    const auto a = static_cast<cudnnConvolutionBwdDataAlgo_t>(algo);
    if (algo < 0 || algo >= CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT ||
        a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT || a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING)
      return false;
    size_t bytes = 0;
    if (cudnnGetConvolutionBackwardDataWorkspaceSize(handle, w_.get(), dy_.get(), conv_.get(),
                                                     dx_.get(), a, &bytes) != CUDNN_STATUS_SUCCESS ||
        bytes > kMaxWorkspace)
      return false;
    algo_ = a;
    workspace_ = bytes;
    return true;
  }

  bool has_bias_;
  bool tensor_ops_;
  TensorDescriptor dy_, dx_, bias_;
  FilterDescriptor w_;
  ConvolutionDescriptor conv_;
  cudnnConvolutionBwdDataAlgo_t algo_ = CUDNN_CONVOLUTION_BWD_DATA_ALGO_1;
  size_t workspace_ = 0;
};

// ---- Pooling ----

// cuDNN's windows equal MXNet's (non-global pooling) when the output has the floor ("valid")
// size, no window lies wholly in the padding, and sum pooling (which cuDNN lacks) is not asked for.
// Then every window ends inside [0, x + pad), so the avg divisor is the kernel size (or the valid
// count) in both.
// (N, spatial..., C) as (N, C, spatial...): the window checks read channel-first shapes.
Shape ChannelFirst(const Shape& s, bool channels_last) {
  return channels_last ? Shape(ops::ChannelsFirstOrder(s.dims())) : s;
}

bool PoolingMatchesCudnn(const KernelSpec& spec, const ops::PoolingParams& p) {
  if (p.pool == ops::PoolType::kSum) return false;
  const Shape x = ChannelFirst(spec.inputs[0].shape, p.channels_last);
  const Shape y = ChannelFirst(spec.outputs[0].shape, p.channels_last);
  const int spatial = x.ndim() - 2;
  if (static_cast<int>(p.kernel.size()) != spatial) return false;
  for (int i = 0; i < spatial; ++i) {
    const int64_t k = p.kernel[i];
    const int64_t s = i < static_cast<int>(p.stride.size()) ? p.stride[i] : 1;
    const int64_t pad = i < static_cast<int>(p.pad.size()) ? p.pad[i] : 0;
    if (k < 1 || s < 1 || pad < 0 || pad >= k || x[2 + i] + 2 * pad < k) return false;
    if (y[2 + i] != (x[2 + i] + 2 * pad - k) / s + 1) return false;
  }
  return true;
}

class CudnnPooling final : public Kernel {
 public:
  CudnnPooling(const KernelSpec& spec, const ops::PoolingParams& p, cudnnDataType_t type) {
    const bool nhwc = p.channels_last;
    const Shape x = ChannelFirst(spec.inputs[0].shape, nhwc);
    const int spatial = x.ndim() - 2;
    std::vector<int64_t> kernel = p.kernel, stride = p.stride, pad = p.pad;
    if (p.global_pool) {
      kernel.assign(x.dims().begin() + 2, x.dims().end());
      stride.assign(spatial, 1);
      pad.assign(spatial, 0);
    }
    const std::vector<int> window = SpatialParam(kernel, spatial, 1, 1);
    const std::vector<int> strides = SpatialParam(stride, spatial, 1, 1);
    const std::vector<int> pads = SpatialParam(pad, spatial, 0, 0);
    cudnnPoolingMode_t mode = CUDNN_POOLING_MAX;
    if (p.pool == ops::PoolType::kAvg) {
      mode = p.count_include_pad ? CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING
                                 : CUDNN_POOLING_AVERAGE_COUNT_EXCLUDE_PADDING;
    }
    TANDEM_CUDNN_OR_FALLBACK(cudnnSetPoolingNdDescriptor(
        pool_.get(), mode, CUDNN_NOT_PROPAGATE_NAN, static_cast<int>(window.size()),
        window.data(), pads.data(), strides.data()));
    const std::vector<int64_t> y_dims = Widen1D(ChannelFirst(spec.outputs[0].shape, nhwc));
    x_.Set(ToInt(nhwc ? spec.inputs[0].shape.dims() : Widen1D(x)), type, nhwc);
    y_.Set(ToInt(nhwc ? spec.outputs[0].shape.dims() : y_dims), type, nhwc);
    std::vector<int> dims(y_dims.size());
    TANDEM_CUDNN_OR_FALLBACK(cudnnGetPoolingNdForwardOutputDim(
        pool_.get(), x_.get(), static_cast<int>(dims.size()), dims.data()));
    if (std::vector<int64_t>(dims.begin(), dims.end()) != y_dims) throw NotCovered{};
  }

  void Run(const KernelCall& call) const override {
    CudaState& state = StateFor(call);
    TANDEM_CUDNN_CHECK(cudnnPoolingForward(state.Cudnn(), pool_.get(), &kOne, x_.get(),
                                           call.inputs[0].data, &kZero, y_.get(),
                                           call.outputs[0].data));
  }

 private:
  PoolingDescriptor pool_;
  TensorDescriptor x_, y_;
};

// ---- Activation ----

class CudnnActivation final : public Kernel {
 public:
  CudnnActivation(int64_t size, cudnnActivationMode_t mode, cudnnDataType_t type) {
    TANDEM_CUDNN_OR_FALLBACK(
        cudnnSetActivationDescriptor(act_.get(), mode, CUDNN_PROPAGATE_NAN, 0.0));
    x_.Set({1, 1, 1, static_cast<int>(size)}, type);
  }

  void Run(const KernelCall& call) const override {
    CudaState& state = StateFor(call);
    TANDEM_CUDNN_CHECK(cudnnActivationForward(state.Cudnn(), act_.get(), &kOne, x_.get(),
                                              call.inputs[0].data, &kZero, x_.get(),
                                              call.outputs[0].data));
  }

 private:
  ActivationDescriptor act_;
  TensorDescriptor x_;
};

// ---- Softmax ----

class CudnnSoftmax final : public Kernel {
 public:
  CudnnSoftmax(int64_t outer, int64_t classes, int64_t inner, bool log)
      : algo_(log ? CUDNN_SOFTMAX_LOG : CUDNN_SOFTMAX_ACCURATE) {
    // (outer, classes, inner, 1) with CHANNEL mode normalises along `classes`.
    x_.Set({static_cast<int>(outer), static_cast<int>(classes), static_cast<int>(inner), 1});
  }

  void Run(const KernelCall& call) const override {
    CudaState& state = StateFor(call);
    TANDEM_CUDNN_CHECK(cudnnSoftmaxForward(state.Cudnn(), algo_, CUDNN_SOFTMAX_MODE_CHANNEL,
                                           &kOne, x_.get(), call.inputs[0].data, &kZero,
                                           x_.get(), call.outputs[0].data));
  }

 private:
  cudnnSoftmaxAlgorithm_t algo_;
  TensorDescriptor x_;
};

}  // namespace

std::unique_ptr<Kernel> MakeCudnnConvolution(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::ConvParams>(spec.params);
  if (p.CpuOnly()) return nullptr;  // clip epilogue, blocked layout, asymmetric pads: CPU rewrites only
  ref::RequireArity(spec, p.num_inputs(), 1);
  const int spatial = static_cast<int>(p.kernel.size());
  cudnnDataType_t type;
  if (spatial < 1 || spatial > 3 || !UniformCudnnType(spec, &type) || !FitsInt32(spec) ||
      AnyEmpty(spec))
    return nullptr;
  if (p.channels_last && spatial != 2) return nullptr;
  if (p.fused_sum && spec.inputs[p.residual_input()].shape != spec.outputs[0].shape)
    return nullptr;  // the plain CUDA factory reports the shape error
  if (spec.inputs[0].shape.ndim() != spatial + 2 || spec.inputs[1].shape.ndim() != spatial + 2 ||
      spec.outputs[0].shape.ndim() != spatial + 2)
    return nullptr;  // the plain CUDA factory reports the shape error
  if (!ParamsFitInt(p.pad) || !ParamsFitInt(p.stride) || !ParamsFitInt(p.dilate) ||
      p.num_group < 1 || p.num_group > INT_MAX)
    return nullptr;
  std::unique_ptr<Kernel> legacy =
      CreateOrFallBack([&] { return std::make_unique<CudnnConvolution>(spec, p, type); });
  // Under dynamic batching the GPU promises results within 1e-5 of unbatched ones, not bit for
  // bit (docs/batching.md): both kernels choose their algorithm per batch size, so
  // spec.batch_invariant does not exclude either.
  if (!legacy) return nullptr;
  return FastestConvolution(spec, p, type, std::move(legacy));
}

std::unique_ptr<Kernel> MakeCudnnDeconvolution(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::DeconvParams>(spec.params);
  const size_t spatial = p.kernel.size();
  cudnnDataType_t type;
  if (spec.inputs.size() < p.num_inputs() || spatial < 2 || spatial > 3 || p.channels_last ||
      !UniformCudnnType(spec, &type) || !FitsInt32(spec) || AnyEmpty(spec) ||
      spec.inputs[0].shape.ndim() != static_cast<int>(spatial) + 2 || !ParamsFitInt(p.stride) ||
      !ParamsFitInt(p.dilate) || p.num_group < 1 || p.num_group > INT_MAX)
    return nullptr;  // the reference (on the host) reports shape errors and takes the rest
  return CreateOrFallBack([&] { return std::make_unique<CudnnDeconvolution>(spec, p, type); });
}

std::unique_ptr<Kernel> MakeCudnnPooling(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::PoolingParams>(spec.params);
  ref::RequireArity(spec, 1, 1);
  const Shape x = ChannelFirst(spec.inputs[0].shape, p.channels_last);
  if (x.ndim() < 3 || x.ndim() > 5 || spec.outputs[0].shape.ndim() != x.ndim()) return nullptr;
  if (p.channels_last && x.ndim() != 4) return nullptr;
  cudnnDataType_t type;
  if (!UniformCudnnType(spec, &type) || !FitsInt32(spec) || AnyEmpty(spec)) return nullptr;
  if (!ParamsFitInt(p.kernel) || !ParamsFitInt(p.stride) || !ParamsFitInt(p.pad)) return nullptr;
  if (p.pool == ops::PoolType::kSum) return nullptr;
  if (p.global_pool) {
    const Shape y = ChannelFirst(spec.outputs[0].shape, p.channels_last);
    for (int i = 2; i < x.ndim(); ++i)
      if (y[i] != 1) return nullptr;
  } else if (!PoolingMatchesCudnn(spec, p)) {
    return nullptr;
  }
  return CreateOrFallBack([&] { return std::make_unique<CudnnPooling>(spec, p, type); });
}

std::unique_ptr<Kernel> MakeCudnnActivation(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::ActivationParams>(spec.params);
  ref::RequireArity(spec, 1, 1);
  cudnnDataType_t type;
  if (!UniformCudnnType(spec, &type) || !FitsInt32(spec) || AnyEmpty(spec)) return nullptr;
  if (spec.outputs[0].shape.Size() != spec.inputs[0].shape.Size()) return nullptr;
  cudnnActivationMode_t mode;
  switch (p.act) {
    case ops::ActType::kRelu: mode = CUDNN_ACTIVATION_RELU; break;
    case ops::ActType::kSigmoid: mode = CUDNN_ACTIVATION_SIGMOID; break;
    case ops::ActType::kTanh: mode = CUDNN_ACTIVATION_TANH; break;
    default: return nullptr;  // softrelu, softsign: plain CUDA
  }
  const int64_t size = spec.inputs[0].shape.Size();
  return CreateOrFallBack([&] { return std::make_unique<CudnnActivation>(size, mode, type); });
}

std::unique_ptr<Kernel> MakeCudnnSoftmax(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::SoftmaxParams>(spec.params);
  ref::RequireArity(spec, 1, 1);
  if (p.temperature != 1.0) return nullptr;
  if (!AllFloat32(spec, 1) || spec.inputs[0].shape.Size() > INT_MAX) return nullptr;
  const Shape& x = spec.inputs[0].shape;
  if (x.ndim() < 1 || x.Size() == 0 || spec.outputs[0].shape.Size() != x.Size()) return nullptr;
  int64_t outer, classes, inner;
  if (p.flatten_to_2d) {
    outer = x[0];
    classes = x.Prod(1, x.ndim());
    inner = 1;
  } else {
    const int axis = ref::NormaliseAxis(spec, p.axis, x);
    outer = x.Prod(0, axis);
    classes = x[axis];
    inner = x.Prod(axis + 1, x.ndim());
  }
  return CreateOrFallBack(
      [&] { return std::make_unique<CudnnSoftmax>(outer, classes, inner, p.log); });
}

}  // namespace tandem::cuda
