// Stress: 64 threads x 200 calls on one CachedOp, random input shapes from a small set; every
// output must be bit-identical to the single-threaded result for the same input.
#include <atomic>
#include <random>
#include <thread>

#include <catch2/catch.hpp>

#include "tandem/tandem.hpp"
#include "tandem/testing.hpp"
#include "test/test_models.hpp"
#include "test/test_util.hpp"

using namespace tandem;

namespace {

using tandem::test::ResidualNet;

constexpr int kThreads = 64;
constexpr int kCallsPerThread = 200;

struct Case {
  NDArray input;
  std::vector<float> expected;
};

// Runs kThreads x kCallsPerThread calls picking cases at random; returns the number of outputs
// that differ from the single-threaded result in any bit.
int StressMismatches(const CachedOp& op, const std::vector<Case>& cases) {
  std::atomic<int> mismatches{0}, errors{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < kThreads; ++t)
    pool.emplace_back([&, t] {
      std::mt19937 rng(static_cast<uint32_t>(t));
      for (int i = 0; i < kCallsPerThread; ++i) {
        const Case& c = cases[rng() % cases.size()];
        try {
          if (op.Forward({c.input})[0].ToVector<float>() != c.expected) ++mismatches;
        } catch (const Error&) {
          ++errors;
        }
      }
    });
  for (auto& th : pool) th.join();
  return mismatches + errors;
}

std::vector<Case> MakeCases(const CachedOp& op, const std::vector<Shape>& shapes, float hi) {
  std::vector<Case> cases;
  uint32_t seed = 1;
  for (const Shape& s : shapes)
    for (int k = 0; k < 2; ++k) {
      NDArray x = testing::random_input(s, seed++, 0.f, hi);
      cases.push_back({x, op.Forward({x})[0].ToVector<float>()});
    }
  return cases;
}

}  // namespace

TEST_CASE("stress: 64 threads x 200 calls on a residual net, mixed shapes, bit-identical outputs", "[stress][threads]") {
  Symbol net = ResidualNet();
  auto params = testing::random_params(net, {{"data", Shape{1, 3, 16, 16}}});
  CachedOp op(net, params, Context::cpu(), {.intra_op_threads = 1});
  auto cases = MakeCases(op, {{1, 3, 16, 16}, {2, 3, 16, 16}, {1, 3, 24, 24}, {3, 3, 20, 12}}, 1.f);
  CHECK(StressMismatches(op, cases) == 0);
  CHECK(op.cached_plan_count() == 4);
  // The pool grows with concurrency, never beyond one context per simultaneous caller.
  CHECK(op.execution_context_count() <= kThreads + 1);
}

TEST_CASE("stress: 64 threads x 200 calls on the MNIST CNN, mixed batch sizes, bit-identical outputs", "[stress][threads]") {
  TANDEM_REQUIRE_MODEL_FILE(json, "mnist-cnn/Neural_Net-symbol.json");
  Symbol net = Symbol::Load(json);
  auto params = NDArray::LoadToMap(test::ModelsDir() + "/mnist-cnn/Neural_Net-0100.params");
  CachedOp op(net, params, Context::cpu(), {.intra_op_threads = 1});
  auto cases = MakeCases(op, {{1, 1, 28, 28}, {2, 1, 28, 28}, {5, 1, 28, 28}}, 1.f);
  CHECK(StressMismatches(op, cases) == 0);
}
