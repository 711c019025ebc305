// ONNX import: ModelProto -> tandem Symbol + params (see tandem/onnx.hpp and docs/onnx.md).
//
// The importer walks the graph in topological order and gives every ONNX value one of three
// forms: a graph entry (a tandem Symbol), a constant known at load time (initializers, Constant,
// and whatever is computed only from them: Shape of a tensor whose shape is known, Gather,
// Unsqueeze, Concat, Reshape, ... are folded), or a pending Pad (folded into the Conv / Pool that
// reads it, else built from Concat with constant borders). Constants become parameters only when a
// graph node reads them. Shapes come from tandem's own shape inference on the part of the graph
// built so far; dims the file leaves open are tracked symbolically (DimRef), so the usual
// "Shape -> Gather -> Unsqueeze -> Concat -> Reshape" flatten works with an open batch dim.
#include <algorithm>
#include <cfloat>
#include <climits>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "lib/onnx/tensor.hpp"
#include "tandem/onnx.hpp"
#include "tandem/operator.hpp"

namespace tandem::onnx {

bool Available() { return true; }

bool GraphInput::is_static() const {
  if (!shape.known()) return false;
  for (int64_t d : shape.dims())
    if (d < 0) return false;
  return true;
}

namespace {

using detail::Const;
using detail::DimRef;
namespace pb = detail::pb;
using tandem::detail::AttrString;

constexpr int64_t kMinOpset = 7;
constexpr int64_t kMaxOpset = 21;
constexpr int kMaxRank = 32;
// Kernels, strides, dilations, pads, groups: far above any real model, far below overflow.
constexpr int64_t kMaxAttrValue = int64_t{1} << 24;
// Elements of a constant computed at load time (ConstantOfShape, borders of an explicit pad, ...).
constexpr int64_t kMaxFoldElements = int64_t{1} << 22;
// Values given to open dims while inferring shapes; two runs tell fixed dims from open ones.
constexpr int64_t kOpenProbeA = 96;
constexpr int64_t kOpenProbeB = 160;

// ---- attributes -------------------------------------------------------------------------------

class Attrs {
 public:
  Attrs(const pb::NodeProto& node, std::string desc) : desc_(std::move(desc)) {
    for (const pb::AttributeProto& a : node.attribute()) {
      if (a.name().empty()) Throw<FormatError>(desc_, ": an attribute without a name");
      if (!by_name_.emplace(a.name(), &a).second)
        Throw<FormatError>(desc_, ": attribute '", a.name(), "' is given twice");
    }
  }
  bool Has(const std::string& name) const { return by_name_.count(name) != 0; }

  int64_t Int(const std::string& name, int64_t fallback) const {
    const pb::AttributeProto* a = Find(name, pb::AttributeProto::INT);
    return a ? a->i() : fallback;
  }
  float Float(const std::string& name, float fallback) const {
    const pb::AttributeProto* a = Find(name, pb::AttributeProto::FLOAT);
    return a ? a->f() : fallback;
  }
  std::string Str(const std::string& name, const std::string& fallback) const {
    const pb::AttributeProto* a = Find(name, pb::AttributeProto::STRING);
    return a ? a->s() : fallback;
  }
  std::vector<int64_t> Ints(const std::string& name, std::vector<int64_t> fallback = {}) const {
    const pb::AttributeProto* a = Find(name, pb::AttributeProto::INTS);
    if (!a) return fallback;
    return std::vector<int64_t>(a->ints().begin(), a->ints().end());
  }
  std::vector<float> Floats(const std::string& name) const {
    const pb::AttributeProto* a = Find(name, pb::AttributeProto::FLOATS);
    if (!a) return {};
    return std::vector<float>(a->floats().begin(), a->floats().end());
  }
  const pb::TensorProto* Tensor(const std::string& name) const {
    const pb::AttributeProto* a = Find(name, pb::AttributeProto::TENSOR);
    return a ? &a->t() : nullptr;
  }
  std::vector<std::string> Names() const {
    std::vector<std::string> out;
    for (const auto& [name, a] : by_name_) out.push_back(name);
    return out;
  }

 private:
  // Files before IR 3 leave `type` unset; the field that is present tells it then.
  static int TypeOf(const pb::AttributeProto& a) {
    if (a.type() != pb::AttributeProto::UNDEFINED) return a.type();
    if (a.has_f()) return pb::AttributeProto::FLOAT;
    if (a.has_i()) return pb::AttributeProto::INT;
    if (a.has_s()) return pb::AttributeProto::STRING;
    if (a.has_t()) return pb::AttributeProto::TENSOR;
    if (a.has_g()) return pb::AttributeProto::GRAPH;
    if (a.floats_size()) return pb::AttributeProto::FLOATS;
    if (a.ints_size()) return pb::AttributeProto::INTS;
    if (a.strings_size()) return pb::AttributeProto::STRINGS;
    return pb::AttributeProto::UNDEFINED;
  }
  static const char* TypeName(int t) {
    switch (t) {
      case pb::AttributeProto::FLOAT: return "FLOAT";
      case pb::AttributeProto::INT: return "INT";
      case pb::AttributeProto::STRING: return "STRING";
      case pb::AttributeProto::TENSOR: return "TENSOR";
      case pb::AttributeProto::GRAPH: return "GRAPH";
      case pb::AttributeProto::FLOATS: return "FLOATS";
      case pb::AttributeProto::INTS: return "INTS";
      case pb::AttributeProto::STRINGS: return "STRINGS";
      case pb::AttributeProto::TENSORS: return "TENSORS";
      case pb::AttributeProto::GRAPHS: return "GRAPHS";
      default: return "another type";
    }
  }
  const pb::AttributeProto* Find(const std::string& name, int type) const {
    auto it = by_name_.find(name);
    if (it == by_name_.end()) return nullptr;
    const int have = TypeOf(*it->second);
    // An empty list carries no field at all, so an untyped attribute passes as a list.
    const bool empty_list = have == pb::AttributeProto::UNDEFINED &&
                            (type == pb::AttributeProto::INTS || type == pb::AttributeProto::FLOATS);
    if (have != type && !empty_list)
      Throw<FormatError>(desc_, ": attribute '", name, "' must be ", TypeName(type), ", the file has ",
                         TypeName(have));
    return it->second;
  }

  std::string desc_;
  std::map<std::string, const pb::AttributeProto*> by_name_;
};

// ---- values ---------------------------------------------------------------------------------

// A Pad that has not been built yet: a Conv / Pool reading it takes the pads over.
struct PendingPad {
  std::string input;                // the padded value
  std::vector<int64_t> begin, end;  // per dim of the input
  float value = 0;
  std::string node;                 // the Pad node's tandem name
};

struct Value {
  std::optional<Symbol> sym;              // a graph entry
  std::shared_ptr<const Const> cst;       // known at load time
  std::shared_ptr<const PendingPad> pad;  // Pad output, built on demand
  bool poisoned = false;                  // produced by a node that could not be converted
};

// An open dim that is no dim of any graph entry (a product of open dims, a padded open dim).
const char kForeignTag = 0;
const DimRef kForeignDim{&kForeignTag, 0, -1};

// Dims of a value: fixed ones (>= 0) or open ones (-1, with the DimRef they stand for).
struct Dims {
  std::vector<int64_t> d;
  std::vector<DimRef> refs;  // same size as d
  int rank() const { return static_cast<int>(d.size()); }
  bool fixed(int k) const { return !refs[k].is_open(); }
  bool all_fixed() const {
    for (const DimRef& r : refs)
      if (r.is_open()) return false;
    return true;
  }
};

std::shared_ptr<Const> MakeInts(std::vector<int64_t> values, std::vector<int64_t> dims) {
  auto c = std::make_shared<Const>();
  c->dtype = DType::i64;
  c->i = std::move(values);
  c->dims = std::move(dims);
  return c;
}

int64_t CheckedProduct(const std::vector<int64_t>& dims, const std::string& what) {
  return detail::CheckedCount(dims, what);
}

std::string Join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : sep) + s;
  return out;
}

std::string ShapeText(const std::vector<int64_t>& dims) {
  std::string s = "(";
  for (size_t k = 0; k < dims.size(); ++k) {
    if (k) s += ',';
    s += dims[k] < 0 ? std::string("?") : std::to_string(dims[k]);
  }
  return s + ")";
}

// Row-major strides of `dims`.
std::vector<int64_t> Strides(const std::vector<int64_t>& dims) {
  std::vector<int64_t> s(dims.size(), 1);
  for (int k = static_cast<int>(dims.size()) - 2; k >= 0; --k) s[k] = s[k + 1] * dims[k + 1];
  return s;
}

// Copies element `from` of `src` to element `to` of `dst` (same dtype family).
void CopyElement(const Const& src, int64_t from, Const& dst, int64_t to) {
  if (src.is_float()) {
    dst.f[to] = src.f[from];
  } else {
    dst.i[to] = src.i[from];
    if (!src.refs.empty()) dst.refs[to] = src.refs[from];
  }
}

std::shared_ptr<Const> EmptyLike(const Const& src, std::vector<int64_t> dims, int64_t count) {
  auto c = std::make_shared<Const>();
  c->dtype = src.dtype;
  c->dims = std::move(dims);
  if (src.is_float()) {
    c->f.resize(static_cast<size_t>(count));
  } else {
    c->i.resize(static_cast<size_t>(count));
    if (!src.refs.empty()) c->refs.resize(static_cast<size_t>(count));
  }
  return c;
}

// ---- the importer -----------------------------------------------------------------------------

class Importer {
 public:
  // Initializer data is released from `model` once decoded (the peak memory of a load is then
  // about twice the weights, not three times).
  Importer(pb::ModelProto& model, const LoadOptions& options, std::string source)
      : model_(model), options_(options), source_(std::move(source)) {}

  Model Run();

 private:
  using Converter = void (Importer::*)(const pb::NodeProto&);
  static const std::map<std::string, Converter>& Converters();

  // ---- setup ----
  void ReadOpset();
  void ReadInitializers();
  void ReadInputs();
  std::vector<int> TopologicalOrder();
  void CheckOperators();

  // ---- value access ----
  std::string Desc(const pb::NodeProto& n) const { return "node '" + cur_name_ + "' (" + n.op_type() + ")"; }
  template <class... Args>
  [[noreturn]] void Fail(const pb::NodeProto& n, Args&&... args) const {
    Throw<Unsupported>(Desc(n), ": ", std::forward<Args>(args)...);
  }
  template <class... Args>
  [[noreturn]] void Bad(const pb::NodeProto& n, Args&&... args) const {
    Throw<FormatError>(Desc(n), ": ", std::forward<Args>(args)...);
  }
  std::string In(const pb::NodeProto& n, int k) const { return k < n.input_size() ? n.input(k) : ""; }
  void NeedInputs(const pb::NodeProto& n, int min, int max) const;
  const Value& Get(const std::string& name) const;
  std::shared_ptr<const Const> ConstOf(const std::string& name) const {
    const Value& v = Get(name);
    return v.cst;
  }
  std::shared_ptr<const Const> RequireConst(const pb::NodeProto& n, int k, const char* what) const;
  std::vector<int64_t> ConstInts(const pb::NodeProto& n, int k, const char* what) const;
  float ConstScalar(const pb::NodeProto& n, int k, const char* what) const;
  Symbol Sym(const std::string& name, bool aux = false);
  void SetSym(const pb::NodeProto& n, Symbol s) { values_[n.output(0)].sym = std::move(s); }
  void SetConst(const pb::NodeProto& n, std::shared_ptr<const Const> c) { values_[n.output(0)].cst = std::move(c); }
  void Alias(const pb::NodeProto& n, const std::string& from) { values_[n.output(0)] = Get(from); }
  void OnlyFirstOutput(const pb::NodeProto& n) const;
  std::string Unique(const std::string& base);
  Symbol Op(const std::string& op, const std::string& suffix, const AttrMap& attrs,
            const std::vector<Symbol>& inputs);
  Symbol ConstVar(const Const& c, const std::string& base, bool aux = false);

  // ---- shapes ----
  Dims ShapeOf(const std::string& name);
  Dims ShapeOfSym(const Symbol& s);
  Shape InferWith(const Symbol& s, int64_t open_value, bool* has_open);
  Symbol ReshapeTo(const Symbol& data, const Dims& target, const std::string& suffix);
  Symbol PadExplicit(const Symbol& x, const std::vector<int64_t>& shape, const std::vector<int64_t>& begin,
                     const std::vector<int64_t>& end, float value, const std::string& suffix);
  Symbol MaterializePad(const PendingPad& p);
  std::optional<Symbol> MxnetPad(const Symbol& x, size_t rank, const std::vector<int64_t>& begin,
                                 const std::vector<int64_t>& end, const std::string& mode, float value,
                                 const std::string& suffix);

  // ---- converters ----
  void Activation(const pb::NodeProto& n, const char* act);
  void Relu(const pb::NodeProto& n) { Activation(n, "relu"); }
  void Sigmoid(const pb::NodeProto& n) { Activation(n, "sigmoid"); }
  void Tanh(const pb::NodeProto& n) { Activation(n, "tanh"); }
  void Softplus(const pb::NodeProto& n) { Activation(n, "softrelu"); }
  void Softsign(const pb::NodeProto& n) { Activation(n, "softsign"); }
  void LeakyRelu(const pb::NodeProto& n);
  void Elu(const pb::NodeProto& n);
  void Selu(const pb::NodeProto& n);
  void PRelu(const pb::NodeProto& n);
  void Conv(const pb::NodeProto& n);
  void MaxPool(const pb::NodeProto& n) { Pool(n, true); }
  void AveragePool(const pb::NodeProto& n) { Pool(n, false); }
  void Pool(const pb::NodeProto& n, bool is_max);
  void GlobalAveragePool(const pb::NodeProto& n) { GlobalPool(n, "avg"); }
  void GlobalMaxPool(const pb::NodeProto& n) { GlobalPool(n, "max"); }
  void GlobalPool(const pb::NodeProto& n, const char* type);
  void BatchNormalization(const pb::NodeProto& n);
  void Gemm(const pb::NodeProto& n);
  void MatMul(const pb::NodeProto& n);
  void Add(const pb::NodeProto& n) { Binary(n, '+'); }
  void Sub(const pb::NodeProto& n) { Binary(n, '-'); }
  void Mul(const pb::NodeProto& n) { Binary(n, '*'); }
  void Div(const pb::NodeProto& n) { Binary(n, '/'); }
  void Binary(const pb::NodeProto& n, char op);
  void Sum(const pb::NodeProto& n);
  void Concat(const pb::NodeProto& n);
  void Flatten(const pb::NodeProto& n);
  void Reshape(const pb::NodeProto& n);
  void Transpose(const pb::NodeProto& n);
  void Softmax(const pb::NodeProto& n) { SoftmaxImpl(n, "softmax"); }
  void LogSoftmax(const pb::NodeProto& n) { SoftmaxImpl(n, "log_softmax"); }
  void SoftmaxImpl(const pb::NodeProto& n, const char* op);
  void Clip(const pb::NodeProto& n);
  void Dropout(const pb::NodeProto& n);
  void Identity(const pb::NodeProto& n);
  void Constant(const pb::NodeProto& n);
  void ConstantOfShape(const pb::NodeProto& n);
  void ShapeOp(const pb::NodeProto& n);
  void Gather(const pb::NodeProto& n);
  void Unsqueeze(const pb::NodeProto& n);
  void Squeeze(const pb::NodeProto& n);
  void Slice(const pb::NodeProto& n);
  void Pad(const pb::NodeProto& n);
  void Cast(const pb::NodeProto& n);
  void ReduceMean(const pb::NodeProto& n) { Reduce(n, "mean"); }
  void ReduceSum(const pb::NodeProto& n) { Reduce(n, "sum"); }
  void Reduce(const pb::NodeProto& n, const char* op);

  struct Window {
    std::vector<int64_t> kernel, stride, dilation, begin, end;
  };
  std::vector<int64_t> SpatialInts(const pb::NodeProto& n, const Attrs& a, const char* name,
                                   size_t count, int64_t fallback, int64_t min_value) const;
  void ResolveAutoPad(const pb::NodeProto& n, const Attrs& a, const std::string& x, Window& w);

  pb::ModelProto& model_;
  const LoadOptions& options_;
  std::string source_;
  int64_t opset_ = 0;
  std::map<std::string, Value> values_;
  std::set<std::string> used_names_;       // tandem node and variable names
  std::map<std::string, NDArray> params_;  // variable name -> array
  std::set<std::string> aux_;              // variables that are BatchNorm statistics
  std::map<std::string, Shape> param_shapes_;
  std::map<std::string, Shape> data_shapes_;  // data inputs, -1 for open dims, ndim 0: unknown
  std::vector<GraphInput> inputs_;
  std::map<std::string, Symbol> const_vars_;  // ONNX constant name -> its variable (by aux flag)
  std::map<std::pair<const void*, uint32_t>, Dims> shape_cache_;
  std::set<std::string> consumed_;  // every value some node or the graph output reads
  std::string cur_name_;            // tandem name of the node being converted
};

// ---- setup ----------------------------------------------------------------------------------

void Importer::ReadOpset() {
  bool found = false;
  for (const pb::OperatorSetIdProto& o : model_.opset_import()) {
    if (o.domain().empty() || o.domain() == "ai.onnx") {
      opset_ = o.version();
      found = true;
    }
  }
  if (!found) Throw<FormatError>(source_, ": the model imports no opset of the default ONNX domain");
  if (opset_ < kMinOpset || opset_ > kMaxOpset)
    Throw<Unsupported>(source_, ": ONNX opset ", opset_, " is not supported (tandem reads opsets ",
                       kMinOpset, " to ", kMaxOpset, ")");
}

void Importer::ReadInitializers() {
  const pb::GraphProto& g = model_.graph();
  if (g.sparse_initializer_size() > 0)
    Throw<Unsupported>(source_, ": sparse initializers are not supported");
  for (int k = 0; k < g.initializer_size(); ++k) {
    pb::TensorProto& t = *model_.mutable_graph()->mutable_initializer(k);
    if (t.name().empty()) Throw<FormatError>(source_, ": an initializer without a name");
    if (values_.count(t.name())) Throw<FormatError>(source_, ": initializer '", t.name(), "' is given twice");
    values_[t.name()].cst = std::make_shared<const Const>(
        detail::TensorToConst(t, source_ + ": initializer '" + t.name() + "'"));
    used_names_.insert(t.name());
    std::string().swap(*t.mutable_raw_data());
  }
}

void Importer::ReadInputs() {
  std::set<std::string> seen;
  for (const pb::ValueInfoProto& in : model_.graph().input()) {
    const std::string& name = in.name();
    if (name.empty()) Throw<FormatError>(source_, ": a graph input without a name");
    if (!seen.insert(name).second) Throw<FormatError>(source_, ": graph input '", name, "' is listed twice");
    if (values_.count(name)) continue;  // an initializer listed as an input (IR < 4): a parameter
    const std::string what = source_ + ": graph input '" + name + "'";
    if (!in.type().has_tensor_type()) Throw<Unsupported>(what, " is not a tensor");
    const auto& tt = in.type().tensor_type();
    GraphInput gi;
    gi.name = name;
    if (!detail::NativeDType(tt.elem_type(), &gi.dtype))
      Throw<Unsupported>(what, ": element type ", detail::OnnxTypeName(tt.elem_type()), " is not supported");
    if (tt.has_shape()) {
      if (tt.shape().dim_size() > kMaxRank) Throw<FormatError>(what, ": more than ", kMaxRank, " dims");
      std::vector<int64_t> dims;
      for (const auto& d : tt.shape().dim()) {
        if (d.has_dim_value() && d.dim_value() < 0)
          Throw<FormatError>(what, ": negative dimension ", d.dim_value());
        // 0 is what some exporters write for "unknown"; tandem has no zero-sized inputs anyway.
        const bool open = !d.has_dim_value() || d.dim_value() == 0;
        dims.push_back(open ? -1 : d.dim_value());
        gi.dim_params.push_back(d.has_dim_param() ? d.dim_param() : "");
      }
      if (dims.empty()) dims.push_back(1);  // a 0-d input: tandem holds it as (1)
      std::vector<int64_t> fixed;
      for (int64_t d : dims) fixed.push_back(d < 0 ? 1 : d);
      detail::CheckedCount(fixed, what);
      gi.shape = Shape(dims);
    }
    auto given = options_.input_shapes.find(name);
    if (given != options_.input_shapes.end()) {
      const Shape& s = given->second;
      bool fits = !gi.shape.known() || s.ndim() == gi.shape.ndim();
      for (int k = 0; fits && k < s.ndim(); ++k)
        fits = s[k] > 0 && (!gi.shape.known() || gi.shape[k] < 0 || gi.shape[k] == s[k]);
      if (!fits || !s.known())
        Throw<InvalidArgument>(what, ": the shape given, ", s.ToString(), ", does not fit the file's ",
                               gi.shape.known() ? ShapeText(gi.shape.dims()) : "(unknown)");
      s.Size();
      gi.shape = s;
      if (gi.dim_params.size() != static_cast<size_t>(s.ndim())) gi.dim_params.assign(s.ndim(), "");
    }
    AttrMap attrs;
    if (gi.shape.known()) {
      std::vector<int64_t> hint;  // MXNet's partial-shape convention: 0 for an unknown dim
      for (int64_t d : gi.shape.dims()) hint.push_back(d < 0 ? 0 : d);
      attrs["__shape__"] = AttrString(hint);
    }
    if (gi.dtype != DType::f32) attrs["__dtype__"] = std::to_string(ToMXNetFlag(gi.dtype));
    values_[name].sym = Symbol::Variable(name, attrs);
    used_names_.insert(name);
    data_shapes_[name] = gi.shape;
    inputs_.push_back(std::move(gi));
  }
  for (const auto& [name, shape] : options_.input_shapes)
    if (!data_shapes_.count(name))
      Throw<InvalidArgument>(source_, ": LoadOptions::input_shapes names '", name,
                             "', which is not a data input of the graph");
}

void Importer::CheckOperators() {
  std::vector<std::string> unknown;
  std::map<std::string, int> count;
  const auto& conv = Converters();
  for (int k = 0; k < model_.graph().node_size(); ++k) {
    const pb::NodeProto& n = model_.graph().node(k);
    const std::string name = n.name().empty() ? "#" + std::to_string(k) : n.name();
    const bool default_domain = n.domain().empty() || n.domain() == "ai.onnx";
    if (!default_domain) {
      unknown.push_back(n.domain() + "." + n.op_type() + " (node '" + name + "')");
    } else if (!conv.count(n.op_type())) {
      unknown.push_back(n.op_type() + " (node '" + name + "')");
    }
  }
  if (unknown.empty()) return;
  const size_t kShow = 40;
  std::string list = Join(std::vector<std::string>(unknown.begin(), unknown.begin() + std::min(kShow, unknown.size())), ", ");
  if (unknown.size() > kShow) list += ", ... (" + std::to_string(unknown.size() - kShow) + " more)";
  Throw<Unsupported>(source_, ": ", unknown.size(), " node(s) use operators tandem cannot import: ", list,
                     " (supported: docs/onnx.md)");
}

std::vector<int> Importer::TopologicalOrder() {
  const pb::GraphProto& g = model_.graph();
  const int count = g.node_size();
  std::map<std::string, int> producer;
  for (int k = 0; k < count; ++k) {
    const pb::NodeProto& n = g.node(k);
    for (const std::string& out : n.output()) {
      if (out.empty()) continue;
      if (values_.count(out) || !producer.emplace(out, k).second)
        Throw<FormatError>(source_, ": value '", out, "' is produced twice (node '", n.name(), "')");
    }
  }
  std::vector<std::vector<int>> readers(static_cast<size_t>(count));
  std::vector<int> pending(static_cast<size_t>(count), 0);
  for (int k = 0; k < count; ++k) {
    const pb::NodeProto& n = g.node(k);
    std::set<int> deps;
    for (const std::string& in : n.input()) {
      if (in.empty()) continue;
      consumed_.insert(in);
      auto it = producer.find(in);
      if (it != producer.end()) {
        deps.insert(it->second);
      } else if (!values_.count(in)) {
        Throw<FormatError>(source_, ": input '", in, "' of node '", n.name(), "' (", n.op_type(),
                           ") is not a graph input, an initializer or the output of any node");
      }
    }
    for (int d : deps) readers[d].push_back(k);
    pending[k] = static_cast<int>(deps.size());
  }
  for (const pb::ValueInfoProto& out : g.output()) consumed_.insert(out.name());
  // Kahn's algorithm, keeping the file's order among ready nodes.
  std::set<int> ready;
  for (int k = 0; k < count; ++k)
    if (pending[k] == 0) ready.insert(k);
  std::vector<int> order;
  while (!ready.empty()) {
    const int k = *ready.begin();
    ready.erase(ready.begin());
    order.push_back(k);
    for (int r : readers[k])
      if (--pending[r] == 0) ready.insert(r);
  }
  if (static_cast<int>(order.size()) != count) {
    std::vector<std::string> stuck;
    for (int k = 0; k < count && stuck.size() < 8; ++k)
      if (pending[k] > 0) stuck.push_back("'" + g.node(k).name() + "' (" + g.node(k).op_type() + ")");
    Throw<FormatError>(source_, ": the graph has a cycle; ", count - order.size(),
                       " node(s) depend on their own outputs, among them ", Join(stuck, ", "));
  }
  return order;
}

// ---- value access ---------------------------------------------------------------------------

void Importer::NeedInputs(const pb::NodeProto& n, int min, int max) const {
  int given = n.input_size();
  while (given > 0 && n.input(given - 1).empty()) --given;  // trailing optional inputs left out
  if (given < min || given > max)
    Bad(n, "takes ", min == max ? std::to_string(min) : std::to_string(min) + " to " + std::to_string(max),
        " inputs, the file gives ", given);
  for (int k = 0; k < min; ++k)
    if (n.input(k).empty()) Bad(n, "required input ", k, " is empty");
  if (n.output_size() < 1 || n.output(0).empty()) Bad(n, "has no output");
}

const Value& Importer::Get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) Throw<InternalError>("ONNX import: value '", name, "' used before it is defined");
  return it->second;
}

std::shared_ptr<const Const> Importer::RequireConst(const pb::NodeProto& n, int k, const char* what) const {
  auto c = ConstOf(In(n, k));
  if (!c) Fail(n, what, " (input ", k, ", '", In(n, k), "') must be a constant: an initializer, a Constant, or computed only from those");
  return c;
}

std::vector<int64_t> Importer::ConstInts(const pb::NodeProto& n, int k, const char* what) const {
  auto c = RequireConst(n, k, what);
  if (c->is_float()) Bad(n, what, " must be an integer tensor");
  if (c->has_open_dims()) Fail(n, what, " depends on dims the file leaves open");
  if (c->dims.size() > 1) Bad(n, what, " must be 1-d, it has shape ", ShapeText(c->dims));
  return c->i;
}

float Importer::ConstScalar(const pb::NodeProto& n, int k, const char* what) const {
  auto c = RequireConst(n, k, what);
  if (c->size() != 1) Bad(n, what, " must hold one value, it has shape ", ShapeText(c->dims));
  if (c->has_open_dims()) Fail(n, what, " depends on dims the file leaves open");
  return static_cast<float>(c->at(0));
}

void Importer::OnlyFirstOutput(const pb::NodeProto& n) const {
  for (int k = 1; k < n.output_size(); ++k)
    if (!n.output(k).empty() && consumed_.count(n.output(k)))
      Fail(n, "output ", k, " ('", n.output(k), "') is used, but tandem computes only output 0 (inference)");
}

std::string Importer::Unique(const std::string& base) {
  std::string name = base.empty() ? "node" : base;
  if (used_names_.insert(name).second) return name;
  for (int k = 1;; ++k) {
    std::string candidate = name + "_" + std::to_string(k);
    if (used_names_.insert(candidate).second) return candidate;
  }
}

Symbol Importer::Op(const std::string& op, const std::string& suffix, const AttrMap& attrs,
                    const std::vector<Symbol>& inputs) {
  const std::string name = suffix.empty() ? cur_name_ : Unique(cur_name_ + "_" + suffix);
  if (suffix.empty()) used_names_.insert(name);
  return Symbol::CreateOp(op, name, attrs, inputs);
}

Symbol Importer::ConstVar(const Const& c, const std::string& base, bool aux) {
  const std::string name = Unique(base);
  NDArray a = detail::ConstToNDArray(c);
  param_shapes_[name] = a.shape();
  params_[name] = std::move(a);
  if (aux) aux_.insert(name);
  return Symbol::Variable(name);
}

Symbol Importer::Sym(const std::string& name, bool aux) {
  auto it = values_.find(name);
  if (it == values_.end()) Throw<InternalError>("ONNX import: value '", name, "' used before it is defined");
  Value& v = it->second;
  if (v.sym) return *v.sym;
  if (v.cst) {
    // One variable per constant; initializers keep their own name.
    auto found = const_vars_.find(name);
    if (found != const_vars_.end()) {
      if (aux) aux_.insert(found->second.outputs()[0].node->name);
      return found->second;
    }
    used_names_.erase(name);  // an initializer's own name is reserved for its variable
    Symbol s = ConstVar(*v.cst, name, aux);
    const_vars_.emplace(name, s);
    return s;
  }
  if (v.pad) {
    std::shared_ptr<const PendingPad> p = v.pad;
    Symbol s = MaterializePad(*p);
    values_[name].sym = s;
    return s;
  }
  Throw<InternalError>("ONNX import: value '", name, "' has no form");
}

// ---- shapes ---------------------------------------------------------------------------------

Shape Importer::InferWith(const Symbol& s, int64_t open_value, bool* has_open) {
  std::map<std::string, Shape> known;
  for (const std::string& name : s.ListInputs()) {
    auto p = param_shapes_.find(name);
    if (p != param_shapes_.end()) {
      known[name] = p->second;
      continue;
    }
    auto d = data_shapes_.find(name);
    if (d == data_shapes_.end()) continue;
    if (!d->second.known())
      Throw<Unsupported>("graph input '", name, "' has no shape in the file, and node '", cur_name_,
                         "' needs it; give it in LoadOptions::input_shapes (tandem-info: --shape)");
    Shape sub = d->second;
    for (int64_t& dim : sub.dims())
      if (dim < 0) {
        dim = open_value;
        *has_open = true;
      }
    known[name] = sub;
  }
  std::vector<Shape> outs;
  s.InferShape(known, nullptr, &outs, nullptr);
  return outs.at(0);
}

Dims Importer::ShapeOfSym(const Symbol& s) {
  const NodeEntry& e = s.outputs().at(0);
  const auto key = std::make_pair(static_cast<const void*>(e.node.get()), e.index);
  auto cached = shape_cache_.find(key);
  if (cached != shape_cache_.end()) return cached->second;
  bool open = false;
  Shape a;
  try {
    a = InferWith(s, kOpenProbeA, &open);
  } catch (const ShapeError& err) {
    if (!open) throw;
    Throw<Unsupported>("node '", cur_name_, "' needs the shape of '", e.node->name,
                       "', which depends on dims the file leaves open (", err.what(),
                       "); give fixed input shapes in LoadOptions::input_shapes");
  }
  if (!a.known())
    Throw<Unsupported>("node '", cur_name_, "' needs the shape of '", e.node->name, "', which tandem cannot infer");
  Dims d;
  d.d = a.dims();
  d.refs.assign(d.d.size(), DimRef{});
  if (open) {
    Shape b;
    try {
      b = InferWith(s, kOpenProbeB, &open);
    } catch (const ShapeError&) {
      b = Shape();
    }
    for (int k = 0; k < a.ndim(); ++k) {
      if (b.ndim() == a.ndim() && b[k] == a[k]) continue;
      d.d[k] = -1;
      d.refs[k] = DimRef{e.node.get(), e.index, k};
    }
  }
  shape_cache_.emplace(key, d);
  return d;
}

Dims Importer::ShapeOf(const std::string& name) {
  const Value& v = Get(name);
  if (v.cst) {
    Dims d;
    d.d = v.cst->dims;
    d.refs.assign(d.d.size(), DimRef{});
    return d;
  }
  if (v.pad) {
    const PendingPad p = *v.pad;
    Dims d = ShapeOf(p.input);
    for (int k = 0; k < d.rank(); ++k) {
      if (!d.fixed(k)) continue;
      d.d[k] += p.begin[k] + p.end[k];
    }
    // An open dim that is padded is no longer the dim it refers to.
    for (int k = 0; k < d.rank(); ++k)
      if (!d.fixed(k) && (p.begin[k] || p.end[k])) d.refs[k] = kForeignDim;
    return d;
  }
  return ShapeOfSym(*v.sym);
}

// A Reshape of `data` to `target`; open target dims that are the same dim of `data` are copied
// (code 0), and at most one other open dim is inferred (-1).
Symbol Importer::ReshapeTo(const Symbol& data, const Dims& target, const std::string& suffix) {
  const NodeEntry& e = data.outputs().at(0);
  std::vector<int64_t> codes;
  int inferred = 0;
  for (int j = 0; j < target.rank(); ++j) {
    const DimRef& r = target.refs[j];
    if (r.is_open()) {
      if (r.node == e.node.get() && r.index == e.index && r.dim == j) {
        codes.push_back(0);
      } else {
        codes.push_back(-1);
        ++inferred;
      }
    } else {
      if (target.d[j] <= 0)
        Throw<Unsupported>("node '", cur_name_, "': zero-sized tensors are not supported (shape ",
                           ShapeText(target.d), ")");
      codes.push_back(target.d[j]);
    }
  }
  if (inferred > 1)
    Throw<Unsupported>("node '", cur_name_, "': the target shape has ", inferred,
                       " dims that depend on open input dims; give fixed input shapes in LoadOptions::input_shapes");
  if (codes.empty()) codes.push_back(1);
  return Op("Reshape", suffix, {{"shape", AttrString(codes)}}, {data});
}

// MXNet's Pad operator where it applies (4-D / 5-D data, spatial axes only); nullopt otherwise.
std::optional<Symbol> Importer::MxnetPad(const Symbol& x, size_t rank, const std::vector<int64_t>& begin,
                                         const std::vector<int64_t>& end, const std::string& mode, float value,
                                         const std::string& suffix) {
  if ((rank != 4 && rank != 5) || begin[0] || end[0] || begin[1] || end[1]) return std::nullopt;
  std::vector<int64_t> widths;
  for (size_t a = 0; a < rank; ++a) {
    widths.push_back(begin[a]);
    widths.push_back(end[a]);
  }
  return Op("Pad", suffix, {{"mode", mode}, {"pad_width", AttrString(widths)}, {"constant_value", AttrString(value)}},
            {x});
}

Symbol Importer::PadExplicit(const Symbol& x, const std::vector<int64_t>& shape,
                             const std::vector<int64_t>& begin, const std::vector<int64_t>& end,
                             float value, const std::string& suffix) {
  if (std::optional<Symbol> pad = MxnetPad(x, shape.size(), begin, end, "constant", value, suffix)) return *pad;
  for (int64_t d : shape)
    if (d < 0)
      Throw<Unsupported>("node '", cur_name_, "': padding that cannot fold into a Conv / Pool needs the "
                         "input's full shape, and ", ShapeText(shape), " has open dims");
  Symbol cur = x;
  std::vector<int64_t> dims = shape;
  for (size_t a = 0; a < dims.size(); ++a) {
    if (begin[a] == 0 && end[a] == 0) continue;
    std::vector<Symbol> parts;
    for (int side = 0; side < 2; ++side) {
      const int64_t width = side == 0 ? begin[a] : end[a];
      if (width == 0) continue;
      std::vector<int64_t> border = dims;
      border[a] = width;
      const int64_t count = CheckedProduct(border, "node '" + cur_name_ + "' pad border");
      if (count > kMaxFoldElements)
        Throw<Unsupported>("node '", cur_name_, "': a pad border of ", count, " elements is too large");
      Const c;
      c.dims = border;
      c.f.assign(static_cast<size_t>(count), value);
      Symbol v = ConstVar(c, cur_name_ + "_" + suffix + "_border" + std::to_string(a) + (side ? "_end" : "_begin"));
      if (side == 0) parts.push_back(v);
      else {
        parts.push_back(cur);
        parts.push_back(v);
      }
    }
    if (end[a] == 0) parts.push_back(cur);
    dims[a] += begin[a] + end[a];
    cur = Op("Concat", suffix + std::to_string(a),
             {{"num_args", std::to_string(parts.size())}, {"dim", std::to_string(a)}}, parts);
  }
  return cur;
}

Symbol Importer::MaterializePad(const PendingPad& p) {
  const std::string saved = cur_name_;
  cur_name_ = p.node;
  Dims d = ShapeOf(p.input);
  Symbol s = PadExplicit(Sym(p.input), d.d, p.begin, p.end, p.value, "pad");
  cur_name_ = saved;
  return s;
}

// ---- converters -----------------------------------------------------------------------------

void Importer::Activation(const pb::NodeProto& n, const char* act) {
  NeedInputs(n, 1, 1);
  SetSym(n, Op("Activation", "", {{"act_type", act}}, {Sym(In(n, 0))}));
}

void Importer::LeakyRelu(const pb::NodeProto& n) {
  NeedInputs(n, 1, 1);
  const Attrs a(n, Desc(n));
  SetSym(n, Op("LeakyReLU", "", {{"act_type", "leaky"}, {"slope", AttrString(a.Float("alpha", 0.01f))}},
               {Sym(In(n, 0))}));
}

void Importer::Elu(const pb::NodeProto& n) {
  NeedInputs(n, 1, 1);
  const Attrs a(n, Desc(n));
  SetSym(n, Op("LeakyReLU", "", {{"act_type", "elu"}, {"slope", AttrString(a.Float("alpha", 1.0f))}},
               {Sym(In(n, 0))}));
}

void Importer::Selu(const pb::NodeProto& n) {
  NeedInputs(n, 1, 1);
  const Attrs a(n, Desc(n));
  const float alpha = a.Float("alpha", 1.67326319217681884765625f);
  const float gamma = a.Float("gamma", 1.05070102214813232421875f);
  if (std::fabs(alpha - 1.6732632f) > 1e-5f || std::fabs(gamma - 1.0507010f) > 1e-5f)
    Fail(n, "only the standard alpha and gamma are supported (tandem's selu has them built in)");
  SetSym(n, Op("LeakyReLU", "", {{"act_type", "selu"}}, {Sym(In(n, 0))}));
}

void Importer::PRelu(const pb::NodeProto& n) {
  NeedInputs(n, 2, 2);
  auto slope = RequireConst(n, 1, "slope");
  if (!slope->is_float()) Bad(n, "slope must be a float tensor");
  if (slope->size() == 1) {
    SetSym(n, Op("LeakyReLU", "", {{"act_type", "leaky"}, {"slope", AttrString(slope->f[0])}}, {Sym(In(n, 0))}));
    return;
  }
  // tandem's prelu has one slope per channel (axis 1): the slope must broadcast to that.
  const int rank = ShapeOf(In(n, 0)).rank();
  const int srank = static_cast<int>(slope->dims.size());
  bool per_channel = srank <= rank;
  for (int j = 0; per_channel && j < srank; ++j)
    per_channel = slope->dims[j] == 1 || rank - srank + j == 1;
  if (!per_channel)
    Fail(n, "a slope of shape ", ShapeText(slope->dims), " is not one value per channel of a ", rank,
         "-d input; tandem's prelu supports only that");
  Const gamma = *slope;
  gamma.dims = {slope->size()};
  SetSym(n, Op("LeakyReLU", "", {{"act_type", "prelu"}},
               {Sym(In(n, 0)), ConstVar(gamma, In(n, 1) + "_gamma")}));
}

std::vector<int64_t> Importer::SpatialInts(const pb::NodeProto& n, const Attrs& a, const char* name,
                                           size_t count, int64_t fallback, int64_t min_value) const {
  std::vector<int64_t> v = a.Ints(name);
  if (v.empty()) return std::vector<int64_t>(count, fallback);
  if (v.size() != count) Bad(n, "attribute '", name, "' has ", v.size(), " values, ", count, " expected");
  for (int64_t x : v)
    if (x < min_value || x > kMaxAttrValue)
      Bad(n, "attribute '", name, "' value ", x, " is out of range [", min_value, ", ", kMaxAttrValue, "]");
  return v;
}

// auto_pad SAME_UPPER / SAME_LOWER: the pads that keep ceil(x / stride) outputs.
void Importer::ResolveAutoPad(const pb::NodeProto& n, const Attrs& a, const std::string& x, Window& w) {
  const std::string mode = a.Str("auto_pad", "NOTSET");
  const size_t rank = w.kernel.size();
  if (mode == "NOTSET") return;
  if (mode == "VALID") {
    w.begin.assign(rank, 0);
    w.end.assign(rank, 0);
    return;
  }
  if (mode != "SAME_UPPER" && mode != "SAME_LOWER") Bad(n, "unknown auto_pad '", mode, "'");
  const Dims d = ShapeOf(x);
  if (d.rank() != static_cast<int>(rank) + 2)
    Throw<ShapeError>(Desc(n), ": a ", rank, "-d window needs ", rank + 2, "-d input, got ", ShapeText(d.d));
  for (size_t i = 0; i < rank; ++i) {
    if (!d.fixed(static_cast<int>(i) + 2))
      Fail(n, "auto_pad ", mode, " needs the input's spatial dims, and they are open in the file; give "
           "fixed input shapes in LoadOptions::input_shapes");
    const int64_t in = d.d[i + 2], s = w.stride[i];
    const int64_t extent = (w.kernel[i] - 1) * w.dilation[i] + 1;
    const int64_t out = (in + s - 1) / s;
    const int64_t total = std::max<int64_t>(0, (out - 1) * s + extent - in);
    const int64_t small = total / 2, large = total - small;
    w.begin[i] = mode == "SAME_UPPER" ? small : large;
    w.end[i] = mode == "SAME_UPPER" ? large : small;
  }
}

void Importer::Conv(const pb::NodeProto& n) {
  NeedInputs(n, 2, 3);
  const Attrs a(n, Desc(n));
  std::string x = In(n, 0);
  const Dims wd = ShapeOf(In(n, 1));
  if (wd.rank() < 3 || wd.rank() > 5) Fail(n, "a weight of shape ", ShapeText(wd.d), " (tandem convolves 1 to 3 spatial dims)");
  if (!wd.all_fixed()) Fail(n, "the weight's shape depends on open input dims");
  const size_t rank = static_cast<size_t>(wd.rank() - 2);
  Window w;
  w.kernel.assign(wd.d.begin() + 2, wd.d.end());
  for (int64_t k : w.kernel)
    if (k < 1 || k > kMaxAttrValue) Bad(n, "weight shape ", ShapeText(wd.d), " has an invalid kernel size");
  const std::vector<int64_t> ks = a.Ints("kernel_shape");
  if (!ks.empty() && ks != w.kernel)
    Bad(n, "kernel_shape ", ShapeText(ks), " does not match the weight's shape ", ShapeText(wd.d));
  w.stride = SpatialInts(n, a, "strides", rank, 1, 1);
  w.dilation = SpatialInts(n, a, "dilations", rank, 1, 1);
  const std::vector<int64_t> pads = SpatialInts(n, a, "pads", 2 * rank, 0, 0);
  w.begin.assign(pads.begin(), pads.begin() + rank);
  w.end.assign(pads.begin() + rank, pads.end());
  const int64_t group = a.Int("group", 1);
  if (group < 1 || group > kMaxAttrValue) Bad(n, "group ", group, " is out of range");
  const int64_t filters = wd.d[0];
  if (filters % group != 0) Bad(n, filters, " filters cannot be split into ", group, " groups");

  // A zero Pad in front folds into the convolution's own pads.
  const Value& xv = Get(x);
  if (xv.pad && a.Str("auto_pad", "NOTSET") == "NOTSET" && xv.pad->value == 0 &&
      xv.pad->begin.size() == rank + 2 && !xv.pad->begin[0] && !xv.pad->begin[1] && !xv.pad->end[0] &&
      !xv.pad->end[1]) {
    const PendingPad p = *xv.pad;
    for (size_t i = 0; i < rank; ++i) {
      w.begin[i] += p.begin[i + 2];
      w.end[i] += p.end[i + 2];
    }
    x = p.input;
  }
  ResolveAutoPad(n, a, x, w);

  // tandem pads symmetrically: the common part goes into the convolution; the rest is dropped when
  // no window reaches it, else padded explicitly.
  std::vector<int64_t> pad(rank), extra_begin(rank + 2, 0), extra_end(rank + 2, 0);
  bool explicit_pad = false;
  std::optional<Dims> xd;
  for (size_t i = 0; i < rank; ++i) {
    pad[i] = std::min(w.begin[i], w.end[i]);
    extra_begin[i + 2] = w.begin[i] - pad[i];
    extra_end[i + 2] = w.end[i] - pad[i];
    if (!extra_begin[i + 2] && !extra_end[i + 2]) continue;
    if (!xd) xd = ShapeOf(x);
    if (xd->rank() != static_cast<int>(rank) + 2)
      Throw<ShapeError>(Desc(n), ": a ", rank, "-d kernel needs ", rank + 2, "-d input, got ", ShapeText(xd->d));
    if (extra_begin[i + 2] == 0 && xd->fixed(static_cast<int>(i) + 2)) {
      const int64_t in = xd->d[i + 2], extent = (w.kernel[i] - 1) * w.dilation[i] + 1;
      const int64_t with = in + w.begin[i] + w.end[i] - extent, without = in + 2 * pad[i] - extent;
      if (with >= 0 && without >= 0 && with / w.stride[i] == without / w.stride[i]) {
        extra_end[i + 2] = 0;
        continue;
      }
    }
    explicit_pad = true;
  }
  Symbol data = Sym(x);
  if (explicit_pad) data = PadExplicit(data, xd->d, extra_begin, extra_end, 0.0f, "pad");

  AttrMap attrs = {{"kernel", AttrString(w.kernel)},    {"stride", AttrString(w.stride)},
                   {"dilate", AttrString(w.dilation)},  {"pad", AttrString(pad)},
                   {"num_filter", std::to_string(filters)}, {"num_group", std::to_string(group)},
                   {"no_bias", In(n, 2).empty() ? "True" : "False"}};
  std::vector<Symbol> inputs = {data, Sym(In(n, 1))};
  if (!In(n, 2).empty()) inputs.push_back(Sym(In(n, 2)));
  SetSym(n, Op("Convolution", "", attrs, inputs));
}

void Importer::Pool(const pb::NodeProto& n, bool is_max) {
  NeedInputs(n, 1, 1);
  if (is_max) OnlyFirstOutput(n);
  const Attrs a(n, Desc(n));
  std::string x = In(n, 0);
  Window w;
  w.kernel = a.Ints("kernel_shape");
  if (w.kernel.empty() || w.kernel.size() > 3) Bad(n, "kernel_shape must have 1 to 3 values");
  const size_t rank = w.kernel.size();
  for (int64_t k : w.kernel)
    if (k < 1 || k > kMaxAttrValue) Bad(n, "kernel_shape value ", k, " is out of range");
  w.stride = SpatialInts(n, a, "strides", rank, 1, 1);
  w.dilation = SpatialInts(n, a, "dilations", rank, 1, 1);
  for (int64_t d : w.dilation)
    if (d != 1) Fail(n, "dilated pooling is not supported");
  const std::vector<int64_t> pads = SpatialInts(n, a, "pads", 2 * rank, 0, 0);
  w.begin.assign(pads.begin(), pads.begin() + rank);
  w.end.assign(pads.begin() + rank, pads.end());
  const bool ceil_mode = a.Int("ceil_mode", 0) != 0;
  bool include_pad = !is_max && a.Int("count_include_pad", 0) != 0;
  if (is_max && a.Int("storage_order", 0) != 0 && n.output_size() > 1) Fail(n, "storage_order=1 is not supported");

  // A Pad in front folds in when it pads with what the pool ignores (max: -inf) or counts (avg).
  const Value& xv = Get(x);
  if (xv.pad && a.Str("auto_pad", "NOTSET") == "NOTSET" && xv.pad->begin.size() == rank + 2 &&
      !xv.pad->begin[0] && !xv.pad->begin[1] && !xv.pad->end[0] && !xv.pad->end[1]) {
    const PendingPad& p = *xv.pad;
    bool own_pads_zero = std::all_of(pads.begin(), pads.end(), [](int64_t v) { return v == 0; });
    bool fold = is_max ? p.value <= -FLT_MAX
                       : p.value == 0 && !ceil_mode && (include_pad || own_pads_zero);
    if (fold) {
      const PendingPad copy = p;
      for (size_t i = 0; i < rank; ++i) {
        w.begin[i] += copy.begin[i + 2];
        w.end[i] += copy.end[i + 2];
      }
      if (!is_max) include_pad = true;
      x = copy.input;
    }
  }
  ResolveAutoPad(n, a, x, w);

  bool symmetric = true;
  for (size_t i = 0; i < rank; ++i) symmetric &= w.begin[i] == w.end[i];
  std::vector<int64_t> pad(rank);
  std::string convention = "valid";
  Symbol data;
  if (symmetric && !ceil_mode) {
    pad = w.begin;
    data = Sym(x);
  } else {
    // Match ONNX's output size (ceil_mode drops a last window that would start in the end padding)
    // with one of tandem's conventions, padding explicitly where the symmetric pads cannot.
    const Dims xd = ShapeOf(x);
    if (xd.rank() != static_cast<int>(rank) + 2)
      Throw<ShapeError>(Desc(n), ": a ", rank, "-d window needs ", rank + 2, "-d input, got ", ShapeText(xd.d));
    std::vector<int64_t> onnx_out(rank), in(rank), extra_begin(rank + 2, 0), extra_end(rank + 2, 0);
    for (size_t i = 0; i < rank; ++i) {
      if (!xd.fixed(static_cast<int>(i) + 2))
        Fail(n, "asymmetric pads or ceil_mode need the input's spatial dims, and they are open in the file");
      in[i] = xd.d[i + 2];
      const int64_t room = in[i] + w.begin[i] + w.end[i] - w.kernel[i];
      if (room < 0) Throw<ShapeError>(Desc(n), ": the window ", ShapeText(w.kernel), " exceeds the padded input ", ShapeText(xd.d));
      int64_t out = (ceil_mode ? (room + w.stride[i] - 1) / w.stride[i] : room / w.stride[i]) + 1;
      if (ceil_mode && (out - 1) * w.stride[i] >= in[i] + w.begin[i]) --out;
      onnx_out[i] = out;
      pad[i] = std::min(w.begin[i], w.end[i]);
      extra_begin[i + 2] = w.begin[i] - pad[i];
      extra_end[i + 2] = w.end[i] - pad[i];
    }
    const float fill = is_max ? -FLT_MAX : 0.0f;
    auto sizes_match = [&](bool full, bool with_end) {
      for (size_t i = 0; i < rank; ++i) {
        const int64_t padded = in[i] + extra_begin[i + 2] + (with_end ? extra_end[i + 2] : 0);
        const int64_t room = padded + 2 * pad[i] - w.kernel[i];
        if (room < 0) return false;
        const int64_t out = (full ? (room + w.stride[i] - 1) / w.stride[i] : room / w.stride[i]) + 1;
        if (out != onnx_out[i]) return false;
      }
      return true;
    };
    const bool any_begin = std::any_of(extra_begin.begin(), extra_begin.end(), [](int64_t v) { return v > 0; });
    const bool any_end = std::any_of(extra_end.begin(), extra_end.end(), [](int64_t v) { return v > 0; });
    // Padding that the average counts must really be there; padding a max pool (or an average
    // that ignores padding) skips only needs the right number of windows.
    bool with_end = include_pad && any_end;
    std::optional<bool> full;
    for (bool f : {false, true})
      if (!full && sizes_match(f, with_end)) full = f;
    if (!full && any_end && !with_end) {
      with_end = true;
      for (bool f : {false, true})
        if (!full && sizes_match(f, true)) full = f;
    }
    if (!full)
      Fail(n, "cannot express pads ", ShapeText(pads), (ceil_mode ? " with ceil_mode" : ""),
           " for input ", ShapeText(xd.d), " with tandem's pooling conventions");
    if (!is_max && !include_pad && (any_begin || with_end))
      Fail(n, "asymmetric pads with count_include_pad=0 are not supported");
    convention = *full ? "full" : "valid";
    if (!with_end) std::fill(extra_end.begin(), extra_end.end(), 0);
    data = Sym(x);
    if (any_begin || with_end) data = PadExplicit(data, xd.d, extra_begin, extra_end, fill, "pad");
  }
  AttrMap attrs = {{"kernel", AttrString(w.kernel)}, {"stride", AttrString(w.stride)},
                   {"pad", AttrString(pad)},          {"pool_type", is_max ? "max" : "avg"},
                   {"pooling_convention", convention}};
  if (!is_max) attrs["count_include_pad"] = include_pad ? "True" : "False";
  SetSym(n, Op("Pooling", "", attrs, {data}));
}

void Importer::GlobalPool(const pb::NodeProto& n, const char* type) {
  NeedInputs(n, 1, 1);
  SetSym(n, Op("Pooling", "", {{"pool_type", type}, {"global_pool", "True"}}, {Sym(In(n, 0))}));
}

void Importer::BatchNormalization(const pb::NodeProto& n) {
  NeedInputs(n, 5, 5);
  OnlyFirstOutput(n);
  const Attrs a(n, Desc(n));
  if (opset_ < 9 && a.Int("spatial", 1) != 1) Fail(n, "spatial=0 is not supported");
  if (a.Int("training_mode", 0) != 0) Fail(n, "training_mode=1 is not supported (inference only)");
  const float eps = a.Float("epsilon", 1e-5f);
  if (!(eps >= 0)) Bad(n, "epsilon ", eps, " must be >= 0");
  SetSym(n, Op("BatchNorm", "", {{"eps", AttrString(eps)}, {"fix_gamma", "False"}, {"axis", "1"}},
               {Sym(In(n, 0)), Sym(In(n, 1)), Sym(In(n, 2)), Sym(In(n, 3), true), Sym(In(n, 4), true)}));
}

// Gemm: Y = alpha * A' B' + beta * C, as FullyConnected (weight = B' transposed, scaled by alpha).
void Importer::Gemm(const pb::NodeProto& n) {
  NeedInputs(n, opset_ < 11 ? 3 : 2, 3);
  const Attrs a(n, Desc(n));
  const float alpha = a.Float("alpha", 1.0f), beta = a.Float("beta", 1.0f);
  const bool trans_a = a.Int("transA", 0) != 0, trans_b = a.Int("transB", 0) != 0;
  auto b = ConstOf(In(n, 1));
  if (!b) Fail(n, "B must be a constant (tandem maps Gemm onto FullyConnected)");
  if (b->dims.size() != 2 || !b->is_float()) Bad(n, "B must be a 2-d float tensor, it has shape ", ShapeText(b->dims));
  const int64_t k = trans_b ? b->dims[1] : b->dims[0], units = trans_b ? b->dims[0] : b->dims[1];
  if (units < 1 || k < 1) Fail(n, "zero-sized tensors are not supported");
  Const weight;
  weight.dims = {units, k};
  weight.f.resize(static_cast<size_t>(units * k));
  for (int64_t u = 0; u < units; ++u)
    for (int64_t j = 0; j < k; ++j)
      weight.f[u * k + j] = alpha * (trans_b ? b->f[u * k + j] : b->f[j * units + u]);
  const bool unit_weight = alpha == 1.0f && trans_b;

  Symbol data = Sym(In(n, 0));
  if (trans_a) data = Op("transpose", "transA", {{"axes", "(1, 0)"}}, {data});
  std::vector<Symbol> inputs = {data, unit_weight ? Sym(In(n, 1)) : ConstVar(weight, In(n, 1) + "_weight")};
  const std::string c_name = In(n, 2);
  std::shared_ptr<const Const> c = c_name.empty() ? nullptr : ConstOf(c_name);
  bool bias = false, add_c = false;
  if (!c_name.empty() && beta != 0) {
    if (c && c->is_float() && (c->size() == units || c->size() == 1) &&
        (c->dims.size() <= 1 || (c->dims.size() == 2 && c->dims[0] == 1))) {
      Const bias_c;
      bias_c.dims = {units};
      bias_c.f.resize(static_cast<size_t>(units));
      for (int64_t u = 0; u < units; ++u) bias_c.f[u] = beta * c->f[c->size() == 1 ? 0 : u];
      inputs.push_back(beta == 1.0f && c->size() == units && c->dims.size() == 1 ? Sym(c_name)
                                                                                  : ConstVar(bias_c, c_name + "_bias"));
      bias = true;
    } else {
      add_c = true;
    }
  }
  Symbol y = Op("FullyConnected", add_c ? "fc" : "",
                {{"num_hidden", std::to_string(units)}, {"no_bias", bias ? "False" : "True"}, {"flatten", "True"}},
                inputs);
  if (add_c) {
    Symbol cs = Sym(c_name);
    if (beta != 1.0f) cs = Op("_mul_scalar", "beta", {{"scalar", AttrString(beta)}}, {cs});
    used_names_.insert(cur_name_);
    y = Symbol::CreateOp("broadcast_add", cur_name_, {}, {y, cs});
  }
  SetSym(n, y);
}

// MatMul with a constant 2-d B: FullyConnected over the last axis, weight = B transposed.
void Importer::MatMul(const pb::NodeProto& n) {
  NeedInputs(n, 2, 2);
  auto b = ConstOf(In(n, 1));
  if (!b) Fail(n, "B must be a constant (tandem has no general matrix product; it maps MatMul onto FullyConnected)");
  if (!b->is_float()) Bad(n, "B must be a float tensor");
  if (b->dims.size() != 2) Fail(n, "B of shape ", ShapeText(b->dims), " (only 2-d B is supported)");
  const int64_t k = b->dims[0], units = b->dims[1];
  if (units < 1 || k < 1) Fail(n, "zero-sized tensors are not supported");
  Const weight;
  weight.dims = {units, k};
  weight.f.resize(static_cast<size_t>(units * k));
  for (int64_t u = 0; u < units; ++u)
    for (int64_t j = 0; j < k; ++j) weight.f[u * k + j] = b->f[j * units + u];
  SetSym(n, Op("FullyConnected", "",
               {{"num_hidden", std::to_string(units)}, {"no_bias", "True"}, {"flatten", "False"}},
               {Sym(In(n, 0)), ConstVar(weight, In(n, 1) + "_T")}));
}

// numpy broadcasting of two constants.
std::shared_ptr<Const> FoldBinary(const Const& x, const Const& y, char op, const std::string& what) {
  if (x.is_float() != y.is_float()) Throw<FormatError>(what, ": operands of different types");
  const size_t rank = std::max(x.dims.size(), y.dims.size());
  std::vector<int64_t> dims(rank), xd(rank, 1), yd(rank, 1);
  std::copy(x.dims.begin(), x.dims.end(), xd.begin() + (rank - x.dims.size()));
  std::copy(y.dims.begin(), y.dims.end(), yd.begin() + (rank - y.dims.size()));
  for (size_t k = 0; k < rank; ++k) {
    if (xd[k] != yd[k] && xd[k] != 1 && yd[k] != 1)
      Throw<ShapeError>(what, ": shapes ", ShapeText(x.dims), " and ", ShapeText(y.dims), " cannot be broadcast");
    dims[k] = xd[k] == 1 ? yd[k] : xd[k];
  }
  const int64_t count = CheckedProduct(dims, what);
  if (count > kMaxFoldElements) Throw<Unsupported>(what, ": a folded constant of ", count, " elements is too large");
  auto out = EmptyLike(x, dims, count);
  out->refs.clear();
  const std::vector<int64_t> xs = Strides(xd), ys = Strides(yd), os = Strides(dims);
  for (int64_t e = 0; e < count; ++e) {
    int64_t xi = 0, yi = 0, rest = e;
    for (size_t k = 0; k < rank; ++k) {
      const int64_t c = rest / os[k];
      rest %= os[k];
      if (xd[k] != 1) xi += c * xs[k];
      if (yd[k] != 1) yi += c * ys[k];
    }
    if (x.is_float()) {
      const float l = x.f[xi], r = y.f[yi];
      out->f[e] = op == '+' ? l + r : op == '-' ? l - r : op == '*' ? l * r : l / r;
    } else {
      const int64_t l = x.i[xi], r = y.i[yi];
      if (op == '/' && r == 0) Throw<FormatError>(what, ": integer division by zero");
      // Wrapping arithmetic: unsigned, so that hostile values cannot overflow a signed int.
      const uint64_t ul = static_cast<uint64_t>(l), ur = static_cast<uint64_t>(r);
      out->i[e] = op == '+' ? static_cast<int64_t>(ul + ur)
                  : op == '-' ? static_cast<int64_t>(ul - ur)
                  : op == '*' ? static_cast<int64_t>(ul * ur)
                  : (l == INT64_MIN && r == -1) ? l : l / r;
    }
  }
  return out;
}

void Importer::Binary(const pb::NodeProto& n, char op) {
  NeedInputs(n, 2, 2);
  auto x = ConstOf(In(n, 0)), y = ConstOf(In(n, 1));
  if (x && y) {
    if (x->has_open_dims() || y->has_open_dims())
      Fail(n, "arithmetic on shape values that depend on open input dims is not supported; give fixed "
           "input shapes in LoadOptions::input_shapes");
    SetConst(n, FoldBinary(*x, *y, op, Desc(n)));
    return;
  }
  // A float scalar on one side: tandem's _*_scalar ops.
  auto scalar = [](const std::shared_ptr<const Const>& c) {
    return c && c->is_float() && c->size() == 1 && c->dims.size() <= 1;
  };
  if (scalar(y)) {
    const char* name = op == '+' ? "_plus_scalar" : op == '-' ? "_minus_scalar" : op == '*' ? "_mul_scalar" : "_div_scalar";
    SetSym(n, Op(name, "", {{"scalar", AttrString(y->f[0])}}, {Sym(In(n, 0))}));
    return;
  }
  if (scalar(x) && op != '/') {
    const char* name = op == '+' ? "_plus_scalar" : op == '-' ? "_rminus_scalar" : "_mul_scalar";
    SetSym(n, Op(name, "", {{"scalar", AttrString(x->f[0])}}, {Sym(In(n, 1))}));
    return;
  }
  const char* name = op == '+' ? "broadcast_add" : op == '-' ? "broadcast_sub" : op == '*' ? "broadcast_mul" : "broadcast_div";
  SetSym(n, Op(name, "", {}, {Sym(In(n, 0)), Sym(In(n, 1))}));
}

void Importer::Sum(const pb::NodeProto& n) {
  NeedInputs(n, 1, 1 << 16);
  if (n.input_size() == 1) {
    Alias(n, In(n, 0));
    return;
  }
  Symbol acc = Sym(In(n, 0));
  for (int k = 1; k < n.input_size(); ++k) {
    const bool last = k + 1 == n.input_size();
    acc = Op("broadcast_add", last ? "" : "sum" + std::to_string(k), {}, {acc, Sym(In(n, k))});
  }
  SetSym(n, acc);
}

void Importer::Concat(const pb::NodeProto& n) {
  NeedInputs(n, 1, 1 << 16);
  const Attrs a(n, Desc(n));
  if (!a.Has("axis")) Bad(n, "attribute 'axis' is required");
  const int64_t axis = a.Int("axis", 0);
  bool all_const = true;
  for (int k = 0; k < n.input_size(); ++k) all_const &= ConstOf(In(n, k)) != nullptr;
  if (all_const) {
    auto first = ConstOf(In(n, 0));
    const int rank = static_cast<int>(first->dims.size());
    if (axis < -rank || axis >= rank) Bad(n, "axis ", axis, " is out of range for rank ", rank);
    const int ax = static_cast<int>(axis < 0 ? axis + rank : axis);
    std::vector<int64_t> dims = first->dims;
    dims[ax] = 0;
    bool any_refs = false;
    for (int k = 0; k < n.input_size(); ++k) {
      auto c = ConstOf(In(n, k));
      if (c->is_float() != first->is_float() || static_cast<int>(c->dims.size()) != rank) Bad(n, "inputs of different types or ranks");
      for (int d = 0; d < rank; ++d)
        if (d != ax && c->dims[d] != first->dims[d]) Bad(n, "input shapes ", ShapeText(c->dims), " and ", ShapeText(first->dims), " do not fit");
      dims[ax] += c->dims[ax];
      any_refs |= !c->refs.empty();
    }
    const int64_t count = CheckedProduct(dims, Desc(n));
    if (count > kMaxFoldElements) Fail(n, "a folded constant of ", count, " elements is too large");
    auto out = EmptyLike(*first, dims, count);
    if (any_refs && !out->is_float()) out->refs.assign(static_cast<size_t>(count), DimRef{});
    const int64_t outer = CheckedProduct(std::vector<int64_t>(dims.begin(), dims.begin() + ax), Desc(n));
    const int64_t inner = CheckedProduct(std::vector<int64_t>(dims.begin() + ax + 1, dims.end()), Desc(n));
    int64_t offset = 0;
    for (int k = 0; k < n.input_size(); ++k) {
      auto c = ConstOf(In(n, k));
      const int64_t block = c->dims[ax] * inner;
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t e = 0; e < block; ++e) {
          const int64_t to = o * dims[ax] * inner + offset + e;
          if (c->is_float()) out->f[to] = c->f[o * block + e];
          else {
            out->i[to] = c->i[o * block + e];
            if (!c->refs.empty()) out->refs[to] = c->refs[o * block + e];
          }
        }
      offset += block;
    }
    SetConst(n, out);
    return;
  }
  std::vector<Symbol> inputs;
  for (int k = 0; k < n.input_size(); ++k) inputs.push_back(Sym(In(n, k)));
  SetSym(n, Op("Concat", "", {{"num_args", std::to_string(inputs.size())}, {"dim", std::to_string(axis)}}, inputs));
}

void Importer::Flatten(const pb::NodeProto& n) {
  NeedInputs(n, 1, 1);
  const Attrs a(n, Desc(n));
  const int64_t axis_attr = a.Int("axis", 1);
  const Dims d = ShapeOf(In(n, 0));
  const int rank = d.rank();
  if (axis_attr < -rank || axis_attr > rank) Bad(n, "axis ", axis_attr, " is out of range for rank ", rank);
  const int axis = static_cast<int>(axis_attr < 0 ? axis_attr + rank : axis_attr);
  if (auto c = ConstOf(In(n, 0))) {
    auto out = std::make_shared<Const>(*c);
    int64_t outer = 1;
    for (int k = 0; k < axis; ++k) outer *= c->dims[k];
    out->dims = {outer, outer ? c->size() / outer : 0};
    SetConst(n, out);
    return;
  }
  if (axis == 1) {
    SetSym(n, Op("Flatten", "", {}, {Sym(In(n, 0))}));
    return;
  }
  Dims target;
  auto product = [&](int from, int to, bool* fixed) {
    int64_t p = 1;
    for (int k = from; k < to; ++k) {
      if (!d.fixed(k)) *fixed = false;
      else p *= d.d[k];
    }
    return p;
  };
  bool outer_fixed = true, inner_fixed = true;
  const int64_t outer = product(0, axis, &outer_fixed), inner = product(axis, rank, &inner_fixed);
  target.d = {outer_fixed ? outer : -1, inner_fixed ? inner : -1};
  target.refs.assign(2, DimRef{});
  if (!outer_fixed && !inner_fixed) Fail(n, "both halves of the flattened shape depend on open input dims");
  if (!outer_fixed) target.refs[0] = kForeignDim;
  if (!inner_fixed) target.refs[1] = kForeignDim;
  SetSym(n, ReshapeTo(Sym(In(n, 0)), target, ""));
}

void Importer::Reshape(const pb::NodeProto& n) {
  NeedInputs(n, 2, 2);
  const Attrs a(n, Desc(n));
  auto shape = RequireConst(n, 1, "the shape");
  if (shape->is_float() || shape->dims.size() > 1) Bad(n, "the shape must be a 1-d integer tensor");
  if (shape->size() > kMaxRank) Bad(n, "the shape has ", shape->size(), " dims");
  const bool allow_zero = a.Int("allowzero", 0) != 0;
  if (auto c = ConstOf(In(n, 0))) {
    if (shape->has_open_dims()) Fail(n, "reshaping a constant to a shape that depends on open input dims");
    std::vector<int64_t> dims;
    int infer = -1;
    int64_t known = 1;
    for (int64_t j = 0; j < shape->size(); ++j) {
      int64_t v = shape->i[j];
      if (v == 0 && !allow_zero) {
        if (j >= static_cast<int64_t>(c->dims.size())) Bad(n, "shape value 0 at ", j, " has no input dim to copy");
        v = c->dims[j];
      }
      if (v == -1) {
        if (infer >= 0) Bad(n, "more than one -1 in the shape");
        infer = static_cast<int>(j);
        dims.push_back(1);
        continue;
      }
      if (v < 0) Bad(n, "shape value ", v, " is invalid");
      dims.push_back(v);
      known = v == 0 ? 0 : (known > INT64_MAX / v ? -1 : known * v);
      if (known < 0) Bad(n, "the shape overflows");
    }
    if (infer >= 0) {
      if (known == 0) Bad(n, "cannot infer -1 next to a zero dim");
      dims[infer] = c->size() / known;
    }
    if (CheckedProduct(dims, Desc(n)) != c->size())
      Bad(n, "cannot reshape ", ShapeText(c->dims), " to ", ShapeText(dims));
    auto out = std::make_shared<Const>(*c);
    out->dims = dims;
    SetConst(n, out);
    return;
  }
  const Symbol data = Sym(In(n, 0));
  const NodeEntry& e = data.outputs().at(0);
  std::vector<int64_t> codes;
  int inferred = 0;
  for (int64_t j = 0; j < shape->size(); ++j) {
    const int64_t v = shape->i[j];
    const DimRef r = shape->refs.empty() ? DimRef{} : shape->refs[j];
    if (r.is_open()) {
      if (r.node == e.node.get() && r.index == e.index && r.dim == j) {
        codes.push_back(0);
      } else {
        codes.push_back(-1);
        ++inferred;
      }
    } else if (v == 0) {
      if (allow_zero) Fail(n, "zero-sized tensors are not supported (allowzero=1 with a 0 in the shape)");
      codes.push_back(0);
    } else if (v == -1) {
      codes.push_back(-1);
      ++inferred;
    } else if (v > 0) {
      codes.push_back(v);
    } else {
      Bad(n, "shape value ", v, " is invalid");
    }
  }
  if (inferred > 1)
    Fail(n, "the shape has ", inferred, " dims to infer (some depend on open input dims); give fixed input "
         "shapes in LoadOptions::input_shapes");
  if (codes.empty()) codes.push_back(1);  // to a 0-d tensor: tandem's (1)
  SetSym(n, Op("Reshape", "", {{"shape", AttrString(codes)}}, {data}));
}

void Importer::Transpose(const pb::NodeProto& n) {
  NeedInputs(n, 1, 1);
  const Attrs a(n, Desc(n));
  std::vector<int64_t> perm = a.Ints("perm");
  if (auto c = ConstOf(In(n, 0))) {
    const int rank = static_cast<int>(c->dims.size());
    if (perm.empty())
      for (int k = rank - 1; k >= 0; --k) perm.push_back(k);
    std::vector<int64_t> sorted = perm;
    std::sort(sorted.begin(), sorted.end());
    for (int k = 0; k < static_cast<int>(sorted.size()); ++k)
      if (sorted[k] != k || static_cast<int>(perm.size()) != rank) Bad(n, "perm ", ShapeText(perm), " is not a permutation of the ", rank, " dims");
    std::vector<int64_t> dims(rank);
    for (int k = 0; k < rank; ++k) dims[k] = c->dims[perm[k]];
    auto out = EmptyLike(*c, dims, c->size());
    const std::vector<int64_t> in_strides = Strides(c->dims), out_strides = Strides(dims);
    for (int64_t e = 0; e < c->size(); ++e) {
      int64_t from = 0, rest = e;
      for (int k = 0; k < rank; ++k) {
        from += (rest / out_strides[k]) * in_strides[perm[k]];
        rest %= out_strides[k];
      }
      CopyElement(*c, from, *out, e);
    }
    SetConst(n, out);
    return;
  }
  AttrMap attrs;
  if (!perm.empty()) attrs["axes"] = AttrString(perm);
  SetSym(n, Op("transpose", "", attrs, {Sym(In(n, 0))}));
}

void Importer::SoftmaxImpl(const pb::NodeProto& n, const char* op) {
  NeedInputs(n, 1, 1);
  const Attrs a(n, Desc(n));
  if (opset_ >= 13) {
    SetSym(n, Op(op, "", {{"axis", std::to_string(a.Int("axis", -1))}}, {Sym(In(n, 0))}));
    return;
  }
  // Before opset 13 the input is viewed as 2-d, (d0 * ... * d(axis-1), rest), and normalised over
  // the second dim.
  const Dims d = ShapeOf(In(n, 0));
  const int rank = d.rank();
  const int64_t axis_attr = a.Int("axis", 1);
  if (axis_attr < -rank || axis_attr >= rank) Bad(n, "axis ", axis_attr, " is out of range for rank ", rank);
  const int axis = static_cast<int>(axis_attr < 0 ? axis_attr + rank : axis_attr);
  if (axis == rank - 1) {
    SetSym(n, Op(op, "", {{"axis", "-1"}}, {Sym(In(n, 0))}));
    return;
  }
  bool inner_fixed = true;
  int64_t inner = 1;
  for (int k = axis; k < rank; ++k) {
    if (!d.fixed(k)) inner_fixed = false;
    else inner *= d.d[k];
  }
  if (!inner_fixed) Fail(n, "softmax over dims that are open in the file (opset < 13 flattens them)");
  Dims flat;
  flat.d = {-1, inner};
  flat.refs = {kForeignDim, DimRef{}};
  const Symbol x = Sym(In(n, 0));
  Symbol y = Op(op, "2d", {{"axis", "-1"}}, {ReshapeTo(x, flat, "flat")});
  SetSym(n, ReshapeTo(y, d, ""));
}

void Importer::Clip(const pb::NodeProto& n) {
  NeedInputs(n, 1, opset_ < 11 ? 1 : 3);
  const Attrs a(n, Desc(n));
  float lo = -FLT_MAX, hi = FLT_MAX;
  if (opset_ < 11) {
    lo = a.Float("min", lo);
    hi = a.Float("max", hi);
  } else {
    if (!In(n, 1).empty()) lo = ConstScalar(n, 1, "min");
    if (!In(n, 2).empty()) hi = ConstScalar(n, 2, "max");
  }
  if (!(lo <= hi)) Fail(n, "min ", lo, " exceeds max ", hi);
  SetSym(n, Op("clip", "", {{"a_min", AttrString(lo)}, {"a_max", AttrString(hi)}}, {Sym(In(n, 0))}));
}

void Importer::Dropout(const pb::NodeProto& n) {
  NeedInputs(n, 1, 3);
  OnlyFirstOutput(n);
  if (!In(n, 2).empty()) {
    auto training = ConstOf(In(n, 2));
    if (!training || training->size() != 1 || training->at(0) != 0)
      Fail(n, "training_mode must be a constant false (inference only)");
  }
  Alias(n, In(n, 0));
}

void Importer::Identity(const pb::NodeProto& n) {
  NeedInputs(n, 1, 1);
  Alias(n, In(n, 0));
}

void Importer::Constant(const pb::NodeProto& n) {
  NeedInputs(n, 0, 0);
  const Attrs a(n, Desc(n));
  const std::vector<std::string> names = a.Names();
  if (names.size() != 1) Bad(n, "needs exactly one value attribute, the file gives ", names.size());
  const std::string& key = names[0];
  if (key == "value") {
    SetConst(n, std::make_shared<const Const>(detail::TensorToConst(*a.Tensor("value"), Desc(n) + " value")));
  } else if (key == "value_float") {
    Const c;
    c.f = {a.Float(key, 0)};
    SetConst(n, std::make_shared<const Const>(std::move(c)));
  } else if (key == "value_floats") {
    Const c;
    c.f = a.Floats(key);
    c.dims = {static_cast<int64_t>(c.f.size())};
    SetConst(n, std::make_shared<const Const>(std::move(c)));
  } else if (key == "value_int") {
    SetConst(n, MakeInts({a.Int(key, 0)}, {}));
  } else if (key == "value_ints") {
    std::vector<int64_t> v = a.Ints(key);
    const int64_t size = static_cast<int64_t>(v.size());
    SetConst(n, MakeInts(std::move(v), {size}));
  } else {
    Fail(n, "a '", key, "' value is not supported");
  }
}

void Importer::ConstantOfShape(const pb::NodeProto& n) {
  NeedInputs(n, 1, 1);
  const Attrs a(n, Desc(n));
  std::vector<int64_t> dims = ConstInts(n, 0, "the shape");
  if (dims.size() > kMaxRank) Bad(n, "the shape has ", dims.size(), " dims");
  const int64_t count = CheckedProduct(dims, Desc(n));
  if (count > kMaxFoldElements) Fail(n, "a constant of ", count, " elements is too large to fold");
  Const fill;
  fill.f = {0.0f};
  if (const pb::TensorProto* t = a.Tensor("value")) fill = detail::TensorToConst(*t, Desc(n) + " value");
  if (fill.size() != 1) Bad(n, "value must hold one element");
  auto out = EmptyLike(fill, dims, count);
  for (int64_t e = 0; e < count; ++e) CopyElement(fill, 0, *out, e);
  SetConst(n, out);
}

void Importer::ShapeOp(const pb::NodeProto& n) {
  NeedInputs(n, 1, 1);
  const Attrs a(n, Desc(n));
  const Dims d = ShapeOf(In(n, 0));
  const int rank = d.rank();
  auto clamp = [rank](int64_t v) {
    if (v < 0) v += rank;
    return std::clamp<int64_t>(v, 0, rank);
  };
  const int64_t start = clamp(a.Int("start", 0)), end = clamp(a.Int("end", rank));
  std::vector<int64_t> values;
  std::vector<DimRef> refs;
  for (int64_t k = start; k < end; ++k) {
    values.push_back(d.d[k]);
    refs.push_back(d.refs[k]);
  }
  auto c = MakeInts(values, {static_cast<int64_t>(values.size())});
  if (std::any_of(refs.begin(), refs.end(), [](const DimRef& r) { return r.is_open(); })) c->refs = refs;
  SetConst(n, c);
}

void Importer::Gather(const pb::NodeProto& n) {
  NeedInputs(n, 2, 2);
  const Attrs a(n, Desc(n));
  auto data = ConstOf(In(n, 0));
  if (!data) Fail(n, "data must be a constant (tandem folds Gather at load time; it has no gather operator)");
  auto idx = RequireConst(n, 1, "indices");
  if (idx->is_float()) Bad(n, "indices must be integers");
  if (idx->has_open_dims()) Fail(n, "indices depend on open input dims");
  const int rank = static_cast<int>(data->dims.size());
  if (rank == 0) Bad(n, "data must not be a scalar");
  const int64_t axis_attr = a.Int("axis", 0);
  if (axis_attr < -rank || axis_attr >= rank) Bad(n, "axis ", axis_attr, " is out of range for rank ", rank);
  const int axis = static_cast<int>(axis_attr < 0 ? axis_attr + rank : axis_attr);
  std::vector<int64_t> dims(data->dims.begin(), data->dims.begin() + axis);
  dims.insert(dims.end(), idx->dims.begin(), idx->dims.end());
  dims.insert(dims.end(), data->dims.begin() + axis + 1, data->dims.end());
  if (dims.size() > kMaxRank) Bad(n, "the result has more than ", kMaxRank, " dims");
  const int64_t count = CheckedProduct(dims, Desc(n));
  if (count > kMaxFoldElements) Fail(n, "a folded constant of ", count, " elements is too large");
  auto out = EmptyLike(*data, dims, count);
  const int64_t outer = CheckedProduct(std::vector<int64_t>(data->dims.begin(), data->dims.begin() + axis), Desc(n));
  const int64_t inner = CheckedProduct(std::vector<int64_t>(data->dims.begin() + axis + 1, data->dims.end()), Desc(n));
  const int64_t extent = data->dims[axis];
  int64_t to = 0;
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t k = 0; k < idx->size(); ++k) {
      int64_t at = idx->i[k];
      if (at < 0) at += extent;
      if (at < 0 || at >= extent) Bad(n, "index ", idx->i[k], " is out of range for a dim of ", extent);
      for (int64_t e = 0; e < inner; ++e) CopyElement(*data, (o * extent + at) * inner + e, *out, to++);
    }
  SetConst(n, out);
}

void Importer::Unsqueeze(const pb::NodeProto& n) {
  NeedInputs(n, 1, opset_ < 13 ? 1 : 2);
  const Attrs a(n, Desc(n));
  const std::vector<int64_t> axes = opset_ < 13 ? a.Ints("axes") : ConstInts(n, 1, "axes");
  if (axes.empty()) Bad(n, "axes must not be empty");
  const Dims d = ShapeOf(In(n, 0));
  const int out_rank = d.rank() + static_cast<int>(axes.size());
  if (out_rank > kMaxRank) Bad(n, "the result has more than ", kMaxRank, " dims");
  std::vector<bool> inserted(static_cast<size_t>(out_rank), false);
  for (int64_t ax : axes) {
    if (ax < -out_rank || ax >= out_rank) Bad(n, "axis ", ax, " is out of range");
    const int k = static_cast<int>(ax < 0 ? ax + out_rank : ax);
    if (inserted[k]) Bad(n, "axis ", ax, " is given twice");
    inserted[k] = true;
  }
  Dims target;
  for (int k = 0, src = 0; k < out_rank; ++k) {
    if (inserted[k]) {
      target.d.push_back(1);
      target.refs.push_back(DimRef{});
    } else {
      target.d.push_back(d.d[src]);
      target.refs.push_back(d.refs[src]);
      ++src;
    }
  }
  if (auto c = ConstOf(In(n, 0))) {
    auto out = std::make_shared<Const>(*c);
    out->dims = target.d;
    SetConst(n, out);
    return;
  }
  SetSym(n, ReshapeTo(Sym(In(n, 0)), target, ""));
}

void Importer::Squeeze(const pb::NodeProto& n) {
  NeedInputs(n, 1, opset_ < 13 ? 1 : 2);
  const Attrs a(n, Desc(n));
  std::vector<int64_t> axes = opset_ < 13 ? a.Ints("axes") : (In(n, 1).empty() ? std::vector<int64_t>{} : ConstInts(n, 1, "axes"));
  const Dims d = ShapeOf(In(n, 0));
  const int rank = d.rank();
  std::vector<bool> drop(static_cast<size_t>(rank), false);
  if (axes.empty()) {
    for (int k = 0; k < rank; ++k) {
      if (!d.fixed(k)) Fail(n, "squeezing every size-1 dim of a shape with open dims");
      drop[k] = d.d[k] == 1;
    }
  } else {
    for (int64_t ax : axes) {
      if (ax < -rank || ax >= rank) Bad(n, "axis ", ax, " is out of range for rank ", rank);
      const int k = static_cast<int>(ax < 0 ? ax + rank : ax);
      if (d.fixed(k) && d.d[k] != 1) Bad(n, "dim ", k, " of ", ShapeText(d.d), " is not 1");
      drop[k] = true;
    }
  }
  Dims target;
  for (int k = 0; k < rank; ++k)
    if (!drop[k]) {
      target.d.push_back(d.d[k]);
      target.refs.push_back(d.refs[k]);
    }
  if (auto c = ConstOf(In(n, 0))) {
    auto out = std::make_shared<Const>(*c);
    out->dims = target.d;
    SetConst(n, out);
    return;
  }
  if (target.d.empty()) {  // to a 0-d tensor: tandem's (1)
    target.d = {1};
    target.refs = {DimRef{}};
  }
  SetSym(n, ReshapeTo(Sym(In(n, 0)), target, ""));
}

void Importer::Slice(const pb::NodeProto& n) {
  NeedInputs(n, opset_ < 10 ? 1 : 3, opset_ < 10 ? 1 : 5);
  const Attrs a(n, Desc(n));
  auto data = ConstOf(In(n, 0));
  if (!data) Fail(n, "data must be a constant (tandem folds Slice at load time; it has no slice operator)");
  std::vector<int64_t> starts, ends, axes, steps;
  if (opset_ < 10) {
    starts = a.Ints("starts");
    ends = a.Ints("ends");
    axes = a.Ints("axes");
  } else {
    starts = ConstInts(n, 1, "starts");
    ends = ConstInts(n, 2, "ends");
    if (!In(n, 3).empty()) axes = ConstInts(n, 3, "axes");
    if (!In(n, 4).empty()) steps = ConstInts(n, 4, "steps");
  }
  const int rank = static_cast<int>(data->dims.size());
  if (axes.empty())
    for (size_t k = 0; k < starts.size(); ++k) axes.push_back(static_cast<int64_t>(k));
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (starts.size() != ends.size() || starts.size() != axes.size() || starts.size() != steps.size())
    Bad(n, "starts, ends, axes and steps must have the same length");
  std::vector<int64_t> begin(rank, 0), step(rank, 1), dims = data->dims;
  std::vector<bool> seen(rank, false);
  for (size_t k = 0; k < starts.size(); ++k) {
    if (axes[k] < -rank || axes[k] >= rank) Bad(n, "axis ", axes[k], " is out of range for rank ", rank);
    const int ax = static_cast<int>(axes[k] < 0 ? axes[k] + rank : axes[k]);
    if (seen[ax]) Bad(n, "axis ", axes[k], " is given twice");
    seen[ax] = true;
    const int64_t extent = data->dims[ax], s = steps[k];
    if (s == 0 || s == INT64_MIN) Bad(n, "step ", s, " is invalid");
    int64_t b = starts[k], e = ends[k];
    // ONNX: negative values count from the end; then clamp to [0, extent] (or [-1, extent-1] for
    // negative steps).
    b = b < 0 ? (b < -extent ? (s > 0 ? 0 : -1) : b + extent) : b;
    e = e < 0 ? (e < -extent ? (s > 0 ? 0 : -1) : e + extent) : e;
    if (s > 0) {
      b = std::clamp<int64_t>(b, 0, extent);
      e = std::clamp<int64_t>(e, 0, extent);
      dims[ax] = e > b ? (e - b + s - 1) / s : 0;
    } else {
      b = std::clamp<int64_t>(b, -1, extent - 1);
      e = std::clamp<int64_t>(e, -1, extent - 1);
      dims[ax] = b > e ? (b - e + (-s) - 1) / (-s) : 0;
    }
    begin[ax] = b;
    step[ax] = s;
  }
  const int64_t count = CheckedProduct(dims, Desc(n));
  auto out = EmptyLike(*data, dims, count);
  const std::vector<int64_t> in_strides = Strides(data->dims), out_strides = Strides(dims);
  for (int64_t e = 0; e < count; ++e) {
    int64_t from = 0, rest = e;
    for (int k = 0; k < rank; ++k) {
      const int64_t c = rest / out_strides[k];
      rest %= out_strides[k];
      from += (begin[k] + c * step[k]) * in_strides[k];
    }
    CopyElement(*data, from, *out, e);
  }
  SetConst(n, out);
}

void Importer::Pad(const pb::NodeProto& n) {
  NeedInputs(n, 1, opset_ < 11 ? 1 : 4);
  const Attrs a(n, Desc(n));
  const std::string mode = a.Str("mode", "constant");
  if (mode != "constant" && mode != "edge" && mode != "reflect")
    Fail(n, "mode '", mode, "' is not supported (constant, edge, reflect)");
  std::vector<int64_t> pads;
  float value = 0;
  if (opset_ < 11) {
    pads = a.Ints("pads");
    value = a.Float("value", 0.0f);
  } else {
    pads = ConstInts(n, 1, "pads");
    if (!In(n, 2).empty()) value = ConstScalar(n, 2, "constant_value");
  }
  const Dims d = ShapeOf(In(n, 0));
  const int rank = d.rank();
  std::vector<int64_t> begin(rank, 0), end(rank, 0);
  if (!In(n, 3).empty()) {
    const std::vector<int64_t> axes = ConstInts(n, 3, "axes");
    if (pads.size() != 2 * axes.size()) Bad(n, "pads has ", pads.size(), " values for ", axes.size(), " axes");
    for (size_t k = 0; k < axes.size(); ++k) {
      if (axes[k] < -rank || axes[k] >= rank) Bad(n, "axis ", axes[k], " is out of range");
      const int ax = static_cast<int>(axes[k] < 0 ? axes[k] + rank : axes[k]);
      begin[ax] = pads[k];
      end[ax] = pads[k + axes.size()];
    }
  } else {
    if (pads.size() != static_cast<size_t>(2 * rank)) Bad(n, "pads has ", pads.size(), " values for a ", rank, "-d input");
    for (int k = 0; k < rank; ++k) {
      begin[k] = pads[k];
      end[k] = pads[k + rank];
    }
  }
  bool any = false;
  for (int k = 0; k < rank; ++k) {
    if (begin[k] < 0 || end[k] < 0) Fail(n, "negative pads (cropping) are not supported");
    if (begin[k] > kMaxAttrValue || end[k] > kMaxAttrValue) Bad(n, "pads ", ShapeText(pads), " are out of range");
    any |= begin[k] || end[k];
  }
  if (!any) {
    Alias(n, In(n, 0));
    return;
  }
  if (mode != "constant") {  // edge / reflect: MXNet's Pad (spatial axes of 4-D / 5-D data)
    std::optional<Symbol> pad = MxnetPad(Sym(In(n, 0)), static_cast<size_t>(rank), begin, end, mode, 0, "");
    if (!pad) Fail(n, "mode '", mode, "' pads only the spatial axes of 4-D or 5-D data");
    SetSym(n, *pad);
    return;
  }
  auto p = std::make_shared<PendingPad>();
  p->input = In(n, 0);
  p->begin = begin;
  p->end = end;
  p->value = value;
  p->node = cur_name_;
  used_names_.insert(cur_name_);
  values_[n.output(0)].pad = p;
}

void Importer::Cast(const pb::NodeProto& n) {
  NeedInputs(n, 1, 1);
  const Attrs a(n, Desc(n));
  const int64_t to = a.Int("to", 0);
  DType t;
  if (!detail::NativeDType(static_cast<int>(to), &t))
    Fail(n, "casting to ", detail::OnnxTypeName(static_cast<int>(to)), " is not supported");
  if (auto c = ConstOf(In(n, 0))) {
    auto out = std::make_shared<Const>();
    out->dims = c->dims;
    const bool to_float = t == DType::f32 || t == DType::f64 || t == DType::f16 || t == DType::bf16;
    out->dtype = to_float ? DType::f32 : t;
    if (to_float) {
      out->f.resize(static_cast<size_t>(c->size()));
      for (int64_t e = 0; e < c->size(); ++e) out->f[e] = static_cast<float>(c->at(e));
    } else if (!c->is_float()) {
      out->i = c->i;
      out->refs = c->refs;
    } else {
      out->i.resize(static_cast<size_t>(c->size()));
      for (int64_t e = 0; e < c->size(); ++e) {
        const float v = c->f[e];
        out->i[e] = std::isfinite(v) && std::fabs(v) < 9.2e18f ? static_cast<int64_t>(v) : 0;
      }
    }
    SetConst(n, out);
    return;
  }
  SetSym(n, Op("Cast", "", {{"dtype", DTypeName(t)}}, {Sym(In(n, 0))}));
}

void Importer::Reduce(const pb::NodeProto& n, const char* op) {
  const bool axes_input = std::string(op) == "sum" ? opset_ >= 13 : opset_ >= 18;
  NeedInputs(n, 1, axes_input ? 2 : 1);
  const Attrs a(n, Desc(n));
  std::vector<int64_t> axes = axes_input ? (In(n, 1).empty() ? std::vector<int64_t>{} : ConstInts(n, 1, "axes"))
                                         : a.Ints("axes");
  const bool keepdims = a.Int("keepdims", 1) != 0;
  if (axes.empty() && a.Int("noop_with_empty_axes", 0) != 0) {
    Alias(n, In(n, 0));
    return;
  }
  AttrMap attrs = {{"keepdims", keepdims ? "True" : "False"}};
  if (!axes.empty()) attrs["axis"] = AttrString(axes);
  SetSym(n, Op(op, "", attrs, {Sym(In(n, 0))}));
}

const std::map<std::string, Importer::Converter>& Importer::Converters() {
  static const std::map<std::string, Converter> kConverters = {
      {"Relu", &Importer::Relu},
      {"Sigmoid", &Importer::Sigmoid},
      {"Tanh", &Importer::Tanh},
      {"Softplus", &Importer::Softplus},
      {"Softsign", &Importer::Softsign},
      {"LeakyRelu", &Importer::LeakyRelu},
      {"Elu", &Importer::Elu},
      {"Selu", &Importer::Selu},
      {"PRelu", &Importer::PRelu},
      {"Conv", &Importer::Conv},
      {"MaxPool", &Importer::MaxPool},
      {"AveragePool", &Importer::AveragePool},
      {"GlobalAveragePool", &Importer::GlobalAveragePool},
      {"GlobalMaxPool", &Importer::GlobalMaxPool},
      {"BatchNormalization", &Importer::BatchNormalization},
      {"Gemm", &Importer::Gemm},
      {"MatMul", &Importer::MatMul},
      {"Add", &Importer::Add},
      {"Sub", &Importer::Sub},
      {"Mul", &Importer::Mul},
      {"Div", &Importer::Div},
      {"Sum", &Importer::Sum},
      {"Concat", &Importer::Concat},
      {"Flatten", &Importer::Flatten},
      {"Reshape", &Importer::Reshape},
      {"Transpose", &Importer::Transpose},
      {"Softmax", &Importer::Softmax},
      {"LogSoftmax", &Importer::LogSoftmax},
      {"Clip", &Importer::Clip},
      {"Dropout", &Importer::Dropout},
      {"Identity", &Importer::Identity},
      {"Constant", &Importer::Constant},
      {"ConstantOfShape", &Importer::ConstantOfShape},
      {"Shape", &Importer::ShapeOp},
      {"Gather", &Importer::Gather},
      {"Unsqueeze", &Importer::Unsqueeze},
      {"Squeeze", &Importer::Squeeze},
      {"Slice", &Importer::Slice},
      {"Pad", &Importer::Pad},
      {"Cast", &Importer::Cast},
      {"ReduceMean", &Importer::ReduceMean},
      {"ReduceSum", &Importer::ReduceSum},
  };
  return kConverters;
}

// ---- the whole model ------------------------------------------------------------------------

Model Importer::Run() {
  if (!model_.has_graph()) Throw<FormatError>(source_, ": the model has no graph");
  ReadOpset();
  ReadInitializers();
  ReadInputs();
  CheckOperators();
  const std::vector<int> order = TopologicalOrder();
  for (const pb::NodeProto& n : model_.graph().node())
    if (!n.name().empty()) used_names_.insert(n.name());

  const auto& converters = Converters();
  std::vector<std::string> issues;
  std::set<std::string> claimed;  // ONNX node names already given to a tandem node
  for (int k : order) {
    const pb::NodeProto& n = model_.graph().node(k);
    // The node's own name (reserved above) when it is its first use, else a fresh one.
    if (!n.name().empty() && claimed.insert(n.name()).second) cur_name_ = n.name();
    else cur_name_ = Unique(n.name().empty() ? n.op_type() + "_" + std::to_string(k) : n.name());
    bool poisoned = false;
    for (const std::string& in : n.input()) {
      auto it = in.empty() ? values_.end() : values_.find(in);
      poisoned |= it != values_.end() && it->second.poisoned;
    }
    if (!poisoned) {
      try {
        (this->*converters.at(n.op_type()))(n);
      } catch (const Unsupported& e) {
        issues.push_back(e.what());
        poisoned = true;
      }
    }
    for (int o = 0; o < n.output_size(); ++o) {
      if (n.output(o).empty()) continue;
      Value& v = values_[n.output(o)];
      if (poisoned) v.poisoned = true;
      else if (o == 0 && !v.sym && !v.cst && !v.pad) Throw<InternalError>(Desc(n), ": no output produced");
    }
  }
  std::vector<Symbol> heads;
  std::vector<std::string> output_names;
  std::set<std::string> seen_outputs;
  for (const pb::ValueInfoProto& out : model_.graph().output()) {
    if (!values_.count(out.name()))
      Throw<FormatError>(source_, ": graph output '", out.name(), "' is not produced by any node");
    if (values_[out.name()].poisoned) continue;
    if (!seen_outputs.insert(out.name()).second) continue;
    cur_name_ = out.name();
    heads.push_back(Sym(out.name()));
    output_names.push_back(out.name());
  }
  if (!issues.empty()) {
    const size_t kShow = 20;
    std::string list;
    for (size_t k = 0; k < issues.size() && k < kShow; ++k) list += "\n  " + issues[k];
    if (issues.size() > kShow) list += "\n  ... (" + std::to_string(issues.size() - kShow) + " more)";
    Throw<Unsupported>(source_, ": ", issues.size(), " node(s) cannot be imported:", list);
  }
  if (heads.empty()) Throw<FormatError>(source_, ": the graph has no outputs");

  Model m;
  m.symbol = Symbol::Group(heads);
  for (const std::string& name : m.symbol.ListInputs()) {
    auto it = params_.find(name);
    if (it != params_.end()) m.params[(aux_.count(name) ? "aux:" : "arg:") + name] = it->second;
  }
  // Graph inputs that no output depends on cannot be fed to a CachedOp: they are left out.
  std::set<std::string> read;
  for (const std::string& name : m.symbol.ListInputs()) read.insert(name);
  for (GraphInput& gi : inputs_)
    if (read.count(gi.name)) m.inputs.push_back(std::move(gi));
  m.output_names = std::move(output_names);
  m.ir_version = model_.ir_version();
  m.opset = opset_;
  m.producer = model_.producer_name();
  if (!model_.producer_version().empty()) m.producer += " " + model_.producer_version();
  return m;
}

std::string ReadFile(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) Throw<FormatError>(path, ": no such file");
  std::ifstream f(path, std::ios::binary);
  if (!f) Throw<FormatError>(path, ": cannot open the file");
  f.seekg(0, std::ios::end);
  const std::streamoff size = f.tellg();
  if (size < 0) Throw<FormatError>(path, ": cannot read the file");
  if (size > INT_MAX) Throw<Unsupported>(path, ": ", size, " bytes; protobuf reads files below 2 GiB only");
  f.seekg(0, std::ios::beg);
  std::string data(static_cast<size_t>(size), '\0');
  if (size && !f.read(data.data(), size)) Throw<FormatError>(path, ": read failed");
  return data;
}

template <class Message>
void Parse(Message& msg, const void* data, size_t size, const std::string& source, const char* what) {
  if (size > static_cast<size_t>(INT_MAX))
    Throw<Unsupported>(source, ": ", size, " bytes; protobuf reads ", what, "s below 2 GiB only");
  if (size > 0 && !data) Throw<InvalidArgument>(source, ": data is NULL");
  if (!msg.ParseFromArray(data, static_cast<int>(size)))
    Throw<FormatError>(source, ": not a valid ONNX ", what, " (protobuf parse failed: truncated or corrupt)");
}

}  // namespace

Model LoadFromBuffer(const void* data, size_t size, const LoadOptions& options, const std::string& source) {
  pb::ModelProto model;
  Parse(model, data, size, source, "model");
  try {
    return Importer(model, options, source).Run();
  } catch (const std::bad_alloc&) {
    Throw<OutOfMemory>(source, ": out of memory while importing the model");
  }
}

Model Load(const std::string& path, const LoadOptions& options) {
  const std::string data = ReadFile(path);
  return LoadFromBuffer(data.data(), data.size(), options, path);
}

NDArray LoadTensorFromBuffer(const void* data, size_t size, const std::string& source) {
  pb::TensorProto t;
  Parse(t, data, size, source, "tensor");
  return detail::TensorToNDArray(t, source);
}

NDArray LoadTensor(const std::string& path) {
  const std::string data = ReadFile(path);
  return LoadTensorFromBuffer(data.data(), data.size(), path);
}

void SaveTensor(const std::string& path, const NDArray& array, const std::string& name) {
  pb::TensorProto t;
  detail::NDArrayToTensor(array, name, &t);
  std::string bytes;
  if (!t.SerializeToString(&bytes)) Throw<InternalError>("SaveTensor: protobuf serialisation failed");
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f || !f.write(bytes.data(), static_cast<std::streamsize>(bytes.size())))
    Throw<InvalidArgument>("SaveTensor: cannot write '", path, "'");
}

}  // namespace tandem::onnx
