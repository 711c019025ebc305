// oneDNN convolution kernels by memory layout: one primitive per shape, one thread (run with
// OMP_NUM_THREADS=1), nhwc source and destination against nChw16c, ms per call; for 3x3 stride-1
// layers also oneDNN's small-tile Winograd kernel (F(2x2, 3x3), nChw16c, batch 1 only: at a
// larger batch it runs once per sample, as tandem's plan does). It is the measurement behind the
// CPU blocked-activation pass and the Winograd choice (docs/performance.md, "blocked
// activations", "Winograd"); shapes are MobileNet v2's ("mobile") or ResNet-50's ("resnet").
//   bench/dnnl-conv-layouts BATCH mobile|resnet
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unordered_map>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

namespace {

using Tag = dnnl::memory::format_tag;

struct Layer {
  int in, out, size, kernel, stride, groups;
};

// The mean over >= 0.5 s of calls on buffers filled with data: untouched buffers read the
// kernel's shared zero page and make memory-bound layers look several times faster.
double TimeLayer(int batch, const Layer& l, Tag tag, const char** impl,
                 dnnl::algorithm algorithm = dnnl::algorithm::convolution_direct) {
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  const int pad = l.kernel / 2, out_size = (l.size + 2 * pad - l.kernel) / l.stride + 1;
  using dt = dnnl::memory::data_type;
  const dnnl::memory::dims weight_dims =
      l.groups > 1 ? dnnl::memory::dims{l.groups, l.out / l.groups, l.in / l.groups, l.kernel, l.kernel}
                   : dnnl::memory::dims{l.out, l.in, l.kernel, l.kernel};
  const dnnl::memory::desc src({batch, l.in, l.size, l.size}, dt::f32, tag);
  const dnnl::memory::desc dst({batch, l.out, out_size, out_size}, dt::f32, tag);
  const dnnl::memory::desc weights(weight_dims, dt::f32, Tag::any);
  const dnnl::memory::desc bias({l.out}, dt::f32, Tag::x);
  const dnnl::convolution_forward::desc desc(
      dnnl::prop_kind::forward_inference, algorithm, src, weights, bias, dst,
      {l.stride, l.stride}, {pad, pad}, {pad, pad});
  const dnnl::convolution_forward::primitive_desc pd(desc, engine);
  *impl = pd.impl_info_str();
  // Only the small tile: the F(4x4, 3x3) kernel (jit_wino_4x3) is not one tandem uses.
  if (algorithm == dnnl::algorithm::convolution_winograd && std::strstr(*impl, "wino_2x3") == nullptr)
    return -1;
  std::unordered_map<int, dnnl::memory> args = {
      {DNNL_ARG_SRC, dnnl::memory(pd.src_desc(), engine)},
      {DNNL_ARG_WEIGHTS, dnnl::memory(pd.weights_desc(), engine)},
      {DNNL_ARG_BIAS, dnnl::memory(bias, engine)},
      {DNNL_ARG_DST, dnnl::memory(pd.dst_desc(), engine)}};
  for (auto& [arg, m] : args) {
    float* p = static_cast<float*>(m.get_data_handle());
    const size_t n = m.get_desc().get_size() / sizeof(float);
    for (size_t i = 0; i < n; ++i) p[i] = 0.001f * static_cast<float>(i % 97);
  }
  const dnnl::convolution_forward conv(pd);
  conv.execute(stream, args);
  stream.wait();
  int calls = 0;
  const auto start = std::chrono::steady_clock::now();
  double elapsed = 0;
  do {
    conv.execute(stream, args);
    stream.wait();
    ++calls;
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  } while (elapsed < 0.5);
  return elapsed / calls * 1e3;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 || (std::strcmp(argv[2], "mobile") != 0 && std::strcmp(argv[2], "resnet") != 0)) {
    std::fprintf(stderr, "usage: dnnl-conv-layouts BATCH mobile|resnet\n");
    return 2;
  }
  const int batch = std::atoi(argv[1]);
  const std::vector<Layer> mobile = {{144, 24, 56, 1, 1, 1}, {16, 96, 112, 1, 1, 1},   {32, 16, 112, 1, 1, 1},
                                     {96, 96, 112, 3, 2, 96}, {32, 32, 112, 3, 1, 32}, {144, 144, 56, 3, 1, 144},
                                     {576, 576, 14, 3, 1, 576}, {96, 576, 14, 1, 1, 1}};
  const std::vector<Layer> resnet = {{64, 64, 56, 3, 1, 1},    {256, 64, 56, 1, 1, 1},  {64, 256, 56, 1, 1, 1},
                                     {128, 128, 28, 3, 1, 1},  {512, 128, 28, 1, 1, 1}, {256, 256, 14, 3, 1, 1},
                                     {1024, 256, 14, 1, 1, 1}, {512, 512, 7, 3, 1, 1},  {2048, 512, 7, 1, 1, 1}};
  std::printf("batch %d: in -> out channels, size, kernel, stride, groups: nhwc ms (kernel) | nChw16c ms (kernel)"
              " | Winograd F(2x2,3x3) ms\n", batch);
  for (const Layer& l : std::strcmp(argv[2], "mobile") == 0 ? mobile : resnet) {
    const char *nhwc_impl = nullptr, *blocked_impl = nullptr;
    const double nhwc = TimeLayer(batch, l, Tag::nhwc, &nhwc_impl);
    const double blocked = TimeLayer(batch, l, Tag::nChw16c, &blocked_impl);
    std::printf("%5d -> %-5d %4dx%-4d k%d s%d g%-4d %8.3f (%s) | %8.3f (%s)", l.in, l.out, l.size, l.size,
                l.kernel, l.stride, l.groups, nhwc, nhwc_impl, blocked, blocked_impl);
    if (l.kernel == 3 && l.stride == 1 && l.groups == 1) {
      const char* winograd_impl = nullptr;
      double winograd = -1;
      try {
        // One sample at a time, as the plan runs it.
        winograd = batch * TimeLayer(1, l, Tag::nChw16c, &winograd_impl, dnnl::algorithm::convolution_winograd);
      } catch (const dnnl::error&) {
      }
      if (winograd > 0) std::printf(" | %8.3f", winograd);
      else std::printf(" | none");
    }
    std::printf("\n");
  }
  return 0;
}
