// MXNet symbol JSON: read all three generations (attributes under "attrs", "attr" or "param";
// pre-0.9 files without aux-state inputs) and write what MXNet 1.x writes.
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "lib/core/graph.hpp"
#include "tandem/symbol.hpp"

namespace tandem {
namespace {

using json = nlohmann::json;
constexpr int kVersionWithAuxInputs = 900;  // MXNet 0.9.0 started listing aux states as inputs
constexpr int kWrittenVersion = 10600;

struct JsonSource {
  const std::string& name;
  template <class... Args>
  [[noreturn]] void Fail(Args&&... args) const {
    Throw<FormatError>(name, ": ", std::forward<Args>(args)...);
  }
};

constexpr int kMaxJsonDepth = 256;  // real graphs nest 4 deep; deeper means a hostile file

// nlohmann's dump() and destructor recurse per nesting level: refuse absurd nesting before parsing.
void CheckNesting(const std::string& text, const JsonSource& src) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) src.Fail("JSON nested deeper than ", kMaxJsonDepth, " levels");
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
}

std::string AttrValueToString(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

AttrMap ReadNodeAttrs(const json& node, const JsonSource& src, size_t index) {
  AttrMap attrs;
  for (const char* key : {"param", "attr", "attrs"}) {  // later generations win on conflicts
    auto it = node.find(key);
    if (it == node.end() || it->is_null()) continue;
    if (!it->is_object()) src.Fail("node ", index, ": '", key, "' must be an object");
    for (const auto& [k, v] : it->items()) attrs[k] = AttrValueToString(v);
  }
  return attrs;
}

int ReadVersion(const json& root, const JsonSource& src) {
  auto attrs = root.find("attrs");
  if (attrs == root.end() || !attrs->is_object()) return 800;
  auto v = attrs->find("mxnet_version");
  if (v == attrs->end()) return 800;
  if (!v->is_array() || v->size() != 2 || !(*v)[1].is_number_integer())
    src.Fail("graph attribute mxnet_version must be [\"int\", N]");
  return (*v)[1].get<int>();
}

int64_t ReadIndex(const json& v, const JsonSource& src, const char* what) {
  if (!v.is_number_integer()) src.Fail(what, " must be an integer, got ", v.dump());
  return v.get<int64_t>();
}

// `limit`: entries may refer to nodes [0, limit); `self` is the reading node's index (-1: heads).
std::vector<NodeEntry> ReadEntries(const json& list, const std::vector<Symbol>& built, size_t limit,
                                   int64_t self, const JsonSource& src, const std::string& where) {
  if (!list.is_array()) src.Fail(where, ": inputs must be an array");
  std::vector<NodeEntry> out;
  for (const json& e : list) {
    if (!e.is_array() || e.size() < 2 || e.size() > 3)
      src.Fail(where, ": an input entry must be [node, output] or [node, output, version], got ", e.dump());
    int64_t id = ReadIndex(e[0], src, "input node index");
    int64_t k = ReadIndex(e[1], src, "input output index");
    if (id < 0 || static_cast<size_t>(id) >= limit) {
      if (self >= 0 && id == self) src.Fail(where, ": consumes itself (input node index ", id, ")");
      src.Fail(where, ": input node index ", id, " is out of range or refers to a later node",
               " (nodes must be topologically sorted; a cycle is not allowed)");
    }
    const Symbol& producer = built[static_cast<size_t>(id)];
    if (k < 0 || static_cast<size_t>(k) >= producer.num_outputs())
      src.Fail(where, ": input refers to output ", k, " of node ", id, ", which has ",
               producer.num_outputs(), " output(s)");
    out.push_back(producer.outputs()[static_cast<size_t>(k)]);
  }
  return out;
}

Symbol BuildNode(const json& node, size_t index, const std::vector<Symbol>& built, int version,
                 const JsonSource& src) {
  if (!node.is_object()) src.Fail("node ", index, " is not an object");
  auto op_it = node.find("op");
  auto name_it = node.find("name");
  if (op_it == node.end() || !op_it->is_string()) src.Fail("node ", index, " has no string 'op'");
  if (name_it == node.end() || !name_it->is_string()) src.Fail("node ", index, " has no string 'name'");
  const std::string op = op_it->get<std::string>();
  const std::string name = name_it->get<std::string>();
  AttrMap attrs = ReadNodeAttrs(node, src, index);
  std::string where = "node " + std::to_string(index) + " '" + name + "'";
  std::vector<NodeEntry> inputs;
  if (auto in = node.find("inputs"); in != node.end()) inputs = ReadEntries(*in, built, index, static_cast<int64_t>(index), src, where);
  if (op == "null") {
    if (!inputs.empty()) src.Fail(where, ": a variable cannot have inputs");
    return Symbol::Variable(name, attrs);
  }
  std::vector<Symbol> input_symbols;
  for (const NodeEntry& e : inputs) input_symbols.push_back(Symbol({e}));
  try {
    const OpSchema* schema = FindOp(op);
    if (schema && version >= kVersionWithAuxInputs) {
      // Only pre-0.9 files may omit inputs (their aux states); newer ones must list all.
      AttrReader reader(attrs, op, name);
      std::any params = schema->parse(reader);
      size_t expected = schema->arguments(params).size() + schema->aux_states(params).size();
      if (inputs.size() != expected)
        src.Fail(where, " (", op, "): has ", inputs.size(), " inputs, the operator takes ", expected);
    }
    return Symbol::CreateOp(op, name, attrs, input_symbols);
  } catch (const FormatError& e) {
    if (std::string(e.what()).rfind(src.name, 0) == 0) throw;
    src.Fail(e.what());
  } catch (const InvalidArgument& e) {
    src.Fail(e.what());  // a wrong input count in a file is a file format error
  } catch (const Error& e) {
    RethrowWithContext(e, src.name + ": ");
  }
}

// Every node whose operator is not registered, all at once: a user meets the whole gap of a
// model in one error instead of one operator per attempt.
void ReportUnknownOperators(const json& nodes, const JsonSource& src) {
  std::map<std::string, std::vector<std::string>> unknown;  // op -> node names
  for (const json& node : nodes) {
    if (!node.is_object()) continue;  // BuildNode reports malformed nodes
    auto op = node.find("op");
    auto name = node.find("name");
    if (op == node.end() || !op->is_string() || *op == "null" || FindOp(op->get<std::string>())) continue;
    unknown[op->get<std::string>()].push_back(name != node.end() && name->is_string() ? name->get<std::string>() : "?");
  }
  if (unknown.empty()) return;
  std::string list;
  for (const auto& [op, names] : unknown) {
    list += "\n  " + op + " (" + std::to_string(names.size()) + (names.size() == 1 ? " node: " : " nodes: ");
    for (size_t i = 0; i < names.size() && i < 3; ++i) list += (i ? ", " : "") + names[i];
    list += names.size() > 3 ? ", ...)" : ")";
  }
  Throw<Unsupported>(src.name, ": ", unknown.size(), unknown.size() == 1 ? " operator is" : " operators are",
                     " not supported by tandem (register custom operators with tandem::RegisterOp "
                     "before loading):", list);
}

}  // namespace

Symbol Symbol::LoadJSON(const std::string& text, const std::string& source) {
  JsonSource src{source};
  CheckNesting(text, src);
  json root;
  try {
    root = json::parse(text);
  } catch (const json::exception& e) {
    src.Fail("not valid JSON: ", e.what());
  }
  if (!root.is_object()) src.Fail("top level is not a JSON object");
  auto nodes = root.find("nodes");
  auto heads = root.find("heads");
  if (nodes == root.end() || !nodes->is_array()) src.Fail("missing 'nodes' array");
  if (heads == root.end() || !heads->is_array() || heads->empty()) src.Fail("missing or empty 'heads' array");
  const int version = ReadVersion(root, src);

  std::vector<Symbol> built;
  ReportUnknownOperators(*nodes, src);
  built.reserve(nodes->size());
  for (size_t i = 0; i < nodes->size(); ++i) built.push_back(BuildNode((*nodes)[i], i, built, version, src));
  if (built.empty()) src.Fail("graph has no nodes");
  std::vector<NodeEntry> outputs = ReadEntries(*heads, built, built.size(), -1, src, "heads");
  return Symbol(std::move(outputs));
}

Symbol Symbol::Load(const std::string& file) {
  std::ifstream f(file);
  if (!f) Throw<FormatError>(file, ": cannot open file");
  std::ostringstream ss;
  ss << f.rdbuf();
  return LoadJSON(ss.str(), file);
}

std::string Symbol::ToJSON() const {
  detail::IndexedGraph g = detail::IndexGraph(*this);
  json nodes = json::array();
  json arg_nodes = json::array();
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = *g.nodes[i];
    json node = {{"op", n.op_name()}, {"name", n.name}};
    if (!n.attrs.empty()) node["attrs"] = n.attrs;
    json inputs = json::array();
    for (size_t k = 0; k < n.inputs.size(); ++k)
      inputs.push_back({g.input_nodes[i][k], n.inputs[k].index, 0});
    node["inputs"] = inputs;
    nodes.push_back(node);
    if (n.is_variable()) arg_nodes.push_back(i);
  }
  json heads = json::array();
  for (const NodeEntry& e : outputs_) heads.push_back({g.node_id.at(e.node.get()), e.index, 0});
  json root = {{"nodes", nodes},
               {"arg_nodes", arg_nodes},
               {"node_row_ptr", g.row_ptr},
               {"heads", heads},
               {"attrs", {{"mxnet_version", {"int", kWrittenVersion}}}}};
  // nlohmann refuses to write a string that is not UTF-8 (json::type_error 316); names and
  // attributes from the C++ API can be any bytes, and only tandem::Error may leave the library.
  try {
    return root.dump(2);
  } catch (const json::exception& e) {
    Throw<InvalidArgument>("Symbol::ToJSON: a node name or attribute is not valid UTF-8 (", e.what(), ")");
  }
}

}  // namespace tandem
