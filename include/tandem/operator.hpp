// tandem/operator.hpp — building graphs in C++, in MXNet cpp-package style.
//
// Two ways: the generic fluent builder, which works for every registered operator (custom ones
// too),
//   Symbol conv = Operator("Convolution").SetParam("kernel", Shape{3, 3}).SetParam("num_filter", 16)
//                     .SetInput("data", data).CreateSymbol("conv0");
// and typed helpers in namespace tandem::op for the built-in operators,
//   Symbol conv = op::Convolution("conv0", data, {.kernel = {3, 3}, .num_filter = 16});
// Weights, biases and BatchNorm statistics that are not given become variables named
// "<node>_weight", "<node>_bias", "<node>_moving_mean", ... exactly as MXNet names them, so
// parameter files written by MXNet bind to graphs built here.
//
// Thread safety: builders are plain values used by one thread; the Symbols they make are immutable.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "tandem/shape.hpp"
#include "tandem/symbol.hpp"

namespace tandem {

namespace detail {
inline std::string AttrString(const std::string& v) { return v; }
inline std::string AttrString(const char* v) { return v; }
inline std::string AttrString(bool v) { return v ? "True" : "False"; }
inline std::string AttrString(const Shape& s) {
  std::string out = "(";
  for (int i = 0; i < s.ndim(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + ")";
}
inline std::string AttrString(const std::vector<int64_t>& v) { return AttrString(Shape(v)); }
template <class T>
std::string AttrString(const T& v) {
  std::ostringstream os;
  os.precision(17);
  os << v;
  return os.str();
}
inline std::string AutoName(const std::string& op) {
  static std::atomic<uint64_t> counter{0};
  std::string lower;
  for (char c : op) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower + std::to_string(counter++);
}
}  // namespace detail

class Operator {
 public:
  explicit Operator(std::string op_name) : op_(std::move(op_name)) {}

  template <class T>
  Operator& SetParam(const std::string& key, const T& value) {
    attrs_[key] = detail::AttrString(value);
    return *this;
  }
  // Binds an input by argument name ("data", "weight", "gamma", ...).
  Operator& SetInput(const std::string& argument, const Symbol& s) {
    named_[argument] = s;
    return *this;
  }
  // Appends a positional input.
  Operator& operator()(const Symbol& s) {
    positional_.push_back(s);
    return *this;
  }
  Operator& PushInput(const Symbol& s) { return (*this)(s); }

  Symbol CreateSymbol(const std::string& name = "") const {
    const std::string node = name.empty() ? detail::AutoName(op_) : name;
    const OpSchema* schema = FindOp(op_);
    if (!schema) Throw<Unsupported>("Operator: unknown operator '", op_, "'");
    std::any params = schema->parse(AttrReader(attrs_, schema->name, node));
    std::vector<std::string> args = schema->arguments(params);
    std::vector<std::string> aux = schema->aux_states(params);
    args.insert(args.end(), aux.begin(), aux.end());
    std::vector<Symbol> inputs = positional_;
    for (size_t i = inputs.size(); i < args.size(); ++i) {
      auto it = named_.find(args[i]);
      inputs.push_back(it != named_.end() ? it->second : Symbol::Variable(node + "_" + args[i]));
    }
    for (const auto& [arg, s] : named_)
      if (std::find(args.begin(), args.end(), arg) == args.end())
        Throw<InvalidArgument>("Operator ", op_, ": no argument named '", arg, "'");
    return Symbol::CreateOp(op_, node, attrs_, inputs);
  }
  operator Symbol() const { return CreateSymbol(); }

 private:
  std::string op_;
  AttrMap attrs_;
  std::map<std::string, Symbol> named_;
  std::vector<Symbol> positional_;
};

// Typed builders for the built-in operators. Optional fields left unset take MXNet's defaults.
namespace op {

struct ConvolutionOptions {
  Shape kernel;
  int64_t num_filter = 0;
  Shape stride, pad, dilate;
  int64_t num_group = 1;
  bool no_bias = false;
};
inline Symbol Convolution(const std::string& name, const Symbol& data, const ConvolutionOptions& o) {
  Operator b("Convolution");
  b.SetParam("kernel", o.kernel).SetParam("num_filter", o.num_filter).SetParam("num_group", o.num_group)
      .SetParam("no_bias", o.no_bias);
  if (o.stride.ndim()) b.SetParam("stride", o.stride);
  if (o.pad.ndim()) b.SetParam("pad", o.pad);
  if (o.dilate.ndim()) b.SetParam("dilate", o.dilate);
  return b(data).CreateSymbol(name);
}

struct BatchNormOptions {
  double eps = 1e-3;
  double momentum = 0.9;
  bool fix_gamma = true;
};
inline Symbol BatchNorm(const std::string& name, const Symbol& data, const BatchNormOptions& o = {}) {
  return Operator("BatchNorm").SetParam("eps", o.eps).SetParam("momentum", o.momentum)
      .SetParam("fix_gamma", o.fix_gamma)(data).CreateSymbol(name);
}

struct ActivationOptions {
  std::string act_type = "relu";
};
inline Symbol Activation(const std::string& name, const Symbol& data, const ActivationOptions& o = {}) {
  return Operator("Activation").SetParam("act_type", o.act_type)(data).CreateSymbol(name);
}

struct LeakyReLUOptions {
  std::string act_type = "leaky";
  double slope = 0.25;
};
inline Symbol LeakyReLU(const std::string& name, const Symbol& data, const LeakyReLUOptions& o = {}) {
  return Operator("LeakyReLU").SetParam("act_type", o.act_type).SetParam("slope", o.slope)(data)
      .CreateSymbol(name);
}

struct PoolingOptions {
  Shape kernel;
  std::string pool_type = "max";
  Shape stride, pad;
  bool global_pool = false;
  std::string pooling_convention = "valid";
};
inline Symbol Pooling(const std::string& name, const Symbol& data, const PoolingOptions& o) {
  Operator b("Pooling");
  b.SetParam("pool_type", o.pool_type).SetParam("global_pool", o.global_pool)
      .SetParam("pooling_convention", o.pooling_convention);
  if (o.kernel.ndim()) b.SetParam("kernel", o.kernel);
  if (o.stride.ndim()) b.SetParam("stride", o.stride);
  if (o.pad.ndim()) b.SetParam("pad", o.pad);
  return b(data).CreateSymbol(name);
}

struct FullyConnectedOptions {
  int64_t num_hidden = 0;
  bool no_bias = false;
  bool flatten = true;
};
inline Symbol FullyConnected(const std::string& name, const Symbol& data, const FullyConnectedOptions& o) {
  return Operator("FullyConnected").SetParam("num_hidden", o.num_hidden).SetParam("no_bias", o.no_bias)
      .SetParam("flatten", o.flatten)(data).CreateSymbol(name);
}

inline Symbol Flatten(const Symbol& data, const std::string& name = "") {
  return Operator("Flatten")(data).CreateSymbol(name);
}
inline Symbol Flatten(const std::string& name, const Symbol& data) { return Flatten(data, name); }

// The label input becomes the variable "<name>_label", as in MXNet ("softmax_label").
inline Symbol SoftmaxOutput(const std::string& name, const Symbol& data) {
  return Operator("SoftmaxOutput")(data).CreateSymbol(name);
}
inline Symbol softmax(const std::string& name, const Symbol& data, int axis = -1) {
  return Operator("softmax").SetParam("axis", axis)(data).CreateSymbol(name);
}
inline Symbol elemwise_add(const std::string& name, const Symbol& lhs, const Symbol& rhs) {
  return Operator("elemwise_add")(lhs)(rhs).CreateSymbol(name);
}
inline Symbol Concat(const std::string& name, const std::vector<Symbol>& inputs, int dim = 1) {
  Operator b("Concat");
  b.SetParam("num_args", inputs.size()).SetParam("dim", dim);
  for (const Symbol& s : inputs) b(s);
  return b.CreateSymbol(name);
}
inline Symbol Reshape(const std::string& name, const Symbol& data, const std::vector<int64_t>& shape) {
  return Operator("Reshape").SetParam("shape", shape)(data).CreateSymbol(name);
}
inline Symbol Dropout(const std::string& name, const Symbol& data, double p = 0.5) {
  return Operator("Dropout").SetParam("p", p)(data).CreateSymbol(name);
}

}  // namespace op
}  // namespace tandem
