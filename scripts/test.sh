#!/usr/bin/env bash
# One command: install what is missing, build, and run the whole test suite.
# Tests that need ../shared/models skip with a message when it is absent (or set TANDEM_MODELS).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
[ -f build/build.ninja ] || meson setup build --buildtype=release >/dev/null
ninja -C build
# Two test programs run at once on a small machine: one OpenMP thread each, since an OpenMP team
# whose threads must share a core with another process spins at its barriers (10-100x slower).
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} meson test -C build --print-errorlogs --num-processes 2 "$@"
