#!/usr/bin/env bash
# bench/rebase.sh — safe rebase throughput, strata-img vs qemu-img, side by side in one run.
#
# What it measures (whole process, JVM start-up included for strata-img): `rebase -b new.qcow2
# -F qcow2 overlay.qcow2` (safe mode) of an overlay between two REBASE_SIZE (default 2 GiB)
# fully allocated qcow2 bases that differ in REBASE_DIFF percent (default 10) of their 64 KiB
# clusters. The overlay allocates 1000 random clusters of its own; the rest is compared between
# the old and the new base, and the differing clusters are copied into the overlay. Each run
# starts from a fresh copy of the overlay (hyperfine --prepare). The bases' data is base64 of
# /dev/urandom; the differing clusters are rewritten with qemu-io patterns.
# Throughput = REBASE_SIZE / mean wall; ratio = strata MB/s / qemu MB/s (goal >= 1.00); a last
# line gives the same from the median wall times (see median_of in lib.sh).
# Strata's result is checked once: byte-identical to qemu-img's, the guest view unchanged
# (`qemu-img compare` with the original overlay over the old base), `qemu-img check` clean.
#
# Run:   bench/rebase.sh
#        REBASE_SIZE=512M RUNS=3 bench/rebase.sh
# Knobs: REBASE_SIZE (multiple of 2 MiB), REBASE_DIFF (percent of clusters, default 10),
#        RUNS (default 3), WARMUP (default 1), BENCH_DIR, BENCH_KEEP, BENCH_VERBOSE,
#        BENCH_REBUILD (see lib.sh).
# Needs: qemu-img, qemu-io, hyperfine, jq, java 17; ~3x REBASE_SIZE free in BENCH_DIR.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

REBASE_SIZE=${REBASE_SIZE:-2G}
REBASE_DIFF=${REBASE_DIFF:-10}
RUNS=${RUNS:-3}
WARMUP=${WARMUP:-1}

require_tools qemu-img qemu-io hyperfine jq java base64 cmp
size=$(numfmt --from=iec "$REBASE_SIZE")
(( size % (2 << 20) == 0 && size > 0 )) || die "REBASE_SIZE must be a positive multiple of 2 MiB"
setup_dirs rebase
resolve_strata_img || die "strata-img cannot run"

note "making two $REBASE_SIZE bases differing in $REBASE_DIFF% of their clusters in $WORK ..."
head -c $(( size / 4 * 3 )) /dev/urandom | base64 -w 0 >"$WORK/data.raw"
qemu-img convert -f raw -O qcow2 "$WORK/data.raw" "$WORK/old.qcow2"
rm -f "$WORK/data.raw"
cp "$WORK/old.qcow2" "$WORK/new.qcow2"
clusters=$((size >> 16))
awk -v n="$clusters" -v p="$REBASE_DIFF" 'BEGIN { srand(11); for (i = 0; i < n; i++) if (rand() * 100 < p) printf "write -q -P %d %d 64k\n", i % 250 + 1, i * 65536 }' \
    | qemu-io -f qcow2 "$WORK/new.qcow2" >/dev/null
qemu-img create -q -f qcow2 -b old.qcow2 -F qcow2 "$WORK/overlay.orig.qcow2"
awk -v n="$clusters" 'BEGIN { srand(13); for (i = 0; i < 1000; i++) printf "write -q -P %d %d 64k\n", i % 250 + 1, int(rand() * n) * 65536 }' \
    | qemu-io -f qcow2 "$WORK/overlay.orig.qcow2" >/dev/null

ov=$(printf '%q' "$WORK/overlay.qcow2")
orig=$(printf '%q' "$WORK/overlay.orig.qcow2")
args="-b new.qcow2 -F qcow2 $ov"

check=ok
cp "$WORK/overlay.orig.qcow2" "$WORK/overlay.qcow2"
qemu-img rebase $args 2>&1 || die "qemu-img rebase failed"
mv "$WORK/overlay.qcow2" "$WORK/overlay.qemu.qcow2"
cp "$WORK/overlay.orig.qcow2" "$WORK/overlay.qcow2"
eval "$STRATA_IMG rebase $args" || check=FAILED
if [[ $check == ok ]]; then
    cmp -s "$WORK/overlay.qemu.qcow2" "$WORK/overlay.qcow2" || check=BYTES
    qemu-img compare -q "$WORK/overlay.orig.qcow2" "$WORK/overlay.qcow2" || check=DIFFERS
    qemu-img check -q "$WORK/overlay.qcow2" || check=CHECK
fi
rm -f "$WORK/overlay.qemu.qcow2"

read -r qm qs < <(hf qemu-rebase "cp $orig $ov" "qemu-img rebase $args")
read -r sm ss < <(hf strata-rebase "cp $orig $ov" "$STRATA_IMG rebase $args")
qr=$(mbps "$size" "$qm")
sr=$(mbps "$size" "$sm")
qmr=$(mbps "$size" "$(median_of "$OUT/qemu-rebase.json")")
smr=$(mbps "$size" "$(median_of "$OUT/strata-rebase.json")")

machine_line | tee "$OUT/table.txt"
echo "strata-img: $STRATA_IMG_KIND; $REBASE_SIZE bases, $REBASE_DIFF% of clusters differ, 1000 overlay clusters" \
    | tee -a "$OUT/table.txt"
printf '%-12s %12s %12s %11s %11s %8s %6s\n' case qemu_s strata_s qemu_MB/s strata_MB/s ratio check \
    | tee -a "$OUT/table.txt"
printf '%-12s %12s %12s %11s %11s %8s %6s\n' safe-rebase \
    "$(fmtnum "$qm" 3)±$(fmtnum "$qs" 3)" "$(fmtnum "$sm" 3)±$(fmtnum "$ss" 3)" "$qr" "$sr" \
    "$(ratio "$sr" "$qr")" "$check" | tee -a "$OUT/table.txt"
printf 'from the medians: qemu %s MB/s, strata %s MB/s, ratio %s\n' "$qmr" "$smr" "$(ratio "$smr" "$qmr")" \
    | tee -a "$OUT/table.txt"
note "results in $OUT"
