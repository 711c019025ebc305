#!/usr/bin/env python3
"""Exports torchvision models to ONNX and checks that tandem's ONNX import agrees with ONNX Runtime.

For each model and opset: build the torchvision architecture with random weights (pretrained
downloads are not needed; BatchNorm statistics are randomised too so that they matter), export it
with torch.onnx.export, run one random input through ONNX Runtime and through tandem (tandem-info
--input ... --output-dir ...), and print the largest absolute and relative differences.

The exported files are generated, not committed: they go to BUILD/onnx-export/<model>-opset<N>/
as model.onnx + test_data_set_0/{input_0,output_0}.pb (ONNX's test-data layout; output_0.pb is ONNX
Runtime's answer), which is where test_onnx ("[onnx][exported]") finds them.

Needs torch + torchvision (Debian: python3-torch python3-torchvision), onnxruntime and onnx (pip).
A virtual environment that sees Debian's torch:
    python3 -m venv --system-site-packages build-onnx/venv
    build-onnx/venv/bin/pip install onnxruntime onnx "numpy<2"
    build-onnx/venv/bin/python scripts/onnx-export-check.py --build build-onnx

Exit status: 0 when every model is within --tolerance (relative to the largest output magnitude),
1 otherwise, 2 on a usage or setup problem.
"""
import argparse
import os
import subprocess
import sys
import tempfile

DEFAULT_MODELS = ["resnet18", "resnet50", "mobilenet_v2", "patterns"]


def make_patterns(torch):
    """A small network with what the torchvision models do not exercise: an open batch dim and
    x.view(x.size(0), -1) (Shape/Gather/Unsqueeze/Concat/Reshape), an asymmetric Pad in front of
    a Conv, grouped and dilated convolutions, ceil_mode pools with and without counted padding,
    PReLU, LeakyRelu, Sigmoid, Tanh, scalar arithmetic, a product of two tensors, MatMul,
    Transpose and Softmax."""
    nn, F = torch.nn, torch.nn.functional

    class Patterns(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 8, 3, stride=2)
            self.conv2 = nn.Conv2d(8, 8, 3, padding=1, groups=2)
            self.conv3 = nn.Conv2d(8, 16, 3, padding=2, dilation=2)
            self.bn = nn.BatchNorm2d(16)
            self.prelu = nn.PReLU(16)
            self.fc = nn.Linear(16 * 8 * 8, 12)
            self.proj = nn.Parameter(torch.randn(12, 10) * 0.3)

        def forward(self, x):
            x = F.pad(x, (0, 1, 0, 1))  # right / bottom only: folds into conv1's pads
            x = F.leaky_relu(self.conv1(x), 0.1)
            x = torch.sigmoid(self.conv2(x)) * x
            x = F.avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
            x = F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=True)
            x = self.prelu(self.bn(self.conv3(x)))
            x = F.max_pool2d(x, 3, stride=2, ceil_mode=True)
            x = (torch.tanh(x) + 0.5) / 2.0 - 1.0
            x = x.view(x.size(0), -1)
            x = torch.matmul(self.fc(x), self.proj)
            x = x.t().contiguous().t()
            return F.softmax(x, dim=1)

    return Patterns()


def randomise_batchnorm(model, torch):
    gen = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_((torch.rand(c, generator=gen) - 0.5) * 0.2)
            m.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(c, generator=gen) + 0.5)
            m.bias.data.copy_((torch.rand(c, generator=gen) - 0.5) * 0.2)


def export(name, opset, keep_bn, path, torch, torchvision):
    torch.manual_seed(0)
    kwargs = {}
    if name == "patterns":
        model = make_patterns(torch)
        x = torch.randn(2, 3, 61, 61, generator=torch.Generator().manual_seed(2))
        kwargs["dynamic_axes"] = {"input": {0: "batch"}, "output": {0: "batch"}}
    else:
        try:
            model = getattr(torchvision.models, name)(weights=None)
        except TypeError:  # torchvision < 0.13
            model = getattr(torchvision.models, name)(pretrained=False)
        x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        randomise_batchnorm(model, torch)
    model.eval()
    if keep_bn:  # keeps BatchNormalization nodes instead of folding them into the Conv weights
        kwargs["training"] = torch.onnx.TrainingMode.PRESERVE
        kwargs["do_constant_folding"] = False
    with torch.no_grad():
        torch.onnx.export(model, x, path, opset_version=opset, input_names=["input"],
                          output_names=["output"], **kwargs)
        y = model(x).numpy()
    return x.numpy(), y


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build-onnx", help="tandem build directory (default: build-onnx)")
    ap.add_argument("--out", help="where the exported models go (default: BUILD/onnx-export)")
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS), help="torchvision model names")
    ap.add_argument("--opsets", default="13", help="comma-separated opsets to export (torch 1.13: 7..17)")
    ap.add_argument("--keep-bn", action="store_true",
                    help="also export each model with its BatchNormalization nodes kept (suffix -bn)")
    ap.add_argument("--tolerance", type=float, default=1e-4,
                    help="max |tandem - onnxruntime| / max |onnxruntime| (default 1e-4)")
    ap.add_argument("--reference", action="store_true", help="run tandem on its reference kernels")
    args = ap.parse_args()

    try:
        import numpy as np
        import onnx
        import onnxruntime as ort
        import torch
        import torchvision
        from onnx import numpy_helper
    except ImportError as e:
        print(f"onnx-export-check: {e} (see the docstring of this script for the setup)", file=sys.stderr)
        return 2
    info = os.path.join(args.build, "tools", "tandem-info")
    if not os.access(info, os.X_OK):
        print(f"onnx-export-check: {info} not found; build tandem first", file=sys.stderr)
        return 2
    out_root = args.out or os.path.join(args.build, "onnx-export")
    os.makedirs(out_root, exist_ok=True)

    variants = []
    for name in [m for m in args.models.split(",") if m]:
        for opset in [int(o) for o in args.opsets.split(",") if o]:
            variants.append((name, opset, False))
            if args.keep_bn:
                variants.append((name, opset, True))

    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, onnxruntime {ort.__version__}")
    print(f"{'model':<26}{'max |ref|':>11}{'max abs diff':>14}{'max rel diff':>14}"
          f"{'torch vs ort':>14}  result")
    failed = 0
    for name, opset, keep_bn in variants:
        tag = f"{name}{'-bn' if keep_bn else ''}-opset{opset}"
        folder = os.path.join(out_root, tag)
        data = os.path.join(folder, "test_data_set_0")
        os.makedirs(data, exist_ok=True)
        model_path = os.path.join(folder, "model.onnx")
        x, y_torch = export(name, opset, keep_bn, model_path, torch, torchvision)
        try:
            sess = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
            y_ort = sess.run(None, {sess.get_inputs()[0].name: x})[0]
        except Exception as e:  # nothing to compare against: not tandem's failure
            print(f"{tag:<26}  skipped: onnxruntime cannot run this export ({str(e).splitlines()[0][:120]})")
            continue
        onnx.save_tensor(numpy_helper.from_array(x, "input"), os.path.join(data, "input_0.pb"))
        onnx.save_tensor(numpy_helper.from_array(y_ort, "output"), os.path.join(data, "output_0.pb"))

        with tempfile.TemporaryDirectory() as tmp:
            cmd = [info, model_path, "--no-plan", "--input", os.path.join(data, "input_0.pb"),
                   "--output-dir", tmp]
            if args.reference:
                cmd.append("--reference")
            run = subprocess.run(cmd, capture_output=True, text=True)
            if run.returncode != 0:
                print(f"{tag:<26}  tandem-info failed: {run.stderr.strip()}")
                failed += 1
                continue
            y_tandem = numpy_helper.to_array(onnx.load_tensor(os.path.join(tmp, "output_0.pb")))
        if y_tandem.shape != y_ort.shape:
            print(f"{tag:<26}  shape {y_tandem.shape} != onnxruntime's {y_ort.shape}")
            failed += 1
            continue
        scale = float(np.abs(y_ort).max())
        abs_diff = float(np.abs(y_tandem.astype(np.float64) - y_ort).max())
        rel = abs_diff / max(scale, 1e-30)
        torch_rel = float(np.abs(y_torch.astype(np.float64) - y_ort).max()) / max(scale, 1e-30)
        ok = rel <= args.tolerance
        failed += not ok
        ops = sorted({n.op_type for n in onnx.load(model_path).graph.node})
        print(f"{tag:<26}{scale:>11.4g}{abs_diff:>14.3g}{rel:>14.3g}{torch_rel:>14.3g}  "
              f"{'ok' if ok else 'FAIL'}  ({', '.join(ops)})")
    print(f"exported models and ONNX Runtime outputs: {out_root}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
