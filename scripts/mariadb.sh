#!/usr/bin/env bash
# A private MariaDB server for the demo, the tests and the benchmarks: its own data directory
# (.run/mariadb in the repository), its own port and socket, bound to 127.0.0.1. No system
# service is needed or touched.
#
#   scripts/mariadb.sh start    # initializes on first use, starts, waits until it answers (idempotent)
#   scripts/mariadb.sh stop     # clean shutdown, waits until the process is gone
#   scripts/mariadb.sh status   # exit 0 when it answers, 3 when not
#   scripts/mariadb.sh url      # prints the connection URI for txengine (mysql://user:pass@127.0.0.1:port)
#   scripts/mariadb.sh client [args]   # the mariadb client as root on the private socket
#
# Environment: TXENGINE_MYSQL_PORT (default 3407), TXENGINE_MYSQL_DIR (default <repo>/.run/mariadb),
# TXENGINE_MYSQL_BUFFER_POOL (default 1G), TXENGINE_MYSQL_LOG_FILE (InnoDB redo log size, default 512M),
# TXENGINE_MYSQL_START_TIMEOUT seconds (default 120),
# TXENGINE_MYSQL_TLS_DIR (a directory with ca.pem, server-cert.pem, server-key.pem: the server
# also accepts TLS; tests/persistence/mysql_tls.sh generates them with openssl at test time).
# Application account: user `txengine`, password `txengine` (all privileges; a local dev server).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
PORT=${TXENGINE_MYSQL_PORT:-3407}
DIR=${TXENGINE_MYSQL_DIR:-$REPO/.run/mariadb}
BUFFER_POOL=${TXENGINE_MYSQL_BUFFER_POOL:-1G}
LOG_FILE=${TXENGINE_MYSQL_LOG_FILE:-512M}
START_TIMEOUT=${TXENGINE_MYSQL_START_TIMEOUT:-120}
TLS_DIR=${TXENGINE_MYSQL_TLS_DIR:-}
TLS_ARGS=()
[ -z "$TLS_DIR" ] || TLS_ARGS=(--ssl-ca="$TLS_DIR/ca.pem" --ssl-cert="$TLS_DIR/server-cert.pem" --ssl-key="$TLS_DIR/server-key.pem")
DATA=$DIR/data
SOCK=$DIR/mariadbd.sock
PIDFILE=$DIR/mariadbd.pid
LOG=$DIR/mariadbd.log
APP_USER=txengine
APP_PASSWORD=txengine

admin() { mariadb-admin --no-defaults -S "$SOCK" -uroot --connect-timeout=2 "$@"; }
client() { mariadb --no-defaults -S "$SOCK" -uroot "$@"; }
answers() { [ -S "$SOCK" ] && admin ping >/dev/null 2>&1; }
# Another server (e.g. started from another checkout) already serving the application account on the port.
port_answers() {
  mariadb-admin --no-defaults -h127.0.0.1 -P"$PORT" -u"$APP_USER" -p"$APP_PASSWORD" --connect-timeout=2 ping >/dev/null 2>&1
}
server_pid() { [ -f "$PIDFILE" ] && cat "$PIDFILE" 2>/dev/null || true; }
alive() { local pid; pid=$(server_pid); [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }

ensure_user() {
  client -e "CREATE USER IF NOT EXISTS '$APP_USER'@'127.0.0.1' IDENTIFIED BY '$APP_PASSWORD';
             CREATE USER IF NOT EXISTS '$APP_USER'@'localhost' IDENTIFIED BY '$APP_PASSWORD';
             GRANT ALL PRIVILEGES ON *.* TO '$APP_USER'@'127.0.0.1';
             GRANT ALL PRIVILEGES ON *.* TO '$APP_USER'@'localhost';"
}

start() {
  mkdir -p "$DIR"
  # One starter at a time (ctest -j, several scripts).
  exec 9>"$DIR/.lock"
  flock -w "$START_TIMEOUT" 9 || { echo "mariadb.sh: another start holds $DIR/.lock" >&2; exit 1; }
  if answers; then
    ensure_user
    echo "mariadb: already running on 127.0.0.1:$PORT (pid $(server_pid))"
    return 0
  fi
  if alive; then
    echo "mariadb.sh: pid $(server_pid) exists but does not answer on $SOCK; stop it first" >&2
    exit 1
  fi
  if port_answers; then
    echo "mariadb: a server with the $APP_USER account already answers on 127.0.0.1:$PORT (not from $DIR); using it"
    return 0
  fi
  if [ ! -d "$DATA/mysql" ]; then
    echo "mariadb: initializing $DATA"
    rm -rf "$DATA"
    mariadb-install-db --no-defaults --user=root --datadir="$DATA" --auth-root-authentication-method=socket \
      --skip-test-db >"$DIR/install.log" 2>&1 || { cat "$DIR/install.log" >&2; exit 1; }
  fi
  rm -f "$SOCK" "$PIDFILE"
  # Its own temporary directory: a starting server deletes every '#sql*' file in its tmpdir, so
  # with the default /tmp a second private server (the outage test's) starting or restarting
  # deleted the temporary tables of this one's running queries (txaudit failed "Error on delete").
  mkdir -p "$DIR/tmp"
  # setsid: the server outlives this script and the test run that started it.
  setsid mariadbd --no-defaults --user=root --datadir="$DATA" --socket="$SOCK" --port="$PORT" --tmpdir="$DIR/tmp" \
    --bind-address=127.0.0.1 --pid-file="$PIDFILE" --log-error="$LOG" --skip-name-resolve \
    --innodb-buffer-pool-size="$BUFFER_POOL" --innodb-log-file-size="$LOG_FILE" --innodb-log-buffer-size=64M \
    --innodb-flush-log-at-trx-commit=1 --sync-binlog=0 --skip-log-bin --performance-schema=OFF \
    --max-connections=1000 --max-prepared-stmt-count=200000 --innodb-lock-wait-timeout=50 \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_bin "${TLS_ARGS[@]}" </dev/null >/dev/null 2>&1 9>&- &
  local launcher=$!
  local deadline=$((SECONDS + START_TIMEOUT))
  until answers; do
    if [ $SECONDS -ge $deadline ]; then
      echo "mariadb.sh: no answer on $SOCK within ${START_TIMEOUT}s; log tail:" >&2
      tail -n 30 "$LOG" >&2 || true
      exit 1
    fi
    if ! kill -0 "$launcher" 2>/dev/null && ! alive; then
      echo "mariadb.sh: the server exited during start; log tail:" >&2
      tail -n 30 "$LOG" >&2 || true
      exit 1
    fi
    sleep 0.2
  done
  ensure_user
  echo "mariadb: started on 127.0.0.1:$PORT (pid $(server_pid)), data $DATA, socket $SOCK"
}

stop() {
  if ! alive && ! answers; then
    echo "mariadb: not running"
    return 0
  fi
  local pid; pid=$(server_pid)
  admin shutdown >/dev/null 2>&1 || { [ -n "$pid" ] && kill "$pid" 2>/dev/null; } || true
  local deadline=$((SECONDS + START_TIMEOUT))
  while [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then
      echo "mariadb.sh: pid $pid still running after ${START_TIMEOUT}s" >&2
      exit 1
    fi
    sleep 0.2
  done
  echo "mariadb: stopped"
}

status() {
  if answers; then
    echo "mariadb: running on 127.0.0.1:$PORT (pid $(server_pid)), socket $SOCK"
    return 0
  fi
  if port_answers; then
    echo "mariadb: not running from $DIR, but a server with the $APP_USER account answers on 127.0.0.1:$PORT"
    return 0
  fi
  echo "mariadb: not running"
  return 3
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  url) echo "mysql://$APP_USER:$APP_PASSWORD@127.0.0.1:$PORT" ;;
  client) shift; client "$@" ;;
  *) echo "usage: $0 start|stop|status|url|client [args]" >&2; exit 2 ;;
esac
