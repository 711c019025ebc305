// MTCNN face detection, face alignment and gender/age; see face.hpp.
//
// The cascade follows InsightFace's MXNet detector (deploy/mtcnn_detector.py): an image pyramid
// (scale step 0.709 from 12 / min_face down to a 12-pixel short side) through P-Net, candidate
// windows merged by non-maximum suppression, squared, cropped (zero padding outside the image),
// resized to 24x24 for R-Net and 48x48 for O-Net, each stage refining the boxes and dropping
// windows below its threshold; O-Net gives the five landmarks. Resizes use stb_image_resize's
// triangle filter where the reference uses OpenCV's bilinear.
#include "samples/face.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "samples/preprocess.hpp"
#include "tandem/error.hpp"
#include "tandem/ndarray.hpp"
#include "tandem/symbol.hpp"

namespace tandem::samples {
namespace {

CachedOp LoadModel(const std::string& prefix, int epoch, Context ctx, size_t cached_shapes) {
  char suffix[32];
  std::snprintf(suffix, sizeof suffix, "-%04d.params", epoch);
  CachedOpFlags flags;
  flags.max_cached_shapes = cached_shapes;
  // Small networks, many concurrent callers: one thread per call (an OpenMP team per call costs
  // more than these layers, and N callers x M threads would oversubscribe the cores).
  flags.intra_op_threads = 1;
  return CachedOp(Symbol::Load(prefix + "-symbol.json"), NDArray::LoadToMap(prefix + suffix), ctx, flags);
}

// An output's values on the host (the models may run on a GPU).
std::vector<float> Host(const NDArray& a) { return a.to(Context::cpu()).ToVector<float>(); }

// MTCNN's input: B, G, R planes, (v - 127.5) / 128 (= * 0.0078125, exactly).
Preprocess MtcnnInput() {
  Preprocess p;
  p.resize = Preprocess::ResizeMode::kNone;
  p.bgr = true;
  p.norm.mean = {127.5f, 127.5f, 127.5f};
  p.norm.std = {128.0f, 128.0f, 128.0f};
  p.source = "MTCNN";
  return p;
}

struct Candidate {
  float x1, y1, x2, y2, score;
  std::array<float, 4> reg{};         // box regression (dx1, dy1, dx2, dy2), in box sizes
  std::array<float, 10> points{};     // O-Net: x1..x5, y1..y5
};

float Area(const Candidate& c) { return (c.x2 - c.x1 + 1) * (c.y2 - c.y1 + 1); }

// Greedy non-maximum suppression, highest score first; overlap is intersection over union
// ("Union") or over the smaller box ("Min"), pixel-inclusive as in MTCNN.
std::vector<Candidate> Nms(std::vector<Candidate> boxes, float threshold, bool min_mode) {
  std::stable_sort(boxes.begin(), boxes.end(), [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
  std::vector<Candidate> kept;
  std::vector<bool> dropped(boxes.size(), false);
  for (size_t i = 0; i < boxes.size(); ++i) {
    if (dropped[i]) continue;
    kept.push_back(boxes[i]);
    for (size_t j = i + 1; j < boxes.size(); ++j) {
      if (dropped[j]) continue;
      const float w = std::max(0.0f, std::min(boxes[i].x2, boxes[j].x2) - std::max(boxes[i].x1, boxes[j].x1) + 1);
      const float h = std::max(0.0f, std::min(boxes[i].y2, boxes[j].y2) - std::max(boxes[i].y1, boxes[j].y1) + 1);
      const float inter = w * h;
      const float denom = min_mode ? std::min(Area(boxes[i]), Area(boxes[j])) : Area(boxes[i]) + Area(boxes[j]) - inter;
      if (inter / denom > threshold) dropped[j] = true;
    }
  }
  return kept;
}

void Calibrate(Candidate& c) {
  const float w = c.x2 - c.x1 + 1, h = c.y2 - c.y1 + 1;
  c.x1 += c.reg[0] * w;
  c.y1 += c.reg[1] * h;
  c.x2 += c.reg[2] * w;
  c.y2 += c.reg[3] * h;
}

// Square around the centre, side = the longer side; corners rounded to whole pixels.
void Square(Candidate& c) {
  const float w = c.x2 - c.x1 + 1, h = c.y2 - c.y1 + 1, side = std::max(w, h);
  const float x1 = c.x1 + w * 0.5f - side * 0.5f, y1 = c.y1 + h * 0.5f - side * 0.5f;
  c.x1 = std::nearbyint(x1);
  c.y1 = std::nearbyint(y1);
  c.x2 = std::nearbyint(x1 + side - 1);
  c.y2 = std::nearbyint(y1 + side - 1);
}

// Runs a 24x24 / 48x48 stage on every candidate's crop, in batches padded to a power of two (so
// the CachedOp sees at most 7 batch shapes whatever the candidate count). Returns each output as
// rows of the candidates.
std::vector<std::vector<float>> RunStage(const CachedOp& net, const RgbImage& image,
                                         const std::vector<Candidate>& boxes, int side) {
  const Preprocess input = MtcnnInput();
  const size_t per = static_cast<size_t>(3) * side * side;
  std::vector<std::vector<float>> outputs;
  constexpr size_t kMaxBatch = 64;
  for (size_t start = 0; start < boxes.size(); start += kMaxBatch) {
    const size_t n = std::min(kMaxBatch, boxes.size() - start);
    size_t padded = 1;
    while (padded < n) padded *= 2;
    std::vector<float> batch(padded * per, 0.0f);
    for (size_t i = 0; i < n; ++i) {
      const Candidate& c = boxes[start + i];
      const int x = static_cast<int>(c.x1), y = static_cast<int>(c.y1);
      const int w = static_cast<int>(c.x2 - c.x1 + 1), h = static_cast<int>(c.y2 - c.y1 + 1);
      if (w < 1 || h < 1) continue;  // a degenerate box stays black and fails the threshold
      const std::vector<float> t =
          ToTensor(input, Resize(Crop(image, x, y, w, h), side, side)).ToVector<float>();
      std::copy(t.begin(), t.end(), batch.begin() + static_cast<std::ptrdiff_t>(i * per));
    }
    const std::vector<NDArray> out = net.Forward(
        std::vector<NDArray>{NDArray(batch, Shape{static_cast<int64_t>(padded), 3, side, side}, net.context())});
    if (outputs.empty()) outputs.resize(out.size());
    for (size_t k = 0; k < out.size(); ++k) {
      const std::vector<float> v = Host(out[k]);
      const size_t row = v.size() / padded;
      outputs[k].insert(outputs[k].end(), v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n * row));
    }
  }
  return outputs;
}

void RequireOutputs(const std::vector<std::vector<float>>& out, size_t count, size_t rows,
                    const std::vector<size_t>& widths, const char* stage) {
  if (out.size() != count) Throw<FormatError>("MTCNN ", stage, ": expected ", count, " outputs, got ", out.size());
  for (size_t k = 0; k < count; ++k)
    if (out[k].size() != rows * widths[k])
      Throw<FormatError>("MTCNN ", stage, ": output ", k, " has ", out[k].size(), " values, expected ",
                         rows * widths[k]);
}

}  // namespace

MtcnnDetector::MtcnnDetector(const std::string& dir, Context ctx)
    : pnet_(LoadModel(dir + "/det1", 1, ctx, 64)),
      rnet_(LoadModel(dir + "/det2", 1, ctx, 16)),
      onet_(LoadModel(dir + "/det3", 1, ctx, 16)) {}

std::vector<Face> MtcnnDetector::Detect(const RgbImage& image, const MtcnnOptions& o) const {
  if (!(o.min_face >= 1.0f) || !(o.factor > 0.1f && o.factor < 0.95f))
    Throw<InvalidArgument>("MTCNN: min_face must be >= 1 and factor in (0.1, 0.95), got ", o.min_face,
                           " and ", o.factor);
  if (image.width <= 0 || image.height <= 0) Throw<InvalidArgument>("MTCNN: empty image");
  const Preprocess input = MtcnnInput();

  // Stage 1: P-Net over the pyramid. P-Net is fully convolutional: a 12x12 window every 2 pixels.
  std::vector<Candidate> all;
  const double m = 12.0 / o.min_face;
  double side = std::min(image.width, image.height) * m;
  for (int level = 0; side > 12.0; ++level, side *= o.factor) {
    const double scale = m * std::pow(static_cast<double>(o.factor), level);
    const int ws = static_cast<int>(std::ceil(image.width * scale));
    const int hs = static_cast<int>(std::ceil(image.height * scale));
    const std::vector<NDArray> out =
        pnet_.Forward(std::vector<NDArray>{ToTensor(input, Resize(image, ws, hs), pnet_.context())});
    if (out.size() != 2 || out[0].shape().ndim() != 4 || out[1].shape().ndim() != 4 ||
        out[0].shape()[1] != 4 || out[1].shape()[1] != 2)
      Throw<FormatError>("MTCNN det1: expected outputs (1,4,H,W) box regression and (1,2,H,W) probability");
    const int64_t H = out[1].shape()[2], W = out[1].shape()[3];
    const std::vector<float> reg = Host(out[0]), prob = Host(out[1]);
    std::vector<Candidate> found;
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x) {
        const float p = prob[(1 * H + y) * W + x];
        if (!(p > o.thresholds[0])) continue;
        Candidate c;
        c.x1 = static_cast<float>(std::nearbyint((2 * x + 1) / scale));
        c.y1 = static_cast<float>(std::nearbyint((2 * y + 1) / scale));
        c.x2 = static_cast<float>(std::nearbyint((2 * x + 1 + 12) / scale));
        c.y2 = static_cast<float>(std::nearbyint((2 * y + 1 + 12) / scale));
        c.score = p;
        for (int k = 0; k < 4; ++k) c.reg[k] = reg[(k * H + y) * W + x];
        found.push_back(c);
      }
    for (const Candidate& c : Nms(std::move(found), 0.5f, false)) all.push_back(c);
  }
  if (all.empty()) return {};
  all = Nms(std::move(all), 0.7f, false);
  for (Candidate& c : all) {
    Calibrate(c);
    Square(c);
  }

  // Stage 2: R-Net on 24x24 crops.
  {
    const auto out = RunStage(rnet_, image, all, 24);
    RequireOutputs(out, 2, all.size(), {4, 2}, "det2");
    std::vector<Candidate> passed;
    for (size_t i = 0; i < all.size(); ++i)
      if (out[1][i * 2 + 1] > o.thresholds[1]) {
        Candidate c = all[i];
        c.score = out[1][i * 2 + 1];
        for (int k = 0; k < 4; ++k) c.reg[k] = out[0][i * 4 + k];
        passed.push_back(c);
      }
    all = Nms(std::move(passed), 0.7f, false);
    for (Candidate& c : all) {
      Calibrate(c);
      Square(c);
    }
  }
  if (all.empty()) return {};

  // Stage 3: O-Net on 48x48 crops: final score, box and landmarks.
  const auto out = RunStage(onet_, image, all, 48);
  RequireOutputs(out, 3, all.size(), {10, 4, 2}, "det3");
  std::vector<Candidate> passed;
  for (size_t i = 0; i < all.size(); ++i)
    if (out[2][i * 2 + 1] > o.thresholds[2]) {
      Candidate c = all[i];
      c.score = out[2][i * 2 + 1];
      for (int k = 0; k < 4; ++k) c.reg[k] = out[1][i * 4 + k];
      const float w = c.x2 - c.x1 + 1, h = c.y2 - c.y1 + 1;
      for (int k = 0; k < 5; ++k) {
        c.points[k] = c.x1 + w * out[0][i * 10 + k];
        c.points[5 + k] = c.y1 + h * out[0][i * 10 + 5 + k];
      }
      Calibrate(c);
      passed.push_back(c);
    }
  std::vector<Face> faces;
  for (const Candidate& c : Nms(std::move(passed), 0.7f, true)) {
    Face f{c.x1, c.y1, c.x2, c.y2, c.score, {}};
    for (int k = 0; k < 5; ++k) f.landmarks[k] = {c.points[k], c.points[5 + k]};
    faces.push_back(f);
  }
  return faces;
}

RgbImage AlignFace(const RgbImage& image, const Face& face) {
  // InsightFace's five-point template for 112x112 crops (face_preprocess.py: the 96x112 ArcFace
  // template shifted 8 pixels right).
  static constexpr float kTemplate[5][2] = {
      {38.2946f, 51.6963f}, {73.5318f, 51.5014f}, {56.0252f, 71.7366f}, {41.5493f, 92.3655f}, {70.7299f, 92.2041f}};
  // Least-squares similarity d = R s + t with R = [a -b; b a] (Umeyama's estimate; in 2-D the
  // optimal rotation and scale have this closed form).
  double ms[2] = {0, 0}, md[2] = {0, 0};
  for (int k = 0; k < 5; ++k)
    for (int j = 0; j < 2; ++j) ms[j] += face.landmarks[k][j] / 5.0, md[j] += kTemplate[k][j] / 5.0;
  double num_a = 0, num_b = 0, den = 0;
  for (int k = 0; k < 5; ++k) {
    const double sx = face.landmarks[k][0] - ms[0], sy = face.landmarks[k][1] - ms[1];
    const double dx = kTemplate[k][0] - md[0], dy = kTemplate[k][1] - md[1];
    num_a += sx * dx + sy * dy;
    num_b += sx * dy - sy * dx;
    den += sx * sx + sy * sy;
  }
  if (!(den > 1e-6)) Throw<InvalidArgument>("AlignFace: the landmarks coincide");
  const double a = num_a / den, b = num_b / den;
  const double tx = md[0] - (a * ms[0] - b * ms[1]), ty = md[1] - (b * ms[0] + a * ms[1]);
  // Each output pixel (u, v) samples the image at R^-1 ((u, v) - t).
  const double n = a * a + b * b;
  RgbImage out{kAlignedSide, kAlignedSide, std::vector<uint8_t>(kAlignedSide * kAlignedSide * 3, 0)};
  auto pixel = [&](int x, int y, int c) -> double {
    if (x < 0 || y < 0 || x >= image.width || y >= image.height) return 0.0;
    return image.pixels[(static_cast<size_t>(y) * image.width + x) * 3 + c];
  };
  for (int v = 0; v < kAlignedSide; ++v)
    for (int u = 0; u < kAlignedSide; ++u) {
      const double du = u - tx, dv = v - ty;
      const double x = (a * du + b * dv) / n, y = (-b * du + a * dv) / n;
      const double fx = std::floor(x), fy = std::floor(y);
      const int x0 = static_cast<int>(fx), y0 = static_cast<int>(fy);
      const double wx = x - fx, wy = y - fy;
      for (int c = 0; c < 3; ++c) {
        const double value = (1 - wy) * ((1 - wx) * pixel(x0, y0, c) + wx * pixel(x0 + 1, y0, c)) +
                             wy * ((1 - wx) * pixel(x0, y0 + 1, c) + wx * pixel(x0 + 1, y0 + 1, c));
        out.pixels[(static_cast<size_t>(v) * kAlignedSide + u) * 3 + c] =
            static_cast<uint8_t>(std::clamp(std::nearbyint(value), 0.0, 255.0));
      }
    }
  return out;
}

GenderAge::GenderAge(const std::string& prefix, int epoch, Context ctx)
    : model_(LoadModel(prefix, epoch, ctx, 4)) {}

GenderAgeResult GenderAge::Predict(const RgbImage& face) const {
  if (face.width != kAlignedSide || face.height != kAlignedSide)
    Throw<InvalidArgument>("gender/age: the face must be ", kAlignedSide, "x", kAlignedSide, ", got ",
                           face.width, "x", face.height);
  Preprocess raw;  // RGB, raw 0..255, NCHW: the graph normalises itself
  raw.resize = Preprocess::ResizeMode::kNone;
  const std::vector<float> logits = Host(model_.Forward(std::vector<NDArray>{ToTensor(raw, face, model_.context())})[0]);
  if (logits.size() != 202)
    Throw<FormatError>("gender/age: the model gave ", logits.size(), " outputs, expected 202 (is this the genderage model?)");
  GenderAgeResult r;
  r.female_logit = logits[0];
  r.male_logit = logits[1];
  r.male = logits[1] > logits[0];
  for (size_t k = 0; k < 100; ++k) r.age += logits[2 + 2 * k + 1] > logits[2 + 2 * k] ? 1 : 0;
  return r;
}

float BoxIoU(const std::array<float, 4>& a, const std::array<float, 4>& b) {
  const float w = std::max(0.0f, std::min(a[2], b[2]) - std::max(a[0], b[0]));
  const float h = std::max(0.0f, std::min(a[3], b[3]) - std::max(a[1], b[1]));
  const float inter = w * h;
  const float uni = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
  return uni > 0 ? inter / uni : 0.0f;
}

}  // namespace tandem::samples
