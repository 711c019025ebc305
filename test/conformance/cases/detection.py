# Conformance cases for the detection family (lib/ops/detection.cpp, DetectionOps()): box_nms,
# box_decode / box_encode, box_iou, bipartite_matching, MultiBoxPrior / MultiBoxDetection,
# ROIPooling, ROIAlign. Generate with
#   MXNET_SUBGRAPH_BACKEND=NONE /work/mxv/bin/python tools/conformance/generate.py detection
# The box inputs are built here with a seeded numpy generator (fixed(...)) so that they have what
# the operators branch on: overlapping clusters of boxes, tied scores, several classes, padding
# rows (class -1), invalid scores, boxes with a negative first coordinate.
# Not covered, on purpose:
# - ROIAlign with a negative or too large batch index, or aligned=True with an empty ROI: MXNet
#   1.9.1 writes one element of the output and leaves the rest unwritten (or reads out of bounds,
#   or fails a CHECK); tandem writes zeros (test/ops/test_detection.cpp).
# - box_encode with a positive sample whose match is out of range: MXNet reads out of bounds.
import numpy as np

from conformance_lib import *


def _rng(seed):
    return np.random.default_rng(seed)


def nms_boxes(shape, seed, classes=3, width=6, layout=(0, 1, 2), center=False, neg=False):
    """Rows of `width` values; layout = (id_index, score_index, coord_start). Boxes come in a few
    overlapping clusters; scores are multiples of 0.1 in [-0.2, 0.9] (ties, some invalid);
    class ids are in [-1, classes) (-1: padding)."""
    rng = _rng(seed)
    out = rng.uniform(-1, 1, size=shape + (width,)).round(2)
    n = int(np.prod(shape))
    flat = out.reshape(n, width)
    id_index, score_index, coord_start = layout
    centres = rng.uniform(0.2, 0.8, size=(3, 2))
    pick = rng.integers(0, 3, size=n)
    xy = centres[pick] + rng.normal(0, 0.06, size=(n, 2))
    wh = rng.uniform(0.15, 0.4, size=(n, 2))
    if neg:  # some boxes start left of 0
        xy[::4, 0] -= 0.5
    if center:
        box = np.concatenate([xy, wh], axis=1)
    else:
        box = np.concatenate([xy - wh / 2, xy + wh / 2], axis=1)
    flat[:, coord_start:coord_start + 4] = box.round(3)
    flat[:, score_index] = rng.integers(-2, 10, size=n) / 10.0
    if id_index is not None:
        flat[:, id_index] = rng.integers(-1, classes, size=n)
    return fixed(out.astype(np.float32))


def nms(shape, seed, label, layout=(0, 1, 2), width=6, center=False, neg=False, **attrs):
    return Case("_contrib_box_nms",
                {"data": nms_boxes(shape, seed, width=width, layout=layout, center=center,
                                   neg=neg)},
                attrs, label=label)


def corner_boxes(shape, seed, low=0.0, high=1.0):
    """(..., 4) valid corner boxes (x1 < x2, y1 < y2) inside [low, high]."""
    rng = _rng(seed)
    a = rng.uniform(low, high, size=shape + (2, 2))
    lo, hi = np.minimum(a[..., 0, :], a[..., 1, :]), np.maximum(a[..., 0, :], a[..., 1, :])
    hi = np.maximum(hi, lo + 0.05 * (high - low))
    return np.concatenate([lo, hi], axis=-1).astype(np.float32)


def center_boxes(shape, seed):
    rng = _rng(seed)
    xy = rng.uniform(0.2, 0.8, size=shape + (2,))
    wh = rng.uniform(0.1, 0.5, size=shape + (2,))
    return np.concatenate([xy, wh], axis=-1).astype(np.float32)


def clustered_anchors(count, seed):
    """(1, count, 4) corner anchors in [0, 1] in three overlapping clusters."""
    rng = _rng(seed)
    centres = rng.uniform(0.3, 0.7, size=(3, 2))
    xy = centres[rng.integers(0, 3, size=count)] + rng.normal(0, 0.04, size=(count, 2))
    wh = rng.uniform(0.2, 0.35, size=(count, 2))
    return fixed(np.concatenate([xy - wh / 2, xy + wh / 2], axis=1)[None].astype(np.float32))


def class_probs(batch, classes, anchors, seed):
    """Class scores in [0, 1), quantized to multiples of 1/16 (ties between classes and anchors)."""
    rng = _rng(seed)
    return fixed((rng.integers(0, 16, size=(batch, classes, anchors)) / 16.0).astype(np.float32))


def rois(rows):
    return fixed(np.array(rows, dtype=np.float32))


CASES = [
    # ---- box_nms ------------------------------------------------------------------------------
    # Default attributes: no class ids (column 0 carried along), corner boxes, IoU > 0.5.
    nms((2, 12), 1, "nms_default"),
    # Per-class suppression; background class 0 and padding class -1 are dropped; topk.
    nms((2, 12), 2, "nms_classes", id_index=0, background_id=0, topk=6, overlap_thresh=0.3),
    nms((3, 10), 3, "nms_classes_all", id_index=0, overlap_thresh=0.4, valid_thresh=0.25),
    nms((2, 12), 4, "nms_force", id_index=0, force_suppress=True, overlap_thresh=0.2),
    # topk larger than the number of boxes, 0.0 threshold suppresses any overlap.
    nms((1, 9), 5, "nms_topk_big", id_index=0, topk=50, overlap_thresh=0.0),
    # Formats: center in, corner out; corner in, center out (with boxes left of 0, which MXNet's
    # conversion skips); center in and out.
    nms((2, 10), 6, "nms_center_in", center=True, in_format="center", id_index=0),
    nms((2, 10), 7, "nms_center_out", neg=True, out_format="center", id_index=0),
    nms((2, 10), 8, "nms_center_both", center=True, in_format="center", out_format="center"),
    # Batch dims (2, 2) and another layout: score 0, coords 1..4, class 5, one extra column.
    nms((2, 2, 7), 9, "nms_batch_dims", layout=(5, 0, 1), width=7, coord_start=1, score_index=0,
        id_index=5, overlap_thresh=0.45),
    # topk=0: the input comes back unchanged.
    nms((2, 5), 10, "nms_topk0", topk=0, id_index=0),
    # Nothing valid anywhere: every row -1.
    nms((2, 5), 11, "nms_none_valid", valid_thresh=0.95),
    # The alias.
    Case("_contrib_box_non_maximum_suppression", {"data": nms_boxes((1, 8), 12)},
         {"id_index": 0, "overlap_thresh": 0.35}, label="nms_alias"),

    # ---- box_decode / box_encode / box_iou ---------------------------------------------------
    Case("_contrib_box_decode",
         {"data": uniform((2, 5, 4), -1, 1), "anchors": fixed(center_boxes((1, 5), 21))},
         {}, label="decode_center"),
    Case("_contrib_box_decode",
         {"data": uniform((2, 5, 4), -2, 2), "anchors": fixed(corner_boxes((1, 5), 22))},
         {"format": "corner", "std0": 0.1, "std1": 0.1, "std2": 0.2, "std3": 0.2},
         label="decode_corner_std"),
    Case("_contrib_box_decode",
         {"data": uniform((1, 6, 4), -3, 3), "anchors": fixed(corner_boxes((1, 6), 23))},
         {"format": "corner", "clip": 0.8, "std2": 1.5, "std3": 2.0}, label="decode_clip"),
    Case("_contrib_box_encode",
         {"samples": integers((2, 5), -1, 2), "matches": integers((2, 5), 0, 3),
          "anchors": fixed(corner_boxes((2, 5), 31)), "refs": fixed(corner_boxes((2, 3), 32)),
          "means": fixed([0.0, 0.1, -0.1, 0.2]), "stds": fixed([0.1, 0.1, 0.2, 0.2])},
         label="encode"),
    Case("_contrib_box_iou",
         {"lhs": fixed(corner_boxes((3,), 41)), "rhs": fixed(corner_boxes((2, 2), 42))},
         label="iou_corner"),
    Case("_contrib_box_iou",
         {"lhs": fixed(center_boxes((2, 2), 43)), "rhs": fixed(center_boxes((3,), 44))},
         {"format": "center"}, label="iou_center"),

    # ---- bipartite_matching --------------------------------------------------------------------
    Case("_contrib_bipartite_matching", {"data": uniform((2, 3, 4), 0, 1)}, {"threshold": 0.2},
         label="match_default"),
    Case("_contrib_bipartite_matching", {"data": integers((2, 4, 3), 0, 5)},
         {"threshold": 0.5, "topk": 1}, label="match_topk_ties"),
    Case("_contrib_bipartite_matching", {"data": uniform((1, 2, 4, 4), 0, 1)},
         {"threshold": 0.7, "is_ascend": True}, label="match_ascend"),

    # ---- MultiBoxPrior -------------------------------------------------------------------------
    Case("_contrib_MultiBoxPrior", {"data": uniform((1, 2, 3, 4))}, label="prior_default"),
    Case("_contrib_MultiBoxPrior", {"data": uniform((2, 1, 4, 5))},
         {"sizes": (0.5, 0.25, 0.1), "ratios": (1, 2, 0.5)}, label="prior_sizes_ratios"),
    Case("_contrib_MultiBoxPrior", {"data": uniform((1, 1, 3, 3))},
         {"sizes": (0.9, 0.6), "ratios": (1, 3), "clip": True, "steps": (0.3, 0.25),
          "offsets": (0.2, 0.7)}, label="prior_clip_steps"),

    # ---- MultiBoxDetection ---------------------------------------------------------------------
    Case("_contrib_MultiBoxDetection",
         {"cls_prob": class_probs(2, 4, 12, 51), "loc_pred": uniform((2, 48), -0.5, 0.5),
          "anchor": clustered_anchors(12, 52)},
         label="mbd_default"),
    Case("_contrib_MultiBoxDetection",
         {"cls_prob": class_probs(2, 3, 12, 53), "loc_pred": uniform((2, 48), -0.5, 0.5),
          "anchor": clustered_anchors(12, 54)},
         {"force_suppress": True, "nms_threshold": 0.3, "threshold": 0.2}, label="mbd_force"),
    Case("_contrib_MultiBoxDetection",
         {"cls_prob": class_probs(1, 4, 12, 55), "loc_pred": uniform((1, 48), -1, 1),
          "anchor": clustered_anchors(12, 56)},
         {"nms_topk": 4, "clip": False, "variances": (0.2, 0.2, 0.3, 0.3)}, label="mbd_topk"),
    # nms_threshold outside (0, 1]: no sorting and no suppression (compacted rows).
    Case("_contrib_MultiBoxDetection",
         {"cls_prob": class_probs(2, 3, 8, 57), "loc_pred": uniform((2, 32), -0.5, 0.5),
          "anchor": clustered_anchors(8, 58)},
         {"nms_threshold": 0.0, "threshold": 0.4}, label="mbd_no_nms"),

    # ---- ROIPooling ------------------------------------------------------------------------------
    # rows [batch, x1, y1, x2, y2] in image coordinates (scale 0.5: a 12 x 14 image); a ROI
    # partly outside, a malformed one (x2 < x1), coordinates at .5 after scaling, and an invalid
    # batch index (2), which gives zeros.
    Case("ROIPooling",
         {"data": uniform((2, 3, 6, 7), -2, 2),
          "rois": rois([[0, 1, 1, 9, 7], [1, 0, 0, 13, 11], [1, 5, 3, 2, 8], [0, 3, 5, 7, 9],
                        [1, -4, -2, 6, 4], [2, 1, 1, 5, 5]])},
         {"pooled_size": (2, 3), "spatial_scale": 0.5}, label="roipool"),
    Case("ROIPooling",
         {"data": uniform((1, 2, 5, 5), -2, 2),
          "rois": rois([[0, 0, 0, 4, 4], [0, 1, 2, 3, 3], [0, 2, 0, 4, 1]])},
         {"pooled_size": (3, 2), "spatial_scale": 1.0}, label="roipool_scale1"),

    # ---- ROIAlign --------------------------------------------------------------------------------
    Case("_contrib_ROIAlign",
         {"data": uniform((2, 3, 6, 7), -2, 2),
          "rois": rois([[0, 1.3, 1.1, 9.7, 7.2], [1, 0, 0, 13, 11], [1, 5, 3, 2, 8],
                        [0, 3.5, 5.2, 7.1, 9.9], [1, -4, -2, 6, 4], [0, 10, 9, 15, 14]])},
         {"pooled_size": (2, 3), "spatial_scale": 0.5}, label="roialign_adaptive"),
    Case("_contrib_ROIAlign",
         {"data": uniform((2, 2, 6, 7), -2, 2),
          "rois": rois([[0, 1.3, 1.1, 9.7, 7.2], [1, 0, 0, 13, 11], [0, 3.5, 5.2, 7.1, 9.9],
                        [1, -4, -2, 6, 4]])},
         {"pooled_size": (3, 3), "spatial_scale": 0.5, "sample_ratio": 2}, label="roialign_ratio2"),
    Case("_contrib_ROIAlign",
         {"data": uniform((1, 2, 6, 7), -2, 2),
          "rois": rois([[0, 1.3, 1.1, 9.7, 7.2], [0, 0, 0, 13, 11], [0, 3.5, 5.2, 7.1, 9.9],
                        [0, -4, -2, 6, 4]])},
         {"pooled_size": (2, 2), "spatial_scale": 0.5, "sample_ratio": 3, "aligned": True},
         label="roialign_aligned"),
    Case("_contrib_ROIAlign",
         {"data": uniform((2, 8, 5, 6), -2, 2),
          "rois": rois([[0, 0.5, 0.7, 4.2, 3.9], [1, 1, 0, 5, 4], [1, 2.2, 1.5, 2.9, 2.0]])},
         {"pooled_size": (2, 2), "spatial_scale": 1.0, "position_sensitive": True},
         label="roialign_psroi"),
]
