#!/usr/bin/env bash
# Relay tree and PostgreSQL scale-out benchmark. Everything runs on loopback, over TLS, in a temp
# directory:
#
# 1. Job delivery latency: a raw device client long-polls (POST /v1/device/poll, wait_s 20) its
#    relay; a collect job is POSTed at the root; one sample is the time from just before the POST
#    is sent until the long-poll answers with the job. Paths: 0 hops (device on the root), 1 hop
#    (root > child), 2 hops (root > child > grandchild), and across two root nodes sharing one
#    PostgreSQL database (job posted on node B, device long-polling node A: LISTEN/NOTIFY).
#    Devices are registered at the root (node A for the last path) and enrol where they poll.
#    After each job the device posts acquired/started/succeeded, and the next job waits until the
#    job shows succeeded at the root and every relay on the path holds its long-polls again.
# 2. Throughput of ONE root node vs TWO root nodes on one PostgreSQL database: idle device polls
#    (wait_s 0) and report uploads (one new counters report per request), with wrk. One node:
#    wrk -t2 -cC against node A. Two nodes: wrk -t1 -c(C/2) against A and the same against B at
#    once (same wrk threads and connections in total), their rates summed. Both nodes run in both
#    cases; in the one-node case B sits idle.
#
# Usage: bench/tree_bench.sh        (about 2-3 minutes; the release binaries must be built)
# Environment:
#   JOBS (30)            measured jobs per delivery path (after 2 warm-up jobs)
#   DURATION (10)        seconds per measured wrk run (each preceded by a 2 s warm-up)
#   CONNECTIONS (64)     wrk keep-alive connections in total    DEVICES (100) enrolled devices
#   SERVER_THREADS (2)   relayd --threads of each node
#   TIME_LIMIT (420)     the whole run is killed (exit 124) after this many seconds
#   PRINTRELAY_BIN (build/apps)    KEEP (0) 1 = keep the temp dir for inspection
# The load generator, every relayd and PostgreSQL share the machine's cores.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."

TIME_LIMIT=${TIME_LIMIT:-420}
# Bound the whole run: timeout(1) signals this script's process group (relays, postgres, wrk too).
if [ -z "${TREE_BENCH_TIMED:-}" ]; then
  export TREE_BENCH_TIMED=1
  exec timeout -k 30 "$TIME_LIMIT" "$0" "$@"
fi

JOBS=${JOBS:-30}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
DEVICES=${DEVICES:-100}
SERVER_THREADS=${SERVER_THREADS:-2}
KEEP=${KEEP:-0}
BIN=${PRINTRELAY_BIN:-$PWD/build/apps}
RELAYD=$BIN/relayd/relayd
RELAYCTL=$BIN/relayctl/relayctl
HERE=$PWD/bench

for tool in wrk curl python3 setpriv; do
  command -v "$tool" >/dev/null || { echo "tree_bench: $tool is not installed"; exit 1; }
done
for b in "$RELAYD" "$RELAYCTL"; do
  [ -x "$b" ] || { echo "tree_bench: $b not found; build first (scripts/build.sh)"; exit 1; }
done
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/postgres" ]; then
  echo "tree_bench: no PostgreSQL server under /usr/lib/postgresql (scripts/install-deps.sh)"
  exit 1
fi
# libcurl (relayd's upstream client, curl) honours proxy variables; everything here is loopback.
unset http_proxy https_proxy all_proxy no_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY NO_PROXY

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tree_bench.XXXXXX")
chmod 755 "$WORK"  # the PostgreSQL server runs as another user when we are root
NAMES=()
PIDS=()
WRK_PIDS=()  # wrk processes still to be waited for
FAILED=0

# stop_pid PID SIGNAL: signal, wait up to 10 s, then SIGKILL.
stop_pid() {
  local pid=$1 sig=$2
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -"$sig" "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local i
  for i in "${WRK_PIDS[@]}"; do stop_pid "$i" TERM; done
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    # PostgreSQL: SIGINT is its fast shutdown (SIGTERM would wait for the sessions to end).
    if [ "${NAMES[$i]}" = postgres ]; then stop_pid "${PIDS[$i]}" INT; else stop_pid "${PIDS[$i]}" TERM; fi
  done
  if [ "$rc" != 0 ] && [ "$KEEP" != 1 ]; then
    for f in "$WORK"/*.log; do
      [ -f "$f" ] || continue
      echo "----- $(basename "$f") (last 30 lines) -----"
      tail -n 30 "$f"
    done
  fi
  if [ "$KEEP" = 1 ]; then echo "tree_bench: kept $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' INT TERM

die() {
  echo "tree_bench: FAILED: $*" >&2
  exit 1
}
remember() {  # remember NAME PID
  NAMES+=("$1")
  PIDS+=("$2")
}

CORES=$(nproc)
CPU_MODEL=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
echo "tree_bench: $CORES cores ($CPU_MODEL), load average $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- PostgreSQL: a throwaway server (as the postgres user when we are root) ----
PGROOT=$WORK/pg
mkdir -p "$PGROOT"
AS_PG=()
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || die "running as root needs a 'postgres' system user for the server"
  chown postgres: "$PGROOT"
  AS_PG=(setpriv --reuid=postgres --regid=postgres --init-groups)
fi
(cd "$PGROOT" && "${AS_PG[@]}" "$PGBIN/initdb" -D "$PGROOT/data" -A trust -U postgres --no-sync) \
  >"$WORK/initdb.log" 2>&1 || { cat "$WORK/initdb.log"; die "initdb"; }
PGPORT=$(free_port)
(cd "$PGROOT" && exec "${AS_PG[@]}" "$PGBIN/postgres" -D "$PGROOT/data" -p "$PGPORT" -k "$PGROOT" \
  -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200) >"$WORK/postgres.log" 2>&1 &
remember postgres $!
PG_PID=$!
for i in $(seq 1 300); do
  "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PGPORT" && break
  kill -0 "$PG_PID" 2>/dev/null || die "the PostgreSQL server exited at start (see postgres.log)"
  [ "$i" = 300 ] && die "PostgreSQL did not accept connections within 30 s"
  sleep 0.1
done
CONNINFO="host=127.0.0.1 port=$PGPORT user=postgres dbname=postgres"
echo "tree_bench: PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on port $PGPORT (fsync=off)"

# ---- relays; they all serve the root's certificate (one service-center CA) ----
declare -A PORT URL
# init_relay NAME [init args...]
init_relay() {
  local name=$1
  shift
  PORT[$name]=$(free_port)
  URL[$name]=https://127.0.0.1:${PORT[$name]}
  "$RELAYD" init --data-dir "$WORK/$name" --host 127.0.0.1 --host localhost --port "${PORT[$name]}" "$@" \
    >"$WORK/init-$name.log" 2>&1 || { cat "$WORK/init-$name.log"; die "relayd init $name"; }
  if [ "$name" != root ]; then
    cp "$WORK/root/tls/ca.pem" "$WORK/root/tls/server.pem" "$WORK/root/tls/server.key" "$WORK/$name/tls/"
  fi
}
CA=$WORK/root/tls/ca.pem
# start_relay NAME [run args...]: start and wait until /healthz answers (30 s at most).
start_relay() {
  local name=$1
  shift
  "$RELAYD" run --data-dir "$WORK/$name" --listen "127.0.0.1:${PORT[$name]}" --relay-id "$name" \
    --threads "$SERVER_THREADS" --device-rate 0 --metrics-open "$@" >"$WORK/relayd-$name.log" 2>&1 &
  remember "relayd-$name" $!
  local pid=$!
  for i in $(seq 1 300); do
    curl -sf -o /dev/null --cacert "$CA" "${URL[$name]}/healthz" && return 0
    kill -0 "$pid" 2>/dev/null || die "relayd $name exited at start (see relayd-$name.log)"
    sleep 0.1
  done
  die "relayd $name did not answer /healthz within 30 s"
}
# add_child PARENT CHILD: a relay credential for CHILD at PARENT, in $WORK/CHILD.token.
add_child() {
  PRINTRELAY_CONFIG=$WORK/$1/relayctl.json "$RELAYCTL" relays add "$2" --all-customers --token-file "$WORK/$2.token" \
    >"$WORK/relayctl-$2.log" 2>&1 || { cat "$WORK/relayctl-$2.log"; die "relayctl relays add $2 at $1"; }
}
admin_token() { tr -d '\n' <"$WORK/$1/admin.token"; }

# Regular polls and syncs an hour apart: only long-polls can deliver anything during the run.
SLOW=(--poll-interval-s 3600)
init_relay root
start_relay root "${SLOW[@]}"
for pair in root:child child:grandchild; do
  parent=${pair%%:*} child=${pair##*:}
  add_child "$parent" "$child"
  init_relay "$child"
  start_relay "$child" "${SLOW[@]}" --sync-interval-s 3600 --upstream "${URL[$parent]}" \
    --upstream-token-file "$WORK/$child.token" --upstream-ca "$CA"
done
init_relay node-a --postgres "$CONNINFO"
init_relay node-b --postgres "$CONNINFO" --admin-name admin-b
# --max-bulk-inflight above the connection count: measure uploads, not the overload shedding.
for n in node-a node-b; do start_relay "$n" "${SLOW[@]}" --postgres "$CONNINFO" --max-bulk-inflight 1024; done
echo "tree_bench: relays up: root ${URL[root]} > child ${URL[child]} > grandchild ${URL[grandchild]}; " \
  "PostgreSQL nodes node-a ${URL[node-a]}, node-b ${URL[node-b]}; relayd --threads $SERVER_THREADS --device-rate 0"

# ---- 1. job delivery latency ----
RESULTS=$WORK/latency.tsv
: >"$RESULTS"
cat >"$WORK/latency.json" <<EOF
{"ca": "$CA", "jobs": $JOBS, "warmup": 2, "wait_s": 20,
 "relays": {
  "root": {"url": "${URL[root]}", "admin": "$(admin_token root)"},
  "child": {"url": "${URL[child]}", "admin": "$(admin_token child)"},
  "grandchild": {"url": "${URL[grandchild]}", "admin": "$(admin_token grandchild)"},
  "node-a": {"url": "${URL[node-a]}", "admin": "$(admin_token node-a)"},
  "node-b": {"url": "${URL[node-b]}", "admin": "$(admin_token node-b)"}},
 "topologies": [
  {"label": "0 hops: device on the root", "serial": "LAT-0", "register_at": "root",
   "create_at": "root", "device_at": "root", "path": ["root"]},
  {"label": "1 hop: root > child", "serial": "LAT-1", "register_at": "root",
   "create_at": "root", "device_at": "child", "path": ["root", "child"]},
  {"label": "2 hops: root > child > grandchild", "serial": "LAT-2", "register_at": "root",
   "create_at": "root", "device_at": "grandchild", "path": ["root", "child", "grandchild"]},
  {"label": "2 PG nodes: job on B, device on A", "serial": "LAT-PG", "register_at": "node-a",
   "create_at": "node-b", "device_at": "node-a", "path": ["node-a"]}]}
EOF
echo "tree_bench: delivery latency, $JOBS jobs per path"
python3 "$HERE/tree_bench.py" latency "$WORK/latency.json" "$RESULTS" || die "latency measurement"

# ---- 2. one node vs two nodes on one PostgreSQL ----
cat >"$WORK/enroll.json" <<EOF
{"ca": "$CA", "register_url": "${URL[node-a]}", "enroll_url": "${URL[node-a]}",
 "admin": "$(admin_token node-a)", "prefix": "LOAD-", "count": $DEVICES, "out": "$WORK/tokens"}
EOF
python3 "$HERE/tree_bench.py" enroll "$WORK/enroll.json" || die "enrolling the load fleet"
# Node B knows the devices enrolled through A (their credentials are in the shared store).
tok=$(head -n1 "$WORK/tokens")
for n in node-a node-b; do
  code=$(curl -s -o "$WORK/poll-check.out" -w '%{http_code}' --cacert "$CA" -X POST "${URL[$n]}/v1/device/poll" \
    -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' -d '{"boot_id":"b","state":"idle","wait_s":0}')
  [ "$code" = 200 ] || die "a poll on $n with a token from node-a answered $code: $(cat "$WORK/poll-check.out")"
done

TICK_US=$((1000000 / $(getconf CLK_TCK)))
# cpu_ticks PID...: user+system ticks of these processes and their children (PostgreSQL backends).
cpu_ticks() {
  local total=0 p t
  for p in "$@" $(for q in "$@"; do cat /proc/"$q"/task/*/children 2>/dev/null; done); do
    t=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)
    total=$((total + t))
  done
  echo "$total"
}
pid_of() {  # pid_of NAME
  local i
  for i in "${!NAMES[@]}"; do [ "${NAMES[$i]}" = "$1" ] && echo "${PIDS[$i]}"; done
}
RELAY_PIDS="$(pid_of relayd-node-a) $(pid_of relayd-node-b)"
reports_stored() {  # sum of printrelay_reports_stored_total over both nodes
  local n total=0 v
  for n in node-a node-b; do
    v=$(curl -sf --cacert "$CA" "${URL[$n]}/metrics" | awk '/^printrelay_reports_stored_total/ {s += $NF} END {printf "%d", s}')
    total=$((total + v))
  done
  echo "$total"
}

# run_wrk OUT SCRIPT THREADS CONNS SECONDS URL [script args...]: one wrk in the background.
run_wrk() {
  local out=$1 script=$2 t=$3 c=$4 d=$5 url=$6
  shift 6
  wrk -t"$t" -c"$c" -d"${d}s" --timeout 10s -s "$script" "$url" -- "$@" >"$out" 2>&1 &
  WRK_PIDS+=($!)
}
wait_wrk() {
  local p rc=0
  for p in "${WRK_PIDS[@]}"; do wait "$p" || rc=1; done
  WRK_PIDS=()
  [ "$rc" = 0 ] || die "wrk exited non-zero: $(cat "$WORK"/*.wrk)"
}
: >"$WORK/throughput"
RUN=0
# measure KIND NODES: KIND poll|report, NODES 1|2. Appends
# "KIND NODES rps p50_us p99_us errors relayd_us_per_req pg_us_per_req stored" to $WORK/throughput.
measure() {
  local kind=$1 nodes=$2 script targets=() half=$((CONNECTIONS / 2))
  script=$HERE/tree_$kind.lua
  if [ "$nodes" = 1 ]; then targets=(node-a); else targets=(node-a node-b); fi
  RUN=$((RUN + 1))
  # warm-up, not counted
  for n in "${targets[@]}"; do
    if [ "$nodes" = 1 ]; then
      run_wrk "$WORK/warm-$RUN-$n.wrk" "$script" 2 "$CONNECTIONS" 2 "${URL[$n]}" "$WORK/tokens" "w$RUN$n"
    else
      run_wrk "$WORK/warm-$RUN-$n.wrk" "$script" 1 "$half" 2 "${URL[$n]}" "$WORK/tokens" "w$RUN$n"
    fi
  done
  wait_wrk
  local r0 p0 s0 r1 p1 s1
  r0=$(cpu_ticks $RELAY_PIDS)
  p0=$(cpu_ticks "$PG_PID")
  s0=$(reports_stored)
  for n in "${targets[@]}"; do
    if [ "$nodes" = 1 ]; then
      run_wrk "$WORK/run-$RUN-$n.wrk" "$script" 2 "$CONNECTIONS" "$DURATION" "${URL[$n]}" "$WORK/tokens" "m$RUN$n"
    else
      run_wrk "$WORK/run-$RUN-$n.wrk" "$script" 1 "$half" "$DURATION" "${URL[$n]}" "$WORK/tokens" "m$RUN$n"
    fi
  done
  wait_wrk
  r1=$(cpu_ticks $RELAY_PIDS)
  p1=$(cpu_ticks "$PG_PID")
  sleep 0.5  # the last answers' commits
  s1=$(reports_stored)
  local reqs=0 rps=0 errs=0 p50=0 p99=0 line _ q d l50 l99 e
  for n in "${targets[@]}"; do
    line=$(grep '^RESULT' "$WORK/run-$RUN-$n.wrk") || { cat "$WORK/run-$RUN-$n.wrk"; die "no result from wrk against $n"; }
    read -r _ q d l50 l99 e <<<"$line"
    reqs=$((reqs + q))
    rps=$((rps + q * 1000000 / d))
    errs=$((errs + e))
    [ "$l50" -gt "$p50" ] && p50=$l50  # the slower node's percentiles
    [ "$l99" -gt "$p99" ] && p99=$l99
  done
  [ "$reqs" -gt 0 ] || die "$kind on $nodes node(s): no requests completed"
  local rcpu pcpu stored=$((s1 - s0))
  rcpu=$(awk -v t=$((r1 - r0)) -v u="$TICK_US" -v n="$reqs" 'BEGIN{printf "%.1f", t * u / n}')
  pcpu=$(awk -v t=$((p1 - p0)) -v u="$TICK_US" -v n="$reqs" 'BEGIN{printf "%.1f", t * u / n}')
  echo "$kind $nodes $rps $p50 $p99 $errs $rcpu $pcpu $stored" >>"$WORK/throughput"
  printf 'tree_bench: %-6s x %d node(s): %7d req/s  p50 %6d us  p99 %6d us  relayd CPU %5s us/req  postgres CPU %5s us/req  errors %d' \
    "$kind" "$nodes" "$rps" "$p50" "$p99" "$rcpu" "$pcpu" "$errs"
  [ "$kind" = report ] && printf '  reports stored %d (wrk counted %d answers)' "$stored" "$reqs"
  echo
  if [ "$errs" != 0 ]; then
    echo "tree_bench: WARNING: $errs errors (non-2xx answers or socket errors) in $kind x $nodes"
    FAILED=1
  fi
  if [ "$kind" = report ] && [ "$stored" -lt $((reqs - errs)) ]; then
    echo "tree_bench: WARNING: only $stored reports stored for $((reqs - errs)) successful uploads"
    FAILED=1
  fi
}
echo "tree_bench: throughput, wrk ${DURATION}s per run, $CONNECTIONS connections in total, $DEVICES devices"
measure poll 1
measure poll 2
measure report 1
measure report 2

# ---- table ----
echo
echo "Machine: $CORES cores, $CPU_MODEL; load generator, relays and PostgreSQL share them."
echo
echo "Job delivery latency (POST /v1/jobs at the root -> the device's long-poll answers with the job):"
echo
printf '| %-34s | %4s | %9s | %8s | %8s | %8s |\n' "path" jobs "median ms" "p95 ms" "min ms" "max ms"
printf '| %-34s | %4s | %9s | %8s | %8s | %8s |\n' ---------------------------------- ---: --------: -------: -------: -------:
MISSED=0
while IFS=$'\t' read -r label n med p95 mn mx missed; do
  printf '| %-34s | %4d | %9.1f | %8.1f | %8.1f | %8.1f |\n' "$label" "$n" "$med" "$p95" "$mn" "$mx"
  MISSED=$((MISSED + missed))
done <"$RESULTS"
[ "$MISSED" = 0 ] || { echo "tree_bench: WARNING: $MISSED long-polls were not woken by their job"; FAILED=1; }
echo
echo "Throughput, one root node vs two root nodes on one PostgreSQL (HTTPS, wrk ${DURATION}s, $CONNECTIONS connections in total):"
echo
printf '| %-22s | %5s | %10s | %8s | %8s | %17s | %19s | %6s |\n' test nodes "requests/s" "p50 ms" "p99 ms" "relayd CPU us/req" "postgres CPU us/req" errors
printf '| %-22s | %5s | %10s | %8s | %8s | %17s | %19s | %6s |\n' ---------------------- ----: ---------: -------: -------: ----------------: ------------------: -----:
while read -r kind nodes rps p50 p99 errs rcpu pcpu _; do
  if [ "$kind" = poll ]; then what="idle poll (wait_s 0)"; else what="report upload (1/req)"; fi
  printf '| %-22s | %5d | %10d | %8.2f | %8.2f | %17s | %19s | %6d |\n' "$what" "$nodes" "$rps" \
    "$(awk "BEGIN{print $p50/1000}")" "$(awk "BEGIN{print $p99/1000}")" "$rcpu" "$pcpu" "$errs"
done <"$WORK/throughput"
echo
for kind in poll report; do
  r=$(awk -v k="$kind" '$1==k && $2==1 {o=$3} $1==k && $2==2 {t=$3} END {if (o) printf "%.2f", t/o}' "$WORK/throughput")
  echo "ratio two nodes / one node ($kind): $r"
done
[ "$FAILED" = 0 ] || die "see the warnings above"
