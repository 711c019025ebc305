// tandem/cached_op.hpp — CachedOp: a compiled, immutable model that many threads call at once.
//
// Built once from a Symbol, its parameters and a Context. Construction validates the graph,
// binds parameters (shared, never copied per thread; copied once to the model's device when they
// live elsewhere) and compiles a plan for the first shape it sees. A plan (kernels chosen and
// created, memory plan with buffer reuse) is immutable and shared by all callers; plans are cached
// per set of input shapes (bounded LRU), so inputs of new shapes simply get a new plan.
//
// Each Forward call borrows a per-call execution context (one arena for activations and kernel
// scratch, the backend's stream / handles) from a pool that grows to the peak concurrency and is
// reused. No lock is held while kernels run; the only synchronisation on the call path is a few instructions
// to borrow and return a context and to look up the plan.
//
// Thread safety: every const member function may be called concurrently from any number of threads
// on the same CachedOp. A failing call (bad shape, dtype, device, kernel error) throws
// tandem::Error in its calling thread only; other calls are unaffected and the CachedOp stays
// usable. Destroying the CachedOp while calls are in flight is a caller bug.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "tandem/context.hpp"
#include "tandem/ndarray.hpp"
#include "tandem/symbol.hpp"

namespace tandem {

struct CachedOpFlags {
  // MXNet's flags. static_alloc: keep each execution context's arena between calls (else it is
  // released after each call). static_shape: inputs keep the shape of the first call; a new shape
  // is an error instead of a new plan.
  bool static_alloc = true;
  bool static_shape = false;
  // Accepted for MXNet compatibility; a CachedOp is always thread safe.
  bool thread_safe = true;
  // MXNet semantics, positions in Symbol::ListInputs(): which inputs are data (passed to Forward)
  // and which are parameters (taken from `params`). Empty: inputs found in `params` are
  // parameters, inputs the graph reads at inference are data, the rest (labels) are ignored.
  std::vector<int> data_indices;
  std::vector<int> param_indices;
  // Kernel choice: the fastest backend available for the Context (oneDNN on CPU, cuDNN on GPU)
  // unless switched off; the reference backend is always the last resort.
  bool use_dnnl = true;
  bool use_cudnn = true;
  bool reference_only = false;  // force the reference kernels (the test oracle)
  size_t max_cached_shapes = 16;
  // Threads each CPU call may use inside kernels (oneDNN's OpenMP team). 0 (the default): the
  // cores (or OMP_NUM_THREADS) divided by the CPU calls in flight in the process, this one
  // included, so one caller gets every core and N concurrent callers share them without
  // oversubscribing (docs/threading.md). A positive value is used as given.
  int intra_op_threads = 0;
  // GPU: capture each (execution context, input shape) plan as a CUDA graph on its first call and
  // replay it afterwards (inputs and outputs pass through per-context staging buffers, one
  // device-to-device copy each way). Needs static_alloc (the graph keeps the arena's addresses);
  // a plan that cannot be captured runs kernel by kernel.
  bool cuda_graphs = true;
  // Graph rewrites at construction (never with reference_only, nor with explicit data_indices /
  // param_indices; docs/design.md, "Inference rewrites"): fold inference BatchNorm into the
  // preceding Convolution's weights and bias, and fuse a following ReLU into the Convolution. The
  // caller's params are not modified: the CachedOp owns the folded weights (the original arrays
  // they replace are not bound).
  bool fold_batch_norm = true;
  bool fuse_activations = true;
  // Fuse a residual add (elemwise_add / _Plus, broadcast_add of equal shapes) that reads a
  // Convolution into it: the ResNet shortcut is added in the convolution's epilogue (before a
  // fused ReLU), which saves a pass over the activations and a buffer per block.
  bool fuse_residual_add = true;
  // Drop inference no-ops (Dropout, BlockGrad / stop_gradient, identity / _copy): their readers
  // read the input directly, so they cost no copy and do not hide patterns from the fusions.
  // Output names are kept. Flatten and Reshape are not dropped.
  bool drop_identity = true;
  // Evaluate weight-only subgraphs once at construction (a node whose inputs are all parameters or
  // such nodes: `_mul_scalar` / `transpose` / `Cast` of a weight, a BatchNorm applied to one),
  // with the reference kernels on the CPU, and bind the results as new parameters. Runs before
  // BatchNorm folding, which then sees a plain weight. Graph outputs are not folded.
  bool fold_constants = true;
  // Keep 2-D convolution activations channels-last (NHWC) inside the plan: Convolution and
  // Pooling run with layout NHWC (weights transposed once, into arrays the CachedOp owns), the
  // ops between them follow, and transposes are inserted only where the layout changes. Inputs
  // and outputs stay in the user's layout. A rewrite like the others (not with reference_only).
  // Unset (the default): on for a CPU context with oneDNN, whose NHWC convolutions run 1.3-1.6x
  // faster at batch 1 than NCHW ones (docs/performance.md); off on a GPU, where it is recommended
  // with cuDNN in reduced precision / TF32 (allow_tf32), as tensor cores prefer NHWC. True or
  // false: as set.
  std::optional<bool> channels_last;
  // GPU: let cuDNN convolutions and cuBLAS use TF32 tensor cores (about 1e-3 relative error).
  // Off by default: results are strict fp32.
  bool allow_tf32 = false;
  // CPU: a 3x3 stride-1 convolution may run as Winograd F(2x2, 3x3), which oneDNN has for one
  // sample (a batch walks its samples): 20-45 % faster than the direct kernel on ResNet-50's 3x3
  // layers of 14x14 and up, which is where it is used
  // (docs/performance.md). Float32 arithmetic throughout; the transforms round differently, so
  // its error is about 2-3x a direct convolution's (relative 3e-7 to 7e-7 per layer, measured
  // against a double-precision sum). This is the small tile the GPU's strict-fp32 cuDNN policy
  // accepts too; larger tiles (F(4x4, 3x3), about 10x direct's error) are never chosen. Not with
  // dynamic batching (a batched sample must compute as it would alone). false: direct only.
  // TANDEM_CPU_WINOGRAD=0 turns it off without a code change.
  bool winograd = true;
  // The precision the plan computes in: float32 (default), float16 or bfloat16. In a reduced
  // precision the CachedOp casts float32 weights once at construction (the caller's arrays are
  // not modified; the plan owns the cast copies) and runs convolutions, fully-connected layers,
  // pooling, activations and element-wise ops in it (GPU: tensor cores through cuDNN, with float32
  // accumulation); softmax, BatchNorm statistics and reductions stay float32, with casts between.
  // Inputs and outputs stay float32. Ops without a kernel of their own in that precision run in
  // float32 between casts (PlanReport::emulated_kernels counts them). CPU: the oneDNN kernels are
  // float32 only, so a reduced precision needs use_dnnl = false or reference_only (the reference
  // kernels: slow, for checking accuracy) and is an Unsupported error otherwise. See docs/precision.md.
  DType compute_dtype = DType::f32;
  // Cross-thread dynamic batching, off unless max_batch > 1. Concurrent Forward calls whose
  // inputs have the same shape except the leading (batch) dimension are gathered into one run of
  // up to max_batch rows and scattered back: each caller still blocks in its own Forward and gets
  // its own outputs. A request waits at most max_delay_us for company (a lone caller pays at most
  // that); at most max_concurrent_batches batched runs are in flight at once, and requests that
  // arrive meanwhile queue up, which is what forms large batches under load. Input errors are
  // found before a request joins a batch. Assumes samples are independent along the leading axis
  // (true for classification / detection backbones); a model whose outputs do not have the
  // inputs' leading dimension is never batched, nor one with an operator that mixes samples along
  // axis 0 (OpSchema::mixes_batch: CachedOp::batching_disabled_by names it). Not with
  // static_shape. See docs/batching.md.
  int max_batch = 0;
  int max_delay_us = 0;
  int max_concurrent_batches = 2;
  // A directory for the kernel choices measured at plan time (GPU: each convolution shape's
  // cuDNN algorithm, graph-API engine and split-K geometry), written there and read back by later
  // processes, which then skip the measurement; created when missing. Empty (the default): the
  // TANDEM_PLAN_CACHE environment variable, else no cache. Entries are keyed by the GPU, driver,
  // CUDA, cuDNN and tandem versions; unreadable or foreign entries are ignored with one warning.
  // Many processes may share one directory. CPU plans measure nothing (oneDNN chooses), so they
  // neither read nor write it. See docs/plan-cache.md (pre-building one: tandem-info --plan-cache).
  std::string plan_cache;
};

// What dynamic batching did so far (all zero when it is off).
struct BatchingStats {
  uint64_t requests = 0;       // Forward calls that went through the batcher
  uint64_t batches = 0;        // model runs they took (requests / batches = mean batch)
  uint64_t largest_batch = 0;  // most rows in one run
};

// What planning one input shape produced.
struct PlanReport {
  std::vector<Shape> input_shapes;
  std::vector<Shape> output_shapes;
  size_t arena_bytes = 0;         // memory per execution context, after reuse: activations and
                                  // every node's kernel scratch, planned into one buffer
  size_t naive_bytes = 0;         // without reuse: one buffer per intermediate result, plus one
                                  // scratch buffer as large as the largest kernel scratch
  size_t scratch_bytes = 0;       // largest kernel scratch of one node (already inside arena_bytes)
  size_t param_bytes = 0;         // shared weights (counted once for all threads)
  int intra_op_threads = 0;       // CPU: the OpenMP team this plan's kernels are made for (a call
                                  // runs the plan made for its own team; 0 on GPUs)
  int folded_batch_norms = 0;     // BatchNorms folded into convolutions at construction
  int fused_activations = 0;      // ReLUs fused into convolutions at construction
  int fused_residual_adds = 0;    // residual adds fused into convolutions at construction
  int fused_pads = 0;             // CPU: zero Pads folded into the convolution reading them
  int dropped_identities = 0;     // Dropout / BlockGrad / identity nodes removed at construction
  int precision_casts = 0;        // Cast nodes inserted for CachedOpFlags::compute_dtype
  int emulated_kernels = 0;       // nodes in a reduced precision run in float32 between casts
  int folded_constants = 0;       // weight-only nodes evaluated at construction
  int converted_to_channels_last = 0;  // nodes running NHWC (channels_last), transposes not counted
  int blocked_tensors = 0;        // CPU: activations kept in oneDNN's nChw16c layout between
                                  // convolutions (docs/performance.md; TANDEM_CPU_BLOCKED=0: none)
  int winograd_convolutions = 0;  // CPU: 3x3 convolutions run as Winograd F(2x2, 3x3) (CachedOpFlags::winograd)
  int host_fallback_kernels = 0;  // GPU plan: nodes without a GPU kernel, run by their reference
                                  // kernel on the host between copies (counted as "reference")
  int aliased_views = 0;          // Reshape / Flatten / expand_dims / squeeze nodes whose output
                                  // shares its input's memory (no copy)
  int in_place_outputs = 0;       // nodes writing over an input nothing reads afterwards (a
                                  // convolution adding its residual in place)
  // Kernel choices measured at plan time (GPU convolutions: one per shape and kernel family),
  // by where this plan got them: measured now, read from the plan cache directory, or reused from
  // an earlier plan of this process. All zero on the CPU, where nothing is measured.
  int choices_measured = 0;
  int choices_from_cache = 0;
  int choices_reused = 0;
  std::string plan_cache;  // the plan cache directory in use, empty for none
  double plan_ms = 0;      // wall time of building this plan (kernels chosen and made, memory planned)
  std::map<std::string, int> kernels_by_backend;  // "dnnl" -> 12, "reference" -> 3
  std::vector<std::string> node_kernels;           // "conv0: Convolution [dnnl]" per node
};

class CachedOp {
 public:
  CachedOp(const Symbol& symbol, const std::map<std::string, NDArray>& params, Context ctx,
           CachedOpFlags flags = {});
  ~CachedOp();
  CachedOp(CachedOp&&) noexcept;
  CachedOp& operator=(CachedOp&&) noexcept;

  // Data inputs in the order of input_names(); returns new output arrays on the model's Context.
  std::vector<NDArray> Forward(const std::vector<NDArray>& inputs) const;
  // Data inputs by name.
  std::vector<NDArray> Forward(const std::map<std::string, NDArray>& inputs) const;
  // Writes into caller-provided outputs (shape, dtype and context must match); entries that are
  // none arrays are allocated.
  void Forward(const std::vector<NDArray>& inputs, std::vector<NDArray>* outputs) const;
  // Spelling of the user-view sketch.
  std::vector<NDArray> forward(const std::map<std::string, NDArray>& inputs) const { return Forward(inputs); }
  std::vector<NDArray> forward(const std::vector<NDArray>& inputs) const { return Forward(inputs); }

  const std::vector<std::string>& input_names() const;   // data inputs, in Forward order
  const std::vector<std::string>& output_names() const;
  Context context() const;
  // Plans (or finds) the plan for these input shapes and describes it.
  PlanReport Plan(const std::vector<Shape>& input_shapes) const;
  // Input shapes with a plan in the cache (at most max_cached_shapes, plus the batch sizes). On
  // the CPU a shape holds one plan per intra-op team its calls got (PlanReport::intra_op_threads).
  size_t cached_plan_count() const;
  size_t execution_context_count() const;  // contexts created so far (== peak concurrency)
  BatchingStats batching_stats() const;
  // The leading-dimension sizes dynamic batching runs the model at (ascending: powers of two below
  // max_batch, from 16 up also 1.5 times each, then max_batch: 1 2 4 8 16 24 32 for 32), empty
  // when it is off. A server can Plan each of them (sample shape with that leading dimension) at
  // start-up, so no request waits for a plan to be built.
  std::vector<int64_t> batch_sizes() const;
  // When max_batch > 1 was asked for but the model mixes samples along the batch axis
  // (OpSchema::mixes_batch), the node that does so ("sorted: sort"); empty otherwise.
  std::string batching_disabled_by() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace tandem
