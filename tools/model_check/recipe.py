#!/usr/bin/env python3
"""Weight recipes: the whole-model check's random weights as a few numbers per parameter, so that
the check runs where the exported parameters (10-230 MB a model) cannot go and MXNet is not
installed (the GPU machine: numpy only).

A recipe (PREFIX-recipe.json) lists every parameter of the .params file, in its order, with name,
shape and dtype and one of
  - "uniform": seed, lo, hi. Values lo + (hi - lo) * u with u from splitmix64 over (seed,
    element index) (mc_common.uniform): the same float32 bits with any numpy on any machine.
    Weights, biases, BatchNorm gamma / beta. The range comes from the exported (random) values:
    mean -/+ sqrt(3) std, the uniform distribution of the same mean and variance (so every layer
    keeps its scale, LSUV-scaled VGG layers included), never below 0 where the values were not;
    a constant c (zero biases, unit gammas) becomes c -/+ 0.01 max(1, |c|), so that biases are
    not all zero. The seed is the first 8 bytes of SHA-256("<model>:<name>").
  - "values": the float32 values themselves (zlib, base64). BatchNorm moving mean / variance
    (re-calibrated by MXNet on the recipe weights, see below; a few hundred KB a model) and
    constants that are not random (SSD / Faster R-CNN anchors, YOLOv3 offsets, scales).
What keeps a random deep net well-conditioned (no explosion, no saturated detector, boxes of a
sensible size): after the uniform parameters are drawn, one training-mode MXNet pass over two
random images sets every BatchNorm's moving mean / variance from its real input statistics
(check_gluoncv.calibrate(): perturbed a little, variance floored), and the layers no BatchNorm
normalises later (predictors, logits, SE gates) get ranges scaled to unit output variance
(unit_variance(), LSUV). The statistics are stored, the scaled ranges are the recipe's.

Subcommands:
  make   (MXNet) for each model exported by check_gluoncv.py under --src: writes the recipe and
         the recipe's parameters (written by numpy, then checked: mx.nd.load gives the same
         arrays) to --out/<model>/, the input (U(-1, 1) from a seed), MXNet's outputs (plain
         operators, and MKLDNN off for the noise floor), runs tandem on both CPU paths and
         compares (check_gluoncv.evaluate); --out/results.json, and the table of --table.
  build  (numpy) PREFIX-recipe.json -> PREFIX-0000.params (and --input FILE.npy / .pb).
  pack   (numpy) --out -> the bundle directory (default .modelcheck/ in the repository root,
         ignored by git): per model symbol.json, recipe.json, MXNet's outputs (reference.npz;
         outputs above 256 K elements as the strided subsample flat[::stride], the comparison
         uses the same subsample) and manifest.json (input seeds and shapes, strides, MXNet's
         own noise floor, the CPU results). run_bundle.py runs it.
  table  (numpy) rewrites the table of docs/model-zoo.md from --out/results.json, with the
         GPU columns from run_bundle.py's results.json (--gpu-results FILE).

    MXNET_SUBGRAPH_BACKEND=NONE /work/gcv/bin/python tools/model_check/recipe.py make \\
        --src /work/gcv-models --out /work/gcv-recipe --tandem-info build/tools/tandem-info
    python3 tools/model_check/recipe.py pack --out /work/gcv-recipe --bundle .modelcheck
"""
import argparse
import gzip
import json
import os
import shutil
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mc_common import (RECIPE_VERSION, SUBSAMPLE_MAX, TOL, encode_values, name_seed, read_params,  # noqa: E402
                       recipe_input, recipe_params, save_tensor_pb, subsample, write_params)

RANDOM_SUFFIXES = ("weight", "bias", "gamma", "beta")
SEED = 21  # calibration images


def _models():
    import check_gluoncv
    return check_gluoncv


def recipe_text(recipe):
    """recipe.json, one parameter a line."""
    head = {k: v for k, v in recipe.items() if k != "params"}
    lines = [json.dumps(p, separators=(",", ":")) for p in recipe["params"]]
    text = json.dumps(head, indent=1)[:-2]
    return text + ',\n "params": [\n' + ",\n".join(lines) + "\n ]\n}\n"


def draft_recipe(model_name, shape, orig):
    """The recipe of `orig` ({prefixed name: array}) before calibration: uniform ranges for the
    random parameters, the values for the rest."""
    specs = []
    for name, a in orig.items():
        base = name.split(":", 1)[1]
        spec = {"name": name, "shape": list(a.shape), "dtype": str(a.dtype)}
        if name.startswith("arg:") and base.endswith(RANDOM_SUFFIXES) and a.dtype == np.float32 and a.size:
            x = a.astype(np.float64)
            mean, std = float(x.mean()), float(x.std())
            if std <= 1e-7 * max(1.0, abs(mean)):
                half = 0.01 * max(1.0, abs(mean))
                lo, hi = mean - half, mean + half
            else:
                lo, hi = mean - 3 ** 0.5 * std, mean + 3 ** 0.5 * std
                if float(x.min()) >= 0:
                    lo = max(lo, 0.0)
            spec.update(kind="uniform", seed=name_seed(model_name + ":" + name),
                        lo=float(np.float32(lo)), hi=float(np.float32(hi)))
        else:
            spec.update(kind="values", data=encode_values(a))
        specs.append(spec)
    return {"version": RECIPE_VERSION, "model": model_name, "generator": "splitmix64, mc_common.py",
            "input": {"name": "data", "shape": list(shape), "seed": name_seed(model_name + ":input"),
                      "lo": -1.0, "hi": 1.0},
            "params": specs}


def unit_variance(cg, prefix, recipe, calib, rs):
    """LSUV on the recipe: every Convolution / FullyConnected / Deconvolution whose output reaches
    no BatchNorm through linear layers alone (heads: class and box predictors, classifier
    logits, SE gates) gets its uniform weight and bias ranges divided by the standard deviation of
    its output on `calib`, in graph order (one partial MXNet forward each, inference mode). A
    scaled layer with BatchNorms after it has them re-calibrated before the next one is measured.
    Without this the random box regressions of SSD decode to boxes of +-1e5 pixels, and an error
    relative to the largest coordinate would not see a wrong box of normal size. Expects
    PREFIX-0000.params calibrated; leaves it so. Returns the number of layers scaled."""
    import mxnet as mx
    graph = json.load(open(prefix + "-symbol.json"))
    nodes = graph["nodes"]
    layer_ops = ("Convolution", "FullyConnected", "Deconvolution")
    consumers = {}
    for i, n in enumerate(nodes):
        for e in n["inputs"]:
            consumers.setdefault(e[0], []).append(i)
    covered, reaches_bn = set(), set()
    for i in reversed(range(len(nodes))):
        cs = consumers.get(i, [])
        if nodes[i]["op"] in layer_ops and cs and all(
                nodes[c]["op"] == "BatchNorm" or (nodes[c]["op"] in layer_ops and c in covered) for c in cs):
            covered.add(i)  # normalised further on: left alone
        if any(nodes[c]["op"] == "BatchNorm" or c in reaches_bn for c in cs):
            reaches_bn.add(i)
    specs = {s["name"]: s for s in recipe["params"]}
    params = dict(read_params(prefix + "-0000.params"))
    internals = mx.sym.load(prefix + "-symbol.json").get_internals()
    count = 0
    for i, n in enumerate(nodes):
        if n["op"] not in layer_ops or i in covered:
            continue
        args = {k[4:]: mx.nd.array(v, dtype=v.dtype) for k, v in params.items() if k.startswith("arg:")}
        aux = {k[4:]: mx.nd.array(v, dtype=v.dtype) for k, v in params.items() if k.startswith("aux:")}
        out = internals[n["name"] + "_output"]
        std = None
        for batch in (calib, calib[:1]):
            try:
                exe = out.simple_bind(mx.cpu(), data=batch.shape, grad_req="null")
                exe.copy_params_from(args, aux, allow_extra_params=True)
                std = float(exe.forward(is_train=False, data=mx.nd.array(batch))[0].asnumpy().astype(np.float64).std())
                break
            except Exception:  # (RuntimeError from simple_bind) a graph that only runs with batch 1
                continue
        if not std or not np.isfinite(std):
            continue
        for k in n["inputs"][1:]:
            spec = specs.get("arg:" + nodes[k[0]]["name"])
            if spec is None or spec["kind"] != "uniform":
                continue
            spec["lo"] = float(np.float32(spec["lo"] / std))
            spec["hi"] = float(np.float32(spec["hi"] / std))
            params[spec["name"]] = recipe_params({"version": RECIPE_VERSION, "params": [spec]})[spec["name"]]
        count += 1
        write_params(prefix + "-0000.params", params)
        if i in reaches_bn:
            _calibrate(cg, prefix, calib, rs)
            params = dict(read_params(prefix + "-0000.params"))
    return count


def _calibrate(cg, prefix, calib, rs):
    try:
        return cg.calibrate(prefix, calib, rs)
    except Exception:  # a graph that only runs with batch 1
        return cg.calibrate(prefix, calib[:1], rs)


def _take_values(recipe, path):
    """The recipe's "values" entries from the .params file at `path` (after calibration)."""
    import mxnet as mx
    got = {k: v.asnumpy() for k, v in mx.nd.load(path).items()}
    for spec in recipe["params"]:
        if spec["kind"] == "values":
            spec["data"] = encode_values(got[spec["name"]])
    return got


def make(m, src, out):
    """Recipe weights for the model exported under src/<model>/, MXNet's outputs on them."""
    import mxnet as mx
    cg = _models()
    sd, od = os.path.join(src, m.name), os.path.join(out, m.name)
    os.makedirs(od, exist_ok=True)
    for f in os.listdir(od):  # outputs on earlier weights (--reuse must not find them)
        if f.startswith("tandem-"):
            shutil.rmtree(os.path.join(od, f))
        elif f.startswith("mxnet-perturbed-"):
            os.remove(os.path.join(od, f))
    prefix = os.path.join(od, m.name)
    shutil.copy(os.path.join(sd, m.name + "-symbol.json"), prefix + "-symbol.json")
    orig = read_params(os.path.join(sd, m.name + "-0000.params"))
    recipe = draft_recipe(m.name, m.shape, orig)
    write_params(prefix + "-0000.params", recipe_params(recipe))
    rs = np.random.RandomState(SEED)
    calib = rs.uniform(-1.0, 1.0, (2,) + m.shape[1:]).astype("float32")
    # BatchNorm statistics from data, then unit-variance heads (measured with them).
    n_bn = _calibrate(cg, prefix, calib, rs)
    n_lsuv = unit_variance(cg, prefix, recipe, calib, rs)
    calibrated = _take_values(recipe, prefix + "-0000.params")
    with open(prefix + "-recipe.json", "w") as f:
        f.write(recipe_text(recipe))
    # The parameters tandem and MXNet read are the recipe's, written by numpy as run_bundle.py will.
    params = recipe_params(json.load(open(prefix + "-recipe.json")))
    write_params(prefix + "-0000.params", params)
    back = mx.nd.load(prefix + "-0000.params")
    assert list(back) == list(params), "mx.nd.load: names or order differ"
    for k, v in params.items():
        b = back[k].asnumpy()
        assert b.dtype == v.dtype and b.shape == v.shape and np.array_equal(b, v), k
        assert np.array_equal(b, calibrated[k]), k
    x = recipe_input(recipe["input"])
    block = mx.gluon.SymbolBlock.imports(prefix + "-symbol.json", ["data"], prefix + "-0000.params")
    outs = block(mx.nd.array(x))
    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    np.save(os.path.join(od, "input.npy"), x)
    save_tensor_pb(os.path.join(od, "input.pb"), x, "data")
    np.savez(os.path.join(od, "mxnet.npz"), *[o.asnumpy() for o in outs])
    kinds = {}
    for s in recipe["params"]:
        kinds[s["kind"]] = kinds.get(s["kind"], 0) + int(np.prod(s["shape"]))
    return {"batchnorms": n_bn, "unit_variance_layers": n_lsuv, "uniform_elements": kinds.get("uniform", 0), "stored_elements": kinds.get("values", 0),
            "recipe_bytes": os.path.getsize(prefix + "-recipe.json")}


def perturbed_outputs(m, out):
    """MXNet's outputs for the input + U(-1e-7, 1e-7) (about the float32 rounding of an input in
    [-1, 1]), twice: how far MXNet moves when nothing but rounding changes. Faster R-CNN's
    detections change there (its RPN keeps the top 300 of 6000 proposals), so a GPU that does the
    same is not wrong. OUT/<model>/mxnet-perturbed-<k>.npz."""
    import mxnet as mx
    cg = _models()
    od = os.path.join(out, m.name)
    paths = [os.path.join(od, "mxnet-perturbed-%d.npz" % k) for k in range(2)]
    if not all(os.path.exists(p) for p in paths):
        prefix = os.path.join(od, m.name)
        block = mx.gluon.SymbolBlock.imports(prefix + "-symbol.json", ["data"], prefix + "-0000.params")
        x = np.load(os.path.join(od, "input.npy"))
        rs = np.random.RandomState(SEED + 1)
        for p in paths:
            xp = (x + cg.PERTURB * rs.uniform(-1.0, 1.0, x.shape)).astype("float32")
            outs = block(mx.nd.array(xp))
            outs = outs if isinstance(outs, (list, tuple)) else [outs]
            np.savez(p, *[o.asnumpy() for o in outs])
    return [list(np.load(p).values()) for p in paths]


def cmd_make(args):
    cg = _models()
    chosen = cg.MODELS
    if args.models:
        names = args.models.split(",")
        chosen = [m for m in cg.MODELS if m.name in names]
        if len(chosen) != len(names):
            sys.exit("unknown model(s): " + ", ".join(set(names) - {m.name for m in chosen}))
    os.makedirs(args.out, exist_ok=True)
    results_path = os.path.join(args.out, "results.json")
    results = json.load(open(results_path)) if os.path.exists(results_path) else {}
    for m in chosen:
        t0 = time.time()
        done = os.path.exists(os.path.join(args.out, m.name, m.name + "-recipe.json")) and \
            os.path.exists(os.path.join(args.out, m.name, "mxnet.npz"))
        if args.force or not done:
            if not os.path.exists(os.path.join(args.src, m.name, m.name + "-0000.params")):
                print("%s: not exported under %s (check_gluoncv.py --export-only)" % (m.name, args.src))
                continue
            info = make(m, args.src, args.out)
            native = cg.mxnet_native(args.out, m, True)
            print("%s: recipe made (%.1f s): %s" % (m.name, time.time() - t0, info), flush=True)
        else:
            info = results.get(m.name, {}).get("recipe", {})
            native = cg.mxnet_native(args.out, m, False)
            print("%s: recipe made before" % m.name, flush=True)
        perturbed = perturbed_outputs(m, args.out)
        if args.no_tandem:
            continue
        paths = tuple((t, t == "ref") for t in args.paths.split(","))
        row = cg.evaluate(m, args.out, args.tandem_info, args.timeout, native, paths=paths, reuse=args.reuse,
                          perturbed=perturbed)
        for k in ("seconds_ref", "seconds_default"):
            if not row.get(k) and results.get(m.name, {}).get(k):
                row[k] = results[m.name][k]
        row["recipe"] = info
        results[m.name] = row
        json.dump(results, open(results_path, "w"), indent=1, default=str)
    if args.table:
        write_table(args, results)
    return 0


def write_table(args, results):
    cg = _models()
    rows = [results[m.name] for m in cg.MODELS if m.name in results]
    gpu = {}  # GPU columns "not run" until run_bundle.py's results are given
    if getattr(args, "gpu_results", ""):
        gpu = json.load(open(args.gpu_results))["models"]
    cg.write_table(args.table, rows, gpu)
    print("table of %d models written to %s%s" % (len(rows), args.table, " (with GPU columns)" if gpu else ""))


def cmd_table(args):
    write_table(args, json.load(open(os.path.join(args.out, "results.json"))))
    return 0


def cmd_build(args):
    recipe = json.load(open(args.recipe))
    write_params(args.params, recipe_params(recipe))
    if args.input:
        x = recipe_input(recipe["input"])
        if args.input.endswith(".pb"):
            save_tensor_pb(args.input, x, recipe["input"]["name"])
        else:
            np.save(args.input, x)
    return 0


def cmd_pack(args):
    """The bundle run_bundle.py reads (see the module docstring)."""
    cg = _models()
    results = json.load(open(os.path.join(args.out, "results.json")))
    if os.path.exists(args.bundle):
        shutil.rmtree(args.bundle)
    os.makedirs(args.bundle)
    manifest = {"version": RECIPE_VERSION, "tolerance": TOL, "subsample_max": SUBSAMPLE_MAX,
                "made_by": "tools/model_check/recipe.py pack", "models": []}
    for m in cg.MODELS:
        d = os.path.join(args.out, m.name)
        if m.name not in results or not os.path.exists(os.path.join(d, m.name + "-recipe.json")):
            continue
        row = results[m.name]
        bd = os.path.join(args.bundle, m.name)
        os.makedirs(bd)
        with open(os.path.join(d, m.name + "-symbol.json"), "rb") as f, \
                gzip.GzipFile(os.path.join(bd, "symbol.json.gz"), "wb", 9, mtime=0) as g:
            g.write(f.read())
        recipe = json.load(open(os.path.join(d, m.name + "-recipe.json")))
        with gzip.GzipFile(os.path.join(bd, "recipe.json.gz"), "wb", 9, mtime=0) as g:
            g.write(recipe_text(recipe).encode())
        refs = list(np.load(os.path.join(d, "mxnet.npz")).values())
        outputs, stored = [], []
        for r in refs:
            s, stride = subsample(r)
            stored.append(s)
            outputs.append({"shape": list(r.shape), "dtype": str(r.dtype), "stride": stride,
                            "absmax": float(np.max(np.abs(r.astype(np.float64)))) if r.size else 0.0})
        np.savez(os.path.join(bd, "reference.npz"), *stored)
        noise = row.get("mxnet_noise") or dict(row.get("compare_mxnet_native", {}))
        manifest["models"].append({
            "name": m.name, "family": m.family, "kind": m.kind, "shape": list(m.shape), "note": m.note,
            "new_ops": row.get("new_ops", []), "nms_thresholds": row.get("nms_thresholds", []),
            "input": recipe["input"], "outputs": outputs, "mxnet_noise": noise,
            "mxnet_native_err": row.get("err_mxnet_native"), "mxnet_perturbed_err": row.get("err_mxnet_perturbed"),
            "cpu": {k: row.get(k) for k in ("err_ref", "err_default", "result", "notes")}})
    with open(os.path.join(args.bundle, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, default=str)
    total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(args.bundle) for f in fs)
    print("%s: %d models, %.2f MB" % (args.bundle, len(manifest["models"]), total / 1e6))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("make", help="(MXNet) recipes, MXNet's outputs and tandem's CPU results")
    p.add_argument("--src", default="/work/gcv-models", help="check_gluoncv.py's --out (the exported models)")
    p.add_argument("--out", default="/work/gcv-recipe", help="where the recipe models and results go")
    p.add_argument("--models", default="", help="comma-separated subset")
    p.add_argument("--tandem-info", default="build/tools/tandem-info")
    p.add_argument("--timeout", type=int, default=1800, help="seconds per tandem run")
    p.add_argument("--force", action="store_true", help="make recipes made before again")
    p.add_argument("--reuse", action="store_true", help="compare tandem's outputs of an earlier run where there are some")
    p.add_argument("--no-tandem", action="store_true", help="only the recipes and MXNet's outputs")
    p.add_argument("--paths", default="ref,default", help="tandem's CPU paths: ref (reference kernels: slow), default")
    p.add_argument("--table", default="docs/model-zoo.md", help="markdown file whose table is rewritten ('' = none)")
    p.add_argument("--gpu-results", default="", help="run_bundle.py's results.json: the GPU columns")
    p = sub.add_parser("build", help="(numpy) PREFIX-recipe.json -> .params (+ input)")
    p.add_argument("recipe")
    p.add_argument("params")
    p.add_argument("--input", default="", help="also write the input (.npy, or .pb: ONNX TensorProto)")
    p = sub.add_parser("pack", help="(numpy) the bundle for run_bundle.py")
    p.add_argument("--out", default="/work/gcv-recipe")
    p.add_argument("--bundle", default=".modelcheck")
    p = sub.add_parser("table", help="(numpy) rewrite the docs table from --out/results.json (+ GPU results)")
    p.add_argument("--out", default="/work/gcv-recipe")
    p.add_argument("--table", default="docs/model-zoo.md")
    p.add_argument("--gpu-results", default="", help="run_bundle.py's results.json: the GPU columns")
    args = ap.parse_args()
    return {"make": cmd_make, "build": cmd_build, "pack": cmd_pack, "table": cmd_table}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
