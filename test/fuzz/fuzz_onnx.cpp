// libFuzzer target: the ONNX importer (tandem::onnx::LoadFromBuffer) and what is done with a model
// right after loading it (building a CachedOp, planning and running a small static shape).
//
// Contract checked: any byte string either loads or throws tandem::Error; nothing else may escape,
// and no allocation may exceed what the bytes can justify (libFuzzer's -malloc_limit_mb /
// -rss_limit_mb turn an oversized allocation into a crash). Seeds: any .onnx file (the model zoo's
// mnist-8, the exports of scripts/onnx-export-check.py). In a build without ONNX support every
// input is an Unsupported error, so the target still builds and runs.
#include <cstdint>
#include <string>

#include "tandem/onnx.hpp"
#include "tandem/tandem.hpp"

using namespace tandem;

namespace {
const std::string kSource = "<fuzz>";
constexpr int64_t kMaxInputElements = 1 << 16;
constexpr size_t kMaxArenaBytes = size_t{64} << 20;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  onnx::Model m;
  try {
    m = onnx::LoadFromBuffer(data, size, {}, kSource);
  } catch (const Error&) {
    return 0;  // the only acceptable failure
  }
  try {
    m.symbol.ListInputs();
    m.symbol.ListOutputs();
    CachedOp op(m.symbol, m.params, Context::cpu(), {.reference_only = true});
    std::vector<Shape> shapes;
    std::vector<NDArray> inputs;
    for (const std::string& name : op.input_names()) {
      const onnx::GraphInput* gi = nullptr;
      for (const auto& in : m.inputs)
        if (in.name == name) gi = &in;
      if (!gi || !gi->is_static() || gi->dtype != DType::f32 || gi->shape.Size() > kMaxInputElements) return 0;
      shapes.push_back(gi->shape);
      inputs.emplace_back(gi->shape);
      inputs.back().Fill(0.25f);
    }
    const PlanReport plan = op.Plan(shapes);
    if (plan.arena_bytes + plan.scratch_bytes > kMaxArenaBytes) return 0;
    op.Forward(inputs);
  } catch (const Error&) {
  }
  return 0;
}
