// CachedOp: planning, memory reuse, caller outputs, dynamic shapes, errors, threads, custom ops.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <mutex>
#include <thread>

#include <catch2/catch.hpp>

#include "tandem/tandem.hpp"
#include "tandem/testing.hpp"

using namespace tandem;

namespace {

// A small CNN with every common op: conv, BN, relu, pool, FC, softmax. Global pooling before the
// classifier lets it take any image size.
Symbol SmallNet() {
  Symbol data = Symbol::Variable("data");
  Symbol x = op::Convolution("conv0", data, {.kernel = {3, 3}, .num_filter = 8, .pad = {1, 1}});
  x = op::BatchNorm("bn0", x, {.eps = 2e-5, .fix_gamma = false});
  x = op::Activation("relu0", x);
  x = op::Pooling("pool0", x, {.kernel = {2, 2}, .pool_type = "max", .stride = {2, 2}});
  x = op::Convolution("conv1", x, {.kernel = {3, 3}, .num_filter = 8, .pad = {1, 1}});
  x = op::Activation("relu1", x);
  x = op::Pooling("gap", x, {.pool_type = "avg", .global_pool = true});
  x = op::FullyConnected("fc", op::Flatten(x, "flat"), {.num_hidden = 10});
  return op::SoftmaxOutput("softmax", x);
}

std::map<std::string, NDArray> SmallParams(const Symbol& net) {
  return testing::random_params(net, {{"data", Shape{1, 3, 16, 16}}});
}

bool SameValues(const NDArray& a, const NDArray& b) {
  return a.shape() == b.shape() && a.ToVector<float>() == b.ToVector<float>();
}

}  // namespace

TEST_CASE("CachedOp takes data inputs automatically and ignores the softmax label", "[cached_op]") {
  Symbol net = SmallNet();
  CachedOp op(net, SmallParams(net), Context::cpu());
  CHECK(op.input_names() == std::vector<std::string>{"data"});
  CHECK(op.output_names() == std::vector<std::string>{"softmax_output"});
  auto out = op.Forward({testing::random_input({2, 3, 16, 16})});
  REQUIRE(out.size() == 1);
  CHECK(out[0].shape() == Shape{2, 10});
  auto probs = out[0].ToVector<float>();
  for (int b = 0; b < 2; ++b) {
    float sum = 0;
    for (int k = 0; k < 10; ++k) sum += probs[b * 10 + k];
    CHECK(sum == Approx(1.0f).epsilon(1e-5));
  }
}

TEST_CASE("every backend agrees with the reference on a small CNN", "[cached_op]") {
  Symbol net = SmallNet();
  auto report = testing::compare_backends(net, SmallParams(net), {{"data", testing::random_input({3, 3, 16, 16}, 5)}});
  INFO(report.ToString());
  CHECK(report.all_within_tolerance());
}

TEST_CASE("the memory plan reuses buffers: planned arena smaller than one buffer per tensor", "[cached_op]") {
  Symbol net = SmallNet();
  CachedOp op(net, SmallParams(net), Context::cpu());
  PlanReport r = op.Plan({Shape{4, 3, 16, 16}});
  CHECK(r.arena_bytes > 0);
  CHECK(r.arena_bytes < r.naive_bytes);
  CHECK(r.output_shapes == std::vector<Shape>{{4, 10}});
}

TEST_CASE("views (Reshape, Flatten, expand_dims, squeeze) share their input's memory, results unchanged",
          "[cached_op][views]") {
  // relu -> Reshape -> expand_dims -> squeeze -> relu: the three views alias relu0's output, and the
  // chain's root lives until the last view's reader. A view whose output is a head is copied.
  Symbol data = Symbol::Variable("data");
  Symbol x = op::Activation("relu0", data);
  x = op::Reshape("flat", x, {6, 4});
  x = Operator("expand_dims").SetParam("axis", 0)(x).CreateSymbol("expand");
  x = Operator("squeeze").SetParam("axis", std::vector<int64_t>{0})(x).CreateSymbol("squeeze");
  Symbol y = op::Activation("sigmoid1", x, {.act_type = "sigmoid"});
  Symbol head_view = op::Reshape("head_view", y, {24});
  Symbol net = Symbol::Group({head_view, y});
  const NDArray input = testing::random_input({2, 3, 4});
  for (bool reference : {true, false}) {
    CachedOpFlags flags;
    flags.reference_only = reference;
    CachedOp op(net, {}, Context::cpu(), flags);
    const PlanReport r = op.Plan({Shape{2, 3, 4}});
    CHECK(r.aliased_views == 3);
    std::vector<NDArray> out = op.Forward({input});
    std::vector<float> in = input.ToVector<float>(), got = out[0].ToVector<float>();
    REQUIRE(got.size() == in.size());
    for (size_t i = 0; i < in.size(); ++i)
      CHECK(got[i] == Approx(1.0f / (1.0f + std::exp(-std::max(in[i], 0.0f)))).epsilon(1e-6));
    CHECK(out[1].shape() == Shape{6, 4});
    CHECK(out[1].ToVector<float>() == got);
  }
}

TEST_CASE("a fused residual add writes over its residual when nothing reads it later, results unchanged",
          "[cached_op][in_place]") {
  // unit(x) = relu(conv_c(relu(conv_b(x))) + x): the add fuses into conv_c, whose output then takes
  // over x's memory (x is dead after the add) on oneDNN's channels-last path. In the second unit
  // the residual is also the source of conv (y + conv(y)): no in-place then.
  Symbol data = Symbol::Variable("data");
  Symbol x = op::Convolution("conv_a", data, {.kernel = {3, 3}, .num_filter = 16, .pad = {1, 1}});
  Symbol r = op::Activation("relu_a", x);
  Symbol b = op::Activation("relu_b", op::Convolution("conv_b", r, {.kernel = {1, 1}, .num_filter = 16}));
  Symbol c = op::Convolution("conv_c", b, {.kernel = {3, 3}, .num_filter = 16, .pad = {1, 1}});
  Symbol y = op::Activation("relu_c", op::elemwise_add("add_c", c, r));
  Symbol d = op::Convolution("conv_d", y, {.kernel = {1, 1}, .num_filter = 16});
  Symbol net = op::Activation("relu_d", op::elemwise_add("add_d", y, d));
  const auto params = testing::random_params(net, {{"data", Shape{2, 3, 8, 8}}});
  const NDArray input = testing::random_input({2, 3, 8, 8}, 11);
  CachedOpFlags ref_flags;
  ref_flags.reference_only = true;
  CachedOp reference(net, params, Context::cpu(), ref_flags);
  const std::vector<float> expected = reference.Forward({input})[0].ToVector<float>();
  CachedOp op(net, params, Context::cpu());
  const PlanReport report = op.Plan({Shape{2, 3, 8, 8}});
  CHECK(report.fused_residual_adds == 2);
  if (report.kernels_by_backend.count("dnnl")) CHECK(report.in_place_outputs == 1);  // oneDNN built
  CHECK(reference.Plan({Shape{2, 3, 8, 8}}).in_place_outputs == 0);
  for (int call = 0; call < 2; ++call) {  // the arena is reused: the second call sees the first's bytes
    const std::vector<float> got = op.Forward({input})[0].ToVector<float>();
    REQUIRE(got.size() == expected.size());
    for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == Approx(expected[i]).epsilon(1e-4).margin(1e-5));
  }
}

TEST_CASE("Forward writes into caller-provided outputs and checks them", "[cached_op]") {
  Symbol net = SmallNet();
  CachedOp op(net, SmallParams(net), Context::cpu());
  NDArray x = testing::random_input({1, 3, 16, 16}, 3);
  std::vector<NDArray> outs = {NDArray(Shape{1, 10})};
  void* before = outs[0].raw_data();
  op.Forward({x}, &outs);
  CHECK(outs[0].raw_data() == before);
  CHECK(SameValues(outs[0], op.Forward({x})[0]));

  std::vector<NDArray> wrong_shape = {NDArray(Shape{1, 11})};
  CHECK_THROWS_AS(op.Forward({x}, &wrong_shape), ShapeError);
  std::vector<NDArray> wrong_type = {NDArray(Shape{1, 10}, Context::cpu(), DType::f64)};
  CHECK_THROWS_AS(op.Forward({x}, &wrong_type), TypeError);
}

TEST_CASE("bad inputs to Forward throw typed errors naming the problem", "[cached_op]") {
  Symbol net = SmallNet();
  CachedOp op(net, SmallParams(net), Context::cpu());
  // Wrong channel count: the conv weight no longer fits.
  CHECK_THROWS_AS(op.Forward({testing::random_input({1, 4, 16, 16})}), ShapeError);
  CHECK_THROWS_WITH(op.Forward({testing::random_input({1, 4, 16, 16})}), Catch::Contains("conv0"));
  CHECK_THROWS_AS(op.Forward({NDArray(Shape{1, 3, 16, 16}, Context::cpu(), DType::i32)}), TypeError);
  CHECK_THROWS_AS(op.Forward(std::vector<NDArray>{}), InvalidArgument);
  CHECK_THROWS_AS(op.Forward({NDArray()}), InvalidArgument);
  CHECK_THROWS_AS(op.Forward(std::map<std::string, NDArray>{{"nope", testing::random_input({1, 3, 16, 16})}}),
                  InvalidArgument);
  // Still usable afterwards.
  CHECK(op.Forward({testing::random_input({1, 3, 16, 16})})[0].shape() == Shape{1, 10});
}

TEST_CASE("a GPU context without a GPU is a DeviceError, not a crash", "[cached_op]") {
  if (GpuAvailable()) return;
  Symbol net = SmallNet();
  CHECK_THROWS_AS(CachedOp(net, SmallParams(net), Context::gpu(0)), DeviceError);
  CHECK_THROWS_AS(NDArray(Shape{2}, Context::gpu(0)), DeviceError);
}

TEST_CASE("missing parameters are named at construction", "[cached_op]") {
  Symbol net = SmallNet();
  auto params = SmallParams(net);
  params.erase("conv1_weight");
  CHECK_THROWS_WITH(CachedOp(net, params, Context::cpu()), Catch::Contains("conv1_weight"));
}

TEST_CASE("a CPU plan is made for its calls' intra-op team and says so", "[cached_op][threads]") {
  Symbol net = SmallNet();
  CachedOp three(net, SmallParams(net), Context::cpu(), {.intra_op_threads = 3});
  CHECK(three.Plan({Shape{1, 3, 16, 16}}).intra_op_threads == 3);
  three.Forward({testing::random_input({1, 3, 16, 16})});
  CHECK(three.cached_plan_count() == 1);  // Plan() made the plan the call ran
  CachedOp automatic(net, SmallParams(net), Context::cpu());
  CHECK(automatic.Plan({Shape{1, 3, 16, 16}}).intra_op_threads >= 1);  // a lone call's: every core
}

TEST_CASE("dynamic shapes: each new input shape gets its own plan, cache bounded", "[cached_op]") {
  Symbol net = SmallNet();
  CachedOpFlags flags;
  flags.max_cached_shapes = 2;
  CachedOp op(net, SmallParams(net), Context::cpu(), flags);
  CachedOp reference(net, SmallParams(net), Context::cpu(), {.reference_only = true});
  for (Shape s : {Shape{1, 3, 16, 16}, Shape{5, 3, 16, 16}, Shape{2, 3, 8, 8}, Shape{1, 3, 16, 16}}) {
    NDArray x = testing::random_input(s, 11);
    auto got = op.Forward({x})[0];
    CHECK(got.shape()[0] == s[0]);
    CHECK(testing::compare_arrays(got, reference.Forward({x})[0]).ok());
  }
  CHECK(op.cached_plan_count() == 2);
}

TEST_CASE("static_shape refuses a new input shape with a clear error", "[cached_op]") {
  Symbol net = SmallNet();
  CachedOp op(net, SmallParams(net), Context::cpu(), {.static_shape = true});
  op.Forward({testing::random_input({1, 3, 16, 16})});
  CHECK_THROWS_WITH(op.Forward({testing::random_input({2, 3, 16, 16})}), Catch::Contains("static_shape"));
}

TEST_CASE("static_shape: a first call that fails does not pin its shape", "[cached_op]") {
  Symbol net = SmallNet();
  CachedOp op(net, SmallParams(net), Context::cpu(), {.static_shape = true});
  CHECK_THROWS_AS(op.Forward({testing::random_input({1, 4, 16, 16})}), ShapeError);
  CHECK(op.Forward({testing::random_input({1, 3, 16, 16})})[0].shape() == Shape{1, 10});
}

TEST_CASE("many threads share one CachedOp and each gets exactly the single-thread result", "[cached_op][threads]") {
  Symbol net = SmallNet();
  CachedOp op(net, SmallParams(net), Context::cpu());
  constexpr int kThreads = 8, kCalls = 25;
  std::vector<NDArray> inputs, expected;
  for (int t = 0; t < kThreads; ++t) {
    inputs.push_back(testing::random_input({1 + t % 3, 3, 16, 16}, 100 + t));
    expected.push_back(op.Forward({inputs.back()})[0]);
  }
  std::atomic<int> wrong{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < kThreads; ++t)
    pool.emplace_back([&, t] {
      for (int i = 0; i < kCalls; ++i)
        if (!SameValues(op.Forward({inputs[t]})[0], expected[t])) ++wrong;
    });
  for (auto& th : pool) th.join();
  CHECK(wrong == 0);
  CHECK(op.execution_context_count() <= kThreads + 1);
}

TEST_CASE("a failing call throws in its own thread only; other threads stay correct", "[cached_op][threads]") {
  Symbol net = SmallNet();
  CachedOp op(net, SmallParams(net), Context::cpu());
  NDArray good = testing::random_input({1, 3, 16, 16}, 9);
  NDArray bad = testing::random_input({1, 5, 16, 16}, 9);
  NDArray expected = op.Forward({good})[0];
  std::atomic<int> wrong{0}, thrown{0}, unexpected{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < 8; ++t)
    pool.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        bool use_bad = (t + i) % 3 == 0;
        try {
          NDArray out = op.Forward({use_bad ? bad : good})[0];
          if (use_bad || !SameValues(out, expected)) ++wrong;
        } catch (const ShapeError&) {
          if (use_bad) ++thrown;
          else ++unexpected;
        }
      }
    });
  for (auto& th : pool) th.join();
  CHECK(wrong == 0);
  CHECK(unexpected == 0);
  CHECK(thrown > 0);
  CHECK(SameValues(op.Forward({good})[0], expected));
}

TEST_CASE("several models live side by side, sharing one params map without copying it", "[cached_op]") {
  Symbol net = SmallNet();
  auto params = SmallParams(net);
  const void* weight = params.at("conv0_weight").raw_data();
  CachedOp a(net, params, Context::cpu());
  CachedOp b(net, params, Context::cpu(), {.reference_only = true});
  // A different graph over the same weights: the features before the classifier.
  Symbol internals = net.GetInternals();
  Symbol features;
  for (const auto& n : internals.outputs())
    if (n.node->name == "relu1") features = Symbol({n});
  CachedOp c(features, params, Context::cpu());
  NDArray x = testing::random_input({2, 3, 16, 16}, 4);
  CHECK(testing::compare_arrays(a.Forward({x})[0], b.Forward({x})[0]).ok());
  CHECK(c.Forward({x})[0].shape() == Shape{2, 8, 8, 8});
  CHECK(params.at("conv0_weight").raw_data() == weight);
}

// ---- custom operators: registered from user code, loaded from JSON like built-ins ----

namespace {
struct ScaleParams {
  float factor = 1;
};

void RegisterScaleBy() {
  static bool done = [] {
    OpSchema s;
    s.name = "ScaleBy";
    s.parse = [](const AttrReader& r) { return std::any(ScaleParams{static_cast<float>(r.Float("factor", 1))}); };
    s.arguments = [](const std::any&) { return std::vector<std::string>{"data"}; };
    s.infer_shape = [](ShapeInferenceArgs& a) { a.out[0] = a.in[0]; };
    RegisterOp(s);
    RegisterKernel("ScaleBy", Backend::kReference, [](const KernelSpec& spec) {
      float f = ParamsAs<ScaleParams>(spec.params).factor;
      return MakeKernel([f](const KernelCall& c) {
        const float* x = c.inputs[0].as<float>();
        float* y = c.outputs[0].as<float>();
        for (int64_t i = 0; i < c.inputs[0].size(); ++i) y[i] = f * x[i];
      });
    });
    return true;
  }();
  (void)done;
}
}  // namespace

TEST_CASE("a custom operator registered from user code loads from JSON and runs", "[cached_op][custom]") {
  RegisterScaleBy();
  const char* json = R"({
    "nodes": [
      {"op": "null", "name": "data", "inputs": []},
      {"op": "ScaleBy", "name": "scale", "attrs": {"factor": "2.5"}, "inputs": [[0, 0, 0]]},
      {"op": "Activation", "name": "relu", "attrs": {"act_type": "relu"}, "inputs": [[1, 0, 0]]}
    ],
    "arg_nodes": [0], "heads": [[2, 0, 0]], "attrs": {"mxnet_version": ["int", 10600]}})";
  Symbol net = Symbol::LoadJSON(json);
  CachedOp op(net, {}, Context::cpu());
  auto out = op.Forward({NDArray({-1.f, 2.f, 4.f}, Shape{3})})[0].ToVector<float>();
  CHECK(out == std::vector<float>{0.f, 5.f, 10.f});
  // And it round-trips through JSON.
  CHECK(Symbol::LoadJSON(net.ToJSON()).ToJSON() == net.ToJSON());
}

// ---- which thread runs a CPU call's kernels ----

namespace {
std::mutex g_where_mutex;
std::thread::id g_kernel_thread, g_factory_thread;

// WhereAmI: y = x, noting the threads its kernel factory and its kernel ran on; a negative first
// element throws, as a failing kernel would.
void RegisterWhereAmI() {
  static bool done = [] {
    OpSchema s;
    s.name = "WhereAmI";
    s.parse = [](const AttrReader&) { return std::any(0); };
    s.arguments = [](const std::any&) { return std::vector<std::string>{"data"}; };
    s.infer_shape = [](ShapeInferenceArgs& a) { a.out[0] = a.in[0]; };
    RegisterOp(s);
    RegisterKernel("WhereAmI", Backend::kReference, [](const KernelSpec&) {
      {
        std::lock_guard lock(g_where_mutex);
        g_factory_thread = std::this_thread::get_id();
      }
      return MakeKernel([](const KernelCall& c) {
        {
          std::lock_guard lock(g_where_mutex);
          g_kernel_thread = std::this_thread::get_id();
        }
        const float* x = c.inputs[0].as<float>();
        if (x[0] < 0) Throw<InvalidArgument>("WhereAmI: negative input");
        std::copy(x, x + c.inputs[0].size(), c.outputs[0].as<float>());
      });
    });
    return true;
  }();
  (void)done;
}

Symbol WhereAmINet() {
  RegisterWhereAmI();
  return Symbol::CreateOp("WhereAmI", "where", {}, {Symbol::Variable("data")});
}
}  // namespace

TEST_CASE("a CPU call with a team of several threads runs on a tandem team thread, errors included",
          "[cached_op][threads]") {
  // libgomp keeps a pool of workers for every thread that ever led a team (cpu_teams.hpp): the
  // caller's thread must not become one.
  CachedOp team(WhereAmINet(), {}, Context::cpu(), {.intra_op_threads = 2});
  CHECK(team.Plan({Shape{2}}).intra_op_threads == 2);
  CHECK(g_factory_thread != std::this_thread::get_id());  // the plan was built on the team thread
  CHECK(team.Forward({NDArray({1.f, 2.f}, Shape{2})})[0].ToVector<float>() == std::vector<float>{1.f, 2.f});
  CHECK(g_kernel_thread != std::this_thread::get_id());
  CHECK_THROWS_AS(team.Forward({NDArray({-1.f, 2.f}, Shape{2})}), InvalidArgument);
  CHECK(team.Forward({NDArray({3.f, 4.f}, Shape{2})})[0].ToVector<float>() == std::vector<float>{3.f, 4.f});

  CachedOp alone(WhereAmINet(), {}, Context::cpu(), {.intra_op_threads = 1});
  CHECK(alone.Forward({NDArray({5.f, 6.f}, Shape{2})})[0].ToVector<float>() == std::vector<float>{5.f, 6.f});
  CHECK(g_kernel_thread == std::this_thread::get_id());  // a team of one: the caller's own thread
}

// ---- planning once per shape, scratch planned into the arena ----

namespace {
std::atomic<int> g_slow_plans{0};

// SlowPlan: y = x + 1, with a kernel factory that takes 100 ms and counts how often it ran.
void RegisterSlowPlan() {
  static bool done = [] {
    OpSchema s;
    s.name = "SlowPlan";
    s.parse = [](const AttrReader&) { return std::any(0); };
    s.arguments = [](const std::any&) { return std::vector<std::string>{"data"}; };
    s.infer_shape = [](ShapeInferenceArgs& a) { a.out[0] = a.in[0]; };
    RegisterOp(s);
    RegisterKernel("SlowPlan", Backend::kReference, [](const KernelSpec&) {
      g_slow_plans++;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      return MakeKernel([](const KernelCall& c) {
        for (int64_t i = 0; i < c.inputs[0].size(); ++i)
          c.outputs[0].as<float>()[i] = c.inputs[0].as<float>()[i] + 1;
      });
    });
    return true;
  }();
  (void)done;
}

// ScratchUser: y = 2x, computed through ScratchBytes() = 4 KiB of scratch that it fills entirely,
// after checking that the scratch overlaps neither its input nor its output.
constexpr size_t kScratchUserBytes = 4096;
void RegisterScratchUser() {
  static bool done = [] {
    OpSchema s;
    s.name = "ScratchUser";
    s.parse = [](const AttrReader&) { return std::any(0); };
    s.arguments = [](const std::any&) { return std::vector<std::string>{"data"}; };
    s.infer_shape = [](ShapeInferenceArgs& a) { a.out[0] = a.in[0]; };
    RegisterOp(s);
    RegisterKernel("ScratchUser", Backend::kReference, [](const KernelSpec&) {
      return MakeKernel(
          [](const KernelCall& c) {
            auto* scratch = static_cast<char*>(c.scratch);
            if (!scratch) throw InternalError("ScratchUser: no scratch");
            auto overlaps = [&](const TensorArg& t) {
              auto* p = static_cast<char*>(t.data);
              auto bytes = static_cast<size_t>(t.size()) * sizeof(float);
              return p < scratch + kScratchUserBytes && scratch < p + bytes;
            };
            if (overlaps(c.inputs[0]) || overlaps(c.outputs[0]))
              throw InternalError("ScratchUser: scratch overlaps a tensor of its node");
            std::memset(scratch, 0x7f, kScratchUserBytes);  // clobbers whatever else is there
            auto* tmp = reinterpret_cast<float*>(scratch);
            const int64_t n = c.inputs[0].size();
            for (int64_t i = 0; i < n; i += 256) {
              const int64_t m = std::min<int64_t>(256, n - i);
              for (int64_t k = 0; k < m; ++k) tmp[k] = 2 * c.inputs[0].as<float>()[i + k];
              for (int64_t k = 0; k < m; ++k) c.outputs[0].as<float>()[i + k] = tmp[k];
            }
          },
          kScratchUserBytes);
    });
    return true;
  }();
  (void)done;
}
}  // namespace

TEST_CASE("concurrent first calls with one new shape build its plan once", "[cached_op][threads]") {
  RegisterSlowPlan();
  Symbol net = Symbol::CreateOp("SlowPlan", "slow", {}, {Symbol::Variable("data")});
  // One team for every call: a CPU plan is made per intra-op team (PlanReport::intra_op_threads),
  // and the automatic team shrinks as callers pile up.
  CachedOp op(net, {}, Context::cpu(), {.intra_op_threads = 1});
  const int before = g_slow_plans.load();
  constexpr int kThreads = 8;
  std::atomic<int> ready{0}, wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      ready++;
      while (ready.load() < kThreads) std::this_thread::yield();
      auto y = op.Forward({NDArray({float(t), 1.f}, Shape{2})})[0].ToVector<float>();
      if (y != std::vector<float>{float(t) + 1, 2.f}) wrong++;
    });
  for (auto& t : threads) t.join();
  CHECK(wrong.load() == 0);
  CHECK(g_slow_plans.load() - before == 1);  // one plan, not one per first caller
  CHECK(op.cached_plan_count() == 1);
  // Another shape is another plan.
  op.Forward({NDArray({1.f, 2.f, 3.f}, Shape{3})});
  CHECK(g_slow_plans.load() - before == 2);
}

TEST_CASE("kernel scratch is planned into the arena, apart from the node's own tensors", "[cached_op]") {
  RegisterScratchUser();
  Symbol x = Symbol::Variable("data");
  for (int i = 0; i < 4; ++i) {
    x = Symbol::CreateOp("ScratchUser", "twice" + std::to_string(i), {}, {x});
    x = op::Activation("relu" + std::to_string(i), x);
  }
  CachedOp op(x, {}, Context::cpu());
  for (int64_t n : {1, 100, 1000, 5000}) {
    PlanReport r = op.Plan({Shape{n}});
    CHECK(r.scratch_bytes == kScratchUserBytes);
    CHECK(r.arena_bytes >= r.scratch_bytes);  // one buffer holds the scratch too
    std::vector<float> v(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) v[i] = static_cast<float>(i % 7) - 3;
    auto y = op.Forward({NDArray(v, Shape{n})})[0].ToVector<float>();
    for (int64_t i = 0; i < n; ++i) {
      const float expected = v[i] > 0 ? 16 * v[i] : 0;
      if (y[i] != expected) FAIL("element " << i << " of " << n << ": " << y[i] << " != " << expected);
    }
  }
}
