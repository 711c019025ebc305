// The vision family (Deconvolution, UpSampling, _contrib_BilinearResize2D,
// _contrib_AdaptiveAvgPooling2D): oneDNN against the reference, the reference against
// hand-computed values, channel-last against channel-first, typed errors. Agreement with MXNet
// itself is test_conformance's (test/conformance/cases/vision.py).
#include "op_test_util.hpp"

using namespace tandem;
using namespace tandem::optest;

namespace {

Symbol Deconv(const AttrMap& attrs, const std::string& name = "deconv") {
  Operator b("Deconvolution");
  for (const auto& [k, v] : attrs) b.SetParam(k, v);
  return b.SetInput("data", Data()).CreateSymbol(name);
}

struct DeconvCase {
  Shape data;
  AttrMap attrs;
};

}  // namespace

TEST_CASE("Deconvolution: oneDNN matches the reference", "[deconv]") {
  const std::vector<DeconvCase> cases = {
      {{2, 3, 5}, {{"kernel", "(3,)"}, {"num_filter", "4"}}},
      {{1, 2, 6}, {{"kernel", "(4,)"}, {"stride", "(3,)"}, {"pad", "(1,)"}, {"adj", "(2,)"},
                   {"num_filter", "3"}, {"no_bias", "False"}}},
      {{1, 2, 4, 5}, {{"kernel", "(3, 3)"}, {"stride", "(2, 2)"}, {"num_filter", "3"}}},
      {{2, 4, 3, 4}, {{"kernel", "(3, 2)"}, {"stride", "(2, 3)"}, {"pad", "(1, 0)"},
                      {"adj", "(1, 2)"}, {"dilate", "(2, 1)"}, {"num_filter", "6"},
                      {"num_group", "2"}, {"no_bias", "False"}}},
      {{1, 4, 4, 4}, {{"kernel", "(4, 4)"}, {"stride", "(2, 2)"}, {"pad", "(1, 1)"},
                      {"num_filter", "4"}, {"num_group", "4"}}},
      {{1, 2, 4, 4}, {{"kernel", "(3, 3)"}, {"stride", "(2, 2)"}, {"pad", "(1, 1)"},
                      {"target_shape", "(8, 7)"}, {"num_filter", "2"}}},
      {{1, 2, 3, 3}, {{"kernel", "(5, 5)"}, {"pad", "(3, 2)"}, {"num_filter", "2"}}},
      {{1, 2, 3, 2, 3}, {{"kernel", "(2, 3, 2)"}, {"stride", "(2, 1, 2)"}, {"pad", "(0, 1, 1)"},
                         {"adj", "(1, 0, 1)"}, {"num_filter", "4"}, {"num_group", "2"},
                         {"no_bias", "False"}}},
      {{1, 3, 4, 5}, {{"kernel", "(3, 3)"}, {"stride", "(2, 2)"}, {"num_filter", "4"},
                      {"layout", "NHWC"}, {"no_bias", "False"}}},
  };
  uint32_t seed = 700;
  for (const DeconvCase& c : cases) {
    std::string attrs;
    for (const auto& [k, v] : c.attrs) attrs += k + "=" + v + " ";
    INFO("data " << c.data.ToString() << " " << attrs);
    // NHWC data as given: (N, H, W, C).
    Shape data = c.data;
    if (c.attrs.count("layout")) data = Shape{c.data[0], c.data[2], c.data[3], c.data[1]};
    CheckBackends(Deconv(c.attrs), {{"data", testing::random_input(data, seed++)}}, Dnnl::kUsed);
  }
}

TEST_CASE("Deconvolution: NHWC equals NCHW with permuted data, weight and output",
          "[deconv][layout]") {
  for (const std::string& groups : {"1", "2"}) {
    INFO("num_group " << groups);
    AttrMap attrs = {{"kernel", "(3, 2)"}, {"stride", "(2, 1)"}, {"pad", "(1, 0)"},
                     {"num_filter", "4"},  {"num_group", groups}, {"no_bias", "False"}};
    const NDArray x = testing::random_input({2, 4, 3, 5}, 1);
    const NDArray w = testing::random_input({4, 4 / std::stoi(groups), 3, 2}, 2);
    const NDArray b = testing::random_input({4}, 3);
    const NDArray first = RunReference1(Deconv(attrs), {{"deconv_weight", w}, {"deconv_bias", b}},
                                        {{"data", x}});
    attrs["layout"] = "NHWC";
    const NDArray w_last = Permute(w, {0, 2, 3, 1});  // (C, kh, kw, F / G)
    for (bool reference : {true, false}) {
      CachedOp op(Deconv(attrs), {{"deconv_weight", w_last}, {"deconv_bias", b}}, Context::cpu(),
                  CachedOpFlags{.reference_only = reference});
      const NDArray last = op.Forward({{"data", ChannelsLast(x)}})[0];
      CheckValues(ChannelsFirst(last), first.shape(), first.ToVector<float>());
    }
  }
}

TEST_CASE("Deconvolution: the reference against hand-computed 1-D results", "[deconv][reference]") {
  const NDArray x({1, 2}, Shape{1, 1, 2});
  const NDArray w({1, 1, 1}, Shape{1, 1, 3});
  auto run = [&](AttrMap attrs) {
    attrs["kernel"] = "(3,)";
    attrs["num_filter"] = "1";
    return RunReference1(Deconv(attrs), {{"deconv_weight", w}}, {{"data", x}});
  };
  CheckValues(run({}), {1, 1, 4}, {1, 3, 3, 2});
  CheckValues(run({{"stride", "(2,)"}}), {1, 1, 5}, {1, 1, 3, 2, 2});
  CheckValues(run({{"stride", "(2,)"}, {"pad", "(1,)"}}), {1, 1, 3}, {1, 3, 2});
  CheckValues(run({{"stride", "(2,)"}, {"pad", "(1,)"}, {"adj", "(1,)"}}), {1, 1, 4}, {1, 3, 2, 2});
  CheckValues(run({{"stride", "(3,)"}, {"adj", "(2,)"}}), {1, 1, 8}, {1, 1, 1, 2, 2, 2, 0, 0});
  // target_shape 4 of a full extent 5: pad 1 and adj 1, whatever pad and adj say.
  CheckValues(run({{"stride", "(2,)"}, {"target_shape", "(4,)"}, {"pad", "(0,)"}}), {1, 1, 4},
              {1, 3, 2, 2});
  CheckValues(run({{"dilate", "(2,)"}}), {1, 1, 6}, {1, 2, 1, 2, 1, 2});
  // The default is no_bias=True: no bias input at all.
  CHECK(Deconv({{"kernel", "(3,)"}, {"num_filter", "1"}}).ListInputs() ==
        std::vector<std::string>{"data", "deconv_weight"});
}

TEST_CASE("UpSampling: MXNet's documented examples", "[upsampling][reference]") {
  const NDArray ones({1, 1, 1, 1, 1, 1, 1, 1, 1}, Shape{1, 1, 3, 3});
  const Symbol nearest =
      Operator("UpSampling").SetParam("scale", 2).SetParam("sample_type", "nearest")
          .SetParam("num_args", 1)(Data()).CreateSymbol("up");
  CheckValues(RunReference1(nearest, {}, {{"data", ones}}), {1, 1, 6, 6},
              std::vector<float>(36, 1.0f));
  const Symbol bilinear = Operator("UpSampling")
                              .SetParam("scale", 2)
                              .SetParam("sample_type", "bilinear")
                              .SetParam("num_filter", 1)
                              .SetParam("num_args", 2)
                              .SetInput("data", Data())
                              .CreateSymbol("up");
  const NDArray w(std::vector<float>(16, 1.0f), Shape{1, 1, 4, 4});
  const std::vector<float> expected = {1, 2, 2, 2, 2, 1, 2, 4, 4, 4, 4, 2, 2, 4, 4, 4, 4, 2,
                                       2, 4, 4, 4, 4, 2, 2, 4, 4, 4, 4, 2, 1, 2, 2, 2, 2, 1};
  for (bool reference : {true, false}) {
    CachedOp op(bilinear, {{"up_weight", w}}, Context::cpu(),
                CachedOpFlags{.reference_only = reference});
    CheckValues(op.Forward({{"data", ones}})[0], {1, 1, 6, 6}, expected);
  }
}

TEST_CASE("UpSampling: nearest with several inputs concatenates or sums", "[upsampling][reference]") {
  auto up = [](const std::string& mode) {
    return Operator("UpSampling")
        .SetParam("scale", 2)
        .SetParam("sample_type", "nearest")
        .SetParam("num_args", 2)
        .SetParam("multi_input_mode", mode)(Data("a"))(Data("b"))
        .CreateSymbol("up");
  };
  const NDArray a({1, 2, 3, 4}, Shape{1, 1, 2, 2});
  const NDArray b({10}, Shape{1, 1, 1, 1});  // scaled by 4 to the output's 4x4
  CheckValues(RunReference1(up("sum"), {}, {{"a", a}, {"b", b}}), {1, 1, 4, 4},
              {11, 11, 12, 12, 11, 11, 12, 12, 13, 13, 14, 14, 13, 13, 14, 14});
  const NDArray cat = RunReference1(up("concat"), {}, {{"a", a}, {"b", b}});
  REQUIRE(cat.shape() == Shape{1, 2, 4, 4});
  const std::vector<float> v = cat.ToVector<float>();
  CHECK(v[5] == 1.0f);
  CHECK(v[15] == 4.0f);
  CHECK(v[16] == 10.0f);
  CHECK(v[31] == 10.0f);
}

TEST_CASE("vision operators: bad attributes and shapes are typed errors", "[vision][errors]") {
  auto make = [](const std::string& op, AttrMap attrs) {
    Operator b(op);
    for (const auto& [k, v] : attrs) b.SetParam(k, v);
    return b.SetInput("data", Data()).CreateSymbol("x");
  };
  const AttrMap k3 = {{"kernel", "(3, 3)"}, {"num_filter", "2"}};
  auto with = [&](AttrMap extra) {
    AttrMap a = k3;
    for (const auto& [k, v] : extra) a[k] = v;
    return a;
  };
  CHECK_THROWS_AS(make("Deconvolution", {{"num_filter", "2"}}), FormatError);
  CHECK_THROWS_AS(make("Deconvolution", {{"kernel", "(3, 3)"}}), FormatError);
  CHECK_THROWS_AS(make("Deconvolution", with({{"stride", "(2,)"}})), FormatError);
  CHECK_THROWS_AS(make("Deconvolution", with({{"stride", "(2, 2)"}, {"adj", "(2, 0)"}})),
                  FormatError);
  CHECK_THROWS_AS(make("Deconvolution", with({{"num_group", "3"}})), FormatError);
  CHECK_THROWS_AS(make("Deconvolution", with({{"target_shape", "(8,)"}})), FormatError);
  CHECK_THROWS_AS(make("Deconvolution", {{"kernel", "(2, 2, 2)"}, {"num_filter", "2"},
                                         {"dilate", "(2, 1, 1)"}}),
                  FormatError);
  const Symbol too_big = make("Deconvolution", with({{"target_shape", "(9, 9)"}}));
  CHECK_THROWS_AS(too_big.InferShapeMap({{"data", Shape{1, 2, 3, 3}}}), ShapeError);
  const Symbol odd_target = make("Deconvolution", with({{"target_shape", "(4, 5)"}}));
  CHECK_THROWS_AS(odd_target.InferShapeMap({{"data", Shape{1, 2, 3, 3}}}), ShapeError);  // adj 1
  CHECK_THROWS_AS(make("Deconvolution", k3).InferShapeMap({{"data", Shape{1, 2, 3}}}), ShapeError);
  CHECK_THROWS_AS(make("Deconvolution", with({{"num_group", "2"}}))
                      .InferShapeMap({{"data", Shape{1, 3, 3, 3}}}),
                  ShapeError);

  CHECK_THROWS_AS(make("UpSampling", {{"scale", "2"}, {"num_args", "1"}}), FormatError);
  CHECK_THROWS_AS(make("UpSampling", {{"scale", "0"}, {"num_args", "1"}, {"sample_type", "nearest"}}),
                  FormatError);
  CHECK_THROWS_AS(make("UpSampling", {{"scale", "2"}, {"num_args", "2"}, {"sample_type", "bilinear"}}),
                  FormatError);  // no num_filter
  CHECK_THROWS_AS(make("UpSampling", {{"scale", "2"}, {"num_args", "2"}, {"sample_type", "bilinear"},
                                      {"num_filter", "3"}})
                      .InferShapeMap({{"data", Shape{1, 2, 3, 3}}}),
                  ShapeError);

  CHECK_THROWS_AS(make("_contrib_BilinearResize2D", {{"scale_height", "2"}}), FormatError);
  CHECK_THROWS_AS(make("_contrib_BilinearResize2D", {{"mode", "odd_scale"}}), FormatError);
  CHECK_THROWS_AS(make("_contrib_BilinearResize2D", {{"mode", "bicubic"}}), FormatError);
  CHECK_THROWS_AS(make("_contrib_BilinearResize2D", {{"height", "0"}}), FormatError);
  CHECK_THROWS_AS(make("_contrib_BilinearResize2D", {}).InferShapeMap({{"data", Shape{2, 3, 4}}}),
                  ShapeError);
  // MXNet's quirk: scale_width alone is ignored in mode "size" (height and width apply).
  CHECK(make("_contrib_BilinearResize2D", {{"scale_width", "2"}, {"height", "3"}, {"width", "5"}})
            .InferShapeMap({{"data", Shape{1, 2, 4, 4}}})
            .at("x_output") == Shape{1, 2, 3, 5});

  CHECK_THROWS_AS(make("_contrib_AdaptiveAvgPooling2D", {{"output_size", "(0, 2)"}}), FormatError);
  CHECK(make("_contrib_AdaptiveAvgPooling2D", {{"output_size", "(2, 3, 4)"}})
            .InferShapeMap({{"data", Shape{1, 2, 5, 5}}})
            .at("x_output") == Shape{1, 2, 1, 1});
}
