#!/usr/bin/env bash
# mysql_tls (issue 13): a private MariaDB (scripts/mariadb.sh, its own directory and port) with a
# server certificate made now by openssl (nothing committed), an account that requires TLS, and
# persistence_unit_tests' MysqlTls.* against it: ssl-mode=REQUIRED, VERIFY_CA and VERIFY_IDENTITY
# connect encrypted; another CA and no ssl-mode are refused.
# usage: mysql_tls.sh PERSISTENCE_UNIT_TESTS
set -uo pipefail
TESTS=$1
REPO=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d /tmp/txmysqltls.XXXXXX)
export TXENGINE_MYSQL_DIR=$WORK/db TXENGINE_MYSQL_TLS_DIR=$WORK/tls TXENGINE_MYSQL_BUFFER_POOL=32M
export TXENGINE_MYSQL_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() { "$REPO/scripts/mariadb.sh" stop >/dev/null 2>&1; rm -rf "$WORK"; }
trap cleanup EXIT

mkdir -p "$WORK/tls" && cd "$WORK/tls" || exit 1
gen() {  # a CA, and a server certificate for 127.0.0.1 signed by it
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=txengine test CA $1" \
    -keyout "$1-ca-key.pem" -out "$1-ca.pem" 2>/dev/null
}
gen main && gen other || { echo "openssl failed"; exit 1; }
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout server-key.pem -out server.csr 2>/dev/null &&
  printf 'subjectAltName=IP:127.0.0.1\n' >san.ext &&
  openssl x509 -req -in server.csr -CA main-ca.pem -CAkey main-ca-key.pem -CAcreateserial -days 1 \
    -extfile san.ext -out server-cert.pem 2>/dev/null || { echo "openssl failed"; exit 1; }
cp main-ca.pem ca.pem
chmod 600 ./*-key.pem
cd "$REPO" || exit 1

scripts/mariadb.sh start || exit 1
scripts/mariadb.sh client -e "CREATE USER 'tlsuser'@'127.0.0.1' IDENTIFIED BY 'tlspw' REQUIRE SSL" || exit 1
TXENGINE_TLS_TEST_URI="mysql://tlsuser:tlspw@127.0.0.1:$TXENGINE_MYSQL_PORT" \
TXENGINE_TLS_TEST_CA="$WORK/tls/ca.pem" TXENGINE_TLS_TEST_OTHER_CA="$WORK/tls/other-ca.pem" \
  "$TESTS" --gtest_filter='MysqlTls.*' && echo "mysql tls passed"
