// The reduced-precision pass (see precision.hpp).
#include "lib/exec/precision.hpp"

#include <algorithm>
#include <set>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "lib/core/graph.hpp"
#include "tandem/error.hpp"
#include "tandem/registry.hpp"

namespace tandem::detail {
namespace {

using NodePtr = std::shared_ptr<const Node>;

bool IsFloat(DType t) {
  return t == DType::f32 || t == DType::f64 || t == DType::f16 || t == DType::bf16;
}

// OpSchema::low_precision: operators whose results keep their meaning at 8 to 11 mantissa bits
// with float32 accumulation inside the kernel (what cuDNN and cuBLAS do on tensor cores).
// Softmax, BatchNorm's statistics, sums over many elements and division stay float32.
bool RunsInLowPrecision(const Node& n) { return n.op->low_precision; }

// What the original graph computes in: the dtype of every entry with float32 data inputs.
std::vector<DType> NaturalTypes(const IndexedGraph& g, const std::map<std::string, NDArray>& params) {
  std::vector<int> types(g.num_entries(), -1);
  for (uint32_t nid = 0; nid < g.nodes.size(); ++nid) {
    if (!g.nodes[nid]->is_variable()) continue;
    auto it = params.find(g.nodes[nid]->name);
    const bool bound = it != params.end() && !it->second.is_none();
    types[g.row_ptr[nid]] = static_cast<int>(bound ? it->second.dtype() : DType::f32);
  }
  InferEntryTypes(g, types);
  std::vector<DType> out(types.size(), DType::f32);
  for (size_t i = 0; i < types.size(); ++i)
    if (types[i] >= 0) out[i] = static_cast<DType>(types[i]);
  return out;
}

class Lowering {
 public:
  Lowering(const Symbol& symbol, const std::map<std::string, NDArray>& params, DType low)
      : graph_(IndexGraph(symbol)), natural_(NaturalTypes(graph_, params)), low_(low) {
    out_.params = params;
    for (const NodePtr& n : graph_.nodes) names_.insert(n->name);
    low_node_.assign(graph_.nodes.size(), false);
    for (uint32_t nid = 0; nid < graph_.nodes.size(); ++nid) low_node_[nid] = InLowPrecision(nid);
    // Per producer: is it read at all, and only by low nodes (one pass over every input).
    read_.assign(graph_.nodes.size(), false);
    read_only_low_.assign(graph_.nodes.size(), true);
    for (uint32_t reader = 0; reader < graph_.nodes.size(); ++reader)
      for (uint32_t input : graph_.input_nodes[reader]) {
        read_[input] = true;
        read_only_low_[input] = read_only_low_[input] && low_node_[reader];
      }
  }

  LoweredGraph Run(const Symbol& symbol) {
    replaced_.assign(graph_.nodes.size(), nullptr);
    tracked_.assign(graph_.num_entries(), DType::f32);
    for (uint32_t nid = 0; nid < graph_.nodes.size(); ++nid) {
      if (graph_.nodes[nid]->is_variable()) LowerVariable(nid);
      else LowerOperator(nid);
    }
    std::vector<NodeEntry> heads;
    for (const NodeEntry& e : symbol.outputs()) {
      const uint32_t id = graph_.EntryId(e);
      heads.push_back(Converted(id, natural_[id]));
    }
    out_.symbol = Symbol(std::move(heads));
    return std::move(out_);
  }

 private:
  // A node runs low when the pass knows it and it computes on floats only.
  bool InLowPrecision(uint32_t nid) const {
    const Node& n = *graph_.nodes[nid];
    if (n.is_variable() || !RunsInLowPrecision(n)) return false;
    for (int k = 0; k < n.num_outputs(); ++k)
      if (!IsFloat(natural_[graph_.row_ptr[nid] + k])) return false;
    for (uint32_t e : graph_.input_entries[nid])
      if (!IsFloat(natural_[e])) return false;
    return true;
  }

  // A float parameter only low nodes read is converted once; others stay as they are.
  void LowerVariable(uint32_t nid) {
    const NodePtr& v = graph_.nodes[nid];
    replaced_[nid] = v;
    const uint32_t e = graph_.row_ptr[nid];
    tracked_[e] = natural_[e];
    auto it = out_.params.find(v->name);
    if (it == out_.params.end() || it->second.is_none() || !IsFloat(it->second.dtype())) return;
    if (!read_[nid] || !read_only_low_[nid]) return;
    if (it->second.dtype() != low_) it->second = it->second.AsType(low_);
    tracked_[e] = low_;
  }

  void LowerOperator(uint32_t nid) {
    const Node& n = *graph_.nodes[nid];
    const bool low = low_node_[nid];
    std::vector<NodeEntry> inputs;
    bool changed = false;
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      const uint32_t e = graph_.input_entries[nid][i];
      // Low nodes read every float input in `low_`; the others what the original graph gave them.
      const DType wanted = low ? low_ : natural_[e];
      inputs.push_back(Converted(e, wanted));
      changed |= inputs.back().node != n.inputs[i].node || inputs.back().index != n.inputs[i].index;
    }
    if (changed) {
      auto copy = std::make_shared<Node>(n);
      copy->inputs = std::move(inputs);
      replaced_[nid] = copy;
    } else {
      replaced_[nid] = graph_.nodes[nid];
    }
    for (int k = 0; k < n.num_outputs(); ++k) {
      const uint32_t e = graph_.row_ptr[nid] + k;
      tracked_[e] = low ? low_ : natural_[e];
    }
  }

  // Entry `e` of the original graph, as the lowered graph holds it in `wanted`.
  NodeEntry Converted(uint32_t e, DType wanted) {
    const uint32_t producer = ProducerOf(e);
    const NodeEntry now{replaced_[producer], e - graph_.row_ptr[producer]};
    if (tracked_[e] == wanted || !IsFloat(tracked_[e]) || !IsFloat(wanted)) return now;
    const auto key = std::make_pair(e, wanted);
    if (auto it = casts_.find(key); it != casts_.end()) return it->second;
    NodeEntry cast{MakeCast(now, wanted), 0};
    casts_[key] = cast;
    ++out_.inserted_casts;
    return cast;
  }

  uint32_t ProducerOf(uint32_t e) const {
    // row_ptr is sorted: the producer is the last node whose first entry is <= e.
    auto it = std::upper_bound(graph_.row_ptr.begin(), graph_.row_ptr.end(), e);
    return static_cast<uint32_t>(it - graph_.row_ptr.begin() - 1);
  }

  NodePtr MakeCast(const NodeEntry& from, DType to) {
    const OpSchema* cast = FindOp("Cast");
    if (!cast) Throw<InternalError>("the Cast operator is not registered");
    std::string name = from.node->name + (from.index ? "_output" + std::to_string(from.index) : "") +
                       "_to_" + DTypeName(to);
    for (int k = 2; names_.count(name); ++k) name += std::to_string(k);
    names_.insert(name);
    auto n = std::make_shared<Node>();
    n->op = cast;
    n->name = name;
    n->attrs = {{"dtype", DTypeName(to)}};
    n->params = cast->parse(AttrReader(n->attrs, cast->name, name));
    n->inputs = {from};
    return n;
  }

  IndexedGraph graph_;
  std::vector<DType> natural_;  // per original entry
  DType low_;
  LoweredGraph out_;
  std::set<std::string> names_;
  std::vector<bool> low_node_;       // per original node
  std::vector<bool> read_, read_only_low_;  // per original node, as a producer
  std::vector<NodePtr> replaced_;    // per original node: its copy in the lowered graph
  std::vector<DType> tracked_;       // per original entry: its dtype in the lowered graph
  std::map<std::pair<uint32_t, DType>, NodeEntry> casts_;
};

}  // namespace

bool IsComputeDType(DType t) { return t == DType::f32 || t == DType::f16 || t == DType::bf16; }

LoweredGraph LowerPrecision(const Symbol& symbol, const std::map<std::string, NDArray>& params,
                            DType low) {
  if (low != DType::f16 && low != DType::bf16)
    Throw<InvalidArgument>("LowerPrecision: ", DTypeName(low), " is not a reduced precision");
  return Lowering(symbol, params, low).Run(symbol);
}

}  // namespace tandem::detail
