// tandem/registry.hpp — the public operator and kernel registry.
//
// An operator is described once by an OpSchema (name, aliases, attribute parsing, argument names,
// shape and dtype inference) and implemented by one Kernel per backend. Built-in operators are
// registered from one table (lib/ops/table.cpp); users register their own the same way, from their
// own code, before loading a symbol that uses them (see docs/adding-an-operator.md):
//
//   tandem::RegisterOp(MySchema());
//   tandem::RegisterKernel("MyOp", tandem::Backend::kReference, MakeMyKernel);
//
// A Kernel is created once per (node, input shapes) when a CachedOp plans a shape, then shared by
// every thread that runs that plan, so Kernel::Run is const and must not modify the kernel: all
// per-call mutable memory comes from KernelCall::scratch (ScratchBytes() bytes, per call).
//
// Thread safety: RegisterOp / RegisterKernel / FindOp may be called from any thread (the registry
// takes a reader/writer lock); registering while models that use the op are being built is
// allowed but pointless. Kernel::Run is called concurrently from many threads.
#pragma once

#include <any>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "tandem/context.hpp"
#include "tandem/dtype.hpp"
#include "tandem/error.hpp"
#include "tandem/shape.hpp"

namespace tandem {

class NDArray;
using AttrMap = std::map<std::string, std::string>;

// Typed access to MXNet's string attributes; errors name the op, the node, the key and the value.
class AttrReader {
 public:
  AttrReader(const AttrMap& attrs, std::string op, std::string node)
      : attrs_(attrs), op_(std::move(op)), node_(std::move(node)) {}
  bool Has(const std::string& key) const { return attrs_.count(key) != 0; }
  const std::string* Find(const std::string& key) const;
  int64_t Int(const std::string& key) const;  // required
  int64_t Int(const std::string& key, int64_t fallback) const;
  double Float(const std::string& key, double fallback) const;
  bool Bool(const std::string& key, bool fallback) const;
  std::string Str(const std::string& key, const std::string& fallback) const;
  // One of `allowed`; throws FormatError listing them otherwise.
  std::string Enum(const std::string& key, const std::string& fallback,
                   const std::vector<std::string>& allowed) const;
  // "(3, 3)", "(3,3)", "[3,3]", "3" or "()" ; `fallback` when absent.
  std::vector<int64_t> Tuple(const std::string& key, std::vector<int64_t> fallback = {}) const;
  // Optional integer where MXNet writes "None" for unset.
  bool OptionalInt(const std::string& key, int64_t* out) const;
  [[noreturn]] void Fail(const std::string& key, const std::string& why) const;
  const std::string& op() const { return op_; }
  const std::string& node() const { return node_; }

 private:
  const AttrMap& attrs_;
  std::string op_, node_;
};

// Everything shape inference knows about one node; infer_shape fills unknown (ndim 0) entries of
// `in` (parameter shapes from the data shape, as MXNet does) and all of `out`.
struct ShapeInferenceArgs {
  const std::any& params;
  const std::string& node;
  std::vector<Shape>& in;
  std::vector<Shape>& out;
};

struct OpSchema {
  std::string name;
  std::vector<std::string> aliases;
  // Turns the string attributes into a typed parameter struct, validated once at load.
  std::function<std::any(const AttrReader&)> parse;
  // Names of the non-auxiliary inputs in order ("data", "weight", "bias"); may depend on params.
  std::function<std::vector<std::string>(const std::any&)> arguments;
  // Names of auxiliary-state inputs after the arguments ("moving_mean", "moving_var").
  std::function<std::vector<std::string>(const std::any&)> aux_states;
  // Output names; default {"output"}.
  std::function<std::vector<std::string>(const std::any&)> outputs;
  std::function<void(ShapeInferenceArgs&)> infer_shape;
  // Fills out dtypes from in dtypes; default: every output takes input 0's dtype.
  std::function<void(const std::any&, std::vector<DType>& in, std::vector<DType>& out)> infer_type;
  // Inputs that inference never reads (SoftmaxOutput's "label"); need not be bound.
  std::vector<std::string> unused_at_inference;

  // What the graph passes need to know about the operator (plain fields, read by the rewrite,
  // channels-last and precision passes and by the planner instead of lists of names).
  //
  // How its output relates to its inputs element by element. kUnary: one data input, and output
  // element i depends only on input element i (and on scalar attributes), so the op computes the
  // same in any memory order (the channels-last pass keeps NHWC through it). kBinary: two inputs
  // of the output's shape, element by element. kBroadcast: two inputs, numpy broadcasting.
  enum class Elementwise { kNo, kUnary, kBinary, kBroadcast };
  Elementwise elementwise = Elementwise::kNo;
  // Optional per-node refinement of `elementwise` (LeakyReLU's prelu reads a per-channel slope,
  // so it is not element-wise in memory order); empty: `elementwise` holds for every node.
  std::function<bool(const std::any&)> elementwise_if;
  // Keeps its meaning at 8 to 11 mantissa bits with float32 accumulation inside the kernel: may
  // run in float16 / bfloat16 when CachedOpFlags::compute_dtype asks for it.
  bool low_precision = false;
  // Output 0 equals input 0 at inference (Dropout, BlockGrad, identity): the rewrite removes it.
  bool identity_at_inference = false;
  // Output 0 is input 0's bytes under another shape (Reshape, Flatten, expand_dims, squeeze):
  // the planner may let it alias its input instead of copying.
  bool view_of_input = false;
  // True for a node that mixes the samples of its input's leading (batch) axis while keeping its
  // shape (softmax / sort / topk / LayerNorm along axis 0): dynamic batching is then off for the
  // model, since a batched run would not give each caller its own result. Empty: never.
  std::function<bool(const std::any&)> mixes_batch;

  // True when `elementwise` is kind for this node's params.
  bool IsElementwise(Elementwise kind, const std::any& params) const {
    return elementwise == kind && (!elementwise_if || elementwise_if(params));
  }
};

template <class P>
const P& ParamsAs(const std::any& params) {
  const P* p = std::any_cast<P>(&params);
  if (!p) Throw<InternalError>("operator parameters have an unexpected type");
  return *p;
}

enum class Backend { kReference, kDnnl, kCuda, kCudnn };
const char* BackendName(Backend b);

struct TensorDesc {
  Shape shape;
  DType dtype = DType::f32;
};

// One input or output of a kernel call: where the data is and what it looks like.
struct TensorArg {
  void* data = nullptr;
  const Shape* shape = nullptr;
  DType dtype = DType::f32;
  template <class T>
  T* as() const { return static_cast<T*>(data); }
  int64_t size() const { return shape->Size(); }
};

class ExecContext;  // per-call state (streams, handles); opaque to kernels except backends

struct KernelCall {
  std::span<const TensorArg> inputs;
  std::span<const TensorArg> outputs;
  void* scratch = nullptr;  // Kernel::ScratchBytes() bytes, private to this call and this node:
                            // a region of the call's arena that no live tensor overlaps
  ExecContext* exec = nullptr;
};

class Kernel {
 public:
  virtual ~Kernel() = default;
  virtual void Run(const KernelCall& call) const = 0;
  virtual size_t ScratchBytes() const { return 0; }
  // An input whose memory output 0 may take over (an accumulate-into-the-output kernel, such as a
  // convolution adding its residual in place), or -1. The planner grants it only when that input
  // is an intermediate result of the same size that nothing reads afterwards and no other input
  // of the node overlaps; the kernel must work either way (it sees whether the pointers match).
  virtual int InPlaceInput() const { return -1; }
};

// What a kernel factory is told about the node it is asked to implement.
struct KernelSpec {
  const OpSchema& schema;
  const std::any& params;
  const std::string& node;
  std::vector<TensorDesc> inputs;
  std::vector<TensorDesc> outputs;
  Context ctx;
  // For inputs bound to parameters, the (immutable) array, so a kernel may pre-pack weights;
  // nullptr for inputs that change per call.
  std::vector<const NDArray*> constants;
  // CachedOpFlags::allow_tf32: a GPU kernel may compute fp32 through TF32 tensor cores.
  bool allow_tf32 = false;
  // CachedOpFlags::winograd (and no dynamic batching): a CPU 3x3 convolution may use oneDNN's
  // small-tile Winograd kernel.
  bool winograd = false;
  // Dynamic batching is on (CachedOpFlags::max_batch > 1): each sample's result must not depend on
  // how many samples share the call, bit for bit. A kernel whose arithmetic order changes with the
  // batch size (a blocked gemm) must then compute sample by sample, or return nullptr.
  bool batch_invariant = false;
};

// Returns a kernel, or nullptr when this backend cannot handle this spec (the next backend in the
// ordered list is then tried; the reference backend accepts everything it registers).
using KernelFactory = std::function<std::unique_ptr<Kernel>(const KernelSpec&)>;

void RegisterOp(OpSchema schema);
void RegisterKernel(const std::string& op, Backend backend, KernelFactory factory);
// Looks up by name or alias; nullptr when unknown.
const OpSchema* FindOp(const std::string& name);
// A copy of the factory (empty when this backend has no kernel for op).
KernelFactory FindKernel(const std::string& op, Backend backend);
std::vector<std::string> ListOps();

// Wraps a callable (const KernelCall&) -> void as a Kernel (for simple custom ops).
template <class F>
std::unique_ptr<Kernel> MakeKernel(F fn, size_t scratch_bytes = 0) {
  struct Fn : Kernel {
    Fn(F f, size_t s) : f_(std::move(f)), s_(s) {}
    void Run(const KernelCall& c) const override { f_(c); }
    size_t ScratchBytes() const override { return s_; }
    F f_;
    size_t s_;
  };
  return std::make_unique<Fn>(std::move(fn), scratch_bytes);
}

}  // namespace tandem
