#!/usr/bin/env bash
# Runs the libFuzzer targets (docs/security.md "Fuzzing") for longer than ctest does, keeping a
# corpus per target (it grows from run to run) and every crashing input.
#   scripts/fuzz.sh [--seconds N] [--build DIR] [--out DIR] [TARGET...]
# TARGET: fuzz_decoder, fuzz_request, fuzz_key_file, fuzz_legs_json (default: all), each for N
# seconds (default 300). Exit 1 when a target found a crash (its input is in OUT/TARGET/).
# Replay one: build/protocol/TARGET OUT/TARGET/crash-...
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=300
build=build
out=.run/fuzz
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    fuzz_*) targets+=("$1"); shift ;;
    *) echo "fuzz.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ "$seconds" =~ ^[0-9]+$ ]] && [ "$seconds" -gt 0 ] || { echo "fuzz.sh: --seconds expects a whole number > 0" >&2; exit 2; }
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_decoder fuzz_request fuzz_key_file fuzz_legs_json)

cmake --build "$build" --target "${targets[@]}" >/dev/null
failed=0
for t in "${targets[@]}"; do
  exe="$build/protocol/$t"
  [ -x "$exe" ] || { echo "fuzz.sh: $exe not built (needs clang++; see protocol/CMakeLists.txt)" >&2; exit 2; }
  mkdir -p "$out/$t/corpus"
  echo "== $t for ${seconds}s (corpus $out/$t/corpus)"
  if "$exe" "$out/$t/corpus" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
       -artifact_prefix="$out/$t/" -print_final_stats=1 >"$out/$t/last.log" 2>&1; then
    grep -E '^stat::number_of_executed_units|^Done' "$out/$t/last.log" | tail -2
  else
    echo "FOUND: $t crashed; input and log in $out/$t/ (last.log)"
    grep -E 'ERROR|SUMMARY' "$out/$t/last.log" | head -5
    failed=1
  fi
done
exit $failed
