#!/usr/bin/env python3
"""Converts an MXNet / tandem checkpoint (PREFIX-symbol.json + PREFIX-NNNN.params) to ONNX.

    export_onnx.py PREFIX OUT.onnx [--epoch N] [--sample-shape 3,224,224] [--logits]

Covers the operators of tandem's zoo (ResNet v1/v2, Inception-BN, MobileNet v2), MXNet's imagenet1k
models and the bundled EfficientNet-Lite0: Convolution (grouped / depthwise via num_group),
BatchNorm (fix_gamma => gamma 1), Activation, clip (-> Clip: ReLU6), Pad (constant / edge /
reflect), Pooling (max / avg / global, valid / full convention), Flatten, FullyConnected,
elemwise_add (+ _Plus aliases), Concat, SoftmaxOutput (-> Softmax axis 1), softmax (-> Softmax on
its axis), and Dropout / identity (-> Identity). Anything else is an error naming the node. The
batch dimension of "data" is symbolic ("N"); the rest comes from --sample-shape. --logits adds the
input of a final SoftmaxOutput / softmax (or, without one, the output itself) as a second output
"logits" (bench/check_export.py uses it; the benchmarked file should not have it).
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mxparams  # noqa: E402

try:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError:
    sys.exit("export_onnx.py: the 'onnx' package is missing: pip install onnx")

OPSET = 13
ADD_OPS = {"elemwise_add", "_Plus", "_plus", "_add", "broadcast_add", "broadcast_plus"}
IDENTITY_OPS = {"Dropout", "identity", "_copy", "BlockGrad"}
ACTIVATIONS = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "softrelu": "Softplus",
               "softsign": "Softsign"}


class Exporter:
    def __init__(self, graph, params):
        self.graph = graph
        self.params = params  # names without arg: / aux: prefixes
        self.nodes, self.initializers = [], {}

    def entry(self, ref):
        """ONNX tensor name of node output [nid, index, ...]."""
        node = self.graph["nodes"][ref[0]]
        if node["op"] == "null":
            return node["name"]
        return node["name"] + ("_output" if ref[1] == 0 else f"_output{ref[1]}")

    def constant(self, name, array):
        self.initializers[name] = numpy_helper.from_array(np.asarray(array, np.float32), name)
        return name

    def param(self, name):
        if name not in self.params:
            raise KeyError(f"parameter '{name}' missing from the .params file")
        return self.constant(name, self.params[name])

    def add(self, op, inputs, outputs, name, **attrs):
        self.nodes.append(helper.make_node(op, inputs, outputs, name=name, **attrs))

    # ---- one method per MXNet operator ----

    def Convolution(self, n, a, ins, out):
        kernel = mxparams.parse_tuple(a.get("kernel"))
        k = len(kernel)
        stride = mxparams.parse_tuple(a.get("stride"), (1,) * k) or (1,) * k
        pad = mxparams.parse_tuple(a.get("pad"), (0,) * k) or (0,) * k
        dilate = mxparams.parse_tuple(a.get("dilate"), (1,) * k) or (1,) * k
        inputs = [ins[0], self.param(self.name_of(ins, 1))]
        if not mxparams.parse_bool(a.get("no_bias")):
            inputs.append(self.param(self.name_of(ins, 2)))
        self.add("Conv", inputs, [out], n["name"], kernel_shape=list(kernel), strides=list(stride),
                 pads=list(pad) * 2, dilations=list(dilate), group=int(a.get("num_group", 1)))

    def BatchNorm(self, n, a, ins, out):
        if int(a.get("axis", 1)) != 1:
            raise ValueError(f"BatchNorm '{n['name']}': only axis 1 is exported")
        gamma = self.params[self.name_of(ins, 1)]
        if mxparams.parse_bool(a.get("fix_gamma"), True):
            gamma = np.ones_like(gamma)  # MXNet ignores gamma when fix_gamma is set
        inputs = [ins[0], self.constant(self.name_of(ins, 1), gamma)]
        inputs += [self.param(self.name_of(ins, i)) for i in (2, 3, 4)]
        self.add("BatchNormalization", inputs, [out], n["name"],
                 epsilon=float(a.get("eps", 1e-3)))

    def Activation(self, n, a, ins, out):
        act = a.get("act_type", "relu")
        if act not in ACTIVATIONS:
            raise ValueError(f"Activation '{n['name']}': act_type {act} is not exported")
        self.add(ACTIVATIONS[act], [ins[0]], [out], n["name"])

    def Pooling(self, n, a, ins, out):
        pool = a.get("pool_type", "max")
        if pool not in ("max", "avg"):
            raise ValueError(f"Pooling '{n['name']}': pool_type {pool} is not exported")
        if mxparams.parse_bool(a.get("global_pool")):
            self.add("GlobalMaxPool" if pool == "max" else "GlobalAveragePool", [ins[0]], [out],
                     n["name"])
            return
        kernel = mxparams.parse_tuple(a.get("kernel"))
        k = len(kernel)
        stride = mxparams.parse_tuple(a.get("stride"), (1,) * k) or (1,) * k
        pad = mxparams.parse_tuple(a.get("pad"), (0,) * k) or (0,) * k
        convention = a.get("pooling_convention", "valid")
        if convention not in ("valid", "full"):
            raise ValueError(f"Pooling '{n['name']}': pooling_convention {convention} is not exported")
        attrs = dict(kernel_shape=list(kernel), strides=list(stride), pads=list(pad) * 2,
                     ceil_mode=int(convention == "full"))
        if pool == "avg":
            attrs["count_include_pad"] = int(mxparams.parse_bool(a.get("count_include_pad"), True))
        self.add("MaxPool" if pool == "max" else "AveragePool", [ins[0]], [out], n["name"], **attrs)

    def Flatten(self, n, a, ins, out):
        self.add("Flatten", [ins[0]], [out], n["name"], axis=1)

    def FullyConnected(self, n, a, ins, out):
        x = ins[0]
        if mxparams.parse_bool(a.get("flatten"), True):
            x = n["name"] + "_flat"
            self.add("Flatten", [ins[0]], [x], n["name"] + "_flatten", axis=1)
        inputs = [x, self.param(self.name_of(ins, 1))]
        if not mxparams.parse_bool(a.get("no_bias")):
            inputs.append(self.param(self.name_of(ins, 2)))
        self.add("Gemm", inputs, [out], n["name"], transB=1)

    def clip(self, n, a, ins, out):
        lo = self.constant(n["name"] + "_min", np.float32(float(a.get("a_min"))))
        hi = self.constant(n["name"] + "_max", np.float32(float(a.get("a_max"))))
        self.add("Clip", [ins[0], lo, hi], [out], n["name"])

    def Pad(self, n, a, ins, out):
        mode = a.get("mode", "constant")
        if mode not in ("constant", "edge", "reflect"):
            raise ValueError(f"Pad '{n['name']}': mode {mode} is not exported")
        width = mxparams.parse_tuple(a.get("pad_width"))
        # MXNet: (before, after) per axis; ONNX: every axis's begin, then every axis's end.
        pads = list(width[0::2]) + list(width[1::2])
        self.initializers[n["name"] + "_pads"] = numpy_helper.from_array(
            np.asarray(pads, np.int64), n["name"] + "_pads")
        inputs = [ins[0], n["name"] + "_pads"]
        if mode == "constant":
            inputs.append(self.constant(n["name"] + "_value",
                                        np.float32(float(a.get("constant_value", 0)))))
        self.add("Pad", inputs, [out], n["name"], mode=mode)

    def softmax(self, n, a, ins, out):
        temperature = a.get("temperature")
        if temperature not in (None, "None") and float(temperature) != 1.0:
            raise ValueError(f"softmax '{n['name']}': temperature {temperature} is not exported")
        if len(ins) > 1 or mxparams.parse_bool(a.get("use_length")):
            raise ValueError(f"softmax '{n['name']}': use_length is not exported")
        self.add("Softmax", [ins[0]], [out], n["name"], axis=int(a.get("axis", -1)))

    def Concat(self, n, a, ins, out):
        self.add("Concat", ins, [out], n["name"], axis=int(a.get("dim", 1)))

    def SoftmaxOutput(self, n, a, ins, out):
        self.add("Softmax", [ins[0]], [out], n["name"], axis=1)

    def name_of(self, ins, i):
        if i >= len(ins):
            raise ValueError(f"input {i} missing")
        return ins[i]

    def convert(self, sample_shape, logits):
        data_name = None
        for nid, n in enumerate(self.graph["nodes"]):
            ins = [self.entry(ref) for ref in n["inputs"]]
            out = self.entry([nid, 0])
            op = n["op"]
            if op == "null":
                if n["name"] not in self.params and not n["name"].endswith("_label"):
                    if data_name is not None:
                        raise ValueError(f"two data inputs: {data_name} and {n['name']}")
                    data_name = n["name"]
                continue
            if op in ADD_OPS:
                self.add("Add", ins[:2], [out], n["name"])
            elif op in IDENTITY_OPS:
                self.add("Identity", [ins[0]], [out], n["name"])
            elif op == "Softmax":  # the very old spelling of SoftmaxOutput
                self.SoftmaxOutput(n, n["attrs"], ins, out)
            elif hasattr(self, op):
                try:
                    getattr(self, op)(n, n["attrs"], ins, out)
                except (KeyError, ValueError) as e:
                    raise ValueError(f"node '{n['name']}' ({op}): {e}") from e
            else:
                raise ValueError(f"node '{n['name']}': operator {op} is not supported by "
                                 "export_onnx.py")
        heads = [self.entry(ref) for ref in self.graph["heads"]]
        outputs = [helper.make_tensor_value_info(h, TensorProto.FLOAT, None) for h in heads]
        if logits:
            head = self.graph["nodes"][self.graph["heads"][0][0]]
            # The softmax's input; a graph without a final softmax (a Gluon export) is its logits.
            source = (head["inputs"][0] if head["op"] in ("SoftmaxOutput", "Softmax", "softmax")
                      else self.graph["heads"][0])
            outputs.append(helper.make_tensor_value_info("logits", TensorProto.FLOAT, None))
            self.add("Identity", [self.entry(source)], ["logits"], "logits")
        data = helper.make_tensor_value_info(data_name, TensorProto.FLOAT,
                                             ["N"] + list(sample_shape))
        graph = helper.make_graph(self.nodes, "tandem_export", [data], outputs,
                                  initializer=list(self.initializers.values()))
        model = helper.make_model(graph, producer_name="tandem-bench export_onnx.py",
                                  opset_imports=[helper.make_opsetid("", OPSET)])
        model.ir_version = 8  # readable by every ONNX Runtime / OpenVINO of the last years
        return with_output_shapes(model)


def with_output_shapes(model):
    """The graph outputs typed with the shapes ONNX's shape inference finds (the checker wants
    them), then checked."""
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    types = {v.name: v.type for v in list(inferred.graph.value_info) + list(inferred.graph.output)
             if v.type.tensor_type.HasField("shape")}
    for out in model.graph.output:
        if out.name not in types:
            raise ValueError(f"ONNX shape inference found no shape for output {out.name}")
        out.type.CopyFrom(types[out.name])
    onnx.checker.check_model(model)
    return model


def export(prefix, out, epoch=0, sample_shape=(3, 224, 224), logits=False):
    graph = mxparams.load_symbol(prefix + "-symbol.json")
    params = mxparams.strip_prefixes(mxparams.load_params(f"{prefix}-{epoch:04d}.params"))
    model = Exporter(graph, params).convert(sample_shape, logits)
    onnx.save(model, out)
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("prefix")
    ap.add_argument("out")
    ap.add_argument("--epoch", type=int, default=0)
    ap.add_argument("--sample-shape", default="3,224,224")
    ap.add_argument("--logits", action="store_true")
    args = ap.parse_args()
    shape = tuple(int(d) for d in args.sample_shape.split(","))
    try:
        model = export(args.prefix, args.out, args.epoch, shape, args.logits)
    except (ValueError, KeyError, OSError) as e:
        sys.exit(f"export_onnx.py: {args.prefix}: {e}")
    print(f"wrote {args.out}: {len(model.graph.node)} nodes, "
          f"{len(model.graph.initializer)} initializers, opset {OPSET}")


if __name__ == "__main__":
    main()
