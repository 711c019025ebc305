#!/usr/bin/env bash
# Installs, from Debian's packages, whatever tandem's build and tests need that is missing.
set -euo pipefail
packages=(meson ninja-build pkg-config g++ cmake libdnnl-dev libeigen3-dev libstb-dev catch2
          nlohmann-json3-dev zlib1g-dev
          libprotobuf-dev protobuf-compiler libonnx-dev  # ONNX import (-Donnx=auto)
          libcpp-httplib-dev libgrpc++-dev protobuf-compiler-grpc python3-venv)  # tandem-serve + its test
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# tandem-serve's test drives the server with tritonclient (PyPI only): a git-ignored venv holds it.
# Without network the test skips; nothing else needs it.
venv="$(cd "$(dirname "$0")/.." && pwd)/.venv-serve"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import tritonclient.http, tritonclient.grpc, numpy" 2>/dev/null; then
  echo "deps: making $venv with tritonclient[http,grpc] and numpy (for the serve test)"
  { python3 -m venv "$venv" && "$venv/bin/pip" install -q --timeout 30 --retries 2 'tritonclient[http,grpc]' numpy; } ||
    echo "deps: could not make $venv (no network?); the serve test will skip"
fi
