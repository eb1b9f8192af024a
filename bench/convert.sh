#!/usr/bin/env bash
# bench/convert.sh — convert throughput, strata-img vs qemu-img, side by side in one run.
#
# What it measures (whole process, JVM start-up included for strata-img), each case timed for
# both tools on the same input, writing to a tmpfs file that is removed before each run:
#   to-qcow2     convert -O qcow2            of a CONVERT_SIZE (default 2 GiB) half-sparse raw file
#   to-raw       convert -O raw              of its qcow2 (made by qemu-img)
#   zlib         convert -c -O qcow2         of the raw file
#   zstd         convert -c -O qcow2 -o compression_type=zstd
#   chain        convert -O qcow2            of a 3-layer qcow2 chain (base + 2 overlays) into one image
# The half-sparse raw file: 1 MiB extents alternating data (base64 of /dev/urandom, which zlib
# shrinks to ~76%, so compressed clusters really are stored compressed) and holes.
# Throughput = CONVERT_SIZE / mean wall; ratio = strata MB/s / qemu MB/s (goal >= 1.00). The
# *_med columns are the same from the median wall time (see median_of in lib.sh).
# Every strata-img output is checked once with `qemu-img compare` against its source and with
# `qemu-img check`.
#
# Run:   bench/convert.sh
#        CONVERT_SIZE=512M RUNS=3 bench/convert.sh
# Knobs: CONVERT_SIZE (multiple of 2 MiB), RUNS (default 3), WARMUP (default 0), CASES,
#        BENCH_DIR, BENCH_KEEP, BENCH_VERBOSE, BENCH_REBUILD (see lib.sh).
# Needs: qemu-img, qemu-io, hyperfine, jq, java 17; ~5x CONVERT_SIZE free in BENCH_DIR.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CONVERT_SIZE=${CONVERT_SIZE:-2G}
RUNS=${RUNS:-3}
WARMUP=${WARMUP:-0}
CASES=${CASES:-to-qcow2 to-raw zlib zstd chain}

require_tools qemu-img qemu-io hyperfine jq java base64
size=$(numfmt --from=iec "$CONVERT_SIZE")
(( size % (2 << 20) == 0 && size > 0 )) || die "CONVERT_SIZE must be a positive multiple of 2 MiB"
setup_dirs convert
resolve_strata_img || die "strata-img cannot run"

note "making a $CONVERT_SIZE half-sparse raw file in $WORK ..."
src="$WORK/half.raw"
truncate -s "$size" "$src"
mib=$((size >> 20))
head -c $(( (mib / 2) * 786432 )) /dev/urandom | base64 -w 0 >"$WORK/data.bin"
awk -v n="$mib" 'BEGIN { for (i = 0; i < n; i += 2) print i, i / 2 }' | while read -r at from; do
    dd if="$WORK/data.bin" of="$src" bs=1M skip="$from" seek="$at" count=1 conv=notrunc status=none
done
rm -f "$WORK/data.bin"
qemu-img convert -f raw -O qcow2 "$src" "$WORK/half.qcow2"
qemu-img create -q -f qcow2 "$WORK/base.qcow2" "$size"
qemu-img convert -n -f raw -O qcow2 "$src" "$WORK/base.qcow2"
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "$WORK/mid.qcow2"
qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 "$WORK/top.qcow2"
awk -v n="$((size >> 16))" 'BEGIN { srand(7); for (i = 0; i < 4000; i++) printf "write -q -P %d %d 64k\n", i % 250 + 1, int(rand() * n) * 65536 }' \
    | qemu-io -f qcow2 "$WORK/mid.qcow2" >/dev/null
awk -v n="$((size >> 16))" 'BEGIN { srand(9); for (i = 0; i < 4000; i++) printf "write -q -P %d %d 64k\n", i % 250 + 1, int(rand() * n) * 65536 }' \
    | qemu-io -f qcow2 "$WORK/top.qcow2" >/dev/null

declare -A SRC ARGS EXT
SRC[to-qcow2]=$src; ARGS[to-qcow2]="-O qcow2"; EXT[to-qcow2]=qcow2
SRC[to-raw]=$WORK/half.qcow2; ARGS[to-raw]="-O raw"; EXT[to-raw]=raw
SRC[zlib]=$src; ARGS[zlib]="-c -O qcow2"; EXT[zlib]=qcow2
SRC[zstd]=$src; ARGS[zstd]="-c -O qcow2 -o compression_type=zstd"; EXT[zstd]=qcow2
SRC[chain]=$WORK/top.qcow2; ARGS[chain]="-O qcow2"; EXT[chain]=qcow2

machine_line | tee "$OUT/table.txt"
printf '%-10s %-40s %9s %9s %8s %9s %9s %8s %6s\n' case args qemu_MB/s strata_MB/s ratio \
    qemu_med strata_med med_ratio check | tee -a "$OUT/table.txt"
for c in $CASES; do
    in=$(printf '%q' "${SRC[$c]}")
    out="$WORK/out.${EXT[$c]}"
    qout=$(printf '%q' "$out")
    check=ok
    rm -f "$out"
    eval "$STRATA_IMG convert ${ARGS[$c]} $in $qout" || check="FAILED"
    if [[ $check == ok ]]; then
        qemu-img compare -q "${SRC[$c]}" "$out" || check="DIFFERS"
        if [[ ${EXT[$c]} == qcow2 ]]; then qemu-img check -q "$out" || check="CHECK"; fi
    fi
    read -r qm _ < <(hf "qemu-$c" "rm -f $qout" "qemu-img convert ${ARGS[$c]} $in $qout")
    read -r sm _ < <(hf "strata-$c" "rm -f $qout" "$STRATA_IMG convert ${ARGS[$c]} $in $qout")
    qr=$(mbps "$size" "$qm")
    sr=$(mbps "$size" "$sm")
    qmr=$(mbps "$size" "$(median_of "$OUT/qemu-$c.json")")
    smr=$(mbps "$size" "$(median_of "$OUT/strata-$c.json")")
    printf '%-10s %-40s %9s %9s %8s %9s %9s %8s %6s\n' "$c" "${ARGS[$c]}" "$qr" "$sr" "$(ratio "$sr" "$qr")" \
        "$qmr" "$smr" "$(ratio "$smr" "$qmr")" "$check" | tee -a "$OUT/table.txt"
done
note "results in $OUT"
