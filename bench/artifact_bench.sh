#!/usr/bin/env bash
# Artifact download benchmark: how fast relayd serves a large artifact (GET
# /v1/artifacts/{sha}/data over TLS) to several clients at once, next to nginx serving the same
# file with the same certificate. nginx is the yardstick for "TLS file server"; the goal is
# relayd >= 0.8 of it. Then: how many bytes a download cut off mid-way costs again when it is
# resumed with a Range request (relayd's printrelay_artifact_bytes_sent_total; nginx's
# $body_bytes_sent for the same scenario).
#
# Both servers run side by side on two ports and the measured rounds alternate between them
# (relayd, nginx, nginx, relayd, ...), so that other load on the machine hits both alike.
#
# Usage: bench/artifact_bench.sh     (after scripts/build.sh; no build here; about 60 s)
# Environment:
#   SIZE_MB (256)        artifact size       CLIENTS (4)  parallel curl downloads per round
#   ROUNDS (4)           measured rounds per server (after one warm-up round each)
#   SERVER_THREADS (2)   relayd --threads and nginx worker_processes
#   CUT_AFTER_S (1)      the interrupted download is cut off after this long...
#   CUT_RATE (32M)       ...while curl reads at most this many bytes/s (so it is mid-way)
#   RELAYD (build/apps/relayd/relayd)  RELAYCTL (build/apps/relayctl/relayctl)  KEEP (0)
# The servers and curl share the machine: on a small box the clients' TLS decryption takes a
# good part of the CPU, for both servers alike.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."

SIZE_MB=${SIZE_MB:-256}
CLIENTS=${CLIENTS:-4}
ROUNDS=${ROUNDS:-4}
SERVER_THREADS=${SERVER_THREADS:-2}
CUT_AFTER_S=${CUT_AFTER_S:-1}
CUT_RATE=${CUT_RATE:-32M}
KEEP=${KEEP:-0}
RELAYD=${RELAYD:-$PWD/build/apps/relayd/relayd}
RELAYCTL=${RELAYCTL:-$PWD/build/apps/relayctl/relayctl}
SIZE=$((SIZE_MB << 20))

for tool in nginx curl python3 sha256sum; do
  command -v "$tool" >/dev/null || { echo "artifact_bench: $tool is not installed (scripts/install-deps.sh)"; exit 1; }
done
for bin in "$RELAYD" "$RELAYCTL"; do
  [ -x "$bin" ] || { echo "artifact_bench: $bin not found; run scripts/build.sh first"; exit 1; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/artifact_bench.XXXXXX")
RELAYD_PID=""
NGINX_PID=""
cleanup() {
  for pid in $RELAYD_PID $NGINX_PID; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ "$KEEP" = 1 ]; then echo "artifact_bench: kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }

wait_ready() {  # wait_ready PID URL: until the server answers at all, or give up after 10 s
  for _ in $(seq 1 100); do
    curl -s -o /dev/null "${CA[@]}" "$2" && return 0
    kill -0 "$1" 2>/dev/null || { echo "artifact_bench: server exited; logs:"; cat "$WORK"/*.log; exit 1; }
    sleep 0.1
  done
  echo "artifact_bench: server at $2 did not come up"
  exit 1
}

# cpu_ticks PID: user+system CPU ticks of a process and its children (nginx workers).
cpu_ticks() {
  local pids total=0 p t
  pids="$1 $(cat /proc/"$1"/task/*/children 2>/dev/null)"
  for p in $pids; do
    t=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)
    total=$((total + t))
  done
  echo "$total"
}
TICK_S=$(awk "BEGIN{print 1 / $(getconf CLK_TCK)}")
peak_rss_kib() { awk '/^VmHWM:/{print $2}' "/proc/$1/status"; }

DATA=$WORK/relay
RELAYD_PORT=$(free_port)
NGINX_PORT=$(free_port)
CA=(--cacert "$DATA/tls/ca.pem")
echo "artifact_bench: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "artifact_bench: $SIZE_MB MiB artifact, $CLIENTS parallel curl downloads per round, $ROUNDS rounds per server, TLS, $SERVER_THREADS server threads"
"$RELAYD" init --data-dir "$DATA" --port "$RELAYD_PORT" --host 127.0.0.1 >"$WORK/init.log" 2>&1 ||
  { cat "$WORK/init.log"; exit 1; }
TOKEN=$(tr -d '\n' <"$DATA/admin.token")
AUTH=(-H "Authorization: Bearer $TOKEN")
"$RELAYD" run --data-dir "$DATA" --listen "127.0.0.1:$RELAYD_PORT" --threads "$SERVER_THREADS" \
  --max-artifact-mb $((SIZE_MB + 16)) >"$WORK/relayd.log" 2>&1 &
RELAYD_PID=$!
wait_ready "$RELAYD_PID" "https://127.0.0.1:$RELAYD_PORT/healthz"
RELAYD_IDLE_KIB=$(peak_rss_kib "$RELAYD_PID")

# ---- the artifact: random bytes, signed and pushed with relayctl ----
head -c "$SIZE" /dev/urandom >"$WORK/artifact.bin"
SHA=$(sha256sum "$WORK/artifact.bin" | cut -d' ' -f1)
export PRINTRELAY_CONFIG=$DATA/relayctl.json
"$RELAYCTL" keys create bench --dir "$WORK/keys" >/dev/null
t0=$(now)
"$RELAYCTL" artifact push "$WORK/artifact.bin" --kind firmware --version 1.0.0 --model MX-4070 \
  --component main --key bench --dir "$WORK/keys" --json >"$WORK/push.json" 2>"$WORK/push.err" ||
  { echo "artifact_bench: push failed:"; cat "$WORK/push.err"; exit 1; }
t1=$(now)
grep -q "\"$SHA\"" "$WORK/push.json" || { echo "artifact_bench: push answered:"; cat "$WORK/push.json"; exit 1; }
RELAYD_UPLOAD_KIB=$(peak_rss_kib "$RELAYD_PID")
echo "artifact_bench: relayctl artifact push took $(awk "BEGIN{printf \"%.1f\", $t1 - $t0}") s; relayd peak RSS $RELAYD_IDLE_KIB KiB idle, $RELAYD_UPLOAD_KIB KiB after the upload"
BLOB=$DATA/artifacts/$SHA
URL_PATH=/v1/artifacts/$SHA/data

# ---- nginx: the same file, the same certificate, as many workers as relayd has threads ----
NGINX_USER=""
[ "$(id -u)" = 0 ] && NGINX_USER="user $(id -un) $(id -gn);"
cat >"$WORK/nginx.conf" <<NGINX_CONF
$NGINX_USER
worker_processes $SERVER_THREADS;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 1024; }
http {
  log_format sent '\$status \$body_bytes_sent';
  access_log $WORK/nginx-access.log sent;
  sendfile on;
  keepalive_timeout 65;
  client_body_temp_path $WORK/nginx-body;
  proxy_temp_path $WORK/nginx-proxy;
  fastcgi_temp_path $WORK/nginx-fastcgi;
  uwsgi_temp_path $WORK/nginx-uwsgi;
  scgi_temp_path $WORK/nginx-scgi;
  server {
    listen 127.0.0.1:$NGINX_PORT ssl;
    ssl_certificate $DATA/tls/server.pem;
    ssl_certificate_key $DATA/tls/server.key;
    location = /healthz { return 200 'ok'; }
    location = $URL_PATH {
      default_type application/octet-stream;
      alias $BLOB;
    }
  }
}
NGINX_CONF
nginx -p "$WORK" -e "$WORK/nginx-error.log" -c "$WORK/nginx.conf" -g 'daemon off;' >"$WORK/nginx.log" 2>&1 &
NGINX_PID=$!
wait_ready "$NGINX_PID" "https://127.0.0.1:$NGINX_PORT/healthz"
cmp -s <(curl -s "${CA[@]}" -r 1000-1999 "https://127.0.0.1:$NGINX_PORT$URL_PATH") \
  <(tail -c +1001 "$WORK/artifact.bin" | head -c 1000) ||
  { echo "artifact_bench: nginx does not serve the artifact's bytes"; exit 1; }

url_of() {
  if [ "$1" = relayd ]; then echo "https://127.0.0.1:$RELAYD_PORT$URL_PATH"; else echo "https://127.0.0.1:$NGINX_PORT$URL_PATH"; fi
}
pid_of() {
  if [ "$1" = relayd ]; then echo "$RELAYD_PID"; else echo "$NGINX_PID"; fi
}

# round SERVER TAG: CLIENTS parallel full downloads; appends "SERVER seconds cpu_ticks" to the
# rounds file (unless TAG is warm); fails on a short or bad download.
round() {
  local server=$1 tag=$2 url pid i t0 t1 c0 c1 pids=()
  url=$(url_of "$server")
  pid=$(pid_of "$server")
  c0=$(cpu_ticks "$pid")
  t0=$(now)
  for i in $(seq 1 "$CLIENTS"); do
    curl -s "${CA[@]}" "${AUTH[@]}" --max-time 120 -o /dev/null -w '%{http_code} %{size_download}\n' \
      "$url" >"$WORK/curl-$server-$tag-$i.out" 2>&1 &
    pids+=($!)
  done
  wait "${pids[@]}" || true  # each one's outcome is checked below
  t1=$(now)
  c1=$(cpu_ticks "$pid")
  for i in $(seq 1 "$CLIENTS"); do
    [ "$(cat "$WORK/curl-$server-$tag-$i.out")" = "200 $SIZE" ] ||
      { echo "artifact_bench: $server round $tag download $i: $(cat "$WORK/curl-$server-$tag-$i.out")"; exit 1; }
  done
  [ "$tag" = warm ] && return 0
  echo "$server $(awk "BEGIN{print $t1 - $t0}") $((c1 - c0))" >>"$WORK/rounds"
  printf 'artifact_bench: round %s %-6s %5.0f MiB/s\n' "$tag" "$server" \
    "$(awk "BEGIN{print $CLIENTS * $SIZE_MB / ($t1 - $t0)}")"
}
: >"$WORK/rounds"
round relayd warm
round nginx warm
for r in $(seq 1 "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then
    round relayd "$r"
    round nginx "$r"
  else
    round nginx "$r"
    round relayd "$r"
  fi
done
RELAYD_PEAK_KIB=$(peak_rss_kib "$RELAYD_PID")

# ---- a download cut off mid-way and resumed with a Range request ----
# interrupted SERVER COUNTER: curl reads at CUT_RATE for CUT_AFTER_S seconds and gives up; a
# second curl asks for the rest (Range: bytes=HAVE-). COUNTER prints the bytes the server says it
# has sent so far. Appends "SERVER have sent_in_all re_sent" to the cut file.
interrupted() {
  local server=$1 counter=$2 url before after have rc=0 rest
  url=$(url_of "$server")
  before=$($counter)
  curl -s "${CA[@]}" "${AUTH[@]}" --limit-rate "$CUT_RATE" --max-time "$CUT_AFTER_S" \
    -o "$WORK/cut-$server.part" "$url" || rc=$?
  [ "$rc" = 28 ] || { echo "artifact_bench: the cut-off curl ended with $rc, not 28 (timeout)"; exit 1; }
  have=$(stat -c %s "$WORK/cut-$server.part")
  rest=$(curl -s "${CA[@]}" "${AUTH[@]}" --max-time 120 -H "Range: bytes=$have-" \
    -w '%{http_code}' -o "$WORK/cut-$server.rest" "$url")
  [ "$rest" = 206 ] || { echo "artifact_bench: $server resume from $have: HTTP $rest"; exit 1; }
  cat "$WORK/cut-$server.rest" >>"$WORK/cut-$server.part"
  [ "$(sha256sum <"$WORK/cut-$server.part" | cut -d' ' -f1)" = "$SHA" ] ||
    { echo "artifact_bench: the download resumed from $server does not hash to $SHA"; exit 1; }
  sleep 1  # the cut-off response is counted when the server's write fails
  after=$($counter)
  echo "$server $have $((after - before)) $((after - before - SIZE))" >>"$WORK/cut"
}
relayd_sent() {
  curl -s "${CA[@]}" "https://127.0.0.1:$RELAYD_PORT/metrics" |
    awk '$1 == "printrelay_artifact_bytes_sent_total" {print $2}'
}
nginx_sent() {  # nginx logs each request's $body_bytes_sent when it ends
  awk '{s += $2} END {printf "%.0f\n", s}' "$WORK/nginx-access.log"
}
: >"$WORK/cut"
interrupted relayd relayd_sent
interrupted nginx nginx_sent

# ---- results ----
echo
printf '| %-7s | %10s | %18s | %16s |\n' server "MiB/s" "rounds MiB/s" "server CPU s/GiB"
printf '| %-7s | %10s | %18s | %16s |\n' ------- ---------: -----------------: ---------------:
for server in relayd nginx; do
  awk -v s="$server" -v mib="$((CLIENTS * SIZE_MB))" -v tick="$TICK_S" '
    $1 == s { n++; secs += $2; ticks += $3; r = mib / $2; if (!lo || r < lo) lo = r; if (r > hi) hi = r }
    END { printf "| %-7s | %10.0f | %18s | %16.2f |\n", s, n * mib / secs,
            sprintf("%.0f..%.0f", lo, hi), ticks * tick / (n * mib / 1024) }' "$WORK/rounds"
done
echo
printf '| %-7s | %16s | %16s | %16s | %9s |\n' server "cut off at bytes" "sent in all" "re-sent bytes" "re-sent %"
printf '| %-7s | %16s | %16s | %16s | %9s |\n' ------- ---------------: ---------------: ---------------: --------:
while read -r server have sent resent; do
  printf '| %-7s | %16d | %16d | %16d | %9.2f |\n' "$server" "$have" "$sent" "$resent" \
    "$(awk "BEGIN{print 100 * $resent / $SIZE}")"
done <"$WORK/cut"
echo
awk '{secs[$1] += $2; n[$1]++} END {if (secs["relayd"] && secs["nginx"])
  printf "ratio relayd/nginx (download MiB/s over TLS): %.2f\n",
         (n["relayd"] / secs["relayd"]) / (n["nginx"] / secs["nginx"])}' "$WORK/rounds"
echo "relayd peak RSS (VmHWM): $RELAYD_IDLE_KIB KiB idle, $RELAYD_UPLOAD_KIB KiB after the $SIZE_MB MiB upload, $RELAYD_PEAK_KIB KiB after all downloads"
