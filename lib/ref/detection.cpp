// Reference kernels of the box operators: _contrib_box_nms, _contrib_box_decode,
// _contrib_box_encode, _contrib_box_iou, _contrib_bipartite_matching. Each follows MXNet 1.9.1's
// CPU implementation (bounding_box-inl.h / bounding_box-common.h) step by step, in float32 with
// the same operation order, including its quirks (noted where they matter).
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "lib/ops/detection_params.hpp"
#include "lib/ref/detection.hpp"
#include "lib/ref/ref_util.hpp"

namespace tandem::ref {
namespace {

using ops::BoxFormat;

// Overlap of two boxes along one axis: a[0], a[2] are (min, max) in corner format, (center,
// extent) in center format. Never negative.
float Intersect1D(const float* a, const float* b, BoxFormat format) {
  float w;
  if (format == BoxFormat::kCorner) {
    const float left = a[0] > b[0] ? a[0] : b[0];
    const float right = a[2] < b[2] ? a[2] : b[2];
    w = right - left;
  } else {
    const float aw = a[2] / 2, bw = b[2] / 2;
    const float al = a[0] - aw, ar = a[0] + aw;
    const float bl = b[0] - bw, br = b[0] + bw;
    const float left = bl > al ? bl : al;
    const float right = br < ar ? br : ar;
    w = right - left;
  }
  return w > 0 ? w : 0.0f;
}

// Box area; 0 when the width or height is negative.
float BoxArea(const float* box, BoxFormat format) {
  const float width = format == BoxFormat::kCorner ? box[2] - box[0] : box[2];
  const float height = format == BoxFormat::kCorner ? box[3] - box[1] : box[3];
  return (width < 0 || height < 0) ? 0.0f : width * height;
}

// ---------------------------------------------------------------------------------------------
// box_nms. Per batch item: boxes with score > valid_thresh (and, with id_index, a class other
// than background_id) are stably sorted by descending score; the first topk of them are
// suppressed greedily (IoU > overlap_thresh, same class unless force_suppress); the survivors
// fill the output rows in that order and every other row is -1. MXNet quirks kept: topk == 0
// copies the input unchanged; when no box of the whole batch is valid every row is -1 and no
// format conversion happens; the format conversion skips rows whose first coordinate is < 0.

class BoxNmsKernel final : public Kernel {
 public:
  BoxNmsKernel(const ops::BoxNmsParams& p, int64_t batch, int64_t num, int64_t width)
      : p_(p), batch_(batch), num_(num), width_(width) {
    topk_ = p.topk < 0 ? num : std::min(num, p.topk);
  }

  void Run(const KernelCall& call) const override {
    const float* in = call.inputs[0].as<float>();
    float* out = call.outputs[0].as<float>();
    const int64_t total = batch_ * num_ * width_;
    if (topk_ < 1) {
      std::copy(in, in + total, out);
      return;
    }
    std::fill(out, out + total, -1.0f);
    const bool has_class = p_.id_index >= 0;
    const auto cls = [&](int64_t box) { return in[box * width_ + p_.id_index]; };
    const auto score = [&](int64_t box) { return in[box * width_ + p_.score_index]; };
    bool any_valid = false;
    std::vector<int64_t> order;
    std::vector<float> area(static_cast<size_t>(num_));
    for (int64_t b = 0; b < batch_; ++b) {
      order.clear();
      for (int64_t i = b * num_; i < (b + 1) * num_; ++i) {
        const bool valid = score(i) > p_.valid_thresh &&
                           (!has_class || cls(i) != static_cast<float>(p_.background_id));
        if (valid) order.push_back(i);
      }
      if (!order.empty()) any_valid = true;
      std::stable_sort(order.begin(), order.end(),
                       [&](int64_t x, int64_t y) { return score(x) > score(y); });
      const size_t k = std::min(order.size(), static_cast<size_t>(topk_));
      for (size_t j = 0; j < k; ++j)
        area[j] = BoxArea(in + order[j] * width_ + p_.coord_start, p_.in_format);
      std::vector<bool> kept(k, true);
      for (size_t r = 0; r < k; ++r) {
        if (!kept[r]) continue;
        const float* ref = in + order[r] * width_ + p_.coord_start;
        for (size_t j = r + 1; j < k; ++j) {
          if (!kept[j]) continue;
          // MXNet compares the ids cast to int; trunc gives the same without overflow.
          if (!p_.force_suppress && has_class &&
              !(std::trunc(cls(order[r])) == std::trunc(cls(order[j]))))
            continue;
          const float* box = in + order[j] * width_ + p_.coord_start;
          float inter = Intersect1D(ref, box, p_.in_format);
          inter *= Intersect1D(ref + 1, box + 1, p_.in_format);
          const float iou = inter / (area[r] + area[j] - inter);
          if (iou > p_.overlap_thresh) kept[j] = false;
        }
      }
      int64_t row = b * num_;
      for (size_t j = 0; j < k; ++j) {
        if (!kept[j]) continue;
        std::copy(in + order[j] * width_, in + (order[j] + 1) * width_, out + row * width_);
        ++row;
      }
    }
    if (!any_valid) return;  // all -1 already
    if (p_.in_format == p_.out_format) return;
    for (int64_t i = 0; i < batch_ * num_; ++i) {
      float* box = out + i * width_ + p_.coord_start;
      if (box[0] < 0) continue;  // MXNet's check for a -1 row, applied to every row
      if (p_.out_format == BoxFormat::kCenter) {
        const float left = box[0], top = box[1], right = box[2], bottom = box[3];
        box[0] = (left + right) / 2;
        box[1] = (top + bottom) / 2;
        box[2] = right - left;
        box[3] = bottom - top;
      } else {
        const float x = box[0], y = box[1], half_w = box[2] / 2, half_h = box[3] / 2;
        box[0] = x - half_w;
        box[1] = y - half_h;
        box[2] = x + half_w;
        box[3] = y + half_h;
      }
    }
  }

 private:
  ops::BoxNmsParams p_;
  int64_t batch_, num_, width_, topk_ = 0;
};

// ---------------------------------------------------------------------------------------------
// box_decode: data (B, N, 4) offsets against anchors (1, N, 4) -> corner boxes (B, N, 4).

class BoxDecodeKernel final : public Kernel {
 public:
  BoxDecodeKernel(const ops::BoxDecodeParams& p, int64_t batch, int64_t num)
      : p_(p), batch_(batch), num_(num) {}

  void Run(const KernelCall& call) const override {
    const float* x = call.inputs[0].as<float>();
    const float* anchors = call.inputs[1].as<float>();
    float* out = call.outputs[0].as<float>();
    const bool clip = p_.clip > 0.0f;
    for (int64_t i = 0; i < batch_ * num_; ++i) {
      const float* a = anchors + (i % num_) * 4;
      float ax = a[0], ay = a[1], aw = a[2], ah = a[3];
      if (p_.format == BoxFormat::kCorner) {
        aw = aw - ax;
        ah = ah - ay;
        ax = ax + aw * 0.5f;
        ay = ay + ah * 0.5f;
      }
      const float* d = x + i * 4;
      const float ox = d[0] * p_.std[0] * aw + ax;
      const float oy = d[1] * p_.std[1] * ah + ay;
      float dw = d[2] * p_.std[2];
      float dh = d[3] * p_.std[3];
      if (clip) {
        dw = dw < p_.clip ? dw : p_.clip;
        dh = dh < p_.clip ? dh : p_.clip;
      }
      const float ow = std::exp(dw) * aw * 0.5f;
      const float oh = std::exp(dh) * ah * 0.5f;
      float* o = out + i * 4;
      o[0] = ox - ow;
      o[1] = oy - oh;
      o[2] = ox + ow;
      o[3] = oy + oh;
    }
  }

 private:
  ops::BoxDecodeParams p_;
  int64_t batch_, num_;
};

// ---------------------------------------------------------------------------------------------
// box_encode: samples (B, N), matches (B, N), anchors (B, N, 4), refs (B, M, 4), means (4),
// stds (4) -> targets (B, N, 4), masks (B, N, 4). A positive sample (> 0.5) whose match is not
// in [0, M) (MXNet reads out of bounds) gets NaN targets.

std::unique_ptr<Kernel> BoxEncodeKernel(int64_t batch, int64_t num, int64_t refs_per_item) {
  return MakeKernel([batch, num, m = refs_per_item](const KernelCall& call) {
    const float* samples = call.inputs[0].as<float>();
    const float* matches = call.inputs[1].as<float>();
    const float* anchors = call.inputs[2].as<float>();
    const float* refs = call.inputs[3].as<float>();
    const float* means = call.inputs[4].as<float>();
    const float* stds = call.inputs[5].as<float>();
    float* targets = call.outputs[0].as<float>();
    float* masks = call.outputs[1].as<float>();
    for (int64_t i = 0; i < batch * num; ++i) {
      const int64_t j = i / num;
      const float valid = samples[i] > 0.5f ? 1.0f : 0.0f;
      float* t = targets + i * 4;
      for (int c = 0; c < 4; ++c) masks[i * 4 + c] = valid;
      if (!(valid > 0.5f)) {
        std::fill(t, t + 4, 0.0f);
        continue;
      }
      const double match_value = matches[i];
      if (!(match_value > -1.0 && match_value < static_cast<double>(m))) {
        std::fill(t, t + 4, std::nanf(""));
        continue;
      }
      const int64_t match = static_cast<int64_t>(match_value);
      const float* r = refs + (j * m + match) * 4;
      const float ref_w = r[2] - r[0], ref_h = r[3] - r[1];
      const float ref_x = r[0] + ref_w * 0.5f, ref_y = r[1] + ref_h * 0.5f;
      const float* a = anchors + i * 4;
      const float a_w = a[2] - a[0], a_h = a[3] - a[1];
      const float a_x = a[0] + a_w * 0.5f, a_y = a[1] + a_h * 0.5f;
      t[0] = ((ref_x - a_x) / a_w - means[0]) / stds[0];
      t[1] = ((ref_y - a_y) / a_h - means[1]) / stds[1];
      t[2] = (std::log(ref_w / a_w) - means[2]) / stds[2];
      t[3] = (std::log(ref_h / a_h) - means[3]) / stds[3];
    }
  });
}

// ---------------------------------------------------------------------------------------------
// box_iou: lhs (..., 4), rhs (..., 4) -> IoU of every pair, shape lhs[:-1] + rhs[:-1].

std::unique_ptr<Kernel> BoxIouKernel(BoxFormat format, int64_t lsize, int64_t rsize) {
  return MakeKernel([format, lsize, rsize](const KernelCall& call) {
    const float* lhs = call.inputs[0].as<float>();
    const float* rhs = call.inputs[1].as<float>();
    float* out = call.outputs[0].as<float>();
    for (int64_t l = 0; l < lsize; ++l) {
      for (int64_t r = 0; r < rsize; ++r) {
        const float* a = lhs + l * 4;
        const float* b = rhs + r * 4;
        float inter = Intersect1D(a, b, format);
        inter *= Intersect1D(a + 1, b + 1, format);
        float& o = out[l * rsize + r];
        if (inter <= 0) {
          o = 0.0f;
          continue;
        }
        o = inter / (BoxArea(a, format) + BoxArea(b, format) - inter);
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------
// bipartite_matching: scores (..., rows, cols). Per item, entries are visited in (stably) sorted
// score order and matched greedily while both row and column are free; the first free pair whose
// score fails the threshold ends the item. MXNet's topk check runs after a match is recorded, so
// it keeps topk + 1 matches; kept as is.

std::unique_ptr<Kernel> BipartiteMatchingKernel(const ops::BipartiteMatchingParams& p,
                                                int64_t items, int64_t rows, int64_t cols) {
  return MakeKernel([p, items, rows, cols](const KernelCall& call) {
    const float* scores = call.inputs[0].as<float>();
    float* row_marker = call.outputs[0].as<float>();
    float* col_marker = call.outputs[1].as<float>();
    std::fill(row_marker, row_marker + items * rows, -1.0f);
    std::fill(col_marker, col_marker + items * cols, -1.0f);
    const int64_t stride = rows * cols;
    std::vector<int64_t> order(static_cast<size_t>(stride));
    for (int64_t b = 0; b < items; ++b) {
      const float* score = scores + b * stride;
      float* rmark = row_marker + b * rows;
      float* cmark = col_marker + b * cols;
      std::iota(order.begin(), order.end(), int64_t{0});
      if (p.is_ascend) {
        std::stable_sort(order.begin(), order.end(),
                         [&](int64_t x, int64_t y) { return score[x] < score[y]; });
      } else {
        std::stable_sort(order.begin(), order.end(),
                         [&](int64_t x, int64_t y) { return score[x] > score[y]; });
      }
      int64_t count = 0;
      for (int64_t idx : order) {
        const int64_t r = idx / cols, c = idx % cols;
        if (rmark[r] != -1.0f || cmark[c] != -1.0f) continue;
        const float s = score[idx];
        if ((!p.is_ascend && s > p.threshold) || (p.is_ascend && s < p.threshold)) {
          rmark[r] = static_cast<float>(c);
          cmark[c] = static_cast<float>(r);
          ++count;
          if (p.topk > 0 && count > p.topk) break;
        } else {
          break;
        }
      }
    }
  });
}

}  // namespace

std::unique_ptr<Kernel> MakeBoxNms(const KernelSpec& spec) {
  RequireArity(spec, 1, 1);
  RequireFloat32(spec);
  const auto& p = ParamsAs<ops::BoxNmsParams>(spec.params);
  const Shape& data = spec.inputs[0].shape;
  if (data.ndim() < 2 || spec.outputs[0].shape != data)
    ShapeMismatch(spec, "box_nms needs data of at least 2 dims and an output of its shape; got " +
                            data.ToString() + " -> " + spec.outputs[0].shape.ToString());
  const int64_t width = data[-1];
  const int64_t last = std::max({p.coord_start + 3, p.score_index, p.id_index});
  if (p.coord_start < 0 || p.score_index < 0 || last >= width)
    ShapeMismatch(spec, "box_nms indices do not fit box width " + std::to_string(width));
  return std::make_unique<BoxNmsKernel>(p, data.Prod(0, data.ndim() - 2), data[-2], width);
}

std::unique_ptr<Kernel> MakeBoxDecode(const KernelSpec& spec) {
  RequireArity(spec, 2, 1);
  RequireFloat32(spec);
  const Shape& data = spec.inputs[0].shape;
  const Shape& anchors = spec.inputs[1].shape;
  if (data.ndim() != 3 || data[2] != 4 || anchors.Size() != data[1] * 4 ||
      spec.outputs[0].shape != data)
    ShapeMismatch(spec, "box_decode needs data (B, N, 4) and anchors (1, N, 4); got " +
                            data.ToString() + " and " + anchors.ToString());
  return std::make_unique<BoxDecodeKernel>(ParamsAs<ops::BoxDecodeParams>(spec.params), data[0],
                                           data[1]);
}

std::unique_ptr<Kernel> MakeBoxEncode(const KernelSpec& spec) {
  RequireArity(spec, 6, 2);
  RequireFloat32(spec);
  const Shape& samples = spec.inputs[0].shape;
  const Shape& anchors = spec.inputs[2].shape;
  const Shape& refs = spec.inputs[3].shape;
  if (samples.ndim() != 2 || anchors != Shape{samples[0], samples[1], 4} ||
      spec.inputs[1].shape.Size() != samples.Size() || refs.ndim() != 3 || refs[0] != samples[0] ||
      refs[2] != 4 || spec.inputs[4].shape.Size() != 4 || spec.inputs[5].shape.Size() != 4 ||
      spec.outputs[0].shape != anchors || spec.outputs[1].shape != anchors)
    ShapeMismatch(spec, "box_encode needs samples, matches (B, N), anchors (B, N, 4), refs "
                        "(B, M, 4), means and stds (4)");
  return BoxEncodeKernel(samples[0], samples[1], refs[1]);
}

std::unique_ptr<Kernel> MakeBoxIou(const KernelSpec& spec) {
  RequireArity(spec, 2, 1);
  RequireFloat32(spec);
  const Shape& lhs = spec.inputs[0].shape;
  const Shape& rhs = spec.inputs[1].shape;
  if (lhs.ndim() < 2 || rhs.ndim() < 2 || lhs[-1] != 4 || rhs[-1] != 4)
    ShapeMismatch(spec, "box_iou needs lhs and rhs of shape (..., 4); got " + lhs.ToString() +
                            " and " + rhs.ToString());
  const int64_t lsize = lhs.Size() / 4, rsize = rhs.Size() / 4;
  if (spec.outputs[0].shape.Size() != lsize * rsize)
    ShapeMismatch(spec, "box_iou output " + spec.outputs[0].shape.ToString() +
                            " does not hold every pair");
  return BoxIouKernel(ParamsAs<ops::BoxIouParams>(spec.params).format, lsize, rsize);
}

std::unique_ptr<Kernel> MakeBipartiteMatching(const KernelSpec& spec) {
  RequireArity(spec, 1, 2);
  RequireFloat32(spec);
  const Shape& data = spec.inputs[0].shape;
  if (data.ndim() < 2)
    ShapeMismatch(spec, "bipartite_matching needs a score matrix, got " + data.ToString());
  const int64_t rows = data[-2], cols = data[-1];
  const int64_t items = data.Prod(0, data.ndim() - 2);
  if (spec.outputs[0].shape.Size() != items * rows || spec.outputs[1].shape.Size() != items * cols)
    ShapeMismatch(spec, "bipartite_matching outputs do not match data " + data.ToString());
  return BipartiteMatchingKernel(ParamsAs<ops::BipartiteMatchingParams>(spec.params), items, rows,
                                 cols);
}

}  // namespace tandem::ref
