#!/usr/bin/env bash
# Prints InnoDB's flushing and I/O counters of the private MariaDB server (scripts/mariadb.sh) as
# CSV, one line every INTERVAL seconds (default 10), until stopped: run it beside a benchmark
# (e.g. bench_soak --csv) to see what the server did in each interval (docs/benchmarks.md).
#
#   scripts/innodb_sample.sh [INTERVAL] > /tmp/innodb.csv &
#
# Columns: unix time, then the counters as SHOW GLOBAL STATUS has them (totals since the server
# started, except pages_dirty, pages_free and checkpoint_age, which are levels): buffer pool
# reads from disk, buffer pool read requests, pages flushed, dirty pages, free pages, redo log
# bytes written, checkpoint age (redo bytes not yet covered by flushed pages), data file fsyncs.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
INTERVAL=${1:-10}
case "$INTERVAL" in '' | *[!0-9]* | 0) echo "innodb_sample.sh: INTERVAL must be a positive number of seconds" >&2; exit 2 ;; esac
NAMES=(INNODB_BUFFER_POOL_READS INNODB_BUFFER_POOL_READ_REQUESTS INNODB_BUFFER_POOL_PAGES_FLUSHED
       INNODB_BUFFER_POOL_PAGES_DIRTY INNODB_BUFFER_POOL_PAGES_FREE INNODB_OS_LOG_WRITTEN
       INNODB_CHECKPOINT_AGE INNODB_DATA_FSYNCS)
IN=$(printf "'%s'," "${NAMES[@]}")
IN=${IN%,}
echo "t,bp_reads,bp_read_requests,pages_flushed,pages_dirty,pages_free,log_bytes_written,checkpoint_age,data_fsyncs"
while true; do
  values=$("$REPO/scripts/mariadb.sh" client -N -e \
    "SELECT VARIABLE_NAME, VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME IN ($IN)")
  line=$(date +%s)
  for name in "${NAMES[@]}"; do
    line+=",$(awk -v n="$name" '$1 == n { print $2 }' <<<"$values")"
  done
  echo "$line"
  sleep "$INTERVAL"
done
