#!/usr/bin/env bash
# The main job: install what is missing, build, start the private MariaDB server and the Kafka
# dev broker, and run the demo with MySQL storage and Kafka publication: the mixed workload and
# its invariants, then the events flowing to the two consumers (delivery-notifier,
# commission-payer) and their checks (docs/kafka.md). Extra arguments go to `txengine demo`.
#
# TXENGINE_DEMO_MEMORY=1 runs the in-memory demo instead (no MySQL, no Kafka).
# `scripts/demo.sh --cluster` runs the demo across a three-node cluster instead
# (scripts/demo_cluster.sh, docs/cluster.md).
# The MariaDB server is left running (scripts/mariadb.sh stop); the dev broker is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
if [ "${1:-}" = --cluster ]; then
  shift
  [ $# = 0 ] || { echo "demo.sh --cluster takes no more arguments (TXENGINE_DEMO_CLUSTER_SECONDS sets the load's length)" >&2; exit 2; }
  exec scripts/demo_cluster.sh
fi
if [ "${TXENGINE_DEMO_MEMORY:-0}" = 1 ]; then
  exec build/apps/txengine demo "$@"
fi
scripts/mariadb.sh start >&2
URI=$(scripts/mariadb.sh url)
export TXENGINE_DEVBROKER_DIR=${TXENGINE_DEVBROKER_DIR:-$PWD/.run/devbroker-demo}
BOOTSTRAP=$(scripts/devbroker.sh start)
trap 'scripts/devbroker.sh stop >/dev/null 2>&1 || true' EXIT
echo "kafka dev broker (librdkafka mock cluster, 3 brokers): $BOOTSTRAP" >&2
# Smaller than the in-memory default: every order is committed in MySQL before its answer.
args=("$@")
[[ " ${args[*]-} " == *" --orders "* ]] || args+=(--orders 50000)
build/apps/txengine demo --mysql "$URI" --kafka "$BOOTSTRAP" "${args[@]}"
