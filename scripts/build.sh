#!/usr/bin/env bash
# Configures and builds Convoy. BUILD_DIR (default ./build) and
# CONVOY_SANITIZE=ON (ASan+UBSan) select the build.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${BUILD_DIR:-build}"
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" \
  -DCONVOY_SANITIZE="${CONVOY_SANITIZE:-OFF}" >/dev/null
cmake --build "$build_dir" -j "$(nproc)"
