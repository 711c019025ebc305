// Dynamic batching (CachedOpFlags::max_batch): concurrent bs1 callers are gathered into batched
// runs; every caller must get exactly what an unbatched CachedOp gives it, bad inputs must fail in
// their own thread only, and the counters must show that batching really happened.
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <barrier>
#include <random>
#include <thread>

#include <catch2/catch.hpp>

#include "samples/mnist_idx.hpp"
#include "lib/exec/batcher.hpp"
#include "tandem/tandem.hpp"
#include "tandem/testing.hpp"
#include "test/test_models.hpp"
#include "test/test_util.hpp"

using namespace tandem;
using tandem::test::ResidualNet;

namespace {

struct Case {
  NDArray input;
  std::vector<float> expected;  // from the unbatched CachedOp
};

std::vector<Case> MakeCases(const CachedOp& unbatched, const std::vector<Shape>& shapes, int per_shape) {
  std::vector<Case> cases;
  uint32_t seed = 7;
  for (const Shape& s : shapes)
    for (int k = 0; k < per_shape; ++k) {
      NDArray x = testing::random_input(s, seed++, 0.f, 1.f);
      cases.push_back({x, unbatched.Forward({x})[0].ToVector<float>()});
    }
  return cases;
}

struct Tally {
  std::atomic<int> right{0}, wrong{0}, expected_throws{0}, unexpected{0};
};

// `threads` callers, each `calls` times: a random valid case (its output must equal the unbatched
// one in every bit), or, every `bad_every`-th call, one of `bad` inputs that must throw Error.
void Hammer(const CachedOp& op, const std::vector<Case>& cases, const std::vector<NDArray>& bad,
            int threads, int calls, int bad_every, Tally& tally) {
  std::barrier start(threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      std::mt19937 rng(static_cast<uint32_t>(t) + 1);
      start.arrive_and_wait();
      for (int i = 0; i < calls; ++i) {
        if (!bad.empty() && bad_every > 0 && (i + t) % bad_every == 0) {
          try {
            op.Forward({bad[rng() % bad.size()]});
            ++tally.unexpected;  // a bad input that ran
          } catch (const Error&) {
            ++tally.expected_throws;
          }
          continue;
        }
        const Case& c = cases[rng() % cases.size()];
        try {
          (op.Forward({c.input})[0].ToVector<float>() == c.expected ? tally.right : tally.wrong)++;
        } catch (...) {
          ++tally.unexpected;
        }
      }
    });
  for (auto& th : pool) th.join();
}

CachedOpFlags Batching(int max_batch, int max_delay_us) {
  CachedOpFlags f;
  f.intra_op_threads = 1;
  f.max_batch = max_batch;
  f.max_delay_us = max_delay_us;
  return f;
}

}  // namespace

TEST_CASE("batching: 64 concurrent bs1 callers with mixed bad inputs get bit-identical outputs, "
          "bad inputs throw in their own thread",
          "[batching][threads]") {
  Symbol net = ResidualNet();
  auto params = testing::random_params(net, {{"data", Shape{1, 3, 16, 16}}});
  for (bool reference : {false, true}) {
    INFO((reference ? "reference kernels" : "default kernels (oneDNN where built)"));
    CachedOpFlags plain{.intra_op_threads = 1};
    plain.reference_only = reference;
    CachedOp unbatched(net, params, Context::cpu(), plain);
    CachedOpFlags flags = Batching(8, 2000);
    flags.reference_only = reference;
    CachedOp batched(net, params, Context::cpu(), flags);
    auto cases = MakeCases(unbatched, {{1, 3, 16, 16}}, 8);
    std::vector<NDArray> bad = {
        testing::random_input({1, 4, 16, 16}, 1),          // wrong channel count
        testing::random_input({1, 3, 16}, 2),              // wrong rank
        NDArray(Shape{1, 3, 16, 16}, Context::cpu(), DType::i32),  // wrong dtype
    };
    Tally tally;
    Hammer(batched, cases, bad, 64, 20, 5, tally);
    CHECK(tally.wrong == 0);
    CHECK(tally.unexpected == 0);
    CHECK(tally.right == 64 * 16);
    CHECK(tally.expected_throws == 64 * 4);
    BatchingStats stats = batched.batching_stats();
    INFO("requests " << stats.requests << ", batches " << stats.batches << ", largest " << stats.largest_batch);
    CHECK(stats.requests == 64 * 16);  // bad inputs never reached the batcher
    CHECK(stats.batches < stats.requests);
    CHECK(stats.largest_batch > 1);
    CHECK(stats.largest_batch <= 8);
    // Batched runs use the sizes 2, 4 and 8 only: with the callers' own shape, at most 4 plans.
    CHECK(batched.cached_plan_count() <= 4);
    // Still usable after all that.
    CHECK(batched.Forward({cases[0].input})[0].ToVector<float>() == cases[0].expected);
  }
}

TEST_CASE("batching: requests of different sample shapes and row counts are batched apart, each "
          "gets its own result",
          "[batching][shapes]") {
  Symbol net = ResidualNet();
  auto params = testing::random_params(net, {{"data", Shape{1, 3, 16, 16}}});
  CachedOp unbatched(net, params, Context::cpu(), {.intra_op_threads = 1});
  CachedOp batched(net, params, Context::cpu(), Batching(6, 2000));
  auto cases = MakeCases(unbatched, {{1, 3, 16, 16}, {2, 3, 16, 16}, {1, 3, 24, 20}, {3, 3, 24, 20}}, 3);
  Tally tally;
  Hammer(batched, cases, {}, 24, 15, 0, tally);
  CHECK(tally.wrong == 0);
  CHECK(tally.unexpected == 0);
  CHECK(tally.right == 24 * 15);
  BatchingStats stats = batched.batching_stats();
  CHECK(stats.batches < stats.requests);
  CHECK(stats.largest_batch <= 6);
}

TEST_CASE("batching: a lone caller runs as a batch of one, into caller-provided outputs", "[batching]") {
  Symbol net = ResidualNet();
  auto params = testing::random_params(net, {{"data", Shape{1, 3, 16, 16}}});
  CachedOp unbatched(net, params, Context::cpu());
  CachedOp batched(net, params, Context::cpu(), Batching(16, 1000));
  NDArray x = testing::random_input({1, 3, 16, 16}, 3);
  std::vector<NDArray> out = {NDArray(Shape{1, 10})};
  batched.Forward({x}, &out);
  CHECK(out[0].ToVector<float>() == unbatched.Forward({x})[0].ToVector<float>());
  BatchingStats stats = batched.batching_stats();
  CHECK(stats.requests == 1);
  CHECK(stats.batches == 1);
  CHECK(stats.largest_batch == 1);
  // A caller's wrong output array is its own error, found before it joins a batch.
  std::vector<NDArray> wrong = {NDArray(Shape{1, 9})};
  CHECK_THROWS_AS(batched.Forward({x}, &wrong), ShapeError);
  CHECK(batched.batching_stats().requests == 1);
}

TEST_CASE("batching: a request with max_batch rows or more runs alone, unbatched", "[batching]") {
  Symbol net = ResidualNet();
  auto params = testing::random_params(net, {{"data", Shape{1, 3, 16, 16}}});
  CachedOp unbatched(net, params, Context::cpu());
  CachedOp batched(net, params, Context::cpu(), Batching(4, 0));
  NDArray x = testing::random_input({5, 3, 16, 16}, 4);
  CHECK(batched.Forward({x})[0].ToVector<float>() == unbatched.Forward({x})[0].ToVector<float>());
  CHECK(batched.batching_stats().requests == 0);
}

TEST_CASE("batching: a model whose outputs mix the samples is never batched and stays exact", "[batching]") {
  // sum over the batch axis, keepdims: a bs1 output looks batchable ([1, 10]) but a batch of n still
  // gives [1, 10], so the batcher must fall back to running each request on its own.
  Symbol net = Operator("sum").SetParam("axis", 0).SetParam("keepdims", true)(ResidualNet()).CreateSymbol("total");
  auto params = testing::random_params(net, {{"data", Shape{1, 3, 16, 16}}});
  CachedOp unbatched(net, params, Context::cpu(), {.intra_op_threads = 1});
  CachedOp batched(net, params, Context::cpu(), Batching(8, 2000));
  auto cases = MakeCases(unbatched, {{1, 3, 16, 16}}, 4);
  Tally tally;
  Hammer(batched, cases, {}, 16, 10, 0, tally);
  CHECK(tally.wrong == 0);
  CHECK(tally.unexpected == 0);
  // A model that drops the batch axis altogether (a flat reshape) does not even enter the batcher.
  Symbol flat = Operator("Reshape").SetParam("shape", Shape{-1})(ResidualNet()).CreateSymbol("flat");
  CachedOp flat_op(flat, params, Context::cpu(), Batching(8, 2000));
  NDArray x = testing::random_input({1, 3, 16, 16}, 5);
  CHECK(flat_op.Forward({x})[0].shape() == Shape{10});
  CHECK(flat_op.batching_stats().requests == 0);
}

TEST_CASE("batching: an operator that mixes samples but keeps the shape (softmax over axis 0) turns "
          "batching off for the model", "[batching]") {
  // A batch of n bs1 requests would come out [n, 10] as expected, yet every row would be wrong:
  // the schema's mixes_batch says so before any run, and the model is never batched.
  Symbol net = Operator("softmax").SetParam("axis", 0)(ResidualNet()).CreateSymbol("over_batch");
  auto params = testing::random_params(net, {{"data", Shape{1, 3, 16, 16}}});
  CachedOp unbatched(net, params, Context::cpu(), {.intra_op_threads = 1});
  CachedOp batched(net, params, Context::cpu(), Batching(8, 2000));
  CHECK(batched.batching_disabled_by() == "over_batch: softmax");
  CHECK(batched.batch_sizes().empty());
  CHECK(unbatched.batching_disabled_by().empty());
  auto cases = MakeCases(unbatched, {{1, 3, 16, 16}}, 4);
  Tally tally;
  Hammer(batched, cases, {}, 8, 5, 0, tally);
  CHECK(tally.wrong == 0);
  CHECK(tally.unexpected == 0);
  CHECK(batched.batching_stats().requests == 0);
  // Along the last axis, softmax keeps samples apart: batching stays on.
  Symbol per_row = Operator("softmax").SetParam("axis", -1)(ResidualNet()).CreateSymbol("per_row");
  CHECK(CachedOp(per_row, params, Context::cpu(), Batching(8, 2000)).batching_disabled_by().empty());
}

TEST_CASE("batching: batch_sizes() lists the run sizes, and planning them up front leaves batched "
          "runs nothing to plan", "[batching]") {
  Symbol net = ResidualNet();
  auto params = testing::random_params(net, {{"data", Shape{1, 3, 16, 16}}});
  CHECK(CachedOp(net, params, Context::cpu()).batch_sizes().empty());
  CHECK(CachedOp(net, params, Context::cpu(), Batching(6, 0)).batch_sizes() ==
        std::vector<int64_t>{1, 2, 4, 6});
  CHECK(CachedOp(net, params, Context::cpu(), Batching(64, 0)).batch_sizes() ==
        std::vector<int64_t>{1, 2, 4, 8, 16, 24, 32, 48, 64});
  CachedOp batched(net, params, Context::cpu(), Batching(8, 2000));
  REQUIRE(batched.batch_sizes() == std::vector<int64_t>{1, 2, 4, 8});
  for (int64_t rows : batched.batch_sizes()) batched.Plan({Shape{rows, 3, 16, 16}});
  REQUIRE(batched.cached_plan_count() == 4);
  CachedOp unbatched(net, params, Context::cpu(), {.intra_op_threads = 1});
  auto cases = MakeCases(unbatched, {{1, 3, 16, 16}}, 4);
  Tally tally;
  Hammer(batched, cases, {}, 16, 10, 0, tally);
  CHECK(tally.right == 160);
  CHECK(batched.batching_stats().batches > 0);
  CHECK(batched.batching_stats().batches < 160);  // some requests did share a run
  CHECK(batched.cached_plan_count() == 4);
}

TEST_CASE("batching: inconsistent options are refused at construction", "[batching]") {
  Symbol net = ResidualNet();
  auto params = testing::random_params(net, {{"data", Shape{1, 3, 16, 16}}});
  CachedOpFlags f = Batching(8, 100);
  f.static_shape = true;
  CHECK_THROWS_AS(CachedOp(net, params, Context::cpu(), f), InvalidArgument);
  CHECK_THROWS_AS(CachedOp(net, params, Context::cpu(), Batching(8, -1)), InvalidArgument);
  CachedOpFlags g = Batching(8, 100);
  g.max_concurrent_batches = 0;
  CHECK_THROWS_AS(CachedOp(net, params, Context::cpu(), g), InvalidArgument);
}

TEST_CASE("batching: the MNIST CNN with 16 bs1 callers gives the unbatched probabilities bit for bit",
          "[batching][models][mnist]") {
  TANDEM_REQUIRE_MODEL_FILE(json, "mnist-cnn/Neural_Net-symbol.json");
  TANDEM_REQUIRE_MODEL_FILE(weights, "mnist-cnn/Neural_Net-0100.params");
  TANDEM_REQUIRE_MODEL_FILE(images_file, "mnist-cnn/t10k-images-idx3-ubyte.gz");
  Symbol net = Symbol::Load(json);
  auto params = NDArray::LoadToMap(weights);
  samples::IdxFile images = samples::ReadIdx(images_file);
  constexpr int64_t kImages = 2000, kPixels = 28 * 28;
  CachedOp unbatched(net, params, Context::cpu(), {.intra_op_threads = 1});
  CachedOp batched(net, params, Context::cpu(), Batching(16, 500));
  auto image = [&](int64_t i) {
    std::vector<float> x(kPixels);
    for (int64_t p = 0; p < kPixels; ++p) x[p] = images.data[i * kPixels + p] / 255.0f;
    return NDArray(x, Shape{1, 1, 28, 28});
  };
  std::vector<std::vector<float>> expected(kImages);
  for (int64_t i = 0; i < kImages; ++i) expected[i] = unbatched.Forward({image(i)})[0].ToVector<float>();
  std::atomic<int64_t> next{0};
  std::atomic<int> wrong{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < 16; ++t)
    pool.emplace_back([&] {
      for (int64_t i; (i = next++) < kImages;)
        if (batched.Forward({image(i)})[0].ToVector<float>() != expected[i]) ++wrong;
    });
  for (auto& th : pool) th.join();
  CHECK(wrong == 0);
  BatchingStats stats = batched.batching_stats();
  INFO("mean batch " << static_cast<double>(stats.requests) / stats.batches);
  CHECK(stats.batches < stats.requests);
}

TEST_CASE("batching: the GPU policy (padding, holding for company, starting before the running "
          "batch ends) gives every caller its own rows", "[batching]") {
  // The Batcher itself, with the padding policy CachedOp uses on a GPU, driven on host arrays by a
  // run function that takes ~2 ms a batch (as a busy device would) and doubles its input. With
  // TANDEM_BATCH_LEAD_PERCENT a held batch starts before the running one's expected end.
  const char* lead = GENERATE("", "25");
  INFO("TANDEM_BATCH_LEAD_PERCENT=" << lead);
  setenv("TANDEM_BATCH_LEAD_PERCENT", lead, 1);
  std::atomic<int> runs{0};
  detail::Batcher batcher(8, 500, 2, /*pad_up=*/true,
                          [&runs](const std::vector<NDArray>& in, std::vector<NDArray>* out) {
                            ++runs;
                            std::this_thread::sleep_for(std::chrono::milliseconds(2));
                            NDArray y(in[0].shape());
                            const float* x = in[0].data<float>();
                            for (int64_t i = 0; i < y.size(); ++i) y.data<float>()[i] = 2 * x[i];
                            out->assign({y});
                          });
  unsetenv("TANDEM_BATCH_LEAD_PERCENT");
  constexpr int kThreads = 12, kCalls = 30;
  const detail::SampleKey key{{Shape{3}}, {DType::f32}};
  std::atomic<int> wrong{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < kThreads; ++t)
    pool.emplace_back([&, t] {
      for (int c = 0; c < kCalls; ++c) {
        const float v = static_cast<float>(t * 1000 + c);
        const std::vector<NDArray> in{NDArray({v, v + 1, v + 2}, Shape{1, 3})};
        std::vector<NDArray> out{NDArray(Shape{1, 3})};
        batcher.Run(key, 1, in, out);
        if (out[0].ToVector<float>() != std::vector<float>{2 * v, 2 * v + 2, 2 * v + 4}) ++wrong;
      }
    });
  for (auto& th : pool) th.join();
  CHECK(wrong == 0);
  const detail::BatcherCounters counters = batcher.counters();
  CHECK(counters.requests == kThreads * kCalls);
  CHECK(counters.batches == static_cast<uint64_t>(runs.load()));
  CHECK(counters.batches < counters.requests / 2);  // batched, not one run per request
  CHECK(counters.largest_batch <= 8);
}
