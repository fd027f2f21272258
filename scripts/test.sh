#!/usr/bin/env bash
# README command 2: install, build and run the whole test suite.
# CONVOY_SANITIZE=ON runs it under ASan+UBSan in build-asan/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --tests
if [[ "${CONVOY_SANITIZE:-OFF}" == "ON" ]]; then
  export BUILD_DIR="${BUILD_DIR:-build-asan}"
  # A small quarantine: the default 256 MB of freed memory held back would
  # show up in the tests that bound the node's memory.
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:quarantine_size_mb=8"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
fi
scripts/build.sh
cd "${BUILD_DIR:-build}"
ctest --output-on-failure -j 2 --timeout 600
