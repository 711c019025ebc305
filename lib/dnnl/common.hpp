// Internal: what every oneDNN kernel shares.
//
// Thread-safety design: a kernel creates its oneDNN primitive(s) once, in its factory, with
// scratchpad_mode::user, and keeps them const; every call brings its own stream (kept in the
// caller's ExecContext), its own scratch (KernelCall::scratch) and wraps its own tensors in
// dnnl::memory objects made for that call. Nothing oneDNN writes is shared between calls, which
// is the condition under which oneDNN documents a primitive as safe to execute concurrently.
//
// PrimitiveKernel is that design as one class: a list of steps (primitive + where each argument's
// data lives) that factories fill in and Run executes in order. Data lives in the node's inputs and
// outputs, in kernel-owned constant buffers (pre-packed weights, folded statistics) or in
// temporaries carved out of the call's scratch.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "tandem/ndarray.hpp"
#include "tandem/registry.hpp"

namespace tandem::dnnl_backend {

// The process-wide CPU engine (created on first use; engines are safe to share).
const dnnl::engine& CpuEngine();

// The oneDNN stream of this call: one per ExecContext, so per thread at a time. A call without an
// ExecContext (tests calling Run directly) gets a thread-local stream.
dnnl::stream& StreamFor(ExecContext* exec);

// Converts a oneDNN failure into the tandem error family, naming the node and the action.
[[noreturn]] void ThrowDnnlError(const dnnl::error& e, const std::string& node, const char* action);

// Runs `make` (which builds a kernel from oneDNN descriptors); a oneDNN "unimplemented" or
// "invalid arguments" answer means this backend does not cover the spec: nullptr, so the reference
// kernel takes over. Other failures (out of memory, runtime errors) are thrown.
template <class Make>
std::unique_ptr<Kernel> CreateOrFallback(const std::string& node, Make&& make) {
  try {
    return make();
  } catch (const dnnl::error& e) {
    if (e.status == dnnl_unimplemented || e.status == dnnl_invalid_arguments) return nullptr;
    ThrowDnnlError(e, node, "primitive creation");
  }
}

// ---- specs ----

// True when the spec runs on the CPU, its first `num_inputs` inputs and all outputs are float32,
// and every one of them has a known, non-empty shape of at most DNNL_MAX_NDIMS dims.
bool IsPlainF32(const KernelSpec& spec, size_t num_inputs);

// The parameter array bound to input `i` when it is a float32 CPU array of the expected shape,
// else nullptr (an input that changes per call cannot be pre-packed).
const NDArray* ConstantF32(const KernelSpec& spec, size_t i);

// Input 1 (the weight) and, unless `no_bias`, input 2 (the bias) of a layer as ConstantF32 gives
// them; false when either is not constant (the caller declines).
struct WeightAndBias {
  const NDArray* weight = nullptr;
  const NDArray* bias = nullptr;  // null with no_bias
};
bool ConstantWeightAndBias(const KernelSpec& spec, bool no_bias, WeightAndBias* out);

// ---- memory descriptors ----

dnnl::memory::dims ToDims(const Shape& shape);
// Row-major float32 (format tags a, ab, abc (ncw), abcd (nchw), abcde (ncdhw), ...).
dnnl::memory::desc PlainDesc(const dnnl::memory::dims& dims);
inline dnnl::memory::desc PlainDesc(const Shape& shape) { return PlainDesc(ToDims(shape)); }
inline dnnl::memory::desc PlainDesc(std::initializer_list<dnnl::memory::dim> dims) {
  return PlainDesc(dnnl::memory::dims(dims));
}
// MXNet's channel-last tensors as oneDNN sees them: the logical dims are always channel-first,
// (N, C, spatial...), and the memory order says where the channels are. ChannelsFirstDims moves
// the last dim of a channel-last shape (N, spatial..., C), or of an OHWI weight, to position 1.
dnnl::memory::dims ChannelsFirstDims(const Shape& channels_last);
// float32 of logical dims (N, C, spatial...) stored nwc / nhwc / ndhwc, which for a weight
// (O, I, spatial...) is owi / ohwi / odhwi; `grouped`: a weight of logical dims
// (G, O/G, I, spatial...) stored gowi / gohwi / godhwi (an OHWI weight's bytes).
dnnl::memory::desc ChannelsLastDesc(const dnnl::memory::dims& dims, bool grouped = false);
// A data tensor of logical dims (N, C, spatial...): ChannelsLastDesc when `channels_last`, else
// PlainDesc.
inline dnnl::memory::desc LayoutDesc(const Shape& shape, bool channels_last) {
  return channels_last ? ChannelsLastDesc(ToDims(shape)) : PlainDesc(shape);
}
// float32 with the layout left to the primitive (format_tag::any).
dnnl::memory::desc AnyDesc(const dnnl::memory::dims& dims);

// The attribute every primitive is created with: scratchpad supplied per call.
dnnl::primitive_attr UserScratchpadAttr();

// ---- kernel-owned constant buffers ----

inline constexpr size_t kAlignment = 64;
// Host memory from detail::AllocateHost (large buffers, such as repacked weights, are mapped
// directly and go back to the OS when the kernel is destroyed).
struct AlignedDelete {
  size_t bytes = 0;
  void operator()(void* p) const noexcept;
};
using AlignedBuffer = std::unique_ptr<void, AlignedDelete>;
AlignedBuffer AllocateAligned(size_t bytes);
AlignedBuffer CopyToBuffer(const float* values, size_t count);
// Reorders `src` (laid out as `from`) once into a new buffer laid out as `to`.
AlignedBuffer ReorderToBuffer(const void* src, const dnnl::memory::desc& from,
                              const dnnl::memory::desc& to);
// The same for a bound parameter, shared: while a model is being planned, every kernel of that
// model that reorders the same parameter into the same layout (the plans of other input shapes)
// gets the same buffer, so repacked weights are held once per model, not once per plan. The
// buffer lives as long as a kernel uses it. Outside planning (no model), a private copy.
std::shared_ptr<const void> SharedReorder(const NDArray& param, const dnnl::memory::desc& from,
                                          const dnnl::memory::desc& to);

// ---- the kernel ----

class PrimitiveKernel : public Kernel {
 public:
  // Where an argument's data comes from when the kernel runs.
  struct Source {
    enum Kind { kInput, kOutput, kOwned, kTemp } kind;
    size_t index;
  };
  struct Binding {
    int arg;  // DNNL_ARG_*
    Source source;
    dnnl::memory::desc desc;
    size_t sample_bytes = 0;  // AddPerSampleStep: how far each repetition moves (0: shared data)
  };

  explicit PrimitiveKernel(std::string node) : node_(std::move(node)) {}

  static Source Input(size_t i) { return {Source::kInput, i}; }
  static Source Output(size_t i) { return {Source::kOutput, i}; }
  Source Own(AlignedBuffer buffer);
  Source Own(std::shared_ptr<const void> buffer);  // shared with other kernels; never written
  Source Temp(size_t bytes);  // a region of the call's scratch
  // Appends a step; `scratchpad` is pd.scratchpad_desc() of the primitive.
  void AddStep(dnnl::primitive primitive, const dnnl::memory::desc& scratchpad,
               std::vector<Binding> bindings);
  // Appends a step that runs `samples` times, repetition i with each binding's data moved by i x
  // its sample_bytes: a batch-1 primitive walking the samples of a batch (a kernel oneDNN has at
  // batch 1 only); weights and bias keep sample_bytes 0.
  void AddPerSampleStep(dnnl::primitive primitive, const dnnl::memory::desc& scratchpad,
                        std::vector<Binding> bindings, int64_t samples);
  // Appends a reorder step: `from` (laid out `from_desc`) into `to` (laid out `to_desc`); also a
  // plain copy when the two layouts are the same.
  void AddReorderStep(Source from, const dnnl::memory::desc& from_desc, Source to,
                      const dnnl::memory::desc& to_desc);
  // A first step that copies input `input` (`bytes` long) into output 0 unless the planner put
  // them in the same memory; InPlaceInput() then offers that input to the planner.
  void CopyInputToOutputFirst(size_t input, size_t bytes);
  int InPlaceInput() const override { return copy_input_; }

  void Run(const KernelCall& call) const override;
  size_t ScratchBytes() const override;

 private:
  struct Step {
    dnnl::primitive primitive;
    dnnl::memory::desc scratchpad;
    std::vector<Binding> bindings;
    int64_t samples = 1;
  };
  void* Resolve(const Source& source, const KernelCall& call, std::byte* scratch) const;

  std::string node_;
  std::vector<Step> steps_;
  std::vector<std::shared_ptr<const void>> owned_;
  std::vector<size_t> temp_offsets_;  // into the aligned scratch, after the scratchpad region
  size_t scratchpad_bytes_ = 0;       // the largest step's scratchpad (steps run in order)
  size_t temp_bytes_ = 0;
  int copy_input_ = -1;  // CopyInputToOutputFirst's input, or -1
  size_t copy_bytes_ = 0;
};

}  // namespace tandem::dnnl_backend
