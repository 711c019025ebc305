// Helpers shared by the zoo builders: nodes with attributes spelled exactly as MXNet's Python
// scripts write them (str() of the Python value: "(3, 3)", "True", "2e-05"), so the JSON we save
// is the JSON MXNet saves.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tandem/symbol.hpp"

namespace tandem::zoo::detail {

// "(k, k)", as Python prints a 2-tuple.
// (Appending, not "(" + to_string(k): GCC 12 warns falsely about the latter.)
inline std::string Pair(int64_t k) {
  const std::string v = std::to_string(k);
  std::string out = "(";
  out.append(v).append(", ").append(v).append(")");
  return out;
}

inline Symbol Node(const std::string& op, const std::string& name, const AttrMap& attrs,
                   const std::vector<Symbol>& inputs) {
  return Symbol::CreateOp(op, name, attrs, inputs);
}

inline Symbol Relu(const std::string& name, const Symbol& x) {
  return Node("Activation", name, {{"act_type", "relu"}}, {x});
}

// MXNet auto-names unnamed nodes "<op in lower case><counter>", one counter per hint, per graph
// build (a fresh NameManager); this mirrors that for the few unnamed nodes of the zoo graphs.
class AutoNamer {
 public:
  std::string operator()(const std::string& hint) { return hint + std::to_string(counts_[hint]++); }

 private:
  std::map<std::string, int> counts_;
};

}  // namespace tandem::zoo::detail
