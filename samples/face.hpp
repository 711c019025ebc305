// Faces for the samples: the MTCNN cascade (Zhang et al. 2016; InsightFace's MXNet conversion of
// the authors' Caffe models, data/mtcnn) finds faces and their five landmarks; each face is
// aligned to InsightFace's 112x112 template with a similarity transform; InsightFace's gender/age
// model (data/genderage) judges the aligned crop.
//
// Every model is one CachedOp, shared: MtcnnDetector::Detect and GenderAge::Predict are const and
// may be called from any number of threads at once.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "samples/image.hpp"
#include "tandem/cached_op.hpp"
#include "tandem/context.hpp"

namespace tandem::samples {

struct Face {
  float x1 = 0, y1 = 0, x2 = 0, y2 = 0;  // box corners, pixels (inclusive, MTCNN's convention)
  float score = 0;                       // O-Net's face probability
  // Left eye, right eye, nose, left mouth corner, right mouth corner (left / right as seen in
  // the image), each (x, y) in pixels.
  std::array<std::array<float, 2>, 5> landmarks{};
};

struct MtcnnOptions {
  float min_face = 40.0f;                          // smallest face side searched, pixels (InsightFace: 20)
  std::array<float, 3> thresholds{0.6f, 0.7f, 0.8f};  // P-Net, R-Net, O-Net face probability
  float factor = 0.709f;                           // image pyramid step
};

// The three MTCNN stages from DIR/det1, det2, det3 (-symbol.json, -0001.params). Reads the image
// as MTCNN was trained: B, G, R planes, (v - 127.5) / 128.
class MtcnnDetector {
 public:
  explicit MtcnnDetector(const std::string& dir, Context ctx = Context::cpu());
  // Faces, highest score first. Throws InvalidArgument for bad options.
  std::vector<Face> Detect(const RgbImage& image, const MtcnnOptions& options = {}) const;

 private:
  CachedOp pnet_, rnet_, onet_;
};

// The 112x112 face InsightFace's recognition and attribute models read: the similarity transform
// (rotation, uniform scale, shift; least squares over the five landmarks) that maps the landmarks
// onto InsightFace's template, then bilinear sampling; pixels outside the image are black.
RgbImage AlignFace(const RgbImage& image, const Face& face);
constexpr int kAlignedSide = 112;

struct GenderAgeResult {
  bool male = false;
  int age = 0;
  float female_logit = 0, male_logit = 0;
};

// InsightFace's gender/age model (PREFIX-symbol.json + PREFIX-NNNN.params): reads an aligned
// 1x3x112x112 RGB face with raw pixels 0..255 (the graph normalises); 202 outputs: 2 gender logits
// (female, male), then 100 pairs, one per age threshold; the age is the number of pairs whose
// second logit wins (InsightFace's face_model.get_ga).
class GenderAge {
 public:
  GenderAge(const std::string& prefix, int epoch = 0, Context ctx = Context::cpu());
  // `face` must be 112x112 (AlignFace's output, or an aligned crop).
  GenderAgeResult Predict(const RgbImage& face) const;

 private:
  CachedOp model_;
};

// Intersection over union of two boxes (x1, y1, x2, y2), continuous coordinates.
float BoxIoU(const std::array<float, 4>& a, const std::array<float, 4>& b);

}  // namespace tandem::samples
