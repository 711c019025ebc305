// tandem/testing.hpp — unit-test your models and custom operators the way tandem tests its own:
// run the same graph on every available backend and compare each with the reference backend (the
// plain C++ oracle) within stated tolerances. Framework-neutral (returns a report), Catch2-friendly:
//
//   auto report = tandem::testing::compare_backends(net, params, {{"data", x}}, {.rtol = 1e-4});
//   INFO(report.ToString());
//   REQUIRE(report.all_within_tolerance());
//
// Thread safety: the functions are reentrant; they build their own CachedOps.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "tandem/cached_op.hpp"

namespace tandem::testing {

struct Tolerance {
  double rtol = 1e-4;  // |a - b| <= atol + rtol * |reference|
  double atol = 1e-5;
};

struct OutputComparison {
  std::string backend;   // "dnnl", "cudnn", "cuda"
  std::string output;    // output name
  double max_abs_error = 0;
  double max_rel_error = 0;
  int64_t mismatches = 0;
  bool shape_matches = true;
  bool ok() const { return shape_matches && mismatches == 0; }
};

struct BackendReport {
  std::vector<std::string> backends;  // every backend that ran, reference first
  std::vector<OutputComparison> comparisons;
  // Per backend, how many nodes got a kernel of which backend (a dnnl run may fall back).
  std::map<std::string, std::map<std::string, int>> kernels;
  // "cuda: <message>" for each backend that rejected the model with Unsupported (no kernel for a
  // node there, e.g. an NHWC convolution on the plain CUDA backend); it is not compared.
  std::vector<std::string> unsupported;

  bool all_within_tolerance() const {
    return std::all_of(comparisons.begin(), comparisons.end(), [](auto& c) { return c.ok(); });
  }
  std::string ToString() const {
    std::ostringstream os;
    for (const auto& c : comparisons)
      os << c.backend << " vs reference, " << c.output << ": max abs " << c.max_abs_error
         << ", max rel " << c.max_rel_error << ", mismatches " << c.mismatches
         << (c.shape_matches ? "" : " (SHAPE DIFFERS)") << "\n";
    for (const auto& u : unsupported) os << "unsupported on " << u << "\n";
    return os.str();
  }
};

// Elementwise comparison of two float32 arrays (any contexts).
inline OutputComparison compare_arrays(const NDArray& actual, const NDArray& reference, Tolerance tol = {}) {
  OutputComparison c;
  if (actual.shape() != reference.shape() || actual.dtype() != reference.dtype()) {
    c.shape_matches = false;
    return c;
  }
  std::vector<float> a = actual.ToVector<float>(), r = reference.ToVector<float>();
  for (size_t i = 0; i < a.size(); ++i) {
    double diff = std::fabs(static_cast<double>(a[i]) - r[i]);
    if (std::isnan(a[i]) != std::isnan(r[i])) diff = INFINITY;
    if (std::isnan(a[i]) && std::isnan(r[i])) diff = 0;
    c.max_abs_error = std::max(c.max_abs_error, diff);
    if (r[i] != 0) c.max_rel_error = std::max(c.max_rel_error, diff / std::fabs(r[i]));
    if (diff > tol.atol + tol.rtol * std::fabs(r[i])) ++c.mismatches;
  }
  return c;
}

// Runs `symbol` with the reference backend and with every other backend this build and machine
// offer (oneDNN on CPU; cuDNN and plain CUDA on gpu(0) when present), and compares the outputs.
inline BackendReport compare_backends(const Symbol& symbol, const std::map<std::string, NDArray>& params,
                                      const std::map<std::string, NDArray>& inputs, Tolerance tol = {}) {
  struct Variant {
    std::string name;
    Context ctx;
    CachedOpFlags flags;
  };
  CachedOpFlags ref_flags;
  ref_flags.reference_only = true;
  CachedOpFlags dnnl_flags;
  std::vector<Variant> variants = {{"dnnl", Context::cpu(), dnnl_flags}};
  if (GpuAvailable()) {
    CachedOpFlags cuda_flags;
    cuda_flags.use_cudnn = false;
    variants.push_back({"cudnn", Context::gpu(0), CachedOpFlags{}});
    variants.push_back({"cuda", Context::gpu(0), cuda_flags});
  }
  auto shapes_of = [&](const CachedOp& op) {
    std::vector<Shape> s;
    for (const auto& n : op.input_names()) s.push_back(inputs.at(n).shape());
    return s;
  };
  auto on = [&](Context ctx) {
    std::map<std::string, NDArray> moved;
    for (const auto& [k, v] : inputs) moved[k] = v.ctx() == ctx ? v : v.Copy(ctx);
    return moved;
  };
  BackendReport report;
  CachedOp reference(symbol, params, Context::cpu(), ref_flags);
  std::vector<NDArray> expected = reference.Forward(on(Context::cpu()));
  report.backends.push_back("reference");
  report.kernels["reference"] = reference.Plan(shapes_of(reference)).kernels_by_backend;
  for (const Variant& v : variants) {
    std::optional<CachedOp> made;
    PlanReport plan;
    try {
      made.emplace(symbol, params, v.ctx, v.flags);
      plan = made->Plan(shapes_of(*made));
    } catch (const Unsupported& e) {
      report.unsupported.push_back(v.name + ": " + e.what());
      continue;
    }
    const CachedOp& op = *made;
    // A CPU build without oneDNN runs "dnnl" entirely on the reference: nothing to compare.
    if (v.name == "dnnl" && !plan.kernels_by_backend.count("dnnl")) continue;
    std::vector<NDArray> got = op.Forward(on(v.ctx));
    report.backends.push_back(v.name);
    report.kernels[v.name] = plan.kernels_by_backend;
    for (size_t j = 0; j < got.size(); ++j) {
      OutputComparison c = compare_arrays(got[j], expected[j], tol);
      c.backend = v.name;
      c.output = op.output_names()[j];
      report.comparisons.push_back(c);
    }
  }
  return report;
}

// Uniform random float32 array on the CPU, reproducible from `seed`.
inline NDArray random_input(const Shape& shape, uint32_t seed = 0, float lo = -1.f, float hi = 1.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<size_t>(shape.Size()));
  for (float& x : v) x = dist(rng);
  return NDArray(v, shape);
}

// Random parameters for every non-data input of `symbol`, shaped by inference from the data
// shapes; variances are kept positive so BatchNorm stays finite.
inline std::map<std::string, NDArray> random_params(const Symbol& symbol,
                                                    const std::map<std::string, Shape>& data_shapes,
                                                    uint32_t seed = 1) {
  std::map<std::string, Shape> shapes = symbol.InferShapeMap(data_shapes);
  std::map<std::string, NDArray> params;
  uint32_t k = seed;
  for (const std::string& name : symbol.ListInputs()) {
    if (data_shapes.count(name) || (name.size() >= 6 && name.compare(name.size() - 6, 6, "_label") == 0))
      continue;
    const Shape& s = shapes.at(name);
    if (!s.known()) continue;
    bool positive = name.find("moving_var") != std::string::npos;
    params[name] = random_input(s, k++, positive ? 0.5f : -1.f, positive ? 1.5f : 1.f);
  }
  return params;
}

}  // namespace tandem::testing
