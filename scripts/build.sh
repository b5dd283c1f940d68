#!/usr/bin/env bash
# Configures and builds printrelay. Usage: scripts/build.sh [--sanitize] (ASan+UBSan into build-asan/).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=build
extra=()
if [ "${1:-}" = "--sanitize" ]; then
  dir=build-asan
  extra=(-DPRINTRELAY_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug)
fi
# ccache keeps the second pass and later builds cheap (CI builds twice on 2 cores).
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/ccache}" CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-5G}"
fi
cmake -S . -B "$dir" -G Ninja "${launcher[@]}" "${extra[@]}" >/dev/null
cmake --build "$dir" -j "$(nproc)"
echo "build: binaries in $dir/apps/{relayd,mfp-sim,relayctl}"
