// Planning (shape/dtype inference, kernel choice, memory plan) and running a plan.
#include <atomic>
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <map>

#include "lib/exec/emulation.hpp"
#include "lib/exec/plan.hpp"
#include "lib/exec/planning.hpp"

#if TANDEM_HAVE_CUDA
#include "lib/cuda/device_api.hpp"
#endif

namespace tandem::detail {
namespace {

constexpr size_t kArenaAlignment = 64;

size_t AlignUp(size_t n) { return (n + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment; }

// Shapes come from files and callers: an entry's byte count (elements x dtype width) and the
// arena's growing end could wrap around size_t, which used to give a small arena that kernels then
// overran (found with the fuzz_model harness). Anything beyond this limit, the same one NDArray's
// constructor applies, is OutOfMemory; below it, every sum here fits.
constexpr size_t kMaxPlanBytes = SIZE_MAX / 16;

[[noreturn]] void ArenaTooLarge() {
  Throw<OutOfMemory>("the activation arena would exceed ", kMaxPlanBytes, " bytes");
}

// Best-fit allocator over one arena; adjacent free blocks merge so a later, larger tensor can
// reuse the room of several earlier ones.
class ArenaAllocator {
 public:
  size_t Allocate(size_t bytes) {
    if (bytes > kMaxPlanBytes) ArenaTooLarge();  // AlignUp would wrap
    bytes = AlignUp(std::max<size_t>(bytes, 1));
    auto best = free_.end();
    for (auto it = free_.begin(); it != free_.end(); ++it)
      if (it->second >= bytes && (best == free_.end() || it->second < best->second)) best = it;
    if (best == free_.end()) {
      // Grow the arena; a free block at its end is extended rather than wasted.
      if (!free_.empty() && std::prev(free_.end())->first + std::prev(free_.end())->second == end_) {
        auto last = std::prev(free_.end());
        size_t offset = last->first;
        if (bytes > kMaxPlanBytes - offset) ArenaTooLarge();
        end_ = offset + bytes;
        free_.erase(last);
        return offset;
      }
      size_t offset = end_;
      if (bytes > kMaxPlanBytes - end_) ArenaTooLarge();
      end_ += bytes;
      return offset;
    }
    size_t offset = best->first, size = best->second;
    free_.erase(best);
    if (size > bytes) free_[offset + bytes] = size - bytes;
    return offset;
  }
  void Free(size_t offset, size_t bytes) {
    bytes = AlignUp(std::max<size_t>(bytes, 1));
    auto it = free_.emplace(offset, bytes).first;
    if (auto next = std::next(it); next != free_.end() && it->first + it->second == next->first) {
      it->second += next->second;
      free_.erase(next);
    }
    if (it != free_.begin()) {
      auto prev = std::prev(it);
      if (prev->first + prev->second == it->first) {
        prev->second += it->second;
        free_.erase(it);
      }
    }
  }
  size_t size() const { return end_; }

 private:
  std::map<size_t, size_t> free_;  // offset -> size
  size_t end_ = 0;
};

size_t EntryBytes(const Plan& p, uint32_t e) {
  const int64_t count = p.entry_shapes[e].Size();  // ShapeError when it overflows 64 bits
  const size_t width = DTypeSize(p.entry_types[e]);
  if (static_cast<uint64_t>(count) > kMaxPlanBytes / width)
    Throw<OutOfMemory>("an intermediate result of shape ", p.entry_shapes[e].ToString(), " ",
                       DTypeName(p.entry_types[e]), " is too large to allocate");
  return static_cast<size_t>(count) * width;
}

void InferPlanShapes(const ModelGraph& m, const std::vector<TensorDesc>& inputs, Plan& p) {
  const IndexedGraph& g = m.graph;
  p.entry_shapes.assign(g.num_entries(), Shape());
  std::vector<int> types(g.num_entries(), -1);
  for (uint32_t nid = 0; nid < g.nodes.size(); ++nid) {
    const uint32_t e = g.row_ptr[nid];
    if (m.data_index[nid] >= 0) {
      p.entry_shapes[e] = inputs[static_cast<size_t>(m.data_index[nid])].shape;
      types[e] = static_cast<int>(inputs[static_cast<size_t>(m.data_index[nid])].dtype);
    } else if (!m.param_of_node[nid].is_none()) {
      p.entry_shapes[e] = m.param_of_node[nid].shape();
      types[e] = static_cast<int>(m.param_of_node[nid].dtype());
    }
  }
  InferEntryShapes(g, p.entry_shapes);
  InferEntryTypes(g, types);
  p.entry_types.resize(types.size());
  for (size_t i = 0; i < types.size(); ++i) p.entry_types[i] = static_cast<DType>(types[i] < 0 ? 0 : types[i]);
  for (uint32_t nid = 0; nid < g.nodes.size(); ++nid) {
    const Node& n = *g.nodes[nid];
    if (n.is_variable()) continue;
    for (int k = 0; k < n.num_outputs(); ++k)
      if (!p.entry_shapes[g.row_ptr[nid] + k].known())
        Throw<ShapeError>("node '", n.name, "' (", n.op->name, "): cannot infer the shape of output ", k,
                          " from the given input shapes");
  }
}

void CheckEntrySizes(const ModelGraph& m, Plan& p) {
  const IndexedGraph& g = m.graph;
  for (uint32_t nid = 0; nid < g.nodes.size(); ++nid) {
    const Node& n = *g.nodes[nid];
    if (n.is_variable()) continue;
    for (int k = 0; k < n.num_outputs(); ++k) {
      try {
        (void)EntryBytes(p, g.row_ptr[nid] + k);
      } catch (const Error& err) {
        RethrowWithContext(err, "node '" + n.name + "' (" + n.op->name + "): ");
      }
    }
  }
}

// A kernel that does nothing: the node's output is its input's memory.
class AliasKernel final : public Kernel {
 public:
  void Run(const KernelCall&) const override {}
};

// When `n` is a view (OpSchema::view_of_input) whose output is an intermediate result of its
// input's size, its output takes its input's slot instead of memory of its own, and its kernel
// becomes a no-op. Safe because no kernel writes its inputs: the bytes are only read until the
// root entry is freed, after the view's last reader. True when the node was aliased.
bool AliasView(const Node& n, PlannedNode& planned, Plan& p, std::vector<uint32_t>& root,
               std::vector<int64_t>& last_use) {
  if (!n.op->view_of_input || planned.inputs.size() != 1 || planned.outputs.size() != 1) return false;
  const uint32_t in = planned.inputs[0], out = planned.outputs[0];
  const SlotKind source = p.slots[in].kind;
  if (p.slots[out].kind != SlotKind::kNone || last_use[out] < 0 || source == SlotKind::kNone ||
      source == SlotKind::kOutput ||
      p.entry_types[in] != p.entry_types[out] || p.entry_shapes[in].Size() != p.entry_shapes[out].Size())
    return false;
  p.slots[out] = p.slots[in];
  root[out] = root[in];
  last_use[root[out]] = std::max(last_use[root[out]], last_use[out]);
  planned.kernel = std::make_unique<AliasKernel>();
  planned.scratch_bytes = 0;
  ++p.report.aliased_views;
  return true;
}

// When the node's kernel accumulates into its output (Kernel::InPlaceInput), output 0 takes over
// that input's memory if nothing reads the input afterwards: an intermediate result (not a model
// input, parameter or caller's output) of the same byte size, not a view's shared memory, and
// overlapping no other input of the node. Returns the input entry handed over, or UINT32_MAX.
uint32_t GrantInPlace(const IndexedGraph& g, uint32_t nid, PlannedNode& planned, Plan& p,
                      const std::vector<uint32_t>& root, const std::vector<int64_t>& last_use) {
  constexpr uint32_t kNone = UINT32_MAX;
  if (!planned.kernel) return kNone;
  const int k = planned.kernel->InPlaceInput();
  const std::vector<uint32_t>& inputs = g.input_entries[nid];
  if (k < 0 || static_cast<size_t>(k) >= inputs.size()) return kNone;
  const uint32_t in = inputs[static_cast<size_t>(k)], out = g.row_ptr[nid];
  if (p.slots[out].kind != SlotKind::kNone || last_use[out] < 0) return kNone;
  if (p.slots[in].kind != SlotKind::kArena || root[in] != in || last_use[in] != nid) return kNone;
  if (p.entry_types[in] != p.entry_types[out] || EntryBytes(p, in) != EntryBytes(p, out)) return kNone;
  for (size_t j = 0; j < inputs.size(); ++j)
    if (j != static_cast<size_t>(k) && root[inputs[j]] == in) return kNone;
  p.slots[out] = p.slots[in];
  ++p.report.in_place_outputs;
  return in;
}

void AssignSlots(const ModelGraph& m, Plan& p) {
  const IndexedGraph& g = m.graph;
  p.slots.assign(g.num_entries(), Slot{});
  for (uint32_t nid = 0; nid < g.nodes.size(); ++nid) {
    Slot& s = p.slots[g.row_ptr[nid]];
    if (m.data_index[nid] >= 0) s = {SlotKind::kInput, static_cast<size_t>(m.data_index[nid]), nullptr};
    else if (!m.param_of_node[nid].is_none()) s = {SlotKind::kParam, 0, m.param_of_node[nid].raw_data()};
  }
  // Heads computed by a node write straight into the caller's output array.
  for (size_t j = 0; j < g.output_entries.size(); ++j) {
    uint32_t e = g.output_entries[j];
    if (p.slots[e].kind == SlotKind::kNone) {
      p.slots[e] = {SlotKind::kOutput, j, nullptr};
    } else {
      p.output_copies.emplace_back(j, e);
    }
  }
  // Memory plan: every other entry lives in the arena from its producer until its last reader.
  std::vector<int64_t> last_use(g.num_entries(), -1);
  for (uint32_t nid = 0; nid < g.nodes.size(); ++nid)
    for (uint32_t e : g.input_entries[nid]) last_use[e] = nid;
  // A view's output shares its input's memory (root): the root then lives until the view's last
  // reader, and only roots are ever freed.
  std::vector<uint32_t> root(g.num_entries());
  for (uint32_t e = 0; e < root.size(); ++e) root[e] = e;
  ArenaAllocator arena;
  size_t next_planned = 0;  // p.nodes holds the operator nodes in the same (topological) order
  for (uint32_t nid = 0; nid < g.nodes.size(); ++nid) {
    const Node& n = *g.nodes[nid];
    if (n.is_variable()) continue;
    PlannedNode& planned = p.nodes[next_planned++];
    if (AliasView(n, planned, p, root, last_use)) continue;
    const uint32_t handed_over = GrantInPlace(g, nid, planned, p, root, last_use);
    std::vector<uint32_t> dead;
    for (int k = 0; k < n.num_outputs(); ++k) {
      uint32_t e = g.row_ptr[nid] + k;
      if (p.slots[e].kind != SlotKind::kNone) continue;
      try {
        p.slots[e] = {SlotKind::kArena, arena.Allocate(EntryBytes(p, e)), nullptr};
      } catch (const Error& err) {
        RethrowWithContext(err, "node '" + n.name + "' (" + n.op->name + "): ");
      }
      p.naive_bytes = std::min(kMaxPlanBytes, p.naive_bytes + AlignUp(EntryBytes(p, e)));
      if (last_use[e] < 0) dead.push_back(e);  // an output nobody reads (e.g. one split piece)
    }
    // The kernel's scratch lives in the arena too, only while this node runs: it takes room that
    // dead activations left, never that of this node's inputs or outputs (all still placed), and
    // is free again for the next node. So a context needs one buffer, not arena + largest scratch.
    if (planned.scratch_bytes > 0) {
      try {
        planned.scratch_offset = arena.Allocate(planned.scratch_bytes);
      } catch (const Error& err) {
        RethrowWithContext(err, "node '" + n.name + "' (" + n.op->name + ") scratch: ");
      }
    }
    // Inputs are released only after the outputs are placed: a kernel never sees its output
    // overlap its input.
    for (uint32_t e : g.input_entries[nid])
      if (root[e] == e && last_use[e] == nid && p.slots[e].kind == SlotKind::kArena && e != handed_over)
        dead.push_back(e);
    std::sort(dead.begin(), dead.end());
    dead.erase(std::unique(dead.begin(), dead.end()), dead.end());
    for (uint32_t e : dead) arena.Free(p.slots[e].offset, EntryBytes(p, e));
    if (planned.scratch_bytes > 0) arena.Free(planned.scratch_offset, planned.scratch_bytes);
  }
  p.arena_bytes = arena.size();
  // Without reuse: one buffer per intermediate result, and one scratch buffer for all kernels.
  size_t largest_scratch = 0;
  for (const PlannedNode& pn : p.nodes) largest_scratch = std::max(largest_scratch, pn.scratch_bytes);
  // (Both terms are at most kMaxPlanBytes: the sum cannot wrap.)
  p.naive_bytes = std::min(kMaxPlanBytes, p.naive_bytes + AlignUp(largest_scratch));
}

std::vector<Backend> BackendOrder(const ModelGraph& m) {
  if (m.flags.reference_only) return {Backend::kReference};
  std::vector<Backend> order;
  if (m.ctx.is_gpu()) {
    if (m.flags.use_cudnn) order.push_back(Backend::kCudnn);
    order.push_back(Backend::kCuda);
    return order;
  }
  if (m.flags.use_dnnl) order.push_back(Backend::kDnnl);
  order.push_back(Backend::kReference);
  return order;
}

// TANDEM_CPU_WINOGRAD=0 turns CachedOpFlags::winograd off for every model (an A/B switch).
// Not under ThreadSanitizer: oneDNN's Winograd weight reorder fills its own scratch from libgomp
// workers, which TSan does not see synchronise with the leader that frees it (a false race in
// uninstrumented code; the TSan suite checks tandem's threads, not oneDNN's kernels).
bool WinogradWanted() {
#if defined(__SANITIZE_THREAD__)
  return false;
#else
  const char* env = std::getenv("TANDEM_CPU_WINOGRAD");
  return !(env && std::string(env) == "0");
#endif
}

thread_local const void* planning_model = nullptr;
thread_local const PlanCache* planning_cache = nullptr;
thread_local PlanChoiceCounters* planning_counters = nullptr;

// The first backend in `order` with a kernel for `spec`. A factory that rejects a float16 /
// bfloat16 spec with TypeError (the reference kernels name the float32 they need) only declines:
// the plan then runs the node in float32 between casts.
std::unique_ptr<Kernel> FirstKernel(const std::vector<Backend>& order, const std::string& op,
                                    const KernelSpec& spec, Backend* chosen) {
  const bool reduced = HasReducedFloat(spec);
  for (Backend b : order) {
    KernelFactory factory = FindKernel(op, b);
    if (!factory) continue;
    std::unique_ptr<Kernel> kernel;
    try {
      kernel = factory(spec);
    } catch (const TypeError&) {
      if (!reduced) throw;
    }
    if (kernel) {
      *chosen = b;
      return kernel;
    }
  }
  return nullptr;
}

// The reference kernel of `op` run on the host inside a GPU plan (lib/cuda/host_fallback.cu);
// nullptr when it declines (a float16 spec it would reject with TypeError: the plan then
// emulates the node in float32 around this same fallback).
std::unique_ptr<Kernel> HostFallback(const std::string& op, const KernelSpec& spec) {
#if TANDEM_HAVE_CUDA
  KernelFactory reference = FindKernel(op, Backend::kReference);
  if (!reference) return nullptr;
  try {
    return cuda::RunOnHost(spec, reference);
  } catch (const TypeError&) {
    if (!HasReducedFloat(spec)) throw;
    return nullptr;
  }
#else
  (void)op;
  (void)spec;
  return nullptr;
#endif
}

void ChooseKernels(const ModelGraph& m, Plan& p) {
  const IndexedGraph& g = m.graph;
  const std::vector<Backend> order = BackendOrder(m);
  // Factories may share parameter-derived data within the model, and count (and cache) what
  // they measure.
  PlanChoiceCounters counters;
  const PlanningScope scope(&m, m.plan_cache.get(), &counters);
  for (uint32_t nid = 0; nid < g.nodes.size(); ++nid) {
    const Node& n = *g.nodes[nid];
    if (n.is_variable()) continue;
    PlannedNode planned{nid, nullptr, Backend::kReference, g.input_entries[nid], {}, 0, 0};
    for (int k = 0; k < n.num_outputs(); ++k) planned.outputs.push_back(g.row_ptr[nid] + k);
    KernelSpec spec{*n.op, n.params, n.name, {}, {}, m.ctx, {}};
    spec.allow_tf32 = m.flags.allow_tf32;
    spec.batch_invariant = m.flags.max_batch > 1;
    spec.winograd = m.flags.winograd && !spec.batch_invariant && WinogradWanted();
    for (size_t i = 0; i < planned.inputs.size(); ++i) {
      uint32_t e = planned.inputs[i];
      spec.inputs.push_back({p.entry_shapes[e], p.entry_types[e]});
      const NDArray& param = m.param_of_node[g.input_nodes[nid][i]];
      spec.constants.push_back(param.is_none() ? nullptr : &param);
    }
    for (uint32_t e : planned.outputs) spec.outputs.push_back({p.entry_shapes[e], p.entry_types[e]});
    bool emulated = false, on_host = false;
    // The node's own backends, then (GPU plans) its reference kernel on the host.
    auto make = [&](const KernelSpec& s) {
      std::unique_ptr<Kernel> kernel = FirstKernel(order, n.op->name, s, &planned.backend);
      if (!kernel && m.ctx.is_gpu() && !m.flags.reference_only) {
        kernel = HostFallback(n.op->name, s);
        on_host = kernel != nullptr;
        if (on_host) planned.backend = Backend::kReference;
      }
      return kernel;
    };
    try {
      planned.kernel = make(spec);
      if (!planned.kernel && HasReducedFloat(spec)) {
        planned.kernel = EmulateInFloat32(spec, make, [&](const KernelSpec& cast) {
          Backend unused;
          return FirstKernel(order, "Cast", cast, &unused);
        });
        emulated = planned.kernel != nullptr;
      }
    } catch (const Error& e) {
      if (std::string(e.what()).find(n.name) != std::string::npos) throw;
      RethrowWithContext(e, "node '" + n.name + "' (" + n.op->name + "): ");
    }
    if (!planned.kernel)
      Throw<Unsupported>("node '", n.name, "': no kernel for operator ", n.op->name, " on ",
                         m.ctx.ToString(), " (register one with tandem::RegisterKernel)");
    planned.scratch_bytes = planned.kernel->ScratchBytes();
    p.scratch_bytes = std::max(p.scratch_bytes, planned.scratch_bytes);
    p.report.kernels_by_backend[BackendName(planned.backend)]++;
    p.report.emulated_kernels += emulated;
    p.report.host_fallback_kernels += on_host;
    p.has_host_nodes |= on_host;
    p.report.node_kernels.push_back(n.name + ": " + n.op->name + " [" + BackendName(planned.backend) +
                                    (on_host ? ", on the host" : "") +
                                    (emulated ? ", float32 between casts]" : "]"));
    p.nodes.push_back(std::move(planned));
  }
  p.report.choices_measured = counters.measured;
  p.report.choices_from_cache = counters.loaded;
  p.report.choices_reused = counters.reused;
  p.report.winograd_convolutions = counters.winograd;
}

}  // namespace

const void* PlanningModel() { return planning_model; }
const PlanCache* PlanningCache() { return planning_cache; }
PlanChoiceCounters* PlanningCounters() { return planning_counters; }
PlanningScope::PlanningScope(const void* model, const PlanCache* cache, PlanChoiceCounters* counters)
    : previous_(planning_model), previous_cache_(planning_cache), previous_counters_(planning_counters) {
  planning_model = model;
  planning_cache = cache;
  planning_counters = counters;
}
PlanningScope::~PlanningScope() {
  planning_model = previous_;
  planning_cache = previous_cache_;
  planning_counters = previous_counters_;
}

std::shared_ptr<const Plan> BuildPlan(const ModelGraph& m, const std::vector<TensorDesc>& inputs,
                                      int threads) {
  static std::atomic<uint64_t> next_plan_id{1};
  const auto start = std::chrono::steady_clock::now();
  auto p = std::make_shared<Plan>();
  p->id = next_plan_id++;
  InferPlanShapes(m, inputs, *p);
  CheckEntrySizes(m, *p);  // sizes that cannot be allocated fail before any kernel is made
  ChooseKernels(m, *p);
  AssignSlots(m, *p);  // after the kernels: each node's scratch is planned into the arena
  p->output_entries = m.graph.output_entries;
  for (const TensorDesc& d : inputs) p->report.input_shapes.push_back(d.shape);
  for (uint32_t e : p->output_entries) p->report.output_shapes.push_back(p->entry_shapes[e]);
  p->report.arena_bytes = p->arena_bytes;
  p->report.naive_bytes = p->naive_bytes;
  p->report.scratch_bytes = p->scratch_bytes;
  p->report.param_bytes = m.param_bytes;
  p->report.intra_op_threads = threads;
  p->report.folded_batch_norms = m.folded_batch_norms;
  p->report.fused_activations = m.fused_activations;
  p->report.fused_residual_adds = m.fused_residual_adds;
  p->report.fused_pads = m.fused_pads;
  p->report.dropped_identities = m.dropped_identities;
  p->report.precision_casts = m.precision_casts;
  p->report.folded_constants = m.folded_constants;
  p->report.converted_to_channels_last = m.converted_to_channels_last;
  p->report.blocked_tensors = m.blocked_tensors;
  p->report.plan_cache = m.plan_cache ? m.plan_cache->dir().string() : "";
  p->report.plan_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return p;
}

namespace {

// Where entry `e` lives during one call.
void* EntryAddress(const Plan& p, uint32_t e, const std::vector<NDArray>& inputs,
                   const std::vector<NDArray>& outputs, char* arena) {
  const Slot& s = p.slots[e];
  switch (s.kind) {
    case SlotKind::kArena: return arena + s.offset;
    case SlotKind::kInput: return inputs[s.offset].raw_data();
    case SlotKind::kParam: return const_cast<void*>(s.param);  // kernels only read inputs
    case SlotKind::kOutput: return outputs[s.offset].raw_data();
    case SlotKind::kNone: return nullptr;  // an input inference never reads (a label)
  }
  return nullptr;
}

// Runs every node's kernel in order on `exec`, reading the caller's `inputs` and writing `outputs`
// (or the staging arrays a captured CUDA graph uses in their place).
void RunNodes(const ModelGraph& m, const Plan& p, const std::vector<NDArray>& inputs,
              const std::vector<NDArray>& outputs, ExecContext& exec, char* arena) {
  auto address = [&](uint32_t e) { return EntryAddress(p, e, inputs, outputs, arena); };
  std::vector<TensorArg>& args = exec.args();
  for (const PlannedNode& pn : p.nodes) {
    args.clear();
    for (uint32_t e : pn.inputs) args.push_back({address(e), &p.entry_shapes[e], p.entry_types[e]});
    for (uint32_t e : pn.outputs) args.push_back({address(e), &p.entry_shapes[e], p.entry_types[e]});
    KernelCall call;
    call.inputs = std::span<const TensorArg>(args.data(), pn.inputs.size());
    call.outputs = std::span<const TensorArg>(args.data() + pn.inputs.size(), pn.outputs.size());
    call.scratch = pn.scratch_bytes ? arena + pn.scratch_offset : nullptr;
    call.exec = &exec;
    const Node& n = *m.graph.nodes[pn.node_id];
    try {
      pn.kernel->Run(call);
    } catch (const Error& e) {
      RethrowWithContext(e, "node '" + n.name + "' (" + n.op->name + "): ");
    } catch (const std::bad_alloc&) {
      Throw<OutOfMemory>("node '", n.name, "' (", n.op->name, "): out of memory");
    } catch (const std::exception& e) {
      Throw<InternalError>("node '", n.name, "' (", n.op->name, "): kernel failed: ", e.what());
    }
  }
}

}  // namespace

void RunPlan(const ModelGraph& m, const Plan& p, const std::vector<NDArray>& inputs,
             const std::vector<NDArray>& outputs, ExecContext& exec) {
  // One buffer per context: activations and every node's scratch (planned into the arena).
  char* arena = static_cast<char*>(exec.Arena(p.arena_bytes));
#if TANDEM_HAVE_CUDA
  // A graph bakes in the arena's addresses: only worth it when the arena outlives the call.
  if (m.ctx.is_gpu() && m.flags.cuda_graphs && m.flags.static_alloc && p.output_copies.empty() &&
      !p.has_host_nodes) {
    auto run_nodes = [&](const std::vector<NDArray>& in, const std::vector<NDArray>& out) {
      RunNodes(m, p, in, out, exec, arena);
    };
    if (cuda::RunAsGraph(exec, p.id, inputs, outputs, arena, run_nodes)) {
      FinishDeviceWork(m, exec);
      return;
    }
  }
#endif
  RunNodes(m, p, inputs, outputs, exec, arena);
  // Kernels ran on the call's own stream: wait for it before heads are copied and outputs returned.
  FinishDeviceWork(m, exec);
  for (const auto& [j, e] : p.output_copies)
    detail::CopyBytes(outputs[j].raw_data(), outputs[j].ctx(),
                      EntryAddress(p, e, inputs, outputs, arena), m.ctx, outputs[j].nbytes());
}

void FinishDeviceWork(const ModelGraph& m, ExecContext& exec) {
#if TANDEM_HAVE_CUDA
  if (m.ctx.is_gpu()) cuda::FinishCall(exec);
#else
  (void)m;
  (void)exec;
#endif
}

}  // namespace tandem::detail
