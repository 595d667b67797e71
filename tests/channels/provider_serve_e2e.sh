#!/usr/bin/env bash
# `txengine serve` with a [[providers]] config against the txprovider-sim program, over real HTTP:
# top-ups and withdrawals through txctl settle at the provider; a provider that declines is a
# failed order with nothing moved; the simulated channels are gone; and the provider is killed
# with SIGKILL and restarted under load, after which every order is final and agrees with it.
# usage: provider_serve_e2e.sh txengine txctl txprovider-sim
set -uo pipefail
TXENGINE=$1
TXCTL=$2
SIM=$3
WORK=$(mktemp -d)
fails=0
cleanup() {
  kill "$SIM_PID" "$SERVER_PID" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

. "$(dirname "$0")/sim_support.sh"
cat >"$WORK/declines.toml" <<'TOML'
seed = 9
[latency]
min_ms = 1
max_ms = 3
[outcome]
decline_ppm = 300000
settle_min_ms = 0
settle_max_ms = 300
TOML
start_sim "$SIM" "$WORK/declines.toml" 0 "$WORK/sim-state" "$WORK/sim.log"
engine_config "$WORK" "submit_timeout_ms = 1000" "query_timeout_ms = 1000" "[order]" "channel_submit_timeout_ms = 1500" "channel_query_min_delay_ms = 100" "channel_not_found_final_ms = 3000"
[[providers]]
id = 7
base_url = "http://127.0.0.1:$SIM_PORT"
api_key = "txsim-merchant"
secret_file = "$WORK/secret"
submit_timeout_ms = 1000
query_timeout_ms = 1000
[order]
channel_submit_timeout_ms = 1500
channel_query_min_delay_ms = 100
channel_not_found_final_ms = 3000
TOML
"$TXENGINE" serve --listen 127.0.0.1:0 --config "$WORK/txengine.toml" >"$WORK/serve.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do grep -q "listening on" "$WORK/serve.log" && break; sleep 0.1; done
SERVER=$(sed -n 's/^txengine listening on \(.*\)$/\1/p' "$WORK/serve.log")
[ -n "$SERVER" ] || { echo "FAIL: serve did not start"; cat "$WORK/serve.log"; exit 1; }
grep -q "channel 7: provider http://127.0.0.1:$SIM_PORT over HTTP" "$WORK/serve.log" || {
  echo "FAIL: serve does not name its provider"; cat "$WORK/serve.log"; fails=$((fails + 1)); }
ctl() { "$TXCTL" --server "$SERVER" "$@"; }

W=$(ctl --json wallet create --kind user --currency USD | sed -n 's/.*"wallet":{"wallet":\([0-9]*\).*/\1/p')
[ -n "$W" ] || { echo "FAIL: wallet create"; exit 1; }
out=$(ctl top-up --wallet "$W" --amount 1.00 --currency USD --channel 1 2>&1)
grep -q "unknown_channel" <<<"$out" || { echo "FAIL: the simulated channel 1 still exists: $out"; fails=$((fails + 1)); }
# Naming no channel, without routes: channel 1, which this engine does not have.
out=$(ctl top-up --wallet "$W" --amount 1.00 --currency USD --channel 0 2>&1)
grep -q "no_route" <<<"$out" || { echo "FAIL: an order naming no channel without routes: $out"; fails=$((fails + 1)); }

# 40 top-ups and 40 withdrawals, four at a time; then the provider killed and restarted mid-load.
run_orders() {  # run_orders PREFIX KIND COUNT
  for i in $(seq 1 "$3"); do
    if [ "$2" = top-up ]; then ctl --json top-up --wallet "$W" --amount 10.00 --currency USD --channel 7 --request-id "$1-$i"
    else ctl --json withdraw --wallet "$W" --amount 1.00 --currency USD --channel 7 --request-id "$1-$i"; fi
  done
}
clients=()
for p in 1 2 3 4; do run_orders "up$p" top-up 10 >"$WORK/up$p.out" 2>&1 & clients+=($!); done
wait "${clients[@]}"
clients=()
for p in 1 2 3 4; do run_orders "down$p" withdraw 10 >"$WORK/down$p.out" 2>&1 & clients+=($!); done
sleep 0.3
kill -9 "$SIM_PID"; wait "$SIM_PID" 2>/dev/null
echo "txprovider-sim killed with SIGKILL mid-load; restarted on its port"
start_sim "$SIM" "$WORK/declines.toml" "$SIM_PORT" "$WORK/sim-state" "$WORK/sim2.log"
wait "${clients[@]}"

succeeded=$(cat "$WORK"/up*.out "$WORK"/down*.out | grep -c '"state":"succeeded"')
failed=$(cat "$WORK"/up*.out "$WORK"/down*.out | grep -c '"state":"failed"')
echo "orders: $succeeded succeeded, $failed failed (of 80)"
if [ $((succeeded + failed)) -ne 80 ]; then
  echo "FAIL: not every order reached a final state"; cat "$WORK"/down*.out | grep -v '"state":"\(succeeded\|failed\)"' | head
  fails=$((fails + 1))
fi
[ "$failed" -gt 0 ] || { echo "FAIL: the declining provider declined nothing"; fails=$((fails + 1)); }
# Every order agrees with the provider, and the wallet holds exactly what the provider moved.
expected=0
for f in "$WORK"/up*.out "$WORK"/down*.out; do
  while read -r line; do
    id=$(sed -n 's/.*"order_id":\([0-9]*\).*/\1/p' <<<"$line"); state=$(sed -n 's/.*"state":"\([a-z]*\)".*/\1/p' <<<"$line")
    posted=$(sed -n 's/.*"posted_amount":\([0-9]*\).*/\1/p' <<<"$line")
    [ -n "$id" ] || continue
    there=$(provider_order "$id" | sed -n 's/.*"status":"\([a-z_]*\)".*/\1/p')
    if [ "$state" = succeeded ]; then
      [ "$there" = succeeded ] || { echo "FAIL: order $id succeeded here, $there at the provider"; fails=$((fails + 1)); }
      case $f in *up*) expected=$((expected + posted)) ;; *) expected=$((expected - posted)) ;; esac
    else
      [ "$there" != succeeded ] || { echo "FAIL: order $id failed here, paid at the provider"; fails=$((fails + 1)); }
    fi
  done < <(grep '"order_id"' "$f")
done
avail=$(ctl --json wallet get "$W" | sed -n 's/.*"available":\(-\{0,1\}[0-9]*\).*/\1/p')
[ "$avail" = "$expected" ] || { echo "FAIL: wallet holds $avail, the provider moved $expected"; fails=$((fails + 1)); }
echo "wallet $W: $avail (what the provider moved: $expected)"
# What an operator sees: SIGUSR1 prints the adapter's and the callback endpoint's counters.
kill -USR1 "$SERVER_PID"
for _ in $(seq 1 50); do grep -q "counters: provider 7:" "$WORK/serve.log" && break; sleep 0.1; done
line=$(grep "counters: provider 7:" "$WORK/serve.log" | tail -1)
requests=$(sed -n 's/.* requests \([0-9]*\) .*/\1/p' <<<"$line")
[ -n "$requests" ] && [ "$requests" -gt 0 ] || { echo "FAIL: no provider counters on SIGUSR1: $line"; fails=$((fails + 1)); }
echo "$line"
[ "$fails" -eq 0 ] && echo "PASS" || { echo "$fails failures"; exit 1; }
