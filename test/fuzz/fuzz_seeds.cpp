// Seed-corpus generator for the fuzz targets (run by scripts/fuzz.sh):
//   fuzz_seeds OUT_DIR [MODELS_DIR]
// writes OUT_DIR/params/*, OUT_DIR/symbol/*, OUT_DIR/model/*: small graphs built with the Symbol
// API (one per operator family), their params written by NDArray::SaveToBuffer, hand-built
// records of every .params generation and dtype, and, when MODELS_DIR has them, the MNIST CNN and
// MTCNN's PNet as model inputs. The real files themselves are copied by the script.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "tandem/tandem.hpp"
#include "tandem/testing.hpp"
#include "lib/core/plan_cache.hpp"
#include "test/fuzz/fuzz_common.hpp"

using namespace tandem;
namespace fs = std::filesystem;

namespace {

// Index of each data shape in fuzz_model.cpp's candidate list (flags bits 2-4).
constexpr int kMnistShape = 0, kImage8 = 1, kVector16 = 4, kPNet12 = 5, kVolume = 6, kSequence = 7;

void Write(const fs::path& file, const std::string& bytes) {
  fs::create_directories(file.parent_path());
  std::ofstream f(file, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!f) throw std::runtime_error("cannot write " + file.string());
}

std::string ReadAll(const fs::path& file) {
  std::ifstream f(file, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string SaveMap(const std::map<std::string, NDArray>& params) {
  std::vector<NDArray> arrays;
  std::vector<std::string> names;
  for (const auto& [k, v] : params) {
    names.push_back("arg:" + k);  // the prefix MXNet writes; CachedOp strips it
    arrays.push_back(v);
  }
  return NDArray::SaveToBuffer(arrays, names);
}

struct Graph {
  std::string name;
  Symbol net;
  Shape data;
  int shape_index;
};

Symbol Residual() {
  Symbol x = op::BatchNorm("bn_data", Symbol::Variable("data"), {.eps = 2e-5, .fix_gamma = true});
  x = op::Convolution("conv0", x, {.kernel = {3, 3}, .num_filter = 4, .pad = {1, 1}, .no_bias = true});
  Symbol y = op::Activation("relu1", op::BatchNorm("bn1", x, {.fix_gamma = false}));
  y = op::Convolution("conv1", y, {.kernel = {3, 3}, .num_filter = 4, .pad = {1, 1}, .no_bias = true});
  x = op::elemwise_add("_plus0", y, x);
  x = op::Pooling("pool1", x, {.pool_type = "avg", .global_pool = true});
  return op::SoftmaxOutput("softmax", op::FullyConnected("fc1", op::Flatten(x, "flatten0"), {.num_hidden = 5}));
}

Symbol Mixed() {
  Symbol data = Symbol::Variable("data");
  Symbol parts = Operator("SliceChannel").SetParam("num_outputs", 3).SetParam("axis", 1)(data).CreateSymbol("split");
  Symbol cat = op::Concat("concat", {parts[2], parts[0], parts[1]}, 1);
  Symbol t = Operator("transpose").SetParam("axes", Shape{0, 1, 3, 2})(cat).CreateSymbol("transpose");
  Symbol r = op::Reshape("reshape", t, {0, -1});
  Symbol s = Operator("_plus_scalar").SetParam("scalar", 0.5)(r).CreateSymbol("plus");
  Symbol m = Operator("broadcast_mul")(s)(Operator("mean").SetParam("axis", 1).SetParam("keepdims", true)(s)
                                               .CreateSymbol("mean")).CreateSymbol("bmul");
  Symbol c = Operator("clip").SetParam("a_min", -1.0).SetParam("a_max", 1.0)(m).CreateSymbol("clip");
  Symbol l = op::LeakyReLU("leaky", c);
  Symbol sum = Operator("sum").SetParam("axis", Shape{1})(l).CreateSymbol("sum");
  Symbol d = Operator("_div_scalar").SetParam("scalar", 3.0)(op::Dropout("drop", l)).CreateSymbol("div");
  Symbol cast = Operator("Cast").SetParam("dtype", "float64")(d).CreateSymbol("cast");
  return Symbol::Group({op::softmax("sm", sum), cast, Operator("log_softmax")(l).CreateSymbol("lsm")});
}

std::vector<Graph> Graphs() {
  std::vector<Graph> g;
  {
    Symbol x = op::FullyConnected("fc1", Symbol::Variable("data"), {.num_hidden = 8});
    x = op::Activation("tanh1", x, {.act_type = "tanh"});
    x = op::FullyConnected("fc2", x, {.num_hidden = 4, .no_bias = true});
    g.push_back({"mlp", op::SoftmaxOutput("softmax", x), {2, 16}, kVector16});
  }
  {
    Symbol x = op::Convolution("conv1", Symbol::Variable("data"),
                               {.kernel = {3, 3}, .num_filter = 4, .stride = {1, 1}, .pad = {1, 1}});
    x = op::Activation("relu1", op::BatchNorm("bn1", x, {.fix_gamma = false}));
    x = op::Pooling("pool1", x, {.kernel = {2, 2}, .pool_type = "max", .stride = {2, 2}});
    x = op::Convolution("conv2", x, {.kernel = {2, 2}, .num_filter = 4, .dilate = {1, 1}, .num_group = 2});
    x = op::Pooling("pool2", x, {.kernel = {2, 2}, .pool_type = "avg", .pooling_convention = "full"});
    x = op::FullyConnected("fc", op::Flatten(x, "flat"), {.num_hidden = 3});
    g.push_back({"convnet", Operator("SoftmaxActivation")(x).CreateSymbol("sact"), {1, 3, 8, 8}, kImage8});
  }
  g.push_back({"residual", Residual(), {1, 3, 8, 8}, kImage8});
  g.push_back({"mixed", Mixed(), {1, 3, 8, 8}, kImage8});
  {
    Symbol x = op::Convolution("conv3d", Symbol::Variable("data"), {.kernel = {3, 3, 3}, .num_filter = 2, .pad = {1, 1, 1}});
    x = op::Pooling("gpool", x, {.pool_type = "sum", .global_pool = true});
    g.push_back({"volume", x, {1, 2, 4, 4, 4}, kVolume});
  }
  {
    Symbol x = op::Convolution("conv1d", Symbol::Variable("data"), {.kernel = {3}, .num_filter = 2, .stride = {2}});
    x = op::Pooling("pool1d", x, {.kernel = {2}, .pool_type = "max", .pooling_convention = "same"});
    x = Operator("elemwise_mul")(x)(x).CreateSymbol("square");
    g.push_back({"sequence", Operator("_rminus_scalar").SetParam("scalar", 1.0)(x).CreateSymbol("rminus"), {3, 2, 7}, kSequence});
  }
  return g;
}

// Pre-0.9 JSON as old MXNet wrote it: "param" / "attr" keys, BatchNorm without its aux inputs,
// Python-2 longs, a legacy Reshape target_shape.
const char* kLegacyJson = R"json({
  "nodes": [
    {"op": "null", "param": {}, "name": "data", "inputs": [], "backward_source_id": -1, "attr": {"__shape__": "(1, 3, 8, 8)"}},
    {"op": "null", "param": {}, "name": "c_weight", "inputs": [], "backward_source_id": -1},
    {"op": "null", "param": {}, "name": "c_bias", "inputs": [], "backward_source_id": -1},
    {"op": "Convolution", "param": {"kernel": "(3, 3)", "num_filter": "2L", "pad": "(1, 1)", "stride": "(1, 1)", "no_bias": "False", "workspace": "512"}, "name": "c", "inputs": [[0, 0], [1, 0], [2, 0]], "backward_source_id": -1},
    {"op": "null", "param": {}, "name": "bn_gamma", "inputs": [], "backward_source_id": -1},
    {"op": "null", "param": {}, "name": "bn_beta", "inputs": [], "backward_source_id": -1},
    {"op": "BatchNorm", "param": {"eps": "0.001", "fix_gamma": "True", "momentum": "0.9", "use_global_stats": "False"}, "name": "bn", "inputs": [[3, 0], [4, 0], [5, 0]], "backward_source_id": -1},
    {"op": "Reshape", "param": {"target_shape": "(0, 0)", "keep_highest": "True"}, "name": "r", "inputs": [[6, 0]], "backward_source_id": -1}
  ],
  "arg_nodes": [0, 1, 2, 4, 5],
  "heads": [[7, 0]]
})json";

// Byte-level .params records of every generation (see docs/file-formats.md).
struct Bytes {
  std::string s;
  template <class T>
  Bytes& Put(T v) {
    s.append(reinterpret_cast<const char*>(&v), sizeof(T));
    return *this;
  }
  Bytes& Header(uint64_t count) { return Put<uint64_t>(0x112).Put<uint64_t>(0).Put<uint64_t>(count); }
  Bytes& Ctx(int32_t flag) { return Put<int32_t>(1).Put<int32_t>(0).Put<int32_t>(flag); }
  Bytes& Name(const std::string& n) {
    Put<uint64_t>(n.size());
    s += n;
    return *this;
  }
};

void HandBuiltParams(const fs::path& dir) {
  {  // V1: magic, int32 ndim, int64 dims
    Bytes b;
    b.Header(1).Put<uint32_t>(0xF993FAC8).Put<int32_t>(2).Put<int64_t>(2).Put<int64_t>(2).Ctx(0);
    for (float v : {1.f, 2.f, 3.f, 4.f}) b.Put(v);
    b.Put<uint64_t>(1).Name("arg:w");
    Write(dir / "v1.params", b.s);
  }
  {  // legacy: uint32 ndim then uint32 dims
    Bytes b;
    b.Header(1).Put<uint32_t>(1).Put<uint32_t>(3).Ctx(4);
    for (int32_t v : {7, 8, 9}) b.Put(v);
    b.Put<uint64_t>(0);
    Write(dir / "legacy.params", b.s);
  }
  {  // V3 with an unknown shape (none), a 0-d scalar and a zero-sized array
    Bytes b;
    b.Header(3).Put<uint32_t>(0xF993FACA).Put<int32_t>(0).Put<int32_t>(-1);
    b.Put<uint32_t>(0xF993FACA).Put<int32_t>(0).Put<int32_t>(0).Ctx(1).Put<double>(2.5);
    b.Put<uint32_t>(0xF993FACA).Put<int32_t>(0).Put<int32_t>(2).Put<int64_t>(0).Put<int64_t>(5).Ctx(0);
    b.Put<uint64_t>(3).Name("aux:none").Name("arg:scalar").Name("arg:empty");
    Write(dir / "v3.params", b.s);
  }
  {  // V2, sparse storage (rejected) and a gpu context (loaded to the CPU)
    Bytes b;
    b.Header(2).Put<uint32_t>(0xF993FAC9).Put<int32_t>(0).Put<int32_t>(1).Put<int64_t>(2).Put<int32_t>(2).Put<int32_t>(0).Put<int32_t>(0);
    b.Put(1.f).Put(2.f);
    b.Put<uint32_t>(0xF993FAC9).Put<int32_t>(1).Put<int32_t>(1).Put<int64_t>(2);
    Write(dir / "sparse.params", b.s);
  }
  // Every dtype through the writer.
  std::vector<NDArray> arrays;
  std::vector<std::string> names;
  const DType all[] = {DType::f32, DType::f64, DType::f16, DType::bf16, DType::u8,
                       DType::i8,  DType::i32, DType::i64, DType::boolean};
  for (DType t : all) {
    NDArray a(Shape{2, 3}, Context::cpu(), t);
    std::memset(a.raw_data(), 0x11, a.nbytes());
    arrays.push_back(a);
    names.push_back(std::string("arg:") + DTypeName(t));
  }
  Write(dir / "dtypes.params", NDArray::SaveToBuffer(arrays, names));
  Write(dir / "unnamed.params", NDArray::SaveToBuffer(arrays, {}));
  Write(dir / "empty.params", NDArray::SaveToBuffer({}, {}));
  Write(dir / "with_none.params", NDArray::SaveToBuffer({NDArray(), arrays[0]}, {"a", "b"}));
}

// Graphs at the edges of the shape arithmetic (window attributes at their limit, dims near 2^63
// through a zero-sized parameter): the places where overflows were found.
void EdgeSeeds(const fs::path& out) {
  auto one_op = [](const std::string& op, const std::string& attrs) {
    return R"J({"nodes":[{"op":"null","name":"data","inputs":[]},{"op":")J" + op +
           R"J(","name":"n","attrs":)J" + attrs +
           R"J(,"inputs":[[0,0,0]]}],"heads":[[1,0,0]],"attrs":{"mxnet_version":["int",10600]}})J";
  };
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"pool-stride", one_op("Pooling", R"J({"kernel":"(2,2)","stride":"(2147483647,1)","pooling_convention":"full"})J")},
      {"pool-pad", one_op("Pooling", R"J({"kernel":"(2,2)","pad":"(2147483647,0)","pooling_convention":"same"})J")},
      {"reshape-big", one_op("Reshape", R"J({"shape":"(-1,65536,65536,65536,65536)"})J")},
      {"reshape-merge", one_op("Reshape", R"J({"shape":"(-3,-3,-2)"})J")},
      {"flatten", one_op("Flatten", "{}")},
  };
  for (const auto& [name, json] : cases) {
    Write(out / "symbol" / ("edge-" + name + "-symbol.json"), json);
    Write(out / "model" / ("edge-" + name + ".bin"), fuzz::JoinModelInput(kImage8 << 2, json, nullptr));
  }
  // A zero-sized parameter with dims near 2^62 read by Flatten, Concat and FullyConnected.
  const std::string json = R"J({"nodes":[{"op":"null","name":"data","inputs":[]},{"op":"null","name":"z","inputs":[]},
    {"op":"Concat","name":"cat","attrs":{"num_args":"2","dim":"1"},"inputs":[[1,0,0],[1,0,0]]},
    {"op":"Flatten","name":"flat","inputs":[[2,0,0]]},
    {"op":"elemwise_add","name":"add","inputs":[[0,0,0],[0,0,0]]}],
    "heads":[[3,0,0],[4,0,0]],"attrs":{"mxnet_version":["int",10600]}})J";
  NDArray z(Shape{0, int64_t{1} << 62, 3}, Context::cpu());
  const std::string params = NDArray::SaveToBuffer({z}, {"arg:z"});
  Write(out / "params" / "zero-sized-huge.params", params);
  Write(out / "model" / "edge-zero-sized-huge.bin", fuzz::JoinModelInput(kVector16 << 2, json, &params));
}

}  // namespace

// Plan cache entries (fuzz_plan_cache): one of each kind of choice the GPU factories store, an
// empty one, and a truncated one.
void PlanCacheSeeds(const fs::path& dir) {
  using tandem::detail::PlanCache;
  const std::string gpu = "NVIDIA H100 80GB HBM3 sm_90 sms 132 driver 13000 cuda 13000 tandem 0.1.0";
  const std::string cudnn = gpu + " cudnn 91000";
  const std::string conv =
      "type 0 bias/residual/relu/tensor_ops 1110 splitk on|1,64,56,56,|200704,3136,56,1,|"
      "64,64,3,3,|576,9,3,1,|1,64,56,56,|200704,3136,56,1,|1,1,|1,1,|1,1,";
  const std::string entries[][4] = {
      {cudnn, "cudnn-conv/1", conv,
       "use_graph 1 fused 1 engine 57 runtime_compiled 0 knobs 2 1 4 3 1 workspace 4096 splitk 0 "
       "0 0 ms 0.0213 0.0142 0 trials 19"},
      {cudnn, "cudnn-conv/1", conv,
       "use_graph 0 fused 0 engine -1 runtime_compiled 0 knobs 0 workspace 0 splitk 1 3 8 ms "
       "0.03 0 0.012 trials 4"},
      {cudnn, "cudnn-conv-fwd-algo/1", "type 0 tensor_ops 0 (1,64,56,56) (64,64,3,3) (1,64,56,56) "
       "nhwc 0 pad 1,1, stride 1,1, dilate 1,1, groups 1", "1"},
      {gpu, "cuda-conv/1", "direct-vs-splitk,1,64,56,56,64,56,56,3,3,1,1,1,1,1,1,0,0,1", "splitk 2 4"},
      {"", "", "", ""},
  };
  int n = 0;
  for (const auto& e : entries) {
    const std::string bytes = PlanCache::Encode({e[0], e[1], e[2], e[3]});
    Write(dir / ("entry-" + std::to_string(n++) + ".tpc"), bytes);
    if (n == 1) Write(dir / "truncated.tpc", bytes.substr(0, bytes.size() / 2));
  }
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: fuzz_seeds OUT_DIR [MODELS_DIR]\n";
    return 2;
  }
  const fs::path out = argv[1];
  const fs::path models = argc > 2 ? fs::path(argv[2]) : fs::path();
  try {
    int count = 0;
    for (const Graph& g : Graphs()) {
      auto params = testing::random_params(g.net, {{"data", g.data}});
      const std::string json = g.net.ToJSON();
      const std::string bytes = SaveMap(params);
      Write(out / "symbol" / (g.name + "-symbol.json"), json);
      Write(out / "params" / (g.name + ".params"), bytes);
      const uint8_t base = static_cast<uint8_t>(g.shape_index << 2);
      for (uint8_t extra : {0, 1, 2 | 32, 1 | 32, 64})
        Write(out / "model" / (g.name + "-" + std::to_string(extra) + ".bin"),
              fuzz::JoinModelInput(base | extra, json, &bytes));
      count += 7;
    }
    Write(out / "symbol" / "legacy-symbol.json", kLegacyJson);
    Write(out / "model" / "legacy-params-missing.bin", fuzz::JoinModelInput(kImage8 << 2, kLegacyJson, nullptr));
    {
      const Symbol legacy = Symbol::LoadJSON(kLegacyJson, "legacy");
      const std::string bytes = SaveMap(testing::random_params(legacy, {{"data", Shape{1, 3, 8, 8}}}));
      for (uint8_t extra : {0, 1})
        Write(out / "model" / ("legacy-" + std::to_string(extra) + ".bin"),
              fuzz::JoinModelInput(static_cast<uint8_t>(kImage8 << 2 | extra), kLegacyJson, &bytes));
    }
    HandBuiltParams(out / "params");
    EdgeSeeds(out);
    PlanCacheSeeds(out / "plan_cache");
    // Real models: a model input only for the small ones (the fuzzer mutates every byte).
    struct Real {
      const char* json;
      const char* params;
      int shape;
    };
    for (const Real& r : {Real{"mnist-cnn/Neural_Net-symbol.json", "mnist-cnn/Neural_Net-0100.params", kMnistShape},
                          Real{"mtcnn/det1-symbol.json", "mtcnn/det1-0001.params", kPNet12}}) {
      if (models.empty() || !fs::exists(models / r.json) || !fs::exists(models / r.params)) continue;
      const std::string params = ReadAll(models / r.params);
      const std::string name = fs::path(r.json).parent_path().string() + "-" + fs::path(r.json).stem().string();
      for (uint8_t extra : {0, 1})
        Write(out / "model" / (name + "-" + std::to_string(extra) + ".bin"),
              fuzz::JoinModelInput(static_cast<uint8_t>(r.shape << 2 | extra), ReadAll(models / r.json), &params));
      ++count;
    }
    std::cout << "fuzz_seeds: wrote seeds for " << count << " inputs under " << out << "\n";
  } catch (const std::exception& e) {
    std::cerr << "fuzz_seeds: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
