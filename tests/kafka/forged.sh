#!/usr/bin/env bash
# kafka_forged_events (issue 13): anyone who can write to the topic (here kafka_event_tool, as
# kcat would) must not be able to move money through commission-payer. Three real payments are
# made in the engine, their events produced twice (a redelivery), next to forged ones: an order
# the engine does not know, a real order with a changed amount, a real order with another
# merchant, a payment that failed in the engine claimed as succeeded, a forged message that
# carries the id of a real event ahead of it, and a copy of a real event under another id (it
# verifies, but the commission is per order: paid once). In the end the
# real events paid their commission once each, every forged one is set aside (an ALERT line with
# its Kafka coordinates, a counter, a set_aside_events row) and paid nothing; an event of another
# tenant is not this payer's; a second group over the same topic pays nothing more. When kcat and
# protoc are installed, one more forged event is written with kcat itself (the schema alone).
# usage: forged.sh DEVBROKER KAFKA_EVENT_TOOL COMMISSION_PAYER TXENGINE TXCTL TXBENCH
DEVBROKER=$1 TOOL=$2 PAYER=$3 TXENGINE=$4 TXCTL=$5 TXBENCH=$6
. "$(dirname "$0")/lib.sh"
TOPIC=txengine.orders.finalized
AMOUNT=10000 BPS=100   # commission 100 per payment

start_devbroker "$DEVBROKER" --topic "$TOPIC:3"
start_engine "$TXENGINE"
new_database kafka_forged
DB=$TEST_DB
commission_wallets "$TXCTL" 1000.00
OTHER=$(wallet_create "$TXCTL" merchant)
[ -n "$OTHER" ] || { fail "wallets"; exit 1; }
real_payments "$TXBENCH" "$TXCTL" 3 0 "$MERCHANT" "$AMOUNT" "$KAFKA_TEST_DIR/orders" || exit 1
BASE=$(wallet_available "$TXCTL" "$MERCHANT")
sed -n 1p "$KAFKA_TEST_DIR/orders" >"$KAFKA_TEST_DIR/order1"
sed -n 2p "$KAFKA_TEST_DIR/orders" >"$KAFKA_TEST_DIR/order2"
sed -n 3p "$KAFKA_TEST_DIR/orders" >"$KAFKA_TEST_DIR/order3"

produce() { timeout 60 "$TOOL" produce --bootstrap "$BOOTSTRAP" --topic "$TOPIC" --payer "$PAYMENT_PAYER" "$@" >/dev/null \
  || fail "produce $*"; }
# Forged first: the id of real event 700003 (same key, same partition, earlier offset), its real
# order, another amount.
produce --first-id 700003 --count 1 --merchant "$MERCHANT" --amount 99900 --order-ids "$KAFKA_TEST_DIR/order3"
# The real events, twice.
produce --first-id 700001 --count 3 --merchant "$MERCHANT" --amount "$AMOUNT" --repeat 2 \
  --order-ids "$KAFKA_TEST_DIR/orders"
# A copy of a real event under another event id: its order is real and agrees, so it passes
# verification, but the commission's request id is the order's: the engine pays it once.
produce --first-id 700701 --count 1 --merchant "$MERCHANT" --amount "$AMOUNT" --order-ids "$KAFKA_TEST_DIR/order1"
# An order the engine does not know (the tool's default order id is the event id).
produce --first-id 9000000001 --count 1 --merchant "$MERCHANT" --amount "$AMOUNT"
# A real order with a changed amount, and one with another merchant.
produce --first-id 700201 --count 1 --merchant "$MERCHANT" --amount 20000 --order-ids "$KAFKA_TEST_DIR/order1"
produce --first-id 700301 --count 1 --merchant "$OTHER" --amount "$AMOUNT" --order-ids "$KAFKA_TEST_DIR/order2"
# A payment that failed in the engine (its payer has no funds) claimed as succeeded: GetOrder
# answers it with its own code (insufficient_funds), the state decides.
BROKE=$(wallet_create "$TXCTL" user)
"$TXCTL" --server "$ENGINE" --json pay --payer "$BROKE" --merchant "$MERCHANT" --amount 100.00 --currency USD \
  | sed -n 's/.*"order_id":\([0-9]*\).*/\1/p' >"$KAFKA_TEST_DIR/failed_order"
[ -s "$KAFKA_TEST_DIR/failed_order" ] || fail "no failed payment order"
produce --first-id 700601 --count 1 --merchant "$MERCHANT" --amount "$AMOUNT" --order-ids "$KAFKA_TEST_DIR/failed_order"
# Another tenant's event: not this payer's (its key is tenant 1's).
produce --first-id 700401 --count 1 --merchant "$MERCHANT" --amount "$AMOUNT" --tenant 2
# Written with kcat: a payment of 500.00 to the merchant that the engine never made.
FORGED=5
if command -v kcat >/dev/null && command -v protoc >/dev/null; then
  PROTO_DIR="$(dirname "$0")/../../protocol"
  printf 'event_id: 700501 tenant: 1 order_id: 700501 kind: ORDER_KIND_PAY state: ORDER_STATE_SUCCEEDED currency: "USD" amount: 50000 confirmed_amount: 50000 source: 1 destination: %s' \
    "$MERCHANT" | protoc --encode=txengine.events.OrderFinalized -I "$PROTO_DIR" "$PROTO_DIR/events.proto" \
    "$PROTO_DIR/txengine.proto" >"$KAFKA_TEST_DIR/kcat.event" || fail "protoc --encode"
  timeout 30 kcat -P -b "$BOOTSTRAP" -t "$TOPIC" -k 700501 "$KAFKA_TEST_DIR/kcat.event" || fail "kcat -P"
  FORGED=6
else
  echo "kcat or protoc missing: no event written with kcat"
fi

run_payer() {  # run_payer GROUP: until idle, the JSON summary on stdout
  timeout 120 "$PAYER" --bootstrap "$BOOTSTRAP" --topic "$TOPIC" --mysql "$MYSQL_URI" --database "$DB" \
    --engine "$ENGINE" --platform-wallet "$PLATFORM" --bps "$BPS" --group "$1" --idle-exit-ms 2000 --json \
    2>>"$KAFKA_TEST_DIR/payer.log"
}
out=$(run_payer payer-one); echo "$out"
grep -q '"paid":3,' <<<"$out" && ok "three real events paid" || fail "paid: $out"
grep -q "\"set_aside\":$FORGED," <<<"$out" && ok "$FORGED forged events set aside" || fail "set aside: $out"
grep -q '"other_tenant":1' <<<"$out" && ok "another tenant's event skipped" || fail "other tenant: $out"
check_eq "merchant balance (three commissions)" "$(wallet_available "$TXCTL" "$MERCHANT")" $((BASE + 300))
check_eq "other merchant balance" "$(wallet_available "$TXCTL" "$OTHER")" 0
check_eq "platform balance" "$(wallet_available "$TXCTL" "$PLATFORM")" -300
check_eq "commissions paid (not engine repeats)" \
  "$(sql "SELECT COUNT(*) FROM \`$DB\`.commission_payments WHERE result_code = 0 AND duplicate_answer = 0")" 3
check_eq "commission orders of the copied payment's order" \
  "$(sql "SELECT COUNT(DISTINCT commission_order_id) FROM \`$DB\`.commission_payments WHERE payment_order_id = $(cat "$KAFKA_TEST_DIR/order1") AND commission_order_id <> 0")" 1
check_eq "set-aside rows" "$(sql "SELECT COUNT(*) FROM \`$DB\`.set_aside_events")" "$FORGED"
check_eq "unknown order" "$(sql "SELECT reason FROM \`$DB\`.set_aside_events WHERE event_id = 9000000001")" unknown_order
check_eq "changed amount" "$(sql "SELECT reason FROM \`$DB\`.set_aside_events WHERE event_id = 700201")" \
  "amount: event 20000, engine $AMOUNT"
check_eq "other merchant" "$(sql "SELECT reason FROM \`$DB\`.set_aside_events WHERE event_id = 700301")" \
  "merchant: event $OTHER, engine $MERCHANT"
check_eq "forged copy of a real event id" "$(sql "SELECT reason FROM \`$DB\`.set_aside_events WHERE event_id = 700003")" \
  "amount: event 99900, engine $AMOUNT"
check_eq "failed payment claimed as succeeded" \
  "$(sql "SELECT reason FROM \`$DB\`.set_aside_events WHERE event_id = 700601")" "state: event 5, engine 6"
[ "$FORGED" = 6 ] && check_eq "written with kcat" \
  "$(sql "SELECT reason FROM \`$DB\`.set_aside_events WHERE event_id = 700501")" unknown_order
check_eq "ALERT lines" "$(grep -c "ALERT event .* at $TOPIC\[[0-9]*\]@[0-9]* .* set aside, nothing paid" "$KAFKA_TEST_DIR/payer.log")" "$FORGED"

# Another group over the same topic: the real events are recorded already, the forged ones are
# set aside again (the same rows), nothing more is paid.
out=$(run_payer payer-two); echo "$out"
grep -q '"paid":0,' <<<"$out" && ok "nothing paid again" || fail "second group: $out"
check_eq "merchant balance after the second group" "$(wallet_available "$TXCTL" "$MERCHANT")" $((BASE + 300))
check_eq "set-aside rows after the second group" "$(sql "SELECT COUNT(*) FROM \`$DB\`.set_aside_events")" "$FORGED"

[ "$fails" -eq 0 ] && echo "kafka forged events passed" || { echo "$fails checks failed"; exit 1; }
