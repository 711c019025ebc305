// Internal: an indexed, topologically sorted view of a Symbol's DAG, with entry ids
// (node_row_ptr[node] + output), used by JSON save, shape inference and the planner.
#pragma once

#include <unordered_map>
#include <vector>

#include "tandem/symbol.hpp"

namespace tandem::detail {

struct IndexedGraph {
  std::vector<std::shared_ptr<const Node>> nodes;  // topological order
  std::unordered_map<const Node*, uint32_t> node_id;
  std::vector<uint32_t> row_ptr;                   // entry id of (node n, output k) = row_ptr[n] + k
  std::vector<std::vector<uint32_t>> input_nodes;  // per node: producer node ids of its inputs
  std::vector<std::vector<uint32_t>> input_entries;
  std::vector<uint32_t> output_entries;            // the symbol's outputs
  std::vector<bool> is_aux;                        // per node: variable used as an aux state

  uint32_t num_entries() const { return row_ptr.back(); }
  uint32_t EntryId(const NodeEntry& e) const { return row_ptr[node_id.at(e.node.get())] + e.index; }
};

IndexedGraph IndexGraph(const Symbol& symbol);

// Fills unknown entry shapes by running every op's infer_shape in topological order. Entries of
// variables may be given up front; shapes inferred for variables (weights) are written back.
void InferEntryShapes(const IndexedGraph& g, std::vector<Shape>& shapes);
// dtypes: -1 means unknown. Variables default to float32 when nothing says otherwise.
void InferEntryTypes(const IndexedGraph& g, std::vector<int>& types);

}  // namespace tandem::detail
