#!/usr/bin/env bash
# run_cpu.sh: tandem vs ONNX Runtime vs OpenVINO vs MXNet 1.9.1 on the CPU, in one run, same
# networks, same weights, same input, same batch sizes and thread counts. Builds tandem, writes the
# zoo models (synthetic weights) into build/bench/, exports every model to ONNX, checks the export
# (ONNX Runtime vs tandem outputs; MXNet vs tandem too when MXNet is there), runs tandem-bench,
# peers.py (ONNX Runtime, OpenVINO) and mxnet-peer for each model and batch size, and prints the
# merged table with tandem/peer ratios, one table per batch size.
#
#   bash bench/run_cpu.sh [--threads 1,2] [--seconds 10] [--batch 1,16] [--warmup 2]
#                         [--models resnet50-v2,mobilenet-v2,efficientnet-lite0] [--repeat 1]
#                         [--intra-op N] [--out build/bench/results.jsonl] [--no-install]
#                         [--no-check] [--mxnet-python PATH | --no-mxnet]
#
# --models: tandem-zoo names (resnet50-v2, mobilenet-v2 = Gluon's mobilenetv2_1.0, inception-bn,
#   ...; written with synthetic weights), a checkpoint bundled as data/NAME/NAME (efficientnet-lite0:
#   Google's weights) or in ${TANDEM_MODELS:-../shared/models}/NAME/NAME, or any PREFIX of a
#   PREFIX-symbol.json + PREFIX-0000.params (labelled by its base name).
# --batch: a list; every model runs at every batch size (each thread sends batch-sized calls).
# --repeat N runs the whole tandem / ORT / OpenVINO / MXNet sequence N times, interleaved, and the
#   report shows each configuration's median run (the box may be busy with other work).
# --intra-op N: threads inside one call for every engine (MXNet: OMP_NUM_THREADS=N); without it
#   tandem uses its default (cores / calls in flight), ONNX Runtime and OpenVINO cores / threads
#   (peers.py), MXNet its own default (as the tutorial leaves it).
# MXNet: the C API of the PyPI wheel mxnet==1.9.1 (bench/mxnet_peer.cpp, built here with g++
#   against the wheel's headers and libmxnet.so), one thread-safe CachedOp shared by the threads as
#   in MXNet's multi-threaded inference tutorial, nothing tuned. --mxnet-python names the Python of
#   a venv with the wheel (default: $MXNET_PYTHON, else /work/mxv/bin/python if present); without
#   one the MXNet rows are skipped. Make such a venv with
#     python3 -m venv ~/mxnet-venv && ~/mxnet-venv/bin/pip install mxnet==1.9.1 'numpy<1.24'
set -euo pipefail
cd "$(dirname "$0")/.."

threads=1,2 seconds=10 batches=1,16 warmup=2 models=resnet50-v2,mobilenet-v2,efficientnet-lite0
repeat=1 intra_op= out=build/bench/results.jsonl install=1 check=1 mxnet=1
mxnet_python=${MXNET_PYTHON:-}
while [[ $# -gt 0 ]]; do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --batch) batches=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --models) models=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --intra-op) intra_op=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --no-install) install=0; shift ;;
    --no-check) check=0; shift ;;
    --mxnet-python) mxnet_python=$2; shift 2 ;;
    --no-mxnet) mxnet=0; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
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

# ---- MXNet: find the wheel, build the peer against it --------------------------------------------
mxnet_peer=
if [[ $mxnet == 1 ]]; then
  if [[ -z $mxnet_python && -x /work/mxv/bin/python ]]; then mxnet_python=/work/mxv/bin/python; fi
  mxdir=
  if [[ -n $mxnet_python ]]; then
    # The package directory without importing it (no libmxnet load, no numpy version trouble).
    mxdir=$("$mxnet_python" -c 'import importlib.util as u; s = u.find_spec("mxnet"); print(s.submodule_search_locations[0] if s else "")' 2>/dev/null || true)
  fi
  if [[ -z $mxnet_python ]]; then
    echo "== MXNet: SKIPPED (no MXNet venv: pass --mxnet-python PATH or set MXNET_PYTHON; make one with: python3 -m venv V && V/bin/pip install mxnet==1.9.1 'numpy<1.24')"
  elif [[ -z $mxdir || ! -f $mxdir/libmxnet.so || ! -f $mxdir/include/mxnet/c_api.h ]]; then
    echo "== MXNet: SKIPPED ($mxnet_python has no mxnet package with libmxnet.so and include/mxnet/c_api.h; pip install mxnet==1.9.1 'numpy<1.24' into it)"
  elif ! command -v "${CXX:-g++}" >/dev/null; then
    echo "== MXNet: SKIPPED (no C++ compiler: ${CXX:-g++})"
  else
    mxnet_peer=build/bench/mxnet-peer
    if [[ ! -x $mxnet_peer || $mxnet_peer -ot bench/mxnet_peer.cpp || $mxnet_peer -ot bench/proc_stats.hpp || $mxnet_peer -ot $mxdir/libmxnet.so ]]; then
      echo "== build $mxnet_peer against $mxdir"
      "${CXX:-g++}" -std=c++17 -O2 -pthread bench/mxnet_peer.cpp -I"$mxdir/include" -L"$mxdir" \
        -l:libmxnet.so -Wl,-rpath,"$mxdir" -o "$mxnet_peer"
    fi
    mxversion=$(sed -n 's/^__version__ *= *.\([0-9.]*\).*/\1/p' "$mxdir/libinfo.py" 2>/dev/null || true)
    echo "== MXNet ${mxversion:-?}: $mxdir (engine and threads as MXNet's defaults${intra_op:+, OMP_NUM_THREADS=$intra_op})"
    [[ ${mxversion:-} == 1.9.* ]] || echo "run_cpu.sh: note: MXNet ${mxversion:-of unknown version}, not 1.9.x" >&2
  fi
fi

# ---- models: the label, the checkpoint prefix, the ONNX export -----------------------------------
models_dir=${TANDEM_MODELS:-../shared/models}
IFS=, read -ra model_list <<<"$models"
IFS=, read -ra batch_list <<<"$batches"
labels=() prefixes=()
for m in "${model_list[@]}"; do
  label=$(basename "$m")
  if [[ -f $m-symbol.json ]]; then
    prefix=$m
  elif [[ -f data/$m/$m-symbol.json ]]; then
    prefix=data/$m/$m
  elif [[ -f $models_dir/$m/$m-symbol.json ]]; then
    prefix=$models_dir/$m/$m
  else
    prefix=build/bench/$m
    if [[ ! -f $prefix-0000.params ]]; then
      echo "== write $m (synthetic weights)"
      if [[ -x $zoo ]]; then "$zoo" "$m" "$prefix"; else "$bench" --model "zoo:$m" --save "$prefix"; fi
    fi
  fi
  onnx=build/bench/$label.onnx
  if [[ ! -f $onnx || $onnx -ot $prefix-0000.params || $onnx -ot $prefix-symbol.json || $onnx -ot bench/export_onnx.py ]]; then
    echo "== export $label ($prefix) to ONNX"
    $py bench/export_onnx.py "$prefix" "$onnx"
  fi
  labels+=("$label") prefixes+=("$prefix")
done

if [[ $check == 1 ]]; then
  echo "== export check (ONNX Runtime${mxnet_peer:+ and MXNet} vs tandem, same input)"
  $py bench/check_export.py --bench "$bench" ${mxnet_peer:+--mxnet "$mxnet_peer"} "${prefixes[@]}"
fi

: >"$out"
intra_args=()
[[ -n $intra_op ]] && intra_args=(--intra-op "$intra_op")
echo "== machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((r = 1; r <= repeat; r++)); do
  for i in "${!labels[@]}"; do
    m=${labels[$i]} prefix=${prefixes[$i]}
    for b in "${batch_list[@]}"; do
      echo "== run $r/$repeat: $m, batch $b, threads $threads, ${seconds}s each"
      "$bench" --model "$prefix" --name "$m" --threads "$threads" --batch "$b" \
        --seconds "$seconds" --warmup "$warmup" --json "$out" "${intra_args[@]}"
      $py bench/peers.py --onnx "build/bench/$m.onnx" --name "$m" --threads "$threads" --batch "$b" \
        --seconds "$seconds" --warmup "$warmup" --json "$out" "${intra_args[@]}"
      if [[ -n $mxnet_peer ]]; then
        echo
        ( [[ -n $intra_op ]] && export OMP_NUM_THREADS=$intra_op
          "$mxnet_peer" --model "$prefix" --name "$m" --threads "$threads" --batch "$b" \
            --seconds "$seconds" --warmup "$warmup" --json "$out" 2> >(grep -v 'legacy_json_util' >&2) ) ||
          echo "run_cpu.sh: mxnet-peer failed on $m, batch $b: no MXNet rows for it" >&2
      fi
    done
  done
done

echo
echo "== results ($out; load average now: $(cut -d' ' -f1-3 /proc/loadavg))"
$py bench/report.py "$out"
