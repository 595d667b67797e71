#!/usr/bin/env bash
# txctl against a real server over loopback: every command, --json, and the exit codes.
# usage: txctl_e2e.sh path/to/txengine path/to/txctl
set -uo pipefail
TXENGINE=$1
TXCTL=$2
. "$(dirname "$0")/start_server.sh"
start_server "$TXENGINE"
fails=0
ctl() { "$TXCTL" --server "$SERVER" "$@"; }
expect() {  # expect EXIT_CODE PATTERN -- command...
  local want=$1 pattern=$2; shift 3
  local out; out=$("$@" 2>&1); local got=$?
  if [ "$got" != "$want" ] || ! grep -qE -- "$pattern" <<<"$out"; then
    echo "FAIL (exit $got, wanted $want, pattern '$pattern'): $*"; echo "$out"; fails=$((fails + 1))
  else
    echo "ok: $*"
  fi
}
json_field() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" | head -1; }

U1=$(ctl --json wallet create --kind user --currency USD | sed -n 's/.*"wallet":{"wallet":\([0-9]*\).*/\1/p')
U2=$(ctl --json wallet create --kind user --currency USD | sed -n 's/.*"wallet":{"wallet":\([0-9]*\).*/\1/p')
M=$(ctl --json wallet create --kind merchant --currency USD | sed -n 's/.*"wallet":{"wallet":\([0-9]*\).*/\1/p')
F=$(ctl --json wallet create --kind fee --currency USD | sed -n 's/.*"wallet":{"wallet":\([0-9]*\).*/\1/p')
[ -n "$U1" ] && [ -n "$U2" ] && [ -n "$M" ] && [ -n "$F" ] || { echo "FAIL: wallet create"; exit 1; }

expect 0 "status +active" -- ctl wallet create --kind user --currency EUR
W1=$(ctl --json wallet create --kind merchant --currency USD --request-id wc1 | sed -n 's/.*"wallet":{"wallet":\([0-9]*\).*/\1/p')
expect 0 "^wallet +$W1 +\(duplicate" -- ctl wallet create --kind merchant --currency USD --request-id wc1
expect 0 '"duplicate":true' -- ctl --json wallet create --kind merchant --currency USD --request-id wc1
expect 1 "duplicate_conflict" -- ctl wallet create --kind user --currency USD --request-id wc1
expect 0 "available +0.00" -- ctl wallet get "$U1"
expect 0 "state +succeeded" -- ctl top-up --wallet "$U1" --amount 100.00 --currency USD --request-id t1
expect 0 "duplicate" -- ctl top-up --wallet "$U1" --amount 100.00 --currency USD --request-id t1
expect 1 "duplicate_conflict" -- ctl top-up --wallet "$U1" --amount 99.00 --currency USD --request-id t1
expect 0 "state +succeeded" -- ctl transfer --from "$U1" --to "$U2" --amount 10.00 --currency USD --request-id r1
expect 0 '"state":"succeeded"' -- ctl --json transfer --from "$U1" --to "$U2" --amount 0.5 --currency USD
PAY=$(ctl --json pay --payer "$U1" --merchant "$M" --amount 20.00 --currency USD --fee-wallet "$F" --fee 1.00 --request-id p1 | json_field order_id)
[ -n "$PAY" ] || { echo "FAIL: pay"; fails=$((fails + 1)); }
expect 0 "kind +pay" -- ctl order get "$PAY"
expect 0 "kind +refund" -- ctl refund --order "$PAY" --amount 5.00 --currency USD --request-id rf1
expect 1 "refund_exceeds_original" -- ctl refund --order "$PAY" --amount 50.00 --currency USD --request-id rf2
expect 0 "kind +commission" -- ctl commission --from "$F" --to "$M" --amount 0.50 --currency USD --request-id c1
expect 0 "kind +withdraw" -- ctl withdraw --wallet "$U2" --amount 1.00 --currency USD --request-id w1
expect 0 "available +74.50" -- ctl wallet get "$U1"
expect 0 "overdraft +5.00" -- ctl wallet set-limit "$U2" --limit 5.00
expect 0 "status +frozen" -- ctl wallet freeze "$U1"
expect 1 "wallet_frozen" -- ctl transfer --from "$U1" --to "$U2" --amount 1.00 --currency USD
expect 0 "status +active" -- ctl wallet unfreeze "$U1"
expect 1 "wallet_not_empty" -- ctl wallet close "$U1"
E=$(ctl --json wallet create --kind user --currency USD | sed -n 's/.*"wallet":{"wallet":\([0-9]*\).*/\1/p')
expect 0 "status +closed" -- ctl wallet close "$E"
expect 0 "confirm" -- ctl wallet movements "$U1" --limit 2 --all
expect 0 '"entries":\[' -- ctl --json wallet movements "$U1"
expect 0 "succeeded" -- ctl stats
expect 0 '"stats":\{' -- ctl --json stats
expect 1 "insufficient_funds" -- ctl transfer --from "$U2" --to "$U1" --amount 1000.00 --currency USD
expect 1 "unknown_wallet" -- ctl wallet get 999999
expect 1 "unknown_order" -- ctl order get 12345
expect 1 "invalid_currency" -- ctl transfer --from "$U1" --to "$U2" --amount 1.00 --currency usd
expect 1 '"result":"same_wallet"' -- ctl --json transfer --from "$U1" --to "$U1" --amount 1.00 --currency USD
# usage errors: exit 2
expect 2 "usage" -- ctl
expect 2 "unknown command" -- ctl frobnicate
expect 2 "--amount is required" -- ctl transfer --from 1 --to 2 --currency USD
expect 2 "expected an amount" -- ctl transfer --from 1 --to 2 --amount 1.234 --currency USD
expect 2 "expects a whole number" -- ctl wallet get abc
expect 2 "HOST:PORT" -- "$TXCTL" --server nowhere wallet get 1
# infrastructure: exit 3
expect 3 "unauthenticated" -- ctl --secret wrong wallet get "$U1"
expect 3 "unauthenticated" -- ctl --key-id nobody wallet get "$U1"
expect 3 "cannot connect" -- "$TXCTL" --server 127.0.0.1:1 wallet get 1
# the secret from an owner-only file (issue 13): refused when others may read it
SECRET_FILE=$(mktemp)
printf 'txengine-development-secret\n' >"$SECRET_FILE"
chmod 644 "$SECRET_FILE"
expect 2 "mode 0644" -- ctl --secret-file "$SECRET_FILE" wallet get "$U1"
chmod 600 "$SECRET_FILE"
expect 0 "available" -- ctl --secret-file "$SECRET_FILE" wallet get "$U1"
expect 2 "excludes" -- ctl --secret-file "$SECRET_FILE" --secret x wallet get "$U1"
rm -f "$SECRET_FILE"
# nothing changed by the rejected and unauthenticated commands
expect 0 "available +74.50" -- ctl wallet get "$U1"

if [ "$fails" -ne 0 ]; then echo "$fails failures"; exit 1; fi
echo "all txctl checks passed"
