#!/usr/bin/env bash
# Cluster fence test (issue 14, docs/cluster.md): `txengine serve` as cluster node 1 under txbench
# load; mid-load another node takes one of its partitions (a takeover with a new epoch, as after
# node 1 was paused past its lease). Node 1 must notice (its writer's fence or its lease round),
# stop with exit code 75 (FENCED) and commit nothing more. Then the other node "dies" (its lease
# expires), node 1 is restarted (its supervisor's job), takes its partitions again with new
# epochs, resumes what was open, and the resent unanswered commands get their original orders.
# txaudit then checks: every acknowledged order committed with the state the client heard, every
# order final, per-currency sums zero, no request id applied twice. Finally a clean stop gives
# every lease back.
#
# With --pause the takeover is real: node 1 is stopped (SIGSTOP) mid-load, the other node's
# compare-and-set succeeds only once node 1's lease has expired (and, if node 1 was paused inside
# a commit, once the server cut its idle transaction), then node 1 is continued (SIGCONT) and must
# find itself fenced.
#
# usage: cluster_fence_test.sh TXENGINE TXBENCH TXAUDIT [--pause]
# MySQL: TXENGINE_MYSQL_URI (default: the private server of scripts/mariadb.sh on 3407).
# Databases: txclfence_<pid>_* (2 databases x 4 tables), dropped when the test passes.
set -uo pipefail
TXENGINE=$1 TXBENCH=$2 TXAUDIT=$3
PAUSE=0
[ "${4:-}" = --pause ] && PAUSE=1
URI=${TXENGINE_MYSQL_URI:-mysql://txengine:txengine@127.0.0.1:3407}
PREFIX=txclfence_$$
LAYOUT=(--db-prefix "$PREFIX" --databases 2 --tables 4)
CLUSTER=(--partitions 16)
WORK=$(mktemp -d)
source "$(dirname "$0")/lib.sh"
LEASES=${PREFIX}_0.cluster_leases

start_server() { start_serve "$1" --config "$WORK/engine.toml" --mysql "$URI" "${LAYOUT[@]}" "${CLUSTER[@]}"; }

# A cluster node's file names its storage, node id and endpoint (it is checked as a whole).
cat >"$WORK/engine.toml" <<EOF
[engine]
node_id = 1
[order]
channel_not_found_final_ms = 5000
[storage]
mysql = "$URI"
[cluster]
endpoint = "127.0.0.1:$((17000 + $$ % 1000))"
lease_ttl_ms = 2000
round_interval_ms = 200
join_settle_ms = 0
EOF
echo "cluster fence test: databases ${PREFIX}_0..1, work dir $WORK"

start_server "$WORK/server-1.log"
grep -q "^cluster: cluster node 1 at .*: 16 of 16 partitions" "$WORK/server-1.log" ||
  fail "node 1 does not say it holds its 16 partitions"
"$TXBENCH" --server "$SERVER" --connections 4 --window 32 --wallets 40 --duration 60 --mix mixed \
  --ack-log "$WORK/acks-1" --unanswered-log "$WORK/unanswered-1" >"$WORK/bench-1.log" 2>&1 &
BENCH_PID=$!
deadline=$((SECONDS + 60))
until grep -q "acknowledged [1-9]" "$WORK/bench-1.log" 2>/dev/null || [ -s "$WORK/acks-1" ]; do
  kill -0 "$BENCH_PID" 2>/dev/null || fail "txbench ended before the load started"
  [ $SECONDS -lt $deadline ] || fail "no order acknowledged within 60 s"
  sleep 0.1
done
sleep 1  # a second of load (the takeover's timing, not a wait for a condition)

NOW_MS="CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED)"
if [ "$PAUSE" = 1 ]; then
  # Node 1 is paused; node 2 takes partition 3 the way its keeper does: compare-and-set, only
  # once the lease has expired (a lock held by a paused commit makes it wait, then fail: retried).
  kill -STOP "$SERVER_PID"
  paused_at=$SECONDS
  deadline=$((SECONDS + 60))
  until [ "$(sql "SET SESSION innodb_lock_wait_timeout = 2;
                  UPDATE $LEASES SET owner = 2, epoch = epoch + 1, expires_ms = $NOW_MS + 600000
                  WHERE partition_id = 3 AND owner = 1 AND expires_ms < $NOW_MS; SELECT ROW_COUNT();" 2>/dev/null)" = 1 ]; do
    [ $SECONDS -lt $deadline ] || { kill -CONT "$SERVER_PID"; fail "node 2 could not take partition 3 within 60 s"; }
    sleep 0.2
  done
  echo "node 2 took partition 3 after node 1 was paused for $((SECONDS - paused_at)) s"
  kill -CONT "$SERVER_PID"
else
  # Node 2 takes partition 3 (a new epoch), as after node 1 was paused past its lease.
  sql "UPDATE $LEASES SET owner = 2, epoch = epoch + 1, expires_ms = $NOW_MS + 600000 WHERE partition_id = 3" ||
    fail "the takeover statement"
fi
deadline=$((SECONDS + 30))
while kill -0 "$SERVER_PID" 2>/dev/null; do
  [ $SECONDS -lt $deadline ] || fail "node 1 still runs 30 s after another node took its partition"
  sleep 0.05
done
wait "$SERVER_PID"
code=$?
SERVER_PID=
[ "$code" = 75 ] || fail "node 1 exited with $code, not 75 (fenced)"
grep -q "FENCED" "$WORK/server-1.log" || fail "node 1 did not say it was fenced"
echo "node 1 fenced: $(grep -m1 'FENCED, stopping' "$WORK/server-1.log")"
deadline=$((SECONDS + 60))
while kill -0 "$BENCH_PID" 2>/dev/null; do
  [ $SECONDS -lt $deadline ] || fail "txbench did not exit after node 1 stopped"
  sleep 0.1
done
wait "$BENCH_PID" 2>/dev/null
BENCH_PID=
touch "$WORK/acks-1" "$WORK/unanswered-1"
echo "load 1: $(wc -l <"$WORK/acks-1") final replies heard, $(wc -l <"$WORK/unanswered-1") unanswered"
# Nothing committed by node 1 after the takeover: its lease rows still say node 2 for partition 3.
[ "$(sql "SELECT owner FROM $LEASES WHERE partition_id = 3")" = 2 ] || fail "partition 3 changed hands again"

# Node 2 dies: its lease expires. Node 1 is restarted and takes every partition back.
sql "UPDATE $LEASES SET expires_ms = 0 WHERE owner = 2" || fail "expiring node 2's lease"
start_server "$WORK/server-2.log"
grep -q "16 of 16 partitions" "$WORK/server-2.log" || fail "the restarted node 1 does not hold its 16 partitions"
grep -i "resumed" "$WORK/server-2.log" | head -2
"$TXBENCH" --server "$SERVER" --connections 2 --window 16 --wallets 10 --duration 1 --mix transfer --drain-s 120 \
  --ack-log "$WORK/acks-2" --replay "$WORK/unanswered-1" >"$WORK/bench-2.log" 2>&1 ||
  fail "txbench after the restart: $(tail -n 5 "$WORK/bench-2.log")"
"$TXAUDIT" --mysql "$URI" "${LAYOUT[@]}" --acks "$WORK/acks-1" --acks "$WORK/acks-2" --wait-final 120 ||
  fail "txaudit found violations"
kill -TERM "$SERVER_PID"
wait "$SERVER_PID"
code=$?
SERVER_PID=
[ "$code" = 0 ] || fail "the clean stop exited with $code"
[ "$(sql "SELECT COUNT(*) FROM $LEASES WHERE owner <> 0")" = 0 ] || fail "a clean stop left leases held"
echo "cluster fence test passed ($([ "$PAUSE" = 1 ] && echo "node paused" || echo "partition taken")): $(cat "$WORK"/acks-* | wc -l) final replies heard and checked"
for d in 0 1; do sql "DROP DATABASE IF EXISTS \`${PREFIX}_$d\`"; done
rm -rf "$WORK"
exit 0
