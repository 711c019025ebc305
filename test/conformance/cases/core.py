# Conformance cases for the core operators (lib/ops/table.cpp, CoreOps()): convolution, batch
# norm, activations, pooling, fully-connected, softmax family, concat / split, shape ops, Cast,
# clip, copies at inference and sum / mean. Generate with
#   MXNET_SUBGRAPH_BACKEND=NONE /work/mxv/bin/python tools/conformance/generate.py core
# Not covered, on purpose:
# - Convolution layout NWC / NHWC / NDHWC: MXNet 1.9.1's CPU convolution cannot run it ("could
#   not create a descriptor for a dilated convolution forward propagation primitive"), so there
#   is no MXNet answer; test/ops/test_convolution.cpp checks tandem's NHWC against its NCHW.
# - Pooling pool_type 'lp', BatchNorm output_mean_var, softmax use_length: tandem rejects them
#   (Unsupported) by design.
# - Pooling pooling_convention 'same': MXNet 1.9.1 accepts it only for 1-D data, and there its
#   shape check reads pad[1] of a 1-element pad ("index = 1 must be in range [0, 1)"), so MXNet
#   never runs it.
# - Dropout mode='always': MXNet draws a random mask even at inference; nothing to compare.
from conformance_lib import *


def conv(data, num_filter, kernel, groups=1, bias=True, label=None, **attrs):
    """A Convolution case with weight (and bias) shaped from the data (NCHW...)."""
    c = data[1]
    inputs = {"data": uniform(data), "weight": uniform((num_filter, c // groups) + tuple(kernel))}
    if bias:
        inputs["bias"] = uniform((num_filter,))
    attrs.update(kernel=tuple(kernel), num_filter=num_filter, no_bias=not bias)
    if groups != 1:
        attrs["num_group"] = groups
    return Case("Convolution", inputs, attrs, label=label)


def batch_norm(shape, axis=1, label=None, **attrs):
    c = shape[axis]
    inputs = {"data": uniform(shape, -2, 2), "gamma": uniform((c,), 0.5, 1.5),
              "beta": uniform((c,)), "moving_mean": uniform((c,), -0.5, 0.5),
              "moving_var": uniform((c,), 0.5, 1.5)}
    if axis != 1:
        attrs["axis"] = axis
    return Case("BatchNorm", inputs, attrs, label=label)


def pool(shape, label=None, data=None, **attrs):
    return Case("Pooling", {"data": data or uniform(shape, -2, 2)}, attrs, label=label)


def fc(shape, num_hidden, flatten=True, bias=True, label=None):
    in_features = shape[-1] if not flatten else int(__import__("numpy").prod(shape[1:]))
    inputs = {"data": uniform(shape), "weight": uniform((num_hidden, in_features))}
    if bias:
        inputs["bias"] = uniform((num_hidden,))
    attrs = {"num_hidden": num_hidden}
    if not flatten:
        attrs["flatten"] = False
    if not bias:
        attrs["no_bias"] = True
    return Case("FullyConnected", inputs, attrs, label=label)


def reshape(shape, codes, reverse=False):
    attrs = {"shape": tuple(codes)}
    if reverse:
        attrs["reverse"] = True
    return Case("Reshape", {"data": uniform(shape)}, attrs)


def reduce(op, shape, **attrs):
    return Case(op, {"data": uniform(shape)}, attrs, atol=1e-5)


CASES = [
    # ---- Convolution: 1-D / 2-D / 3-D, stride, pad, dilation, groups (depthwise), no_bias ----
    conv((2, 3, 9), 4, (3,), label="conv1d"),
    conv((1, 4, 11), 6, (3,), stride=(2,), pad=(2,), dilate=(2,), groups=2, label="conv1d_strided_dilated_grouped"),
    conv((2, 3, 6, 7), 4, (3, 3), label="conv2d"),
    conv((1, 3, 7, 8), 5, (3, 2), stride=(2, 3), pad=(1, 2), label="conv2d_stride_pad_asymmetric"),
    conv((1, 2, 9, 9), 3, (3, 3), dilate=(2, 3), pad=(2, 1), label="conv2d_dilate"),
    conv((1, 4, 5, 6), 6, (3, 3), groups=2, pad=(1, 1), label="conv2d_groups"),
    conv((2, 4, 6, 6), 4, (3, 3), groups=4, pad=(1, 1), bias=False, label="conv2d_depthwise_no_bias"),
    conv((1, 3, 5, 5), 4, (1, 1), bias=False, label="conv2d_1x1_no_bias"),
    conv((1, 8, 4, 4), 16, (3, 3), stride=(2, 2), pad=(1, 1), label="conv2d_wider"),
    conv((1, 2, 4, 5, 6), 3, (2, 3, 3), label="conv3d"),
    conv((1, 4, 5, 6, 7), 4, (3, 3, 3), stride=(2, 1, 2), pad=(1, 1, 0), dilate=(1, 2, 1), groups=2,
         bias=False, label="conv3d_stride_pad_dilate_groups"),

    # ---- BatchNorm (inference: moving statistics) ----
    batch_norm((2, 3, 4, 5), label="bn_default_fix_gamma"),
    batch_norm((2, 3, 4, 5), fix_gamma=False, eps=1e-5, label="bn_gamma"),
    batch_norm((2, 3, 4, 5), fix_gamma=False, use_global_stats=True, label="bn_use_global_stats"),
    batch_norm((3, 4), fix_gamma=False, label="bn_2d"),
    batch_norm((2, 3, 4, 5), axis=3, fix_gamma=False, label="bn_axis_last"),
    batch_norm((2, 3, 4, 5), axis=-1, fix_gamma=False, label="bn_axis_minus1"),
    batch_norm((2, 5, 3), axis=2, fix_gamma=True, eps=0.01, label="bn_axis2_fix_gamma"),
    batch_norm((2, 3, 2, 3, 2), fix_gamma=False, label="bn_5d"),

    # ---- Activation: every act_type MXNet 1.9.1 has ----
    *[Case("Activation", {"data": uniform((2, 3, 4), -4, 4)}, {"act_type": a}, label="act_" + a)
      for a in ["relu", "sigmoid", "tanh", "softrelu", "softsign"]],
    Case("Activation", {"data": uniform((5,), -30, 30)}, {"act_type": "softrelu"},
         label="act_softrelu_large"),

    # ---- LeakyReLU ----
    Case("LeakyReLU", {"data": uniform((2, 3, 4), -3, 3)}, {}, label="leaky_default"),
    Case("LeakyReLU", {"data": uniform((2, 3, 4), -3, 3)}, {"act_type": "leaky", "slope": 0.1},
         label="leaky_slope"),
    Case("LeakyReLU", {"data": uniform((2, 3, 4, 2), -3, 3), "gamma": uniform((3,), 0, 0.5)},
         {"act_type": "prelu"}, label="prelu"),
    Case("LeakyReLU", {"data": uniform((2, 3, 4), -3, 3), "gamma": uniform((1,), 0, 0.5)},
         {"act_type": "prelu"}, label="prelu_shared_slope"),
    Case("LeakyReLU", {"data": uniform((2, 3, 4), -3, 3)}, {"act_type": "elu"}, label="elu_default"),
    Case("LeakyReLU", {"data": uniform((2, 3, 4), -3, 3)}, {"act_type": "elu", "slope": 0.7},
         label="elu_slope"),
    Case("LeakyReLU", {"data": uniform((2, 3, 4), -3, 3)}, {"act_type": "selu"}, label="selu"),
    Case("LeakyReLU", {"data": uniform((2, 3, 4), -4, 4)}, {"act_type": "gelu"}, label="gelu"),
    # rrelu has a second output in MXNet, its mask, which MXNet leaves unwritten at inference
    # (tandem's LeakyReLU has one output): only the result is compared.
    Case("LeakyReLU", {"data": uniform((2, 3, 4), -3, 3)}, {"act_type": "rrelu"},
         keep_outputs=[0], label="rrelu_default"),
    Case("LeakyReLU", {"data": uniform((2, 3, 4), -3, 3)},
         {"act_type": "rrelu", "lower_bound": 0.2, "upper_bound": 0.6}, keep_outputs=[0],
         label="rrelu_bounds"),

    # ---- Pooling: types, global, conventions, count_include_pad, 1-D / 2-D / 3-D, NHWC ----
    pool((2, 3, 6, 7), kernel=(2, 2), stride=(2, 2), pool_type="max", label="pool_max"),
    pool((2, 3, 6, 7), kernel=(3, 3), stride=(2, 2), pad=(1, 1), pool_type="avg", label="pool_avg_pad"),
    pool((1, 3, 6, 7), kernel=(3, 3), stride=(2, 2), pad=(1, 1), pool_type="avg",
         count_include_pad=False, label="pool_avg_exclude_pad"),
    pool((1, 2, 6, 7), kernel=(3, 2), stride=(1, 2), pad=(1, 0), pool_type="sum", label="pool_sum"),
    pool((1, 2, 7, 7), kernel=(2, 2), stride=(2, 2), pool_type="max", pooling_convention="full",
         label="pool_max_full"),
    pool((1, 2, 7, 8), kernel=(3, 3), stride=(2, 3), pad=(1, 1), pool_type="avg",
         pooling_convention="full", label="pool_avg_full_pad"),
    pool((1, 2, 7, 8), kernel=(3, 3), stride=(2, 3), pad=(1, 1), pool_type="sum",
         pooling_convention="full", label="pool_sum_full_pad"),
    pool((2, 3, 5, 4), kernel=(1, 1), global_pool=True, pool_type="avg", label="pool_global_avg"),
    pool((2, 3, 5, 4), global_pool=True, pool_type="max", label="pool_global_max_no_kernel"),
    pool((2, 3, 5, 4), kernel=(2, 2), global_pool=True, pool_type="sum", label="pool_global_sum"),
    pool((2, 3, 9), kernel=(3,), stride=(2,), pad=(1,), pool_type="max", label="pool1d_max"),
    pool((2, 3, 9), kernel=(4,), stride=(2,), pad=(1,), pool_type="avg", label="pool1d_avg"),
    pool((2, 3, 9), global_pool=True, pool_type="avg", label="pool1d_global_avg"),
    pool((1, 2, 4, 5, 6), kernel=(2, 2, 2), stride=(2, 2, 2), pool_type="max", label="pool3d_max"),
    pool((1, 2, 4, 5, 6), kernel=(3, 3, 3), stride=(1, 2, 2), pad=(1, 1, 1), pool_type="avg",
         count_include_pad=False, label="pool3d_avg_exclude_pad"),
    pool((1, 2, 4, 5, 6), global_pool=True, pool_type="max", label="pool3d_global_max"),
    pool((2, 6, 7, 3), kernel=(3, 3), stride=(2, 2), pad=(1, 1), pool_type="max", layout="NHWC",
         label="pool_max_nhwc"),
    pool((2, 6, 7, 3), kernel=(2, 2), stride=(2, 2), pool_type="avg", layout="NHWC",
         label="pool_avg_nhwc"),
    pool(None, data=integers((1, 2, 5, 5), -2, 3), kernel=(2, 2), stride=(1, 1), pool_type="max",
         label="pool_max_ties"),

    # ---- Flatten ----
    Case("Flatten", {"data": uniform((2, 3, 4, 5))}, label="flatten_4d"),
    Case("Flatten", {"data": uniform((3, 4))}, label="flatten_2d"),

    # ---- FullyConnected ----
    fc((3, 5), 4, label="fc"),
    fc((2, 3, 2, 2), 5, label="fc_flatten_4d"),
    fc((3, 6), 4, bias=False, label="fc_no_bias"),
    fc((2, 3, 5), 4, flatten=False, label="fc_no_flatten"),
    fc((2, 2, 3, 5), 3, flatten=False, bias=False, label="fc_no_flatten_no_bias"),

    # ---- SoftmaxOutput: its label is bound (MXNet needs it) but unused at inference ----
    Case("SoftmaxOutput", {"data": uniform((3, 5), -3, 3), "label": integers((3,), 0, 5)},
         label="softmax_output"),
    # More than 2-d data without multi_output / preserve_shape: MXNet's native CPU kernel and its
    # GPU kernel normalise over the flattened (N, rest), its oneDNN kernel (the pip build's
    # default) over the last axis only. tandem follows the native kernel, so this case runs MXNet
    # with its oneDNN operators off.
    Case("SoftmaxOutput", {"data": uniform((2, 3, 2, 2), -3, 3), "label": integers((2, 3, 2), 0, 3)},
         mxnet_env={"MXNET_MKLDNN_ENABLED": "0"}, label="softmax_output_flattened"),
    Case("SoftmaxOutput", {"data": uniform((2, 4, 3), -3, 3), "label": integers((2, 4), 0, 3)},
         mxnet_env={"MXNET_MKLDNN_ENABLED": "0"}, label="softmax_output_flattened_3d"),
    Case("SoftmaxOutput", {"data": uniform((2, 4, 3, 2), -3, 3), "label": integers((2, 3, 2), 0, 4)},
         {"multi_output": True}, label="softmax_output_multi"),
    Case("SoftmaxOutput", {"data": uniform((2, 3, 4), -3, 3), "label": integers((2, 3), 0, 4)},
         {"preserve_shape": True}, label="softmax_output_preserve_shape"),

    # ---- SoftmaxActivation (instance mode: over the LAST axis, as MXNet's CPU kernel does) ----
    Case("SoftmaxActivation", {"data": uniform((3, 5), -3, 3)}, label="softmax_activation"),
    Case("SoftmaxActivation", {"data": uniform((2, 3, 2, 2), -3, 3)}, {"mode": "instance"},
         label="softmax_activation_instance_4d"),
    Case("SoftmaxActivation", {"data": uniform((2, 3, 4), -3, 3)}, {"mode": "instance"},
         label="softmax_activation_instance_3d"),
    Case("SoftmaxActivation", {"data": uniform((2, 3, 2, 2), -3, 3)}, {"mode": "channel"},
         label="softmax_activation_channel"),
    Case("SoftmaxActivation", {"data": uniform((2, 4, 3), -3, 3)}, {"mode": "channel"},
         label="softmax_activation_channel_3d"),

    # ---- softmax / log_softmax ----
    *[Case(op, {"data": uniform((2, 3, 4), -3, 3)}, attrs, label="%s_%s" % (op, tag))
      for op in ["softmax", "log_softmax"]
      for tag, attrs in [("default", {}), ("axis0", {"axis": 0}), ("axis1", {"axis": 1}),
                         ("axis_minus2", {"axis": -2}), ("temperature", {"temperature": 2.5}),
                         ("axis1_temperature", {"axis": 1, "temperature": 0.5})]],
    Case("softmax", {"data": uniform((4, 6), -20, 20)}, {}, label="softmax_wide_range"),

    # ---- Concat (variadic: positional inputs) ----
    Case("Concat", {"arg0": uniform((2, 3, 2)), "arg1": uniform((2, 1, 2))}, {"num_args": 2},
         positional=True, label="concat_dim1_default"),
    Case("Concat", {"arg0": uniform((1, 3)), "arg1": uniform((2, 3)), "arg2": uniform((3, 3))},
         {"num_args": 3, "dim": 0}, positional=True, label="concat_dim0_three"),
    Case("Concat", {"arg0": uniform((2, 3, 1)), "arg1": uniform((2, 3, 4))},
         {"num_args": 2, "dim": -1}, positional=True, label="concat_dim_minus1"),
    Case("Concat", {"arg0": uniform((2, 3))}, {"num_args": 1, "dim": 1}, positional=True,
         label="concat_one"),

    # ---- SliceChannel ----
    Case("SliceChannel", {"data": uniform((2, 6, 3))}, {"num_outputs": 3}, label="split_axis1"),
    Case("SliceChannel", {"data": uniform((4, 3))}, {"num_outputs": 2, "axis": 0},
         label="split_axis0"),
    Case("SliceChannel", {"data": uniform((2, 3, 4))}, {"num_outputs": 4, "axis": -1},
         label="split_axis_minus1"),
    Case("SliceChannel", {"data": uniform((2, 3, 4))}, {"num_outputs": 3, "axis": 1,
                                                        "squeeze_axis": True},
         label="split_squeeze"),
    Case("SliceChannel", {"data": uniform((2, 3))}, {"num_outputs": 1}, label="split_one"),

    # ---- Dropout (identity at inference) ----
    Case("Dropout", {"data": uniform((2, 3, 4))}, {"p": 0.5}, label="dropout"),
    Case("Dropout", {"data": uniform((2, 3, 4))}, {"p": 0.3, "axes": (2,)}, label="dropout_axes"),

    # ---- Reshape: plain dims, every special code, reverse ----
    reshape((2, 3, 4), (4, 0, 2)),
    reshape((2, 3, 4), (2, 0, 0)),
    reshape((2, 3, 4), (6, 1, -1)),
    reshape((2, 3, 4), (3, -1, 8)),
    reshape((2, 3, 4), (-1,)),
    reshape((2, 3, 4), (-2,)),
    reshape((2, 3, 4), (2, -2)),
    reshape((2, 3, 4), (-2, 1, 1)),
    reshape((2, 3, 4), (-3, 4)),
    reshape((2, 3, 4, 5), (-3, -3)),
    reshape((2, 3, 4), (0, -3)),
    reshape((2, 3, 4), (-3, -2)),
    reshape((2, 3, 4), (-4, 1, 2, -2)),
    reshape((2, 3, 4), (2, -4, -1, 3, -2)),
    reshape((2, 12), (0, -4, 3, -1)),
    reshape((10, 5, 4), (-1, 0)),
    reshape((10, 5, 4), (-1, 0), reverse=True),
    reshape((2, 3, 4), (0, -1), reverse=True),
    reshape((2, 3, 4, 5), (-1, 0, 0), reverse=True),
    reshape((2, 3, 4), (24,)),

    # ---- transpose ----
    Case("transpose", {"data": uniform((2, 3, 4))}, label="transpose_default"),
    Case("transpose", {"data": uniform((2, 3, 4))}, {"axes": (0, 2, 1)}, label="transpose_021"),
    Case("transpose", {"data": uniform((2, 3, 4, 5))}, {"axes": (0, 2, 3, 1)},
         label="transpose_nchw_nhwc"),
    Case("transpose", {"data": uniform((3, 5))}, {"axes": (1, 0)}, label="transpose_2d"),

    # ---- Cast ----
    Case("Cast", {"data": uniform((3, 4), -3, 3)}, {"dtype": "float16"}, label="cast_float16",
         rtol=0, atol=0),
    Case("Cast", {"data": uniform((3, 4), -3, 3)}, {"dtype": "float64"}, label="cast_float64"),
    Case("Cast", {"data": uniform((3, 4), -9, 9)}, {"dtype": "int32"}, label="cast_int32"),
    Case("Cast", {"data": uniform((3, 4), -9, 9)}, {"dtype": "int64"}, label="cast_int64"),
    Case("Cast", {"data": uniform((3, 4), -100, 100)}, {"dtype": "int8"}, label="cast_int8"),
    Case("Cast", {"data": uniform((3, 4), 0, 250)}, {"dtype": "uint8"}, label="cast_uint8"),
    Case("Cast", {"data": integers((3, 4), -50, 50, dtype="int32")}, {"dtype": "float32"},
         label="cast_int32_to_float32"),
    Case("Cast", {"data": uniform((3, 4), -3, 3)}, {"dtype": "float32"}, label="cast_same"),

    # ---- clip ----
    Case("clip", {"data": uniform((3, 4), -2, 2)}, {"a_min": -0.5, "a_max": 0.8}, label="clip"),
    Case("clip", {"data": uniform((3, 4), -2, 2)}, {"a_min": 0, "a_max": 0}, label="clip_point"),

    # ---- copies at inference ----
    Case("_copy", {"data": uniform((2, 3))}, label="copy"),
    Case("BlockGrad", {"data": uniform((2, 3))}, label="block_grad"),

    # ---- sum / mean ----
    *[reduce(op, (2, 3, 4), **attrs)
      for op in ["sum", "mean"]
      for attrs in [{}, {"axis": 1}, {"axis": -1}, {"axis": (0, 2)}, {"axis": 1, "keepdims": True},
                    {"keepdims": True}, {"axis": (1,), "exclude": True},
                    {"axis": (0, -1), "exclude": True, "keepdims": True}, {"axis": ()}]],
    reduce("sum", (4, 64), axis=1),
]
