#!/usr/bin/env bash
# run_gpu.sh: tandem vs libtorch on the GPU machine, same networks (zoo ResNet v1, torchvision's
# layout), same weights, same input, same thread counts.
#
#   bash bench/run_gpu.sh [--threads 1,2,4,8] [--seconds 5] [--warmup 2] [--batch 1]
#                         [--models resnet50-v1] [--math fp32,tf32] [--variants eager,graph]
#                         [--tandem-build build-cuda] [--out build/bench/results-gpu.jsonl]
#
# Needs on that machine: cmake, a CUDA PyTorch (python3 -c 'import torch'), numpy. Builds
# bench/torch_peer against the wheel's libtorch. When TANDEM_BUILD/bench/tandem-bench exists (a
# -Dcuda=enabled build; its libraries found through LD_LIBRARY_PATH), the weights come from tandem's
# zoo (tandem-bench --save, the same synthetic weights tandem-zoo writes), the TorchScript model is
# made from them and checked against tandem's logits, and tandem-bench --device gpu runs in the
# same session. Without it only libtorch runs, on random weights.
set -euo pipefail
cd "$(dirname "$0")/.."

threads=1,2,4,8 seconds=5 warmup=2 batch=1 models=resnet50-v1 math=fp32,tf32
variants=eager,graph tandem_build=build-cuda out=build/bench/results-gpu.jsonl
while [[ $# -gt 0 ]]; do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --models) models=$2; shift 2 ;;
    --math) math=$2; shift 2 ;;
    --variants) variants=$2; shift 2 ;;
    --tandem-build) tandem_build=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "run_gpu.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

py=${PYTHON:-python3}
echo "== build torch_peer"
torch_prefix=$($py -c 'import torch; print(torch.utils.cmake_prefix_path)')
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S bench/torch_peer -B build/torch_peer "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$torch_prefix" >/dev/null
cmake --build build/torch_peer
mkdir -p build/bench
: >"$out"

bench=$tandem_build/bench/tandem-bench
have_tandem=0
if [[ -x $bench ]] && "$bench" --help >/dev/null 2>&1; then have_tandem=1; fi
[[ $have_tandem == 1 ]] || echo "run_gpu.sh: no usable $bench: libtorch only, random weights" >&2

IFS=, read -ra model_list <<<"$models"
for m in "${model_list[@]}"; do
  depth=${m#resnet}; depth=${depth%-v1}
  [[ $m == resnet*-v1 ]] || { echo "run_gpu.sh: $m: only zoo ResNet v1 models have a torch peer" >&2; exit 2; }
  prefix=build/bench/$m
  if [[ $have_tandem == 1 ]]; then
    [[ -f $prefix-0000.params ]] || "$bench" --model "zoo:$m" --save "$prefix"
    "$bench" --model "$prefix" --batch "$batch" --device cpu --dump "$prefix-dump-cpu.params"
    "$bench" --model "$prefix" --batch "$batch" --device gpu --dump "$prefix-dump-gpu.params"
    echo "== TorchScript $m from tandem's weights, checked against tandem's CPU (and GPU) logits"
    $py bench/make_torchscript.py --depth "$depth" --params "$prefix-0000.params" --out "$prefix.pt" \
      --check "$prefix-dump-cpu.params" --check-info "$prefix-dump-gpu.params" --batch "$batch"
    IFS=, read -ra math_list <<<"$math"
    for mm in "${math_list[@]}"; do
      echo "== tandem-bench $m --device gpu --math $mm (CUDA graphs, then kernel by kernel)"
      "$bench" --model "$prefix" --name "$m" --device gpu --threads "$threads" --batch "$batch" \
        --seconds "$seconds" --warmup "$warmup" --math "$mm" --json "$out"
      "$bench" --model "$prefix" --name "$m" --device gpu --threads "$threads" --batch "$batch" \
        --seconds "$seconds" --warmup "$warmup" --math "$mm" --no-graphs --json "$out"
    done
  else
    $py bench/make_torchscript.py --depth "$depth" --random 0 --out "$prefix.pt"
  fi
  echo "== torch_peer $m"
  build/torch_peer/torch_peer --model "$prefix.pt" --name "$m" --threads "$threads" \
    --batch "$batch" --seconds "$seconds" --warmup "$warmup" --math "$math" \
    --variants "$variants" --json "$out"
done

echo
echo "== results ($out)"
$py bench/report.py "$out"
