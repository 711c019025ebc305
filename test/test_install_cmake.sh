#!/usr/bin/env bash
# Installs the build into a temporary root and builds test/consumer (main.cpp) against it as a
# CMake project: find_package(tandem CONFIG REQUIRED) + target_link_libraries(... tandem::tandem),
# then runs it. Needs no network.  Usage: test_install_cmake.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 src=$2
command -v cmake >/dev/null || { echo "cmake not found (apt install cmake): skipped"; exit 77; }
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
meson install -C "$build" --destdir "$root" --no-rebuild --quiet >/dev/null
config=$(find "$root" -name tandemConfig.cmake | head -n1)
[ -n "$config" ] || { echo "tandemConfig.cmake was not installed"; exit 1; }
prefix=$(meson introspect "$build" --buildoptions | python3 -c \
  'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"))')
cp "$src/test/consumer/CMakeLists.txt" "$src/test/consumer/main.cpp" "$root/"
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S "$root" -B "$root/build" "${generator[@]}" -DCMAKE_PREFIX_PATH="$root$prefix" \
  -DCMAKE_BUILD_TYPE=Release >"$root/configure.log" 2>&1 || { cat "$root/configure.log"; exit 1; }
cmake --build "$root/build" >"$root/build.log" 2>&1 || { cat "$root/build.log"; exit 1; }
echo "cmake: found $(grep -m1 'tandem_DIR' "$root/build/CMakeCache.txt" | cut -d= -f2-)"
libdir=$(dirname "$(find "$root" -name 'libtandem.so*' | head -n1)")
LD_LIBRARY_PATH="$libdir" "$root/build/consumer"
