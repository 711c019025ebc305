# Sourced by the sample tests (test_samples.sh, test_face_pipeline.sh): a scratch folder $tmp,
# removed on exit; `check NAME CONDITION` prints ok / FAILED and sets fail=1 when CONDITION is false;
# `expect_error NAME PATTERN COMMAND...` checks that COMMAND exits non-zero (not by a signal) with
# PATTERN in its output.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAILED: $1"; fail=1; fi; }

# Every worker is one caller; OpenMP teams inside each call only oversubscribe the CI cores.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

expect_error() {  # NAME PATTERN COMMAND...
  local name=$1 pattern=$2
  shift 2
  "$@" >"$tmp/err.txt" 2>&1
  local rc=$?
  check "$name: non-zero exit" "[ $rc -ne 0 ] && [ $rc -lt 128 ]"
  check "$name: message says '$pattern'" "grep -q -- '$pattern' '$tmp/err.txt'"
}
