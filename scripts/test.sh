#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, runs the whole suite, then runs it
# once more under AddressSanitizer + UBSan. Exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
started=$(date +%s)

scripts/build.sh
scripts/lint.sh
echo "== tests (release build) =="
ctest --test-dir build --output-on-failure --timeout 600 -j 2

if [ "${PRINTRELAY_SKIP_SANITIZE:-0}" != "1" ]; then
  scripts/build.sh --sanitize
  echo "== tests (AddressSanitizer + UBSan) =="
  # The crash test's 50 trials run in the release pass; under the sanitizers a few rounds show
  # the same paths are clean.
  PRINTRELAY_CRASH_ROUNDS=2 PRINTRELAY_UPDATE_BUILD="$PWD/build/apps/relayd/relayd" \
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure --timeout 900 -j 2
else
  echo "== sanitizer run skipped: PRINTRELAY_SKIP_SANITIZE=1 =="
fi
# The parsers that read outside input, fuzzed for a bounded time from tests/fuzz/corpus
# (docs/fuzzing.md); a crash fails the run and leaves its reproducer in build-fuzz/run/.
echo "== fuzzing (libFuzzer, ${PRINTRELAY_FUZZ_SECONDS:-30} s per target) =="
scripts/fuzz.sh "${PRINTRELAY_FUZZ_SECONDS:-30}"
echo "test: all passed in $(( $(date +%s) - started )) s"
