#!/usr/bin/env bash
# The image-classification sample, end to end on bundled data: with N files (one thread each,
# one shared CachedOp) every file gets exactly the result it gets when run alone; and bad input
# (missing image, unreadable image, wrong synset, GPU without a GPU, bad options) is a clear
# error with a non-zero exit, never a crash.
#   test_samples.sh BUILD_DIR SOURCE_DIR
set -uo pipefail
build=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAILED: $1"; fail=1; fi; }

sample=$build/samples/multi_threaded_inference
"$build/tools/tandem-zoo" resnet18-v2 "$tmp/r18" >/dev/null || { echo "tandem-zoo failed"; exit 1; }
# A second, different image in another format: a 64x48 BMP gradient written here.
python3 - "$tmp/gradient.bmp" <<'PY'
import struct, sys
w, h = 64, 48
row = bytearray()
rows = []
for y in range(h):
    r = bytearray()
    for x in range(w):
        r += bytes((x * 4 % 256, y * 5 % 256, (x + y) * 2 % 256))
    rows.append(bytes(r))
pixels = b"".join(rows)  # 64 * 3 bytes per row: already a multiple of 4
header = b"BM" + struct.pack("<IHHI", 54 + len(pixels), 0, 0, 54)
info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, len(pixels), 2835, 2835, 0, 0)
open(sys.argv[1], "wb").write(header + info + pixels)
PY
photo=$src/data/grace_hopper.jpg
synset=$src/data/synset.txt

# Result lines of each file's block, in file order (timing lines dropped).
results() { grep -E '^(Best Result|  [0-9]+\. )' "$1"; }
"$sample" "$tmp/r18" 0 "$photo" "$tmp/gradient.bmp" "$photo" --synset "$synset" --topk 3 >"$tmp/all.txt" 2>&1
check "three files in three threads run" "[ $? -eq 0 ]"
for f in "$photo" "$tmp/gradient.bmp"; do
  "$sample" "$tmp/r18" 0 "$f" --synset "$synset" --topk 3 >"$tmp/one-$(basename "$f").txt" 2>&1
done
results "$tmp/all.txt" >"$tmp/all.res"
{ results "$tmp/one-grace_hopper.jpg.txt"; results "$tmp/one-gradient.bmp.txt"; results "$tmp/one-grace_hopper.jpg.txt"; } >"$tmp/alone.res"
check "each file's result with 3 threads equals its result alone" "cmp -s '$tmp/all.res' '$tmp/alone.res'"
check "the two images give different results" "! cmp -s '$tmp/one-grace_hopper.jpg.txt' '$tmp/one-gradient.bmp.txt'"
check "4 lines per file (best + top-3)" "[ \$(wc -l <'$tmp/all.res') -eq 12 ]"

expect_error() {  # NAME PATTERN COMMAND...
  local name=$1 pattern=$2
  shift 2
  "$@" >"$tmp/err.txt" 2>&1
  local rc=$?
  check "$name: non-zero exit" "[ $rc -ne 0 ] && [ $rc -lt 128 ]"
  check "$name: message says '$pattern'" "grep -q -- '$pattern' '$tmp/err.txt'"
}
expect_error "missing image" "nope.jpg" "$sample" "$tmp/r18" 0 "$tmp/nope.jpg"
printf 'not an image' >"$tmp/bad.png"
expect_error "unreadable image" "bad.png" "$sample" "$tmp/r18" 0 "$tmp/bad.png"
head -n 10 "$synset" >"$tmp/short.txt"
expect_error "synset with the wrong line count" "short.txt" "$sample" "$tmp/r18" 0 "$photo" --synset "$tmp/short.txt"
expect_error "missing model" "nomodel" "$sample" "$tmp/nomodel" 0 "$photo"
expect_error "IS_GPU not 0 or 1" "IS_GPU" "$sample" "$tmp/r18" 2 "$photo"
expect_error "unknown option" "unknown option" "$sample" "$tmp/r18" 0 "$photo" --frobnicate 1
if ! nvidia-smi >/dev/null 2>&1; then
  expect_error "IS_GPU=1 without a GPU" "no GPU" "$sample" "$tmp/r18" 1 "$photo"
fi
exit $fail
