// genderage_demo MODEL_PREFIX IMAGE... [--epoch N]
//
// Runs InsightFace's gender/age model (data/genderage, MIT) on face crops, one std::thread per
// image, all sharing one CachedOp. The model reads a 1x3x112x112 RGB face with raw 0..255 pixels
// (the graph itself subtracts 127.5 and scales) and outputs 202 values: 2 gender logits (0 female,
// 1 male), then 100 pairs of logits, one per age threshold; the age is the number of pairs whose
// second logit wins. Images of another size are resized to 112x112 (a real pipeline would detect
// and align the face first).
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <thread>
#include <vector>

#include "samples/image.hpp"
#include "tandem/tandem.hpp"

namespace {

constexpr int kSide = 112;
constexpr size_t kOutputs = 202;

struct Result {
  std::vector<float> logits;
  std::string error;
};

void Predict(const tandem::CachedOp& model, const std::string& file, Result& result) {
  try {
    const tandem::NDArray face = tandem::samples::LoadImageAsNCHW(file, kSide);
    result.logits = model.Forward(std::vector<tandem::NDArray>{face})[0].ToVector<float>();
    if (result.logits.size() != kOutputs)
      result.error = "the model gave " + std::to_string(result.logits.size()) + " outputs, expected " +
                     std::to_string(kOutputs) + " (is this the genderage model?)";
  } catch (const tandem::Error& e) {
    result.error = std::string(tandem::ErrorKindName(e.kind())) + ": " + e.what();
  } catch (const std::exception& e) {
    result.error = e.what();
  }
}

int Run(int argc, char** argv) {
  if (argc < 3) throw tandem::InvalidArgument("usage: genderage_demo MODEL_PREFIX IMAGE... [--epoch N]");
  const std::string prefix = argv[1];
  int epoch = 0;
  std::vector<std::string> files;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--epoch" && i + 1 < argc) epoch = std::atoi(argv[++i]);
    else if (a.rfind("--", 0) == 0) throw tandem::InvalidArgument("unknown option '" + a + "'");
    else files.push_back(a);
  }
  if (files.empty()) throw tandem::InvalidArgument("no image files given");
  char suffix[32];
  std::snprintf(suffix, sizeof suffix, "-%04d.params", epoch);
  const tandem::CachedOp model(tandem::Symbol::Load(prefix + "-symbol.json"),
                               tandem::NDArray::LoadToMap(prefix + suffix), tandem::Context::cpu());

  std::vector<Result> results(files.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < files.size(); ++i)
    threads.emplace_back(Predict, std::cref(model), std::cref(files[i]), std::ref(results[i]));
  for (auto& t : threads) t.join();

  int status = 0;
  for (size_t i = 0; i < files.size(); ++i) {
    const Result& r = results[i];
    if (!r.error.empty()) {
      std::fprintf(stderr, "genderage_demo: %s: %s\n", files[i].c_str(), r.error.c_str());
      status = 1;
      continue;
    }
    const bool male = r.logits[1] > r.logits[0];
    int age = 0;
    for (size_t k = 0; k < 100; ++k) age += r.logits[2 + 2 * k + 1] > r.logits[2 + 2 * k] ? 1 : 0;
    std::printf("%s: gender %s (logits female %.4f, male %.4f), age %d\n", files[i].c_str(),
                male ? "male" : "female", r.logits[0], r.logits[1], age);
  }
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const tandem::Error& e) {
    std::fprintf(stderr, "genderage_demo: %s: %s\n", tandem::ErrorKindName(e.kind()), e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "genderage_demo: %s\n", e.what());
  }
  return 1;
}
