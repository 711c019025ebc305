// Helpers shared by the operator schemas.
#include "lib/ops/schema_util.hpp"

namespace tandem::ops {

void AssignShape(std::vector<Shape>& shapes, size_t i, const Shape& expected,
                 const std::string& node, const std::string& what) {
  Shape& current = shapes.at(i);
  if (!current.known()) {
    current = expected;
  } else if (current != expected) {
    FailShape(node, what, " has shape ", current.ToString(), " but ", expected.ToString(),
              " is expected");
  }
}

int NormalizeAxis(int64_t axis, int ndim, const std::string& node, const std::string& what) {
  if (axis < -ndim || axis >= ndim)
    FailShape(node, what, " ", axis, " is out of range for a ", ndim, "-d input");
  return static_cast<int>(axis < 0 ? axis + ndim : axis);
}

std::vector<std::string> NumberedNames(const std::string& prefix, int64_t count) {
  std::vector<std::string> names;
  names.reserve(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) names.push_back(prefix + std::to_string(i));
  return names;
}

std::function<std::vector<std::string>(const std::any&)> FixedNames(
    std::vector<std::string> names) {
  return [names = std::move(names)](const std::any&) { return names; };
}

void InferSameAsData(ShapeInferenceArgs& args) {
  if (!args.in.at(0).known()) return;
  AssignShape(args.out, 0, args.in[0], args.node, "output");
}

OpSchema UnaryIdentitySchema(std::string name, std::vector<std::string> aliases) {
  OpSchema s;
  s.name = std::move(name);
  s.aliases = std::move(aliases);
  s.parse = [](const AttrReader&) { return std::any(NoParams{}); };
  s.arguments = FixedNames({"data"});
  s.aux_states = FixedNames({});
  s.outputs = FixedNames({"output"});
  s.infer_shape = InferSameAsData;
  return s;
}

bool IsUnset(const AttrReader& reader, const std::string& key) {
  const std::string* v = reader.Find(key);
  return !v || reader.Str(key, "") == "None";
}

double RequiredFloat(const AttrReader& reader, const std::string& key) {
  if (!reader.Has(key)) reader.Fail(key, "required attribute is missing");
  return reader.Float(key, 0);
}

bool OptionalBool(const AttrReader& reader, const std::string& key, bool fallback) {
  return IsUnset(reader, key) ? fallback : reader.Bool(key, fallback);
}

std::vector<int64_t> SpatialTuple(const AttrReader& reader, const std::string& key, size_t rank,
                                  int64_t fallback, int64_t min_value, bool repeat_single) {
  std::vector<int64_t> values = reader.Tuple(key);
  if (values.empty()) {
    values.assign(rank, fallback);
  } else if (repeat_single && values.size() == 1 && rank > 1) {
    values.assign(rank, values[0]);
  } else if (values.size() != rank) {
    reader.Fail(key, "must have " + std::to_string(rank) + " values, like the kernel");
  }
  for (int64_t v : values) {
    if (v < min_value) reader.Fail(key, "values must be >= " + std::to_string(min_value));
    // Window arithmetic (x + 2 * pad, o * stride) must not overflow int64 in the schemas or the
    // kernels (pads near 2^63 did; see test_fuzz_regressions); no backend takes larger values.
    if (v > kMaxWindowValue) reader.Fail(key, "values must be <= " + std::to_string(kMaxWindowValue));
  }
  return values;
}

std::vector<int64_t> ParseKernel(const AttrReader& reader) {
  std::vector<int64_t> kernel = reader.Tuple("kernel");
  if (kernel.empty()) reader.Fail("kernel", "required attribute is missing");
  if (kernel.size() > 3) reader.Fail("kernel", "must have 1 to 3 dimensions");
  for (int64_t k : kernel)
    if (k <= 0 || k > kMaxWindowValue) reader.Fail("kernel", "values must be positive and <= 2147483647");
  return kernel;
}

FilterGroups ParseFilterGroups(const AttrReader& reader) {
  FilterGroups g;
  g.num_filter = reader.Int("num_filter");
  if (g.num_filter <= 0) reader.Fail("num_filter", "must be positive");
  g.num_group = reader.Int("num_group", 1);
  if (g.num_group <= 0) reader.Fail("num_group", "must be positive");
  if (g.num_filter % g.num_group != 0) reader.Fail("num_filter", "must be divisible by num_group");
  return g;
}

int64_t WindowDataChannels(const std::string& node, const Shape& data, int rank,
                           bool channels_last, int64_t num_group, const char* op) {
  if (data.ndim() != rank + 2)
    FailShape(node, "a ", op, " with a ", rank, "-d kernel needs ", rank + 2, "-d data, got ",
              data.ToString());
  const int64_t channels = data[ChannelAxis(channels_last, data.ndim())];
  if (channels % num_group != 0)
    FailShape(node, "data ", data.ToString(), " has ", channels,
              " channels, not divisible by num_group ", num_group);
  return channels;
}

Shape ChannelOrdered(bool channels_last, int64_t n, int64_t c, const std::vector<int64_t>& spatial) {
  std::vector<int64_t> dims = {n};
  if (!channels_last) dims.push_back(c);
  dims.insert(dims.end(), spatial.begin(), spatial.end());
  if (channels_last) dims.push_back(c);
  return Shape(dims);
}

bool ParseChannelsLast(const AttrReader& reader, size_t rank) {
  if (IsUnset(reader, "layout")) return false;
  static const char* const kFirst[] = {"NCW", "NCHW", "NCDHW"};
  static const char* const kLast[] = {"NWC", "NHWC", "NDHWC"};
  const std::string layout = reader.Str("layout", "");
  for (size_t r = 1; r <= 3; ++r) {
    if (rank != 0 && rank != r) continue;
    if (layout == kFirst[r - 1]) return false;
    if (layout == kLast[r - 1]) return true;
  }
  Throw<Unsupported>("node '", reader.node(), "' (", reader.op(), "): layout '", layout,
                     "' is not supported (only NCW / NCHW / NCDHW or NWC / NHWC / NDHWC matching "
                     "the kernel rank)");
}

}  // namespace tandem::ops
