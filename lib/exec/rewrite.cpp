// Inference rewrites: BatchNorm folding and ReLU fusion into Convolution (see rewrite.hpp).
#include "lib/exec/rewrite.hpp"

#include <cmath>
#include <memory>
#include <set>
#include <unordered_map>

#include "lib/ops/params.hpp"
#include "tandem/registry.hpp"

namespace tandem::detail {
namespace {

using NodePtr = std::shared_ptr<const Node>;

bool IsOp(const Node& n, const char* name) { return !n.is_variable() && n.op->name == name; }

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

// A float32 parameter bound to the variable feeding `e`, or nullptr.
const NDArray* ParamOf(const NodeEntry& e, const std::map<std::string, NDArray>& params) {
  if (!e.node->is_variable()) return nullptr;
  auto it = params.find(e.node->name);
  if (it == params.end() || it->second.is_none() || it->second.dtype() != DType::f32) return nullptr;
  return &it->second;
}

NodePtr Variable(const std::string& name) {
  auto v = std::make_shared<Node>();
  v->name = name;
  return v;
}

// A copy of `base` with new attributes (re-parsed, so kernels see them) and inputs.
NodePtr Rebuilt(const Node& base, AttrMap attrs, std::vector<NodeEntry> inputs) {
  auto n = std::make_shared<Node>();
  n->op = base.op;
  n->name = base.name;
  n->attrs = std::move(attrs);
  n->params = base.op->parse(AttrReader(n->attrs, base.op->name, base.name));
  n->inputs = std::move(inputs);
  return n;
}

// A name no variable of the graph has, for a folded array.
std::string FreshName(const std::string& wanted, const std::map<std::string, NDArray>& params) {
  std::string name = wanted;
  for (int k = 2; params.count(name); ++k) name = wanted + std::to_string(k);
  return name;
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
  if (cp.fused_relu) return nullptr;  // a ReLU between them: not an affine chain
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
    const double scale = (bp.fix_gamma ? 1.0 : g[f]) / std::sqrt(static_cast<double>(v[f]) + bp.eps);
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

// `conv_new` with a ReLU epilogue, for Activation(relu) reading the original `producer`.
NodePtr FuseRelu(const Node& act, const Node& producer, const NodePtr& conv_new, const Usage& usage) {
  if (ParamsAs<ops::ActivationParams>(act.params).act != ops::ActType::kRelu) return nullptr;
  if (usage.pinned.count(&producer) || usage.pinned.count(&act) || usage.readers.at(&producer) != 1)
    return nullptr;
  if (ParamsAs<ops::ConvParams>(conv_new->params).fused_relu) return nullptr;
  AttrMap attrs = conv_new->attrs;
  attrs[ops::kFusedActAttr] = "relu";
  return Rebuilt(*conv_new, std::move(attrs), conv_new->inputs);
}

}  // namespace

RewrittenGraph RewriteForInference(const Symbol& symbol,
                                   const std::map<std::string, NDArray>& params,
                                   const CachedOpFlags& flags) {
  RewrittenGraph out;
  out.params = params;
  const std::vector<NodePtr> nodes = symbol.TopoNodes();
  const Usage usage = CountUsage(symbol, nodes);
  std::unordered_map<const Node*, NodePtr> mapped;  // original node -> node that replaces it
  auto map_entry = [&](const NodeEntry& e) { return NodeEntry{mapped.at(e.node.get()), e.index}; };

  for (const NodePtr& n : nodes) {
    if (n->is_variable()) {
      mapped[n.get()] = n;
      continue;
    }
    std::vector<NodeEntry> inputs;
    bool changed = false;
    for (const NodeEntry& e : n->inputs) {
      inputs.push_back(map_entry(e));
      changed |= inputs.back().node != e.node;
    }
    NodePtr replacement;
    const Node* producer = n->inputs.empty() ? nullptr : n->inputs[0].node.get();
    const NodePtr producer_new = producer ? mapped.at(producer) : nullptr;
    const bool after_conv = producer_new && IsOp(*producer_new, "Convolution") && n->inputs[0].index == 0;
    if (flags.fold_batch_norm && after_conv && IsOp(*n, "BatchNorm") && IsOp(*producer, "Convolution")) {
      replacement = FoldBatchNorm(*n, *producer, producer_new, usage, out.params);
      if (replacement) ++out.folded_batch_norms;
    }
    if (!replacement && flags.fuse_activations && after_conv && IsOp(*n, "Activation")) {
      replacement = FuseRelu(*n, *producer, producer_new, usage);
      if (replacement) ++out.fused_activations;
    }
    if (!replacement) replacement = changed ? Rebuilt(*n, n->attrs, std::move(inputs)) : n;
    mapped[n.get()] = replacement;
  }
  std::vector<NodeEntry> heads;
  for (const NodeEntry& e : symbol.outputs()) heads.push_back(map_entry(e));
  out.symbol = Symbol(std::move(heads));
  // Parameters only the removed nodes read are dropped, so they are not bound (nor counted).
  std::set<std::string> used;
  for (const NodePtr& n : out.symbol.TopoNodes())
    if (n->is_variable()) used.insert(n->name);
  for (auto it = out.params.begin(); it != out.params.end();)
    it = used.count(it->first) ? std::next(it) : out.params.erase(it);
  return out;
}

}  // namespace tandem::detail
