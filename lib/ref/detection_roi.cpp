// Reference kernels of ROIPooling and _contrib_ROIAlign, following MXNet 1.9.1's CPU code
// (roi_pooling.cc, contrib/roi_align.cc) in float32 with the same operation order.
// data (N, C, H, W), rois (R, 5) rows [batch_index, x1, y1, x2, y2] in image coordinates.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <vector>

#include "lib/ops/detection_params.hpp"
#include "lib/ref/detection.hpp"
#include "lib/ref/ref_util.hpp"

namespace tandem::ref {
namespace {

// Grid coordinates are clamped to +-2^28: far outside any feature map, and no int overflow.
constexpr float kCoordLimit = 268435456.0f;

struct RoiGeometry {
  int64_t batch = 0, channels = 0, height = 0, width = 0;  // data
  int64_t rois = 0, out_channels = 0, pooled_h = 0, pooled_w = 0;
};

// ---------------------------------------------------------------------------------------------
// ROIPooling: max over each bin of the ROI rounded to the feature grid (Fast R-CNN). A ROI whose
// batch index (cast to int) is outside [0, N) and an empty bin give 0, as in MXNet; so does a ROI
// with a non-finite coordinate (undefined in MXNet).

std::unique_ptr<Kernel> ROIPoolingKernel(const RoiGeometry& g, float scale) {
  return MakeKernel([g, scale](const KernelCall& call) {
    const float* data = call.inputs[0].as<float>();
    const float* rois = call.inputs[1].as<float>();
    float* out = call.outputs[0].as<float>();
    const int height = static_cast<int>(g.height), width = static_cast<int>(g.width);
    const int pooled_h = static_cast<int>(g.pooled_h), pooled_w = static_cast<int>(g.pooled_w);
    for (int64_t n = 0; n < g.rois; ++n) {
      const float* roi = rois + n * 5;
      // Finite coordinates are clamped far outside any feature map (no int overflow).
      bool invalid = !(roi[0] > -1.f && roi[0] < static_cast<float>(g.batch));  // int cast
      const auto grid = [&](float v) {
        const float x = std::round(v * scale);
        if (!std::isfinite(x)) invalid = true;
        return static_cast<int>(std::max(-kCoordLimit, std::min(kCoordLimit, x)));
      };
      const int start_w = grid(roi[1]), start_h = grid(roi[2]);
      const int end_w = grid(roi[3]), end_h = grid(roi[4]);
      const int64_t batch_index = invalid ? 0 : static_cast<int64_t>(roi[0]);
      // Malformed ROIs are forced to 1 x 1.
      const int roi_h = std::max(end_h - start_h + 1, 1);
      const int roi_w = std::max(end_w - start_w + 1, 1);
      const float bin_h = static_cast<float>(roi_h) / static_cast<float>(pooled_h);
      const float bin_w = static_cast<float>(roi_w) / static_cast<float>(pooled_w);
      for (int64_t c = 0; c < g.channels; ++c) {
        float* o = out + (n * g.channels + c) * pooled_h * pooled_w;
        const float* plane =
            invalid ? nullptr : data + (batch_index * g.channels + c) * g.height * g.width;
        for (int ph = 0; ph < pooled_h; ++ph) {
          for (int pw = 0; pw < pooled_w; ++pw) {
            int hstart = static_cast<int>(std::floor(static_cast<float>(ph) * bin_h));
            int wstart = static_cast<int>(std::floor(static_cast<float>(pw) * bin_w));
            int hend = static_cast<int>(std::ceil(static_cast<float>(ph + 1) * bin_h));
            int wend = static_cast<int>(std::ceil(static_cast<float>(pw + 1) * bin_w));
            hstart = std::min(std::max(hstart + start_h, 0), height);
            hend = std::min(std::max(hend + start_h, 0), height);
            wstart = std::min(std::max(wstart + start_w, 0), width);
            wend = std::min(std::max(wend + start_w, 0), width);
            float& value = o[ph * pooled_w + pw];
            if (invalid || hend <= hstart || wend <= wstart) {
              value = 0;
              continue;
            }
            value = -FLT_MAX;
            for (int h = hstart; h < hend; ++h)
              for (int w = wstart; w < wend; ++w)
                if (plane[h * width + w] > value) value = plane[h * width + w];
          }
        }
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------
// ROIAlign: the average of bilinear samples on a regular grid in each bin (Mask R-CNN);
// `aligned` shifts the ROI by half a pixel (Detectron2), position_sensitive reads channel
// (c, ph, pw) of C * ph * pw input channels for output channel c (R-FCN).
//
// Deviations, on inputs where MXNet's result is undefined: a ROI with a negative batch index
// gives zeros (MXNet's documented intent; its code zeroes one element of the output and leaves
// the rest unwritten), and so does a batch index >= N (MXNet reads out of bounds) and, with
// aligned=True, a ROI of zero or negative width or height (MXNet fails a CHECK), and a ROI with
// a coordinate that is not finite or is beyond 2^28 after scaling.

struct Sample {
  int64_t pos[4];
  float w[4];
};

Sample BilinearSample(float y, float x, int64_t height, int64_t width) {
  if (y < -1.0f || y > static_cast<float>(height) || x < -1.0f || x > static_cast<float>(width))
    return Sample{{0, 0, 0, 0}, {0, 0, 0, 0}};
  if (y <= 0) y = 0;
  if (x <= 0) x = 0;
  int64_t y_low = static_cast<int64_t>(y), x_low = static_cast<int64_t>(x), y_high, x_high;
  if (y_low >= height - 1) {
    y_high = y_low = height - 1;
    y = static_cast<float>(y_low);
  } else {
    y_high = y_low + 1;
  }
  if (x_low >= width - 1) {
    x_high = x_low = width - 1;
    x = static_cast<float>(x_low);
  } else {
    x_high = x_low + 1;
  }
  const float ly = y - y_low, lx = x - x_low;
  const float hy = 1.f - ly, hx = 1.f - lx;
  return Sample{{y_low * width + x_low, y_low * width + x_high, y_high * width + x_low,
                 y_high * width + x_high},
                {hy * hx, hy * lx, ly * hx, ly * lx}};
}

std::unique_ptr<Kernel> ROIAlignKernel(const RoiGeometry& g, const ops::ROIAlignParams& p) {
  return MakeKernel([g, p](const KernelCall& call) {
    const float* data = call.inputs[0].as<float>();
    const float* rois = call.inputs[1].as<float>();
    float* out = call.outputs[0].as<float>();
    const int64_t bins = g.pooled_h * g.pooled_w;
    std::vector<Sample> samples;
    for (int64_t n = 0; n < g.rois; ++n) {
      float* o = out + n * g.out_channels * bins;
      const float* roi = rois + n * 5;
      // MXNet casts the batch index to int: (-1, N) is valid.
      const bool valid_index = roi[0] > -1.f && roi[0] < static_cast<float>(g.batch);
      const int64_t batch_index = valid_index ? static_cast<int64_t>(roi[0]) : 0;
      const float offset = p.aligned ? 0.5f : 0.0f;
      const float start_w = roi[1] * p.spatial_scale - offset;
      const float start_h = roi[2] * p.spatial_scale - offset;
      const float end_w = roi[3] * p.spatial_scale - offset;
      const float end_h = roi[4] * p.spatial_scale - offset;
      float roi_w = end_w - start_w, roi_h = end_h - start_h;
      const bool degenerate = p.aligned && !(roi_w > 0.f && roi_h > 0.f);
      const auto bounded = [](float v) { return std::fabs(v) < kCoordLimit; };  // false for NaN
      const bool finite = bounded(start_w) && bounded(start_h) && bounded(end_w) && bounded(end_h);
      if (!valid_index || degenerate || !finite) {
        std::fill(o, o + g.out_channels * bins, 0.0f);
        continue;
      }
      if (!p.aligned) {
        roi_w = std::max(roi_w, 1.f);
        roi_h = std::max(roi_h, 1.f);
      }
      const float bin_h = roi_h / static_cast<float>(g.pooled_h);
      const float bin_w = roi_w / static_cast<float>(g.pooled_w);
      const int64_t grid_h = p.sample_ratio > 0
                                 ? p.sample_ratio
                                 : static_cast<int64_t>(std::ceil(roi_h / g.pooled_h));
      const int64_t grid_w = p.sample_ratio > 0
                                 ? p.sample_ratio
                                 : static_cast<int64_t>(std::ceil(roi_w / g.pooled_w));
      const float count = static_cast<float>(grid_h * grid_w);
      // The sample positions and weights of every bin, shared by all channels.
      samples.clear();
      for (int64_t ph = 0; ph < g.pooled_h; ++ph)
        for (int64_t pw = 0; pw < g.pooled_w; ++pw)
          for (int64_t iy = 0; iy < grid_h; ++iy) {
            const float y = start_h + ph * bin_h +
                            static_cast<float>(iy + .5f) * bin_h / static_cast<float>(grid_h);
            for (int64_t ix = 0; ix < grid_w; ++ix) {
              const float x = start_w + pw * bin_w +
                              static_cast<float>(ix + .5f) * bin_w / static_cast<float>(grid_w);
              samples.push_back(BilinearSample(y, x, g.height, g.width));
            }
          }
      for (int64_t c = 0; c < g.out_channels; ++c) {
        size_t s = 0;
        for (int64_t ph = 0; ph < g.pooled_h; ++ph) {
          for (int64_t pw = 0; pw < g.pooled_w; ++pw) {
            const int64_t in_c = p.position_sensitive ? (c * g.pooled_h + ph) * g.pooled_w + pw : c;
            const float* plane = data + (batch_index * g.channels + in_c) * g.height * g.width;
            float value = 0.f;
            for (int64_t k = 0; k < grid_h * grid_w; ++k, ++s) {
              const Sample& q = samples[s];
              value += q.w[0] * plane[q.pos[0]] + q.w[1] * plane[q.pos[1]] +
                       q.w[2] * plane[q.pos[2]] + q.w[3] * plane[q.pos[3]];
            }
            o[(c * g.pooled_h + ph) * g.pooled_w + pw] = value / count;
          }
        }
      }
    }
  });
}

RoiGeometry CheckRoiShapes(const KernelSpec& spec, int64_t pooled_h, int64_t pooled_w,
                           bool position_sensitive) {
  RequireArity(spec, 2, 1);
  RequireFloat32(spec);
  const Shape& data = spec.inputs[0].shape;
  const Shape& rois = spec.inputs[1].shape;
  RoiGeometry g;
  if (data.ndim() != 4 || rois.ndim() != 2 || rois[1] != 5 || data[2] > INT32_MAX ||
      data[3] > INT32_MAX)
    ShapeMismatch(spec, "ROI pooling needs data (N, C, H, W) and rois (R, 5); got " +
                            data.ToString() + " and " + rois.ToString());
  g.batch = data[0];
  g.channels = data[1];
  g.height = data[2];
  g.width = data[3];
  g.rois = rois[0];
  g.pooled_h = pooled_h;
  g.pooled_w = pooled_w;
  g.out_channels = position_sensitive ? g.channels / (pooled_h * pooled_w) : g.channels;
  if ((position_sensitive && g.channels % (pooled_h * pooled_w) != 0) ||
      spec.outputs[0].shape != Shape{g.rois, g.out_channels, pooled_h, pooled_w})
    ShapeMismatch(spec, "output " + spec.outputs[0].shape.ToString() + " does not match data " +
                            data.ToString() + " and rois " + rois.ToString());
  return g;
}

}  // namespace

std::unique_ptr<Kernel> MakeROIPooling(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::ROIPoolingParams>(spec.params);
  return ROIPoolingKernel(CheckRoiShapes(spec, p.pooled_h, p.pooled_w, false), p.spatial_scale);
}

std::unique_ptr<Kernel> MakeROIAlign(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::ROIAlignParams>(spec.params);
  return ROIAlignKernel(CheckRoiShapes(spec, p.pooled_h, p.pooled_w, p.position_sensitive), p);
}

}  // namespace tandem::ref
