#!/usr/bin/env bash
# bench/map.sh — wall time of `map --output=json`, strata-img vs qemu-img, side by side.
#
# What it measures: the whole process (JVM start-up included for strata-img) of
#   qemu-img map --output=json IMG      and      bin/strata-img map --output=json IMG
# on a 16 GiB qcow2 (64 KiB clusters) that got 100,000 scattered 4 KiB writes at random
# 4 KiB-aligned offsets (fixed seed, so the image is the same on every run: ~83,000 allocated
# clusters, ~140,000 map entries). The image is made by one qemu-io process fed a file of
# `write` commands on stdin. Both outputs are also diffed; the table says whether they match.
# The issue's goal: strata-img <= 1.5x qemu-img wall time.
#
# bin/strata-img is timed as it is (with whatever JVM flags / CDS archive the launcher uses).
# Until it exists, `java -cp cli/target/strata-cli-*.jar:cli/target/lib/* dev.strata.cli.StrataImg`
# is timed instead, and the script says so. If no CLI can run yet, only qemu-img is timed.
#
# Run:   bench/map.sh
#        MAP_WRITES=20000 RUNS=5 bench/map.sh      (smaller image / fixed number of runs)
# Knobs: MAP_SIZE (default 16G), MAP_WRITES (default 100000), RUNS (default: hyperfine's
#        choice, at least 10), WARMUP (default 2), BENCH_DIR, BENCH_KEEP, BENCH_VERBOSE,
#        BENCH_REBUILD (see lib.sh).
# Needs: qemu-img, qemu-io, hyperfine, jq, java 17; ~6 GiB free in BENCH_DIR (the scattered
#        writes allocate whole clusters).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MAP_SIZE=${MAP_SIZE:-16G}
MAP_WRITES=${MAP_WRITES:-100000}
WARMUP=${WARMUP:-2}

require_tools qemu-img qemu-io hyperfine jq java awk
size=$(numfmt --from=iec "$MAP_SIZE")
setup_dirs map
img="$WORK/scattered.qcow2"
qimg=$(printf '%q' "$img")

strata_ok=1
resolve_strata_img || strata_ok=0

note "making $MAP_SIZE qcow2 with $MAP_WRITES scattered 4 KiB writes in $WORK ..."
t0=$(date +%s.%N)
qemu-img create -q -f qcow2 "$img" "$size"
awk -v n="$MAP_WRITES" -v blocks=$((size / 4096)) 'BEGIN {
    srand(42)
    for (i = 0; i < n; i++) printf "write -q -P %d %.0f 4k\n", i % 255 + 1, int(rand() * blocks) * 4096
}' >"$WORK/writes.txt"
qemu-io -f qcow2 "$img" <"$WORK/writes.txt" >"$WORK/qemu-io.log" 2>&1 || { tail "$WORK/qemu-io.log" >&2; die "qemu-io failed"; }
if grep -q -i 'error\|failed' "$WORK/qemu-io.log"; then
    grep -m 5 -i 'error\|failed' "$WORK/qemu-io.log" >&2
    die "some qemu-io writes failed"
fi
rm -f "$WORK/writes.txt" "$WORK/qemu-io.log"
alloc=$(qemu-img check "$img" | awk -F'[ /]' '/allocated/ { print $1 }')
note "  made in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s: $alloc clusters allocated, $(du -h "$img" | cut -f1) on disk"

qemu-img map --output=json "$img" >"$OUT/qemu-map.json"
entries=$(wc -l <"$OUT/qemu-map.json")
match="n/a (strata-img not run)"
if ((strata_ok)); then
    note "checking $STRATA_IMG_KIND runs (first call may build) ..."
    if eval "$STRATA_IMG map --output=json $qimg" >"$OUT/strata-map.json" 2>"$OUT/strata-map.err"; then
        if diff -q "$OUT/qemu-map.json" "$OUT/strata-map.json" >/dev/null; then
            match="yes (identical, $entries lines)"
        else
            diff "$OUT/qemu-map.json" "$OUT/strata-map.json" >"$OUT/map.diff" || true
            match="NO ($(grep -c '^[<>]' "$OUT/map.diff") differing lines; see $OUT/map.diff)"
        fi
    else
        note "strata-img map failed (exit $?): $(head -3 "$OUT/strata-map.err")"
        match="n/a (strata-img map failed: $(head -1 "$OUT/strata-map.err"))"
        strata_ok=0
    fi
fi

note "timing ..."
read -r qm qs < <(hf qemu-map "" "qemu-img map --output=json $qimg")
rows=("$(printf '%-48s %9s %8s %8s' "qemu-img map --output=json" "$(fmtnum "$qm" 3)" "$(fmtnum "$qs" 3)" 1.00)")
if ((strata_ok)); then
    read -r sm ss < <(hf strata-map "" "$STRATA_IMG map --output=json $qimg")
    rows+=("$(printf '%-48s %9s %8s %8s' "strata-img map --output=json ($STRATA_IMG_KIND)" "$(fmtnum "$sm" 3)" \
        "$(fmtnum "$ss" 3)" "$(ratio "$sm" "$qm")")")
else
    rows+=("$(printf '%-48s %9s %8s %8s' "strata-img map --output=json" - - "n/a")")
fi

{
    echo
    echo "== map: $MAP_SIZE qcow2, $MAP_WRITES scattered 4 KiB writes ($alloc clusters, $entries map entries) =="
    machine_line
    printf '%-48s %9s %8s %8s\n' tool wall_s "±" ratio
    printf '%s\n' "${rows[@]}"
    echo "ratio = strata-img / qemu-img mean wall time (JVM start-up included); goal (issue Foundation) <= 1.50"
    echo "outputs identical: $match"
    echo "raw results: $OUT"
} | tee "$OUT/table.txt"
