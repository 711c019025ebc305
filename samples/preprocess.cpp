// The preprocessing sidecar (PREFIX-preprocess.json) and its application; see preprocess.hpp.
#include "samples/preprocess.hpp"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "tandem/error.hpp"

namespace tandem::samples {
namespace {

using json = nlohmann::json;

const std::set<std::string> kKeys = {"format", "input", "resize", "filter", "crop", "channel_order",
                                     "layout", "scale", "mean", "std", "note"};

int PositiveSize(const json& v, const std::string& source, const std::string& key) {
  if (!v.is_number_integer() || v.get<long long>() <= 0 || v.get<long long>() > 1 << 16)
    Throw<FormatError>(source, ": '", key, "' must be a positive integer (pixels), got ", v.dump());
  return v.get<int>();
}

// {"width": W, "height": H}, or a single integer for a square.
std::pair<int, int> Size2(const json& v, const std::string& source, const std::string& key) {
  if (v.is_number_integer()) {
    const int s = PositiveSize(v, source, key);
    return {s, s};
  }
  if (!v.is_object() || v.size() != 2 || !v.contains("width") || !v.contains("height"))
    Throw<FormatError>(source, ": '", key, "' must be {\"width\": W, \"height\": H} or one integer, got ",
                       v.dump());
  return {PositiveSize(v["width"], source, key + ".width"), PositiveSize(v["height"], source, key + ".height")};
}

std::array<float, 3> Triple(const json& v, const std::string& source, const std::string& key) {
  std::array<float, 3> out{};
  if (v.is_number()) {
    out.fill(v.get<float>());
    return out;
  }
  if (!v.is_array() || v.size() != 3)
    Throw<FormatError>(source, ": '", key, "' must be three numbers [r, g, b] (or one number), got ", v.dump());
  for (size_t i = 0; i < 3; ++i) {
    if (!v[i].is_number()) Throw<FormatError>(source, ": '", key, "' must hold numbers, got ", v.dump());
    out[i] = v[i].get<float>();
  }
  return out;
}

std::string String(const json& v, const std::string& source, const std::string& key) {
  if (!v.is_string()) Throw<FormatError>(source, ": '", key, "' must be a string, got ", v.dump());
  return v.get<std::string>();
}

std::string Number(float v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

std::string TripleText(const std::array<float, 3>& v) {
  if (v[0] == v[1] && v[1] == v[2]) return Number(v[0]);
  std::string out = "[";
  out.append(Number(v[0])).append(", ").append(Number(v[1])).append(", ").append(Number(v[2])).append("]");
  return out;
}

}  // namespace

std::string SidecarPath(const std::string& prefix) { return prefix + "-preprocess.json"; }

Preprocess ParsePreprocess(const std::string& text, const std::string& source) {
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::exception& e) {
    Throw<FormatError>(source, ": not valid JSON (", e.what(), ")");
  }
  if (!doc.is_object()) Throw<FormatError>(source, ": expected a JSON object");
  for (const auto& [key, value] : doc.items())
    if (!kKeys.count(key)) {
      std::string known;
      for (const auto& k : kKeys) known += (known.empty() ? "" : ", ") + k;
      Throw<FormatError>(source, ": unknown key '", key, "' (known keys: ", known, ")");
    }
  Preprocess p;
  p.source = source;
  if (doc.contains("format") && String(doc["format"], source, "format") != "tandem-preprocess/1")
    Throw<FormatError>(source, ": 'format' is '", doc["format"].get<std::string>(),
                       "', this reader knows 'tandem-preprocess/1'");
  if (doc.contains("input")) p.input = String(doc["input"], source, "input");
  // No "resize" key, or null: keep the decoded size.
  p.resize = Preprocess::ResizeMode::kNone;
  if (doc.contains("resize") && !doc["resize"].is_null()) {
    const json& r = doc["resize"];
    if (r.is_object() && r.size() == 1 && r.contains("shorter_side")) {
      p.resize = Preprocess::ResizeMode::kShorterSide;
      p.shorter_side = PositiveSize(r["shorter_side"], source, "resize.shorter_side");
    } else {
      p.resize = Preprocess::ResizeMode::kExact;
      std::tie(p.resize_width, p.resize_height) = Size2(r, source, "resize");
    }
  }
  if (doc.contains("filter"))
    p.filter = ParseResizeFilter(String(doc["filter"], source, "filter"), source + ": 'filter'");
  if (doc.contains("crop") && !doc["crop"].is_null())
    std::tie(p.crop_width, p.crop_height) = Size2(doc["crop"], source, "crop");
  if (doc.contains("channel_order")) {
    const std::string order = String(doc["channel_order"], source, "channel_order");
    if (order != "RGB" && order != "BGR")
      Throw<FormatError>(source, ": 'channel_order' must be \"RGB\" or \"BGR\", got \"", order, "\"");
    p.bgr = order == "BGR";
  }
  if (doc.contains("layout")) {
    const std::string layout = String(doc["layout"], source, "layout");
    if (layout != "NCHW" && layout != "NHWC")
      Throw<FormatError>(source, ": 'layout' must be \"NCHW\" or \"NHWC\", got \"", layout, "\"");
    p.nhwc = layout == "NHWC";
  }
  if (doc.contains("scale")) {
    if (!doc["scale"].is_number()) Throw<FormatError>(source, ": 'scale' must be a number, got ", doc["scale"].dump());
    p.scale = doc["scale"].get<float>();
  }
  if (doc.contains("mean")) p.norm.mean = Triple(doc["mean"], source, "mean");
  if (doc.contains("std")) p.norm.std = Triple(doc["std"], source, "std");
  try {
    Validate(p);
  } catch (const InvalidArgument& e) {
    Throw<FormatError>(source, ": ", e.what());
  }
  return p;
}

Preprocess LoadPreprocess(const std::string& path) {
  std::ifstream file(path);
  if (!file) Throw<FormatError>(path, ": cannot open the preprocessing file");
  const std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  return ParsePreprocess(text, path);
}

void Validate(const Preprocess& p) {
  if (p.resize == Preprocess::ResizeMode::kExact && (p.resize_width <= 0 || p.resize_height <= 0))
    Throw<InvalidArgument>("resize: ", p.resize_width, "x", p.resize_height, " must be positive");
  if (p.resize == Preprocess::ResizeMode::kShorterSide && p.shorter_side <= 0)
    Throw<InvalidArgument>("resize: the shorter side (", p.shorter_side, ") must be positive");
  if ((p.crop_width == 0) != (p.crop_height == 0) || p.crop_width < 0 || p.crop_height < 0)
    Throw<InvalidArgument>("crop: ", p.crop_width, "x", p.crop_height, " must be positive (or 0x0: none)");
  if (!std::isfinite(p.scale) || p.scale == 0.0f) Throw<InvalidArgument>("scale must be finite and non-zero");
  for (int c = 0; c < 3; ++c)
    if (!std::isfinite(p.norm.mean[c]) || !std::isfinite(p.norm.std[c]) || p.norm.std[c] == 0.0f)
      Throw<InvalidArgument>("mean and std must be finite and std non-zero");
}

std::string Describe(const Preprocess& p) {
  std::ostringstream out;
  switch (p.resize) {
    case Preprocess::ResizeMode::kNone: out << "no resize"; break;
    case Preprocess::ResizeMode::kExact:
      out << "resize to " << p.resize_width << "x" << p.resize_height << " (" << ResizeFilterName(p.filter) << ")";
      break;
    case Preprocess::ResizeMode::kShorterSide:
      out << "shorter side -> " << p.shorter_side << " (" << ResizeFilterName(p.filter) << ")";
      break;
  }
  if (p.crop_width > 0) out << ", centre crop " << p.crop_width << "x" << p.crop_height;
  out << ", " << (p.bgr ? "BGR" : "RGB") << ", (v";
  if (p.scale != 1.0f) out << " * " << Number(p.scale);
  out << " - " << TripleText(p.norm.mean) << ") / " << TripleText(p.norm.std) << ", "
      << (p.nhwc ? "NHWC" : "NCHW");
  return out.str();
}

std::optional<Shape> FixedInputShape(const Preprocess& p) {
  int w = 0, h = 0;
  if (p.crop_width > 0) {
    w = p.crop_width;
    h = p.crop_height;
  } else if (p.resize == Preprocess::ResizeMode::kExact) {
    w = p.resize_width;
    h = p.resize_height;
  } else {
    return std::nullopt;
  }
  return p.nhwc ? Shape{1, h, w, 3} : Shape{1, 3, h, w};
}

RgbImage ApplyGeometry(const Preprocess& p, const RgbImage& image) {
  RgbImage out;
  switch (p.resize) {
    case Preprocess::ResizeMode::kNone: out = image; break;
    case Preprocess::ResizeMode::kExact: out = Resize(image, p.resize_width, p.resize_height, p.filter); break;
    case Preprocess::ResizeMode::kShorterSide: {
      // torchvision's Resize(int): the longer side is truncated, not rounded.
      const int s = p.shorter_side;
      int w = s, h = s;
      if (image.width < image.height) h = static_cast<int>(static_cast<int64_t>(s) * image.height / image.width);
      else if (image.height < image.width) w = static_cast<int>(static_cast<int64_t>(s) * image.width / image.height);
      out = Resize(image, w, h, p.filter);
      break;
    }
  }
  if (p.crop_width > 0) out = CenterCrop(out, p.crop_width, p.crop_height);
  return out;
}

NDArray ToTensor(const Preprocess& p, const RgbImage& image, Context ctx) {
  Validate(p);
  const size_t plane = static_cast<size_t>(image.width) * image.height;
  if (image.pixels.size() != plane * 3)
    Throw<InvalidArgument>("ToTensor: malformed image ", image.width, "x", image.height);
  std::vector<float> out(plane * 3);
  for (size_t i = 0; i < plane; ++i)
    for (size_t t = 0; t < 3; ++t) {
      const size_t c = p.bgr ? 2 - t : t;  // tensor channel t holds colour c
      const float v = (static_cast<float>(image.pixels[i * 3 + c]) * p.scale - p.norm.mean[c]) / p.norm.std[c];
      out[p.nhwc ? i * 3 + t : t * plane + i] = v;
    }
  const Shape shape = p.nhwc ? Shape{1, image.height, image.width, 3} : Shape{1, 3, image.height, image.width};
  return NDArray(out, shape, ctx);
}

NDArray Apply(const Preprocess& p, const RgbImage& image, Context ctx) {
  return ToTensor(p, ApplyGeometry(p, image), ctx);
}

}  // namespace tandem::samples
