# Sourced by the fault tests: the engine and txbench processes of a test, stopped at exit; a
# failure that prints the tail of every server log; and starting `txengine serve` on an
# ephemeral port of loopback; `sql` on the MySQL server of $URI. The caller sets TXENGINE and WORK
# (the logs are $WORK/server-*.log).
SERVER_PID=
BENCH_PID=
cleanup() {
  [ -n "$SERVER_PID" ] && kill -9 "$SERVER_PID" 2>/dev/null
  [ -n "$BENCH_PID" ] && kill "$BENCH_PID" 2>/dev/null
  wait 2>/dev/null
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  for f in "$WORK"/server-*.log; do echo "--- $f (tail)"; tail -n 15 "$f"; done
  exit 1
}

# start_serve LOG [serve arguments...]: starts the engine and waits (bounded) until it listens;
# sets SERVER_PID and SERVER (HOST:PORT).
start_serve() {
  local log=$1
  shift
  "$TXENGINE" serve --listen 127.0.0.1:0 "$@" >"$log" 2>&1 &
  SERVER_PID=$!
  local deadline=$((SECONDS + 120))
  until grep -q "listening on" "$log" 2>/dev/null; do
    kill -0 "$SERVER_PID" 2>/dev/null || fail "the engine exited at start ($log)"
    [ $SECONDS -lt $deadline ] || fail "the engine did not listen within 120 s ($log)"
    sleep 0.1
  done
  SERVER=$(sed -n 's/^txengine listening on \(.*\)$/\1/p' "$log")
}

# sql STATEMENT: runs it on the MySQL server of $URI (mysql://user:password@host:port), one
# tab-separated line per row, no column names.
sql() {
  local hostport=${URI#*@} creds=${URI#mysql://}
  hostport=${hostport%%/*}
  hostport=${hostport%%\?*}
  creds=${creds%%@*}
  mariadb --no-defaults -h "${hostport%:*}" -P "${hostport##*:}" -u "${creds%%:*}" -p"${creds#*:}" -N -B -e "$1"
}
