# Conformance cases for the tensor family (lib/ops/tensor_ops.cpp, TensorOps()): normalisation
# layers, reductions, arg-reductions and orderings, gathers, dot products, constants and shapes.
# Generate with
#   MXNET_SUBGRAPH_BACKEND=NONE /work/mxv/bin/python tools/conformance/generate.py tensor
# Notes:
# - topk / sort / argsort: MXNet's CPU sort is not stable, so the data here has no ties (random
#   floats); tandem sorts stably.
# - take mode='raise' only gets in-range indices here (an out-of-range one is an MXNet error;
#   tandem throws InvalidArgument, see test/ops/test_tensor_ops.cpp).
# - Indices are float32 as MXNet models feed them, with a few int32 / int64 cases.
from conformance_lib import *

NAN = float("nan")

CASES = []


def add(*cases):
    CASES.extend(cases)


# ---- normalisation ------------------------------------------------------------------------

add(
    Case("L2Normalization", {"data": uniform((2, 3, 4, 5))}, {}),
    Case("L2Normalization", {"data": uniform((3, 7))}, {"mode": "instance", "eps": 1e-4}),
    Case("L2Normalization", {"data": uniform((2, 3, 4, 5))}, {"mode": "channel"}),
    Case("L2Normalization", {"data": uniform((2, 3, 6))}, {"mode": "spatial", "eps": 0.01}),
    Case("L2Normalization", {"data": uniform((2, 3, 2, 2, 3))}, {"mode": "spatial"}),
)


def affine(c):
    return {"gamma": uniform((c,), 0.5, 1.5), "beta": uniform((c,))}


add(
    Case("InstanceNorm", {"data": uniform((2, 3, 4, 5), -2, 2), **affine(3)}, {}),
    Case("InstanceNorm", {"data": uniform((2, 4, 6), -2, 2), **affine(4)}, {"eps": 0.1}),
    Case("LayerNorm", {"data": uniform((2, 3, 8), -2, 2), **affine(8)}, {}),
    Case("LayerNorm", {"data": uniform((2, 5, 3, 2), -2, 2), **affine(5)},
         {"axis": 1, "eps": 1e-3}),
    Case("LayerNorm", {"data": uniform((4, 6), -2, 2), **affine(6)}, {"output_mean_var": True},
         label="LayerNorm_mean_var"),
    Case("LayerNorm", {"data": uniform((3, 4, 5), -2, 2), **affine(4)},
         {"axis": -2, "output_mean_var": True}, label="LayerNorm_mean_var_axis"),
    Case("GroupNorm", {"data": uniform((2, 4, 3, 3), -2, 2), **affine(2)}, {"num_groups": 2}),
    Case("GroupNorm", {"data": uniform((2, 6, 5), -2, 2), **affine(1)}, {}),
    Case("GroupNorm", {"data": uniform((1, 8, 2, 2, 2), -2, 2), **affine(4)},
         {"num_groups": 4, "eps": 1e-3}),
    Case("GroupNorm", {"data": uniform((2, 6, 4), -2, 2), **affine(3)},
         {"num_groups": 3, "output_mean_var": True}, label="GroupNorm_mean_var"),
)

# ---- reductions over axes -------------------------------------------------------------------

REDUCE_ATTRS = [
    {},
    {"axis": 1},
    {"axis": (0, 2), "keepdims": True},
    {"axis": -1, "keepdims": True},
    {"axis": (1,), "exclude": True},
    {"axis": (0, -1), "exclude": True, "keepdims": True},
    {"axis": ()},
]
for op in ("max", "min", "prod", "nansum", "nanprod"):
    low, high = (-1.6, 1.6) if "prod" in op else (-2, 2)
    for attrs in REDUCE_ATTRS:
        add(Case(op, {"data": uniform((2, 3, 4), low, high)}, attrs))

# NaN handling: max / min propagate NaN, nansum / nanprod skip it, prod propagates it.
WITH_NAN = [[[1.5, NAN, -2.0], [0.5, 0.25, 3.0]], [[NAN, NAN, 2.0], [-1.0, 4.0, 0.5]]]
for op in ("max", "min", "prod", "nansum", "nanprod"):
    add(Case(op, {"data": fixed(WITH_NAN)}, {"axis": 2}, label=op + "_nan"))

# Ties and infinities for max / min.
add(Case("max", {"data": integers((3, 5), -2, 3)}, {"axis": 0}, label="max_ties"),
    Case("min", {"data": fixed([[float("-inf"), 1.0], [float("inf"), float("inf")]])},
         {"axis": 1}, label="min_inf"))

for attrs in [{}, {"ord": 1}, {"axis": 1}, {"ord": 1, "axis": (0, 2), "keepdims": True},
              {"ord": 2, "axis": -1, "keepdims": True}, {"axis": (1, 2)},
              {"axis": 0, "out_dtype": "float32"}]:
    add(Case("norm", {"data": uniform((2, 3, 4), -2, 2)}, attrs))

# ---- argmax / argmin / argmax_channel -------------------------------------------------------

for op in ("argmax", "argmin"):
    for attrs in [{}, {"axis": 1}, {"axis": 0, "keepdims": True}, {"axis": -1},
                  {"keepdims": True}]:
        add(Case(op, {"data": uniform((2, 3, 4))}, attrs))
    # Ties (first occurrence wins) and NaN (the first NaN wins).
    add(Case(op, {"data": integers((4, 6), 0, 3)}, {"axis": 1}, label=op + "_ties"),
        Case(op, {"data": fixed([[1.0, NAN, 3.0, NAN], [2.0, 2.0, -1.0, -1.0]])}, {"axis": 1},
             label=op + "_nan"))
add(Case("argmax", {"data": uniform((5,))}, {"axis": 0}, label="argmax_1d"),
    Case("argmax_channel", {"data": uniform((3, 5))}, {}),
    Case("argmax_channel", {"data": uniform((2, 4, 3, 2))}, {}))

# ---- topk / sort / argsort ------------------------------------------------------------------

for attrs in [{}, {"k": 3}, {"k": 2, "ret_typ": "value"}, {"k": 2, "ret_typ": "both"},
              {"k": 3, "ret_typ": "mask"}, {"k": 2, "is_ascend": True, "ret_typ": "both"},
              {"k": 2, "axis": 0, "ret_typ": "both"}, {"k": 2, "axis": 1, "ret_typ": "mask"},
              {"k": 4, "axis": "None", "ret_typ": "both"},
              {"k": 3, "axis": "None", "ret_typ": "mask"},
              {"k": 0, "ret_typ": "value"}, {"k": 2, "dtype": "int32"},
              {"k": 2, "ret_typ": "both", "dtype": "int64"}, {"k": 2, "dtype": "float64"},
              {"k": 2, "dtype": "uint8", "is_ascend": True}, {"k": 3, "dtype": "float16"}]:
    add(Case("topk", {"data": uniform((3, 4, 5))}, attrs))
for attrs in [{}, {"is_ascend": False}, {"axis": 0}, {"axis": 1, "is_ascend": False},
              {"axis": "None"}]:
    add(Case("sort", {"data": uniform((3, 4, 5))}, attrs))
for attrs in [{}, {"is_ascend": False}, {"axis": 0}, {"axis": "None"}, {"dtype": "int64"},
              {"axis": 1, "dtype": "int32", "is_ascend": False}]:
    add(Case("argsort", {"data": uniform((3, 4, 5))}, attrs))

# ---- gathers --------------------------------------------------------------------------------

for attrs, indices in [({}, integers((3,), 0, 4)),
                       ({"axis": 1}, integers((2, 3), 0, 5)),
                       ({"axis": -1}, integers((4,), 0, 6)),
                       ({"mode": "clip"}, integers((2, 4), -3, 8)),
                       ({"mode": "wrap"}, integers((2, 4), -9, 12)),
                       ({"axis": 2, "mode": "wrap"}, integers((5,), -7, 10)),
                       ({"mode": "raise", "axis": 1}, integers((3, 2), 0, 5)),
                       ({"axis": 1}, integers((2, 2), 0, 5, dtype="int32")),
                       ({"axis": 0}, fixed([-0.5, 0.7, 2.9, 3.5, -1.5]))]:
    add(Case("take", {"a": uniform((4, 5, 6)), "indices": indices}, attrs))

add(Case("Embedding", {"data": integers((2, 5), 0, 10), "weight": uniform((10, 4))},
         {"input_dim": 10, "output_dim": 4}),
    Case("Embedding", {"data": integers((3,), -4, 14), "weight": uniform((10, 3))},
         {"input_dim": 10, "output_dim": 3}, label="Embedding_clip"),
    Case("Embedding", {"data": integers((2, 2, 3), 0, 7, dtype="int32"), "weight": uniform((7, 5))},
         {"input_dim": 7, "output_dim": 5}, label="Embedding_int32"),
    Case("Embedding", {"data": integers((4,), 0, 6, dtype="int64"), "weight": uniform((6, 2))},
         {"input_dim": 6, "output_dim": 2}, label="Embedding_int64"))

add(Case("gather_nd", {"data": uniform((3, 4, 5)), "indices": fixed([[0, 2, -1], [1, -4, 3]])}, {}),
    Case("gather_nd", {"data": uniform((3, 4)),
                       "indices": fixed([[[0, 1], [2, -3]], [[3, 0], [-1, 2]]])}, {}),
    Case("gather_nd", {"data": uniform((2, 3, 2)),
                       "indices": fixed([[1, 0, -1, 0], [2, 1, 0, -3], [0, 1, 1, -2]])}, {}),
    Case("gather_nd", {"data": uniform((3, 4)), "indices": fixed([[2, 0, 1]], dtype="int32")}, {},
         label="gather_nd_int32"))

add(Case("pick", {"data": uniform((3, 4)), "index": integers((3,), 0, 4)}, {}),
    Case("pick", {"data": uniform((3, 4)), "index": integers((4,), 0, 3)}, {"axis": 0}),
    Case("pick", {"data": uniform((2, 3, 4)), "index": integers((2, 4), 0, 3)},
         {"axis": 1, "keepdims": True}),
    Case("pick", {"data": uniform((2, 3, 4)), "index": integers((2, 1, 4), 0, 3)}, {"axis": 1}),
    Case("pick", {"data": uniform((3, 4)), "index": integers((3,), -6, 9)}, {"mode": "clip"}),
    Case("pick", {"data": uniform((3, 4)), "index": integers((3, 1), -6, 9)},
         {"mode": "wrap", "keepdims": True}),
    Case("pick", {"data": uniform((5,)), "index": fixed([3.0])}, {"axis": 0}))

add(Case("where", {"condition": integers((2, 3, 4), 0, 2), "x": uniform((2, 3, 4)),
                   "y": uniform((2, 3, 4))}, {}),
    Case("where", {"condition": fixed([1.0, 0.0, -2.0]), "x": uniform((3, 4)),
                   "y": uniform((3, 4))}, {}, label="where_rows"),
    Case("where", {"condition": fixed([0.0, 0.5, 1.0, 0.0]), "x": uniform((4,)),
                   "y": uniform((4,))}, {}, label="where_1d"))

add(Case("one_hot", {"indices": integers((2, 3), 0, 5)}, {"depth": 5}),
    Case("one_hot", {"indices": fixed([-1.0, 0.5, 1.7, 3.0, 2.0])}, {"depth": 3}),
    Case("one_hot", {"indices": integers((4,), 0, 4)},
         {"depth": 4, "on_value": 2.5, "off_value": -1.0}),
    Case("one_hot", {"indices": integers((3,), 0, 6)}, {"depth": 6, "dtype": "int32"}),
    Case("one_hot", {"indices": integers((2, 2), 0, 3, dtype="int32")},
         {"depth": 3, "dtype": "float64", "on_value": 7}))

# ---- dot / batch_dot ------------------------------------------------------------------------

for lhs, rhs, attrs in [((3, 4), (4, 5), {}),
                        ((4, 3), (4, 5), {"transpose_a": True}),
                        ((3, 4), (5, 4), {"transpose_b": True}),
                        ((4, 3), (5, 4), {"transpose_a": True, "transpose_b": True}),
                        ((2, 3, 4), (4, 5, 2), {}),
                        ((2, 3, 4), (2, 3, 5), {"transpose_a": True}),
                        ((2, 3, 4), (5, 2, 4), {"transpose_b": True}),
                        ((6,), (6,), {}),
                        ((4,), (4, 3), {}),
                        ((3, 4), (4,), {}),
                        ((4,), (3, 4), {"transpose_b": True}),
                        ((4,), (4, 2, 3), {})]:
    add(Case("dot", {"lhs": uniform(lhs), "rhs": uniform(rhs)}, attrs))

for lhs, rhs, attrs in [((2, 3, 4), (2, 4, 5), {}),
                        ((2, 4, 3), (2, 4, 5), {"transpose_a": True}),
                        ((2, 3, 4), (2, 5, 4), {"transpose_b": True}),
                        ((3, 4, 2), (3, 5, 4), {"transpose_a": True, "transpose_b": True}),
                        ((2, 2, 3, 4), (2, 2, 4, 3), {})]:
    add(Case("batch_dot", {"lhs": uniform(lhs), "rhs": uniform(rhs)}, attrs))

# ---- constants and shapes -------------------------------------------------------------------

for attrs in [{"start": 0, "stop": 5},
              {"start": 5},
              {"start": 0, "stop": 1, "step": 0.3},
              {"start": 2, "stop": 11, "step": 3, "repeat": 2, "dtype": "int32"},
              {"start": 5, "stop": 0, "step": -1.5},
              {"start": -3, "stop": 3, "dtype": "int64"},
              {"start": 0.5, "stop": 4, "step": 0.5, "dtype": "float64"},
              {"start": 1, "stop": 4, "repeat": 3},
              {"start": 1000, "stop": 1100, "step": 3.3, "dtype": "float16"},
              {"start": 0, "stop": 6, "step": 1.5, "dtype": "int32"}]:
    add(Case("_arange", {}, attrs))

for attrs in [{}, {"axis": -1}, {"start": 2, "step": 0.5}, {"axis": 0, "start": -1, "step": 2},
              {"repeat": 2, "start": 1}]:
    add(Case("_contrib_arange_like", {"data": uniform((3, 4))}, attrs))
# float16: MXNet truncates start and step to integers for it (see lib/ref/tensor_ops.cpp).
add(Case("_contrib_arange_like", {"data": uniform((2, 5), dtype="float16")},
         {"start": 2.5, "step": 1.75}, label="_contrib_arange_like_float16"))

add(Case("shape_array", {"data": uniform((2, 3, 4))}, {}),
    Case("shape_array", {"data": uniform((5,))}, {}),
    Case("size_array", {"data": uniform((2, 3, 4))}, {}),
    Case("_zeros", {}, {"shape": (2, 3)}),
    Case("_zeros", {}, {"shape": (4,), "dtype": "int32"}),
    Case("_ones", {}, {"shape": (2, 1, 3)}),
    Case("_ones", {}, {"shape": (3,), "dtype": "int64"}),
    Case("_full", {}, {"shape": (2, 2), "value": 2.5}),
    Case("_full", {}, {"shape": (3,), "value": -7, "dtype": "int32"}),
    Case("_full", {}, {"shape": (2, 3), "value": 0.1, "dtype": "float64"}))
