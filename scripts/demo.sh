#!/usr/bin/env bash
# The main job: install what is missing, build, run the demo workload on the embedded
# defaults (in memory) and print what it did. Extra arguments go to `txengine demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
exec build/apps/txengine demo "$@"
