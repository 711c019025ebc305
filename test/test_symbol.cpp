// Tests of Symbol: the MXNet JSON reader / writer (lib/core/symbol_json.cpp), the graph API
// (lib/core/symbol.cpp), shape inference and the C++ builders (tandem/operator.hpp).
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "lib/ops/params.hpp"
#include "tandem/tandem.hpp"

using tandem::FormatError;
using tandem::Operator;
using tandem::Shape;
using tandem::Symbol;
using Names = std::vector<std::string>;
using Shapes = std::vector<Shape>;

namespace {

// The same graph (Convolution kernel (3,3), num_filter 4, then Activation relu) in the three
// attribute generations MXNet has written.
const char* kConvReluAttrs = R"J({
  "nodes": [
    {"op": "null", "name": "data", "inputs": []},
    {"op": "null", "name": "conv_weight", "inputs": []},
    {"op": "null", "name": "conv_bias", "inputs": []},
    {"op": "Convolution", "name": "conv", "attrs": {"kernel": "(3, 3)", "num_filter": "4"},
     "inputs": [[0, 0, 0], [1, 0, 0], [2, 0, 0]]},
    {"op": "Activation", "name": "relu", "attrs": {"act_type": "relu"}, "inputs": [[3, 0, 0]]}
  ],
  "arg_nodes": [0, 1, 2],
  "node_row_ptr": [0, 1, 2, 3, 4, 5],
  "heads": [[4, 0, 0]],
  "attrs": {"mxnet_version": ["int", 10600]}
})J";

const char* kConvReluAttr = R"J({
  "nodes": [
    {"op": "null", "name": "data", "inputs": []},
    {"op": "null", "name": "conv_weight", "inputs": []},
    {"op": "null", "name": "conv_bias", "inputs": []},
    {"op": "Convolution", "name": "conv", "attr": {"kernel": "(3,3)", "num_filter": "4"},
     "inputs": [[0, 0], [1, 0], [2, 0]]},
    {"op": "Activation", "name": "relu", "attr": {"act_type": "relu"}, "inputs": [[3, 0]]}
  ],
  "arg_nodes": [0, 1, 2],
  "heads": [[4, 0]],
  "attrs": {"mxnet_version": ["int", 10000]}
})J";

const char* kConvReluParam = R"J({
  "nodes": [
    {"op": "null", "name": "data", "param": {}, "inputs": [], "backward_source_id": -1},
    {"op": "null", "name": "conv_weight", "param": {}, "inputs": [], "backward_source_id": -1},
    {"op": "null", "name": "conv_bias", "param": {}, "inputs": [], "backward_source_id": -1},
    {"op": "Convolution", "name": "conv",
     "param": {"kernel": "(3,3)", "num_filter": "4", "no_bias": "False", "workspace": "512"},
     "inputs": [[0, 0], [1, 0], [2, 0]], "backward_source_id": -1},
    {"op": "Activation", "name": "relu", "param": {"act_type": "relu"}, "inputs": [[3, 0]],
     "backward_source_id": -1}
  ],
  "arg_nodes": [0, 1, 2],
  "heads": [[4, 0]]
})J";

// Variables with hidden attributes, which must survive a save / load.
const char* kHiddenAttrs = R"J({
  "nodes": [
    {"op": "null", "name": "data", "attrs": {"__shape__": "(1, 2, 8, 8)"}, "inputs": []},
    {"op": "null", "name": "conv_weight",
     "attrs": {"__init__": "[\"xavier\", {\"magnitude\": 2}]", "__lr_mult__": "2.0",
               "__wd_mult__": "0"},
     "inputs": []},
    {"op": "null", "name": "conv_bias", "attrs": {"__lr_mult__": "0.5"}, "inputs": []},
    {"op": "Convolution", "name": "conv", "attrs": {"kernel": "(3, 3)", "num_filter": "4"},
     "inputs": [[0, 0, 0], [1, 0, 0], [2, 0, 0]]}
  ],
  "arg_nodes": [0, 1, 2],
  "heads": [[3, 0, 0]],
  "attrs": {"mxnet_version": ["int", 10600]}
})J";

// A 2015-style graph: no mxnet_version, BatchNorm lists data, gamma and beta only.
const char* kPre09BatchNorm = R"J({
  "nodes": [
    {"op": "null", "name": "data", "param": {}, "inputs": [], "backward_source_id": -1},
    {"op": "null", "name": "bn_data_gamma", "param": {}, "inputs": [], "backward_source_id": -1},
    {"op": "null", "name": "bn_data_beta", "param": {}, "inputs": [], "backward_source_id": -1},
    {"op": "BatchNorm", "name": "bn_data",
     "param": {"eps": "2e-05", "fix_gamma": "True", "momentum": "0.9", "use_global_stats": "False"},
     "inputs": [[0, 0], [1, 0], [2, 0]], "backward_source_id": -1}
  ],
  "arg_nodes": [0, 1, 2],
  "heads": [[3, 0]]
})J";

std::shared_ptr<const tandem::Node> FindNode(const Symbol& s, const std::string& name) {
  for (const auto& n : s.TopoNodes())
    if (n->name == name) return n;
  FAIL("no node named " << name);
  return nullptr;
}

class TempFile {
 public:
  explicit TempFile(const std::string& stem) {
    static int counter = 0;
    path_ = (std::filesystem::temp_directory_path() /
             (stem + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + ".json"))
                .string();
  }
  ~TempFile() {
    std::error_code ec;
    std::filesystem::remove(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

Shape InferSingleOutput(const Symbol& s, const std::map<std::string, Shape>& known) {
  Shapes args, outs, aux;
  s.InferShape(known, &args, &outs, &aux);
  REQUIRE(outs.size() == 1);
  return outs[0];
}

// data -> Convolution -> BatchNorm -> Activation -> Pooling -> Flatten -> FullyConnected ->
// SoftmaxOutput, built with the typed builders.
Symbol SmallConvNet() {
  using namespace tandem::op;
  Symbol data = Symbol::Variable("data");
  Symbol conv = Convolution("conv", data, {.kernel = {3, 3}, .num_filter = 4});
  Symbol bn = BatchNorm("bn", conv);
  Symbol relu = Activation("relu", bn);
  Symbol pool = Pooling("pool", relu, {.kernel = {2, 2}, .pool_type = "max", .stride = {2, 2}});
  Symbol flat = Flatten("flat", pool);
  Symbol fc = FullyConnected("fc", flat, {.num_hidden = 10});
  return SoftmaxOutput("softmax", fc);
}

// Loads `json` and returns the message of the tandem::Error it must throw.
template <class E>
std::string LoadError(const std::string& json, const std::string& source = "bad-symbol.json") {
  try {
    Symbol::LoadJSON(json, source);
  } catch (const E& e) {
    return e.what();
  }
  FAIL("LoadJSON did not throw the expected error type");
  return {};
}

// A two-node graph whose second node is `node2` (JSON text), for the hostile tests.
std::string GraphWithSecondNode(const std::string& node2, const std::string& heads = "[[1, 0, 0]]") {
  return R"J({"nodes": [{"op": "null", "name": "data", "inputs": []}, )J" + node2 +
         R"J(], "arg_nodes": [0], "heads": )J" + heads +
         R"J(, "attrs": {"mxnet_version": ["int", 10600]}})J";
}

}  // namespace

// ------------------------------------------------------------------------------------------------
// JSON generations

TEST_CASE("symbol json: attrs / attr / param generations load to the same Convolution params",
          "[symbol][json]") {
  for (const char* text : {kConvReluAttrs, kConvReluAttr, kConvReluParam}) {
    INFO(text);
    Symbol s = Symbol::LoadJSON(text, "gen.json");
    auto conv = FindNode(s, "conv");
    REQUIRE(conv->op_name() == "Convolution");
    const auto& p = tandem::ParamsAs<tandem::ops::ConvParams>(conv->params);
    CHECK(p.kernel == std::vector<int64_t>{3, 3});
    CHECK(p.num_filter == 4);
    CHECK(p.stride == std::vector<int64_t>{1, 1});
    CHECK(p.pad == std::vector<int64_t>{0, 0});
    CHECK_FALSE(p.no_bias);
    auto relu = FindNode(s, "relu");
    CHECK(relu->op_name() == "Activation");
    CHECK(tandem::ParamsAs<tandem::ops::ActivationParams>(relu->params).act ==
          tandem::ops::ActType::kRelu);

    CHECK(s.ListArguments() == Names{"data", "conv_weight", "conv_bias"});
    CHECK(s.ListAuxiliaryStates().empty());
    CHECK(s.ListOutputs() == Names{"relu_output"});
    Shapes args, outs, aux;
    s.InferShape({{"data", Shape{1, 2, 8, 8}}}, &args, &outs, &aux);
    CHECK(outs == Shapes{Shape{1, 4, 6, 6}});
    CHECK(args == Shapes{Shape{1, 2, 8, 8}, Shape{4, 2, 3, 3}, Shape{4}});
    CHECK(aux.empty());
  }
}

TEST_CASE("symbol json: the three generations save to the same ToJSON text apart from attrs",
          "[symbol][json]") {
  // Whitespace in tuples differs between the files ("(3, 3)" vs "(3,3)"), so compare the graph
  // structure: reloading the saved text of each must give the same inputs, outputs and shapes.
  Symbol a = Symbol::LoadJSON(kConvReluAttrs);
  for (const char* text : {kConvReluAttr, kConvReluParam}) {
    Symbol b = Symbol::LoadJSON(Symbol::LoadJSON(text).ToJSON());
    CHECK(b.ListInputs() == a.ListInputs());
    CHECK(b.ListOutputs() == a.ListOutputs());
    CHECK(InferSingleOutput(b, {{"data", Shape{2, 2, 5, 5}}}) ==
          InferSingleOutput(a, {{"data", Shape{2, 2, 5, 5}}}));
  }
}

TEST_CASE("symbol json: attributes from param, attr and attrs of one node are merged",
          "[symbol][json]") {
  std::string text = GraphWithSecondNode(
      R"J({"op": "Convolution", "name": "conv", "param": {"kernel": "(5,5)", "num_filter": "2"},
          "attr": {"pad": "(1,1)"}, "attrs": {"kernel": "(3,3)", "no_bias": "True"},
          "inputs": [[0, 0], [0, 0]]})J");
  // data is used as both data and weight: fine for a graph, and keeps the input count right.
  Symbol s = Symbol::LoadJSON(text);
  const auto& p = tandem::ParamsAs<tandem::ops::ConvParams>(FindNode(s, "conv")->params);
  CHECK(p.kernel == std::vector<int64_t>{3, 3});  // "attrs" (the newest key) wins
  CHECK(p.num_filter == 2);
  CHECK(p.pad == std::vector<int64_t>{1, 1});
  CHECK(p.no_bias);
}

TEST_CASE("symbol json: inputs with 2 and with 3 numbers, with or without node_row_ptr, agree",
          "[symbol][json]") {
  Symbol three = Symbol::LoadJSON(kConvReluAttrs);  // [n, k, v] and node_row_ptr
  Symbol two = Symbol::LoadJSON(kConvReluAttr);     // [n, k], no node_row_ptr
  // The files differ only in entry width, node_row_ptr and the spelling "(3,3)" vs "(3, 3)";
  // with that spelling aligned, both must save to the same JSON.
  std::string two_json = two.ToJSON();
  const size_t kernel = two_json.find("\"(3,3)\"");
  REQUIRE(kernel != std::string::npos);
  two_json.replace(kernel, 7, "\"(3, 3)\"");
  CHECK(three.ToJSON() == two_json);
  CHECK(three.ListInputs() == two.ListInputs());
}

TEST_CASE("symbol json: hidden variable attributes survive Save/Load and ToJSON/LoadJSON",
          "[symbol][json]") {
  Symbol s = Symbol::LoadJSON(kHiddenAttrs);
  const tandem::AttrMap weight_attrs{{"__init__", "[\"xavier\", {\"magnitude\": 2}]"},
                                     {"__lr_mult__", "2.0"},
                                     {"__wd_mult__", "0"}};
  CHECK(FindNode(s, "conv_weight")->attrs == weight_attrs);

  TempFile file("tandem_hidden_attrs");
  s.Save(file.path());
  Symbol from_file = Symbol::Load(file.path());
  Symbol from_text = Symbol::LoadJSON(s.ToJSON());
  for (const Symbol* r : {&from_file, &from_text}) {
    CHECK(FindNode(*r, "data")->attrs == tandem::AttrMap{{"__shape__", "(1, 2, 8, 8)"}});
    CHECK(FindNode(*r, "conv_weight")->attrs == weight_attrs);
    CHECK(FindNode(*r, "conv_bias")->attrs == tandem::AttrMap{{"__lr_mult__", "0.5"}});
    // __shape__ is a shape hint: inference needs no shape from the caller.
    CHECK(InferSingleOutput(*r, {}) == Shape{1, 4, 6, 6});
    CHECK(r->ToJSON() == s.ToJSON());
  }
}

TEST_CASE("symbol json: ToJSON writes mxnet_version, node_row_ptr, arg_nodes and 3-number entries",
          "[symbol][json]") {
  Symbol s = Symbol::LoadJSON(kConvReluAttr);
  const std::string text = s.ToJSON();
  CHECK_THAT(text, Catch::Contains("\"mxnet_version\""));
  CHECK_THAT(text, Catch::Contains("10600"));
  CHECK_THAT(text, Catch::Contains("\"node_row_ptr\""));
  CHECK_THAT(text, Catch::Contains("\"arg_nodes\""));
  CHECK_THAT(text, Catch::Contains("\"attrs\""));
  CHECK_THAT(text, !Catch::Contains("\"attr\":"));
  CHECK_THAT(text, !Catch::Contains("\"param\""));
}

// ------------------------------------------------------------------------------------------------
// Pre-0.9 upgrade

TEST_CASE("symbol json: pre-0.9 BatchNorm without aux inputs gets <node>_moving_mean/_var",
          "[symbol][json][legacy]") {
  Symbol s = Symbol::LoadJSON(kPre09BatchNorm, "inception-bn-symbol.json");
  CHECK(s.ListAuxiliaryStates() == Names{"bn_data_moving_mean", "bn_data_moving_var"});
  CHECK(s.ListArguments() == Names{"data", "bn_data_gamma", "bn_data_beta"});
  CHECK(s.ListInputs() ==
        Names{"data", "bn_data_gamma", "bn_data_beta", "bn_data_moving_mean", "bn_data_moving_var"});
  Shapes args, outs, aux;
  s.InferShape({{"data", Shape{1, 3, 4, 4}}}, &args, &outs, &aux);
  CHECK(outs == Shapes{Shape{1, 3, 4, 4}});
  CHECK(aux == Shapes{Shape{3}, Shape{3}});
  const auto& p = tandem::ParamsAs<tandem::ops::BatchNormParams>(FindNode(s, "bn_data")->params);
  CHECK(p.eps == Approx(2e-5));
  CHECK(p.fix_gamma);
}

TEST_CASE("symbol json: a version >= 0.9 file with missing BatchNorm inputs throws FormatError",
          "[symbol][json][legacy][hostile]") {
  std::string text = kPre09BatchNorm;
  text.insert(text.rfind('}'), R"J(, "attrs": {"mxnet_version": ["int", 900]})J");
  const std::string msg = LoadError<FormatError>(text, "new-symbol.json");
  CHECK_THAT(msg, Catch::Contains("new-symbol.json"));
  CHECK_THAT(msg, Catch::Contains("bn_data"));
  CHECK_THAT(msg, Catch::Contains("3 inputs"));
}

// ------------------------------------------------------------------------------------------------
// Symbol API

TEST_CASE("symbol api: op:: builders name arguments, aux states, inputs and outputs like MXNet",
          "[symbol][api]") {
  Symbol net = SmallConvNet();
  CHECK(net.ListArguments() == Names{"data", "conv_weight", "conv_bias", "bn_gamma", "bn_beta",
                                     "fc_weight", "fc_bias", "softmax_label"});
  CHECK(net.ListAuxiliaryStates() == Names{"bn_moving_mean", "bn_moving_var"});
  CHECK(net.ListInputs() == Names{"data", "conv_weight", "conv_bias", "bn_gamma", "bn_beta",
                                  "bn_moving_mean", "bn_moving_var", "fc_weight", "fc_bias",
                                  "softmax_label"});
  CHECK(net.ListOutputs() == Names{"softmax_output"});
  CHECK(net.num_outputs() == 1);
}

TEST_CASE("symbol api: InferShape of the builder net gives output, argument and aux shapes",
          "[symbol][api]") {
  Symbol net = SmallConvNet();
  Shapes args, outs, aux;
  net.InferShape({{"data", Shape{2, 3, 8, 8}}}, &args, &outs, &aux);
  // conv 3x3 -> (2,4,6,6); pool 2x2/2 -> (2,4,3,3); flatten -> (2,36); fc -> (2,10).
  CHECK(outs == Shapes{Shape{2, 10}});
  CHECK(args == Shapes{Shape{2, 3, 8, 8}, Shape{4, 3, 3, 3}, Shape{4}, Shape{4}, Shape{4},
                       Shape{10, 36}, Shape{10}, Shape{2}});
  CHECK(aux == Shapes{Shape{4}, Shape{4}});

  auto by_name = net.InferShapeMap({{"data", Shape{2, 3, 8, 8}}});
  CHECK(by_name.at("fc_weight") == Shape{10, 36});
  CHECK(by_name.at("bn_moving_var") == Shape{4});
  CHECK(by_name.at("softmax_output") == Shape{2, 10});
}

TEST_CASE("symbol api: InferShape rejects a name that is not an input", "[symbol][api]") {
  REQUIRE_THROWS_AS(SmallConvNet().InferShape({{"nope", Shape{1}}}, nullptr, nullptr, nullptr),
                    tandem::InvalidArgument);
}

TEST_CASE("symbol api: Group of two symbols has 2 outputs and operator[] picks each",
          "[symbol][api]") {
  Symbol net = SmallConvNet();
  Symbol conv = tandem::op::Convolution("side", Symbol::Variable("x"),
                                        {.kernel = {1, 1}, .num_filter = 2, .no_bias = true});
  Symbol g = Symbol::Group({net, conv});
  REQUIRE(g.num_outputs() == 2);
  CHECK(g.ListOutputs() == Names{"softmax_output", "side_output"});
  CHECK(g[0].ListOutputs() == Names{"softmax_output"});
  CHECK(g[1].ListOutputs() == Names{"side_output"});
  CHECK(g[1].ListArguments() == Names{"x", "side_weight"});
  CHECK(g.ListArguments().size() == net.ListArguments().size() + 2);
  Shapes args, outs, aux;
  g.InferShape({{"data", Shape{1, 3, 8, 8}}, {"x", Shape{1, 5, 4, 4}}}, &args, &outs, &aux);
  CHECK(outs == Shapes{Shape{1, 10}, Shape{1, 2, 4, 4}});
  REQUIRE_THROWS_AS(g[2], tandem::InvalidArgument);
}

TEST_CASE("symbol api: GetInternals lists every node output in topological order",
          "[symbol][api]") {
  Symbol internals = SmallConvNet().GetInternals();
  const Names outputs = internals.ListOutputs();
  CHECK(outputs == Names{"data", "conv_weight", "conv_bias", "conv_output", "bn_gamma", "bn_beta",
                         "bn_moving_mean", "bn_moving_var", "bn_output", "relu_output",
                         "pool_output", "flat_output", "fc_weight", "fc_bias", "fc_output",
                         "softmax_label", "softmax_output"});
  // An internal output is a usable symbol of its own (feature extraction).
  size_t flat = std::find(outputs.begin(), outputs.end(), "flat_output") - outputs.begin();
  REQUIRE(flat < outputs.size());
  Symbol features = internals[flat];
  CHECK(InferSingleOutput(features, {{"data", Shape{3, 3, 8, 8}}}) == Shape{3, 36});
  CHECK(features.ListArguments() == Names{"data", "conv_weight", "conv_bias", "bn_gamma", "bn_beta"});
}

TEST_CASE("symbol api: ToJSON -> LoadJSON gives identical JSON and identical lists",
          "[symbol][api][json]") {
  Symbol net = SmallConvNet();
  const std::string text = net.ToJSON();
  Symbol back = Symbol::LoadJSON(text, "roundtrip.json");
  CHECK(back.ToJSON() == text);
  CHECK(back.ListArguments() == net.ListArguments());
  CHECK(back.ListAuxiliaryStates() == net.ListAuxiliaryStates());
  CHECK(back.ListInputs() == net.ListInputs());
  CHECK(back.ListOutputs() == net.ListOutputs());
  CHECK(InferSingleOutput(back, {{"data", Shape{2, 3, 8, 8}}}) == Shape{2, 10});

  Symbol group = Symbol::Group({net, net.GetInternals()[3]});
  Symbol group_back = Symbol::LoadJSON(group.ToJSON());
  CHECK(group_back.ToJSON() == group.ToJSON());
  CHECK(group_back.ListOutputs() == Names{"softmax_output", "conv_output"});
}

TEST_CASE("symbol api: Save writes a file that Load reads back to the same graph",
          "[symbol][api][json]") {
  Symbol net = SmallConvNet();
  TempFile file("tandem_symbol_save");
  net.Save(file.path());
  Symbol back = Symbol::Load(file.path());
  CHECK(back.ToJSON() == net.ToJSON());
  CHECK(back.ListInputs() == net.ListInputs());
}

TEST_CASE("symbol api: generic Operator builder with SetParam / SetInput / CreateSymbol",
          "[symbol][api]") {
  Symbol x = Symbol::Variable("x");
  Symbol c = Operator("Convolution")
                 .SetParam("kernel", Shape{3, 3})
                 .SetParam("num_filter", 4)
                 .SetInput("data", x)
                 .CreateSymbol("c");
  CHECK(c.ListArguments() == Names{"x", "c_weight", "c_bias"});
  CHECK(c.ListOutputs() == Names{"c_output"});
  auto node = FindNode(c, "c");
  CHECK(node->attrs.at("kernel") == "(3, 3)");
  CHECK(node->attrs.at("num_filter") == "4");
  const auto& p = tandem::ParamsAs<tandem::ops::ConvParams>(node->params);
  CHECK(p.kernel == std::vector<int64_t>{3, 3});
  CHECK(p.num_filter == 4);
  CHECK(InferSingleOutput(c, {{"x", Shape{1, 2, 8, 8}}}) == Shape{1, 4, 6, 6});

  // A named input other than data replaces the variable that would have been created.
  Symbol shared = Symbol::Variable("shared_weight");
  Symbol c2 = Operator("Convolution")
                  .SetParam("kernel", Shape{1, 1})
                  .SetParam("num_filter", 2)
                  .SetParam("no_bias", true)
                  .SetInput("data", x)
                  .SetInput("weight", shared)
                  .CreateSymbol("c2");
  CHECK(c2.ListArguments() == Names{"x", "shared_weight"});
}

TEST_CASE("symbol api: generic builder rejects unknown operators and argument names",
          "[symbol][api][hostile]") {
  REQUIRE_THROWS_AS(Operator("NoSuchOp").CreateSymbol("n"), tandem::Unsupported);
  REQUIRE_THROWS_AS(Operator("Activation")
                        .SetParam("act_type", "relu")
                        .SetInput("data", Symbol::Variable("x"))
                        .SetInput("weight", Symbol::Variable("w"))
                        .CreateSymbol("a"),
                    tandem::InvalidArgument);
}

// ------------------------------------------------------------------------------------------------
// Hostile JSON

TEST_CASE("symbol hostile: invalid JSON text throws FormatError naming the source",
          "[symbol][hostile]") {
  const std::string msg = LoadError<FormatError>(R"J({"nodes": [ {"op": "null", )J", "broken.json");
  CHECK_THAT(msg, Catch::Contains("broken.json"));
  CHECK_THAT(msg, Catch::Contains("not valid JSON"));
  REQUIRE_THROWS_AS(Symbol::LoadJSON(""), FormatError);
}

TEST_CASE("symbol hostile: a top level that is not an object throws FormatError",
          "[symbol][hostile]") {
  for (const char* text : {"[1, 2, 3]", "42", "\"nodes\"", "null"}) {
    INFO(text);
    CHECK_THAT(LoadError<FormatError>(text), Catch::Contains("not a JSON object"));
  }
}

TEST_CASE("symbol hostile: missing, empty or non-array heads throw FormatError",
          "[symbol][hostile]") {
  const std::string nodes = R"J("nodes": [{"op": "null", "name": "data", "inputs": []}])J";
  CHECK_THAT(LoadError<FormatError>("{" + nodes + "}"), Catch::Contains("heads"));
  CHECK_THAT(LoadError<FormatError>("{" + nodes + R"J(, "heads": []})J"), Catch::Contains("heads"));
  CHECK_THAT(LoadError<FormatError>("{" + nodes + R"J(, "heads": 0})J"), Catch::Contains("heads"));
  CHECK_THAT(LoadError<FormatError>(R"J({"heads": [[0, 0]]})J"), Catch::Contains("nodes"));
}

TEST_CASE("symbol hostile: unknown op throws Unsupported naming the op and the node",
          "[symbol][hostile]") {
  const std::string msg = LoadError<tandem::Unsupported>(
      GraphWithSecondNode(R"J({"op": "FancyOp", "name": "fancy0", "inputs": [[0, 0]]})J"),
      "fancy.json");
  CHECK_THAT(msg, Catch::Contains("FancyOp"));
  CHECK_THAT(msg, Catch::Contains("fancy0"));
  CHECK_THAT(msg, Catch::Contains("fancy.json"));
}

TEST_CASE("symbol: a model with several unknown operators names every one of them at once",
          "[symbol][hostile]") {
  const std::string json = R"J({"nodes": [
      {"op": "null", "name": "data", "inputs": []},
      {"op": "FancyOp", "name": "fancy0", "inputs": [[0, 0]]},
      {"op": "Activation", "name": "act", "attrs": {"act_type": "relu"}, "inputs": [[1, 0]]},
      {"op": "OtherOp", "name": "other0", "inputs": [[2, 0]]},
      {"op": "FancyOp", "name": "fancy1", "inputs": [[3, 0]]}],
    "arg_nodes": [0], "heads": [[4, 0, 0]]})J";
  const std::string msg = LoadError<tandem::Unsupported>(json, "two.json");
  CHECK_THAT(msg, Catch::Contains("2 operators are not supported"));
  CHECK_THAT(msg, Catch::Contains("FancyOp (2 nodes: fancy0, fancy1)"));
  CHECK_THAT(msg, Catch::Contains("OtherOp (1 node: other0)"));
  CHECK_THAT(msg, Catch::Contains("two.json"));
}

TEST_CASE("symbol hostile: an input index beyond the node count throws FormatError",
          "[symbol][hostile]") {
  const std::string msg = LoadError<FormatError>(GraphWithSecondNode(
      R"J({"op": "Activation", "name": "act", "attrs": {"act_type": "relu"}, "inputs": [[7, 0]]})J"));
  CHECK_THAT(msg, Catch::Contains("act"));
  CHECK_THAT(msg, Catch::Contains("7"));
  CHECK_THAT(LoadError<FormatError>(GraphWithSecondNode(
                 R"J({"op": "Activation", "name": "act", "attrs": {"act_type": "relu"},
                     "inputs": [[-1, 0]]})J")),
             Catch::Contains("out of range"));
  // Heads are checked the same way.
  CHECK_THAT(LoadError<FormatError>(GraphWithSecondNode(
                 R"J({"op": "Activation", "name": "act", "attrs": {"act_type": "relu"},
                     "inputs": [[0, 0]]})J",
                 "[[9, 0, 0]]")),
             Catch::Contains("heads"));
}

TEST_CASE("symbol hostile: a node that consumes itself throws FormatError", "[symbol][hostile]") {
  const std::string msg = LoadError<FormatError>(GraphWithSecondNode(
      R"J({"op": "Activation", "name": "loop", "attrs": {"act_type": "relu"}, "inputs": [[1, 0]]})J"));
  CHECK_THAT(msg, Catch::Contains("consumes itself"));
  CHECK_THAT(msg, Catch::Contains("loop"));
}

TEST_CASE("symbol hostile: a cycle / forward reference between two nodes throws FormatError",
          "[symbol][hostile]") {
  const std::string text = R"J({
    "nodes": [
      {"op": "null", "name": "data", "inputs": []},
      {"op": "elemwise_add", "name": "a", "inputs": [[0, 0], [2, 0]]},
      {"op": "elemwise_add", "name": "b", "inputs": [[0, 0], [1, 0]]}
    ],
    "arg_nodes": [0], "heads": [[2, 0]], "attrs": {"mxnet_version": ["int", 10600]}
  })J";
  const std::string msg = LoadError<FormatError>(text);
  CHECK_THAT(msg, Catch::Contains("later node"));
  CHECK_THAT(msg, Catch::Contains("'a'"));
}

TEST_CASE("symbol hostile: an input output-index out of range throws FormatError",
          "[symbol][hostile]") {
  const std::string msg = LoadError<FormatError>(GraphWithSecondNode(
      R"J({"op": "Activation", "name": "act", "attrs": {"act_type": "relu"}, "inputs": [[0, 1]]})J"));
  CHECK_THAT(msg, Catch::Contains("output 1"));
  CHECK_THAT(LoadError<FormatError>(GraphWithSecondNode(
                 R"J({"op": "Activation", "name": "act", "attrs": {"act_type": "relu"},
                     "inputs": [[0, -1]]})J")),
             Catch::Contains("act"));
  CHECK_THAT(LoadError<FormatError>(GraphWithSecondNode(
                 R"J({"op": "Activation", "name": "act", "attrs": {"act_type": "relu"},
                     "inputs": [[0, 0]]})J",
                 "[[1, 3, 0]]")),
             Catch::Contains("output 3"));
}

TEST_CASE("symbol hostile: malformed input entries throw FormatError", "[symbol][hostile]") {
  for (const char* inputs : {R"J([[0]])J", R"J([[0, 0, 0, 0]])J", R"J([["0", 0]])J", R"J([[0.5, 0]])J",
                             R"J({"a": 1})J", R"J([7])J"}) {
    INFO(inputs);
    REQUIRE_THROWS_AS(Symbol::LoadJSON(GraphWithSecondNode(
                          std::string(R"J({"op": "Activation", "name": "act",
                                         "attrs": {"act_type": "relu"}, "inputs": )J") +
                          inputs + "}")),
                      FormatError);
  }
}

TEST_CASE("symbol hostile: a variable with inputs throws FormatError", "[symbol][hostile]") {
  CHECK_THAT(LoadError<FormatError>(
                 GraphWithSecondNode(R"J({"op": "null", "name": "v", "inputs": [[0, 0]]})J")),
             Catch::Contains("variable"));
}

TEST_CASE("symbol hostile: malformed attribute strings throw FormatError naming node and key",
          "[symbol][hostile]") {
  struct Case {
    const char* node;
    const char* attribute;
  };
  const Case cases[] = {
      {R"J({"op": "Convolution", "name": "conv_bad", "attrs": {"kernel": "(3,x)", "num_filter": "4"},
          "inputs": [[0, 0], [0, 0], [0, 0]]})J",
       "kernel"},
      {R"J({"op": "Convolution", "name": "conv_bad", "attrs": {"kernel": "(3,3)", "num_filter": "abc"},
          "inputs": [[0, 0], [0, 0], [0, 0]]})J",
       "num_filter"},
      {R"J({"op": "Activation", "name": "act_bad", "attrs": {"act_type": "bogus"},
          "inputs": [[0, 0]]})J",
       "act_type"},
      {R"J({"op": "BatchNorm", "name": "bn_bad", "attrs": {"fix_gamma": "maybe"},
          "inputs": [[0, 0], [0, 0], [0, 0], [0, 0], [0, 0]]})J",
       "fix_gamma"},
  };
  for (const Case& c : cases) {
    INFO(c.node);
    const std::string msg = LoadError<FormatError>(GraphWithSecondNode(c.node), "attrs.json");
    CHECK_THAT(msg, Catch::Contains("attrs.json"));
    CHECK_THAT(msg, Catch::Contains("_bad"));
    CHECK_THAT(msg, Catch::Contains(c.attribute));
  }
}

TEST_CASE("symbol hostile: JSON nested 10000 deep throws tandem::Error without crashing",
          "[symbol][hostile]") {
  const int depth = 10000;
  const std::string deep_array = std::string(depth, '[') + std::string(depth, ']');
  // As the whole document.
  REQUIRE_THROWS_AS(Symbol::LoadJSON(deep_array), tandem::Error);
  // Unterminated.
  REQUIRE_THROWS_AS(Symbol::LoadJSON(std::string(depth, '[')), tandem::Error);
  // As a node attribute value (a JSON value, not a string) and as a string attribute.
  REQUIRE_THROWS_AS(Symbol::LoadJSON(GraphWithSecondNode(
                        R"J({"op": "Activation", "name": "act", "attrs": {"act_type": )J" +
                        deep_array + R"J(}, "inputs": [[0, 0]]})J")),
                    tandem::Error);
  REQUIRE_THROWS_AS(Symbol::LoadJSON(GraphWithSecondNode(
                        R"J({"op": "Convolution", "name": "conv", "attrs": {"kernel": ")J" +
                        deep_array + R"J(", "num_filter": "1"}, "inputs": [[0, 0], [0, 0], [0, 0]]})J")),
                    tandem::Error);
  // Deep objects in a place the loader ignores must not crash either.
  std::string deep_object;
  for (int i = 0; i < depth; ++i) deep_object += R"J({"a": )J";
  deep_object += "1" + std::string(depth, '}');
  REQUIRE_THROWS_AS(Symbol::LoadJSON(R"J({"nodes": [], "heads": [[0, 0]], "extra": )J" + deep_object + "}"),
                    tandem::Error);
}

TEST_CASE("symbol hostile: a missing file throws FormatError naming the file",
          "[symbol][hostile]") {
  const std::string missing =
      (std::filesystem::temp_directory_path() / "tandem_no_such_dir" / "missing-symbol.json").string();
  REQUIRE_THROWS_AS(Symbol::Load(missing), FormatError);
  REQUIRE_THROWS_WITH(Symbol::Load(missing), Catch::Contains(missing));
}

TEST_CASE("symbol hostile: a weight given with the wrong shape makes InferShape throw ShapeError",
          "[symbol][hostile]") {
  Symbol s = Symbol::LoadJSON(kConvReluAttrs);
  std::map<std::string, Shape> known{{"data", Shape{1, 2, 8, 8}}, {"conv_weight", Shape{4, 3, 3, 3}}};
  REQUIRE_THROWS_AS(s.InferShape(known, nullptr, nullptr, nullptr), tandem::ShapeError);
  REQUIRE_THROWS_WITH(s.InferShape(known, nullptr, nullptr, nullptr), Catch::Contains("conv"));
  // Data of the wrong rank is a shape error too.
  REQUIRE_THROWS_AS(SmallConvNet().InferShape({{"data", Shape{2, 3}}}, nullptr, nullptr, nullptr),
                    tandem::ShapeError);
}

// Regressions for loader bugs found by these tests (fixed in lib/core/symbol_json.cpp).

TEST_CASE("symbol hostile: JSON nested 100000 deep in attrs / inputs / heads throws, no crash",
          "[symbol][hostile]") {
  const int depth = 100000;
  const std::string deep = std::string(depth, '[') + std::string(depth, ']');
  REQUIRE_THROWS_AS(Symbol::LoadJSON(GraphWithSecondNode(
                        R"J({"op": "Activation", "name": "act", "attrs": {"act_type": )J" + deep +
                        R"J(}, "inputs": [[0, 0]]})J")),
                    tandem::Error);
  REQUIRE_THROWS_AS(Symbol::LoadJSON(GraphWithSecondNode(
                        R"J({"op": "Activation", "name": "act", "attrs": {"act_type": "relu"},
                            "inputs": [[0, 0]]})J",
                        "[" + deep + "]")),
                    tandem::Error);
  REQUIRE_THROWS_AS(Symbol::LoadJSON(GraphWithSecondNode(
                        R"J({"op": "Activation", "name": "act", "attrs": {"act_type": "relu"},
                            "inputs": [[0, 0]]})J",
                        "[[" + deep + ", 0]]")),
                    tandem::Error);
}

TEST_CASE("symbol hostile: a negative head index is reported as out of range", "[symbol][hostile]") {
  const std::string msg = LoadError<FormatError>(GraphWithSecondNode(
      R"J({"op": "Activation", "name": "act", "attrs": {"act_type": "relu"}, "inputs": [[0, 0]]})J",
      "[[-1, 0]]"));
  CHECK_THAT(msg, !Catch::Contains("consumes itself"));
  CHECK_THAT(msg, Catch::Contains("out of range"));
}

TEST_CASE("symbol hostile: a pre-0.9 node with too many inputs throws FormatError",
          "[symbol][hostile]") {
  const std::string text = R"J({"nodes": [{"op": "null", "name": "data", "inputs": []},
      {"op": "Activation", "name": "act", "param": {"act_type": "relu"}, "inputs": [[0, 0], [0, 0]]}],
      "heads": [[1, 0]]})J";
  REQUIRE_THROWS_AS(Symbol::LoadJSON(text, "old.json"), FormatError);
}
