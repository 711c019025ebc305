"""Minimal numpy reader / writer of MXNet .params files and symbol JSON, for bench/ scripts.

Reads the record generations tandem and MXNet 1.x write (V1 0xF993FAC8, V2 0xF993FAC9,
V3 0xF993FACA; dense storage only) and writes V2, byte for byte what lib/core/params_io.cpp
writes. Also: the deterministic benchmark input every engine in bench/ feeds.
"""
import json
import struct

import numpy as np

LIST_MAGIC = 0x112
MAGIC_V1, MAGIC_V2, MAGIC_V3 = 0xF993FAC8, 0xF993FAC9, 0xF993FACA
# MXNet dtype flags (mshadow type codes).
FLAG_TO_DTYPE = {0: np.float32, 1: np.float64, 2: np.float16, 3: np.uint8, 4: np.int32,
                 5: np.int8, 6: np.int64, 7: np.bool_, 12: np.uint16}
DTYPE_TO_FLAG = {np.dtype(v): k for k, v in FLAG_TO_DTYPE.items()}


class _Reader:
    def __init__(self, data, source):
        self.data, self.pos, self.source = data, 0, source

    def read(self, fmt):
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise ValueError(f"{self.source}: truncated at byte {self.pos}")
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += size
        return values if len(values) > 1 else values[0]

    def take(self, n):
        if self.pos + n > len(self.data):
            raise ValueError(f"{self.source}: truncated at byte {self.pos}")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk


def _payload(r, shape):
    dev_type, _dev_id, flag = r.read("iii")
    if flag not in FLAG_TO_DTYPE:
        raise ValueError(f"{r.source}: unsupported dtype flag {flag}")
    dtype = np.dtype(FLAG_TO_DTYPE[flag])
    count = int(np.prod(shape)) if shape else 1
    return np.frombuffer(r.take(count * dtype.itemsize), dtype=dtype).reshape(shape).copy()


def _record(r):
    magic = r.read("I")
    if magic in (MAGIC_V2, MAGIC_V3):
        stype = r.read("i")
        if stype not in (0, -1):
            raise ValueError(f"{r.source}: sparse storage type {stype} is not supported")
        ndim = r.read("i")
        if ndim <= 0:
            return None
        shape = tuple(r.read("q") for _ in range(ndim))
        return _payload(r, shape)
    if magic == MAGIC_V1:
        ndim = r.read("i")
        shape = tuple(r.read("q") for _ in range(ndim))
        return _payload(r, shape) if ndim else None
    shape = tuple(r.read("I") for _ in range(magic))  # legacy: the word read was ndim
    return _payload(r, shape) if magic else None


def load_params(path):
    """Returns {name: numpy array} ("arg:conv0_weight", ...) of a named .params file."""
    with open(path, "rb") as f:
        r = _Reader(f.read(), path)
    magic, _reserved, count = r.read("QQQ")
    if magic != LIST_MAGIC:
        raise ValueError(f"{path}: not an MXNet NDArray list (magic {magic:#x})")
    arrays = [_record(r) for _ in range(count)]
    names = [r.take(r.read("Q")).decode() for _ in range(r.read("Q"))]
    if len(names) != len(arrays):
        raise ValueError(f"{path}: {len(arrays)} arrays but {len(names)} names")
    return dict(zip(names, arrays))


def save_params(path, arrays):
    """Writes {name: numpy array} as a V2 .params file (as MXNet 1.x and tandem write it)."""
    out = [struct.pack("<QQQ", LIST_MAGIC, 0, len(arrays))]
    for a in arrays.values():
        a = np.ascontiguousarray(a)
        out.append(struct.pack("<Iii", MAGIC_V2, 0, a.ndim))
        out.append(struct.pack(f"<{a.ndim}q", *a.shape))
        out.append(struct.pack("<iii", 1, 0, DTYPE_TO_FLAG[a.dtype]))
        out.append(a.tobytes())
    out.append(struct.pack("<Q", len(arrays)))
    for name in arrays:
        out.append(struct.pack("<Q", len(name.encode())) + name.encode())
    with open(path, "wb") as f:
        f.write(b"".join(out))


def strip_prefixes(params):
    """{"arg:x": a, "aux:y": b} -> {"x": a, "y": b}."""
    return {k[4:] if k[:4] in ("arg:", "aux:") else k: v for k, v in params.items()}


def load_symbol(path):
    """The symbol JSON with every node's attributes merged under "attrs" (attrs / attr / param)."""
    with open(path) as f:
        graph = json.load(f)
    for node in graph["nodes"]:
        merged = {}
        for key in ("param", "attr", "attrs"):
            merged.update(node.get(key) or {})
        node["attrs"] = merged
    return graph


def parse_tuple(text, default=()):
    """"(3, 3)" / "(3,3)" / "[3]" / "3" -> (3, 3) / (3, 3) / (3,) / (3,)."""
    if text is None:
        return tuple(default)
    text = text.strip().strip("()[]")
    return tuple(int(float(t)) for t in text.split(",") if t.strip() and t.strip() != "None")


def parse_bool(text, default=False):
    if text is None:
        return default
    return text.strip().lower() in ("true", "1")


def deterministic_input(shape):
    """The benchmark input of every engine in bench/: x[i] = (i * 7919) % 256, float32."""
    n = int(np.prod(shape))
    return ((np.arange(n, dtype=np.int64) * 7919) % 256).astype(np.float32).reshape(shape)
