#!/usr/bin/env bash
# TLS 1.3 with the real programs (issue 13): serve with a test certificate made here by the openssl
# CLI; `openssl s_client -tls1_3` completes a verified handshake and TLS 1.2 is refused; txctl
# and txbench over TLS; mutual TLS; plain clients and wrong CAs fail cleanly; unusable TLS files
# keep serve from starting.
# usage: tls_serve.sh path/to/txengine path/to/txctl path/to/txbench
set -uo pipefail
TXENGINE=$1
TXCTL=$2
TXBENCH=$3
here=$(dirname "$0")
pki=$(mktemp -d)
"$here/make_test_certs.sh" "$pki" || { echo "FAIL: cannot make test certificates"; exit 1; }
. "$here/start_server.sh"
start_server "$TXENGINE" --tls-cert "$pki/server.crt" --tls-key "$pki/server.key"
mtls_pid=
trap 'kill $SERVER_PID $mtls_pid 2>/dev/null; wait 2>/dev/null; rm -rf "$pki" "$SERVER_LOG"' EXIT
fails=0
check() {  # check DESCRIPTION PATTERN OUTPUT
  if grep -qE -- "$2" <<<"$3"; then echo "ok: $1"; else echo "FAIL: $1 (wanted '$2'):"; echo "$3"; fails=$((fails + 1)); fi
}
check "serve says TLS 1.3" "transport: TLS 1.3 only" "$(cat "$SERVER_LOG")"
port=${SERVER##*:}

# openssl s_client: a TLS 1.3 handshake, the certificate verified for 127.0.0.1.
out=$(openssl s_client -connect "$SERVER" -tls1_3 -CAfile "$pki/ca.crt" -verify_ip 127.0.0.1 -verify_return_error \
      </dev/null 2>&1)
check "s_client -tls1_3 handshake" "New, TLSv1.3, Cipher is" "$out"
check "s_client verified the certificate" "Verify return code: 0 \(ok\)" "$out"
out=$(openssl s_client -connect "$SERVER" -tls1_2 -CAfile "$pki/ca.crt" </dev/null 2>&1)
if grep -q "New, TLSv1.2" <<<"$out"; then echo "FAIL: a TLS 1.2 handshake was accepted"; fails=$((fails + 1)); else echo "ok: TLS 1.2 refused"; fi

# txctl over TLS: by IP address and by the name localhost.
ctl() { "$TXCTL" --server "$SERVER" --tls-ca "$pki/ca.crt" "$@"; }
W=$(ctl --json wallet create --kind user --currency USD | sed -n 's/.*"wallet":{"wallet":\([0-9]*\).*/\1/p')
[ -n "$W" ] || { echo "FAIL: wallet create over TLS"; fails=$((fails + 1)); }
check "top-up over TLS" "state +succeeded" "$(ctl top-up --wallet "$W" --amount 5.00 --currency USD --request-id tls1 2>&1)"
check "query over TLS, by name" "available +5.00" \
  "$("$TXCTL" --server "localhost:$port" --tls-ca "$pki/ca.crt" wallet get "$W" 2>&1 ||
     "$TXCTL" --server "127.0.0.1:$port" --tls-ca "$pki/ca.crt" --tls-server-name localhost wallet get "$W" 2>&1)"
# Failures, each clean and quick.
out=$(timeout 20 "$TXCTL" --server "$SERVER" wallet get "$W" 2>&1); rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] || { echo "FAIL: a plain txctl against TLS: exit $rc"; fails=$((fails + 1)); }
check "a plain txctl against TLS fails" "connection lost|cannot" "$out"
"$here/make_test_certs.sh" "$pki/other" >/dev/null
out=$(timeout 20 "$TXCTL" --server "$SERVER" --tls-ca "$pki/other/ca.crt" wallet get "$W" 2>&1)
check "a wrong CA fails verification" "certificate verify failed" "$out"
out=$(timeout 20 "$TXCTL" --server "$SERVER" --tls-ca "$pki/ca.crt" --tls-server-name pay.example.com wallet get "$W" 2>&1)
check "a wrong server name fails verification" "hostname mismatch" "$out"

# txbench over TLS.
out=$("$TXBENCH" --server "$SERVER" --tls-ca "$pki/ca.crt" --connections 2 --duration 1 --wallets 20 --window 16 --json \
      2>/dev/null)
check "txbench over TLS" '"errors":0,' "$out"

# Mutual TLS: a client without a certificate is refused, one with the CA's certificate served.
mtls_log=$(mktemp -p "$pki")
"$TXENGINE" serve --listen 127.0.0.1:0 --tls-cert "$pki/server.crt" --tls-key "$pki/server.key" \
  --tls-client-ca "$pki/ca.crt" >"$mtls_log" 2>&1 &
mtls_pid=$!
for _ in $(seq 1 100); do grep -q "listening on" "$mtls_log" && break; sleep 0.1; done
MTLS=$(sed -n 's/^txengine listening on \(.*\)$/\1/p' "$mtls_log")
check "serve says mutual TLS" "mutual TLS" "$(cat "$mtls_log")"
out=$(timeout 20 "$TXCTL" --server "$MTLS" --tls-ca "$pki/ca.crt" wallet get "$W" 2>&1)
check "mutual TLS refuses a client without certificate" "certificate required" "$out"
out=$("$TXCTL" --server "$MTLS" --tls-ca "$pki/ca.crt" --tls-cert "$pki/client.crt" --tls-key "$pki/client.key" \
      wallet create --kind user --currency USD 2>&1)
check "mutual TLS serves a client with a certificate" "status +active" "$out"
out=$(openssl s_client -connect "$MTLS" -tls1_3 -CAfile "$pki/ca.crt" -cert "$pki/client.crt" -key "$pki/client.key" \
      </dev/null 2>&1)
check "s_client with a client certificate" "New, TLSv1.3, Cipher is" "$out"

# Unusable TLS files: serve does not start (exit 2) and names the file and the reason.
serve_error() { "$TXENGINE" serve "$@" 2>&1; echo "exit $?"; }
cp "$pki/server.key" "$pki/open.key"; chmod 644 "$pki/open.key"
check "a key others may read" "open.key.*mode 0644.*exit 2" \
  "$(serve_error --listen 127.0.0.1:0 --tls-cert "$pki/server.crt" --tls-key "$pki/open.key" | tr '\n' ' ')"
check "a key of another certificate" "does not match.*exit 2" \
  "$(serve_error --listen 127.0.0.1:0 --tls-cert "$pki/server.crt" --tls-key "$pki/client.key" | tr '\n' ' ')"
check "a missing certificate" "nowhere.crt: No such file.*exit 2" \
  "$(serve_error --listen 127.0.0.1:0 --tls-cert "$pki/nowhere.crt" --tls-key "$pki/server.key" | tr '\n' ' ')"
check "a certificate without its key" "needs both.*exit 2" "$(serve_error --listen 127.0.0.1:0 --tls-cert "$pki/server.crt" | tr '\n' ' ')"
printf 'k1 0123456789abcdef0123456789abcdef 5\n' >"$pki/keys"; chmod 600 "$pki/keys"
check "plain TCP off loopback" "needs TLS.*exit 2" "$(serve_error --listen 0.0.0.0:0 --keys "$pki/keys" | tr '\n' ' ')"
# The same files from the configuration file.
printf '[server]\nlisten = "127.0.0.1:0"\ntls_cert = "%s"\ntls_key = "%s"\ntls_client_ca = "%s"\n' \
  "$pki/server.crt" "$pki/open.key" "$pki/ca.crt" >"$pki/tls.toml"
check "[server] tls_key from the file" "open.key.*mode 0644.*exit 2" "$(serve_error --config "$pki/tls.toml" | tr '\n' ' ')"

[ $fails -eq 0 ] || { echo "$fails TLS checks failed"; exit 1; }
echo "all TLS serve checks passed"
