#!/usr/bin/env bash
# txaudit finds what it says it finds, the same on one connection as on several:
# a clean run passes; a request id given to two orders, a movement phase applied twice and an
# open TCC record of a final order each fail it, named. The data is a small bench_durable run.
# usage: txaudit_test.sh path/to/bench_durable path/to/txaudit
# MySQL: TXENGINE_MYSQL_URI (default: the private server of scripts/mariadb.sh on 3407).
set -uo pipefail
BENCH=$1 TXAUDIT=$2
URI=${TXENGINE_MYSQL_URI:-mysql://txengine:txengine@127.0.0.1:3407}
PREFIX=txtest_txaudit
LAYOUT=(--db-prefix "$PREFIX" --databases 2 --tables 2)
fail() { echo "FAIL: $*"; exit 1; }
hostport=${URI#*@}; hostport=${hostport%%/*}; hostport=${hostport%%\?*}
creds=${URI#mysql://}; creds=${creds%%@*}
sql() {
  mariadb --no-defaults -N -B -h "${hostport%:*}" -P "${hostport##*:}" -u "${creds%%:*}" -p"${creds#*:}" -e "$1"
}

"$BENCH" --orders 1000 --wallets 200 --databases 2 --tables 2 --prefix "$PREFIX" --no-baseline \
  --workload transfer_uniform >/dev/null || fail "bench_durable"

audit() { "$TXAUDIT" --mysql "$URI" "${LAYOUT[@]}" "$@" 2>&1; }
one=$(audit --connections 1 --json) || fail "a clean run fails: $one"
many=$(audit --connections 7 --json) || fail "a clean run fails on 7 connections: $many"
[ "$one" = "$many" ] || fail "one and seven connections disagree: $one / $many"
grep -q '"orders":1000,' <<<"$one" || fail "not 1000 orders: $one"

# Two orders of one tenant under one request id (in two shards if they are in two).
read -r first_db first_id < <(sql "SELECT 0, id FROM ${PREFIX}_0.orders_0 ORDER BY id LIMIT 1")
read -r other_id other_rid < <(sql "SELECT id, request_id FROM ${PREFIX}_1.orders_1 ORDER BY id LIMIT 1")
old_rid=$(sql "SELECT request_id FROM ${PREFIX}_0.orders_0 WHERE id = $first_id")
sql "UPDATE ${PREFIX}_0.orders_0 SET request_id = '$other_rid' WHERE id = $first_id"
out=$(audit --connections 3) && fail "a duplicate request id passes: $out"
grep -q "belongs to more than one order" <<<"$out" || fail "the duplicate request id is not named: $out"
grep -q "1 duplicate request ids" <<<"$out" || fail "not one duplicate request id: $out"
sql "UPDATE ${PREFIX}_0.orders_0 SET request_id = '$old_rid' WHERE id = $first_id"
audit >/dev/null || fail "not clean again after the request id was restored"

# A wallet's confirm applied twice: its newest movement repeated at the next seq.
read -r wallet seq < <(sql "SELECT wallet_id, seq FROM ${PREFIX}_1.fund_movements_1 ORDER BY wallet_id DESC, seq DESC LIMIT 1")
sql "INSERT INTO ${PREFIX}_1.fund_movements_1 SELECT wallet_id, seq + 1, order_id, phase, d_available, d_frozen,
     d_incoming, available_after + d_available, frozen_after + d_frozen, incoming_after + d_incoming, at_ms
     FROM ${PREFIX}_1.fund_movements_1 WHERE wallet_id = $wallet AND seq = $seq"
out=$(audit --connections 2) && fail "a movement applied twice passes: $out"
grep -q "wallet $wallet has movements of order .* applied more than once" <<<"$out" || fail "not named: $out"
grep -q "1 duplicate movements" <<<"$out" || fail "not one duplicate movement: $out"
sql "DELETE FROM ${PREFIX}_1.fund_movements_1 WHERE wallet_id = $wallet AND seq = $((seq + 1))"

# An open TCC record (tried, never confirmed or cancelled) of a final order.
sql "INSERT INTO ${PREFIX}_0.tcc_records_0 (wallet_id, order_id, leg_type, state, try_result, updated_ms) VALUES (2, $first_id, 0, 0, 0, 1)" ||
  fail "cannot insert a TCC record (schema changed?)"
out=$(audit) && fail "an open TCC record of a final order passes: $out"
grep -q "holds an open TCC record of order $first_id (final)" <<<"$out" || fail "not named: $out"
sql "DELETE FROM ${PREFIX}_0.tcc_records_0 WHERE order_id = $first_id"
audit >/dev/null || fail "not clean at the end"

for d in 0 1; do sql "DROP DATABASE IF EXISTS ${PREFIX}_$d"; done
echo "txaudit checks passed"
