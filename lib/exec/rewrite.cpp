// Inference rewrites: identity dropping, constant folding, then BatchNorm folding, ReLU and
// residual-add fusion into Convolution (see rewrite.hpp).
#include "lib/exec/rewrite.hpp"

#include <algorithm>
#include <cstdio>
#include <cmath>
#include <functional>
#include <optional>
#include <set>
#include <unordered_map>

#include "lib/core/graph.hpp"
#include "lib/exec/graph_edit.hpp"
#include "lib/ops/params.hpp"
#include "lib/ops/schemas.hpp"
#include "tandem/error.hpp"
#include "tandem/registry.hpp"

namespace tandem::detail {
namespace {

// How the original graph uses each node: number of reading entries, and whether it is a head or
// has an output other than the first read (then it cannot disappear into a fused node).
struct Usage {
  std::unordered_map<const Node*, int> readers;
  std::set<const Node*> pinned;
};

Usage CountUsage(const Symbol& symbol, const std::vector<NodePtr>& nodes) {
  Usage u;
  for (const NodePtr& n : nodes)
    for (const NodeEntry& e : n->inputs) {
      ++u.readers[e.node.get()];
      if (e.index != 0) u.pinned.insert(e.node.get());
    }
  for (const NodeEntry& e : symbol.outputs()) u.pinned.insert(e.node.get());
  return u;
}

// Copies at inference (OpSchema::identity_at_inference): Dropout (tandem never drops at
// inference), BlockGrad / stop_gradient, identity / _copy. Flatten and Reshape change the shape,
// so they stay.
bool IsIdentity(const Node& n) { return n.op->identity_at_inference && n.inputs.size() == 1; }

// The graph without identity nodes: each reader (a head included) reads the node's input. The
// CachedOp takes output names from the original symbol, so they do not change. An identity that
// reads a variable stays: the variable's role (data, ignored label) depends on who reads it, and
// Forward's inputs must not change.
Symbol DropIdentities(const Symbol& symbol, int* dropped) {
  Remap remap;
  for (const NodePtr& n : symbol.TopoNodes()) {
    if (!n->is_variable() && IsIdentity(*n) && !n->inputs[0].node->is_variable()) {
      remap.Forward(n.get(), remap(n->inputs[0]));
      ++*dropped;
    } else {
      remap.Replace(n.get(), n->is_variable() ? n : remap.Inputs(n));
    }
  }
  return remap.Heads(symbol);
}

// Nodes that compute from bound parameters alone. Only the built-in operators qualify: a custom
// one may be random or have side effects, which evaluating it once would change. Heads are not
// folded: a head computed from parameters alone is rare, and as a parameter it would still be
// copied out on every call.
std::set<const Node*> ConstantNodes(const Symbol& symbol, const std::vector<NodePtr>& nodes,
                                    const std::map<std::string, NDArray>& params) {
  std::set<const Node*> heads;
  for (const NodeEntry& e : symbol.outputs()) heads.insert(e.node.get());
  std::set<const Node*> constant;
  const auto is_constant = [&](const NodeEntry& e) {
    if (!e.node->is_variable()) return constant.count(e.node.get()) != 0;
    auto it = params.find(e.node->name);
    return it != params.end() && !it->second.is_none();
  };
  for (const NodePtr& n : nodes)  // topological: a node's producers are decided before it
    if (!n->is_variable() && !n->inputs.empty() && !heads.count(n.get()) && IsBuiltinOp(*n->op) &&
        std::all_of(n->inputs.begin(), n->inputs.end(), is_constant))
      constant.insert(n.get());
  return constant;
}

// The outputs of constant nodes that the rest of the graph reads: the values folding computes.
std::vector<NodeEntry> ConstantFrontier(const std::vector<NodePtr>& nodes,
                                        const std::set<const Node*>& constant) {
  std::vector<NodeEntry> entries;
  std::set<std::pair<const Node*, uint32_t>> seen;
  for (const NodePtr& n : nodes) {
    if (constant.count(n.get())) continue;
    for (const NodeEntry& e : n->inputs)
      if (constant.count(e.node.get()) && seen.insert({e.node.get(), e.index}).second)
        entries.push_back(e);
  }
  return entries;
}

// `entries` computed by the reference kernels on the CPU: the oracle's arithmetic, whatever
// backend runs the rest. The CachedOp copies parameters from other devices itself, and its
// outputs are new arrays, so the caller's are never written. Empty when evaluation fails (shapes
// that do not fit): the graph then stays as written, and planning reports the error.
std::vector<NDArray> Evaluate(const std::vector<NodeEntry>& entries,
                              const std::map<std::string, NDArray>& params) {
  const Symbol constants(entries);
  std::map<std::string, NDArray> bound;
  for (const std::string& name : constants.ListInputs()) bound[name] = params.at(name);
  try {
    const CachedOp op(constants, bound, Context::cpu(), {.reference_only = true});
    return op.Forward(std::vector<NDArray>{});
  } catch (const Error&) {
    return {};
  }
}

// The graph with its constant nodes replaced by parameters holding their values.
Symbol FoldConstants(const Symbol& symbol, RewrittenGraph& out) {
  const std::vector<NodePtr> nodes = symbol.TopoNodes();
  const std::set<const Node*> constant = ConstantNodes(symbol, nodes, out.params);
  if (constant.empty()) return symbol;
  const std::vector<NodeEntry> entries = ConstantFrontier(nodes, constant);
  const std::vector<NDArray> values = Evaluate(entries, out.params);
  if (values.size() != entries.size()) return symbol;
  std::set<std::string> variables;
  for (const NodePtr& n : nodes)
    if (n->is_variable()) variables.insert(n->name);
  Remap remap;
  for (size_t i = 0; i < entries.size(); ++i) {
    const Node& n = *entries[i].node;
    const std::string output =
        n.num_outputs() > 1 ? "_output" + std::to_string(entries[i].index) : "";
    const std::string name = FreshName(n.name + output + "_folded", out.params, variables);
    out.params[name] = values[i];
    remap.Fold(entries[i], {Variable(name), 0});
  }
  for (const NodePtr& n : nodes)
    if (!constant.count(n.get())) remap.Replace(n.get(), n->is_variable() ? n : remap.Inputs(n));
  out.folded_constants = static_cast<int>(constant.size());
  return remap.Heads(symbol);
}

// conv (original, rewritten as `conv_new`) followed by `bn`: the folded convolution, or nullptr
// when the pair does not qualify.
NodePtr FoldBatchNorm(const Node& bn, const Node& conv, const NodePtr& conv_new, const Usage& usage,
                      std::map<std::string, NDArray>& params) {
  if (bn.inputs.size() != 5 || conv_new->inputs.size() < 2) return nullptr;
  if (usage.pinned.count(&conv) || usage.pinned.count(&bn) || usage.readers.at(&conv) != 1)
    return nullptr;
  const auto& cp = ParamsAs<ops::ConvParams>(conv_new->params);
  const auto& bp = ParamsAs<ops::BatchNormParams>(bn.params);
  const int rank = static_cast<int>(cp.kernel.size()) + 2;
  if (bp.axis != 1 && bp.axis != 1 - rank) return nullptr;
  if (cp.fused_relu || cp.fused_sum) return nullptr;  // a ReLU or an add between: not affine
  const NDArray* weight = ParamOf(conv_new->inputs[1], params);
  const NDArray* bias = cp.no_bias ? nullptr : ParamOf(conv_new->inputs.at(2), params);
  const NDArray* gamma = ParamOf(bn.inputs[1], params);
  const NDArray* beta = ParamOf(bn.inputs[2], params);
  const NDArray* mean = ParamOf(bn.inputs[3], params);
  const NDArray* var = ParamOf(bn.inputs[4], params);
  if (!weight || (!cp.no_bias && !bias) || !gamma || !beta || !mean || !var) return nullptr;
  const int64_t filters = cp.num_filter;
  if (weight->shape().ndim() < 1 || weight->shape()[0] != filters) return nullptr;
  for (const NDArray* a : {gamma, beta, mean, var})
    if (a->shape().Size() != filters) return nullptr;
  if (bias && bias->shape().Size() != filters) return nullptr;

  // y = gamma * (conv(x) + b - mean) / sqrt(var + eps) + beta, per output channel f.
  // The folded weights are written straight into their new array: a weight-sized temporary
  // would be freed at once, and malloc raises its mmap threshold after such a free (see
  // lib/core/host_memory.hpp), so later per-thread buffers would stay in per-thread heaps.
  NDArray folded(weight->shape());
  std::vector<float> device_copy;  // only for weights that are not in host memory
  if (!weight->ctx().is_cpu()) device_copy = weight->ToVector<float>();
  const float* w = weight->ctx().is_cpu() ? weight->data<float>() : device_copy.data();
  float* out = folded.data<float>();
  const std::vector<float> g = gamma->ToVector<float>(), be = beta->ToVector<float>(),
                           mu = mean->ToVector<float>(), v = var->ToVector<float>();
  const std::vector<float> b = bias ? bias->ToVector<float>() : std::vector<float>(filters, 0.f);
  const int64_t per_filter = weight->shape().Size() / filters;
  std::vector<float> folded_bias(filters);
  for (int64_t f = 0; f < filters; ++f) {
    const double scale = bp.FoldedScale(g[f], v[f]);
    for (int64_t i = 0; i < per_filter; ++i)
      out[f * per_filter + i] = static_cast<float>(w[f * per_filter + i] * scale);
    folded_bias[f] = static_cast<float>((static_cast<double>(b[f]) - mu[f]) * scale + be[f]);
  }
  const std::string w_name = FreshName(conv.name + "_weight_bn_folded", params);
  params[w_name] = folded;
  const std::string b_name = FreshName(conv.name + "_bias_bn_folded", params);
  params[b_name] = NDArray(folded_bias, Shape{filters});

  AttrMap attrs = conv_new->attrs;
  attrs["no_bias"] = "False";
  std::vector<NodeEntry> inputs = {conv_new->inputs[0], {Variable(w_name), 0}, {Variable(b_name), 0}};
  return Rebuilt(*conv_new, std::move(attrs), std::move(inputs));
}

// `target_new` with an activation epilogue, for `act` reading the original `producer`: a
// Convolution takes Activation(relu) or, in CPU plans (`fuse_clip`), clip; a BatchNorm that folded
// into no convolution (ResNet v2's pre-activation bn -> relu) takes Activation(relu). One pass over
// memory instead of two.
NodePtr FuseActivation(const Node& act, const Node& producer, const NodePtr& target_new,
                       const Usage& usage, bool fuse_clip) {
  const bool relu = IsOp(act, "Activation") &&
                    ParamsAs<ops::ActivationParams>(act.params).act == ops::ActType::kRelu;
  const bool clip = fuse_clip && IsOp(*target_new, "Convolution") && IsOp(act, "clip") &&
                    ParamsAs<ops::ClipParams>(act.params).a_min <= ParamsAs<ops::ClipParams>(act.params).a_max;
  if (!relu && !clip) return nullptr;
  if (usage.pinned.count(&producer) || usage.pinned.count(&act) || usage.readers.at(&producer) != 1)
    return nullptr;
  if (target_new->attrs.count(ops::kFusedActAttr)) return nullptr;  // one activation per node
  AttrMap attrs = target_new->attrs;
  attrs[ops::kFusedActAttr] = relu ? "relu" : "clip";
  if (clip) {
    // Exact decimal text of the float32 bounds the clip kernel would use.
    char buffer[64];
    const auto& p = ParamsAs<ops::ClipParams>(act.params);
    std::snprintf(buffer, sizeof buffer, "%.9g", static_cast<float>(p.a_min));
    attrs[ops::kClipMinAttr] = buffer;
    std::snprintf(buffer, sizeof buffer, "%.9g", static_cast<float>(p.a_max));
    attrs[ops::kClipMaxAttr] = buffer;
  }
  return Rebuilt(*target_new, std::move(attrs), target_new->inputs);
}

// `conv_new` (the rewritten `conv`) reading its data from the input of the Pad it read, with the
// Pad's widths added to its padding, when that Pad pads only the two spatial axes of 4-D NCHW
// data with zeros and nothing else reads it (TensorFlow's "SAME" padding before a stride-2
// convolution: EfficientNet). The padding after each axis goes into kPadEndAttr when it differs
// from the padding before. CPU plans only (oneDNN and the reference take asymmetric padding).
// One copy of the activation less, and the convolution can keep a blocked layout.
NodePtr FusePad(const Node& conv, const NodePtr& conv_new, const Remap& remap, const Usage& usage) {
  const Node& pad = *conv.inputs[0].node;
  const auto& p = ParamsAs<ops::ConvParams>(conv_new->params);
  if (!IsOp(pad, "Pad") || pad.inputs.size() != 1 || usage.pinned.count(&pad) ||
      usage.readers.at(&pad) != 1 || p.channels_last || p.kernel.size() != 2 || p.pad_end != p.pad)
    return nullptr;
  const AttrReader r(pad.attrs, pad.op->name, pad.name);
  const std::vector<int64_t> widths = r.Tuple("pad_width");
  if (r.Str("mode", "constant") != "constant" || r.Float("constant_value", 0.0) != 0.0 ||
      r.Bool(ops::kChannelsLastAttr, false) || widths.size() != 8 || widths[0] || widths[1] ||
      widths[2] || widths[3])
    return nullptr;
  std::vector<int64_t> before = p.pad, after = p.pad_end;
  for (int i = 0; i < 2; ++i) {
    before[i] += widths[4 + 2 * i];
    after[i] += widths[5 + 2 * i];
  }
  AttrMap attrs = conv_new->attrs;
  attrs["pad"] = Shape(before).ToString();
  if (after != before) attrs[ops::kPadEndAttr] = Shape(after).ToString();
  std::vector<NodeEntry> inputs = conv_new->inputs;
  inputs[0] = remap(pad.inputs[0]);
  return Rebuilt(*conv_new, std::move(attrs), std::move(inputs));
}

// Entry shapes the graph fixes before any data shape is seen (from parameters and `__shape__`
// hints); unknown where they depend on data. Proves broadcast_add operands equal.
class KnownShapes {
 public:
  KnownShapes(const Symbol& symbol, const std::map<std::string, NDArray>& params)
      : graph_(IndexGraph(symbol)) {
    shapes_.resize(graph_.num_entries());
    for (uint32_t nid = 0; nid < graph_.nodes.size(); ++nid) {
      auto it = params.find(graph_.nodes[nid]->name);
      if (graph_.nodes[nid]->is_variable() && it != params.end() && !it->second.is_none())
        shapes_[graph_.row_ptr[nid]] = it->second.shape();
    }
    try {
      InferEntryShapes(graph_, shapes_);
    } catch (const Error&) {  // an inconsistent graph fails at planning, with its own message
      shapes_.assign(graph_.num_entries(), Shape());
    }
  }
  bool Equal(const NodeEntry& a, const NodeEntry& b) const {
    const Shape& sa = shapes_[graph_.EntryId(a)];
    return sa.known() && sa == shapes_[graph_.EntryId(b)];
  }

 private:
  IndexedGraph graph_;
  std::vector<Shape> shapes_;
};

bool IsResidualAdd(const Node& n) {
  return (IsOp(n, "elemwise_add") || IsOp(n, "broadcast_add")) && n.inputs.size() == 2;
}

// The operand of a residual add that can absorb it: a Convolution (after the rewrites so far)
// without a fused epilogue, whose original producer only the add reads. lhs is tried first, so
// the choice is deterministic when both qualify. -1: none.
int AbsorbingOperand(const Node& add, const Remap& remap, const Usage& usage) {
  for (int i : {0, 1}) {
    const NodeEntry& e = add.inputs[i];
    const NodeEntry now = remap(e);
    if (now.index != 0 || !IsOp(*now.node, "Convolution")) continue;
    if (usage.pinned.count(e.node.get()) || usage.readers.at(e.node.get()) != 1) continue;
    const auto& cp = ParamsAs<ops::ConvParams>(now.node->params);
    if (cp.fused_relu || cp.fused_sum) continue;  // relu(conv) + r is not relu(conv + r)
    if (now.node->inputs.size() != cp.residual_input()) continue;  // extra inputs: leave it
    return i;
  }
  return -1;
}

// add(conv, residual) (either order) as one Convolution that adds `residual` in its epilogue, or
// nullptr when the add does not qualify. `shapes` is built on first need.
NodePtr FuseResidualAdd(const Node& add, const Remap& remap, const Usage& usage,
                        const std::function<const KnownShapes&()>& shapes) {
  const int i = AbsorbingOperand(add, remap, usage);
  if (i < 0) return nullptr;
  // elemwise_add has equal operand shapes by definition; broadcast_add only when proven.
  if (IsOp(add, "broadcast_add") && !shapes().Equal(add.inputs[0], add.inputs[1])) return nullptr;
  const NodePtr conv = remap(add.inputs[i]).node;
  AttrMap attrs = conv->attrs;
  attrs[ops::kFusedSumAttr] = "add";
  std::vector<NodeEntry> inputs = conv->inputs;
  inputs.push_back(remap(add.inputs[1 - i]));
  return Rebuilt(*conv, std::move(attrs), std::move(inputs));
}

// Folds, fuses: one pass in topological order over a graph without identity nodes.
Symbol Fuse(const Symbol& symbol, const CachedOpFlags& flags, bool cpu_plan, RewrittenGraph& out) {
  const std::vector<NodePtr> nodes = symbol.TopoNodes();
  const Usage usage = CountUsage(symbol, nodes);
  std::optional<KnownShapes> known;
  const std::function<const KnownShapes&()> shapes = [&]() -> const KnownShapes& {
    if (!known) known.emplace(symbol, out.params);
    return *known;
  };
  Remap remap;
  for (const NodePtr& n : nodes) {
    if (n->is_variable()) {
      remap.Replace(n.get(), n);
      continue;
    }
    NodePtr replacement;
    if (cpu_plan && IsOp(*n, "Convolution") && n->inputs[0].index == 0 && !n->inputs[0].node->is_variable()) {
      replacement = FusePad(*n, remap.Inputs(n), remap, usage);
      if (replacement) ++out.fused_pads;
    }
    const Node* producer = n->inputs.empty() ? nullptr : n->inputs[0].node.get();
    const NodePtr producer_new = producer ? remap(n->inputs[0]).node : nullptr;
    const bool after_conv = producer_new && IsOp(*producer_new, "Convolution") && n->inputs[0].index == 0;
    if (flags.fold_batch_norm && after_conv && IsOp(*n, "BatchNorm") && IsOp(*producer, "Convolution")) {
      replacement = FoldBatchNorm(*n, *producer, producer_new, usage, out.params);
      if (replacement) ++out.folded_batch_norms;
    }
    const bool after_bn = producer_new && IsOp(*producer_new, "BatchNorm") && n->inputs[0].index == 0;
    if (!replacement && flags.fuse_activations && (after_conv || after_bn)) {
      replacement = FuseActivation(*n, *producer, producer_new, usage, /*fuse_clip=*/cpu_plan);
      if (replacement) ++out.fused_activations;
    }
    if (!replacement && flags.fuse_residual_add && IsResidualAdd(*n)) {
      replacement = FuseResidualAdd(*n, remap, usage, shapes);
      if (replacement) ++out.fused_residual_adds;
    }
    remap.Replace(n.get(), replacement ? replacement : remap.Inputs(n));
  }
  return remap.Heads(symbol);
}

}  // namespace

RewrittenGraph RewriteForInference(const Symbol& symbol,
                                   const std::map<std::string, NDArray>& params,
                                   const CachedOpFlags& flags, bool cpu_plan) {
  RewrittenGraph out;
  out.params = params;
  // Identities go first, so that conv -> Dropout -> BatchNorm folds like conv -> BatchNorm.
  const Symbol pruned = flags.drop_identity ? DropIdentities(symbol, &out.dropped_identities) : symbol;
  // Before the fusions: a weight computed from parameters is then a plain parameter they can fold.
  const Symbol folded = flags.fold_constants ? FoldConstants(pruned, out) : pruned;
  out.symbol = Fuse(folded, flags, cpu_plan, out);
  DropUnusedParams(out.symbol, out.params);
  return out;
}

}  // namespace tandem::detail
