# Sourced by the channel shell tests: the txprovider-sim program and signed reads of its orders.
# start_sim SIM PROFILE PORT STATE_DIR LOG: starts it (PORT 0: any), sets SIM_PID and SIM_PORT.
start_sim() {
  "$1" --listen "127.0.0.1:$3" --profile "$2" --state-dir "$4" >"$5" 2>&1 &
  SIM_PID=$!
  for _ in $(seq 1 100); do grep -q "listening on" "$5" && break; sleep 0.1; done
  SIM_PORT=$(sed -n 's/^txprovider-sim: listening on 127.0.0.1:\([0-9]*\),.*/\1/p' "$5")
  [ -n "$SIM_PORT" ] || { echo "FAIL: txprovider-sim did not start"; cat "$5"; exit 1; }
}
# provider_order ORDER_ID: the provider's JSON of an order, signed as the merchant txsim-merchant.
provider_order() {
  local ts path sig
  ts=$(date +%s%3N); path="/v1/orders/$1"
  sig=$(printf 'GET\n%s\n%s\n' "$path" "$ts" | openssl dgst -sha256 -hmac txsim-secret -hex | sed 's/.*= //')
  curl -s -H "X-TxSim-Key: txsim-merchant" -H "X-TxSim-Timestamp: $ts" -H "X-TxSim-Signature: $sig" \
    "http://127.0.0.1:$SIM_PORT$path"
}
# engine_config DIR [TOML...]: writes DIR/txengine.toml naming the simulator as provider 7 (the
# merchant's secret in the owner-only DIR/secret), then the further TOML lines given.
engine_config() {
  local dir=$1
  shift
  printf 'txsim-secret\n' >"$dir/secret"
  chmod 600 "$dir/secret"
  {
    printf '[[providers]]\nid = 7\nbase_url = "http://127.0.0.1:%s"\napi_key = "txsim-merchant"\nsecret_file = "%s"\n' \
      "$SIM_PORT" "$dir/secret"
    printf '%s\n' "$@"
  } >"$dir/txengine.toml"
}
