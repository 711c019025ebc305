#!/usr/bin/env python3
"""Moves ResNet v1 weights between tandem's zoo (MXNet .params) and a torch state dict.

    convert_weights.py tandem2torch IN.params OUT.pt|OUT.npz
    convert_weights.py torch2tandem IN.pt|IN.npz OUT.params

tandem's zoo ResNetV1 names its nodes after torchvision's modules (include/tandem/zoo.hpp), so the
mapping is one to one:
    tandem "arg:layer1.0.conv1_weight"       <-> torch "layer1.0.conv1.weight"
    tandem "arg:<bn>_gamma" / "arg:<bn>_beta" <-> torch "<bn>.weight" / "<bn>.bias"
    tandem "aux:<bn>_moving_mean" / "_var"    <-> torch "<bn>.running_mean" / "<bn>.running_var"
    tandem "arg:fc_weight" / "arg:fc_bias"    <-> torch "fc.weight" / "fc.bias"
torch's "<bn>.num_batches_tracked" has no tandem counterpart (written as 0 going to torch).
.npz files hold the torch-named arrays without needing torch installed.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mxparams  # noqa: E402

# tandem suffix -> (torch suffix, MXNet prefix)
TANDEM_TO_TORCH = {"_weight": (".weight", "arg:"), "_bias": (".bias", "arg:"),
                   "_gamma": (".weight", "arg:"), "_beta": (".bias", "arg:"),
                   "_moving_mean": (".running_mean", "aux:"), "_moving_var": (".running_var", "aux:")}
BN_SUFFIXES = ("_gamma", "_beta", "_moving_mean", "_moving_var")


def tandem_to_torch(params):
    """{"arg:layer1.0.conv1_weight": a, ...} -> {"layer1.0.conv1.weight": a, ...}."""
    out = {}
    for key, array in mxparams.strip_prefixes(params).items():
        if key.endswith("_label"):
            continue
        for suffix, (torch_suffix, _) in TANDEM_TO_TORCH.items():
            if key.endswith(suffix):
                module = key[:-len(suffix)]
                out[module + torch_suffix] = array
                if suffix == "_moving_var":
                    out[module + ".num_batches_tracked"] = np.zeros((), np.int64)
                break
        else:
            raise ValueError(f"no torch name for tandem parameter '{key}'")
    return out


def torch_to_tandem(state):
    """{"layer1.0.bn1.weight": a, ...} -> {"arg:layer1.0.bn1_gamma": a, ...}."""
    # A module is a BatchNorm when it has running statistics.
    bn_modules = {k[:-len(".running_mean")] for k in state if k.endswith(".running_mean")}
    out = {}
    for key, array in state.items():
        module, _, leaf = key.rpartition(".")
        if leaf == "num_batches_tracked":
            continue
        if module in bn_modules:
            name = {"weight": "_gamma", "bias": "_beta", "running_mean": "_moving_mean",
                    "running_var": "_moving_var"}[leaf]
        elif leaf in ("weight", "bias"):
            name = "_" + leaf
        else:
            raise ValueError(f"no tandem name for torch parameter '{key}'")
        prefix = TANDEM_TO_TORCH[name][1]
        out[prefix + module + name] = np.ascontiguousarray(array, dtype=np.float32)
    return out


def read_torch(path):
    if path.endswith(".npz"):
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    import torch
    state = torch.load(path, map_location="cpu", weights_only=True)
    return {k: v.detach().cpu().numpy() for k, v in state.items()}


def write_torch(path, state):
    if path.endswith(".npz"):
        np.savez(path, **state)
        return
    import torch
    torch.save({k: torch.from_numpy(np.array(v)) for k, v in state.items()}, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("direction", choices=["tandem2torch", "torch2tandem"])
    ap.add_argument("src")
    ap.add_argument("dst")
    args = ap.parse_args()
    if args.direction == "tandem2torch":
        state = tandem_to_torch(mxparams.load_params(args.src))
        write_torch(args.dst, state)
    else:
        state = torch_to_tandem(read_torch(args.src))
        mxparams.save_params(args.dst, state)
    print(f"wrote {args.dst}: {len(state)} arrays")


if __name__ == "__main__":
    main()
