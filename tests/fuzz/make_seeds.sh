#!/usr/bin/env bash
# Writes the seed corpora of the libFuzzer targets (tests/fuzz/TARGET/), small inputs taken from
# the unit tests, so each ctest run (30 s) starts past the first layer of each parser. The binary
# seeds are encoded from protobuf text with protoc. Run again after changing a seed below.
#   tests/fuzz/make_seeds.sh
set -euo pipefail
cd "$(dirname "$0")"
proto=../../protocol
seed() {  # seed TARGET NAME TEXT
  mkdir -p "$1"; printf '%s' "$3" >"$1/$2"
}
encode() {  # encode TYPE TEXT > bytes
  printf '%s' "$2" | protoc --encode="$1" -I "$proto" "$proto/events.proto" "$proto/txengine.proto"
}

# MySQL URIs (tests/persistence/schema_mysql_test.cpp, mysql_uri_test.cpp).
seed fuzz_mysql_uri full 'mysql://u:p@db.example:3310/app'
seed fuzz_mysql_uri socket 'mysql://root@localhost?socket=/tmp/x.sock'
seed fuzz_mysql_uri tls 'mysql://u:p@db:3306/app?ssl-mode=VERIFY_IDENTITY&ssl-ca=/etc/ca.pem'
seed fuzz_mysql_uri required 'mysql://u:p@db?ssl-mode=REQUIRED'
seed fuzz_mysql_uri empty 'mysql://'

# Config files (tests/config/config_file_test.cpp).
seed fuzz_config_file server $'[server]\nlisten = "127.0.0.1:7400"\nin_flight_max = 4096\nconnections_max = 1024\n'
seed fuzz_config_file storage $'[storage]\nmysql = "mysql://u:p@db:3306"\n[kafka]\nbootstrap_servers = "k1:9092,k2:9092"\n[kafka.properties]\n"security.protocol" = "ssl"\n'
seed fuzz_config_file engine $'[engine]\norders_retained_max = 100000\n[order]\ntry_deadline_ms = 5000\n[wallet]\nidle_ms = 60000\n'

# Kafka events (tests/kafka/kafka_event_tool.cpp produces these).
mkdir -p fuzz_kafka_event fuzz_reply
encode txengine.events.OrderFinalized 'event_id: 500001 tenant: 1 order_id: 500001 request_id: "test-500001" kind: ORDER_KIND_PAY state: ORDER_STATE_SUCCEEDED result: OK currency: "USD" amount: 12345 confirmed_amount: 12345 source: 77 destination: 3 created_ms: 1700000500001 final_ms: 1700000500101' >fuzz_kafka_event/succeeded_pay
encode txengine.events.OrderFinalized 'event_id: 500010 tenant: 1 order_id: 500010 kind: ORDER_KIND_PAY state: ORDER_STATE_FAILED result: INSUFFICIENT_FUNDS currency: "USD" amount: 12345 source: 77 destination: 3' >fuzz_kafka_event/failed_pay
encode txengine.events.OrderFinalized 'event_id: 9 tenant: 2 order_id: 9 kind: ORDER_KIND_COMMISSION state: ORDER_STATE_SUCCEEDED currency: "EUR" amount: 185 confirmed_amount: 185 source: 1 destination: 3' >fuzz_kafka_event/commission
printf '\xff\xff\xff not a protobuf' >fuzz_kafka_event/garbage

# Replies (the first byte picks the chunk size; the rest is a Reply).
reply() {  # reply NAME TEXT
  { printf '\x07'; encode txengine.wire.Reply "$2"; } >"fuzz_reply/$1"
}
reply order 'code: OK message: "ok" order { order_id: 42 request_id: "p1" kind: ORDER_KIND_PAY state: ORDER_STATE_SUCCEEDED amount: 1000 posted_amount: 1000 currency: "USD" source: 6 destination: 7 wallets { wallet: 7 balances { available: 1000 } } }'
reply unknown 'code: UNKNOWN_ORDER message: "unknown_order"'
reply wallet 'code: OK wallet { wallet: 7 kind: WALLET_KIND_MERCHANT currency: "USD" balances { available: 5 frozen: 1 incoming: 2 } }'

# Requests past authentication (the first byte picks the key; the harness signs the rest).
mkdir -p fuzz_request
request() {  # request NAME KEY_BYTE TEXT
  { printf "$2"; encode txengine.wire.Request "$3"; } >"fuzz_request/$1"
}
request pay '\x00' 'pay { request_id: "p1" payer: 6 merchant: 7 amount: 1000 currency: "USD" }'
request get_order '\x01' 'get_order { order_id: 42 include_movements: true }'
request commission '\x00' 'commission { request_id: "commission-1" from: 1 to: 7 amount: 10 currency: "USD" }'

# Key files (tests/protocol/wire_test.cpp Keys.*) and legs JSON (tests/core/order_restore_test.cpp).
seed fuzz_key_file scoped $'# key_id secret tenant [options]\nops ops-secret-0123456789abcdef0123456789 1 scopes=orders,queries amount_max=1000 rate_per_s=100 burst=200\n'
seed fuzz_legs_json one '[{"p":1,"w":77,"type":0,"amount":5,"confirmed":0,"step":0,"done":0}]'
seed fuzz_legs_json extremes '[{"p":0,"w":9223372036854775807,"type":3,"amount":-9223372036854775808,"confirmed":9223372036854775807,"step":2,"done":1}]'
