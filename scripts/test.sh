#!/usr/bin/env bash
# One command: install what is missing, build, and run the whole test suite.
# Tests that need ../shared/models skip with a message when it is absent (or set TANDEM_MODELS).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
[ -f build/build.ninja ] || meson setup build --buildtype=release >/dev/null
ninja -C build
meson test -C build --print-errorlogs --num-processes 2 "$@"
