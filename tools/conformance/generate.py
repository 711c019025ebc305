#!/usr/bin/env python3
"""Runs tandem's conformance cases through MXNet 1.9.1 and stores MXNet's answers.

    MXNET_SUBGRAPH_BACKEND=NONE /work/mxv/bin/python tools/conformance/generate.py [family ...]

With no family, every test/conformance/cases/<family>.py is generated. For each family it writes

  test/conformance/data/<family>.json    one entry per case: label, op (as MXNet's symbol JSON
                                         names it), symbol (MXNet's tojson() text, verbatim),
                                         inputs (name and role, "data" or "param", in the case's
                                         order), outputs (count), rtol, atol, and
                                         mxnet_env where the case has one
  test/conformance/data/<family>.params  mx.nd.save dict: "<label>:in:<name>" for each input,
                                         "<label>:out:<k>" for each output of MXNet's forward

Each case's symbol is one operator node over one variable per input (mx.sym.var), bound with
mx.cpu() (arguments and auxiliary states as the symbol lists them) and run with
forward(is_train=False); a case with mxnet_env runs in a child process (this script with --child)
whose environment has those variables. A case that MXNet rejects fails its family loudly (every
failing case is named, nothing is written for that family) and the script exits 1. test/test_conformance.cpp reads
the files back. docs/conformance.md explains the whole scheme.
"""

import argparse
import importlib.util
import json
import os
import pickle
import re
import subprocess
import sys
import tempfile
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CASES_DIR = os.path.join(ROOT, "test", "conformance", "cases")
DATA_DIR = os.path.join(ROOT, "test", "conformance", "data")
NODE_NAME = "op"  # the operator node's name in every case symbol

# MXNet's default subgraph backend partitions the bound graph into fused oneDNN subgraph
# operators: the outputs would be those of the fused operator, not of the operator under test.
if os.environ.setdefault("MXNET_SUBGRAPH_BACKEND", "NONE") != "NONE":
    sys.exit("generate.py: run with MXNET_SUBGRAPH_BACKEND=NONE (it is %r), see docs/conformance.md"
             % os.environ["MXNET_SUBGRAPH_BACKEND"])

sys.path.insert(0, HERE)
import numpy as np  # noqa: E402
import mxnet as mx  # noqa: E402
from conformance_lib import Case, seed_for  # noqa: E402


class CaseError(Exception):
    pass


class QuietStderr:
    """Collects what MXNet's C++ side writes to fd 2 while binding (one 'MXNET_SUBGRAPH_BACKEND=NONE
    is detected' line per bind) and passes on every other line."""

    NOISE = re.compile(r"MXNET_SUBGRAPH_BACKEND=NONE is detected")

    def __enter__(self):
        sys.stderr.flush()
        self.saved = os.dup(2)
        self.tmp = tempfile.TemporaryFile(mode="w+b")
        os.dup2(self.tmp.fileno(), 2)
        return self

    def __exit__(self, *exc):
        sys.stderr.flush()
        os.dup2(self.saved, 2)
        os.close(self.saved)
        self.tmp.seek(0)
        for line in self.tmp.read().decode("utf-8", "replace").splitlines():
            if line.strip() and not self.NOISE.search(line):
                print(line, file=sys.stderr)
        self.tmp.close()
        return False


def resolve_operator(op):
    """The mx.sym function that creates `op` (the name as symbol JSON spells it)."""
    for sub in ("contrib", "image", "linalg", "sparse"):
        prefix = "_%s_" % sub
        if op.startswith(prefix) and hasattr(mx.sym, sub):
            fn = getattr(getattr(mx.sym, sub), op[len(prefix):], None)
            if fn is not None:
                return fn
    for module in (mx.sym, mx.sym._internal):
        fn = getattr(module, op, None)
        if callable(fn):
            return fn
    raise CaseError("MXNet has no symbol function for operator '%s' (looked in mx.sym, "
                    "mx.sym._internal and mx.sym.contrib / image / linalg / sparse)" % op)


def assign_labels(cases, family):
    counts, seen = {}, set()
    for i, case in enumerate(cases):
        if not isinstance(case, Case):
            raise CaseError("%s: CASES[%d] is %r, not a Case" % (family, i, case))
        if case.label is None:
            k = counts.get(case.op, 0)
            while "%s_%d" % (case.op, k) in seen:
                k += 1
            counts[case.op] = k + 1
            case.label = "%s_%d" % (case.op, k)
        if case.label in seen:
            raise CaseError("%s: two cases are labelled '%s'" % (family, case.label))
        seen.add(case.label)


def run_case(case):
    """Builds, binds and runs one case; returns (json entry, {key: numpy array})."""
    fn = resolve_operator(case.op)
    variables = [mx.sym.var(name) for name in case.inputs]
    attrs = dict(case.attrs)
    if case.positional:
        sym = fn(*variables, name=NODE_NAME, **attrs)
    else:
        sym = fn(name=NODE_NAME, **dict(zip(case.inputs, variables)), **attrs)
    if case.keep_outputs is not None:
        kept = [sym[k] for k in case.keep_outputs]
        sym = kept[0] if len(kept) == 1 else mx.sym.Group(kept)

    graph = json.loads(sym.tojson())
    op_nodes = [n for n in graph["nodes"] if n["op"] != "null"]
    if len(op_nodes) != 1:
        raise CaseError("the symbol has %d operator nodes (%s), expected one"
                        % (len(op_nodes), ", ".join(n["op"] for n in op_nodes)))
    json_op = op_nodes[0]["op"]

    arguments = sym.list_arguments()
    aux_states = sym.list_auxiliary_states()
    missing = [n for n in arguments + aux_states if n not in case.inputs]
    if missing:
        raise CaseError("inputs %s are not given (MXNet created them; every argument and "
                        "auxiliary state needs a generator)" % missing)
    unused = [n for n in case.inputs if n not in arguments and n not in aux_states]
    if unused:
        raise CaseError("inputs %s are not inputs of the symbol (its arguments: %s, auxiliary "
                        "states: %s)" % (unused, arguments, aux_states))

    values = {}
    for name, gen in case.inputs.items():
        values[name] = gen.make(np.random.default_rng(seed_for(case.label, name)))

    def nd(name):
        return mx.nd.array(values[name], dtype=values[name].dtype, ctx=mx.cpu())

    with QuietStderr():
        exe = sym.bind(mx.cpu(), args={n: nd(n) for n in arguments},
                       aux_states={n: nd(n) for n in aux_states}, grad_req="null")
        outputs = [o.asnumpy() for o in exe.forward(is_train=False)]
    if len(outputs) != len(sym.list_outputs()):
        raise CaseError("forward gave %d outputs, the symbol lists %d"
                        % (len(outputs), len(sym.list_outputs())))

    entry = {
        "label": case.label,
        "op": json_op,
        "symbol": sym.tojson(),
        "inputs": [{"name": n, "role": case.role(n)} for n in case.inputs],
        "outputs": len(outputs),
        "rtol": case.rtol,
        "atol": case.atol,
    }
    if case.mxnet_env:
        entry["mxnet_env"] = case.mxnet_env
    arrays = {"%s:in:%s" % (case.label, n): v for n, v in values.items()}
    for k, out in enumerate(outputs):
        arrays["%s:out:%d" % (case.label, k)] = out
    return entry, arrays


def run_cases(family, cases):
    """label -> (entry, arrays), or -> the error message."""
    results = {}
    for case in cases:
        try:
            results[case.label] = run_case(case)
        except Exception as e:
            message = str(e).strip().splitlines() or [type(e).__name__]
            # MXNet's errors end with a long C++ stack trace: keep the first lines.
            results[case.label] = "\n    ".join(message[:6])
    return results


def run_in_child(family, labels, env):
    """Runs some cases of `family` in a child process with `env` added to the environment."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "results.pickle")
        child_env = dict(os.environ)
        child_env.setdefault("MXNET_STORAGE_FALLBACK_LOG_VERBOSE", "0")
        child_env.update(env)
        proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", out, family]
                              + labels, env=child_env)
        if proc.returncode != 0 or not os.path.exists(out):
            return {label: "the child process for environment %s failed (exit %d)"
                           % (env, proc.returncode) for label in labels}
        with open(out, "rb") as f:
            return pickle.load(f)


def child_main(out, family, labels):
    cases = load_cases(family)
    assign_labels(cases, family)
    wanted = [c for c in cases if c.label in set(labels)]
    with open(out, "wb") as f:
        pickle.dump(run_cases(family, wanted), f)


def load_cases(family):
    path = os.path.join(CASES_DIR, family + ".py")
    if not os.path.exists(path):
        raise CaseError("no case file %s" % path)
    spec = importlib.util.spec_from_file_location("conformance_cases_" + family, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cases = getattr(module, "CASES", None)
    if not isinstance(cases, list) or not cases:
        raise CaseError("%s defines no CASES list" % path)
    return cases


def generate(family, data_dir=DATA_DIR):
    """Returns True when the family's files were written."""
    try:
        cases = load_cases(family)
        assign_labels(cases, family)
    except Exception as e:  # a broken case file: name it and go on with the other families
        print("FAILED %s: %s" % (family, e), file=sys.stderr)
        if not isinstance(e, CaseError):
            traceback.print_exc()
        return False

    results = run_cases(family, [c for c in cases if not c.mxnet_env])
    # Cases that need MXNet under other environment variables run in a child process per set.
    envs = {}
    for c in cases:
        if c.mxnet_env:
            envs.setdefault(tuple(sorted(c.mxnet_env.items())), []).append(c.label)
    for env, labels in envs.items():
        results.update(run_in_child(family, labels, dict(env)))

    entries, arrays, failures = [], {}, []
    for case in cases:
        result = results[case.label]
        if isinstance(result, str):
            failures.append("  case '%s' (%s, attrs %s): %s"
                            % (case.label, case.op, case.attrs, result))
            continue
        entry, case_arrays = result
        if entry["op"] != case.op:
            print("note: %s case '%s': MXNet writes op '%s' for '%s'"
                  % (family, case.label, entry["op"], case.op))
        entries.append(entry)
        arrays.update(case_arrays)
    if failures:
        print("FAILED %s: %d of %d cases failed in MXNet, nothing written:\n%s"
              % (family, len(failures), len(cases), "\n".join(failures)), file=sys.stderr)
        return False

    os.makedirs(data_dir, exist_ok=True)
    json_path = os.path.join(data_dir, family + ".json")
    params_path = os.path.join(data_dir, family + ".params")
    doc = {
        "family": family,
        "generator": "tools/conformance/generate.py",
        "mxnet_version": mx.__version__,
        "cases": entries,
    }
    with open(json_path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    mx.nd.save(params_path, {k: mx.nd.array(v, dtype=v.dtype) for k, v in arrays.items()})

    per_op = {}
    for e in entries:
        per_op[e["op"]] = per_op.get(e["op"], 0) + 1
    size = os.path.getsize(json_path) + os.path.getsize(params_path)
    print("%s: %d cases, %d operators, %.1f KB (%s)"
          % (family, len(entries), len(per_op), size / 1024.0,
             ", ".join("%s %d" % kv for kv in sorted(per_op.items()))))
    return True


def main():
    if len(sys.argv) > 3 and sys.argv[1] == "--child":  # internal: see run_in_child
        child_main(sys.argv[2], sys.argv[3], sys.argv[4:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("families", nargs="*",
                        help="case files (test/conformance/cases/<family>.py) to generate; "
                             "default: all")
    parser.add_argument("--out", default=DATA_DIR,
                        help="where to write the data files (default: test/conformance/data; "
                             "the test reads another directory from TANDEM_CONFORMANCE_DATA)")
    args = parser.parse_args()
    families = args.families or sorted(
        f[:-3] for f in os.listdir(CASES_DIR) if f.endswith(".py") and not f.startswith("_"))
    families = [f[:-3] if f.endswith(".py") else f for f in families]
    if not families:
        sys.exit("generate.py: no case files in %s" % CASES_DIR)
    failed = [f for f in families if not generate(f, args.out)]
    total = 0
    for f in os.listdir(args.out) if os.path.isdir(args.out) else []:
        total += os.path.getsize(os.path.join(args.out, f))
    print("all data files: %.1f KB" % (total / 1024.0))
    if failed:
        sys.exit("generate.py: FAILED families: %s" % ", ".join(failed))


if __name__ == "__main__":
    main()
