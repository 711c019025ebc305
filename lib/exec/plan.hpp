// Internal: a Plan is everything needed to run a graph for one set of input shapes: entry shapes,
// the kernel of every node, and where each entry lives (arena offset, caller input, shared
// parameter, caller output). Plans are immutable after BuildPlan returns and shared by every
// thread that runs them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "lib/core/graph.hpp"
#include "lib/core/plan_cache.hpp"
#include "lib/exec/exec_context.hpp"
#include "tandem/cached_op.hpp"

namespace tandem::detail {

enum class VarRole { kData, kParam, kIgnored };

// What the CachedOp knows about its graph before any shape is seen (shared by all plans).
struct ModelGraph {
  IndexedGraph graph;
  Context ctx;
  CachedOpFlags flags;
  std::vector<VarRole> var_role;        // per node (only meaningful for variables)
  std::vector<int> data_index;          // per node: position in Forward's inputs, or -1
  std::vector<NDArray> param_of_node;   // per node: bound parameter on ctx, or none
  std::vector<std::string> input_names; // data inputs, in Forward order
  std::vector<uint32_t> input_nodes;    // node id of each data input
  std::vector<std::string> output_names;
  size_t param_bytes = 0;
  int folded_batch_norms = 0;  // what the inference rewrites did (lib/exec/rewrite.hpp)
  int fused_activations = 0;
  int fused_residual_adds = 0;
  int fused_pads = 0;
  int dropped_identities = 0;
  int precision_casts = 0;  // lib/exec/precision.hpp
  int folded_constants = 0;
  int converted_to_channels_last = 0;  // lib/exec/layout.hpp
  int blocked_tensors = 0;             // ToBlockedConvChains, lib/exec/layout.hpp
  // CachedOpFlags::plan_cache (or TANDEM_PLAN_CACHE): measured kernel choices on disk; null: none.
  std::shared_ptr<const PlanCache> plan_cache;
};

enum class SlotKind : uint8_t { kNone, kArena, kInput, kParam, kOutput };
struct Slot {
  SlotKind kind = SlotKind::kNone;
  size_t offset = 0;       // arena byte offset, or input / output index
  const void* param = nullptr;
};

struct PlannedNode {
  uint32_t node_id;
  std::unique_ptr<Kernel> kernel;
  Backend backend;
  std::vector<uint32_t> inputs, outputs;  // entry ids
  // The kernel's ScratchBytes(), planned into the arena: [scratch_offset, + scratch_bytes) is
  // this node's alone while it runs (no live entry overlaps it), and others' before and after.
  size_t scratch_bytes = 0, scratch_offset = 0;
};

struct Plan {
  // Unique for the process: per-context state cached by plan (a captured CUDA graph) is keyed by
  // it, never by address, since an evicted plan's address may be reused.
  uint64_t id = 0;
  std::vector<Shape> entry_shapes;
  std::vector<DType> entry_types;
  std::vector<Slot> slots;  // per entry
  std::vector<PlannedNode> nodes;
  // Heads that are not produced by a node into the output directly (a variable, or an entry used
  // twice as an output) are copied at the end: (output index, source entry).
  std::vector<std::pair<size_t, uint32_t>> output_copies;
  std::vector<uint32_t> output_entries;
  // arena_bytes: the one per-context buffer (activations and every node's scratch, after
  // reuse); naive_bytes: without reuse (one buffer per intermediate result, plus one scratch
  // buffer as large as the largest kernel's); scratch_bytes: the largest kernel scratch (its room
  // is part of arena_bytes).
  size_t arena_bytes = 0, naive_bytes = 0, scratch_bytes = 0;
  // Some node runs on the host (GPU host fallback): its synchronisations cannot be captured in a
  // CUDA graph, so the plan always runs eagerly.
  bool has_host_nodes = false;
  PlanReport report;
};

// `threads`: the OpenMP team the CPU kernels are made for (reported; 0 on GPUs).
std::shared_ptr<const Plan> BuildPlan(const ModelGraph& model, const std::vector<TensorDesc>& inputs,
                                      int threads = 0);
// Runs `plan` with the caller's inputs into preallocated outputs, on `exec`.
void RunPlan(const ModelGraph& model, const Plan& plan, const std::vector<NDArray>& inputs,
             const std::vector<NDArray>& outputs, ExecContext& exec);
// Waits for work a call queued on its device stream (no-op on CPU).
void FinishDeviceWork(const ModelGraph& model, ExecContext& exec);

}  // namespace tandem::detail
