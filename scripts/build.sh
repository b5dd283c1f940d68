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
cmake -S . -B "$dir" -G Ninja "${extra[@]}" >/dev/null
cmake --build "$dir" -j "$(nproc)"
echo "build: binaries in $dir/apps/{relayd,mfp-sim,relayctl}"
