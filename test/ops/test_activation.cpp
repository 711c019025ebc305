// Activation (relu, sigmoid, tanh, softrelu, softsign) and LeakyReLU (leaky, prelu, elu, selu,
// gelu, rrelu): every backend against the reference, the reference against known values, errors.
#include "op_test_util.hpp"

using namespace tandem;
using namespace tandem::optest;

namespace {

Symbol Activation(const std::string& act_type) {
  return Operator("Activation")
      .SetParam("act_type", act_type)
      .SetInput("data", Data())
      .CreateSymbol("act");
}

Symbol LeakyReLU(const std::string& act_type, AttrMap extra = {}) {
  Operator b("LeakyReLU");
  b.SetParam("act_type", act_type);
  for (const auto& [k, v] : extra) b.SetParam(k, v);
  return b.SetInput("data", Data()).CreateSymbol("act");
}

const std::vector<Shape> kShapes = {{1, 3, 7, 5}, {3, 4}, {2, 5, 3, 3, 2}, {17}};

void CheckAllShapes(const Symbol& symbol, Dnnl dnnl) {
  uint32_t seed = 30;
  for (const Shape& s : kShapes) {
    INFO("data " << s.ToString());
    // Wide enough to reach the saturated ends of sigmoid / tanh / softrelu.
    CheckBackends(symbol, {{"data", testing::random_input(s, seed++, -6, 6)}}, dnnl, seed);
  }
}

NDArray Apply(const Symbol& symbol, const std::vector<float>& x,
              const std::map<std::string, NDArray>& params = {}) {
  return RunReference1(symbol, params,
                       {{"data", NDArray(x, Shape{static_cast<int64_t>(x.size())})}});
}

}  // namespace

TEST_CASE("Activation backends match the reference for every act_type", "[activation]") {
  for (std::string act : {"relu", "sigmoid", "tanh", "softrelu"}) {
    INFO("act_type " << act);
    CheckAllShapes(Activation(act), Dnnl::kUsed);
  }
  INFO("act_type softsign (no oneDNN algorithm)");
  CheckAllShapes(Activation("softsign"), Dnnl::kFallback);
}

TEST_CASE("LeakyReLU backends match the reference for every act_type", "[activation][leaky]") {
  struct Case {
    std::string act;
    AttrMap extra;
    Dnnl dnnl;
  };
  const std::vector<Case> cases = {
      {"leaky", {}, Dnnl::kUsed},
      {"leaky", {{"slope", "0.1"}}, Dnnl::kUsed},
      {"elu", {{"slope", "1.0"}}, Dnnl::kUsed},
      {"elu", {{"slope", "0.3"}}, Dnnl::kUsed},
      {"gelu", {}, Dnnl::kUsed},
      {"rrelu", {}, Dnnl::kUsed},
      {"rrelu", {{"lower_bound", "0.1"}, {"upper_bound", "0.5"}}, Dnnl::kUsed},
      {"selu", {}, Dnnl::kFallback},
  };
  for (const Case& c : cases) {
    INFO("act_type " << c.act << " with " << c.extra.size() << " extra attributes");
    CheckAllShapes(LeakyReLU(c.act, c.extra), c.dnnl);
  }
}

TEST_CASE("prelu backends match the reference with per-channel and shared slopes",
          "[activation][prelu]") {
  Symbol prelu = LeakyReLU("prelu");
  uint32_t seed = 40;
  for (Shape s : {Shape{1, 3, 7, 5}, Shape{3, 4}, Shape{2, 5, 3, 3, 2}}) {
    INFO("data " << s.ToString() << ", one slope per channel");
    CheckBackends(prelu, {{"data", testing::random_input(s, seed++)}}, Dnnl::kUsed, seed);
  }
  // A single shared slope, bound explicitly (random_params would make one per channel).
  NDArray x = testing::random_input({2, 3, 5, 5}, 44);
  auto report = testing::compare_backends(prelu, {{"act_gamma", NDArray({0.3f}, Shape{1})}},
                                          {{"data", x}}, kTolerance);
  INFO(report.ToString());
  CHECK(report.all_within_tolerance());
  if (BuildHasDnnl()) CHECK(report.kernels["dnnl"].count("dnnl"));
}

TEST_CASE("reference Activation values: relu, sigmoid, tanh, softrelu, softsign",
          "[activation][reference]") {
  CheckValues(Apply(Activation("relu"), {-2, -0.5f, 0, 0.5f, 2}), {5}, {0, 0, 0, 0.5f, 2});
  CheckValues(Apply(Activation("sigmoid"), {0, 1, -2}), {3}, {0.5f, 0.7310585786f, 0.1192029220f});
  CheckValues(Apply(Activation("tanh"), {0, 1, -0.5f}), {3}, {0, 0.7615941560f, -0.4621171573f});
  // softrelu = log(1 + e^x), also where e^x would overflow float.
  CheckValues(Apply(Activation("softrelu"), {0, 1, -20, 30, 100}), {5},
              {0.6931471806f, 1.3132616875f, 2.0611536e-9f, 30, 100}, 1e-12);
  CheckValues(Apply(Activation("softsign"), {1, -3, 0}), {3}, {0.5f, -0.75f, 0});
}

TEST_CASE("reference LeakyReLU values: leaky, elu, selu, gelu, rrelu",
          "[activation][leaky][reference]") {
  CheckValues(Apply(LeakyReLU("leaky", {{"slope", "0.1"}}), {-2, 3}), {2}, {-0.2f, 3});
  CheckValues(Apply(LeakyReLU("leaky"), {-2}), {1}, {-0.5f});  // default slope 0.25
  CheckValues(Apply(LeakyReLU("elu", {{"slope", "1.0"}}), {-1, 2}), {2}, {-0.6321205588f, 2});
  CheckValues(Apply(LeakyReLU("elu", {{"slope", "0.5"}}), {-2}), {1}, {-0.4323323584f});
  // selu's lambda and alpha are fixed; the slope attribute does not apply.
  CheckValues(Apply(LeakyReLU("selu", {{"slope", "0.9"}}), {1, -1, -3, 0}), {4},
              {1.0507009874f, -1.1113307378f, -1.6705687288f, 0});
  // gelu uses the exact erf form.
  CheckValues(Apply(LeakyReLU("gelu"), {1, -1, 2, -3, 0.5f}), {5},
              {0.8413447461f, -0.1586552539f, 1.9544997361f, -0.0040496941f, 0.3457312306f});
  // rrelu at inference: leaky with the mean of [lower_bound, upper_bound] (defaults 0.125, 0.334).
  CheckValues(Apply(LeakyReLU("rrelu"), {-1, 1}), {2}, {-0.2295f, 1});
  CheckValues(Apply(LeakyReLU("rrelu", {{"lower_bound", "0.1"}, {"upper_bound", "0.3"}}), {-2}),
              {1}, {-0.4f});
}

TEST_CASE("reference prelu applies one slope per channel, or one shared slope",
          "[activation][prelu][reference]") {
  Symbol prelu = LeakyReLU("prelu");
  NDArray x({-1, 2, -3, 4, -5, 6}, Shape{1, 3, 1, 2});
  NDArray per_channel =
      RunReference1(prelu, {{"act_gamma", NDArray({0.1f, 0.2f, 0.3f}, Shape{3})}}, {{"data", x}});
  CheckValues(per_channel, {1, 3, 1, 2}, {-0.1f, 2, -0.6f, 4, -1.5f, 6});
  NDArray shared = RunReference1(prelu, {{"act_gamma", NDArray({0.5f}, Shape{1})}}, {{"data", x}});
  CheckValues(shared, {1, 3, 1, 2}, {-0.5f, 2, -1.5f, 4, -2.5f, 6});
}

TEST_CASE("prelu takes a gamma input named <node>_gamma shaped by the channels",
          "[activation][prelu][shape]") {
  Symbol prelu = LeakyReLU("prelu");
  CHECK(prelu.ListInputs() == std::vector<std::string>{"data", "act_gamma"});
  CHECK(prelu.InferShapeMap({{"data", Shape{2, 6, 3, 3}}}).at("act_gamma") == Shape{6});
  CHECK(LeakyReLU("leaky").ListInputs() == std::vector<std::string>{"data"});
}

TEST_CASE("unknown or missing act_type is a FormatError", "[activation][errors]") {
  CHECK_THROWS_AS(Activation("swish"), FormatError);
  CHECK_THROWS_WITH(Activation("swish"), Catch::Contains("act_type"));
  CHECK_THROWS_AS(Operator("Activation")(Data()).CreateSymbol("act"), FormatError);
  CHECK_THROWS_AS(LeakyReLU("relu6"), FormatError);
  CHECK_THROWS_AS(LeakyReLU("leaky", {{"slope", "steep"}}), FormatError);
  CHECK_THROWS_AS(LeakyReLU("rrelu", {{"lower_bound", "0.5"}, {"upper_bound", "0.1"}}),
                  FormatError);
}

TEST_CASE("prelu with a gamma that fits neither the channels nor 1 is a ShapeError",
          "[activation][prelu][errors]") {
  Symbol prelu = LeakyReLU("prelu");
  CHECK_THROWS_AS(prelu.InferShapeMap({{"data", Shape{1, 3, 4, 4}}, {"act_gamma", Shape{2}}}),
                  ShapeError);
  CachedOp op(prelu, {{"act_gamma", NDArray({0.1f, 0.2f}, Shape{2})}}, Context::cpu());
  CHECK_THROWS_AS(op.Forward({testing::random_input({1, 3, 4, 4})}), ShapeError);
}

TEST_CASE("Activation on int32 data is a TypeError", "[activation][errors]") {
  CachedOp op(Activation("relu"), {}, Context::cpu());
  CHECK_THROWS_AS(op.Forward({NDArray(Shape{2, 2}, Context::cpu(), DType::i32)}), TypeError);
}
