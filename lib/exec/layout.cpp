// The channels-last pass (see layout.hpp): one copy of the graph in topological order, deciding
// node by node whether it runs NHWC, with transposes at the borders.
#include "lib/exec/layout.hpp"

#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "lib/exec/graph_edit.hpp"
#include "lib/ops/params.hpp"

namespace tandem::detail {
namespace {

constexpr const char* kToNhwcAxes = "(0, 2, 3, 1)";
constexpr const char* kToNchwAxes = "(0, 3, 1, 2)";

// Where axis `axis` (possibly negative) of a 4-D NCHW tensor is in NHWC; -1 when out of range
// (then the node stays as written, and shape inference reports its error).
int NhwcAxis(int64_t axis) {
  static const int kPosition[] = {0, 3, 1, 2};
  if (axis < -4 || axis > 3) return -1;
  return kPosition[axis < 0 ? axis + 4 : axis];
}

bool IsUnaryElementwise(const Node& n) {
  return n.op->IsElementwise(OpSchema::Elementwise::kUnary, n.params);
}

bool IsElemwise(const Node& n) {
  return n.op->IsElementwise(OpSchema::Elementwise::kBinary, n.params);
}

bool IsBroadcast(const Node& n) {
  return n.op->IsElementwise(OpSchema::Elementwise::kBroadcast, n.params);
}

// `weight` (F, C/g, kh, kw) as (F, kh, kw, C/g), in a new array.
NDArray ToOhwi(const NDArray& weight) {
  const Shape& s = weight.shape();
  const int64_t filters = s[0], channels = s[1], height = s[2], width = s[3];
  NDArray out(Shape{filters, height, width, channels});
  // Read in place when the array is in host memory: a weight-sized temporary freed at once
  // raises malloc's mmap threshold (see FoldBatchNorm in rewrite.cpp).
  std::vector<float> device_copy;
  if (!weight.ctx().is_cpu()) device_copy = weight.ToVector<float>();
  const float* src = weight.ctx().is_cpu() ? weight.data<float>() : device_copy.data();
  float* dst = out.data<float>();
  for (int64_t f = 0; f < filters; ++f)
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t h = 0; h < height; ++h)
        for (int64_t w = 0; w < width; ++w)
          dst[((f * height + h) * width + w) * channels + c] =
              src[((f * channels + c) * height + h) * width + w];
  return out;
}

class ChannelsLast {
 public:
  explicit ChannelsLast(std::map<std::string, NDArray>& params) : params_(params) {}

  Symbol Run(const Symbol& symbol) {
    for (const NodePtr& n : symbol.TopoNodes()) {
      if (n->is_variable()) {
        remap_.Replace(n.get(), n);
        continue;
      }
      NodePtr nhwc = n->num_outputs() == 1 ? Convert(*n) : nullptr;
      if (nhwc) {
        nhwc_.insert(nhwc.get());
        ++converted_;
      }
      remap_.Replace(n.get(), nhwc ? nhwc : AsWritten(n));
    }
    std::vector<NodeEntry> heads;
    for (const NodeEntry& e : symbol.outputs()) heads.push_back(Nchw(remap_(e)));
    return Symbol(std::move(heads));
  }
  int converted() const { return converted_; }

 private:
  bool IsNhwc(const NodeEntry& e) const { return e.index == 0 && nhwc_.count(e.node.get()); }

  // `n` unchanged but reading NCHW inputs (a transpose back for those that are NHWC now).
  NodePtr AsWritten(const NodePtr& n) {
    std::vector<NodeEntry> inputs;
    bool changed = false;
    for (const NodeEntry& e : n->inputs) {
      inputs.push_back(Nchw(remap_(e)));
      changed |= inputs.back().node != e.node || inputs.back().index != e.index;
    }
    return changed ? WithInputs(*n, std::move(inputs)) : n;
  }

  // The NHWC version of `n`, or nullptr when it stays NCHW.
  NodePtr Convert(const Node& n) {
    if (IsOp(n, "Convolution")) return Convolution(n);
    if (IsOp(n, "Pooling")) return Pooling(n);
    std::vector<NodeEntry> in;
    for (const NodeEntry& e : n.inputs) in.push_back(remap_(e));
    if (in.empty()) return nullptr;
    bool nhwc = false;
    if (IsUnaryElementwise(n)) nhwc = in.size() == 1 && IsNhwc(in[0]);
    if (IsElemwise(n) || IsBroadcast(n))
      nhwc = in.size() == 2 && BinaryStaysNhwc(in, IsBroadcast(n));
    if (nhwc) return WithInputs(n, std::move(in));
    if (IsOp(n, "BatchNorm")) return BatchNorm(n, in);
    if (IsOp(n, "Concat")) return Concat(n, in);
    if (IsOp(n, "Pad")) return Pad(n, in);
    return nullptr;
  }

  // Pad of NHWC data (TF "SAME" padding before a convolution, EfficientNet): the same widths,
  // moved with their axes; the node is told its channel axis is last.
  NodePtr Pad(const Node& n, const std::vector<NodeEntry>& in) {
    if (in.size() != 1 || !IsNhwc(in[0])) return nullptr;
    // (Parsed already when the node was made: this cannot throw.)
    const std::vector<int64_t> widths = AttrReader(n.attrs, n.op->name, n.name).Tuple("pad_width");
    if (widths.size() != 8) return nullptr;  // 4-D only (NHWC is 4-D); errors stay as written
    std::vector<int64_t> moved(8);
    static const int kFrom[] = {0, 2, 3, 1};  // NHWC axis i is NCHW axis kFrom[i]
    for (int i = 0; i < 4; ++i) {
      moved[2 * i] = widths[2 * kFrom[i]];
      moved[2 * i + 1] = widths[2 * kFrom[i] + 1];
    }
    AttrMap attrs = n.attrs;
    attrs["pad_width"] = Shape(moved).ToString();
    attrs[ops::kChannelsLastAttr] = "True";
    return Rebuilt(n, std::move(attrs), in);
  }

  // An element-wise op of two NHWC tensors computes the NHWC version of its NCHW result (both
  // are 4-D, so a broadcast pairs the same axes); so does a broadcast with a one-element
  // parameter of at most 4 dims, which broadcasts the same way in any layout.
  bool BinaryStaysNhwc(const std::vector<NodeEntry>& in, bool broadcast) const {
    if (IsNhwc(in[0]) && IsNhwc(in[1])) return true;
    if (!broadcast) return false;
    for (int i : {0, 1}) {
      const NDArray* other = ParamOf(in[1 - i], params_);
      if (IsNhwc(in[i]) && other && other->shape().Size() == 1 && other->shape().ndim() <= 4)
        return true;
    }
    return false;
  }

  NodePtr Convolution(const Node& n) {
    const auto& p = ParamsAs<ops::ConvParams>(n.params);
    if (p.kernel.size() != 2 || p.channels_last || n.inputs.size() != p.num_inputs())
      return nullptr;
    const NDArray* weight = ParamOf(n.inputs[1], params_);
    // A weight that does not fit stays as written, so that planning names its shape as given.
    if (!weight || weight->shape().ndim() != 4 || weight->shape()[0] != p.num_filter ||
        weight->shape()[2] != p.kernel[0] || weight->shape()[3] != p.kernel[1])
      return nullptr;
    std::vector<NodeEntry> inputs = {Nhwc(remap_(n.inputs[0])),
                                     {TransposedWeight(*n.inputs[1].node, *weight), 0}};
    if (!p.no_bias) inputs.push_back(Nchw(remap_(n.inputs[2])));  // (F): any layout
    if (p.fused_sum) inputs.push_back(Nhwc(remap_(n.inputs[p.residual_input()])));
    AttrMap attrs = n.attrs;
    attrs["layout"] = "NHWC";
    return Rebuilt(n, std::move(attrs), std::move(inputs));
  }

  NodePtr Pooling(const Node& n) {
    const auto& p = ParamsAs<ops::PoolingParams>(n.params);
    const NodeEntry data = remap_(n.inputs.at(0));
    // A global pool without a kernel takes any rank: only a tensor already NHWC is known 4-D.
    const bool four_d = p.kernel.size() == 2 || (p.kernel.empty() && IsNhwc(data));
    if (!four_d || p.channels_last || n.inputs.size() != 1) return nullptr;
    AttrMap attrs = n.attrs;
    attrs["layout"] = "NHWC";
    return Rebuilt(n, std::move(attrs), {Nhwc(data)});
  }

  NodePtr BatchNorm(const Node& n, const std::vector<NodeEntry>& in) {
    const int axis = NhwcAxis(ParamsAs<ops::BatchNormParams>(n.params).axis);
    if (!IsNhwc(in[0]) || axis < 0) return nullptr;
    std::vector<NodeEntry> inputs = {in[0]};
    for (size_t i = 1; i < in.size(); ++i) inputs.push_back(Nchw(in[i]));  // the (C) vectors
    AttrMap attrs = n.attrs;
    attrs["axis"] = std::to_string(axis);
    return Rebuilt(n, std::move(attrs), std::move(inputs));
  }

  NodePtr Concat(const Node& n, const std::vector<NodeEntry>& in) {
    const int dim = NhwcAxis(ParamsAs<ops::ConcatParams>(n.params).dim);
    for (const NodeEntry& e : in)
      if (!IsNhwc(e)) return nullptr;
    if (dim < 0) return nullptr;
    AttrMap attrs = n.attrs;
    attrs["dim"] = std::to_string(dim);
    return Rebuilt(n, std::move(attrs), in);
  }

  // The OHWI parameter for weight variable `var`, made once per variable (a weight shared by
  // several convolutions stays shared).
  NodePtr TransposedWeight(const Node& var, const NDArray& weight) {
    NodePtr& v = weights_[&var];
    if (!v) {
      const std::string name = FreshName(var.name + "_ohwi", params_);
      params_[name] = ToOhwi(weight);
      v = Variable(name);
    }
    return v;
  }

  NodeEntry Nhwc(const NodeEntry& e) {
    if (IsNhwc(e)) return e;
    NodeEntry& t = to_nhwc_[Key(e)];
    if (!t.node) {
      t = Transpose(e, kToNhwcAxes, "_nhwc");
      nhwc_.insert(t.node.get());
    }
    return t;
  }

  NodeEntry Nchw(const NodeEntry& e) {
    if (!IsNhwc(e)) return e;
    NodeEntry& t = to_nchw_[Key(e)];
    if (!t.node) t = Transpose(e, kToNchwAxes, "_nchw");
    return t;
  }

  static NodeEntry Transpose(const NodeEntry& e, const char* axes, const char* suffix) {
    std::string name = e.node->name + suffix;
    if (e.index != 0) name += std::to_string(e.index);
    return Symbol::CreateOp("Transpose", name, {{"axes", axes}},
                            {Symbol(std::vector<NodeEntry>{e})})
        .outputs()[0];
  }

  using EntryKey = std::pair<const Node*, uint32_t>;
  static EntryKey Key(const NodeEntry& e) { return {e.node.get(), e.index}; }

  std::map<std::string, NDArray>& params_;
  Remap remap_;
  std::unordered_set<const Node*> nhwc_;             // new nodes whose output 0 is NHWC
  std::map<EntryKey, NodeEntry> to_nhwc_, to_nchw_;  // entry -> its transpose
  std::unordered_map<const Node*, NodePtr> weights_;
  int converted_ = 0;
};

}  // namespace

Symbol ToChannelsLast(const Symbol& symbol, std::map<std::string, NDArray>& params,
                      int* converted_nodes) {
  ChannelsLast pass(params);
  Symbol out = pass.Run(symbol);
  DropUnusedParams(out, params);
  *converted_nodes = pass.converted();
  return out;
}

// ---- the blocked-activation pass ----

namespace {

// The channels of a channels-last 2-D Convolution whose data and output may be blocked: its OHWI
// weight is a parameter, and it is ungrouped or depthwise (the groups oneDNN's blocked kernels
// run fast; other group counts keep NHWC).
struct ConvChannels {
  int64_t in = 0, out = 0;
  int64_t stride_area = 1;  // input positions per output position
  bool depthwise = false;
};
std::optional<ConvChannels> BlockableConv(const Node& n, const std::map<std::string, NDArray>& params) {
  if (!IsOp(n, "Convolution")) return std::nullopt;
  const auto& p = ParamsAs<ops::ConvParams>(n.params);
  if (!p.channels_last || p.kernel.size() != 2 || n.inputs.size() != p.num_inputs()) return std::nullopt;
  const NDArray* weight = ParamOf(n.inputs[1], params);
  if (!weight || weight->shape().ndim() != 4 || weight->shape()[0] != p.num_filter) return std::nullopt;
  const int64_t in = weight->shape()[3] * p.num_group;
  const bool depthwise = p.num_group == in && p.num_group == p.num_filter;
  if (p.num_group != 1 && !depthwise) return std::nullopt;
  return ConvChannels{in, p.num_filter, p.stride[0] * p.stride[1], depthwise};
}

}  // namespace

Symbol ToBlockedConvChains(const Symbol& symbol, const std::map<std::string, NDArray>& params,
                           int* blocked_tensors) {
  const std::vector<NodePtr> nodes = symbol.TopoNodes();
  std::unordered_map<const Node*, std::vector<std::pair<const Node*, size_t>>> readers;  // (node, slot)
  for (const NodePtr& n : nodes)
    for (size_t i = 0; i < n->inputs.size(); ++i) readers[n->inputs[i].node.get()].push_back({n.get(), i});
  std::unordered_set<const Node*> heads;
  for (const NodeEntry& e : symbol.outputs()) heads.insert(e.node.get());
  std::unordered_map<const Node*, ConvChannels> convs;  // the blockable convolutions
  for (const NodePtr& n : nodes)
    if (const std::optional<ConvChannels> conv = BlockableConv(*n, params)) convs.emplace(n.get(), *conv);

  // A convolution's output goes blocked when every reader is a blockable convolution reading it as
  // its data (not as a residual, which the sum post-op needs in the output's layout), it fills
  // whole 16-channel blocks, it is not a graph output, and the writer or a reader is depthwise.
  // That last condition keeps the gains where they are: the blocked depthwise and narrow 1x1
  // kernels of MobileNet-like blocks gain 30-50 %, and those blocks copy only their narrow ends
  // (24 channels around 144) in and out of the blocked layout; ResNet's bottlenecks gain a few
  // percent and would copy their wide ends (256 channels around 64): -9 % at batch 16. A
  // producer with fewer than 16 input channels (an RGB stem) stays NHWC: its blocked kernel
  // would read a padded 16-channel copy.
  std::unordered_set<const Node*> out_blocked, in_blocked;
  for (const auto& [n, conv] : convs) {
    if (conv.in < 16 || conv.out % 16 != 0 || heads.count(n) || ParamsAs<ops::ConvParams>(n->params).fused_sum)
      continue;
    const auto& reads = readers[n];
    bool all_convs = !reads.empty(), depthwise = conv.depthwise;
    for (const auto& [reader, slot] : reads) {
      const auto next = convs.find(reader);
      all_convs &= slot == 0 && next != convs.end();
      depthwise |= next != convs.end() && next->second.depthwise;
    }
    if (all_convs && depthwise) out_blocked.insert(n);
  }
  // A convolution with one side blocked and the other not copies that other side through a
  // blocked buffer. Such a copy is worth it only at a chain's narrow end (MobileNet's 24 channels
  // into 144): a tensor stays blocked only while each copy it causes moves at most half the
  // elements of the blocked side (EfficientNet's stride-2 depthwise layers read their input from
  // a Pad, as wide as their output and 4 times its positions, so they stay NHWC).
  auto narrow = [](int64_t copied, int64_t blocked) { return 2 * copied <= blocked; };
  for (bool changed = true; changed;) {
    changed = false;
    for (auto it = out_blocked.begin(); it != out_blocked.end();) {
      const Node* n = *it;
      const ConvChannels& conv = convs.at(n);
      bool keep = out_blocked.count(n->inputs[0].node.get()) ||
                  narrow(conv.in * conv.stride_area, conv.out);
      for (const auto& [reader, slot] : readers[n]) {
        const ConvChannels& next = convs.at(reader);
        keep &= out_blocked.count(reader) || narrow(next.out, next.in * next.stride_area);
      }
      if (keep) {
        ++it;
      } else {
        it = out_blocked.erase(it);
        changed = true;
      }
    }
  }
  for (const Node* n : out_blocked)
    for (const auto& [reader, slot] : readers[n]) in_blocked.insert(reader);
  *blocked_tensors = static_cast<int>(out_blocked.size());
  if (out_blocked.empty()) return symbol;

  Remap remap;
  for (const NodePtr& n : nodes) {
    if (n->is_variable() || (!out_blocked.count(n.get()) && !in_blocked.count(n.get()))) {
      remap.Replace(n.get(), n->is_variable() ? n : remap.Inputs(n));
      continue;
    }
    AttrMap attrs = n->attrs;
    if (out_blocked.count(n.get())) attrs[ops::kBlockedOutAttr] = "True";
    if (in_blocked.count(n.get())) attrs[ops::kBlockedInAttr] = "True";
    std::vector<NodeEntry> inputs;
    for (const NodeEntry& e : n->inputs) inputs.push_back(remap(e));
    remap.Replace(n.get(), Rebuilt(*n, std::move(attrs), std::move(inputs)));
  }
  return remap.Heads(symbol);
}

}  // namespace tandem::detail
