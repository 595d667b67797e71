#!/usr/bin/env bash
# kafka_demo_smoke: a small `txengine demo --mysql --kafka` on its own dev broker: the workload's
# invariants, then the consumers' checks (kafka_ok).
# usage: demo_smoke.sh DEVBROKER TXENGINE
DEVBROKER=$1 TXENGINE=$2
. "$(dirname "$0")/lib.sh"
start_devbroker "$DEVBROKER"
timeout 400 "$TXENGINE" demo --wallets 200 --orders 3000 --concurrency 200 --mysql "$MYSQL_URI" --kafka "$BOOTSTRAP" --json \
  >"$KAFKA_TEST_DIR/demo.out" 2>"$KAFKA_TEST_DIR/demo.log"
rc=$?
cat "$KAFKA_TEST_DIR/demo.out"
check_eq "demo exit code" "$rc" 0
grep -q '"invariants_ok":true' "$KAFKA_TEST_DIR/demo.out" && ok "invariants" || fail "invariants"
grep -q '"kafka_ok":true' "$KAFKA_TEST_DIR/demo.out" && ok "kafka checks" || { fail "kafka checks"; tail -20 "$KAFKA_TEST_DIR/demo.log"; }
[ "$fails" -eq 0 ] && echo "kafka demo smoke passed" || { echo "$fails checks failed"; exit 1; }
