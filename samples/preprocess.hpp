// Image preprocessing as part of the model: the rule that turns a decoded image into the tensor a
// particular checkpoint was trained on (resize, crop, channel order, scale, mean / std, layout),
// read from a sidecar file next to the checkpoint, PREFIX-preprocess.json, so that users do not
// have to remember it. The format is documented in docs/samples.md; a minimal example:
//
//   {"resize": {"shorter_side": 224}, "filter": "triangle", "crop": {"width": 224, "height": 224},
//    "channel_order": "RGB", "layout": "NCHW", "mean": [127, 127, 127], "std": [128, 128, 128]}
//
// Thread safety: a Preprocess is a plain value; every function is reentrant.
#pragma once

#include <optional>
#include <string>
#include <utility>

#include "samples/image.hpp"
#include "tandem/context.hpp"
#include "tandem/ndarray.hpp"
#include "tandem/shape.hpp"

namespace tandem::samples {

struct Preprocess {
  enum class ResizeMode {
    kNone,        // keep the decoded size
    kExact,       // resize to resize_width x resize_height, aspect ratio not kept (MXNet's example)
    kShorterSide  // the shorter side becomes shorter_side, the longer int(shorter_side * long / short)
  };
  ResizeMode resize = ResizeMode::kExact;
  int resize_width = 224, resize_height = 224;
  int shorter_side = 0;
  ResizeFilter filter = ResizeFilter::kTriangle;
  int crop_width = 0, crop_height = 0;  // centre crop after the resize; 0 x 0: none
  bool bgr = false;                     // the tensor's channel order: B, G, R instead of R, G, B
  bool nhwc = false;                    // the tensor's layout: (1, H, W, 3) instead of (1, 3, H, W)
  // value = (pixel * scale - mean[c]) / std[c], pixel 0..255; mean and std in R, G, B order,
  // whatever the tensor's channel order.
  float scale = 1.0f;
  Normalization norm;
  std::string input;                       // the data input's name, when the file names it
  std::string source = "built-in defaults";  // where the rule came from, for messages
};

// PREFIX-preprocess.json.
std::string SidecarPath(const std::string& prefix);
// Reads a sidecar file / text. Throws FormatError naming the file and the key at fault (unknown
// keys included, so that a typo is not silently ignored).
Preprocess LoadPreprocess(const std::string& path);
Preprocess ParsePreprocess(const std::string& json_text, const std::string& source);
// Throws InvalidArgument when the rule cannot work (non-positive sizes, zero std, ...).
void Validate(const Preprocess& p);
// One line, e.g. "shorter side -> 224 (triangle), centre crop 224x224, RGB, (v - 127) / 128, NCHW".
std::string Describe(const Preprocess& p);

// The tensor's (N, C, H, W) / (N, H, W, C) shape when it does not depend on the image (an exact
// resize or a crop fixes it), else nothing.
std::optional<Shape> FixedInputShape(const Preprocess& p);
// Resize and crop.
RgbImage ApplyGeometry(const Preprocess& p, const RgbImage& image);
// Channel order, scale, mean / std and layout of an image already resized and cropped.
NDArray ToTensor(const Preprocess& p, const RgbImage& image, Context ctx = Context::cpu());
// Both: the model's input tensor for a decoded image.
NDArray Apply(const Preprocess& p, const RgbImage& image, Context ctx = Context::cpu());

}  // namespace tandem::samples
