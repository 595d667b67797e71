#!/usr/bin/env bash
# Runs the libFuzzer targets (docs/security.md "Fuzzing") for longer than ctest does, keeping a
# corpus per target (it grows from run to run; the seeds of tests/fuzz/TARGET/ are read too, with
# the dictionary tests/fuzz/TARGET.dict) and every crashing input.
#   scripts/fuzz.sh [--seconds N | --minutes M] [--jobs J] [--nice] [--build DIR] [--out DIR] [TARGET...]
# TARGET: fuzz_decoder, fuzz_request, fuzz_key_file, fuzz_legs_json, fuzz_reply, fuzz_mysql_uri,
# fuzz_kafka_event, fuzz_config_file, fuzz_provider_inputs (default: all), each for N seconds (default 300), J targets
# at a time (default 1), under `nice -n 19` with --nice. Prints each clean run's executions and
# coverage. Exit 1 when a target found a crash (its input is in OUT/TARGET/).
# Replay one: build/protocol/TARGET OUT/TARGET/crash-...
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=300
build=build
out=.run/fuzz
jobs=1
nice_cmd=()
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --minutes)
      [[ "${2:-}" =~ ^[0-9]+$ ]] || { echo "fuzz.sh: --minutes expects a whole number > 0" >&2; exit 2; }
      seconds=$(( $2 * 60 )); shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --nice) nice_cmd=(nice -n 19); shift ;;
    --build) build=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    fuzz_*) targets+=("$1"); shift ;;
    *) echo "fuzz.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ "$seconds" =~ ^[0-9]+$ ]] && [ "$seconds" -gt 0 ] || { echo "fuzz.sh: --seconds expects a whole number > 0" >&2; exit 2; }
[[ "$jobs" =~ ^[0-9]+$ ]] && [ "$jobs" -gt 0 ] || { echo "fuzz.sh: --jobs expects a whole number > 0" >&2; exit 2; }
all=(fuzz_decoder fuzz_request fuzz_key_file fuzz_legs_json fuzz_reply fuzz_mysql_uri fuzz_kafka_event fuzz_config_file fuzz_provider_inputs)
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

cmake --build "$build" --target "${targets[@]}" >/dev/null
for t in "${targets[@]}"; do
  [ -x "$build/protocol/$t" ] || { echo "fuzz.sh: $build/protocol/$t not built (needs clang++; see protocol/CMakeLists.txt)" >&2; exit 2; }
done

run_one() {  # run_one TARGET: 0 clean, 1 crash; its summary in OUT/TARGET/summary
  local t=$1 exe="$build/protocol/$1" seeds=() dict=()
  mkdir -p "$out/$t/corpus"
  rm -f "$out/$t/summary"
  [ -d "tests/fuzz/$t" ] && seeds=("tests/fuzz/$t")
  [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
  if "${nice_cmd[@]}" "$exe" "$out/$t/corpus" "${seeds[@]}" "${dict[@]}" -max_total_time="$seconds" \
       -rss_limit_mb=2048 -timeout=10 -artifact_prefix="$out/$t/" -print_final_stats=1 >"$out/$t/last.log" 2>&1; then
    # The last status line: "#N DONE cov: C ft: F corp: ..."; executions from the final stats.
    local execs cov
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$t/last.log" | tail -1)
    cov=$(grep -E '^#[0-9]+' "$out/$t/last.log" | tail -1 | sed -n 's/.*\(cov: [0-9]*\).*\(ft: [0-9]*\).*\(corp: [0-9]*\).*/\1 \2 \3/p')
    echo "$t: clean, ${seconds}s, $execs executions, $cov" | tee "$out/$t/summary"
    return 0
  fi
  { echo "FOUND: $t crashed; input and log in $out/$t/ (last.log)"
    grep -E 'ERROR|SUMMARY' "$out/$t/last.log" | head -5; } | tee "$out/$t/summary"
  return 1
}

echo "fuzz.sh: ${#targets[@]} targets, ${seconds}s each, $jobs at a time"
failed=0
pids=()
for t in "${targets[@]}"; do
  run_one "$t" & pids+=($!)
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || failed=1; done
done
for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
for t in "${targets[@]}"; do grep -q '^clean' <(cut -d' ' -f2 "$out/$t/summary" 2>/dev/null) || failed=1; done
exit $failed
