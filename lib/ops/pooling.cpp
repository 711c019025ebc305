// Pooling: max / avg / sum over 1..3 spatial dims, windowed or global; channel-first (NCHW) or,
// with MXNet's layout NWC / NHWC / NDHWC, channel-last.
#include "lib/ops/schema_util.hpp"
#include "lib/ops/schemas.hpp"

namespace tandem::ops {
namespace {

PoolType ParsePoolType(const AttrReader& r) {
  const std::string name = r.Enum("pool_type", "max", {"max", "avg", "sum", "lp"});
  if (name == "lp")
    Throw<Unsupported>("node '", r.node(), "' (", r.op(), "): pool_type 'lp' is not supported");
  return name == "max" ? PoolType::kMax : name == "avg" ? PoolType::kAvg : PoolType::kSum;
}

PoolConvention ParseConvention(const AttrReader& r) {
  const std::string name = r.Enum("pooling_convention", "valid", {"valid", "full", "same"});
  return name == "valid" ? PoolConvention::kValid
         : name == "full" ? PoolConvention::kFull
                          : PoolConvention::kSame;
}

std::any ParsePooling(const AttrReader& r) {
  PoolingParams p;
  p.pool = ParsePoolType(r);
  p.global_pool = r.Bool("global_pool", false);
  p.convention = ParseConvention(r);
  // A global pool ignores its kernel, so MXNet lets it be absent; the spatial rank then comes from
  // the data, and kernel / stride / pad stay empty.
  p.kernel = r.Tuple("kernel");
  if (p.kernel.empty() && !p.global_pool) r.Fail("kernel", "required unless global_pool=True");
  if (p.kernel.size() > 3) r.Fail("kernel", "must have 1 to 3 dimensions");
  if (!p.global_pool)
    for (int64_t k : p.kernel)
      if (k <= 0 || k > kMaxWindowValue) r.Fail("kernel", "values must be positive and <= 2147483647");
  const size_t rank = p.kernel.size();
  p.stride = SpatialTuple(r, "stride", rank, 1, 1);
  p.pad = SpatialTuple(r, "pad", rank, 0, 0);
  if (p.convention == PoolConvention::kSame)
    for (int64_t pad : p.pad)
      if (pad != 0) r.Fail("pad", "must be 0 with pooling_convention='same'");
  p.count_include_pad = OptionalBool(r, "count_include_pad", true);
  // cudnn_off and p_value (lp only) do not matter here.
  // A global pool without a kernel takes its rank from the data: the layout only places C.
  p.channels_last = ParseChannelsLast(r, rank);
  return p;
}

int64_t PooledExtent(const PoolingParams& p, int i, int64_t x, const std::string& node,
                     const Shape& data) {
  // 128 bits: kernel, stride and pad are at most 2^31 - 1 but x may be up to 2^63 (a zero-sized
  // array), so x + 2 * pad + s overflowed int64 (see test_fuzz_regressions).
  const __int128 k = p.kernel[i], s = p.stride[i], pad = p.pad[i], wx = x;
  if (k > wx + 2 * pad)
    FailShape(node, "pooling kernel ", p.kernel[i], " exceeds the padded input (data ", data.ToString(),
              ", pad ", p.pad[i], ")");
  __int128 extent = 0;
  switch (p.convention) {
    case PoolConvention::kValid:
      extent = (wx + 2 * pad - k) / s + 1;
      break;
    case PoolConvention::kFull:
      // MXNet's "full" is a plain ceil (it does not drop a last window that starts in the
      // padding, unlike Caffe); the kernels give such a window 0 (avg/sum) or the lowest float.
      extent = (wx + 2 * pad - k + s - 1) / s + 1;
      break;
    case PoolConvention::kSame:
      extent = (wx + s - 1) / s;
      break;
  }
  if (extent > INT64_MAX)
    FailShape(node, "the pooled extent of data ", data.ToString(), " with pad ", p.pad[i],
              " has more than 2^63 positions");
  return static_cast<int64_t>(extent);
}

void InferPooling(ShapeInferenceArgs& a) {
  const auto& p = ParamsAs<PoolingParams>(a.params);
  const Shape& data = a.in.at(0);
  if (!data.known()) return;
  Shape out = data;
  if (p.global_pool) {
    if (data.ndim() < 3 || data.ndim() > 5)
      FailShape(a.node, "pooling needs 3-d to 5-d data, got ", data.ToString());
    if (!p.kernel.empty() && data.ndim() != static_cast<int>(p.kernel.size()) + 2)
      FailShape(a.node, "a pool with a ", p.kernel.size(), "-d kernel needs ",
                p.kernel.size() + 2, "-d data, got ", data.ToString());
    for (int i = 0; i < data.ndim() - 2; ++i) out[SpatialAxis(p.channels_last, i)] = 1;
  } else {
    const int rank = static_cast<int>(p.kernel.size());
    if (data.ndim() != rank + 2)
      FailShape(a.node, "a pool with a ", rank, "-d kernel needs ", rank + 2, "-d data, got ",
                data.ToString());
    for (int i = 0; i < rank; ++i) {
      const int axis = SpatialAxis(p.channels_last, i);
      out[axis] = PooledExtent(p, i, data[axis], a.node, data);
    }
  }
  AssignShape(a.out, 0, out, a.node, "output");
}

}  // namespace

OpSchema PoolingSchema() {
  OpSchema s = UnaryIdentitySchema("Pooling");
  s.parse = ParsePooling;
  s.infer_shape = InferPooling;
  s.low_precision = true;
  return s;
}

}  // namespace tandem::ops
