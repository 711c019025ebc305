// Inception-BN, as example/image-classification/symbols/inception-bn.py builds it for 224x224.
#include <string>
#include <vector>

#include "lib/zoo/builder.hpp"
#include "tandem/error.hpp"
#include "tandem/zoo.hpp"

namespace tandem::zoo {
namespace {

using detail::Node;
using detail::Pair;

// str(1e-10 + 1e-5) in Python: cuDNN needs eps >= 1e-5, hence the odd value.
const char* kEps = "1.0000100000000001e-05";

// ConvFactory(): conv (with bias) - BN - ReLU, named conv_/bn_/relu_<name><suffix>.
Symbol ConvFactory(const Symbol& data, int64_t filters, int64_t kernel, int64_t stride, int64_t pad,
                   const std::string& name, const std::string& suffix = "") {
  const std::string id = name + suffix;
  Symbol conv = Node("Convolution", "conv_" + id,
                     {{"num_filter", std::to_string(filters)}, {"kernel", Pair(kernel)},
                      {"stride", Pair(stride)}, {"pad", Pair(pad)}},
                     {data});
  Symbol bn = Node("BatchNorm", "bn_" + id, {{"fix_gamma", "False"}, {"eps", kEps}, {"momentum", "0.9"}}, {conv});
  return Node("Activation", "relu_" + id, {{"act_type", "relu"}}, {bn});
}

Symbol Pool(const std::string& name, const Symbol& data, int64_t kernel, int64_t stride, int64_t pad,
            const std::string& type) {
  AttrMap attrs = {{"kernel", Pair(kernel)}, {"stride", Pair(stride)}, {"pool_type", type}};
  if (pad >= 0) attrs["pad"] = Pair(pad);
  return Node("Pooling", name, attrs, {data});
}

Symbol ChannelConcat(const std::string& name, const std::vector<Symbol>& parts) {
  return Node("Concat", "ch_concat_" + name + "_chconcat", {{"num_args", std::to_string(parts.size())}}, parts);
}

// InceptionFactoryA: 1x1 | 1x1-3x3 | 1x1-3x3-3x3 | pool-1x1, concatenated.
Symbol InceptionA(const Symbol& data, int64_t n1x1, int64_t n3x3red, int64_t n3x3, int64_t nd3x3red,
                  int64_t nd3x3, const std::string& pool, int64_t proj, const std::string& name) {
  Symbol c1x1 = ConvFactory(data, n1x1, 1, 1, 0, name + "_1x1");
  Symbol c3x3r = ConvFactory(data, n3x3red, 1, 1, 0, name + "_3x3", "_reduce");
  Symbol c3x3 = ConvFactory(c3x3r, n3x3, 3, 1, 1, name + "_3x3");
  Symbol cd3x3r = ConvFactory(data, nd3x3red, 1, 1, 0, name + "_double_3x3", "_reduce");
  Symbol cd3x3 = ConvFactory(cd3x3r, nd3x3, 3, 1, 1, name + "_double_3x3_0");
  cd3x3 = ConvFactory(cd3x3, nd3x3, 3, 1, 1, name + "_double_3x3_1");
  Symbol pooling = Pool(pool + "_pool_" + name + "_pool", data, 3, 1, 1, pool);
  Symbol cproj = ConvFactory(pooling, proj, 1, 1, 0, name + "_proj");
  return ChannelConcat(name, {c1x1, c3x3, cd3x3, cproj});
}

// InceptionFactoryB: the grid reduction (stride 2) module.
Symbol InceptionB(const Symbol& data, int64_t n3x3red, int64_t n3x3, int64_t nd3x3red, int64_t nd3x3,
                  const std::string& name) {
  Symbol c3x3r = ConvFactory(data, n3x3red, 1, 1, 0, name + "_3x3", "_reduce");
  Symbol c3x3 = ConvFactory(c3x3r, n3x3, 3, 2, 1, name + "_3x3");
  Symbol cd3x3r = ConvFactory(data, nd3x3red, 1, 1, 0, name + "_double_3x3", "_reduce");
  Symbol cd3x3 = ConvFactory(cd3x3r, nd3x3, 3, 1, 1, name + "_double_3x3_0");
  cd3x3 = ConvFactory(cd3x3, nd3x3, 3, 2, 1, name + "_double_3x3_1");
  Symbol pooling = Pool("max_pool_" + name + "_pool", data, 3, 2, 1, "max");
  return ChannelConcat(name, {c3x3, cd3x3, pooling});
}

}  // namespace

Symbol InceptionBN(int classes) {
  if (classes < 1) Throw<InvalidArgument>("InceptionBN: classes must be >= 1, got ", classes);
  Symbol x = ConvFactory(Symbol::Variable("data"), 64, 7, 2, 3, "1");
  x = Pool("pool_1", x, 3, 2, -1, "max");
  x = ConvFactory(x, 64, 1, 1, 0, "2_red");
  x = ConvFactory(x, 192, 3, 1, 1, "2");
  x = Pool("pool_2", x, 3, 2, -1, "max");
  x = InceptionA(x, 64, 64, 64, 64, 96, "avg", 32, "3a");
  x = InceptionA(x, 64, 64, 96, 64, 96, "avg", 64, "3b");
  x = InceptionB(x, 128, 160, 64, 96, "3c");
  x = InceptionA(x, 224, 64, 96, 96, 128, "avg", 128, "4a");
  x = InceptionA(x, 192, 96, 128, 96, 128, "avg", 128, "4b");
  x = InceptionA(x, 160, 128, 160, 128, 160, "avg", 128, "4c");
  x = InceptionA(x, 96, 128, 192, 160, 192, "avg", 128, "4d");
  x = InceptionB(x, 128, 192, 192, 256, "4e");
  x = InceptionA(x, 352, 192, 320, 160, 224, "avg", 128, "5a");
  x = InceptionA(x, 352, 192, 320, 192, 224, "max", 128, "5b");
  x = Pool("global_pool", x, 7, 1, -1, "avg");
  x = Node("Flatten", "flatten", {}, {x});
  x = Node("FullyConnected", "fc1", {{"num_hidden", std::to_string(classes)}}, {x});
  return Node("SoftmaxOutput", "softmax", {}, {x});
}

}  // namespace tandem::zoo
