#!/usr/bin/env bash
# A local txengine cluster (issue 14, docs/cluster.md): N `txengine serve` processes on this
# machine, cluster nodes 1..N, on one MariaDB server (scripts/mariadb.sh's private one unless
# TXENGINE_MYSQL_URI names another). Node i listens for clients on 127.0.0.1:(PORT+i) and for the
# other nodes on 127.0.0.1:(PORT+100+i). Any node takes any command: it runs what it holds and
# sends the rest on to the node that holds it.
#
#   scripts/cluster.sh start [--nodes N] [--tls] [NODE...]
#                                                    # starts the nodes not running (default 1..N, N=3),
#                                                    # waits until each listens, prints their addresses;
#                                                    # --tls: the links between nodes over mutual TLS
#                                                    # (a local CA and a certificate per node made in
#                                                    # the cluster directory; later starts keep TLS)
#   scripts/cluster.sh stop [NODE...]                # clean stop (SIGTERM: commits, gives leases back)
#   scripts/cluster.sh kill NODE...                  # SIGKILL, as a crash (its leases expire)
#   scripts/cluster.sh status                        # each node; exit 0 when every node runs
#   scripts/cluster.sh servers                       # the client addresses, HOST:PORT,... (txbench --servers)
#   scripts/cluster.sh cut A B                       # the link between nodes A and B cut (both ways: a
#                                                    # fault switch in the nodes, docs/cluster.md)
#   scripts/cluster.sh heal                          # every cut link made again
#
# Environment: TXENGINE_BIN (default <repo>/build/apps/txengine), TXENGINE_CLUSTER_DIR (its
# configs, logs and pids; default <repo>/.run/cluster), TXENGINE_CLUSTER_PORT (default 7410),
# TXENGINE_CLUSTER_PREFIX (the databases' prefix, default txcluster), TXENGINE_CLUSTER_TTL_MS
# (lease ttl, default 5000), TXENGINE_CLUSTER_ARGS (more `serve` arguments for every node),
# TXENGINE_CLUSTER_TLS=1 (as --tls), TXENGINE_MYSQL_URI.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
BIN=${TXENGINE_BIN:-$REPO/build/apps/txengine}
DIR=${TXENGINE_CLUSTER_DIR:-$REPO/.run/cluster}
PORT=${TXENGINE_CLUSTER_PORT:-7410}
PREFIX=${TXENGINE_CLUSTER_PREFIX:-txcluster}
TTL_MS=${TXENGINE_CLUSTER_TTL_MS:-5000}
read -r -a EXTRA <<<"${TXENGINE_CLUSTER_ARGS:-}"

die() {
  echo "cluster.sh: $*" >&2
  exit 1
}
pid_of() { cat "$DIR/node-$1.pid" 2>/dev/null || true; }
alive() {
  local pid
  pid=$(pid_of "$1")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}
nodes() { cat "$DIR/nodes" 2>/dev/null || echo 3; }
check_node() { case "$1" in '' | *[!0-9]*) die "node ids are numbers 1..63, got '$1'" ;; esac; [ "$1" -ge 1 ] && [ "$1" -le 63 ] || die "node ids are 1..63, got $1"; }

# The cluster's TLS files (docs/cluster.md, "TLS on the links"): a CA made for this directory,
# and for node i a P-256 key (owner-only) and a certificate the CA issued for both TLS uses.
tls_files() {
  local i=$1 tls=$DIR/tls
  mkdir -p "$tls"
  chmod 700 "$tls"
  if [ ! -f "$tls/ca.crt" ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tls/ca.key" -out "$tls/ca.crt" \
      -days 3650 -subj "/CN=txengine local cluster CA" -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null || die "openssl could not make the cluster CA"
  fi
  if [ ! -f "$tls/node-$i.crt" ]; then
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tls/node-$i.key" -out "$tls/node-$i.csr" \
      -subj "/CN=txengine node $i" 2>/dev/null || die "openssl could not make node $i's key"
    printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyAgreement\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$tls/node-$i.ext"
    openssl x509 -req -in "$tls/node-$i.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" -CAcreateserial -days 825 \
      -extfile "$tls/node-$i.ext" -out "$tls/node-$i.crt" 2>/dev/null || die "openssl could not sign node $i's certificate"
    rm -f "$tls/node-$i.csr" "$tls/node-$i.ext"
  fi
  chmod 600 "$tls"/*.key
}

mysql_uri() {
  if [ -n "${TXENGINE_MYSQL_URI:-}" ]; then
    echo "$TXENGINE_MYSQL_URI"
  else
    "$REPO/scripts/mariadb.sh" start >&2
    "$REPO/scripts/mariadb.sh" url
  fi
}

start() {
  local count
  count=$(nodes)
  local ids=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --nodes)
        [ $# -ge 2 ] || die "--nodes needs a number"
        count=$2
        check_node "$count"
        shift 2
        ;;
      --tls)
        mkdir -p "$DIR"
        touch "$DIR/tls-on"
        shift
        ;;
      *)
        check_node "$1"
        ids+=("$1")
        shift
        ;;
    esac
  done
  [ ${#ids[@]} -gt 0 ] || ids=($(seq 1 "$count"))
  [ -x "$BIN" ] || die "no $BIN (build first: scripts/build.sh)"
  mkdir -p "$DIR"
  echo "$count" >"$DIR/nodes"
  [ "${TXENGINE_CLUSTER_TLS:-0}" != 1 ] || touch "$DIR/tls-on"
  local uri started=()
  uri=$(mysql_uri)
  for i in "${ids[@]}"; do
    if alive "$i"; then continue; fi
    cat >"$DIR/node-$i.toml" <<EOF
[engine]
node_id = $i
[storage]
mysql = "$uri"
[cluster]
endpoint = "127.0.0.1:$((PORT + 100 + i))"
lease_ttl_ms = $TTL_MS
round_interval_ms = $((TTL_MS / 5))
join_settle_ms = 2000
EOF
    if [ -f "$DIR/tls-on" ]; then
      tls_files "$i"
      cat >>"$DIR/node-$i.toml" <<EOF
tls_cert = "$DIR/tls/node-$i.crt"
tls_key = "$DIR/tls/node-$i.key"
tls_ca = "$DIR/tls/ca.crt"
EOF
    fi
    # The previous run's log is kept as node-N.log.1. setsid: the node outlives this script.
    [ ! -f "$DIR/node-$i.log" ] || mv "$DIR/node-$i.log" "$DIR/node-$i.log.1"
    TXENGINE_CLUSTER_CUT_FILE="$DIR/node-$i.cut" setsid "$BIN" serve --config "$DIR/node-$i.toml" --listen "127.0.0.1:$((PORT + i))" --db-prefix "$PREFIX" \
      "${EXTRA[@]}" </dev/null >"$DIR/node-$i.log" 2>&1 &
    echo $! >"$DIR/node-$i.pid"
    started+=("$i")
  done
  local deadline=$((SECONDS + 120))
  for i in "${started[@]}"; do
    until grep -q "^txengine listening on 127.0.0.1:$((PORT + i))" "$DIR/node-$i.log" 2>/dev/null; do
      alive "$i" || { tail -n 20 "$DIR/node-$i.log" >&2; die "node $i exited at start ($DIR/node-$i.log)"; }
      [ $SECONDS -lt $deadline ] || die "node $i did not listen within 120 s ($DIR/node-$i.log)"
      sleep 0.1
    done
  done
  status || true
}

stop() {
  local ids=("$@")
  [ ${#ids[@]} -gt 0 ] || ids=($(seq 1 "$(nodes)"))
  for i in "${ids[@]}"; do alive "$i" && kill -TERM "$(pid_of "$i")"; done
  local deadline=$((SECONDS + 60))
  for i in "${ids[@]}"; do
    while alive "$i"; do
      if [ $SECONDS -ge $deadline ]; then
        echo "cluster.sh: node $i did not stop within 60 s; killed" >&2
        kill -KILL "$(pid_of "$i")" 2>/dev/null || true
        break
      fi
      sleep 0.1
    done
    rm -f "$DIR/node-$i.pid"
  done
}

kill_nodes() {
  [ $# -gt 0 ] || die "kill needs node ids"
  for i in "$@"; do
    check_node "$i"
    if alive "$i"; then
      local pid
      pid=$(pid_of "$i")
      kill -KILL "$pid"
      while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
    fi
    rm -f "$DIR/node-$i.pid"
  done
}

status() {
  local all=0
  for i in $(seq 1 "$(nodes)"); do
    if alive "$i"; then
      echo "node $i: running (pid $(pid_of "$i")), clients 127.0.0.1:$((PORT + i)), cluster link 127.0.0.1:$((PORT + 100 + i))$([ -f "$DIR/tls-on" ] && echo " (TLS)")"
    else
      echo "node $i: not running (log $DIR/node-$i.log)"
      all=3
    fi
  done
  return $all
}

servers() {
  local list=()
  for i in $(seq 1 "$(nodes)"); do list+=("127.0.0.1:$((PORT + i))"); done
  (IFS=,; echo "${list[*]}")
}

cmd=${1:-}
[ $# -gt 0 ] && shift
cut() {
  [ $# = 2 ] || die "cut needs two node ids"
  check_node "$1"
  check_node "$2"
  [ "$1" != "$2" ] || die "cut needs two different nodes"
  mkdir -p "$DIR"
  echo "$2" >>"$DIR/node-$1.cut"
  echo "$1" >>"$DIR/node-$2.cut"
}

heal() { rm -f "$DIR"/node-*.cut; }

case "$cmd" in
  start) start "$@" ;;
  cut) cut "$@" ;;
  heal) heal ;;
  stop) stop "$@" ;;
  kill) kill_nodes "$@" ;;
  status) status ;;
  servers) servers ;;
  *) die "usage: cluster.sh start [--nodes N] [--tls] [NODE...] | stop [NODE...] | kill NODE... | cut A B | heal | status | servers" ;;
esac
