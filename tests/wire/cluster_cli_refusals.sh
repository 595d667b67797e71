#!/usr/bin/env bash
# Bad input to the cluster tools is refused with its reason, and changes nothing:
# `txbench --servers` with an address that is not HOST:PORT, or together with --server;
# `scripts/cluster.sh` with a node id that is not 1..63, `kill` without ids, `cut` without two
# different node ids.
# usage: cluster_cli_refusals.sh TXBENCH
set -uo pipefail
TXBENCH=$1
CLUSTER=$(cd "$(dirname "$0")/../.." && pwd)/scripts/cluster.sh
export TXENGINE_CLUSTER_DIR=$(mktemp -d)
trap 'rm -rf "$TXENGINE_CLUSTER_DIR"' EXIT
expect() {  # expect WANT_CODE TEXT command...
  local want=$1 text=$2
  shift 2
  local out code
  out=$("$@" 2>&1)
  code=$?
  [ "$code" = "$want" ] || { echo "FAIL: $* exited $code, not $want: $out"; exit 1; }
  grep -qF -- "$text" <<<"$out" || { echo "FAIL: $* did not say '$text': $out"; exit 1; }
}
expect 2 "expects HOST:PORT, got 'garbage'" "$TXBENCH" --servers 127.0.0.1:1,garbage --duration 1
expect 2 "--server excludes --servers" "$TXBENCH" --servers 127.0.0.1:1 --server 127.0.0.1:2
expect 1 "node ids are numbers 1..63, got 'x'" "$CLUSTER" start --nodes x
expect 1 "node ids are 1..63, got 64" "$CLUSTER" kill 64
expect 1 "kill needs node ids" "$CLUSTER" kill
expect 1 "usage: cluster.sh" "$CLUSTER" frobnicate
expect 1 "cut needs two node ids" "$CLUSTER" cut 1
expect 1 "cut needs two different nodes" "$CLUSTER" cut 2 2
expect 1 "node ids are numbers 1..63, got 'x'" "$CLUSTER" cut 1 x
[ -z "$(ls -A "$TXENGINE_CLUSTER_DIR")" ] || { echo "FAIL: a refused command left files"; exit 1; }
echo "cluster cli refusals passed"
