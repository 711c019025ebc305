// Cast: float32 to integers (truncation, saturation), to float16 / bfloat16 (round to nearest
// even) and back, integer to integer (wrap), bool, float64; a Cast inside a oneDNN graph on every
// backend; typed errors.
#include <cmath>
#include <limits>

#include "op_test_util.hpp"

using namespace tandem;
using namespace tandem::optest;

namespace {

Symbol Cast(const Symbol& in, const std::string& dtype, const std::string& name) {
  return Operator("Cast").SetParam("dtype", dtype).SetInput("data", in).CreateSymbol(name);
}

// Casts `x` to `dtype` through the reference backend.
NDArray CastTo(const NDArray& x, const std::string& dtype) {
  NDArray out = RunReference1(Cast(Data(), dtype, "cast"), {}, {{"data", x}});
  CHECK(out.dtype() == ParseDType(dtype));
  CHECK(out.shape() == x.shape());
  return out;
}

// Casts to `dtype` and back to float32 in one graph.
NDArray RoundTrip(const NDArray& x, const std::string& dtype) {
  Symbol there = Cast(Data(), dtype, "there");
  return RunReference1(Cast(there, "float32", "back"), {}, {{"data", x}});
}

NDArray Floats(const std::vector<float>& v) {
  return NDArray(v, Shape{static_cast<int64_t>(v.size())});
}

template <class T>
std::vector<uint16_t> Bits(const NDArray& a) {
  std::vector<uint16_t> bits;
  for (T v : a.ToVector<T>()) bits.push_back(v.bits);
  return bits;
}

}  // namespace

TEST_CASE("reference Cast float32 -> int32 truncates toward zero and saturates",
          "[cast][reference]") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  NDArray out = CastTo(Floats({1.7f, -1.7f, 2.5f, -0.5f, 0, 1e10f, -1e10f, nan}), "int32");
  CHECK(out.ToVector<int32_t>() ==
        std::vector<int32_t>{1, -1, 2, 0, 0, 2147483647, -2147483647 - 1, 0});
}

TEST_CASE("reference Cast float32 -> uint8 / int8 truncates and saturates", "[cast][reference]") {
  CHECK(CastTo(Floats({0, 1.9f, 255, 300, -5, 127.9f}), "uint8").ToVector<uint8_t>() ==
        std::vector<uint8_t>{0, 1, 255, 255, 0, 127});
  CHECK(CastTo(Floats({-1.5f, 200.5f, -300, 5}), "int8").ToVector<int8_t>() ==
        std::vector<int8_t>{-1, 127, -128, 5});
}

TEST_CASE("reference Cast float32 -> float16: bits and round trip", "[cast][f16][reference]") {
  NDArray x = Floats({0, 1, -2, 0.5f, 65504, 1.0f / 1024, 0.1f, 70000, 1e-8f, 6e-8f, -0.0f});
  CHECK(Bits<f16>(CastTo(x, "float16")) == std::vector<uint16_t>{0x0000, 0x3c00, 0xc000, 0x3800,
                                                                 0x7bff, 0x1400, 0x2e66, 0x7c00,
                                                                 0x0000, 0x0001, 0x8000});
  NDArray back = RoundTrip(x, "float16");
  CHECK(back.dtype() == DType::f32);
  const std::vector<float> v = back.ToVector<float>();
  // Representable values come back exactly.
  CHECK(v[0] == 0);
  CHECK(v[1] == 1);
  CHECK(v[2] == -2);
  CHECK(v[3] == 0.5f);
  CHECK(v[4] == 65504);
  CHECK(v[5] == 1.0f / 1024);
  CHECK(v[6] == 0.0999755859375f);               // nearest float16 to 0.1
  CHECK(std::isinf(v[7]));                       // overflow
  CHECK(v[8] == 0);                              // underflow
  CHECK(v[9] == Approx(5.960464477539063e-08));  // smallest subnormal
  CHECK(std::signbit(v[10]));
  // "half" is accepted as a spelling of float16.
  CHECK(Bits<f16>(CastTo(Floats({1}), "half")) == std::vector<uint16_t>{0x3c00});
}

TEST_CASE("reference Cast float16 NaN and infinity survive the round trip",
          "[cast][f16][reference]") {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> v = RoundTrip(Floats({std::nanf(""), inf, -inf}), "float16").ToVector<float>();
  CHECK(std::isnan(v[0]));
  CHECK(v[1] == inf);
  CHECK(v[2] == -inf);
}

TEST_CASE("reference Cast float32 -> bfloat16 rounds to nearest even", "[cast][bf16][reference]") {
  NDArray x = Floats({1, 1.00390625f, 1.01171875f, 3.14159f, -2.5f});
  CHECK(Bits<bf16>(CastTo(x, "bfloat16")) ==
        std::vector<uint16_t>{0x3f80, 0x3f80, 0x3f82, 0x4049, 0xc020});
  CheckValues(RoundTrip(x, "bfloat16"), {5}, {1, 1, 1.015625f, 3.140625f, -2.5f}, 0);
}

TEST_CASE("reference Cast from integers: exact to float64, rounded to float32, wrapped to int8",
          "[cast][reference]") {
  NDArray ints(std::vector<int32_t>{-3, 0, 16777217, 200}, Shape{4});
  CHECK(CastTo(ints, "float32").ToVector<float>() == std::vector<float>{-3, 0, 16777216, 200});
  CHECK(CastTo(ints, "float64").ToVector<double>() == std::vector<double>{-3, 0, 16777217, 200});
  CHECK(CastTo(ints, "int8").ToVector<int8_t>() == std::vector<int8_t>{-3, 0, 1, -56});
  CHECK(CastTo(ints, "int64").ToVector<int64_t>() == std::vector<int64_t>{-3, 0, 16777217, 200});
  NDArray bytes(std::vector<uint8_t>{0, 7, 255}, Shape{3});
  CHECK(CastTo(bytes, "float32").ToVector<float>() == std::vector<float>{0, 7, 255});
  CHECK(CastTo(bytes, "int32").ToVector<int32_t>() == std::vector<int32_t>{0, 7, 255});
}

TEST_CASE("reference Cast to bool maps nonzero to 1", "[cast][reference]") {
  CheckValues(RoundTrip(Floats({0, 0.5f, -2, -0.0f}), "bool"), {4}, {0, 1, 1, 0}, 0);
}

TEST_CASE("reference Cast float32 -> float64 -> float32 is exact; float32 -> float32 copies",
          "[cast][reference]") {
  NDArray x = testing::random_input({3, 4}, 12, -100, 100);
  CHECK(RoundTrip(x, "float64").ToVector<float>() == x.ToVector<float>());
  CHECK(CastTo(x, "float32").ToVector<float>() == x.ToVector<float>());
  std::vector<double> wide = CastTo(Floats({0.1f}), "float64").ToVector<double>();
  CHECK(wide[0] == static_cast<double>(0.1f));
}

TEST_CASE("Cast inside a oneDNN graph matches the reference on every backend", "[cast]") {
  // relu (oneDNN) -> float16 -> float32 -> sigmoid (oneDNN): relu is exact, so both runs round the
  // same values to float16.
  Symbol x = op::Activation("relu", Data());
  x = Cast(Cast(x, "float16", "to16"), "float32", "to32");
  x = op::Activation("sig", x, {.act_type = "sigmoid"});
  CheckBackends(x, {{"data", testing::random_input({2, 3, 7, 5}, 4, -3, 3)}}, Dnnl::kUsed);
  // The lowercase alias.
  Symbol alias = Operator("cast").SetParam("dtype", "int32")(Data()).CreateSymbol("c");
  CHECK(RunReference1(alias, {}, {{"data", Floats({2.9f})}}).ToVector<int32_t>() ==
        std::vector<int32_t>{2});
}

TEST_CASE("Cast with a missing or unknown dtype is a FormatError", "[cast][errors]") {
  CHECK_THROWS_AS(Operator("Cast")(Data()).CreateSymbol("c"), FormatError);
  CHECK_THROWS_AS(Cast(Data(), "float128", "c"), FormatError);
  CHECK_THROWS_WITH(Cast(Data(), "float128", "c"), Catch::Contains("float128"));
}

TEST_CASE("a float-only op after a Cast to int32 is a TypeError", "[cast][errors]") {
  Symbol x = op::Activation("relu", Cast(Data(), "int32", "c"));
  CachedOp op(x, {}, Context::cpu());
  CHECK_THROWS_AS(op.Forward({Floats({1, 2})}), TypeError);
  CHECK_THROWS_WITH(op.Forward({Floats({1, 2})}), Catch::Contains("relu"));
}
