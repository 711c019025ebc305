// Helpers shared by the per-operator tests in test/ops: backend comparison of a single-op graph
// (with the check that oneDNN really ran where its factory is meant to accept the case), running
// the reference backend alone, and checking values computed by hand.
#pragma once

#include <catch2/catch.hpp>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tandem/tandem.hpp"
#include "tandem/testing.hpp"

namespace Catch {
template <>
struct StringMaker<tandem::Shape> {
  static std::string convert(const tandem::Shape& s) { return s.ToString(); }
};
}  // namespace Catch

namespace tandem::optest {

inline constexpr testing::Tolerance kTolerance{.rtol = 1e-4, .atol = 1e-5};

// Whether this build registered oneDNN kernels at all. Asked of the registry rather than of the
// report, because a report without "dnnl" may also mean the factory declined this one case.
inline bool BuildHasDnnl() { return static_cast<bool>(FindKernel("Convolution", Backend::kDnnl)); }

// What the dnnl run is expected to do with the op under test.
enum class Dnnl {
  kUsed,      // the oneDNN factory accepts this case: at least one node ran on oneDNN
  kFallback,  // the factory declines it (or the op has no oneDNN kernel): nothing ran on oneDNN
  kAny,       // no expectation
};

inline std::map<std::string, Shape> ShapesOf(const std::map<std::string, NDArray>& inputs) {
  std::map<std::string, Shape> shapes;
  for (const auto& [name, array] : inputs) shapes[name] = array.shape();
  return shapes;
}

// kMayDecline: a GPU backend may reject the case with Unsupported (channel-last layouts are
// cuDNN's, and only 2-D), instead of the default, where every backend must run it.
enum class Gpu { kEveryBackend, kMayDecline };

// Nodes of `symbol` that the default CPU backends run on oneDNN, by name, leaving out the
// transposes the channels-last layout pass inserts around NHWC runs ("data_nhwc", "pool_nchw"),
// which run on oneDNN whatever the op under test does.
inline std::vector<std::string> DnnlNodes(const Symbol& symbol,
                                          const std::map<std::string, NDArray>& params,
                                          const std::map<std::string, NDArray>& inputs) {
  CachedOp op(symbol, params, Context::cpu());
  std::vector<Shape> shapes;
  for (const std::string& name : op.input_names()) shapes.push_back(inputs.at(name).shape());
  std::vector<std::string> nodes;
  for (const std::string& k : op.Plan(shapes).node_kernels) {  // "name: Op [backend]"
    if (k.size() < 7 || k.compare(k.size() - 7, 7, " [dnnl]") != 0) continue;
    const std::string name = k.substr(0, k.find(": "));
    const bool inserted = k.find(": Transpose [") != std::string::npos &&
                          (name.ends_with("_nhwc") || name.ends_with("_nchw"));
    if (!inserted) nodes.push_back(name);
  }
  return nodes;
}

// Compares every backend with the reference on `symbol`, whose non-data inputs get random values,
// and checks where oneDNN ran. Callers put an INFO naming the case in scope before calling.
inline testing::BackendReport CheckBackends(const Symbol& symbol,
                                            const std::map<std::string, NDArray>& inputs,
                                            Dnnl dnnl = Dnnl::kAny, uint32_t seed = 1,
                                            testing::Tolerance tolerance = kTolerance,
                                            Gpu gpu = Gpu::kEveryBackend) {
  std::map<std::string, NDArray> params = testing::random_params(symbol, ShapesOf(inputs), seed);
  testing::BackendReport report = testing::compare_backends(symbol, params, inputs, tolerance);
  INFO(report.ToString());
  CHECK(report.all_within_tolerance());
  for (const std::string& u : report.unsupported) {
    INFO("unsupported on " << u);
    const bool gpu_backend = u.rfind("cuda:", 0) == 0 || u.rfind("cudnn:", 0) == 0;
    CHECK((gpu == Gpu::kMayDecline && gpu_backend));
  }
  const int dnnl_nodes =
      dnnl == Dnnl::kAny ? 0 : static_cast<int>(DnnlNodes(symbol, params, inputs).size());
  if (dnnl == Dnnl::kUsed && BuildHasDnnl()) {
    INFO("expected the oneDNN kernel to be used");
    CHECK(dnnl_nodes > 0);
  }
  if (dnnl == Dnnl::kFallback) {
    INFO("expected the oneDNN factory to decline and the reference kernel to run");
    CHECK(dnnl_nodes == 0);
  }
  return report;
}

// Runs `symbol` on the reference backend only.
inline std::vector<NDArray> RunReference(const Symbol& symbol,
                                         const std::map<std::string, NDArray>& params,
                                         const std::map<std::string, NDArray>& inputs) {
  CachedOp op(symbol, params, Context::cpu(), CachedOpFlags{.reference_only = true});
  return op.Forward(inputs);
}

// Single-output convenience.
inline NDArray RunReference1(const Symbol& symbol, const std::map<std::string, NDArray>& params,
                             const std::map<std::string, NDArray>& inputs) {
  std::vector<NDArray> outputs = RunReference(symbol, params, inputs);
  REQUIRE(outputs.size() == 1);
  return outputs[0];
}

// Checks a float32 result against hand-computed values.
inline void CheckValues(const NDArray& got, const Shape& shape, const std::vector<float>& expected,
                        double margin = 1e-5) {
  REQUIRE(got.dtype() == DType::f32);
  REQUIRE(got.shape() == shape);
  const std::vector<float> values = got.ToVector<float>();
  REQUIRE(values.size() == expected.size());
  for (size_t i = 0; i < values.size(); ++i) {
    INFO("element " << i);
    CHECK(values[i] == Approx(expected[i]).epsilon(1e-5).margin(margin));
  }
}

// 0, 1, 2, ... as a float32 array (plus `offset`).
inline NDArray Iota(const Shape& shape, float offset = 0) {
  std::vector<float> v(static_cast<size_t>(shape.Size()));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i) + offset;
  return NDArray(v, shape);
}

// The output shape shape inference gives `symbol`'s first output for these input shapes.
inline Shape InferredOutput(const Symbol& symbol, const std::map<std::string, Shape>& known) {
  std::vector<Shape> args, outs, aux;
  symbol.InferShape(known, &args, &outs, &aux);
  REQUIRE(!outs.empty());
  return outs[0];
}

inline Symbol Data(const std::string& name = "data") { return Symbol::Variable(name); }

// A host float32 array with its axes permuted: output dim i is input dim axes[i].
inline NDArray Permute(const NDArray& a, const std::vector<int>& axes) {
  const Shape& in = a.shape();
  std::vector<int64_t> in_strides(in.ndim(), 1), dims;
  for (int i = in.ndim() - 2; i >= 0; --i) in_strides[i] = in_strides[i + 1] * in[i + 1];
  for (int axis : axes) dims.push_back(in[axis]);
  const std::vector<float> src = a.ToVector<float>();
  std::vector<float> dst(src.size());
  std::vector<int64_t> index(dims.size(), 0);
  for (size_t o = 0; o < dst.size(); ++o) {
    int64_t from = 0;
    for (size_t i = 0; i < dims.size(); ++i) from += index[i] * in_strides[axes[i]];
    dst[o] = src[static_cast<size_t>(from)];
    for (int i = static_cast<int>(dims.size()) - 1; i >= 0 && ++index[i] == dims[i]; --i) index[i] = 0;
  }
  return NDArray(dst, Shape(dims));
}

// (N, C, spatial...) -> (N, spatial..., C), and back.
inline NDArray ChannelsLast(const NDArray& a) {
  std::vector<int> axes = {0};
  for (int i = 2; i < a.shape().ndim(); ++i) axes.push_back(i);
  axes.push_back(1);
  return Permute(a, axes);
}
inline NDArray ChannelsFirst(const NDArray& a) {
  std::vector<int> axes = {0, a.shape().ndim() - 1};
  for (int i = 1; i < a.shape().ndim() - 1; ++i) axes.push_back(i);
  return Permute(a, axes);
}

}  // namespace tandem::optest
