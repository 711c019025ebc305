// tandem/symbol.hpp — the computation graph, as in MXNet's Symbol API.
//
// A Symbol is a list of output entries of a DAG of Nodes. Nodes are immutable once created and
// shared between Symbols (composition never copies). Symbols are built in C++ with Variable /
// Operator (see operator.hpp for builders) or read from MXNet's `-symbol.json`, all three
// generations of it; Save / ToJSON write JSON that MXNet 1.x reads.
//
// Thread safety: a Symbol is an immutable value; any number of threads may read, save, infer shapes
// from, or build CachedOps from the same Symbol concurrently.
#pragma once

#include <any>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tandem/dtype.hpp"
#include "tandem/registry.hpp"
#include "tandem/shape.hpp"

namespace tandem {

struct Node;

struct NodeEntry {
  std::shared_ptr<const Node> node;
  uint32_t index = 0;  // which output of node
};

struct Node {
  const OpSchema* op = nullptr;  // nullptr for a variable ("null" in JSON)
  std::string name;
  AttrMap attrs;         // all attributes as written, hidden ones (__shape__, ...) included
  std::any params;       // op->parse(attrs), validated at creation
  std::vector<NodeEntry> inputs;
  bool is_variable() const { return op == nullptr; }
  int num_outputs() const;
  std::string op_name() const { return op ? op->name : "null"; }
};

class Symbol {
 public:
  Symbol() = default;
  explicit Symbol(std::vector<NodeEntry> outputs) : outputs_(std::move(outputs)) {}

  static Symbol Variable(const std::string& name, const AttrMap& attrs = {});
  static Symbol Group(const std::vector<Symbol>& symbols);
  // Creates an operator node. Inputs missing at the end (weight, bias, aux states) become new
  // variables named "<name>_<argument>", as MXNet's cpp-package does.
  static Symbol CreateOp(const std::string& op, const std::string& name, const AttrMap& attrs,
                         const std::vector<Symbol>& inputs);

  // ---- MXNet JSON ----
  static Symbol Load(const std::string& file);
  // `source` names the text in error messages (a file name, "<string>").
  static Symbol LoadJSON(const std::string& json, const std::string& source = "<json>");
  void Save(const std::string& file) const;
  std::string ToJSON() const;

  // ---- introspection ----
  std::vector<std::string> ListArguments() const;        // non-aux variables, topological order
  std::vector<std::string> ListAuxiliaryStates() const;  // aux variables (BatchNorm stats)
  std::vector<std::string> ListInputs() const;           // all variables, topological order
  std::vector<std::string> ListOutputs() const;          // "<node>_output", "<node>_output1", ...
  Symbol operator[](size_t output) const;
  Symbol GetInternals() const;  // every output of every node, for feature extraction
  // Topologically sorted nodes reachable from the outputs.
  std::vector<std::shared_ptr<const Node>> TopoNodes() const;
  const std::vector<NodeEntry>& outputs() const { return outputs_; }
  size_t num_outputs() const { return outputs_.size(); }

  // Infers every shape from the ones given (by input name), like MXNet's InferShape. Throws
  // ShapeError naming the node when shapes conflict or cannot be determined.
  void InferShape(const std::map<std::string, Shape>& known, std::vector<Shape>* arg_shapes,
                  std::vector<Shape>* out_shapes, std::vector<Shape>* aux_shapes) const;
  // Same, keyed by name: every input and every output name.
  std::map<std::string, Shape> InferShapeMap(const std::map<std::string, Shape>& known) const;

 private:
  std::vector<NodeEntry> outputs_;
};

}  // namespace tandem
