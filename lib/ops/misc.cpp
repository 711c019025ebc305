// Ops that are copies at inference (Dropout, identity, BlockGrad), Cast and clip.
#include "lib/ops/schema_util.hpp"
#include "lib/ops/schemas.hpp"

namespace tandem::ops {
namespace {

std::any ParseCast(const AttrReader& r) {
  if (!r.Has("dtype")) r.Fail("dtype", "required attribute is missing");
  try {
    return std::any(CastParams{static_cast<int>(ParseDType(r.Str("dtype", "")))});
  } catch (const InvalidArgument& e) {
    r.Fail("dtype", e.what());
  }
}

void InferCastType(const std::any& params, std::vector<DType>&, std::vector<DType>& out) {
  out.at(0) = static_cast<DType>(ParamsAs<CastParams>(params).dtype);
}

std::any ParseClip(const AttrReader& r) {
  ClipParams p;
  p.a_min = RequiredFloat(r, "a_min");
  p.a_max = RequiredFloat(r, "a_max");
  if (!(p.a_min <= p.a_max)) r.Fail("a_min", "must not exceed a_max");
  return p;
}

}  // namespace

// Dropout's p, mode, axes and cudnn_off only matter in training.
OpSchema DropoutSchema() { return UnaryIdentitySchema("Dropout"); }

OpSchema IdentitySchema() { return UnaryIdentitySchema("identity", {"_copy"}); }

OpSchema BlockGradSchema() { return UnaryIdentitySchema("BlockGrad", {"stop_gradient"}); }

OpSchema CastSchema() {
  OpSchema s = UnaryIdentitySchema("Cast", {"cast"});
  s.parse = ParseCast;
  s.infer_type = InferCastType;
  return s;
}

OpSchema ClipSchema() {
  OpSchema s = UnaryIdentitySchema("clip");
  s.parse = ParseClip;
  return s;
}

}  // namespace tandem::ops
