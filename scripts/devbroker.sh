#!/usr/bin/env bash
# The Kafka-protocol dev broker (txengine-devbroker: librdkafka's mock cluster, 3 brokers on
# loopback) in the background, for the demo, the tests and the benchmarks (docs/kafka.md).
#
#   scripts/devbroker.sh start [devbroker args]  # starts, waits for the bootstrap address, prints it
#                                                # (idempotent: prints the running one's address)
#   scripts/devbroker.sh stop                    # SIGTERM, waits until the process is gone
#   scripts/devbroker.sh status                  # exit 0 when running, 3 when not
#   scripts/devbroker.sh bootstrap               # prints the bootstrap address (host:port,...)
#   scripts/devbroker.sh down | up               # broker outage: every broker refuses / accepts again
#
# Environment: TXENGINE_DEVBROKER_DIR (default <repo>/.run/devbroker: pid, bootstrap, log),
# TXENGINE_DEVBROKER_BIN (default <repo>/build/apps/txengine-devbroker),
# TXENGINE_DEVBROKER_START_TIMEOUT seconds (default 30).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
DIR=${TXENGINE_DEVBROKER_DIR:-$REPO/.run/devbroker}
BIN=${TXENGINE_DEVBROKER_BIN:-$REPO/build/apps/txengine-devbroker}
START_TIMEOUT=${TXENGINE_DEVBROKER_START_TIMEOUT:-30}
PIDFILE=$DIR/devbroker.pid
BOOTFILE=$DIR/bootstrap
LOG=$DIR/devbroker.log

broker_pid() { [ -f "$PIDFILE" ] && cat "$PIDFILE" 2>/dev/null || true; }
alive() { local pid; pid=$(broker_pid); [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }

start() {
  mkdir -p "$DIR"
  exec 9>"$DIR/.lock"
  flock -w "$START_TIMEOUT" 9 || { echo "devbroker.sh: another start holds $DIR/.lock" >&2; exit 1; }
  if alive && [ -s "$BOOTFILE" ]; then
    cat "$BOOTFILE"
    return 0
  fi
  [ -x "$BIN" ] || { echo "devbroker.sh: $BIN not built (cmake --build build --target txengine-devbroker)" >&2; exit 1; }
  rm -f "$BOOTFILE" "$PIDFILE"
  # setsid: the broker outlives this script; stdin from /dev/null (control by signals: down/up).
  setsid "$BIN" --no-stdin --bootstrap-file "$BOOTFILE" "$@" </dev/null >/dev/null 2>"$LOG" 9>&- &
  local pid=$!
  echo "$pid" >"$PIDFILE"
  local deadline=$((SECONDS + START_TIMEOUT))
  until [ -s "$BOOTFILE" ]; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "devbroker.sh: txengine-devbroker exited during start:" >&2
      cat "$LOG" >&2
      rm -f "$PIDFILE"
      exit 1
    fi
    if [ $SECONDS -ge $deadline ]; then
      echo "devbroker.sh: no bootstrap address after ${START_TIMEOUT}s" >&2
      kill "$pid" 2>/dev/null || true
      exit 1
    fi
    sleep 0.1
  done
  cat "$BOOTFILE"
}

stop() {
  local pid
  pid=$(broker_pid)
  if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
    rm -f "$PIDFILE" "$BOOTFILE"
    echo "devbroker: not running"
    return 0
  fi
  kill -TERM "$pid"
  local deadline=$((SECONDS + START_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then
      echo "devbroker.sh: pid $pid still alive after ${START_TIMEOUT}s; sending SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.1
  done
  rm -f "$PIDFILE" "$BOOTFILE"
  echo "devbroker: stopped"
}

signal_broker() {
  alive || { echo "devbroker.sh: not running" >&2; exit 3; }
  kill "-$1" "$(broker_pid)"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  start) start "$@" ;;
  stop) stop ;;
  status) if alive; then echo "devbroker: running (pid $(broker_pid)) at $(cat "$BOOTFILE" 2>/dev/null)"; else echo "devbroker: not running"; exit 3; fi ;;
  bootstrap) alive && [ -s "$BOOTFILE" ] || { echo "devbroker.sh: not running" >&2; exit 3; }; cat "$BOOTFILE" ;;
  down) signal_broker USR1 ;;
  up) signal_broker USR2 ;;
  *) echo "usage: $0 start [args]|stop|status|bootstrap|down|up" >&2; exit 2 ;;
esac
