#!/usr/bin/env bash
# kafka_consumer_failures: bad input gets a clear error and exit 2 and changes nothing; the dev
# broker's outage control works; commission-payer with an unreachable engine gives up after its
# bounded attempts without recording anything (exit 3), and a later run pays; a business
# rejection (platform wallet without funds) is recorded once with its code, not retried;
# an unreachable MySQL makes a consumer exit 3 after its bounded attempts.
# usage: failures.sh DEVBROKER KAFKA_EVENT_TOOL DELIVERY_NOTIFIER COMMISSION_PAYER TXENGINE TXCTL TXBENCH
DEVBROKER=$1 TOOL=$2 NOTIFIER=$3 PAYER=$4 TXENGINE=$5 TXCTL=$6 TXBENCH=$7
. "$(dirname "$0")/lib.sh"
TOPIC=txengine.orders.finalized

expect_exit() {  # expect_exit CODE PATTERN -- command...
  local want=$1 pattern=$2; shift 3
  local out; out=$(timeout 60 "$@" 2>&1 </dev/null); local got=$?
  if [ "$got" = "$want" ] && grep -qE -- "$pattern" <<<"$out"; then ok "exit $want /$pattern/: ${*##*/}"
  else fail "exit $got (wanted $want), pattern '$pattern': $*"; echo "$out" | tail -5; fi
}

# Usage errors.
expect_exit 2 "--brokers: expects a whole number from 1 to 16" -- "$DEVBROKER" --brokers 0
expect_exit 2 "invalid topic name" -- "$DEVBROKER" --topic 'bad/name'
expect_exit 2 "partitions of" -- "$DEVBROKER" --topic t:0
expect_exit 2 "not expected: --nope" -- "$DEVBROKER" --nope
expect_exit 2 "--bootstrap is required" -- "$NOTIFIER"
expect_exit 2 "--batch: expects a whole number from 1 to 10000" -- "$NOTIFIER" --bootstrap 127.0.0.1:1 --batch 0
expect_exit 2 "--mysql" -- "$NOTIFIER" --bootstrap 127.0.0.1:1 --mysql notauri
expect_exit 2 "not expected: --what" -- "$NOTIFIER" --bootstrap 127.0.0.1:1 --what
expect_exit 2 "--platform-wallet is required" -- "$PAYER" --bootstrap 127.0.0.1:1
expect_exit 2 "--bps: expects a whole number from 0 to 10000" -- "$PAYER" --bootstrap 127.0.0.1:1 --platform-wallet 1 --bps 10001
expect_exit 2 "--engine: expects HOST:PORT" -- "$PAYER" --bootstrap 127.0.0.1:1 --platform-wallet 1 --engine nohostport
expect_exit 0 "Usage: commission-payer.*" -- "$PAYER" --help

# Dev broker outage control: signals and the control FIFO.
start_devbroker "$DEVBROKER" --topic "$TOPIC:2" --topic poor:1 --control "$KAFKA_TEST_DIR/ctl"
metadata_ok() { timeout 10 kcat -b "$BOOTSTRAP" -L -m 2 >/dev/null 2>&1; }
metadata_fails() { ! metadata_ok; }
kill -USR1 "$DEVBROKER_PID"
wait_until 20 "brokers down" metadata_fails && ok "kcat fails while down" || fail "still up after SIGUSR1"
kill -USR2 "$DEVBROKER_PID"
wait_until 20 "brokers up" metadata_ok && ok "kcat works after up" || fail "not up after SIGUSR2"
wait_until 10 "control FIFO" test -p "$KAFKA_TEST_DIR/ctl" || fail "no FIFO"
echo status >"$KAFKA_TEST_DIR/ctl"
wait_until 10 "status reply" grep -q "status up" "$KAFKA_TEST_DIR/devbroker.log" && ok "FIFO status" || fail "FIFO status"
echo bogus >"$KAFKA_TEST_DIR/ctl"
wait_until 10 "error reply" grep -q "error unknown command 'bogus'" "$KAFKA_TEST_DIR/devbroker.log" \
  && ok "FIFO unknown command refused" || fail "FIFO unknown command"

# An engine and wallets; 10 events of which 9 succeeded payments, made real in the engine
# (commission-payer verifies each event against its order).
start_engine "$TXENGINE"
new_database kafka_failures
DB=$TEST_DB
commission_wallets "$TXCTL" 1000.00
POOR=$(wallet_create "$TXCTL" fee)
real_payments "$TXBENCH" "$TXCTL" 10 10 "$MERCHANT" 10000 "$KAFKA_TEST_DIR/orders" || exit 1
BASE=$(wallet_available "$TXCTL" "$MERCHANT")   # the payments themselves; commissions come on top
timeout 60 "$TOOL" produce --bootstrap "$BOOTSTRAP" --topic "$TOPIC" --first-id 900001 --count 10 \
  --payer "$PAYMENT_PAYER" --merchant "$MERCHANT" --amount 10000 --failed-every 10 \
  --order-ids "$KAFKA_TEST_DIR/orders" || fail "produce"
COMMON=(--bootstrap "$BOOTSTRAP" --topic "$TOPIC" --mysql "$MYSQL_URI" --database "$DB" --idle-exit-ms 2000 --json)
rows() { sql "SELECT COUNT(*) FROM \`$DB\`.$1" 2>/dev/null || echo 0; }

# Engine unreachable: bounded attempts, nothing recorded, exit 3.
expect_exit 3 "no final answer after 2 attempts" -- "$PAYER" "${COMMON[@]}" --engine 127.0.0.1:1 \
  --platform-wallet "$PLATFORM" --max-attempts 2
check_eq "commission rows after the failed run" "$(rows commission_payments)" 0
check_eq "set-aside rows after the failed run (unavailable is not forged)" "$(rows set_aside_events)" 0
# A later run (same group: the offsets were not committed) pays all nine.
expect_exit 0 '"paid":9' -- "$PAYER" "${COMMON[@]}" --engine "$ENGINE" --platform-wallet "$PLATFORM"
check_eq "commission rows" "$(rows commission_payments)" 9
check_eq "merchant balance" "$(wallet_available "$TXCTL" "$MERCHANT")" $((BASE + 900))
# A run in another group over the same events with the same request ids: the engine answers
# repeats, the consumer's rows see them as processed already.
expect_exit 0 '"paid":0,"engine_repeats":0,.*"duplicates":9' -- "$PAYER" "${COMMON[@]}" --engine "$ENGINE" \
  --platform-wallet "$PLATFORM" --group commission-payer-again
check_eq "merchant balance after the second group" "$(wallet_available "$TXCTL" "$MERCHANT")" $((BASE + 900))
# The same events with another platform wallet: the engine refuses the request ids' new content
# (duplicate_conflict, 60), a final answer, recorded, not retried.
new_database kafka_failures_conflict
expect_exit 0 '"rejected":9' -- "$PAYER" --bootstrap "$BOOTSTRAP" --topic "$TOPIC" --mysql "$MYSQL_URI" \
  --database "$TEST_DB" --idle-exit-ms 2000 --json --engine "$ENGINE" --platform-wallet "$POOR" --group conflict
check_eq "conflicts recorded as duplicate_conflict (60)" \
  "$(sql "SELECT COUNT(*) FROM \`$TEST_DB\`.commission_payments WHERE result_code = 60")" 9
# A platform wallet without funds: a business rejection, recorded with its code, not retried.
# Payments of their own: the commission's request id is per order (commission-<order id>).
real_payments "$TXBENCH" "$TXCTL" 10 10 "$MERCHANT" 10000 "$KAFKA_TEST_DIR/orders2" || exit 1
timeout 60 "$TOOL" produce --bootstrap "$BOOTSTRAP" --topic poor --first-id 910001 --count 10 \
  --payer "$PAYMENT_PAYER" --merchant "$MERCHANT" --amount 10000 --failed-every 10 \
  --order-ids "$KAFKA_TEST_DIR/orders2" || fail "produce"
new_database kafka_failures_poor
expect_exit 0 '"rejected":9' -- "$PAYER" --bootstrap "$BOOTSTRAP" --topic poor --mysql "$MYSQL_URI" \
  --database "$TEST_DB" --idle-exit-ms 2000 --json --engine "$ENGINE" --platform-wallet "$POOR" --group poor
check_eq "rejections recorded as insufficient_funds (25)" \
  "$(sql "SELECT COUNT(*) FROM \`$TEST_DB\`.commission_payments WHERE result_code = 25")" 9 \
  || sql "SELECT result_code, COUNT(*) FROM \`$TEST_DB\`.commission_payments GROUP BY result_code"

# The de-duplication record is bounded (--processed-retention-hours): rows past it are pruned,
# and an event redelivered after that (here: another group over the same events) finds its
# delivery request stored long ago: kept, counted as a duplicate, not a failure.
expect_exit 0 '"recorded":9,"duplicates":0' -- "$NOTIFIER" "${COMMON[@]}" --group notifier-first
sql "UPDATE \`$DB\`.processed_events SET processed_at = NOW(3) - INTERVAL 200 HOUR WHERE consumer = 'delivery-notifier'"
expect_exit 0 '"recorded":0,"duplicates":9,.*"pruned":9' -- "$NOTIFIER" "${COMMON[@]}" --group notifier-later \
  --processed-retention-hours 168
check_eq "delivery requests after the redelivery" "$(rows delivery_requests)" 9
check_eq "processed rows of the notifier (the redelivered ones again)" \
  "$(sql "SELECT COUNT(*) FROM \`$DB\`.processed_events WHERE consumer = 'delivery-notifier'")" 9

# MySQL unreachable: bounded attempts, exit 3.
expect_exit 3 "cannot reach MySQL" -- "$NOTIFIER" --bootstrap "$BOOTSTRAP" --mysql mysql://nobody:x@127.0.0.1:1 \
  --max-store-attempts 2

[ "$fails" -eq 0 ] && echo "kafka consumer failures passed" || { echo "$fails checks failed"; exit 1; }
