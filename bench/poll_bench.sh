#!/usr/bin/env bash
# Poll benchmark: how many idle device polls (POST /v1/device/poll, wait_s 0, no pending jobs) relayd
# answers per second on loopback, next to nginx answering the same bytes from a `return 200`.
# nginx is the yardstick for "HTTP server doing almost nothing"; the goal is relayd >= 0.8 of it.
#
# Usage: bench/poll_bench.sh        (after scripts/build.sh; about 90 s with TLS, 45 s without)
# Environment:
#   DEVICES (100)      enrolled devices whose tokens the load rotates through
#   DURATION (15)      seconds per measured wrk run (each run is preceded by a 2 s warm-up)
#   THREADS (2)        wrk threads     CONNECTIONS (64)  wrk keep-alive connections
#   SERVER_THREADS (2) relayd --threads and nginx worker_processes
#   TLS (1)            also compare relayd and nginx over TLS (same certificate); 0 = plain HTTP only
#   RELAYD (build/apps/relayd/relayd)   KEEP (0) 1 = keep the temp dir for inspection
# Both servers and wrk share the same machine: on a small box wrk takes a good part of the CPU.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."

DEVICES=${DEVICES:-100}
DURATION=${DURATION:-15}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
SERVER_THREADS=${SERVER_THREADS:-2}
TLS=${TLS:-1}
KEEP=${KEEP:-0}
RELAYD=${RELAYD:-$PWD/build/apps/relayd/relayd}

for tool in wrk nginx curl; do
  command -v "$tool" >/dev/null || { echo "poll_bench: $tool is not installed (apt-get install wrk nginx-light curl)"; exit 1; }
done
[ -x "$RELAYD" ] || { echo "poll_bench: $RELAYD not found; run scripts/build.sh first"; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/poll_bench.XXXXXX")
SERVER_PID=""
stop_server() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  fi
}
cleanup() {
  stop_server
  if [ "$KEEP" = 1 ]; then echo "poll_bench: kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM


# wait_ready URL [curl args...]: until the server answers at all, or give up after 10 s.
wait_ready() {
  local url=$1
  shift
  for _ in $(seq 1 100); do
    curl -s -o /dev/null "$@" "$url" && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "poll_bench: server exited; log:"; cat "$WORK"/*.log; exit 1; }
    sleep 0.1
  done
  echo "poll_bench: server at $url did not come up"
  exit 1
}

DATA=$WORK/relay
PORT=$(free_port)
start_relayd() {  # start_relayd plain|tls
  local mode=()
  [ "$1" = plain ] && mode=(--plain-http)
  "$RELAYD" run --data-dir "$DATA" --listen "127.0.0.1:$PORT" "${mode[@]}" --device-rate 0 \
    --threads "$SERVER_THREADS" >"$WORK/relayd-$1.log" 2>&1 &
  SERVER_PID=$!
}

echo "poll_bench: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s"
echo "poll_bench: relayd runs with --device-rate 0 (per-credential rate limit off, so $DEVICES credentials can be hammered)"
"$RELAYD" init --data-dir "$DATA" --port "$PORT" --plain-http >"$WORK/init.log" 2>&1 ||
  { cat "$WORK/init.log"; exit 1; }
ADMIN=$(tr -d '\n' <"$DATA/admin.token")
start_relayd plain
BASE=http://127.0.0.1:$PORT
wait_ready "$BASE/healthz"

enroll_fleet poll_bench "$BASE" "$ADMIN" "$DEVICES" "$WORK/tokens"

POLL_BODY='{"boot_id":"b","state":"idle","wait_s":0}'
FIRST=$(head -n1 "$WORK/tokens")
curl -s -D "$WORK/poll.headers" -o "$WORK/poll.body" -X POST "$BASE/v1/device/poll" \
  -H "Authorization: Bearer $FIRST" -H 'Content-Type: application/json' -d "$POLL_BODY"
grep -q '^HTTP/1.1 200' "$WORK/poll.headers" || { echo "poll_bench: poll failed:"; cat "$WORK/poll.headers" "$WORK/poll.body"; exit 1; }
CTYPE=$(tr -d '\r' <"$WORK/poll.headers" | sed -n 's/^[Cc]ontent-[Tt]ype: *//p')
echo "poll_bench: one poll answer ($(wc -c <"$WORK/poll.body") bytes, $CTYPE): $(cat "$WORK/poll.body")"

# wrk script: requests prebuilt once per thread (so wrk spends its CPU on I/O, not Lua), rotating the
# bearer token across the fleet; each thread starts at a different offset. done() prints one
# machine-readable line; non-2xx answers count as errors and invalidate the run.
cat >"$WORK/poll.lua" <<EOF
local tokens = {}
for line in io.lines("$WORK/tokens") do tokens[#tokens + 1] = line end
local thread_no = 0
function setup(thread)
  thread:set("offset", thread_no * 37)
  thread_no = thread_no + 1
end
local reqs, i = {}, 0
function init(args)
  local body = '$POLL_BODY'
  for k, t in ipairs(tokens) do
    reqs[k] = wrk.format("POST", "/v1/device/poll",
      {["Authorization"] = "Bearer " .. t, ["Content-Type"] = "application/json"}, body)
  end
  i = offset or 0
end
function request()
  i = i % #reqs + 1
  return reqs[i]
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
EOF

# server_cpu_ticks: user+system CPU ticks of the server process and its children (nginx workers).
server_cpu_ticks() {
  local pids total=0 p t
  pids="$SERVER_PID $(cat /proc/"$SERVER_PID"/task/*/children 2>/dev/null)"
  for p in $pids; do
    t=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)
    total=$((total + t))
  done
  echo "$total"
}
TICK_US=$((1000000 / $(getconf CLK_TCK)))

# measure NAME URL: warm up, run wrk, append "NAME rps p50_us p99_us errors cpu_us_per_req" to the
# results. CPU per request is what the server itself burned, whatever share of the cores wrk took.
measure() {
  local name=$1 url=$2 cpu0 cpu1
  wrk -t"$THREADS" -c"$CONNECTIONS" -d2s -s "$WORK/poll.lua" "$url" >/dev/null 2>&1 || true
  cpu0=$(server_cpu_ticks)
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" -s "$WORK/poll.lua" "$url" >"$WORK/wrk-$name.out" 2>&1 ||
    { echo "poll_bench: wrk against $name failed:"; cat "$WORK/wrk-$name.out"; exit 1; }
  cpu1=$(server_cpu_ticks)
  local reqs dur_us p50 p99 errs
  read -r _ reqs dur_us p50 p99 errs <<<"$(grep '^RESULT' "$WORK/wrk-$name.out")"
  [ -n "$errs" ] || { echo "poll_bench: no result from wrk against $name:"; cat "$WORK/wrk-$name.out"; exit 1; }
  local rps=$((reqs * 1000000 / dur_us)) cpu=$(((cpu1 - cpu0) * TICK_US * 10 / reqs))
  cpu="$((cpu / 10)).$((cpu % 10))"
  echo "$name $rps $p50 $p99 $errs $cpu" >>"$WORK/results"
  printf 'poll_bench: %-14s %8d req/s  p50 %6d us  p99 %6d us  server CPU %5s us/req  errors %d\n' \
    "$name" "$rps" "$p50" "$p99" "$cpu" "$errs"
  [ "$errs" = 0 ] || { echo "poll_bench: WARNING: $name had $errs errors (non-2xx or socket); wrk said:"; cat "$WORK/wrk-$name.out"; }
}
: >"$WORK/results"

measure relayd-http "$BASE"
stop_server

# nginx answers the captured bytes with the same content type to the same POSTs.
BODY=$(cat "$WORK/poll.body")
case "$BODY" in
  *'$'*) echo "poll_bench: the poll answer contains '\$', which nginx's return would expand"; exit 1 ;;
esac
ESCAPED=$(printf '%s' "$BODY" | sed -e 's/\\/\\\\/g' -e "s/'/\\\\'/g")
NGINX_USER=""
[ "$(id -u)" = 0 ] && NGINX_USER="user $(id -un) $(id -gn);"
write_nginx_conf() {  # write_nginx_conf plain|tls
  local listen="listen 127.0.0.1:$PORT;" tls=""
  if [ "$1" = tls ]; then
    listen="listen 127.0.0.1:$PORT ssl;"
    tls="ssl_certificate $DATA/tls/server.pem; ssl_certificate_key $DATA/tls/server.key;"
  fi
  cat >"$WORK/nginx.conf" <<EOF
$NGINX_USER
worker_processes $SERVER_THREADS;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_timeout 65;
  keepalive_requests 1000000;
  client_body_temp_path $WORK/nginx-body;
  proxy_temp_path $WORK/nginx-proxy;
  fastcgi_temp_path $WORK/nginx-fastcgi;
  uwsgi_temp_path $WORK/nginx-uwsgi;
  scgi_temp_path $WORK/nginx-scgi;
  server {
    $listen
    $tls
    location = /v1/device/poll {
      default_type "$CTYPE";
      return 200 '$ESCAPED';
    }
  }
}
EOF
}
start_nginx() {
  write_nginx_conf "$1"
  nginx -p "$WORK" -e "$WORK/nginx-error.log" -c "$WORK/nginx.conf" -g 'daemon off;' >"$WORK/nginx-$1.log" 2>&1 &
  SERVER_PID=$!
}

start_nginx plain
wait_ready "$BASE/v1/device/poll" -X POST -d "$POLL_BODY"
cmp -s <(curl -s -X POST "$BASE/v1/device/poll" -d "$POLL_BODY") "$WORK/poll.body" ||
  { echo "poll_bench: nginx does not answer the captured bytes"; exit 1; }
measure nginx-http "$BASE"
stop_server

if [ "$TLS" = 1 ]; then
  CA=(--cacert "$DATA/tls/ca.pem")
  TBASE=https://127.0.0.1:$PORT
  start_relayd tls
  wait_ready "$TBASE/healthz" "${CA[@]}"
  measure relayd-https "$TBASE"
  stop_server
  start_nginx tls
  wait_ready "$TBASE/v1/device/poll" "${CA[@]}" -X POST -d "$POLL_BODY"
  measure nginx-https "$TBASE"
  stop_server
fi

# Table, with relayd's share of nginx's throughput per transport.
echo
printf '| %-12s | %10s | %8s | %8s | %17s | %6s |\n' target "requests/s" "p50 ms" "p99 ms" "server CPU us/req" errors
printf '| %-12s | %10s | %8s | %8s | %17s | %6s |\n' ------------ ---------: -------: -------: -----------------: -----:
while read -r name rps p50 p99 errs cpu; do
  printf '| %-12s | %10d | %8.2f | %8.2f | %17s | %6d |\n' "$name" "$rps" \
    "$(awk "BEGIN{print $p50/1000}")" "$(awk "BEGIN{print $p99/1000}")" "$cpu" "$errs"
done <"$WORK/results"
echo
for tr in http https; do
  r=$(awk -v t="$tr" '$1=="relayd-"t{r=$2} $1=="nginx-"t{n=$2} END{if (r && n) printf "%.2f", r/n}' "$WORK/results")
  [ -n "$r" ] && echo "ratio relayd/nginx ($tr): $r requests/s"
done
