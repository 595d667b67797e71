#!/usr/bin/env bash
# Turns bench_soak's --csv file into a PNG: orders/s and RSS over time (two panels, one
# x axis), with the final orders retained in memory on the second panel's right axis and, from
# CSVs that have them, the allocator's live heap and free bytes beside RSS.
# Usage: scripts/plot_soak.sh SOAK.csv OUT.png ["title"]
# Needs gnuplot (Debian: gnuplot-nox, in scripts/install-deps.sh).
set -euo pipefail
if [ $# -lt 2 ] || [ $# -gt 3 ]; then
  echo "usage: $0 SOAK.csv OUT.png [\"title\"]" >&2
  exit 2
fi
csv=$1
out=$2
title=${3:-bench_soak}
if [ ! -r "$csv" ]; then
  echo "$0: cannot read $csv" >&2
  exit 2
fi
header=$(head -n 1 "$csv")
columns="t_s,orders,ops_per_s,rss_mib,cpu_us_per_order,in_flight,final_retained,evicted,rows_queued,overloaded,unavailable"
# CSVs since the allocator's columns (heap_mib: live bytes, heap_free_mib: held free by tcmalloc)
# draw them beside RSS; older ones without.
heap_plot=""
if [ "$header" = "$columns,heap_mib,heap_free_mib" ]; then
  heap_plot=", \"$csv\" using (\$1/60):12 with lines lw 1 lc rgb \"#ff7f0e\" title \"heap MiB (live)\", \"$csv\" using (\$1/60):13 with lines lw 1 dt 2 lc rgb \"#9467bd\" title \"allocator free MiB\""
elif [ "$header" != "$columns" ]; then
  echo "$0: $csv is not a bench_soak CSV (header: $header)" >&2
  exit 2
fi
if [ "$(wc -l < "$csv")" -lt 3 ]; then
  echo "$0: $csv has fewer than two samples" >&2
  exit 2
fi
if ! command -v gnuplot >/dev/null; then
  echo "$0: gnuplot not found (apt-get install gnuplot-nox, or scripts/install-deps.sh)" >&2
  exit 2
fi
gnuplot <<GNUPLOT
set terminal pngcairo size 1200,800 font ",10" noenhanced
set output "$out"
set datafile separator ","
set key top left
set grid
set multiplot layout 2,1 title "$title"
set xlabel "time (minutes)"
set ylabel "orders/s (per sample interval)"
set yrange [0:*]
plot "$csv" every ::2 using (\$1/60):3 with lines lw 1 lc rgb "#1f77b4" title "orders/s", \
     "$csv" every ::2 using (\$1/60):(\$2/(\$1 > 0 ? \$1 : 1)) with lines lw 2 dt 2 lc rgb "#2ca02c" title "mean orders/s since start"
set ylabel "RSS (MiB)"
set y2label "final orders retained"
set ytics nomirror
set y2tics
set yrange [0:*]
stats "$csv" every ::1 using 7 nooutput name "RETAINED"
set y2range [0:(RETAINED_max > 0 ? RETAINED_max * 1.3 : 1)]
set key bottom right
plot "$csv" using (\$1/60):4 with lines lw 2 lc rgb "#d62728" title "RSS MiB", \
     "$csv" using (\$1/60):7 axes x1y2 with lines lw 1 lc rgb "#7f7f7f" title "final orders retained (right)"$heap_plot
unset multiplot
GNUPLOT
echo "wrote $out"
