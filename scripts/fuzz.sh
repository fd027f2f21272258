#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/*_fuzz.cpp) with clang++ into
# build-fuzz/ and runs each one for the given number of seconds (default 60).
#
#   scripts/fuzz.sh [seconds]
#
# Seeds come from tests/fuzz/corpus/<name>/ (target <name>_fuzz) and are only
# read; inputs the fuzzer finds accumulate in build-fuzz/corpus/<name>/.
# Crashes, leaks, timeouts and OOMs are copied into tests/fuzz/findings/
# (ignored by git): fix the codec, then add the input to the seed corpus so
# tests/unit/fuzz_corpus_test.cpp replays it in every build.
# BUILD_DIR overrides build-fuzz; FUZZ_ARGS adds libFuzzer flags.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
build_dir="${BUILD_DIR:-build-fuzz}"

# -Werror stays with the GCC build; a warning only clang 14 raises must not
# keep the fuzzers from running.
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_CXX_COMPILER="${FUZZ_CXX:-clang++}" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCONVOY_FUZZ=ON -DCONVOY_WERROR=OFF >/dev/null

targets=()
for source in tests/fuzz/*_fuzz.cpp; do targets+=("$(basename "$source" .cpp)"); done
cmake --build "$build_dir" --target "${targets[@]}" -j "${JOBS:-2}"

export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
mkdir -p tests/fuzz/findings
failed=0
for target in "${targets[@]}"; do
  name="${target%_fuzz}"
  work="$build_dir/corpus/$name"
  artifacts="$build_dir/artifacts/$name"
  log="$build_dir/$target.log"
  mkdir -p "$work" "$artifacts" "tests/fuzz/corpus/$name"
  echo "== $target: ${seconds}s, log in $log"
  status=0
  # shellcheck disable=SC2086  # FUZZ_ARGS is a list of flags
  "$build_dir/tests/fuzz/$target" -max_total_time="$seconds" -print_final_stats=1 \
    -artifact_prefix="$artifacts/" ${FUZZ_ARGS:-} "$work" "tests/fuzz/corpus/$name" \
    >"$log" 2>&1 || status=$?
  grep -E '^#[0-9]+[[:space:]]+INITED|^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)|^Done ' "$log" || true
  grep -E 'cov: ' "$log" | tail -n 1 || true
  for artifact in "$artifacts"/crash-* "$artifacts"/leak-* "$artifacts"/timeout-* "$artifacts"/oom-*; do
    [[ -e "$artifact" ]] || continue
    cp -n "$artifact" "tests/fuzz/findings/$name-$(basename "$artifact")"
    echo "   finding: tests/fuzz/findings/$name-$(basename "$artifact")"
  done
  if [[ $status -ne 0 ]]; then
    echo "   $target exited with $status; tail of the log:"
    tail -n 30 "$log"
    failed=1
  fi
done
exit $failed
