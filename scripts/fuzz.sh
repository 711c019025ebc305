#!/usr/bin/env bash
# Fuzz the model loaders with libFuzzer (clang; ASan + UBSan + LeakSanitizer):
#
#   bash scripts/fuzz.sh TIME_SECONDS [TARGET...]     e.g.  bash scripts/fuzz.sh 600 params symbol
#
# Targets are the entries of test/fuzz/meson.build (params, symbol, model, ...); none given: all.
# Configures and builds build-fuzz (only the fuzz targets and the seed generator), makes a seed
# corpus per target in build-fuzz/corpus/<target> (generated seeds, plus the real models in
# ../shared/models or $TANDEM_MODELS when present), runs each target for TIME_SECONDS and prints
# per target: executions, exec/s, corpus size, crashes (0 or the artifact path). The corpus is kept
# between runs. Exits 1 when any target found a crash, leak, timeout or out-of-memory.
#
# FUZZ_JOBS=2 runs two targets at a time (default 1). Everything runs under nice -n 19.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 1 ] || ! [[ $1 =~ ^[0-9]+$ ]]; then
  echo "usage: bash scripts/fuzz.sh TIME_SECONDS [TARGET...]" >&2
  exit 2
fi
seconds=$1
shift
build=build-fuzz
models=${TANDEM_MODELS:-../shared/models}
jobs=${FUZZ_JOBS:-1}

if [ ! -f "$build/build.ninja" ]; then
  CC=clang CXX=clang++ nice -n 19 meson setup "$build" -Dfuzz=true \
    -Db_sanitize=address,undefined -Db_lundef=false -Dcpp_args=-fsanitize=fuzzer-no-link \
    -Dsamples=false -Dbench=false -Dtools=false -Dtests=true --buildtype=debugoptimized >/dev/null
fi

# The fuzz targets this build defines (test/fuzz/meson.build), without the seed generator.
mapfile -t defined < <(meson introspect --targets "$build" | python3 -c '
import json, sys
for t in json.load(sys.stdin):
    if t["type"] == "executable" and t["name"].startswith("fuzz_") and t["name"] != "fuzz_seeds":
        print(t["name"][len("fuzz_"):])' | sort)
if [ $# -gt 0 ]; then targets=("$@"); else targets=("${defined[@]}"); fi
for t in "${targets[@]}"; do
  if ! printf '%s\n' "${defined[@]}" | grep -qx "$t"; then
    echo "fuzz.sh: unknown target '$t' (known: ${defined[*]})" >&2
    exit 2
  fi
done

ninja_targets=(test/fuzz/fuzz_seeds)
for t in "${targets[@]}"; do ninja_targets+=("test/fuzz/fuzz_$t"); done
nice -n 19 ninja -C "$build" -j2 "${ninja_targets[@]}" >/dev/null

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

# Seeds: generated ones (the generator writes <target>/ folders), then the real files.
nice -n 19 "$build/test/fuzz/fuzz_seeds" "$build/seeds" "$models" >/dev/null
copy_seed() {  # copy_seed FILE DIR: copied under a name that keeps files from different models apart
  local name
  name=$(echo "$1" | sed 's#.*/\([^/]*\)/\([^/]*\)$#\1-\2#')
  cp -n "$1" "$2/$name" 2>/dev/null || true
}
for t in "${targets[@]}"; do
  corpus=$build/corpus/$t
  mkdir -p "$corpus" "$build/artifacts/$t"
  [ -d "$build/seeds/$t" ] && cp -n "$build/seeds/$t"/* "$corpus"/ 2>/dev/null || true
  if [ -d "$models" ]; then
    case $t in
      # Real .params up to 512 KiB: larger ones only slow every mutation down.
      params) for f in "$models"/*/*.params; do
                [ -f "$f" ] && [ "$(stat -c %s "$f")" -le 524288 ] && copy_seed "$f" "$corpus"
              done ;;
      symbol) for f in "$models"/*/*-symbol.json; do [ -f "$f" ] && copy_seed "$f" "$corpus"; done ;;
    esac
  fi
done

run_one() {
  local t=$1 log=$build/fuzz-$1.log dict=()
  [ -f "test/fuzz/$t.dict" ] && dict=("-dict=test/fuzz/$t.dict")
  set +e
  nice -n 19 "$build/test/fuzz/fuzz_$t" "$build/corpus/$t" "${dict[@]}" \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -detect_leaks=1 \
    -print_final_stats=1 -artifact_prefix="$build/artifacts/$t/" >"$log" 2>&1
  echo $? >"$build/fuzz-$t.rc"
  set -e
}

echo "fuzzing ${targets[*]} for $seconds s each ($jobs at a time); logs: $build/fuzz-<target>.log"
running=0
for t in "${targets[@]}"; do
  run_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait

failed=0
printf '%-10s %14s %10s %12s  %s\n' target executions exec/s corpus crashes
for t in "${targets[@]}"; do
  log=$build/fuzz-$t.log
  rc=$(cat "$build/fuzz-$t.rc")
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  files=$(find "$build/corpus/$t" -type f | wc -l)
  artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
  crash=0
  if [ "$rc" != 0 ] || [ -n "$artifact" ]; then
    crash=${artifact:-"exit status $rc, see $log"}
    failed=1
  fi
  printf '%-10s %14s %10s %12s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "$files files" "$crash"
done
exit $failed
