#!/usr/bin/env bash
# Installs every Debian package printrelay needs to build, test, demo and benchmark.
# Idempotent: does nothing (and needs no network) when everything is already there.
set -euo pipefail

PACKAGES=(
  cmake ninja-build g++ pkg-config git clang-format clang-tidy ccache clang libclang-rt-14-dev sslscan
  libboost1.74-dev libssl-dev libsqlite3-dev sqlite3 libcurl4-openssl-dev curl
  nlohmann-json3-dev libcli11-dev libgtest-dev libgmock-dev
  python3 openssl ca-certificates procps iproute2 nftables
  tinyproxy wrk nginx-light
  postgresql libpq-dev
  python3-aiosmtpd chromium nodejs
)

# The browser test's npm packages (tests/browser/package-lock.json: playwright-core and axe-core, pinned).
# Skipped when node_modules already holds the pinned version; npm comes with Node.js builds that
# bundle it, else from Debian's npm package.
browser_test_deps() {
  local dir want have axe_want axe_have
  dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/browser"
  want=$(sed -n 's/.*"playwright-core": *"\([^"]*\)".*/\1/p' "$dir/package.json" | head -n 1)
  have=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$dir/node_modules/playwright-core/package.json" \
    2>/dev/null | head -n 1 || true)
  axe_want=$(sed -n 's/.*"axe-core": *"\([^"]*\)".*/\1/p' "$dir/package.json" | head -n 1)
  axe_have=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$dir/node_modules/axe-core/package.json" \
    2>/dev/null | head -n 1 || true)
  if [ -n "$want" ] && [ "$have" = "$want" ] && [ "$axe_have" = "$axe_want" ]; then
    echo "install-deps: playwright-core $have and axe-core $axe_have present in tests/browser"
    return 0
  fi
  if ! command -v npm >/dev/null; then
    $([ "$(id -u)" -ne 0 ] && echo sudo) apt-get install -y -qq --no-install-recommends npm
  fi
  echo "install-deps: npm ci in tests/browser (playwright-core $want, axe-core $axe_want)"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
}

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  browser_test_deps
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
# The packaged services must not hold the ports our tests and benchmarks use.
for svc in tinyproxy nginx; do
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
    $SUDO systemctl stop "$svc" || true
    $SUDO systemctl disable "$svc" >/dev/null 2>&1 || true
  fi
done
pkill -x tinyproxy 2>/dev/null || true
browser_test_deps
echo "install-deps: done"
