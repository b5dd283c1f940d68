#!/usr/bin/env bash
# The style and lint gate of the test command: clang-format on every C++ file (no diff allowed),
# then clang-tidy with the checks in .clang-tidy over src/ and apps/ (build/compile_commands.json
# must exist: scripts/build.sh makes it). Exits non-zero, naming the files, on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== clang-format =="
git ls-files '*.cpp' '*.h' | xargs clang-format --dry-run -Werror
echo "== clang-tidy ($(git ls-files 'src/*.cpp' 'apps/*.cpp' | wc -l) files) =="
# clang 14 reads the GCC build's flags: it does not know GCC's own warning options, and it needs
# to be told that the standard library's coroutines are there for Boost.Asio's awaitables.
git ls-files 'src/*.cpp' 'apps/*.cpp' |
  xargs -P "$(nproc)" -n 8 clang-tidy -p build --quiet \
    --extra-arg=-Wno-unknown-warning-option \
    --extra-arg=-DBOOST_ASIO_HAS_CO_AWAIT=1 --extra-arg=-DBOOST_ASIO_HAS_STD_COROUTINE=1
echo "lint: clean"
