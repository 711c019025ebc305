// Reduced precision (CachedOpFlags::compute_dtype): the float16 / bfloat16 conversions round as the
// hardware does, a float16 / bfloat16 plan computes what float32 does within the precision's
// tolerance, casts sit only at precision boundaries, the caller's parameters are never touched,
// and unsupported requests are clear errors. The MNIST accuracy check is in test_mnist.cpp.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include <catch2/catch.hpp>

#include "tandem/tandem.hpp"
#include "tandem/testing.hpp"
#include "tandem/zoo.hpp"

using namespace tandem;

namespace {

// The reference kernels with the rewrites on (reference_only would switch them off).
CachedOpFlags Reference(DType compute) {
  CachedOpFlags f;
  f.use_dnnl = false;
  f.compute_dtype = compute;
  return f;
}

// float32 -> `to` through the Cast kernel's exact (long double) path for float64 sources: the
// oracle for the bit-level conversions.
std::vector<uint16_t> ExactlyRounded(const std::vector<float>& values, DType to) {
  std::vector<double> wide(values.begin(), values.end());
  NDArray converted = NDArray(wide, Shape{static_cast<int64_t>(wide.size())}).AsType(to);
  std::vector<uint16_t> bits(values.size());
  std::memcpy(bits.data(), converted.raw_data(), bits.size() * 2);
  return bits;
}

bool IsNaNBits(uint16_t bits, DType t) {
  const uint16_t exponent = t == DType::f16 ? 0x7c00 : 0x7f80;
  return (bits & exponent) == exponent && (bits & ~exponent & 0x7fff) != 0;
}

// Every 16-bit value, the midpoints between neighbours (ties) and the floats just around them,
// zeros, infinities, NaN, and random bit patterns.
std::vector<float> HardFloats(DType t) {
  std::vector<float> v = {0.f, -0.f, INFINITY, -INFINITY, NAN, 65504.f, 65519.99f, 65520.f, 1e-8f, -3e-8f};
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float a = t == DType::f16 ? ToFloat(f16{static_cast<uint16_t>(h)}) : ToFloat(bf16{static_cast<uint16_t>(h)});
    const float b = t == DType::f16 ? ToFloat(f16{static_cast<uint16_t>(h + 1)}) : ToFloat(bf16{static_cast<uint16_t>(h + 1)});
    if (!std::isfinite(a)) continue;
    v.push_back(a);
    if (std::isfinite(b) && std::signbit(a) == std::signbit(b)) {
      const float mid = static_cast<float>((static_cast<double>(a) + b) / 2);
      v.insert(v.end(), {mid, std::nextafter(mid, 0.f), std::nextafter(mid, INFINITY), std::nextafter(mid, -INFINITY)});
    }
  }
  std::mt19937 rng(7);
  for (int i = 0; i < 200000; ++i) {
    uint32_t bits = rng();
    float f;
    std::memcpy(&f, &bits, 4);
    v.push_back(f);
  }
  return v;
}

std::map<std::string, NDArray> Copies(const std::map<std::string, NDArray>& params) {
  std::map<std::string, NDArray> out;
  for (const auto& [k, a] : params) out[k] = a.Copy(Context::cpu());
  return out;
}

// conv -> relu -> max pool -> conv (+ residual add) -> concat -> BatchNorm -> avg pool ->
// flatten -> fc -> softmax: every op class the precision pass knows, on the reference.
Symbol MixedNet() {
  Symbol data = Symbol::Variable("data");
  Symbol c0 = op::Activation("relu0", op::Convolution("conv0", data, {.kernel = {3, 3}, .num_filter = 8, .pad = {1, 1}}));
  Symbol p0 = op::Pooling("pool0", c0, {.kernel = {2, 2}, .pool_type = "max", .stride = {2, 2}});
  Symbol c1 = op::Convolution("conv1", p0, {.kernel = {3, 3}, .num_filter = 8, .pad = {1, 1}});
  Symbol sum = op::elemwise_add("add1", c1, p0);
  Symbol cat = op::Concat("concat", {sum, p0});
  Symbol bn = op::BatchNorm("bn", cat, {.fix_gamma = false});
  Symbol gp = op::Pooling("gpool", bn, {.pool_type = "avg", .global_pool = true});
  Symbol fc = op::FullyConnected("fc", op::Flatten("flat", gp), {.num_hidden = 10});
  return op::SoftmaxOutput("softmax", fc);
}

}  // namespace

namespace {

// Narrowing of `T` (f16 / bf16) rounds like the exact Cast on HardFloats, and widening is exact:
// every 16-bit value survives the round trip.
template <class T, class Narrow>
void CheckConversions(DType t, Narrow narrow) {
  const std::vector<float> values = HardFloats(t);
  const std::vector<uint16_t> want = ExactlyRounded(values, t);
  size_t wrong = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    const uint16_t got = narrow(values[i]).bits;
    const bool same = got == want[i] || (IsNaNBits(got, t) && IsNaNBits(want[i], t));
    if (!same && wrong++ < 5) WARN("float " << values[i] << ": got 0x" << std::hex << got << " want 0x" << want[i]);
  }
  CHECK(wrong == 0);
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const T x{static_cast<uint16_t>(h)};
    if (!IsNaNBits(x.bits, t)) REQUIRE(narrow(ToFloat(x)).bits == x.bits);
  }
}

}  // namespace

TEST_CASE("ToFloat16 and ToFloat round like the exact Cast on every half value, every tie and random floats", "[precision]") {
  CheckConversions<f16>(DType::f16, [](float v) { return ToFloat16(v); });
}

TEST_CASE("ToBFloat16 and ToFloat round like the exact Cast on every bfloat16 value, every tie and random floats", "[precision]") {
  CheckConversions<bf16>(DType::bf16, [](float v) { return ToBFloat16(v); });
}

TEST_CASE("NDArray::AsType converts float32 to float16 and back, rounding to nearest even", "[precision]") {
  NDArray a(std::vector<float>{1.f, 1.0009765625f, 1.00048828125f, 65504.f, 1e6f, -2.5f}, Shape{6});
  NDArray h = a.AsType(DType::f16);
  CHECK(h.dtype() == DType::f16);
  CHECK(h.shape() == a.shape());
  // 1 + 2^-11 is a tie between 1 and 1 + 2^-10: even (1) wins; 1e6 overflows to infinity.
  CHECK(h.AsType(DType::f32).ToVector<float>() ==
        std::vector<float>{1.f, 1.0009765625f, 1.f, 65504.f, INFINITY, -2.5f});
  CHECK(a.AsType(DType::f32).ToVector<float>() == a.ToVector<float>());
}

TEST_CASE("float16 and bfloat16 plans on the reference compute what float32 does within the precision's tolerance", "[precision]") {
  Symbol net = MixedNet();
  const Shape in{2, 3, 16, 16};
  auto params = testing::random_params(net, {{"data", in}}, 3);
  const NDArray x = testing::random_input(in, 11);
  CachedOp full(net, params, Context::cpu(), Reference(DType::f32));
  const NDArray want = full.Forward({x})[0];
  // Tolerances on probabilities of 10 classes: float16 keeps 11 significant bits, bfloat16 8; each
  // op rounds once, about 10 ops deep.
  for (auto [dtype, atol] : {std::pair{DType::f16, 2e-3}, std::pair{DType::bf16, 2e-2}}) {
    INFO("compute_dtype " << DTypeName(dtype));
    CachedOp low(net, params, Context::cpu(), Reference(dtype));
    const NDArray got = low.Forward({x})[0];
    CHECK(got.dtype() == DType::f32);  // outputs stay float32
    const auto c = testing::compare_arrays(got, want, {.rtol = 0, .atol = atol});
    INFO("max abs error " << c.max_abs_error);
    CHECK(c.ok());
    CHECK(c.max_abs_error > 0);  // it really computed in the lower precision
  }
}

TEST_CASE("a float16 plan casts only where the precision changes: after the input and around float32 ops", "[precision]") {
  Symbol net = MixedNet();
  const Shape in{1, 3, 16, 16};
  auto params = testing::random_params(net, {{"data", in}}, 3);
  CachedOp op(net, params, Context::cpu(), Reference(DType::f16));
  const PlanReport plan = op.Plan({in});
  // data -> float16; concat -> float32 for BatchNorm; BatchNorm -> float16 for the pool;
  // fc -> float32 for the softmax. Weights are converted at construction, not cast per call.
  CHECK(plan.precision_casts == 4);
  // The reference kernels are float32 kernels: every float16 node runs between casts, except
  // Flatten and Concat (byte copies, any dtype). relu0 and add1 are fused into conv0 and conv1.
  CHECK(plan.emulated_kernels == 5);  // conv0 pool0 conv1 gpool fc
  int casts = 0;
  for (const std::string& line : plan.node_kernels) casts += line.find(": Cast [") != std::string::npos;
  CHECK(casts == 4);
  // float16 weights: half the bytes of the float32 ones (BatchNorm's statistics stay float32).
  CachedOp full(net, params, Context::cpu(), Reference(DType::f32));
  CHECK(plan.param_bytes < full.Plan({in}).param_bytes);
}

TEST_CASE("a reduced-precision CachedOp leaves the caller's float32 parameters as they were", "[precision]") {
  Symbol net = MixedNet();
  const Shape in{1, 3, 16, 16};
  auto params = testing::random_params(net, {{"data", in}}, 3);
  const auto before = Copies(params);
  CachedOp op(net, params, Context::cpu(), Reference(DType::bf16));
  (void)op.Forward({testing::random_input(in, 1)});
  for (const auto& [name, array] : params) {
    INFO(name);
    CHECK(array.dtype() == DType::f32);
    CHECK(array.ToVector<float>() == before.at(name).ToVector<float>());
  }
}

TEST_CASE("a reduced precision on oneDNN, or a compute_dtype that is no float type, is a clear error", "[precision]") {
  Symbol net = MixedNet();
  auto params = testing::random_params(net, {{"data", Shape{1, 3, 16, 16}}}, 3);
  CachedOpFlags on_dnnl;
  on_dnnl.compute_dtype = DType::bf16;
  CHECK_THROWS_AS(CachedOp(net, params, Context::cpu(), on_dnnl), Unsupported);
  CHECK_THROWS_WITH(CachedOp(net, params, Context::cpu(), on_dnnl),
                    Catch::Contains("oneDNN") && Catch::Contains("bfloat16") && Catch::Contains("use_dnnl"));
  CachedOpFlags integer = Reference(DType::i8);
  CHECK_THROWS_AS(CachedOp(net, params, Context::cpu(), integer), InvalidArgument);
}

TEST_CASE("a float16 ResNet-18 v1 on the reference keeps float32's top-5 classes", "[precision][zoo]") {
  Symbol net = zoo::ByName("resnet18-v1", 10);
  auto params = zoo::SyntheticParams(net, {1, 3, 64, 64}, 5, {.calibration_batch = 1});
  const NDArray x = testing::random_input({1, 3, 64, 64}, 2, 0.f, 1.f);
  const auto want = CachedOp(net, params, Context::cpu(), Reference(DType::f32)).Forward({x})[0].ToVector<float>();
  const auto got = CachedOp(net, params, Context::cpu(), Reference(DType::f16)).Forward({x})[0].ToVector<float>();
  auto top = [](std::vector<float> p) {
    std::vector<int> idx(p.size());
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<int>(i);
    std::sort(idx.begin(), idx.end(), [&](int a, int b) { return p[a] > p[b]; });
    return idx;
  };
  CHECK(top(got)[0] == top(want)[0]);
  float worst = 0;
  for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::fabs(got[i] - want[i]));
  INFO("max abs probability difference " << worst);
  CHECK(worst < 5e-3);
}
