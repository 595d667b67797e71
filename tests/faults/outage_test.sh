#!/usr/bin/env bash
# MySQL outage test (issue 4): txbench runs against `txengine serve --mysql` on a MariaDB server
# of its own (so the other tests keep theirs); mid-load the server is stopped, then started
# again. While it is down the engine refuses new commands with the retryable `unavailable`
# (txbench resends them with the same request id) and its memory stays bounded; when it is back
# the engine resumes by itself. Then txaudit checks nothing was lost: every acknowledged order
# committed with its state, every order final, the ledger invariants.
#
# usage: outage_test.sh TXENGINE TXBENCH TXAUDIT TXCTL [--outage-s SECONDS]
set -uo pipefail
TXENGINE=$1 TXBENCH=$2 TXAUDIT=$3 TXCTL=$4
shift 4
OUTAGE_S=4
while [ $# -gt 0 ]; do
  case $1 in
    --outage-s) OUTAGE_S=$2; shift 2 ;;
    *) echo "outage_test.sh: unknown option $1"; exit 2 ;;
  esac
done
REPO=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d)
export TXENGINE_MYSQL_DIR=$WORK/mariadb
export TXENGINE_MYSQL_PORT=$((20000 + $$ % 12000))  # below the ephemeral range (32768 and up)
export TXENGINE_MYSQL_BUFFER_POOL=256M
URI=mysql://txengine:txengine@127.0.0.1:$TXENGINE_MYSQL_PORT
LAYOUT=(--db-prefix txoutage --databases 2 --tables 4)
SERVER_PID=
BENCH_PID=
cleanup() {
  [ -n "$SERVER_PID" ] && kill -9 "$SERVER_PID" 2>/dev/null
  [ -n "$BENCH_PID" ] && kill "$BENCH_PID" 2>/dev/null
  "$REPO/scripts/mariadb.sh" stop >/dev/null 2>&1
  wait 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  echo "--- engine log (tail)"; tail -n 20 "$WORK/server.log" 2>/dev/null
  echo "--- txbench log (tail)"; tail -c 1500 "$WORK/bench.log" 2>/dev/null; echo
  exit 1
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

"$REPO/scripts/mariadb.sh" start >"$WORK/mariadb-start.log" 2>&1 || { cat "$WORK/mariadb-start.log"; fail "MariaDB did not start"; }
echo "outage test: private MariaDB on port $TXENGINE_MYSQL_PORT, outage ${OUTAGE_S} s"

"$TXENGINE" serve --listen 127.0.0.1:0 --mysql "$URI" "${LAYOUT[@]}" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
deadline=$((SECONDS + 60))
until grep -q "listening on" "$WORK/server.log"; do
  kill -0 "$SERVER_PID" 2>/dev/null || fail "the engine exited at start"
  [ $SECONDS -lt $deadline ] || fail "the engine did not listen within 60 s"
  sleep 0.1
done
SERVER=$(sed -n 's/^txengine listening on \(.*\)$/\1/p' "$WORK/server.log")
txctl() { "$TXCTL" --server "$SERVER" --timeout 5000 "$@"; }
# Two wallets of the probe that checks how a new command is answered during the outage.
probe_from=$(txctl wallet create --kind user --currency USD | awk '/^wallet / {print $2; exit}')
probe_to=$(txctl wallet create --kind user --currency USD | awk '/^wallet / {print $2; exit}')
[ -n "$probe_from" ] && [ -n "$probe_to" ] || fail "creating the probe wallets"

duration=$((OUTAGE_S + 10))
"$TXBENCH" --server "$SERVER" --connections 4 --window 32 --wallets 40 --duration "$duration" --mix mixed \
  --retry-unavailable 50 --json --ack-log "$WORK/acks" >"$WORK/bench.json" 2>"$WORK/bench.log" &
BENCH_PID=$!
# Wait until the load runs (the setup is done and orders are acknowledged), bounded.
deadline=$((SECONDS + 60))
until grep -q "acknowledged [1-9]" "$WORK/bench.log" 2>/dev/null; do
  kill -0 "$BENCH_PID" 2>/dev/null || fail "txbench ended before the load started"
  [ $SECONDS -lt $deadline ] || fail "no order acknowledged within 60 s"
  sleep 0.1
done
sleep 1  # a second of steady load before the outage (the outage's timing, not a wait for a condition)
rss_before=$(rss_kb "$SERVER_PID")
acks_before=$(wc -l <"$WORK/acks")

"$REPO/scripts/mariadb.sh" stop >/dev/null || fail "MariaDB did not stop"
echo "MariaDB stopped after $acks_before acknowledged orders (engine RSS ${rss_before} kB)"
rss_max=$rss_before
# A new command while MySQL is down: refused at once with the retryable `unavailable` (once the
# writer has seen the outage; its first failed commit comes within the load's next batch).
deadline=$((SECONDS + OUTAGE_S))
probe=
until grep -q "unavailable" <<<"$probe"; do
  [ $SECONDS -lt $deadline ] || fail "a new command during the outage was not refused with unavailable: $probe"
  probe=$(txctl transfer --from "$probe_from" --to "$probe_to" --amount 1.00 --currency USD 2>&1)
done
echo "during the outage a new command is answered: $(head -c 200 <<<"$probe" | tr '\n' ' ')"
end=$((SECONDS + OUTAGE_S))
while [ $SECONDS -lt $end ]; do
  kill -0 "$SERVER_PID" 2>/dev/null || fail "the engine died during the outage"
  rss=$(rss_kb "$SERVER_PID")
  [ "$rss" -gt "$rss_max" ] && rss_max=$rss
  sleep 0.2
done
acks_during=$(($(wc -l <"$WORK/acks") - acks_before))
"$REPO/scripts/mariadb.sh" start >/dev/null || fail "MariaDB did not start again"
echo "MariaDB back; during the outage the engine acknowledged $acks_during orders, RSS peaked at ${rss_max} kB"

deadline=$((SECONDS + duration + 90))
while kill -0 "$BENCH_PID" 2>/dev/null; do
  [ $SECONDS -lt $deadline ] || fail "txbench did not finish"
  rss=$(rss_kb "$SERVER_PID")
  [ "$rss" -gt "$rss_max" ] && rss_max=$rss
  sleep 0.2
done
wait "$BENCH_PID"
bench_rc=$?
BENCH_PID=
cat "$WORK/bench.json"
[ $bench_rc -eq 0 ] || fail "txbench exited with $bench_rc"
grep -q '"unanswered":0,' "$WORK/bench.json" || fail "txbench has requests without an answer"
# Every refusal of a new command was `unavailable` and was retried. The only errors allowed are
# final business outcomes of orders that were in their try phase when MySQL went away and
# outlived their try deadline: they failed and were compensated (nothing moved).
codes=$(sed -n 's/.*"errors_by_code":{\([^}]*\)}.*/\1/p' "$WORK/bench.json")
other=$(tr ',' '\n' <<<"$codes" | grep -v -e '^$' -e '^"try_deadline_exceeded":' -e '^"tcc_deadline_passed":' || true)
[ -z "$other" ] || fail "txbench saw errors other than try deadlines: $other"
acks_after=$(($(wc -l <"$WORK/acks") - acks_before - acks_during))
[ "$acks_after" -gt 0 ] || fail "nothing acknowledged after MariaDB came back"
# Memory stays bounded: the engine holds at most the running orders and its bounded queues.
limit_kb=$((rss_before * 2 + 262144))
[ "$rss_max" -le "$limit_kb" ] || fail "engine RSS grew from ${rss_before} kB to ${rss_max} kB (limit ${limit_kb} kB)"

"$TXAUDIT" --mysql "$URI" "${LAYOUT[@]}" --acks "$WORK/acks" --wait-final 60 || fail "txaudit found violations"
kill -TERM "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null
SERVER_PID=
echo "outage test passed: $acks_before before, $acks_during during, $acks_after after the outage; RSS ${rss_before} -> max ${rss_max} kB"
exit 0
