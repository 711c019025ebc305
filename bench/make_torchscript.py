#!/usr/bin/env python3
"""Writes a TorchScript ResNet v1 (torchvision's layout, no torchvision needed) for torch_peer.

    make_torchscript.py --depth 50 --out resnet50-v1.pt
                        [--params PREFIX-0000.params | --state W.pt|W.npz | --random SEED]
                        [--device cuda] [--no-freeze] [--check DUMP.params] [--check-info DUMP.params]
                        [--batch 1]

Weights: tandem's zoo ResNetV1 checkpoint (--params, mapped by convert_weights.py), a torch state
dict (--state), or random ones (--random, He-initialised; for timing only). The scripted module's
forward returns softmax(logits) like tandem's graph (SoftmaxOutput); its exported method logits()
returns the raw fc output. By default the module is frozen (torch.jit.freeze: weights become
constants, BatchNorm folded into the convolutions) on --device, the usual way to deploy TorchScript
for inference. --check compares logits() with tandem's (tandem-bench --dump on the same
checkpoint and batch) on the deterministic input, in strict fp32 (TF32 off).
"""
import argparse
import os
import sys

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import convert_weights  # noqa: E402
import mxparams  # noqa: E402

LAYOUTS = {18: ("basic", [2, 2, 2, 2]), 34: ("basic", [3, 4, 6, 3]),
           50: ("bottleneck", [3, 4, 6, 3]), 101: ("bottleneck", [3, 4, 23, 3]),
           152: ("bottleneck", [3, 8, 36, 3])}


def conv(cin, cout, k, stride=1):
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin, width, stride, downsample):
        super().__init__()
        self.conv1, self.bn1 = conv(cin, width, 3, stride), nn.BatchNorm2d(width)
        self.conv2, self.bn2 = conv(width, width, 3), nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.downsample(x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin, width, stride, downsample):
        super().__init__()
        self.conv1, self.bn1 = conv(cin, width, 1), nn.BatchNorm2d(width)
        self.conv2, self.bn2 = conv(width, width, 3, stride), nn.BatchNorm2d(width)
        self.conv3, self.bn3 = conv(width, width * 4, 1), nn.BatchNorm2d(width * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + self.downsample(x))


class ResNet(nn.Module):
    """torchvision.models.resnet.ResNet's module tree and state-dict names, v1.5 strides."""

    def __init__(self, depth, classes=1000):
        super().__init__()
        kind, units = LAYOUTS[depth]
        block = Bottleneck if kind == "bottleneck" else BasicBlock
        self.conv1, self.bn1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = 64
        for i, n in enumerate(units):
            width, stride = 64 * 2 ** i, 1 if i == 0 else 2
            blocks = []
            for j in range(n):
                s = stride if j == 0 else 1
                cout = width * block.expansion
                # An empty Sequential is the identity; keeps the module scriptable.
                down = nn.Sequential()
                if j == 0 and (s != 1 or cin != cout):
                    down = nn.Sequential(nn.Conv2d(cin, cout, 1, s, bias=False), nn.BatchNorm2d(cout))
                blocks.append(block(cin, width, s, down))
                cin = cout
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, classes)

    @torch.jit.export
    def logits(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))

    def forward(self, x):
        return torch.softmax(self.logits(x), dim=1)


def random_state(model, seed):
    g = torch.Generator().manual_seed(seed)
    state = {}
    for k, v in model.state_dict().items():
        if k.endswith("num_batches_tracked"):
            state[k] = v
        elif v.dim() > 1:  # conv / fc weights: He initialisation
            fan_in = v[0].numel()
            state[k] = torch.randn(v.shape, generator=g) * (2.0 / fan_in) ** 0.5
        elif k.endswith("running_var") or (k.endswith(".weight") and v.dim() == 1):
            state[k] = torch.ones_like(v)
        else:
            state[k] = torch.zeros_like(v)
    return state


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--depth", type=int, default=50, choices=sorted(LAYOUTS))
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--out", required=True)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--params", help="tandem / MXNet .params of zoo ResNetV1")
    src.add_argument("--state", help="torch state dict (.pt) or .npz with torch names")
    src.add_argument("--random", type=int, metavar="SEED")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--no-freeze", action="store_true")
    ap.add_argument("--check", action="append",
                    help="tandem-bench --dump output to compare logits with (fails the run)")
    ap.add_argument("--check-info", action="append",
                    help="same, reported but not failing the run")
    ap.add_argument("--batch", type=int, default=1, help="batch of the --check dump")
    ap.add_argument("--tol", type=float, default=1e-4)
    args = ap.parse_args()

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    model = ResNet(args.depth, args.classes).eval()
    if args.params:
        state = convert_weights.tandem_to_torch(mxparams.load_params(args.params))
        state = {k: torch.from_numpy(np.array(v)) for k, v in state.items()}
    elif args.state:
        state = {k: torch.from_numpy(np.array(v)) for k, v in convert_weights.read_torch(args.state).items()}
    else:
        state = random_state(model, args.random)
    model.load_state_dict(state, strict=True)
    model = model.to(args.device)
    scripted = torch.jit.script(model)
    if not args.no_freeze:
        scripted = torch.jit.freeze(scripted.eval(), preserved_attrs=["logits"])
    scripted.save(args.out)
    print(f"wrote {args.out}: ResNet-{args.depth} v1, {'frozen' if not args.no_freeze else 'not frozen'}, "
          f"on {args.device}, weights from "
          f"{args.params or args.state or f'random seed {args.random}'}")

    ok = True
    for path in args.check or []:
        ok &= check(args, path, strict=True)
    for path in args.check_info or []:
        check(args, path, strict=False)
    sys.exit(0 if ok else 1)


def check(args, path, strict):
    """Compares logits() with tandem's dump on the deterministic input."""
    tandem = mxparams.load_params(path)["logits"]
    x = torch.from_numpy(mxparams.deterministic_input((args.batch, 3, 224, 224))).to(args.device)
    with torch.inference_mode():
        got = torch.jit.load(args.out, map_location=args.device).logits(x).cpu().double().numpy()
    if not np.isfinite(tandem).all():
        print(f"check vs {path}: tandem's logits hold {int((~np.isfinite(tandem)).sum())} "
              f"non-finite values: FAIL{'' if strict else ' (informational)'}")
        return False
    err = float(np.abs(got - tandem).max())
    scale = max(1.0, float(np.abs(tandem).max()))
    ok = err <= args.tol * scale
    print(f"check vs {path} {tandem.shape}: max|tandem| {np.abs(tandem).max():.4g}, "
          f"max abs err {err:.3g}, err / max(1, max|tandem|) {err / scale:.3g}, top-1 equal "
          f"{bool((got.argmax(1) == tandem.argmax(1)).all())}: {'OK' if ok else 'FAIL'}"
          f"{'' if strict else ' (informational)'}")
    return ok


if __name__ == "__main__":
    main()
