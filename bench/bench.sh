#!/usr/bin/env bash
# bench/bench.sh — `strata-img bench` vs `qemu-img bench`, side by side on the same images.
#
# What it measures: the request loop of `bench` itself (`depth` requests in flight through the
# image layer), reads and -w writes, on a raw image and a qcow2 image of BENCH_SIZE (default
# 1 GiB) in BENCH_DIR (a tmpfs by default, so the host disk is not what is measured). Each tool
# prints "Run completed in X seconds." for its request loop alone (JVM start-up and image open
# excluded): throughput = count * size / X. Every row runs RUNS times (default 3) per tool,
# alternating qemu-img and strata-img, and keeps the best run of each. Write rows start each run
# on a fresh image (an empty qcow2 / a sparse raw file), so qcow2 writes include cluster
# allocation for both tools; read rows read an image filled with data.
#
# Columns: qemu MB/s, strata MB/s, ratio = strata / qemu throughput (>= 1.00: strata is at least
# as fast), and the wall time of one strata-img run (start-up included) for reference.
#
# Run:   bench/bench.sh
#        BENCH_SIZE=256M RUNS=5 bench/bench.sh
# Knobs: BENCH_SIZE (default 1G), RUNS (default 3), COUNT4K (4 KiB requests per run, default
#        100000), COUNT64K (64 KiB requests per run, default 20000), DEPTH (default 64),
#        BENCH_DIR, BENCH_KEEP (see lib.sh), STRATA_IMG_CMD (command to run as strata-img).
# Needs: qemu-img, java 17, about 3x BENCH_SIZE free in BENCH_DIR.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BENCH_SIZE=${BENCH_SIZE:-1G}
RUNS=${RUNS:-3}
COUNT4K=${COUNT4K:-100000}
COUNT64K=${COUNT64K:-20000}
DEPTH=${DEPTH:-64}

require_tools qemu-img awk numfmt
resolve_strata_img || die "strata-img cannot be run (the CLI does not build)"
setup_dirs bench
size=$(numfmt --from=iec "$BENCH_SIZE")

note "making images in $WORK ($(numfmt --to=iec "$size") each) ..."
head -c "$size" /dev/urandom >"$WORK/data.raw"
qemu-img convert -f raw -O qcow2 "$WORK/data.raw" "$WORK/data.qcow2"

# fresh FMT FILE: an empty image of the bench size for a write run.
fresh() {
    rm -f "$2"
    if [[ $1 == raw ]]; then
        truncate -s "$size" "$2"
    else
        qemu-img create -q -f qcow2 "$2" "$size"
    fi
}

# seconds OUTPUT: the X of "Run completed in X seconds.", or empty.
seconds() {
    awk '/^Run completed in / { print $4 }' <<<"$1"
}

# best_rate TOOL FMT ARGS...: runs `TOOL bench ARGS` RUNS times, prints "best_MBps wall_s".
rows=()
ROW_FMT='%-6s %-28s %11s %11s %7s %10s'
run_row() {
    local fmt=$1 label=$2 count=$3 bsize=$4 write=$5
    local img="$WORK/data.$fmt" args=(-f "$fmt" -c "$count" -d "$DEPTH" -s "$bsize")
    [[ $write == 1 ]] && { img="$WORK/write.$fmt"; args+=(-w --pattern=0x5a); }
    local bytes=$((count * $(numfmt --from=iec "$bsize")))
    local qbest="" sbest="" swall="" r out t start end
    for ((r = 0; r < RUNS; r++)); do
        [[ $write == 1 ]] && fresh "$fmt" "$img"
        out=$(qemu-img bench "${args[@]}" "$img") || die "qemu-img bench failed: ${args[*]}"
        t=$(seconds "$out")
        qbest=$(awk -v b="$bytes" -v t="$t" -v best="$qbest" 'BEGIN { r = t > 0 ? b / t / 1e6 : 0; print (best == "" || r > best) ? r : best }')
        [[ $write == 1 ]] && fresh "$fmt" "$img"
        start=$(date +%s.%N)
        out=$(eval "$STRATA_IMG bench $(printf '%q ' "${args[@]}") $(printf '%q' "$img")") \
            || die "strata-img bench failed: ${args[*]}"
        end=$(date +%s.%N)
        t=$(seconds "$out")
        sbest=$(awk -v b="$bytes" -v t="$t" -v best="$sbest" 'BEGIN { r = t > 0 ? b / t / 1e6 : 0; print (best == "" || r > best) ? r : best }')
        swall=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f", e - s }')
    done
    rows+=("$(printf "$ROW_FMT" "$fmt" "$label" "$(fmtnum "$qbest" 1)" "$(fmtnum "$sbest" 1)" \
        "$(ratio "$sbest" "$qbest")" "$swall")")
    note "  $fmt $label: qemu $(fmtnum "$qbest" 1) MB/s, strata $(fmtnum "$sbest" 1) MB/s"
}

for fmt in raw qcow2; do
    note "timing $fmt ..."
    run_row "$fmt" "read 4k x$COUNT4K d$DEPTH" "$COUNT4K" 4K 0
    run_row "$fmt" "read 64k x$COUNT64K d$DEPTH" "$COUNT64K" 64K 0
    run_row "$fmt" "write 4k x$COUNT4K d$DEPTH" "$COUNT4K" 4K 1
    run_row "$fmt" "write 64k x$COUNT64K d$DEPTH" "$COUNT64K" 64K 1
done

{
    echo
    echo "== bench: qemu-img bench request loop, best of $RUNS runs, images of $(numfmt --to=iec "$size") in $BENCH_DIR =="
    machine_line 2>/dev/null || true
    printf "$ROW_FMT\n" image workload "qemu MB/s" "strata MB/s" ratio "strata wall"
    printf '%s\n' "${rows[@]}"
    echo "MB/s = count * size / the 'Run completed in' time each tool prints (start-up excluded); ratio = strata / qemu"
    echo "strata wall = wall time of strata-img's last run of the row (JVM start-up and open included), seconds"
} | tee "$OUT/table.txt"
