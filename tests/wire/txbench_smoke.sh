#!/usr/bin/env bash
# A short txbench run against a server started here; checks the JSON summary.
# usage: txbench_smoke.sh path/to/txengine path/to/txbench
set -uo pipefail
TXENGINE=$1
TXBENCH=$2
. "$(dirname "$0")/start_server.sh"
start_server "$TXENGINE"
csv=$(mktemp)
acks=$(mktemp)
for mix in transfer pay_hot mixed; do
  out=$("$TXBENCH" --server "$SERVER" --connections 4 --duration 1 --wallets 50 --window 32 --mix "$mix" --json \
        --csv "$csv" --ack-log "$acks" 2>/dev/null)
  echo "$out"
  grep -q '"errors":0,' <<<"$out" || { echo "FAIL: errors in $mix"; exit 1; }
  acknowledged=$(sed -n 's/.*"acknowledged":\([0-9]*\).*/\1/p' <<<"$out")
  [ "${acknowledged:-0}" -gt 0 ] || { echo "FAIL: nothing acknowledged in $mix"; exit 1; }
  for f in ops_per_s p50_us p99_us; do grep -q "\"$f\":" <<<"$out" || { echo "FAIL: no $f"; exit 1; }; done
  [ "$(($(wc -l <"$csv") - 1))" -ge "$acknowledged" ] || { echo "FAIL: csv too short"; exit 1; }
done
[ "$(wc -l <"$acks")" -gt 0 ] || { echo "FAIL: empty ack log"; exit 1; }
rm -f "$csv" "$acks"
echo "txbench smoke passed"
