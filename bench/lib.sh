# Helpers the bench scripts share; sourced, not run. Each script keeps what it measures.

# A TCP port on loopback that was free a moment ago.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# enroll_fleet NAME BASE ADMIN_TOKEN COUNT TOKENS_FILE: registers BENCH-0001.. at the relay at BASE
# through the admin API, enrols each through the device API, and writes the device tokens to
# TOKENS_FILE, one a line. Exits, naming NAME (the script), when a step fails.
enroll_fleet() {
  local name=$1 base=$2 admin=$3 count=$4 tokens=$5 code="bench-$$" i serial answer token
  : >"$tokens"
  for i in $(seq 1 "$count"); do
    serial=$(printf 'BENCH-%04d' "$i")
    curl -sf -o /dev/null -X POST "$base/v1/registrations" -H "Authorization: Bearer $admin" \
      -H 'Content-Type: application/json' \
      -d "{\"serial\":\"$serial\",\"model\":\"MX-4070\",\"place\":\"bench\",\"customer\":\"bench\",\"contact\":\"bench@example.com\",\"enrollment_code\":\"$code\"}" ||
      { echo "$name: registering $serial failed"; exit 1; }
    answer=$(curl -sf -X POST "$base/v1/device/enroll" -H 'Content-Type: application/json' \
      -d "{\"serial\":\"$serial\",\"model\":\"MX-4070\",\"enrollment_code\":\"$code\"}") ||
      { echo "$name: enrolling $serial failed"; exit 1; }
    token=$(printf '%s' "$answer" | sed -n 's/.*"device_token" *: *"\([^"]*\)".*/\1/p')
    [ -n "$token" ] || { echo "$name: no device_token in: $answer"; exit 1; }
    echo "$token" >>"$tokens"
  done
  echo "$name: registered and enrolled $count devices"
}
