#!/bin/sh
# A seed replays exactly: `txsim --seed S --json [FLAGS]` twice prints the same digest (and the
# same run). Usage: replay_digest.sh TXSIM SEED [FLAGS...] (e.g. --nodes 2).
set -eu
txsim=$1
seed=$2
shift 2
a=$("$txsim" --seed "$seed" --json "$@")
b=$("$txsim" --seed "$seed" --json "$@")
da=$(printf '%s' "$a" | sed -n 's/.*"digest":"\([0-9a-f]*\)".*/\1/p')
db=$(printf '%s' "$b" | sed -n 's/.*"digest":"\([0-9a-f]*\)".*/\1/p')
echo "$a"
if [ -n "$da" ] && [ "$a" = "$b" ]; then
  echo "same digest $da"
else
  echo "digests differ: $da vs $db"
  exit 1
fi
