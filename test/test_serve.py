#!/usr/bin/env python3
"""tandem-serve end to end, driven by tritonclient (the standard Open Inference Protocol v2 client).

    test_serve.py TANDEM_SERVE TANDEM_INFO SOURCE_ROOT [MODELS_DIR]

Starts tandem-serve on free local ports with the bundled EfficientNet-Lite0 (once plain, once with
dynamic batching) and, when MODELS_DIR has it, the ONNX MNIST model; then checks over REST (binary
and JSON tensors) and gRPC: health, metadata, results equal to what tandem-info computes in
process, the protocol's errors for bad requests while other requests keep being served, the
/metrics text, and a graceful SIGTERM that answers the requests in flight.

Exit 77 (meson's "skipped") when tandem-serve was not built or tritonclient cannot be imported:
scripts/deps.sh makes .venv-serve with it, and this script re-runs itself there.
"""
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

SKIP = 77


def skip(why):
    print(f"SKIP: {why}")
    sys.exit(SKIP)


serve_bin, info_bin, source_root = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, os.path.join(source_root, "bench"))
import serve_load  # noqa: E402  (bench/serve_load.py: its stdlib-only http_get)
models_dir = os.environ.get("TANDEM_MODELS") or (sys.argv[4] if len(sys.argv) > 4 else "")
if not serve_bin or not os.path.exists(serve_bin):
    skip("tandem-serve was not built (-Dserve=auto needs libcpp-httplib-dev; see scripts/deps.sh)")
try:
    import numpy as np
    import tritonclient.grpc as grpcclient
    import tritonclient.http as httpclient
    from tritonclient.utils import InferenceServerException
except ImportError:
    venv_python = os.path.join(source_root, ".venv-serve", "bin", "python")
    # (sys.prefix, not the executable: a venv's python is a symlink to the interpreter that made it.)
    in_venv = os.path.realpath(sys.prefix) == os.path.realpath(os.path.join(source_root, ".venv-serve"))
    if os.path.exists(venv_python) and not in_venv and not os.environ.get("TANDEM_SERVE_TEST_REEXEC"):
        os.environ["TANDEM_SERVE_TEST_REEXEC"] = "1"
        os.execv(venv_python, [venv_python] + sys.argv)
    skip("tritonclient[http,grpc] and numpy are not importable; bash scripts/deps.sh makes "
         ".venv-serve with them (needs python3-venv and PyPI)")

PREFIX = os.path.join(source_root, "data", "efficientnet-lite0", "efficientnet-lite0")
MNIST = os.path.join(models_dir, "onnx-mnist8", "mnist-8.onnx") if models_dir else ""
# Builds without ONNX support (the sanitizer builds) cannot load it: tandem-info says so.
have_mnist = bool(MNIST) and os.path.exists(MNIST) and subprocess.run(
    [info_bin, MNIST, "--no-plan"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
MAX_BYTES = 8 << 20
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def close(a, b):
    return a.shape == b.shape and np.allclose(a, b, rtol=1e-4, atol=1e-6)


def reference(tmp, args, x, tag):
    """Outputs of the same model run in process by tandem-info (--input x.npy --output-dir)."""
    path = os.path.join(tmp, f"{tag}.npy")
    np.save(path, x)
    out_dir = os.path.join(tmp, f"ref-{tag}")
    os.makedirs(out_dir)
    subprocess.run([info_bin] + args + ["--input", path, "--output-dir", out_dir, "--no-plan"],
                   check=True, stdout=subprocess.DEVNULL)
    return np.load(os.path.join(out_dir, "output_0.npy"))


class ServerProcess:
    """tandem-serve on ports 0 (any free one); the ports come from its 'listening' log lines."""

    def __init__(self, args):
        self.lines = []
        self.cond = threading.Condition()
        env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
        self.proc = subprocess.Popen([serve_bin] + args + ["--http-port", "0", "--grpc-port", "0"],
                                     stderr=subprocess.PIPE, text=True, env=env)
        threading.Thread(target=self._read, daemon=True).start()
        self.http_port = int(self.wait_for(r"event=listening proto=http .*port=(\d+)").group(1))
        grpc = self.wait_for(r"event=listening proto=grpc .*port=(\d+)|event=grpc_disabled")
        self.grpc_port = int(grpc.group(1)) if grpc.group(1) else None
        self.wait_for(r"event=ready", timeout=90)

    def _read(self):
        for line in self.proc.stderr:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.lines.append("<exit>")
            self.cond.notify_all()

    def wait_for(self, pattern, timeout=30):
        deadline = time.time() + timeout
        with self.cond:
            while True:
                for line in self.lines:
                    m = re.search(pattern, line)
                    if m:
                        return m
                if "<exit>" in self.lines or time.time() > deadline:
                    raise RuntimeError(f"tandem-serve: no '{pattern}' in its log:\n" + "\n".join(self.lines))
                self.cond.wait(0.5)


def raw_post(port, path, body, headers=None):
    import http.client
    import json
    conn = http.client.HTTPConnection("localhost", port, timeout=30)
    conn.request("POST", path, body=body, headers=headers or {})
    res = conn.getresponse()
    data = res.read()
    conn.close()
    try:
        return res.status, json.loads(data)
    except ValueError:
        return res.status, data


def http_get(port, path):
    return serve_load.http_get(port, path, host="localhost", timeout=30)


def wait_in_flight(server, count, poll_s):
    """Polls /metrics until `count` requests are in flight, for at most 20 s."""
    deadline = time.time() + 20
    while time.time() < deadline:
        m = re.search(r"tandem_inference_in_flight (\d+)", http_get(server.http_port, "/metrics")[1])
        if m and int(m.group(1)) >= count:
            return
        time.sleep(poll_s)


def http_infer(client, model, x, binary_in=True, binary_out=True, version=""):
    inp = httpclient.InferInput("data", list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=binary_in)
    out = httpclient.InferRequestedOutput("softmax_output", binary_data=binary_out)
    return client.infer(model, [inp], outputs=[out], model_version=version).as_numpy("softmax_output")


def expect_http_error(what, status, fragment, fn):
    try:
        fn()
        check(False, f"{what}: answered {status}")
    except InferenceServerException as e:
        check(str(e.status()) == str(status) and fragment in e.message(),
              f"{what}: HTTP {e.status()} '{e.message()[:110]}'")


def expect_grpc_error(what, code, fragment, fn):
    try:
        fn()
        check(False, f"{what}: answered {code}")
    except InferenceServerException as e:
        check(code in str(e.status()) and fragment in e.message(),
              f"{what}: {e.status()} '{e.message()[:110]}'")


def test_http(server, x1, ref1, x2, ref2):
    c = httpclient.InferenceServerClient(f"localhost:{server.http_port}")
    check(c.is_server_live() and c.is_server_ready(), "HTTP live and ready")
    check(c.is_model_ready("effnet") and not c.is_model_ready("nope"), "HTTP model ready / unknown not ready")
    meta = c.get_server_metadata()
    check(meta["name"] == "tandem" and "binary_tensor_data" in meta["extensions"], f"HTTP server metadata {meta}")
    m = c.get_model_metadata("effnet")
    check(m["inputs"] == [{"name": "data", "datatype": "FP32", "shape": [-1, 3, 224, 224]}]
          and m["outputs"] == [{"name": "softmax_output", "datatype": "FP32", "shape": [-1, 1000]}]
          and m["versions"] == ["1"], f"HTTP model metadata {m}")
    check(c.get_model_metadata("effnet", "1")["name"] == "effnet", "HTTP metadata of /versions/1")

    check(close(http_infer(c, "effnet", x1), ref1), "HTTP binary in, binary out == tandem-info")
    check(close(http_infer(c, "effnet", x1, binary_in=False, binary_out=False), ref1),
          "HTTP JSON in, JSON out == tandem-info")
    check(close(http_infer(c, "effnet", x1, binary_in=True, binary_out=False, version="1"), ref1),
          "HTTP binary in, JSON out, version 1 == tandem-info")
    inp = httpclient.InferInput("data", list(x2.shape), "FP32")
    inp.set_data_from_numpy(x2)
    res = c.infer("effnet", [inp], request_id="req-7")  # no outputs named: all, binary
    check(close(res.as_numpy("softmax_output"), ref2) and res.get_response()["id"] == "req-7",
          "HTTP batch 2, all outputs, id echoed == tandem-info")
    # Nested JSON lists are the same tensor as flat ones.
    status, body = raw_post(server.http_port, "/v2/models/effnet/infer", __import__("json").dumps(
        {"inputs": [{"name": "data", "shape": [1, 3, 224, 224], "datatype": "FP32", "data": x1.tolist()}]}))
    check(status == 200 and close(np.array(body["outputs"][0]["data"], np.float32).reshape(1, 1000), ref1),
          "HTTP nested JSON data, raw client")

    # Bad requests: the protocol's errors with tandem's message.
    bad = np.zeros((1, 3, 100, 100), np.float32)
    expect_http_error("wrong shape", 400, "does not fit", lambda: http_infer(c, "effnet", bad))
    expect_http_error("wrong dtype", 400, "datatype", lambda: c.infer("effnet", [
        httpclient.InferInput("data", [1, 3, 224, 224], "FP64").set_data_from_numpy(x1.astype(np.float64))]))
    expect_http_error("unknown model", 404, "unknown model 'nope'", lambda: http_infer(c, "nope", x1))
    expect_http_error("unknown version", 404, "no version '7'", lambda: http_infer(c, "effnet", x1, version="7"))
    expect_http_error("unknown output", 400, "no output 'prob'", lambda: c.infer("effnet", [
        httpclient.InferInput("data", [1, 3, 224, 224], "FP32").set_data_from_numpy(x1)],
        outputs=[httpclient.InferRequestedOutput("prob")]))
    big = np.zeros((16, 3, 224, 224), np.float32)  # 9.6 MB > --max-request-bytes
    expect_http_error("oversize body", 413, "max-request-bytes", lambda: http_infer(c, "effnet", big))
    status, body = raw_post(server.http_port, "/v2/models/effnet/infer", b'{"inputs": [{"name": "data",')
    check(status == 400 and "malformed JSON" in body.get("error", ""), f"malformed JSON: {status} {body}")
    status, body = raw_post(server.http_port, "/v2/models/effnet/infer", b'{"inputs": []}')
    check(status == 400 and "error" in body, f"no inputs: {status} {body}")
    header = b'{"inputs":[{"name":"data","shape":[1,3,224,224],"datatype":"FP32","parameters":{"binary_data_size":602112}}]}'
    status, body = raw_post(server.http_port, "/v2/models/effnet/infer", header + b"\0" * 1000,
                            {"Inference-Header-Content-Length": str(len(header))})
    check(status == 400 and "past the end" in body.get("error", ""), f"short binary data: {status} {body}")
    status, body = raw_post(server.http_port, "/v2/models/effnet/infer", header + x1.tobytes(),
                            {"Inference-Header-Content-Length": str(len(header) + 5000)})
    check(status == 400 and "error" in body, f"wrong Inference-Header-Content-Length: {status} {body}")
    status, body = raw_post(server.http_port, "/v2/nothing/here", b"{}")
    check(status == 404 and "error" in body, f"unknown path: {status} {body}")
    # ... and the server still serves.
    check(close(http_infer(c, "effnet", x1), ref1), "HTTP serves after the bad requests")
    c.close()


def test_batching(server, x1, ref1, x2, ref2):
    """8 concurrent clients on the dynamic-batching model; every answer is its own."""
    results = []

    def client(k):
        c = httpclient.InferenceServerClient(f"localhost:{server.http_port}")
        for i in range(3):
            row = (k + i) % 2
            y = http_infer(c, "effnet_b", x2[row:row + 1])
            results.append(close(y, ref2[row:row + 1]))
        c.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check(len(results) == 24 and all(results), f"batching: {sum(results)}/24 concurrent answers correct")
    _, metrics = http_get(server.http_port, "/metrics")
    runs = re.search(r'tandem_batching_runs_total\{model="effnet_b"\} (\d+)', metrics)
    reqs = re.search(r'tandem_batching_requests_total\{model="effnet_b"\} (\d+)', metrics)
    check(runs and reqs and int(reqs.group(1)) >= 24 and 0 < int(runs.group(1)) <= int(reqs.group(1)),
          f"batching metrics: requests {reqs and reqs.group(1)}, runs {runs and runs.group(1)}")


def test_grpc(server, x1, ref1, x2, ref2):
    if server.grpc_port is None:
        print("note: tandem-serve built without gRPC; gRPC checks skipped")
        return
    c = grpcclient.InferenceServerClient(f"localhost:{server.grpc_port}")
    check(c.is_server_live() and c.is_server_ready() and c.is_model_ready("effnet"), "gRPC live, ready, model ready")
    meta = c.get_server_metadata()
    check(meta.name == "tandem" and "binary_tensor_data" in meta.extensions, "gRPC server metadata")
    m = c.get_model_metadata("effnet")
    check(m.inputs[0].name == "data" and list(m.inputs[0].shape) == [-1, 3, 224, 224]
          and m.outputs[0].datatype == "FP32" and list(m.outputs[0].shape) == [-1, 1000], f"gRPC model metadata")

    def infer(model, x, version=""):
        inp = grpcclient.InferInput("data", list(x.shape), "FP32")
        inp.set_data_from_numpy(x)
        res = c.infer(model, [inp], outputs=[grpcclient.InferRequestedOutput("softmax_output")],
                      model_version=version, request_id="g1")
        return res.as_numpy("softmax_output")

    check(close(infer("effnet", x1), ref1), "gRPC raw_input_contents / raw_output_contents == tandem-info")
    check(close(infer("effnet", x2, "1"), ref2), "gRPC batch 2, version 1 == tandem-info")
    check(close(infer("effnet_b", x2[1:2]), ref2[1:2]), "gRPC through the batcher == tandem-info")
    expect_grpc_error("gRPC wrong shape", "INVALID_ARGUMENT", "does not fit",
                      lambda: infer("effnet", np.zeros((1, 3, 100, 100), np.float32)))
    expect_grpc_error("gRPC wrong dtype", "INVALID_ARGUMENT", "datatype", lambda: c.infer("effnet", [
        grpcclient.InferInput("data", [1, 3, 224, 224], "FP64").set_data_from_numpy(x1.astype(np.float64))]))
    expect_grpc_error("gRPC unknown model", "NOT_FOUND", "unknown model", lambda: infer("nope", x1))
    expect_grpc_error("gRPC oversize", "RESOURCE_EXHAUSTED", "",
                      lambda: infer("effnet", np.zeros((16, 3, 224, 224), np.float32)))
    check(close(infer("effnet", x1), ref1), "gRPC serves after the bad requests")
    c.close()


def test_mnist(server, tmp):
    if not have_mnist:
        print(f"note: no {MNIST or 'MODELS_DIR'}, or no ONNX support in this build; ONNX checks skipped")
        return
    x = np.random.default_rng(3).random((1, 1, 28, 28), dtype=np.float32)
    ref = reference(tmp, [MNIST], x, "mnist")
    c = httpclient.InferenceServerClient(f"localhost:{server.http_port}")
    m = c.get_model_metadata("mnist")
    name_in, name_out = m["inputs"][0]["name"], m["outputs"][0]["name"]
    inp = httpclient.InferInput(name_in, [1, 1, 28, 28], "FP32")
    inp.set_data_from_numpy(x)
    y = c.infer("mnist", [inp]).as_numpy(name_out)
    check(m["platform"] == "onnx" and close(y, ref), f"ONNX mnist-8 over HTTP == tandem-info ({name_in} -> {name_out})")
    c.close()


def test_tandem_errors(server, x1, ref1):
    """A model without declared shapes: requests reach the CachedOp, whose errors come back as 400."""
    c = httpclient.InferenceServerClient(f"localhost:{server.http_port}")
    m = c.get_model_metadata("effnet_any")
    check(m["inputs"][0]["shape"] == [-1], f"undeclared input shape is [-1]: {m['inputs']}")
    check(close(http_infer(c, "effnet_any", x1), ref1), "model without --shape serves 1x3x224x224")
    expect_http_error("tandem ShapeError", 400, "Error: ", lambda: http_infer(c, "effnet_any", x1[0]))
    check(close(http_infer(c, "effnet_any", x1), ref1), "... and serves after it")
    c.close()


def test_timeout(server, x2):
    """--max-inflight 4 taken by long requests: one whose own timeout (1 ms) runs out gets 503."""
    big = np.concatenate([x2] * 6)  # batch 12
    results = []

    def client():
        c = httpclient.InferenceServerClient(f"localhost:{server.http_port}", network_timeout=120)
        try:
            results.append(http_infer(c, "effnet", big).shape == (12, 1000))
        except Exception as e:  # noqa: BLE001
            results.append(repr(e))
        c.close()

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    wait_in_flight(server, 4, poll_s=0.005)
    c = httpclient.InferenceServerClient(f"localhost:{server.http_port}")
    inp = httpclient.InferInput("data", [1, 3, 224, 224], "FP32").set_data_from_numpy(x2[:1])
    expect_http_error("request timeout while 4 run", 503, "did not start within",
                      lambda: c.infer("effnet", [inp], timeout=1000))
    c.close()
    for t in threads:
        t.join()
    check(results == [True] * 4, f"the 4 long requests were answered: {results}")


def test_metrics(server):
    status, text = http_get(server.http_port, "/metrics")
    ok = re.search(r'tandem_inference_requests_total\{model="effnet",protocol="http",outcome="success"\} [1-9]', text)
    bad = re.search(r'tandem_inference_requests_total\{model="effnet",protocol="http",outcome="bad_request"\} [1-9]', text)
    hist = re.search(r'tandem_inference_request_duration_seconds_count\{model="effnet"\} [1-9]', text)
    check(status == 200 and ok and bad and hist and "tandem_server_ready 1" in text,
          "/metrics: requests by outcome, latency histogram, readiness")


def test_graceful_shutdown(server, x2, ref2):
    """SIGTERM while requests run: they are answered, then the server exits 0."""
    results = []
    big = np.concatenate([x2] * 4)  # batch 8: long enough to be caught in flight
    ref_big = np.concatenate([ref2] * 4)

    def client():
        c = httpclient.InferenceServerClient(f"localhost:{server.http_port}", network_timeout=120)
        try:
            results.append(close(http_infer(c, "effnet", big), ref_big))
        except Exception as e:  # noqa: BLE001 - any failure is the finding
            results.append(repr(e))
        c.close()

    threads = [threading.Thread(target=client) for _ in range(3)]
    for t in threads:
        t.start()
    wait_in_flight(server, 1, poll_s=0.01)
    server.proc.send_signal(signal.SIGTERM)
    for t in threads:
        t.join()
    try:
        rc = server.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        rc = "timeout"
    check(rc == 0 and len(results) == 3 and all(r is True for r in results),
          f"SIGTERM: exit {rc}, in-flight requests answered: {results}")
    time.sleep(0.2)
    log = "\n".join(server.lines)
    check("event=shutdown signal=SIGTERM" in log and "event=stopped status=0" in log
          and "event=infer proto=http model=effnet status=200" in log, "log: shutdown, stopped, request lines")


def main():
    rng = np.random.default_rng(7)
    x2 = rng.random((2, 3, 224, 224), dtype=np.float32)
    x1 = x2[:1].copy()
    with tempfile.TemporaryDirectory() as tmp:
        ref1 = reference(tmp, [PREFIX, "0"], x1, "x1")
        ref2 = reference(tmp, [PREFIX, "0"], x2, "x2")
        args = ["--model", f"effnet={PREFIX}:0", "--shape", "data=-1,3,224,224",
                "--model", f"effnet_b={PREFIX}:0", "--shape", "data=-1,3,224,224",
                "--max-batch", "4", "--max-delay-us", "5000",
                "--model", f"effnet_any={PREFIX}:0",  # no --shape: any shape reaches the CachedOp
                "--max-inflight", "4", "--request-timeout-ms", "20000",
                "--max-request-bytes", str(MAX_BYTES), "--http-threads", "16", "--grpc-threads", "16"]
        if have_mnist:
            args += ["--model", f"mnist={MNIST}"]
        server = ServerProcess(args)
        try:
            test_http(server, x1, ref1, x2, ref2)
            test_batching(server, x1, ref1, x2, ref2)
            test_grpc(server, x1, ref1, x2, ref2)
            test_mnist(server, tmp)
            test_tandem_errors(server, x1, ref1)
            test_timeout(server, x2)
            test_metrics(server)
            test_graceful_shutdown(server, x2, ref2)
        finally:
            if server.proc.poll() is None:
                server.proc.kill()
                server.proc.wait()
    if failures:
        print(f"{len(failures)} check(s) failed:\n  " + "\n  ".join(failures))
        print("server log (last 40 lines):\n" + "\n".join(server.lines[-40:]))
        return 1
    print("all tandem-serve checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
