#!/usr/bin/env bash
# run_cpu.sh: tandem vs ONNX Runtime vs OpenVINO on the CPU, in one run, same networks, same
# weights, same input, same thread counts. Builds tandem, writes the zoo models (synthetic weights)
# into build/bench/, exports them to ONNX, checks the export (ONNX Runtime vs tandem outputs),
# runs tandem-bench and peers.py for each model and prints the merged table with ratios.
#
#   bash bench/run_cpu.sh [--threads 1,2] [--seconds 10] [--batch 1] [--warmup 2]
#                         [--models resnet18-v2,resnet50-v2] [--repeat 1] [--intra-op N]
#                         [--out build/bench/results.jsonl] [--no-install] [--no-check]
#
# --repeat N runs the whole tandem / ORT / OpenVINO sequence N times, interleaved, and the report
# shows each configuration's median run (the box may be busy with other work).
set -euo pipefail
cd "$(dirname "$0")/.."

threads=1,2 seconds=10 batch=1 warmup=2 models=resnet18-v2,resnet50-v2 repeat=1 intra_op=
out=build/bench/results.jsonl install=1 check=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --models) models=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --intra-op) intra_op=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --no-install) install=0; shift ;;
    --no-check) check=0; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "run_cpu.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

py=${PYTHON:-python3}
if [[ $install == 1 ]] && ! $py -c 'import numpy, onnx, onnxruntime, openvino' 2>/dev/null; then
  echo "== pip install numpy onnx onnxruntime openvino"
  $py -m pip install --quiet numpy onnx onnxruntime openvino ||
    echo "run_cpu.sh: pip install failed; peers whose package is missing are skipped" >&2
fi

echo "== build"
[[ -f build/build.ninja ]] || meson setup build
ninja -C build
bench=build/bench/tandem-bench
zoo=build/samples/tandem-zoo
[[ -x $zoo ]] || zoo=build/tools/tandem-zoo
mkdir -p build/bench

IFS=, read -ra model_list <<<"$models"
for m in "${model_list[@]}"; do
  prefix=build/bench/$m
  if [[ ! -f $prefix-0000.params ]]; then
    echo "== write $m (synthetic weights)"
    if [[ -x $zoo ]]; then "$zoo" "$m" "$prefix"; else "$bench" --model "zoo:$m" --save "$prefix"; fi
  fi
  if [[ ! -f $prefix.onnx || $prefix.onnx -ot $prefix-0000.params ]]; then
    echo "== export $m to ONNX"
    $py bench/export_onnx.py "$prefix" "$prefix.onnx"
  fi
done

if [[ $check == 1 ]]; then
  echo "== export check (ONNX Runtime vs tandem, same input)"
  $py bench/check_export.py --bench "$bench" "${model_list[@]/#/build/bench/}"
fi

: >"$out"
intra_args=()
[[ -n $intra_op ]] && intra_args=(--intra-op "$intra_op")
echo "== machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((r = 1; r <= repeat; r++)); do
  for m in "${model_list[@]}"; do
    prefix=build/bench/$m
    echo "== run $r/$repeat: $m, threads $threads, batch $batch, ${seconds}s each"
    "$bench" --model "$prefix" --name "$m" --threads "$threads" --batch "$batch" \
      --seconds "$seconds" --warmup "$warmup" --json "$out" "${intra_args[@]}"
    $py bench/peers.py --onnx "$prefix.onnx" --name "$m" --threads "$threads" --batch "$batch" \
      --seconds "$seconds" --warmup "$warmup" --json "$out" "${intra_args[@]}"
  done
done

echo
echo "== results ($out; load average now: $(cut -d' ' -f1-3 /proc/loadavg))"
$py bench/report.py "$out"
