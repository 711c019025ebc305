// Shared by the tests that score the MNIST CNN (test_mnist, test_gpu, test_rewrite): predictions
// and accuracy over the 10k test images, through one CachedOp called from several threads.
#pragma once

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

#include "samples/mnist_idx.hpp"
#include "tandem/tandem.hpp"
#include "test/test_util.hpp"

namespace tandem::test {

// The MNIST CNN trained with MXNet 1.2.1 (../shared/models/mnist-cnn) and its 10k test images.
struct MnistModel {
  Symbol net;
  std::map<std::string, NDArray> params;
  samples::IdxFile images, labels;
};

inline MnistModel LoadMnist(const std::string& json, const std::string& images, const std::string& labels) {
  return {Symbol::Load(json), NDArray::LoadToMap(ModelsDir() + "/mnist-cnn/Neural_Net-0100.params"),
          samples::ReadIdx(images), samples::ReadIdx(labels)};
}

// Declares `var`, the loaded MnistModel; the calling test is skipped (with a message saying what
// is missing) when the files are absent.
#define TANDEM_REQUIRE_MNIST(var)                                                        \
  TANDEM_REQUIRE_MODEL_FILE(var##_json, "mnist-cnn/Neural_Net-symbol.json");             \
  TANDEM_REQUIRE_MODEL_FILE(var##_images, "mnist-cnn/t10k-images-idx3-ubyte.gz");        \
  TANDEM_REQUIRE_MODEL_FILE(var##_labels, "mnist-cnn/t10k-labels-idx1-ubyte.gz");        \
  const ::tandem::test::MnistModel var = ::tandem::test::LoadMnist(var##_json, var##_images, var##_labels)

struct MnistRun {
  std::vector<int> predictions;  // per image
  double accuracy = 0;           // against `labels` (0 without them)
};

// `threads` callers take `batch` images at a time; inputs are made on `ctx` (the op's device).
inline MnistRun EvaluateMnist(const CachedOp& op, const samples::IdxFile& images,
                              const samples::IdxFile* labels, int threads = 2, int batch = 100,
                              Context ctx = Context::cpu()) {
  const int64_t count = images.dims[0], pixels = 28 * 28;
  MnistRun run;
  run.predictions.assign(static_cast<size_t>(count), -1);
  std::atomic<int64_t> next{0};
  auto worker = [&] {
    for (int64_t start; (start = next.fetch_add(batch)) < count;) {
      const int64_t n = std::min<int64_t>(batch, count - start);
      std::vector<float> x(static_cast<size_t>(n * pixels));
      for (size_t i = 0; i < x.size(); ++i) x[i] = images.data[start * pixels + i] / 255.0f;
      NDArray input(x, Shape{n, 1, 28, 28});
      if (!ctx.is_cpu()) input = input.Copy(ctx);
      const auto probs = op.Forward({input})[0].ToVector<float>();
      for (int64_t b = 0; b < n; ++b)
        run.predictions[start + b] = static_cast<int>(
            std::max_element(probs.begin() + b * 10, probs.begin() + b * 10 + 10) - (probs.begin() + b * 10));
    }
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(worker);
  for (auto& t : pool) t.join();
  if (labels) {
    int64_t correct = 0;
    for (int64_t i = 0; i < count; ++i) correct += run.predictions[i] == labels->data[i];
    run.accuracy = static_cast<double>(correct) / count;
  }
  return run;
}

// Share of images on which two runs predict the same class.
inline double Agreement(const MnistRun& a, const MnistRun& b) {
  int64_t same = 0;
  for (size_t i = 0; i < a.predictions.size(); ++i) same += a.predictions[i] == b.predictions[i];
  return static_cast<double>(same) / static_cast<double>(a.predictions.size());
}

}  // namespace tandem::test
