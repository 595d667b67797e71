#!/usr/bin/env bash
# `scripts/demo.sh --cluster` (issue 14, docs/cluster.md): the mixed demo workload across a
# three-node cluster (scripts/cluster.sh: three `txengine serve` processes on the private MariaDB
# server, publishing to the Kafka dev broker), every client connection to another node; then
# every invariant check of the whole cluster (txaudit: sums zero, every acknowledged order
# committed with the state its client heard, every order final, no request id applied twice),
# the Kafka checks (every final order published once per its home's node; the two consumers:
# one delivery request and one commission order per succeeded payment) and the money still
# conserved after the commissions. Run by scripts/demo.sh after it built; expects the build.
#
# Environment: TXENGINE_DEMO_CLUSTER_SECONDS (load duration, default 15), TXENGINE_BUILD_DIR (the
# build, default <repo>/build), TXENGINE_CLUSTER_PORT (the nodes' ports, default from 7610),
# TXENGINE_CLUSTER_TLS=1 (the links between nodes over mutual TLS: scripts/cluster.sh --tls).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
SECONDS_OF_LOAD=${TXENGINE_DEMO_CLUSTER_SECONDS:-15}
BUILD=${TXENGINE_BUILD_DIR:-$REPO/build}
export TXENGINE_BIN=$BUILD/apps/txengine TXENGINE_DEVBROKER_BIN=$BUILD/apps/txengine-devbroker
case "$SECONDS_OF_LOAD" in '' | *[!0-9]*) echo "TXENGINE_DEMO_CLUSTER_SECONDS must be a number of seconds" >&2; exit 2 ;; esac
scripts/mariadb.sh start >&2
URI=$(scripts/mariadb.sh url)
export TXENGINE_DEVBROKER_DIR=${TXENGINE_DEVBROKER_DIR:-$REPO/.run/devbroker-demo}
BOOTSTRAP=$(scripts/devbroker.sh start)
PREFIX=txdemo_cluster
CONSUMERS=txdemo_cluster_consumers
WORK=$(mktemp -d /tmp/txdemo-cluster.XXXXXX)
export TXENGINE_MYSQL_URI=$URI TXENGINE_CLUSTER_DIR=$WORK/cluster TXENGINE_CLUSTER_PREFIX=$PREFIX
export TXENGINE_CLUSTER_PORT=${TXENGINE_CLUSTER_PORT:-7610} TXENGINE_CLUSTER_TTL_MS=3000
export TXENGINE_CLUSTER_ARGS="--databases 2 --tables 4 --partitions 16 --kafka $BOOTSTRAP"
LAYOUT=(--db-prefix "$PREFIX" --databases 2 --tables 4)
sql() {
  local u p h port
  u=$(sed -E 's#mysql://([^:@]*).*#\1#' <<<"$URI")
  p=$(sed -E 's#mysql://[^:@]*:([^@]*)@.*#\1#' <<<"$URI")
  h=$(sed -E 's#.*@([^:/]*).*#\1#' <<<"$URI")
  port=$(sed -E 's#.*:([0-9]+)/?$#\1#' <<<"$URI")
  mysql --batch --skip-column-names -h "$h" -P "$port" -u "$u" -p"$p" -e "$1"
}
cleanup() {
  scripts/cluster.sh stop >/dev/null 2>&1 || true
  scripts/devbroker.sh stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
failed=0
check() {
  if [ "$1" = 0 ]; then echo "  [PASS] $2"; else echo "  [FAIL] $2"; failed=1; fi
}
# Every shard table of a family, as one UNION ALL.
all_of() {
  local q="" d t
  for d in 0 1; do
    for t in $([ $d = 0 ] && echo "0 2" || echo "1 3"); do
      [ -n "$q" ] && q="$q UNION ALL "
      q="$q SELECT * FROM \`${PREFIX}_$d\`.\`$1_$t\`"
    done
  done
  echo "($q)"
}

echo "cluster demo: 3 nodes on one MariaDB ($URI, databases ${PREFIX}_0..1), Kafka dev broker $BOOTSTRAP; work dir $WORK"
for d in 0 1; do sql "DROP DATABASE IF EXISTS \`${PREFIX}_$d\`"; done
sql "DROP DATABASE IF EXISTS \`$CONSUMERS\`"
scripts/cluster.sh start --nodes 3
SERVERS=$(scripts/cluster.sh servers)
NODE1=${SERVERS%%,*}
if [ "${TXENGINE_CLUSTER_TLS:-0}" = 1 ]; then
  tls=0
  for i in 1 2 3; do grep -q "^cluster links: mutual TLS" "$WORK/cluster/node-$i.log" || tls=1; done
  check "$tls" "every node links to the others over mutual TLS (a CA and node certificates made for this run)"
fi

echo "load: ${SECONDS_OF_LOAD} s of the mixed workload (70% transfers, 20% payments to 10 merchants, 10% queries)"
echo "      through all three nodes: wallets on every node, about two orders in three crossing nodes"
$BUILD/apps/txbench --servers "$SERVERS" --connections 6 --window 16 --wallets 60 --duration "$SECONDS_OF_LOAD" \
  --mix mixed --ack-log "$WORK/acks" --unanswered-log "$WORK/unanswered" --json >"$WORK/bench.log" 2>&1 || true
result=$(grep '^{' "$WORK/bench.log" | tail -n 1)
echo "txbench: $result"
errors=$(sed -n 's/.*"errors":\([0-9]*\).*/\1/p' <<<"$result")
unanswered=$(sed -n 's/.*"unanswered":\([0-9]*\).*/\1/p' <<<"$result")

echo "checks of the whole cluster:"
check "$([ -n "$result" ] && [ "${unanswered:-1}" = 0 ] && echo 0 || echo 1)" \
  "every request answered ($(wc -l <"$WORK/acks") final replies heard, ${unanswered:-?} unanswered)"
check "$([ "${errors:-1}" = 0 ] && echo 0 || echo 1)" "no order refused or failed by the engine (${errors:-?} errors; the mix has no failing orders)"
audit=$($BUILD/apps/txaudit --mysql "$URI" "${LAYOUT[@]}" --acks "$WORK/acks" --wait-final 60 2>&1) && a=0 || a=1
check "$a" "txaudit: $(head -n 2 <<<"$audit" | tr '\n' ' ')"

# Kafka: each node publishes the outbox rows of the partitions it holds (docs/cluster.md).
deadline=$((SECONDS + 120))
unpublished=1
while [ $SECONDS -lt $deadline ]; do
  unpublished=$(sql "SELECT COUNT(*) FROM $(all_of outbox) o WHERE published_ms = 0")
  [ "$unpublished" = 0 ] && break
  sleep 0.5
done
final_orders=$(sql "SELECT COUNT(*) FROM $(all_of orders) o WHERE is_final = 1")
outbox_rows=$(sql "SELECT COUNT(*) FROM $(all_of outbox) o")
check "$([ "$unpublished" = 0 ] && [ "$outbox_rows" = "$final_orders" ] && echo 0 || echo 1)" \
  "every final order published ($outbox_rows outbox rows for $final_orders final orders, $unpublished unpublished)"

# The consumers: delivery-notifier and commission-payer (paying through node 1: any node takes it).
platform=$($BUILD/apps/txctl --server "$NODE1" --json wallet create --kind fee --currency USD --overdraft 10000000000.00 \
  --request-id demo-cluster-platform | sed -n 's/.*"wallet":{"wallet":\([0-9]*\).*/\1/p')
[ -n "$platform" ] || { echo "cannot create the commission wallet on $NODE1" >&2; exit 1; }
common=(--bootstrap "$BOOTSTRAP" --mysql "$URI" --database "$CONSUMERS" --idle-exit-ms 3000 --json)
echo "consumers: delivery-notifier and commission-payer (100 bps from wallet $platform, engine at $NODE1)"
$BUILD/apps/delivery-notifier "${common[@]}" >"$WORK/notifier.out" 2>"$WORK/notifier.log" &
notifier=$!
$BUILD/apps/commission-payer --engine "$NODE1" --platform-wallet "$platform" --bps 100 "${common[@]}" \
  >"$WORK/payer.out" 2>"$WORK/payer.log" &
payer=$!
wait "$notifier" && n_rc=0 || n_rc=$?
wait "$payer" && p_rc=0 || p_rc=$?
echo "  $(tail -n 1 "$WORK/notifier.out" 2>/dev/null)"
echo "  $(tail -n 1 "$WORK/payer.out" 2>/dev/null)"
check "$([ "$n_rc" = 0 ] && [ "$p_rc" = 0 ] && echo 0 || echo 1)" "both consumers finished (exit codes $n_rc, $p_rc)"
pays=$(sql "SELECT COUNT(*) FROM $(all_of orders) o WHERE kind = 1 AND state = 5")
deliveries=$(sql "SELECT COUNT(*) FROM \`$CONSUMERS\`.delivery_requests")
check "$([ "$deliveries" = "$pays" ] && echo 0 || echo 1)" "one delivery request per succeeded payment ($deliveries for $pays)"
rows=$(sql "SELECT COUNT(*) FROM \`$CONSUMERS\`.commission_payments")
due=$(sql "SELECT COUNT(*) FROM \`$CONSUMERS\`.commission_payments WHERE commission_amount > 0")
rejected=$(sql "SELECT COUNT(*) FROM \`$CONSUMERS\`.commission_payments WHERE result_code <> 0")
paid=$(sql "SELECT COUNT(*) FROM $(all_of orders) o WHERE kind = 5 AND state = 5 AND request_id LIKE 'commission-%'")
check "$([ "$rows" = "$pays" ] && [ "$paid" = "$due" ] && [ "$rejected" = 0 ] && echo 0 || echo 1)" \
  "one commission order per succeeded payment, paid once ($paid paid of $due due; $((rows - due)) below one cent; $rejected rejected)"
audit=$($BUILD/apps/txaudit --mysql "$URI" "${LAYOUT[@]}" --wait-final 60 2>&1) && a=0 || a=1
check "$a" "after the commissions, the whole cluster still adds up: $(head -n 2 <<<"$audit" | tail -n 1)"

scripts/cluster.sh stop >/dev/null
left=0
for i in 1 2 3; do grep -q "left the cluster" "$WORK/cluster/node-$i.log" || left=1; done
check "$left" "every node stopped cleanly and gave its partitions back"
if [ "$failed" = 0 ]; then
  echo "cluster demo: every check PASS (logs in $WORK)"
else
  echo "cluster demo: FAILED (logs in $WORK)"
  exit 1
fi
