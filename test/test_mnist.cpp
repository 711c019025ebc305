// The MNIST CNN trained with MXNet 1.2.1 reproduces its published accuracy (99.38 %) through a
// CachedOp shared by several threads, and oneDNN and the reference give identical predictions.
#include <catch2/catch.hpp>

#include "samples/mnist_idx.hpp"
#include "tandem/tandem.hpp"
#include "test/mnist_eval.hpp"
#include "test/test_util.hpp"

using namespace tandem;
using test::EvaluateMnist;
using test::MnistRun;


TEST_CASE("MNIST CNN reaches the published 99.38% with 1/2/4 threads, batch 1 and 32, both backends", "[models][mnist]") {
  TANDEM_REQUIRE_MNIST(mnist);
  const Symbol& net = mnist.net;
  const auto& params = mnist.params;
  const samples::IdxFile& images = mnist.images;
  const samples::IdxFile& labels = mnist.labels;
  REQUIRE(images.dims == std::vector<int64_t>{10000, 28, 28});

  CachedOp fast(net, params, Context::cpu());
  CachedOp reference(net, params, Context::cpu(), {.reference_only = true});
  MnistRun oracle = EvaluateMnist(reference, images, &labels, 2, 100);
  CHECK(oracle.accuracy >= 0.9930);
  CHECK(oracle.accuracy <= 0.9940);
  for (int threads : {1, 2, 4}) {
    for (int batch : {1, 32}) {
      INFO("threads " << threads << " batch " << batch);
      MnistRun run = EvaluateMnist(fast, images, &labels, threads, batch);
      CHECK(run.accuracy == oracle.accuracy);
      CHECK(run.predictions == oracle.predictions);
    }
  }
}

TEST_CASE("MNIST CNN in float16 and bfloat16 agrees with float32 on at least 99.9% of the 10k images", "[models][mnist][precision]") {
  TANDEM_REQUIRE_MNIST(mnist);
  const Symbol& net = mnist.net;
  const auto& params = mnist.params;
  const samples::IdxFile& images = mnist.images;
  const samples::IdxFile& labels = mnist.labels;
  // The reference kernels (oneDNN's are float32 only), rewrites on, as a GPU plan would run.
  CachedOpFlags flags;
  flags.use_dnnl = false;
  const MnistRun full = EvaluateMnist(CachedOp(net, params, Context::cpu(), flags), images, &labels);
  for (DType dtype : {DType::f16, DType::bf16}) {
    flags.compute_dtype = dtype;
    const MnistRun low = EvaluateMnist(CachedOp(net, params, Context::cpu(), flags), images, &labels);
    const double agreement = test::Agreement(low, full);
    std::printf("MNIST %s (reference): accuracy %.4f, top-1 agreement with float32 %.4f\n",
                DTypeName(dtype), low.accuracy, agreement);
    INFO(DTypeName(dtype) << ": agreement " << agreement << ", accuracy " << low.accuracy);
    CHECK(agreement >= 0.999);
    CHECK(low.accuracy >= 0.992);
  }
}
