// Operator family: box_nms, box_decode / box_encode, box_iou, bipartite_matching,
// MultiBoxPrior / MultiBoxDetection, ROIPooling, ROIAlign (the MXNet 1.9.1 operators behind
// GluonCV's SSD, YOLOv3, CenterNet, Faster R-CNN and RetinaFace exports). Attribute names,
// defaults, checks and shapes follow MXNet's bounding_box-inl.h, multibox_prior / _detection,
// roi_pooling and roi_align sources; lib/ref/detection*.cpp hold the kernels.
#include <cerrno>
#include <cstdlib>
#include <string>

#include "lib/ops/builtin_table.hpp"
#include "lib/ops/detection_params.hpp"
#include "lib/ops/schema_util.hpp"
#include "lib/ref/detection.hpp"

namespace tandem::ops {
namespace {

// An MXNet int field (32-bit).
int64_t Int32(const AttrReader& r, const std::string& key, int64_t fallback) {
  const int64_t v = r.Int(key, fallback);
  if (v < INT32_MIN || v > INT32_MAX) r.Fail(key, "out of the 32-bit integer range");
  return v;
}

float Float32(const AttrReader& r, const std::string& key, float fallback) {
  return static_cast<float>(r.Float(key, fallback));
}

// mxnet::Tuple<float>: "(a, b, ...)", "[a, b]", "()" or one bare number; `fallback` when absent.
std::vector<float> FloatTuple(const AttrReader& r, const std::string& key,
                              std::vector<float> fallback) {
  const std::string* raw = r.Find(key);
  if (!raw) return fallback;
  std::string s = r.Str(key, "");
  const bool bracketed = !s.empty() && (s.front() == '(' || s.front() == '[');
  if (bracketed) {
    const char close = s.front() == '(' ? ')' : ']';
    if (s.size() < 2 || s.back() != close) r.Fail(key, "unbalanced brackets in tuple");
    s = s.substr(1, s.size() - 2);
  }
  std::vector<float> out;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t comma = s.find(',', start);
    std::string item = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    const size_t b = item.find_first_not_of(" \t\n\r");
    const size_t e = item.find_last_not_of(" \t\n\r");
    item = b == std::string::npos ? std::string() : item.substr(b, e - b + 1);
    if (!item.empty()) {
      errno = 0;
      char* end = nullptr;
      const float v = std::strtof(item.c_str(), &end);
      if (errno == ERANGE || end != item.c_str() + item.size())
        r.Fail(key, "tuple element '" + item + "' is not a number");
      out.push_back(v);
    } else if (comma != std::string::npos && !(comma + 1 >= s.size() && !out.empty())) {
      r.Fail(key, "empty tuple element");
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (!bracketed && out.size() != 1) r.Fail(key, "not a tuple of numbers");
  if (out.size() > 1024) r.Fail(key, "tuple has more than 1024 elements");
  return out;
}

BoxFormat ParseFormat(const AttrReader& r, const std::string& key, const std::string& fallback) {
  return r.Enum(key, fallback, {"corner", "center"}) == "corner" ? BoxFormat::kCorner
                                                                  : BoxFormat::kCenter;
}

// pooled_size of ROIPooling / ROIAlign: required, two positive values.
void ParsePooledSize(const AttrReader& r, int64_t* h, int64_t* w) {
  if (IsUnset(r, "pooled_size")) r.Fail("pooled_size", "required attribute is missing");
  const std::vector<int64_t> size = r.Tuple("pooled_size");
  if (size.size() != 2) r.Fail("pooled_size", "must have 2 values (height, width)");
  for (int64_t v : size)
    if (v <= 0 || v > INT32_MAX) r.Fail("pooled_size", "values must be positive");
  *h = size[0];
  *w = size[1];
}

float ParseSpatialScale(const AttrReader& r) {
  const double scale = RequiredFloat(r, "spatial_scale");
  if (!(scale >= 0.0 && scale <= 1.0)) r.Fail("spatial_scale", "must be in [0, 1]");
  return static_cast<float>(scale);
}

// ---------------------------------------------------------------------------------------------
// _contrib_box_nms

std::any ParseBoxNms(const AttrReader& r) {
  BoxNmsParams p;
  p.overlap_thresh = Float32(r, "overlap_thresh", 0.5f);
  p.valid_thresh = Float32(r, "valid_thresh", 0.0f);
  p.topk = Int32(r, "topk", -1);
  p.coord_start = Int32(r, "coord_start", 2);
  p.score_index = Int32(r, "score_index", 1);
  p.id_index = Int32(r, "id_index", -1);
  p.background_id = Int32(r, "background_id", -1);
  p.force_suppress = r.Bool("force_suppress", false);
  p.in_format = ParseFormat(r, "in_format", "corner");
  p.out_format = ParseFormat(r, "out_format", "corner");
  return p;
}

void InferBoxNms(ShapeInferenceArgs& a) {
  const auto& p = ParamsAs<BoxNmsParams>(a.params);
  const Shape& data = a.in.at(0);
  if (!data.known()) return;
  if (data.ndim() < 2)
    FailShape(a.node, "box_nms needs data of at least 2 dims (..., num_box, box_width), got ",
              data.ToString());
  const int64_t width = data[-1];
  const int64_t expected = p.id_index >= 0 ? 6 : 5;
  if (width < expected)
    FailShape(a.node, "box_nms needs at least ", expected, " values per box, data is ",
              data.ToString());
  const int64_t coord_end = p.coord_start + 3;
  if (p.score_index < 0 || p.score_index >= width)
    FailShape(a.node, "score_index ", p.score_index, " is out of range for box width ", width);
  if (p.score_index >= p.coord_start && p.score_index <= coord_end)
    FailShape(a.node, "score_index ", p.score_index, " overlaps the coordinates [",
              p.coord_start, ", ", coord_end, "]");
  if (p.coord_start < 0 || coord_end >= width)
    FailShape(a.node, "coordinates [", p.coord_start, ", ", coord_end,
              "] are out of range for box width ", width);
  if (p.id_index >= 0) {
    if (p.id_index >= width)
      FailShape(a.node, "id_index ", p.id_index, " is out of range for box width ", width);
    if (p.id_index >= p.coord_start && p.id_index <= coord_end)
      FailShape(a.node, "id_index ", p.id_index, " overlaps the coordinates [", p.coord_start,
                ", ", coord_end, "]");
    if (p.id_index == p.score_index)
      FailShape(a.node, "id_index and score_index are both ", p.id_index);
  }
  AssignShape(a.out, 0, data, a.node, "output");
}

OpSchema BoxNmsSchema() {
  OpSchema s = UnaryIdentitySchema("_contrib_box_nms", {"_contrib_box_non_maximum_suppression"});
  s.parse = ParseBoxNms;
  s.infer_shape = InferBoxNms;
  return s;
}

// ---------------------------------------------------------------------------------------------
// _contrib_box_decode / _contrib_box_encode / _contrib_box_iou / _contrib_bipartite_matching

std::any ParseBoxDecode(const AttrReader& r) {
  BoxDecodeParams p;
  for (int i = 0; i < 4; ++i) p.std[i] = Float32(r, "std" + std::to_string(i), 1.0f);
  p.clip = Float32(r, "clip", -1.0f);
  p.format = ParseFormat(r, "format", "center");
  return p;
}

void InferBoxDecode(ShapeInferenceArgs& a) {
  const Shape& data = a.in.at(0);
  const Shape& anchors = a.in.at(1);
  if (anchors.known() && (anchors.ndim() < 3 || anchors[-1] != 4))
    FailShape(a.node, "box_decode needs anchors of shape (1, N, 4), got ", anchors.ToString());
  if (!data.known()) return;
  if (data.ndim() != 3 || data[2] != 4)
    FailShape(a.node, "box_decode needs data of shape (B, N, 4), got ", data.ToString());
  if (anchors.known() && anchors.Size() != data[1] * 4)
    FailShape(a.node, "box_decode anchors ", anchors.ToString(), " do not hold the ", data[1],
              " boxes of data ", data.ToString());
  AssignShape(a.out, 0, data, a.node, "output");
}

OpSchema BoxDecodeSchema() {
  OpSchema s = UnaryIdentitySchema("_contrib_box_decode");
  s.parse = ParseBoxDecode;
  s.arguments = FixedNames({"data", "anchors"});
  s.infer_shape = InferBoxDecode;
  return s;
}

void InferBoxEncode(ShapeInferenceArgs& a) {
  AssignShape(a.in, 4, Shape{4}, a.node, "means");
  AssignShape(a.in, 5, Shape{4}, a.node, "stds");
  const Shape& samples = a.in.at(0);
  const Shape& matches = a.in.at(1);
  const Shape& anchors = a.in.at(2);
  const Shape& refs = a.in.at(3);
  if (!samples.known() || !matches.known() || !anchors.known() || !refs.known()) return;
  if (samples.ndim() != 2)
    FailShape(a.node, "box_encode needs samples of shape (B, N), got ", samples.ToString());
  if (anchors.ndim() != 3 || anchors[2] != 4 || anchors[0] != samples[0] ||
      anchors[1] != samples[1])
    FailShape(a.node, "box_encode needs anchors of shape (B, N, 4) = ",
              Shape{samples[0], samples[1], 4}.ToString(), ", got ", anchors.ToString());
  if (matches.Size() != samples.Size())
    FailShape(a.node, "box_encode needs matches of shape (B, N) = ", samples.ToString(),
              ", got ", matches.ToString());
  if (refs.ndim() != 3 || refs[2] != 4 || refs[0] != samples[0])
    FailShape(a.node, "box_encode needs refs of shape (B, M, 4), got ", refs.ToString());
  AssignShape(a.out, 0, anchors, a.node, "targets");
  AssignShape(a.out, 1, anchors, a.node, "masks");
}

OpSchema BoxEncodeSchema() {
  OpSchema s = UnaryIdentitySchema("_contrib_box_encode");
  s.arguments = FixedNames({"samples", "matches", "anchors", "refs", "means", "stds"});
  s.outputs = FixedNames({"output0", "output1"});
  s.infer_shape = InferBoxEncode;
  return s;
}

void InferBoxIou(ShapeInferenceArgs& a) {
  const Shape& lhs = a.in.at(0);
  const Shape& rhs = a.in.at(1);
  if (!lhs.known() || !rhs.known()) return;
  if (lhs.ndim() < 2 || lhs[-1] != 4)
    FailShape(a.node, "box_iou needs lhs of shape (..., 4) with at least 2 dims, got ",
              lhs.ToString());
  if (rhs.ndim() < 2 || rhs[-1] != 4)
    FailShape(a.node, "box_iou needs rhs of shape (..., 4) with at least 2 dims, got ",
              rhs.ToString());
  std::vector<int64_t> out(lhs.dims().begin(), lhs.dims().end() - 1);
  out.insert(out.end(), rhs.dims().begin(), rhs.dims().end() - 1);
  AssignShape(a.out, 0, Shape(out), a.node, "output");
}

OpSchema BoxIouSchema() {
  OpSchema s = UnaryIdentitySchema("_contrib_box_iou");
  s.parse = [](const AttrReader& r) {
    return std::any(BoxIouParams{ParseFormat(r, "format", "corner")});
  };
  s.arguments = FixedNames({"lhs", "rhs"});
  s.infer_shape = InferBoxIou;
  return s;
}

void InferBipartiteMatching(ShapeInferenceArgs& a) {
  const Shape& data = a.in.at(0);
  if (!data.known()) return;
  if (data.ndim() < 2)
    FailShape(a.node, "bipartite_matching needs a score matrix of at least 2 dims, got ",
              data.ToString());
  std::vector<int64_t> rows(data.dims().begin(), data.dims().end() - 1);
  std::vector<int64_t> cols = rows;
  cols.back() = data[-1];
  AssignShape(a.out, 0, Shape(rows), a.node, "row marker");
  AssignShape(a.out, 1, Shape(cols), a.node, "column marker");
}

OpSchema BipartiteMatchingSchema() {
  OpSchema s = UnaryIdentitySchema("_contrib_bipartite_matching");
  s.parse = [](const AttrReader& r) {
    BipartiteMatchingParams p;
    p.is_ascend = r.Bool("is_ascend", false);
    p.threshold = static_cast<float>(RequiredFloat(r, "threshold"));
    p.topk = Int32(r, "topk", -1);
    return std::any(p);
  };
  s.outputs = FixedNames({"output0", "output1"});
  s.infer_shape = InferBipartiteMatching;
  return s;
}

// ---------------------------------------------------------------------------------------------
// _contrib_MultiBoxPrior / _contrib_MultiBoxDetection

std::any ParseMultiBoxPrior(const AttrReader& r) {
  MultiBoxPriorParams p;
  p.sizes = FloatTuple(r, "sizes", {1.0f});
  p.ratios = FloatTuple(r, "ratios", {1.0f});
  p.clip = r.Bool("clip", false);
  const std::vector<float> steps = FloatTuple(r, "steps", {-1.0f, -1.0f});
  const std::vector<float> offsets = FloatTuple(r, "offsets", {0.5f, 0.5f});
  if (p.sizes.empty()) r.Fail("sizes", "needs at least one size");
  if (p.ratios.empty()) r.Fail("ratios", "needs at least one ratio");
  if (steps.size() != 2) r.Fail("steps", "must have 2 values (step_y, step_x)");
  if (offsets.size() != 2) r.Fail("offsets", "must have 2 values (offset_y, offset_x)");
  for (float o : offsets)
    if (!(o >= 0.0f && o <= 1.0f)) r.Fail("offsets", "values must be in [0, 1]");
  if (!(steps[0] * steps[1] >= 0.0f)) r.Fail("steps", "must specify both step_y and step_x");
  p.steps = {steps[0], steps[1]};
  p.offsets = {offsets[0], offsets[1]};
  return p;
}

void InferMultiBoxPrior(ShapeInferenceArgs& a) {
  const auto& p = ParamsAs<MultiBoxPriorParams>(a.params);
  const Shape& data = a.in.at(0);
  if (!data.known()) return;
  if (data.ndim() < 4)
    FailShape(a.node, "MultiBoxPrior needs 4-d data (batch, channel, y, x), got ", data.ToString());
  if (data[2] <= 0 || data[3] <= 0 || data[2] > INT32_MAX || data[3] > INT32_MAX)
    FailShape(a.node, "MultiBoxPrior needs a positive height and width, got ", data.ToString());
  const int64_t per_place = static_cast<int64_t>(p.sizes.size() + p.ratios.size()) - 1;
  if (data[2] * data[3] > INT32_MAX / per_place)
    FailShape(a.node, "MultiBoxPrior: too many anchors for data ", data.ToString());
  AssignShape(a.out, 0, Shape{1, data[2] * data[3] * per_place, 4}, a.node, "output");
}

OpSchema MultiBoxPriorSchema() {
  OpSchema s = UnaryIdentitySchema("_contrib_MultiBoxPrior", {"_npx_multibox_prior"});
  s.parse = ParseMultiBoxPrior;
  s.infer_shape = InferMultiBoxPrior;
  return s;
}

std::any ParseMultiBoxDetection(const AttrReader& r) {
  MultiBoxDetectionParams p;
  p.clip = r.Bool("clip", true);
  p.threshold = Float32(r, "threshold", 0.01f);
  p.background_id = Int32(r, "background_id", 0);
  p.nms_threshold = Float32(r, "nms_threshold", 0.5f);
  p.force_suppress = r.Bool("force_suppress", false);
  const std::vector<float> variances = FloatTuple(r, "variances", {0.1f, 0.1f, 0.2f, 0.2f});
  if (variances.size() != 4) r.Fail("variances", "must have 4 values");
  for (int i = 0; i < 4; ++i) p.variances[i] = variances[i];
  p.nms_topk = Int32(r, "nms_topk", -1);
  return p;
}

void InferMultiBoxDetection(ShapeInferenceArgs& a) {
  const Shape& cls = a.in.at(0);
  const Shape& loc = a.in.at(1);
  const Shape& anchor = a.in.at(2);
  if (!cls.known() || !loc.known() || !anchor.known()) return;
  if (cls.ndim() != 3)
    FailShape(a.node, "MultiBoxDetection needs cls_prob of shape (B, classes, anchors), got ",
              cls.ToString());
  if (loc.ndim() != 2)
    FailShape(a.node, "MultiBoxDetection needs loc_pred of shape (B, anchors * 4), got ",
              loc.ToString());
  if (anchor.ndim() != 3 || anchor[2] != 4 || anchor[0] != 1)
    FailShape(a.node, "MultiBoxDetection needs anchor of shape (1, anchors, 4), got ",
              anchor.ToString());
  if (cls[2] != anchor[1] || anchor[1] <= 0)
    FailShape(a.node, "MultiBoxDetection: cls_prob ", cls.ToString(), " and anchor ",
              anchor.ToString(), " disagree on the number of anchors");
  if (loc[1] != cls[2] * 4 || loc[0] != cls[0])
    FailShape(a.node, "MultiBoxDetection: loc_pred ", loc.ToString(), " does not match cls_prob ",
              cls.ToString());
  AssignShape(a.out, 0, Shape{cls[0], anchor[1], 6}, a.node, "output");
}

OpSchema MultiBoxDetectionSchema() {
  OpSchema s = UnaryIdentitySchema("_contrib_MultiBoxDetection", {"_npx_multibox_detection"});
  s.parse = ParseMultiBoxDetection;
  s.arguments = FixedNames({"cls_prob", "loc_pred", "anchor"});
  s.infer_shape = InferMultiBoxDetection;
  return s;
}

// ---------------------------------------------------------------------------------------------
// ROIPooling / _contrib_ROIAlign

void CheckRoiInputs(const ShapeInferenceArgs& a, const Shape& data, const Shape& rois) {
  if (data.ndim() != 4)
    FailShape(a.node, "ROI pooling needs 4-d data (batch, channel, y, x), got ", data.ToString());
  if (rois.ndim() != 2 || rois[1] != 5)
    FailShape(a.node, "ROI pooling needs rois of shape (num_rois, 5), got ", rois.ToString());
}

OpSchema ROIPoolingSchema() {
  OpSchema s = UnaryIdentitySchema("ROIPooling", {"_npx_roi_pooling"});
  s.parse = [](const AttrReader& r) {
    ROIPoolingParams p;
    ParsePooledSize(r, &p.pooled_h, &p.pooled_w);
    p.spatial_scale = ParseSpatialScale(r);
    return std::any(p);
  };
  s.arguments = FixedNames({"data", "rois"});
  s.infer_shape = [](ShapeInferenceArgs& a) {
    const auto& p = ParamsAs<ROIPoolingParams>(a.params);
    const Shape& data = a.in.at(0);
    const Shape& rois = a.in.at(1);
    if (!data.known() || !rois.known()) return;
    CheckRoiInputs(a, data, rois);
    AssignShape(a.out, 0, Shape{rois[0], data[1], p.pooled_h, p.pooled_w}, a.node, "output");
  };
  return s;
}

OpSchema ROIAlignSchema() {
  OpSchema s = UnaryIdentitySchema("_contrib_ROIAlign");
  s.parse = [](const AttrReader& r) {
    ROIAlignParams p;
    ParsePooledSize(r, &p.pooled_h, &p.pooled_w);
    p.spatial_scale = ParseSpatialScale(r);
    p.sample_ratio = Int32(r, "sample_ratio", -1);
    p.position_sensitive = r.Bool("position_sensitive", false);
    p.aligned = r.Bool("aligned", false);
    return std::any(p);
  };
  s.arguments = FixedNames({"data", "rois"});
  s.infer_shape = [](ShapeInferenceArgs& a) {
    const auto& p = ParamsAs<ROIAlignParams>(a.params);
    const Shape& data = a.in.at(0);
    const Shape& rois = a.in.at(1);
    if (!data.known() || !rois.known()) return;
    CheckRoiInputs(a, data, rois);
    int64_t channels = data[1];
    if (p.position_sensitive) {
      const int64_t bins = p.pooled_h * p.pooled_w;
      if (channels % bins != 0)
        FailShape(a.node, "position-sensitive ROIAlign needs channels divisible by ", bins,
                  " (pooled_size), data is ", data.ToString());
      channels /= bins;
    }
    AssignShape(a.out, 0, Shape{rois[0], channels, p.pooled_h, p.pooled_w}, a.node, "output");
  };
  return s;
}

}  // namespace
}  // namespace tandem::ops

namespace tandem::detail {

// clang-format off
std::vector<BuiltinOp> DetectionOps() {
  return {
  {ops::BoxNmsSchema,            ref::MakeBoxNms},
  {ops::BoxDecodeSchema,         ref::MakeBoxDecode},
  {ops::BoxEncodeSchema,         ref::MakeBoxEncode},
  {ops::BoxIouSchema,            ref::MakeBoxIou},
  {ops::BipartiteMatchingSchema, ref::MakeBipartiteMatching},
  {ops::MultiBoxPriorSchema,     ref::MakeMultiBoxPrior},
  {ops::MultiBoxDetectionSchema, ref::MakeMultiBoxDetection},
  {ops::ROIPoolingSchema,        ref::MakeROIPooling},
  {ops::ROIAlignSchema,          ref::MakeROIAlign},
  };
}
// clang-format on

}  // namespace tandem::detail
