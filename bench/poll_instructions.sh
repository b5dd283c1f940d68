#!/usr/bin/env bash
# Instruction count of an idle device poll: how many user-space instructions (callgrind's Ir)
# relayd spends per POST /v1/device/poll (wait_s 0, no pending jobs, plain HTTP, keep-alive).
# Unlike bench/poll_bench.sh this does not depend on what else the machine is doing, so it is the
# number to compare builds with (docs/benchmarks.md, "The regression found and undone").
#
# relayd runs under `valgrind --tool=callgrind --instr-atstart=no`; the fleet is registered and
# enrolled through the API, then WARMUP polls run uncounted, then `callgrind_control -i on`, exactly
# POLLS polls, `callgrind_control -d` (dump) and `-i off`. The dump's total Ir / POLLS is printed.
# The polls are sent one at a time, round-robin over CONNECTIONS keep-alive connections, with the
# bearer token rotating over the fleet, so every run sends the same requests in the same order.
# Valgrind's CPU has no SHA instructions, so relayd uses its portable SHA-256 here.
#
# Usage: bench/poll_instructions.sh        (after scripts/build.sh; about a minute)
# Environment:
#   DEVICES (100)      enrolled devices whose tokens the polls rotate through
#   POLLS (2000)       counted polls        WARMUP (300)  uncounted polls before them
#   CONNECTIONS (4)    keep-alive connections the polls go round-robin over (opened before counting)
#   ANNOTATE (0)       1 = also print the top 25 functions by inclusive cost (callgrind_annotate)
#   RELAYD (build/apps/relayd/relayd)   KEEP (0) 1 = keep the temp dir (callgrind.out.1 is the dump)
# Output ends with a machine-readable line: instructions_per_poll=<n>
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."

DEVICES=${DEVICES:-100}
POLLS=${POLLS:-2000}
WARMUP=${WARMUP:-300}
CONNECTIONS=${CONNECTIONS:-4}
ANNOTATE=${ANNOTATE:-0}
KEEP=${KEEP:-0}
RELAYD=${RELAYD:-$PWD/build/apps/relayd/relayd}

for tool in valgrind callgrind_control curl python3; do
  command -v "$tool" >/dev/null || { echo "poll_instructions: $tool is not installed (apt-get install valgrind curl python3)"; exit 1; }
done
if [ "$ANNOTATE" = 1 ]; then
  command -v callgrind_annotate >/dev/null || { echo "poll_instructions: callgrind_annotate is not installed"; exit 1; }
fi
[ -x "$RELAYD" ] || { echo "poll_instructions: $RELAYD not found; run scripts/build.sh first"; exit 1; }
for knob in DEVICES POLLS WARMUP CONNECTIONS; do
  [[ ${!knob} =~ ^[0-9]+$ ]] || { echo "poll_instructions: $knob must be a number, not '${!knob}'"; exit 1; }
done
[ "$DEVICES" -ge 1 ] && [ "$POLLS" -ge 1 ] && [ "$CONNECTIONS" -ge 1 ] ||
  { echo "poll_instructions: DEVICES, POLLS and CONNECTIONS must be at least 1"; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/poll_instructions.XXXXXX")
SERVER_PID=""
stop_server() {  # SIGTERM, and SIGKILL if relayd under valgrind has not exited after 60 s
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 600); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  fi
}
cleanup() {
  stop_server
  if [ "$KEEP" = 1 ]; then echo "poll_instructions: kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM


# wait_ready URL: until the server answers with 200, or give up after 120 s (valgrind is slow to
# start: it reads relayd's debug info first).
wait_ready() {
  local url=$1
  for _ in $(seq 1 1200); do
    curl -sf -o /dev/null --max-time 10 "$url" && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "poll_instructions: relayd exited; log:"; cat "$WORK/relayd.log"; exit 1; }
    sleep 0.1
  done
  echo "poll_instructions: relayd at $url did not answer within 120 s; log:"
  cat "$WORK/relayd.log"
  exit 1
}

DATA=$WORK/relay
PORT=$(free_port)
BASE=http://127.0.0.1:$PORT
"$RELAYD" init --data-dir "$DATA" --port "$PORT" --plain-http >"$WORK/init.log" 2>&1 ||
  { echo "poll_instructions: relayd init failed:"; cat "$WORK/init.log"; exit 1; }
ADMIN=$(tr -d '\n' <"$DATA/admin.token")

# Nothing is counted until callgrind_control switches instrumentation on (the dump then holds only
# the counted polls). valgrind runs in relayd's own process, so $! is the pid callgrind_control needs.
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$WORK/callgrind.out" \
  "$RELAYD" run --data-dir "$DATA" --listen "127.0.0.1:$PORT" --plain-http --device-rate 0 \
  --threads 2 >"$WORK/relayd.log" 2>&1 &
SERVER_PID=$!
wait_ready "$BASE/healthz"
echo "poll_instructions: relayd runs under callgrind (pid $SERVER_PID, plain HTTP, --device-rate 0 --threads 2)"

enroll_fleet poll_instructions "$BASE" "$ADMIN" "$DEVICES" "$WORK/tokens"

# The poll client: opens CONNECTIONS keep-alive connections, sends WARMUP polls, switches counting
# on, sends POLLS polls, dumps, switches counting off. Poll i goes over connection i % CONNECTIONS
# with token i % DEVICES, strictly one after another. Any answer but 200, or a connection that does
# not stay open (a reconnect would add an accept to the count), fails the run.
python3 - "$PORT" "$WORK/tokens" "$WARMUP" "$POLLS" "$CONNECTIONS" "$SERVER_PID" <<'EOF' ||
import http.client, subprocess, sys

port, tokens_file = int(sys.argv[1]), sys.argv[2]
warmup, polls, nconn, pid = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
tokens = [t.strip() for t in open(tokens_file) if t.strip()]
body = b'{"boot_id":"b","state":"idle","wait_s":0}'
conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=120) for _ in range(nconn)]
for c in conns:
    c.connect()
socks = [c.sock for c in conns]
sent = 0

def fail(msg):
    print("poll_instructions: " + msg, flush=True)
    sys.exit(1)

def poll_n(n, phase):
    global sent
    for k in range(n):
        i = sent
        c = conns[i % nconn]
        if c.sock is None or c.sock is not socks[i % nconn]:
            fail(f"{phase} poll {k + 1}: relayd closed keep-alive connection {i % nconn}")
        c.request("POST", "/v1/device/poll", body=body, headers={
            "Authorization": "Bearer " + tokens[i % len(tokens)],
            "Content-Type": "application/json"})
        r = c.getresponse()
        answer = r.read()
        if r.status != 200:
            fail(f"{phase} poll {k + 1} answered {r.status} {r.reason}: {answer[:300]!r}")
        if r.will_close:
            fail(f"{phase} poll {k + 1}: relayd asked to close the connection (no keep-alive)")
        sent += 1

def callgrind(*args):
    p = subprocess.run(["callgrind_control", *args, pid], capture_output=True, text=True)
    if p.returncode != 0 or "OK" not in p.stdout:
        fail(f"callgrind_control {' '.join(args)} {pid} failed:\n{p.stdout}{p.stderr}")

poll_n(warmup, "warm-up")
callgrind("-i", "on")
poll_n(polls, "counted")
callgrind("-d")
callgrind("-i", "off")
for c in conns:
    c.close()
EOF
  { echo "poll_instructions: the poll client failed; relayd log:"; tail -n 20 "$WORK/relayd.log"; exit 1; }

DUMP=$WORK/callgrind.out.1
[ -s "$DUMP" ] || { echo "poll_instructions: no callgrind dump at $DUMP:"; ls -l "$WORK"; exit 1; }
grep -q '^events: Ir$' "$DUMP" || { echo "poll_instructions: $DUMP does not count Ir alone: $(grep '^events:' "$DUMP")"; exit 1; }
TOTAL=$(sed -n 's/^summary: *\([0-9][0-9]*\)$/\1/p' "$DUMP")
[ -z "$TOTAL" ] && TOTAL=$(sed -n 's/^totals: *\([0-9][0-9]*\)$/\1/p' "$DUMP")
[ -n "$TOTAL" ] || { echo "poll_instructions: no summary line in $DUMP"; exit 1; }
PER_POLL=$(((TOTAL + POLLS / 2) / POLLS))
commas() { echo "$1" | sed -e ':a' -e 's/\([0-9]\)\([0-9]\{3\}\)\($\|,\)/\1,\2\3/' -e 'ta'; }

if [ "$ANNOTATE" = 1 ]; then
  # The function list follows the sixth dashed rule; long template names are cut at 200 columns.
  echo "poll_instructions: top 25 functions by inclusive cost over the $POLLS counted polls (Ir, file:function):"
  callgrind_annotate --inclusive=yes --auto=no "$DUMP" |
    awk '/^-+$/ {sep++; next} sep >= 6 && NF && shown < 25 {print substr($0, 1, 200); shown++}'
  echo
fi
stop_server

echo "poll_instructions: $(commas "$TOTAL") instructions in $POLLS polls over $CONNECTIONS connections"
echo "poll_instructions: $(commas "$PER_POLL") instructions per idle poll (user space, $POLLS polls, relayd $RELAYD)"
echo "instructions_per_poll=$PER_POLL"
