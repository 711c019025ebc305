// Activation (relu, sigmoid, tanh, softrelu, softsign) and LeakyReLU (leaky, prelu, elu, selu,
// gelu, rrelu).
#include "lib/ops/schema_util.hpp"
#include "lib/ops/schemas.hpp"

namespace tandem::ops {
namespace {

std::any ParseActivation(const AttrReader& r) {
  if (!r.Has("act_type")) r.Fail("act_type", "required attribute is missing");
  static const std::vector<std::string> kNames = {"relu", "sigmoid", "tanh", "softrelu",
                                                  "softsign"};
  static const ActType kTypes[] = {ActType::kRelu, ActType::kSigmoid, ActType::kTanh,
                                   ActType::kSoftrelu, ActType::kSoftsign};
  const std::string name = r.Enum("act_type", "", kNames);
  ActivationParams p;
  for (size_t i = 0; i < kNames.size(); ++i)
    if (name == kNames[i]) p.act = kTypes[i];
  return p;
}

std::any ParseLeakyReLU(const AttrReader& r) {
  static const std::vector<std::string> kNames = {"leaky", "prelu", "elu", "selu", "gelu",
                                                  "rrelu"};
  static const LeakyType kTypes[] = {LeakyType::kLeaky, LeakyType::kPrelu, LeakyType::kElu,
                                     LeakyType::kSelu,  LeakyType::kGelu,  LeakyType::kRrelu};
  const std::string name = r.Enum("act_type", "leaky", kNames);
  LeakyReLUParams p;
  for (size_t i = 0; i < kNames.size(); ++i)
    if (name == kNames[i]) p.act = kTypes[i];
  p.slope = r.Float("slope", 0.25);
  if (p.act == LeakyType::kRrelu) {
    // At inference rrelu is a leaky relu with the mean of its random slope range.
    const double lower = r.Float("lower_bound", 0.125);
    const double upper = r.Float("upper_bound", 0.334);
    if (lower > upper) r.Fail("lower_bound", "must not exceed upper_bound");
    p.slope = (lower + upper) / 2;
  }
  return p;
}

bool IsPrelu(const std::any& params) {
  return ParamsAs<LeakyReLUParams>(params).act == LeakyType::kPrelu;
}

void InferLeakyReLU(ShapeInferenceArgs& a) {
  const Shape& data = a.in.at(0);
  if (!data.known()) return;
  if (IsPrelu(a.params)) {
    // One slope per channel; MXNet also accepts a single shared slope of shape (1).
    const Shape per_channel{data.ndim() >= 2 ? data[1] : 1};
    const Shape& gamma = a.in.at(1);
    if (!gamma.known()) {
      a.in[1] = per_channel;
    } else if (gamma != per_channel && gamma != Shape{1}) {
      FailShape(a.node, "prelu gamma has shape ", gamma.ToString(), " but data ",
                data.ToString(), " needs ", per_channel.ToString(), " or (1)");
    }
  }
  AssignShape(a.out, 0, data, a.node, "output");
}

}  // namespace

OpSchema ActivationSchema() {
  OpSchema s = UnaryIdentitySchema("Activation");
  s.parse = ParseActivation;
  s.elementwise = OpSchema::Elementwise::kUnary;
  s.low_precision = true;
  return s;
}

OpSchema LeakyReLUSchema() {
  OpSchema s = UnaryIdentitySchema("LeakyReLU");
  s.parse = ParseLeakyReLU;
  s.arguments = [](const std::any& params) {
    return IsPrelu(params) ? std::vector<std::string>{"data", "gamma"}
                           : std::vector<std::string>{"data"};
  };
  s.infer_shape = InferLeakyReLU;
  // prelu reads a per-channel slope: element-wise only in NCHW order.
  s.elementwise = OpSchema::Elementwise::kUnary;
  s.elementwise_if = [](const std::any& params) { return !IsPrelu(params); };
  s.low_precision = true;
  return s;
}

}  // namespace tandem::ops
