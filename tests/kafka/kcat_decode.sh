#!/usr/bin/env bash
# kafka_kcat_decode: an independent client (kcat) reads OrderFinalized events from a dev broker
# and they decode to what was produced: all of them with the test tool's decoder, and some
# with protoc --decode (the schema alone, no project code).
# usage: kcat_decode.sh DEVBROKER KAFKA_EVENT_TOOL PROTO_DIR
DEVBROKER=$1 TOOL=$2 PROTO_DIR=$3
. "$(dirname "$0")/lib.sh"
TOPIC=txengine.orders.finalized

start_devbroker "$DEVBROKER" --topic "$TOPIC:4"
timeout 30 kcat -b "$BOOTSTRAP" -L -t "$TOPIC" >"$KAFKA_TEST_DIR/meta.txt" 2>&1 || fail "kcat -L"
grep -q "3 brokers" "$KAFKA_TEST_DIR/meta.txt" && grep -q "with 4 partitions" "$KAFKA_TEST_DIR/meta.txt" \
  && ok "kcat sees 3 brokers and 4 partitions" || { fail "metadata"; cat "$KAFKA_TEST_DIR/meta.txt"; }

timeout 60 "$TOOL" produce --bootstrap "$BOOTSTRAP" --topic "$TOPIC" --first-id 1001 --count 40 \
  --payer 7 --merchant 9 --amount 12345 --failed-every 4 --garbage 1 || fail "produce"

# -e: exit at the end of every partition; %R%s: length-prefixed payloads for the decoder.
timeout 60 kcat -C -b "$BOOTSTRAP" -t "$TOPIC" -e -q -f '%R%s' >"$KAFKA_TEST_DIR/raw.bin" || fail "kcat -C"
"$TOOL" decode <"$KAFKA_TEST_DIR/raw.bin" >"$KAFKA_TEST_DIR/decoded.txt" || fail "decode"
check_eq "events read" "$(grep -c '^event_id=' "$KAFKA_TEST_DIR/decoded.txt")" 40
check_eq "undecodable messages" "$(grep -c '^undecodable' "$KAFKA_TEST_DIR/decoded.txt")" 1
check_eq "distinct event ids" "$(grep -o '^event_id=[0-9]*' "$KAFKA_TEST_DIR/decoded.txt" | sort -u | wc -l)" 40
check_eq "succeeded payments" "$(grep -c 'kind=ORDER_KIND_PAY state=ORDER_STATE_SUCCEEDED result=OK amount=12345 confirmed=12345 source=7 destination=9 currency=USD' "$KAFKA_TEST_DIR/decoded.txt")" 30
check_eq "failed payments" "$(grep -c 'state=ORDER_STATE_FAILED result=INSUFFICIENT_FUNDS amount=12345 confirmed=0' "$KAFKA_TEST_DIR/decoded.txt")" 10
grep -q '^event_id=1004 order_id=1004 tenant=1 kind=ORDER_KIND_PAY state=ORDER_STATE_FAILED' "$KAFKA_TEST_DIR/decoded.txt" \
  && ok "event 1004 is the failed one" || fail "event 1004 content"

# Keys: the decimal order id, readable by kcat as text; each event's key equals its id.
timeout 60 kcat -C -b "$BOOTSTRAP" -t "$TOPIC" -e -q -f '%p %o %k\n' >"$KAFKA_TEST_DIR/keys.txt" || fail "kcat keys"
check_eq "keys that are event ids" "$(grep -cE ' 10[0-9]{2}$' "$KAFKA_TEST_DIR/keys.txt")" 40

# protoc decodes single messages read by partition and offset.
if command -v protoc >/dev/null; then
  checked=0
  while read -r part off key; do
    [ "$key" = garbage ] && continue
    timeout 30 kcat -C -b "$BOOTSTRAP" -t "$TOPIC" -p "$part" -o "$off" -c 1 -e -q -f '%s' \
      | protoc --decode=txengine.events.OrderFinalized -I "$PROTO_DIR" "$PROTO_DIR/events.proto" >"$KAFKA_TEST_DIR/one.txt" \
      || { fail "protoc --decode of $part/$off"; continue; }
    grep -q "^event_id: $key\$" "$KAFKA_TEST_DIR/one.txt" && grep -q '^currency: "USD"$' "$KAFKA_TEST_DIR/one.txt" \
      && grep -q '^amount: 12345$' "$KAFKA_TEST_DIR/one.txt" && checked=$((checked + 1)) \
      || { fail "protoc content of key $key"; cat "$KAFKA_TEST_DIR/one.txt"; }
    [ $checked -ge 3 ] && break
  done <"$KAFKA_TEST_DIR/keys.txt"
  check_eq "messages decoded by protoc" "$checked" 3
else
  echo "protoc not installed: skipping the protoc cross-check"
fi

[ "$fails" -eq 0 ] && echo "kafka kcat decode passed" || { echo "$fails checks failed"; exit 1; }
