#!/usr/bin/env python3
"""Runs the whole-model check from a bundle (recipe.py pack) where neither MXNet nor the exported
parameters are: numpy (1.x or 2.x) and a tandem-info build are all it needs.

For every model of BUNDLE/manifest.json it rebuilds the parameters from the recipe
(PREFIX-0000.params, MXNet's format) and the input from its seed, runs tandem-info on the asked
device and paths, and compares every output with MXNet's (the bundle's reference.npz; an output
stored as a strided subsample is compared on the same subsample) by mc_common.compare(), the
measure check_gluoncv.py uses: max |tandem - mxnet| / max |mxnet| per output, <= 1e-4; the same
top-5 for classifiers; detections matched one to one. A model that misses 1e-4 but is no
further from MXNet than MXNet's own two CPU paths are from each other (stored in the bundle) is
'noise'.

Runs (--runs, or --device / --no-cudnn for one):
  default  cpu, default flags (oneDNN)        ref    cpu, --reference (plain loops: slow)
  cudnn    gpu, default flags (cuDNN)         cuda   gpu, --no-cudnn (the plain-CUDA kernels)

    python3 tools/model_check/run_bundle.py .modelcheck --tandem-info build-gpu/tools/tandem-info \\
        --runs cudnn,cuda --out DIR
    python3 tools/model_check/run_bundle.py .modelcheck --device cpu --out /tmp/mc-cpu

DIR gets results.json (every number), table.md and, per model and run, tandem-info's JSON and
stderr (DIR/<model>/<run>.json / .log). The parameters are written under --work (default: a
temporary directory, removed at the end unless --keep).
"""
import argparse
import concurrent.futures
import gzip
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mc_common import (TOL, classify, compare, describe, fmt_err, recipe_input, recipe_params,  # noqa: E402
                       run_tandem, save_tensor_pb, write_params)

RUNS = {"default": ("cpu", True, False), "ref": ("cpu", True, True),
        "cudnn": ("gpu", True, False), "cuda": ("gpu", False, False)}  # device, cudnn, reference
RUN_TITLES = {"default": "CPU oneDNN (default)", "ref": "CPU reference", "cudnn": "GPU cuDNN",
              "cuda": "GPU plain CUDA"}


def materialise(bundle, model, work):
    """Writes WORK/<model>/<model>-symbol.json, -0000.params and input.npy (a NumPy file: tandem-info
    reads it without ONNX support, which the GPU machine's build lacks); returns the prefix."""
    t0 = time.time()
    d = os.path.join(work, model["name"])
    os.makedirs(d, exist_ok=True)
    prefix = os.path.join(d, model["name"])
    bd = os.path.join(bundle, model["name"])
    with gzip.open(os.path.join(bd, "symbol.json.gz"), "rb") as f, open(prefix + "-symbol.json", "wb") as g:
        g.write(f.read())
    with gzip.open(os.path.join(bd, "recipe.json.gz"), "rt") as f:
        recipe = json.load(f)
    write_params(prefix + "-0000.params", recipe_params(recipe))
    np.save(os.path.join(d, "input.npy"), recipe_input(recipe["input"]))
    return prefix, time.time() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bundle", help="the bundle directory (recipe.py pack), e.g. .modelcheck")
    ap.add_argument("--tandem-info", default="build/tools/tandem-info")
    ap.add_argument("--device", choices=("cpu", "gpu"), default=None, help="one run: cpu (default) or gpu")
    ap.add_argument("--no-cudnn", action="store_true", help="with --device gpu: the plain-CUDA kernels")
    ap.add_argument("--reference", action="store_true", help="with --device cpu: the reference kernels")
    ap.add_argument("--runs", default="", help="comma-separated runs: default, ref, cudnn, cuda")
    ap.add_argument("--models", default="", help="comma-separated subset")
    ap.add_argument("--out", default="modelcheck-out", help="results.json, table.md, logs")
    ap.add_argument("--work", default="", help="where the parameters are written (default: a temporary directory)")
    ap.add_argument("--keep", action="store_true", help="keep the parameters under --work")
    ap.add_argument("--jobs", type=int, default=min(8, os.cpu_count() or 1),
                    help="processes rebuilding parameters (ahead of the tandem runs)")
    ap.add_argument("--timeout", type=int, default=600, help="seconds per tandem run")
    ap.add_argument("--parallel", type=int, default=1, help="models checked at once (tandem-info processes "
                    "sharing the device; hides their start-up; times per run then mean less)")
    args = ap.parse_args()
    if args.runs:
        runs = args.runs.split(",")
        bad = [r for r in runs if r not in RUNS]
        if bad:
            sys.exit("unknown run(s) %s (runs: %s)" % (", ".join(bad), ", ".join(RUNS)))
    elif args.device == "gpu":
        runs = ["cuda" if args.no_cudnn else "cudnn"]
    else:
        runs = ["ref" if args.reference else "default"]
    manifest = json.load(open(os.path.join(args.bundle, "manifest.json")))
    models = manifest["models"]
    if args.models:
        names = args.models.split(",")
        models = [m for m in models if m["name"] in names]
        if len(models) != len(names):
            sys.exit("not in the bundle: " + ", ".join(set(names) - {m["name"] for m in models}))
    os.makedirs(args.out, exist_ok=True)
    work = args.work or tempfile.mkdtemp(prefix="modelcheck-")
    os.makedirs(work, exist_ok=True)
    t_start = time.time()
    results = {"bundle": os.path.abspath(args.bundle), "runs": runs, "tandem_info": args.tandem_info,
               "tolerance": TOL, "models": {}}

    def check(m, fut):
        """One model: wait for its parameters, run tandem-info for every run, compare."""
        name = m["name"]
        row = {"model": name, "family": m["family"], "kind": m["kind"], "shape": m["shape"]}
        try:
            prefix, gen_s = fut.result()
        except Exception as e:  # a broken bundle entry is recorded, not fatal
            row.update(result="FAIL", notes="rebuilding the parameters failed: %s" % e)
            print("%s: %s" % (name, row["notes"]), flush=True)
            return row
        row["generate_seconds"] = round(gen_s, 1)
        ref = list(np.load(os.path.join(args.bundle, name, "reference.npz")).values())
        strides = [o["stride"] for o in m["outputs"]]
        nms = m.get("nms_thresholds", [])
        cs, notes = [], []
        md = os.path.join(args.out, name)
        os.makedirs(md, exist_ok=True)
        for run in runs:
            device, cudnn, reference = RUNS[run]
            od = os.path.join(os.path.dirname(prefix), "tandem-" + run)
            res = run_tandem(args.tandem_info, prefix, os.path.join(os.path.dirname(prefix), "input.npy"), od,
                             reference=reference, timeout=args.timeout, device=device, cudnn=cudnn)
            row["seconds_" + run] = res.get("seconds")
            with open(os.path.join(md, run + ".log"), "w") as f:
                f.write(res.get("cmd", "") + "\n" + res.get("stderr", ""))
            if res.get("info") is not None:
                with open(os.path.join(md, run + ".json"), "w") as f:
                    json.dump(res["info"], f, indent=1)
                plan = res["info"].get("plan") or {}
                row["kernels_" + run] = plan.get("kernels_by_backend")
                row["host_fallback_" + run] = plan.get("host_fallback_kernels")
            if not res["ok"]:
                row["error_" + run] = res["error"]
                notes.append("%s: %s" % (run, res["error"].replace("tandem-info: ", "")))
                cs.append(None)
                print("%s %s: %s" % (name, run, res["error"]), flush=True)
                continue
            c = compare(m["kind"], ref, res["outputs"], nms, strides, [o.get("absmax") for o in m["outputs"]])
            cs.append(c)
            row["err_" + run] = c["max_err"]
            row["compare_" + run] = {k: v for k, v in c.items() if k != "notes"}
            if c["notes"]:
                notes.append("%s: %s" % (run, "; ".join(c["notes"])))
            print("%s %s: %s (%.1f s)" % (name, run, describe(c), res["seconds"]), flush=True)
        cn = m.get("mxnet_noise") or m.get("mxnet_native") or {"max_err": 0.0}
        row["err_mxnet_native"] = m.get("mxnet_native_err", cn.get("max_err"))
        row["err_mxnet_noise"] = cn.get("max_err")
        row["result"] = classify(cs, cn)
        if row["result"] == "noise":
            notes.append("within MXNet's own noise (MKLDNN off or input moved by float32 rounding: %s%s)" % (
                fmt_err(cn.get("max_err")),
                ", %d detections differ" % cn["unmatched_other"] if cn.get("unmatched_other") else ""))
        if any(s > 1 for s in strides):
            notes.append("outputs compared on a 1/%d subsample" % max(strides))
        row["notes"] = "; ".join(notes)
        row["cpu_when_packed"] = m.get("cpu")
        if not args.keep:
            shutil.rmtree(os.path.dirname(prefix), ignore_errors=True)
        return row

    try:
        with concurrent.futures.ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool, \
                concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.parallel)) as runners:
            futures = [pool.submit(materialise, args.bundle, m, work) for m in models]
            checks = [runners.submit(check, m, fut) for m, fut in zip(models, futures)]
            for m, c in zip(models, checks):  # in the manifest's order
                try:
                    row = c.result()
                except Exception as e:  # recorded, not fatal
                    row = {"model": m["name"], "family": m["family"], "kind": m["kind"], "shape": m["shape"],
                           "result": "FAIL", "notes": "run_bundle.py: %s: %s" % (type(e).__name__, e)}
                results["models"][m["name"]] = row
                with open(os.path.join(args.out, "results.json"), "w") as f:
                    json.dump(results, f, indent=1, default=str)
    finally:
        if not args.keep and not args.work:
            shutil.rmtree(work, ignore_errors=True)
    results["seconds"] = round(time.time() - t_start, 1)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1, default=str)
    lines = ["| model | family | " + " | ".join(RUN_TITLES[r] for r in runs) + " | MXNet's own | result | notes |",
             "|---|---|" + "---|" * len(runs) + "---|---|---|"]
    for name, row in results["models"].items():
        lines.append("| %s | %s | %s | %s | %s | %s |" % (
            name, row["family"], " | ".join(fmt_err(row.get("err_" + r)) for r in runs),
            fmt_err(row.get("err_mxnet_noise")), {"pass": "pass", "noise": "pass (noise)"}.get(row["result"], "**FAIL**"),
            row.get("notes", "").replace("|", "\\|")))
    with open(os.path.join(args.out, "table.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    rows = results["models"].values()
    counts = {k: sum(1 for r in rows if r["result"] == k) for k in ("pass", "noise", "FAIL")}
    print("%d models, runs %s: %d pass, %d noise, %d FAIL%s (%.0f s)" % (
        len(results["models"]), ",".join(runs), counts["pass"], counts["noise"], counts["FAIL"],
        (": " + ", ".join(r["model"] for r in rows if r["result"] == "FAIL")) if counts["FAIL"] else "",
        results["seconds"]))
    return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
