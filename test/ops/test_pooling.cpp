// Pooling: every backend against the reference (max / avg / sum, conventions valid / full / same,
// count_include_pad both ways, global pooling, 1-D to 3-D), the reference against hand-computed
// windows of a 4x4 image, typed errors.
#include <random>
#include <sstream>

#include "op_test_util.hpp"

using namespace tandem;
using namespace tandem::optest;

namespace {

struct PoolCase {
  Shape data;
  std::string pool_type;
  Shape kernel, stride, pad;
  std::string convention = "valid";
  bool count_include_pad = true;
  bool global_pool = false;
  // Whether the oneDNN factory takes it: it declines sum pooling, and avg pooling that counts
  // padding when a window reaches past the symmetric padding (full / same with pad > 0).
  Dnnl dnnl = Dnnl::kUsed;
};

Symbol Pool(const PoolCase& c, const std::string& layout = "") {
  Operator b("Pooling");
  if (!layout.empty()) b.SetParam("layout", layout);
  b.SetParam("pool_type", c.pool_type)
      .SetParam("pooling_convention", c.convention)
      .SetParam("count_include_pad", c.count_include_pad)
      .SetParam("global_pool", c.global_pool);
  if (c.kernel.ndim()) b.SetParam("kernel", c.kernel);
  if (c.stride.ndim()) b.SetParam("stride", c.stride);
  if (c.pad.ndim()) b.SetParam("pad", c.pad);
  return b.SetInput("data", Data()).CreateSymbol("pool");
}

std::string Describe(const PoolCase& c) {
  std::ostringstream os;
  os << c.pool_type << " pool of " << c.data.ToString() << " kernel " << c.kernel.ToString()
     << " stride " << c.stride.ToString() << " pad " << c.pad.ToString() << " convention "
     << c.convention << " count_include_pad " << c.count_include_pad << " global " << c.global_pool;
  return os.str();
}

void CheckCases(const std::vector<PoolCase>& cases) {
  uint32_t seed = 50;
  for (const PoolCase& c : cases) {
    INFO(Describe(c));
    CheckBackends(Pool(c), {{"data", testing::random_input(c.data, seed++)}}, c.dnnl);
  }
}

// 1..16 in a 1x1x4x4 image:
//    1  2  3  4
//    5  6  7  8
//    9 10 11 12
//   13 14 15 16
NDArray Image4x4() { return Iota({1, 1, 4, 4}, 1); }

NDArray PoolImage(const PoolCase& c, const NDArray& image = Image4x4()) {
  return RunReference1(Pool(c), {}, {{"data", image}});
}

}  // namespace

TEST_CASE("max Pooling backends match the reference for every convention", "[pool]") {
  CheckCases({
      {{1, 3, 7, 5}, "max", {2, 2}, {2, 2}, {}},
      {{3, 3, 7, 5}, "max", {3, 3}, {2, 2}, {1, 1}, "full"},
      {{1, 3, 7, 5}, "max", {2, 2}, {2, 2}, {}, "full"},  // extra right padding
      {{2, 3, 8, 6}, "max", {3, 3}, {2, 2}, {1, 1}, "full"},
      {{1, 3, 7, 5}, "max", {3, 3}, {2, 2}, {}, "same"},
      {{1, 3, 7, 5}, "max", {3, 2}, {1, 2}, {1, 0}},
      {{2, 4, 9, 9}, "max", {3, 3}, {1, 1}, {1, 1}},
  });
}

TEST_CASE("avg Pooling backends match the reference with and without counting padding", "[pool]") {
  CheckCases({
      {{2, 3, 7, 5}, "avg", {3, 3}, {2, 2}, {1, 1}, "valid", true},
      {{2, 3, 7, 5}, "avg", {3, 3}, {2, 2}, {1, 1}, "valid", false},
      {{1, 3, 7, 5}, "avg", {2, 2}, {2, 2}, {}, "full", true},  // no pad: divisor is clipped
      {{1, 3, 7, 5}, "avg", {2, 2}, {2, 2}, {}, "full", false},
      {{2, 3, 8, 6}, "avg", {3, 3}, {2, 2}, {1, 1}, "full", false},
      {{2, 3, 8, 6}, "avg", {3, 3}, {2, 2}, {1, 1}, "full", true, false, Dnnl::kFallback},
      {{1, 3, 7, 5}, "avg", {3, 3}, {2, 2}, {}, "same", true},
      {{1, 3, 7, 5}, "avg", {3, 3}, {2, 2}, {}, "same", false},
      {{1, 2, 6, 6}, "avg", {2, 2}, {1, 1}, {1, 1}, "valid", true},
  });
}

TEST_CASE("sum Pooling falls back to the reference and matches it", "[pool]") {
  CheckCases({
      {{1, 3, 7, 5}, "sum", {2, 2}, {1, 1}, {}, "valid", true, false, Dnnl::kFallback},
      {{2, 2, 7, 5}, "sum", {3, 3}, {2, 2}, {1, 1}, "full", true, false, Dnnl::kFallback},
  });
}

TEST_CASE("global Pooling backends match the reference", "[pool]") {
  CheckCases({
      {{2, 3, 7, 5}, "max", {}, {}, {}, "valid", true, true},
      {{1, 4, 3, 3}, "avg", {}, {}, {}, "valid", true, true},
      {{3, 5, 1, 1}, "avg", {}, {}, {}, "valid", true, true},
      {{2, 3, 9}, "avg", {}, {}, {}, "valid", true, true},
      {{2, 3, 7, 5}, "avg", {2, 2}, {}, {}, "valid", true, true},  // kernel is ignored
  });
}

TEST_CASE("Pooling backends match the reference in 1-D and 3-D", "[pool]") {
  CheckCases({
      {{2, 3, 11}, "max", {3}, {2}, {}},
      {{2, 3, 11}, "avg", {3}, {2}, {1}, "valid", false},
      {{1, 2, 5, 6, 4}, "avg", {2, 2, 2}, {2, 2, 2}, {}},
      {{1, 2, 5, 6, 4}, "max", {3, 3, 3}, {2, 2, 2}, {1, 1, 1}, "full"},
  });
}

TEST_CASE("reference Pooling of a 4x4 image with 2x2 windows: max, avg, sum", "[pool][reference]") {
  CheckValues(PoolImage({{}, "max", {2, 2}, {2, 2}, {}}), {1, 1, 2, 2}, {6, 8, 14, 16});
  CheckValues(PoolImage({{}, "avg", {2, 2}, {2, 2}, {}}), {1, 1, 2, 2}, {3.5f, 5.5f, 11.5f, 13.5f});
  CheckValues(PoolImage({{}, "sum", {2, 2}, {2, 2}, {}}), {1, 1, 2, 2}, {14, 22, 46, 54});
}

TEST_CASE("reference avg Pooling with padding: count_include_pad picks the divisor",
          "[pool][reference]") {
  NDArray with = PoolImage({{}, "avg", {3, 3}, {1, 1}, {1, 1}, "valid", true});
  NDArray without = PoolImage({{}, "avg", {3, 3}, {1, 1}, {1, 1}, "valid", false});
  REQUIRE(with.shape() == Shape{1, 1, 4, 4});
  REQUIRE(without.shape() == Shape{1, 1, 4, 4});
  auto w = with.ToVector<float>(), wo = without.ToVector<float>();
  // Corner (0, 0) sees 1 + 2 + 5 + 6; edge (0, 1) sees 1 + 2 + 3 + 5 + 6 + 7; centre (1, 1) nine.
  CHECK(w[0] == Approx(14.0 / 9));
  CHECK(wo[0] == Approx(14.0 / 4));
  CHECK(w[1] == Approx(24.0 / 9));
  CHECK(wo[1] == Approx(24.0 / 6));
  CHECK(w[5] == Approx(54.0 / 9));
  CHECK(wo[5] == Approx(54.0 / 9));
}

TEST_CASE("reference max Pooling ignores padding even when every value is negative",
          "[pool][reference]") {
  NDArray out = PoolImage({{}, "max", {3, 3}, {2, 2}, {1, 1}}, Iota({1, 1, 4, 4}, -20));
  // Windows at rows / cols {-1..1} and {1..3}: the max is the bottom-right element read.
  CheckValues(out, {1, 1, 2, 2}, {-15, -13, -7, -5});
}

TEST_CASE("reference Pooling conventions: full and same keep the partial last window",
          "[pool][reference]") {
  CheckValues(PoolImage({{}, "max", {3, 3}, {2, 2}, {}, "valid"}), {1, 1, 1, 1}, {11});
  CheckValues(PoolImage({{}, "max", {3, 3}, {2, 2}, {}, "full"}), {1, 1, 2, 2}, {11, 12, 15, 16});
  CheckValues(PoolImage({{}, "max", {3, 3}, {2, 2}, {}, "same"}), {1, 1, 2, 2}, {11, 12, 15, 16});
  // avg over the clipped windows (no padding, so the divisor is the clipped size).
  CheckValues(PoolImage({{}, "avg", {3, 3}, {2, 2}, {}, "full"}), {1, 1, 2, 2},
              {6, 7.5f, 12, 13.5f});
}

TEST_CASE("reference global Pooling reduces each plane to one value", "[pool][reference]") {
  CheckValues(PoolImage({{}, "avg", {}, {}, {}, "valid", true, true}), {1, 1, 1, 1}, {8.5f});
  CheckValues(PoolImage({{}, "max", {}, {}, {}, "valid", true, true}), {1, 1, 1, 1}, {16});
  CheckValues(PoolImage({{}, "sum", {}, {}, {}, "valid", true, true}), {1, 1, 1, 1}, {136});
  NDArray two_planes = Iota({1, 2, 2, 2});
  CheckValues(PoolImage({{}, "avg", {}, {}, {}, "valid", true, true}, two_planes), {1, 2, 1, 1},
              {1.5f, 5.5f});
}

TEST_CASE("reference 1-D max Pooling with stride 1", "[pool][reference]") {
  NDArray x({1, 3, 2, 5, 4}, Shape{1, 1, 5});
  CheckValues(PoolImage({{}, "max", {2}, {1}, {}}, x), {1, 1, 4}, {3, 3, 5, 5});
}

TEST_CASE("Pooling output shapes for each convention", "[pool][shape]") {
  const std::map<std::string, Shape> data = {{"data", Shape{1, 3, 7, 5}}};
  CHECK(InferredOutput(Pool({{}, "max", {2, 2}, {2, 2}, {}, "valid"}), data) == Shape{1, 3, 3, 2});
  CHECK(InferredOutput(Pool({{}, "max", {2, 2}, {2, 2}, {}, "full"}), data) == Shape{1, 3, 4, 3});
  CHECK(InferredOutput(Pool({{}, "max", {3, 3}, {2, 2}, {}, "same"}), data) == Shape{1, 3, 4, 3});
  CHECK(InferredOutput(Pool({{}, "max", {}, {}, {}, "valid", true, true}), data) ==
        Shape{1, 3, 1, 1});
}

TEST_CASE("bad Pooling attributes are FormatErrors, lp pooling and other layouts Unsupported",
          "[pool][errors]") {
  auto make = [](AttrMap attrs) {
    Operator b("Pooling");
    for (const auto& [k, v] : attrs) b.SetParam(k, v);
    return b.SetInput("data", Data()).CreateSymbol("pool");
  };
  CHECK_THROWS_AS(make({{"kernel", "(2, 2)"}, {"pool_type", "median"}}), FormatError);
  CHECK_THROWS_AS(make({{"kernel", "(2, 2)"}, {"pool_type", "lp"}}), Unsupported);
  CHECK_THROWS_AS(make({{"pool_type", "max"}}), FormatError);  // no kernel, not global
  CHECK_THROWS_AS(make({{"kernel", "(2, 0)"}}), FormatError);
  CHECK_THROWS_AS(make({{"kernel", "(2, 2)"}, {"stride", "(0, 1)"}}), FormatError);
  CHECK_THROWS_AS(make({{"kernel", "(2, 2)"}, {"pooling_convention", "round"}}), FormatError);
  CHECK_THROWS_AS(make({{"kernel", "(2, 2)"}, {"pooling_convention", "same"}, {"pad", "(1, 1)"}}),
                  FormatError);
  for (const char* layout : {"NCDHW", "NDHWC", "NWC", "NCHW8c"}) {
    INFO(layout);
    CHECK_THROWS_AS(make({{"kernel", "(2, 2)"}, {"layout", layout}}), Unsupported);
  }
  CHECK_NOTHROW(make({{"kernel", "(2, 2)"}, {"layout", "NHWC"}}));
  CHECK_NOTHROW(make({{"global_pool", "True"}, {"layout", "NDHWC"}}));
  CHECK_NOTHROW(make({{"global_pool", "True"}, {"pool_type", "avg"}}));
  CHECK_NOTHROW(make({{"kernel", "(2, 2)"}, {"count_include_pad", "None"}}));
}

TEST_CASE("channel-last Pooling (NWC, NHWC, NDHWC) on the reference is the channel-first result "
          "transposed, bit for bit; oneDNN runs what it runs in NCHW", "[pool][layout]") {
  const std::vector<PoolCase> cases = {
      {{2, 3, 7, 5}, "max", {2, 2}, {2, 2}, {}},
      {{2, 3, 8, 6}, "max", {3, 3}, {2, 2}, {1, 1}, "full"},
      {{1, 3, 7, 5}, "avg", {3, 3}, {2, 2}, {1, 1}, "valid", true},
      {{1, 3, 7, 5}, "avg", {3, 3}, {2, 2}, {1, 1}, "valid", false},
      {{2, 3, 8, 6}, "avg", {3, 3}, {2, 2}, {1, 1}, "full", true, false, Dnnl::kFallback},  // past x + pad
      {{2, 4, 7, 5}, "sum", {3, 2}, {1, 2}, {}, "same", true, false, Dnnl::kFallback},
      {{2, 3, 7, 5}, "max", {}, {}, {}, "valid", true, true},  // global, no kernel
      {{2, 3, 7, 5}, "avg", {2, 2}, {}, {}, "valid", true, true},  // global, kernel ignored
      {{2, 3, 11}, "avg", {3}, {2}, {1}, "valid", false},
      {{1, 2, 5, 6, 4}, "max", {3, 3, 3}, {2, 2, 2}, {1, 1, 1}, "full"},
      {{1, 2, 5, 6, 4}, "avg", {}, {}, {}, "valid", true, true},
  };
  uint32_t seed = 400;
  for (const PoolCase& c : cases) {
    INFO(Describe(c));
    const int spatial = c.data.ndim() - 2;
    const std::string layout = spatial == 1 ? "NWC" : spatial == 2 ? "NHWC" : "NDHWC";
    const NDArray data = testing::random_input(c.data, seed++);
    const NDArray want = ChannelsLast(PoolImage(c, data));
    const NDArray got = RunReference1(Pool(c, layout), {}, {{"data", ChannelsLast(data)}});
    REQUIRE(got.shape() == want.shape());
    CHECK(got.ToVector<float>() == want.ToVector<float>());
    CheckBackends(Pool(c, layout), {{"data", ChannelsLast(data)}}, c.dnnl, 1, kTolerance, Gpu::kMayDecline);
  }
}

TEST_CASE("reference NHWC max Pooling keeps the channels apart", "[pool][reference][layout]") {
  // Two channels of a 2x2 image, NHWC: channel 0 holds 1, 3, 5, 7 and channel 1 holds 2, 4, 6, 8.
  const NDArray got = RunReference1(Pool({{}, "max", {2, 2}, {}, {}}, "NHWC"), {},
                                    {{"data", Iota({1, 2, 2, 2}, 1)}});
  CheckValues(got, {1, 1, 1, 2}, {7, 8});
  CHECK(InferredOutput(Pool({{}, "avg", {}, {}, {}, "valid", true, true}, "NHWC"),
                       {{"data", Shape{2, 7, 5, 3}}}) == Shape{2, 1, 1, 3});
}

TEST_CASE("Pooling shape errors: kernel past the padded input, wrong rank", "[pool][errors]") {
  Symbol pool = Pool({{}, "max", {5, 5}, {}, {1, 1}});
  CHECK_THROWS_AS(pool.InferShapeMap({{"data", Shape{1, 3, 2, 9}}}), ShapeError);
  CHECK_THROWS_AS(pool.InferShapeMap({{"data", Shape{1, 3, 9}}}), ShapeError);
  Symbol global = Pool({{}, "avg", {}, {}, {}, "valid", true, true});
  CHECK_THROWS_AS(global.InferShapeMap({{"data", Shape{4, 3}}}), ShapeError);
  CachedOp op(pool, {}, Context::cpu());
  CHECK_THROWS_AS(op.Forward({testing::random_input({1, 1, 2, 2})}), ShapeError);
}

TEST_CASE("Pooling backends match the reference on a seeded sweep of small geometries",
          "[pool][sweep]") {
  std::mt19937 rng(2024);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const char* kTypes[] = {"max", "avg", "sum"};
  const char* kConventions[] = {"valid", "full", "same"};
  int checked = 0;
  while (checked < 150) {
    const int64_t h = pick(1, 9), w = pick(1, 8), kh = pick(1, 4), kw = pick(1, 4);
    const int64_t sh = pick(1, 3), sw = pick(1, 3);
    const std::string convention = kConventions[pick(0, 2)];
    const int64_t ph = convention == "same" ? 0 : pick(0, static_cast<int>(kh) - 1);
    const int64_t pw = convention == "same" ? 0 : pick(0, static_cast<int>(kw) - 1);
    if (kh > h + 2 * ph || kw > w + 2 * pw) continue;
    PoolCase c{{pick(1, 2), pick(1, 3), h, w},
               kTypes[pick(0, 2)],
               {kh, kw},
               {sh, sw},
               {ph, pw},
               convention,
               pick(0, 1) == 1,
               false,
               Dnnl::kAny};
    INFO(Describe(c));
    CheckBackends(Pool(c),
                  {{"data", testing::random_input(c.data, static_cast<uint32_t>(checked))}},
                  Dnnl::kAny);
    ++checked;
  }
}

TEST_CASE(
    "full convention is a plain ceil, as in MXNet, even when the last window starts in the padding",
    "[pool][shape]") {
  // x = 4, k = 2, s = 3, p = 1: 1 + ceil((4 + 2 - 2) / 3) = 3 windows starting at -1, 2 and 5.
  NDArray x({1, 2, 3, 4}, Shape{1, 1, 4});
  NDArray max = PoolImage({{}, "max", {2}, {3}, {1}, "full"}, x);
  REQUIRE(max.shape() == Shape{1, 1, 3});
  CHECK(max.ToVector<float>()[0] == 1);
  CHECK(max.ToVector<float>()[1] == 4);
  NDArray avg = PoolImage({{}, "avg", {2}, {3}, {1}, "full", true}, x);
  REQUIRE(avg.shape() == Shape{1, 1, 3});
  CHECK(avg.ToVector<float>()[0] == Approx(0.5));  // (pad + 1) / 2
  CHECK(avg.ToVector<float>()[1] == Approx(3.5));
  for (std::string type : {"max", "avg"}) {
    for (bool include : {true, false}) {
      INFO(type << " count_include_pad " << include);
      PoolCase c{{2, 3, 4, 7}, type, {2, 2}, {3, 3}, {1, 1}, "full", include, false, Dnnl::kAny};
      CheckBackends(Pool(c), {{"data", testing::random_input(c.data, 5)}}, Dnnl::kAny);
    }
  }
}
