// face_pipeline MTCNN_DIR GENDERAGE_PREFIX IMAGE... [options]   (--help lists them)
//
// Faces first, then judged: the MTCNN cascade (MTCNN_DIR/det1..det3, three models) finds every
// face and its five landmarks, each face is aligned to InsightFace's 112x112 template, and the
// gender/age model (GENDERAGE_PREFIX) judges the aligned crop. Four models in one process, each
// ONE CachedOp shared by all worker threads (one per image unless --threads says otherwise): what
// MXNet's one-model-per-process deployments could not do. Per face: box, landmarks, gender, age.
// With --aligned each image is taken as an already aligned 112x112 face (MTCNN is not run).
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <stb_image_write.h>

#include "samples/face.hpp"
#include "samples/image.hpp"
#include "tandem/tandem.hpp"

namespace {

using tandem::InvalidArgument;
namespace samples = tandem::samples;

constexpr const char* kUsage =
    "usage: face_pipeline MTCNN_DIR GENDERAGE_PREFIX IMAGE... [options]  (--help for the options)";

constexpr const char* kHelp = R"(usage: face_pipeline MTCNN_DIR GENDERAGE_PREFIX IMAGE... [options]

Finds the faces in each IMAGE with MTCNN (MTCNN_DIR/det1, det2, det3: -symbol.json and
-0001.params), aligns each to InsightFace's 112x112 five-landmark template and runs the gender/age
model GENDERAGE_PREFIX-symbol.json + GENDERAGE_PREFIX-NNNN.params on it. Prints, per face, the box
(x1, y1)-(x2, y2), the detector's score, the five landmarks, the gender and the age.

Options:
  --threads N         worker threads (default: one per image); all share the four CachedOps,
                      and the results do not depend on N
  --min-face N        smallest face side searched, pixels (default 20)
  --thresholds a,b,c  P-Net, R-Net, O-Net face probability thresholds (default 0.6,0.7,0.8)
  --epoch N           gender/age checkpoint epoch (default 0)
  --aligned           each IMAGE is an aligned 112x112 face already (other sizes are resized):
                      skip detection; MTCNN_DIR is not read
  --save-faces DIR    write each aligned face as DIR/<image>-face<K>.png
  --gpu               run every model on gpu(0)

Preprocessing is fixed by the models: MTCNN reads B, G, R planes, (v - 127.5) / 128, at every
pyramid scale (resized with stb_image_resize's triangle filter); the gender/age model reads R, G, B
planes of the aligned face with raw pixels 0..255 (its graph normalises).
)";

struct Options {
  std::string mtcnn_dir, genderage_prefix;
  std::vector<std::string> files;
  int threads = 0;
  int epoch = 0;
  bool aligned = false;
  bool gpu = false;
  std::string save_dir;
  samples::MtcnnOptions detect;
};

int IntArg(const std::string& flag, const std::string& value, int min) {
  return samples::IntArg(flag, value, min, 100000);
}

Options Parse(int argc, char** argv) {
  samples::ExitOnHelp(argc, argv, kHelp);
  if (argc < 4) throw InvalidArgument(kUsage);
  Options o;
  o.mtcnn_dir = argv[1];
  o.genderage_prefix = argv[2];
  for (int i = 3; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--", 0) != 0) {
      o.files.push_back(a);
      continue;
    }
    if (a == "--aligned") {
      o.aligned = true;
      continue;
    }
    if (a == "--gpu") {
      o.gpu = true;
      continue;
    }
    if (a != "--threads" && a != "--min-face" && a != "--thresholds" && a != "--epoch" && a != "--save-faces")
      throw InvalidArgument("unknown option '" + a + "'\n" + kUsage);
    if (i + 1 >= argc) throw InvalidArgument(a + " needs a value\n" + kUsage);
    const std::string v = argv[++i];
    if (a == "--threads") o.threads = IntArg(a, v, 1);
    else if (a == "--min-face") o.detect.min_face = static_cast<float>(IntArg(a, v, 1));
    else if (a == "--epoch") o.epoch = IntArg(a, v, 0);
    else if (a == "--save-faces") o.save_dir = v;
    else {
      o.detect.thresholds = samples::ParseTriple(v, a);
      for (float t : o.detect.thresholds)
        if (!(t >= 0.0f && t < 1.0f)) throw InvalidArgument("--thresholds: each must be in [0, 1), got '" + v + "'");
    }
  }
  if (o.files.empty()) throw InvalidArgument(std::string("no image files given\n") + kUsage);
  return o;
}

struct FaceResult {
  samples::Face face;
  samples::GenderAgeResult judged;
};

struct Job {
  std::vector<FaceResult> faces;
  double ms = 0;
  std::string error;
};

const char* const kLandmarkNames[5] = {"left eye", "right eye", "nose", "mouth left", "mouth right"};

void Process(const std::optional<samples::MtcnnDetector>& detector, const samples::GenderAge& genderage,
             const Options& o, size_t index, Job& job) {
  const std::string& file = o.files[index];
  try {
    const auto t0 = std::chrono::steady_clock::now();
    samples::RgbImage image = samples::LoadRgb(file);
    std::vector<samples::RgbImage> crops;
    if (o.aligned) {
      if (image.width != samples::kAlignedSide || image.height != samples::kAlignedSide)
        image = samples::Resize(image, samples::kAlignedSide, samples::kAlignedSide);
      job.faces.push_back({});
      crops.push_back(image);
    } else {
      for (const samples::Face& f : detector->Detect(image, o.detect)) {
        job.faces.push_back({f, {}});
        crops.push_back(samples::AlignFace(image, f));
      }
    }
    for (size_t k = 0; k < crops.size(); ++k) {
      job.faces[k].judged = genderage.Predict(crops[k]);
      if (!o.save_dir.empty()) {
        const std::string out = o.save_dir + "/" + std::filesystem::path(file).stem().string() + "-face" +
                                std::to_string(k + 1) + ".png";
        if (!stbi_write_png(out.c_str(), crops[k].width, crops[k].height, 3, crops[k].pixels.data(), crops[k].width * 3))
          throw tandem::FormatError(out + ": cannot write the face image");
      }
    }
    job.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  } catch (const tandem::Error& e) {
    job.error = std::string(tandem::ErrorKindName(e.kind())) + ": " + e.what();
  } catch (const std::exception& e) {
    job.error = e.what();
  }
}

int Run(const Options& o) {
  if (o.gpu && !tandem::GpuAvailable())
    throw tandem::DeviceError("--gpu given but no GPU is available (tandem was built without CUDA, "
                              "or no CUDA device is visible)");
  const tandem::Context ctx = o.gpu ? tandem::Context::gpu(0) : tandem::Context::cpu();
  std::optional<samples::MtcnnDetector> detector;
  if (!o.aligned) detector.emplace(o.mtcnn_dir, ctx);
  const samples::GenderAge genderage(o.genderage_prefix, o.epoch, ctx);
  if (!o.save_dir.empty() && !std::filesystem::is_directory(o.save_dir))
    throw InvalidArgument("--save-faces: '" + o.save_dir + "' is not a directory");

  std::vector<Job> jobs(o.files.size());
  const size_t workers = o.threads > 0 ? std::min<size_t>(o.threads, jobs.size()) : jobs.size();
  std::atomic<size_t> next{0};
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (size_t w = 0; w < workers; ++w)
    threads.emplace_back([&] {
      for (size_t i; (i = next.fetch_add(1)) < jobs.size();) Process(detector, genderage, o, i, jobs[i]);
    });
  for (auto& t : threads) t.join();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  int status = 0;
  size_t total = 0;
  for (size_t i = 0; i < jobs.size(); ++i) {
    const Job& job = jobs[i];
    if (!job.error.empty()) {
      const bool named = job.error.find(o.files[i]) != std::string::npos;
      std::fprintf(stderr, "face_pipeline: %s%s%s\n", named ? "" : o.files[i].c_str(), named ? "" : ": ",
                   job.error.c_str());
      status = 1;
      continue;
    }
    total += job.faces.size();
    if (o.aligned) {
      const auto& g = job.faces[0].judged;
      std::printf("%s: aligned face: %s (logits female %.4f, male %.4f), age %d\n", o.files[i].c_str(),
                  g.male ? "male" : "female", g.female_logit, g.male_logit, g.age);
      continue;
    }
    std::printf("%s: %zu face%s (%.1f ms)\n", o.files[i].c_str(), job.faces.size(),
                job.faces.size() == 1 ? "" : "s", job.ms);
    for (size_t k = 0; k < job.faces.size(); ++k) {
      const auto& f = job.faces[k].face;
      const auto& g = job.faces[k].judged;
      std::printf("  face %zu: box (%.1f, %.1f)-(%.1f, %.1f), score %.5f\n", k + 1, f.x1, f.y1, f.x2, f.y2, f.score);
      std::printf("    landmarks:");
      for (int l = 0; l < 5; ++l)
        std::printf(" %s (%.1f, %.1f)%s", kLandmarkNames[l], f.landmarks[l][0], f.landmarks[l][1], l < 4 ? "," : "\n");
      std::printf("    %s (logits female %.4f, male %.4f), age %d\n", g.male ? "male" : "female", g.female_logit,
                  g.male_logit, g.age);
    }
  }
  if (status == 0)
    std::printf("%zu image(s), %zu face(s): %zu thread(s) on %s sharing %s in %.3f s\n", jobs.size(), total,
                workers, ctx.ToString().c_str(),
                o.aligned ? "one CachedOp (gender/age)" : "4 CachedOps (MTCNN det1, det2, det3, gender/age)",
                seconds);
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(Parse(argc, argv));
  } catch (const tandem::Error& e) {
    std::fprintf(stderr, "face_pipeline: %s: %s\n", tandem::ErrorKindName(e.kind()), e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "face_pipeline: %s\n", e.what());
  }
  return 1;
}
