#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/fuzz_*.cpp) with clang, AddressSanitizer and UBSan into
# build-fuzz/, then runs each for a bounded time on a copy of its seed corpus (docs/fuzzing.md).
#
#   scripts/fuzz.sh [SECONDS]          run each target SECONDS (default 30); exit 1 if one fails
#   scripts/fuzz.sh --merge [SECONDS]  the same, then merge the inputs that reached new code into
#                                      tests/fuzz/corpus/ (for developers; CI never writes there)
#   scripts/fuzz.sh --build            build only
#
# Prints one line per target (executions, result). A failing target leaves its reproducer and log
# in build-fuzz/run/TARGET/ and the script prints both. FUZZ_JOBS: targets run at once (default:
# the number of cores).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=build-fuzz

TARGETS=(body sync envelope manifest range)
# What the parsers need from src/core; each target links all of it.
CORE=(artifact byte_range codec firmware_job firmware_rules job_flow json_fields json_text result rule_text sha256 time)

build() {
  local cxx=clang++
  if command -v ccache >/dev/null; then
    cxx="ccache clang++"
    export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/ccache}" CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-5G}"
  fi
  mkdir -p "$out"
  {
    echo "cxx = $cxx"
    echo "cxxflags = -std=c++20 -O1 -g -fno-omit-frame-pointer -D_GLIBCXX_ASSERTIONS" \
      "-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all" \
      "-I$root/src -I$root/tests/fuzz"
    echo "ldflags = -fsanitize=fuzzer,address,undefined"
    echo "rule cxx"
    echo "  command = \$cxx \$cxxflags -MMD -MF \$out.d -c \$in -o \$out"
    echo "  depfile = \$out.d"
    echo "  deps = gcc"
    echo "  description = CXX \$out"
    echo "rule link"
    echo "  command = clang++ \$ldflags \$extra \$in -o \$out"
    echo "  description = LINK \$out"
    local objs=()
    for f in "${CORE[@]}"; do
      echo "build obj/core/$f.o: cxx $root/src/core/$f.cpp"
      objs+=("obj/core/$f.o")
    done
    echo "build obj/relay/child_relays.o: cxx $root/src/relay/child_relays.cpp"
    for t in "${TARGETS[@]}"; do
      echo "build obj/fuzz_$t.o: cxx $root/tests/fuzz/fuzz_$t.cpp"
      if [ "$t" = sync ]; then
        # parse_sync_request lives in child_relays.cpp beside ChildRelays, whose members call
        # Relay (the store, the event feed). The target never calls them, so their Relay symbols
        # are left unresolved rather than linking the whole relay; a non-PIE binary loads with
        # them (a PIE's dynamic loader refuses unresolved PLT entries).
        echo "build fuzz_$t: link obj/fuzz_$t.o ${objs[*]} obj/relay/child_relays.o"
        echo "  extra = -no-pie -Wl,--unresolved-symbols=ignore-in-object-files"
      else
        echo "build fuzz_$t: link obj/fuzz_$t.o ${objs[*]}"
      fi
    done
  } >"$out/build.ninja"
  ninja -C "$out" -j "$(nproc)" --quiet
}

# Runs target $1 for $2 seconds in build-fuzz/run/$1 on a copy of its corpus; writes rc there.
run_one() {
  local t=$1 seconds=$2 dir="$out/run/$1" rc=0
  rm -rf "$dir"
  mkdir -p "$dir/corpus"
  cp -R "tests/fuzz/corpus/$t/." "$dir/corpus/"
  local dict=()
  if [ -f "tests/fuzz/$t.dict" ]; then dict=("-dict=tests/fuzz/$t.dict"); fi
  nice -n 10 "$out/fuzz_$t" "$dir/corpus" "${dict[@]}" -max_total_time="$seconds" \
    -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 -artifact_prefix="$dir/" \
    >"$dir/log" 2>&1 || rc=$?
  echo "$rc" >"$dir/rc"
}

report_one() {
  local t=$1 dir="$out/run/$1" rc execs inputs
  rc=$(cat "$dir/rc")
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -n 1)
  if [ -z "$execs" ]; then execs=$(grep -o '^#[0-9]*' "$dir/log" | tail -n 1 | tr -d '#'); fi
  inputs=$(find "$dir/corpus" -type f | wc -l)
  if [ "$rc" = 0 ]; then
    printf 'fuzz: %-8s %10s runs, corpus %5s inputs: ok\n' "$t" "${execs:-?}" "$inputs"
    return 0
  fi
  local reproducer
  reproducer=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$dir/log" | tail -n 1)
  printf 'fuzz: %-8s %10s runs: FAILED (exit %s), reproducer %s, log %s\n' "$t" "${execs:-?}" \
    "$rc" "${reproducer:-none}" "$dir/log"
  # The sanitizer's or the invariant's report and the stack, without the progress lines.
  grep -v -E '^#[0-9]+|NEW_FUNC' "$dir/log" | tail -n 60 | sed 's/^/    /'
  return 1
}

merge=0
case "${1:-}" in
  --build)
    build
    exit 0
    ;;
  --merge)
    merge=1
    shift
    ;;
esac
seconds=${1:-30}
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
  echo "usage: scripts/fuzz.sh [--merge] [SECONDS] | --build" >&2
  exit 2
fi

started=$(date +%s)
# Shared machines: one build at a time.
flock /tmp/printrelay-build.lock "$0" --build

jobs_max=${FUZZ_JOBS:-$(nproc)}
for t in "${TARGETS[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do wait -n || true; done
  run_one "$t" "$seconds" &
done
wait

failed=0
for t in "${TARGETS[@]}"; do report_one "$t" || failed=1; done

if [ "$merge" = 1 ]; then
  for t in "${TARGETS[@]}"; do
    before=$(find "tests/fuzz/corpus/$t" -type f | wc -l)
    nice -n 10 "$out/fuzz_$t" -merge=1 "tests/fuzz/corpus/$t" "$out/run/$t/corpus" \
      >>"$out/run/$t/log" 2>&1 || failed=1
    after=$(find "tests/fuzz/corpus/$t" -type f | wc -l)
    echo "fuzz: $t merged $((after - before)) new inputs into tests/fuzz/corpus/$t"
  done
fi

echo "fuzz: ${#TARGETS[@]} targets, ${seconds}s each, in $(($(date +%s) - started))s:" \
  "$([ "$failed" = 0 ] && echo "all clean" || echo "FAILED")"
exit "$failed"
