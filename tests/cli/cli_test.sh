#!/usr/bin/env bash
# Every executable's command line (issue 11): --help exits 0 and names the flags; an unknown flag
# and a bad number exit 2 with an error naming the flag.
# usage: cli_test.sh NAME=PATH...   (NAME: txengine, txctl, txbench, txaudit, txengine-devbroker,
#                                    delivery-notifier, commission-payer, bench_engine, ...)
set -uo pipefail
fails=0
ok() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# help "EXE [SUBCOMMAND...]" FLAG...: exit 0, every FLAG in the output.
help() {
  local cmd=$1; shift
  local out; out=$($cmd --help 2>&1); local rc=$?
  [ $rc -eq 0 ] || { fail "$cmd --help: exit $rc"; return; }
  for flag in "$@"; do
    grep -qe "$flag" <<<"$out" || { fail "$cmd --help does not mention $flag"; return; }
  done
  ok "$cmd --help"
}

# refused "EXE [ARGS...]" PATTERN: exit 2, PATTERN (the flag's name) in the error.
refused() {
  local cmd=$1 pattern=$2
  local out; out=$($cmd </dev/null 2>&1); local rc=$?
  [ $rc -eq 2 ] || { fail "$cmd: exit $rc, wanted 2: $out"; return; }
  grep -qe "$pattern" <<<"$out" || { fail "$cmd: error does not say '$pattern': $out"; return; }
  ok "$cmd refused"
}

for arg in "$@"; do
  name=${arg%%=*} exe=${arg#*=}
  case $name in
    txengine)
      help "$exe" demo serve
      help "$exe demo" --wallets --orders --concurrency --json --mysql --ack --kafka
      help "$exe serve" --config --listen --keys --in-flight --threads --mysql --ack --db-prefix --databases --tables \
        --kafka --kafka-topic --outbox-max --kafka-property
      refused "$exe demo --bogus" "--bogus"
      refused "$exe demo --orders 12x" "--orders"
      refused "$exe serve --threads -1" "--threads"
      refused "$exe serve --listen nowhere" "--listen"
      refused "$exe frobnicate" "frobnicate" ;;
    txctl)
      help "$exe" --server --key-id --secret --json --timeout wallet top-up withdraw transfer pay refund commission order stats
      help "$exe wallet" create get freeze unfreeze close set-limit movements
      help "$exe wallet create" --kind --currency --overdraft --request-id
      help "$exe wallet movements" --from --limit --all
      help "$exe pay" --payer --merchant --amount --currency --fee-wallet --fee --request-id
      help "$exe order get" --movements
      refused "$exe stats --bogus" "--bogus"
      refused "$exe wallet get -5" "ID"
      refused "$exe transfer --from 1 --to 2 --currency USD --amount 1.234" "--amount" ;;
    txbench)
      help "$exe" --server --connections --duration --mix --window --wallets --json --csv --ack-log --unanswered-log \
        --replay --retry-unavailable --drain-s --key-id --secret
      refused "$exe --bogus" "--bogus"
      refused "$exe --connections 99999999999999999999" "--connections"
      refused "$exe --mix sideways" "--mix" ;;
    txaudit)
      help "$exe" --mysql --db-prefix --prefix --databases --tables --acks --wait-final --json --connections
      refused "$exe --bogus" "--bogus"
      refused "$exe --tables 0" "--tables" ;;
    txengine-devbroker)
      help "$exe" --brokers --topic --replication --bootstrap-file --control --no-stdin
      refused "$exe --bogus" "--bogus"
      refused "$exe --brokers 17" "--brokers" ;;
    delivery-notifier)
      help "$exe" --bootstrap --topic --group --mysql --database --batch --poll-ms --stats-interval-ms --idle-exit-ms \
        --max-messages --max-store-attempts --session-timeout-ms --processed-retention-hours --json
      refused "$exe --bootstrap 127.0.0.1:1 --bogus" "--bogus"
      refused "$exe --bootstrap 127.0.0.1:1 --batch +5" "--batch" ;;
    commission-payer)
      help "$exe" --bootstrap --engine --key-id --secret --platform-wallet --bps --max-attempts --call-timeout-ms
      refused "$exe --bootstrap 127.0.0.1:1 --platform-wallet 1 --bogus" "--bogus"
      refused "$exe --bootstrap 127.0.0.1:1 --platform-wallet 0x10" "--platform-wallet" ;;
    bench_engine)
      help "$exe" --orders --wallets --concurrency --hosts --shards --retained-max --workload --json --mysql --ack
      refused "$exe --bogus" "--bogus"
      refused "$exe --hosts 17" "--hosts" ;;
    bench_durable)
      help "$exe" --orders --wallets --threads --databases --tables --prefix --mysql --workload --json --ack \
        --concurrency --cold --no-baseline --no-engine --batch-latency-ms --single-connection --inject-violation
      refused "$exe --bogus" "--bogus"
      refused "$exe --orders 0" "--orders" ;;
    bench_cluster)
      help "$exe" --orders --wallets --nodes --concurrency --partitions --databases --tables --prefix --mysql \
        --workload --json
      refused "$exe --bogus" "--bogus"
      refused "$exe --nodes 1" "--nodes"
      refused "$exe --prefix Bad-Name" "--prefix" ;;
    bench_publication)
      help "$exe" --orders --wallets --concurrency --mysql --bootstrap --lag-target-ms --json
      refused "$exe --bogus" "--bogus"
      refused "$exe --wallets 1" "--wallets" ;;
    bench_recovery)
      help "$exe" --orders --wallets --tenants --withdraw-percent --mysql --prefix --final-timeout-s --json
      refused "$exe --bogus" "--bogus"
      refused "$exe --withdraw-percent 101" "--withdraw-percent"
      refused "$exe --prefix Bad-Name" "--prefix"
      refused "$exe --db-prefix Bad-Name" "--prefix" ;;
    bench_soak)
      help "$exe" --orders --wallets --merchants --concurrency --hosts --retained-max --journal-max \
        --record-retention-ms --interval-s --duration-s --repeat-ppm --mysql --ack --prefix --json --csv
      refused "$exe --bogus" "--bogus"
      refused "$exe --interval-s 1.5" "--interval-s" ;;
    txsim)
      help "$exe" --seed --seeds --steps --json --trace --long-pauses --keep-going --break --find-break
      refused "$exe --bogus" "--bogus"
      refused "$exe --seed 1x" "--seed"
      refused "$exe --seeds 9-3" "--seeds"
      refused "$exe --seed 1 --break everything" "--break" ;;
    *) fail "no checks for $name" ;;
  esac
done
if [ "$fails" -ne 0 ]; then echo "$fails failures"; exit 1; fi
echo "cli checks passed ($# executables)"
