#!/usr/bin/env python3
"""PyTorch eager peer for the reduced-precision rows: ResNet-50 v1 (torchvision's layout, built by
make_torchscript.ResNet, random weights), channels-last, float16 or bfloat16, cudnn.benchmark on,
inference_mode, one stream. Prints one JSON line per batch size like tandem-bench --json.

    torch_eager_half.py [--dtype f16|bf16] [--batch 128] [--seconds 5] [--depth 50] [--out FILE]
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_torchscript import ResNet, random_state  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dtype", default="f16", choices=["f16", "bf16"])
    ap.add_argument("--batch", type=int, action="append")
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--depth", type=int, default=50)
    ap.add_argument("--out")
    args = ap.parse_args()
    torch.backends.cudnn.benchmark = True
    dtype = torch.float16 if args.dtype == "f16" else torch.bfloat16
    model = ResNet(args.depth)
    model.load_state_dict(random_state(model, 0))
    model = model.cuda().to(dtype=dtype, memory_format=torch.channels_last).eval()
    lines = []
    for batch in args.batch or [128]:
        x = torch.rand(batch, 3, 224, 224, device="cuda").to(dtype=dtype, memory_format=torch.channels_last)
        with torch.inference_mode():
            for _ in range(10):
                model(x)
            torch.cuda.synchronize()
            calls, start = 0, time.perf_counter()
            while time.perf_counter() - start < args.seconds:
                model(x)
                calls += 1
                if calls % 10 == 0:
                    torch.cuda.synchronize()
            torch.cuda.synchronize()
            elapsed = time.perf_counter() - start
        row = {"model": f"resnet{args.depth}-v1", "device": "gpu", "threads": 1, "batch": batch,
               "images_per_s": round(calls * batch / elapsed, 1), "mean_ms": round(1e3 * elapsed / calls, 3),
               "engine": "pytorch-eager", "math": "fp16" if args.dtype == "f16" else "bf16",
               "layout": "nhwc", "variant": "eager", "torch": torch.__version__,
               "gpu_name": torch.cuda.get_device_name()}
        lines.append(json.dumps(row))
        print(lines[-1], flush=True)
    if args.out:
        with open(args.out, "a") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
