// CachedOp: binds parameters once, caches plans per input shape, runs calls on pooled
// per-call execution contexts. See include/tandem/cached_op.hpp for the threading contract.
#include "tandem/cached_op.hpp"

#include <algorithm>
#include <cstdlib>
#include <future>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <tuple>
#include <set>

#include "lib/exec/batcher.hpp"
#include "lib/exec/cpu_teams.hpp"
#include "lib/exec/layout.hpp"
#include "lib/exec/plan.hpp"
#include "lib/exec/precision.hpp"
#include "lib/exec/rewrite.hpp"

namespace tandem {
namespace {

using detail::ModelGraph;
using PlanT = detail::Plan;
using detail::VarRole;

// Arguments whose variables are weights: a model without them is misconfigured, not a model with
// an extra data input.
bool IsParameterArgument(const std::string& arg) {
  static const std::set<std::string> kNames = {"weight", "bias", "gamma", "beta", "moving_mean", "moving_var"};
  return kNames.count(arg) != 0;
}

std::map<std::string, NDArray> StripPrefixes(const std::map<std::string, NDArray>& params) {
  std::map<std::string, NDArray> out;
  for (const auto& [name, array] : params) {
    std::string key = name;
    if (key.rfind("arg:", 0) == 0 || key.rfind("aux:", 0) == 0) key = key.substr(4);
    out[key] = array;
  }
  return out;
}

// For each variable node: the argument names under which its consumers read it.
std::vector<std::vector<std::string>> ConsumerArguments(const detail::IndexedGraph& g) {
  std::vector<std::vector<std::string>> uses(g.nodes.size());
  for (uint32_t nid = 0; nid < g.nodes.size(); ++nid) {
    const Node& n = *g.nodes[nid];
    if (n.is_variable()) continue;
    std::vector<std::string> names = n.op->arguments(n.params);
    std::vector<std::string> aux = n.op->aux_states(n.params);
    names.insert(names.end(), aux.begin(), aux.end());
    for (size_t i = 0; i < g.input_nodes[nid].size(); ++i) {
      std::string arg = i < names.size() ? names[i] : "";
      bool unused = std::count(n.op->unused_at_inference.begin(), n.op->unused_at_inference.end(), arg) > 0;
      uses[g.input_nodes[nid][i]].push_back(unused ? "<unused>" : arg);
    }
  }
  return uses;
}

void AssignRolesAutomatically(ModelGraph& m, const std::map<std::string, NDArray>& params) {
  const auto uses = ConsumerArguments(m.graph);
  std::vector<std::string> missing;
  for (uint32_t nid = 0; nid < m.graph.nodes.size(); ++nid) {
    const Node& n = *m.graph.nodes[nid];
    if (!n.is_variable()) continue;
    if (params.count(n.name)) {
      m.var_role[nid] = VarRole::kParam;
      continue;
    }
    const auto& u = uses[nid];
    bool all_unused = !u.empty() && std::all_of(u.begin(), u.end(), [](auto& a) { return a == "<unused>"; });
    bool all_params = !u.empty() && std::all_of(u.begin(), u.end(), IsParameterArgument);
    if (all_unused) m.var_role[nid] = VarRole::kIgnored;
    else if (all_params) missing.push_back(n.name);
    else m.var_role[nid] = VarRole::kData;
  }
  if (!missing.empty()) {
    std::string list;
    for (const auto& s : missing) list += (list.empty() ? "" : ", ") + s;
    Throw<InvalidArgument>("CachedOp: parameters missing from the params map: ", list);
  }
}

void AssignRolesByIndex(ModelGraph& m, const std::map<std::string, NDArray>& params) {
  std::vector<uint32_t> vars;
  for (uint32_t nid = 0; nid < m.graph.nodes.size(); ++nid)
    if (m.graph.nodes[nid]->is_variable()) vars.push_back(nid);
  std::fill(m.var_role.begin(), m.var_role.end(), VarRole::kIgnored);
  auto pick = [&](const std::vector<int>& indices, VarRole role, const char* what) {
    for (int i : indices) {
      if (i < 0 || static_cast<size_t>(i) >= vars.size())
        Throw<InvalidArgument>("CachedOp: ", what, " index ", i, " out of range (", vars.size(), " inputs)");
      m.var_role[vars[i]] = role;
    }
  };
  pick(m.flags.data_indices, VarRole::kData, "data_indices");
  pick(m.flags.param_indices, VarRole::kParam, "param_indices");
  for (uint32_t nid : vars)
    if (m.var_role[nid] == VarRole::kParam && !params.count(m.graph.nodes[nid]->name))
      Throw<InvalidArgument>("CachedOp: parameter '", m.graph.nodes[nid]->name, "' missing from the params map");
}

// A reduced precision needs kernels that have it: cuDNN / cuBLAS on a GPU, or the reference
// (float32 between exact casts) when asked for. tandem's oneDNN kernels are float32 only.
void CheckComputeDType(Context ctx, const CachedOpFlags& flags) {
  if (!detail::IsComputeDType(flags.compute_dtype))
    Throw<InvalidArgument>("CachedOp: compute_dtype ", DTypeName(flags.compute_dtype),
                           " is not one of float32, float16, bfloat16");
  if (ctx.is_cpu() && flags.use_dnnl && !flags.reference_only)
    Throw<Unsupported>("CachedOp: compute_dtype ", DTypeName(flags.compute_dtype), " on ",
                       ctx.ToString(), ": tandem's oneDNN kernels compute in float32 only; use a "
                       "GPU context, or use_dnnl = false (the reference kernels) for a slow "
                       "accuracy check of the reduced precision on the CPU");
}

// CachedOpFlags::plan_cache, else TANDEM_PLAN_CACHE (deployments set it without a code change),
// else none.
std::shared_ptr<const detail::PlanCache> OpenPlanCache(const CachedOpFlags& flags) {
  std::string dir = flags.plan_cache;
  if (dir.empty()) {
    const char* env = std::getenv("TANDEM_PLAN_CACHE");
    if (env) dir = env;
  }
  if (dir.empty()) return nullptr;
  return std::make_shared<const detail::PlanCache>(dir);
}

// TANDEM_CPU_BLOCKED=0 keeps every CPU activation channels-last (to measure what the blocked
// layout gains, or to rule it out).
bool BlockedActivationsWanted() {
  const char* env = std::getenv("TANDEM_CPU_BLOCKED");
  return !(env && std::string(env) == "0");
}

std::shared_ptr<ModelGraph> BuildModelGraph(const Symbol& symbol,
                                            const std::map<std::string, NDArray>& raw_params,
                                            Context ctx, const CachedOpFlags& flags) {
  auto m = std::make_shared<ModelGraph>();
  auto params = StripPrefixes(raw_params);
  const bool channels_last = flags.channels_last.value_or(ctx.is_cpu() && flags.use_dnnl);
  const bool rewrite = !flags.reference_only && flags.data_indices.empty() &&
                       flags.param_indices.empty() &&
                       (flags.fold_batch_norm || flags.fuse_activations ||
                       flags.fuse_residual_add || flags.drop_identity || flags.fold_constants ||
                       channels_last);
  Symbol planned = symbol;
  if (rewrite) {
    detail::RewrittenGraph r = detail::RewriteForInference(symbol, params, flags, ctx.is_cpu());
    if (channels_last)
      r.symbol = detail::ToChannelsLast(r.symbol, r.params, &m->converted_to_channels_last);
    if (channels_last && ctx.is_cpu() && flags.use_dnnl && flags.compute_dtype == DType::f32 &&
        BlockedActivationsWanted())
      r.symbol = detail::ToBlockedConvChains(r.symbol, r.params, &m->blocked_tensors);
    planned = r.symbol;
    params = std::move(r.params);
    m->folded_batch_norms = r.folded_batch_norms;
    m->fused_activations = r.fused_activations;
    m->fused_residual_adds = r.fused_residual_adds;
    m->fused_pads = r.fused_pads;
    m->dropped_identities = r.dropped_identities;
    m->folded_constants = r.folded_constants;
  }
  if (flags.compute_dtype != DType::f32) {
    CheckComputeDType(ctx, flags);
    detail::LoweredGraph lowered = detail::LowerPrecision(planned, params, flags.compute_dtype);
    planned = lowered.symbol;
    params = std::move(lowered.params);
    m->precision_casts = lowered.inserted_casts;
  }
  m->graph = detail::IndexGraph(planned);
  m->ctx = ctx;
  m->flags = flags;
  m->plan_cache = OpenPlanCache(flags);
  const size_t n = m->graph.nodes.size();
  m->var_role.assign(n, VarRole::kIgnored);
  m->data_index.assign(n, -1);
  m->param_of_node.assign(n, NDArray());
  if (flags.data_indices.empty() && flags.param_indices.empty()) AssignRolesAutomatically(*m, params);
  else AssignRolesByIndex(*m, params);
  for (uint32_t nid = 0; nid < n; ++nid) {
    const Node& node = *m->graph.nodes[nid];
    if (!node.is_variable()) continue;
    if (m->var_role[nid] == VarRole::kParam) {
      const NDArray& array = params.at(node.name);
      if (array.is_none()) Throw<InvalidArgument>("CachedOp: parameter '", node.name, "' is a none array");
      // Shared, never copied per thread; copied once when it lives on another device.
      m->param_of_node[nid] = array.ctx() == ctx ? array : array.Copy(ctx);
      m->param_bytes += array.nbytes();
    } else if (m->var_role[nid] == VarRole::kData) {
      m->data_index[nid] = static_cast<int>(m->input_names.size());
      m->input_names.push_back(node.name);
      m->input_nodes.push_back(nid);
    }
  }
  m->output_names = symbol.ListOutputs();
  return m;
}

using detail::LoneCallTeam;

struct PlanKey {
  std::vector<Shape> shapes;
  std::vector<DType> dtypes;
  // CPU plans: the OpenMP team their oneDNN primitives are made for. A oneDNN 2.6 primitive
  // divides its work for the thread count current when it was created and runs that many
  // threads whatever team the calling thread asks for (a primitive made for 2 threads and run
  // from a thread limited to 1 still starts a second thread), so a call limited to fewer threads
  // than the plan was made for would oversubscribe the cores. A call therefore runs the plan made
  // for its own team. 0 for GPU plans.
  int threads = 0;
  bool SameShapes(const PlanKey& o) const { return shapes == o.shapes && dtypes == o.dtypes; }
  friend bool operator<(const PlanKey& a, const PlanKey& b) {
    return std::tie(a.shapes, a.dtypes, a.threads) < std::tie(b.shapes, b.dtypes, b.threads);
  }
  friend bool operator==(const PlanKey&, const PlanKey&) = default;
};

std::string Describe(const PlanKey& k) {
  std::string s;
  for (size_t i = 0; i < k.shapes.size(); ++i) s += (i ? ", " : "") + k.shapes[i].ToString();
  return s;
}

}  // namespace

struct CachedOp::Impl {
  std::shared_ptr<const ModelGraph> model;

  // Plan cache (LRU). Held only for lookups and inserts, never while planning or running.
  mutable std::mutex plan_mutex;
  mutable std::list<std::pair<PlanKey, std::shared_ptr<const PlanT>>> plans;  // most recent first
  mutable std::optional<PlanKey> static_key;
  // Shapes being planned right now. The first caller to miss a key plans it; concurrent callers
  // with the same key wait for that plan instead of building their own (a plan holds every
  // repacked weight: N first callers planning at once would briefly hold N copies of them).
  mutable std::map<PlanKey, std::shared_future<std::shared_ptr<const PlanT>>> planning;

  // Pool of per-call contexts. Held only to borrow / return one.
  mutable std::mutex pool_mutex;
  mutable std::vector<std::unique_ptr<ExecContext>> idle;
  mutable size_t created = 0;

  // Present when CachedOpFlags::max_batch > 1 (and no node mixes samples: batching_disabled_by).
  std::unique_ptr<detail::Batcher> batcher;
  std::string batching_disabled_by;

  // The plan for these shapes made for a CPU team of `threads` (ignored on GPUs).
  std::shared_ptr<const PlanT> GetPlan(const PlanKey& shapes, int threads) const;
  void EvictBeyondCapacity() const;  // plan_mutex held
  // The distinct input shapes of `plans`, most recently used first (a CPU shape may hold one plan
  // per team); plan_mutex held.
  std::vector<const PlanKey*> CachedShapes() const;
  void CheckStaticShape(const PlanKey& key) const;  // plan_mutex held
  std::unique_ptr<ExecContext> Borrow() const;
  void Return(std::unique_ptr<ExecContext> exec) const;
  PlanKey Validate(const std::vector<NDArray>& inputs) const;
  void ValidateOutputs(const PlanT& plan, std::vector<NDArray>* outputs) const;
  void RunOnContext(const PlanT& plan, const std::vector<NDArray>& inputs,
                    const std::vector<NDArray>& outputs) const;
  void RunUnbatched(const std::vector<NDArray>& inputs, std::vector<NDArray>* outputs) const;
  size_t PlanCacheCapacity() const;
};

void CachedOp::Impl::CheckStaticShape(const PlanKey& key) const {
  if (model->flags.static_shape && static_key && !static_key->SameShapes(key))
    Throw<ShapeError>("CachedOp built with static_shape=true got input shapes ", Describe(key),
                      " after ", Describe(*static_key),
                      "; build it with static_shape=false to accept new shapes");
}

std::shared_ptr<const PlanT> CachedOp::Impl::GetPlan(const PlanKey& shapes, int threads) const {
  PlanKey key = shapes;
  key.threads = model->ctx.is_cpu() ? threads : 0;
  std::promise<std::shared_ptr<const PlanT>> promise;
  {
    std::unique_lock lock(plan_mutex);
    CheckStaticShape(key);
    for (auto it = plans.begin(); it != plans.end(); ++it) {
      if (it->first == key) {
        plans.splice(plans.begin(), plans, it);
        return it->second;
      }
    }
    if (auto it = planning.find(key); it != planning.end()) {
      auto pending = it->second;  // another thread is planning this shape: wait for its plan
      lock.unlock();
      return pending.get();       // (or its error, rethrown here too)
    }
    planning.emplace(key, promise.get_future().share());
  }
  // Planned outside the lock: callers of other (planned) shapes never wait for this.
  std::shared_ptr<const PlanT> plan;
  try {
    std::vector<TensorDesc> descs;
    for (size_t i = 0; i < key.shapes.size(); ++i) descs.push_back({key.shapes[i], key.dtypes[i]});
    if (model->ctx.is_cpu())  // the kernels' weight reorders run on the plan's own team
      detail::RunWithTeam(key.threads, [&] {
        detail::NoteLongSerialWork();
        plan = detail::BuildPlan(*model, descs, key.threads);
      });
    else
      plan = detail::BuildPlan(*model, descs, key.threads);
    std::lock_guard lock(plan_mutex);
    planning.erase(key);
    // static_shape pins the first shape that planned successfully (a failed first call pins
    // nothing); checked again here because first calls with different shapes plan concurrently.
    CheckStaticShape(key);
    if (model->flags.static_shape && !static_key) static_key = key;
    plans.emplace_front(key, plan);
    EvictBeyondCapacity();
  } catch (...) {
    {
      std::lock_guard lock(plan_mutex);
      planning.erase(key);  // a later call with this key plans again
    }
    promise.set_exception(std::current_exception());
    throw;
  }
  promise.set_value(plan);
  return plan;
}

// In input shapes: batching plans one shape per batch size on top of the caller's own shapes.
// A CPU shape holds one plan per team its calls got (at most 1 + log2(cores), see cpu_teams.hpp).
size_t CachedOp::Impl::PlanCacheCapacity() const {
  const CachedOpFlags& f = model->flags;
  return std::max<size_t>(1, f.max_cached_shapes) + (batcher ? batcher->sizes().size() : 0);
}

std::vector<const PlanKey*> CachedOp::Impl::CachedShapes() const {
  std::vector<const PlanKey*> shapes;
  for (const auto& entry : plans)  // (no structured binding: the lambda captures it)
    if (std::none_of(shapes.begin(), shapes.end(),
                     [&](const PlanKey* k) { return k->SameShapes(entry.first); }))
      shapes.push_back(&entry.first);
  return shapes;
}

// Drops the plans of the least recently used shapes beyond the capacity (every team's plan of a
// shape goes with it). The kept pointers name entries that stay (each shape's most recent plan).
void CachedOp::Impl::EvictBeyondCapacity() const {
  std::vector<const PlanKey*> kept = CachedShapes();
  if (kept.size() <= PlanCacheCapacity()) return;
  kept.resize(PlanCacheCapacity());
  plans.remove_if([&](const auto& entry) {
    return std::none_of(kept.begin(), kept.end(),
                        [&](const PlanKey* k) { return k->SameShapes(entry.first); });
  });
}

std::unique_ptr<ExecContext> CachedOp::Impl::Borrow() const {
  {
    std::lock_guard lock(pool_mutex);
    if (!idle.empty()) {
      auto exec = std::move(idle.back());
      idle.pop_back();
      return exec;
    }
    ++created;
  }
  return std::make_unique<ExecContext>(model->ctx);
}

void CachedOp::Impl::Return(std::unique_ptr<ExecContext> exec) const {
  if (!model->flags.static_alloc) exec->ReleaseBuffers();
  std::lock_guard lock(pool_mutex);
  idle.push_back(std::move(exec));
}

PlanKey CachedOp::Impl::Validate(const std::vector<NDArray>& inputs) const {
  const auto& names = model->input_names;
  if (inputs.size() != names.size()) {
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    Throw<InvalidArgument>("CachedOp::Forward: ", inputs.size(), " inputs given, the model takes ",
                           names.size(), " (", list, ")");
  }
  PlanKey key;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const NDArray& a = inputs[i];
    if (a.is_none()) Throw<InvalidArgument>("CachedOp::Forward: input '", names[i], "' is a none array");
    if (a.ctx() != model->ctx)
      Throw<DeviceError>("CachedOp::Forward: input '", names[i], "' is on ", a.ctx().ToString(),
                         " but the model runs on ", model->ctx.ToString(), "; copy it with .Copy(ctx)");
    if (a.shape().ndim() == 0) Throw<ShapeError>("CachedOp::Forward: input '", names[i], "' has no shape");
    key.shapes.push_back(a.shape());
    key.dtypes.push_back(a.dtype());
  }
  return key;
}

void CachedOp::Impl::ValidateOutputs(const PlanT& plan, std::vector<NDArray>* outputs) const {
  const size_t n = plan.output_entries.size();
  if (outputs->empty()) outputs->resize(n);
  if (outputs->size() != n)
    Throw<InvalidArgument>("CachedOp::Forward: ", outputs->size(), " output arrays given, the model has ", n);
  for (size_t j = 0; j < n; ++j) {
    const Shape& shape = plan.entry_shapes[plan.output_entries[j]];
    DType dtype = plan.entry_types[plan.output_entries[j]];
    NDArray& out = (*outputs)[j];
    if (out.is_none()) {
      out = NDArray(shape, model->ctx, dtype);
      continue;
    }
    const std::string& name = model->output_names[j];
    if (out.shape() != shape)
      Throw<ShapeError>("CachedOp::Forward: output '", name, "' array has shape ", out.shape().ToString(),
                        ", the model produces ", shape.ToString());
    if (out.dtype() != dtype)
      Throw<TypeError>("CachedOp::Forward: output '", name, "' array is ", DTypeName(out.dtype()),
                       ", the model produces ", DTypeName(dtype));
    if (out.ctx() != model->ctx)
      Throw<DeviceError>("CachedOp::Forward: output '", name, "' array is on ", out.ctx().ToString(),
                         ", the model runs on ", model->ctx.ToString());
  }
}

namespace {

// The first node that mixes the samples of the batch axis (OpSchema::mixes_batch), as
// "name: op"; empty when every node keeps samples apart.
std::string NodeMixingBatch(const detail::IndexedGraph& g) {
  for (const auto& n : g.nodes)
    if (!n->is_variable() && n->op->mixes_batch && n->op->mixes_batch(n->params))
      return n->name + ": " + n->op->name;
  return {};
}

}  // namespace

CachedOp::CachedOp(const Symbol& symbol, const std::map<std::string, NDArray>& params, Context ctx,
                   CachedOpFlags flags)
    : impl_(std::make_shared<Impl>()) {
  if (ctx.is_gpu() && !GpuAvailable(ctx.id + 1))
    Throw<DeviceError>("CachedOp: ", ctx.ToString(), " is not available (",
                       GpuCount(), " GPU(s) visible to this build of tandem)");
  if (flags.max_batch > 1 && flags.static_shape)
    Throw<InvalidArgument>("CachedOp: max_batch (dynamic batching) needs static_shape=false, since "
                           "a batch has a new leading dimension");
  if (flags.max_batch > 1 && (flags.max_delay_us < 0 || flags.max_concurrent_batches < 1))
    Throw<InvalidArgument>("CachedOp: max_delay_us must be >= 0 and max_concurrent_batches >= 1 (got ",
                           flags.max_delay_us, ", ", flags.max_concurrent_batches, ")");
  impl_->model = BuildModelGraph(symbol, params, ctx, flags);
  if (flags.max_batch > 1) impl_->batching_disabled_by = NodeMixingBatch(impl_->model->graph);
  if (flags.max_batch > 1 && impl_->batching_disabled_by.empty()) {
    const Impl* impl = impl_.get();  // the batcher lives inside *impl
    impl_->batcher = std::make_unique<detail::Batcher>(
        flags.max_batch, flags.max_delay_us, flags.max_concurrent_batches, ctx.is_gpu(),
        [impl](const std::vector<NDArray>& in, std::vector<NDArray>* out) { impl->RunUnbatched(in, out); });
  }
}

CachedOp::~CachedOp() = default;
CachedOp::CachedOp(CachedOp&&) noexcept = default;
CachedOp& CachedOp::operator=(CachedOp&&) noexcept = default;

void CachedOp::Impl::RunOnContext(const PlanT& plan, const std::vector<NDArray>& inputs,
                                  const std::vector<NDArray>& outputs) const {
  std::unique_ptr<ExecContext> exec = Borrow();
  try {
    detail::RunPlan(*model, plan, inputs, outputs, *exec);
  } catch (...) {
    // A failed call may still have kernels queued on its stream: drain them before the context
    // (and its arena) can be reused or released.
    try {
      detail::FinishDeviceWork(*model, *exec);
    } catch (const Error&) {
    }
    Return(std::move(exec));
    throw;
  }
  Return(std::move(exec));
}

// One call on one execution context. On the CPU: with this call's share of the cores and the
// plan made for that team, led by a tandem team thread when the team is larger than one
// (cpu_teams.hpp says why).
void CachedOp::Impl::RunUnbatched(const std::vector<NDArray>& inputs,
                                  std::vector<NDArray>* outputs) const {
  PlanKey key = Validate(inputs);
  auto run = [&](int team) {
    std::shared_ptr<const PlanT> plan = GetPlan(key, team);
    ValidateOutputs(*plan, outputs);
    RunOnContext(*plan, inputs, *outputs);
  };
  if (!model->ctx.is_cpu()) return run(0);
  detail::CpuCall call(model->flags.intra_op_threads);
  detail::RunWithTeam(call.team(), [&] { run(call.team()); });
}

namespace {

// Rows a request brings to a batch: the common leading dimension of its inputs and outputs, or 0
// when it has none (then it runs on its own).
int64_t BatchRows(const PlanKey& key, const PlanT& plan) {
  if (key.shapes.empty() || key.shapes[0].ndim() == 0) return 0;
  const int64_t rows = key.shapes[0][0];
  for (const Shape& s : key.shapes)
    if (s.ndim() == 0 || s[0] != rows) return 0;
  for (uint32_t e : plan.output_entries) {
    const Shape& s = plan.entry_shapes[e];
    if (s.ndim() == 0 || s[0] != rows) return 0;
  }
  return rows;
}

detail::SampleKey SampleKeyOf(const PlanKey& key) {
  detail::SampleKey k;
  for (const Shape& s : key.shapes) {
    std::vector<int64_t> dims(s.begin() + 1, s.end());
    k.sample_shapes.emplace_back(dims);
  }
  k.dtypes = key.dtypes;
  return k;
}

}  // namespace

void CachedOp::Forward(const std::vector<NDArray>& inputs, std::vector<NDArray>* outputs) const {
  if (!outputs) Throw<InvalidArgument>("CachedOp::Forward: outputs pointer is null");
  // Everything about this caller's inputs and outputs is checked here, in its own thread, before
  // it can join a batch: a bad request never reaches anyone else's run.
  if (impl_->batcher) {
    PlanKey key = impl_->Validate(inputs);
    std::shared_ptr<const PlanT> plan =
        impl_->GetPlan(key, LoneCallTeam(impl_->model->flags.intra_op_threads));
    impl_->ValidateOutputs(*plan, outputs);
    const int64_t rows = BatchRows(key, *plan);
    if (rows > 0 && rows < impl_->batcher->max_batch()) {
      impl_->batcher->Run(SampleKeyOf(key), rows, inputs, *outputs);
      return;
    }
  }
  impl_->RunUnbatched(inputs, outputs);
}

std::vector<NDArray> CachedOp::Forward(const std::vector<NDArray>& inputs) const {
  std::vector<NDArray> outputs;
  Forward(inputs, &outputs);
  return outputs;
}

std::vector<NDArray> CachedOp::Forward(const std::map<std::string, NDArray>& inputs) const {
  std::vector<NDArray> ordered;
  for (const std::string& name : impl_->model->input_names) {
    auto it = inputs.find(name);
    if (it == inputs.end()) Throw<InvalidArgument>("CachedOp::Forward: input '", name, "' not given");
    ordered.push_back(it->second);
  }
  // Names of inputs the model ignores (labels) are accepted, as MXNet callers pass them.
  const auto& g = impl_->model->graph;
  // (Not a structured binding: clang before 16 cannot capture one in the lambda; the fuzz build
  // uses clang.)
  for (const auto& input : inputs) {
    const std::string& name = input.first;
    bool known = std::any_of(g.nodes.begin(), g.nodes.end(),
                             [&](const auto& n) { return n->is_variable() && n->name == name; });
    if (!known) Throw<InvalidArgument>("CachedOp::Forward: '", name, "' is not an input of this model");
  }
  return Forward(ordered);
}

const std::vector<std::string>& CachedOp::input_names() const { return impl_->model->input_names; }
const std::vector<std::string>& CachedOp::output_names() const { return impl_->model->output_names; }
Context CachedOp::context() const { return impl_->model->ctx; }

PlanReport CachedOp::Plan(const std::vector<Shape>& input_shapes) const {
  PlanKey key{input_shapes, std::vector<DType>(input_shapes.size(), DType::f32)};
  if (input_shapes.size() != impl_->model->input_names.size())
    Throw<InvalidArgument>("CachedOp::Plan: ", input_shapes.size(), " shapes given, the model takes ",
                           impl_->model->input_names.size());
  return impl_->GetPlan(key, LoneCallTeam(impl_->model->flags.intra_op_threads))->report;
}

size_t CachedOp::cached_plan_count() const {
  std::lock_guard lock(impl_->plan_mutex);
  return impl_->CachedShapes().size();
}

BatchingStats CachedOp::batching_stats() const {
  BatchingStats stats;
  if (!impl_->batcher) return stats;
  const detail::BatcherCounters c = impl_->batcher->counters();
  stats.requests = c.requests;
  stats.batches = c.batches;
  stats.largest_batch = c.largest_batch;
  return stats;
}

std::string CachedOp::batching_disabled_by() const { return impl_->batching_disabled_by; }

std::vector<int64_t> CachedOp::batch_sizes() const {
  return impl_->batcher ? impl_->batcher->sizes() : std::vector<int64_t>{};
}

size_t CachedOp::execution_context_count() const {
  std::lock_guard lock(impl_->pool_mutex);
  return impl_->created;
}

}  // namespace tandem
