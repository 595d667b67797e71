# Sourced by the Kafka shell tests (tests/kafka/*.sh). Every wait is bounded; cleanup on exit
# stops what the test started (by pid) and drops its databases.
set -uo pipefail
KAFKA_TEST_DIR=$(mktemp -d /tmp/txkafka.XXXXXX)
KAFKA_TEST_PIDS=()
KAFKA_TEST_DBS=()
fails=0

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }
check_eq() {  # check_eq WHAT GOT WANT
  if [ "$2" = "$3" ]; then ok "$1 = $2"; else fail "$1 = '$2', wanted '$3'"; return 1; fi
}

kafka_test_cleanup() {
  local pid
  for pid in "${KAFKA_TEST_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${KAFKA_TEST_PIDS[@]}"; do wait_gone "$pid" 20 || kill -KILL "$pid" 2>/dev/null || true; done
  local db
  for db in "${KAFKA_TEST_DBS[@]}"; do sql "DROP DATABASE IF EXISTS \`$db\`" >/dev/null 2>&1 || true; done
  if [ "$fails" -eq 0 ]; then rm -rf "$KAFKA_TEST_DIR"; else echo "logs kept in $KAFKA_TEST_DIR"; fi
}
trap kafka_test_cleanup EXIT

# wait_until TIMEOUT_S DESCRIPTION COMMAND...: polls COMMAND every 0.1 s until it succeeds.
wait_until() {
  local timeout=$1 what=$2; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@"; do
    if [ $SECONDS -ge $deadline ]; then echo "timeout after ${timeout}s waiting for: $what"; return 1; fi
    sleep 0.1
  done
}
alive() { kill -0 "$1" 2>/dev/null; }
wait_gone() {  # wait_gone PID TIMEOUT_S
  local deadline=$((SECONDS + $2))
  while kill -0 "$1" 2>/dev/null; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.1
  done
  wait "$1" 2>/dev/null || true
  return 0
}

# MySQL from TXENGINE_MYSQL_URI (mysql://user:pass@host:port), default the dev server on 3407.
MYSQL_URI=${TXENGINE_MYSQL_URI:-mysql://txengine:txengine@127.0.0.1:3407}
_rest=${MYSQL_URI#mysql://}
MYSQL_USER=${_rest%%:*}; _rest=${_rest#*:}
MYSQL_PASS=${_rest%%@*}; _rest=${_rest#*@}
_rest=${_rest%%/*}; _rest=${_rest%%\?*}
MYSQL_HOST=${_rest%%:*}; MYSQL_PORT=${_rest##*:}
sql() { mariadb --no-defaults -h"$MYSQL_HOST" -P"$MYSQL_PORT" -u"$MYSQL_USER" -p"$MYSQL_PASS" -N -B -e "$1"; }
# new_database NAME: sets TEST_DB to a database of this test run (dropped on exit). Not in a
# subshell ($(...)): the cleanup list lives in this shell.
new_database() {
  TEST_DB="txtest_$1_$$"
  sql "DROP DATABASE IF EXISTS \`$TEST_DB\`" || { echo "cannot reach MySQL at $MYSQL_URI"; exit 1; }
  KAFKA_TEST_DBS+=("$TEST_DB")
}

# start_devbroker DEVBROKER_BINARY [args]: sets BOOTSTRAP and DEVBROKER_PID.
start_devbroker() {
  local bin=$1; shift
  "$bin" --no-stdin --bootstrap-file "$KAFKA_TEST_DIR/bootstrap" "$@" >/dev/null 2>"$KAFKA_TEST_DIR/devbroker.log" &
  DEVBROKER_PID=$!
  KAFKA_TEST_PIDS+=("$DEVBROKER_PID")
  wait_until 30 "devbroker bootstrap" test -s "$KAFKA_TEST_DIR/bootstrap" || { cat "$KAFKA_TEST_DIR/devbroker.log"; exit 1; }
  BOOTSTRAP=$(cat "$KAFKA_TEST_DIR/bootstrap")
  echo "devbroker at $BOOTSTRAP"
}

# start_engine TXENGINE_BINARY [serve args]: sets ENGINE (host:port) and ENGINE_PID.
start_engine() {
  local bin=$1; shift
  local log="$KAFKA_TEST_DIR/engine.$RANDOM.log"
  "$bin" serve --listen "${ENGINE_LISTEN:-127.0.0.1:0}" "$@" >"$log" 2>&1 &
  ENGINE_PID=$!
  KAFKA_TEST_PIDS+=("$ENGINE_PID")
  wait_until 120 "engine listening" grep -q "listening on" "$log" || { cat "$log"; exit 1; }
  ENGINE=$(sed -n 's/^txengine listening on \(.*\)$/\1/p' "$log" | tail -1)
  ENGINE_LOG=$log
  echo "engine at $ENGINE"
}

wallet_create() {  # wallet_create TXCTL KIND -> id
  "$1" --server "$ENGINE" --json wallet create --kind "$2" --currency USD | sed -n 's/.*"wallet":{"wallet":\([0-9]*\).*/\1/p'
}
wallet_available() {  # wallet_available TXCTL ID -> minor units
  "$1" --server "$ENGINE" --json wallet get "$2" | sed -n 's/.*"available":\(-*[0-9]*\).*/\1/p'
}

# commission_wallets TXCTL LIMIT: the platform's fee wallet, paying commissions from an overdraft
# of LIMIT (fee wallets take no top-up), and a merchant; sets PLATFORM and MERCHANT.
commission_wallets() {
  PLATFORM=$(wallet_create "$1" fee)
  MERCHANT=$(wallet_create "$1" merchant)
  [ -n "$PLATFORM" ] && [ -n "$MERCHANT" ] || { fail "wallets"; exit 1; }
  "$1" --server "$ENGINE" wallet set-limit "$PLATFORM" --limit "$2" >/dev/null || fail "set-limit"
}

# real_payments TXBENCH TXCTL COUNT FAILED_EVERY MERCHANT AMOUNT FILE: makes the payments that
# kafka_event_tool's events 1..COUNT describe real, as commission-payer checks each event against
# the engine's order: a funded payer pays MERCHANT AMOUNT (minor units) for every event but each
# FAILED_EVERY-th (a failed payment, never verified), through txbench's replay of request lines.
# FILE gets one order id per event (1 for the failed ones), for `kafka_event_tool --order-ids`.
real_payments() {
  local bench=$1 ctl=$2 count=$3 failed_every=$4 merchant=$5 amount=$6 file=$7
  local payer i replay="$KAFKA_TEST_DIR/payments.replay" acks="$KAFKA_TEST_DIR/payments.acks"
  local tag="kpay-$$-$RANDOM$RANDOM-"   # request ids of this call's payments
  payer=$(wallet_create "$ctl" user)
  [ -n "$payer" ] || { fail "payer wallet"; return 1; }
  "$ctl" --server "$ENGINE" top-up --wallet "$payer" --amount "$(( (count * amount + 99) / 100 + 1 )).00" \
    --currency USD >/dev/null || { fail "top-up of the payer"; return 1; }
  : >"$replay"
  for ((i = 1; i <= count; ++i)); do
    [ "$failed_every" -gt 0 ] && [ $((i % failed_every)) -eq 0 ] && continue
    echo "$tag$i p $payer $merchant $amount" >>"$replay"
  done
  # The replayed lines go first; the run must last until all are sent (~200k/s here; a wide margin).
  local seconds; seconds=$(awk -v n="$count" 'BEGIN { printf "%.1f", 0.5 + n / 20000 }')
  timeout 120 "$bench" --server "$ENGINE" --connections 1 --window 64 --wallets 2 --mix transfer --duration "$seconds" \
    --replay "$replay" --ack-log "$acks" >"$KAFKA_TEST_DIR/payments.log" 2>&1 || { fail "txbench payments"; return 1; }
  awk -v n="$count" -v f="$failed_every" -v p="$tag" '
    FNR == NR { if ($4 == 5) id[$1] = $2; next }
    END { for (i = 1; i <= n; ++i) { if (f > 0 && i % f == 0) print 1; else if ((p i) in id) print id[p i]; else { print "missing " p i; exit 1 } } }
  ' "$acks" /dev/null >"$file" || { fail "payments not all succeeded: $(grep -c . "$acks") answered"; return 1; }
  PAYMENT_PAYER=$payer
}
