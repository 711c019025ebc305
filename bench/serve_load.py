#!/usr/bin/env python3
"""Load benchmark of tandem-serve: N concurrent clients against one local server, compared with the
same model called in process by tandem-bench at the same concurrency.

    python3 bench/serve_load.py --serve build/tools/serve/tandem-serve \\
        --bench build/bench/tandem-bench --clients 64 --seconds 20 --json bench/results/serve.jsonl

It starts tandem-serve itself (local ports only; it is stopped with SIGTERM at the end), runs a
warm-up, then measures for --seconds or until --max-requests answers, whichever comes first:
throughput, latency percentiles, failed requests (any non-200 answer or error: the run exits 1),
and the CPU time the client and the server used in the window, since on a small machine the
client's own cost competes with the server for the cores.

Clients: 'lean' (default) is the Python standard library only (http.client on keep-alive
connections, one thread each, the binary tensor extension; the request body is built once), so it
runs where PyPI is not reachable; 'triton-http' / 'triton-grpc' use tritonclient (one client per
thread). One JSON line per run, like tandem-bench's, goes to --json.
"""
import argparse
import array
import http.client
import json
import os
import random
import re
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    p.add_argument("--serve", default=os.path.join(root, "build", "tools", "serve", "tandem-serve"))
    p.add_argument("--bench", default="", help="tandem-bench for the in-process figure ('' = skip)")
    p.add_argument("--model", default=os.path.join(root, "data", "efficientnet-lite0", "efficientnet-lite0"),
                   help="MXNet checkpoint PREFIX")
    p.add_argument("--epoch", type=int, default=0)
    p.add_argument("--name", default="", help="model label in the JSON line (default: PREFIX's base name)")
    p.add_argument("--input", default="data", help="the model's data input")
    p.add_argument("--size", type=int, default=224, help="image side: input (1, 3, SIZE, SIZE)")
    p.add_argument("--clients", type=int, default=64)
    p.add_argument("--processes", type=int, default=1,
                   help="client processes sharing --clients (one Python process is GIL-bound near "
                        "1 core: on a fast server, e.g. a GPU, spread the clients; --max-requests "
                        "does not apply then)")
    p.add_argument("--seconds", type=float, default=10.0, help="measured window")
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--max-requests", type=int, default=200000, help="stop the window after this many answers")
    p.add_argument("--client", choices=["lean", "triton-http", "triton-grpc"], default="lean")
    p.add_argument("--device", default="cpu")
    p.add_argument("--max-batch", type=int, default=0, help="dynamic batching (tandem-serve and tandem-bench)")
    p.add_argument("--max-delay-us", type=int, default=1000)
    p.add_argument("--serve-arg", action="append", default=[], help="extra tandem-serve argument (repeatable)")
    p.add_argument("--json", default="", help="append the JSON line to this file")
    return p.parse_args()


class Server:
    """tandem-serve on free local ports, found in its 'listening' log lines."""

    def __init__(self, args):
        cmd = [args.serve, "--model", f"{args.name}={args.model}:{args.epoch}",
               "--shape", f"{args.input}=-1,3,{args.size},{args.size}",
               "--host", "127.0.0.1", "--http-port", "0",
               "--grpc-port", "0" if args.client == "triton-grpc" else "-1",
               # one HTTP thread per open connection: the clients' plus room for /metrics
               "--http-threads", str(args.clients + 16), "--grpc-threads", str(args.clients + 16),
               "--device", args.device, "--log", "error"]
        if args.max_batch > 1:
            cmd += ["--max-batch", str(args.max_batch), "--max-delay-us", str(args.max_delay_us)]
        cmd += args.serve_arg
        self.cmd = cmd
        self.proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.ports = {}
        ready = threading.Event()

        def read():
            for line in self.proc.stderr:
                self.lines.append(line.rstrip())
                m = re.search(r"event=listening proto=(\w+) .*port=(\d+)", line)
                if m:
                    self.ports[m.group(1)] = int(m.group(2))
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        self.http_port = None
        deadline = time.time() + 120
        while time.time() < deadline and self.proc.poll() is None:
            if "http" in self.ports:
                self.http_port = self.ports["http"]
                try:
                    if http_get(self.http_port, "/v2/health/ready")[0] == 200:
                        return
                except OSError:
                    pass
            time.sleep(0.2)
        self.proc.kill()
        raise RuntimeError("tandem-serve did not become ready:\n" + "\n".join(self.lines[-20:]))

    def cpu_seconds(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    def rss_mb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            m = re.search(r"VmRSS:\s+(\d+) kB", f.read())
        return int(m.group(1)) / 1024 if m else 0.0

    def metric(self, name):
        text = http_get(self.http_port, "/metrics")[1]
        return sum(float(v) for v in re.findall(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M))

    def counters(self):
        """Batched requests, batched runs, and the server's summed request time and count."""
        return (self.metric("tandem_batching_requests_total"), self.metric("tandem_batching_runs_total"),
                self.metric("tandem_inference_request_duration_seconds_sum"),
                self.metric("tandem_inference_request_duration_seconds_count"))

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return "killed"


def http_get(port, path, host="127.0.0.1", timeout=10):
    """(status, body text) of one GET; test/test_serve.py uses it too."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    conn.request("GET", path)
    res = conn.getresponse()
    body = res.read().decode()
    conn.close()
    return res.status, body


def lean_request(args):
    """One binary-tensor request body, built once: JSON header + float32 image bytes."""
    rng = random.Random(7)
    pixels = array.array("f", (rng.random() for _ in range(3 * args.size * args.size)))
    if sys.byteorder != "little":
        pixels.byteswap()
    header = json.dumps({"inputs": [{"name": args.input, "shape": [1, 3, args.size, args.size],
                                     "datatype": "FP32", "parameters": {"binary_data_size": len(pixels) * 4}}],
                         "parameters": {"binary_data_output": True}}).encode()
    return header + pixels.tobytes(), len(header)


def make_caller(args, port, grpc_port):
    """A per-thread function that sends one request and returns True when it was answered right."""
    if args.client == "lean":
        body, header_len = lean_request(args)
        headers = {"Inference-Header-Content-Length": str(header_len), "Content-Type": "application/octet-stream"}
        path = f"/v2/models/{args.name}/infer"

        def factory():
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

            def call():
                try:
                    conn.request("POST", path, body=body, headers=headers)
                    res = conn.getresponse()
                    data = res.read()
                except Exception:
                    conn.close()  # counted as a failure; the next call reconnects
                    raise
                if res.status != 200:
                    raise RuntimeError(f"HTTP {res.status}: {data[:200]!r}")
                n = int(res.getheader("Inference-Header-Content-Length"))
                out = json.loads(data[:n])["outputs"][0]
                return out["parameters"]["binary_data_size"] == len(data) - n
            return call
        return factory

    import numpy as np
    x = np.random.default_rng(7).random((1, 3, args.size, args.size), dtype=np.float32)
    if args.client == "triton-http":
        import tritonclient.http as tc
        url = f"127.0.0.1:{port}"
    else:
        import tritonclient.grpc as tc
        url = f"127.0.0.1:{grpc_port}"

    def factory():
        client = tc.InferenceServerClient(url)
        meta = client.get_model_metadata(args.name)
        output = meta["outputs"][0]["name"] if isinstance(meta, dict) else meta.outputs[0].name
        inp = tc.InferInput(args.input, list(x.shape), "FP32")
        inp.set_data_from_numpy(x)

        def call():
            return client.infer(args.name, [inp]).as_numpy(output).size > 0
        return call
    return factory


def percentile(sorted_values, q):
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def timed_call(call, failures, lock):
    """One request: (start, end, answered right); a failure's message is kept (the first 5)."""
    t0 = time.perf_counter()
    try:
        ok = call()
    except Exception as e:  # noqa: BLE001 - every failure counts
        ok = False
        with lock:
            if len(failures) < 5:
                failures.append(repr(e)[:300])
    return t0, time.perf_counter(), ok


def summarize(records, failures, t_start, t_end, client_cpu, server_cpu, batch0, batch1, rss):
    """The JSON fields of a measured window [t_start, t_end] from every request's record."""
    inside = [r for r in records if r[0] >= t_start and r[1] <= t_end]
    lat = sorted((r[1] - r[0]) * 1e3 for r in inside)
    n, elapsed, runs = len(inside), t_end - t_start, batch1[1] - batch0[1]
    return {
        "requests": n, "failed": sum(1 for r in records if not r[2]), "failures": failures,
        "seconds": round(elapsed, 3), "images_per_s": round(n / elapsed, 3) if elapsed > 0 else 0.0,
        "p50_ms": round(percentile(lat, 0.50), 3), "p90_ms": round(percentile(lat, 0.90), 3),
        "p99_ms": round(percentile(lat, 0.99), 3), "mean_ms": round(sum(lat) / n, 3) if n else 0.0,
        "client_cpu_s": round(client_cpu, 3), "client_cores": round(client_cpu / elapsed, 3),
        "client_cpu_ms_per_request": round(client_cpu * 1e3 / n, 3) if n else None,
        "server_cpu_s": round(server_cpu, 3), "server_cores": round(server_cpu / elapsed, 3),
        "server_rss_mb": round(rss, 1),
        "mean_batch": round((batch1[0] - batch0[0]) / runs, 2) if runs > 0 else 1.0,
        # the server's own time per request (parsed request to answer): the rest of a request's
        # latency is the client's and the connection's
        "server_mean_ms": round((batch1[2] - batch0[2]) * 1e3 / (batch1[3] - batch0[3]), 3)
        if batch1[3] > batch0[3] else None,
    }


def run_load(args, server):
    factory = make_caller(args, server.http_port, server.ports.get("grpc"))
    window = {}
    stop = threading.Event()
    records = []  # (start, end, ok) of every request
    failures = []
    lock = threading.Lock()

    def worker():
        try:
            call = factory()
        except Exception as e:  # noqa: BLE001
            failures.append(repr(e))
            return
        while not stop.is_set():
            record = timed_call(call, failures, lock)
            with lock:
                records.append(record)
                if "first_index" in window and len(records) - window["first_index"] >= args.max_requests:
                    stop.set()  # the bounded count: the window ends early

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(args.clients)]
    for t in threads:
        t.start()
    time.sleep(args.warmup)
    with lock:
        window["start"] = time.perf_counter()
        window["first_index"] = len(records)
        window["end"] = window["start"] + args.seconds
    cpu0 = (resource.getrusage(resource.RUSAGE_SELF), server.cpu_seconds())
    batch0 = server.counters()
    while time.perf_counter() < window["end"] and not stop.is_set():
        time.sleep(0.05)
    t_end = time.perf_counter()
    ru, server_cpu = resource.getrusage(resource.RUSAGE_SELF), server.cpu_seconds()
    batch1 = server.counters()
    rss = server.rss_mb()
    stop.set()
    for t in threads:
        t.join(timeout=120)
    client_cpu = (ru.ru_utime + ru.ru_stime) - (cpu0[0].ru_utime + cpu0[0].ru_stime)
    return summarize(records, failures, window["start"], t_end, client_cpu, server_cpu - cpu0[1],
                     batch0, batch1, rss)


def client_process(args, port, grpc_port, threads, t_start, t_end, conn):
    """One client process of --processes: `threads` clients from now until t_end; sends back its
    requests (start, end, ok), up to 5 failure messages and its CPU seconds within the window."""
    factory = make_caller(args, port, grpc_port)
    records, failures, lock = [], [], threading.Lock()

    def worker():
        try:
            call = factory()
        except Exception as e:  # noqa: BLE001
            with lock:
                failures.append(repr(e)[:300])
            return
        while time.perf_counter() < t_end:
            record = timed_call(call, failures, lock)
            with lock:
                records.append(record)

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for t in pool:
        t.start()
    time.sleep(max(0.0, t_start - time.perf_counter()))
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    time.sleep(max(0.0, t_end - time.perf_counter()))
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    for t in pool:
        t.join(timeout=120)
    cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    conn.send((records, failures, cpu))
    conn.close()


def run_load_processes(args, server):
    """run_load's measurement with the clients spread over --processes forked processes
    (time.perf_counter is CLOCK_MONOTONIC, shared by the processes on Linux)."""
    import multiprocessing as mp
    ctx = mp.get_context("fork")
    t_start = time.perf_counter() + args.warmup
    t_end = t_start + args.seconds
    children = []
    for i in range(args.processes):
        threads = args.clients // args.processes + (1 if i < args.clients % args.processes else 0)
        parent_end, child_end = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=client_process, args=(args, server.http_port, server.ports.get("grpc"),
                                                        threads, t_start, t_end, child_end))
        proc.start()
        children.append((proc, parent_end))
    time.sleep(max(0.0, t_start - time.perf_counter()))
    server_cpu0 = server.cpu_seconds()
    batch0 = server.counters()
    time.sleep(max(0.0, t_end - time.perf_counter()))
    server_cpu1 = server.cpu_seconds()
    batch1 = server.counters()
    rss = server.rss_mb()
    records, failures, client_cpu = [], [], 0.0
    for proc, conn in children:
        r, f, c = conn.recv()
        proc.join(timeout=120)
        records += r
        failures += f[: max(0, 5 - len(failures))]
        client_cpu += c
    return summarize(records, failures, t_start, t_end, client_cpu, server_cpu1 - server_cpu0,
                     batch0, batch1, rss)


def in_process(args, host_io=False):
    """tandem-bench's figure for the same model, concurrency and batching; with host_io (GPU), each
    call also copies its input from host memory and its outputs back, as the server does."""
    if not args.bench:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "bench.jsonl")
        cmd = [args.bench, "--model", args.model, "--epoch", str(args.epoch), "--threads", str(args.clients),
               "--batch", "1", "--seconds", str(args.seconds), "--warmup", str(args.warmup),
               "--sample-shape", f"3,{args.size},{args.size}", "--device", args.device, "--json", out]
        if args.max_batch > 1:
            cmd += ["--max-batch", str(args.max_batch), "--max-delay-us", str(args.max_delay_us)]
        if host_io:
            cmd.append("--host-io")
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        with open(out) as f:
            return json.loads(f.read().strip().splitlines()[-1])


def main():
    args = parse_args()
    args.name = args.name or os.path.basename(args.model)
    if not os.path.exists(args.serve):
        sys.exit(f"serve_load: no tandem-serve at {args.serve} (build it: -Dserve=auto, libcpp-httplib-dev)")
    server = Server(args)
    try:
        result = run_load_processes(args, server) if args.processes > 1 else run_load(args, server)
    finally:
        rc = server.stop()
    inproc = in_process(args)
    inproc_host = None
    if args.device == "gpu":
        try:  # the second in-process figure is a diagnosis; its failure must not hide the first
            inproc_host = in_process(args, host_io=True)
        except subprocess.CalledProcessError as e:
            print(f"serve_load: tandem-bench --host-io failed ({e}); that figure is left out", file=sys.stderr)
    line = {"model": args.name, "device": args.device, "engine": "tandem-serve", "protocol":
            "grpc" if args.client == "triton-grpc" else "http", "client": args.client,
            "clients": args.clients, "client_processes": args.processes, "batch": 1, "max_batch": args.max_batch,
            "max_delay_us": args.max_delay_us if args.max_batch > 1 else 0}
    line.update({k: v for k, v in result.items() if k != "failures"})
    line["server_exit"] = rc
    line["loadavg"] = round(os.getloadavg()[0], 2)
    if inproc:
        line["inproc_images_per_s"] = inproc["images_per_s"]
        line["inproc_p50_ms"] = inproc["p50_ms"]
        line["inproc_p99_ms"] = inproc["p99_ms"]
        line["serve_vs_inproc"] = round(result["images_per_s"] / inproc["images_per_s"], 3) if inproc["images_per_s"] else None
    if inproc_host:
        line["inproc_host_io_images_per_s"] = inproc_host["images_per_s"]
        line["inproc_host_io_p99_ms"] = inproc_host["p99_ms"]
        line["serve_vs_inproc_host_io"] = round(result["images_per_s"] / inproc_host["images_per_s"], 3)
    print(f"tandem-serve {args.name} on {args.device}, {args.clients} {args.client} clients, "
          f"{result['seconds']} s: {result['images_per_s']} req/s, p50 {result['p50_ms']} ms, "
          f"p99 {result['p99_ms']} ms, {result['requests']} answered, {result['failed']} failed; "
          f"CPU: client {result['client_cores']} cores ({result['client_cpu_ms_per_request']} ms/request), "
          f"server {result['server_cores']} cores, {result['server_mean_ms']} ms/request inside; "
          f"mean batch {result['mean_batch']}")
    if inproc:
        print(f"in process (tandem-bench, {args.clients} threads): {inproc['images_per_s']} images/s, "
              f"p50 {inproc['p50_ms']} ms -> serve/in-process {line['serve_vs_inproc']}")
    if inproc_host:
        print(f"in process, inputs from and outputs to host memory (tandem-bench --host-io): "
              f"{inproc_host['images_per_s']} images/s, p50 {inproc_host['p50_ms']} ms -> "
              f"serve/in-process {line['serve_vs_inproc_host_io']}")
    if result["failures"]:
        print("failures:", *result["failures"], sep="\n  ")
    print(json.dumps(line))
    if args.json:
        with open(args.json, "a") as f:
            f.write(json.dumps(line) + "\n")
    return 1 if result["failed"] or rc != 0 else 0


if __name__ == "__main__":
    sys.exit(main())
