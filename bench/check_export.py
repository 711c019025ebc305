#!/usr/bin/env python3
"""Checks export_onnx.py: ONNX Runtime's output vs tandem's on the same checkpoint and input; with
--mxnet, MXNet's own output too (bench/mxnet_peer.cpp, the MXNet peer of run_cpu.sh).

    check_export.py PREFIX [PREFIX ...] [--bench build/bench/tandem-bench] [--batch 2]
                    [--tol 1e-4] [--reference] [--mxnet build/bench/mxnet-peer]

For each checkpoint: tandem-bench --dump writes tandem's softmax output and logits for the
deterministic input; export_onnx.py --logits writes the ONNX model; ONNX Runtime (CPU, fp32) runs
it on the same input; with --mxnet, mxnet-peer --dump runs the checkpoint itself in MXNet (its
thread-safe CachedOp, as benchmarked; the logits through a second CachedOp of the head's input).
Reports the max absolute and relative (to the largest |value|) error of each, and fails (exit 1)
unless every element agrees within tol * max(1, max|tandem value|).
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import export_onnx  # noqa: E402
import mxparams  # noqa: E402


def compare(name, got, want, tol):
    diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
    scale = max(1.0, float(np.abs(want).max()))
    max_abs = float(diff.max())
    ok = max_abs <= tol * scale
    print(f"  {name:8s} shape {tuple(want.shape)}  max|tandem| {np.abs(want).max():.4g}  "
          f"max abs err {max_abs:.3g}  max err / max(1, max|tandem|) {max_abs / scale:.3g}  "
          f"top-1 equal {bool((got.argmax(1) == want.argmax(1)).all())}  "
          f"{'OK' if ok else 'FAIL'}")
    return ok


def check(prefix, bench, batch, tol, reference, sample_shape, mxnet=None):
    import onnxruntime as ort
    with tempfile.TemporaryDirectory() as tmp:
        dump, model = os.path.join(tmp, "out.params"), os.path.join(tmp, "model.onnx")
        cmd = [bench, "--model", prefix, "--batch", str(batch), "--dump", dump,
               "--sample-shape", ",".join(map(str, sample_shape))]
        if reference:
            cmd.append("--reference")
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        tandem = mxparams.load_params(dump)
        export_onnx.export(prefix, model, sample_shape=sample_shape, logits=True)
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
        x = mxparams.deterministic_input((batch,) + tuple(sample_shape))
        names = [o.name for o in session.get_outputs()]
        outs = dict(zip(names, session.run(None, {session.get_inputs()[0].name: x})))
        mx_outs = None
        if mxnet:
            mx_dump = os.path.join(tmp, "mxnet.params")
            subprocess.run([mxnet, "--model", prefix, "--batch", str(batch), "--dump", mx_dump,
                            "--sample-shape", ",".join(map(str, sample_shape))],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            mx_outs = mxparams.load_params(mx_dump)
    backend = "reference" if reference else "auto"
    print(f"{prefix} (batch {batch}, tandem {backend} backend vs ONNX Runtime {ort.__version__} CPU):")
    softmax_name = [n for n in names if n != "logits"][0]
    ok = compare("logits", outs["logits"], tandem["logits"], tol)
    ok &= compare("softmax", outs[softmax_name], tandem[softmax_name], tol)
    if mx_outs is not None:
        print(f"{prefix} (batch {batch}, tandem {backend} backend vs MXNet, {os.path.basename(mxnet)}):")
        for name in ("logits", softmax_name):
            if name not in mx_outs:
                print(f"  {name:8s} missing from MXNet's outputs ({', '.join(mx_outs)})  FAIL")
                ok = False
                continue
            ok &= compare("softmax" if name != "logits" else name, mx_outs[name], tandem[name], tol)
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("prefixes", nargs="+")
    ap.add_argument("--bench", default=os.path.join(HERE, "..", "build", "bench", "tandem-bench"))
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--reference", action="store_true", help="tandem's reference kernels")
    ap.add_argument("--sample-shape", default="3,224,224")
    ap.add_argument("--mxnet", default=None, metavar="MXNET_PEER",
                    help="also compare MXNet's outputs (the mxnet-peer binary run_cpu.sh builds)")
    args = ap.parse_args()
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        sys.exit("check_export.py: onnxruntime is missing: pip install onnxruntime")
    shape = tuple(int(d) for d in args.sample_shape.split(","))
    results = [check(p, args.bench, args.batch, args.tol, args.reference, shape, args.mxnet)
               for p in args.prefixes]
    print("export check:", "all OK" if all(results) else "FAILED")
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
