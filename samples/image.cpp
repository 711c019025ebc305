// Image decoding, resizing and tensor conversion for the samples; see image.hpp.
#include "samples/image.hpp"

#include <stb_image.h>

// stb_image_resize is compiled here (from Debian's libstb-dev header), as static functions, rather
// than taken from libstb.so: libstb is built with assertions on, and v0.97 asserts that each
// output pixel's downsampling weights sum to within 10% of 1 before it normalises them, which the
// triangle filter misses for some ratios (e.g. 299 -> 224; github.com/nothings/stb/issues/1449)
// and aborts the process. The weights are normalised right after the check, so without it the
// result is exact. Every other assertion stays off with it; the inputs are validated here.
#define STB_IMAGE_RESIZE_IMPLEMENTATION
#define STB_IMAGE_RESIZE_STATIC
#define STBIR_ASSERT(x) ((void)0)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-variable"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include <stb_image_resize.h>
#pragma GCC diagnostic pop

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>
#include <sstream>
#include <utility>

#include "tandem/error.hpp"

namespace tandem::samples {

RgbImage DecodeRgb(const void* bytes, size_t size, const std::string& source) {
  if (size == 0) Throw<FormatError>(source, ": empty file, not an image");
  if (size > static_cast<size_t>(std::numeric_limits<int>::max()))
    Throw<FormatError>(source, ": ", size, " bytes is too large for an image");
  int width = 0, height = 0, channels_in_file = 0;
  // Forcing 3 channels makes stb convert grey, grey+alpha and RGBA to RGB for us.
  std::unique_ptr<stbi_uc, void (*)(void*)> pixels(
      stbi_load_from_memory(static_cast<const stbi_uc*>(bytes), static_cast<int>(size), &width,
                            &height, &channels_in_file, 3),
      stbi_image_free);
  if (!pixels) Throw<FormatError>(source, ": cannot decode the image (", stbi_failure_reason(), ")");
  RgbImage image{width, height, {}};
  image.pixels.assign(pixels.get(), pixels.get() + static_cast<size_t>(width) * height * 3);
  return image;
}

RgbImage LoadRgb(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) Throw<FormatError>(path, ": cannot open");
  const std::vector<char> bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (file.bad()) Throw<FormatError>(path, ": read error");
  return DecodeRgb(bytes.data(), bytes.size(), path);
}

ResizeFilter ParseResizeFilter(const std::string& name, const std::string& what) {
  static const std::pair<const char*, ResizeFilter> kNames[] = {
      {"triangle", ResizeFilter::kTriangle},         {"bilinear", ResizeFilter::kTriangle},
      {"box", ResizeFilter::kBox},                   {"cubicbspline", ResizeFilter::kCubicBSpline},
      {"catmullrom", ResizeFilter::kCatmullRom},     {"mitchell", ResizeFilter::kMitchell},
      {"default", ResizeFilter::kDefault}};
  for (const auto& [n, f] : kNames)
    if (name == n) return f;
  Throw<InvalidArgument>(what, ": unknown resize filter '", name,
                         "' (triangle, bilinear, box, cubicbspline, catmullrom, mitchell, default)");
}

const char* ResizeFilterName(ResizeFilter filter) {
  switch (filter) {
    case ResizeFilter::kDefault: return "default";
    case ResizeFilter::kBox: return "box";
    case ResizeFilter::kTriangle: return "triangle";
    case ResizeFilter::kCubicBSpline: return "cubicbspline";
    case ResizeFilter::kCatmullRom: return "catmullrom";
    case ResizeFilter::kMitchell: return "mitchell";
  }
  return "?";
}

namespace {

void CheckImage(const RgbImage& image, const char* what) {
  if (image.width <= 0 || image.height <= 0 ||
      image.pixels.size() != static_cast<size_t>(image.width) * image.height * 3)
    Throw<InvalidArgument>(what, ": malformed image ", image.width, "x", image.height, " with ",
                           image.pixels.size(), " bytes");
}

stbir_filter StbFilter(ResizeFilter filter) {
  switch (filter) {
    case ResizeFilter::kDefault: return STBIR_FILTER_DEFAULT;
    case ResizeFilter::kBox: return STBIR_FILTER_BOX;
    case ResizeFilter::kTriangle: return STBIR_FILTER_TRIANGLE;
    case ResizeFilter::kCubicBSpline: return STBIR_FILTER_CUBICBSPLINE;
    case ResizeFilter::kCatmullRom: return STBIR_FILTER_CATMULLROM;
    case ResizeFilter::kMitchell: return STBIR_FILTER_MITCHELL;
  }
  return STBIR_FILTER_DEFAULT;
}

}  // namespace

RgbImage Resize(const RgbImage& image, int width, int height, ResizeFilter filter) {
  if (width <= 0 || height <= 0)
    Throw<InvalidArgument>("Resize: target size ", width, "x", height, " must be positive");
  CheckImage(image, "Resize");
  if (width == image.width && height == image.height) return image;
  RgbImage out{width, height, std::vector<uint8_t>(static_cast<size_t>(width) * height * 3)};
  // Reflect at the borders: measured against Pillow's bilinear (which drops the taps outside the
  // image and renormalises), reflect and clamp are equally close; reflect is a hair closer on the
  // EfficientNet-Lite0 reference images (docs/samples.md).
  if (!stbir_resize_uint8_generic(image.pixels.data(), image.width, image.height, 0, out.pixels.data(),
                                  width, height, 0, 3, STBIR_ALPHA_CHANNEL_NONE, 0, STBIR_EDGE_REFLECT,
                                  StbFilter(filter), STBIR_COLORSPACE_LINEAR, nullptr))
    Throw<OutOfMemory>("Resize: stb_image_resize failed for ", image.width, "x", image.height,
                       " -> ", width, "x", height);
  return out;
}

RgbImage Crop(const RgbImage& image, int left, int top, int width, int height) {
  if (width <= 0 || height <= 0)
    Throw<InvalidArgument>("Crop: size ", width, "x", height, " must be positive");
  CheckImage(image, "Crop");
  RgbImage out{width, height, std::vector<uint8_t>(static_cast<size_t>(width) * height * 3, 0)};
  const int x0 = std::max(left, 0), x1 = std::min(left + width, image.width);
  if (x0 >= x1) return out;
  for (int y = std::max(top, 0); y < std::min(top + height, image.height); ++y)
    std::copy_n(&image.pixels[(static_cast<size_t>(y) * image.width + x0) * 3], (x1 - x0) * 3,
                &out.pixels[(static_cast<size_t>(y - top) * width + (x0 - left)) * 3]);
  return out;
}

RgbImage CenterCrop(const RgbImage& image, int width, int height) {
  CheckImage(image, "CenterCrop");
  if (width == image.width && height == image.height) return image;
  // nearbyint rounds halves to even in the default rounding mode, as Python's round does.
  const int top = static_cast<int>(std::nearbyint((image.height - height) / 2.0));
  const int left = static_cast<int>(std::nearbyint((image.width - width) / 2.0));
  return Crop(image, left, top, width, height);
}

std::vector<float> ToPlanar(const RgbImage& image, const Normalization& norm) {
  for (int c = 0; c < 3; ++c)
    if (!(norm.std[c] != 0.0f) || !std::isfinite(norm.std[c]) || !std::isfinite(norm.mean[c]))
      Throw<InvalidArgument>("normalisation: mean and std must be finite and std non-zero");
  const size_t plane = static_cast<size_t>(image.width) * image.height;
  if (image.pixels.size() != plane * 3)
    Throw<InvalidArgument>("ToPlanar: malformed image ", image.width, "x", image.height);
  std::vector<float> out(plane * 3);
  // Every pixel writes all three planes (MXNet's example wrote only one R value per row).
  for (size_t p = 0; p < plane; ++p)
    for (size_t c = 0; c < 3; ++c)
      out[c * plane + p] = (static_cast<float>(image.pixels[p * 3 + c]) - norm.mean[c]) / norm.std[c];
  return out;
}

NDArray ToNCHW(const RgbImage& image, const Normalization& norm, Context ctx) {
  return NDArray(ToPlanar(image, norm), Shape{1, 3, image.height, image.width}, ctx);
}

NDArray LoadImageAsNCHW(const std::string& path, int size, const Normalization& norm, Context ctx) {
  return ToNCHW(Resize(LoadRgb(path), size, size), norm, ctx);
}

std::array<float, 3> ParseTriple(const std::string& text, const std::string& what) {
  std::array<float, 3> out{};
  std::istringstream in(text);
  for (int i = 0; i < 3; ++i) {
    std::string item;
    if (!std::getline(in, item, ',')) Throw<InvalidArgument>(what, ": expected three numbers r,g,b, got '", text, "'");
    size_t used = 0;
    try {
      out[i] = std::stof(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || item.find_first_not_of(" \t", used) != std::string::npos)
      Throw<InvalidArgument>(what, ": '", item, "' is not a number (in '", text, "')");
  }
  std::string rest;
  if (std::getline(in, rest)) Throw<InvalidArgument>(what, ": expected three numbers r,g,b, got '", text, "'");
  return out;
}

void ExitOnHelp(int argc, char** argv, const char* help) {
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") {
      std::fputs(help, stdout);
      std::exit(0);
    }
}

int IntArg(const std::string& flag, const std::string& value, int min, int max) {
  char* end = nullptr;
  const long v = std::strtol(value.c_str(), &end, 10);
  if (value.empty() || *end != '\0' || v < min || v > max)
    throw InvalidArgument(flag + ": expected an integer >= " + std::to_string(min) + ", got '" + value + "'");
  return static_cast<int>(v);
}

std::vector<std::string> LoadSynset(const std::string& path) {
  std::ifstream file(path);
  if (!file) Throw<FormatError>(path, ": cannot open the synset file");
  std::vector<std::string> labels;
  std::string line;
  while (std::getline(file, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const size_t space = line.find(' ');
    labels.push_back(space == std::string::npos ? line : line.substr(space + 1));
  }
  // A trailing newline is not a class; a blank line in the middle is (its label is empty).
  while (!labels.empty() && labels.back().empty()) labels.pop_back();
  if (labels.empty()) Throw<FormatError>(path, ": the synset file has no labels");
  return labels;
}

std::string LabelOf(const std::vector<std::string>& synset, int64_t id) {
  if (id >= 0 && static_cast<size_t>(id) < synset.size()) return synset[static_cast<size_t>(id)];
  return "class " + std::to_string(id);
}

std::vector<float> AsProbabilities(const std::vector<float>& values) {
  if (values.empty()) return values;
  double sum = 0;
  bool non_negative = true;
  for (float v : values) {
    sum += v;
    non_negative = non_negative && v >= 0.0f;
  }
  if (non_negative && std::fabs(sum - 1.0) <= 1e-3) return values;
  const float top = *std::max_element(values.begin(), values.end());
  std::vector<float> out(values.size());
  double total = 0;
  for (size_t i = 0; i < values.size(); ++i) total += out[i] = std::exp(values[i] - top);
  for (float& v : out) v = static_cast<float>(v / total);
  return out;
}

std::vector<Ranked> TopK(const std::vector<float>& values, size_t k) {
  std::vector<Ranked> all(values.size());
  for (size_t i = 0; i < values.size(); ++i) all[i] = {static_cast<int64_t>(i), values[i]};
  k = std::min(k, all.size());
  // NaN ranks below everything, so the order stays a strict weak ordering.
  auto key = [](float v) { return std::isnan(v) ? -std::numeric_limits<float>::infinity() : v; };
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(k), all.end(),
                    [&](const Ranked& a, const Ranked& b) {
                      return key(a.value) > key(b.value) || (key(a.value) == key(b.value) && a.id < b.id);
                    });
  all.resize(k);
  return all;
}

}  // namespace tandem::samples
