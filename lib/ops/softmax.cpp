// The softmax family: SoftmaxOutput (its label is a training-only input), SoftmaxActivation,
// softmax and log_softmax. All reduce to SoftmaxParams.
#include "lib/ops/schema_util.hpp"
#include "lib/ops/schemas.hpp"

namespace tandem::ops {
namespace {

std::any ParseSoftmaxOutput(const AttrReader& r) {
  // grad_scale, ignore_label, use_ignore, normalization, out_grad and smooth_alpha only shape
  // the gradient.
  SoftmaxParams p;
  if (r.Bool("multi_output", false)) {
    p.axis = 1;
  } else if (r.Bool("preserve_shape", false)) {
    p.axis = -1;
  } else {
    p.axis = 1;
    p.flatten_to_2d = true;
  }
  return p;
}

// What MXNet would bind as the label: (N, spatial...) for multi_output, else data minus its last
// axis. The label is never read at inference, so a bound label of another shape is accepted.
void InferSoftmaxOutput(ShapeInferenceArgs& a) {
  const Shape& data = a.in.at(0);
  if (!data.known()) return;
  const auto& p = ParamsAs<SoftmaxParams>(a.params);
  NormalizeAxis(p.axis, data.ndim(), a.node, "softmax axis");
  if (!a.in.at(1).known()) {
    std::vector<int64_t> label;
    if (p.axis == 1 && !p.flatten_to_2d) {
      label.push_back(data[0]);
      for (int i = 2; i < data.ndim(); ++i) label.push_back(data[i]);
    } else {
      label.assign(data.begin(), data.end() - 1);
    }
    a.in[1] = Shape(std::move(label));
  }
  AssignShape(a.out, 0, data, a.node, "output");
}

std::any ParseSoftmaxActivation(const AttrReader& r) {
  // channel: over axis 1 at each position. instance: MXNet's CPU kernel views the data as
  // FlatTo2D (every leading axis times the last one), so it normalises over the LAST axis (for
  // the usual 2-d data, the same as over the flattened instance; MXNet's cuDNN kernel rejects
  // instance mode on more than 2 dims). Checked by test/conformance/cases/core.py.
  SoftmaxParams p;
  p.axis = r.Enum("mode", "instance", {"instance", "channel"}) == "instance" ? -1 : 1;
  return p;
}

std::any ParseSoftmax(const AttrReader& r, bool log) {
  SoftmaxParams p;
  p.log = log;
  const int64_t axis = r.Int("axis", -1);
  if (axis < -32 || axis >= 32) r.Fail("axis", "out of range");
  p.axis = static_cast<int>(axis);
  if (!IsUnset(r, "temperature")) {
    p.temperature = r.Float("temperature", 1.0);
    if (p.temperature == 0) r.Fail("temperature", "must not be 0");
  }
  if (OptionalBool(r, "use_length", false))
    Throw<Unsupported>("node '", r.node(), "' (", r.op(), "): use_length=True is not supported");
  if (!IsUnset(r, "dtype") && r.Str("dtype", "") != "float32")
    Throw<Unsupported>("node '", r.node(), "' (", r.op(), "): output dtype '",
                       r.Str("dtype", ""), "' is not supported");
  return p;
}

void InferSoftmax(ShapeInferenceArgs& a) {
  const Shape& data = a.in.at(0);
  if (!data.known()) return;
  NormalizeAxis(ParamsAs<SoftmaxParams>(a.params).axis, data.ndim(), a.node, "softmax axis");
  AssignShape(a.out, 0, data, a.node, "output");
}

}  // namespace

OpSchema SoftmaxOutputSchema() {
  OpSchema s = UnaryIdentitySchema("SoftmaxOutput", {"Softmax"});
  s.parse = ParseSoftmaxOutput;
  s.arguments = FixedNames({"data", "label"});
  s.infer_shape = InferSoftmaxOutput;
  s.unused_at_inference = {"label"};
  return s;
}

OpSchema SoftmaxActivationSchema() {
  OpSchema s = UnaryIdentitySchema("SoftmaxActivation");
  s.parse = ParseSoftmaxActivation;
  s.infer_shape = InferSoftmax;
  return s;
}

namespace {

// softmax along axis 0 normalises across the samples of a batch.
bool MixesBatch(const std::any& params) { return ParamsAs<SoftmaxParams>(params).axis == 0; }

}  // namespace

OpSchema SoftmaxSchema() {
  OpSchema s = UnaryIdentitySchema("softmax");
  s.parse = [](const AttrReader& r) { return ParseSoftmax(r, false); };
  s.infer_shape = InferSoftmax;
  s.mixes_batch = MixesBatch;
  return s;
}

OpSchema LogSoftmaxSchema() {
  OpSchema s = UnaryIdentitySchema("log_softmax");
  s.parse = [](const AttrReader& r) { return ParseSoftmax(r, true); };
  s.infer_shape = InferSoftmax;
  s.mixes_batch = MixesBatch;
  return s;
}

}  // namespace tandem::ops
