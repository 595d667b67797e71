#!/usr/bin/env bash
# bench_durable must exit non-zero and say AUDIT FAILED when the committed balances do not add up.
# usage: bench_durable_violation.sh path/to/bench_durable
set -uo pipefail
out=$("$1" --orders 200 --wallets 100 --threads 4 --workload transfer_uniform --prefix txtest_violation \
      --inject-violation 2>&1)
rc=$?
echo "$out"
[ "$rc" -eq 1 ] || { echo "FAIL: exit status $rc, expected 1"; exit 1; }
grep -q "transfer_uniform: AUDIT FAILED" <<<"$out" || { echo "FAIL: no AUDIT FAILED of the baseline"; exit 1; }
grep -q "engine (ack durable): AUDIT FAILED" <<<"$out" || { echo "FAIL: no AUDIT FAILED of the engine"; exit 1; }
grep -q "sum of balances of USD is 1, not 0" <<<"$out" || { echo "FAIL: the sum was not reported"; exit 1; }
# The engine's wallet row is a checkpoint (docs/persistence.md): the corrupted row disagrees with
# its journal's last movement (a current row) or with its movement at seq = version (a stale one).
grep -Eq "wallet 2 (balances|row \(checkpoint\))" <<<"$out" || { echo "FAIL: wallet 2 was not named"; exit 1; }
echo "violation detected"
