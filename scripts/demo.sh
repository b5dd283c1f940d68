#!/usr/bin/env bash
# The README's demo command: installs what is missing, builds, then runs a relay on the embedded
# SQLite store with a simulated fleet of MFPs, and tells you what to type next.
# Options (environment): DEVICES (20), PORT (8443), DEMO_DIR (var/demo), DEMO_DURATION_S (0 = until Ctrl-C).
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICES=${DEVICES:-20}
PORT=${PORT:-8443}
DEMO_DIR=${DEMO_DIR:-var/demo}
DEMO_DURATION_S=${DEMO_DURATION_S:-0}

scripts/install-deps.sh
scripts/build.sh
BIN=$PWD/build/apps
mkdir -p "$DEMO_DIR"
DEMO_DIR=$(cd "$DEMO_DIR" && pwd)

if [ ! -f "$DEMO_DIR/relay/admin.token" ]; then
  "$BIN/relayd/relayd" init --data-dir "$DEMO_DIR/relay" --port "$PORT"
fi
export PRINTRELAY_CONFIG="$DEMO_DIR/relay/relayctl.json"

"$BIN/relayd/relayd" run --data-dir "$DEMO_DIR/relay" --listen "127.0.0.1:$PORT" \
  --poll-interval-s 60 >"$DEMO_DIR/relayd.log" 2>&1 &
RELAYD=$!
SIM=""
cleanup() {
  [ -n "$SIM" ] && kill "$SIM" 2>/dev/null || true
  kill "$RELAYD" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

for _ in $(seq 1 100); do
  "$BIN/relayctl/relayctl" devices >/dev/null 2>&1 && break
  if ! kill -0 "$RELAYD" 2>/dev/null; then
    echo "demo: relayd did not start; see $DEMO_DIR/relayd.log"; cat "$DEMO_DIR/relayd.log"; exit 1
  fi
  sleep 0.1
done

CODE=$(cat "$DEMO_DIR/enrollment.code" 2>/dev/null || true)
if [ -z "$CODE" ]; then
  CODE="demo-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
  echo "$CODE" >"$DEMO_DIR/enrollment.code"
fi
CSV="$DEMO_DIR/registrations.csv"
places=("HQ 3F copy room" "HQ 5F east" "Branch Osaka 1F" "Warehouse office" "Sales 2F")
customers=("Acme Logistics" "Globex Insurance" "Initech" "Umbrella Clinics")
echo "serial,model,place,customer,contact,enrollment_code" >"$CSV"
for i in $(seq 1 "$DEVICES"); do
  printf 'SIM-%04d,MX-4070,%s,%s,facilities@example.com,%s\n' "$i" \
    "${places[$(( i % ${#places[@]} ))]}" "${customers[$(( i % ${#customers[@]} ))]}" "$CODE" >>"$CSV"
done
"$BIN/relayctl/relayctl" registrations import "$CSV" >/dev/null
# The service center's tables (docs/operations.md): error and order codes, compatibility rules.
for table in error_codes order_codes compatibility; do
  "$BIN/relayctl/relayctl" tables show "$table" --json 2>/dev/null | grep -q '"revision": 0' &&
    "$BIN/relayctl/relayctl" tables put "$table" "scripts/demo-tables/$table.json" >/dev/null
done

"$BIN/mfp-sim/mfp-sim" --relay "https://localhost:$PORT" --ca "$DEMO_DIR/relay/tls/ca.pem" \
  --enrollment-code "$CODE" --devices "$DEVICES" --state-dir "$DEMO_DIR/sim" --speed 20 \
  >"$DEMO_DIR/mfp-sim.log" 2>&1 &
SIM=$!
sleep 2

cat <<TXT

printrelay demo is running: relayd on https://localhost:$PORT (SQLite store in $DEMO_DIR/relay),
$DEVICES simulated MFPs (mfp-sim, state in $DEMO_DIR/sim). Logs: $DEMO_DIR/*.log

The dashboard: https://localhost:$PORT/  (the certificate is the demo's own CA,
$DEMO_DIR/relay/tls/ca.pem; sign in with the admin token: $(cat "$DEMO_DIR/relay/admin.token"))

In another terminal:
  export PRINTRELAY_CONFIG=$PRINTRELAY_CONFIG
  build/apps/relayctl/relayctl devices                      # the fleet
  build/apps/relayctl/relayctl watch                        # live reports, alerts, job transitions
  build/apps/relayctl/relayctl jobs create collect --serial SIM-0001 --data-sets counters,supplies
  build/apps/relayctl/relayctl jobs                         # the job list (seed 001 Fig. 9)
  build/apps/relayctl/relayctl device SIM-0001              # counters, supplies, structure, settings
  echo '{"action":"fault","code":"SC542","sc_type":"A"}' > $DEMO_DIR/sim/control/SIM-0003.json
                                                            # a fatal service call, seen by watch at once
  build/apps/relayctl/relayctl tables                       # error/order codes, compatibility, rules
  build/apps/relayctl/relayctl monitoring SIM-0001          # compatibility, troubles, supply forecasts
Ctrl-C stops the demo.
TXT
"$BIN/relayctl/relayctl" devices | head -8 || true

if [ "$DEMO_DURATION_S" -gt 0 ]; then
  sleep "$DEMO_DURATION_S"
else
  wait "$RELAYD"
fi
