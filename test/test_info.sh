#!/usr/bin/env bash
# Tests tandem-info.
#   test_info.sh TANDEM_INFO MODELS_DIR   describe the shared mnist-cnn model ($TANDEM_MODELS, when
#                                         set, wins over MODELS_DIR; exit 77 = skip when absent)
#   test_info.sh TANDEM_INFO --errors     broken / missing files give exit 1 and one
#                                         "tandem-info: FormatError: ..." line; bad arguments exit 2
set -u

info=$1
mode=$2
failures=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tandem_info_test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# expect_line FILE TEXT: FILE has a line containing TEXT (fixed string).
expect_line() {
  grep -qF -- "$2" "$1" || fail "output lacks '$2'"
}

# expect_exit CODE STDERR_TEXT ARGS...: tandem-info exits CODE and stderr contains STDERR_TEXT.
expect_exit() {
  local code=$1 text=$2
  shift 2
  "$info" "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  [ "$rc" -eq "$code" ] || fail "tandem-info $*: exit $rc, expected $code ($(head -c 300 "$tmp/err"))"
  grep -qF -- "$text" "$tmp/err" || fail "tandem-info $*: stderr lacks '$text': $(head -c 300 "$tmp/err")"
}

# A valid one-node model with no parameters, for the params-file cases.
write_relu_symbol() {
  cat >"$1-symbol.json" <<'EOF'
{"nodes": [{"op": "null", "name": "data", "inputs": []},
           {"op": "Activation", "name": "relu", "attrs": {"act_type": "relu"}, "inputs": [[0, 0, 0]]}],
 "arg_nodes": [0], "heads": [[1, 0, 0]], "attrs": {"mxnet_version": ["int", 10600]}}
EOF
}

run_error_cases() {
  # Missing files.
  expect_exit 1 "tandem-info: FormatError: $tmp/none-symbol.json" "$tmp/none" 0
  write_relu_symbol "$tmp/relu"
  expect_exit 1 "tandem-info: FormatError: $tmp/relu-0007.params" "$tmp/relu" 7

  # Broken symbol JSON: not JSON, wrong structure, a cycle / forward reference, an unknown op.
  printf '{"nodes": [' >"$tmp/trunc-symbol.json"
  expect_exit 1 "tandem-info: FormatError: $tmp/trunc-symbol.json" "$tmp/trunc" 0
  printf '[1, 2, 3]' >"$tmp/array-symbol.json"
  expect_exit 1 "tandem-info: FormatError: $tmp/array-symbol.json" "$tmp/array" 0
  printf '{"nodes": [{"op": "Activation", "name": "a", "attrs": {"act_type": "relu"}, "inputs": [[0, 0]]}], "heads": [[0, 0]]}' \
    >"$tmp/cycle-symbol.json"
  expect_exit 1 "tandem-info: FormatError: $tmp/cycle-symbol.json" "$tmp/cycle" 0
  printf '{"nodes": [{"op": "null", "name": "x", "inputs": []}, {"op": "NoSuchOp", "name": "y", "inputs": [[0, 0]]}], "heads": [[1, 0]]}' \
    >"$tmp/unknown-symbol.json"
  expect_exit 1 "tandem-info: Unsupported: $tmp/unknown-symbol.json" "$tmp/unknown" 0
  # Absurd nesting must be refused, not recursed into.
  printf '[%.0s' $(seq 1 100000) >"$tmp/deep-symbol.json"
  expect_exit 1 "tandem-info: FormatError: $tmp/deep-symbol.json" "$tmp/deep" 0

  # Broken params files next to a good symbol: garbage, truncated, a hostile array count.
  for name in garbage truncated hostile; do write_relu_symbol "$tmp/$name"; done
  printf 'this is not a params file at all' >"$tmp/garbage-0000.params"
  expect_exit 1 "tandem-info: FormatError: $tmp/garbage-0000.params" "$tmp/garbage" 0
  # magic 0x112, reserved, count 1, then a V2 record cut off after its magic.
  printf '\x12\x01\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01\0\0\0\0\0\0\0\xc9\xfa\x93\xf9' >"$tmp/truncated-0000.params"
  expect_exit 1 "tandem-info: FormatError: $tmp/truncated-0000.params" "$tmp/truncated" 0
  printf '\x12\x01\0\0\0\0\0\0\0\0\0\0\0\0\0\0\xff\xff\xff\xff\xff\xff\xff\x7f' >"$tmp/hostile-0000.params"
  expect_exit 1 "tandem-info: FormatError: $tmp/hostile-0000.params" "$tmp/hostile" 0

  # Command-line mistakes exit 2 with the usage text.
  expect_exit 2 "usage: tandem-info" "$tmp/relu"
  expect_exit 2 "usage: tandem-info" "$tmp/relu" notanumber
  expect_exit 2 "usage: tandem-info" "$tmp/relu" 0 --shape data
  expect_exit 2 "usage: tandem-info" "$tmp/relu" 0 --shape data=1,x,3
  expect_exit 2 "usage: tandem-info" "$tmp/relu" 0 --shape data=1,0
  expect_exit 2 "usage: tandem-info" "$tmp/relu" 0 --shape data=
  expect_exit 2 "usage: tandem-info" "$tmp/relu" 0 --shape
  expect_exit 2 "usage: tandem-info" "$tmp/relu" 0 --bogus

  # A good parameterless model with an empty params file works, and --shape names are checked.
  printf '\x12\x01\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0' >"$tmp/relu-0000.params"
  expect_exit 2 "'nodata' is not an input" "$tmp/relu" 0 --shape nodata=2
  "$info" "$tmp/relu" 0 --shape data=2,3 >"$tmp/out" 2>"$tmp/err" || fail "relu model: $(cat "$tmp/err")"
  expect_line "$tmp/out" "relu_output: (2,3)"
}

run_model_cases() {
  local prefix="${TANDEM_MODELS:-$mode}/mnist-cnn/Neural_Net"
  if [ ! -f "$prefix-symbol.json" ]; then
    echo "SKIP: $prefix-symbol.json not found"
    exit 77
  fi
  "$info" "$prefix" 100 --shape data=1,1,28,28 >"$tmp/out" 2>"$tmp/err" \
    || fail "tandem-info on mnist-cnn failed: $(cat "$tmp/err")"
  cat "$tmp/out"
  expect_line "$tmp/out" "softmaxoutput0_output: (1,10)"
  expect_line "$tmp/out" "Operators (17 nodes, 7 types):"
  expect_line "$tmp/out" "  Convolution     2"
  expect_line "$tmp/out" "Data inputs: data"
  expect_line "$tmp/out" "data input (--shape)"
  expect_line "$tmp/out" "label (not read at inference)"
  grep -qE '^  CNN_convolution0_weight +\(30,1,5,5\) +float32$' "$tmp/out" || fail "conv0 weight line"
  grep -qE '^  CNN_batchnorm0_moving_var +\(30\) +float32$' "$tmp/out" || fail "bn0 moving_var line"
  grep -qE '^Parameters: 26 arrays, [0-9]+ elements, [0-9]+ bytes' "$tmp/out" || fail "parameters line"
  expect_line "$tmp/out" "Plan on cpu(0):"

  # Without --shape (no __shape__ hint in this file) the outputs are unknown, and it says why.
  "$info" "$prefix" 100 >"$tmp/out" 2>"$tmp/err" || fail "tandem-info without --shape failed"
  expect_line "$tmp/out" "softmaxoutput0_output: ? (give --shape data=...)"

  # --json parses and carries the same facts.
  "$info" "$prefix" 100 --shape data=4,1,28,28 --json >"$tmp/json" 2>"$tmp/err" || fail "--json failed"
  if command -v python3 >/dev/null; then
    python3 - "$tmp/json" <<'EOF' || fail "--json content"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["outputs"] == [{"name": "softmaxoutput0_output", "shape": [4, 10]}], j["outputs"]
assert j["data_inputs"] == ["data"], j["data_inputs"]
assert j["ops"]["Convolution"] == 2 and j["num_nodes"] == 17, j["ops"]
assert j["parameters"]["arrays"] == 26, j["parameters"]
assert j["plan"] is not None and j["plan"]["arena_bytes"] > 0
EOF
  else
    expect_line "$tmp/json" '"softmaxoutput0_output"'
  fi

  # --plan-cache DIR: created, reported; a CPU plan measures nothing (docs/plan-cache.md).
  "$info" "$prefix" 100 --shape data=1,1,28,28 --plan-cache "$tmp/plan-cache" >"$tmp/out" 2>"$tmp/err" ||
    fail "--plan-cache failed"
  [ -d "$tmp/plan-cache" ] || fail "--plan-cache did not create the directory"
  grep -qE "^  kernel choices: 0 measured, 0 from the plan cache, 0 reused; planned in [0-9]+ ms \(plan cache $tmp/plan-cache\)$" \
    "$tmp/out" || fail "--plan-cache: kernel choices line"
  expect_exit 2 "tandem-info: --math must be fp32 or tf32, got 'x'" "$prefix" 100 --math x

  # The wrong epoch is a missing file.
  expect_exit 1 "tandem-info: FormatError: $prefix-0099.params" "$prefix" 99
}

if [ "$mode" = "--errors" ]; then
  run_error_cases
else
  run_model_cases
fi
if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "all checks passed"
