#!/usr/bin/env bash
# The image-classification sample, end to end on bundled data:
# - the bundled EfficientNet-Lite0 (real ImageNet weights, its preprocessing read from
#   efficientnet-lite0-preprocess.json) gives MXNet's reference top-5 (reference_top5.txt): the same
#   top-1 wherever the reference's top-1/top-2 margin exceeds 0.1, and every reference top-5
#   probability within 0.03 (measured: at most 0.011, which is the JPEG decoder: stb_image against
#   the reference's libjpeg-turbo; the resize adds at most 0.005, tandem's kernels 1e-6; docs/samples.md);
#   the per-image results are identical with 1 and with 4 threads;
# - with N files (one thread each, one shared CachedOp) every file gets exactly the result it gets
#   when run alone (a synthetic tandem-zoo ResNet-18);
# - bad input (missing image, unreadable image, wrong synset, bad preprocessing file, GPU without a
#   GPU, bad options) is a clear error with a non-zero exit, never a crash.
#   test_samples.sh BUILD_DIR SOURCE_DIR
set -uo pipefail
build=$1 src=$2
. "$src/test/sample_checks.sh"  # $tmp, check, expect_error, OMP_NUM_THREADS=1
sample=$build/samples/multi_threaded_inference
# MXNet's model-zoo name for the pre-activation ResNet-18 (tandem's resnet18-v2); tandem-zoo writes
# the input rule of MXNet's trained checkpoints next to it, which the sample then reads.
"$build/tools/tandem-zoo" resnet-18 "$tmp/r18" >"$tmp/zoo.txt" || { cat "$tmp/zoo.txt"; echo "tandem-zoo failed"; exit 1; }
check "tandem-zoo takes MXNet's name resnet-18 and writes its preprocessing file" \
  "grep -q 'resnet-18, 1000 classes' '$tmp/zoo.txt' && [ -f '$tmp/r18-preprocess.json' ]"
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
check "the zoo model's preprocessing file is read" \
  "grep -q 'Preprocessing (.*r18-preprocess.json): resize to 224x224 (triangle), RGB, (v - 0) / 1, NCHW' '$tmp/all.txt'"

# ---- EfficientNet-Lite0, bundled, against MXNet's reference top-5 ----
eff=$src/data/efficientnet-lite0/efficientnet-lite0
images=("$src/data/grace_hopper.jpg" "$src/data/dog.jpg" "$src/data/hammerheadshark.jpg" "$src/data/elephant-299.jpg")
models=${TANDEM_MODELS:-$src/../shared/models}
if [ -f "$models/images/cat.jpg" ]; then
  images+=("$models/images/cat.jpg")  # not bundled (its licence is unknown)
else
  echo "note: $models/images/cat.jpg absent: cat.jpg not checked"
fi
"$sample" "$eff" 0 "${images[@]}" --synset "$synset" --topk 10 --threads 1 >"$tmp/eff1.txt" 2>&1
check "EfficientNet-Lite0, 1 thread, runs" "[ $? -eq 0 ]"
"$sample" "$eff" 0 "${images[@]}" --synset "$synset" --topk 10 --threads 4 >"$tmp/eff4.txt" 2>&1
check "EfficientNet-Lite0, 4 threads, runs" "[ $? -eq 0 ]"
check "EfficientNet-Lite0 reads its preprocessing file" \
  "grep -q 'Preprocessing (.*efficientnet-lite0-preprocess.json): shorter side -> 224 (triangle), centre crop 224x224, RGB, (v - 127) / 128, NCHW' '$tmp/eff1.txt'"
check "per-image results identical with 1 and 4 threads" \
  "cmp -s <(results '$tmp/eff1.txt') <(results '$tmp/eff4.txt') && [ \$(results '$tmp/eff1.txt' | wc -l) -eq $(( ${#images[@]} * 11 ))  ]"
python3 - "$tmp/eff1.txt" "$src/data/efficientnet-lite0/reference_top5.txt" <<'PY' >"$tmp/eff-check.txt" 2>&1
import os, re, sys
out, ref_path = sys.argv[1], sys.argv[2]
TOL = 0.03  # see the header of this script
# Our results: "  k. label (id=I, p=P)" lines, then "  thread T (FILE): ..." closes the block.
ours, block = {}, {}
for line in open(out):
    m = re.match(r"  \d+\. .* \(id=(\d+), p=([0-9.e+-]+)\)$", line)
    if m:
        block[int(m.group(1))] = float(m.group(2))
        continue
    m = re.match(r"  thread \d+ \((.*)\): ", line)
    if m:
        ours[os.path.basename(m.group(1))], block = block, {}
# The reference: the MAIN section's blocks "NAME (max|dprob| ..., top1-top2 margin M)" + 5 rows.
ref, margin, name = {}, {}, None
section = None
for line in open(ref_path):
    if line.startswith("## "):
        section = "main" if line.startswith("## MAIN") else "other"
        continue
    if section != "main":
        continue
    m = re.match(r"(\S+\.(?:jpg|png))\s+\(.*margin ([0-9.]+)\)", line)
    if m:
        name = m.group(1)
        ref[name], margin[name] = [], float(m.group(2))
        continue
    m = re.match(r"\s+(\d)\s+(\d+)\s+([0-9.]+)\s+([0-9.]+)\s+(.*)$", line)
    if m and name:
        ref[name].append((int(m.group(2)), float(m.group(3)), m.group(5)))
bad = 0
for name, probs in ours.items():
    if name not in ref:
        print(f"FAILED: {name} is not in the reference"); bad = 1; continue
    top1 = max(probs, key=probs.get)
    want = ref[name][0][0]
    worst = max(abs(probs.get(i, 0.0) - p) for i, p, _ in ref[name])
    same = top1 == want
    print(f"{name}: top-1 {top1} (reference {want} '{ref[name][0][2]}', margin {margin[name]:.3f}), "
          f"max |p - p_ref| over the reference top-5 {worst:.4f}")
    if margin[name] > 0.1 and not same:
        print(f"FAILED: {name}: top-1 {top1}, reference {want}"); bad = 1
    if worst > TOL:
        print(f"FAILED: {name}: a probability is {worst:.4f} off (tolerance {TOL})"); bad = 1
checked = [n for n in ours if margin.get(n, 0) > 0.1]
if len(checked) < 3:
    print(f"FAILED: only {len(checked)} images with a clear top-1 were checked"); bad = 1
sys.exit(bad)
PY
check "EfficientNet-Lite0 matches MXNet's reference top-5" "[ $? -eq 0 ]"
cat "$tmp/eff-check.txt"
check "grace_hopper.jpg: military uniform" "grep -q '^Best Result: military uniform (id=652' '$tmp/eff1.txt'"
check "dog.jpg: pug" "grep -q '^Best Result: pug, pug-dog (id=254' '$tmp/eff1.txt'"
"$sample" "$tmp/r18" 0 "$photo" --no-preprocess-file --topk 1 >"$tmp/raw.txt" 2>&1
check "--no-preprocess-file falls back to the built-in rule" \
  "grep -q 'Preprocessing (built-in defaults): resize to 224x224 (triangle), RGB, (v - 0) / 1, NCHW' '$tmp/raw.txt'"
"$sample" --help >"$tmp/help.txt" 2>&1
check "--help exits 0 and describes the preprocessing flags" \
  "[ $? -eq 0 ] && grep -q -- '--resize-shorter' '$tmp/help.txt' && grep -q -- '--channel-order' '$tmp/help.txt' && grep -q 'preprocess.json' '$tmp/help.txt'"

expect_error "missing image" "nope.jpg" "$sample" "$tmp/r18" 0 "$tmp/nope.jpg"
printf 'not an image' >"$tmp/bad.png"
expect_error "unreadable image" "bad.png" "$sample" "$tmp/r18" 0 "$tmp/bad.png"
head -n 10 "$synset" >"$tmp/short.txt"
expect_error "synset with the wrong line count" "short.txt" "$sample" "$tmp/r18" 0 "$photo" --synset "$tmp/short.txt"
expect_error "missing model" "nomodel" "$sample" "$tmp/nomodel" 0 "$photo"
expect_error "IS_GPU not 0 or 1" "IS_GPU" "$sample" "$tmp/r18" 2 "$photo"
expect_error "unknown option" "unknown option" "$sample" "$tmp/r18" 0 "$photo" --frobnicate 1
printf '{"resize": {"shorter_side": 224}, "mean": [1, 2, 3], "stdev": [1, 1, 1]}' >"$tmp/typo.json"
expect_error "preprocessing file with an unknown key" "typo.json: unknown key .stdev." \
  "$sample" "$tmp/r18" 0 "$photo" --preprocess "$tmp/typo.json"
printf '{"crop": {"width": 224}}' >"$tmp/badcrop.json"
expect_error "preprocessing file with a bad crop" "badcrop.json: .crop. must be" \
  "$sample" "$tmp/r18" 0 "$photo" --preprocess "$tmp/badcrop.json"
expect_error "missing preprocessing file" "nope.json" "$sample" "$tmp/r18" 0 "$photo" --preprocess "$tmp/nope.json"
expect_error "bad --channel-order" "channel-order" "$sample" "$tmp/r18" 0 "$photo" --channel-order RBG
if ! nvidia-smi >/dev/null 2>&1; then
  expect_error "IS_GPU=1 without a GPU" "no GPU" "$sample" "$tmp/r18" 1 "$photo"
fi
exit $fail
