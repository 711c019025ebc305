// ResNet builders: MXNet's pre-activation ResNet (symbols/resnet.py) and torchvision's ResNet.
#include <map>
#include <string>
#include <vector>

#include "lib/zoo/builder.hpp"
#include "tandem/error.hpp"
#include "tandem/zoo.hpp"

namespace tandem::zoo {
namespace {

using detail::Node;
using detail::Pair;
using detail::Relu;

struct Layout {
  std::vector<int> units;    // residual units per stage
  std::vector<int> filters;  // stem, then each stage's output channels
  bool bottleneck = false;
};

// ---------------------------------------------------------------------------------------------
// ResNet v2, exactly as example/image-classification/symbols/resnet.py builds it for ImageNet.

Layout V2Layout(int depth) {
  static const std::map<int, std::vector<int>> kUnits = {
      {18, {2, 2, 2, 2}},  {34, {3, 4, 6, 3}},   {50, {3, 4, 6, 3}},    {101, {3, 4, 23, 3}},
      {152, {3, 8, 36, 3}}, {200, {3, 24, 36, 3}}, {269, {3, 30, 48, 8}}};
  auto it = kUnits.find(depth);
  if (it == kUnits.end())
    Throw<InvalidArgument>("ResNetV2: depth ", depth, " is not one of 18, 34, 50, 101, 152, 200, 269");
  if (depth >= 50) return {it->second, {64, 256, 512, 1024, 2048}, true};
  return {it->second, {64, 64, 128, 256, 512}, false};
}

const char* kWorkspace = "256";

Symbol V2BatchNorm(const std::string& name, const Symbol& x, bool fix_gamma = false) {
  return Node("BatchNorm", name,
              {{"fix_gamma", fix_gamma ? "True" : "False"}, {"eps", "2e-05"}, {"momentum", "0.9"}}, {x});
}

Symbol V2Conv(const std::string& name, const Symbol& x, int64_t filters, int64_t kernel,
              int64_t stride, int64_t pad) {
  AttrMap attrs = {{"num_filter", std::to_string(filters)}, {"kernel", Pair(kernel)},
                   {"stride", Pair(stride)}, {"no_bias", "True"}, {"workspace", kWorkspace}};
  if (pad >= 0) attrs["pad"] = Pair(pad);  // the shortcut convolution passes no pad
  return Node("Convolution", name, attrs, {x});
}

// residual_unit(): BN-ReLU-Conv twice (basic) or three times (bottleneck, 1x1-3x3-1x1 with a
// quarter of the channels), plus the identity or, when shapes change, a 1x1 projection of act1.
Symbol V2Unit(const Symbol& data, int64_t filters, int64_t stride, bool dim_match,
              const std::string& name, bool bottleneck, detail::AutoNamer& names) {
  Symbol act1 = Relu(name + "_relu1", V2BatchNorm(name + "_bn1", data));
  Symbol body;
  if (bottleneck) {
    const int64_t inner = filters / 4;
    Symbol conv1 = V2Conv(name + "_conv1", act1, inner, 1, 1, 0);
    Symbol act2 = Relu(name + "_relu2", V2BatchNorm(name + "_bn2", conv1));
    Symbol conv2 = V2Conv(name + "_conv2", act2, inner, 3, stride, 1);
    Symbol act3 = Relu(name + "_relu3", V2BatchNorm(name + "_bn3", conv2));
    body = V2Conv(name + "_conv3", act3, filters, 1, 1, 0);
  } else {
    Symbol conv1 = V2Conv(name + "_conv1", act1, filters, 3, stride, 1);
    Symbol act2 = Relu(name + "_relu2", V2BatchNorm(name + "_bn2", conv1));
    body = V2Conv(name + "_conv2", act2, filters, 3, 1, 1);
  }
  Symbol shortcut = dim_match ? data : V2Conv(name + "_sc", act1, filters, 1, stride, -1);
  // `conv + shortcut` in Python: the _Plus operator, saved as elemwise_add, auto-named _plusN.
  return Node("elemwise_add", names("_plus"), {}, {body, shortcut});
}

// ---------------------------------------------------------------------------------------------
// ResNet v1 in torchvision's layout (v1.5: a bottleneck's stride sits on its 3x3 convolution).

Layout V1Layout(int depth) {
  static const std::map<int, std::vector<int>> kUnits = {
      {18, {2, 2, 2, 2}}, {34, {3, 4, 6, 3}}, {50, {3, 4, 6, 3}}, {101, {3, 4, 23, 3}}, {152, {3, 8, 36, 3}}};
  auto it = kUnits.find(depth);
  if (it == kUnits.end())
    Throw<InvalidArgument>("ResNetV1: depth ", depth, " is not one of 18, 34, 50, 101, 152");
  if (depth >= 50) return {it->second, {64, 256, 512, 1024, 2048}, true};
  return {it->second, {64, 64, 128, 256, 512}, false};
}

Symbol V1BatchNorm(const std::string& name, const Symbol& x) {
  // torch.nn.BatchNorm2d: eps 1e-5, momentum 0.1 (MXNet's 0.9), learnable gamma.
  return Node("BatchNorm", name, {{"fix_gamma", "False"}, {"eps", "1e-05"}, {"momentum", "0.9"}}, {x});
}

Symbol V1Conv(const std::string& name, const Symbol& x, int64_t filters, int64_t kernel,
              int64_t stride, int64_t pad) {
  return Node("Convolution", name,
              {{"num_filter", std::to_string(filters)}, {"kernel", Pair(kernel)}, {"stride", Pair(stride)},
               {"pad", Pair(pad)}, {"no_bias", "True"}},
              {x});
}

// BasicBlock / Bottleneck; `name` is the module path ("layer2.0").
Symbol V1Block(const Symbol& data, int64_t filters, int64_t stride, bool downsample,
               const std::string& name, bool bottleneck) {
  Symbol x;
  if (bottleneck) {
    const int64_t inner = filters / 4;
    x = Relu(name + ".relu1", V1BatchNorm(name + ".bn1", V1Conv(name + ".conv1", data, inner, 1, 1, 0)));
    x = Relu(name + ".relu2", V1BatchNorm(name + ".bn2", V1Conv(name + ".conv2", x, inner, 3, stride, 1)));
    x = V1BatchNorm(name + ".bn3", V1Conv(name + ".conv3", x, filters, 1, 1, 0));
  } else {
    x = Relu(name + ".relu1", V1BatchNorm(name + ".bn1", V1Conv(name + ".conv1", data, filters, 3, stride, 1)));
    x = V1BatchNorm(name + ".bn2", V1Conv(name + ".conv2", x, filters, 3, 1, 1));
  }
  Symbol identity = data;
  if (downsample)
    identity = V1BatchNorm(name + ".downsample.1",
                           V1Conv(name + ".downsample.0", data, filters, 1, stride, 0));
  return Relu(name + ".relu_out", Node("elemwise_add", name + ".add", {}, {x, identity}));
}

}  // namespace

Symbol ResNetV2(int depth, int classes) {
  if (classes < 1) Throw<InvalidArgument>("ResNetV2: classes must be >= 1, got ", classes);
  const Layout layout = V2Layout(depth);
  detail::AutoNamer names;
  Symbol body = V2BatchNorm("bn_data", Symbol::Variable("data"), /*fix_gamma=*/true);
  body = V2Conv("conv0", body, layout.filters[0], 7, 2, 3);
  body = Relu("relu0", V2BatchNorm("bn0", body));
  body = Node("Pooling", names("pooling"),
              {{"kernel", Pair(3)}, {"stride", Pair(2)}, {"pad", Pair(1)}, {"pool_type", "max"}}, {body});
  for (size_t i = 0; i < layout.units.size(); ++i) {
    const int64_t stride = i == 0 ? 1 : 2;
    const std::string stage = "stage" + std::to_string(i + 1) + "_unit";
    body = V2Unit(body, layout.filters[i + 1], stride, false, stage + "1", layout.bottleneck, names);
    for (int j = 1; j < layout.units[i]; ++j)
      body = V2Unit(body, layout.filters[i + 1], 1, true, stage + std::to_string(j + 1),
                    layout.bottleneck, names);
  }
  body = Relu("relu1", V2BatchNorm("bn1", body));
  // resnet.py passes a kernel although global_pool ignores it; keep it for identical JSON.
  body = Node("Pooling", "pool1", {{"global_pool", "True"}, {"kernel", Pair(7)}, {"pool_type", "avg"}}, {body});
  body = Node("Flatten", names("flatten"), {}, {body});
  body = Node("FullyConnected", "fc1", {{"num_hidden", std::to_string(classes)}}, {body});
  return Node("SoftmaxOutput", "softmax", {}, {body});
}

Symbol ResNetV1(int depth, int classes) {
  if (classes < 1) Throw<InvalidArgument>("ResNetV1: classes must be >= 1, got ", classes);
  const Layout layout = V1Layout(depth);
  Symbol x = V1Conv("conv1", Symbol::Variable("data"), layout.filters[0], 7, 2, 3);
  x = Relu("relu", V1BatchNorm("bn1", x));
  x = Node("Pooling", "maxpool",
           {{"kernel", Pair(3)}, {"stride", Pair(2)}, {"pad", Pair(1)}, {"pool_type", "max"}}, {x});
  for (size_t i = 0; i < layout.units.size(); ++i) {
    const std::string layer = "layer" + std::to_string(i + 1) + ".";
    const int64_t stride = i == 0 ? 1 : 2;
    // torchvision adds a projection wherever the shape changes: always in layer1 of bottleneck
    // nets (64 -> 256 channels), never in layer1 of basic-block nets.
    const bool downsample = stride != 1 || layout.filters[i] != layout.filters[i + 1];
    x = V1Block(x, layout.filters[i + 1], stride, downsample, layer + "0", layout.bottleneck);
    for (int j = 1; j < layout.units[i]; ++j)
      x = V1Block(x, layout.filters[i + 1], 1, false, layer + std::to_string(j), layout.bottleneck);
  }
  x = Node("Pooling", "avgpool", {{"global_pool", "True"}, {"kernel", Pair(1)}, {"pool_type", "avg"}}, {x});
  x = Node("Flatten", "flatten", {}, {x});
  x = Node("FullyConnected", "fc", {{"num_hidden", std::to_string(classes)}}, {x});
  return Node("SoftmaxOutput", "softmax", {}, {x});
}

}  // namespace tandem::zoo
