// Shape and dtype inference over an indexed graph.
#include <set>

#include "lib/core/graph.hpp"

namespace tandem {
namespace detail {
namespace {

Shape ShapeHint(const Node& var) {
  auto it = var.attrs.find("__shape__");
  if (it == var.attrs.end()) return {};
  std::vector<int64_t> dims = AttrReader(var.attrs, "null", var.name).Tuple("__shape__");
  for (int64_t d : dims)
    if (d <= 0) return {};  // 0 / -1 mean "unknown" in MXNet's partial shapes
  return Shape(std::move(dims));
}

void InferNode(const IndexedGraph& g, uint32_t nid, std::vector<Shape>& shapes) {
  const Node& n = *g.nodes[nid];
  const std::vector<uint32_t>& in_ids = g.input_entries[nid];
  std::vector<Shape> in, out(static_cast<size_t>(n.num_outputs()));
  for (uint32_t e : in_ids) in.push_back(shapes[e]);
  for (size_t k = 0; k < out.size(); ++k) out[k] = shapes[g.row_ptr[nid] + k];
  ShapeInferenceArgs args{n.params, n.name, in, out};
  try {
    n.op->infer_shape(args);
  } catch (const ShapeError& e) {
    if (std::string(e.what()).find(n.name) != std::string::npos) throw;
    RethrowWithContext(e, "node '" + n.name + "' (" + n.op->name + "): ");
  }
  for (size_t i = 0; i < in_ids.size(); ++i) {
    Shape& current = shapes[in_ids[i]];
    if (!current.known()) {
      current = in[i];
    } else if (in[i].known() && in[i] != current) {
      Throw<ShapeError>("node '", n.name, "' (", n.op->name, "): input ", i, " has shape ",
                        current.ToString(), " but the operator requires ", in[i].ToString());
    }
  }
  for (size_t k = 0; k < out.size(); ++k) shapes[g.row_ptr[nid] + k] = out[k];
}

}  // namespace

void InferEntryShapes(const IndexedGraph& g, std::vector<Shape>& shapes) {
  shapes.resize(g.num_entries());
  for (uint32_t nid = 0; nid < g.nodes.size(); ++nid) {
    const Node& n = *g.nodes[nid];
    if (n.is_variable()) {
      Shape& s = shapes[g.row_ptr[nid]];
      if (!s.known()) s = ShapeHint(n);
      continue;
    }
    InferNode(g, nid, shapes);
  }
}

void InferEntryTypes(const IndexedGraph& g, std::vector<int>& types) {
  types.resize(g.num_entries(), -1);
  for (uint32_t nid = 0; nid < g.nodes.size(); ++nid) {
    const Node& n = *g.nodes[nid];
    const uint32_t first = g.row_ptr[nid];
    if (n.is_variable()) {
      if (types[first] >= 0) continue;
      auto it = n.attrs.find("__dtype__");
      DType t = DType::f32;
      int64_t flag;
      if (it != n.attrs.end() && AttrReader(n.attrs, "null", n.name).OptionalInt("__dtype__", &flag) &&
          !FromMXNetFlag(static_cast<int>(flag), &t))
        Throw<FormatError>("variable '", n.name, "': unknown __dtype__ ", flag);
      types[first] = static_cast<int>(t);
      continue;
    }
    std::vector<DType> in, out(static_cast<size_t>(n.num_outputs()), DType::f32);
    for (uint32_t e : g.input_entries[nid]) in.push_back(types[e] < 0 ? DType::f32 : static_cast<DType>(types[e]));
    if (n.op->infer_type) {
      n.op->infer_type(n.params, in, out);
    } else if (!in.empty()) {
      for (DType& t : out) t = in[0];
    }
    for (size_t k = 0; k < out.size(); ++k) types[first + k] = static_cast<int>(out[k]);
  }
}

}  // namespace detail

namespace {

std::vector<Shape> InferAll(const Symbol& s, const std::map<std::string, Shape>& known,
                            detail::IndexedGraph& g) {
  g = detail::IndexGraph(s);
  std::vector<Shape> shapes(g.num_entries());
  std::set<std::string> used;
  for (uint32_t nid = 0; nid < g.nodes.size(); ++nid) {
    const Node& n = *g.nodes[nid];
    auto it = known.find(n.name);
    if (n.is_variable() && it != known.end()) {
      shapes[g.row_ptr[nid]] = it->second;
      used.insert(n.name);
    }
  }
  for (const auto& [name, shape] : known)
    if (!used.count(name)) Throw<InvalidArgument>("InferShape: '", name, "' is not an input of this symbol");
  detail::InferEntryShapes(g, shapes);
  return shapes;
}

}  // namespace

void Symbol::InferShape(const std::map<std::string, Shape>& known, std::vector<Shape>* arg_shapes,
                        std::vector<Shape>* out_shapes, std::vector<Shape>* aux_shapes) const {
  detail::IndexedGraph g;
  std::vector<Shape> shapes = InferAll(*this, known, g);
  if (arg_shapes) arg_shapes->clear();
  if (aux_shapes) aux_shapes->clear();
  for (uint32_t nid = 0; nid < g.nodes.size(); ++nid) {
    if (!g.nodes[nid]->is_variable()) continue;
    auto* dst = g.is_aux[nid] ? aux_shapes : arg_shapes;
    if (dst) dst->push_back(shapes[g.row_ptr[nid]]);
  }
  if (out_shapes) {
    out_shapes->clear();
    for (uint32_t e : g.output_entries) out_shapes->push_back(shapes[e]);
  }
}

std::map<std::string, Shape> Symbol::InferShapeMap(const std::map<std::string, Shape>& known) const {
  detail::IndexedGraph g;
  std::vector<Shape> shapes = InferAll(*this, known, g);
  std::map<std::string, Shape> out;
  for (uint32_t nid = 0; nid < g.nodes.size(); ++nid)
    if (g.nodes[nid]->is_variable()) out[g.nodes[nid]->name] = shapes[g.row_ptr[nid]];
  std::vector<std::string> names = ListOutputs();
  for (size_t i = 0; i < names.size(); ++i) out[names[i]] = shapes[g.output_entries[i]];
  return out;
}

}  // namespace tandem
