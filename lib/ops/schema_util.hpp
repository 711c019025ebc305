// Internal: helpers shared by the operator schemas in lib/ops/*.cpp (attribute parsing, shape
// assignment with conflict checks, MXNet's Reshape rule).
#pragma once

#include <any>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "lib/ops/params.hpp"
#include "tandem/registry.hpp"

namespace tandem::ops {

// Throws ShapeError whose message starts with the node name (so the caller adds no context).
template <class... Args>
[[noreturn]] void FailShape(const std::string& node, Args&&... args) {
  Throw<ShapeError>("node '", node, "': ", std::forward<Args>(args)...);
}

// Sets shapes[i] to `expected` when it is unknown; throws ShapeError naming `what` when a known
// shape differs.
void AssignShape(std::vector<Shape>& shapes, size_t i, const Shape& expected,
                 const std::string& node, const std::string& what);

// Maps a possibly negative axis into [0, ndim); throws ShapeError when out of range.
int NormalizeAxis(int64_t axis, int ndim, const std::string& node, const std::string& what);

// {"<prefix>0", "<prefix>1", ...}.
std::vector<std::string> NumberedNames(const std::string& prefix, int64_t count);

// Returns a schema-argument callback that always yields `names`.
std::function<std::vector<std::string>(const std::any&)> FixedNames(
    std::vector<std::string> names);

// A schema with one input "data", one output "output", no aux states, NoParams and identity
// shape inference; callers replace what differs.
OpSchema UnaryIdentitySchema(std::string name, std::vector<std::string> aliases = {});

// infer_shape for ops whose output 0 has the shape of input 0.
void InferSameAsData(ShapeInferenceArgs& args);

// True when the attribute is absent or spelled "None" (MXNet's unset optional).
bool IsUnset(const AttrReader& reader, const std::string& key);

// A float attribute that must be present.
double RequiredFloat(const AttrReader& reader, const std::string& key);

// An optional<bool> attribute: `fallback` when absent or "None".
bool OptionalBool(const AttrReader& reader, const std::string& key, bool fallback);

// Largest kernel / stride / pad / dilate value accepted (2^31 - 1).
inline constexpr int64_t kMaxWindowValue = 2147483647;

// A per-spatial-dimension tuple such as stride or pad, sized to `rank`: absent or "()" gives
// `fallback` everywhere, a single value is repeated (unless `repeat_single` is false, as for
// MXNet's Deconvolution), any other length is rejected. Every value must be >= `min_value`.
std::vector<int64_t> SpatialTuple(const AttrReader& reader, const std::string& key, size_t rank,
                                  int64_t fallback, int64_t min_value, bool repeat_single = true);

// The `kernel` attribute of Convolution / Deconvolution: required, 1 to 3 values, each in
// [1, kMaxWindowValue].
std::vector<int64_t> ParseKernel(const AttrReader& reader);

// `num_filter` (required, positive) and `num_group` (default 1, positive, dividing num_filter)
// of Convolution / Deconvolution.
struct FilterGroups {
  int64_t num_filter = 0;
  int64_t num_group = 1;
};
FilterGroups ParseFilterGroups(const AttrReader& reader);

// Checks the data of a convolution-like operator with a `rank`-d kernel (rank + 2 dims, channels
// divisible by num_group; `op` names it in errors, e.g. "convolution") and returns its channels.
int64_t WindowDataChannels(const std::string& node, const Shape& data, int rank,
                           bool channels_last, int64_t num_group, const char* op);

// (n, c, spatial...) or, channel-last, (n, spatial..., c).
Shape ChannelOrdered(bool channels_last, int64_t n, int64_t c, const std::vector<int64_t>& spatial);

// MXNet's `layout` attribute of an operator with `rank` spatial dims (0: not known from the
// kernel, any rank): false for an absent / "None" layout or the channel-first one (NCW, NCHW,
// NCDHW), true for the channel-last one (NWC, NHWC, NDHWC); throws Unsupported otherwise.
bool ParseChannelsLast(const AttrReader& reader, size_t rank);

// MXNet's Reshape rule: `codes` may hold positive dims and the special values 0 (copy a dim),
// -1 (infer one dim), -2 (copy all remaining dims), -3 (merge two dims), -4 (split a dim into the
// two values that follow, one of which may be -1); `reverse` applies the rule right-to-left.
// Throws ShapeError naming `node` when the codes do not fit `in` or change the element count.
Shape InferReshape(const Shape& in, const std::vector<int64_t>& codes, bool reverse,
                   const std::string& node);

}  // namespace tandem::ops
