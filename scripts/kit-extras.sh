#!/usr/bin/env bash
# Adds to a device kit made by ../shared/device/make-kit.sh the Debian packages that optional parts
# of tandem need on the GPU machine: cpp-httplib for tandem-serve (Debian's build is a shared
# library whose pkg-config file names openssl, zlib and brotli). Run here, after make-kit.sh:
#   bash ../shared/device/make-kit.sh .kit && bash scripts/kit-extras.sh .kit
set -euo pipefail
kit=${1:?usage: scripts/kit-extras.sh KIT_DIR}
[ -d "$kit/debs" ] || { echo "kit-extras: $kit/debs missing: run make-kit.sh first" >&2; exit 1; }
extras=(libcpp-httplib-dev libcpp-httplib0.11 libssl-dev libssl3 libbrotli-dev libbrotli1)
( cd "$kit/debs" && apt-get download "${extras[@]}" )
( cd "$kit/debs" && for d in *.deb; do dpkg-deb -W --showformat='${Package} ${Version}\n' "$d"; done ) > "$kit/MANIFEST.txt"
( cd "$kit/debs" && sha256sum *.deb ) > "$kit/SHA256SUMS"
echo "kit-extras: added ${extras[*]} to $kit"
