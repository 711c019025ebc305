// Regressions found by the fuzz targets in test/fuzz (scripts/fuzz.sh), plus seed-level sanity
// cases: garbage, truncated and bit-flipped inputs to each loader must load or throw
// tandem::Error, never anything else. Each regression keeps the crashing bytes (small) and says
// what the library got wrong.
#include <cstdint>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "lib/core/plan_cache.hpp"
#include "tandem/tandem.hpp"
#include "tandem/testing.hpp"

using namespace tandem;

namespace {

enum class Outcome { kLoaded, kTandemError, kOtherException };

template <class F>
Outcome Classify(F&& f) {
  try {
    f();
    return Outcome::kLoaded;
  } catch (const Error&) {
    return Outcome::kTandemError;
  } catch (...) {
    return Outcome::kOtherException;
  }
}

Outcome LoadParams(const std::string& bytes) {
  return Classify([&] {
    std::vector<NDArray> arrays;
    std::vector<std::string> names;
    NDArray::LoadFromBuffer(bytes.data(), bytes.size(), "<test>", &arrays, &names);
  });
}

Outcome LoadSymbol(const std::string& text) {
  return Classify([&] { Symbol::LoadJSON(text, "<test>"); });
}

std::string Garbage(std::mt19937& rng, size_t size) {
  std::string s(size, '\0');
  for (char& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

Symbol SmallNet() {
  Symbol x = op::Convolution("conv", Symbol::Variable("data"), {.kernel = {3, 3}, .num_filter = 2, .pad = {1, 1}});
  x = op::Activation("relu", op::BatchNorm("bn", x, {.fix_gamma = false}));
  x = op::Pooling("pool", x, {.kernel = {2, 2}, .pool_type = "max", .stride = {2, 2}});
  return op::SoftmaxOutput("softmax", op::FullyConnected("fc", op::Flatten(x, "flat"), {.num_hidden = 3}));
}

std::string SmallParams(const Symbol& net) {
  std::vector<NDArray> arrays;
  std::vector<std::string> names;
  for (const auto& [k, v] : testing::random_params(net, {{"data", Shape{1, 1, 6, 6}}})) {
    names.push_back("arg:" + k);
    arrays.push_back(v);
  }
  return NDArray::SaveToBuffer(arrays, names);
}

}  // namespace

// ---- seed-level sanity -------------------------------------------------------------------------

TEST_CASE("fuzz sanity: random garbage of every small size to the .params reader throws tandem::Error", "[fuzz]") {
  std::mt19937 rng(1);
  for (size_t size = 0; size < 512; ++size) {
    INFO("size " << size);
    CHECK(LoadParams(Garbage(rng, size)) == Outcome::kTandemError);
  }
  // Garbage behind a valid list magic: loads or throws tandem::Error, nothing else.
  for (int i = 0; i < 2000; ++i) {
    std::string s = std::string("\x12\x01\0\0\0\0\0\0", 8) + Garbage(rng, rng() % 200);
    INFO("case " << i);
    CHECK(LoadParams(s) != Outcome::kOtherException);
  }
}

TEST_CASE("fuzz sanity: every prefix of a valid .params image throws FormatError; bit flips load or throw tandem::Error", "[fuzz]") {
  const std::string bytes = SmallParams(SmallNet());
  REQUIRE(LoadParams(bytes) == Outcome::kLoaded);
  for (size_t n = 0; n < bytes.size(); ++n) {
    INFO("prefix " << n);
    std::vector<NDArray> arrays;
    std::vector<std::string> names;
    CHECK_THROWS_AS(NDArray::LoadFromBuffer(bytes.data(), n, "<test>", &arrays, &names), FormatError);
  }
  std::mt19937 rng(2);
  for (int i = 0; i < 5000; ++i) {
    std::string s = bytes;
    for (int k = 0; k < 1 + static_cast<int>(rng() % 4); ++k) s[rng() % s.size()] ^= static_cast<char>(1u << (rng() % 8));
    INFO("case " << i);
    CHECK(LoadParams(s) != Outcome::kOtherException);
  }
}

TEST_CASE("fuzz sanity: garbage, prefixes and mutations of symbol JSON throw tandem::Error", "[fuzz]") {
  std::mt19937 rng(3);
  for (size_t size = 0; size < 300; ++size) {
    INFO("size " << size);
    CHECK(LoadSymbol(Garbage(rng, size)) == Outcome::kTandemError);
  }
  const std::string json = SmallNet().ToJSON();
  REQUIRE(LoadSymbol(json) == Outcome::kLoaded);
  for (size_t n = 0; n + 1 < json.size(); n += 7) {
    INFO("prefix " << n);
    CHECK_THROWS_AS(Symbol::LoadJSON(json.substr(0, n), "<test>"), FormatError);
  }
  const std::string alphabet = "[]{}\",:0123456789-.eE \\null";
  for (int i = 0; i < 3000; ++i) {
    std::string s = json;
    for (int k = 0; k < 1 + static_cast<int>(rng() % 3); ++k) s[rng() % s.size()] = alphabet[rng() % alphabet.size()];
    INFO("case " << i << ": " << s);
    CHECK(LoadSymbol(s) != Outcome::kOtherException);
  }
}

TEST_CASE("fuzz sanity: a model from mutated params builds and runs or throws tandem::Error", "[fuzz]") {
  const Symbol net = SmallNet();
  const std::string bytes = SmallParams(net);
  std::mt19937 rng(4);
  const NDArray x = testing::random_input(Shape{1, 1, 6, 6}, 5);
  for (int i = 0; i < 300; ++i) {
    std::string s = bytes;
    if (i) s[rng() % s.size()] ^= static_cast<char>(1u << (rng() % 8));
    INFO("case " << i);
    CHECK(Classify([&] {
            std::vector<NDArray> arrays;
            std::vector<std::string> names;
            NDArray::LoadFromBuffer(s.data(), s.size(), "<test>", &arrays, &names);
            std::map<std::string, NDArray> params;
            for (size_t k = 0; k < names.size(); ++k) params.emplace(names[k], arrays[k]);
            CachedOp op(net, params, Context::cpu(), {.reference_only = (i % 2) == 1});
            op.Forward({x});
          }) != Outcome::kOtherException);
  }
}

// ---- regressions -------------------------------------------------------------------------------

namespace {

// A graph of one operator reading "data", as the fuzzers write them.
std::string OneOp(const std::string& op, const std::string& attrs) {
  return R"J({"nodes":[{"op":"null","name":"data","inputs":[]},{"op":")J" + op + R"J(","name":"n","attrs":)J" +
         attrs + R"J(,"inputs":[[0,0,0]]}],"heads":[[1,0,0]],"attrs":{"mxnet_version":["int",10600]}})J";
}

std::map<std::string, Shape> InferOne(const std::string& json, const Shape& data) {
  return Symbol::LoadJSON(json, "<test>").InferShapeMap({{"data", data}});
}

}  // namespace

TEST_CASE("regression: a padded Convolution whose intermediate byte count wraps size_t is OutOfMemory at planning, not a heap overflow", "[fuzz]") {
  // pad 2^30 on a 2x2 input: the conv output (1,1,2^31+2,2^31+2) float32 needs ~2^64 bytes; the
  // planner used to wrap that to ~16 GiB, allocate it and let the kernel write past its end.
  const std::string json = R"J({"nodes":[{"op":"null","name":"data"},{"op":"null","name":"w"},
    {"op":"Convolution","name":"c","attrs":{"kernel":"(1,1)","num_filter":"1","no_bias":"True","pad":"(1073741824,1073741824)"},"inputs":[[0,0],[1,0]]},
    {"op":"Activation","name":"r","attrs":{"act_type":"relu"},"inputs":[[2,0]]}],"heads":[[3,0]],"attrs":{"mxnet_version":["int",10600]}})J";
  const Symbol net = Symbol::LoadJSON(json, "<test>");
  for (bool reference : {false, true}) {
    CachedOp op(net, {{"w", NDArray({1.f}, Shape{1, 1, 1, 1})}}, Context::cpu(), {.reference_only = reference});
    CHECK_THROWS_AS(op.Plan({Shape{1, 1, 2, 2}}), OutOfMemory);
    CHECK_THROWS_AS(op.Forward({NDArray(std::vector<float>(4, 1.f), Shape{1, 1, 2, 2})}), OutOfMemory);
  }
}

TEST_CASE("regression: kernel, stride, pad and dilate above 2^31 - 1 are a FormatError (they overflowed int64 in shape inference)", "[fuzz]") {
  // Each of these was a signed overflow (UBSan) in Pooling / Convolution shape inference.
  const char* const cases[][2] = {
      {"Pooling", R"J({"kernel":"(2,2)","stride":"(9223372036854775807,1)","pooling_convention":"full"})J"},
      {"Pooling", R"J({"kernel":"(2,2)","stride":"(9223372036854775807,1)","pooling_convention":"same"})J"},
      {"Pooling", R"J({"kernel":"(2,2)","pad":"(4611686018427387904,0)"})J"},
      {"Pooling", R"J({"kernel":"(4294967296,2)"})J"},
      {"Convolution", R"J({"kernel":"(3,3)","num_filter":"1","dilate":"(9223372036854775807,1)"})J"},
      {"Convolution", R"J({"kernel":"(3,3)","num_filter":"1","pad":"(4611686018427387904,0)"})J"},
      {"Convolution", R"J({"kernel":"(9223372036854775807,1)","num_filter":"1"})J"},
  };
  for (const auto& c : cases) {
    INFO(c[0] << " " << c[1]);
    std::string json = OneOp(c[0], c[1]);
    if (std::string(c[0]) == "Convolution")  // a convolution lists its weight and bias inputs
      json = R"J({"nodes":[{"op":"null","name":"data"},{"op":"null","name":"w"},{"op":"null","name":"b"},
        {"op":"Convolution","name":"n","attrs":)J" + std::string(c[1]) + R"J(,"inputs":[[0,0],[1,0],[2,0]]}],
        "heads":[[3,0]],"attrs":{"mxnet_version":["int",10600]}})J";
    CHECK_THROWS_AS(Symbol::LoadJSON(json, "<test>"), FormatError);
  }
  // At the limit the arithmetic is done in 128 bits: a shape, or a ShapeError, never an overflow.
  CHECK(InferOne(OneOp("Pooling", R"J({"kernel":"(2,2)","stride":"(2147483647,1)","pooling_convention":"full"})J"),
                 Shape{1, 3, 8, 8})
            .at("n_output") == Shape{1, 3, 2, 7});
  CHECK_THROWS_AS(InferOne(OneOp("Pooling", R"J({"kernel":"(1,1)","pad":"(2147483647,0)"})J"),
                           Shape{0, 1, INT64_MAX - 1, 1}),
                  ShapeError);
}

TEST_CASE("regression: Reshape codes or dims whose product overflows int64 are a ShapeError", "[fuzz]") {
  // -1 with codes multiplying past 2^63 (rest *= d), -3 merging two huge dims, -4 splitting into
  // factors whose product overflows: each was a signed overflow in InferReshape.
  CHECK_THROWS_AS(InferOne(OneOp("Reshape", R"J({"shape":"(-1,4611686018427387904,4)"})J"), Shape{1, 1, 8, 8}), ShapeError);
  CHECK_THROWS_AS(InferOne(OneOp("Reshape", R"J({"shape":"(-1,65536,65536,65536,65536)"})J"), Shape{1, 2}), ShapeError);
  CHECK_THROWS_AS(InferOne(OneOp("Reshape", R"J({"shape":"(-3,-2)"})J"), Shape{int64_t{1} << 62, 4, 0}), ShapeError);
  CHECK_THROWS_AS(InferOne(OneOp("Reshape", R"J({"shape":"(-4,4611686018427387904,4,-2)"})J"), Shape{8, 2}), ShapeError);
  CHECK(InferOne(OneOp("Reshape", R"J({"shape":"(-3,-2)"})J"), Shape{2, 3, 4}).at("n_output") == Shape{6, 4});
}

TEST_CASE("regression: a zero-sized parameter with dims near 2^62 into Flatten, FullyConnected, Concat is a ShapeError", "[fuzz]") {
  // A .params file may legally hold a (0, 2^62, 3) array: it has no elements. Flatten and
  // FullyConnected multiplied its other dims and Concat added them, both overflowing int64.
  NDArray z(Shape{0, int64_t{1} << 62, 3}, Context::cpu());
  const std::string bytes = NDArray::SaveToBuffer({z}, {"arg:z"});
  std::vector<NDArray> arrays;
  std::vector<std::string> names;
  NDArray::LoadFromBuffer(bytes.data(), bytes.size(), "<test>", &arrays, &names);
  REQUIRE(arrays.at(0).shape() == z.shape());
  const std::map<std::string, NDArray> params = {{"z", arrays[0]}};
  auto run = [&](const std::string& node) {
    const std::string json = R"J({"nodes":[{"op":"null","name":"z"},)J" + node +
                             R"J(],"heads":[[1,0]],"attrs":{"mxnet_version":["int",10600]}})J";
    CachedOp op(Symbol::LoadJSON(json, "<test>"), params, Context::cpu());
    op.Forward(std::vector<NDArray>{});
  };
  CHECK_THROWS_AS(run(R"J({"op":"Flatten","name":"flat","inputs":[[0,0]]})J"), ShapeError);
  CHECK_THROWS_AS(run(R"J({"op":"Concat","name":"cat","attrs":{"num_args":"2","dim":"1"},"inputs":[[0,0],[0,0]]})J"), ShapeError);
  const Shape huge{0, int64_t{1} << 62, 8};
  CHECK_THROWS_AS(InferOne(OneOp("Flatten", "{}"), huge), ShapeError);
  CHECK_THROWS_AS(InferOne(R"J({"nodes":[{"op":"null","name":"data"},{"op":"null","name":"w"},{"op":"null","name":"b"},
    {"op":"FullyConnected","name":"fc","attrs":{"num_hidden":"2"},"inputs":[[0,0],[1,0],[2,0]]}],"heads":[[3,0]],
    "attrs":{"mxnet_version":["int",10600]}})J", huge), ShapeError);
}

TEST_CASE("regression: Symbol::ToJSON / Save of a name that is not UTF-8 throws InvalidArgument, not nlohmann::json::type_error", "[fuzz]") {
  const Symbol s = op::Activation("act\xff", Symbol::Variable("data\xc3"));
  CHECK_THROWS_AS(s.ToJSON(), InvalidArgument);
  CHECK(Classify([&] { s.ToJSON(); }) == Outcome::kTandemError);
  CHECK(Classify([&] { s.Save("/nonexistent-dir/x.json"); }) == Outcome::kTandemError);
  // Valid UTF-8 beyond ASCII is written and read back unchanged.
  const Symbol ok = Symbol::Variable("d\xc3\xa9j\xc3\xa0");
  CHECK(Symbol::LoadJSON(ok.ToJSON(), "<test>").ListInputs() == std::vector<std::string>{"d\xc3\xa9j\xc3\xa0"});
}

TEST_CASE("fuzz sanity: garbage, prefixes and bit flips of plan cache entries are refused with a "
          "reason, never thrown; what decodes re-encodes to the same bytes", "[fuzz]") {
  using tandem::detail::PlanCache;
  std::mt19937 rng(23);
  const std::string valid = PlanCache::Encode(
      {"NVIDIA H100 sm_90 driver 13000 cuda 13000 tandem 0.1.0 cudnn 91000", "cudnn-conv/1",
       "type 0|1,64,56,56,", "use_graph 1 fused 1 engine 57"});
  auto check = [](const std::string& bytes) {
    std::string why;
    std::optional<tandem::detail::PlanCacheEntry> e;
    REQUIRE_NOTHROW(e = PlanCache::Decode(bytes, &why));
    if (e) CHECK(PlanCache::Encode(*e) == bytes);
    else CHECK_FALSE(why.empty());
    return e.has_value();
  };
  for (size_t size = 0; size < 200; ++size) CHECK_FALSE(check(Garbage(rng, size)));
  for (size_t n = 0; n < valid.size(); ++n) CHECK_FALSE(check(valid.substr(0, n)));
  CHECK(check(valid));
  for (int i = 0; i < 2000; ++i) {
    std::string m = valid;
    m[rng() % m.size()] ^= static_cast<char>(1 + rng() % 255);
    CHECK_FALSE(check(m));  // CRC-32 catches every change of up to 32 bits in a burst
  }
}
