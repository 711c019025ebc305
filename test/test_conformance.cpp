// MXNet conformance: every case of test/conformance/data/<family>.json (written by
// tools/conformance/generate.py from test/conformance/cases/<family>.py with MXNet 1.9.1) is run
// through tandem on every backend this machine has and compared with MXNet's own outputs, which
// the generator stored in <family>.params. MXNet is not needed here. See docs/conformance.md.
//
//   "MXNet conformance"  one section per family file (select one with -c <family>); per family,
//                        a failure lists each failing operator with its worst case.
//   "every registered operator has conformance cases"  the coverage rule: each built-in
//                        operator (canonical name) is the op of some case, or is excluded below
//                        with the reason.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "lib/ops/schemas.hpp"  // detail::IsBuiltinOp
#include "tandem/tandem.hpp"

using namespace tandem;

namespace {

// Built-in operators that have no conformance case, each with the reason. Keep it short: an
// operator belongs here only when MXNet 1.9.1 cannot produce a reference answer for it.
const std::map<std::string, std::string> kExcludedOps = {
    // {"_contrib_Example", "MXNet 1.9.1 has no CPU kernel for it"},
};

// ---------------------------------------------------------------------------------------------
// A small JSON reader for the data files (objects, arrays, strings, numbers, true/false/null).

struct Json {
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };
  Kind kind = Kind::kNull;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<Json> array;
  std::vector<std::pair<std::string, Json>> object;

  const Json& at(const std::string& key) const {
    for (const auto& [k, v] : object)
      if (k == key) return v;
    throw std::runtime_error("JSON: missing key '" + key + "'");
  }
  const std::string& str() const {
    if (kind != Kind::kString) throw std::runtime_error("JSON: expected a string");
    return string;
  }
  double num() const {
    if (kind != Kind::kNumber) throw std::runtime_error("JSON: expected a number");
    return number;
  }
};

class JsonReader {
 public:
  explicit JsonReader(const std::string& text) : s_(text) {}
  Json Document() {
    Json v = Value();
    Space();
    if (i_ != s_.size()) Fail("trailing characters");
    return v;
  }

 private:
  [[noreturn]] void Fail(const std::string& why) const {
    throw std::runtime_error("JSON: " + why + " at byte " + std::to_string(i_));
  }
  void Space() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  bool Eat(char c) {
    Space();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  void Expect(char c) {
    if (!Eat(c)) Fail(std::string("expected '") + c + "'");
  }
  bool Word(const char* w) {
    const size_t n = std::strlen(w);
    if (s_.compare(i_, n, w) != 0) return false;
    i_ += n;
    return true;
  }
  static void AppendUtf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  uint32_t Hex4() {
    if (i_ + 4 > s_.size()) Fail("truncated \\u escape");
    const uint32_t v = static_cast<uint32_t>(std::stoul(s_.substr(i_, 4), nullptr, 16));
    i_ += 4;
    return v;
  }
  std::string String() {
    Expect('"');
    std::string out;
    while (true) {
      if (i_ >= s_.size()) Fail("unterminated string");
      const char c = s_[i_++];
      if (c == '"') return out;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= s_.size()) Fail("unterminated escape");
      const char e = s_[i_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t cp = Hex4();
          if (cp >= 0xD800 && cp < 0xDC00 && Word("\\u")) cp = 0x10000 + ((cp - 0xD800) << 10) + (Hex4() - 0xDC00);
          AppendUtf8(out, cp);
          break;
        }
        default: Fail(std::string("bad escape \\") + e);
      }
    }
  }
  Json Value() {
    Space();
    if (i_ >= s_.size()) Fail("unexpected end");
    Json v;
    const char c = s_[i_];
    if (c == '{') {
      v.kind = Json::Kind::kObject;
      ++i_;
      if (Eat('}')) return v;
      do {
        Space();
        std::string key = String();
        Expect(':');
        v.object.emplace_back(std::move(key), Value());
      } while (Eat(','));
      Expect('}');
    } else if (c == '[') {
      v.kind = Json::Kind::kArray;
      ++i_;
      if (Eat(']')) return v;
      do v.array.push_back(Value());
      while (Eat(','));
      Expect(']');
    } else if (c == '"') {
      v.kind = Json::Kind::kString;
      v.string = String();
    } else if (Word("true")) {
      v.kind = Json::Kind::kBool;
      v.boolean = true;
    } else if (Word("false")) {
      v.kind = Json::Kind::kBool;
    } else if (Word("null")) {
      v.kind = Json::Kind::kNull;
    } else {
      const char* begin = s_.c_str() + i_;
      char* end = nullptr;
      v.number = std::strtod(begin, &end);
      if (end == begin) Fail("unexpected character");
      v.kind = Json::Kind::kNumber;
      i_ += static_cast<size_t>(end - begin);
    }
    return v;
  }

  const std::string& s_;
  size_t i_ = 0;
};

// ---------------------------------------------------------------------------------------------
// The data files.

struct ConformanceCase {
  std::string label;
  std::string op;      // as MXNet's symbol JSON names it
  std::string symbol;  // MXNet's tojson() text
  std::vector<std::pair<std::string, std::string>> inputs;  // name, role ("data" / "param")
  int outputs = 0;
  double rtol = 0, atol = 0;
};

struct Family {
  std::string name;
  std::vector<ConformanceCase> cases;
  std::map<std::string, NDArray> arrays;  // "<label>:in:<name>", "<label>:out:<k>"
};

// TANDEM_CONFORMANCE_DATA overrides the directory (to try regenerated data elsewhere).
std::filesystem::path DataDir() {
  if (const char* dir = std::getenv("TANDEM_CONFORMANCE_DATA")) return dir;
  return std::filesystem::path(TANDEM_SOURCE_DIR) / "test" / "conformance" / "data";
}

Family LoadFamily(const std::filesystem::path& json_path) {
  Family f;
  f.name = json_path.stem().string();
  std::ifstream in(json_path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  const Json doc = JsonReader(text.str()).Document();
  for (const Json& c : doc.at("cases").array) {
    ConformanceCase k;
    k.label = c.at("label").str();
    k.op = c.at("op").str();
    k.symbol = c.at("symbol").str();
    for (const Json& input : c.at("inputs").array)
      k.inputs.emplace_back(input.at("name").str(), input.at("role").str());
    k.outputs = static_cast<int>(c.at("outputs").num());
    k.rtol = c.at("rtol").num();
    k.atol = c.at("atol").num();
    f.cases.push_back(std::move(k));
  }
  std::filesystem::path params_path = json_path;
  params_path.replace_extension(".params");
  f.arrays = NDArray::LoadToMap(params_path.string());
  return f;
}

// Every family, loaded once per process (each section of the test case re-enters it).
const std::vector<Family>& Families() {
  static const std::vector<Family> families = [] {
    std::vector<std::filesystem::path> files;
    if (std::filesystem::is_directory(DataDir()))
      for (const auto& entry : std::filesystem::directory_iterator(DataDir()))
        if (entry.path().extension() == ".json") files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    std::vector<Family> out;
    for (const auto& file : files) {
      try {
        out.push_back(LoadFamily(file));
      } catch (const std::exception& e) {
        throw std::runtime_error(file.string() + ": " + e.what());
      }
    }
    return out;
  }();
  return families;
}

// ---------------------------------------------------------------------------------------------
// Comparison with MXNet's outputs.

bool IsFloat(DType t) {
  return t == DType::f32 || t == DType::f64 || t == DType::f16 || t == DType::bf16;
}

// Element values as doubles, read here rather than through NDArray::AsType (which is tandem's
// own Cast kernel, one of the operators under test). `a` is on the CPU.
std::vector<double> Values(const NDArray& a) {
  std::vector<double> v(static_cast<size_t>(a.size()));
  const void* p = a.raw_data();
  for (size_t i = 0; i < v.size(); ++i) {
    switch (a.dtype()) {
      case DType::f32: v[i] = static_cast<const float*>(p)[i]; break;
      case DType::f64: v[i] = static_cast<const double*>(p)[i]; break;
      case DType::f16: v[i] = ToFloat(static_cast<const f16*>(p)[i]); break;
      case DType::bf16: v[i] = ToFloat(static_cast<const bf16*>(p)[i]); break;
      case DType::u8: v[i] = static_cast<const uint8_t*>(p)[i]; break;
      case DType::i8: v[i] = static_cast<const int8_t*>(p)[i]; break;
      case DType::i32: v[i] = static_cast<const int32_t*>(p)[i]; break;
      case DType::i64: v[i] = static_cast<double>(static_cast<const int64_t*>(p)[i]); break;
      case DType::boolean: v[i] = static_cast<const uint8_t*>(p)[i] != 0; break;
    }
  }
  return v;
}

std::string IndexOf(const Shape& shape, int64_t flat) {
  std::vector<int64_t> idx(static_cast<size_t>(shape.ndim()));
  for (int d = shape.ndim() - 1; d >= 0; --d) {
    idx[d] = shape[d] ? flat % shape[d] : 0;
    flat = shape[d] ? flat / shape[d] : 0;
  }
  return Shape(idx).ToString();
}

// How far one run is from MXNet: `badness` is the worst |got - want| / (atol + rtol |want|)
// (> 1 fails; infinity for a wrong shape, dtype, integer value, NaN or exception).
struct Outcome {
  double badness = 0;
  std::string detail;  // the worst element or the error
  bool failed() const { return badness > 1; }
};

constexpr double kInf = std::numeric_limits<double>::infinity();

Outcome CompareOutput(const NDArray& got, const NDArray& want, double rtol, double atol) {
  Outcome o;
  if (got.shape() != want.shape() || got.dtype() != want.dtype()) {
    o.badness = kInf;
    o.detail = "tandem gives " + got.shape().ToString() + " " + DTypeName(got.dtype()) +
               ", MXNet " + want.shape().ToString() + " " + DTypeName(want.dtype());
    return o;
  }
  const std::vector<double> a = Values(got), b = Values(want);
  const bool exact = !IsFloat(want.dtype());
  int64_t mismatches = 0, worst = -1;
  for (size_t i = 0; i < a.size(); ++i) {
    double bad = 0;
    if (exact) {
      // Integers compare exactly; compare the bytes too, so int64 beyond 2^53 is exact.
      const size_t w = DTypeSize(got.dtype());
      bad = std::memcmp(static_cast<const char*>(got.raw_data()) + i * w,
                        static_cast<const char*>(want.raw_data()) + i * w, w) == 0 ? 0 : kInf;
    } else if (a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i]))) {
      bad = 0;
    } else if (std::isnan(a[i]) || std::isnan(b[i]) || std::isinf(a[i]) || std::isinf(b[i])) {
      bad = kInf;
    } else {
      const double allowed = atol + rtol * std::fabs(b[i]);
      const double diff = std::fabs(a[i] - b[i]);
      bad = allowed > 0 ? diff / allowed : kInf;
    }
    if (bad > 1) ++mismatches;
    if (bad > o.badness) {
      o.badness = bad;
      worst = static_cast<int64_t>(i);
    }
  }
  if (worst >= 0) {
    std::ostringstream s;
    s.precision(9);
    s << mismatches << " of " << a.size() << " elements differ; worst at " << IndexOf(want.shape(), worst)
      << ": tandem " << a[worst] << ", MXNet " << b[worst];
    if (!exact) {
      s.precision(3);
      s << " (|diff| " << std::fabs(a[worst] - b[worst]) << ", allowed "
        << atol + rtol * std::fabs(b[worst]) << ")";
    }
    o.detail = s.str();
  }
  return o;
}

struct Variant {
  std::string name;
  Context ctx;
  CachedOpFlags flags;
};

std::vector<Variant> Variants() {
  std::vector<Variant> v;
  CachedOpFlags reference;
  reference.reference_only = true;
  v.push_back({"reference", Context::cpu(), reference});
  v.push_back({"dnnl", Context::cpu(), CachedOpFlags{}});  // default flags: oneDNN, rewrites
  if (GpuAvailable()) {
    v.push_back({"gpu", Context::gpu(0), CachedOpFlags{}});
    CachedOpFlags no_cudnn;
    no_cudnn.use_cudnn = false;
    v.push_back({"gpu-no-cudnn", Context::gpu(0), no_cudnn});
  }
  return v;
}

const NDArray& Array(const Family& f, const std::string& key) {
  auto it = f.arrays.find(key);
  if (it == f.arrays.end())
    throw std::runtime_error(f.name + ".params has no array '" + key + "' (regenerate the family)");
  return it->second;
}

// Runs one case on one variant; the worst output decides.
Outcome RunCase(const Family& f, const ConformanceCase& c, const Variant& v) {
  Outcome worst;
  try {
    const Symbol symbol = Symbol::LoadJSON(c.symbol, f.name + ".json:" + c.label);
    std::map<std::string, NDArray> params, data;
    for (const auto& [name, role] : c.inputs)
      (role == "param" ? params : data)[name] = Array(f, c.label + ":in:" + name);
    const CachedOp op(symbol, params, v.ctx, v.flags);
    std::vector<NDArray> feed;
    for (const std::string& name : op.input_names()) {
      auto it = data.find(name);
      if (it == data.end()) throw std::runtime_error("the CachedOp wants data input '" + name + "', which the case binds as a parameter");
      feed.push_back(v.ctx == Context::cpu() ? it->second : it->second.Copy(v.ctx));
    }
    const std::vector<NDArray> outputs = op.Forward(feed);
    if (static_cast<int>(outputs.size()) != c.outputs) {
      worst.badness = kInf;
      worst.detail = std::to_string(outputs.size()) + " outputs, MXNet gives " + std::to_string(c.outputs);
      return worst;
    }
    for (int k = 0; k < c.outputs; ++k) {
      const NDArray got = outputs[k].ctx() == Context::cpu() ? outputs[k] : outputs[k].Copy(Context::cpu());
      Outcome o = CompareOutput(got, Array(f, c.label + ":out:" + std::to_string(k)), c.rtol, c.atol);
      if (o.badness > worst.badness) {
        worst = o;
        if (c.outputs > 1) worst.detail = "output " + std::to_string(k) + ": " + worst.detail;
      }
    }
  } catch (const std::exception& e) {
    worst.badness = kInf;
    worst.detail = std::string("threw: ") + e.what();
  }
  return worst;
}

struct OpReport {
  int cases = 0;
  std::set<std::string> failing_cases;
  std::map<std::string, int> failures_by_variant;
  double worst_badness = -1;
  std::string worst;
};

std::string FormatBadness(double b) {
  if (std::isinf(b)) return "";
  std::ostringstream s;
  s.precision(3);
  s << " [" << b << "x the tolerance]";
  return s.str();
}

}  // namespace

TEST_CASE("MXNet conformance", "[conformance]") {
  const std::vector<Family>& families = Families();
  REQUIRE(!families.empty());
  const std::vector<Variant> variants = Variants();
  for (const Family& f : families) {
    DYNAMIC_SECTION(f.name) {
      std::map<std::string, OpReport> by_op;
      int failed_runs = 0;
      for (const ConformanceCase& c : f.cases) {
        OpReport& r = by_op[c.op];
        ++r.cases;
        for (const Variant& v : variants) {
          const Outcome o = RunCase(f, c, v);
          if (!o.failed()) continue;
          ++failed_runs;
          r.failing_cases.insert(c.label);
          ++r.failures_by_variant[v.name];
          if (o.badness > r.worst_badness) {
            r.worst_badness = o.badness;
            r.worst = "case '" + c.label + "' on " + v.name + ": " + o.detail + FormatBadness(o.badness);
          }
        }
      }
      std::ostringstream report;
      int failing_ops = 0;
      for (const auto& [op, r] : by_op) {
        if (r.failing_cases.empty()) continue;
        ++failing_ops;
        report << op << ": " << r.failing_cases.size() << " of " << r.cases << " cases fail (";
        bool first = true;
        for (const auto& [variant, n] : r.failures_by_variant) {
          report << (first ? "" : ", ") << variant << " " << n;
          first = false;
        }
        report << ")\n    worst: " << r.worst << "\n";
      }
      std::string backends;
      for (const Variant& v : variants) backends += (backends.empty() ? "" : ", ") + v.name;
      INFO("family '" << f.name << "': " << f.cases.size() << " cases of " << by_op.size()
                      << " operators on " << backends << "; " << failing_ops
                      << " operators fail:\n" << report.str());
      CHECK(failed_runs == 0);
    }
  }
}

TEST_CASE("every registered operator has conformance cases", "[conformance]") {
  std::set<std::string> covered;
  std::vector<std::string> unknown;
  for (const Family& f : Families())
    for (const ConformanceCase& c : f.cases) {
      if (const OpSchema* s = FindOp(c.op)) {
        covered.insert(s->name);
      } else {
        unknown.push_back(f.name + ": " + c.op);
      }
    }
  std::vector<std::string> missing, stale_exclusions;
  for (const std::string& name : ListOps()) {
    const OpSchema* s = FindOp(name);
    if (!s || !detail::IsBuiltinOp(*s)) continue;
    if (kExcludedOps.count(name)) {
      if (covered.count(name)) stale_exclusions.push_back(name + " (it has cases now)");
      continue;
    }
    if (!covered.count(name)) missing.push_back(name);
  }
  for (const auto& [name, why] : kExcludedOps)
    if (!FindOp(name)) stale_exclusions.push_back(name + " (not registered)");

  {
    std::ostringstream msg;
    msg << missing.size() << " built-in operators have no case in test/conformance/cases/ "
        << "(add cases and run tools/conformance/generate.py, see docs/conformance.md):";
    for (const std::string& m : missing) msg << "\n    " << m;
    INFO(msg.str());
    CHECK(missing.empty());
  }
  {
    std::ostringstream s;
    for (const std::string& e : stale_exclusions) s << "\n    " << e;
    INFO("kExcludedOps in test/test_conformance.cpp lists:" << s.str());
    CHECK(stale_exclusions.empty());
  }
  if (!unknown.empty()) {
    std::ostringstream s;
    for (const std::string& u : unknown) s << "\n    " << u;
    WARN("cases for operators tandem does not register (their family section fails):" << s.str());
  }
}
