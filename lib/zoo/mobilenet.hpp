// MobileNet v2 as Gluon's model zoo builds it (mxnet.gluon.model_zoo.vision.mobilenet_v2_1_0,
// GluonCV's mobilenetv2_1.0), node for node and with its parameter names, so a Gluon export
// (net.export(...) after hybridize) binds to this graph and files written from it load in MXNet.
//
// Compiled as part of names.cpp (lib/meson.build lists the zoo's .cpp files; this keeps that list
// as it is). Move it to a .cpp of its own together with a line there when convenient.
#pragma once

#include <string>
#include <vector>

#include "lib/zoo/builder.hpp"
#include "tandem/error.hpp"

namespace tandem::zoo::detail {

// Gluon names every block "<parent prefix><kind><counter>_" and every node "<block prefix>fwd";
// a block's parameters are "<block prefix>weight", "<block prefix>gamma", ... This builder keeps
// the per-prefix counters Gluon keeps.
class GluonScope {
 public:
  explicit GluonScope(std::string prefix) : prefix_(std::move(prefix)) {}
  // "<prefix><kind><n>", n counting per kind inside this scope, as Gluon's name manager: the name
  // of an operator called inside the block (F.elemwise_add -> "<prefix>elemwise_add0").
  std::string Name(const std::string& kind) { return prefix_ + names_(kind); }
  // "<prefix><kind><n>_": the prefix of a child block (conv0_, batchnorm0_, relu60_).
  std::string Child(const std::string& kind) { return Name(kind) + "_"; }
  const std::string& prefix() const { return prefix_; }

 private:
  std::string prefix_;
  AutoNamer names_;
};

// nn.Conv2D(channels, kernel, stride, pad, groups, use_bias=False) + nn.BatchNorm(scale=True)
// + (relu6 ? RELU6 : nothing), as mobilenet.py's _add_conv.
inline Symbol GluonConvBn(GluonScope& scope, const Symbol& x, int64_t channels, int64_t kernel,
                          int64_t stride, int64_t pad, int64_t groups, bool relu6) {
  const std::string conv = scope.Child("conv");
  Symbol y = Node("Convolution", conv + "fwd",
                  {{"dilate", "(1, 1)"}, {"kernel", Pair(kernel)}, {"layout", "NCHW"}, {"no_bias", "True"},
                   {"num_filter", std::to_string(channels)}, {"num_group", std::to_string(groups)},
                   {"pad", Pair(pad)}, {"stride", Pair(stride)}},
                  {x, Symbol::Variable(conv + "weight")});
  const std::string bn = scope.Child("batchnorm");
  y = Node("BatchNorm", bn + "fwd",
           {{"axis", "1"}, {"eps", "1e-05"}, {"fix_gamma", "False"}, {"momentum", "0.9"},
            {"use_global_stats", "False"}},
           {y, Symbol::Variable(bn + "gamma"), Symbol::Variable(bn + "beta"),
            Symbol::Variable(bn + "running_mean"), Symbol::Variable(bn + "running_var")});
  if (relu6) {
    // RELU6 is a HybridBlock whose hybrid_forward calls F.clip(x, 0, 6, name="relu6").
    y = Node("clip", scope.Child("relu6") + "relu6", {{"a_max", "6"}, {"a_min", "0"}}, {y});
  }
  return y;
}

// LinearBottleneck(in_channels, channels, t, stride): 1x1 expansion (absent when t == 1), 3x3
// depthwise, 1x1 linear projection; identity shortcut when stride 1 and channels unchanged.
inline Symbol GluonLinearBottleneck(GluonScope& features, const Symbol& x, int64_t in_channels,
                                    int64_t channels, int64_t t, int64_t stride) {
  GluonScope block(features.Child("linearbottleneck"));
  const int64_t inner = in_channels * t;
  Symbol y = x;
  if (t != 1) y = GluonConvBn(block, y, inner, 1, 1, 0, 1, true);
  y = GluonConvBn(block, y, inner, 3, stride, 1, inner, true);
  y = GluonConvBn(block, y, channels, 1, 1, 0, 1, false);
  if (stride == 1 && in_channels == channels)
    y = Node("elemwise_add", block.Name("elemwise_add"), {}, {y, x});
  return y;
}

// The whole network, "mobilenetv20_" prefix as the first MobileNetV2 a Gluon process creates.
// Ends in SoftmaxOutput("softmax") over Gluon's output (the zoo's convention; Gluon's export ends
// at the Flatten "mobilenetv20_output_flatten0_flatten0", whose output is the logits).
inline Symbol BuildMobileNetV2(double multiplier, int classes) {
  if (classes < 1) Throw<InvalidArgument>("MobileNetV2: classes must be >= 1, got ", classes);
  if (!(multiplier > 0)) Throw<InvalidArgument>("MobileNetV2: multiplier must be > 0, got ", multiplier);
  auto scaled = [multiplier](int64_t c) { return static_cast<int64_t>(c * multiplier); };
  std::vector<int64_t> in_channels = {32, 16, 24, 24, 32, 32, 32, 64, 64, 64, 64, 96, 96, 96, 160, 160, 160};
  std::vector<int64_t> channels = {16, 24, 24, 32, 32, 32, 64, 64, 64, 64, 96, 96, 96, 160, 160, 160, 320};
  const std::vector<int64_t> strides = {1, 2, 1, 2, 1, 1, 2, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1};
  for (auto& c : in_channels) c = scaled(c);
  for (auto& c : channels) c = scaled(c);

  GluonScope features("mobilenetv20_features_");
  Symbol x = GluonConvBn(features, Symbol::Variable("data"), scaled(32), 3, 2, 1, 1, true);
  for (size_t i = 0; i < strides.size(); ++i)
    x = GluonLinearBottleneck(features, x, in_channels[i], channels[i], i == 0 ? 1 : 6, strides[i]);
  const int64_t last = multiplier > 1.0 ? scaled(1280) : 1280;
  x = GluonConvBn(features, x, last, 1, 1, 0, 1, true);
  x = Node("Pooling", features.Child("pool") + "fwd",
           {{"global_pool", "True"}, {"kernel", "(1, 1)"}, {"layout", "NCHW"}, {"pad", "(0, 0)"},
            {"pool_type", "avg"}, {"pooling_convention", "full"}, {"stride", "(1, 1)"}},
           {x});

  GluonScope output("mobilenetv20_output_");
  const std::string pred = "mobilenetv20_output_pred_";
  x = Node("Convolution", pred + "fwd",
           {{"dilate", "(1, 1)"}, {"kernel", "(1, 1)"}, {"layout", "NCHW"}, {"no_bias", "True"},
            {"num_filter", std::to_string(classes)}, {"num_group", "1"}, {"pad", "(0, 0)"},
            {"stride", "(1, 1)"}},
           {x, Symbol::Variable(pred + "weight")});
  x = Node("Flatten", output.Child("flatten") + "flatten0", {}, {x});
  return Node("SoftmaxOutput", "softmax", {}, {x});
}

}  // namespace tandem::zoo::detail
