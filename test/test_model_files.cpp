// Real MXNet model files that no one on the team wrote: every one loads, has the right argument /
// aux lists, infers the documented output shapes, and runs end to end on CPU with every backend
// agreeing with the reference.
#include <catch2/catch.hpp>

#include "tandem/tandem.hpp"
#include "tandem/testing.hpp"
#include "test/test_util.hpp"

using namespace tandem;

namespace {

struct ModelCase {
  const char* prefix;  // under the models folder
  int epoch;
  Shape input;
  std::vector<Shape> outputs;
  size_t num_aux;
};

const ModelCase kModels[] = {
    {"mnist-cnn/Neural_Net", 100, {1, 1, 28, 28}, {{1, 10}}, 8},
    {"genderage/model", 0, {1, 3, 112, 112}, {{1, 202}}, 58},
    {"mtcnn/det1", 1, {1, 3, 12, 12}, {{1, 4, 1, 1}, {1, 2, 1, 1}}, 0},
    {"mtcnn/det2", 1, {1, 3, 24, 24}, {{1, 4}, {1, 2}}, 0},
    {"mtcnn/det3", 1, {1, 3, 48, 48}, {{1, 10}, {1, 4}, {1, 2}}, 0},
    {"mtcnn/det4", 1, {1, 15, 24, 24}, {{1, 2}, {1, 2}, {1, 2}, {1, 2}, {1, 2}}, 0},
};

std::string ParamsPath(const std::string& prefix, int epoch) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "-%04d.params", epoch);
  return prefix + buf;
}

}  // namespace

TEST_CASE("every shared MXNet model loads with consistent argument and aux lists", "[models]") {
  for (const ModelCase& m : kModels) {
    TANDEM_REQUIRE_MODEL_FILE(json, std::string(m.prefix) + "-symbol.json");
    INFO(m.prefix);
    Symbol net = Symbol::Load(json);
    auto params = NDArray::LoadToMap(ParamsPath(json.substr(0, json.size() - 12), m.epoch));
    auto aux = net.ListAuxiliaryStates();
    CHECK(aux.size() == m.num_aux);
    // Every parameter the graph needs is in the file, under arg: or aux: as MXNet saved it.
    for (const std::string& name : net.ListArguments()) {
      if (name == "data" || name.find("label") != std::string::npos) continue;
      CHECK(params.count("arg:" + name) == 1);
    }
    for (const std::string& name : aux) CHECK(params.count("aux:" + name) == 1);
  }
}

TEST_CASE("every shared MXNet model infers the documented output shapes", "[models]") {
  for (const ModelCase& m : kModels) {
    TANDEM_REQUIRE_MODEL_FILE(json, std::string(m.prefix) + "-symbol.json");
    INFO(m.prefix);
    Symbol net = Symbol::Load(json);
    std::vector<Shape> args, outs, aux;
    net.InferShape({{"data", m.input}}, &args, &outs, &aux);
    CHECK(outs == m.outputs);
    auto params = NDArray::LoadToMap(ParamsPath(json.substr(0, json.size() - 12), m.epoch));
    auto names = net.ListArguments();
    for (size_t i = 0; i < names.size(); ++i)
      if (params.count("arg:" + names[i])) CHECK(params.at("arg:" + names[i]).shape() == args[i]);
  }
}

TEST_CASE("mtcnn det1 (pre-0.9 JSON) gets the documented PReLU, full pooling and channel softmax", "[models]") {
  TANDEM_REQUIRE_MODEL_FILE(json, "mtcnn/det1-symbol.json");
  Symbol net = Symbol::Load(json);
  std::map<std::string, int> ops;
  for (const auto& n : net.TopoNodes()) ops[n->op_name()]++;
  CHECK(ops["LeakyReLU"] == 3);
  CHECK(ops["Pooling"] == 1);
  CHECK(ops["SoftmaxActivation"] == 1);
  // A 12x12 crop gives a 1x1 map; a 24x24 image gives 7x7 (full pooling convention: ceil).
  auto shapes = net.InferShapeMap({{"data", Shape{1, 3, 24, 24}}});
  CHECK(shapes.at("prob1_output") == Shape{1, 2, 7, 7});
}

TEST_CASE("every shared MXNet model runs on CPU and oneDNN agrees with the reference", "[models]") {
  for (const ModelCase& m : kModels) {
    TANDEM_REQUIRE_MODEL_FILE(json, std::string(m.prefix) + "-symbol.json");
    INFO(m.prefix);
    Symbol net = Symbol::Load(json);
    auto params = NDArray::LoadToMap(ParamsPath(json.substr(0, json.size() - 12), m.epoch));
    // genderage expects 0..255 pixels (the graph normalises); the others 0..1.
    float hi = std::string(m.prefix).find("genderage") != std::string::npos ? 255.f : 1.f;
    NDArray x = testing::random_input(m.input, 7, 0.f, hi);
    auto report = testing::compare_backends(net, params, {{"data", x}}, {.rtol = 1e-3, .atol = 1e-4});
    INFO(report.ToString());
    CHECK(report.all_within_tolerance());
    // Outputs are finite and, for softmax heads, probabilities.
    CachedOp op(net, params, Context::cpu());
    auto outs = op.Forward({x});
    REQUIRE(outs.size() == m.outputs.size());
    for (size_t j = 0; j < outs.size(); ++j) {
      CHECK(outs[j].shape() == m.outputs[j]);
      for (float v : outs[j].ToVector<float>()) CHECK(std::isfinite(v));
    }
  }
}

