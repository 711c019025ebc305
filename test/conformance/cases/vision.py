# Conformance cases for the vision family (lib/ops/vision.cpp, VisionOps()): Deconvolution,
# UpSampling, _contrib_BilinearResize2D, _contrib_AdaptiveAvgPooling2D. Generate with
#   MXNET_SUBGRAPH_BACKEND=NONE /work/mxv/bin/python tools/conformance/generate.py vision
# Not covered, on purpose:
# - Deconvolution layout NHWC / NDHWC: MXNet 1.9.1's CPU deconvolution cannot run it ("could not
#   create a descriptor for a dilated deconvolution forward propagation primitive"), so there is
#   no MXNet answer; test/ops/test_vision.cpp checks tandem's NHWC against its NCHW.
# - Deconvolution target_shape with a pad other than the one target_shape implies: MXNet's CPU
#   (MKLDNN) kernel then uses the given pad, not the documented derived one, and mostly fails;
#   tandem follows the documented rule (MXNet's shape inference, native and cuDNN kernels). The
#   cases below give the derived pad, where all agree.
from conformance_lib import *


def deconv(data, num_filter, kernel, groups=1, bias=False, label=None, **attrs):
    """A Deconvolution case with weight (C, num_filter / groups, k...) (and bias) from the data."""
    c = data[1]
    inputs = {"data": uniform(data),
              "weight": uniform((c, num_filter // groups) + tuple(kernel))}
    if bias:
        inputs["bias"] = uniform((num_filter,))
        attrs["no_bias"] = False  # MXNet's default is no_bias=True
    attrs.update(kernel=tuple(kernel), num_filter=num_filter)
    if groups != 1:
        attrs["num_group"] = groups
    return Case("Deconvolution", inputs, attrs, label=label, atol=1e-5)


def nearest(shapes, scale, label=None, **attrs):
    inputs = {"arg%d" % i: uniform(s) for i, s in enumerate(shapes)}
    attrs.update(scale=scale, sample_type="nearest", num_args=len(shapes))
    return Case("UpSampling", inputs, attrs, positional=True, label=label)


def bilinear_up(data, scale, label=None):
    k = 2 * scale - scale % 2
    inputs = {"data": uniform(data), "weight": uniform((data[1], 1, k, k))}
    attrs = {"scale": scale, "sample_type": "bilinear", "num_filter": data[1], "num_args": 2}
    return Case("UpSampling", inputs, attrs, positional=True, label=label, atol=1e-5)


def resize(data, label=None, like=None, **attrs):
    inputs = {"data": uniform(data)}
    if like is not None:
        inputs["like"] = uniform(like)
    return Case("_contrib_BilinearResize2D", inputs, attrs, label=label)


def adaptive(data, label=None, **attrs):
    return Case("_contrib_AdaptiveAvgPooling2D", {"data": uniform(data)}, attrs, label=label)


CASES = [
    # ---- Deconvolution: 1-D / 2-D / 3-D, stride, pad, adj, dilate, groups, bias, target_shape ----
    deconv((2, 3, 5), 4, (3,), label="deconv1d"),
    deconv((1, 2, 6), 3, (4,), stride=(3,), pad=(1,), adj=(2,), bias=True,
           label="deconv1d_stride_pad_adj_bias"),
    deconv((1, 4, 5), 4, (3,), dilate=(2,), groups=2, layout="NCW", label="deconv1d_dilate_groups"),
    deconv((1, 2, 6), 2, (3,), stride=(2,), pad=(2,), target_shape=(10,),
           label="deconv1d_target_shape"),
    deconv((2, 3, 4, 5), 4, (3, 3), label="deconv2d"),
    deconv((1, 2, 4, 5), 3, (3, 3), stride=(2, 2), bias=True, label="deconv2d_stride_bias"),
    deconv((1, 4, 3, 4), 6, (3, 2), stride=(2, 3), pad=(1, 0), adj=(1, 2), dilate=(2, 1),
           groups=2, bias=True, label="deconv2d_asymmetric_groups_adj_dilate"),
    deconv((1, 4, 4, 4), 4, (4, 4), stride=(2, 2), pad=(1, 1), groups=4,
           label="deconv2d_depthwise"),
    deconv((1, 6, 3, 3), 6, (3, 3), groups=3, layout="NCHW", bias=True,
           label="deconv2d_groups_layout"),
    deconv((1, 2, 3, 3), 2, (5, 5), pad=(3, 2), label="deconv2d_pad_beyond_kernel"),
    deconv((1, 2, 4, 4), 2, (3, 3), stride=(2, 2), pad=(1, 1), target_shape=(8, 7),
           label="deconv2d_target_shape"),
    deconv((1, 2, 4, 4), 3, (3, 3), stride=(2, 2), target_shape=(9, 9),
           label="deconv2d_target_shape_full"),
    deconv((1, 6, 3, 3), 8, (2, 2), stride=(2, 2), bias=True, label="deconv2d_wider"),
    deconv((1, 2, 3, 4, 3), 3, (2, 3, 2), label="deconv3d"),
    deconv((1, 4, 3, 2, 3), 4, (2, 3, 2), stride=(2, 1, 2), pad=(0, 1, 1), adj=(1, 0, 1),
           groups=2, bias=True, label="deconv3d_stride_pad_adj_groups_bias"),
    deconv((1, 2, 2, 3, 3), 2, (3, 3, 3), stride=(2, 2, 2), pad=(1, 1, 1),
           target_shape=(4, 6, 5), layout="NCDHW", label="deconv3d_target_shape"),

    # ---- UpSampling: nearest (1..N inputs, concat / sum), bilinear (a depthwise deconvolution) ----
    nearest([(2, 3, 3, 4)], 2, label="nearest_scale2"),
    nearest([(1, 2, 2, 3)], 3, multi_input_mode="sum", label="nearest_scale3_single_sum"),
    nearest([(1, 2, 3, 3), (1, 1, 9, 9), (1, 3, 1, 1)], 3, label="nearest_concat3"),
    nearest([(1, 2, 2, 4), (1, 2, 4, 8), (1, 2, 1, 2)], 2, multi_input_mode="sum",
            label="nearest_sum3"),
    nearest([(1, 1, 3, 3), (1, 2, 3, 3)], 1, multi_input_mode="concat", label="nearest_scale1_concat"),
    bilinear_up((1, 3, 4, 5), 2, label="bilinear_scale2"),
    bilinear_up((2, 2, 3, 3), 3, label="bilinear_scale3"),
    bilinear_up((1, 2, 2, 3), 4, label="bilinear_scale4"),
    bilinear_up((1, 2, 3, 2), 1, label="bilinear_scale1"),

    # ---- _contrib_BilinearResize2D: every mode, align_corners both ways ----
    resize((2, 2, 4, 5), height=7, width=9, label="resize_size_up"),
    resize((1, 2, 4, 5), height=7, width=9, align_corners=False, label="resize_size_up_unaligned"),
    resize((1, 2, 9, 8), height=4, width=3, label="resize_size_down"),
    resize((1, 2, 9, 8), height=4, width=3, align_corners=False, label="resize_size_down_unaligned"),
    resize((1, 2, 5, 4), height=1, width=1, label="resize_to_1x1"),
    resize((1, 2, 5, 4), height=1, width=3, align_corners=False, label="resize_to_1_row_unaligned"),
    resize((1, 2, 5, 4), height=5, width=4, label="resize_same_size"),
    resize((1, 2, 5, 4), scale_height=1.5, scale_width=0.6, label="resize_scales"),
    resize((1, 2, 5, 4), scale_height=2.0, scale_width=1.5, align_corners=False,
           label="resize_scales_unaligned"),
    resize((1, 2, 5, 4), scale_width=2.0, height=3, width=6, label="resize_scale_width_alone_ignored"),
    resize((1, 2, 5, 4), mode="odd_scale", scale_height=2.0, scale_width=0.5, label="resize_odd_scale"),
    resize((1, 2, 6, 7), mode="odd_scale", scale_height=0.5, scale_width=3.0, align_corners=False,
           label="resize_odd_scale_unaligned"),
    resize((1, 2, 5, 4), mode="like", like=(1, 3, 7, 9), label="resize_like"),
    resize((2, 1, 6, 6), mode="like", like=(1, 1, 4, 3), align_corners=False,
           label="resize_like_unaligned"),
    resize((1, 2, 5, 4), mode="to_even_down", label="resize_to_even_down"),
    resize((1, 2, 5, 4), mode="to_even_up", label="resize_to_even_up"),
    resize((1, 2, 5, 4), mode="to_odd_down", label="resize_to_odd_down"),
    resize((1, 2, 5, 4), mode="to_odd_up", align_corners=False, label="resize_to_odd_up_unaligned"),

    # ---- _contrib_AdaptiveAvgPooling2D: output_size absent, one value, two, more than two ----
    adaptive((2, 3, 5, 4), label="adaptive_default_1x1"),
    adaptive((1, 2, 7, 5), output_size=3, label="adaptive_square"),
    adaptive((1, 2, 7, 5), output_size=(3, 4), label="adaptive_rect"),
    adaptive((1, 2, 3, 3), output_size=(5, 4), label="adaptive_upsample"),
    adaptive((1, 2, 8, 6), output_size=(4, 3), label="adaptive_even_windows"),
    adaptive((1, 2, 5, 5), output_size=(2, 3, 4), label="adaptive_three_values_is_1x1"),
    adaptive((1, 2, 6, 5), output_size=(4,), label="adaptive_one_tuple"),
]
