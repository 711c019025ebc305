// Symbol construction and introspection.
#include <algorithm>
#include <fstream>
#include <set>
#include <unordered_set>

#include "lib/core/graph.hpp"
#include "tandem/symbol.hpp"

namespace tandem {

int Node::num_outputs() const {
  return op ? static_cast<int>(op->outputs(params).size()) : 1;
}

namespace detail {

IndexedGraph IndexGraph(const Symbol& symbol) {
  IndexedGraph g;
  // Iterative post-order DFS: deep graphs (or hostile ones) must not overflow the C++ stack.
  struct Frame {
    const std::shared_ptr<const Node>* node;
    size_t next_input;
  };
  std::unordered_set<const Node*> on_stack;
  for (const NodeEntry& head : symbol.outputs()) {
    if (!head.node) Throw<InvalidArgument>("symbol has an empty output entry");
    if (g.node_id.count(head.node.get())) continue;
    std::vector<Frame> stack{{&head.node, 0}};
    on_stack.insert(head.node.get());
    while (!stack.empty()) {
      Frame& f = stack.back();
      const Node& n = **f.node;
      if (f.next_input < n.inputs.size()) {
        const std::shared_ptr<const Node>& child = n.inputs[f.next_input++].node;
        if (g.node_id.count(child.get())) continue;
        if (on_stack.count(child.get()))
          Throw<FormatError>("graph has a cycle through node '", child->name, "'");
        on_stack.insert(child.get());
        stack.push_back({&child, 0});
        continue;
      }
      on_stack.erase(&n);
      g.node_id[&n] = static_cast<uint32_t>(g.nodes.size());
      g.nodes.push_back(*f.node);
      stack.pop_back();
    }
  }
  g.row_ptr.assign(1, 0);
  for (const auto& n : g.nodes) g.row_ptr.push_back(g.row_ptr.back() + n->num_outputs());
  g.is_aux.assign(g.nodes.size(), false);
  for (const auto& n : g.nodes) {
    std::vector<uint32_t> producers, entries;
    size_t num_args = n->op ? n->op->arguments(n->params).size() : 0;
    for (size_t i = 0; i < n->inputs.size(); ++i) {
      const NodeEntry& e = n->inputs[i];
      uint32_t id = g.node_id.at(e.node.get());
      if (static_cast<int>(e.index) >= e.node->num_outputs())
        Throw<FormatError>("node '", n->name, "' reads output ", e.index, " of node '", e.node->name,
                           "', which has only ", e.node->num_outputs(), " output(s)");
      producers.push_back(id);
      entries.push_back(g.row_ptr[id] + e.index);
      if (i >= num_args && e.node->is_variable()) g.is_aux[id] = true;
    }
    g.input_nodes.push_back(std::move(producers));
    g.input_entries.push_back(std::move(entries));
  }
  for (const NodeEntry& head : symbol.outputs()) g.output_entries.push_back(g.EntryId(head));
  return g;
}

}  // namespace detail

Symbol Symbol::Variable(const std::string& name, const AttrMap& attrs) {
  auto node = std::make_shared<Node>();
  node->name = name;
  node->attrs = attrs;
  return Symbol({NodeEntry{node, 0}});
}

Symbol Symbol::Group(const std::vector<Symbol>& symbols) {
  std::vector<NodeEntry> outputs;
  for (const Symbol& s : symbols) outputs.insert(outputs.end(), s.outputs_.begin(), s.outputs_.end());
  return Symbol(std::move(outputs));
}

Symbol Symbol::CreateOp(const std::string& op_name, const std::string& name, const AttrMap& attrs,
                        const std::vector<Symbol>& inputs) {
  const OpSchema* op = FindOp(op_name);
  if (!op)
    Throw<Unsupported>("node '", name, "': unknown operator '", op_name,
                       "' (register custom operators with tandem::RegisterOp before loading)");
  auto node = std::make_shared<Node>();
  node->op = op;
  node->name = name;
  node->attrs = attrs;
  node->params = op->parse(AttrReader(node->attrs, op->name, name));
  std::vector<std::string> arg_names = op->arguments(node->params);
  std::vector<std::string> aux_names = op->aux_states(node->params);
  arg_names.insert(arg_names.end(), aux_names.begin(), aux_names.end());
  if (inputs.size() > arg_names.size())
    Throw<InvalidArgument>("node '", name, "' (", op->name, "): ", inputs.size(),
                           " inputs given, the operator takes ", arg_names.size());
  for (size_t i = 0; i < arg_names.size(); ++i) {
    if (i < inputs.size()) {
      if (inputs[i].num_outputs() != 1)
        Throw<InvalidArgument>("node '", name, "': input ", i, " ('", arg_names[i],
                               "') is a group of ", inputs[i].num_outputs(), " outputs; pick one");
      node->inputs.push_back(inputs[i].outputs_[0]);
    } else {
      node->inputs.push_back(Variable(name + "_" + arg_names[i]).outputs_[0]);
    }
  }
  std::vector<NodeEntry> outputs;
  for (int k = 0; k < node->num_outputs(); ++k) outputs.push_back({node, static_cast<uint32_t>(k)});
  return Symbol(std::move(outputs));
}

std::vector<std::shared_ptr<const Node>> Symbol::TopoNodes() const { return detail::IndexGraph(*this).nodes; }

std::vector<std::string> Symbol::ListInputs() const {
  std::vector<std::string> out;
  for (const auto& n : TopoNodes())
    if (n->is_variable()) out.push_back(n->name);
  return out;
}

std::vector<std::string> Symbol::ListArguments() const {
  detail::IndexedGraph g = detail::IndexGraph(*this);
  std::vector<std::string> out;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (g.nodes[i]->is_variable() && !g.is_aux[i]) out.push_back(g.nodes[i]->name);
  return out;
}

std::vector<std::string> Symbol::ListAuxiliaryStates() const {
  detail::IndexedGraph g = detail::IndexGraph(*this);
  std::vector<std::string> out;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (g.nodes[i]->is_variable() && g.is_aux[i]) out.push_back(g.nodes[i]->name);
  return out;
}

std::vector<std::string> Symbol::ListOutputs() const {
  std::vector<std::string> out;
  for (const NodeEntry& e : outputs_) {
    if (e.node->is_variable()) {
      out.push_back(e.node->name);
      continue;
    }
    out.push_back(e.node->name + "_" + e.node->op->outputs(e.node->params).at(e.index));
  }
  return out;
}

Symbol Symbol::operator[](size_t output) const {
  if (output >= outputs_.size())
    Throw<InvalidArgument>("Symbol has ", outputs_.size(), " outputs; index ", output, " is out of range");
  return Symbol({outputs_[output]});
}

Symbol Symbol::GetInternals() const {
  std::vector<NodeEntry> all;
  for (const auto& n : TopoNodes())
    for (int k = 0; k < n->num_outputs(); ++k) all.push_back({n, static_cast<uint32_t>(k)});
  return Symbol(std::move(all));
}

void Symbol::Save(const std::string& file) const {
  std::ofstream f(file, std::ios::trunc);
  if (!f) Throw<InvalidArgument>(file, ": cannot open for writing");
  f << ToJSON();
  if (!f) Throw<InvalidArgument>(file, ": write failed");
}

}  // namespace tandem
