// Internal: what the graph passes CachedOp runs at construction (lib/exec/rewrite.cpp,
// lib/exec/layout.cpp) share to copy a graph while changing some of its nodes. Nodes are
// immutable and shared, so a pass builds new nodes for what changes and for everything
// downstream of a change, and keeps the rest.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tandem/ndarray.hpp"
#include "tandem/registry.hpp"
#include "tandem/symbol.hpp"

namespace tandem::detail {

using NodePtr = std::shared_ptr<const Node>;

inline bool IsOp(const Node& n, const char* name) { return !n.is_variable() && n.op->name == name; }

// A float32 parameter bound to the variable feeding `e`, or nullptr.
inline const NDArray* ParamOf(const NodeEntry& e, const std::map<std::string, NDArray>& params) {
  if (!e.node->is_variable()) return nullptr;
  auto it = params.find(e.node->name);
  if (it == params.end() || it->second.is_none() || it->second.dtype() != DType::f32) return nullptr;
  return &it->second;
}

inline NodePtr Variable(const std::string& name) {
  auto v = std::make_shared<Node>();
  v->name = name;
  return v;
}

// A copy of `base` with new attributes (re-parsed, so kernels see them) and inputs.
inline NodePtr Rebuilt(const Node& base, AttrMap attrs, std::vector<NodeEntry> inputs) {
  auto n = std::make_shared<Node>();
  n->op = base.op;
  n->name = base.name;
  n->attrs = std::move(attrs);
  n->params = base.op->parse(AttrReader(n->attrs, base.op->name, base.name));
  n->inputs = std::move(inputs);
  return n;
}

// A copy of `base` reading other inputs. Its attributes did not change, so its parsed parameters
// are kept as they are: parsing them again would only repeat the work (user code, for a custom
// operator) for every node downstream of a rewrite.
inline NodePtr WithInputs(const Node& base, std::vector<NodeEntry> inputs) {
  auto n = std::make_shared<Node>(base);
  n->inputs = std::move(inputs);
  return n;
}

// Original node -> what replaces it while a pass copies the graph: another node (same outputs),
// for a dropped node the entry it forwarded, or for a folded node one variable per output read.
class Remap {
 public:
  NodeEntry operator()(const NodeEntry& e) const {
    if (auto it = folded_.find({e.node.get(), e.index}); it != folded_.end()) return it->second;
    if (auto it = forwarded_.find(e.node.get()); it != forwarded_.end()) return it->second;
    return {replaced_.at(e.node.get()), e.index};
  }
  void Replace(const Node* n, NodePtr with) { replaced_[n] = std::move(with); }
  void Forward(const Node* n, NodeEntry to) { forwarded_[n] = std::move(to); }
  void Fold(const NodeEntry& e, NodeEntry to) { folded_[{e.node.get(), e.index}] = std::move(to); }
  // `n` reading the replacements of its inputs: `n` itself when none changed.
  NodePtr Inputs(const NodePtr& n) const {
    std::vector<NodeEntry> inputs;
    bool changed = false;
    for (const NodeEntry& e : n->inputs) {
      inputs.push_back((*this)(e));
      changed |= inputs.back().node != e.node || inputs.back().index != e.index;
    }
    return changed ? WithInputs(*n, std::move(inputs)) : n;
  }
  Symbol Heads(const Symbol& symbol) const {
    std::vector<NodeEntry> heads;
    for (const NodeEntry& e : symbol.outputs()) heads.push_back((*this)(e));
    return Symbol(std::move(heads));
  }

 private:
  std::unordered_map<const Node*, NodePtr> replaced_;
  std::unordered_map<const Node*, NodeEntry> forwarded_;
  std::map<std::pair<const Node*, uint32_t>, NodeEntry> folded_;
};

// A name for an array a pass adds that no parameter has, nor any of `variables` (the graph's
// data inputs are not in `params`, and a parameter by their name would bind them).
inline std::string FreshName(const std::string& wanted, const std::map<std::string, NDArray>& params,
                             const std::set<std::string>& variables = {}) {
  std::string name = wanted;
  for (int k = 2; params.count(name) || variables.count(name); ++k) name = wanted + std::to_string(k);
  return name;
}

// Removes the parameters no variable of `symbol` reads (those of nodes a pass replaced), so they
// are not bound (nor counted in param_bytes).
inline void DropUnusedParams(const Symbol& symbol, std::map<std::string, NDArray>& params) {
  std::set<std::string> used;
  for (const NodePtr& n : symbol.TopoNodes())
    if (n->is_variable()) used.insert(n->name);
  for (auto it = params.begin(); it != params.end();)
    it = used.count(it->first) ? std::next(it) : params.erase(it);
}

}  // namespace tandem::detail
