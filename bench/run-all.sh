#!/usr/bin/env bash
# bench/run-all.sh — runs every benchmark (map, read, info, nbd) and prints all tables.
#
# What it measures: see bench/map.sh (map --output=json wall time), bench/read.sh (sequential
# read throughput), bench/info.sh (info wall time), each against the real qemu-img, and
# bench/nbd.sh (stratad vs qemu-nbd: nbdcopy throughput, fio 4k random-read IOPS, FUSE dd,
# memory), bench/convert.sh, bench/bench.sh and bench/commit.sh (commit of a 1 GiB overlay);
# each compares in the same run and prints ratios. A script that fails does not stop the others;
# the summary at the end lists each one's exit status, and the exit status is non-zero if any
# failed. Takes about 10-16 minutes on 2 cores (most of it making images; nbd.sh ~5-6 min).
#
# Run:   bench/run-all.sh            (all knobs of the single scripts apply, e.g. BENCH_DIR)
#        bench/run-all.sh read info  (a subset, in the order given)
#        bench/run-all.sh nbd
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

benches=("$@")
[[ ${#benches[@]} -gt 0 ]] || benches=(map read info nbd convert bench commit rebase)
summary=()
failed=0
for b in "${benches[@]}"; do
    [[ -x $here/$b.sh ]] || { echo "run-all: no such benchmark: $b" >&2; exit 2; }
    echo "######## $b ($(date '+%F %T'))"
    start=$SECONDS
    if "$here/$b.sh"; then
        summary+=("$(printf '%-6s ok      %4d s' "$b" $((SECONDS - start)))")
    else
        rc=$?
        failed=1
        summary+=("$(printf '%-6s FAILED  %4d s  (exit %d)' "$b" $((SECONDS - start)) "$rc")")
    fi
done
echo
echo "######## summary"
printf '%s\n' "${summary[@]}"
exit "$failed"
