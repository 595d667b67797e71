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
# The public development key only on loopback (issue 13): without keys, a wildcard or other
# address is refused unless --insecure-dev says so by name.
out=$("$TXENGINE" serve --listen 0.0.0.0:0 2>&1); rc=$?
[ $rc -eq 2 ] || { echo "FAIL: exit $rc for dev keys on 0.0.0.0: $out"; exit 1; }
grep -q "needs client keys" <<<"$out" || { echo "FAIL: the error does not say keys are needed: $out"; exit 1; }
# A key file that others may read is refused too, naming the mode.
printf 'k1 0123456789abcdef0123456789abcdef 5\n' >"$dir/keys"
chmod 644 "$dir/keys"
out=$("$TXENGINE" serve --listen 0.0.0.0:0 --keys "$dir/keys" 2>&1); rc=$?
[ $rc -eq 2 ] || { echo "FAIL: exit $rc for a world-readable key file: $out"; exit 1; }
grep -q "mode 0644" <<<"$out" || { echo "FAIL: the error does not name the mode: $out"; exit 1; }
kill $pid 2>/dev/null; wait $pid 2>/dev/null
chmod 600 "$dir/keys"
# Real keys, but plain TCP off loopback: refused too (TLS, or --insecure-dev by name; the TLS
# paths are in tests/wire/tls_serve.sh).
out=$("$TXENGINE" serve --listen 0.0.0.0:0 --keys "$dir/keys" 2>&1); rc=$?
[ $rc -eq 2 ] && grep -q "needs TLS" <<<"$out" || { echo "FAIL: plain TCP on 0.0.0.0: $rc $out"; exit 1; }
"$TXENGINE" serve --listen 0.0.0.0:0 --keys "$dir/keys" --insecure-dev >"$dir/out2" 2>&1 &
pid=$!
for _ in $(seq 1 100); do grep -q "listening on" "$dir/out2" && break; sleep 0.1; done
grep -q "listening on 0.0.0.0:[1-9][0-9]" "$dir/out2" || { echo "FAIL: a private key file did not start"; cat "$dir/out2"; exit 1; }
grep -q "INSECURE: plain TCP" "$dir/out2" || { echo "FAIL: no plain-TCP warning"; cat "$dir/out2"; exit 1; }
kill $pid 2>/dev/null; wait $pid 2>/dev/null
"$TXENGINE" serve --listen 0.0.0.0:0 --insecure-dev >"$dir/out3" 2>&1 &
pid=$!
for _ in $(seq 1 100); do grep -q "listening on" "$dir/out3" && break; sleep 0.1; done
grep -q "listening on 0.0.0.0:[1-9][0-9]" "$dir/out3" || { echo "FAIL: --insecure-dev did not start"; cat "$dir/out3"; exit 1; }
# No built-in MySQL server or password (issue 13): [storage] must name its server; a password
# file must be owner-only and not empty.
printf '[storage]\nprefix = "x"\n' >"$dir/nomysql.toml"
out=$("$TXENGINE" serve --config "$dir/nomysql.toml" 2>&1); rc=$?
[ $rc -eq 2 ] && grep -q "storage.mysql must name a server" <<<"$out" || { echo "FAIL: [storage] without mysql: $rc $out"; exit 1; }
printf 'secret\n' >"$dir/pw"; chmod 640 "$dir/pw"
out=$("$TXENGINE" serve --mysql mysql://txengine@127.0.0.1:1 --mysql-password-file "$dir/pw" 2>&1); rc=$?
[ $rc -eq 2 ] && grep -q "mode 0640" <<<"$out" || { echo "FAIL: a readable password file: $rc $out"; exit 1; }
: >"$dir/pw"; chmod 600 "$dir/pw"
out=$("$TXENGINE" serve --mysql mysql://txengine@127.0.0.1:1 --mysql-password-file "$dir/pw" 2>&1); rc=$?
[ $rc -eq 2 ] && grep -q "first line is empty" <<<"$out" || { echo "FAIL: an empty password file: $rc $out"; exit 1; }
out=$("$TXENGINE" serve --mysql-password-file "$dir/pw" 2>&1); rc=$?
[ $rc -eq 2 ] || { echo "FAIL: a password file without --mysql: $rc $out"; exit 1; }
echo "bad config refused; good config started, flag overrides the file; dev keys only on loopback; no built-in MySQL password"
