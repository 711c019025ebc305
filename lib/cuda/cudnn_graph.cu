// cuDNN graph-API convolutions (Backend::kCudnn): a 2-D convolution with its bias, the rewrite's
// fused residual add and ReLU, as one cuDNN operation graph, run by the engine configuration that
// measures fastest on this very shape. Why a second convolution kernel: the legacy API's
// cudnnFind chooses among eight algorithms, each with fixed knobs; the graph API's heuristics also
// offer split-K and tile variants and engines that fuse the epilogue, which is what batch-1
// convolutions need (a 7x7x512 output fills few of an H100's 132 SMs). The legacy kernel is
// measured the same way and kept when it is faster, so this never makes a model slower than it
// was (up to the noise of one measurement). In strict fp32 the split-K kernel (conv_splitk.hpp)
// is measured too, and kept where it beats both.
//
// Numerics: strict fp32 engines only (no tensor-core note) unless allow_tf32; never FFT,
// large-tile Winograd, reduced-precision reductions, down-converted inputs or non-deterministic
// engines. The epilogue is applied in the reference's order (bias, then residual, then ReLU),
// inside cuDNN's engine or, for an engine that only convolves, by one elementwise kernel.
//
// Threading: the kernel keeps only the chosen engine (its global index and knob values), which
// is immutable. cuDNN execution plans must not be shared between threads (cuDNN's release notes;
// PyTorch keeps its plans thread_local for this reason), so each execution context builds its own
// operation graph and plan from that recipe with its own handle, on its first call (which the
// CUDA graph path runs eagerly, outside any capture), and keeps it in its CudaState.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <sstream>
#include <string>
#include <utility>

#include "lib/cuda/conv_splitk.hpp"
#include "lib/cuda/cudnn_common.cuh"
#include "lib/cuda/kernel_timing.cuh"

namespace tandem::cuda {
namespace {

// ---- backend descriptors ----

class Desc {
 public:
  explicit Desc(cudnnBackendDescriptorType_t type) {
    TANDEM_CUDNN_OR_FALLBACK(cudnnBackendCreateDescriptor(type, &d_));
  }
  Desc(Desc&& other) noexcept : d_(std::exchange(other.d_, nullptr)) {}
  Desc& operator=(Desc&&) = delete;
  ~Desc() {
    if (d_) cudnnBackendDestroyDescriptor(d_);
  }

  Desc& Set(cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type, int64_t count,
            const void* values) {
    TANDEM_CUDNN_OR_FALLBACK(cudnnBackendSetAttribute(d_, name, type, count, values));
    return *this;
  }
  Desc& SetInts(cudnnBackendAttributeName_t name, const std::vector<int64_t>& values) {
    return Set(name, CUDNN_TYPE_INT64, static_cast<int64_t>(values.size()), values.data());
  }
  Desc& SetInt(cudnnBackendAttributeName_t name, int64_t value) {
    return Set(name, CUDNN_TYPE_INT64, 1, &value);
  }
  Desc& SetDesc(cudnnBackendAttributeName_t name, cudnnBackendDescriptor_t value) {
    return Set(name, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &value);
  }
  Desc& SetType(cudnnBackendAttributeName_t name, cudnnDataType_t value) {
    return Set(name, CUDNN_TYPE_DATA_TYPE, 1, &value);
  }
  Desc& Finalize() {
    TANDEM_CUDNN_OR_FALLBACK(cudnnBackendFinalize(d_));
    return *this;
  }
  cudnnBackendDescriptor_t get() const { return d_; }

 private:
  cudnnBackendDescriptor_t d_ = nullptr;
};

// Reads an attribute of up to `values.size()` elements; returns how many there were.
template <class T>
int64_t Get(cudnnBackendDescriptor_t d, cudnnBackendAttributeName_t name,
            cudnnBackendAttributeType_t type, std::vector<T>& values) {
  int64_t count = 0;
  TANDEM_CUDNN_OR_FALLBACK(cudnnBackendGetAttribute(d, name, type,
                                                    static_cast<int64_t>(values.size()), &count,
                                                    values.data()));
  return count;
}

// An array attribute of descriptors: cuDNN fills descriptors the caller created, here up to
// `capacity` of `type`; `raw` holds the ones it filled.
struct DescArray {
  std::vector<Desc> owned;
  std::vector<cudnnBackendDescriptor_t> raw;
};

DescArray GetDescs(cudnnBackendDescriptor_t d, cudnnBackendAttributeName_t name,
                   cudnnBackendDescriptorType_t type, int64_t capacity) {
  DescArray a;
  a.owned.reserve(static_cast<size_t>(capacity));
  for (int64_t i = 0; i < capacity; ++i) a.raw.push_back(a.owned.emplace_back(type).get());
  a.raw.resize(Get(d, name, CUDNN_TYPE_BACKEND_DESCRIPTOR, a.raw));
  return a;
}

// ---- the convolution as an operation graph ----

enum Uid : int64_t { kX = 1, kW, kBias, kResidual, kY, kConvOut = 101, kBiasOut, kSumOut };

// Dense tensors as cuDNN wants them: logical (N, C, H, W) dims, with the strides of the layout
// the tensor is stored in.
struct Layout {
  std::vector<int64_t> dims, strides;
};

Layout LogicalLayout(const std::vector<int64_t>& stored, bool channels_last) {
  Layout l{stored, std::vector<int64_t>(stored.size(), 1)};
  for (int i = static_cast<int>(stored.size()) - 2; i >= 0; --i)
    l.strides[i] = l.strides[i + 1] * stored[i + 1];
  if (channels_last) {
    l.dims = ops::ChannelsFirstOrder(std::move(l.dims));
    l.strides = ops::ChannelsFirstOrder(std::move(l.strides));
  }
  return l;
}

// What the kernel needs to build its operation graph again, on any handle.
struct ConvGeometry {
  cudnnDataType_t type = CUDNN_DATA_FLOAT;
  Layout x, w, y, bias;
  std::vector<int64_t> pad, stride, dilate;
  bool has_bias = false, relu = false;
  size_t residual = 0;  // input index of the fused residual add, 0 for none
  bool tensor_ops = false;  // TF32 (float32 with allow_tf32) or float16 / bfloat16
  int64_t channels = 0, inner = 1;  // output channels; elements per channel run (NCHW: H*W)

  bool HasEpilogue() const { return has_bias || residual || relu; }
};

// Every descriptor of one operation graph: the graph refers to the others, so they live together.
struct OpGraph {
  std::vector<Desc> parts;
  cudnnBackendDescriptor_t graph = nullptr;

  cudnnBackendDescriptor_t Keep(Desc d) {
    parts.push_back(std::move(d));
    return parts.back().get();
  }
};

constexpr int64_t kAlignment = 16;  // bytes; Run checks every pointer before it promises this

cudnnBackendDescriptor_t Tensor(OpGraph& g, int64_t uid, const Layout& l, cudnnDataType_t type,
                                bool is_virtual) {
  Desc d(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
  d.SetType(CUDNN_ATTR_TENSOR_DATA_TYPE, type)
      .SetInts(CUDNN_ATTR_TENSOR_DIMENSIONS, l.dims)
      .SetInts(CUDNN_ATTR_TENSOR_STRIDES, l.strides)
      .SetInt(CUDNN_ATTR_TENSOR_UNIQUE_ID, uid)
      .SetInt(CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, kAlignment);
  if (is_virtual) {
    const bool yes = true;
    d.Set(CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &yes);
  }
  d.Finalize();
  return g.Keep(std::move(d));
}

cudnnBackendDescriptor_t Pointwise(OpGraph& g, cudnnPointwiseMode_t mode,
                                   cudnnBackendDescriptor_t x, cudnnBackendDescriptor_t b,
                                   cudnnBackendDescriptor_t y) {
  Desc pw(CUDNN_BACKEND_POINTWISE_DESCRIPTOR);
  pw.Set(CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &mode)
      .SetType(CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_DATA_FLOAT)
      .Finalize();
  Desc op(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR);
  op.SetDesc(CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, g.Keep(std::move(pw)))
      .SetDesc(CUDNN_ATTR_OPERATION_POINTWISE_XDESC, x);
  if (b) op.SetDesc(CUDNN_ATTR_OPERATION_POINTWISE_BDESC, b);
  op.SetDesc(CUDNN_ATTR_OPERATION_POINTWISE_YDESC, y).Finalize();
  return g.Keep(std::move(op));
}

// conv -> (+ bias) -> (+ residual) -> (ReLU) -> y when `fused`, else conv -> y alone.
OpGraph BuildOpGraph(const ConvGeometry& c, bool fused, cudnnHandle_t handle) {
  OpGraph g;
  const cudnnBackendDescriptor_t x = Tensor(g, kX, c.x, c.type, false);
  const cudnnBackendDescriptor_t w = Tensor(g, kW, c.w, c.type, false);
  const cudnnBackendDescriptor_t y = Tensor(g, kY, c.y, c.type, false);
  const bool epilogue = fused && c.HasEpilogue();
  const cudnnBackendDescriptor_t conv_out =
      epilogue ? Tensor(g, kConvOut, c.y, CUDNN_DATA_FLOAT, true) : y;

  Desc conv(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR);
  const cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
  conv.SetInt(CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, static_cast<int64_t>(c.pad.size()))
      .SetType(CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_DATA_FLOAT)
      .Set(CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode)
      .SetInts(CUDNN_ATTR_CONVOLUTION_DILATIONS, c.dilate)
      .SetInts(CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, c.stride)
      .SetInts(CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, c.pad)
      .SetInts(CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, c.pad)
      .Finalize();
  const float one = 1.0f, zero = 0.0f;
  Desc op(CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR);
  op.SetDesc(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, x)
      .SetDesc(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, w)
      .SetDesc(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y, conv_out)
      .SetDesc(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, g.Keep(std::move(conv)))
      .Set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_TYPE_FLOAT, 1, &one)
      .Set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, CUDNN_TYPE_FLOAT, 1, &zero)
      .Finalize();
  std::vector<cudnnBackendDescriptor_t> ops = {g.Keep(std::move(op))};

  if (epilogue) {
    // Each step writes a virtual float32 tensor, the last one y.
    const int steps = int{c.has_bias} + int{c.residual != 0} + int{c.relu};
    int done = 0;
    cudnnBackendDescriptor_t current = conv_out;
    auto next = [&](int64_t uid) {
      return ++done == steps ? y : Tensor(g, uid, c.y, CUDNN_DATA_FLOAT, true);
    };
    if (c.has_bias) {
      const cudnnBackendDescriptor_t out = next(kBiasOut);
      ops.push_back(Pointwise(g, CUDNN_POINTWISE_ADD, current,
                              Tensor(g, kBias, c.bias, c.type, false), out));
      current = out;
    }
    if (c.residual) {
      const cudnnBackendDescriptor_t out = next(kSumOut);
      ops.push_back(Pointwise(g, CUDNN_POINTWISE_ADD, current,
                              Tensor(g, kResidual, c.y, c.type, false), out));
      current = out;
    }
    if (c.relu) ops.push_back(Pointwise(g, CUDNN_POINTWISE_RELU_FWD, current, nullptr, y));
  }

  Desc graph(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
  graph.Set(CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
            static_cast<int64_t>(ops.size()), ops.data())
      .Set(CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle)
      .Finalize();
  g.graph = g.Keep(std::move(graph));
  return g;
}

// ---- engines ----

// An engine configuration by value: enough to build the same plan on another handle.
struct EngineRecipe {
  int64_t engine = -1;
  std::vector<std::pair<cudnnBackendKnobType_t, int64_t>> knobs;
  bool runtime_compiled = false;

  bool operator==(const EngineRecipe&) const = default;
};

constexpr int64_t kMaxKnobs = CUDNN_KNOB_TYPE_COUNTS;

// Whether engine `engine`'s numerics are acceptable here (see the file comment); sets
// `runtime_compiled` from its behaviour notes.
bool NumericsAcceptable(cudnnBackendDescriptor_t engine, const ConvGeometry& c,
                        bool* runtime_compiled) {
  std::vector<cudnnBackendNumericalNote_t> notes(CUDNN_NUMERICAL_NOTE_TYPE_COUNT);
  notes.resize(Get(engine, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, CUDNN_TYPE_NUMERICAL_NOTE, notes));
  for (cudnnBackendNumericalNote_t note : notes) {
    switch (note) {
      case CUDNN_NUMERICAL_NOTE_TENSOR_CORE:
        if (!c.tensor_ops) return false;
        break;
      case CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS:
      case CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION:
      case CUDNN_NUMERICAL_NOTE_FFT:
      case CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC:
      case CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_6x6:
      case CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_13x13:
        return false;
      default:
        break;
    }
  }
  std::vector<cudnnBackendBehaviorNote_t> behavior(CUDNN_BEHAVIOR_NOTE_TYPE_COUNT);
  behavior.resize(
      Get(engine, CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE, CUDNN_TYPE_BEHAVIOR_NOTE, behavior));
  *runtime_compiled = false;
  for (cudnnBackendBehaviorNote_t note : behavior)
    if (note == CUDNN_BEHAVIOR_NOTE_RUNTIME_COMPILATION) *runtime_compiled = true;
  return true;
}

// The recipe of a heuristics result, or nothing when its numerics are not acceptable here.
std::optional<EngineRecipe> Acceptable(cudnnBackendDescriptor_t config, const ConvGeometry& c) {
  Desc engine(CUDNN_BACKEND_ENGINE_DESCRIPTOR);
  std::vector<cudnnBackendDescriptor_t> engines = {engine.get()};
  Get(config, CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, engines);
  EngineRecipe r;
  std::vector<int64_t> index(1);
  Get(engine.get(), CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, index);
  r.engine = index[0];
  if (!NumericsAcceptable(engine.get(), c, &r.runtime_compiled)) return std::nullopt;

  const DescArray choices = GetDescs(config, CUDNN_ATTR_ENGINECFG_KNOB_CHOICES,
                                     CUDNN_BACKEND_KNOB_CHOICE_DESCRIPTOR, kMaxKnobs);
  for (cudnnBackendDescriptor_t choice : choices.raw) {
    std::vector<cudnnBackendKnobType_t> type(1);
    std::vector<int64_t> value(1);
    Get(choice, CUDNN_ATTR_KNOB_CHOICE_KNOB_TYPE, CUDNN_TYPE_KNOB_TYPE, type);
    Get(choice, CUDNN_ATTR_KNOB_CHOICE_KNOB_VALUE, CUDNN_TYPE_INT64, value);
    r.knobs.emplace_back(type[0], value[0]);
  }
  return r;
}

// The configurations cuDNN's heuristics `mode` suggests for `g`, best first (empty when none).
std::vector<EngineRecipe> Suggestions(const OpGraph& g, const ConvGeometry& c,
                                      cudnnBackendHeurMode_t mode) {
  Desc heur(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
  heur.SetDesc(CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, g.graph)
      .Set(CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode)
      .Finalize();
  int64_t count = 0;
  TANDEM_CUDNN_OR_FALLBACK(cudnnBackendGetAttribute(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                                    CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &count,
                                                    nullptr));
  const DescArray configs = GetDescs(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                     CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, count);
  std::vector<EngineRecipe> out;
  for (cudnnBackendDescriptor_t config : configs.raw) {
    try {
      if (std::optional<EngineRecipe> r = Acceptable(config, c)) out.push_back(std::move(*r));
    } catch (const NotCovered&) {
    }
  }
  return out;
}

// An execution plan of one engine configuration on an operation graph built with `handle`.
struct EnginePlan {
  std::vector<Desc> parts;  // knob choices, engine, engine config, plan
  cudnnBackendDescriptor_t plan = nullptr;
  size_t workspace = 0;
};

EnginePlan BuildEnginePlan(const OpGraph& graph, const EngineRecipe& r, cudnnHandle_t handle) {
  EnginePlan p;
  Desc engine(CUDNN_BACKEND_ENGINE_DESCRIPTOR);
  engine.SetDesc(CUDNN_ATTR_ENGINE_OPERATION_GRAPH, graph.graph)
      .SetInt(CUDNN_ATTR_ENGINE_GLOBAL_INDEX, r.engine)
      .Finalize();
  std::vector<cudnnBackendDescriptor_t> knobs;
  for (const auto& [type, value] : r.knobs) {
    Desc k(CUDNN_BACKEND_KNOB_CHOICE_DESCRIPTOR);
    k.Set(CUDNN_ATTR_KNOB_CHOICE_KNOB_TYPE, CUDNN_TYPE_KNOB_TYPE, 1, &type)
        .SetInt(CUDNN_ATTR_KNOB_CHOICE_KNOB_VALUE, value)
        .Finalize();
    p.parts.push_back(std::move(k));
    knobs.push_back(p.parts.back().get());
  }
  p.parts.push_back(std::move(engine));
  Desc config(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR);
  config.SetDesc(CUDNN_ATTR_ENGINECFG_ENGINE, p.parts.back().get());
  if (!knobs.empty()) {
    config.Set(CUDNN_ATTR_ENGINECFG_KNOB_CHOICES, CUDNN_TYPE_BACKEND_DESCRIPTOR,
               static_cast<int64_t>(knobs.size()), knobs.data());
  }
  config.Finalize();
  p.parts.push_back(std::move(config));
  Desc plan(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR);
  plan.Set(CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle)
      .SetDesc(CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, p.parts.back().get())
      .Finalize();
  p.parts.push_back(std::move(plan));
  p.plan = p.parts.back().get();
  std::vector<int64_t> workspace(1);
  Get(p.plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, workspace);
  p.workspace = static_cast<size_t>(std::max<int64_t>(workspace[0], 0));
  return p;
}

// A context's own operation graph and plan (the plan refers to the graph).
struct Plan {
  OpGraph graph;
  EnginePlan engine;
};

// The device pointers of one run, by uid.
struct Pointers {
  void* x = nullptr;
  void* w = nullptr;
  void* bias = nullptr;
  void* residual = nullptr;
  void* y = nullptr;
};

Pointers PointersOf(const KernelCall& call, const ConvGeometry& c) {
  Pointers ptr{call.inputs[0].data, call.inputs[1].data, nullptr, nullptr, call.outputs[0].data};
  if (c.has_bias) ptr.bias = call.inputs[2].data;
  if (c.residual) ptr.residual = call.inputs[c.residual].data;
  return ptr;
}

cudnnStatus_t Execute(cudnnHandle_t handle, const EnginePlan& p, const ConvGeometry& c, bool fused,
                      const Pointers& ptr, void* workspace) {
  std::vector<int64_t> uids = {kX, kW, kY};
  std::vector<void*> data = {ptr.x, ptr.w, ptr.y};
  if (fused && c.has_bias) {
    uids.push_back(kBias);
    data.push_back(ptr.bias);
  }
  if (fused && c.residual) {
    uids.push_back(kResidual);
    data.push_back(ptr.residual);
  }
  cudnnBackendDescriptor_t pack = nullptr;
  cudnnStatus_t s = cudnnBackendCreateDescriptor(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, &pack);
  if (s != CUDNN_STATUS_SUCCESS) return s;
  const int64_t n = static_cast<int64_t>(uids.size());
  s = cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, n,
                               uids.data());
  if (s == CUDNN_STATUS_SUCCESS)
    s = cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR,
                                 n, data.data());
  if (s == CUDNN_STATUS_SUCCESS)
    s = cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1,
                                 &workspace);
  if (s == CUDNN_STATUS_SUCCESS) s = cudnnBackendFinalize(pack);
  if (s == CUDNN_STATUS_SUCCESS) s = cudnnBackendExecute(handle, p.plan, pack);
  cudnnBackendDestroyDescriptor(pack);
  return s;
}

// y = relu(y + bias[channel] + residual), each part only when asked for: the epilogue of an
// engine that only convolves, in the reference's order.
__global__ void EpilogueKernel(float* y, const float* bias, const float* residual, int64_t n,
                               int64_t channels, int64_t inner, bool relu) {
  TANDEM_GRID_STRIDE_LOOP(i, n) {
    float v = y[i];
    if (bias) v += bias[(i / inner) % channels];
    if (residual) v += residual[i];
    if (relu && v < 0.0f) v = 0.0f;  // NaN stays NaN, as in the reference
    y[i] = v;
  }
}

void RunEpilogue(const ConvGeometry& c, const Pointers& ptr, cudaStream_t stream) {
  const int64_t n = c.y.dims[0] * c.y.dims[1] * c.y.dims[2] * c.y.dims[3];
  EpilogueKernel<<<BlocksFor(n), kBlockSize, 0, stream>>>(
      static_cast<float*>(ptr.y), static_cast<const float*>(c.has_bias ? ptr.bias : nullptr),
      static_cast<const float*>(c.residual ? ptr.residual : nullptr), n, c.channels, c.inner,
      c.relu);
  TANDEM_CUDA_CHECK_LAUNCH();
}

// ---- the kernel ----

constexpr size_t kMaxWorkspace = size_t{256} << 20;
// Runtime-compiled engines take 0.1-1 s each to build: only the heuristics' first few are tried.
constexpr int kMaxRuntimeCompiled = 2;
constexpr int kMaxTrials = 24;

struct Choice {
  bool use_graph = false;
  std::optional<SplitKGeometry> splitk;  // set: the split-K kernel beats both cuDNN kernels
  double splitk_ms = 0.0;
  bool fused = false;  // the operation graph holds the epilogue
  EngineRecipe recipe;
  size_t workspace = 0;
  double graph_ms = 0.0, legacy_ms = 0.0;
  int trials = 0;  // engine configurations measured (for the log)
};

class GraphConvolution final : public Kernel {
 public:
  GraphConvolution(ConvGeometry geometry, const Choice& choice, std::unique_ptr<Kernel> legacy)
      : c_(std::move(geometry)),
        fused_(choice.fused),
        recipe_(choice.recipe),
        workspace_(choice.workspace),
        legacy_(std::move(legacy)),
        id_(NewKernelId()) {}

  void Run(const KernelCall& call) const override {
    CudaState& state = StateFor(call);
    const Pointers ptr = PointersOf(call, c_);
    const Local* local = LocalFor(state);
    if (!local->plan || !Aligned(ptr)) {  // no plan on this context, or pointers cuDNN can't take
      legacy_->Run(call);
      return;
    }
    TANDEM_CUDNN_CHECK(
        Execute(state.Cudnn(), local->plan->engine, c_, fused_, ptr, call.scratch));
    if (!fused_ && c_.HasEpilogue()) RunEpilogue(c_, ptr, state.stream());
  }

  size_t ScratchBytes() const override { return std::max(workspace_, legacy_->ScratchBytes()); }

 private:
  struct Local final : CudaState::KernelLocal {
    std::unique_ptr<Plan> plan;  // null: building it failed here; the legacy kernel runs instead
  };

  const Local* LocalFor(CudaState& state) const {
    if (auto* local = static_cast<const Local*>(state.FindKernelLocal(id_))) return local;
    auto local = std::make_unique<Local>();
    try {
      auto plan = std::make_unique<Plan>();
      plan->graph = BuildOpGraph(c_, fused_, state.Cudnn());
      plan->engine = BuildEnginePlan(plan->graph, recipe_, state.Cudnn());
      if (plan->engine.workspace <= workspace_) local->plan = std::move(plan);
    } catch (const NotCovered&) {
      local->plan.reset();
    } catch (const Error&) {  // no memory for a runtime-compiled engine, say: the legacy kernel
      local->plan.reset();
    }
    return static_cast<const Local*>(&state.AddKernelLocal(id_, std::move(local)));
  }

  static bool Aligned(const Pointers& ptr) {
    for (const void* p : {ptr.x, ptr.w, ptr.bias, ptr.residual, ptr.y})
      if (reinterpret_cast<uintptr_t>(p) % kAlignment != 0) return false;
    return true;
  }

  ConvGeometry c_;
  bool fused_;
  EngineRecipe recipe_;
  size_t workspace_;
  std::unique_ptr<Kernel> legacy_;  // for pointers below kAlignment and contexts without a plan
  uint64_t id_;
};

std::optional<ConvGeometry> GeometryOf(const KernelSpec& spec, const ops::ConvParams& p,
                                       cudnnDataType_t type) {
  if (p.kernel.size() != 2) return std::nullopt;  // 1-D and 3-D stay on the legacy kernel
  ConvGeometry c;
  c.type = type;
  const bool nhwc = p.channels_last;
  c.x = LogicalLayout(spec.inputs[0].shape.dims(), nhwc);
  c.w = LogicalLayout(spec.inputs[1].shape.dims(), nhwc);
  c.y = LogicalLayout(spec.outputs[0].shape.dims(), nhwc);
  for (size_t i = 0; i < 2; ++i) {
    c.pad.push_back(SpatialAt(p.pad, i, 0));
    c.stride.push_back(SpatialAt(p.stride, i, 1));
    c.dilate.push_back(SpatialAt(p.dilate, i, 1));
  }
  c.has_bias = !p.no_bias;
  c.residual = p.fused_sum ? p.residual_input() : 0;
  c.relu = p.fused_relu;
  c.tensor_ops = spec.allow_tf32 || type != CUDNN_DATA_FLOAT;
  c.channels = c.y.dims[1];
  c.inner = nhwc ? 1 : c.y.dims[2] * c.y.dims[3];
  c.bias = Layout{{1, c.channels, 1, 1}, {c.channels, 1, c.channels, c.channels}};
  return c;
}

// Measuring stops here (after at least one configuration): what a model's build may spend per
// convolution shape and graph variant. At batch 1 this covers the heuristics' list and the knob
// search; at large batches, or with runtime compilation, the search is cut short.
using Clock = std::chrono::steady_clock;
constexpr auto kSearchBudget = std::chrono::milliseconds(150);

// What measuring one engine configuration gave.
struct Measured {
  EngineRecipe recipe;
  double ms = 0.0;
  size_t workspace = 0;
};

// One engine search: a convolution's operation graph (fused or not) and the trial buffers it is
// timed on, on this thread's stream and handle.
struct Search {
  const ConvGeometry& c;
  bool fused;
  CudaState& state;
  Pointers ptr;
  Clock::time_point deadline = Clock::now() + kSearchBudget;  // set before the graph is built
  int measured = 0;  // configurations timed (for TANDEM_CUDNN_GRAPH_LOG)
  OpGraph graph;

  Search(const ConvGeometry& geometry, bool fused_epilogue, CudaState& s, const Pointers& p)
      : c(geometry), fused(fused_epilogue), state(s), ptr(p),
        graph(BuildOpGraph(geometry, fused_epilogue, s.Cudnn())) {}
};

// Times `r` on the trial buffers; nothing when cuDNN cannot build or run it.
std::optional<Measured> Measure(Search& s, const EngineRecipe& r) {
  ++s.measured;
  try {
    const EnginePlan plan = BuildEnginePlan(s.graph, r, s.state.Cudnn());
    if (plan.workspace > kMaxWorkspace) return std::nullopt;
    const std::unique_ptr<detail::Storage> workspace =
        ZeroedBlock(s.state.device(), plan.workspace);
    bool ok = true;
    const double ms = TimeMs(s.state.stream(), [&] {
      if (Execute(s.state.Cudnn(), plan, s.c, s.fused, s.ptr, PtrOf(workspace)) !=
          CUDNN_STATUS_SUCCESS)
        ok = false;
      if (!s.fused && s.c.HasEpilogue()) RunEpilogue(s.c, s.ptr, s.state.stream());
    });
    if (!ok) return std::nullopt;
    return Measured{r, ms, plan.workspace};
  } catch (const NotCovered&) {
    return std::nullopt;
  }
}

// The values each knob of engine `r.engine` may take (cuDNN's knob info), by knob type.
std::vector<std::pair<cudnnBackendKnobType_t, std::vector<int64_t>>> KnobRanges(
    const OpGraph& graph, const EngineRecipe& r) {
  Desc engine(CUDNN_BACKEND_ENGINE_DESCRIPTOR);
  engine.SetDesc(CUDNN_ATTR_ENGINE_OPERATION_GRAPH, graph.graph)
      .SetInt(CUDNN_ATTR_ENGINE_GLOBAL_INDEX, r.engine)
      .Finalize();
  const DescArray infos = GetDescs(engine.get(), CUDNN_ATTR_ENGINE_KNOB_INFO,
                                   CUDNN_BACKEND_KNOB_INFO_DESCRIPTOR, kMaxKnobs);
  constexpr int64_t kMaxValues = 16;  // per knob; wider ranges are sampled evenly
  std::vector<std::pair<cudnnBackendKnobType_t, std::vector<int64_t>>> out;
  for (cudnnBackendDescriptor_t info : infos.raw) {
    std::vector<cudnnBackendKnobType_t> type(1);
    std::vector<int64_t> lo(1), hi(1), stride(1);
    Get(info, CUDNN_ATTR_KNOB_INFO_TYPE, CUDNN_TYPE_KNOB_TYPE, type);
    Get(info, CUDNN_ATTR_KNOB_INFO_MINIMUM_VALUE, CUDNN_TYPE_INT64, lo);
    Get(info, CUDNN_ATTR_KNOB_INFO_MAXIMUM_VALUE, CUDNN_TYPE_INT64, hi);
    Get(info, CUDNN_ATTR_KNOB_INFO_STRIDE, CUDNN_TYPE_INT64, stride);
    if (hi[0] <= lo[0] || stride[0] < 1) continue;
    const int64_t count = (hi[0] - lo[0]) / stride[0] + 1;
    const int64_t step = stride[0] * std::max<int64_t>(1, (count + kMaxValues - 1) / kMaxValues);
    std::vector<int64_t> values;
    for (int64_t v = lo[0]; v <= hi[0]; v += step) values.push_back(v);
    out.emplace_back(type[0], std::move(values));
  }
  return out;
}

// One pass of coordinate descent over the knobs of `best`'s engine: each knob in turn takes the
// value that measures fastest with the others held. The heuristics' knob values are tuned for
// large batches; at batch 1 other split-K and tile choices often win.
Measured RefineKnobs(Search& s, Measured best) {
  std::vector<std::pair<cudnnBackendKnobType_t, std::vector<int64_t>>> ranges;
  try {
    ranges = KnobRanges(s.graph, best.recipe);
  } catch (const NotCovered&) {
    return best;
  }
  for (const auto& [type, values] : ranges) {
    for (int64_t value : values) {
      if (Clock::now() > s.deadline) return best;
      EngineRecipe r = best.recipe;
      auto knob = std::find_if(r.knobs.begin(), r.knobs.end(),
                               [&](const auto& k) { return k.first == type; });
      if (knob == r.knobs.end()) {
        r.knobs.emplace_back(type, value);
      } else if (knob->second == value) {
        continue;
      } else {
        knob->second = value;
      }
      if (std::optional<Measured> m = Measure(s, r); m && m->ms < best.ms) best = std::move(*m);
    }
  }
  return best;
}

// The fastest acceptable engine configuration of the search's graph; nothing when none ran.
std::optional<Measured> FastestEngine(Search& s) {
  std::vector<EngineRecipe> candidates;
  for (cudnnBackendHeurMode_t mode : {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_FALLBACK}) {
    try {
      for (EngineRecipe& r : Suggestions(s.graph, s.c, mode))
        if (std::find(candidates.begin(), candidates.end(), r) == candidates.end())
          candidates.push_back(std::move(r));
    } catch (const NotCovered&) {
    }
  }
  std::vector<Measured> measured;
  int trials = 0, compiled = 0;
  for (const EngineRecipe& r : candidates) {
    if (trials >= kMaxTrials || (!measured.empty() && Clock::now() > s.deadline)) break;
    if (r.runtime_compiled && compiled++ >= kMaxRuntimeCompiled) continue;
    ++trials;
    if (std::optional<Measured> m = Measure(s, r)) measured.push_back(*m);
  }
  if (measured.empty()) return std::nullopt;
  std::sort(measured.begin(), measured.end(),
            [](const Measured& a, const Measured& b) { return a.ms < b.ms; });
  // Knob search on the fastest precompiled engines (each runtime-compiled variant would be
  // compiled again), where it can pay: a few microseconds are not worth the build time.
  constexpr double kWorthRefiningMs = 0.02;
  constexpr int kEnginesRefined = 2;
  Measured best = measured.front();
  std::vector<int64_t> refined;
  for (const Measured& m : measured) {
    if (static_cast<int>(refined.size()) >= kEnginesRefined || m.ms < kWorthRefiningMs) break;
    if (m.recipe.runtime_compiled ||
        std::find(refined.begin(), refined.end(), m.recipe.engine) != refined.end())
      continue;
    refined.push_back(m.recipe.engine);
    Measured r = RefineKnobs(s, m);
    if (r.ms < best.ms) best = std::move(r);
  }
  return best;
}

// Measured choices by shape, for the process and the plan cache: a ResNet-50 has 53
// convolutions of 23 kinds, and every CachedOp (and every input shape) builds its kernels again.
// The key holds everything the choice depends on besides the device: dtype, epilogue, math mode,
// layouts (in the strides), geometry, and whether split-K competes.
std::string ChoiceKey(const ConvGeometry& c) {
  std::string key = "type " + std::to_string(c.type) + " bias/residual/relu/tensor_ops " +
                    std::to_string(c.has_bias) + std::to_string(c.residual != 0) +
                    std::to_string(c.relu) + std::to_string(c.tensor_ops) + " splitk " +
                    (SplitKSetting() != 0 ? "on" : "off");
  for (const std::vector<int64_t>* v :
       {&c.x.dims, &c.x.strides, &c.w.dims, &c.w.strides, &c.y.dims, &c.y.strides, &c.pad,
        &c.stride, &c.dilate}) {
    key += "|";
    for (int64_t d : *v) key += std::to_string(d) + ",";
  }
  return key;
}

// The kernel a choice makes, in words: what "same kernels chosen" compares across processes.
std::string Chosen(const Choice& choice) {
  if (choice.splitk)
    return "split-K tile " + std::to_string(choice.splitk->tile) + ", " +
           std::to_string(choice.splitk->splits) + " slices";
  if (!choice.use_graph) return "legacy";
  std::string s = "graph engine " + std::to_string(choice.recipe.engine) + " knobs";
  for (const auto& [type, value] : choice.recipe.knobs)
    s.append(" ").append(std::to_string(type)).append("=").append(std::to_string(value));
  return s + (choice.fused ? ", fused" : ", epilogue apart") + ", workspace " +
         std::to_string(choice.workspace);
}

// TANDEM_CUDNN_GRAPH_LOG=1: one stderr line per measured shape (benchmarks quote these), and one
// per shape read from the plan cache.
void LogChoice(const std::string& key, const Choice& choice, bool from_cache) {
  if (from_cache) {
    std::fprintf(stderr, "[tandem cudnn conv] %s -> %s | from the plan cache\n", key.c_str(),
                 Chosen(choice).c_str());
    return;
  }
  std::fprintf(stderr,
               "[tandem cudnn conv] %s -> %s | legacy %.1f us, graph %s%.1f us, split-K %.1f us "
               "(%d configurations measured)\n",
               key.c_str(), Chosen(choice).c_str(), choice.legacy_ms * 1e3,
               choice.fused ? "fused " : "", choice.graph_ms * 1e3, choice.splitk_ms * 1e3,
               choice.trials);
}

// Plan cache payload: whitespace-separated fields, in this order (version 1 of "cudnn-conv").
std::string EncodeChoice(const Choice& c) {
  std::ostringstream os;
  os.precision(17);
  os << "use_graph " << c.use_graph << " fused " << c.fused << " engine " << c.recipe.engine
     << " runtime_compiled " << c.recipe.runtime_compiled << " knobs " << c.recipe.knobs.size();
  for (const auto& [type, value] : c.recipe.knobs) os << " " << static_cast<int64_t>(type) << " " << value;
  os << " workspace " << c.workspace << " splitk " << (c.splitk ? 1 : 0) << " "
     << (c.splitk ? c.splitk->tile : 0) << " " << (c.splitk ? c.splitk->splits : 0) << " ms "
     << c.legacy_ms << " " << c.graph_ms << " " << c.splitk_ms << " trials " << c.trials;
  return os.str();
}

// The fields of a payload, range-checked; nothing for anything else. What it names is checked
// against this very convolution by Usable.
std::optional<Choice> ParseChoice(const std::string& payload) {
  std::istringstream is(payload);
  Choice c;
  std::string w[8];
  int use_graph = 0, fused = 0, runtime_compiled = 0, splitk = 0, tile = 0, splits = 0;
  size_t knobs = 0;
  is >> w[0] >> use_graph >> w[1] >> fused >> w[2] >> c.recipe.engine >> w[3] >>
      runtime_compiled >> w[4] >> knobs;
  if (!is || w[0] != "use_graph" || w[1] != "fused" || w[2] != "engine" ||
      w[3] != "runtime_compiled" || w[4] != "knobs" || knobs > static_cast<size_t>(kMaxKnobs))
    return std::nullopt;
  for (size_t i = 0; i < knobs; ++i) {
    int64_t type = -1, value = 0;
    is >> type >> value;
    if (!is || type < 0 || type >= CUDNN_KNOB_TYPE_COUNTS) return std::nullopt;
    c.recipe.knobs.emplace_back(static_cast<cudnnBackendKnobType_t>(type), value);
  }
  is >> w[5] >> c.workspace >> w[6] >> splitk >> tile >> splits >> w[7] >> c.legacy_ms >>
      c.graph_ms >> c.splitk_ms;
  std::string trials_word;
  is >> trials_word >> c.trials;
  std::string rest;
  if (!is || w[5] != "workspace" || w[6] != "splitk" || w[7] != "ms" || trials_word != "trials" ||
      (is >> rest) || c.recipe.engine < -1 || c.workspace > kMaxWorkspace ||
      (use_graph | fused | runtime_compiled | splitk) > 1 ||
      (use_graph | fused | runtime_compiled | splitk) < 0)
    return std::nullopt;
  c.use_graph = use_graph;
  c.fused = fused;
  c.recipe.runtime_compiled = runtime_compiled;
  if (splitk) {
    c.splitk = SplitKGeometry{};
    c.splitk->tile = tile;
    c.splitk->splits = splits;
  }
  return c;
}

// Whether cuDNN builds the stored choice for this convolution, within the same rules as a
// measured one: split-K only where it competes and covers the spec with that very geometry; an
// engine only with acceptable numerics, and (unless runtime-compiled, whose build costs 0.1-1 s:
// GraphConvolution then falls back to the legacy kernel by itself if it fails) a plan that
// builds within the workspace limit. Fills in the geometry and the actual workspace.
bool Usable(Choice& choice, const ConvGeometry& c, const KernelSpec& spec,
            const ops::ConvParams& p) {
  if (choice.splitk) {
    if (c.tensor_ops || SplitKSetting() == 0) return false;
    const int tile = choice.splitk->tile, splits = choice.splitk->splits;
    if (tile < 0 || tile >= SplitKTileShapes() || splits < 1) return false;
    choice.splitk = SplitKGeometryOf(spec, p, splits, tile);
    return choice.splitk && choice.splitk->splits == splits && choice.splitk->tile == tile;
  }
  if (!choice.use_graph) return true;
  // The epilogue kernel apart from cuDNN's is float32 only (Measure never chooses it otherwise).
  if (!choice.fused && c.HasEpilogue() && c.type != CUDNN_DATA_FLOAT) return false;
  try {
    DeviceGuard guard(spec.ctx.id);
    CudaState& state = StateFor(nullptr);
    const OpGraph graph = BuildOpGraph(c, choice.fused, state.Cudnn());
    Desc engine(CUDNN_BACKEND_ENGINE_DESCRIPTOR);
    engine.SetDesc(CUDNN_ATTR_ENGINE_OPERATION_GRAPH, graph.graph)
        .SetInt(CUDNN_ATTR_ENGINE_GLOBAL_INDEX, choice.recipe.engine)
        .Finalize();
    bool runtime_compiled = false;
    if (!NumericsAcceptable(engine.get(), c, &runtime_compiled)) return false;
    choice.recipe.runtime_compiled = runtime_compiled;
    if (runtime_compiled) return true;
    const EnginePlan plan = BuildEnginePlan(graph, choice.recipe, state.Cudnn());
    if (plan.workspace > kMaxWorkspace) return false;
    choice.workspace = plan.workspace;
    return true;
  } catch (const NotCovered&) {
    return false;
  } catch (const Error&) {
    return false;
  }
}

Choice Measure(const ConvGeometry& c, const KernelSpec& spec, const ops::ConvParams& p,
               const Kernel& legacy) {
  DeviceGuard guard(spec.ctx.id);
  CudaState& state = StateFor(nullptr);  // this thread's own stream and handle
  Choice choice;
  {
    TrialBuffers buffers(spec, legacy.ScratchBytes());
    const KernelCall call = buffers.Call();
    choice.legacy_ms = TimeMs(state.stream(), [&] { legacy.Run(call); });
    bool found = false;
    for (bool fused : {true, false}) {
      if (!fused && (!c.HasEpilogue() || c.type != CUDNN_DATA_FLOAT)) continue;
      Search search(c, fused, state, PointersOf(call, c));
      std::optional<Measured> best = FastestEngine(search);
      choice.trials += search.measured;
      if (best && (!found || best->ms < choice.graph_ms)) {
        found = true;
        choice.fused = fused;
        choice.recipe = best->recipe;
        choice.graph_ms = best->ms;
        choice.workspace = best->workspace;
      }
    }
    choice.use_graph = found && choice.graph_ms < choice.legacy_ms;
    // Strict fp32 only: with TF32 or 16-bit types cuDNN's tensor-core engines are far ahead.
    if (!c.tensor_ops && SplitKSetting() != 0) {
      const double to_beat = choice.use_graph ? choice.graph_ms : choice.legacy_ms;
      if (auto best = FastestSplitK(spec, p, call, state); best && best->ms < to_beat) {
        choice.splitk = best->geometry;
        choice.splitk_ms = best->ms;
      }
    }
  }
  return choice;
}

Choice Choose(const ConvGeometry& c, const KernelSpec& spec, const ops::ConvParams& p,
              const Kernel& legacy) {
  static auto* known = new ChoiceTable<Choice>();
  const ChoiceId id{"cudnn-conv/1", ChoiceKey(c), CudnnFingerprint(spec.ctx.id), spec.ctx.id};
  return known->FindOrMeasure(
      id,
      [&] {
        Choice choice = Measure(c, spec, p, legacy);
        if (ChoiceLogOn()) LogChoice(id.key, choice, false);
        return choice;
      },
      EncodeChoice,
      [&](const std::string& payload) {
        std::optional<Choice> choice = ParseChoice(payload);
        if (choice && !Usable(*choice, c, spec, p)) choice.reset();
        if (choice && ChoiceLogOn()) LogChoice(id.key, *choice, true);
        return choice;
      });
}

bool GraphApiDisabled() {
  const char* v = std::getenv("TANDEM_CUDNN_GRAPH");
  return v && std::strcmp(v, "0") == 0;
}

}  // namespace

std::unique_ptr<Kernel> FastestConvolution(const KernelSpec& spec, const ops::ConvParams& p,
                                           cudnnDataType_t type, std::unique_ptr<Kernel> legacy) {
  if (std::unique_ptr<Kernel> forced = ForcedSplitK(spec, p)) return forced;
  if (GraphApiDisabled()) return legacy;
  std::optional<ConvGeometry> geometry = GeometryOf(spec, p, type);
  if (!geometry) return legacy;
  Choice choice;
  try {
    choice = Choose(*geometry, spec, p, *legacy);
  } catch (const NotCovered&) {
    return legacy;
  } catch (const Error&) {  // no memory to measure in, say: the legacy kernel was measured by cuDNN
    return legacy;
  }
  if (choice.splitk) return MakeSplitKConvolution(*choice.splitk, p);
  if (!choice.use_graph) return legacy;
  return std::make_unique<GraphConvolution>(std::move(*geometry), choice, std::move(legacy));
}

}  // namespace tandem::cuda
