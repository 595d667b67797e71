#!/usr/bin/env bash
# kafka_consumers_crash: delivery-notifier and commission-payer are SIGKILLed mid-stream and
# restarted, twice; every event is also produced twice (a redelivery). In the end each succeeded
# payment has exactly one delivery request and one commission row, and the engine moved each
# commission exactly once (the merchant's and the platform wallet's balances say so).
# The payments are real (made in the engine first): commission-payer verifies every event.
# usage: consumers_crash.sh DEVBROKER KAFKA_EVENT_TOOL DELIVERY_NOTIFIER COMMISSION_PAYER TXENGINE TXCTL TXBENCH
DEVBROKER=$1 TOOL=$2 NOTIFIER=$3 PAYER=$4 TXENGINE=$5 TXCTL=$6 TXBENCH=$7
. "$(dirname "$0")/lib.sh"
TOPIC=txengine.orders.finalized
EVENTS=${KAFKA_CRASH_EVENTS:-3000}   # distinct events; every 10th a failed payment
AMOUNT=12345 BPS=150                 # commission 185 (185.175 floored) per payment
SUCCEEDED=$((EVENTS - EVENTS / 10))
COMMISSION=$((AMOUNT * BPS / 10000))

start_devbroker "$DEVBROKER" --topic "$TOPIC:6"
start_engine "$TXENGINE"
new_database kafka_crash
DB=$TEST_DB
commission_wallets "$TXCTL" 100000000.00

real_payments "$TXBENCH" "$TXCTL" "$EVENTS" 10 "$MERCHANT" "$AMOUNT" "$KAFKA_TEST_DIR/orders" || exit 1
BASE=$(wallet_available "$TXCTL" "$MERCHANT")   # the payments themselves; commissions come on top
timeout 120 "$TOOL" produce --bootstrap "$BOOTSTRAP" --topic "$TOPIC" --first-id 500001 --count "$EVENTS" \
  --payer "$PAYMENT_PAYER" --merchant "$MERCHANT" --amount "$AMOUNT" --failed-every 10 --repeat 2 --garbage 2 \
  --order-ids "$KAFKA_TEST_DIR/orders" || fail "produce"

COMMON=(--bootstrap "$BOOTSTRAP" --topic "$TOPIC" --mysql "$MYSQL_URI" --database "$DB" --batch 50 --poll-ms 100)
start_notifier() {
  "$NOTIFIER" "${COMMON[@]}" "$@" >>"$KAFKA_TEST_DIR/notifier.out" 2>>"$KAFKA_TEST_DIR/notifier.log" &
  NOTIFIER_PID=$!; KAFKA_TEST_PIDS+=("$NOTIFIER_PID")
}
start_payer() {
  "$PAYER" "${COMMON[@]}" --engine "$ENGINE" --platform-wallet "$PLATFORM" --bps "$BPS" "$@" \
    >>"$KAFKA_TEST_DIR/payer.out" 2>>"$KAFKA_TEST_DIR/payer.log" &
  PAYER_PID=$!; KAFKA_TEST_PIDS+=("$PAYER_PID")
}
processed() { sql "SELECT COUNT(*) FROM \`$DB\`.processed_events WHERE consumer='$1'" 2>/dev/null || echo 0; }
past() { [ "$(processed "$1")" -ge "$2" ]; }

# Two crashes each: SIGKILL once a share of the events is processed, restart.
for share in 3 2; do
  start_notifier
  start_payer
  target=$((SUCCEEDED / share))
  wait_until 120 "delivery-notifier past $target" past delivery-notifier "$target" || fail "notifier progress"
  kill -KILL "$NOTIFIER_PID"
  wait_until 120 "commission-payer past $target" past commission-payer "$target" || fail "payer progress"
  kill -KILL "$PAYER_PID"
  wait_gone "$NOTIFIER_PID" 10; wait_gone "$PAYER_PID" 10
  echo "killed both at: delivery-notifier $(processed delivery-notifier), commission-payer $(processed commission-payer)"
done
# Final runs: until idle, then exit with a summary.
start_notifier --idle-exit-ms 3000 --json
start_payer --idle-exit-ms 3000 --json
wait_gone "$NOTIFIER_PID" 180 || fail "delivery-notifier did not finish"
wait_gone "$PAYER_PID" 180 || fail "commission-payer did not finish"
tail -1 "$KAFKA_TEST_DIR/notifier.out"; tail -1 "$KAFKA_TEST_DIR/payer.out"

check_eq "delivery requests" "$(sql "SELECT COUNT(*) FROM \`$DB\`.delivery_requests")" "$SUCCEEDED"
check_eq "delivery requests per event > 1" \
  "$(sql "SELECT COUNT(*) FROM (SELECT event_id FROM \`$DB\`.delivery_requests GROUP BY event_id HAVING COUNT(*) > 1) d")" 0
check_eq "delivery requests of failed payments" \
  "$(sql "SELECT COUNT(*) FROM \`$DB\`.delivery_requests WHERE MOD(event_id - 500001 + 1, 10) = 0")" 0
check_eq "commission rows" "$(sql "SELECT COUNT(*) FROM \`$DB\`.commission_payments")" "$SUCCEEDED"
check_eq "commission rows not ok" "$(sql "SELECT COUNT(*) FROM \`$DB\`.commission_payments WHERE result_code <> 0 OR commission_amount <> $COMMISSION")" 0
check_eq "distinct commission orders" \
  "$(sql "SELECT COUNT(DISTINCT commission_order_id) FROM \`$DB\`.commission_payments WHERE commission_order_id <> 0")" "$SUCCEEDED"
# The money: paid exactly once per succeeded payment.
check_eq "merchant balance" "$(wallet_available "$TXCTL" "$MERCHANT")" "$((BASE + SUCCEEDED * COMMISSION))"
check_eq "events set aside" "$(sql "SELECT COUNT(*) FROM \`$DB\`.set_aside_events")" 0
check_eq "platform balance" "$(wallet_available "$TXCTL" "$PLATFORM")" "$((-SUCCEEDED * COMMISSION))"
grep -q "malformed event" "$KAFKA_TEST_DIR/notifier.log" && ok "malformed events reported" || fail "no malformed report"

[ "$fails" -eq 0 ] && echo "kafka consumers crash passed" || { echo "$fails checks failed"; exit 1; }
