#!/usr/bin/env bash
# GPU build + tests + GPU benchmark rows, for the GPU machine (CUDA 13, cuDNN 9, no registry).
# Usage: scripts/gpu-check.sh LOG_DIR [bench|nobench]
# Needs the dependency kit made here by ../shared/device/make-kit.sh .kit (carried as .kit).
set -uo pipefail
log=${1:?usage: scripts/gpu-check.sh LOG_DIR [bench|nobench]}
mode=${2:-bench}
cd "$(dirname "$0")/.."
mkdir -p "$log"
step() { echo "=== $1" | tee -a "$log/summary.txt"; }

step "machine"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv >> "$log/summary.txt" 2>&1
if [ -f .kit/use-kit.sh ]; then
  # shellcheck disable=SC1091
  source .kit/use-kit.sh /opt/kit > "$log/kit.log" 2>&1 || { echo "kit failed" >> "$log/summary.txt"; exit 1; }
  native=(--native-file /opt/kit/kit-native.ini)
else
  native=()
fi
# Models for the tests: ../shared/models beside the checkout when present.
[ -d ../shared/models ] && export TANDEM_MODELS=$(cd ../shared/models && pwd)

step "configure + build (-Dcuda=enabled -Dgpu_arch=90)"
if [ ! -f build-gpu/build.ninja ]; then
  meson setup build-gpu "${native[@]}" -Dcuda=enabled -Dgpu_arch=90 --buildtype=release \
    > "$log/setup.log" 2>&1 || { tail -30 "$log/setup.log" | tee -a "$log/summary.txt"; exit 1; }
fi
ninja -C build-gpu > "$log/build.log" 2>&1 || { grep -B2 -A8 -m5 'error' "$log/build.log" | tee -a "$log/summary.txt"; exit 1; }
grep -E "CUDA|cuDNN|oneDNN" "$log/setup.log" >> "$log/summary.txt"

step "tests (whole suite, GPU tests included)"
meson test -C build-gpu --print-errorlogs --num-processes 8 --no-suite install \
  > "$log/tests.log" 2>&1
tail -25 "$log/tests.log" >> "$log/summary.txt"
build-gpu/test/test_gpu -s -r compact > "$log/test_gpu.log" 2>&1
tail -5 "$log/test_gpu.log" >> "$log/summary.txt"

if [ "$mode" = bench ] && [ -x build-gpu/bench/tandem-bench ]; then
  step "benchmark: tandem GPU rows (ResNet-50 bs1)"
  for model in zoo:resnet50-v1 zoo:resnet18-v1; do
    build-gpu/bench/tandem-bench --model "$model" --device gpu --threads 1,2,4,8,16 --batch 1 \
      --seconds 3 --json "$log/bench.jsonl" >> "$log/bench.txt" 2>&1
  done
  tail -30 "$log/bench.txt" >> "$log/summary.txt"
  if [ -x bench/torch_peer/run.sh ]; then
    step "benchmark: libtorch peer (same weights)"
    bash bench/torch_peer/run.sh "$log" >> "$log/torch_peer.txt" 2>&1
    tail -30 "$log/torch_peer.txt" >> "$log/summary.txt"
  fi
fi
step "done"
