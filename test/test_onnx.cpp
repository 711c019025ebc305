// ONNX import (tandem/onnx.hpp): the model zoo's mnist-8 reproduces its published outputs, models
// exported from torchvision agree with ONNX Runtime (when scripts/onnx-export-check.py has
// written them), small graphs built here check the operator mappings, and hostile files (built
// byte by byte here) give tandem::Error and nothing worse. Every case skips with a WARN when this
// build has no ONNX support or the files it needs are absent.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <catch2/catch.hpp>

#include "tandem/c_api.h"
#include "tandem/onnx.hpp"
#include "tandem/tandem.hpp"
#include "test/test_util.hpp"

using namespace tandem;
namespace fs = std::filesystem;

#define TANDEM_REQUIRE_ONNX()                                                              \
  if (!onnx::Available()) {                                                                \
    WARN("SKIPPED: this tandem was built without ONNX support (libprotobuf-dev, "           \
         "protobuf-compiler and libonnx-dev at configure time, -Donnx=auto|enabled)");      \
    CHECK_THROWS_AS(onnx::LoadFromBuffer("", 0), Unsupported);                             \
    return;                                                                                \
  }

namespace {

// ---- a protobuf writer, just enough to build ONNX files (and broken ones) in the test --------

struct Pb {
  std::string b;
  Pb& Varint(uint64_t v) {
    while (v >= 0x80) {
      b += static_cast<char>((v & 0x7f) | 0x80);
      v >>= 7;
    }
    b += static_cast<char>(v);
    return *this;
  }
  Pb& Tag(int field, int wire) { return Varint(static_cast<uint64_t>(field) << 3 | wire); }
  Pb& Int(int field, int64_t v) { return Tag(field, 0).Varint(static_cast<uint64_t>(v)); }
  Pb& Float(int field, float v) {
    Tag(field, 5);
    char bytes[4];
    std::memcpy(bytes, &v, 4);
    b.append(bytes, 4);
    return *this;
  }
  Pb& Bytes(int field, const std::string& v) {
    Tag(field, 2).Varint(v.size());
    b += v;
    return *this;
  }
  Pb& Msg(int field, const Pb& m) { return Bytes(field, m.b); }
};

// ONNX messages (field numbers from onnx.proto).
Pb Dims(Pb t, const std::vector<int64_t>& dims) {
  for (int64_t d : dims) t.Int(1, d);
  return t;
}
Pb FloatTensor(const std::string& name, const std::vector<int64_t>& dims, const std::vector<float>& v) {
  Pb t = Dims(Pb{}, dims);
  t.Int(2, 1).Bytes(8, name);
  t.Bytes(9, std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float)));
  return t;
}
Pb IntTensor(const std::string& name, const std::vector<int64_t>& dims, const std::vector<int64_t>& v) {
  Pb t = Dims(Pb{}, dims);
  t.Int(2, 7).Bytes(8, name);
  Pb packed;
  for (int64_t x : v) packed.Varint(static_cast<uint64_t>(x));
  t.Bytes(7, packed.b);
  return t;
}
// dims: > 0 fixed, -1 open ("N").
Pb ValueInfo(const std::string& name, const std::vector<int64_t>& dims, int elem_type = 1) {
  Pb shape;
  for (int64_t d : dims) {
    Pb dim;
    if (d >= 0) dim.Int(1, d);
    else dim.Bytes(2, "N");
    shape.Msg(1, dim);
  }
  Pb tensor;
  tensor.Int(1, elem_type).Msg(2, shape);
  Pb type;
  type.Msg(1, tensor);
  Pb vi;
  vi.Bytes(1, name).Msg(2, type);
  return vi;
}
Pb AttrInt(const std::string& name, int64_t v) { Pb a; a.Bytes(1, name).Int(20, 2).Int(3, v); return a; }
Pb AttrFloat(const std::string& name, float v) { Pb a; a.Bytes(1, name).Int(20, 1).Float(2, v); return a; }
Pb AttrStr(const std::string& name, const std::string& v) { Pb a; a.Bytes(1, name).Int(20, 3).Bytes(4, v); return a; }
Pb AttrInts(const std::string& name, const std::vector<int64_t>& v) {
  Pb a;
  a.Bytes(1, name).Int(20, 7);
  for (int64_t x : v) a.Int(8, x);
  return a;
}
Pb AttrTensor(const std::string& name, const Pb& t) { Pb a; a.Bytes(1, name).Int(20, 4).Msg(5, t); return a; }
Pb OnnxNode(const std::string& op, const std::vector<std::string>& in, const std::vector<std::string>& out,
        const std::string& name, const std::vector<Pb>& attrs = {}, const std::string& domain = "") {
  Pb n;
  for (const auto& s : in) n.Bytes(1, s);
  for (const auto& s : out) n.Bytes(2, s);
  n.Bytes(3, name).Bytes(4, op);
  for (const Pb& a : attrs) n.Msg(5, a);
  if (!domain.empty()) n.Bytes(7, domain);
  return n;
}
struct GraphSpec {
  std::vector<Pb> nodes, initializers, inputs, outputs;
};
std::string Model(const GraphSpec& g, int64_t opset = 13) {
  Pb graph;
  for (const Pb& n : g.nodes) graph.Msg(1, n);
  graph.Bytes(2, "test");
  for (const Pb& t : g.initializers) graph.Msg(5, t);
  for (const Pb& v : g.inputs) graph.Msg(11, v);
  for (const Pb& v : g.outputs) graph.Msg(12, v);
  Pb op;
  op.Bytes(1, "").Int(2, opset);
  Pb m;
  m.Int(1, 7).Bytes(2, "tandem-test").Msg(7, graph).Msg(8, op);
  return m.b;
}

onnx::Model LoadBytes(const std::string& bytes, const onnx::LoadOptions& o = {}) {
  return onnx::LoadFromBuffer(bytes.data(), bytes.size(), o, "<test>");
}

std::vector<float> Run1(const onnx::Model& m, const NDArray& x, bool reference = false) {
  CachedOpFlags flags;
  flags.reference_only = reference;
  CachedOp op(m.symbol, m.params, Context::cpu(), flags);
  return op.Forward({{m.inputs.at(0).name, x}})[0].ToVector<float>();
}

std::vector<float> Iota(int64_t n, float scale = 1, float offset = 0) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = offset + scale * static_cast<float>(i);
  return v;
}

void CheckClose(const std::vector<float>& got, const std::vector<float>& want, float tol = 1e-5f) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i);
    CHECK(std::fabs(got[i] - want[i]) <= tol * std::max(1.0f, std::fabs(want[i])));
  }
}

// max |a - b| / max |b|
double RelativeError(const NDArray& a, const NDArray& b) {
  const auto x = a.ToVector<float>(), y = b.ToVector<float>();
  double diff = 0, scale = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    diff = std::max(diff, std::fabs(static_cast<double>(x[i]) - y[i]));
    scale = std::max(scale, std::fabs(static_cast<double>(y[i])));
  }
  return diff / std::max(scale, 1e-30);
}

// A small valid model with a conv, initializers and several op kinds; the seed of the hostile cases.
std::string SeedModel() {
  GraphSpec g;
  g.inputs = {ValueInfo("x", {1, 2, 5, 5})};
  g.outputs = {ValueInfo("y", {1, 4})};
  g.initializers = {FloatTensor("w", {3, 2, 3, 3}, Iota(54, 0.01f)), FloatTensor("b", {3}, {0.1f, -0.2f, 0.3f}),
                    IntTensor("shape", {2}, {1, -1}), FloatTensor("fc", {12, 4}, Iota(48, 0.001f))};
  g.nodes = {OnnxNode("Conv", {"x", "w", "b"}, {"c"}, "conv", {AttrInts("pads", {0, 0, 1, 1}), AttrInts("strides", {2, 2})}),
             OnnxNode("Relu", {"c"}, {"r"}, "relu"),
             OnnxNode("Reshape", {"r", "shape"}, {"f"}, "flat"),
             OnnxNode("MatMul", {"f", "fc"}, {"y"}, "fc")};
  return Model(g);
}

// Where scripts/onnx-export-check.py wrote its exports: $TANDEM_ONNX_EXPORTS, else
// <build dir>/onnx-export (meson test runs in the build directory).
std::vector<fs::path> ExportedModels() {
  std::vector<fs::path> roots;
  if (const char* env = std::getenv("TANDEM_ONNX_EXPORTS")) roots.emplace_back(env);
  roots.emplace_back("onnx-export");
  roots.emplace_back("../onnx-export");
  std::vector<fs::path> found;
  for (const fs::path& root : roots) {
    std::error_code ec;
    if (!fs::is_directory(root, ec)) continue;
    for (const auto& entry : fs::directory_iterator(root, ec))
      if (fs::exists(entry.path() / "model.onnx") && fs::exists(entry.path() / "test_data_set_0" / "output_0.pb"))
        found.push_back(entry.path());
    if (!found.empty()) break;
  }
  std::sort(found.begin(), found.end());
  return found;
}

}  // namespace

// ---- real models --------------------------------------------------------------------------------

TEST_CASE("onnx: mnist-8 reproduces the model zoo's outputs, from several threads", "[onnx][models]") {
  TANDEM_REQUIRE_ONNX();
  TANDEM_REQUIRE_MODEL_FILE(path, "onnx-mnist8/mnist-8.onnx");
  const onnx::Model m = onnx::Load(path);
  REQUIRE(m.inputs.size() == 1);
  CHECK(m.inputs[0].name == "Input3");
  CHECK(m.inputs[0].shape == Shape{1, 1, 28, 28});
  CHECK(m.output_names == std::vector<std::string>{"Plus214_Output_0"});
  CHECK(m.opset == 8);

  std::vector<NDArray> inputs, expected;
  for (int k = 0; k < 3; ++k) {
    const std::string dir = fs::path(path).parent_path() / ("test_data_set_" + std::to_string(k));
    if (!fs::exists(dir + "/input_0.pb")) {
      WARN("SKIPPED: " << dir << "/input_0.pb is absent");
      return;
    }
    inputs.push_back(onnx::LoadTensor(dir + "/input_0.pb"));
    expected.push_back(onnx::LoadTensor(dir + "/output_0.pb"));
  }
  CachedOp fast(m.symbol, m.params, Context::cpu());
  CachedOp reference(m.symbol, m.params, Context::cpu(), {.reference_only = true});
  for (int k = 0; k < 3; ++k) {
    const double err = RelativeError(fast.Forward({inputs[k]})[0], expected[k]);
    const double ref_err = RelativeError(reference.Forward({inputs[k]})[0], expected[k]);
    std::cout << "mnist-8 test_data_set_" << k << ": max |diff| / max |expected| = " << err
              << " (reference kernels: " << ref_err << ")\n";
    CHECK(err <= 1e-3);
    CHECK(ref_err <= 1e-3);
  }
  // One CachedOp, four threads, every test set many times.
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 30; ++i) {
        const int k = (t + i) % 3;
        if (RelativeError(fast.Forward({inputs[k]})[0], expected[k]) > 1e-3) ++bad;
      }
    });
  for (auto& th : threads) th.join();
  CHECK(bad == 0);
}

TEST_CASE("onnx: models exported from torchvision agree with ONNX Runtime", "[onnx][exported]") {
  TANDEM_REQUIRE_ONNX();
  const std::vector<fs::path> models = ExportedModels();
  if (models.empty()) {
    WARN("SKIPPED: no exported models; run scripts/onnx-export-check.py --build <build dir> first "
         "(or point TANDEM_ONNX_EXPORTS at its output)");
    return;
  }
  for (const fs::path& dir : models) {
    INFO(dir.string());
    const onnx::Model m = onnx::Load((dir / "model.onnx").string());
    const NDArray x = onnx::LoadTensor((dir / "test_data_set_0" / "input_0.pb").string());
    const NDArray want = onnx::LoadTensor((dir / "test_data_set_0" / "output_0.pb").string());
    CachedOp op(m.symbol, m.params, Context::cpu());
    const NDArray got = op.Forward({x})[0];
    REQUIRE(got.shape() == want.shape());
    const double err = RelativeError(got, want);
    std::cout << dir.filename().string() << ": max |tandem - onnxruntime| / max |onnxruntime| = " << err << "\n";
    CHECK(err <= 1e-4);
  }
}

// ---- operator mappings --------------------------------------------------------------------------

TEST_CASE("onnx: Gemm with transA, transB, alpha and beta", "[onnx][ops]") {
  TANDEM_REQUIRE_ONNX();
  // A' is (2, 3): A is given as (3, 2) with transA; B' is (3, 4): B given as (4, 3) with transB.
  const std::vector<float> a = Iota(6, 0.5f, -1), b = Iota(12, 0.25f, -1.5f), c = {1, 2, 3, 4};
  GraphSpec g;
  g.inputs = {ValueInfo("a", {3, 2})};
  g.outputs = {ValueInfo("y", {2, 4})};
  g.initializers = {FloatTensor("b", {4, 3}, b), FloatTensor("c", {4}, c)};
  g.nodes = {OnnxNode("Gemm", {"a", "b", "c"}, {"y"}, "gemm",
                  {AttrInt("transA", 1), AttrInt("transB", 1), AttrFloat("alpha", 2), AttrFloat("beta", 0.5f)})};
  const onnx::Model m = LoadBytes(Model(g));
  std::vector<float> want(8);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 4; ++j) {
      float s = 0;
      for (int k = 0; k < 3; ++k) s += a[k * 2 + i] * b[j * 3 + k];
      want[i * 4 + j] = 2 * s + 0.5f * c[j];
    }
  CheckClose(Run1(m, NDArray(a, Shape{3, 2})), want);
  CheckClose(Run1(m, NDArray(a, Shape{3, 2}), true), want);
}

TEST_CASE("onnx: Softmax before opset 13 normalises the flattened trailing dims", "[onnx][ops]") {
  TANDEM_REQUIRE_ONNX();
  const std::vector<float> x = Iota(12, 0.3f, -2);
  for (int64_t opset : {11, 13}) {
    GraphSpec g;
    g.inputs = {ValueInfo("x", {2, 3, 2})};
    g.outputs = {ValueInfo("y", {2, 3, 2})};
    g.nodes = {OnnxNode("Softmax", {"x"}, {"y"}, "sm", {AttrInt("axis", 1)})};
    const onnx::Model m = LoadBytes(Model(g, opset));
    std::vector<float> want(12);
    if (opset < 13) {  // over the 6 elements of each batch item
      for (int n = 0; n < 2; ++n) {
        float sum = 0;
        for (int k = 0; k < 6; ++k) sum += std::exp(x[n * 6 + k]);
        for (int k = 0; k < 6; ++k) want[n * 6 + k] = std::exp(x[n * 6 + k]) / sum;
      }
    } else {  // over axis 1 only
      for (int n = 0; n < 2; ++n)
        for (int j = 0; j < 2; ++j) {
          float sum = 0;
          for (int c = 0; c < 3; ++c) sum += std::exp(x[n * 6 + c * 2 + j]);
          for (int c = 0; c < 3; ++c) want[n * 6 + c * 2 + j] = std::exp(x[n * 6 + c * 2 + j]) / sum;
        }
    }
    INFO("opset " << opset);
    CheckClose(Run1(m, NDArray(x, Shape{2, 3, 2})), want);
  }
}

TEST_CASE("onnx: Clip takes min / max as attributes before opset 11, as inputs after", "[onnx][ops]") {
  TANDEM_REQUIRE_ONNX();
  const std::vector<float> x = {-3, -0.5f, 2, 5.5f, 8};
  const std::vector<float> want = {0, 0, 2, 5.5f, 6};
  GraphSpec old;
  old.inputs = {ValueInfo("x", {5})};
  old.outputs = {ValueInfo("y", {5})};
  old.nodes = {OnnxNode("Clip", {"x"}, {"y"}, "relu6", {AttrFloat("min", 0), AttrFloat("max", 6)})};
  CheckClose(Run1(LoadBytes(Model(old, 7)), NDArray(x, Shape{5})), want);
  GraphSpec now = old;
  now.initializers = {FloatTensor("lo", {}, {0}), FloatTensor("hi", {}, {6})};
  now.nodes = {OnnxNode("Clip", {"x", "lo", "hi"}, {"y"}, "relu6")};
  CheckClose(Run1(LoadBytes(Model(now, 13)), NDArray(x, Shape{5})), want);
  // Only a max: the min stays open.
  now.nodes = {OnnxNode("Clip", {"x", "", "hi"}, {"y"}, "relu6")};
  CheckClose(Run1(LoadBytes(Model(now, 13)), NDArray(x, Shape{5})), {-3, -0.5f, 2, 5.5f, 6});
  // A min that is not a constant is Unsupported.
  now.nodes = {OnnxNode("Relu", {"x"}, {"r"}, "r"), OnnxNode("Clip", {"x", "r", "hi"}, {"y"}, "relu6")};
  CHECK_THROWS_AS(LoadBytes(Model(now, 13)), Unsupported);
}

TEST_CASE("onnx: Conv with auto_pad SAME_UPPER and a folded Pad pad asymmetrically", "[onnx][ops]") {
  TANDEM_REQUIRE_ONNX();
  // 1x1x4x4 input, 3x3 all-ones kernel, stride 2: SAME_UPPER pads 0 before, 1 after.
  const std::vector<float> x = Iota(16, 1, 1);  // 1..16
  auto window_sum = [&](int r0, int c0) {
    float s = 0;
    for (int r = r0; r < r0 + 3; ++r)
      for (int c = c0; c < c0 + 3; ++c)
        if (r >= 0 && r < 4 && c >= 0 && c < 4) s += x[r * 4 + c];
    return s;
  };
  const std::vector<float> want = {window_sum(0, 0), window_sum(0, 2), window_sum(2, 0), window_sum(2, 2)};
  GraphSpec g;
  g.inputs = {ValueInfo("x", {1, 1, 4, 4})};
  g.outputs = {ValueInfo("y", {1, 1, 2, 2})};
  g.initializers = {FloatTensor("w", {1, 1, 3, 3}, std::vector<float>(9, 1.0f))};
  g.nodes = {OnnxNode("Conv", {"x", "w"}, {"y"}, "conv", {AttrStr("auto_pad", "SAME_UPPER"), AttrInts("strides", {2, 2})})};
  CheckClose(Run1(LoadBytes(Model(g)), NDArray(x, Shape{1, 1, 4, 4})), want);
  CheckClose(Run1(LoadBytes(Model(g)), NDArray(x, Shape{1, 1, 4, 4}), true), want);

  // The same padding as an explicit Pad node (opset 11+: pads as an input) folded into the Conv.
  GraphSpec p = g;
  p.initializers.push_back(IntTensor("pads", {8}, {0, 0, 0, 0, 0, 0, 1, 1}));
  p.nodes = {OnnxNode("Pad", {"x", "pads"}, {"xp"}, "pad"),
             OnnxNode("Conv", {"xp", "w"}, {"y"}, "conv", {AttrInts("strides", {2, 2})})};
  const onnx::Model m = LoadBytes(Model(p));
  CheckClose(Run1(m, NDArray(x, Shape{1, 1, 4, 4})), want);
  int pads = 0, concats = 0;
  for (const auto& node : m.symbol.TopoNodes()) {
    pads += node->op_name() == "Pad";
    concats += node->op_name() == "Concat";
  }
  CHECK(pads == 1);  // the end padding is real here (the last window reads it): MXNet's Pad
  CHECK(concats == 0);

  // A Pad that a Conv cannot absorb (a non-zero value) is built explicitly.
  p.initializers.push_back(FloatTensor("v", {}, {1.0f}));
  p.nodes[0] = OnnxNode("Pad", {"x", "pads", "v"}, {"xp"}, "pad");
  std::vector<float> want1 = want;
  want1[1] += 3;  // the windows that reach the padding count 1 per padded element
  want1[2] += 3;
  want1[3] += 5;
  CheckClose(Run1(LoadBytes(Model(p)), NDArray(x, Shape{1, 1, 4, 4})), want1);

  // reflect and edge modes become MXNet's Pad with that mode (numpy's reflect: no edge repeat).
  GraphSpec r;
  r.inputs = {ValueInfo("x", {1, 1, 4, 4})};
  r.outputs = {ValueInfo("y", {1, 1, 4, 6})};
  r.initializers = {IntTensor("pads", {8}, {0, 0, 0, 1, 0, 0, 0, 1})};
  for (const char* mode : {"reflect", "edge"}) {
    r.nodes = {OnnxNode("Pad", {"x", "pads"}, {"y"}, "pad", {AttrStr("mode", mode)})};
    std::vector<float> want_rows;
    for (int row = 0; row < 4; ++row) {
      const float* v = x.data() + row * 4;
      const bool reflect = std::string(mode) == "reflect";
      const std::vector<float> padded = {reflect ? v[1] : v[0], v[0], v[1], v[2], v[3], reflect ? v[2] : v[3]};
      want_rows.insert(want_rows.end(), padded.begin(), padded.end());
    }
    CheckClose(Run1(LoadBytes(Model(r)), NDArray(x, Shape{1, 1, 4, 4})), want_rows);
  }
}

TEST_CASE("onnx: AveragePool count_include_pad and ceil_mode, MaxPool ceil_mode", "[onnx][ops]") {
  TANDEM_REQUIRE_ONNX();
  const std::vector<float> x = Iota(25, 1, 1);  // 1x1x5x5
  auto pool = [&](bool is_max, int k, int s, int p, bool ceil, bool include) {
    const int room = 5 + 2 * p - k;
    int out = (ceil ? (room + s - 1) / s : room / s) + 1;
    if (ceil && (out - 1) * s >= 5 + p) --out;
    std::vector<float> y;
    for (int r = 0; r < out; ++r)
      for (int c = 0; c < out; ++c) {
        float acc = is_max ? -1e30f : 0;
        int n = 0;
        for (int i = r * s - p; i < r * s - p + k; ++i)
          for (int j = c * s - p; j < c * s - p + k; ++j) {
            if (i < 0 || j < 0 || i >= 5 || j >= 5) continue;
            acc = is_max ? std::max(acc, x[i * 5 + j]) : acc + x[i * 5 + j];
            ++n;
          }
        // count_include_pad counts the window inside the padded input (PyTorch / MXNet).
        const int hi = std::min(r * s - p + k, 5 + p) - (r * s - p), wi = std::min(c * s - p + k, 5 + p) - (c * s - p);
        y.push_back(is_max ? acc : acc / (include ? hi * wi : n));
      }
    return y;
  };
  struct Case { bool is_max; int k, s, p; bool ceil, include; };
  for (const Case& c : {Case{false, 3, 2, 1, false, true}, Case{false, 3, 2, 1, false, false},
                        Case{false, 2, 2, 0, true, false}, Case{true, 2, 2, 0, true, false},
                        Case{true, 3, 2, 1, true, false}, Case{false, 3, 2, 1, true, false},
                        Case{true, 2, 2, 1, true, false}}) {
    GraphSpec g;
    g.inputs = {ValueInfo("x", {1, 1, 5, 5})};
    g.outputs = {ValueInfo("y", {})};
    std::vector<Pb> attrs = {AttrInts("kernel_shape", {c.k, c.k}), AttrInts("strides", {c.s, c.s}),
                             AttrInts("pads", {c.p, c.p, c.p, c.p}), AttrInt("ceil_mode", c.ceil)};
    if (!c.is_max) attrs.push_back(AttrInt("count_include_pad", c.include));
    g.nodes = {OnnxNode(c.is_max ? "MaxPool" : "AveragePool", {"x"}, {"y"}, "pool", attrs)};
    INFO((c.is_max ? "max" : "avg") << " k" << c.k << " s" << c.s << " p" << c.p << " ceil " << c.ceil
                                    << " include " << c.include);
    CheckClose(Run1(LoadBytes(Model(g, 12)), NDArray(x, Shape{1, 1, 5, 5})), pool(c.is_max, c.k, c.s, c.p, c.ceil, c.include));
  }
}

TEST_CASE("onnx: the Shape/Gather/Unsqueeze/Concat/Reshape flatten folds, with an open batch dim", "[onnx][ops]") {
  TANDEM_REQUIRE_ONNX();
  GraphSpec g;
  g.inputs = {ValueInfo("x", {-1, 2, 3, 2})};
  g.outputs = {ValueInfo("y", {-1, 12})};
  g.initializers = {IntTensor("zero", {}, {0}), IntTensor("minus1", {1}, {-1})};
  g.nodes = {OnnxNode("Shape", {"x"}, {"s"}, "shape"),
             OnnxNode("Gather", {"s", "zero"}, {"n"}, "gather", {AttrInt("axis", 0)}),
             OnnxNode("Unsqueeze", {"n"}, {"n1"}, "unsq", {AttrInts("axes", {0})}),
             OnnxNode("Concat", {"n1", "minus1"}, {"target"}, "cat", {AttrInt("axis", 0)}),
             OnnxNode("Reshape", {"x", "target"}, {"y"}, "reshape")};
  for (int64_t opset : {11, 12}) {
    const onnx::Model m = LoadBytes(Model(g, opset));
    CHECK(m.inputs.at(0).shape == Shape{-1, 2, 3, 2});
    CHECK(!m.inputs.at(0).is_static());
    CHECK(m.inputs.at(0).dim_params.at(0) == "N");
    CachedOp op(m.symbol, m.params, Context::cpu());
    for (int64_t batch : {1, 3}) {
      const NDArray y = op.Forward({NDArray(Iota(batch * 12), Shape{batch, 2, 3, 2})})[0];
      CHECK(y.shape() == Shape{batch, 12});
      CheckClose(y.ToVector<float>(), Iota(batch * 12));
    }
    // With the batch given at load time the whole chain folds to constants.
    onnx::LoadOptions o;
    o.input_shapes["x"] = Shape{5, 2, 3, 2};
    const onnx::Model fixed = LoadBytes(Model(g, opset), o);
    CHECK(fixed.inputs.at(0).shape == Shape{5, 2, 3, 2});
    CHECK(Run1(fixed, NDArray(Iota(60), Shape{5, 2, 3, 2})).size() == 60);
    o.input_shapes["x"] = Shape{5, 2, 3, 3};
    CHECK_THROWS_AS(LoadBytes(Model(g, opset), o), InvalidArgument);
  }
}

TEST_CASE("onnx: arithmetic with initializers, broadcasting and folding", "[onnx][ops]") {
  TANDEM_REQUIRE_ONNX();
  GraphSpec g;
  g.inputs = {ValueInfo("x", {2, 3})};
  g.outputs = {ValueInfo("y", {2, 3})};
  g.initializers = {FloatTensor("row", {3}, {1, 2, 3}), FloatTensor("two", {}, {2}),
                    FloatTensor("k1", {1}, {10})};
  // y = (two - x) * row / (k1 - k2) + x, where k1 - k2 folds at load time (k2: a Constant node).
  g.nodes = {OnnxNode("Constant", {}, {"k2"}, "const", {AttrTensor("value", FloatTensor("", {1}, {4}))}),
             OnnxNode("Sub", {"two", "x"}, {"a"}, "sub"), OnnxNode("Mul", {"a", "row"}, {"b"}, "mul"),
             OnnxNode("Sub", {"k1", "k2"}, {"k"}, "fold"), OnnxNode("Div", {"b", "k"}, {"c"}, "div"),
             OnnxNode("Add", {"c", "x"}, {"y"}, "add")};
  const std::vector<float> x = Iota(6, 0.5f, -1);
  std::vector<float> want(6);
  for (int i = 0; i < 6; ++i) want[i] = (2 - x[i]) * static_cast<float>(i % 3 + 1) / 6 + x[i];
  const onnx::Model m = LoadBytes(Model(g));
  CheckClose(Run1(m, NDArray(x, Shape{2, 3})), want);
  CHECK(m.params.count("arg:k1") == 0);  // folded away, not a parameter
}

TEST_CASE("onnx: BatchNormalization, PRelu, LeakyRelu, Flatten, Transpose, Concat, Identity, Dropout", "[onnx][ops]") {
  TANDEM_REQUIRE_ONNX();
  GraphSpec g;
  g.inputs = {ValueInfo("x", {1, 2, 2, 2})};
  g.outputs = {ValueInfo("y", {})};
  g.initializers = {FloatTensor("scale", {2}, {2, 0.5f}), FloatTensor("bias", {2}, {1, -1}),
                    FloatTensor("mean", {2}, {0.5f, -0.5f}), FloatTensor("var", {2}, {4, 0.25f}),
                    FloatTensor("slope", {2, 1, 1}, {0.1f, 0.2f})};
  g.nodes = {OnnxNode("BatchNormalization", {"x", "scale", "bias", "mean", "var"}, {"bn"}, "bn", {AttrFloat("epsilon", 0)}),
             OnnxNode("PRelu", {"bn", "slope"}, {"pr"}, "prelu"),
             OnnxNode("Identity", {"pr"}, {"id"}, "id"),
             OnnxNode("Dropout", {"id"}, {"dr"}, "drop"),
             OnnxNode("LeakyRelu", {"x"}, {"lr"}, "leaky", {AttrFloat("alpha", 0.5f)}),
             OnnxNode("Concat", {"dr", "lr"}, {"cat"}, "cat", {AttrInt("axis", 1)}),
             OnnxNode("Transpose", {"cat"}, {"t"}, "tr", {AttrInts("perm", {0, 2, 3, 1})}),
             OnnxNode("Flatten", {"t"}, {"y"}, "flat", {AttrInt("axis", 3)})};
  const std::vector<float> x = Iota(8, 1, -4);  // -4..3
  const onnx::Model m = LoadBytes(Model(g));
  CHECK(m.params.count("aux:mean") == 1);
  CHECK(m.params.count("aux:var") == 1);
  CHECK(m.params.count("arg:scale") == 1);
  const std::vector<float> scale = {2, 0.5f}, bias = {1, -1}, mean = {0.5f, -0.5f}, sd = {2, 0.5f}, slope = {0.1f, 0.2f};
  // cat: (1, 4, 2, 2); t: (1, 2, 2, 4); y: (4, 4) with the channel last.
  std::vector<float> want(16);
  for (int h = 0; h < 2; ++h)
    for (int w = 0; w < 2; ++w)
      for (int c = 0; c < 4; ++c) {
        float v;
        if (c < 2) {
          const float b = (x[c * 4 + h * 2 + w] - mean[c]) / sd[c] * scale[c] + bias[c];
          v = b > 0 ? b : slope[c] * b;
        } else {
          const float in = x[(c - 2) * 4 + h * 2 + w];
          v = in > 0 ? in : 0.5f * in;
        }
        want[(h * 2 + w) * 4 + c] = v;
      }
  CheckClose(Run1(m, NDArray(x, Shape{1, 2, 2, 2})), want);
}

// ---- errors --------------------------------------------------------------------------------------

TEST_CASE("onnx: unsupported operators are one Unsupported error naming every node", "[onnx][errors]") {
  TANDEM_REQUIRE_ONNX();
  GraphSpec g;
  g.inputs = {ValueInfo("x", {1, 4})};
  g.outputs = {ValueInfo("y", {1, 4})};
  g.nodes = {OnnxNode("Relu", {"x"}, {"a"}, "fine"), OnnxNode("LSTM", {"a"}, {"b"}, "my_lstm"),
             OnnxNode("FancyOp", {"b"}, {"c"}, "fancy", {}, "com.example"), OnnxNode("Erf", {"c"}, {"y"}, "erf1")};
  try {
    LoadBytes(Model(g));
    FAIL("no error");
  } catch (const Unsupported& e) {
    const std::string msg = e.what();
    INFO(msg);
    CHECK(msg.find("3 node(s)") != std::string::npos);
    CHECK(msg.find("LSTM (node 'my_lstm')") != std::string::npos);
    CHECK(msg.find("com.example.FancyOp (node 'fancy')") != std::string::npos);
    CHECK(msg.find("Erf (node 'erf1')") != std::string::npos);
  }
  // Known operators in forms tandem cannot map are collected the same way.
  GraphSpec h;
  h.inputs = {ValueInfo("x", {2, 2}), ValueInfo("z", {2, 2})};
  h.outputs = {ValueInfo("y", {2, 2}), ValueInfo("y2", {2, 2})};
  h.nodes = {OnnxNode("MatMul", {"x", "z"}, {"y"}, "mm1"), OnnxNode("MatMul", {"z", "x"}, {"y2"}, "mm2")};
  try {
    LoadBytes(Model(h));
    FAIL("no error");
  } catch (const Unsupported& e) {
    const std::string msg = e.what();
    INFO(msg);
    CHECK(msg.find("2 node(s) cannot be imported") != std::string::npos);
    CHECK(msg.find("'mm1'") != std::string::npos);
    CHECK(msg.find("'mm2'") != std::string::npos);
  }
  // Opsets outside 7..21.
  GraphSpec r;
  r.inputs = {ValueInfo("x", {1})};
  r.outputs = {ValueInfo("y", {1})};
  r.nodes = {OnnxNode("Relu", {"x"}, {"y"}, "relu")};
  CHECK_THROWS_AS(LoadBytes(Model(r, 6)), Unsupported);
  CHECK_THROWS_AS(LoadBytes(Model(r, 22)), Unsupported);
  CHECK_NOTHROW(LoadBytes(Model(r, 7)));
  CHECK_NOTHROW(LoadBytes(Model(r, 21)));
}

TEST_CASE("onnx: hostile files give tandem::Error", "[onnx][errors]") {
  TANDEM_REQUIRE_ONNX();
  const std::string seed = SeedModel();
  {
    const onnx::Model m = LoadBytes(seed);  // the seed itself is fine
    CHECK(Run1(m, NDArray(Iota(50, 0.02f), Shape{1, 2, 5, 5})).size() == 4);
  }
  SECTION("empty, garbage and every truncation") {
    CHECK_THROWS_AS(LoadBytes(""), FormatError);
    CHECK_THROWS_AS(LoadBytes("this is not a protobuf at all"), FormatError);
    CHECK_THROWS_AS(LoadBytes(std::string(1000, '\xff')), FormatError);
    int loaded = 0;
    for (size_t n = 0; n < seed.size(); ++n) {
      try {
        LoadBytes(seed.substr(0, n));
        ++loaded;
      } catch (const Error&) {
      }
    }
    CHECK(loaded < 5);  // a cut inside a field is a parse error; a cut between fields loses the graph
  }
  SECTION("wrong field types") {
    // graph (field 7) as a varint: protobuf keeps it as an unknown field, so there is no graph.
    Pb m;
    m.Int(1, 7).Int(7, 12345);
    Pb op;
    op.Int(2, 13);
    m.Msg(8, op);
    CHECK_THROWS_AS(LoadBytes(m.b), FormatError);
    // An attribute of the wrong type.
    GraphSpec g;
    g.inputs = {ValueInfo("x", {1, 1, 4, 4})};
    g.outputs = {ValueInfo("y", {})};
    g.initializers = {FloatTensor("w", {1, 1, 3, 3}, std::vector<float>(9, 1))};
    g.nodes = {OnnxNode("Conv", {"x", "w"}, {"y"}, "conv", {AttrFloat("strides", 2)})};
    CHECK_THROWS_AS(LoadBytes(Model(g)), FormatError);
    // A tensor whose data does not match its type / size.
    Pb t = Dims(Pb{}, {3, 3});
    t.Int(2, 1).Bytes(8, "w").Bytes(9, "short");
    g.initializers = {t};
    g.nodes = {OnnxNode("Conv", {"x", "w"}, {"y"}, "conv")};
    CHECK_THROWS_AS(LoadBytes(Model(g)), FormatError);
    // A tensor with data_type as a string (an unknown field): no data type at all.
    Pb u = Dims(Pb{}, {1});
    u.Bytes(2, "FLOAT").Bytes(8, "w").Bytes(9, std::string(4, '\0'));
    g.initializers = {u};
    CHECK_THROWS_AS(LoadBytes(Model(g)), Error);
    // An input that is not a tensor.
    Pb seq_type;
    seq_type.Msg(4, Pb{});
    Pb vi;
    vi.Bytes(1, "x").Msg(2, seq_type);
    g.inputs = {vi};
    g.initializers = {FloatTensor("w", {1, 1, 3, 3}, std::vector<float>(9, 1))};
    CHECK_THROWS_AS(LoadBytes(Model(g)), Unsupported);
  }
  SECTION("huge dims") {
    GraphSpec g;
    g.inputs = {ValueInfo("x", {1, 4})};
    g.outputs = {ValueInfo("y", {})};
    g.nodes = {OnnxNode("Add", {"x", "big"}, {"y"}, "add")};
    // Dims whose product overflows, and dims far beyond the bytes the tensor carries.
    g.initializers = {FloatTensor("big", {int64_t{1} << 40, int64_t{1} << 40}, {1})};
    CHECK_THROWS_AS(LoadBytes(Model(g)), FormatError);
    g.initializers = {FloatTensor("big", {int64_t{1} << 31, int64_t{1} << 31}, {1})};
    CHECK_THROWS_AS(LoadBytes(Model(g)), FormatError);
    g.initializers = {FloatTensor("big", {-4}, {1})};
    CHECK_THROWS_AS(LoadBytes(Model(g)), FormatError);
    // An input shape whose element count overflows.
    g.inputs = {ValueInfo("x", {int64_t{1} << 40, int64_t{1} << 40})};
    g.initializers = {FloatTensor("big", {1}, {1})};
    CHECK_THROWS_AS(LoadBytes(Model(g)), FormatError);
    // A Reshape to an absurd shape and a ConstantOfShape of 2^62 elements.
    g.inputs = {ValueInfo("x", {1, 4})};
    g.initializers = {IntTensor("shape", {2}, {int64_t{1} << 40, int64_t{1} << 40})};
    g.nodes = {OnnxNode("Reshape", {"x", "shape"}, {"y"}, "reshape")};
    onnx::Model m = LoadBytes(Model(g));
    CHECK_THROWS_AS(CachedOp(m.symbol, m.params, Context::cpu()).Forward({NDArray(Shape{1, 4})}), Error);
    g.nodes = {OnnxNode("ConstantOfShape", {"shape"}, {"c"}, "cos"), OnnxNode("Add", {"x", "c"}, {"y"}, "add")};
    CHECK_THROWS_AS(LoadBytes(Model(g)), Error);
    // A kernel far larger than anything real.
    g.initializers = {FloatTensor("w", {1, 1, 1}, {1})};
    g.inputs = {ValueInfo("x", {1, 1, 4})};
    g.nodes = {OnnxNode("MaxPool", {"x"}, {"y"}, "pool", {AttrInts("kernel_shape", {int64_t{1} << 50})})};
    CHECK_THROWS_AS(LoadBytes(Model(g)), FormatError);
  }
  SECTION("cyclic graph, missing values, duplicates") {
    GraphSpec g;
    g.inputs = {ValueInfo("x", {1, 4})};
    g.outputs = {ValueInfo("y", {1, 4})};
    g.nodes = {OnnxNode("Add", {"x", "b"}, {"a"}, "n1"), OnnxNode("Relu", {"a"}, {"b"}, "n2"), OnnxNode("Relu", {"b"}, {"y"}, "n3")};
    try {
      LoadBytes(Model(g));
      FAIL("no error");
    } catch (const FormatError& e) {
      CHECK(std::string(e.what()).find("cycle") != std::string::npos);
    }
    // A node reading a value nobody produces (a missing initializer).
    g.nodes = {OnnxNode("Conv", {"x", "missing_weight"}, {"y"}, "conv")};
    CHECK_THROWS_AS(LoadBytes(Model(g)), FormatError);
    // Two nodes writing the same value; a node writing over an input.
    g.nodes = {OnnxNode("Relu", {"x"}, {"y"}, "n1"), OnnxNode("Relu", {"x"}, {"y"}, "n2")};
    CHECK_THROWS_AS(LoadBytes(Model(g)), FormatError);
    g.nodes = {OnnxNode("Relu", {"x"}, {"x"}, "n1")};
    CHECK_THROWS_AS(LoadBytes(Model(g)), FormatError);
    // A graph output nobody produces; no outputs at all.
    g.nodes = {OnnxNode("Relu", {"x"}, {"z"}, "n1")};
    CHECK_THROWS_AS(LoadBytes(Model(g)), FormatError);
    g.outputs = {};
    CHECK_THROWS_AS(LoadBytes(Model(g)), FormatError);
    // Duplicate initializers; external data.
    g.outputs = {ValueInfo("z", {1, 4})};
    g.initializers = {FloatTensor("w", {1}, {1}), FloatTensor("w", {1}, {2})};
    CHECK_THROWS_AS(LoadBytes(Model(g)), FormatError);
    Pb ext = Dims(Pb{}, {1});
    Pb loc;
    loc.Bytes(1, "location").Bytes(2, "../../etc/passwd");
    ext.Int(2, 1).Bytes(8, "w").Msg(13, loc).Int(14, 1);
    g.initializers = {ext};
    CHECK_THROWS_AS(LoadBytes(Model(g)), Unsupported);
  }
  SECTION("random corruption of a valid model never crashes") {
    std::mt19937 rng(1234);
    int loaded = 0, ran = 0;
    for (int iter = 0; iter < 3000; ++iter) {
      std::string bytes = seed;
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int f = 0; f < flips; ++f) bytes[rng() % bytes.size()] = static_cast<char>(rng());
      try {
        const onnx::Model m = LoadBytes(bytes);
        ++loaded;
        if (m.inputs.size() != 1 || !m.inputs[0].is_static() || m.inputs[0].dtype != DType::f32) continue;
        if (m.inputs[0].shape.Size() > 4096) continue;
        CachedOp op(m.symbol, m.params, Context::cpu());
        if (op.input_names().size() != 1) continue;
        const PlanReport plan = op.Plan({m.inputs[0].shape});
        if (plan.arena_bytes > (64u << 20)) continue;
        NDArray x(m.inputs[0].shape);
        x.Fill(0.5f);
        op.Forward({x});
        ++ran;
      } catch (const Error&) {
      }
    }
    std::cout << "onnx corruption: " << loaded << " of 3000 mutants loaded, " << ran << " ran\n";
    SUCCEED();
  }
}

// ---- tensors and the C API ----------------------------------------------------------------------

TEST_CASE("onnx: TensorProto files round-trip", "[onnx][tensor]") {
  TANDEM_REQUIRE_ONNX();
  const fs::path dir = fs::temp_directory_path() / ("tandem_onnx_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const NDArray a(Iota(6, 0.5f), Shape{2, 3});
  onnx::SaveTensor((dir / "a.pb").string(), a, "a");
  const NDArray b = onnx::LoadTensor((dir / "a.pb").string());
  CHECK(b.shape() == Shape{2, 3});
  CHECK(b.ToVector<float>() == a.ToVector<float>());
  const NDArray i(std::vector<int64_t>{1, -2, 3}, Shape{3});
  onnx::SaveTensor((dir / "i.pb").string(), i);
  CHECK(onnx::LoadTensor((dir / "i.pb").string()).ToVector<int64_t>() == std::vector<int64_t>{1, -2, 3});
  CHECK_THROWS_AS(onnx::LoadTensor((dir / "none.pb").string()), FormatError);
  // Typed fields (not raw_data) and a 0-d tensor.
  Pb t;
  t.Int(2, 7);
  t.Bytes(7, Pb{}.Varint(42).b);
  const NDArray s = onnx::LoadTensorFromBuffer(t.b.data(), t.b.size());
  CHECK(s.shape() == Shape{1});
  CHECK(s.ToVector<int64_t>() == std::vector<int64_t>{42});
  fs::remove_all(dir);
}

TEST_CASE("onnx: the C API loads a model for TDCachedOpCreate", "[onnx][capi]") {
  TANDEM_REQUIRE_ONNX();
  const std::string bytes = SeedModel();
  TDSymbolHandle sym = nullptr;
  TDParamsHandle params = nullptr;
  REQUIRE(TDOnnxLoadFromBuffer(bytes.data(), bytes.size(), &sym, &params) == 0);
  size_t count = 0;
  REQUIRE(TDParamsCount(params, &count) == 0);
  CHECK(count == 3);  // w, b and the transposed MatMul weight; the Reshape shape folded away
  TDCachedOpHandle op = nullptr;
  REQUIRE(TDCachedOpCreate(sym, params, TD_CPU, 0, nullptr, &op) == 0);
  int inputs = 0;
  REQUIRE(TDCachedOpNumInputs(op, &inputs) == 0);
  CHECK(inputs == 1);
  CHECK(TDCachedOpFree(op) == 0);
  CHECK(TDSymbolFree(sym) == 0);
  CHECK(TDParamsFree(params) == 0);
  CHECK(TDOnnxLoadFromBuffer("garbage", 7, &sym, &params) == -1);
  CHECK(std::string(TDGetLastError()).rfind("FormatError: ", 0) == 0);
  CHECK(TDOnnxLoad("/nonexistent/model.onnx", &sym, &params) == -1);
  CHECK(TDOnnxLoad(nullptr, &sym, &params) == -1);
}
