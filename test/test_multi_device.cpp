// MultiDeviceCachedOp: calls spread over replicas (least loaded, pinned by the inputs' device or by
// ForwardOn) give exactly the single-replica results; errors stay per call. On a machine without
// GPUs the replicas are CPU ones (a context listed twice), which runs the same dispatch code; the
// GPU variants live in test_gpu.cpp.
#include <atomic>
#include <barrier>
#include <thread>

#include <catch2/catch.hpp>

#include "tandem/tandem.hpp"
#include "tandem/testing.hpp"
#include "test/test_models.hpp"
#include "test/test_util.hpp"

using namespace tandem;
using tandem::test::ResidualNet;

TEST_CASE("multi-device: 16 threads over two replicas get the single-replica outputs bit for bit, "
          "and both replicas serve",
          "[multi_device][threads]") {
  Symbol net = ResidualNet();
  auto params = testing::random_params(net, {{"data", Shape{1, 3, 16, 16}}});
  CachedOp single(net, params, Context::cpu(), {.intra_op_threads = 1});
  MultiDeviceCachedOp multi(net, params, {Context::cpu(), Context::cpu()}, {.intra_op_threads = 1});
  REQUIRE(multi.replica_count() == 2);
  std::vector<NDArray> inputs;
  std::vector<std::vector<float>> expected;
  for (int k = 0; k < 6; ++k) {
    inputs.push_back(testing::random_input({1 + k % 2, 3, 16, 16}, 40 + k));
    expected.push_back(single.Forward({inputs.back()})[0].ToVector<float>());
  }
  constexpr int kThreads = 16, kCalls = 20;
  std::atomic<int> wrong{0}, failed{0};
  std::barrier start(kThreads);
  std::vector<std::thread> pool;
  for (int t = 0; t < kThreads; ++t)
    pool.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = 0; i < kCalls; ++i) {
        const int k = (t + i) % 6;
        try {
          if (multi.Forward({inputs[k]})[0].ToVector<float>() != expected[k]) ++wrong;
        } catch (...) {
          ++failed;
        }
      }
    });
  for (auto& th : pool) th.join();
  CHECK(wrong == 0);
  CHECK(failed == 0);
  auto calls = multi.calls_per_replica();
  CHECK(calls[0] + calls[1] == uint64_t{kThreads * kCalls});
  CHECK(calls[0] > 0);
  CHECK(calls[1] > 0);
}

TEST_CASE("multi-device: a lone caller alternates replicas; ForwardOn pins; by-name inputs work",
          "[multi_device]") {
  Symbol net = ResidualNet();
  auto params = testing::random_params(net, {{"data", Shape{1, 3, 16, 16}}});
  CachedOp single(net, params, Context::cpu());
  MultiDeviceCachedOp multi(net, params, {Context::cpu(), Context::cpu(), Context::cpu()});
  NDArray x = testing::random_input({1, 3, 16, 16}, 3);
  const auto expected = single.Forward({x})[0].ToVector<float>();
  for (int i = 0; i < 6; ++i) CHECK(multi.Forward({x})[0].ToVector<float>() == expected);
  // Idle replicas tie, and ties go round-robin: every replica took its share.
  CHECK(multi.calls_per_replica() == std::vector<uint64_t>{2, 2, 2});
  CHECK(multi.ForwardOn(Context::cpu(), {x})[0].ToVector<float>() == expected);
  CHECK(multi.Forward(std::map<std::string, NDArray>{{"data", x}})[0].ToVector<float>() == expected);
  CHECK(multi.input_names() == std::vector<std::string>{"data"});
  CHECK(multi.context(2) == Context::cpu());
  CHECK_THROWS_AS(multi.replica(3), InvalidArgument);
}

TEST_CASE("multi-device: bad inputs throw in their call only, the replicas stay usable; bad "
          "construction is refused",
          "[multi_device]") {
  Symbol net = ResidualNet();
  auto params = testing::random_params(net, {{"data", Shape{1, 3, 16, 16}}});
  MultiDeviceCachedOp multi(net, params, {Context::cpu(), Context::cpu()});
  CHECK_THROWS_AS(multi.Forward({testing::random_input({1, 5, 16, 16}, 1)}), ShapeError);
  CHECK_THROWS_AS(multi.Forward(std::vector<NDArray>{}), InvalidArgument);
  CHECK_THROWS_AS(multi.ForwardOn(Context::gpu(0), {testing::random_input({1, 3, 16, 16}, 1)}),
                  DeviceError);
  NDArray x = testing::random_input({1, 3, 16, 16}, 2);
  CHECK(multi.Forward({x})[0].shape() == Shape{1, 10});
  CHECK_THROWS_AS(MultiDeviceCachedOp(net, params, {}), InvalidArgument);
  if (!GpuAvailable(8))
    CHECK_THROWS_AS(MultiDeviceCachedOp(net, params, {Context::cpu(), Context::gpu(7)}), DeviceError);
}
