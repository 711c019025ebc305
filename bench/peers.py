#!/usr/bin/env python3
"""CPU peers for tandem-bench: ONNX Runtime and OpenVINO on the same network, exported to ONNX.

    peers.py --onnx FILE --threads 1,2,4 --seconds S [--batch 1] [--warmup 1]
             [--engines onnxruntime,openvino] [--intra-op N] [--name LABEL] [--json OUT]

Measured the way tandem-bench measures: for each thread count, N Python threads share ONE model
(one InferenceSession / one compiled model with an infer request per thread; both release the GIL
while they run), warm up, then call it in a loop for --seconds on the same deterministic input
(x[i] = (i * 7919) % 256). Reported: images/s = calls * batch / elapsed, p50 / p99 per-call
latency, VmRSS after the run and the peak (VmHWM); both include the Python interpreter, whose
size is printed (rss_base_mb). Each engine runs in its own process so its memory is its own.

Threads inside one call, the same policy as tandem-bench: --intra-op N, else cores // threads
(at least 1):
  onnxruntime  SessionOptions.intra_op_num_threads = that, inter_op_num_threads = 1, sequential;
  openvino     NUM_STREAMS = threads, INFERENCE_NUM_THREADS = that * threads,
               INFERENCE_PRECISION_HINT = f32 (else OpenVINO runs bf16 on CPUs with AMX / avx512_bf16).
A peer whose package is missing is skipped with a message.
"""
import argparse
import json
import os
import subprocess
import sys
import threading
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mxparams  # noqa: E402

ENGINES = ("onnxruntime", "openvino")


def proc_status_mib(key):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return float(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def load_average():
    """The 1-minute load average: how busy the machine was while this ran."""
    try:
        with open("/proc/loadavg") as f:
            return float(f.read().split()[0])
    except OSError:
        return 0.0


def intra_op_for(args, threads):
    if args.intra_op is not None:
        return args.intra_op
    return max(1, (os.cpu_count() or 1) // threads)


# ---- one factory per engine: returns (settings text, make_caller) where make_caller() gives a
# ---- per-thread callable running one inference on x

def onnxruntime_model(args, threads, x):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = intra_op_for(args, threads)
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(args.onnx, opts, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    settings = (f"onnxruntime {ort.__version__} CPU EP, intra_op_num_threads "
                f"{opts.intra_op_num_threads}, inter_op 1, sequential, one session for all threads")

    def make_caller():
        feed = {name: x.copy()}
        return lambda: session.run(None, feed)
    return settings, make_caller, opts.intra_op_num_threads


def openvino_model(args, threads, x):
    import openvino as ov
    core = ov.Core()
    model = core.read_model(args.onnx)
    model.reshape({model.input(0).get_any_name(): ov.PartialShape(list(x.shape))})
    intra = intra_op_for(args, threads)
    config = {"NUM_STREAMS": str(threads), "INFERENCE_NUM_THREADS": str(intra * threads),
              "INFERENCE_PRECISION_HINT": "f32"}
    compiled = core.compile_model(model, "CPU", config)
    got = {k: str(compiled.get_property(k)).replace("<Type: '", "").replace("'>", "")
           for k in config}
    settings = (f"openvino {ov.get_version()} CPU, " +
                ", ".join(f"{k} {v}" for k, v in got.items()) +
                ", one compiled model, one infer request per thread")

    def make_caller():
        request = compiled.create_infer_request()
        xi = x.copy()
        return lambda: request.infer({0: xi})
    return settings, make_caller, intra


FACTORIES = {"onnxruntime": onnxruntime_model, "openvino": openvino_model}


def run_threads(make_caller, threads, warmup, seconds):
    latencies = [[] for _ in range(threads)]
    finished = [0.0] * threads
    clock = {}
    warm_until = time.perf_counter() + warmup

    def start_clock():
        clock["start"] = time.perf_counter()
        clock["deadline"] = clock["start"] + seconds
    barrier = threading.Barrier(threads, action=start_clock)

    def worker(t):
        call = make_caller()
        call()
        while time.perf_counter() < warm_until:
            call()
        barrier.wait()
        lat, deadline = latencies[t], clock["deadline"]
        now = time.perf_counter()
        while now < deadline:
            call()
            done = time.perf_counter()
            lat.append((done - now) * 1000.0)
            now = done
        finished[t] = time.perf_counter()

    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for p in pool:
        p.start()
    for p in pool:
        p.join()
    all_lat = np.sort(np.concatenate([np.asarray(l) for l in latencies]))
    return all_lat, max(finished) - clock["start"]


def percentile(sorted_ms, q):
    if len(sorted_ms) == 0:
        return 0.0
    return float(sorted_ms[min(len(sorted_ms) - 1, int(q * (len(sorted_ms) - 1) + 0.5))])


def bench_engine(args, engine):
    try:
        __import__(engine)
    except ImportError:
        print(f"peers.py: SKIPPING {engine}: its Python package is missing "
              f"(pip install {engine})", flush=True)
        return []
    shape = (args.batch,) + tuple(int(d) for d in args.sample_shape.split(","))
    x = mxparams.deterministic_input(shape)
    rss_base = proc_status_mib("VmRSS")
    rows = []
    print(f"\n{engine}: model {args.name}, input {shape}, {args.seconds:g} s per run "
          f"(+{args.warmup:g} s warm-up), {os.cpu_count()} CPUs, RSS after import {rss_base:.1f} MiB")
    header = f"{'threads':>7} {'intra-op':>8} {'images/s':>10} {'p50 ms':>9} {'p99 ms':>9} " \
             f"{'RSS MiB':>9} {'peak MiB':>9} {'calls':>8}"
    print(header, flush=True)
    for threads in args.threads:
        settings, make_caller, intra = FACTORIES[engine](args, threads, x)
        lat, elapsed = run_threads(make_caller, threads, args.warmup, args.seconds)
        row = {"model": args.name, "device": "cpu", "threads": threads, "batch": args.batch,
               "images_per_s": round(len(lat) * args.batch / elapsed, 3),
               "p50_ms": round(percentile(lat, 0.50), 3), "p99_ms": round(percentile(lat, 0.99), 3),
               "mean_ms": round(float(lat.mean()) if len(lat) else 0.0, 3),
               "rss_mb": round(proc_status_mib("VmRSS"), 1),
               "peak_rss_mb": round(proc_status_mib("VmHWM"), 1), "engine": engine,
               "math": "fp32", "calls": int(len(lat)), "seconds": round(elapsed, 3),
               "intra_op": intra, "rss_base_mb": round(rss_base, 1), "settings": settings,
               "loadavg": load_average()}
        print(f"{threads:>7} {intra:>8} {row['images_per_s']:>10.2f} {row['p50_ms']:>9.2f} "
              f"{row['p99_ms']:>9.2f} {row['rss_mb']:>9.1f} {row['peak_rss_mb']:>9.1f} "
              f"{row['calls']:>8}", flush=True)
        print(f"        ({settings})", flush=True)
        rows.append(row)
    return rows


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--onnx", required=True)
    ap.add_argument("--threads", default="1")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--sample-shape", default="3,224,224")
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--intra-op", type=int, default=None)
    ap.add_argument("--name", default=None, help="model label (default: the ONNX file's stem)")
    ap.add_argument("--json", default=None, help="append JSON lines here (default: stdout)")
    args = ap.parse_args(argv)
    args.threads = [int(t) for t in args.threads.split(",")]
    args.engines = [e for e in args.engines.split(",") if e]
    for e in args.engines:
        if e not in ENGINES:
            ap.error(f"unknown engine {e}; known: {', '.join(ENGINES)}")
    if args.name is None:
        args.name = os.path.splitext(os.path.basename(args.onnx))[0]
    return args


def main():
    args = parse_args()
    if len(args.engines) > 1:
        # One process per engine: its RSS is then its own.
        status = 0
        for engine in args.engines:
            cmd = [sys.executable, os.path.abspath(__file__)] + sys.argv[1:] + ["--engines", engine]
            status |= subprocess.call(cmd)
        sys.exit(status)
    rows = bench_engine(args, args.engines[0])
    lines = [json.dumps(r) for r in rows]
    if args.json:
        with open(args.json, "a") as f:
            f.writelines(line + "\n" for line in lines)
        print(f"JSON lines appended to {args.json}")
    else:
        print()
        print("\n".join(lines))


if __name__ == "__main__":
    main()
