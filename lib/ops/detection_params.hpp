// Internal: typed parameters of the detection operators (lib/ops/detection.cpp), shared with their
// reference kernels (lib/ref/detection*.cpp). Attribute names and defaults are MXNet 1.9.1's.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace tandem::ops {

// MXNet's box encodings: corner (xmin, ymin, xmax, ymax) or center (x, y, width, height).
enum class BoxFormat { kCorner, kCenter };

// _contrib_box_nms (alias _contrib_box_non_maximum_suppression).
struct BoxNmsParams {
  float overlap_thresh = 0.5f;
  float valid_thresh = 0.0f;
  int64_t topk = -1;        // -1: no limit
  int64_t coord_start = 2;  // first of the 4 coordinates
  int64_t score_index = 1;
  int64_t id_index = -1;    // -1: no class ids
  int64_t background_id = -1;
  bool force_suppress = false;
  BoxFormat in_format = BoxFormat::kCorner;
  BoxFormat out_format = BoxFormat::kCorner;
};

// _contrib_box_decode.
struct BoxDecodeParams {
  std::array<float, 4> std{1.0f, 1.0f, 1.0f, 1.0f};  // std0..std3
  float clip = -1.0f;                                 // > 0: clip dw / dh to it before exp
  BoxFormat format = BoxFormat::kCenter;              // encoding of the anchors
};

// _contrib_box_iou.
struct BoxIouParams {
  BoxFormat format = BoxFormat::kCorner;
};

// _contrib_bipartite_matching.
struct BipartiteMatchingParams {
  bool is_ascend = false;
  float threshold = 0.0f;  // required
  int64_t topk = -1;
};

// _contrib_MultiBoxPrior (alias _npx_multibox_prior).
struct MultiBoxPriorParams {
  std::vector<float> sizes{1.0f};
  std::vector<float> ratios{1.0f};
  bool clip = false;
  std::array<float, 2> steps{-1.0f, -1.0f};   // (y, x); <= 0: 1 / feature extent
  std::array<float, 2> offsets{0.5f, 0.5f};   // (y, x)
};

// _contrib_MultiBoxDetection (alias _npx_multibox_detection). background_id is parsed but, as in
// MXNet, unused: class 0 is always the background.
struct MultiBoxDetectionParams {
  bool clip = true;
  float threshold = 0.01f;
  int64_t background_id = 0;
  float nms_threshold = 0.5f;
  bool force_suppress = false;
  std::array<float, 4> variances{0.1f, 0.1f, 0.2f, 0.2f};
  int64_t nms_topk = -1;
};

// ROIPooling (alias _npx_roi_pooling).
struct ROIPoolingParams {
  int64_t pooled_h = 0, pooled_w = 0;
  float spatial_scale = 0.0f;
};

// _contrib_ROIAlign.
struct ROIAlignParams {
  int64_t pooled_h = 0, pooled_w = 0;
  float spatial_scale = 0.0f;
  int64_t sample_ratio = -1;  // <= 0: adaptive, ceil(roi extent / pooled extent)
  bool position_sensitive = false;
  bool aligned = false;
};

}  // namespace tandem::ops
