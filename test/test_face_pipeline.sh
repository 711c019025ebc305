#!/usr/bin/env bash
# The face pipeline sample end to end on bundled data (data/mtcnn, data/genderage):
# - grace_hopper.jpg (517x606): exactly one face, its box covering her face, which spans about
#   x 165..370, y 130..335 (IoU >= 0.5), its five landmarks inside the box in a face's order;
# - the results are identical with 1 and with 3 worker threads (two files);
# - where ../shared/models (or $TANDEM_MODELS) is present, the gender/age model on InsightFace's
#   aligned crop genderage/Tom_Hanks_54745.png says what MXNet computes: male, age 30;
# - bad input is a clear error with a non-zero exit.
#   test_face_pipeline.sh BUILD_DIR SOURCE_DIR
set -uo pipefail
build=$1 src=$2
. "$src/test/sample_checks.sh"  # $tmp, check, expect_error, OMP_NUM_THREADS=1
sample=$build/samples/face_pipeline
mtcnn=$src/data/mtcnn
genderage=$src/data/genderage/model
photo=$src/data/grace_hopper.jpg

"$sample" "$mtcnn" "$genderage" "$photo" --threads 1 >"$tmp/one.txt" 2>&1
check "grace_hopper.jpg runs" "[ $? -eq 0 ]"
cat "$tmp/one.txt"
python3 - "$tmp/one.txt" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
m = re.search(r"grace_hopper\.jpg: (\d+) faces? ", text)
if not m or m.group(1) != "1":
    sys.exit("FAILED: expected exactly one face")
x1, y1, x2, y2 = map(float, re.search(r"box \(([-0-9.]+), ([-0-9.]+)\)-\(([-0-9.]+), ([-0-9.]+)\)", text).groups())
ref = (165, 130, 370, 335)
iw = max(0.0, min(x2, ref[2]) - max(x1, ref[0])); ih = max(0.0, min(y2, ref[3]) - max(y1, ref[1]))
inter = iw * ih
iou = inter / ((x2 - x1) * (y2 - y1) + (ref[2] - ref[0]) * (ref[3] - ref[1]) - inter)
print(f"box ({x1}, {y1})-({x2}, {y2}) against ({ref[0]}, {ref[1]})-({ref[2]}, {ref[3]}): IoU {iou:.3f}")
if iou < 0.5:
    sys.exit("FAILED: IoU below 0.5")
pts = [tuple(map(float, p)) for p in re.findall(r"(?:eye|nose|left|right) \(([-0-9.]+), ([-0-9.]+)\)", text)]
if len(pts) != 5 or not all(x1 <= x <= x2 and y1 <= y <= y2 for x, y in pts):
    sys.exit(f"FAILED: five landmarks inside the box expected, got {pts}")
le, re_, nose, ml, mr = pts
if not (le[0] < re_[0] and ml[0] < mr[0] and max(le[1], re_[1]) < nose[1] < min(ml[1], mr[1])):
    sys.exit(f"FAILED: the landmarks are not in a face's order: {pts}")
if not re.search(r"(male|female) \(logits female [-0-9.]+, male [-0-9.]+\), age \d+", text):
    sys.exit("FAILED: no gender / age line")
PY
check "one face, box IoU >= 0.5 with her face, landmarks in order, gender and age" "[ $? -eq 0 ]"

# Two files in three threads (the third thread finds no work) = each alone.
"$sample" "$mtcnn" "$genderage" "$photo" "$src/data/dog.jpg" --threads 3 >"$tmp/three.txt" 2>&1
check "two images in three threads run" "[ $? -eq 0 ]"
faces() { grep -v ' image(s), ' "$1" | sed -E 's/ \([0-9.]+ ms\)$//'; }
"$sample" "$mtcnn" "$genderage" "$src/data/dog.jpg" --threads 1 >"$tmp/dog.txt" 2>&1
check "results identical with 1 and 3 threads" "cmp -s <(faces '$tmp/three.txt') <(cat <(faces '$tmp/one.txt') <(faces '$tmp/dog.txt'))"

models=${TANDEM_MODELS:-$src/../shared/models}
if [ -f "$models/genderage/Tom_Hanks_54745.png" ]; then
  "$sample" - "$genderage" "$models/genderage/Tom_Hanks_54745.png" --aligned >"$tmp/hanks.txt" 2>&1
  cat "$tmp/hanks.txt"
  check "Tom_Hanks_54745.png (aligned): male, age 30, as MXNet computes it" \
    "grep -q 'Tom_Hanks_54745.png: aligned face: male (logits female .*), age 30$' '$tmp/hanks.txt'"
else
  echo "note: $models/genderage/Tom_Hanks_54745.png absent: the gender/age check on it is skipped"
fi

expect_error "missing MTCNN models" "nomtcnn/det1" "$sample" "$tmp/nomtcnn" "$genderage" "$photo"
expect_error "missing image" "nope.jpg" "$sample" "$mtcnn" "$genderage" "$tmp/nope.jpg"
printf 'not an image' >"$tmp/bad.png"
expect_error "unreadable image" "bad.png" "$sample" "$mtcnn" "$genderage" "$tmp/bad.png"
expect_error "bad thresholds" "thresholds" "$sample" "$mtcnn" "$genderage" "$photo" --thresholds 0.6,2,0.8
expect_error "unknown option" "unknown option" "$sample" "$mtcnn" "$genderage" "$photo" --frobnicate
if ! nvidia-smi >/dev/null 2>&1; then
  expect_error "--gpu without a GPU" "no GPU" "$sample" "$mtcnn" "$genderage" "$photo" --gpu
fi
exit $fail
