// Reference Concat and SliceChannel. Both view every tensor as (outer, extent along the axis,
// inner) and move contiguous blocks of extent*inner elements, as bytes: any dtype (MXNet models
// split and join int64 shape vectors too).
#include <cstring>
#include <vector>

#include "lib/ops/params.hpp"
#include "lib/ref/kernels.hpp"
#include "lib/ref/ref_util.hpp"

namespace tandem::ref {
namespace {

// Block sizes in bytes: each part contributes `part_blocks[i]` bytes to every one of `outer`
// rows of `row_bytes` bytes of the joined tensor.
struct BlockPlan {
  int64_t outer = 0, row_bytes = 0;
  std::vector<int64_t> part_blocks;
};

// Throws TypeError unless every input and output has the same dtype; returns its width.
size_t CommonWidth(const KernelSpec& spec) {
  const DType t = spec.inputs.at(0).dtype;
  auto check = [&](const TensorDesc& d) {
    if (d.dtype != t)
      Throw<TypeError>("node '", spec.node, "' (", spec.schema.name, "): dtypes ", DTypeName(t), " and ",
                       DTypeName(d.dtype), " are mixed; every input and output must have the same");
  };
  for (const TensorDesc& d : spec.inputs) check(d);
  for (const TensorDesc& d : spec.outputs) check(d);
  return DTypeSize(t);
}

BlockPlan PlanBlocks(const KernelSpec& spec, const Shape& joined, int axis,
                     const std::vector<const Shape*>& parts) {
  BlockPlan plan;
  const int64_t inner = joined.Prod(axis + 1, joined.ndim()) * static_cast<int64_t>(CommonWidth(spec));
  plan.outer = joined.Prod(0, axis);
  plan.row_bytes = joined[axis] * inner;
  int64_t extent = 0;
  for (const Shape* part : parts) {
    bool fits = part->ndim() == joined.ndim();
    for (int d = 0; fits && d < joined.ndim(); ++d) fits = d == axis || (*part)[d] == joined[d];
    if (!fits) {
      ShapeMismatch(spec, "part " + part->ToString() + " does not fit " + joined.ToString() +
                              " along axis " + std::to_string(axis));
    }
    extent += (*part)[axis];
    plan.part_blocks.push_back((*part)[axis] * inner);
  }
  if (extent != joined[axis]) {
    ShapeMismatch(spec, "parts add up to " + std::to_string(extent) + " along axis " +
                            std::to_string(axis) + " but the whole " + joined.ToString() +
                            " has " + std::to_string(joined[axis]));
  }
  return plan;
}

}  // namespace

std::unique_ptr<Kernel> MakeConcat(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::ConcatParams>(spec.params);
  RequireArity(spec, 1, 1);
  const Shape& out = spec.outputs[0].shape;
  const int axis = NormaliseAxis(spec, p.dim, out);
  std::vector<const Shape*> parts;
  for (const TensorDesc& in : spec.inputs) parts.push_back(&in.shape);
  const BlockPlan plan = PlanBlocks(spec, out, axis, parts);
  return MakeKernel([plan](const KernelCall& call) {
    auto* dst = static_cast<char*>(call.outputs[0].data);
    for (int64_t o = 0; o < plan.outer; ++o) {
      for (size_t i = 0; i < plan.part_blocks.size(); ++i) {
        const auto* src = static_cast<const char*>(call.inputs[i].data);
        if (plan.part_blocks[i] == 0) continue;  // empty parts may have no buffer at all
        std::memcpy(dst, src + o * plan.part_blocks[i], plan.part_blocks[i]);
        dst += plan.part_blocks[i];
      }
    }
  });
}

std::unique_ptr<Kernel> MakeSliceChannel(const KernelSpec& spec) {
  const auto& p = ParamsAs<ops::SliceChannelParams>(spec.params);
  RequireArity(spec, 1, 1);
  const Shape& in = spec.inputs[0].shape;
  const int axis = NormaliseAxis(spec, p.axis, in);
  const int64_t pieces = static_cast<int64_t>(spec.outputs.size());
  if (pieces != p.num_outputs || in[axis] % pieces != 0) {
    ShapeMismatch(spec, "cannot split " + in.ToString() + " into " +
                            std::to_string(p.num_outputs) + " equal parts along axis " +
                            std::to_string(axis) + " (" + std::to_string(pieces) + " outputs)");
  }
  // squeeze_axis only drops the axis from the output shapes; the data layout is the same.
  Shape piece = in;
  piece[axis] = in[axis] / pieces;
  for (const TensorDesc& o : spec.outputs) {
    if (o.shape.Size() != piece.Size()) {
      ShapeMismatch(spec, "output " + o.shape.ToString() + " should hold a " + piece.ToString() +
                              " slice of " + in.ToString());
    }
  }
  const BlockPlan plan = PlanBlocks(spec, in, axis, std::vector<const Shape*>(pieces, &piece));
  return MakeKernel([plan](const KernelCall& call) {
    const auto* src = static_cast<const char*>(call.inputs[0].data);
    for (int64_t o = 0; o < plan.outer; ++o) {
      for (size_t i = 0; i < plan.part_blocks.size(); ++i) {
        auto* dst = static_cast<char*>(call.outputs[i].data);
        if (plan.part_blocks[i] == 0) continue;  // empty parts may have no buffer at all
        std::memcpy(dst + o * plan.part_blocks[i], src, plan.part_blocks[i]);
        src += plan.part_blocks[i];
      }
    }
  });
}

}  // namespace tandem::ref
