#!/usr/bin/env bash
# kafka_e2e: txengine serve --mysql --kafka under txbench load publishes every final state;
# a broker outage (all brokers down, then up) and an engine SIGKILL + restart happen mid-load,
# and commission-payer is SIGKILLed and restarted. In the end:
#  - the distinct event ids on the topic (read by kcat) are exactly the final orders in MySQL
#    (published at least once, de-duplicated by event id: exactly once in effect);
#  - one delivery request per succeeded payment, and no other;
#  - one commission row per succeeded payment, and per commission > 0 exactly one succeeded
#    commission order in the engine with the request id commission-<order id> and that amount.
# usage: e2e.sh DEVBROKER KAFKA_EVENT_TOOL DELIVERY_NOTIFIER COMMISSION_PAYER TXENGINE TXCTL TXBENCH
DEVBROKER=$1 TOOL=$2 NOTIFIER=$3 PAYER=$4 TXENGINE=$5 TXCTL=$6 TXBENCH=$7
. "$(dirname "$0")/lib.sh"
TOPIC=txengine.orders.finalized
BPS=5000   # txbench pays small amounts; half of each makes most commissions non-zero

start_devbroker "$DEVBROKER" --topic "$TOPIC:6"
# The engine's databases: their own prefix when serve takes one, else the default (txengine_*),
# and then only orders created by this run are compared.
PREFIX_ARGS=()
ENGINE_PREFIX=txengine
if "$TXENGINE" serve --help 2>&1 | grep -q -- '--db-prefix'; then
  ENGINE_PREFIX="txtest_kafka_e2e_$$"
  PREFIX_ARGS=(--db-prefix "$ENGINE_PREFIX")
  KAFKA_TEST_DBS+=("${ENGINE_PREFIX}_0")
fi
ORDERS="\`${ENGINE_PREFIX}_0\`.orders_0"
OUTBOX="\`${ENGINE_PREFIX}_0\`.outbox_0"
START_MS=$(( $(date +%s%3N) - 1000 ))
SERVE_ARGS=(--mysql "$MYSQL_URI" "${PREFIX_ARGS[@]}" --kafka "$BOOTSTRAP" --kafka-topic "$TOPIC")
start_engine "$TXENGINE" "${SERVE_ARGS[@]}"
ENGINE_LISTEN=$ENGINE   # a restart listens on the same port, so the consumers find it again
new_database kafka_e2e
DB=$TEST_DB

PLATFORM=$(wallet_create "$TXCTL" fee)
[ -n "$PLATFORM" ] || { fail "platform wallet"; exit 1; }
"$TXCTL" --server "$ENGINE" wallet set-limit "$PLATFORM" --limit 100000000.00 >/dev/null || fail "set-limit"

COMMON=(--bootstrap "$BOOTSTRAP" --topic "$TOPIC" --mysql "$MYSQL_URI" --database "$DB" --batch 200 --poll-ms 100)
"$NOTIFIER" "${COMMON[@]}" --json >"$KAFKA_TEST_DIR/notifier.out" 2>"$KAFKA_TEST_DIR/notifier.log" &
NOTIFIER_PID=$!; KAFKA_TEST_PIDS+=("$NOTIFIER_PID")
start_payer() {
  "$PAYER" "${COMMON[@]}" --engine "$ENGINE" --platform-wallet "$PLATFORM" --bps "$BPS" --max-attempts 30 "$@" \
    >>"$KAFKA_TEST_DIR/payer.out" 2>>"$KAFKA_TEST_DIR/payer.log" &
  PAYER_PID=$!; KAFKA_TEST_PIDS+=("$PAYER_PID")
}
start_payer --json

bench() {  # bench SECONDS LOG: a closed loop of payments and transfers
  timeout 120 "$TXBENCH" --server "$ENGINE" --connections 2 --window 16 --wallets 40 --mix mixed --duration "$1" \
    >"$KAFKA_TEST_DIR/$2" 2>&1
}
q() { sql "$1" 2>/dev/null || echo -1; }
published() { q "SELECT COUNT(*) FROM $OUTBOX WHERE published_ms > 0 AND created_ms >= $START_MS"; }
processed() { q "SELECT COUNT(*) FROM \`$DB\`.processed_events WHERE consumer='$1'"; }
gt() { [ "$(eval "$1")" -gt "$2" ]; }

# 1. Load with a broker outage in the middle.
bench 6 bench1.log & BENCH_PID=$!
wait_until 60 "first events published" gt published 100 || fail "no publication"
kill -USR1 "$DEVBROKER_PID"; echo "brokers down at $(published) published"
wait_gone "$BENCH_PID" 130 || fail "bench 1"
down_published=$(published)
kill -USR2 "$DEVBROKER_PID"; echo "brokers up at $down_published published"
tail -1 "$KAFKA_TEST_DIR/bench1.log"
wait_until 120 "publication after the outage" gt published "$down_published" || fail "no publication after the outage"

# 2. Load with an engine SIGKILL in the middle, then a restart on the same port.
before=$(published)
bench 8 bench2.log & BENCH_PID=$!
wait_until 60 "load before the kill" gt published $((before + 200)) || fail "no load before the kill"
kill -KILL "$ENGINE_PID"; wait_gone "$ENGINE_PID" 10; echo "engine killed at $(published) published"
wait_gone "$BENCH_PID" 130 || fail "bench 2"
start_engine "$TXENGINE" "${SERVE_ARGS[@]}"
[ "$ENGINE" = "$ENGINE_LISTEN" ] || fail "engine restarted on $ENGINE, not $ENGINE_LISTEN"

# 3. More load after the restart, with commission-payer SIGKILLed and restarted meanwhile.
bench 4 bench3.log & BENCH_PID=$!
p=$(processed commission-payer)
wait_until 60 "commission-payer progress" gt "processed commission-payer" "$p" || fail "payer progress"
kill -KILL "$PAYER_PID"; wait_gone "$PAYER_PID" 10; echo "commission-payer killed at $(processed commission-payer)"
start_payer --json
wait_gone "$BENCH_PID" 130 || fail "bench 3"

# 4. Drain: every outbox row published, every payment handled by both consumers, every
# commission final, and every order final: the orders in flight at the SIGKILL are resumed by
# the restarted engine (docs/durability-design.md, "Recovery") and published when final.
settled() {
  [ "$(q "SELECT COUNT(*) FROM $ORDERS WHERE is_final = 0")" = 0 ] &&
  [ "$(q "SELECT COUNT(*) FROM $OUTBOX WHERE published_ms = 0")" = 0 ] &&
  [ "$(processed delivery-notifier)" = "$(q "SELECT COUNT(*) FROM $ORDERS WHERE kind = 1 AND state = 5 AND created_ms >= $START_MS")" ] &&
  [ "$(processed commission-payer)" = "$(processed delivery-notifier)" ] &&
  [ "$(q "SELECT COUNT(*) FROM \`$DB\`.commission_payments c LEFT JOIN $ORDERS o ON o.request_id = c.request_id WHERE c.commission_amount > 0 AND (o.id IS NULL OR o.is_final = 0)")" = 0 ]
}
wait_until 180 "everything published and consumed" settled || fail "not settled"
check_eq "orders not final after the restart" "$(q "SELECT COUNT(*) FROM $ORDERS WHERE is_final = 0")" 0
kill -TERM "$NOTIFIER_PID" "$PAYER_PID"
wait "$NOTIFIER_PID"; check_eq "delivery-notifier exit code after SIGTERM" "$?" 0
wait "$PAYER_PID"; check_eq "commission-payer exit code after SIGTERM" "$?" 0
tail -1 "$KAFKA_TEST_DIR/notifier.out"; tail -1 "$KAFKA_TEST_DIR/payer.out"

# 5. What kcat reads equals what MySQL says became final.
timeout 120 kcat -C -b "$BOOTSTRAP" -t "$TOPIC" -e -q -f '%R%s' | "$TOOL" decode >"$KAFKA_TEST_DIR/decoded.txt" || fail "kcat read"
sed -n 's/^event_id=\([0-9]*\) .*/\1/p' "$KAFKA_TEST_DIR/decoded.txt" | sort >"$KAFKA_TEST_DIR/topic_all.txt"
sort -u "$KAFKA_TEST_DIR/topic_all.txt" >"$KAFKA_TEST_DIR/topic_ids.txt"
q "SELECT id FROM $ORDERS WHERE is_final = 1 AND created_ms >= $START_MS" | sort >"$KAFKA_TEST_DIR/final_ids.txt"
q "SELECT id FROM $ORDERS WHERE is_final = 1 AND created_ms < $START_MS" | sort >"$KAFKA_TEST_DIR/old_ids.txt"
final=$(wc -l <"$KAFKA_TEST_DIR/final_ids.txt")
echo "final orders $final, messages on the topic $(wc -l <"$KAFKA_TEST_DIR/topic_all.txt"), distinct $(wc -l <"$KAFKA_TEST_DIR/topic_ids.txt")"
[ "$final" -gt 1000 ] && ok "final orders: $final" || fail "only $final final orders"
check_eq "final orders missing on the topic" "$(comm -23 "$KAFKA_TEST_DIR/final_ids.txt" "$KAFKA_TEST_DIR/topic_ids.txt" | wc -l)" 0
check_eq "events of unknown orders" \
  "$(comm -23 "$KAFKA_TEST_DIR/topic_ids.txt" "$KAFKA_TEST_DIR/final_ids.txt" | comm -23 - "$KAFKA_TEST_DIR/old_ids.txt" | wc -l)" 0
check_eq "undecodable messages" "$(grep -c '^undecodable' "$KAFKA_TEST_DIR/decoded.txt")" 0

# 6. The consumers' effects, once per payment.
pays="SELECT id FROM $ORDERS WHERE kind = 1 AND state = 5 AND created_ms >= $START_MS"
succeeded_pays=$(q "SELECT COUNT(*) FROM ($pays) p")
[ "$succeeded_pays" -gt 100 ] && ok "succeeded payments: $succeeded_pays" || fail "only $succeeded_pays succeeded payments"
check_eq "delivery requests" "$(q "SELECT COUNT(*) FROM \`$DB\`.delivery_requests")" "$succeeded_pays"
check_eq "delivery requests of succeeded payments" \
  "$(q "SELECT COUNT(*) FROM \`$DB\`.delivery_requests WHERE order_id IN ($pays)")" "$succeeded_pays"
check_eq "commission rows" "$(q "SELECT COUNT(*) FROM \`$DB\`.commission_payments WHERE payment_order_id IN ($pays)")" "$succeeded_pays"
check_eq "commission rows total" "$(q "SELECT COUNT(*) FROM \`$DB\`.commission_payments")" "$succeeded_pays"
nonzero=$(q "SELECT COUNT(*) FROM \`$DB\`.commission_payments WHERE commission_amount > 0")
[ "$nonzero" -gt 50 ] && ok "commissions > 0: $nonzero" || fail "only $nonzero commissions > 0"
check_eq "commission orders succeeded with the right amount, one per payment" \
  "$(q "SELECT COUNT(*) FROM \`$DB\`.commission_payments c JOIN $ORDERS o ON o.request_id = c.request_id AND o.kind = 5 WHERE c.commission_amount > 0 AND o.state = 5 AND o.amount = c.commission_amount AND o.id = c.commission_order_id")" "$nonzero"
check_eq "commission orders in the engine" \
  "$(q "SELECT COUNT(*) FROM $ORDERS WHERE kind = 5 AND created_ms >= $START_MS")" "$nonzero"
check_eq "commission rows rejected" "$(q "SELECT COUNT(*) FROM \`$DB\`.commission_payments WHERE result_code <> 0")" 0

[ "$fails" -eq 0 ] && echo "kafka e2e passed" || { echo "$fails checks failed"; exit 1; }
