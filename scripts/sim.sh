#!/usr/bin/env bash
# Runs the deterministic simulator (docs/simulation.md) on fresh seeds until the time is up or it
# is stopped (Ctrl-C), keeping every failing seed: its --json line and its --trace in OUT.
#   scripts/sim.sh --hours H [--txsim PATH] [--out DIR] [--first SEED] [--steps N] [--batch N] [--long-pauses]
#                  [--nodes 2]   (two cluster nodes: leases, fence, node and link faults)
set -euo pipefail

hours=1
txsim=build/tests/txsim
out=sim-failures
first=""
steps=8000
batch=50
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --hours) hours=$2; shift 2 ;;
    --txsim) txsim=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --first) first=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --long-pauses) extra+=(--long-pauses); shift ;;
    --nodes) extra+=(--nodes "$2"); shift 2 ;;
    -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
    *) echo "sim.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -x "$txsim" ] || { echo "sim.sh: $txsim not found (build the txsim target)" >&2; exit 2; }
mkdir -p "$out"
# Seeds nobody ran yet: start at a random 40-bit number unless told.
if [ -z "$first" ]; then first=$(( (RANDOM << 25) ^ (RANDOM << 10) ^ RANDOM )); fi
deadline=$(( $(date +%s) + $(awk "BEGIN { printf \"%d\", $hours * 3600 }") ))
seed=$first
ran=0
failed=0
stop=0
trap 'stop=1' INT TERM
echo "sim.sh: seeds from $first, until $(date -d @$deadline -u +%H:%M:%SZ), failures kept in $out"
while [ $stop -eq 0 ] && [ "$(date +%s)" -lt $deadline ]; do
  last=$(( seed + batch - 1 ))
  # One line per seed; a failing seed is run again alone with --trace for its record.
  while read -r line; do
    ran=$((ran + 1))
    case "$line" in
      *'"ok":false'*)
        s=$(printf '%s' "$line" | sed -n 's/^{"seed":\([0-9]*\),.*/\1/p')
        failed=$((failed + 1))
        printf '%s\n' "$line" > "$out/seed-$s.json"
        "$txsim" --seed "$s" --steps "$steps" "${extra[@]}" --trace > "$out/seed-$s.trace" 2>&1 || true
        echo "sim.sh: seed $s FAILED (kept in $out/seed-$s.json, replay: $txsim --seed $s --steps $steps ${extra[*]} --trace)"
        ;;
    esac
  done < <("$txsim" --seeds "$seed-$last" --steps "$steps" "${extra[@]}" --json --keep-going | grep '^{' || true)
  seed=$((last + 1))
done
echo "sim.sh: $ran seeds run ($first-$((seed - 1))), $failed failed"
[ $failed -eq 0 ]
