// libFuzzer target: load a symbol + params, build a CachedOp on the CPU, plan a small data shape
// and run one Forward (see fuzz_common.hpp for the input layout).
//
// Contract checked: every step either succeeds or throws tandem::Error; any other exception,
// crash, leak, hang or oversized allocation is a bug.
//
// flags (byte 0): bit 0 reference kernels only (small params only); bit 1 static_alloc off; bits 2-4 first candidate
// data shape; bit 5 second Forward reusing the plan with caller-provided outputs; bit 6 float64
// inputs (the TypeError paths).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "tandem/tandem.hpp"
#include "test/fuzz/fuzz_common.hpp"

using namespace tandem;

namespace {

const std::string kJsonSource = "<fuzz json>";
const std::string kParamsSource = "<fuzz params>";

// A model is allowed to need far more memory and time than a fuzz run can give (-timeout=10 is
// wall-clock, and this machine is shared): inputs whose activations exceed kMaxRunBytes are
// planned but not run, and the reference kernels (plain loops, slow under ASan) only run models
// whose params image is small. These are harness limits, not library ones.
constexpr size_t kMaxRunBytes = size_t{1} << 20;
constexpr size_t kMaxReferenceParamsBytes = size_t{64} << 10;
constexpr int64_t kMaxHintElements = 1 << 16;

const std::vector<Shape>& CandidateShapes() {
  static const std::vector<Shape> shapes = {
      {1, 1, 28, 28}, {1, 3, 8, 8}, {2, 3, 5, 5}, {1, 4}, {2, 16}, {1, 3, 12, 12}, {1, 2, 4, 4, 4}, {3, 2, 7},
  };
  return shapes;
}

// The variable's __shape__ attribute when it names a small, fully known shape.
Shape HintFor(const Symbol& net, const std::string& name) {
  for (const auto& node : net.TopoNodes()) {
    if (!node->is_variable() || node->name != name) continue;
    auto it = node->attrs.find("__shape__");
    if (it == node->attrs.end()) return {};
    std::vector<int64_t> dims;
    try {
      dims = AttrReader(node->attrs, "null", name).Tuple("__shape__");
    } catch (const Error&) {
      return {};
    }
    int64_t n = 1;
    for (int64_t d : dims) {
      if (d <= 0 || d > kMaxHintElements || (n *= d) > kMaxHintElements) return {};
    }
    return Shape(std::move(dims));
  }
  return {};
}

size_t BytesOf(const Shape& s, DType t) {
  int64_t n = s.Size();  // throws ShapeError on overflow
  if (static_cast<uint64_t>(n) > kMaxRunBytes) return kMaxRunBytes + 1;
  return static_cast<size_t>(n) * DTypeSize(t);
}

NDArray MakeInput(const Shape& s, bool f64) {
  const int64_t n = s.Size();
  if (f64) {
    std::vector<double> v(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) v[i] = static_cast<double>(i % 7) * 0.25 - 0.5;
    return NDArray(v, s);
  }
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<float>(i % 7) * 0.25f - 0.5f;
  return NDArray(v, s);
}

void Run(const fuzz::ModelInput& in) {
  const Symbol net = Symbol::LoadJSON(std::string(in.json), kJsonSource);
  std::map<std::string, NDArray> params;
  if (in.has_params) {
    std::vector<NDArray> arrays;
    std::vector<std::string> names;
    NDArray::LoadFromBuffer(in.params.data(), in.params.size(), kParamsSource, &arrays, &names);
    for (size_t i = 0; i < names.size() && i < arrays.size(); ++i) params.emplace(names[i], arrays[i]);
  }
  CachedOpFlags flags;
  flags.reference_only = (in.flags & 1) && in.params.size() <= kMaxReferenceParamsBytes;
  flags.static_alloc = !(in.flags & 2);
  flags.intra_op_threads = 1;
  CachedOp op(net, params, Context::cpu(), flags);

  const auto& names = op.input_names();
  const auto& candidates = CandidateShapes();
  const size_t first = (in.flags >> 2) & 7;
  std::vector<Shape> shapes;
  PlanReport report;
  bool planned = false;
  // Attempt 0 uses the __shape__ hints where there are any; then a few fixed shapes.
  for (size_t attempt = 0; attempt < 4 && !planned; ++attempt) {
    shapes.clear();
    for (const std::string& name : names) {
      Shape hint = attempt == 0 ? HintFor(net, name) : Shape();
      shapes.push_back(hint.known() ? hint : candidates[(first + attempt) % candidates.size()]);
    }
    try {
      report = op.Plan(shapes);
      planned = true;
    } catch (const Error&) {
      if (attempt == 3) throw;
    }
  }
  size_t bytes = report.arena_bytes;
  if (report.scratch_bytes > kMaxRunBytes || bytes > kMaxRunBytes) return;
  bytes += report.scratch_bytes;
  for (const Shape& s : report.output_shapes) {
    bytes += BytesOf(s, DType::f64);  // outputs' dtype is not in the report: assume the widest
    if (bytes > kMaxRunBytes) return;
  }

  const bool f64 = in.flags & 64;
  std::vector<NDArray> inputs;
  for (const Shape& s : shapes) inputs.push_back(MakeInput(s, f64));
  std::vector<NDArray> outputs = op.Forward(inputs);
  if (outputs.size() != op.output_names().size()) __builtin_trap();
  static const bool verbose = std::getenv("TANDEM_FUZZ_VERBOSE") != nullptr;
  if (verbose) std::fprintf(stderr, "fuzz_model: ran %zu inputs -> %zu outputs\n", inputs.size(), outputs.size());
  if (in.flags & 32) {
    // Again, into the arrays of the first call: the cached plan and a reused context.
    op.Forward(inputs, &outputs);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (size_t{1} << 20)) return 0;
  try {
    Run(fuzz::SplitModelInput(data, size));
  } catch (const tandem::Error& e) {
    // TANDEM_FUZZ_VERBOSE=1: say why an input was rejected (to check that seeds get far).
    static const bool verbose = std::getenv("TANDEM_FUZZ_VERBOSE") != nullptr;
    if (verbose) std::fprintf(stderr, "fuzz_model: %s: %s\n", ErrorKindName(e.kind()), e.what());
  }
  return 0;
}
