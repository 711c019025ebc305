// The inference rewrites a CachedOp applies at construction (BatchNorm folded into convolutions,
// ReLU and residual adds fused into them, identity nodes dropped, weight-only subgraphs evaluated
// once) compute what the graph as written computes, apply only where that holds, never touch the
// caller's parameters, and can be switched off one by one.
#include <algorithm>
#include <catch2/catch.hpp>

#include <atomic>

#include "samples/mnist_idx.hpp"
#include "tandem/tandem.hpp"
#include "tandem/testing.hpp"
#include "tandem/zoo.hpp"
#include "test/mnist_eval.hpp"
#include "test/test_util.hpp"

using namespace tandem;

namespace {

constexpr CachedOpFlags kNoRewrites{.fold_batch_norm = false,
                                    .fuse_activations = false,
                                    .fuse_residual_add = false,
                                    .drop_identity = false,
                                    .fold_constants = false,
                                    .channels_last = false};
// The rewrites above, in the layout the graph was written in (channels_last is on by default on
// the CPU; its own tests are further down).
constexpr CachedOpFlags kNchw{.channels_last = false};
constexpr testing::Tolerance kClose{.rtol = 1e-4, .atol = 1e-5};
// Rewritten against unrewritten on the same backend: the same arithmetic up to rounding.
constexpr testing::Tolerance kSame{.rtol = 1e-5, .atol = 1e-6};

// The two CPU backends a rewritten graph runs on (reference_only would switch rewrites off).
struct CpuBackend {
  const char* name;
  CachedOpFlags rewritten, as_written;
  testing::Tolerance tol = kSame;
};
CachedOpFlags ReferenceKernels(CachedOpFlags f) {
  f.use_dnnl = false;
  return f;
}
const CpuBackend kCpuBackends[] = {
    {"dnnl", kNchw, kNoRewrites},
    // The CPU default: NHWC, residual adds in place. oneDNN picks other convolution kernels for a
    // fused epilogue (brgemm with a sum post-op), whose sums round differently: a few 1e-6 apart
    // where a result cancels to ~0.
    {"dnnl channels-last", {}, kNoRewrites, {.rtol = 1e-5, .atol = 1e-5}},
    {"reference", ReferenceKernels({}), ReferenceKernels(kNoRewrites)},
};

// "conv1: Convolution [dnnl]" for node `name`, or "" when there is no such node.
std::string KernelOf(const PlanReport& plan, const std::string& name) {
  for (const std::string& line : plan.node_kernels)
    if (line.rfind(name + ":", 0) == 0) return line;
  return "";
}

Symbol Binary(const char* op, const std::string& name, const Symbol& lhs, const Symbol& rhs) {
  return Operator(op)(lhs)(rhs).CreateSymbol(name);
}

// Rewritten vs as written, on oneDNN and the reference, for one input; returns the rewritten plan
// of the oneDNN run.
PlanReport CheckRewrittenMatches(const Symbol& net, const std::map<std::string, NDArray>& params,
                                 const NDArray& x) {
  PlanReport dnnl_plan;
  for (const CpuBackend& b : kCpuBackends) {
    INFO("backend " << b.name);
    CachedOp rewritten(net, params, Context::cpu(), b.rewritten);
    CachedOp as_written(net, params, Context::cpu(), b.as_written);
    const auto got = rewritten.Forward({x}), want = as_written.Forward({x});
    REQUIRE(got.size() == want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      const auto c = testing::compare_arrays(got[i], want[i], b.tol);
      INFO("output " << i << ": max abs error " << c.max_abs_error << ", " << c.mismatches << " mismatches");
      CHECK(c.ok());
    }
    CHECK(rewritten.output_names() == net.ListOutputs());
    if (std::string(b.name) == "dnnl") dnnl_plan = rewritten.Plan({x.shape()});
  }
  return dnnl_plan;
}

// Three residual blocks: conv-BN + identity shortcut + ReLU (elemwise_add, conv on the left);
// shortcut + conv without bias or BN, no ReLU (_Plus, conv on the right); and a projection block
// where both operands are conv-BN (the left one absorbs the add).
Symbol ResidualNet() {
  Symbol data = Symbol::Variable("data");
  Symbol x = op::Activation("relu0", op::Convolution("conv0", data, {.kernel = {3, 3}, .num_filter = 8, .pad = {1, 1}}));
  Symbol body = op::BatchNorm("bn1", op::Convolution("conv1", x, {.kernel = {3, 3}, .num_filter = 8, .pad = {1, 1}}),
                              {.fix_gamma = false});
  x = op::Activation("relu1", op::elemwise_add("add1", body, x));
  body = op::Convolution("conv2", x, {.kernel = {1, 1}, .num_filter = 8, .no_bias = true});
  x = Binary("_Plus", "add2", x, body);
  Symbol left = op::BatchNorm("bn3", op::Convolution("conv3", x, {.kernel = {3, 3}, .num_filter = 16, .stride = {2, 2}, .pad = {1, 1}}),
                              {.fix_gamma = false});
  Symbol right = op::BatchNorm("bn3s", op::Convolution("conv3s", x, {.kernel = {1, 1}, .num_filter = 16, .stride = {2, 2}}),
                               {.fix_gamma = false});
  x = op::Activation("relu3", op::elemwise_add("add3", left, right));
  x = op::Pooling("gap", x, {.pool_type = "avg", .global_pool = true});
  return op::SoftmaxOutput("softmax", op::FullyConnected("fc", op::Flatten(x, "flat"), {.num_hidden = 5}));
}

// top-5 class indices of row 0 of a (1, classes) probability array.
std::vector<int64_t> Top5(const std::vector<float>& p) {
  std::vector<int64_t> idx(p.size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<int64_t>(i);
  std::partial_sort(idx.begin(), idx.begin() + 5, idx.end(), [&](int64_t a, int64_t b) { return p[a] > p[b]; });
  idx.resize(5);
  return idx;
}

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

// transpose(w_t) * 0.5 + w_offset: a convolution weight computed from parameters, as exports of
// models with weight standardisation or re-parameterised layers write them.
Symbol ComputedWeight() {
  Symbol w_t = Symbol::Variable("w_t", {{"__shape__", "(3, 4, 3, 3)"}});
  Symbol t = Operator("transpose").SetParam("axes", Shape{1, 0, 2, 3})(w_t).CreateSymbol("w_transposed");
  Symbol scaled = Operator("_mul_scalar").SetParam("scalar", 0.5)(t).CreateSymbol("w_scaled");
  return op::elemwise_add("w_sum", scaled, Symbol::Variable("w_offset", {{"__shape__", "(4, 3, 3, 3)"}}));
}

// conv (with the computed weight) [-> BatchNorm -> relu] -> global pooling -> fc, for (2, 3, 6, 6).
Symbol ComputedWeightNet(bool bn_relu) {
  Symbol x = Operator("Convolution")
                 .SetParam("kernel", Shape{3, 3})
                 .SetParam("num_filter", 4)
                 .SetParam("pad", Shape{1, 1})(Symbol::Variable("data"))(ComputedWeight())
                 .CreateSymbol("conv");
  if (bn_relu) x = op::Activation("relu", op::BatchNorm("bn", x, {.fix_gamma = false}));
  x = op::Pooling("gap", x, {.pool_type = "avg", .global_pool = true});
  return op::FullyConnected("fc", op::Flatten(x, "flat"), {.num_hidden = 3});
}

const Shape kComputedWeightInput{2, 3, 6, 6};

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
    CachedOp rewritten(net, params, Context::cpu(), kNchw);
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
  // compare_backends runs the reference without rewrites and every other backend (the GPU ones
  // too, on a GPU machine) with them.
  for (bool residual : {false, true}) {
    INFO((residual ? "ResidualNet" : "Net"));
    Symbol net = residual ? ResidualNet() : Net(false);
    auto params = Params(net);
    auto report = testing::compare_backends(net, params, {{"data", testing::random_input({2, 3, 9, 7}, 5)}}, kClose);
    INFO(report.ToString());
    CHECK(report.all_within_tolerance());
  }
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

TEST_CASE("zoo resnet18-v1 and resnet18-v2: one fused residual add per block, the same top-5 and "
          "probabilities within 1e-5 as with all rewrites off", "[rewrite][zoo]") {
  for (const char* name : {"resnet18-v1", "resnet18-v2"}) {
    INFO(name);
    Symbol net = zoo::ByName(name, 10);
    auto params = zoo::SyntheticParams(net, {1, 3, 64, 64}, 5, {.calibration_batch = 1});
    const NDArray x = testing::random_input({1, 3, 64, 64}, 6, 0.f, 255.f);
    CachedOp rewritten(net, params, Context::cpu());
    CachedOp as_written(net, params, Context::cpu(), kNoRewrites);
    const PlanReport plan = rewritten.Plan({x.shape()});
    CHECK(plan.fused_residual_adds == 8);  // 8 basic blocks, each `conv + shortcut`
    CHECK(plan.dropped_identities == 0);
    CHECK(plan.folded_constants == 0);  // every weight is a parameter as it is
    if (std::string(name) == "resnet18-v1") {
      CHECK(plan.folded_batch_norms == 20);  // every BatchNorm of torchvision's layout follows a conv
      // The stem's ReLU, each block's first one and each block's last one (after the fused add).
      CHECK(plan.fused_activations == 17);
    } else {
      // Pre-activation: only the stem's BatchNorm and each block's middle one follow a conv; the
      // blocks' adds have no ReLU after them. 9 ReLUs fuse into convolutions, 9 into the
      // BatchNorms left (each block's first one and the last one before pooling).
      CHECK(plan.folded_batch_norms == 9);
      CHECK(plan.fused_activations == 18);
    }
    const auto got = rewritten.Forward({x})[0].ToVector<float>();
    const auto want = as_written.Forward({x})[0].ToVector<float>();
    CHECK(Top5(got) == Top5(want));
    const auto c = testing::compare_arrays(NDArray(got, Shape{1, 10}), NDArray(want, Shape{1, 10}), kSame);
    INFO("max |p - p_ref| " << c.max_abs_error);
    CHECK(c.ok());
  }
}

TEST_CASE("MNIST CNN: rewrites on and off give identical predictions on all 10k images", "[rewrite][models]") {
  TANDEM_REQUIRE_MNIST(mnist);
  const Symbol& net = mnist.net;
  const auto& params = mnist.params;
  const samples::IdxFile& images = mnist.images;
  // The model has no Dropout of its own: one after its head checks that a dropped head keeps its
  // name and that predictions stay identical.
  Symbol with_dropout = op::Dropout("dropout", net);
  CachedOp rewritten(with_dropout, params, Context::cpu());
  CachedOp as_written(net, params, Context::cpu(), kNoRewrites);
  const PlanReport plan = rewritten.Plan({Shape{100, 1, 28, 28}});
  CHECK(plan.folded_batch_norms == 2);
  CHECK(plan.dropped_identities == 1);
  CHECK(plan.fused_residual_adds == 0);
  CHECK(rewritten.output_names() == std::vector<std::string>{"dropout_output"});
  const test::MnistRun a = test::EvaluateMnist(rewritten, images, nullptr);
  const test::MnistRun b = test::EvaluateMnist(as_written, images, nullptr);
  CHECK(a.predictions == b.predictions);
}

TEST_CASE("residual adds fuse into the convolution (either operand, with and without ReLU) and "
          "compute the unrewritten result on oneDNN and the reference", "[rewrite][residual]") {
  Symbol net = ResidualNet();
  auto params = testing::random_params(net, {{"data", Shape{2, 3, 8, 8}}}, 11);
  const NDArray x = testing::random_input({2, 3, 8, 8}, 12);
  const PlanReport plan = CheckRewrittenMatches(net, params, x);
  CHECK(plan.fused_residual_adds == 3);
  CHECK(plan.folded_batch_norms == 3);  // bn1, bn3, bn3s
  CHECK(plan.fused_activations == 3);   // relu0, and relu1 / relu3 after their fused adds
  // conv0, conv1 (+add1+relu1), conv2 (+add2), conv3s, conv3 (+add3+relu3), gap, flat, fc, softmax.
  CHECK(plan.node_kernels.size() == 9);
  // oneDNN runs every fused convolution itself (conv, then add + ReLU), not the reference fallback.
  for (const char* conv : {"conv1", "conv2", "conv3"}) CHECK(KernelOf(plan, conv) == std::string(conv) + ": Convolution [dnnl]");
  CHECK(KernelOf(plan, "add1").empty());
  CHECK(KernelOf(plan, "conv3s") == "conv3s: Convolution [dnnl]");  // the rhs stays a plain conv
  // Each flag alone: only its own rewrite happens.
  CachedOp only_residual(net, params, Context::cpu(), [] {
    CachedOpFlags f = kNoRewrites;
    f.fuse_residual_add = true;
    return f;
  }());
  const PlanReport alone = only_residual.Plan({x.shape()});
  CHECK(alone.fused_residual_adds == 1);  // add2: the other adds read BatchNorms, not convs
  CHECK(alone.fused_activations == 0);
  CHECK(testing::compare_arrays(only_residual.Forward({x})[0],
                                CachedOp(net, params, Context::cpu(), kNoRewrites).Forward({x})[0], kSame).ok());
  CachedOp none(net, params, Context::cpu(), {.fuse_residual_add = false});
  CHECK(none.Plan({x.shape()}).fused_residual_adds == 0);
}

TEST_CASE("a convolution whose output has a second reader, or that a ReLU follows, does not absorb "
          "the add", "[rewrite][residual]") {
  Symbol data = Symbol::Variable("data");
  Symbol x = op::Convolution("conv0", data, {.kernel = {3, 3}, .num_filter = 4, .pad = {1, 1}});
  Symbol conv = op::Convolution("conv1", x, {.kernel = {3, 3}, .num_filter = 4, .pad = {1, 1}});
  Symbol side = op::Activation("side", conv, {.act_type = "tanh"});  // conv1's second reader
  Symbol sum = op::elemwise_add("add1", conv, x);
  // relu(conv2) + sum is not relu(conv2 + sum): the ReLU fuses, the add must not.
  Symbol relu = op::Activation("relu2", op::Convolution("conv2", sum, {.kernel = {1, 1}, .num_filter = 4}));
  Symbol out = op::elemwise_add("add2", op::elemwise_add("add3", relu, sum), side);
  auto params = testing::random_params(out, {{"data", Shape{1, 4, 6, 6}}}, 13);
  const NDArray input = testing::random_input({1, 4, 6, 6}, 14);
  const PlanReport plan = CheckRewrittenMatches(out, params, input);
  // add1: its lhs conv1 has two readers, its rhs conv0 is also read by conv1. add3: conv2 has a
  // fused ReLU. add2: neither operand is a convolution.
  CHECK(plan.fused_residual_adds == 0);
  CHECK(plan.fused_activations == 1);
  CHECK(KernelOf(plan, "add1") == "add1: elemwise_add [dnnl]");
}

TEST_CASE("broadcast_add fuses only where its operands' shapes are known to be equal",
          "[rewrite][residual]") {
  auto build = [](const Symbol& data) {
    Symbol x = op::Convolution("conv0", data, {.kernel = {3, 3}, .num_filter = 4, .pad = {1, 1}});
    Symbol conv = op::Convolution("conv1", x, {.kernel = {3, 3}, .num_filter = 4, .pad = {1, 1}});
    Symbol sum = Binary("broadcast_add", "add1", conv, x);
    // A per-channel parameter is broadcast, never fused.
    Symbol conv2 = op::Convolution("conv2", sum, {.kernel = {1, 1}, .num_filter = 4});
    return Binary("broadcast_add", "add2", conv2, Symbol::Variable("scale"));
  };
  const NDArray input = testing::random_input({1, 4, 6, 6}, 15);
  auto params = testing::random_params(build(Symbol::Variable("data")), {{"data", input.shape()}}, 16);
  params["scale"] = testing::random_input({1, 4, 1, 1}, 17);
  // Without a shape hint, nothing proves conv1 and conv0 have the same shape at construction.
  Symbol unknown = build(Symbol::Variable("data"));
  CHECK(CheckRewrittenMatches(unknown, params, input).fused_residual_adds == 0);
  // With the data's __shape__, both are known: (1, 4, 6, 6).
  Symbol hinted = build(Symbol::Variable("data", {{"__shape__", "(1, 4, 6, 6)"}}));
  CHECK(CheckRewrittenMatches(hinted, params, input).fused_residual_adds == 1);
}

TEST_CASE("identity nodes are dropped at inference; output names, Flatten and identities of "
          "variables stay", "[rewrite][identity]") {
  Symbol data = Symbol::Variable("data");
  Symbol x = op::Dropout("drop_in", data);  // reads a variable: kept
  x = op::Convolution("conv0", x, {.kernel = {3, 3}, .num_filter = 6, .pad = {1, 1}});
  x = op::Dropout("drop0", x);
  x = op::BatchNorm("bn0", x, {.fix_gamma = false});  // folds through the dropped Dropout
  x = Operator("BlockGrad")(x).CreateSymbol("grad0");
  x = op::Activation("relu0", x);
  Symbol feature = Operator("_copy")(x).CreateSymbol("copy0");  // a head, and read further on
  Symbol y = op::Flatten(op::Pooling("gap", feature, {.pool_type = "avg", .global_pool = true}), "flat");
  y = Operator("stop_gradient")(op::FullyConnected("fc", y, {.num_hidden = 3})).CreateSymbol("sg");
  Symbol net = Symbol::Group({feature, y, Operator("identity")(y).CreateSymbol("again")});
  auto params = testing::random_params(net, {{"data", Shape{2, 3, 5, 5}}}, 18);
  const NDArray input = testing::random_input({2, 3, 5, 5}, 19);
  const PlanReport plan = CheckRewrittenMatches(net, params, input);
  CHECK(plan.dropped_identities == 5);  // drop0, grad0, copy0, sg, again
  CHECK(plan.folded_batch_norms == 1);
  // relu0 became a head (copy0's place): like every head, it is not fused away.
  CHECK(plan.fused_activations == 0);
  for (const char* gone : {"drop0", "grad0", "copy0", "sg", "again", "bn0"}) CHECK(KernelOf(plan, gone).empty());
  CHECK(KernelOf(plan, "drop_in") == "drop_in: Dropout [reference]");
  CHECK(KernelOf(plan, "flat") == "flat: Flatten [reference]");
  CachedOp op(net, params, Context::cpu());
  CHECK(op.output_names() == std::vector<std::string>{"copy0_output", "sg_output", "again_output"});
  CHECK(op.input_names() == std::vector<std::string>{"data"});
  CachedOp kept(net, params, Context::cpu(), {.drop_identity = false});
  CHECK(kept.Plan({input.shape()}).dropped_identities == 0);
}

TEST_CASE("an identity around a label keeps the label out of Forward's inputs", "[rewrite][identity]") {
  Symbol data = Symbol::Variable("data");
  Symbol fc = op::FullyConnected("fc", data, {.num_hidden = 3});
  Symbol label = Operator("BlockGrad")(Symbol::Variable("label")).CreateSymbol("label_grad");
  Symbol net = Operator("SoftmaxOutput")(fc)(label).CreateSymbol("softmax");
  auto params = testing::random_params(net, {{"data", Shape{2, 4}}, {"label", Shape{2}}}, 20);
  CachedOp rewritten(net, params, Context::cpu());
  CachedOp as_written(net, params, Context::cpu(), kNoRewrites);
  CHECK(rewritten.input_names() == as_written.input_names());
}

TEST_CASE("an add that is a graph output still fuses (the fused node computes its value) and keeps "
          "its output name", "[rewrite][residual]") {
  Symbol data = Symbol::Variable("data");
  Symbol conv = op::Convolution("conv", data, {.kernel = {3, 3}, .num_filter = 3, .pad = {1, 1}});
  Symbol net = op::elemwise_add("sum", data, conv);  // the shortcut is the data input itself
  auto params = testing::random_params(net, {{"data", Shape{1, 3, 5, 5}}}, 21);
  const PlanReport plan = CheckRewrittenMatches(net, params, testing::random_input({1, 3, 5, 5}, 22));
  CHECK(plan.fused_residual_adds == 1);
  CHECK(plan.node_kernels == std::vector<std::string>{"conv: Convolution [dnnl]"});
  CHECK(CachedOp(net, params, Context::cpu()).output_names() == std::vector<std::string>{"sum_output"});
}

TEST_CASE("constant folding: a weight-only chain (transpose, _mul_scalar, elemwise_add of "
          "parameters) feeding a Convolution becomes one parameter and computes the unfolded result",
          "[rewrite][constants]") {
  Symbol net = ComputedWeightNet(false);
  auto params = testing::random_params(net, {{"data", kComputedWeightInput}}, 31);
  const NDArray x = testing::random_input(kComputedWeightInput, 32);
  const PlanReport plan = CheckRewrittenMatches(net, params, x);
  CHECK(plan.folded_constants == 3);
  for (const char* gone : {"w_transposed", "w_scaled", "w_sum"}) CHECK(KernelOf(plan, gone).empty());
  CHECK(KernelOf(plan, "conv") == "conv: Convolution [dnnl]");
  // w_t and w_offset (108 floats each) are bound no more; the folded weight (108 floats) is.
  CachedOp as_written(net, params, Context::cpu(), kNoRewrites);
  CHECK(plan.param_bytes + 108 * sizeof(float) == as_written.Plan({x.shape()}).param_bytes);
  // Folding runs the reference kernels, so on the reference backend the result is the oracle's bit
  // for bit.
  CachedOp folded(net, params, Context::cpu(), ReferenceKernels({}));
  CachedOp oracle(net, params, Context::cpu(), {.reference_only = true});
  CHECK(folded.Plan({x.shape()}).folded_constants == 3);
  CHECK(folded.Forward({x})[0].ToVector<float>() == oracle.Forward({x})[0].ToVector<float>());
}

TEST_CASE("constant folding: the caller's parameters keep their values, and the folded weight is "
          "the model's own copy taken at construction", "[rewrite][constants]") {
  Symbol net = ComputedWeightNet(false);
  auto params = testing::random_params(net, {{"data", kComputedWeightInput}}, 33);
  const auto before = Snapshot(params);
  const NDArray x = testing::random_input(kComputedWeightInput, 34);
  CachedOp op(net, params, Context::cpu());
  CHECK(Snapshot(params) == before);
  const std::vector<float> first = op.Forward({x})[0].ToVector<float>();
  params.at("w_t").Fill(0.f);  // shared with the caller: folding read it once, at construction
  CHECK(op.Forward({x})[0].ToVector<float>() == first);
}

TEST_CASE("constant folding: nodes that read a data input and graph outputs are not folded, and a "
          "folded array's name does not collide with a data input's", "[rewrite][constants]") {
  // The data input has the name folding would give `scale`'s value first.
  Symbol data = Symbol::Variable("scale_folded");
  Symbol s = Symbol::Variable("s", {{"__shape__", "(1, 4, 1, 1)"}});
  Symbol shifted = Operator("_plus_scalar").SetParam("scalar", 1.0)(data).CreateSymbol("shifted");
  Symbol scale = Operator("_mul_scalar").SetParam("scalar", 2.0)(s).CreateSymbol("scale");
  Symbol y = Binary("broadcast_mul", "y", shifted, scale);
  // A head computed from parameters alone keeps its node (and its output name); what it reads folds.
  Symbol s_flat = op::Reshape("s_flat", s, {4});
  Symbol twice = Operator("_mul_scalar").SetParam("scalar", 2.0)(s_flat).CreateSymbol("twice");
  Symbol net = Symbol::Group({y, twice});
  const NDArray x = testing::random_input({2, 4, 3, 3}, 35);
  auto params = testing::random_params(net, {{"scale_folded", x.shape()}}, 36);
  const PlanReport plan = CheckRewrittenMatches(net, params, x);
  CHECK(plan.folded_constants == 2);  // scale, s_flat
  CHECK(KernelOf(plan, "scale").empty());
  CHECK(KernelOf(plan, "s_flat").empty());
  CHECK(KernelOf(plan, "shifted") == "shifted: _plus_scalar [reference]");
  CHECK(KernelOf(plan, "twice") == "twice: _mul_scalar [reference]");
  CachedOp op(net, params, Context::cpu());
  CHECK(op.input_names() == std::vector<std::string>{"scale_folded"});
  CHECK(op.output_names() == std::vector<std::string>{"y_output", "twice_output"});
  const std::vector<float> got = op.Forward({x})[1].ToVector<float>();
  const std::vector<float> s_values = params.at("s").ToVector<float>();
  REQUIRE(got.size() == 4);
  for (size_t c = 0; c < 4; ++c) CHECK(got[c] == 2.f * s_values[c]);
}

namespace {
// A custom operator with a side effect: its output is its input plus the number of calls before.
std::atomic<int> g_count_calls{0};
void RegisterCountCalls() {
  static bool done = [] {
    OpSchema s;
    s.name = "CountCalls";
    s.parse = [](const AttrReader&) { return std::any(); };
    s.arguments = [](const std::any&) { return std::vector<std::string>{"data"}; };
    s.infer_shape = [](ShapeInferenceArgs& a) { a.out[0] = a.in[0]; };
    RegisterOp(s);
    RegisterKernel("CountCalls", Backend::kReference, [](const KernelSpec&) {
      return MakeKernel([](const KernelCall& c) {
        const float n = static_cast<float>(g_count_calls++);
        const float* x = c.inputs[0].as<float>();
        float* y = c.outputs[0].as<float>();
        for (int64_t i = 0; i < c.inputs[0].size(); ++i) y[i] = x[i] + n;
      });
    });
    return true;
  }();
  (void)done;
}
}  // namespace

TEST_CASE("constant folding: a custom operator reading only parameters is not folded (it may have "
          "side effects)", "[rewrite][constants]") {
  RegisterCountCalls();
  Symbol counted = Operator("CountCalls")(Symbol::Variable("p")).CreateSymbol("counted");
  Symbol net = op::elemwise_add("sum", Symbol::Variable("data"), counted);
  const std::map<std::string, NDArray> params = {{"p", NDArray({1.f, 2.f, 3.f}, Shape{3})}};
  CachedOp op(net, params, Context::cpu());
  const NDArray x({10.f, 20.f, 30.f}, Shape{3});
  CHECK(op.Plan({x.shape()}).folded_constants == 0);
  const std::vector<float> first = op.Forward({x})[0].ToVector<float>();
  const std::vector<float> second = op.Forward({x})[0].ToVector<float>();
  for (size_t i = 0; i < 3; ++i) CHECK(second[i] - first[i] == 1.f);  // it ran on every call
}

TEST_CASE("constant folding: switched off, the graph is planned as written", "[rewrite][constants]") {
  Symbol net = ComputedWeightNet(false);
  auto params = testing::random_params(net, {{"data", kComputedWeightInput}}, 37);
  CachedOp off(net, params, Context::cpu(), {.fold_constants = false});
  CachedOp as_written(net, params, Context::cpu(), kNoRewrites);
  const PlanReport plan = off.Plan({kComputedWeightInput});
  const PlanReport want = as_written.Plan({kComputedWeightInput});
  CHECK(plan.folded_constants == 0);
  CHECK(plan.node_kernels == want.node_kernels);  // the chain's 3 nodes, conv, gap, flat, fc
  CHECK(plan.node_kernels.size() == 7);
  CHECK(plan.param_bytes == want.param_bytes);
}

TEST_CASE("a ReLU after a BatchNorm that follows no convolution fuses into it, on every CPU path; "
          "not when the BatchNorm's output has another reader", "[rewrite][batch_norm]") {
  // Pre-activation order (ResNet v2): x -> bn1 -> relu1 -> conv; bn2's output is also added back,
  // so relu2 stays a node of its own.
  Symbol data = Symbol::Variable("data");
  Symbol x = op::Convolution("conv0", data, {.kernel = {3, 3}, .num_filter = 8, .pad = {1, 1}});
  Symbol y = op::Activation("relu0", op::elemwise_add("add0", x, data));  // no BatchNorm to fold
  Symbol a = op::Activation("relu1", op::BatchNorm("bn1", y, {.eps = 1e-5, .fix_gamma = false}));
  Symbol b = op::BatchNorm("bn2", op::Convolution("conv1", a, {.kernel = {1, 1}, .num_filter = 8}),
                           {.fix_gamma = false});
  Symbol net = op::elemwise_add("add1", op::Activation("relu2", b), b);
  // Input and weights from both signs, so that every ReLU clips something.
  auto params = testing::random_params(net, {{"data", Shape{2, 8, 6, 6}}}, 41);
  const NDArray input = testing::random_input({2, 8, 6, 6}, 42, -1.f, 1.f);
  const PlanReport plan = CheckRewrittenMatches(net, params, input);
  CHECK(KernelOf(plan, "bn1") == "bn1: BatchNorm [dnnl]");
  CHECK(KernelOf(plan, "relu1").empty());  // fused into bn1
  CHECK_FALSE(KernelOf(plan, "relu2").empty());
}

TEST_CASE("clip (ReLU6) after a convolution fuses into it on the CPU, also after a fused residual "
          "add; a TF-style Pad folds into the convolution", "[rewrite][clip]") {
  // MobileNet / EfficientNet: Pad (asymmetric, "SAME" for stride 2) -> conv -> BN -> clip(0, 6);
  // a second block adds its input back before a clip(-1, 0.5).
  Symbol data = Symbol::Variable("data");
  Symbol padded = Operator("Pad")
                      .SetParam("mode", "constant")
                      .SetParam("pad_width", std::vector<int64_t>{0, 0, 0, 0, 0, 1, 0, 1})(data)
                      .CreateSymbol("pad0");
  Symbol x = op::Convolution("conv0", padded, {.kernel = {3, 3}, .num_filter = 8, .stride = {2, 2}});
  x = op::BatchNorm("bn0", x, {.fix_gamma = false});
  x = Operator("clip").SetParam("a_min", 0).SetParam("a_max", 6)(x).CreateSymbol("relu6_0");
  Symbol y = op::Convolution("conv1", x, {.kernel = {3, 3}, .num_filter = 8, .pad = {1, 1}});
  y = op::elemwise_add("add1", y, x);
  y = Operator("clip").SetParam("a_min", -1).SetParam("a_max", 0.5)(y).CreateSymbol("clip1");
  Symbol net = op::Pooling("gap", y, {.pool_type = "avg", .global_pool = true});  // clip1 no head
  auto params = testing::random_params(net, {{"data", Shape{2, 3, 9, 9}}}, 43);
  const NDArray input = testing::random_input({2, 3, 9, 9}, 44, -3.f, 3.f);
  const PlanReport plan = CheckRewrittenMatches(net, params, input);
  CHECK(plan.fused_activations == 2);
  CHECK(KernelOf(plan, "relu6_0").empty());
  CHECK(KernelOf(plan, "clip1").empty());
  CHECK(KernelOf(plan, "conv1") == "conv1: Convolution [dnnl]");
  CachedOp nhwc(net, params, Context::cpu());  // the default: channels-last, Pad folded into conv0
  const PlanReport last = nhwc.Plan({input.shape()});
  CHECK(last.fused_pads == 1);
  CHECK(KernelOf(last, "pad0").empty());
  // conv0 (with pad0's widths), conv1 (+add1+clip1) run NHWC: one transpose in (data), one out
  // (before gap).
  CHECK(last.converted_to_channels_last >= 2);
  CHECK(std::count_if(last.node_kernels.begin(), last.node_kernels.end(), [](const std::string& k) {
          return k.find(": Transpose") != std::string::npos;
        }) == 2);
}

TEST_CASE("constant folding then BatchNorm folding: a computed Convolution weight still absorbs "
          "the BatchNorm and the ReLU", "[rewrite][constants]") {
  Symbol net = ComputedWeightNet(true);
  auto params = testing::random_params(net, {{"data", kComputedWeightInput}}, 38);
  const NDArray x = testing::random_input(kComputedWeightInput, 39);
  const PlanReport plan = CheckRewrittenMatches(net, params, x);
  CHECK(plan.folded_constants == 3);
  CHECK(plan.folded_batch_norms == 1);
  CHECK(plan.fused_activations == 1);
  CHECK(plan.node_kernels.size() == 4);  // conv (+bn+relu), gap, flat, fc
  CHECK(KernelOf(plan, "conv") == "conv: Convolution [dnnl]");
  // Without constant folding the weight is a node's output, which BatchNorm folding cannot scale.
  CachedOp unfolded(net, params, Context::cpu(), {.fold_constants = false});
  CHECK(unfolded.Plan({x.shape()}).folded_batch_norms == 0);
  CHECK(unfolded.Plan({x.shape()}).fused_activations == 1);  // relu fuses into the BatchNorm
}

TEST_CASE("constant folding: Cast, Reshape, elemwise_mul and BatchNorm of parameters fold and "
          "compute the unfolded result on oneDNN and the reference", "[rewrite][constants]") {
  // fc's weight is a float64 parameter cast and reshaped, its bias the product of two
  // parameters, and its output is scaled per class by a BatchNorm applied to a parameter.
  Symbol w64 = Symbol::Variable("w64", {{"__shape__", "(40,)"}});
  Symbol cast = Operator("Cast").SetParam("dtype", "float32")(w64).CreateSymbol("w_cast");
  Symbol w = op::Reshape("w_shaped", cast, {5, 8});
  Symbol bias = Binary("elemwise_mul", "b_mul", Symbol::Variable("b1", {{"__shape__", "(5,)"}}),
                       Symbol::Variable("b2", {{"__shape__", "(5,)"}}));
  Symbol fc = Operator("FullyConnected")
                  .SetParam("num_hidden", 5)(Symbol::Variable("data"))(w)(bias)
                  .CreateSymbol("fc");
  Symbol s = Symbol::Variable("s", {{"__shape__", "(1, 5)"}});
  Symbol scale = op::BatchNorm("s_bn", s, {.fix_gamma = false});
  Symbol net = Binary("broadcast_mul", "scaled", fc, scale);
  const NDArray x = testing::random_input({3, 8}, 40);
  auto params = testing::random_params(net, {{"data", x.shape()}}, 41);
  const std::vector<float> w_values = params.at("w64").ToVector<float>();
  params["w64"] = NDArray(std::vector<double>(w_values.begin(), w_values.end()), Shape{40});
  const PlanReport plan = CheckRewrittenMatches(net, params, x);
  CHECK(plan.folded_constants == 4);  // w_cast, w_shaped, b_mul, s_bn
  CHECK(plan.node_kernels ==
        std::vector<std::string>{"fc: FullyConnected [dnnl]", "scaled: broadcast_mul [dnnl]"});
  // The folded weight is float32: 5 x 8 weight, bias, scale, 4 bytes each.
  CHECK(plan.param_bytes == (40 + 5 + 5) * sizeof(float));
}

// ---- channels_last: the layout pass (lib/exec/layout.hpp) ----

namespace {

CachedOpFlags WithChannelsLast(CachedOpFlags f) {
  f.channels_last = true;
  return f;
}

// Nodes of the plan that run operator `op` ("Transpose", "Convolution").
int CountOp(const PlanReport& plan, const std::string& op) {
  int count = 0;
  for (const std::string& line : plan.node_kernels) count += line.find(": " + op + " [") != std::string::npos;
  return count;
}

// channels_last against the same flags without it, on the reference (the same sums in the same
// order: equal up to 1e-5 relative) and on oneDNN (other algorithms in NHWC: kClose); returns the
// channels_last plan on the reference.
PlanReport CheckChannelsLastMatches(const Symbol& net, const std::map<std::string, NDArray>& params,
                                    const NDArray& x) {
  PlanReport reference_plan;
  for (const CpuBackend& b : kCpuBackends) {
    INFO("backend " << b.name);
    CachedOp nhwc(net, params, Context::cpu(), WithChannelsLast(b.rewritten));
    CachedOp nchw(net, params, Context::cpu(), b.rewritten);
    const auto got = nhwc.Forward({x}), want = nchw.Forward({x});
    REQUIRE(got.size() == want.size());
    const bool on_reference = std::string(b.name) == "reference";
    for (size_t i = 0; i < got.size(); ++i) {
      CHECK(got[i].shape() == want[i].shape());  // outputs keep the NCHW shapes
      const auto c = testing::compare_arrays(got[i], want[i], on_reference ? kSame : kClose);
      INFO("output " << i << ": max abs error " << c.max_abs_error << ", " << c.mismatches << " mismatches");
      CHECK(c.ok());
    }
    CHECK(nhwc.output_names() == net.ListOutputs());
    CHECK(nhwc.input_names() == nchw.input_names());
    if (on_reference) reference_plan = nhwc.Plan({x.shape()});
  }
  return reference_plan;
}

Symbol PoolingOp(const std::string& name, const Symbol& data, AttrMap attrs) {
  Operator b("Pooling");
  for (const auto& [k, v] : attrs) b.SetParam(k, v);
  return b(data).CreateSymbol(name);
}

}  // namespace

TEST_CASE("channels_last: op-level conv/pool NHWC reference matches NCHW (stride / pad / dilate, "
          "groups, fused ReLU + residual, global / avg / max pooling, count_include_pad)",
          "[rewrite][channels_last]") {
  SECTION("a strided, padded, dilated conv with a fused ReLU, then a grouped conv without bias, as "
          "graph outputs") {
    Symbol data = Symbol::Variable("data");
    Symbol a = op::Activation("relu0", op::Convolution("conv0", data, {.kernel = {3, 3}, .num_filter = 6, .stride = {2, 1}, .pad = {1, 2}, .dilate = {1, 2}}));
    Symbol b = op::Convolution("conv1", a, {.kernel = {3, 3}, .num_filter = 4, .pad = {1, 1}, .num_group = 2, .no_bias = true});
    Symbol net = Symbol::Group({a, b});
    auto params = testing::random_params(net, {{"data", Shape{2, 3, 9, 8}}}, 30);
    const PlanReport plan = CheckChannelsLastMatches(net, params, testing::random_input({2, 3, 9, 8}, 31));
    CHECK(plan.fused_activations == 0);  // relu0 is a head
    CHECK(plan.converted_to_channels_last == 3);  // conv0, relu0, conv1
    // In: data. Out: both heads; relu0 is read by conv1 in NHWC too.
    CHECK(CountOp(plan, "Transpose") == 3);
    CHECK(KernelOf(plan, "conv1") == "conv1: Convolution [reference]");
  }
  SECTION("residual blocks: BatchNorm folded, residual adds and ReLUs fused, global avg pool") {
    Symbol net = ResidualNet();
    auto params = testing::random_params(net, {{"data", Shape{2, 3, 8, 8}}}, 32);
    const PlanReport plan = CheckChannelsLastMatches(net, params, testing::random_input({2, 3, 8, 8}, 33));
    CHECK(plan.fused_residual_adds == 3);
    CHECK(plan.fused_activations == 3);
    CHECK(plan.converted_to_channels_last == 6);  // conv0, conv1, conv2, conv3s, conv3, gap
    // data -> NHWC before conv0, gap -> NCHW before Flatten; the shortcuts stay NHWC.
    CHECK(CountOp(plan, "Transpose") == 2);
    CHECK(KernelOf(plan, "data_nhwc") == "data_nhwc: Transpose [reference]");
    CHECK(KernelOf(plan, "gap_nchw") == "gap_nchw: Transpose [reference]");
    // oneDNN runs the NHWC convolutions with their fused residual and ReLU itself.
    const PlanReport dnnl_plan = CachedOp(net, params, Context::cpu(), {.channels_last = true}).Plan({Shape{2, 3, 8, 8}});
    for (const char* conv : {"conv1", "conv2", "conv3"}) CHECK(KernelOf(dnnl_plan, conv) == std::string(conv) + ": Convolution [dnnl]");
    CHECK(KernelOf(dnnl_plan, "gap") == "gap: Pooling [dnnl]");
  }
  SECTION("pools of every kind reading one conv: one transpose in, one out per head") {
    Symbol data = Symbol::Variable("data");
    Symbol c = op::Convolution("conv", data, {.kernel = {3, 3}, .num_filter = 5});
    Symbol net = Symbol::Group({
        PoolingOp("max_full", c, {{"kernel", "(3, 3)"}, {"stride", "(2, 2)"}, {"pad", "(1, 1)"}, {"pooling_convention", "full"}}),
        PoolingOp("avg_excl", c, {{"kernel", "(3, 3)"}, {"pad", "(1, 1)"}, {"pool_type", "avg"}, {"count_include_pad", "False"}}),
        PoolingOp("avg_incl", c, {{"kernel", "(3, 2)"}, {"stride", "(2, 2)"}, {"pad", "(1, 1)"}, {"pool_type", "avg"}}),
        PoolingOp("sum_same", c, {{"kernel", "(2, 2)"}, {"stride", "(2, 2)"}, {"pool_type", "sum"}, {"pooling_convention", "same"}}),
        PoolingOp("global_max", c, {{"global_pool", "True"}}),
    });
    auto params = testing::random_params(net, {{"data", Shape{2, 3, 9, 10}}}, 34);
    const PlanReport plan = CheckChannelsLastMatches(net, params, testing::random_input({2, 3, 9, 10}, 35));
    CHECK(plan.converted_to_channels_last == 6);
    CHECK(CountOp(plan, "Transpose") == 6);
  }
  SECTION("a pool straight on the data, with nothing NHWC around it") {
    Symbol net = op::Pooling("pool", Symbol::Variable("data"), {.kernel = {2, 2}, .pool_type = "avg", .stride = {2, 2}});
    const PlanReport plan = CheckChannelsLastMatches(net, {}, testing::random_input({1, 3, 6, 6}, 36));
    CHECK(plan.converted_to_channels_last == 1);
    CHECK(CountOp(plan, "Transpose") == 2);
  }
}

TEST_CASE("channels_last: NHWC flows through layout-agnostic ops, stops at the others, and is "
          "transposed once per tensor and direction", "[rewrite][channels_last]") {
  Symbol data = Symbol::Variable("data");
  Symbol x = op::Convolution("conv0", data, {.kernel = {3, 3}, .num_filter = 8, .pad = {1, 1}});
  x = op::LeakyReLU("leaky", x, {.slope = 0.1});
  x = Operator("_mul_scalar").SetParam("scalar", 0.5)(x).CreateSymbol("half");
  x = Operator("clip").SetParam("a_min", -0.4).SetParam("a_max", 0.4)(x).CreateSymbol("clip");
  x = op::BatchNorm("bn", x, {.fix_gamma = false});  // after clip: not folded, axis 1 -> 3
  Symbol a = op::Convolution("conv1", x, {.kernel = {1, 1}, .num_filter = 4});
  Symbol b = op::Convolution("conv2", x, {.kernel = {3, 3}, .num_filter = 4, .pad = {1, 1}});
  Symbol cat = op::Concat("cat", {a, b});  // dim 1 -> 3
  Symbol scaled = Binary("broadcast_mul", "scaled", cat, Symbol::Variable("scale"));  // scale: (1,)
  Symbol sum = Binary("elemwise_add", "sum", scaled, cat);
  Symbol cast = Operator("Cast").SetParam("dtype", "float32")(sum).CreateSymbol("cast");
  // prelu's gamma is per channel: it stays NCHW, and so does the channel softmax.
  Symbol prelu = Operator("LeakyReLU").SetParam("act_type", "prelu")(cast).CreateSymbol("prelu");
  Symbol y = op::Convolution("conv3", prelu, {.kernel = {3, 3}, .num_filter = 4});
  Symbol net = Symbol::Group({op::softmax("softmax", y, 1), sum});
  auto params = testing::random_params(net, {{"data", Shape{2, 3, 7, 6}}, {"scale", Shape{1}}}, 37);
  params["scale"] = NDArray({1.5f}, Shape{1});
  const PlanReport plan = CheckChannelsLastMatches(net, params, testing::random_input({2, 3, 7, 6}, 38));
  // conv0, leaky, half, clip, bn, conv1, conv2, cat, scaled, sum, cast, conv3.
  CHECK(plan.converted_to_channels_last == 12);
  // data -> conv0; cast -> prelu; prelu -> conv3; conv3 -> softmax; sum -> the graph output.
  CHECK(CountOp(plan, "Transpose") == 5);
  for (const char* t : {"data_nhwc", "cast_nchw", "prelu_nhwc", "conv3_nchw", "sum_nchw"}) {
    INFO(t);
    CHECK(KernelOf(plan, t) == std::string(t) + ": Transpose [reference]");
  }
  CHECK(KernelOf(plan, "prelu") == "prelu: LeakyReLU [reference]");
}

TEST_CASE("channels_last: ResNet-18 v1 on the reference computes the same probabilities within "
          "1e-5, with one transpose in and one out", "[rewrite][channels_last][zoo]") {
  Symbol net = zoo::ByName("resnet18-v1", 10);
  auto params = zoo::SyntheticParams(net, {1, 3, 64, 64}, 5, {.calibration_batch = 1});
  const NDArray x = testing::random_input({1, 3, 64, 64}, 6, 0.f, 255.f);
  CachedOp nhwc(net, params, Context::cpu(), ReferenceKernels({.channels_last = true}));
  CachedOp nchw(net, params, Context::cpu(), ReferenceKernels({}));
  const PlanReport plan = nhwc.Plan({x.shape()});
  CHECK(plan.folded_batch_norms == 20);
  CHECK(plan.fused_residual_adds == 8);
  CHECK(plan.converted_to_channels_last == 22);  // 20 convolutions, the max pool and the global pool
  CHECK(CountOp(plan, "Transpose") == 2);
  CHECK(CountOp(plan, "Convolution") == 20);
  const auto got = nhwc.Forward({x})[0].ToVector<float>();
  const auto want = nchw.Forward({x})[0].ToVector<float>();
  CHECK(Top5(got) == Top5(want));
  const auto c = testing::compare_arrays(NDArray(got, Shape{1, 10}), NDArray(want, Shape{1, 10}), kSame);
  INFO("max |p - p_nchw| " << c.max_abs_error);
  CHECK(c.ok());
  // The default CPU backends: oneDNN runs the NHWC convolutions, the pools and the transposes
  // (a reorder each).
  CachedOp nhwc_default(net, params, Context::cpu(), {.channels_last = true});
  const PlanReport dplan = nhwc_default.Plan({x.shape()});
  CHECK(KernelOf(dplan, "conv1") == "conv1: Convolution [dnnl]");
  CHECK(KernelOf(dplan, "maxpool") == "maxpool: Pooling [dnnl]");
  CHECK(KernelOf(dplan, "data_nhwc") == "data_nhwc: Transpose [dnnl]");
  const auto dgot = nhwc_default.Forward({x})[0].ToVector<float>();
  const auto dwant = CachedOp(net, params, Context::cpu(), kNchw).Forward({x})[0].ToVector<float>();
  CHECK(Top5(dgot) == Top5(dwant));
  CHECK(testing::compare_arrays(NDArray(dgot, Shape{1, 10}), NDArray(dwant, Shape{1, 10}), kClose).ok());
}

TEST_CASE("channels_last: inception-bn (concat, avg and max pooling) gives the same top-5 and "
          "probabilities on the default CPU backends", "[rewrite][channels_last][zoo]") {
  Symbol net = zoo::ByName("inception-bn", 10);
  auto params = zoo::SyntheticParams(net, {1, 3, 224, 224}, 7, {.calibration_batch = 1});
  const NDArray x = testing::random_input({1, 3, 224, 224}, 8, 0.f, 255.f);
  CachedOp nhwc(net, params, Context::cpu(), {.channels_last = true});
  CachedOp nchw(net, params, Context::cpu(), kNchw);
  const PlanReport plan = nhwc.Plan({x.shape()});
  CHECK(CountOp(plan, "Transpose") == 2);  // the data in, the last pool out (before Flatten)
  CHECK(plan.converted_to_channels_last == CountOp(plan, "Convolution") + CountOp(plan, "Pooling") + CountOp(plan, "Concat"));
  CHECK(CountOp(plan, "Concat") == 10);
  const auto got = nhwc.Forward({x})[0].ToVector<float>();
  const auto want = nchw.Forward({x})[0].ToVector<float>();
  CHECK(Top5(got) == Top5(want));
  const auto c = testing::compare_arrays(NDArray(got, Shape{1, 10}), NDArray(want, Shape{1, 10}), kClose);
  INFO("max |p - p_nchw| " << c.max_abs_error);
  CHECK(c.ok());
}

TEST_CASE("channels_last: MNIST CNN predictions identical on all 10k images", "[rewrite][channels_last][models]") {
  TANDEM_REQUIRE_MNIST(mnist);
  const Symbol& net = mnist.net;
  const auto& params = mnist.params;
  const samples::IdxFile& images = mnist.images;
  CachedOp nhwc(net, params, Context::cpu(), {.channels_last = true});
  CachedOp nchw(net, params, Context::cpu(), kNchw);
  const PlanReport plan = nhwc.Plan({Shape{100, 1, 28, 28}});
  CHECK(plan.converted_to_channels_last == 4);  // two convolutions, two pools
  CHECK(CountOp(plan, "Transpose") == 2);
  CHECK(test::EvaluateMnist(nhwc, images, nullptr, 2, 500).predictions ==
        test::EvaluateMnist(nchw, images, nullptr, 2, 500).predictions);
}

TEST_CASE("channels_last: caller's params are not modified; the transposed weights replace the "
          "originals, once per shared weight", "[rewrite][channels_last]") {
  Symbol data = Symbol::Variable("data");
  Symbol w = Symbol::Variable("shared_weight");
  Symbol a = Operator("Convolution").SetParam("kernel", Shape{3, 3}).SetParam("num_filter", 4).SetParam("pad", Shape{1, 1})
                 .SetParam("no_bias", true)(data)(w).CreateSymbol("conv_a");
  Symbol b = Operator("Convolution").SetParam("kernel", Shape{3, 3}).SetParam("num_filter", 4).SetParam("pad", Shape{1, 1})
                 .SetParam("no_bias", true)(a)(w).CreateSymbol("conv_b");
  Symbol net = op::BatchNorm("bn", b, {.fix_gamma = false});  // folds: conv_b gets its own weight
  auto params = testing::random_params(net, {{"data", Shape{1, 4, 5, 5}}}, 39);
  const auto before = Snapshot(params);
  const NDArray x = testing::random_input({1, 4, 5, 5}, 40);
  CachedOp nhwc(net, params, Context::cpu(), {.channels_last = true});
  CachedOp nchw(net, params, Context::cpu(), kNchw);
  CHECK(testing::compare_arrays(nhwc.Forward({x})[0], nchw.Forward({x})[0], kClose).ok());
  CHECK(Snapshot(params) == before);
  // The same arrays' worth of weights are bound: transposed instead of as given, none twice.
  CHECK(nhwc.Plan({x.shape()}).param_bytes == nchw.Plan({x.shape()}).param_bytes);
  CachedOp shared(Symbol::Group({a, b}), params, Context::cpu(), {.channels_last = true});
  CHECK(shared.Plan({x.shape()}).param_bytes == 4 * 4 * 3 * 3 * sizeof(float));
  CHECK(testing::compare_arrays(shared.Forward({x})[1],
                                CachedOp(Symbol::Group({a, b}), params, Context::cpu()).Forward({x})[1], kClose).ok());
}

TEST_CASE("channels_last: a convolution whose weight is computed stays NCHW; the flag is on by "
          "default on the CPU, can be switched off, and is not applied with reference_only",
          "[rewrite][channels_last]") {
  // The weight is a data input, scaled (a variable read only as a weight would be a missing
  // parameter).
  Symbol weight = Operator("_mul_scalar").SetParam("scalar", 2.0)(Symbol::Variable("w")).CreateSymbol("w2");
  Symbol net = Operator("Convolution").SetParam("kernel", Shape{3, 3}).SetParam("num_filter", 2).SetParam("no_bias", true)
                   (Symbol::Variable("data"))(weight).CreateSymbol("conv");
  const NDArray x = testing::random_input({1, 3, 5, 5}, 41), w = testing::random_input({2, 3, 3, 3}, 42);
  CachedOp fed(net, {}, Context::cpu(), {.channels_last = true});
  REQUIRE(fed.input_names() == std::vector<std::string>{"data", "w"});
  const PlanReport plan = fed.Plan({x.shape(), w.shape()});
  CHECK(plan.converted_to_channels_last == 0);
  CHECK(CountOp(plan, "Transpose") == 0);
  const std::vector<NDArray> inputs = {x, w};
  CHECK(testing::compare_arrays(fed.Forward(inputs)[0],
                                CachedOp(net, {}, Context::cpu(), {.reference_only = true}).Forward(inputs)[0], kClose).ok());
  Symbol conv = op::Convolution("conv", Symbol::Variable("data"), {.kernel = {3, 3}, .num_filter = 2});
  auto params = testing::random_params(conv, {{"data", x.shape()}}, 43);
  CHECK(CachedOp(conv, params, Context::cpu(), kNchw).Plan({x.shape()}).converted_to_channels_last == 0);
  CHECK(CachedOp(conv, params, Context::cpu()).Plan({x.shape()}).converted_to_channels_last == 1);  // CPU default
  CHECK(CachedOp(conv, params, Context::cpu(), {.reference_only = true, .channels_last = true})
            .Plan({x.shape()}).converted_to_channels_last == 0);
  CHECK(CachedOp(conv, params, Context::cpu(), {.channels_last = true}).Plan({x.shape()}).converted_to_channels_last == 1);
}

TEST_CASE("channels_last: a wrong input shape still names the convolution the user wrote",
          "[rewrite][channels_last]") {
  Symbol net = Net(false);
  CachedOp op(net, Params(net), Context::cpu(), {.channels_last = true});
  CHECK_THROWS_AS(op.Forward({testing::random_input({2, 4, 9, 7})}), ShapeError);
  CHECK_THROWS_WITH(op.Forward({testing::random_input({2, 4, 9, 7})}), Catch::Contains("conv0"));
}

namespace {

// Two MobileNet v2 blocks: expand 1x1 + ReLU, depthwise 3x3 + ReLU, project 1x1 (+ the block's
// input in the first, stride 2 in the second).
Symbol InvertedResidualNet() {
  Symbol data = Symbol::Variable("data");
  Symbol x = op::Activation("relu_e1", op::Convolution("expand1", data, {.kernel = {1, 1}, .num_filter = 96}));
  x = op::Activation("relu_d1", op::Convolution("dw1", x, {.kernel = {3, 3}, .num_filter = 96, .pad = {1, 1}, .num_group = 96}));
  x = op::elemwise_add("add1", op::Convolution("project1", x, {.kernel = {1, 1}, .num_filter = 24}), data);
  x = op::Activation("relu_e2", op::Convolution("expand2", x, {.kernel = {1, 1}, .num_filter = 96}));
  x = op::Activation("relu_d2", op::Convolution("dw2", x, {.kernel = {3, 3}, .num_filter = 96, .stride = {2, 2}, .pad = {1, 1}, .num_group = 96}));
  return op::Convolution("project2", x, {.kernel = {1, 1}, .num_filter = 32});
}

// The hidden attributes of the blocked-activation pass (lib/ops/params.hpp).
constexpr const char* kBlockedIn = "__tandem_blocked_in__";
constexpr const char* kBlockedOut = "__tandem_blocked_out__";

// The default CPU plan of `net` against the reference kernels: every output of the same shape and
// within a tolerance for outputs of order 10 (random weights over up to 96 channels, summed in
// other orders by oneDNN). Returns the default plan's report.
PlanReport CheckDefaultMatchesReference(const Symbol& net, const std::map<std::string, NDArray>& params,
                                        const NDArray& x) {
  CachedOp fast(net, params, Context::cpu());
  CachedOp reference(net, params, Context::cpu(), {.reference_only = true});
  const auto got = fast.Forward({x}), want = reference.Forward({x});
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    CHECK(got[i].shape() == want[i].shape());
    const auto c = testing::compare_arrays(got[i], want[i], {.rtol = 1e-4, .atol = 1e-3});
    INFO("output " << i << ": max abs error " << c.max_abs_error << ", " << c.mismatches << " mismatches");
    CHECK(c.ok());
  }
  return fast.Plan({x.shape()});
}

// A channels-last convolution as the blocked-activation pass leaves it.
Symbol NhwcConv(const std::string& name, const Symbol& data, int64_t kernel, int64_t filters, int64_t groups,
                const char* blocked_attr, const char* blocked_attr2 = nullptr) {
  Operator b("Convolution");
  b.SetParam("kernel", Shape{kernel, kernel}).SetParam("num_filter", filters).SetParam("num_group", groups)
      .SetParam("pad", Shape{kernel / 2, kernel / 2}).SetParam("layout", "NHWC");
  for (const char* attr : {blocked_attr, blocked_attr2})
    if (attr) b.SetParam(attr, "True");
  return b(data).CreateSymbol(name);
}

}  // namespace

TEST_CASE("blocked activations: MobileNet blocks keep their expanded tensors in oneDNN's nChw16c "
          "layout from batch 4 up, with the same results as the reference", "[rewrite][blocked]") {
  const Symbol net = InvertedResidualNet();
  for (int64_t batch : {4, 1}) {
    INFO("batch " << batch);
    const Shape shape{batch, 24, 10, 10};
    const auto params = testing::random_params(net, {{"data", shape}}, 40);
    const PlanReport plan = CheckDefaultMatchesReference(net, params, testing::random_input(shape, 41));
    // The outputs of expand1, dw1, expand2 and dw2; project1's output is also a residual, and
    // project2's a graph output.
    CHECK(plan.blocked_tensors == 4);
    for (const char* conv : {"expand1", "dw1", "project1", "expand2", "dw2", "project2"})
      CHECK(KernelOf(plan, conv) == std::string(conv) + ": Convolution [dnnl]");
  }
}

TEST_CASE("blocked activations: the reference and oneDNN kernels read and write the nChw16c "
          "layout the hidden attributes ask for", "[rewrite][blocked]") {
  // data (NHWC, 16 channels) -> a: 1x1 to 32, output blocked -> b: depthwise 3x3, data blocked,
  // output blocked -> c: 1x1 to 16, data blocked. Computed with and without the attributes: a
  // blocked tensor is only another order of the same numbers, so the results are the same.
  const Shape shape{5, 6, 7, 16};
  auto build = [](bool blocked) {
    Symbol data = Symbol::Variable("data");
    Symbol a = NhwcConv("a", data, 1, 32, 1, blocked ? kBlockedOut : nullptr);
    Symbol b = NhwcConv("b", a, 3, 32, 32, blocked ? kBlockedIn : nullptr, blocked ? kBlockedOut : nullptr);
    return NhwcConv("c", b, 1, 16, 1, blocked ? kBlockedIn : nullptr);
  };
  const Symbol plain = build(false), blocked = build(true);
  const auto params = testing::random_params(plain, {{"data", shape}}, 42);
  const NDArray x = testing::random_input(shape, 43);
  const NDArray want = CachedOp(plain, params, Context::cpu(), {.reference_only = true}).Forward({x})[0];
  const NDArray ref = CachedOp(blocked, params, Context::cpu(), {.reference_only = true}).Forward({x})[0];
  CHECK(testing::compare_arrays(ref, want, kSame).ok());
  const NDArray dnnl = CachedOp(blocked, params, Context::cpu(), kNoRewrites).Forward({x})[0];
  const auto c = testing::compare_arrays(dnnl, want, kClose);
  INFO("oneDNN: max abs error " << c.max_abs_error);
  CHECK(c.ok());
  // A tensor the attributes call blocked must fill whole 16-channel blocks.
  Symbol odd = NhwcConv("odd", Symbol::Variable("data"), 1, 24, 1, kBlockedOut);
  const auto odd_params = testing::random_params(NhwcConv("odd", Symbol::Variable("data"), 1, 24, 1, nullptr), {{"data", shape}}, 44);
  CHECK_THROWS_WITH(CachedOp(odd, odd_params, Context::cpu(), {.reference_only = true}).Forward({x}),
                    Catch::Contains("multiple of 16 channels") && Catch::Contains("odd"));
}

TEST_CASE("pad fusion: a zero Pad before a stride-2 convolution (TensorFlow SAME) becomes the "
          "convolution's asymmetric padding on the CPU; other Pads stay", "[rewrite][pad]") {
  auto pad = [](const std::string& name, const Symbol& x, const char* widths, double value) {
    return Operator("Pad").SetParam("mode", "constant").SetParam("pad_width", widths)
        .SetParam("constant_value", value)(x).CreateSymbol(name);
  };
  Symbol data = Symbol::Variable("data");
  // Fused: zeros after each spatial axis only, then a 3x3 stride-2 convolution (+ BatchNorm, ReLU).
  Symbol a = op::Activation("relu_a", op::BatchNorm("bn_a", op::Convolution("conv_a", pad("pad_a", data, "(0,0,0,0,0,1,0,1)", 0), {.kernel = {3, 3}, .num_filter = 32, .stride = {2, 2}}), {.fix_gamma = false}));
  // Fused: symmetric widths added to the convolution's own padding, depthwise.
  Symbol b = op::Convolution("conv_b", pad("pad_b", a, "(0,0,0,0,1,1,2,2)", 0), {.kernel = {5, 5}, .num_filter = 32, .pad = {1, 0}, .num_group = 32});
  // Not fused: a non-zero value; and a Pad read twice.
  Symbol c = op::Convolution("conv_c", pad("pad_c", b, "(0,0,0,0,1,1,1,1)", 0.5), {.kernel = {3, 3}, .num_filter = 16});
  Symbol shared = pad("pad_d", c, "(0,0,0,0,0,1,0,1)", 0);
  Symbol net = Symbol::Group({op::Convolution("conv_d", shared, {.kernel = {3, 3}, .num_filter = 16, .stride = {2, 2}}),
                              op::Convolution("conv_e", shared, {.kernel = {1, 1}, .num_filter = 16})});
  for (int64_t batch : {1, 4}) {
    INFO("batch " << batch);
    const Shape shape{batch, 16, 15, 14};
    const auto params = testing::random_params(net, {{"data", shape}}, 50);
    CHECK(net.ListOutputs().size() == 2);
    const PlanReport plan = CheckDefaultMatchesReference(net, params, testing::random_input(shape, 51));
    CHECK(plan.fused_pads == 2);
    CHECK(CountOp(plan, "Pad") == 2);  // pad_c (value 0.5) and pad_d (two readers)
    CHECK(KernelOf(plan, "pad_a").empty());
    CHECK(KernelOf(plan, "conv_a") == "conv_a: Convolution [dnnl]");
  }
}

namespace {

// The default CPU plan's output for `x` against the reference kernels', within float32 rounding
// of the output's own scale (four random-weight convolutions reach values in the thousands, where
// an absolute tolerance made for outputs of order 10 says nothing). Returns the plan's report.
PlanReport CheckScaledMatch(const Symbol& net, const std::map<std::string, NDArray>& params, const NDArray& x,
                            CachedOpFlags flags = {}) {
  CachedOp fast(net, params, Context::cpu(), flags);
  const NDArray want = CachedOp(net, params, Context::cpu(), {.reference_only = true}).Forward({x})[0];
  double largest = 0;
  for (float v : want.ToVector<float>()) largest = std::max(largest, static_cast<double>(std::fabs(v)));
  const auto c = testing::compare_arrays(fast.Forward({x})[0], want, {.rtol = 0, .atol = 5e-6 * largest});
  INFO("max abs error " << c.max_abs_error << " for outputs up to " << largest);
  CHECK(c.ok());
  return fast.Plan({x.shape()});
}

}  // namespace

TEST_CASE("winograd: a 3x3 stride-1 convolution runs as oneDNN's Winograd F(2x2, 3x3) from 14x14 up "
          "(a batch sample by sample), as close to the reference as direct ones; never with "
          "winograd off, small, strided or under dynamic batching", "[rewrite][winograd]") {
  // Winograd: conv_a (3x3 at 28x28, + BatchNorm and ReLU, folded and fused), conv_b (with a
  // residual add) and conv_d (14x14). Direct: conv_c and conv_e (stride 2), conv_f (7x7, too
  // small to gain).
  Symbol data = Symbol::Variable("data");
  Symbol a = op::Activation("relu_a", op::BatchNorm("bn_a", op::Convolution("conv_a", data, {.kernel = {3, 3}, .num_filter = 32, .pad = {1, 1}}), {.fix_gamma = false}));
  Symbol b = op::elemwise_add("add_b", op::Convolution("conv_b", a, {.kernel = {3, 3}, .num_filter = 32, .pad = {1, 1}}), a);
  Symbol c = op::Convolution("conv_c", b, {.kernel = {3, 3}, .num_filter = 32, .stride = {2, 2}, .pad = {1, 1}});
  Symbol d = op::Convolution("conv_d", c, {.kernel = {3, 3}, .num_filter = 16, .pad = {1, 1}});
  Symbol e = op::Convolution("conv_e", d, {.kernel = {3, 3}, .num_filter = 16, .stride = {2, 2}, .pad = {1, 1}});
  Symbol net = op::Convolution("conv_f", e, {.kernel = {3, 3}, .num_filter = 16, .pad = {1, 1}});
  const Shape one{1, 16, 28, 28};
  const auto params = testing::random_params(net, {{"data", one}}, 60);
  const NDArray x = testing::random_input(one, 61);
  const PlanReport plan = CheckScaledMatch(net, params, x);
  // oneDNN has its Winograd kernels on AVX-512 machines only; elsewhere the plan stays direct.
  if (plan.winograd_convolutions == 0) {
    WARN("no oneDNN Winograd kernel on this CPU: the Winograd checks are skipped");
    return;
  }
  CHECK(plan.winograd_convolutions == 3);
  CHECK(CheckScaledMatch(net, params, x, {.winograd = false}).winograd_convolutions == 0);
  CHECK(CachedOp(net, params, Context::cpu(), {.max_batch = 4, .max_delay_us = 100}).Plan({one}).winograd_convolutions == 0);
  // A batch walks its samples through the batch-1 kernel, with the same layers (one weight form
  // for every batch size).
  CHECK(CheckScaledMatch(net, params, testing::random_input({4, 16, 28, 28}, 62)).winograd_convolutions == 3);
}
