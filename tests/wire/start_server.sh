# Sourced by the wire shell tests: starts `txengine serve` on an ephemeral port of loopback
# (further arguments go to serve) and sets SERVER=127.0.0.1:PORT; stops it on exit.
start_server() {
  local txengine=$1
  shift
  SERVER_LOG=$(mktemp)
  "$txengine" serve --listen 127.0.0.1:0 "$@" >"$SERVER_LOG" 2>&1 &
  SERVER_PID=$!
  trap 'kill $SERVER_PID 2>/dev/null; wait $SERVER_PID 2>/dev/null; rm -f "$SERVER_LOG"' EXIT
  for _ in $(seq 1 100); do
    if grep -q "listening on" "$SERVER_LOG"; then break; fi
    sleep 0.1
  done
  SERVER=$(sed -n 's/^txengine listening on \(.*\)$/\1/p' "$SERVER_LOG")
  if [ -z "$SERVER" ]; then echo "server did not start"; cat "$SERVER_LOG"; exit 1; fi
  grep -q "DEVELOPMENT MODE" "$SERVER_LOG" || { echo "no development-mode banner"; exit 1; }
}
