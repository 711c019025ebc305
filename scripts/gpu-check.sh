#!/usr/bin/env bash
# GPU build + tests + GPU benchmark rows, for the GPU machine (CUDA 13, cuDNN 9, no registry).
#
#   scripts/gpu-check.sh LOG_DIR [STEPS]      STEPS: comma list of build, gputest, conformance, convtests,
#                                             tests, bench, plantime, plancache, plaincuda, batching, half,
#                                             profile, convgraph, torch, modelcheck, serve (default build,gputest,
#                                             conformance,convtests,tests,bench,batching)
#
# Needs the dependency kit made here by ../shared/device/make-kit.sh .kit (carried as .kit).
# Every step has its own time limit and writes its log to LOG_DIR (gputest alone can take most of
# one 10-minute device call); LOG_DIR/summary.txt collects the headlines, so a run cut short still
# says how far it got. Shorter runs: BATCH_DELAYS="0 1000" (max_delay_us values of the batching
# rows), TORCH_THREADS=16,64 (libtorch thread counts), CONVGRAPH_CASES="fp32:nchw" (convgraph).
set -uo pipefail
log=${1:?usage: scripts/gpu-check.sh LOG_DIR [STEPS, see the header]}
steps=${2:-build,gputest,conformance,convtests,tests,bench,batching}
cd "$(dirname "$0")/.."
mkdir -p "$log"
log=$(cd "$log" && pwd)
aux=/tmp/gpu-check-aux  # logs that need not come back (the device returns at most 8 files)
mkdir -p "$aux"
step() { echo "=== $1 ($SECONDS s)" | tee -a "$log/summary.txt"; }
catch_summary() { grep -E "^(Passed|Failed)|test cases" "$1" | tail -1; }  # Catch's last word
want() { [[ ",$steps," == *",$1,"* ]]; }
jobs=$(nproc)

step "machine"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv >> "$log/summary.txt" 2>&1
if [ -f .kit/use-kit.sh ]; then
  # shellcheck disable=SC1091
  source .kit/use-kit.sh /opt/kit > "$aux/kit.log" 2>&1 || { echo "kit failed" >> "$log/summary.txt"; exit 1; }
  native=(--native-file /opt/kit/kit-native.ini)
else
  native=()
fi
# Models for the tests: ../shared/models beside the checkout, else a copy carried as .models
# (git-ignored; the device tool sends the checkout only).
if [ -d ../shared/models ]; then export TANDEM_MODELS=$(cd ../shared/models && pwd)
elif [ -d .models ]; then export TANDEM_MODELS=$(pwd)/.models; fi
echo "models: ${TANDEM_MODELS:-none (model tests skip)}" >> "$log/summary.txt"


if want build || [ ! -f build-gpu/build.ninja ]; then
  step "configure + build (-Dcuda=enabled -Dgpu_arch=90, $jobs jobs)"
  if [ ! -f build-gpu/build.ninja ]; then
    meson setup build-gpu "${native[@]}" -Dcuda=enabled -Dgpu_arch=90 --buildtype=release \
      > "$aux/setup.log" 2>&1 || { tail -30 "$aux/setup.log" | tee -a "$log/summary.txt"; exit 1; }
  fi
  timeout 400 ninja -C build-gpu -j "$jobs" > "$log/build.log" 2>&1 ||
    { grep -B2 -A12 -m5 'error' "$log/build.log" | tee -a "$log/summary.txt"; tail -5 "$log/build.log" >> "$log/summary.txt"; exit 1; }
  grep -E "CUDA|cuDNN|oneDNN" "$aux/setup.log" >> "$log/summary.txt"
fi

if want gputest; then
  step "GPU tests (test_gpu: cuDNN / plain CUDA vs reference, zoo table, MNIST, threads, errors)"
  # Two runs, each with its own limit: the zoo table alone (CPU reference for four ImageNet nets,
  # every GPU convolution shape measured at plan time) needs about five minutes.
  timeout 400 build-gpu/test/test_gpu -r compact "[zoo]" > "$log/test_gpu.log" 2>&1
  echo "test_gpu [zoo] rc=$?" >> "$log/summary.txt"
  timeout 240 build-gpu/test/test_gpu -r compact "~[zoo]" >> "$log/test_gpu.log" 2>&1
  echo "test_gpu ~[zoo] rc=$?" >> "$log/summary.txt"
  grep -E "zoo table|MNIST on GPU|TF32 vs|FAILED|failed|passed|SKIPPED" "$log/test_gpu.log" | head -60 >> "$log/summary.txt"
  # The inference rewrites (BN folding, ReLU fusion) on every backend, GPU ones included.
  timeout 120 build-gpu/test/test_rewrite -r compact >> "$log/test_gpu.log" 2>&1
  echo "test_rewrite rc=$?" >> "$log/summary.txt"
fi

if want conformance; then
  step "MXNet conformance on the GPU (every operator's MXNet cases on cuDNN and plain CUDA; ops without a CUDA kernel run on the host)"
  timeout 300 build-gpu/test/test_conformance -r compact > "$log/conformance.log" 2>&1
  echo "test_conformance rc=$? $(catch_summary "$log/conformance.log")" >> "$log/summary.txt"
  grep -E "family '|fail|FAILED" "$log/conformance.log" | head -40 >> "$log/summary.txt"
fi

if want convtests; then
  step "convolution op tests on every GPU kernel the factory can choose (each vs the reference)"
  # The factories keep whichever kernel measures fastest per shape, so each candidate is also
  # checked on its own: the legacy cuDNN API only, the direct plain-CUDA kernel only (split-K
  # left out), and the split-K fp32 kernel forced wherever it covers a convolution (N slices, tile
  # shape N mod 6: N = 1, 2, 4, 6, 9, 11 reach all six).
  for mode in "default" "TANDEM_CUDNN_GRAPH=0" "TANDEM_CONV_SPLITK=0" "TANDEM_CONV_SPLITK=1" "TANDEM_CONV_SPLITK=2" "TANDEM_CONV_SPLITK=4" "TANDEM_CONV_SPLITK=6" "TANDEM_CONV_SPLITK=9" "TANDEM_CONV_SPLITK=11"; do
    # shellcheck disable=SC2086
    env $([ "$mode" = default ] || echo "$mode") timeout 120 build-gpu/test/ops/test_ops_convolution -r compact \
      > "$aux/convtest.log" 2>&1
    echo "test_ops_convolution ($mode): rc=$? $(catch_summary "$aux/convtest.log")" >> "$log/summary.txt"
    cat "$aux/convtest.log" >> "$log/convtests.log"
  done
  # The rewrite's fused bias + residual + ReLU on split-K: in the slices kernel (one slice) and
  # in the reduction kernel (several).
  for n in 1 7; do
    TANDEM_CONV_SPLITK=$n timeout 120 build-gpu/test/test_rewrite -r compact > "$aux/convtest.log" 2>&1
    echo "test_rewrite (TANDEM_CONV_SPLITK=$n): rc=$? $(catch_summary "$aux/convtest.log")" >> "$log/summary.txt"
    cat "$aux/convtest.log" >> "$log/convtests.log"
  done
fi

if want tests; then
  step "whole suite on the GPU build (op tests compare cuDNN and CUDA kernels with the reference)"
  timeout 300 meson test -C build-gpu --print-errorlogs --num-processes "$jobs" --no-suite install --no-suite gpu \
    > "$log/tests.log" 2>&1
  echo "meson test rc=$?" >> "$log/summary.txt"
  grep -E "^ *[0-9]+/[0-9]+ |^Ok:|^Fail:|^Timeout:" "$log/tests.log" | tail -40 >> "$log/summary.txt"
fi

if want bench && [ -x build-gpu/bench/tandem-bench ]; then
  # Every row names its math mode: strict fp32 (TF32 off) or TF32; graph = CUDA graph replay.
  for variant in "fp32" "fp32 --no-graphs" "tf32"; do
    step "benchmark: tandem GPU rows, ResNet-50 v1 bs1, --math $variant"
    # shellcheck disable=SC2086
    timeout 120 build-gpu/bench/tandem-bench --model zoo:resnet50-v1 --device gpu --threads 1,2,4,8,16 \
      --batch 1 --seconds 2 --warmup 1 --math $variant --json "$log/bench.jsonl" >> "$log/bench.txt" 2>&1
    echo "bench rc=$?" >> "$log/summary.txt"
    grep -E "^ +[0-9]+ +[0-9]+ |GPU math|first plan" "$log/bench.txt" | tail -7 >> "$log/summary.txt"
  done
fi

if want plantime && [ -x build-gpu/bench/tandem-bench ]; then
  # What the per-shape convolution measurements cost at plan time: a fresh process's first Plan
  # (strict fp32, bs1), with the split-K candidates and without them (TANDEM_CONV_SPLITK=0).
  for model in resnet50-v1 inception-bn; do
    for splitk in default 0; do
      step "plan time: $model fp32 bs1, split-K ${splitk/0/left out}"
      # shellcheck disable=SC2046
      env $([ $splitk = default ] || echo TANDEM_CONV_SPLITK=0) timeout 120 build-gpu/bench/tandem-bench \
        --model zoo:$model --device gpu --threads 1 --batch 1 --seconds 0.5 --warmup 0.2 \
        --name "$model-plan-splitk-$splitk" --json "$log/bench.jsonl" > "$aux/plan.txt" 2>&1
      echo "rc=$? $(grep -o 'first plan [0-9]* ms' "$aux/plan.txt")" >> "$log/summary.txt"
    done
  done
fi

if want plancache && [ -x build-gpu/bench/tandem-bench ]; then
  # Issue 23, the persistent plan cache (docs/plan-cache.md): per model, math mode and batching, a
  # process with an empty cache directory, then a second one with the directory the first filled.
  # Both first-Plan times (and with the dynamic-batching sizes), the choice counters, the bench
  # row, and the kernels chosen: TANDEM_CUDNN_GRAPH_LOG prints "KEY -> KERNEL | measured ..." in
  # the first process and "KEY -> KERNEL | from the plan cache" in the second; the KEY -> KERNEL
  # parts must be the same. PLANCACHE_MODELS / PLANCACHE_MATH / PLANCACHE_BATCHING narrow it.
  for model in ${PLANCACHE_MODELS:-resnet50-v1 inception-bn}; do
    for mm in ${PLANCACHE_MATH:-fp32 tf32}; do
      for batching in ${PLANCACHE_BATCHING:-bs1 dyn32}; do
        step "plan cache: $model --math $mm $batching, empty cache then filled cache"
        cache="$aux/plancache-$model-$mm-$batching"
        rm -rf "$cache"
        extra=()
        [ "$batching" = dyn32 ] && extra=(--max-batch 32 --max-delay-us 200)
        for proc in 1 2; do
          TANDEM_CUDNN_GRAPH_LOG=1 timeout 120 build-gpu/bench/tandem-bench --model zoo:$model --device gpu \
            --threads 1 --batch 1 --seconds 0.5 --warmup 0.2 --math $mm "${extra[@]}" --plan-cache "$cache" \
            --name "$model-plancache-$batching-process$proc" --json "$log/plancache.jsonl" \
            > "$aux/pc$proc.txt" 2> "$aux/pc$proc.log"
          echo "process $proc rc=$? $(grep -o 'first plan .*' "$aux/pc$proc.txt" | tr -d ')') | $(grep -E '^ +1 ' "$aux/pc$proc.txt" | awk '{print $3 " images/s, p50 " $4 " ms"}')" >> "$log/summary.txt"
          sed -n 's/^\(\[tandem [^]]*\] .* -> .*\) | .*$/\1/p' "$aux/pc$proc.log" | sort > "$aux/pc$proc.choices"
          grep -v '^\[tandem cud' "$aux/pc$proc.log" | head -5 >> "$log/summary.txt"  # warnings, errors
        done
        { echo "== $model $mm $batching"; cat "$aux/pc1.choices"; } >> "$log/plancache-choices.txt"
        if cmp -s "$aux/pc1.choices" "$aux/pc2.choices"; then same=yes; else same=NO; fi
        echo "same kernels chosen: $same ($(wc -l < "$aux/pc1.choices") choices logged by process 1, $(grep -c 'measured' "$aux/pc1.log") measured; process 2: $(wc -l < "$aux/pc2.choices") logged, $(grep -c 'from the plan cache' "$aux/pc2.log") from the cache, $(grep -c '| measured\|| legacy' "$aux/pc2.log") measured); cache: $(find "$cache" -name '*.tpc' | wc -l) entries" >> "$log/summary.txt"
        [ "$same" = yes ] || diff "$aux/pc1.choices" "$aux/pc2.choices" | head -6 >> "$log/summary.txt"
      done
    done
  done
fi

if want plaincuda && [ -x build-gpu/bench/tandem-bench ]; then
  # The path without cuDNN (CachedOpFlags::use_cudnn = false, as with -Dcudnn=disabled), strict
  # fp32: its convolutions with split-K where it measures faster (the default), and with the
  # direct kernel alone (TANDEM_CONV_SPLITK=0), same run.
  for splitk in default 0; do
    step "benchmark: plain CUDA (no cuDNN), ResNet-50 v1 bs1 fp32, split-K ${splitk/0/left out}"
    # shellcheck disable=SC2046
    env $([ $splitk = default ] || echo TANDEM_CONV_SPLITK=0) timeout 150 build-gpu/bench/tandem-bench \
      --model zoo:resnet50-v1 --device gpu --no-cudnn --threads 1,8 --batch 1 --seconds 2 --warmup 1 \
      --name "resnet50-v1-plaincuda-splitk-$splitk" --json "$log/bench.jsonl" >> "$log/plaincuda.txt" 2>&1
    echo "bench rc=$?" >> "$log/summary.txt"
    grep -E "^ +[0-9]+ +[0-9]+ |first plan" "$log/plaincuda.txt" | tail -3 >> "$log/summary.txt"
  done
fi

if want batching && [ -x build-gpu/bench/tandem-bench ]; then
  # Dynamic batching: bs1 callers gathered into runs of up to 32 rows, against unbatched tandem
  # (same run). Longer warm-up: every batch size the run meets is planned (and captured) once.
  # BATCH_MATH, BATCH_THREADS, BATCH_DELAYS narrow the run; BATCH_UNBATCHED=0 skips its rows.
  for mm in ${BATCH_MATH:-fp32 tf32}; do
    step "benchmark: dynamic batching, ResNet-50 v1 bs1 callers, --math $mm (unbatched first)"
    if [ "${BATCH_UNBATCHED:-1}" != 0 ]; then
      timeout 150 build-gpu/bench/tandem-bench --model zoo:resnet50-v1 --device gpu --threads ${BATCH_THREADS:-8,16,64} \
        --batch 1 --seconds 2 --warmup 1 --math $mm --json "$log/bench.jsonl" >> "$log/batching.txt" 2>&1
      echo "bench rc=$?" >> "$log/summary.txt"
    fi
    for delay in ${BATCH_DELAYS:-0 200 1000}; do
      timeout 200 build-gpu/bench/tandem-bench --model zoo:resnet50-v1 --device gpu --threads ${BATCH_THREADS:-8,16,64} \
        --batch 1 --seconds 2 --warmup 3 --math $mm --max-batch 32 --max-delay-us $delay \
        --json "$log/bench.jsonl" >> "$log/batching.txt" 2>&1
      echo "bench rc=$? (max delay $delay us)" >> "$log/summary.txt"
    done
    grep -E "^ +[0-9]+ +[0-9]+ |dynamic batching" "$log/batching.txt" | tail -24 >> "$log/summary.txt"
  done
fi

if want profile && [ -x build-gpu/bench/tandem-bench ]; then
  step "profile: ResNet-50 v1 bs1 on the GPU, per operator"
  timeout 150 build-gpu/bench/tandem-bench --model zoo:resnet50-v1 --device gpu --profile \
    > "$log/profile.txt" 2>&1
  echo "profile rc=$?" >> "$log/summary.txt"
  head -20 "$log/profile.txt" >> "$log/summary.txt"
  tail -15 "$log/profile.txt" >> "$log/summary.txt"
fi

if want half && [ -x build-gpu/bench/tandem-bench ]; then
  # Reduced precision (issue 11): ResNet-50 v1 at batch 128 in fp16 / bf16 (tensor cores, fp32
  # accumulation), channels-last and channel-first activations, against PyTorch eager
  # channels-last in the same run; and fp32 bs1 with the graph passes off and on.
  for variant in "f16 --layout nhwc" "f16 --layout nchw" "bf16 --layout nhwc"; do
    step "benchmark: ResNet-50 v1 bs128 --dtype $variant"
    # shellcheck disable=SC2086
    timeout 150 build-gpu/bench/tandem-bench --model zoo:resnet50-v1 --device gpu --threads 1,2 \
      --batch 128 --seconds 3 --warmup 2 --dtype $variant --json "$log/bench.jsonl" >> "$log/half.txt" 2>&1
    echo "bench rc=$?" >> "$log/summary.txt"
    grep -E "^ +[0-9]+ +[0-9]+ |GPU math|kernels:" "$log/half.txt" | tail -4 >> "$log/summary.txt"
  done
  for dt in f16 bf16; do
    step "benchmark: PyTorch eager channels-last ResNet-50 v1 bs128 $dt (same run)"
    timeout 120 python3 bench/torch_eager_half.py --dtype $dt --batch 128 --seconds 5 \
      --out "$log/bench.jsonl" >> "$log/half.txt" 2>&1
    echo "torch rc=$?" >> "$log/summary.txt"
    tail -1 "$log/half.txt" >> "$log/summary.txt"
  done
  for mm in tf32 fp32; do
    step "benchmark: ResNet-50 v1 bs1 --math $mm --layout nhwc (issue 5 rows, channels-last)"
    timeout 100 build-gpu/bench/tandem-bench --model zoo:resnet50-v1 --device gpu --threads 1,8,16 \
      --batch 1 --seconds 2 --warmup 1 --math $mm --layout nhwc --json "$log/bench.jsonl" >> "$log/half.txt" 2>&1
    echo "bench rc=$?" >> "$log/summary.txt"
    grep -E "^ +[0-9]+ +[0-9]+ " "$log/half.txt" | tail -3 >> "$log/summary.txt"
  done
  step "benchmark: fp32 bs1 ResNet-50 v1, graph passes off vs on (1 and 8 threads)"
  for passes in "--no-rewrites" ""; do
    # shellcheck disable=SC2086
    timeout 100 build-gpu/bench/tandem-bench --model zoo:resnet50-v1 --device gpu --threads 1,8 \
      --batch 1 --seconds 2 --warmup 1 $passes --json "$log/bench.jsonl" >> "$log/half.txt" 2>&1
    echo "bench rc=$? ${passes:-passes on}" >> "$log/summary.txt"
    grep -E "^ +[0-9]+ +[0-9]+ " "$log/half.txt" | tail -2 >> "$log/summary.txt"
  done
fi

if want convgraph && [ -x build-gpu/bench/tandem-bench ]; then
  # Issue 5: ResNet-50 v1 bs1 with the cuDNN graph-API convolutions (the default) against the
  # legacy-API ones only (TANDEM_CUDNN_GRAPH=0), same run; the first run logs each shape's choice.
  # CONVGRAPH_CASES picks math:layout pairs; CONVGRAPH_LEGACY=0 skips the legacy rows.
  for case in ${CONVGRAPH_CASES:-fp32:nchw fp32:nhwc tf32:nchw tf32:nhwc}; do
    mm=${case%%:*} layout=${case##*:}
    step "benchmark: ResNet-50 v1 bs1 --math $mm --layout $layout, legacy cuDNN API vs graph API"
    if [ "${CONVGRAPH_LEGACY:-1}" != 0 ]; then
      TANDEM_CUDNN_GRAPH=0 timeout 100 build-gpu/bench/tandem-bench --model zoo:resnet50-v1 --device gpu \
        --threads 1,8,16 --batch 1 --seconds 2 --warmup 1 --math $mm --layout $layout --name resnet50-v1-legacyconv \
        --json "$log/bench.jsonl" >> "$log/convgraph.txt" 2>&1
      echo "legacy rc=$?" >> "$log/summary.txt"
      grep -E "^ +[0-9]+ +[0-9]+ " "$log/convgraph.txt" | tail -3 >> "$log/summary.txt"
    fi
    if [ "$mm" = fp32 ] && [ "${CONVGRAPH_NOSPLITK:-1}" != 0 ]; then  # split-K runs in strict fp32 only
      TANDEM_CONV_SPLITK=0 timeout 120 build-gpu/bench/tandem-bench --model zoo:resnet50-v1 --device gpu \
        --threads 1,8,16 --batch 1 --seconds 2 --warmup 1 --math $mm --layout $layout --name resnet50-v1-nosplitk \
        --json "$log/bench.jsonl" >> "$log/convgraph.txt" 2>&1
      echo "cuDNN only (no split-K) rc=$?" >> "$log/summary.txt"
      grep -E "^ +[0-9]+ +[0-9]+ " "$log/convgraph.txt" | tail -3 >> "$log/summary.txt"
    fi
    TANDEM_CUDNN_GRAPH_LOG=1 timeout 150 build-gpu/bench/tandem-bench --model zoo:resnet50-v1 --device gpu \
      --threads 1,8,16 --batch 1 --seconds 2 --warmup 1 --math $mm --layout $layout \
      --json "$log/bench.jsonl" >> "$log/convgraph.txt" 2>"$log/convgraph-$mm-$layout.log"
    clog="$log/convgraph-$mm-$layout.log"
    echo "graph rc=$? (of $(grep -c 'tandem cudnn conv' "$clog") shapes: $(grep -c -- '-> graph' "$clog") graph API, $(grep -c -- '-> split-K' "$clog") split-K)" >> "$log/summary.txt"
    grep -E "^ +[0-9]+ +[0-9]+ " "$log/convgraph.txt" | tail -3 >> "$log/summary.txt"
  done
fi

if want torch; then
  step "benchmark: libtorch peer, same weights, same run"
  timeout 300 bash bench/run_gpu.sh --tandem-build build-gpu --threads "${TORCH_THREADS:-1,8,16,64}" --seconds 3 --warmup 1 \
    --out "$aux/results-gpu.jsonl" > "$log/torch_peer.txt" 2>&1
  echo "run_gpu rc=$?" >> "$log/summary.txt"
  cat "$aux/results-gpu.jsonl" >> "$log/bench.jsonl" 2>/dev/null
  tail -40 "$log/torch_peer.txt" >> "$log/summary.txt"
fi
if want modelcheck; then
  # Whole GluonCV models exported by MXNet 1.9.1 (docs/model-zoo.md) against MXNet's outputs, on
  # cuDNN and on the plain-CUDA kernels. Needs the bundle made by tools/model_check/recipe.py pack
  # (git-ignored: carry .modelcheck): parameters rebuilt from their recipes by numpy here.
  step "whole-model check: GluonCV models vs MXNet 1.9.1, cuDNN and plain CUDA (run_bundle.py .modelcheck)"
  if [ -f .modelcheck/manifest.json ]; then
    rm -rf "$aux/modelcheck"
    timeout 270 python3 tools/model_check/run_bundle.py .modelcheck --tandem-info build-gpu/tools/tandem-info \
      --runs cudnn,cuda --out "$aux/modelcheck" --jobs 8 --parallel 3 --timeout 100 > "$log/modelcheck.log" 2>&1
    echo "run_bundle rc=$? $(tail -1 "$log/modelcheck.log")" >> "$log/summary.txt"
    cp "$aux/modelcheck/results.json" "$log/modelcheck-results.json" 2>/dev/null
    cp "$aux/modelcheck/table.md" "$log/modelcheck-table.md" 2>/dev/null
    grep -E "FAIL|noise" "$aux/modelcheck/table.md" >> "$log/summary.txt" 2>/dev/null
  else
    echo "no .modelcheck/manifest.json: make it with tools/model_check/recipe.py pack and carry .modelcheck" >> "$log/summary.txt"
  fi
fi
if want serve; then
  # tandem-serve (REST, binary tensors) on the GPU with dynamic batching, 64 concurrent clients of
  # bench/serve_load.py's stdlib-only client (no tritonclient here), against tandem-bench in
  # process at the same concurrency; ResNet-50 v1 (tandem-zoo weights), then unbatched. The
  # clients run in 4 processes: one Python process with 64 threads was GIL-bound at 1.1 cores and
  # ~3200 req/s on an H100 (docs/performance.md).
  # tandem-serve needs cpp-httplib at configure time (the kit: libcpp-httplib-dev, see docs/serving.md).
  step "serve: tandem-serve on the GPU, ResNet-50 v1, 64 HTTP clients, dynamic batching (bench/serve_load.py)"
  if [ -x build-gpu/tools/serve/tandem-serve ] && [ -x build-gpu/tools/tandem-zoo ]; then
    build-gpu/tools/tandem-zoo resnet50-v1 "$aux/resnet50-v1" > "$aux/serve.log" 2>&1
    # SERVE_LEADS: TANDEM_BATCH_LEAD_PERCENT values to compare (docs/batching.md), e.g. "0 12".
    for mb in ${SERVE_MAX_BATCH:-32 0}; do
      for lead in ${SERVE_LEADS:-0}; do
        TANDEM_BATCH_LEAD_PERCENT=$lead timeout 240 python3 bench/serve_load.py \
          --serve build-gpu/tools/serve/tandem-serve \
          --bench build-gpu/bench/tandem-bench --model "$aux/resnet50-v1" --name resnet50-v1 --device gpu \
          --clients 64 --processes "${SERVE_CLIENT_PROCESSES:-4}" --seconds 10 --warmup 5 \
          --max-batch "$mb" --max-delay-us 1000 \
          --json "$log/serve.jsonl" >> "$aux/serve.log" 2>&1
        echo "serve_load rc=$? (max batch $mb, lead $lead %)" >> "$log/summary.txt"
      done
    done
    # In process from pageable host memory, for the page-locked buffers' share of the difference.
    timeout 60 build-gpu/bench/tandem-bench --model "$aux/resnet50-v1" --threads 64 --batch 1 --seconds 8 \
      --warmup 3 --sample-shape 3,224,224 --device gpu --max-batch 32 --max-delay-us 1000 --host-io \
      --pageable --json "$log/serve.jsonl" > /dev/null 2>&1
    echo "tandem-bench --host-io --pageable: $(tail -1 "$log/serve.jsonl" | grep -o '"images_per_s": [0-9.]*')" >> "$log/summary.txt"
    grep -E "^tandem-serve|^in process|^failures|^  |Error" "$aux/serve.log" | head -20 >> "$log/summary.txt"
  else
    echo "serve: no build-gpu/tools/serve/tandem-serve (cpp-httplib not found at configure); skipped" >> "$log/summary.txt"
  fi
fi
step "done"
