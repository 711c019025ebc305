"""The numpy-only half of the whole-model check (no MXNet): shared by check_gluoncv.py and
recipe.py (which also need MXNet) and run_bundle.py (which runs where there is no MXNet, e.g. on the
GPU machine).

  - ONNX TensorProto files, the format tandem-info reads (--input) and writes (--output-dir);
  - MXNet's NDArray-list .params format (write and read);
  - the weight recipe: a counter-based generator (splitmix64 over (seed(name), element index),
    vectorised in numpy uint64) that gives the same float32 values on every machine and numpy
    version, and the function that turns a recipe (names, shapes, ranges, stored values) into
    the parameters;
  - running tandem-info on a model directory;
  - the comparison with MXNet's outputs (error measure, top-5, detection matching) and the
    markdown table of docs/model-zoo.md.

Needs Python 3.8+ and numpy (1.x or 2.x).
"""
import base64
import hashlib
import json
import math
import os
import struct
import subprocess
import time
import zlib

import numpy as np

TOL = 1e-4
# An output with more elements than this is compared (and stored in the GPU bundle) on a
# deterministic strided subsample: flat[::stride], stride = ceil(size / SUBSAMPLE_MAX).
SUBSAMPLE_MAX = 256 * 1024


# ---- ONNX TensorProto files (tandem-info's --input / --output-dir format) ----------------------

_ONNX_DTYPE = {np.dtype("float32"): 1, np.dtype("uint8"): 2, np.dtype("int8"): 3, np.dtype("int32"): 6,
               np.dtype("int64"): 7, np.dtype("bool"): 9, np.dtype("float16"): 10, np.dtype("float64"): 11}
_NP_DTYPE = {v: k for k, v in _ONNX_DTYPE.items()}


def _varint(v):
    out = bytearray()
    v &= (1 << 64) - 1
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def save_tensor_pb(path, array, name=""):
    a = np.ascontiguousarray(array)
    buf = bytearray()
    for d in a.shape:
        buf += b"\x08" + _varint(int(d))                     # dims (1, varint)
    buf += b"\x10" + _varint(_ONNX_DTYPE[a.dtype])           # data_type (2)
    if name:
        nb = name.encode()
        buf += b"\x42" + _varint(len(nb)) + nb                # name (8)
    raw = a.tobytes()
    buf += b"\x4a" + _varint(len(raw)) + raw                  # raw_data (9)
    with open(path, "wb") as f:
        f.write(bytes(buf))


def _read_varint(buf, pos):
    """The protobuf varint at buf[pos:]; returns (value, position after it)."""
    shift = v = 0
    while True:
        b = buf[pos]
        pos += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v, pos


def load_tensor_pb(path):
    data = open(path, "rb").read()
    pos, dims, dtype, raw, name = 0, [], 1, b"", ""
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            v, pos = _read_varint(data, pos)
            if field == 1:
                dims.append(v)
            elif field == 2:
                dtype = v
        elif wire == 2:
            n, pos = _read_varint(data, pos)
            chunk = data[pos:pos + n]
            pos += n
            if field == 1:  # packed dims
                p = 0
                while p < len(chunk):
                    v, p = _read_varint(chunk, p)
                    dims.append(v)
            elif field == 8:
                name = chunk.decode()
            elif field == 9:
                raw = chunk
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise ValueError("%s: unexpected protobuf wire type %d" % (path, wire))
    return np.frombuffer(raw, dtype=_NP_DTYPE[dtype]).reshape(dims), name


# ---- MXNet .params (NDArray list), as mx.nd.save writes it -------------------------------------
# uint64 0x112, uint64 0, uint64 count, count NDArray records, uint64 count, count names
# (uint64 length + bytes). Record (V2, dense): uint32 0xF993FAC9, int32 stype 0, int32 ndim,
# ndim x int64, int32 dev_type 1 (cpu), int32 dev_id 0, int32 type flag, raw C-order data.
# (/work/shared/docs/mxnet-formats.md; tandem's reader: lib/core/params_io.cpp.)

_MX_TYPE = {np.dtype("float32"): 0, np.dtype("float64"): 1, np.dtype("float16"): 2, np.dtype("uint8"): 3,
            np.dtype("int32"): 4, np.dtype("int8"): 5, np.dtype("int64"): 6}
_MX_NP = {v: k for k, v in _MX_TYPE.items()}


def write_params(path, arrays):
    """Writes {name: numpy array} (names with their arg: / aux: prefix) in mx.nd.save's format."""
    with open(path, "wb") as f:
        f.write(struct.pack("<QQQ", 0x112, 0, len(arrays)))
        for a in arrays.values():
            a = np.ascontiguousarray(a)
            f.write(struct.pack("<Iii", 0xF993FAC9, 0, a.ndim))
            f.write(struct.pack("<%dq" % a.ndim, *a.shape))
            f.write(struct.pack("<iii", 1, 0, _MX_TYPE[a.dtype]))
            f.write(a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes())
        f.write(struct.pack("<Q", len(arrays)))
        for name in arrays:
            b = name.encode()
            f.write(struct.pack("<Q", len(b)) + b)


def read_params(path):
    """Reads a .params file written by write_params() or mx.nd.save (dense V2 records only)."""
    data = open(path, "rb").read()
    magic, _, count = struct.unpack_from("<QQQ", data, 0)
    assert magic == 0x112, path
    pos = 24
    arrays = []
    for _ in range(count):
        rmagic, stype, ndim = struct.unpack_from("<Iii", data, pos)
        assert rmagic == 0xF993FAC9 and stype == 0, (path, hex(rmagic), stype)
        pos += 12
        shape = struct.unpack_from("<%dq" % ndim, data, pos)
        pos += 8 * ndim
        _, _, flag = struct.unpack_from("<iii", data, pos)
        pos += 12
        dt = _MX_NP[flag]
        n = int(np.prod(shape, dtype=np.int64))
        arrays.append(np.frombuffer(data, dtype=dt.newbyteorder("<"), count=n, offset=pos).reshape(shape))
        pos += n * dt.itemsize
    (nnames,) = struct.unpack_from("<Q", data, pos)
    pos += 8
    names = []
    for _ in range(nnames):
        (ln,) = struct.unpack_from("<Q", data, pos)
        names.append(data[pos + 8:pos + 8 + ln].decode())
        pos += 8 + ln
    return dict(zip(names, arrays))


# ---- the weight recipe --------------------------------------------------------------------------
# splitmix64 (Steele, Lea, Flood 2014) as a counter-based generator: element i of a stream with
# seed s is mix(s + (i + 1) * GOLDEN). Only uint64 wrap-around arithmetic, shifts and xors, then
# exact float64 arithmetic on 24-bit integers: the same bits on every machine and numpy version.

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
RECIPE_VERSION = 1


def name_seed(name, salt=0):
    """The 64-bit seed of a parameter (or input) name: the first 8 bytes of its SHA-256."""
    h = hashlib.sha256(("%d:%s" % (salt, name)).encode()).digest()
    return int.from_bytes(h[:8], "little")


def splitmix64(seed, start, count):
    """Elements start .. start+count-1 of the splitmix64 stream `seed`, as uint64."""
    with np.errstate(over="ignore"):
        i = np.arange(start + 1, start + count + 1, dtype=np.uint64)
        z = np.uint64(seed) + i * _GOLDEN
        z ^= z >> np.uint64(30)
        z *= _M1
        z ^= z >> np.uint64(27)
        z *= _M2
        z ^= z >> np.uint64(31)
    return z


def uniform(seed, count, lo, hi, dtype=np.float32, chunk=1 << 22):
    """`count` values lo + (hi - lo) * u, u = (top 24 bits) / 2^24 in [0, 1), computed in float64
    and rounded once to `dtype`."""
    out = np.empty(count, dtype=dtype)
    lo, hi = float(lo), float(hi)
    for s in range(0, count, chunk):
        n = min(chunk, count - s)
        u = (splitmix64(seed, s, n) >> np.uint64(40)).astype(np.float64) * (1.0 / (1 << 24))
        out[s:s + n] = (lo + (hi - lo) * u).astype(dtype)
    return out


def encode_values(a):
    """A stored array: little-endian bytes, zlib, base64 (for recipe.json)."""
    a = np.ascontiguousarray(a)
    return base64.b64encode(zlib.compress(a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes(), 9)).decode()


def decode_values(text, dtype, shape):
    raw = zlib.decompress(base64.b64decode(text))
    return np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).astype(dtype).reshape(shape)


def recipe_array(spec):
    """One parameter from its recipe entry:
      {"name", "shape", "dtype", "kind": "uniform", "seed", "lo", "hi"}  or
      {"name", "shape", "dtype", "kind": "values", "data": encode_values(...)}."""
    shape = tuple(spec["shape"])
    count = int(np.prod(shape, dtype=np.int64))
    if spec["kind"] == "uniform":
        return uniform(int(spec["seed"]), count, spec["lo"], spec["hi"], np.dtype(spec["dtype"])).reshape(shape)
    if spec["kind"] == "values":
        return decode_values(spec["data"], spec["dtype"], shape)
    raise ValueError("recipe entry %s: unknown kind %r" % (spec["name"], spec["kind"]))


def recipe_params(recipe):
    """{name with arg:/aux: prefix: array}, in the recipe's order."""
    if recipe.get("version") != RECIPE_VERSION:
        raise ValueError("recipe version %r, this script reads %d" % (recipe.get("version"), RECIPE_VERSION))
    return {spec["name"]: recipe_array(spec) for spec in recipe["params"]}


def recipe_input(spec):
    """The model's input from {"name", "shape", "seed", "lo", "hi"} (float32)."""
    shape = tuple(spec["shape"])
    return uniform(int(spec["seed"]), int(np.prod(shape)), spec["lo"], spec["hi"]).reshape(shape)


def subsample(a, limit=SUBSAMPLE_MAX):
    """(flat[::stride], stride) with stride = ceil(size / limit); stride 1 keeps the array as is."""
    if a.size <= limit:
        return a, 1
    stride = int(math.ceil(a.size / limit))
    return np.ascontiguousarray(a.reshape(-1)[::stride]), stride


# ---- running tandem -----------------------------------------------------------------------------

def run_tandem(tandem_info, prefix, input_file, out_dir, reference=False, timeout=1800, device="cpu",
               cudnn=True):
    """Runs `tandem-info PREFIX 0 --json --input data=INPUT --output-dir OUT_DIR` (INPUT a .npy file,
    which any build reads, or an ONNX TensorProto .pb; plus --reference,
    --device gpu, --no-cudnn as asked). Returns {"ok", "error" | "outputs", "seconds", "info"}."""
    os.makedirs(out_dir, exist_ok=True)
    for f in os.listdir(out_dir):
        os.remove(os.path.join(out_dir, f))
    cmd = [tandem_info, prefix, "0", "--json", "--input", "data=" + input_file, "--output-dir", out_dir]
    if reference:
        cmd.append("--reference")
    if device != "cpu":
        cmd += ["--device", device]
    if not cudnn:
        cmd.append("--no-cudnn")
    t0 = time.time()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": "timed out after %ds" % timeout, "seconds": timeout, "cmd": " ".join(cmd)}
    res = {"seconds": round(time.time() - t0, 1), "cmd": " ".join(cmd), "stderr": p.stderr[-20000:]}
    try:
        res["info"] = json.loads(p.stdout) if p.stdout.strip() else None
    except json.JSONDecodeError:
        res["info"] = None
    if p.returncode != 0:
        err = [l for l in p.stderr.splitlines() if l.startswith("tandem-info:") and "wrote" not in l]
        if err:
            msg = err[-1]
        elif p.returncode < 0:  # killed by a signal: say which (an empty message hid a crash once)
            import signal
            try:
                sig = signal.Signals(-p.returncode).name
            except ValueError:
                sig = str(-p.returncode)
            msg = "tandem-info: crashed (%s)%s" % (sig, (": " + p.stderr.strip()[-500:]) if p.stderr.strip() else "")
        else:
            msg = "tandem-info: exit %d%s" % (p.returncode, (": " + p.stderr.strip()[-500:]) if p.stderr.strip() else "")
        res.update(ok=False, error=msg)
        return res
    res.update(ok=True, outputs=load_outputs(out_dir))
    return res


def load_outputs(out_dir):
    """tandem-info's outputs in OUT_DIR: output_<k>.pb, or .npy when the input was a .npy file."""
    outs = []
    k = 0
    while True:
        pb, npy = (os.path.join(out_dir, "output_%d.%s" % (k, ext)) for ext in ("pb", "npy"))
        if os.path.exists(npy):
            outs.append(np.load(npy))
        elif os.path.exists(pb):
            outs.append(load_tensor_pb(pb)[0])
        else:
            return outs
        k += 1


# ---- compare ------------------------------------------------------------------------------------

def scaled_err(a, b, scale=None):
    """max_i |a_i - b_i| / max(max_i |b_i|, 1e-6); b is the reference. `scale`: max |b| of the
    whole output where b is a subsample of it."""
    if not b.size:
        return 0.0
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    if scale is None:
        scale = float(np.max(np.abs(b)))
    return float(np.max(np.abs(a - b)) / max(scale, 1e-6))


def top5(a):
    flat = a.reshape(a.shape[0], -1)
    return [[int(v) for v in np.argsort(-row, kind="stable")[:5]] for row in flat]


def _rows(x):
    return x.reshape(x.shape[-2] if x.ndim == 3 else x.shape[-1], -1).astype(np.float64)


def _iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


# An NMS decision is a tie when the IoU that decided it is this close to the threshold: the
# boxes of the two sides differ by float32 rounding (~1e-5 of the box scale), which moves an IoU
# by about as much; 1e-3 leaves room and is still far too narrow to excuse a real difference.
NMS_TIE = 1e-3


def compare_detections(ref, got, nms_thresholds=()):
    """Detections (ids, scores, boxes; valid rows have id >= 0) matched one to one, in any order.

    Each MXNet detection, by descending score, takes the unused tandem detection of the same class
    that is closest (max of the score and box differences, relative to the largest score / box
    coordinate MXNet outputs); it is the same detection when that is <= 1e-2. Rows may swap places
    (scores that tie within rounding), so row-by-row errors mean nothing here. Returns the max
    error over matched detections and the unmatched ones, split into
      - at the cut-off: their score within the tolerance of the lowest score the other side kept
        (a top-k boundary);
      - at an NMS tie: kept on one side and suppressed on the other by a higher-scoring detection
        of the same class whose IoU with it is within NMS_TIE of an NMS threshold of the graph
        (`nms_thresholds`), or suppressed (IoU above a threshold) by such a tie's survivor;
      - other: a different detection (a real difference).
    """
    ids_r, sc_r, bx_r = (_rows(x) for x in ref[:3])
    ids_t, sc_t, bx_t = (_rows(x) for x in got[:3])
    vr = np.nonzero(ids_r[:, 0] >= 0)[0]
    vt = np.nonzero(ids_t[:, 0] >= 0)[0]
    s_scale = max(float(np.max(np.abs(sc_r[vr]))) if vr.size else 0.0, 1e-6)
    b_scale = max(float(np.max(np.abs(bx_r[vr]))) if vr.size else 0.0, 1e-6)
    used, err, unmatched_r = set(), 0.0, []
    by_class_t = {}
    for j in vt:
        by_class_t.setdefault(ids_t[j, 0], []).append(j)
    for i in vr[np.argsort(-sc_r[vr, 0], kind="stable")]:
        best, best_cost = None, None
        for j in by_class_t.get(ids_r[i, 0], ()):
            if j in used:
                continue
            cost = max(abs(sc_t[j, 0] - sc_r[i, 0]) / s_scale, float(np.max(np.abs(bx_t[j] - bx_r[i]))) / b_scale)
            if best_cost is None or cost < best_cost:
                best, best_cost = j, cost
        if best is not None and best_cost <= 1e-2:
            used.add(best)
            err = max(err, best_cost)
        else:
            unmatched_r.append(i)
    unmatched_t = [j for j in vt if j not in used]
    low_t = float(np.min(sc_t[vt, 0])) if vt.size else 0.0
    low_r = float(np.min(sc_r[vr, 0])) if vr.size else 0.0
    # (side, row): side 0 = MXNet, 1 = tandem
    side = [(ids_r, sc_r, bx_r, vr), (ids_t, sc_t, bx_t, vt)]
    unmatched = [(0, i) for i in unmatched_r] + [(1, j) for j in unmatched_t]
    at_cut = {(s, k) for s, k in unmatched if side[s][1][k, 0] <= (low_t if s == 0 else low_r) + TOL * s_scale}
    tie = set()
    ties_seen = []
    if nms_thresholds:
        rest = [u for u in unmatched if u not in at_cut]
        changed = True
        while changed:  # ties first, then what their survivors suppressed, to a fixed point
            changed = False
            for s, k in rest:
                if (s, k) in tie:
                    continue
                ids, sc, bx, _ = side[s]
                oids, osc, obx, ov = side[1 - s]
                cls, score, box = ids[k, 0], sc[k, 0], bx[k]
                why = None
                for o in ov:  # suppressed on the other side by a tie
                    if oids[o, 0] == cls and osc[o, 0] >= score - TOL * s_scale:
                        iou = _iou(box, obx[o])
                        for thr in nms_thresholds:
                            if abs(iou - thr) <= NMS_TIE:
                                why = (iou, thr)
                if why is None:  # suppressed on the other side by a tie's survivor
                    for s2, k2 in tie:
                        if s2 == 1 - s and oids[k2, 0] == cls and osc[k2, 0] >= score - TOL * s_scale:
                            if any(_iou(box, obx[k2]) > thr for thr in nms_thresholds):
                                why = "cascade"
                if why is not None:
                    tie.add((s, k))
                    if why != "cascade":
                        ties_seen.append(why)
                    changed = True
    other = len(unmatched) - len(at_cut) - len(tie)
    return {"detections": int(vr.size), "tandem_detections": int(vt.size), "err": err,
            "unmatched_mxnet": len(unmatched_r), "unmatched_tandem": len(unmatched_t),
            "unmatched_at_cutoff": len(at_cut), "unmatched_nms_tie": len(tie), "unmatched_other": other,
            "nms_ties": [[round(a, 7), b] for a, b in ties_seen]}


def compare(kind, ref, got, nms_thresholds=(), strides=None, scales=None):
    """Errors of `got` against `ref` (lists of arrays). kind: classifier, detector, segmentation,
    pose, ... `strides`: per output, the stride of the subsample `ref` holds (None / 1: all of
    it); `got` is subsampled the same way here. `scales`: per output, max |ref| over the whole
    output (so that a subsample's error is never above the whole output's)."""
    out = {"errors": [], "notes": []}
    if len(got) != len(ref):
        out.update(notes=["%d outputs, MXNet has %d" % (len(got), len(ref))], max_err=float("inf"), ok=False)
        return out
    got = list(got)
    for k, (r, t) in enumerate(zip(ref, got)):
        stride = strides[k] if strides else 1
        if stride > 1:
            t = np.ascontiguousarray(t.reshape(-1)[::stride])
            got[k] = t
        if tuple(r.shape) != tuple(t.shape):
            out["notes"].append("output %d has shape %s, MXNet %s" % (k, tuple(t.shape), tuple(r.shape)))
            out["errors"].append(float("inf"))
            continue
        if not np.all(np.isfinite(t)) and np.all(np.isfinite(r)):
            out["notes"].append("output %d has NaN/Inf" % k)
        out["errors"].append(scaled_err(t, r, scales[k] if scales else None))
    if out["notes"]:
        out.update(max_err=float("inf"), ok=False)
        return out
    if kind == "detector":
        d = compare_detections(ref, got, nms_thresholds)
        out.update(d)
        out["max_err"] = max([d["err"]] + out["errors"][3:])  # outputs after the three detection ones, if any
        if d["unmatched_mxnet"] or d["unmatched_tandem"]:
            parts = []
            if d["unmatched_at_cutoff"]:
                parts.append("%d at the top-k cut-off" % d["unmatched_at_cutoff"])
            if d["unmatched_nms_tie"]:
                parts.append("%d at an NMS IoU tie (IoU %s vs threshold %s)" % (
                    d["unmatched_nms_tie"], ", ".join("%.5f" % t[0] for t in d["nms_ties"]),
                    ", ".join("%g" % t[1] for t in d["nms_ties"])))
            if d["unmatched_other"]:
                parts.append("%d different" % d["unmatched_other"])
            out["notes"].append("%d+%d of %d detections unmatched (%s)" % (
                d["unmatched_mxnet"], d["unmatched_tandem"], d["detections"], ", ".join(parts)))
        out["ok"] = bool(out["max_err"] <= TOL and d["unmatched_other"] == 0 and d["unmatched_nms_tie"] == 0)
        return out
    out["max_err"] = max(out["errors"]) if out["errors"] else 0.0
    out["ok"] = bool(out["max_err"] <= TOL)
    if kind == "classifier":
        t5, r5 = top5(got[0]), top5(ref[0])
        out["top5"] = t5 == r5
        if t5 != r5:
            out["notes"].append("top-5 %s, MXNet %s" % (t5, r5))
            out["ok"] = False
    return out


def as_noisy_as_mxnet(c, cn):
    """Whether a tandem result that misses the 1e-4 bar is no further from MXNet than MXNet's own
    MKLDNN-off path (`cn`): error <= 2x MXNet's, no more different detections, top-5 only where
    MXNet's own paths disagree on it too. Detections that differ only at an NMS IoU tie count as
    noise (the decision hangs on the last bit of an IoU)."""
    if c["max_err"] > max(TOL, 2 * cn["max_err"]):
        return False
    if c.get("unmatched_other", 0) > cn.get("unmatched_other", 0):
        return False
    if c.get("top5") is False and cn.get("top5") is not False:
        return False
    return not any("shape" in n or "NaN" in n or "outputs" in n for n in c["notes"])


def noise_floor(cs):
    """MXNet's own noise from its comparisons with itself (`cs`: MKLDNN off, and the input moved by
    float32 rounding): the largest error and number of different detections, and whether any of
    them changes the top-5."""
    cs = [c for c in cs if c is not None]
    out = {"max_err": max([c["max_err"] for c in cs] + [0.0]),
           "unmatched_other": max([c.get("unmatched_other", 0) for c in cs] + [0])}
    if any("top5" in c for c in cs):
        out["top5"] = all(c.get("top5", True) for c in cs)
    return out


def classify(cs, cn):
    """'pass', 'noise' or 'FAIL' for the comparisons `cs` of one model's tandem runs (None: the
    run failed) against MXNet, `cn` MXNet's own MKLDNN-off comparison."""
    if any(c is None for c in cs):
        return "FAIL"
    if all(c["ok"] for c in cs):
        return "pass"
    return "noise" if all(c["ok"] or as_noisy_as_mxnet(c, cn) for c in cs) else "FAIL"


def nms_thresholds(symbol_json):
    """The IoU thresholds of the graph's NMS operators (_contrib_box_nms, MultiBoxDetection)."""
    out = set()
    for n in symbol_json["nodes"]:
        attrs = n.get("attrs", n.get("attr", n.get("param", {}))) or {}
        if n["op"] in ("_contrib_box_nms", "_contrib_box_non_maximum_suppression"):
            out.add(float(attrs.get("overlap_thresh", 0.5)))
        elif n["op"] in ("MultiBoxDetection", "_contrib_MultiBoxDetection"):
            out.add(float(attrs.get("nms_threshold", 0.5)))
    return sorted(out)


def fmt_err(e):
    if e is None:
        return "—"
    if e == float("inf"):
        return "shape!"
    return "%.1e" % e


def describe(c):
    return "max err %s%s" % (fmt_err(c["max_err"]), ("; " + "; ".join(c["notes"])) if c["notes"] else "")


def replace_between_markers(path, text, begin, end, title="# GluonCV model zoo through tandem\n\n"):
    if os.path.exists(path):
        doc = open(path).read()
        if begin in doc and end in doc:
            head, rest = doc.split(begin, 1)
            tail = rest.split(end, 1)[1]
            open(path, "w").write(head + begin + "\n" + text + end + tail)
            return
    open(path, "w").write(title + begin + "\n" + text + end + "\n")
