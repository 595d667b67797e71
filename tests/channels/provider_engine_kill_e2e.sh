#!/usr/bin/env bash
# The engine killed with SIGKILL after the provider accepted its submits and before it answered
# (issue 15, item 6): `txengine serve --mysql` with [[providers]] against the txprovider-sim
# program, whose orders take 0.4-0.9 s to settle. Payouts are submitted, the engine is killed while
# they are processing at the provider, restarted; recovery resumes them, their queries settle them.
# Every payout ends final, agrees with the provider, and the wallet holds exactly what the
# provider moved: none failed while paid (which would pay it twice), none paid twice.
# usage: provider_engine_kill_e2e.sh txengine txctl txprovider-sim
# Needs the private MariaDB server (scripts/mariadb.sh); uses the databases txtest_provider_kill_*.
set -uo pipefail
TXENGINE=$1
TXCTL=$2
SIM=$3
URI=${TXENGINE_MYSQL_URI:-mysql://txengine:txengine@127.0.0.1:3407}
PREFIX=txtest_provider_kill
MYSQL_PORT=$(sed -n 's/.*:\([0-9]*\)$/\1/p' <<<"$URI")
WORK=$(mktemp -d)
fails=0
SIM_PID=
SERVER_PID=
drop_databases() {
  mariadb -h127.0.0.1 -P"${MYSQL_PORT:-3407}" -utxengine -ptxengine -e "DROP DATABASE IF EXISTS ${PREFIX}_0" >/dev/null 2>&1
}
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null
  [ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null
  wait 2>/dev/null
  drop_databases
  rm -rf "$WORK"
}
trap cleanup EXIT

cat >"$WORK/slow.toml" <<'TOML'
seed = 11
[latency]
min_ms = 1
max_ms = 3
[outcome]
decline_ppm = 200000
settle_min_ms = 400
settle_max_ms = 900
TOML
. "$(dirname "$0")/sim_support.sh"
start_sim "$SIM" "$WORK/slow.toml" 0 "$WORK/sim-state" "$WORK/sim.log"
engine_config "$WORK" "[order]" "channel_submit_timeout_ms = 500" "channel_query_min_delay_ms = 200" "channel_not_found_final_ms = 3000"
[[providers]]
id = 7
base_url = "http://127.0.0.1:$SIM_PORT"
api_key = "txsim-merchant"
secret_file = "$WORK/secret"
[order]
channel_submit_timeout_ms = 500
channel_query_min_delay_ms = 200
channel_not_found_final_ms = 3000
TOML
start_server() {
  "$TXENGINE" serve --listen 127.0.0.1:0 --config "$WORK/txengine.toml" --mysql "$URI" --db-prefix "$PREFIX" \
    >"$WORK/serve.log" 2>&1 &
  SERVER_PID=$!
  SERVER=
  for _ in $(seq 1 300); do
    SERVER=$(sed -n 's/^txengine listening on \(.*\)$/\1/p' "$WORK/serve.log")
    [ -n "$SERVER" ] && break
    sleep 0.1
  done
  [ -n "$SERVER" ] || { echo "FAIL: serve did not start"; cat "$WORK/serve.log"; exit 1; }
}
ctl() { "$TXCTL" --server "$SERVER" "$@"; }
provider_status() {  # provider_status ORDER_ID -> "STATUS SETTLED"
  provider_order "$1" | sed -n 's/.*"settled_amount":\([0-9]*\).*"status":"\([a-z_]*\)".*/\2 \1/p'
}

drop_databases
start_server
W=$(ctl --json wallet create --kind user --currency USD --request-id w | sed -n 's/.*"wallet":{"wallet":\([0-9]*\).*/\1/p')
[ -n "$W" ] || { echo "FAIL: wallet create"; exit 1; }
clients=()
for i in $(seq 1 12); do ctl --json top-up --wallet "$W" --amount 10.00 --currency USD --channel 7 --request-id "up-$i" \
  >>"$WORK/up.out" 2>&1 & clients+=($!); done
wait "${clients[@]}"
# Payouts, four clients; killed while the provider is still processing them.
clients=()
for c in 1 2 3 4; do
  (for i in $(seq 1 10); do ctl --json withdraw --wallet "$W" --amount 1.00 --currency USD --channel 7 \
     --request-id "down-$c-$i"; done) >"$WORK/down$c.out" 2>&1 &
  clients+=($!)
done
sleep 0.7
kill -9 "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null
echo "txengine killed with SIGKILL while payouts were processing at the provider"
wait "${clients[@]}"
start_server
echo "txengine restarted; repeating every request id to read its order"
up_total=0; down_total=0; final=0; ids=0
for r in $(seq 1 12 | sed 's/^/up-/') $(for c in 1 2 3 4; do for i in $(seq 1 10); do echo "down-$c-$i"; done; done); do
  kind=withdraw; amount=1.00; [ "${r%%-*}" = up ] && kind=top-up && amount=10.00
  flag=(--wallet "$W"); out=
  for _ in $(seq 1 60); do  # the repeat answers once the resumed order is final (bounded: 60 tries)
    out=$(ctl --json "$kind" "${flag[@]}" --amount "$amount" --currency USD --channel 7 --request-id "$r" 2>&1)
    grep -qE '"state":"(succeeded|failed)"' <<<"$out" && break
    sleep 0.5
  done
  id=$(sed -n 's/.*"order_id":\([0-9]*\).*/\1/p' <<<"$out"); state=$(sed -n 's/.*"state":"\([a-z]*\)".*/\1/p' <<<"$out")
  posted=$(sed -n 's/.*"posted_amount":\([0-9]*\).*/\1/p' <<<"$out")
  if [ "$state" != succeeded ] && [ "$state" != failed ]; then
    echo "FAIL: $r is not final: $out"; fails=$((fails + 1)); continue
  fi
  final=$((final + 1))
  [ -n "$id" ] && [ "$id" != 0 ] || continue  # refused before it reached a provider: nothing moved
  ids=$((ids + 1))
  read -r there settled <<<"$(provider_status "$id")"
  if [ "$state" = succeeded ]; then
    [ "$there" = succeeded ] && [ "$settled" = "$posted" ] || {
      echo "FAIL: $r ($id) succeeded here with $posted, '$there $settled' at the provider"; fails=$((fails + 1)); }
    if [ "$kind" = top-up ]; then up_total=$((up_total + posted)); else down_total=$((down_total + posted)); fi
  else
    [ "$there" != succeeded ] || { echo "FAIL: $r ($id) failed here, paid at the provider"; fails=$((fails + 1)); }
  fi
done
echo "final: $final of 52 ($ids reached the provider); in: $up_total, out: $down_total"
avail=$(ctl --json wallet get "$W" | sed -n 's/.*"available":\(-\{0,1\}[0-9]*\).*/\1/p')
expected=$((up_total - down_total))
[ "$avail" = "$expected" ] || { echo "FAIL: wallet holds $avail, the provider moved $expected"; fails=$((fails + 1)); }
resumed=$(sed -n 's/.*recovery: resumed \([0-9]*\) of.*/\1/p' "$WORK/serve.log" | head -1)
echo "recovery resumed ${resumed:-0} orders"
[ "${resumed:-0}" -gt 0 ] || { echo "FAIL: no order was in flight at the kill (the test proved nothing)"; fails=$((fails + 1)); }
[ "$fails" -eq 0 ] && echo "all provider kill checks passed" || { echo "$fails failures"; exit 1; }
