#!/usr/bin/env bash
# txctl history against `txengine serve --mysql` (issue 12, items 3 and 4): `order get ID
# --movements` and `wallet movements W --all` show the same before and after a restart.
# usage: txctl_history_e2e.sh path/to/txengine path/to/txctl
# Needs the private MariaDB server (scripts/mariadb.sh); uses the databases txtest_history_e2e_*.
set -uo pipefail
TXENGINE=$1
TXCTL=$2
URI=${TXENGINE_MYSQL_URI:-mysql://txengine:txengine@127.0.0.1:3407}
PREFIX=txtest_history_e2e
PORT=$(sed -n 's/.*:\([0-9]*\)$/\1/p' <<<"$URI")
fails=0
drop_databases() {  # on the server of $URI (the private one when TXENGINE_MYSQL_URI is set)
  mariadb -h127.0.0.1 -P"${PORT:-3407}" -utxengine -ptxengine -e "DROP DATABASE IF EXISTS ${PREFIX}_0" >/dev/null 2>&1
}
SERVER_PID=
stop_server() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; fi
  SERVER_PID=
}
trap 'stop_server; rm -f "${SERVER_LOG:-}" "${PASSWORD_FILE:-}"; drop_databases' EXIT
# The restarted server reads its password from an owner-only file, not from the URI (issue 13).
URI_NO_PASSWORD=$(sed 's#://\([^:@/]*\):[^@]*@#://\1@#' <<<"$URI")
PASSWORD_FILE=$(mktemp)
chmod 600 "$PASSWORD_FILE"
sed -n 's#.*://[^:@/]*:\([^@]*\)@.*#\1#p' <<<"$URI" >"$PASSWORD_FILE"
start_server() {  # start_server [serve flags...]: --mysql "$URI" unless given
  SERVER_LOG=$(mktemp)
  local mysql=(--mysql "$URI")
  [ $# -gt 0 ] && mysql=("$@")
  "$TXENGINE" serve --listen 127.0.0.1:0 "${mysql[@]}" --db-prefix "$PREFIX" >"$SERVER_LOG" 2>&1 &
  SERVER_PID=$!
  SERVER=
  for _ in $(seq 1 300); do  # bounded: 30 s
    SERVER=$(sed -n 's/^txengine listening on \(.*\)$/\1/p' "$SERVER_LOG")
    [ -n "$SERVER" ] && break
    sleep 0.1
  done
  if [ -z "$SERVER" ]; then echo "server did not start"; cat "$SERVER_LOG"; exit 1; fi
}
ctl() { "$TXCTL" --server "$SERVER" "$@"; }
check() {  # check PATTERN TEXT NAME
  if grep -qE -- "$1" <<<"$2"; then echo "ok: $3"; else echo "FAIL: $3 (no '$1')"; echo "$2"; fails=$((fails + 1)); fi
}
same() {  # same A B NAME
  if [ "$1" == "$2" ]; then echo "ok: $3"; else echo "FAIL: $3 differs"; diff <(echo "$1") <(echo "$2"); fails=$((fails + 1)); fi
}
# A try and its confirm stored as one row carry one time: compare without the times.
no_times() { sed 's/"at_ms":[0-9]*//g'; }
# An order read back from MySQL has no balances after its steps (`wallets`): its movements only.
movements_of() { sed 's/.*"movements":/"movements":/'; }

drop_databases
start_server
U1=$(ctl --json wallet create --kind user --currency USD | sed -n 's/.*"wallet":{"wallet":\([0-9]*\).*/\1/p')
M=$(ctl --json wallet create --kind merchant --currency USD | sed -n 's/.*"wallet":{"wallet":\([0-9]*\).*/\1/p')
[ -n "$U1" ] && [ -n "$M" ] || { echo "FAIL: wallet create"; exit 1; }
ctl top-up --wallet "$U1" --amount 100.00 --currency USD --request-id t1 >/dev/null
for i in 1 2 3 4 5; do ctl pay --payer "$U1" --merchant "$M" --amount "$i.00" --currency USD --request-id "p$i" >/dev/null; done
PAY_JSON=$(ctl --json pay --payer "$U1" --merchant "$M" --amount 7.00 --currency USD --request-id p7)
PAY=$(sed -n 's/.*"order_id":\([0-9]*\).*/\1/p' <<<"$PAY_JSON")
[ -n "$PAY" ] || { echo "FAIL: pay: $PAY_JSON"; exit 1; }
TEXT=$(ctl order get "$PAY" --movements)
check "^movements" "$TEXT" "order get --movements: table"
check "confirm" "$TEXT" "order get --movements: confirm row"
ORDER_BEFORE=$(ctl --json order get "$PAY" --movements)
check '"movements":\[\{"wallet":' "$ORDER_BEFORE" "order get --movements --json"
WALLET_BEFORE=$(ctl --json wallet movements "$U1" --limit 3 --all)
check '"sequence":1,' "$WALLET_BEFORE" "wallet movements --all from the first entry"
# A crash, not a clean stop: what was acknowledged (durable acks) is found after it.
kill -9 "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; SERVER_PID=

start_server --mysql "$URI_NO_PASSWORD" --mysql-password-file "$PASSWORD_FILE"
ORDER_AFTER=$(ctl --json order get "$PAY" --movements)
same "$(movements_of <<<"$ORDER_BEFORE" | no_times)" "$(movements_of <<<"$ORDER_AFTER" | no_times)" \
  "order movements after the restart"
WALLET_AFTER=$(ctl --json wallet movements "$U1" --limit 3 --all)
same "$(no_times <<<"$WALLET_BEFORE")" "$(no_times <<<"$WALLET_AFTER")" "wallet movements --all after the restart"
check "try +" "$(ctl wallet movements "$U1" --all)" "wallet movements --all: table"

if [ "$fails" -ne 0 ]; then echo "$fails failures"; exit 1; fi
echo "all txctl history checks passed"
