// Reference kernels of _contrib_MultiBoxPrior and _contrib_MultiBoxDetection (SSD's anchors and
// its detection output), following MXNet 1.9.1's CPU code (multibox_prior.cc,
// multibox_detection.cc) in float32 with the same operation order and quirks.
#include <algorithm>
#include <cmath>
#include <vector>

#include "lib/ops/detection_params.hpp"
#include "lib/ref/detection.hpp"
#include "lib/ref/ref_util.hpp"

namespace tandem::ref {
namespace {

// ---------------------------------------------------------------------------------------------
// MultiBoxPrior: for each feature-map cell (row-major) the anchors of every size at the first
// ratio, then of the first size at every other ratio; corner boxes in [0, 1] image coordinates.
// The output does not depend on the data's values, only on its height and width.

std::unique_ptr<Kernel> MultiBoxPriorKernel(const ops::MultiBoxPriorParams& p, int height,
                                            int width) {
  return MakeKernel([p, height, width](const KernelCall& call) {
    float* out = call.outputs[0].as<float>();
    float step_y = p.steps[0], step_x = p.steps[1];
    if (step_y <= 0 || step_x <= 0) {
      step_y = 1.f / height;
      step_x = 1.f / width;
    }
    const auto emit = [&](float cx, float cy, float size, float ratio) {
      const float w = size * height / width * ratio / 2;
      const float h = size / ratio / 2;
      *out++ = cx - w;
      *out++ = cy - h;
      *out++ = cx + w;
      *out++ = cy + h;
    };
    float* const begin = out;
    for (int r = 0; r < height; ++r) {
      const float cy = (r + p.offsets[0]) * step_y;
      for (int c = 0; c < width; ++c) {
        const float cx = (c + p.offsets[1]) * step_x;
        const float first_ratio = std::sqrt(p.ratios[0]);
        for (float size : p.sizes) emit(cx, cy, size, first_ratio);
        for (size_t j = 1; j < p.ratios.size(); ++j)
          emit(cx, cy, p.sizes[0], std::sqrt(p.ratios[j]));
      }
    }
    if (p.clip)
      for (float* v = begin; v != out; ++v) *v = *v < 0.f ? 0.f : (*v > 1.f ? 1.f : *v);
  });
}

// ---------------------------------------------------------------------------------------------
// MultiBoxDetection: cls_prob (B, C, A), loc_pred (B, A * 4), anchor (1, A, 4) ->
// (B, A, 6) rows [class - 1, score, xmin, ymin, xmax, ymax], -1 for unused rows.
//
// Per item: each anchor takes its best non-background class (first maximum; below `threshold`
// it becomes background) and its decoded box; the non-background ones are compacted in anchor
// order; unless nms_threshold is outside (0, 1], they are then stably sorted by descending score,
// the first nms_topk kept (MXNet sets only the class of the rows past nms_topk to -1 and leaves
// the rest of those rows as compacted, unsorted), and suppressed greedily (IoU >= nms_threshold,
// same class unless force_suppress).

void TransformLocation(float* out, const float* anchor, const float* loc, bool clip,
                       const std::array<float, 4>& v) {
  const float al = anchor[0], at = anchor[1], ar = anchor[2], ab = anchor[3];
  const float aw = ar - al, ah = ab - at;
  const float ax = (al + ar) / 2.f, ay = (at + ab) / 2.f;
  const float ox = loc[0] * v[0] * aw + ax;
  const float oy = loc[1] * v[1] * ah + ay;
  const float ow = std::exp(loc[2] * v[2]) * aw / 2;
  const float oh = std::exp(loc[3] * v[3]) * ah / 2;
  const auto clamp = [clip](float x) { return clip ? std::max(0.f, std::min(1.f, x)) : x; };
  out[0] = clamp(ox - ow);
  out[1] = clamp(oy - oh);
  out[2] = clamp(ox + ow);
  out[3] = clamp(oy + oh);
}

float Overlap(const float* a, const float* b) {
  const float w = std::max(0.f, std::min(a[2], b[2]) - std::max(a[0], b[0]));
  const float h = std::max(0.f, std::min(a[3], b[3]) - std::max(a[1], b[1]));
  const float i = w * h;
  const float u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - i;
  return u <= 0.f ? 0.f : i / u;
}

std::unique_ptr<Kernel> MultiBoxDetectionKernel(const ops::MultiBoxDetectionParams& p,
                                                int64_t batch, int64_t classes, int64_t anchors) {
  return MakeKernel([p, batch, classes, anchors](const KernelCall& call) {
    const float* cls_prob = call.inputs[0].as<float>();
    const float* loc_pred = call.inputs[1].as<float>();
    const float* anchor = call.inputs[2].as<float>();
    float* out = call.outputs[0].as<float>();
    std::fill(out, out + batch * anchors * 6, -1.0f);
    std::vector<float> rows(static_cast<size_t>(anchors * 6));
    std::vector<float> compact(static_cast<size_t>(anchors * 6));
    std::vector<int64_t> order;
    for (int64_t b = 0; b < batch; ++b) {
      const float* prob = cls_prob + b * classes * anchors;
      const float* loc = loc_pred + b * anchors * 4;
      float* o = out + b * anchors * 6;
      for (int64_t i = 0; i < anchors; ++i) {
        float score = -1;
        int64_t id = 0;
        for (int64_t j = 1; j < classes; ++j) {
          const float v = prob[j * anchors + i];
          if (v > score) {
            score = v;
            id = j;
          }
        }
        if (id > 0 && score < p.threshold) id = 0;
        float* row = rows.data() + i * 6;
        row[0] = static_cast<float>(id - 1);
        row[1] = score;
        TransformLocation(row + 2, anchor + i * 4, loc + i * 4, p.clip, p.variances);
      }
      int64_t valid = 0;
      for (int64_t i = 0; i < anchors; ++i) {
        if (rows[i * 6] >= 0) {
          std::copy(rows.begin() + i * 6, rows.begin() + (i + 1) * 6, o + valid * 6);
          ++valid;
        }
      }
      if (valid < 1 || p.nms_threshold <= 0 || p.nms_threshold > 1) continue;
      std::copy(o, o + anchors * 6, compact.begin());
      order.resize(static_cast<size_t>(valid));
      for (int64_t i = 0; i < valid; ++i) order[i] = i;
      std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) {
        return compact[x * 6 + 1] > compact[y * 6 + 1];
      });
      int64_t keep = valid;
      if (p.nms_topk > 0 && p.nms_topk < keep) {
        keep = p.nms_topk;
        for (int64_t i = keep; i < valid; ++i) o[i * 6] = -1;
      }
      for (int64_t i = 0; i < keep; ++i)
        std::copy(compact.begin() + order[i] * 6, compact.begin() + (order[i] + 1) * 6, o + i * 6);
      for (int64_t i = 0; i < keep; ++i) {
        const float* bi = o + i * 6;
        if (bi[0] < 0) continue;
        for (int64_t j = i + 1; j < keep; ++j) {
          float* bj = o + j * 6;
          if (bj[0] < 0) continue;
          if (p.force_suppress || bi[0] == bj[0]) {
            if (Overlap(bi + 2, bj + 2) >= p.nms_threshold) bj[0] = -1;
          }
        }
      }
    }
  });
}

}  // namespace

std::unique_ptr<Kernel> MakeMultiBoxPrior(const KernelSpec& spec) {
  RequireArity(spec, 1, 1);
  RequireFloat32(spec, 0);  // the data's values are never read
  const auto& p = ParamsAs<ops::MultiBoxPriorParams>(spec.params);
  const Shape& data = spec.inputs[0].shape;
  if (data.ndim() < 4 || data[2] <= 0 || data[3] <= 0 || data[2] > INT32_MAX ||
      data[3] > INT32_MAX)
    ShapeMismatch(spec, "MultiBoxPrior needs 4-d data with a positive height and width, got " +
                            data.ToString());
  const int64_t count = data[2] * data[3] * static_cast<int64_t>(p.sizes.size() + p.ratios.size() - 1);
  if (spec.outputs[0].shape != Shape{1, count, 4})
    ShapeMismatch(spec, "MultiBoxPrior output " + spec.outputs[0].shape.ToString() +
                            " does not hold the anchors of data " + data.ToString());
  return MultiBoxPriorKernel(p, static_cast<int>(data[2]), static_cast<int>(data[3]));
}

std::unique_ptr<Kernel> MakeMultiBoxDetection(const KernelSpec& spec) {
  RequireArity(spec, 3, 1);
  RequireFloat32(spec);
  const Shape& cls = spec.inputs[0].shape;
  const Shape& loc = spec.inputs[1].shape;
  const Shape& anchor = spec.inputs[2].shape;
  if (cls.ndim() != 3 || loc != Shape{cls[0], cls[2] * 4} || anchor != Shape{1, cls[2], 4} ||
      spec.outputs[0].shape != Shape{cls[0], cls[2], 6})
    ShapeMismatch(spec, "MultiBoxDetection needs cls_prob (B, C, A), loc_pred (B, A * 4) and "
                        "anchor (1, A, 4); got " + cls.ToString() + ", " + loc.ToString() +
                        ", " + anchor.ToString());
  return MultiBoxDetectionKernel(ParamsAs<ops::MultiBoxDetectionParams>(spec.params), cls[0],
                                 cls[1], cls[2]);
}

}  // namespace tandem::ref
