#!/usr/bin/env bash
# Cluster kill test (issue 14, item 8a; docs/cluster.md): three `txengine serve` nodes
# (scripts/cluster.sh) under txbench load through all of them (`--servers`: wallets on every
# node, two thirds of the orders crossing nodes, a broken connection moving to another node with
# what it had in flight). Every few seconds a random node is killed (SIGKILL) and restarted, for
# CYCLES cycles. Then txaudit checks the whole cluster's storage: every acknowledged order
# committed with the state the client heard, every order final, per-currency sums zero, no
# request id applied twice; and txbench must have had every request answered.
#
# With --pause a random node is stopped (SIGSTOP) past its lease instead: the others take its
# partitions, and when it is continued (SIGCONT) it must find itself fenced (exit code 75) and
# commit nothing more; it is started again. With --rolling every node in turn gets a clean stop
# (SIGTERM: its leases given back at once) and is started again, and no request may end refused.
#
# With --cut the link between two random nodes is cut for 30 s (both ways: scripts/cluster.sh cut,
# a fault switch in the nodes) and made again; their leases stay (MySQL is reachable), so nobody
# takes anything over: orders across the cut wait, or fail their try deadline (compensated).
#
# With TXENGINE_CLUSTER_TLS=1 the nodes link over mutual TLS (scripts/cluster.sh --tls). With
# TXENGINE_FAULT_KEEP=1 a failed run leaves its nodes running, to look at them.
#
# usage: cluster_kill_test.sh TXENGINE TXBENCH TXAUDIT [CYCLES] [--pause | --rolling | --cut]   (default 10 cycles)
# MySQL: TXENGINE_MYSQL_URI (default: the private server of scripts/mariadb.sh on 3407).
# Databases: txclkill_<pid>_* (2 databases x 4 tables), dropped when the test passes.
set -uo pipefail
TXENGINE=$1 TXBENCH=$2 TXAUDIT=$3
CYCLES=${4:-10}
MODE=${5:---kill}
case "$MODE" in --kill | --pause | --rolling | --cut) ;; *) echo "unknown mode $MODE"; exit 2 ;; esac
REPO=$(cd "$(dirname "$0")/../.." && pwd)
URI=${TXENGINE_MYSQL_URI:-mysql://txengine:txengine@127.0.0.1:3407}
PREFIX=txclkill_$$
LAYOUT=(--db-prefix "$PREFIX" --databases 2 --tables 4)
WORK=$(mktemp -d)
export TXENGINE_BIN=$TXENGINE TXENGINE_MYSQL_URI=$URI TXENGINE_CLUSTER_DIR=$WORK/cluster
export TXENGINE_CLUSTER_PREFIX=$PREFIX TXENGINE_CLUSTER_TTL_MS=3000
# Below the ephemeral range (32768 and up), where an outgoing connection may hold the port.
export TXENGINE_CLUSTER_PORT=$((20000 + ($$ % 58) * 200))
export TXENGINE_CLUSTER_ARGS="--databases 2 --tables 4 --partitions 16"
CLUSTER=$REPO/scripts/cluster.sh
source "$(dirname "$0")/lib.sh"  # sql; its cleanup and fail are replaced below
BENCH_PID=
cleanup() {
  [ -n "$BENCH_PID" ] && kill "$BENCH_PID" 2>/dev/null
  "$CLUSTER" kill 1 2 3 >/dev/null 2>&1
  wait 2>/dev/null
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  for f in "$WORK"/cluster/node-*.log "$WORK"/bench.log; do [ -f "$f" ] && { echo "--- $f (tail)"; tail -n 15 "$f"; }; done
  if [ "${TXENGINE_FAULT_KEEP:-0}" = 1 ]; then
    trap - EXIT
    echo "the nodes keep running for a look (TXENGINE_FAULT_KEEP=1): clients on ports from $((TXENGINE_CLUSTER_PORT + 1)), work dir $WORK; stop them with TXENGINE_CLUSTER_DIR=$WORK/cluster scripts/cluster.sh kill 1 2 3"
  fi
  exit 1
}

echo "cluster kill test: databases ${PREFIX}_0..1, nodes on ports from $((TXENGINE_CLUSTER_PORT + 1)), work dir $WORK"
"$CLUSTER" start --nodes 3 || fail "the cluster did not start"
SERVERS=$("$CLUSTER" servers)
if [ "${TXENGINE_CLUSTER_TLS:-0}" = 1 ]; then
  for i in 1 2 3; do
    grep -q "^cluster links: mutual TLS" "$WORK/cluster/node-$i.log" || fail "node $i's links are not over TLS"
  done
  echo "the links run over mutual TLS"
fi
DURATION=$((CYCLES * 5 + 5))
[ "$MODE" = --pause ] && DURATION=$((CYCLES * 12 + 5))
[ "$MODE" = --cut ] && DURATION=$((CYCLES * 36 + 5))
# A client resends `unavailable` (nothing was done) for up to 10 s (200 times 50 ms); across a
# dead or paused node, for up to 40 s: until a survivor serves the lost node's partitions (ttl +
# a round, and the settle of its last batch: docs/cluster.md, "Failover"), commands homed there
# are answered `unavailable`.
RETRY_MS=50
[ "$MODE" = --rolling ] || RETRY_MS=200
"$TXBENCH" --servers "$SERVERS" --connections 6 --window 16 --wallets 60 --duration "$DURATION" --mix mixed \
  --retry-unavailable "$RETRY_MS" \
  --drain-s 120 --ack-log "$WORK/acks" --unanswered-log "$WORK/unanswered" --json >"$WORK/bench.log" 2>&1 &
BENCH_PID=$!
deadline=$((SECONDS + 60))
until [ -s "$WORK/acks" ]; do
  kill -0 "$BENCH_PID" 2>/dev/null || fail "txbench ended before the load started"
  [ $SECONDS -lt $deadline ] || fail "no order acknowledged within 60 s"
  sleep 0.1
done

fenced=0
for cycle in $(seq 1 "$CYCLES"); do
  sleep "$((2 + RANDOM % 2)).$((RANDOM % 10))"  # the fault's timing, not a wait for a condition
  victim=$((1 + RANDOM % 3))
  [ "$MODE" = --rolling ] && victim=$(((cycle - 1) % 3 + 1))
  case "$MODE" in
    --kill)
      "$CLUSTER" kill "$victim"
      sleep "$((RANDOM % 2)).$((RANDOM % 10))"
      what="killed"
      ;;
    --rolling)
      "$CLUSTER" stop "$victim"
      grep -q "FENCED" "$WORK/cluster/node-$victim.log" && fail "node $victim was fenced by its clean stop"
      grep -q "left the cluster" "$WORK/cluster/node-$victim.log" || fail "node $victim did not leave cleanly (did its stop crash?)"
      what="stopped cleanly"
      ;;
    --cut)
      other=$((victim % 3 + 1))
      "$CLUSTER" cut "$victim" "$other"
      sleep 30  # the fault's length, not a wait for a condition
      "$CLUSTER" heal
      what="cut off from node $other for 30 s, and healed"
      ;;
    --pause)
      # The node holding the most partitions (a restarted node may hold none: no rebalancing).
      victim=$(sql "SELECT owner FROM ${PREFIX}_0.cluster_leases WHERE owner <> 0 GROUP BY owner ORDER BY COUNT(*) DESC LIMIT 1")
      pid=$(cat "$WORK/cluster/node-$victim.pid")
      # The link health check (docs/cluster.md, "Link health"): each other node counts its link
      # to the paused one down once no ping was answered for 3 s; counted before, checked below.
      declare -A silent_before
      for i in 1 2 3; do
        [ "$i" = "$victim" ] && continue
        silent_before[$i]=$(grep -c "node $victim at .* answered no ping" "$WORK/cluster/node-$i.log" || true)
      done
      kill -STOP "$pid"
      # Past its lease: another node takes each of its partitions (a new epoch).
      deadline=$((SECONDS + 60))
      until [ "$(sql "SELECT COUNT(*) FROM ${PREFIX}_0.cluster_leases WHERE owner = $victim")" = 0 ]; do
        [ $SECONDS -lt $deadline ] || { kill -CONT "$pid"; fail "node $victim's partitions were not taken within 60 s"; }
        sleep 0.2
      done
      for i in "${!silent_before[@]}"; do
        deadline=$((SECONDS + 10))
        until [ "$(grep -c "node $victim at .* answered no ping" "$WORK/cluster/node-$i.log" || true)" -gt "${silent_before[$i]}" ]; do
          [ $SECONDS -lt $deadline ] || { kill -CONT "$pid"; fail "node $i did not count its link to the paused node $victim down"; }
          sleep 0.2
        done
      done
      unset silent_before
      kill -CONT "$pid"
      deadline=$((SECONDS + 30))
      while kill -0 "$pid" 2>/dev/null; do
        [ $SECONDS -lt $deadline ] || fail "node $victim still runs 30 s after it was continued without its partitions"
        sleep 0.05
      done
      grep -q "FENCED" "$WORK/cluster/node-$victim.log" || fail "node $victim stopped without saying it was fenced"
      fenced=$((fenced + 1))
      what="paused past its lease, fenced"
      ;;
  esac
  if [ "$MODE" = --cut ]; then
    echo "cycle $cycle: node $victim $what; $(wc -l <"$WORK/acks") final replies heard so far"
    continue
  fi
  "$CLUSTER" start "$victim" >/dev/null || fail "node $victim did not start again (cycle $cycle)"
  echo "cycle $cycle: node $victim $what and restarted; $(wc -l <"$WORK/acks") final replies heard so far"
done

deadline=$((SECONDS + DURATION + 180))
while kill -0 "$BENCH_PID" 2>/dev/null; do
  [ $SECONDS -lt $deadline ] || fail "txbench did not end"
  sleep 0.2
done
wait "$BENCH_PID"
code=$?
BENCH_PID=
result=$(grep '^{' "$WORK/bench.log" | tail -n 1)
echo "txbench: $result"
[ "$code" = 0 ] || fail "txbench exited with $code (requests left unanswered: $(wc -l <"$WORK/unanswered"))"
# A clean stop must cost no order. A killed or paused node may: an order whose try phase needed
# one of its wallets fails with try_deadline_exceeded (compensated, nothing moved) when the node's
# partitions came back later than the order's try deadline. Nothing else may end in an error.
codes=$(sed -n 's/.*"errors_by_code":{\([^}]*\)}.*/\1/p' <<<"$result")
IFS=, read -r -a pairs <<<"$codes"
for pair in "${pairs[@]}"; do
  name=${pair%%:*}
  name=${name//\"/}
  case "$MODE:$name" in
    --kill:try_deadline_exceeded | --kill:tcc_deadline_passed | --pause:try_deadline_exceeded | --pause:tcc_deadline_passed) ;;
    --cut:try_deadline_exceeded | --cut:tcc_deadline_passed) ;;
    *) fail "requests ended with an error: $result" ;;
  esac
done
for i in 1 2 3; do
  if grep -q "FENCED" "$WORK/cluster/node-$i.log"; then fail "node $i was fenced (its current process)"; fi
done
"$CLUSTER" status || fail "a node is not running at the end"
"$TXAUDIT" --mysql "$URI" "${LAYOUT[@]}" --acks "$WORK/acks" --wait-final 120 || fail "txaudit found violations"
"$CLUSTER" stop
for i in 1 2 3; do
  grep -q "left the cluster" "$WORK/cluster/node-$i.log" || fail "node $i did not leave cleanly (did its stop crash?)"
done
[ "$(sql "SELECT COUNT(*) FROM ${PREFIX}_0.cluster_leases WHERE owner <> 0")" = 0 ] || fail "a clean stop left leases held"
echo "cluster kill test passed ($MODE): $CYCLES cycles, $fenced fenced, $(wc -l <"$WORK/acks") final replies heard and checked"
for d in 0 1; do sql "DROP DATABASE IF EXISTS \`${PREFIX}_$d\`"; done
rm -rf "$WORK"
exit 0
