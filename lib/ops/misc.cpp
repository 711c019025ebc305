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

namespace {

// A copy at inference: the rewrite removes it.
OpSchema IdentityAtInference(std::string name, std::vector<std::string> aliases = {}) {
  OpSchema s = UnaryIdentitySchema(std::move(name), std::move(aliases));
  s.identity_at_inference = true;
  s.elementwise = OpSchema::Elementwise::kUnary;
  s.low_precision = true;
  return s;
}

}  // namespace

// Dropout's p, mode, axes and cudnn_off only matter in training.
OpSchema DropoutSchema() { return IdentityAtInference("Dropout"); }

OpSchema IdentitySchema() { return IdentityAtInference("identity", {"_copy"}); }

OpSchema BlockGradSchema() { return IdentityAtInference("BlockGrad", {"stop_gradient"}); }

OpSchema CastSchema() {
  OpSchema s = UnaryIdentitySchema("Cast", {"cast"});
  s.parse = ParseCast;
  s.infer_type = InferCastType;
  // Every NHWC tensor is float32 (a Convolution or Pooling made it): a Cast to anything else
  // would make a tensor that the transposes back (float32 only on the CPU) could not take.
  s.elementwise = OpSchema::Elementwise::kUnary;
  s.elementwise_if = [](const std::any& params) {
    return ParamsAs<CastParams>(params).dtype == static_cast<int>(DType::f32);
  };
  return s;
}

OpSchema ClipSchema() {
  OpSchema s = UnaryIdentitySchema("clip");
  s.parse = ParseClip;
  s.elementwise = OpSchema::Elementwise::kUnary;
  s.low_precision = true;
  return s;
}

}  // namespace tandem::ops
