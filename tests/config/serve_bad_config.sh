#!/usr/bin/env bash
# txengine serve with a configuration file that has a typo: it must not start (exit 2) and must
# name the key; with a good file it starts and a flag overrides the file.
set -uo pipefail
TXENGINE=$1
dir=$(mktemp -d)
trap 'kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
pid=
printf '[server]\nlisten = "127.0.0.1:0"\n[engine]\norder_hostz = 2\n' >"$dir/bad.toml"
out=$("$TXENGINE" serve --config "$dir/bad.toml" 2>&1); rc=$?
[ $rc -eq 2 ] || { echo "FAIL: exit $rc for a bad config: $out"; exit 1; }
grep -q "unknown key 'engine.order_hostz'" <<<"$out" || { echo "FAIL: the error does not name the key: $out"; exit 1; }
printf '[server]\nlisten = "127.0.0.1:1"\n[engine]\norder_hosts = 2\n' >"$dir/good.toml"
"$TXENGINE" serve --config "$dir/good.toml" --listen 127.0.0.1:0 >"$dir/out" 2>&1 &
pid=$!
for _ in $(seq 1 100); do grep -q "listening on" "$dir/out" && break; sleep 0.1; done
grep -q "listening on 127.0.0.1:[1-9][0-9]" "$dir/out" || { echo "FAIL: good config did not start with the flag's port"; cat "$dir/out"; exit 1; }
echo "bad config refused; good config started, flag overrides the file"
