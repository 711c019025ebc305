#!/usr/bin/env python3
"""Whole-model check: GluonCV model-zoo architectures exported by MXNet 1.9.1, run through tandem.

For every model in MODELS this script
  1. (export) builds the GluonCV 0.10.5 architecture with pretrained=False (random weights, every
     BatchNorm's gamma / beta / running mean / running variance randomised so that they matter),
     hybridizes it, runs it once and exports PREFIX-symbol.json + PREFIX-0000.params; then it loads
     the EXPORTED files back into MXNet (SymbolBlock.imports) and runs them on a fixed random input,
     saving the input (input.pb, an ONNX TensorProto, and input.npy) and MXNet's outputs
     (mxnet.npz). MXNet always runs with MXNET_SUBGRAPH_BACKEND=NONE (its MKLDNN subgraph fusion
     computes some graphs wrong, see docs/model-zoo.md).
  2. (run) runs tandem on the same files through tandem-info (tools/tandem_info.cpp:
     `tandem-info PREFIX 0 --json --input data=input.npy --output-dir DIR [--reference]`) twice:
     default flags (oneDNN kernels where they exist, reference elsewhere) and reference_only.
  3. (compare) compares every output with MXNet's and writes the table of docs/model-zoo.md
     (between the <!-- model-check:begin/end --> markers) plus OUT/results.json.

Error measure (per output, then the max over the outputs of a model):
    err = max_i |tandem_i - mxnet_i| / max(max_i |mxnet_i|, 1e-6)
i.e. the largest absolute difference relative to the output's largest magnitude (an element-wise
|a-b|/|b| explodes on values that cancel to ~0, which random weights produce in every layer).
A model passes when err <= 1e-4 for every output on both tandem paths and, for classifiers, the
top-5 classes are the same (in order) and, for detectors, the same detections come out (the same
number of valid rows; each row the same class, its score and box within the tolerance).

The table of docs/model-zoo.md comes from recipe.py (weights a few numbers per parameter
reproduce, so that run_bundle.py can repeat the check on the GPU machine without MXNet); this
script exports the architectures it starts from and checks tandem on the exported Xavier weights.
The numpy-only parts (TensorProto and .params files, comparison) are in mc_common.py.

Run it with a Python that has mxnet==1.9.1 and gluoncv==0.10.5 (NOT /work/mxv, see docs):
    MXNET_SUBGRAPH_BACKEND=NONE /work/gcv/bin/python tools/model_check/check_gluoncv.py \
        --tandem-info build/tools/tandem-info --out /work/gcv-models [--models a,b] [--force]
"""
import argparse
import json
import os
import subprocess
import sys
import time

os.environ.setdefault("MXNET_SUBGRAPH_BACKEND", "NONE")
if os.environ["MXNET_SUBGRAPH_BACKEND"] != "NONE":
    sys.exit("check_gluoncv.py: run with MXNET_SUBGRAPH_BACKEND=NONE (MXNet's MKLDNN fusion is wrong on some graphs)")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mc_common import (TOL, classify, compare, describe, fmt_err, load_outputs, nms_thresholds, noise_floor,  # noqa: E402
                       replace_between_markers, run_tandem, save_tensor_pb, scaled_err)

SEED = 20
PERTURB = 1e-7  # recipe.py: MXNet's outputs for the input + U(-PERTURB, PERTURB) (float32 rounding of it)

# The 36 operator names (with aliases) tandem registered before the operator families
# (commit 034f170); anything else a model uses is "new in this change".
OLD_OPS = set("""
Convolution BatchNorm Activation LeakyReLU Pooling Flatten flatten FullyConnected SoftmaxOutput Softmax
SoftmaxActivation softmax log_softmax elemwise_add _Plus _plus _add elemwise_sub _Minus _minus _sub
elemwise_mul _Mul _mul elemwise_div _Div _div broadcast_add broadcast_plus broadcast_sub broadcast_minus
broadcast_mul broadcast_div _plus_scalar _PlusScalar _minus_scalar _MinusScalar _rminus_scalar
_RMinusScalar _mul_scalar _MulScalar _div_scalar _DivScalar Concat concat SliceChannel split Dropout
Reshape reshape Transpose transpose Cast cast clip identity _copy BlockGrad stop_gradient sum sum_axis mean
""".split())


class Model:
    def __init__(self, name, family, kind, shape, build=None, note="", lsuv=False):
        self.name, self.family, self.kind, self.shape = name, family, kind, tuple(shape)
        self.build = build  # None: gluoncv.model_zoo.get_model(name, pretrained=False, ...)
        self.note = note
        self.lsuv = lsuv  # no BatchNorm to keep the activations in range: scale the layers (see lsuv())


def _zoo(name, **kwargs):
    def build():
        from gluoncv import model_zoo
        return model_zoo.get_model(name, pretrained=False, **kwargs)
    return build


def _seg(fn, **kwargs):
    def build():
        from gluoncv import model_zoo
        return getattr(model_zoo, fn)(dataset="pascal_voc", backbone="resnet50", pretrained=False,
                                      pretrained_base=False, **kwargs)
    return build


def _faster_rcnn(name, proposals):
    def build():
        net = _zoo(name, pretrained_base=False)()
        net._rpn_test_post_nms = net.rpn._test_post_nms = proposals  # (the predefined models fix it)
        return net
    return build


# name, family, kind, input shape, builder. Small inputs where the architecture allows it: the
# check runs on two shared CPU cores and tandem's reference kernels are plain loops.
MODELS = [
    Model("resnet18_v1", "ResNet v1 (classic)", "classifier", (1, 3, 224, 224)),
    Model("mobilenetv2_1.0", "MobileNet v2 (classic)", "classifier", (1, 3, 224, 224)),
    Model("se_resnet18_v1", "SE-ResNet", "classifier", (1, 3, 224, 224)),
    Model("resnest14", "ResNeSt", "classifier", (1, 3, 224, 224)),
    Model("shufflenet_v1", "ShuffleNet v1", "classifier", (1, 3, 224, 224)),
    Model("shufflenet_v2", "ShuffleNet v2", "classifier", (1, 3, 224, 224)),
    Model("xception", "Xception", "classifier", (1, 3, 224, 224)),
    Model("nasnet_4_1056", "NASNet", "classifier", (1, 3, 224, 224)),
    Model("hrnet_w18_small_v1_c", "HRNet", "classifier", (1, 3, 224, 224)),
    Model("mobilenetv3_small", "MobileNet v3", "classifier", (1, 3, 224, 224)),
    Model("ssd_512_mobilenet1.0_voc", "SSD", "detector", (1, 3, 256, 256),
          _zoo("ssd_512_mobilenet1.0_voc", pretrained_base=False)),
    Model("ssd_300_vgg16_atrous_voc", "SSD", "detector", (1, 3, 300, 300),
          _zoo("ssd_300_vgg16_atrous_voc", pretrained_base=False), lsuv=True),
    Model("yolo3_mobilenet1.0_voc", "YOLOv3", "detector", (1, 3, 256, 256),
          _zoo("yolo3_mobilenet1.0_voc", pretrained_base=False)),
    Model("center_net_resnet18_v1b_voc", "CenterNet", "detector", (1, 3, 256, 256),
          _zoo("center_net_resnet18_v1b_voc", pretrained_base=False)),
    Model("faster_rcnn_resnet50_v1b_voc", "Faster R-CNN", "detector", (1, 3, 320, 320),
          _faster_rcnn("faster_rcnn_resnet50_v1b_voc", 100),
          note="100 RPN proposals (GluonCV: 300; the reference path runs each through ResNet stage 4)"),
    Model("fcn_resnet50_voc", "FCN", "segmentation", (1, 3, 256, 256),
          _seg("get_fcn", crop_size=256, base_size=288)),
    Model("psp_resnet50_voc", "PSPNet", "segmentation", (1, 3, 256, 256),
          _seg("get_psp", crop_size=256, base_size=288)),
    Model("deeplab_resnet50_voc", "DeepLab v3", "segmentation", (1, 3, 256, 256),
          _seg("get_deeplab", crop_size=256, base_size=288)),
    Model("simple_pose_resnet18_v1b", "SimplePose", "pose", (1, 3, 256, 192),
          _zoo("simple_pose_resnet18_v1b", pretrained_base=False)),
]


# ---- 1. export with MXNet -----------------------------------------------------------------------

def randomise_affine(net, rs):
    """BatchNorm gamma ~ U(0.6, 1.4), beta ~ N(0, 0.1) (Gluon initialises them to 1 and 0)."""
    for pname, p in net.collect_params().items():
        if pname.endswith("gamma"):
            p.set_data(rs.uniform(0.6, 1.4, p.shape).astype("float32"))
        elif pname.endswith("beta"):
            p.set_data(rs.normal(0.0, 0.1, p.shape).astype("float32"))


def calibrate(prefix, calib, rs):
    """Sets every BatchNorm's moving mean / variance of the exported model from data, perturbed.

    One training-mode pass of the exported graph (Dropout made an identity) over `calib`, a batch
    of random images, gives each BatchNorm's input as it is when every BatchNorm before it
    normalises with batch statistics (use_global_stats off); those statistics become the moving ones, perturbed a little
    (mean + N(0, 0.05 std), variance x U(0.8, 1.25)) so that they are not exactly the batch's.
    Without this the activations of random deep nets blow up or vanish and detectors saturate
    (scores all 1.0, boxes inf), which would compare nothing. Works on the symbol, so it also
    reaches the BatchNorms GluonCV builds symbolically (SSD's FeatureExpander).
    """
    import mxnet as mx
    graph = json.load(open(prefix + "-symbol.json"))
    for n in graph["nodes"]:
        if n["op"] == "Dropout":
            n["op"], n["attrs"] = "_copy", {}
        elif n["op"] == "BatchNorm":  # Faster R-CNN's frozen backbone: batch statistics here too
            n.setdefault("attrs", {})["use_global_stats"] = "False"
    sym = mx.sym.load_json(json.dumps(graph))
    internals = sym.get_internals()
    names = set(internals.list_outputs())
    bns, taps = [], []
    for n in graph["nodes"]:
        if n["op"] != "BatchNorm":
            continue
        src = graph["nodes"][n["inputs"][0][0]]
        idx = n["inputs"][0][1]
        cands = [src["name"]] if src["op"] == "null" else [src["name"] + "_output", src["name"] + "_output%d" % idx]
        tap = next(c for c in cands if c in names)
        bns.append(n)
        taps.append(internals[tap])
    if not bns:
        return 0
    saved = mx.nd.load(prefix + "-0000.params")
    args = {k[4:]: v for k, v in saved.items() if k.startswith("arg:")}
    aux = {k[4:]: v for k, v in saved.items() if k.startswith("aux:")}
    group = mx.sym.Group(taps)
    exe = group.simple_bind(mx.cpu(), data=calib.shape, grad_req="null")
    exe.copy_params_from(args, aux, allow_extra_params=True)
    outs = exe.forward(is_train=True, data=mx.nd.array(calib))
    for n, o in zip(bns, outs):
        x = o.asnumpy().astype(np.float64)
        axis = int(n.get("attrs", {}).get("axis", 1)) % x.ndim
        axes = tuple(a for a in range(x.ndim) if a != axis)
        mean, var = x.mean(axis=axes), x.var(axis=axes)
        std = np.sqrt(var + 1e-5)
        mean = mean + rs.normal(0.0, 0.05, mean.shape) * std
        # A near-constant channel (dead ReLU) would get a tiny variance and amplify rounding noise
        # a hundredfold: no channel gets less than 1/20 of the layer's mean variance.
        var = np.maximum(var, 0.05 * float(np.mean(var)) + 1e-6) * rs.uniform(0.8, 1.25, var.shape)
        mean_name = graph["nodes"][n["inputs"][3][0]]["name"]  # data, gamma, beta, moving_mean, moving_var
        var_name = graph["nodes"][n["inputs"][4][0]]["name"]
        assert mean_name in aux and var_name in aux, n["name"]
        aux[mean_name] = mx.nd.array(mean.astype("float32"))
        aux[var_name] = mx.nd.array(var.astype("float32"))
    out = {"arg:" + k: v for k, v in args.items()}
    out.update({"aux:" + k: v for k, v in aux.items()})
    mx.nd.save(prefix + "-0000.params", out)
    return len(bns)


def lsuv(prefix, calib):
    """Layer-wise unit variance for nets without BatchNorm (VGG): in graph order, every
    Convolution / FullyConnected / Deconvolution that no BatchNorm follows has its weight and bias
    divided by its output's standard deviation on `calib`, so that activations neither explode
    nor vanish through the random layers (one partial forward per layer)."""
    import mxnet as mx
    graph = json.load(open(prefix + "-symbol.json"))
    nodes = graph["nodes"]
    fed_to_bn = {n["inputs"][0][0] for n in nodes if n["op"] == "BatchNorm"}
    sym = mx.sym.load(prefix + "-symbol.json")
    internals = sym.get_internals()
    saved = mx.nd.load(prefix + "-0000.params")
    args = {k[4:]: v for k, v in saved.items() if k.startswith("arg:")}
    aux = {k[4:]: v for k, v in saved.items() if k.startswith("aux:")}
    count = 0
    for i, n in enumerate(nodes):
        if n["op"] not in ("Convolution", "FullyConnected", "Deconvolution") or i in fed_to_bn:
            continue
        out = internals[n["name"] + "_output"]
        exe = out.simple_bind(mx.cpu(), data=calib.shape, grad_req="null")
        exe.copy_params_from(args, aux, allow_extra_params=True)
        std = float(exe.forward(is_train=False, data=mx.nd.array(calib))[0].asnumpy().std())
        if std > 0:
            for k in n["inputs"][1:]:
                name = nodes[k[0]]["name"]
                if name in args:
                    args[name] = args[name] / std
            count += 1
    out = {"arg:" + k: v for k, v in args.items()}
    out.update({"aux:" + k: v for k, v in aux.items()})
    mx.nd.save(prefix + "-0000.params", out)
    return count


def export(model, out_dir, force):
    """Exports `model` (unless done before); returns whether it did."""
    import mxnet as mx
    d = os.path.join(out_dir, model.name)
    prefix = os.path.join(d, model.name)
    done = os.path.join(d, "mxnet.npz")
    if os.path.exists(done) and not force:
        return False
    os.makedirs(d, exist_ok=True)
    import shutil
    for f in os.listdir(d):  # tandem's outputs on earlier weights (--reuse must not find them)
        if f.startswith("tandem-"):
            shutil.rmtree(os.path.join(d, f))
    rs = np.random.RandomState(SEED)
    mx.random.seed(SEED)
    import warnings
    # GluonCV's FeatureExpander (SSD) tags its BatchNorm parameters with a Xavier initializer,
    # which MXNet refuses on vectors: those get 1 (gamma) / 0 here, then randomise() below.
    xavier_weight = mx.init.Xavier._init_weight

    def init_weight(self, name, arr):
        if len(arr.shape) < 2:
            arr[:] = 1.0 if str(name).endswith("gamma") else 0.0
        else:
            xavier_weight(self, name, arr)

    mx.init.Xavier._init_weight = init_weight
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = model.build() if model.build else _zoo(model.name)()
        net.initialize(mx.init.Xavier(magnitude=2.0), force_reinit=False)
        x = rs.uniform(-1.0, 1.0, model.shape).astype("float32")
        calib = rs.uniform(-1.0, 1.0, (2,) + model.shape[1:]).astype("float32")
        net(mx.nd.array(x))  # first call: shapes of deferred parameters
        randomise_affine(net, rs)
        net.hybridize(static_alloc=False)
        net(mx.nd.array(x))
        net.export(prefix, epoch=0)
    if model.lsuv:
        lsuv(prefix, calib)
    try:
        calibrate(prefix, calib, rs)
    except Exception:  # a graph that only runs with batch 1: calibrate on one other image
        calibrate(prefix, calib[:1], rs)
    # The reference numbers come from the EXPORTED files, as tandem sees them.
    block = mx.gluon.SymbolBlock.imports(prefix + "-symbol.json", ["data"], prefix + "-0000.params")
    outs = block(mx.nd.array(x))
    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    outs = [o.asnumpy() for o in outs]
    np.save(os.path.join(d, "input.npy"), x)
    save_tensor_pb(os.path.join(d, "input.pb"), x, "data")
    np.savez(done, *outs)
    return True


def model_ops(out_dir, model):
    sym = json.load(open(os.path.join(out_dir, model.name, model.name + "-symbol.json")))
    return sorted({n["op"] for n in sym["nodes"] if n["op"] != "null"})


# ---- 2. run tandem, 3. compare ---------------------------------------------------------------

def model_nms(d, name):
    return nms_thresholds(json.load(open(os.path.join(d, name + "-symbol.json"))))


def evaluate(m, out_dir, tandem_info, timeout, native, paths=(("ref", True), ("default", False)), reuse=False,
             perturbed=()):
    """Runs tandem on OUT/<model>/ (both CPU paths) and compares with MXNet (mxnet.npz); `native`
    is MXNet's own MKLDNN-off output, `perturbed` MXNet's outputs for the input moved by float32
    rounding (recipe.py), which together give MXNet's own noise; `reuse`: tandem's outputs of an
    earlier run, where there are some. Returns the results row of the model."""
    d = os.path.join(out_dir, m.name)
    row = {"model": m.name, "family": m.family, "kind": m.kind, "shape": list(m.shape), "loads": False,
           "runs": False, "pass": False}
    ops = model_ops(out_dir, m)
    ref = list(np.load(os.path.join(d, "mxnet.npz")).values())
    nms = model_nms(d, m.name)
    row.update(ops=ops, new_ops=[o for o in ops if o not in OLD_OPS], nms_thresholds=nms)
    cn = compare(m.kind, ref, native, nms)
    row["err_mxnet_native"] = cn["max_err"]
    row["compare_mxnet_native"] = {k: v for k, v in cn.items() if k not in ("notes",)}
    print("  MXNet MKLDNN off: %s" % describe(cn), flush=True)
    cps = [compare(m.kind, ref, p, nms) for p in perturbed]
    for k, c in enumerate(cps):
        print("  MXNet, input +-%g (%d): %s" % (PERTURB, k, describe(c)), flush=True)
    if cps:
        row["err_mxnet_perturbed"] = max(c["max_err"] for c in cps)
        row["compare_mxnet_perturbed"] = [{k: v for k, v in c.items() if k != "notes"} for c in cps]
    floor = noise_floor([cn] + cps)
    row["mxnet_noise"] = floor
    notes, cs = [], []
    for tag, reference in paths:
        od = os.path.join(d, "tandem-" + tag)
        if reuse and load_outputs(od):
            res = {"ok": True, "outputs": load_outputs(od), "seconds": 0.0, "reused": True}
        else:
            res = run_tandem(tandem_info, os.path.join(d, m.name), os.path.join(d, "input.npy"), od, reference, timeout)
        row["seconds_" + tag] = res.get("seconds")
        if not reference and res.get("info") and res["info"].get("plan"):  # tandem-info plans with default flags
            row["kernels_default"] = res["info"]["plan"].get("kernels_by_backend")
        if not res["ok"]:
            row["error_" + tag] = res["error"]
            if "unknown operator" not in res["error"]:
                row["loads"] = True  # loaded, but the plan or the run failed
            notes.append("%s: %s" % (tag, res["error"].replace("tandem-info: ", "")))
            cs.append(None)
            print("  %s: %s" % (tag, res["error"]), flush=True)
            continue
        row["loads"] = True
        c = compare(m.kind, ref, res["outputs"], nms)
        cs.append(c)
        row["err_" + tag] = c["max_err"]
        row["compare_" + tag] = {k: v for k, v in c.items() if k not in ("notes",)}
        if c["notes"]:
            notes.append("%s: %s" % (tag, "; ".join(c["notes"])))
        print("  tandem %s: %s (%.1f s)" % (tag, describe(c), res["seconds"]), flush=True)
    row["runs"] = all(c is not None for c in cs)
    if len(notes) == 2 and notes[0].split(": ", 1)[1] == notes[1].split(": ", 1)[1]:
        notes = ["both: " + notes[0].split(": ", 1)[1]]
    if m.kind == "detector" and "compare_" + paths[0][0] in row:
        notes.insert(0, "%d detections" % row["compare_" + paths[0][0]]["detections"])
    if m.note:
        notes.insert(0, m.note)
    row["result"] = classify(cs, floor)
    row["pass"] = row["result"] == "pass"
    if row["result"] == "noise":
        notes.append(noise_note(cn, cps))
    row["notes"] = "; ".join(notes)
    return row


def _own(c):
    text = fmt_err(c["max_err"])
    if c.get("unmatched_other"):
        text += ", %d detections differ" % c["unmatched_other"]
    if c.get("top5") is False:
        text += ", top-5 changes"
    return text


def noise_note(cn, cps):
    """Why a result is 'noise': how far MXNet is from itself."""
    text = "within MXNet's own noise (MKLDNN off: %s" % _own(cn)
    if cps:
        text += "; input moved by +-%g: %s" % (PERTURB, ", ".join(_own(c) for c in cps))
    return text + ")"


def result_cell(r):
    return {"pass": "pass", "noise": "pass (noise)"}.get(r.get("result"), "**FAIL**")


def table_text(rows, gpu=None):
    """The markdown table of docs/model-zoo.md. `gpu`: {model: run_bundle.py row} or None (no GPU
    columns)."""
    head = ("| model | family | input | operators new in this change | CPU reference | CPU oneDNN (default) | "
            "MXNet's own: MKLDNN off / input +-%g |" % PERTURB)
    sep = "|---|---|---|---|---|---|---|"
    if gpu is not None:
        head += " GPU cuDNN | GPU plain CUDA |"
        sep += "---|---|"
    lines = [head + " result | notes |", sep + "---|---|"]
    for r in rows:
        new_ops = ", ".join("`%s`" % o for o in r.get("new_ops", [])) or "—"
        cells = [r["model"], r["family"], "×".join(str(d) for d in r["shape"][2:]), new_ops,
                 fmt_err(r.get("err_ref")), fmt_err(r.get("err_default")),
                 fmt_err(r.get("err_mxnet_native")) + (" / " + fmt_err(r["err_mxnet_perturbed"])
                                                       if r.get("err_mxnet_perturbed") is not None else "")]
        notes = [r.get("notes", "")] if r.get("notes") else []
        result = r.get("result")
        if gpu is not None:
            g = gpu.get(r["model"])
            if g is None:
                cells += ["not run", "not run"]
            else:
                cells += [fmt_err(g.get("err_cudnn")), fmt_err(g.get("err_cuda"))]
                # Classified again against this row's noise floor (a bundle packed before the
                # floor had its input-rounding part gave the GPU run a narrower one).
                gcs = [g.get("compare_" + run) for run in ("cudnn", "cuda")]
                g_result = g.get("result")
                if all(c is not None for c in gcs) and r.get("mxnet_noise"):
                    g_result = classify([dict(c, notes=[]) for c in gcs], r["mxnet_noise"])
                g_notes = [n for n in g.get("notes", "").split("; ")
                           if n and not n.startswith(("within MXNet's own noise", "outputs compared on"))]
                if g_notes:
                    notes.append("GPU: " + "; ".join(g_notes))
                order = {"pass": 0, "noise": 1}
                if order.get(g_result, 2) > order.get(result, 2):
                    result = g_result
                    if g_result == "noise" and r.get("result") == "pass":
                        notes.append("GPU within MXNet's own noise (MKLDNN off / input +-%g: %s)" % (
                            PERTURB, _own(r["mxnet_noise"])))
        cells += [result_cell({"result": result}), "; ".join(notes).replace("|", "\\|")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_table(path, rows, gpu=None):
    replace_between_markers(path, table_text(rows, gpu), "<!-- model-check:begin -->", "<!-- model-check:end -->")

def mxnet_native(out_dir, model, force):
    """MXNet's outputs with its MKLDNN kernels off (MXNET_MKLDNN_ENABLED=0, a child process): how
    far MXNet's own two CPU paths are apart on this model, the float32 noise floor of the check."""
    d = os.path.join(out_dir, model.name)
    path = os.path.join(d, "mxnet-native.npz")
    if force or not os.path.exists(path):
        env = dict(os.environ, MXNET_MKLDNN_ENABLED="0", MXNET_SUBGRAPH_BACKEND="NONE",
                   MXNET_STORAGE_FALLBACK_LOG_VERBOSE="0")
        subprocess.run([sys.executable, os.path.abspath(__file__), "--native-run", d, model.name], env=env,
                       check=True, capture_output=True)
    return list(np.load(path).values())


def native_run(d, name):
    import mxnet as mx
    prefix = os.path.join(d, name)
    block = mx.gluon.SymbolBlock.imports(prefix + "-symbol.json", ["data"], prefix + "-0000.params")
    outs = block(mx.nd.array(np.load(os.path.join(d, "input.npy"))))
    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    np.savez(os.path.join(d, "mxnet-native.npz"), *[o.asnumpy() for o in outs])


def cut(args, model):
    """--cut: the exported graph cut at internal outputs, run by MXNet and tandem, compared per node.

    `--cut list` prints the internal output names. The cut model goes to OUT/<model>/cut/.
    """
    import mxnet as mx
    d = os.path.join(args.out, model.name)
    sym = mx.sym.load(os.path.join(d, model.name + "-symbol.json"))
    internals = sym.get_internals()
    if args.cut == "list":
        print("\n".join(n for n in internals.list_outputs() if n.endswith(("_output",)) or "_output" in n))
        return 0
    names = args.cut.split(",")
    cd = os.path.join(d, "cut")
    os.makedirs(cd, exist_ok=True)
    group = mx.sym.Group([internals[n] for n in names])
    group.save(os.path.join(cd, "cut-symbol.json"))
    saved = mx.nd.load(os.path.join(d, model.name + "-0000.params"))
    need = set(group.list_arguments()) | set(group.list_auxiliary_states())
    mx.nd.save(os.path.join(cd, "cut-0000.params"), {k: v for k, v in saved.items() if k[4:] in need})
    block = mx.gluon.SymbolBlock.imports(os.path.join(cd, "cut-symbol.json"), ["data"],
                                         os.path.join(cd, "cut-0000.params"))
    outs = block(mx.nd.array(np.load(os.path.join(d, "input.npy"))))
    ref = [o.asnumpy() for o in (outs if isinstance(outs, (list, tuple)) else [outs])]
    os.makedirs(os.path.join(cd, "cut"), exist_ok=True)
    for f in ("cut-symbol.json", "cut-0000.params"):
        os.replace(os.path.join(cd, f), os.path.join(cd, "cut", f))
    import shutil
    shutil.copy(os.path.join(d, "input.npy"), os.path.join(cd, "cut", "input.npy"))
    for tag, reference in (("ref", True), ("default", False)):
        res = run_tandem(args.tandem_info, os.path.join(cd, "cut", "cut"), os.path.join(cd, "cut", "input.npy"),
                         os.path.join(cd, "cut", "tandem-" + tag), reference, args.timeout)
        if not res["ok"]:
            print("%s: %s" % (tag, res["error"]))
            continue
        for n, r, t in zip(names, ref, res["outputs"]):
            if r.shape != t.shape:
                print("%-8s %-60s shape %s, MXNet %s" % (tag, n, t.shape, r.shape))
                continue
            diff = np.abs(t.astype(np.float64) - r)
            i = np.unravel_index(np.argmax(diff), diff.shape) if diff.size else ()
            print("%-8s %-60s %-18s err %s  worst at %s: tandem %s MXNet %s" % (
                tag, n, tuple(r.shape), fmt_err(scaled_err(t, r)), tuple(int(k) for k in i),
                t[i] if diff.size else "-", r[i] if diff.size else "-"))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tandem-info", default="build/tools/tandem-info", help="the tandem-info executable")
    ap.add_argument("--out", default="/work/gcv-models", help="where the exported models and outputs go")
    ap.add_argument("--models", default="", help="comma-separated subset of the model names")
    ap.add_argument("--force", action="store_true", help="re-export models already exported")
    ap.add_argument("--export-only", action="store_true", help="only export with MXNet")
    ap.add_argument("--table", default="", help="markdown file whose table is rewritten with these results "
                    "(docs/model-zoo.md's comes from recipe.py; default: none)")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per tandem run")
    ap.add_argument("--list", action="store_true", help="list the models and exit")
    ap.add_argument("--reuse", action="store_true", help="compare tandem's outputs of an earlier run "
                    "(OUT/<model>/tandem-*/) where there are some, instead of running tandem again")
    ap.add_argument("--cut", default="", help="with one --models: cut the exported graph at these internal "
                    "outputs (comma-separated; 'list' lists them) and compare them node by node")
    ap.add_argument("--native-run", nargs=2, help=argparse.SUPPRESS)  # internal: DIR NAME
    args = ap.parse_args()
    if args.native_run:
        native_run(*args.native_run)
        return 0
    if args.list:
        for m in MODELS:
            print("%-32s %-24s %-12s %s" % (m.name, m.family, m.kind, m.shape))
        return 0
    chosen = MODELS
    if args.models:
        names = args.models.split(",")
        unknown = [n for n in names if n not in {m.name for m in MODELS}]
        if unknown:
            sys.exit("unknown model(s): " + ", ".join(unknown))
        chosen = [m for m in MODELS if m.name in names]
    if args.cut:
        if len(chosen) != 1:
            sys.exit("--cut needs exactly one model in --models")
        return cut(args, chosen[0])
    os.makedirs(args.out, exist_ok=True)
    results_path = os.path.join(args.out, "results.json")
    results = json.load(open(results_path)) if os.path.exists(results_path) else {}
    for m in chosen:
        t0 = time.time()
        row = {"model": m.name, "family": m.family, "kind": m.kind, "shape": list(m.shape), "loads": False,
               "runs": False, "pass": False}
        try:
            fresh = export(m, args.out, args.force)
            native = mxnet_native(args.out, m, fresh)
        except Exception as e:  # an architecture MXNet / GluonCV cannot export is recorded, not fatal
            print("%s: MXNet export failed: %s" % (m.name, e), flush=True)
            row["notes"] = "MXNet export failed: %s" % e
            results[m.name] = row
            continue
        print("%s: %s (%.1fs)" % (m.name, "exported" if fresh else "already exported", time.time() - t0), flush=True)
        if args.export_only:
            continue
        row = evaluate(m, args.out, args.tandem_info, args.timeout, native, reuse=args.reuse)
        for k in ("seconds_ref", "seconds_default"):  # a reused run keeps the time it took
            if not row.get(k) and results.get(m.name, {}).get(k):
                row[k] = results[m.name][k]
        results[m.name] = row
        json.dump(results, open(results_path, "w"), indent=1, default=str)
    if args.table and not args.export_only:
        rows = [results[m.name] for m in MODELS if m.name in results]
        write_table(args.table, rows)
    bad = [m.name for m in chosen if results.get(m.name, {}).get("result") == "FAIL"
           or m.name not in results]
    noisy = [m.name for m in chosen if results.get(m.name, {}).get("result") == "noise"]
    print("%d/%d pass, %d within MXNet's own noise (%s), %d fail%s" % (
        len(chosen) - len(bad) - len(noisy), len(chosen), len(noisy), ", ".join(noisy), len(bad),
        (": " + ", ".join(bad)) if bad else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
