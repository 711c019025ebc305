// The model zoo (graphs identical to MXNet's scripts, synthetic weights) and, when built with stb,
// the samples' image helpers (samples/image.cpp).
#include <cmath>
#include <numeric>
#include <set>
#include <thread>

#include <catch2/catch.hpp>

#include "tandem/tandem.hpp"
#include "tandem/testing.hpp"
#include "tandem/zoo.hpp"

#if TANDEM_TEST_IMAGES
#include "samples/image.hpp"
#endif

using namespace tandem;

namespace {

std::shared_ptr<const Node> FindNode(const Symbol& s, const std::string& name) {
  for (const auto& n : s.TopoNodes())
    if (n->name == name) return n;
  return nullptr;
}

Shape OutputShape(const Symbol& s, Shape data) {
  std::vector<Shape> args, outs, aux;
  s.InferShape({{"data", data}}, &args, &outs, &aux);
  REQUIRE(outs.size() == 1);
  return outs[0];
}

// Learnable values (arguments but data and label), from shape inference alone.
int64_t LearnableCount(const Symbol& s) {
  auto shapes = s.InferShapeMap({{"data", Shape{1, 3, 224, 224}}});
  int64_t total = 0;
  for (const auto& name : s.ListArguments())
    if (name != "data" && name != "softmax_label") total += shapes.at(name).Size();
  return total;
}

std::map<std::string, NDArray> Data(Shape shape, uint32_t seed = 7) {
  return {{"data", testing::random_input(shape, seed, 0.f, 255.f)}};
}

}  // namespace

TEST_CASE("ResNetV2(18) has MXNet's arguments, aux states and output", "[zoo]") {
  Symbol net = zoo::ResNetV2(18);
  // 19 BatchNorms (gamma, beta + 2 aux each), 21 convolutions (16 in units, 4 shortcuts, conv0),
  // fc1 weight and bias, data and softmax_label.
  CHECK(net.ListArguments().size() == 63);
  CHECK(net.ListAuxiliaryStates().size() == 38);
  CHECK(net.ListArguments().front() == "data");
  CHECK(net.ListArguments().back() == "softmax_label");
  CHECK(net.ListOutputs() == std::vector<std::string>{"softmax_output"});
  CHECK(OutputShape(net, {1, 3, 224, 224}) == Shape{1, 1000});
  CHECK(OutputShape(zoo::ResNetV2(18, 10), {2, 3, 64, 64}) == Shape{2, 10});
}

TEST_CASE("ResNetV2(50) has MXNet's arguments, aux states and output", "[zoo]") {
  Symbol net = zoo::ResNetV2(50);
  // 51 BatchNorms, 53 convolutions (48 in units, 4 shortcuts, conv0), fc1, data, label.
  CHECK(net.ListArguments().size() == 159);
  CHECK(net.ListAuxiliaryStates().size() == 102);
  CHECK(OutputShape(net, {1, 3, 224, 224}) == Shape{1, 1000});
  CHECK(FindNode(net, "stage4_unit3_conv3"));
  CHECK(FindNode(net, "_plus15"));
  CHECK_FALSE(FindNode(net, "_plus16"));
}

TEST_CASE("ResNetV2 names and attributes follow resnet.py", "[zoo]") {
  Symbol net = zoo::ResNetV2(18);
  for (const char* name : {"bn_data", "conv0", "bn0", "relu0", "pooling0", "stage1_unit1_bn1",
                           "stage1_unit1_relu1", "stage1_unit1_conv1", "stage1_unit1_bn2",
                           "stage1_unit1_conv2", "stage1_unit1_sc", "_plus0", "_plus7", "bn1", "relu1",
                           "pool1", "flatten0", "fc1", "softmax"})
    CHECK(FindNode(net, name));
  CHECK_FALSE(FindNode(net, "stage1_unit2_sc"));  // identity shortcut inside a stage
  CHECK(FindNode(net, "_plus0")->op_name() == "elemwise_add");
  CHECK(FindNode(net, "bn_data")->attrs == AttrMap{{"eps", "2e-05"}, {"fix_gamma", "True"}, {"momentum", "0.9"}});
  CHECK(FindNode(net, "bn0")->attrs.at("fix_gamma") == "False");
  CHECK(FindNode(net, "conv0")->attrs ==
        AttrMap{{"kernel", "(7, 7)"}, {"no_bias", "True"}, {"num_filter", "64"}, {"pad", "(3, 3)"},
                {"stride", "(2, 2)"}, {"workspace", "256"}});
  CHECK(FindNode(net, "stage2_unit1_sc")->attrs.at("stride") == "(2, 2)");
  CHECK(FindNode(net, "pool1")->attrs.at("global_pool") == "True");
  CHECK(FindNode(net, "fc1")->attrs.at("num_hidden") == "1000");
  // The shortcut projects the pre-activated input, as in resnet.py.
  CHECK(FindNode(net, "stage2_unit1_sc")->inputs.at(0).node->name == "stage2_unit1_relu1");
  // Building twice gives the same names (no global auto-naming counter).
  CHECK(zoo::ResNetV2(18).ToJSON() == net.ToJSON());
}

TEST_CASE("zoo graphs survive a JSON round trip", "[zoo]") {
  for (const Symbol& net : {zoo::ResNetV2(18), zoo::InceptionBN(), zoo::ResNetV1(50)}) {
    const std::string json = net.ToJSON();
    Symbol back = Symbol::LoadJSON(json, "<zoo>");
    CHECK(back.ToJSON() == json);
    CHECK(back.ListArguments() == net.ListArguments());
    CHECK(back.ListAuxiliaryStates() == net.ListAuxiliaryStates());
  }
}

TEST_CASE("InceptionBN infers (1, 1000) for 224x224 and follows inception-bn.py", "[zoo]") {
  Symbol net = zoo::InceptionBN();
  CHECK(OutputShape(net, {1, 3, 224, 224}) == Shape{1, 1000});
  for (const char* name : {"conv_1", "bn_1", "relu_1", "pool_1", "conv_2_red", "conv_3a_3x3_reduce",
                           "conv_3a_double_3x3_1", "avg_pool_3a_pool", "ch_concat_3a_chconcat",
                           "max_pool_3c_pool", "max_pool_5b_pool", "global_pool", "flatten", "fc1", "softmax"})
    CHECK(FindNode(net, name));
  CHECK(FindNode(net, "ch_concat_3c_chconcat")->attrs.at("num_args") == "3");
  CHECK(FindNode(net, "bn_1")->attrs.at("eps") == "1.0000100000000001e-05");
  auto shapes = net.GetInternals().InferShapeMap({{"data", Shape{1, 3, 224, 224}}});
  CHECK(shapes.at("ch_concat_5b_chconcat_output") == Shape{1, 1024, 7, 7});
  CHECK(shapes.at("ch_concat_3c_chconcat_output") == Shape{1, 576, 14, 14});
}

TEST_CASE("ResNetV1 matches torchvision's parameter counts and names", "[zoo]") {
  CHECK(LearnableCount(zoo::ResNetV1(18)) == 11689512);
  CHECK(LearnableCount(zoo::ResNetV1(50)) == 25557032);
  Symbol net = zoo::ResNetV1(50);
  CHECK(OutputShape(net, {1, 3, 224, 224}) == Shape{1, 1000});
  auto args = net.ListArguments();
  std::set<std::string> names(args.begin(), args.end());
  for (const char* name : {"conv1_weight", "bn1_gamma", "layer1.0.conv1_weight", "layer1.0.downsample.0_weight",
                           "layer1.0.downsample.1_beta", "layer4.2.conv3_weight", "fc_weight", "fc_bias"})
    CHECK(names.count(name));
  CHECK_FALSE(FindNode(zoo::ResNetV1(18), "layer1.0.downsample.0"));
}

TEST_CASE("MobileNetV2 follows Gluon's mobilenetv2_1.0: names, shapes, parameter counts", "[zoo]") {
  Symbol net = zoo::MobileNetV2();
  CHECK(OutputShape(net, {1, 3, 224, 224}) == Shape{1, 1000});
  // Gluon's exported mobilenetv2_1.0 (GluonCV) and its 0.5 width: the same learnable counts.
  CHECK(LearnableCount(net) == 3503872);
  CHECK(LearnableCount(zoo::MobileNetV2(0.5)) == 1964448);
  CHECK(net.ListArguments().size() == 157 + 2);  // + data, softmax_label
  CHECK(net.ListAuxiliaryStates().size() == 104);
  auto args = net.ListArguments();
  std::set<std::string> names(args.begin(), args.end());
  for (const char* name : {"mobilenetv20_features_conv0_weight", "mobilenetv20_features_batchnorm0_gamma",
                           "mobilenetv20_features_linearbottleneck0_conv1_weight",
                           "mobilenetv20_features_linearbottleneck16_conv2_weight",
                           "mobilenetv20_features_batchnorm1_beta", "mobilenetv20_output_pred_weight"})
    CHECK(names.count(name));
  auto aux = net.ListAuxiliaryStates();
  CHECK(aux.front() == "mobilenetv20_features_batchnorm0_running_mean");
  // Block 0 has no expansion (t = 1): its depthwise conv is conv0; later blocks expand first.
  CHECK(FindNode(net, "mobilenetv20_features_linearbottleneck0_conv0_fwd")->attrs.at("num_group") == "32");
  CHECK(FindNode(net, "mobilenetv20_features_linearbottleneck1_conv1_fwd")->attrs.at("num_group") == "96");
  CHECK(FindNode(net, "mobilenetv20_features_linearbottleneck1_conv1_fwd")->attrs.at("stride") == "(2, 2)");
  CHECK(FindNode(net, "mobilenetv20_features_linearbottleneck2_relu61_relu6")->op_name() == "clip");
  CHECK_FALSE(FindNode(net, "mobilenetv20_features_linearbottleneck1_elemwise_add0"));  // stride 2
  CHECK(FindNode(net, "mobilenetv20_features_linearbottleneck2_elemwise_add0"));
  CHECK_FALSE(FindNode(net, "mobilenetv20_features_linearbottleneck16_elemwise_add0"));  // 160 -> 320
  auto shapes = net.GetInternals().InferShapeMap({{"data", Shape{1, 3, 224, 224}}});
  CHECK(shapes.at("mobilenetv20_features_linearbottleneck16_batchnorm2_fwd_output") == Shape{1, 320, 7, 7});
  CHECK(shapes.at("mobilenetv20_features_pool0_fwd_output") == Shape{1, 1280, 1, 1});
  CHECK(shapes.at("mobilenetv20_output_flatten0_flatten0_output") == Shape{1, 1000});
  CHECK(zoo::ByName("mobilenetv2_1.0").ToJSON() == net.ToJSON());
  CHECK(zoo::ByName("mobilenetv2_0.25", 10).ToJSON() == zoo::MobileNetV2(0.25, 10).ToJSON());
  // Gluon's statistics names get the same defaults as MXNet's moving_mean / moving_var.
  auto plain = zoo::SyntheticParams(net, {1, 3, 32, 32}, 1, {.calibrate = false});
  CHECK(plain.at("aux:mobilenetv20_features_batchnorm0_running_var").ToVector<float>() == std::vector<float>(32, 1.0f));
  CHECK(plain.at("aux:mobilenetv20_features_batchnorm0_running_mean").ToVector<float>() == std::vector<float>(32, 0.0f));
}

TEST_CASE("a synthetic mobilenet-v2 runs, agrees across backends and round-trips as JSON", "[zoo]") {
  Symbol net = zoo::ByName("mobilenet-v2", 10);
  Symbol back = Symbol::LoadJSON(net.ToJSON(), "<zoo>");
  CHECK(back.ToJSON() == net.ToJSON());
  auto params = zoo::SyntheticParams(net, {1, 3, 64, 64}, 5, {.calibration_batch = 2});
  std::vector<float> p = CachedOp(net, params, Context::cpu()).Forward(Data({1, 3, 64, 64}))[0].ToVector<float>();
  REQUIRE(p.size() == 10);
  CHECK(std::accumulate(p.begin(), p.end(), 0.0) == Approx(1.0).margin(1e-4));
  for (float v : p) CHECK(std::isfinite(v));
  auto report = testing::compare_backends(net, params, Data({1, 3, 64, 64}, 11), {.rtol = 1e-3, .atol = 1e-5});
  INFO(report.ToString());
  CHECK(report.all_within_tolerance());
}

TEST_CASE("zoo::ByName knows every listed model and rejects others", "[zoo]") {
  for (const auto& name : zoo::ModelNames()) CHECK(zoo::ByName(name, 10).num_outputs() == 1);
  CHECK_THROWS_AS(zoo::ByName("resnet19-v2"), InvalidArgument);
  CHECK_THROWS_AS(zoo::ResNetV2(20), InvalidArgument);
  CHECK_THROWS_AS(zoo::ResNetV1(18, 0), InvalidArgument);
}

TEST_CASE("SyntheticParams are complete, MXNet-keyed and deterministic", "[zoo]") {
  Symbol net = zoo::ResNetV2(18, 10);
  zoo::SyntheticOptions plain;
  plain.calibrate = false;
  auto params = zoo::SyntheticParams(net, {1, 3, 32, 32}, 42, plain);
  CHECK(params.size() == 99);
  CHECK(params.count("arg:conv0_weight"));
  CHECK(params.count("aux:bn_data_moving_var"));
  CHECK_FALSE(params.count("arg:softmax_label"));
  CHECK(params.at("aux:bn0_moving_var").ToVector<float>() == std::vector<float>(64, 1.0f));
  CHECK(params.at("aux:bn0_moving_mean").ToVector<float>() == std::vector<float>(64, 0.0f));
  CHECK(params.at("arg:bn0_gamma").ToVector<float>() == std::vector<float>(64, 1.0f));
  CHECK(params.at("arg:fc1_bias").ToVector<float>() == std::vector<float>(10, 0.0f));
  // He initialisation: standard deviation sqrt(2 / fan_in), fan_in = 3 * 7 * 7 for conv0.
  std::vector<float> w = params.at("arg:conv0_weight").ToVector<float>();
  double sq = std::inner_product(w.begin(), w.end(), w.begin(), 0.0);
  CHECK(std::sqrt(sq / w.size()) == Approx(std::sqrt(2.0 / 147)).epsilon(0.05));

  auto again = zoo::SyntheticParams(net, {1, 3, 32, 32}, 42, plain);
  auto other = zoo::SyntheticParams(net, {1, 3, 32, 32}, 43, plain);
  CHECK(again.at("arg:conv0_weight").ToVector<float>() == w);
  CHECK(other.at("arg:conv0_weight").ToVector<float>() != w);
  auto calibrated = zoo::SyntheticParams(net, {1, 3, 32, 32}, 42);
  CHECK(calibrated.at("arg:conv0_weight").ToVector<float>() == w);
  CHECK(calibrated.at("aux:bn_data_moving_mean").ToVector<float>()[0] == Approx(127.5).margin(10));
  CHECK_THROWS_AS(zoo::SyntheticParams(zoo::InceptionBN(), {1, 3, 64, 64}, 0), ShapeError);
}

TEST_CASE("a synthetic resnet18 runs and gives a probability distribution", "[zoo]") {
  Symbol net = zoo::ResNetV2(18);
  auto params = zoo::SyntheticParams(net, {1, 3, 64, 64}, 1);
  CachedOp model(net, params, Context::cpu());
  CHECK(model.input_names() == std::vector<std::string>{"data"});
  std::vector<float> p = model.Forward(Data({1, 3, 64, 64}))[0].ToVector<float>();
  REQUIRE(p.size() == 1000);
  double sum = 0;
  for (float v : p) {
    REQUIRE(std::isfinite(v));
    REQUIRE(v >= 0.0f);
    sum += v;
  }
  CHECK(sum == Approx(1.0).margin(1e-4));
  // Calibrated statistics keep the logits moderate: no class takes everything.
  CHECK(*std::max_element(p.begin(), p.end()) < 0.5f);

  // Threads sharing the model get what a single caller gets.
  std::vector<std::vector<float>> got(4);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < got.size(); ++t)
    threads.emplace_back([&, t] { got[t] = model.Forward(Data({1, 3, 64, 64}))[0].ToVector<float>(); });
  for (auto& t : threads) t.join();
  for (const auto& g : got) CHECK(g == p);
}

TEST_CASE("resnet18 agrees across backends within 1e-3", "[zoo]") {
  Symbol net = zoo::ResNetV2(18);
  auto params = zoo::SyntheticParams(net, {1, 3, 64, 64}, 3);
  auto report = testing::compare_backends(net, params, Data({1, 3, 64, 64}, 11), {.rtol = 1e-3, .atol = 1e-5});
  INFO(report.ToString());
  CHECK(report.all_within_tolerance());
}

TEST_CASE("resnet18-v1 and inception-bn run with synthetic weights", "[zoo]") {
  for (auto [net, side] : {std::pair{zoo::ResNetV1(18, 10), 64}, std::pair{zoo::InceptionBN(10), 224}}) {
    auto params = zoo::SyntheticParams(net, {1, 3, side, side}, 5, {.calibration_batch = 1});
    std::vector<float> p = CachedOp(net, params, Context::cpu()).Forward(Data({1, 3, side, side}))[0].ToVector<float>();
    REQUIRE(p.size() == 10);
    CHECK(std::accumulate(p.begin(), p.end(), 0.0) == Approx(1.0).margin(1e-4));
    for (float v : p) CHECK(std::isfinite(v));
  }
}

#if TANDEM_TEST_IMAGES
namespace samples = tandem::samples;

TEST_CASE("images become planar RGB with every plane written and normalised", "[zoo][image]") {
  samples::RgbImage image{2, 1, {10, 20, 30, 40, 50, 60}};  // two pixels, RGB each
  samples::Normalization norm{{10, 20, 30}, {2, 4, 5}};
  CHECK(samples::ToPlanar(image) == std::vector<float>{10, 40, 20, 50, 30, 60});
  CHECK(samples::ToPlanar(image, norm) == std::vector<float>{0, 15, 0, 7.5f, 0, 6});
  NDArray x = samples::ToNCHW(image, norm);
  CHECK(x.shape() == Shape{1, 3, 1, 2});
  CHECK_THROWS_AS(samples::ToPlanar(image, {{0, 0, 0}, {1, 0, 1}}), InvalidArgument);
}

TEST_CASE("images are resized with stb", "[zoo][image]") {
  samples::RgbImage flat{4, 4, std::vector<uint8_t>(4 * 4 * 3, 77)};
  samples::RgbImage small = samples::Resize(flat, 2, 3);
  CHECK(small.width == 2);
  CHECK(small.height == 3);
  CHECK(small.pixels == std::vector<uint8_t>(2 * 3 * 3, 77));
  CHECK_THROWS_AS(samples::Resize(flat, 0, 3), InvalidArgument);
}

TEST_CASE("the bundled image and synset load", "[zoo][image]") {
  const std::string data = std::string(TANDEM_SOURCE_DIR) + "/data/";
  samples::RgbImage hopper = samples::LoadRgb(data + "grace_hopper.jpg");
  CHECK(hopper.width == 517);
  CHECK(hopper.height == 606);
  CHECK(hopper.pixels.size() == 517u * 606 * 3);
  NDArray x = samples::LoadImageAsNCHW(data + "grace_hopper.jpg", 224, {{100, 100, 100}, {50, 50, 50}});
  CHECK(x.shape() == Shape{1, 3, 224, 224});
  std::vector<float> v = x.ToVector<float>();
  CHECK(*std::min_element(v.begin(), v.end()) >= -2.0f);
  CHECK(*std::max_element(v.begin(), v.end()) <= 3.1f);

  std::vector<std::string> synset = samples::LoadSynset(data + "synset.txt");
  CHECK(synset.size() == 1000);
  CHECK(synset[652] == "military uniform");
  CHECK(samples::LabelOf(synset, 0) == "tench, Tinca tinca");
  CHECK(samples::LabelOf({}, 17) == "class 17");
}

TEST_CASE("image and option errors are reported, not fatal", "[zoo][image]") {
  CHECK_THROWS_AS(samples::LoadRgb("/nonexistent/x.jpg"), FormatError);
  const char garbage[] = "definitely not an image";
  CHECK_THROWS_AS(samples::DecodeRgb(garbage, sizeof garbage, "<garbage>"), FormatError);
  CHECK_THROWS_AS(samples::DecodeRgb(garbage, 0, "<empty>"), FormatError);
  CHECK_THROWS_AS(samples::LoadSynset("/nonexistent/synset.txt"), FormatError);
  CHECK(samples::ParseTriple("123.68,116.779, 103.939", "--mean") == std::array<float, 3>{123.68f, 116.779f, 103.939f});
  CHECK_THROWS_AS(samples::ParseTriple("1,2", "--mean"), InvalidArgument);
  CHECK_THROWS_AS(samples::ParseTriple("1,2,x", "--mean"), InvalidArgument);
  CHECK_THROWS_AS(samples::ParseTriple("1,2,3,4", "--mean"), InvalidArgument);
}

TEST_CASE("outputs become probabilities and are ranked", "[zoo][image]") {
  std::vector<float> probs{0.1f, 0.6f, 0.3f};
  CHECK(samples::AsProbabilities(probs) == probs);
  std::vector<float> soft = samples::AsProbabilities({0.0f, std::log(3.0f)});
  CHECK(soft[0] == Approx(0.25));
  CHECK(soft[1] == Approx(0.75));
  auto top = samples::TopK({0.2f, 0.5f, 0.5f, NAN, 0.1f}, 3);
  REQUIRE(top.size() == 3);
  CHECK(top[0].id == 1);
  CHECK(top[1].id == 2);
  CHECK(top[2].id == 0);
  CHECK(samples::TopK({1.0f}, 5).size() == 1);
}
#endif
