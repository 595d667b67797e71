#!/usr/bin/env bash
# Crash test (issue 4): txbench against `txengine serve --mysql`, the engine killed with SIGKILL
# at a random moment of each cycle, restarted; each cycle first resends (same request ids) what
# the previous crash left unanswered. At the end one more restart, then txaudit checks what is
# committed: every order final, every acknowledged order committed with the state the client
# heard, per-currency sums zero, balances equal their fund movements, no request id applied
# twice.
#
# usage: crash_test.sh TXENGINE TXBENCH TXAUDIT [--cycles N] [--seed S] [--ack durable|memory]
# MySQL: TXENGINE_MYSQL_URI (default: the private server of scripts/mariadb.sh on 3407).
# Databases: txcrash_<pid>_* (2 databases x 4 tables), dropped when the test passes.
set -uo pipefail
TXENGINE=$1 TXBENCH=$2 TXAUDIT=$3
shift 3
CYCLES=10
SEED=$RANDOM
ACK=durable
while [ $# -gt 0 ]; do
  case $1 in
    --cycles) CYCLES=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    --ack) ACK=$2; shift 2 ;;
    *) echo "crash_test.sh: unknown option $1"; exit 2 ;;
  esac
done
RANDOM=$SEED
URI=${TXENGINE_MYSQL_URI:-mysql://txengine:txengine@127.0.0.1:3407}
PREFIX=txcrash_$$
LAYOUT=(--db-prefix "$PREFIX" --databases 2 --tables 4)
WORK=$(mktemp -d)
source "$(dirname "$0")/lib.sh"
echo "crash test: $CYCLES cycles, seed $SEED, ack $ACK, databases ${PREFIX}_0..1, work dir $WORK"

# Starts the engine and waits (bounded) until it listens; sets SERVER_PID and SERVER.
start_server() { start_serve "$1" --config "$WORK/engine.toml" --mysql "$URI" --ack "$ACK" "${LAYOUT[@]}"; }

# The simulated provider forgets everything at a crash: a resumed top-up hears "not found" and
# takes it as a decline once this long has passed since its submit (30 s by default).
printf '[order]\nchannel_not_found_final_ms = 5000\n' >"$WORK/engine.toml"
mixes=(transfer pay_hot mixed with_top_ups)
previous_unanswered=/dev/null
: >"$WORK/unanswered-0"
previous_unanswered=$WORK/unanswered-0
for cycle in $(seq 1 "$CYCLES"); do
  start_server "$WORK/server-$cycle.log"
  mix=${mixes[$((cycle % 4))]}
  "$TXBENCH" --server "$SERVER" --connections 4 --window 32 --wallets 40 --duration 60 --mix "$mix" \
    --ack-log "$WORK/acks-$cycle" --unanswered-log "$WORK/unanswered-$cycle" --replay "$previous_unanswered" \
    >"$WORK/bench-$cycle.log" 2>&1 &
  BENCH_PID=$!
  # The crash: a random instant 0.2 .. 3.2 s in (during the setup, the replay or the load).
  kill_after_ms=$((200 + RANDOM % 3000))
  sleep "$(printf '%d.%03d' $((kill_after_ms / 1000)) $((kill_after_ms % 1000)))"
  kill -9 "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null
  SERVER_PID=
  # txbench sees the connection drop and exits (bounded: its own drain deadline).
  deadline=$((SECONDS + 60))
  while kill -0 "$BENCH_PID" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || fail "txbench did not exit after the crash of cycle $cycle"
    sleep 0.1
  done
  wait "$BENCH_PID" 2>/dev/null
  BENCH_PID=
  touch "$WORK/acks-$cycle" "$WORK/unanswered-$cycle"
  echo "cycle $cycle: killed after ${kill_after_ms} ms ($mix); $(wc -l <"$WORK/acks-$cycle") final replies heard," \
       "$(wc -l <"$WORK/unanswered-$cycle") unanswered; $(grep -c . "$WORK/server-$cycle.log") server log lines" \
       "$(grep -m1 -i 'resumed' "$WORK/server-$cycle.log" || true)"
  previous_unanswered=$WORK/unanswered-$cycle
done

# The last restart: what the last crash left open is resumed; the last unanswered commands are
# sent once more (each must get its original order, never a second one).
start_server "$WORK/server-final.log"
grep -i "resumed" "$WORK/server-final.log" | head -3
# A replayed top-up that attaches to a resumed one waits for the provider's "not found" to become
# definitive (order.channel_not_found_final_ms, 5 s here), hence the long drain.
"$TXBENCH" --server "$SERVER" --connections 2 --window 16 --wallets 10 --duration 1 --mix transfer --drain-s 120 \
  --ack-log "$WORK/acks-final" --replay "$previous_unanswered" >"$WORK/bench-final.log" 2>&1 ||
  fail "txbench after the last restart: $(tail -n 5 "$WORK/bench-final.log")"

ack_args=()
# With --ack memory a reply may precede the commit (documented: the last moments can be lost),
# so only the ledger, finality and request-id checks apply.
if [ "$ACK" = durable ]; then
  for f in "$WORK"/acks-*; do ack_args+=(--acks "$f"); done
fi
total_acks=$(cat "$WORK"/acks-* | wc -l)
[ "$total_acks" -gt 0 ] || fail "no order was acknowledged in any cycle"
# Top-ups in flight at a crash wait for the provider's "not found" to become definitive (30 s).
"$TXAUDIT" --mysql "$URI" "${LAYOUT[@]}" "${ack_args[@]}" --wait-final 120 || fail "txaudit found violations"
kill -TERM "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null
SERVER_PID=
# After a clean stop, the same checks hold.
"$TXAUDIT" --mysql "$URI" "${LAYOUT[@]}" "${ack_args[@]}" --json >/dev/null || fail "txaudit after a clean stop"
echo "crash test passed: $CYCLES crashes, $total_acks final replies heard, $((${#ack_args[@]} / 2)) ack logs checked (ack $ACK, seed $SEED)"
# Drop the databases of a passed run (a failed run keeps them for inspection).
mysql_drop() {
  local hostport=${URI#*@}
  hostport=${hostport%%/*}
  hostport=${hostport%%\?*}
  local host=${hostport%:*} port=${hostport##*:}
  local creds=${URI#mysql://}
  creds=${creds%%@*}
  for d in 0 1; do
    mariadb --no-defaults -h "$host" -P "$port" -u "${creds%%:*}" -p"${creds#*:}" \
      -e "DROP DATABASE IF EXISTS \`${PREFIX}_$d\`" 2>/dev/null
  done
}
mysql_drop
rm -rf "$WORK"
exit 0
