// Image input for the samples: decode any common format (stb_image), resize (stb_image_resize),
// crop, and turn the pixels into the float tensor an image model reads; plus the small
// classification helpers the samples share (synset labels, top-k, softmax).
//
// Thread safety: every function is reentrant; the samples call them from many threads at once.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "tandem/context.hpp"
#include "tandem/ndarray.hpp"

namespace tandem::samples {

// 8-bit RGB, interleaved (R, G, B per pixel), rows top to bottom.
struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;  // width * height * 3 bytes
};

// Decodes JPEG, PNG, BMP, GIF (first frame), TGA, PSD, HDR, PIC or PNM; grey or RGBA images are
// converted to RGB. Throws FormatError naming the file (and stb's reason) when that fails.
RgbImage LoadRgb(const std::string& path);
RgbImage DecodeRgb(const void* bytes, size_t size, const std::string& source);

// stb_image_resize's filters. kTriangle is bilinear interpolation whose support widens with the
// downscale factor (antialiased when shrinking): the filter of Pillow's Image.BILINEAR, hence of
// torchvision's Resize on PIL images. kDefault is stb's own choice (Mitchell down, Catmull-Rom up).
enum class ResizeFilter { kDefault, kBox, kTriangle, kCubicBSpline, kCatmullRom, kMitchell };
// "triangle" (also "bilinear"), "box", "cubicbspline", "catmullrom", "mitchell", "default";
// throws InvalidArgument naming `what` for anything else.
ResizeFilter ParseResizeFilter(const std::string& name, const std::string& what);
const char* ResizeFilterName(ResizeFilter filter);

// Resamples to width x height with stb_image_resize (8-bit, linear colour space; the pixels
// beyond the border are the image mirrored); the aspect ratio is not kept, as in MXNet's example.
RgbImage Resize(const RgbImage& image, int width, int height,
                ResizeFilter filter = ResizeFilter::kTriangle);
// The width x height rectangle at (left, top); parts outside the image are black (0).
RgbImage Crop(const RgbImage& image, int left, int top, int width, int height);
// The centred width x height rectangle: top = round((H - height) / 2), left likewise, with
// Python's round (halves to even), as torchvision's CenterCrop computes it.
RgbImage CenterCrop(const RgbImage& image, int width, int height);

// Per-channel normalisation, in RGB order: value = (pixel - mean[c]) / std[c], pixels 0..255.
struct Normalization {
  std::array<float, 3> mean{0.0f, 0.0f, 0.0f};
  std::array<float, 3> std{1.0f, 1.0f, 1.0f};
};

// Planar float CHW: out[c * H * W + y * W + x]; the R plane first.
std::vector<float> ToPlanar(const RgbImage& image, const Normalization& norm = {});
// The (1, 3, H, W) float32 tensor of one image, on `ctx`.
NDArray ToNCHW(const RgbImage& image, const Normalization& norm = {}, Context ctx = Context::cpu());
// Load + Resize to size x size + ToNCHW.
NDArray LoadImageAsNCHW(const std::string& path, int size, const Normalization& norm = {},
                        Context ctx = Context::cpu());

// "r,g,b" -> three floats; throws InvalidArgument naming `what` otherwise.
std::array<float, 3> ParseTriple(const std::string& text, const std::string& what);

// ---- command-line helpers ----

// Prints `help` to stdout and exits 0 when any argument is --help or -h.
void ExitOnHelp(int argc, char** argv, const char* help);
// A decimal integer in [min, max]; throws InvalidArgument naming `flag` otherwise.
int IntArg(const std::string& flag, const std::string& value, int min, int max);

// ---- classification helpers ----

// synset.txt: one class per line, "nXXXXXXXX label words"; the first token (the WordNet id) is
// dropped, the rest is the label. A line with one token is its own label.
std::vector<std::string> LoadSynset(const std::string& path);
// The label of class `id`: the synset's line, or "class <id>" without one.
std::string LabelOf(const std::vector<std::string>& synset, int64_t id);

// `values` unchanged when they already form a probability distribution (non-negative, summing
// to 1 within 1e-3), else their softmax.
std::vector<float> AsProbabilities(const std::vector<float>& values);

struct Ranked {
  int64_t id;
  float value;
};
// The k largest values, largest first (ties: lower id first).
std::vector<Ranked> TopK(const std::vector<float>& values, size_t k);

}  // namespace tandem::samples
