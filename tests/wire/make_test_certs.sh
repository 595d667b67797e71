#!/usr/bin/env bash
# Makes a throw-away PKI for TLS tests and benchmarks with the openssl CLI, in DIR:
#   ca.crt ca.key          a test CA
#   server.crt server.key  the server's certificate (names localhost and 127.0.0.1), issued by the CA
#   client.crt client.key  a client certificate for mutual TLS, issued by the CA
# Keys are P-256 and owner-only (mode 0600), as serve and the clients require. Never for production.
# usage: make_test_certs.sh DIR
set -euo pipefail
dir=$1
mkdir -p "$dir"
cd "$dir"
umask 077
quiet() { "$@" >/dev/null 2>&1 || { echo "make_test_certs: failed: $*" >&2; "$@"; exit 1; }; }
newkey() { quiet openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }
newkey ca.key
quiet openssl req -x509 -new -key ca.key -out ca.crt -days 7 -subj "/CN=txengine test CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
issue() {  # issue NAME CN EXTENSIONS
  newkey "$1.key"
  quiet openssl req -new -key "$1.key" -out "$1.csr" -subj "/CN=$2"
  printf '%b' "$3" >"$1.ext"
  quiet openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$1.crt" -days 7 -extfile "$1.ext"
  rm -f "$1.csr" "$1.ext"
}
issue server localhost "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n"
issue client "txengine test client" "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n"
chmod 644 ca.crt server.crt client.crt
rm -f ca.srl
