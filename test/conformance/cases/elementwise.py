# Conformance cases for the element-wise family (lib/ops/elemwise.cpp, ElementwiseOps(); the
# functions are in lib/ops/elementwise.hpp). The lists below mirror that file one operator per
# line: adding an operator there is adding its line here (with an input domain where the function
# is defined), then
#   MXNET_SUBGRAPH_BACKEND=NONE /work/mxv/bin/python tools/conformance/generate.py elementwise
# Aliases (_Plus, _PlusScalar, ...) need no line: MXNet writes the canonical name in its JSON.
from conformance_lib import *

SHAPE = (2, 3, 4)


def U(low, high):
    return lambda shape: uniform(shape, low, high)


def I(low, high):  # whole numbers, so comparisons see equal values; high excluded
    return lambda shape: integers(shape, low, high)


def V(*values):  # exactly these values, repeated to fill the shape
    def make(shape):
        n = 1
        for d in shape:
            n *= d
        flat = [values[i % len(values)] for i in range(n)]
        import numpy as np
        return fixed(np.array(flat, dtype="float32").reshape(shape))
    return make


SIGNED = U(-2, 2)
POSITIVE = U(0.1, 4)
NONZERO = V(-2.5, -1.25, -0.5, -0.2, 0.3, 0.6, 1.1, 2.75)  # both signs, away from 0
# Halves (round / rint ties), near-halves, integers and zero.
ROUNDING = V(-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, -0.49, 0.51, 1.49, -1.51, 0.0, 3.0, -2.0, 0.2,
             -0.7, 2.2)

# (name, input domain, attrs) -- one line per unary operator of ElementwiseOps().
UNARY_OPS = [
    ("relu", SIGNED, {}),
    ("sigmoid", U(-6, 6), {}),
    ("hard_sigmoid", U(-4, 4), {}),
    ("softsign", U(-4, 4), {}),
    ("tanh", U(-3, 3), {}),
    ("exp", U(-4, 4), {}),
    ("expm1", U(-2, 2), {}),
    ("log", POSITIVE, {}),
    ("log1p", U(-0.9, 3), {}),
    ("log2", POSITIVE, {}),
    ("log10", POSITIVE, {}),
    ("sqrt", U(0, 4), {}),
    ("rsqrt", POSITIVE, {}),
    ("cbrt", SIGNED, {}),
    ("rcbrt", NONZERO, {}),
    ("square", SIGNED, {}),
    ("abs", SIGNED, {}),
    ("negative", SIGNED, {}),
    ("reciprocal", NONZERO, {}),
    ("sign", I(-2, 3), {}),
    ("floor", ROUNDING, {}),
    ("ceil", ROUNDING, {}),
    ("round", ROUNDING, {}),
    ("rint", ROUNDING, {}),
    ("trunc", ROUNDING, {}),
    ("fix", ROUNDING, {}),
    ("sin", U(-4, 4), {}),
    ("cos", U(-4, 4), {}),
    ("tan", U(-1.3, 1.3), {}),
    ("arcsin", U(-0.99, 0.99), {}),
    ("arccos", U(-0.99, 0.99), {}),
    ("arctan", U(-4, 4), {}),
    ("sinh", U(-3, 3), {}),
    ("cosh", U(-3, 3), {}),
    ("arcsinh", U(-4, 4), {}),
    ("arccosh", U(1, 5), {}),
    ("arctanh", U(-0.95, 0.95), {}),
    ("erf", U(-3, 3), {}),
    ("gammaln", U(0.05, 6), {}),
    ("degrees", SIGNED, {}),
    ("radians", U(-200, 200), {}),
    ("logical_not", I(-2, 3), {}),
    ("ones_like", SIGNED, {}),
    ("zeros_like", SIGNED, {}),
]

# Extra cases of unary operators with attributes or special domains.
UNARY_EXTRA = [
    ("hard_sigmoid", U(-4, 4), {"alpha": 0.3, "beta": 0.4}),
    ("gammaln", U(-3.9, -0.1), {}),  # negative non-integers: log |gamma|
]

# Binary functions: (lhs domain, rhs domain, scalar attribute, rscalar input domain).
FUNCTIONS = {
    "add": (SIGNED, SIGNED, 1.5, None),
    "sub": (SIGNED, SIGNED, 0.75, SIGNED),
    "mul": (SIGNED, SIGNED, -1.5, None),
    "div": (SIGNED, NONZERO, -0.8, NONZERO),
    "mod": (U(-5, 5), NONZERO, 1.3, NONZERO),
    "power": (U(0.2, 3), U(-2, 2), 2.5, U(-2, 2)),
    "maximum": (I(-2, 3), I(-2, 3), 0.5, None),
    "minimum": (I(-2, 3), I(-2, 3), 0.5, None),
    "hypot": (SIGNED, SIGNED, 1.5, None),
    "equal": (I(-2, 3), I(-2, 3), 1.0, None),
    "not_equal": (I(-2, 3), I(-2, 3), 1.0, None),
    "greater": (I(-2, 3), I(-2, 3), 1.0, None),
    "greater_equal": (I(-2, 3), I(-2, 3), 1.0, None),
    "lesser": (I(-2, 3), I(-2, 3), 1.0, None),
    "lesser_equal": (I(-2, 3), I(-2, 3), 1.0, None),
    "logical_and": (I(-1, 2), I(-1, 2), 1.0, None),
    "logical_or": (I(-1, 2), I(-1, 2), 0.0, None),
    "logical_xor": (I(-1, 2), I(-1, 2), 1.0, None),
}

# (name, function, form) -- one line per binary operator of ElementwiseOps(); form is elemwise
# (equal shapes), broadcast (numpy broadcasting), scalar (x op scalar) or rscalar (scalar op x).
BINARY_OPS = [
    ("elemwise_add", "add", "elemwise"),
    ("broadcast_add", "add", "broadcast"),
    ("_plus_scalar", "add", "scalar"),
    ("elemwise_sub", "sub", "elemwise"),
    ("broadcast_sub", "sub", "broadcast"),
    ("_minus_scalar", "sub", "scalar"),
    ("_rminus_scalar", "sub", "rscalar"),
    ("elemwise_mul", "mul", "elemwise"),
    ("broadcast_mul", "mul", "broadcast"),
    ("_mul_scalar", "mul", "scalar"),
    ("elemwise_div", "div", "elemwise"),
    ("broadcast_div", "div", "broadcast"),
    ("_div_scalar", "div", "scalar"),
    ("_rdiv_scalar", "div", "rscalar"),
    ("_mod", "mod", "elemwise"),
    ("broadcast_mod", "mod", "broadcast"),
    ("_mod_scalar", "mod", "scalar"),
    ("_rmod_scalar", "mod", "rscalar"),
    ("_power", "power", "elemwise"),
    ("broadcast_power", "power", "broadcast"),
    ("_power_scalar", "power", "scalar"),
    ("_rpower_scalar", "power", "rscalar"),
    ("_maximum", "maximum", "elemwise"),
    ("broadcast_maximum", "maximum", "broadcast"),
    ("_maximum_scalar", "maximum", "scalar"),
    ("_minimum", "minimum", "elemwise"),
    ("broadcast_minimum", "minimum", "broadcast"),
    ("_minimum_scalar", "minimum", "scalar"),
    ("_hypot", "hypot", "elemwise"),
    ("broadcast_hypot", "hypot", "broadcast"),
    ("_hypot_scalar", "hypot", "scalar"),
    ("_equal", "equal", "elemwise"),
    ("broadcast_equal", "equal", "broadcast"),
    ("_equal_scalar", "equal", "scalar"),
    ("_not_equal", "not_equal", "elemwise"),
    ("broadcast_not_equal", "not_equal", "broadcast"),
    ("_not_equal_scalar", "not_equal", "scalar"),
    ("_greater", "greater", "elemwise"),
    ("broadcast_greater", "greater", "broadcast"),
    ("_greater_scalar", "greater", "scalar"),
    ("_greater_equal", "greater_equal", "elemwise"),
    ("broadcast_greater_equal", "greater_equal", "broadcast"),
    ("_greater_equal_scalar", "greater_equal", "scalar"),
    ("_lesser", "lesser", "elemwise"),
    ("broadcast_lesser", "lesser", "broadcast"),
    ("_lesser_scalar", "lesser", "scalar"),
    ("_lesser_equal", "lesser_equal", "elemwise"),
    ("broadcast_lesser_equal", "lesser_equal", "broadcast"),
    ("_lesser_equal_scalar", "lesser_equal", "scalar"),
    ("_logical_and", "logical_and", "elemwise"),
    ("broadcast_logical_and", "logical_and", "broadcast"),
    ("_logical_and_scalar", "logical_and", "scalar"),
    ("_logical_or", "logical_or", "elemwise"),
    ("broadcast_logical_or", "logical_or", "broadcast"),
    ("_logical_or_scalar", "logical_or", "scalar"),
    ("_logical_xor", "logical_xor", "elemwise"),
    ("broadcast_logical_xor", "logical_xor", "broadcast"),
    ("_logical_xor_scalar", "logical_xor", "scalar"),
]

# Broadcast shape pairs: trailing size-1 axes on either side, fewer dims on the right, a scalar-like
# operand, and both operands broadcast at once.
BROADCAST_SHAPES = [
    ((2, 3, 4), (1, 3, 1)),
    ((2, 3, 4), (4,)),
    ((2, 1, 4), (2, 3, 1)),
    ((1,), (2, 3)),
]


def binary_cases(name, function, form):
    lhs, rhs, scalar, rscalar_domain = FUNCTIONS[function]
    if form == "elemwise":
        return [Case(name, {"lhs": lhs(SHAPE), "rhs": rhs(SHAPE)}, label=name)]
    if form == "broadcast":
        return [Case(name, {"lhs": lhs(a), "rhs": rhs(b)}, label="%s_%d" % (name, k))
                for k, (a, b) in enumerate(BROADCAST_SHAPES)]
    if form == "scalar":
        cases = [Case(name, {"data": lhs(SHAPE)}, {"scalar": scalar}, label=name)]
        if function == "mod":  # the divisor's sign decides the result's
            cases.append(Case(name, {"data": lhs(SHAPE)}, {"scalar": -scalar},
                              label=name + "_negative"))
        return cases
    if form == "rscalar":
        return [Case(name, {"data": rscalar_domain(SHAPE)}, {"scalar": scalar}, label=name)]
    raise ValueError("unknown form " + form)


CASES = [
    *[Case(name, {"data": domain(SHAPE)}, attrs, label=name) for name, domain, attrs in UNARY_OPS],
    *[Case(name, {"data": domain(SHAPE)}, attrs, label="%s_extra%d" % (name, k))
      for k, (name, domain, attrs) in enumerate(UNARY_EXTRA)],
    *[case for name, function, form in BINARY_OPS for case in binary_cases(name, function, form)],
]

# Integer tensors (int64 / int32), as GluonCV's detectors compute shapes and indices: division
# truncates toward zero, mod takes the divisor's sign, comparisons give 1 / 0 in the dtype.
INT_LHS = lambda shape, dt: integers(shape, -9, 10, dtype=dt)
INT_RHS = lambda shape, dt: fixed([[3, -3, 2, -2], [5, 1, -1, 4], [7, -7, 3, 9]], dtype=dt)
CASES += [
    *[Case(name, {"lhs": INT_LHS((3, 4), dt), "rhs": INT_RHS((3, 4), dt)}, label="%s_%s" % (name, dt))
      for dt in ("int64", "int32")
      for name in ("elemwise_add", "elemwise_sub", "elemwise_mul", "elemwise_div", "_mod",
                   "broadcast_div", "broadcast_mod", "broadcast_equal", "broadcast_greater",
                   "_maximum", "broadcast_minimum")],
    Case("broadcast_mul", {"lhs": INT_LHS((3, 4), "int64"), "rhs": integers((4,), -3, 4, dtype="int64")},
         label="broadcast_mul_int64_rows"),
    *[Case(name, {"data": INT_LHS((3, 4), "int64")}, {"scalar": s}, label="%s_int64" % name)
      for name, s in (("_plus_scalar", 2), ("_mul_scalar", 3), ("_div_scalar", 2), ("_mod_scalar", -3),
                      ("_rminus_scalar", 5), ("_greater_scalar", 0), ("_equal_scalar", 1))],
    *[Case(name, {"data": INT_LHS((3, 4), "int64")}, label="%s_int64" % name)
      for name in ("zeros_like", "ones_like", "abs", "negative", "sign", "square", "relu")],
]
