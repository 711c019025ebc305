#!/usr/bin/env bash
# One command: install what is missing, build, and run the bundled samples on bundled data.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
[ -f build/build.ninja ] || meson setup build --buildtype=release >/dev/null
ninja -C build samples/multi_threaded_inference samples/genderage_demo tools/tandem-zoo

echo "== InsightFace gender/age model (MIT, bundled) on a public-domain photo, one thread per image"
build/samples/genderage_demo data/genderage/model data/grace_hopper.jpg data/grace_hopper.jpg

echo "== ResNet-18 v2 built by tandem's model zoo (SYNTHETIC weights: labels are meaningless)"
build/tools/tandem-zoo resnet18-v2 build/resnet18-v2
build/samples/multi_threaded_inference build/resnet18-v2 0 data/grace_hopper.jpg data/grace_hopper.jpg \
  --synset data/synset.txt --topk 3
