"""The vocabulary of tandem's MXNet conformance cases (test/conformance/cases/<family>.py).

A case file holds ``CASES = [...]``, a list of :class:`Case`, written with
``from conformance_lib import *``. ``tools/conformance/generate.py`` runs every case through
MXNet 1.9.1 and stores the inputs and MXNet's outputs under test/conformance/data/; the C++ test
``test_conformance`` runs the same graphs through tandem and compares. See docs/conformance.md.

Example::

    from conformance_lib import *

    CASES = [
        Case("Convolution", {"data": uniform((1, 2, 5, 5)), "weight": uniform((4, 2, 3, 3)),
                             "bias": uniform((4,))},
             {"kernel": (3, 3), "num_filter": 4, "pad": (1, 1)}),
        Case("Concat", {"arg0": uniform((2, 3)), "arg1": uniform((2, 1))},
             {"num_args": 2, "dim": 1}, positional=True),
    ]

This module only describes cases; it never imports mxnet, so case files can be read anywhere.
Input values are reproducible: each generator draws from a NumPy generator seeded from the case
label and the input name (see :func:`seed_for`), so regenerating a family gives the same data
unless that case itself changed.
"""

import zlib

import numpy as np

__all__ = ["Case", "uniform", "integers", "fixed", "DEFAULT_PARAMS", "seed_for"]

# Inputs bound as constant parameters unless a case says otherwise (Case(params=...)); the
# others are data, fed to every call.
DEFAULT_PARAMS = ("weight", "bias", "gamma", "beta", "moving_mean", "moving_var")


class _Generator:
    """Makes one input array; ``make(rng)`` returns a numpy array of the declared dtype."""

    def __init__(self, shape, dtype):
        self.shape = tuple(int(d) for d in shape)
        self.dtype = np.dtype(dtype)

    def make(self, rng):
        raise NotImplementedError


class uniform(_Generator):
    """Values drawn uniformly from [low, high)."""

    def __init__(self, shape, low=-1.0, high=1.0, dtype="float32"):
        super().__init__(shape, dtype)
        if not low < high:
            raise ValueError("uniform: low (%r) must be below high (%r)" % (low, high))
        self.low, self.high = float(low), float(high)

    def make(self, rng):
        return rng.uniform(self.low, self.high, size=self.shape).astype(self.dtype)

    def __repr__(self):
        return "uniform(%r, %r, %r, %r)" % (self.shape, self.low, self.high, self.dtype.name)


class integers(_Generator):
    """Whole numbers drawn uniformly from [low, high) -- high EXCLUDED, as numpy's
    Generator.integers -- stored in `dtype` (float32 unless given): indices, labels, or values
    that must repeat (comparisons, max pooling ties)."""

    def __init__(self, shape, low, high, dtype="float32"):
        super().__init__(shape, dtype)
        if not int(low) < int(high):
            raise ValueError("integers: low (%r) must be below high (%r, excluded)" % (low, high))
        self.low, self.high = int(low), int(high)

    def make(self, rng):
        return rng.integers(self.low, self.high, size=self.shape).astype(self.dtype)

    def __repr__(self):
        return "integers(%r, %r, %r, %r)" % (self.shape, self.low, self.high, self.dtype.name)


class fixed(_Generator):
    """Exactly the given values (a nested list or a numpy array); the shape is the list's."""

    def __init__(self, values, dtype="float32"):
        self.values = np.array(values, dtype=dtype)
        super().__init__(self.values.shape, dtype)

    def make(self, rng):
        return self.values.copy()

    def __repr__(self):
        return "fixed(%r, %r)" % (self.values.tolist(), self.dtype.name)


class Case:
    """One call of one MXNet operator.

    op:         the operator name as MXNet's symbol JSON spells it ("Convolution",
                "_plus_scalar", "_contrib_box_nms"); generate.py looks it up in mx.sym,
                mx.sym._internal and mx.sym.contrib.
    inputs:     dict input name -> generator, in the operator's argument order, names as MXNet's
                symbol API takes them as keywords (data, weight, bias, lhs, rhs, gamma, ...).
                Every argument and auxiliary state the operator creates must be given (an
                inference-only input such as SoftmaxOutput's label too: MXNet needs it bound).
    attrs:      operator attributes as python values, as mx.sym.<op>(...) takes them.
    params:     names of the inputs bound as constant parameters (default DEFAULT_PARAMS that
                appear in inputs); the other inputs are data fed per call.
    positional: pass the inputs positionally (variadic operators: Concat, stack, add_n, ...);
                the names are then only the variables' names.
    rtol, atol: tolerance of the comparison, |tandem - mxnet| <= atol + rtol * |mxnet|
                (integer outputs are compared exactly).
    label:      unique name of the case in its family (default "<op>_<k>", k counting that op's
                cases in the file); keys of the stored arrays and failure reports use it.

    Rarely needed:
    keep_outputs: indices of the operator's outputs that the case symbol keeps as its outputs
                (default: all). For an output MXNet leaves undefined at inference (LeakyReLU
                rrelu's mask), so there is nothing to compare.
    mxnet_env:  environment variables MXNet runs this case with (generate.py runs it in a child
                process), e.g. {"MXNET_MKLDNN_ENABLED": "0"} where MXNet's oneDNN kernel and its
                native one disagree and tandem follows the native one. Say why in a comment.
    """

    def __init__(self, op, inputs, attrs=None, *, params=None, positional=False, rtol=1e-5,
                 atol=1e-6, label=None, keep_outputs=None, mxnet_env=None):
        if not isinstance(op, str) or not op:
            raise TypeError("Case: op must be a non-empty string, got %r" % (op,))
        if not isinstance(inputs, dict):
            raise TypeError("Case(%s): inputs must be a dict name -> generator" % op)
        for name, gen in inputs.items():
            if not isinstance(gen, _Generator):
                raise TypeError("Case(%s): input %r is %r, not uniform/integers/fixed"
                                % (op, name, gen))
        self.op = op
        self.inputs = dict(inputs)
        self.attrs = dict(attrs or {})
        if params is None:
            params = [n for n in self.inputs if n in DEFAULT_PARAMS]
        unknown = [n for n in params if n not in self.inputs]
        if unknown:
            raise ValueError("Case(%s): params %r are not inputs" % (op, unknown))
        self.params = list(params)
        self.positional = bool(positional)
        self.rtol, self.atol = float(rtol), float(atol)
        self.label = label
        self.keep_outputs = None if keep_outputs is None else [int(k) for k in keep_outputs]
        self.mxnet_env = dict(mxnet_env or {})

    def role(self, name):
        return "param" if name in self.params else "data"

    def __repr__(self):
        return "Case(%r, label=%r, attrs=%r)" % (self.op, self.label, self.attrs)


def seed_for(label, input_name):
    """The RNG seed of one input of one case: stable across runs and machines."""
    return zlib.crc32(("%s/%s" % (label, input_name)).encode("utf-8"))
