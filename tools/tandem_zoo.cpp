// tandem-zoo NAME OUT_PREFIX [--classes N] [--seed S] [--size 224] [--no-calibrate]
//
// Writes a zoo architecture as an MXNet checkpoint, OUT_PREFIX-symbol.json + OUT_PREFIX-0000.params,
// with SYNTHETIC weights (He-initialised, BatchNorm statistics calibrated on random pixels): the
// graph is the real one, the predictions are meaningless. Useful to try, benchmark and test tandem
// (and MXNet) on real architectures without downloading trained models. NAME is one of tandem's
// names or one of MXNet's model-zoo names (resnet-50, imagenet1k-resnet-152, imagenet1k-inception-bn,
// as get_model.py names them), or Gluon's mobilenetv2_1.0 (tandem's mobilenet-v2) and its narrower
// widths. For the architectures of MXNet's zoo (and Gluon's MobileNet v2) it also writes
// OUT_PREFIX-preprocess.json, the input rule of the trained checkpoints (docs/samples.md).
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "tandem/tandem.hpp"
#include "tandem/zoo.hpp"

namespace {

std::string Usage() {
  std::string names;
  for (const auto& n : tandem::zoo::ModelNames()) names += "  " + n + "\n";
  return "usage: tandem-zoo NAME OUT_PREFIX [--classes N] [--seed S] [--size 224] [--no-calibrate]\n"
         "NAME is one of:\n" + names +
         "or one of MXNet's model-zoo names (mx.test_utils.download_model, get_model.py):\n"
         "  resnet-N, imagenet1k-resnet-N   (= resnetN-v2; N = 18, 34, 50, 101, 152, 200, 269)\n"
         "  inception-bn, imagenet1k-inception-bn\n"
         "or one of Gluon's: mobilenetv2_1.0, mobilenetv2_0.75, mobilenetv2_0.5, mobilenetv2_0.25\n";
}

// The input rule of MXNet's (for MobileNet v2: Gluon's) trained checkpoints of this architecture, as a
// preprocessing sidecar (samples/preprocess.hpp), or "" when MXNet's zoo has no such model. The pre-activation ResNets
// read raw RGB 0..255 (their first layer, bn_data, normalises); Inception-BN was trained on
// mean-subtracted RGB (example/image-classification's --rgb-mean 123.68,116.779,103.939).
std::string PreprocessRule(const std::string& name, int size) {
  const std::string s = std::to_string(size);
  if (name.find("mobilenet") != std::string::npos) {
    // Gluon / GluonCV's ImageNet evaluation transform for its trained mobilenetv2_* checkpoints:
    // shorter side to size / 0.875, centre crop, ToTensor (/255), ImageNet mean / std.
    return "{\n"
           "  \"format\": \"tandem-preprocess/1\",\n"
           "  \"note\": \"the input rule of Gluon's trained " + name + " checkpoints (these weights are synthetic)\",\n"
           "  \"resize\": {\"shorter_side\": " + std::to_string(static_cast<int>(size / 0.875 + 0.5)) + "},\n"
           "  \"crop\": {\"width\": " + s + ", \"height\": " + s + "},\n"
           "  \"channel_order\": \"RGB\",\n"
           "  \"layout\": \"NCHW\",\n"
           "  \"scale\": 0.00392156862745098,\n"
           "  \"mean\": [0.485, 0.456, 0.406],\n"
           "  \"std\": [0.229, 0.224, 0.225]\n"
           "}\n";
  }
  std::string mean;
  if (name.find("inception-bn") != std::string::npos)
    mean = "[123.68, 116.779, 103.939]";
  else if (name.find("-v2") != std::string::npos || name.find("resnet-") != std::string::npos)
    mean = "[0, 0, 0]";
  else
    return "";
  return "{\n"
         "  \"format\": \"tandem-preprocess/1\",\n"
         "  \"note\": \"the input rule of MXNet's trained " + name + " checkpoints (these weights are synthetic)\",\n"
         "  \"resize\": {\"width\": " + s + ", \"height\": " + s + "},\n"
         "  \"channel_order\": \"RGB\",\n"
         "  \"layout\": \"NCHW\",\n"
         "  \"mean\": " + mean + ",\n"
         "  \"std\": [1, 1, 1]\n"
         "}\n";
}

long long Number(const std::string& flag, const std::string& value, long long min) {
  char* end = nullptr;
  const long long v = std::strtoll(value.c_str(), &end, 10);
  if (value.empty() || *end != '\0' || v < min)
    throw tandem::InvalidArgument(flag + ": expected an integer >= " + std::to_string(min) + ", got '" + value + "'");
  return v;
}

int Run(int argc, char** argv) {
  if (argc < 3) throw tandem::InvalidArgument(Usage());
  const std::string name = argv[1], prefix = argv[2];
  int classes = 1000, size = 224;
  uint64_t seed = 0;
  tandem::zoo::SyntheticOptions options;
  for (int i = 3; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--no-calibrate") {
      options.calibrate = false;
      continue;
    }
    if (i + 1 >= argc) throw tandem::InvalidArgument(a + " needs a value\n" + Usage());
    const std::string v = argv[++i];
    if (a == "--classes") classes = static_cast<int>(Number(a, v, 1));
    else if (a == "--seed") seed = static_cast<uint64_t>(Number(a, v, 0));
    else if (a == "--size") size = static_cast<int>(Number(a, v, 32));
    else throw tandem::InvalidArgument("unknown option '" + a + "'\n" + Usage());
  }
  const tandem::Symbol net = tandem::zoo::ByName(name, classes);
  const auto params = tandem::zoo::SyntheticParams(net, tandem::Shape{1, 3, size, size}, seed, options);
  net.Save(prefix + "-symbol.json");
  tandem::NDArray::Save(prefix + "-0000.params", params);
  int64_t count = 0;
  for (const auto& [key, array] : params) count += array.size();
  std::printf("wrote %s-symbol.json and %s-0000.params: %s, %d classes, %zu arrays, %lld parameters\n",
              prefix.c_str(), prefix.c_str(), name.c_str(), classes, params.size(),
              static_cast<long long>(count));
  const std::string rule = PreprocessRule(name, size);
  if (!rule.empty()) {
    std::FILE* f = std::fopen((prefix + "-preprocess.json").c_str(), "w");
    bool ok = f && std::fputs(rule.c_str(), f) >= 0;
    if (f && std::fclose(f) != 0) ok = false;
    if (!ok) throw tandem::FormatError(prefix + "-preprocess.json: cannot write");
    std::printf("wrote %s-preprocess.json: the input rule of %s's trained checkpoints\n", prefix.c_str(),
                name.find("mobilenet") != std::string::npos ? "Gluon" : "MXNet");
  }
  std::printf("NOTE: the weights are SYNTHETIC (random, seed %llu%s), not trained: predictions are "
              "meaningless.\n",
              static_cast<unsigned long long>(seed),
              options.calibrate ? ", BatchNorm statistics calibrated on random pixels 0..255" : "");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const tandem::Error& e) {
    std::fprintf(stderr, "tandem-zoo: %s: %s\n", tandem::ErrorKindName(e.kind()), e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tandem-zoo: %s\n", e.what());
  }
  return 1;
}
