#!/usr/bin/env bash
# Installs the build into a temporary root and builds test/consumer/main.cpp against it with
# nothing but pkg-config, then runs it.  Usage: test_install.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 src=$2
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
meson install -C "$build" --destdir "$root" --no-rebuild --quiet >/dev/null
prefix=$(meson introspect "$build" --buildoptions | python3 -c \
  'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"))')
pcfile=$(find "$root" -name tandem.pc | head -n1)
[ -n "$pcfile" ] || { echo "tandem.pc was not installed"; exit 1; }
export PKG_CONFIG_PATH=$(dirname "$pcfile")
flags=$(pkg-config --define-variable=prefix="$root$prefix" --cflags --libs tandem)
c++ -std=c++20 "$src/test/consumer/main.cpp" $flags -o "$root/consumer"
libdir=$(dirname "$(find "$root" -name 'libtandem.so*' | head -n1)")
LD_LIBRARY_PATH="$libdir" "$root/consumer"
