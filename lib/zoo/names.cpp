// The zoo's model names ("resnet50-v2", "inception-bn", ...) and the builder behind each; MXNet's
// own model-zoo names are accepted too: "resnet-50" / "imagenet1k-resnet-50" (MXNet's pre-activation
// ResNet, symbols/resnet.py: resnet50-v2 here) and "imagenet1k-inception-bn", as
// mx.test_utils.download_model and example/multi_threaded_inference/get_model.py name them, and
// Gluon's "mobilenetv2_1.0" / "_0.75" / "_0.5" / "_0.25" (tandem's "mobilenet-v2" is the 1.0 one).
#include <string>
#include <vector>

#include "lib/zoo/mobilenet.hpp"
#include "tandem/error.hpp"
#include "tandem/zoo.hpp"

namespace tandem::zoo {
namespace {

const int kV2Depths[] = {18, 34, 50, 101, 152, 200, 269};
const int kV1Depths[] = {18, 34, 50, 101, 152};
const char* const kMobileNetV2Widths[] = {"1.0", "0.75", "0.5", "0.25"};  // Gluon's model names

// "resnet-50" / "imagenet1k-resnet-50" -> "resnet50-v2", "imagenet1k-inception-bn" -> "inception-bn";
// any other name unchanged.
std::string FromMxnetZooName(const std::string& name) {
  const std::string imagenet = "imagenet1k-";
  const std::string bare = name.rfind(imagenet, 0) == 0 ? name.substr(imagenet.size()) : name;
  if (bare == "inception-bn") return bare;
  for (int d : kV2Depths)
    if (bare == "resnet-" + std::to_string(d)) return "resnet" + std::to_string(d) + "-v2";
  return name;
}

}  // namespace

std::vector<std::string> ModelNames() {
  std::vector<std::string> names;
  for (int d : kV2Depths) names.push_back("resnet" + std::to_string(d) + "-v2");
  for (int d : kV1Depths) names.push_back("resnet" + std::to_string(d) + "-v1");
  names.push_back("inception-bn");
  names.push_back("mobilenet-v2");
  return names;
}

Symbol MobileNetV2(double multiplier, int classes) { return detail::BuildMobileNetV2(multiplier, classes); }

Symbol ByName(const std::string& requested, int classes) {
  const std::string name = FromMxnetZooName(requested);
  if (name == "inception-bn") return InceptionBN(classes);
  if (name == "mobilenet-v2") return MobileNetV2(1.0, classes);
  for (const char* width : kMobileNetV2Widths)
    if (name == std::string("mobilenetv2_") + width) return MobileNetV2(std::stod(width), classes);
  for (int d : kV2Depths)
    if (name == "resnet" + std::to_string(d) + "-v2") return ResNetV2(d, classes);
  for (int d : kV1Depths)
    if (name == "resnet" + std::to_string(d) + "-v1") return ResNetV1(d, classes);
  std::string known;
  for (const auto& n : ModelNames()) known += (known.empty() ? "" : ", ") + n;
  Throw<InvalidArgument>("unknown model '", requested, "'; known models: ", known,
                         "; and MXNet's model-zoo names resnet-N / imagenet1k-resnet-N (N = 18, 34, 50, "
                         "101, 152, 200, 269), imagenet1k-inception-bn, and Gluon's mobilenetv2_1.0 / _0.75 / _0.5 / _0.25");
}

}  // namespace tandem::zoo
