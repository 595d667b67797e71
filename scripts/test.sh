#!/usr/bin/env bash
# The whole test suite: install what is missing, build, run every CTest test (unit, actor,
# randomized, and small runs of the demo and of each benchmark so none rots).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
scripts/mariadb.sh start   # the private MariaDB server the mysql tests use (left running)
ctest --test-dir build --output-on-failure --timeout 900 -j2
