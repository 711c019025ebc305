#!/usr/bin/env bash
# One command: install what is missing, build, and run the bundled samples on bundled data.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
[ -f build/build.ninja ] || meson setup build --buildtype=release >/dev/null
ninja -C build samples/multi_threaded_inference samples/face_pipeline tools/tandem-zoo

echo
echo "== EfficientNet-Lite0 (Google's ImageNet weights, bundled): one thread per image, one shared CachedOp;"
echo "   its preprocessing comes from data/efficientnet-lite0/efficientnet-lite0-preprocess.json"
build/samples/multi_threaded_inference data/efficientnet-lite0/efficientnet-lite0 0 \
  data/grace_hopper.jpg data/dog.jpg data/hammerheadshark.jpg --synset data/synset.txt --topk 3

echo
echo "== Faces first: MTCNN finds each face and its landmarks, the face is aligned, InsightFace's"
echo "   gender/age model judges it (four models, each one CachedOp shared by the worker threads)"
build/samples/face_pipeline data/mtcnn data/genderage/model data/grace_hopper.jpg data/dog.jpg

echo
echo "== tandem's model zoo: MXNet's resnet-18 architecture with SYNTHETIC weights (labels are meaningless)"
build/tools/tandem-zoo resnet-18 build/resnet-18
build/samples/multi_threaded_inference build/resnet-18 0 data/grace_hopper.jpg data/dog.jpg \
  --synset data/synset.txt --topk 3
