// The operator / kernel registry and MXNet attribute parsing.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>
#include <unordered_set>

#include "lib/ops/schemas.hpp"
#include "tandem/registry.hpp"

namespace tandem {
namespace detail {
void RegisterBuiltinOps();  // lib/ops/table.cpp
}

namespace {

struct Registry {
  std::shared_mutex mutex;
  std::unordered_map<std::string, std::shared_ptr<const OpSchema>> by_name;  // names and aliases
  std::unordered_map<std::string, std::vector<std::string>> canonical_names;
  std::map<std::pair<std::string, int>, std::shared_ptr<const KernelFactory>> kernels;
  // Every schema ever registered: nodes hold raw pointers, so a re-registered op must not free
  // the schema that existing graphs still use.
  std::vector<std::shared_ptr<const OpSchema>> all_schemas;
  // The built-in table's schemas. By pointer, not name: a user may re-register a built-in name
  // with semantics tandem knows nothing about.
  std::unordered_set<const OpSchema*> builtin;
};

Registry& RawRegistry() {
  static Registry registry;
  return registry;
}

// Built-ins are registered on first use so that static-initialisation order never matters.
Registry& GetRegistry() {
  static std::once_flag once;
  std::call_once(once, [] { detail::RegisterBuiltinOps(); });
  return RawRegistry();
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\n\r");
  size_t e = s.find_last_not_of(" \t\n\r");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

bool ParseInt(const std::string& text, int64_t* out) {
  std::string s = Trim(text);
  if (s.size() > 1 && s.back() == 'L') s.pop_back();  // Python 2 longs in old files
  if (s.empty()) return false;
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || end != s.c_str() + s.size()) return false;
  *out = v;
  return true;
}

}  // namespace

const char* BackendName(Backend b) {
  switch (b) {
    case Backend::kReference: return "reference";
    case Backend::kDnnl: return "dnnl";
    case Backend::kCuda: return "cuda";
    case Backend::kCudnn: return "cudnn";
  }
  return "?";
}

namespace {

void AddSchema(OpSchema schema, bool builtin) {
  if (schema.name.empty()) Throw<InvalidArgument>("RegisterOp: operator name is empty");
  if (!schema.parse || !schema.arguments || !schema.infer_shape)
    Throw<InvalidArgument>("RegisterOp(", schema.name, "): parse, arguments and infer_shape are required");
  if (!schema.aux_states) schema.aux_states = [](const std::any&) { return std::vector<std::string>{}; };
  if (!schema.outputs) schema.outputs = [](const std::any&) { return std::vector<std::string>{"output"}; };
  auto shared = std::make_shared<const OpSchema>(std::move(schema));
  Registry& r = RawRegistry();
  std::unique_lock lock(r.mutex);
  r.all_schemas.push_back(shared);
  if (builtin) r.builtin.insert(shared.get());
  r.by_name[shared->name] = shared;
  for (const std::string& alias : shared->aliases) r.by_name[alias] = shared;
}

}  // namespace

void RegisterOp(OpSchema schema) { AddSchema(std::move(schema), false); }

namespace detail {

void RegisterBuiltinOp(OpSchema schema) { AddSchema(std::move(schema), true); }

bool IsBuiltinOp(const OpSchema& op) {
  Registry& r = GetRegistry();
  std::shared_lock lock(r.mutex);
  return r.builtin.count(&op) != 0;
}

}  // namespace detail

void RegisterKernel(const std::string& op, Backend backend, KernelFactory factory) {
  if (!factory) Throw<InvalidArgument>("RegisterKernel(", op, "): empty factory");
  Registry& r = RawRegistry();
  std::unique_lock lock(r.mutex);
  auto it = r.by_name.find(op);
  if (it == r.by_name.end()) Throw<InvalidArgument>("RegisterKernel: operator '", op, "' is not registered");
  r.kernels[{it->second->name, static_cast<int>(backend)}] =
      std::make_shared<const KernelFactory>(std::move(factory));
}

const OpSchema* FindOp(const std::string& name) {
  Registry& r = GetRegistry();
  std::shared_lock lock(r.mutex);
  auto it = r.by_name.find(name);
  return it == r.by_name.end() ? nullptr : it->second.get();
}

KernelFactory FindKernel(const std::string& op, Backend backend) {
  Registry& r = GetRegistry();
  std::shared_lock lock(r.mutex);
  auto it = r.kernels.find({op, static_cast<int>(backend)});
  return it == r.kernels.end() ? KernelFactory() : *it->second;
}

std::vector<std::string> ListOps() {
  Registry& r = GetRegistry();
  std::shared_lock lock(r.mutex);
  std::vector<std::string> names;
  for (const auto& [name, schema] : r.by_name)
    if (name == schema->name) names.push_back(name);
  std::sort(names.begin(), names.end());
  return names;
}

// ---------------------------------------------------------------------------------------------
// AttrReader

const std::string* AttrReader::Find(const std::string& key) const {
  auto it = attrs_.find(key);
  return it == attrs_.end() ? nullptr : &it->second;
}

void AttrReader::Fail(const std::string& key, const std::string& why) const {
  const std::string* v = Find(key);
  Throw<FormatError>("node '", node_, "' (", op_, "): attribute '", key, "'",
                     v ? " = '" + *v + "'" : std::string(), ": ", why);
}

int64_t AttrReader::Int(const std::string& key) const {
  if (!Find(key)) Fail(key, "required attribute is missing");
  return Int(key, 0);
}

int64_t AttrReader::Int(const std::string& key, int64_t fallback) const {
  const std::string* v = Find(key);
  if (!v) return fallback;
  int64_t out;
  if (!ParseInt(*v, &out)) Fail(key, "not an integer");
  return out;
}

bool AttrReader::OptionalInt(const std::string& key, int64_t* out) const {
  const std::string* v = Find(key);
  if (!v || Trim(*v) == "None") return false;
  if (!ParseInt(*v, out)) Fail(key, "not an integer or None");
  return true;
}

double AttrReader::Float(const std::string& key, double fallback) const {
  const std::string* v = Find(key);
  if (!v) return fallback;
  std::string s = Trim(*v);
  errno = 0;
  char* end = nullptr;
  double d = std::strtod(s.c_str(), &end);
  if (s.empty() || errno == ERANGE || end != s.c_str() + s.size()) Fail(key, "not a number");
  return d;
}

bool AttrReader::Bool(const std::string& key, bool fallback) const {
  const std::string* v = Find(key);
  if (!v) return fallback;
  std::string s = Trim(*v);
  if (s == "True" || s == "true" || s == "1") return true;
  if (s == "False" || s == "false" || s == "0") return false;
  Fail(key, "not a boolean (True/False)");
}

std::string AttrReader::Str(const std::string& key, const std::string& fallback) const {
  const std::string* v = Find(key);
  return v ? Trim(*v) : fallback;
}

std::string AttrReader::Enum(const std::string& key, const std::string& fallback,
                             const std::vector<std::string>& allowed) const {
  std::string s = Str(key, fallback);
  if (std::find(allowed.begin(), allowed.end(), s) != allowed.end()) return s;
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
  Fail(key, "expected one of: " + list);
}

std::vector<int64_t> AttrReader::Tuple(const std::string& key, std::vector<int64_t> fallback) const {
  const std::string* v = Find(key);
  if (!v) return fallback;
  std::string s = Trim(*v);
  if (s == "None") return fallback;
  if (!s.empty() && (s.front() == '(' || s.front() == '[')) {
    char close = s.front() == '(' ? ')' : ']';
    if (s.size() < 2 || s.back() != close) Fail(key, "unbalanced brackets in tuple");
    s = s.substr(1, s.size() - 2);
  }
  std::vector<int64_t> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    std::string item = Trim(s.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (!item.empty()) {
      int64_t x;
      if (!ParseInt(item, &x)) Fail(key, "tuple element '" + item + "' is not an integer");
      out.push_back(x);
    } else if (comma != std::string::npos && !(comma + 1 >= s.size() && !out.empty())) {
      Fail(key, "empty tuple element");
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (out.size() > 32) Fail(key, "tuple has more than 32 elements");
  return out;
}

}  // namespace tandem
