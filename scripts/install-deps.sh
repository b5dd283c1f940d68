#!/usr/bin/env bash
# Installs every Debian package printrelay needs to build, test, demo and benchmark.
# Idempotent: does nothing (and needs no network) when everything is already there.
set -euo pipefail

PACKAGES=(
  cmake ninja-build g++ pkg-config git clang-format
  libboost1.74-dev libssl-dev libsqlite3-dev sqlite3 libcurl4-openssl-dev curl
  nlohmann-json3-dev libcli11-dev libgtest-dev libgmock-dev
  python3 openssl ca-certificates procps iproute2 nftables
  tinyproxy wrk nginx-light
  postgresql libpq-dev
  python3-aiosmtpd chromium nodejs
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
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
echo "install-deps: done"
