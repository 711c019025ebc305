// The MNIST CNN trained with MXNet 1.2.1 reproduces its published accuracy (99.38 %) through a
// CachedOp shared by several threads, and oneDNN and the reference give identical predictions.
#include <atomic>
#include <thread>

#include <catch2/catch.hpp>

#include "samples/mnist_idx.hpp"
#include "tandem/tandem.hpp"
#include "test/test_util.hpp"

using namespace tandem;

namespace {

struct MnistRun {
  std::vector<int> predictions;
  double accuracy = 0;
};

MnistRun Evaluate(const CachedOp& op, const samples::IdxFile& images, const samples::IdxFile& labels,
                  int threads, int batch) {
  const int64_t count = images.dims[0], pixels = 28 * 28;
  MnistRun run;
  run.predictions.assign(static_cast<size_t>(count), -1);
  std::atomic<int64_t> next{0};
  auto worker = [&] {
    for (int64_t start; (start = next.fetch_add(batch)) < count;) {
      int64_t n = std::min<int64_t>(batch, count - start);
      std::vector<float> x(static_cast<size_t>(n * pixels));
      for (size_t i = 0; i < x.size(); ++i) x[i] = images.data[start * pixels + i] / 255.0f;
      auto probs = op.Forward({NDArray(x, Shape{n, 1, 28, 28})})[0].ToVector<float>();
      for (int64_t b = 0; b < n; ++b)
        run.predictions[start + b] =
            static_cast<int>(std::max_element(probs.begin() + b * 10, probs.begin() + b * 10 + 10) -
                             (probs.begin() + b * 10));
    }
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(worker);
  for (auto& t : pool) t.join();
  int64_t correct = 0;
  for (int64_t i = 0; i < count; ++i) correct += run.predictions[i] == labels.data[i];
  run.accuracy = static_cast<double>(correct) / count;
  return run;
}

}  // namespace

TEST_CASE("MNIST CNN reaches the published 99.38% with 1/2/4 threads, batch 1 and 32, both backends", "[models][mnist]") {
  TANDEM_REQUIRE_MODEL_FILE(json, "mnist-cnn/Neural_Net-symbol.json");
  TANDEM_REQUIRE_MODEL_FILE(images_path, "mnist-cnn/t10k-images-idx3-ubyte.gz");
  TANDEM_REQUIRE_MODEL_FILE(labels_path, "mnist-cnn/t10k-labels-idx1-ubyte.gz");
  Symbol net = Symbol::Load(json);
  auto params = NDArray::LoadToMap(test::ModelsDir() + "/mnist-cnn/Neural_Net-0100.params");
  auto images = samples::ReadIdx(images_path);
  auto labels = samples::ReadIdx(labels_path);
  REQUIRE(images.dims == std::vector<int64_t>{10000, 28, 28});

  CachedOp fast(net, params, Context::cpu());
  CachedOp reference(net, params, Context::cpu(), {.reference_only = true});
  MnistRun oracle = Evaluate(reference, images, labels, 2, 100);
  CHECK(oracle.accuracy >= 0.9930);
  CHECK(oracle.accuracy <= 0.9940);
  for (int threads : {1, 2, 4}) {
    for (int batch : {1, 32}) {
      INFO("threads " << threads << " batch " << batch);
      MnistRun run = Evaluate(fast, images, labels, threads, batch);
      CHECK(run.accuracy == oracle.accuracy);
      CHECK(run.predictions == oracle.predictions);
    }
  }
}
