// The inference rewrites a CachedOp applies at construction (BatchNorm folded into convolutions,
// ReLU fused into them) compute what the graph as written computes, apply only where that holds,
// never touch the caller's parameters, and can be switched off.
#include <catch2/catch.hpp>

#include "samples/mnist_idx.hpp"
#include "tandem/tandem.hpp"
#include "tandem/testing.hpp"
#include "tandem/zoo.hpp"
#include "test/test_util.hpp"

using namespace tandem;

namespace {

constexpr CachedOpFlags kNoRewrites{.fold_batch_norm = false, .fuse_activations = false};
constexpr testing::Tolerance kClose{.rtol = 1e-4, .atol = 1e-5};

// conv-BN-relu, conv-relu, then a conv-BN whose output is also read by a second branch.
Symbol Net(bool fix_gamma) {
  Symbol data = Symbol::Variable("data");
  Symbol x = op::Convolution("conv0", data, {.kernel = {3, 3}, .num_filter = 8, .pad = {1, 1}});
  x = op::BatchNorm("bn0", x, {.eps = 1e-3, .fix_gamma = fix_gamma});
  x = op::Activation("relu0", x);
  x = op::Convolution("conv1", x, {.kernel = {3, 3}, .num_filter = 8, .pad = {1, 1}, .no_bias = true});
  x = op::Activation("relu1", x);
  Symbol c2 = op::Convolution("conv2", x, {.kernel = {1, 1}, .num_filter = 8});
  Symbol b2 = op::BatchNorm("bn2", c2, {.fix_gamma = false});
  Symbol side = op::Activation("side", c2, {.act_type = "sigmoid"});  // conv2 has two readers
  Symbol sum = op::elemwise_add("sum", b2, side);
  Symbol y = op::Pooling("gap", sum, {.pool_type = "avg", .global_pool = true});
  return op::SoftmaxOutput("softmax", op::FullyConnected("fc", op::Flatten(y, "flat"), {.num_hidden = 5}));
}

std::map<std::string, NDArray> Params(const Symbol& net) {
  return testing::random_params(net, {{"data", Shape{2, 3, 9, 7}}}, 3);
}

std::map<std::string, std::vector<float>> Snapshot(const std::map<std::string, NDArray>& params) {
  std::map<std::string, std::vector<float>> values;
  for (const auto& [name, array] : params) values[name] = array.ToVector<float>();
  return values;
}

}  // namespace

TEST_CASE("rewrites fold foldable BatchNorms and fuse ReLUs, and compute the unrewritten result", "[rewrite]") {
  for (bool fix_gamma : {true, false}) {
    INFO("fix_gamma " << fix_gamma);
    Symbol net = Net(fix_gamma);
    auto params = Params(net);
    const auto before = Snapshot(params);
    const NDArray x = testing::random_input({2, 3, 9, 7}, 4);
    CachedOp rewritten(net, params, Context::cpu());
    CachedOp as_written(net, params, Context::cpu(), kNoRewrites);
    CachedOp reference(net, params, Context::cpu(), {.reference_only = true});
    const PlanReport plan = rewritten.Plan({x.shape()});
    // bn0 folds into conv0; bn2 does not (conv2's output has a second reader); relu0 and relu1
    // fuse; the sigmoid does not.
    CHECK(plan.folded_batch_norms == 1);
    CHECK(plan.fused_activations == 2);
    CHECK(plan.node_kernels.size() + 3 == as_written.Plan({x.shape()}).node_kernels.size());
    CHECK(as_written.Plan({x.shape()}).folded_batch_norms == 0);
    const NDArray want = reference.Forward({x})[0];
    CHECK(testing::compare_arrays(rewritten.Forward({x})[0], want, kClose).ok());
    CHECK(testing::compare_arrays(as_written.Forward({x})[0], want, kClose).ok());
    // The caller's arrays are untouched, and the folded weights are counted instead of bn0's.
    CHECK(Snapshot(params) == before);
    CHECK(rewritten.output_names() == as_written.output_names());
  }
}

TEST_CASE("rewritten models run the same on every backend", "[rewrite]") {
  Symbol net = Net(false);
  auto params = Params(net);
  // compare_backends runs the reference without rewrites and every other backend with them.
  auto report = testing::compare_backends(net, params, {{"data", testing::random_input({2, 3, 9, 7}, 5)}}, kClose);
  INFO(report.ToString());
  CHECK(report.all_within_tolerance());
}

TEST_CASE("a graph output is never rewritten away", "[rewrite]") {
  Symbol data = Symbol::Variable("data");
  Symbol conv = op::Convolution("conv", data, {.kernel = {1, 1}, .num_filter = 4});
  Symbol bn = op::BatchNorm("bn", conv, {.fix_gamma = false});
  Symbol both = Symbol::Group({conv, op::Activation("relu", bn)});
  auto params = testing::random_params(both, {{"data", Shape{1, 2, 3, 3}}}, 1);
  CachedOp op(both, params, Context::cpu());
  const NDArray x = testing::random_input({1, 2, 3, 3}, 2);
  CHECK(op.Plan({x.shape()}).folded_batch_norms == 0);  // conv is a head
  auto got = op.Forward({x});
  auto want = CachedOp(both, params, Context::cpu(), {.reference_only = true}).Forward({x});
  REQUIRE(got.size() == 2);
  CHECK(testing::compare_arrays(got[0], want[0], kClose).ok());
  CHECK(testing::compare_arrays(got[1], want[1], kClose).ok());
}

TEST_CASE("wrong input shapes still name the convolution the user wrote", "[rewrite]") {
  Symbol net = Net(false);
  CachedOp op(net, Params(net), Context::cpu());
  CHECK_THROWS_WITH(op.Forward({testing::random_input({2, 4, 9, 7})}), Catch::Contains("conv0"));
}

TEST_CASE("zoo resnet18-v1 and resnet18-v2 agree with rewrites on and off", "[rewrite][zoo]") {
  for (const char* name : {"resnet18-v1", "resnet18-v2"}) {
    INFO(name);
    Symbol net = zoo::ByName(name, 10);
    auto params = zoo::SyntheticParams(net, {1, 3, 64, 64}, 5, {.calibration_batch = 1});
    const NDArray x = testing::random_input({1, 3, 64, 64}, 6, 0.f, 255.f);
    CachedOp rewritten(net, params, Context::cpu());
    CachedOp as_written(net, params, Context::cpu(), kNoRewrites);
    const PlanReport plan = rewritten.Plan({x.shape()});
    if (std::string(name) == "resnet18-v1") {
      CHECK(plan.folded_batch_norms == 20);  // every BatchNorm of torchvision's layout follows a conv
      CHECK(plan.fused_activations == 9);    // the stem's and each block's first ReLU
    }
    CHECK(testing::compare_arrays(rewritten.Forward({x})[0], as_written.Forward({x})[0], kClose).ok());
  }
}

TEST_CASE("MNIST CNN: rewrites on and off give identical predictions on all 10k images", "[rewrite][models]") {
  TANDEM_REQUIRE_MODEL_FILE(json, "mnist-cnn/Neural_Net-symbol.json");
  TANDEM_REQUIRE_MODEL_FILE(images_path, "mnist-cnn/t10k-images-idx3-ubyte.gz");
  Symbol net = Symbol::Load(json);
  auto params = NDArray::LoadToMap(test::ModelsDir() + "/mnist-cnn/Neural_Net-0100.params");
  auto images = samples::ReadIdx(images_path);
  CachedOp rewritten(net, params, Context::cpu());
  CachedOp as_written(net, params, Context::cpu(), kNoRewrites);
  CHECK(rewritten.Plan({Shape{100, 1, 28, 28}}).folded_batch_norms == 2);
  const int64_t batch = 100, pixels = 28 * 28;
  int64_t differ = 0;
  for (int64_t start = 0; start < images.dims[0]; start += batch) {
    std::vector<float> x(static_cast<size_t>(batch * pixels));
    for (size_t i = 0; i < x.size(); ++i) x[i] = images.data[start * pixels + i] / 255.0f;
    const NDArray input(x, Shape{batch, 1, 28, 28});
    const auto a = rewritten.Forward({input})[0].ToVector<float>();
    const auto b = as_written.Forward({input})[0].ToVector<float>();
    for (int64_t k = 0; k < batch; ++k) {
      auto top = [&](const std::vector<float>& p) {
        return std::max_element(p.begin() + k * 10, p.begin() + k * 10 + 10) - p.begin();
      };
      differ += top(a) != top(b);
    }
  }
  CHECK(differ == 0);
}
