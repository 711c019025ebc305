// The zoo's model names ("resnet50-v2", "inception-bn", ...) and the builder behind each.
#include <string>
#include <vector>

#include "tandem/error.hpp"
#include "tandem/zoo.hpp"

namespace tandem::zoo {
namespace {

const int kV2Depths[] = {18, 34, 50, 101, 152, 200, 269};
const int kV1Depths[] = {18, 34, 50, 101, 152};

}  // namespace

std::vector<std::string> ModelNames() {
  std::vector<std::string> names;
  for (int d : kV2Depths) names.push_back("resnet" + std::to_string(d) + "-v2");
  for (int d : kV1Depths) names.push_back("resnet" + std::to_string(d) + "-v1");
  names.push_back("inception-bn");
  return names;
}

Symbol ByName(const std::string& name, int classes) {
  if (name == "inception-bn") return InceptionBN(classes);
  for (int d : kV2Depths)
    if (name == "resnet" + std::to_string(d) + "-v2") return ResNetV2(d, classes);
  for (int d : kV1Depths)
    if (name == "resnet" + std::to_string(d) + "-v1") return ResNetV1(d, classes);
  std::string known;
  for (const auto& n : ModelNames()) known += (known.empty() ? "" : ", ") + n;
  Throw<InvalidArgument>("unknown model '", name, "'; known models: ", known);
}

}  // namespace tandem::zoo
