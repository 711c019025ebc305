#!/usr/bin/env bash
# Installs, from Debian's packages, whatever tandem's build and tests need that is missing.
set -euo pipefail
packages=(meson ninja-build pkg-config g++ cmake libdnnl-dev libeigen3-dev libstb-dev catch2
          nlohmann-json3-dev zlib1g-dev
          libprotobuf-dev protobuf-compiler libonnx-dev)  # ONNX import (-Donnx=auto)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
