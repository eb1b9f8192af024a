#!/usr/bin/env bash
# bench/read.sh — sequential read throughput, Strata vs qemu-img, side by side.
#
# What it measures: reading a whole image front to back. Three images of READ_SIZE bytes
# (default 2 GiB) of random data: the raw source, a fully allocated qcow2 made from it, and its
# zlib-compressed twin (qemu-img convert -c). For each image:
#   qemu-img convert -n IMG --target-image-opts driver=null-co,...   qemu reading to nowhere
#   SequentialRead IMG                                               Strata reading to nowhere
#   SequentialRead --threads 2 IMG                                   same, two reader threads
#   qemu-img convert -O raw IMG WORK/out.raw                         qemu reading to a tmpfs file
#   SequentialRead --sink WORK/out.raw IMG                           Strata reading to a tmpfs file
#   SequentialRead --threads 2 --sink WORK/out.raw IMG               same, two reader threads
#   qemu-img dd if=IMG of=WORK/dd.raw bs=2M                          reference (synchronous dd)
# ("qemu-img dd ... of=/dev/null" is refused by qemu-img 7.2 — "Cannot grow device files" —
# hence the null-co target for qemu's read-to-nowhere row and a tmpfs file for dd.)
#
# The source data is base64 text of /dev/urandom: random, but zlib shrinks it to ~76%, so
# `convert -c` really stores compressed clusters (bytes straight from /dev/urandom do not shrink,
# and qcow2 then writes such clusters uncompressed, which would measure nothing).
#
# Columns: wall_s = whole process as hyperfine times it (JVM start-up and image open included),
# MB/s = READ_SIZE / mean wall; in-proc = the stream rate SequentialRead prints (start-up and
# open excluded); r_wall / r_inproc = Strata's wall / in-process MB/s divided by the wall MB/s of
# the qemu-img row with the same sink (qemu-img's start-up is a few ms, so its wall rate is
# close to its stream rate). The issue's goal: >= 1.00. Strata's copy to the sink is compared
# byte for byte with the source once per image.
#
# Run:   bench/read.sh                         (from anywhere; builds bench/ when needed)
#        READ_SIZE=512M RUNS=5 bench/read.sh   (smaller / more runs)
# Knobs: READ_SIZE (default 2G; a multiple of 4 MiB), RUNS (default 3), ZLIB_RUNS (runs for
#        the compressed image, default 2), WARMUP (extra warm-up runs of the Strata rows,
#        default 0: one untimed Strata pass per image already warms the page cache, and each
#        JVM starts cold anyway; qemu-img rows never warm up — the images sit in tmpfs),
#        REF_RUNS (runs of the qemu-img dd reference rows, default 2),
#        CHUNK (default 2M), BENCH_DIR, BENCH_KEEP, BENCH_VERBOSE, BENCH_REBUILD (see lib.sh),
#        READ_IMAGES (default "raw qcow2 qcow2-zlib").
# Needs: qemu-img, hyperfine, jq, java 17; ~4x READ_SIZE free in BENCH_DIR.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

READ_SIZE=${READ_SIZE:-2G}
RUNS=${RUNS:-3}
WARMUP=${WARMUP:-0}
ZLIB_RUNS=${ZLIB_RUNS:-2}
CHUNK=${CHUNK:-2M}
REF_RUNS=${REF_RUNS:-2}
READ_IMAGES=${READ_IMAGES:-raw qcow2 qcow2-zlib}

require_tools qemu-img hyperfine jq java base64 cmp
size=$(numfmt --from=iec "$READ_SIZE")
(( size % (4 << 20) == 0 && size > 0 )) || die "READ_SIZE must be a positive multiple of 4 MiB"
ensure_bench_jar
setup_dirs read

note "making images in $WORK ($(numfmt --to=iec "$size") each) ..."
head -c $((size / 4 * 3)) /dev/urandom | base64 -w 0 >"$WORK/src.raw"
declare -A IMG FMT
IMG[raw]="$WORK/src.raw"; FMT[raw]=raw
if [[ " $READ_IMAGES " == *" qcow2 "* ]]; then
    qemu-img convert -f raw -O qcow2 "$WORK/src.raw" "$WORK/plain.qcow2"
    IMG[qcow2]="$WORK/plain.qcow2"; FMT[qcow2]=qcow2
fi
if [[ " $READ_IMAGES " == *" qcow2-zlib "* ]]; then
    t0=$(date +%s.%N)
    qemu-img convert -f raw -O qcow2 -c -o compression_type=zlib "$WORK/src.raw" "$WORK/zlib.qcow2"
    note "  compressed twin made in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s;" \
        "$(qemu-img check "$WORK/zlib.qcow2" | grep -o '[0-9.]*% compressed clusters');" \
        "$(du -h --apparent-size "$WORK/zlib.qcow2" | cut -f1) on disk"
    IMG[qcow2-zlib]="$WORK/zlib.qcow2"; FMT[qcow2-zlib]=qcow2
fi

SEQ="java -cp $(printf '%q' "$BENCH_CP") dev.strata.bench.SequentialRead --chunk $CHUNK"
NULL_OPTS="driver=null-co,size=$size"
rows=()
warnings=()

# median LOG KEY: median of the KEY=value fields in SequentialRead's output lines in LOG.
median() {
    grep -o "$2=[0-9.]*" "$1" | cut -d= -f2 | sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "-" }'
}

ROW_FMT='%-11s %-44s %7s %6s %6s %8s %7s %6s %8s\n'
# add_row LABEL MEAN STDDEV INPROC_MBPS REF_MBPS [LOG]: one table line; sets LAST_MBPS (wall
# MB/s). LOG, for Strata rows, holds SequentialRead's output lines (in-proc MB/s and open time).
# Ratios are left out ("n/a") when Strata did not open the image with the right driver.
add_row() {
    local label=$1 mean=$2 sd=$3 inp=$4 ref=$5 log=${6:-}
    local mbps rw=- ri=- open=-
    [[ -n $log ]] && open=$(median "$log" open_ms)
    mbps=$(awk -v s="$size" -v m="$mean" 'BEGIN { printf "%.0f", s / m / 1e6 }')
    if [[ $ref != - && $comparable == 0 ]]; then
        rw=n/a; ri=n/a
    elif [[ $ref != - ]]; then
        rw=$(ratio "$mbps" "$ref"); ri=$(ratio "$inp" "$ref")
    fi
    rows+=("$(printf "$ROW_FMT" "$IMAGE" "$label" "$(fmtnum "$mean" 3)" "$(fmtnum "$sd" 3)" "$mbps" \
        "$(fmtnum "$inp" 0)" "$(fmtnum "$open" 0)" "$rw" "$ri")")
    LAST_MBPS=$mbps
}

# qemu_row LABEL ID PREPARE QEMU_IMG_ARGS: times qemu-img (no warm-up: no JIT, images in tmpfs).
qemu_row() {
    local m s
    read -r m s < <(WARMUP=0 RUNS=${RUNS_OVERRIDE:-$runs} hf "$IMAGE-qemu-$2" "$3" "qemu-img $4")
    add_row "$1" "$m" "$s" - -
}

# strata_row LABEL ID PREPARE SEQUENTIALREAD_ARGS REF_MBPS: times SequentialRead, keeping its
# output lines (in-process rate, open time) in $OUT/IMAGE-strata-ID.out.
strata_row() {
    local m s log="$OUT/$IMAGE-strata-$2.out"
    read -r m s < <(RUNS=$runs hf "$IMAGE-strata-$2" "$3" "$SEQ $4 >> $(printf '%q' "$log")")
    add_row "$1" "$m" "$s" "$(median "$log" MB/s)" "$5" "$log"
}

for IMAGE in $READ_IMAGES; do
    img=${IMG[$IMAGE]:-}
    [[ -n $img ]] || die "unknown image kind '$IMAGE' in READ_IMAGES"
    fmt_=${FMT[$IMAGE]}
    qimg=$(printf '%q' "$img")
    out=$(printf '%q' "$WORK/out.raw")
    dd=$(printf '%q' "$WORK/dd.raw")
    note "timing $IMAGE ..."
    runs=$RUNS
    [[ $IMAGE == qcow2-zlib ]] && runs=$ZLIB_RUNS

    # One untimed Strata pass: which driver opened it, and does it see the whole guest?
    probe=$(eval "$SEQ $qimg")
    got_fmt=$(sed -n 's/.*format=\([^ ]*\).*/\1/p' <<<"$probe")
    got_bytes=$(sed -n 's/^bytes=\([0-9]*\).*/\1/p' <<<"$probe")
    comparable=1
    if [[ $got_fmt != "$fmt_" || $got_bytes != "$size" ]]; then
        comparable=0
        warnings+=("$IMAGE: Strata opened it as '$got_fmt' and read $got_bytes bytes (expected $fmt_, $size): its figures are NOT comparable (no $fmt_ driver in the engine yet?)")
    fi

    qemu_row "qemu-img convert -> null-co" null "" "convert -n -f $fmt_ $qimg --target-image-opts $NULL_OPTS"
    qnull=$LAST_MBPS
    strata_row "strata SequentialRead -> nowhere" null "" "$qimg" "$qnull"
    strata_row "strata SequentialRead --threads 2 -> nowhere" null-2t "" "--threads 2 $qimg" "$qnull"

    qemu_row "qemu-img convert -O raw -> tmpfs" convert "rm -f $out" "convert -f $fmt_ -O raw $qimg $out"
    qconv=$LAST_MBPS
    strata_row "strata SequentialRead --sink -> tmpfs" sink "rm -f $out" "--sink $out $qimg" "$qconv"
    strata_row "strata SequentialRead --threads 2 --sink -> tmpfs" sink-2t "rm -f $out" "--threads 2 --sink $out $qimg" "$qconv"
    if ((comparable)); then
        if cmp -s "$WORK/out.raw" "$WORK/src.raw"; then
            note "  $IMAGE: Strata's sink file is identical to the source data"
        else
            warnings+=("$IMAGE: Strata's sink file DIFFERS from the source data")
        fi
    fi
    rm -f "$WORK/out.raw"

    RUNS_OVERRIDE=$REF_RUNS qemu_row "qemu-img dd bs=2M -> tmpfs (reference)" dd "rm -f $dd" \
        "dd -f $fmt_ -O raw if=$qimg of=$dd bs=2M"
    rm -f "$WORK/dd.raw"
done

{
    echo
    echo "== read: sequential read of $(numfmt --to=iec "$size") images (random data), chunk $CHUNK," \
        "$RUNS runs ($ZLIB_RUNS for qcow2-zlib; qemu-img dd: $REF_RUNS), $WARMUP extra warm-up for Strata =="
    machine_line
    printf "$ROW_FMT" image tool wall_s "±" MB/s in-proc open_ms r_wall r_inproc
    printf '%s\n' "${rows[@]}"
    echo "MB/s = image size / mean wall time (process start and image open included); in-proc = SequentialRead's own"
    echo "stream rate (start-up and open excluded); open_ms = its image open (median, in-process)."
    echo "r_wall, r_inproc = Strata MB/s (wall, in-proc) / wall MB/s of the qemu-img row with the same sink above it."
    echo "Goal (issue Foundation): sequential read >= qemu-img, i.e. ratio >= 1.00."
    for w in "${warnings[@]}"; do echo "WARNING: $w"; done
    echo "raw results: $OUT"
} | tee "$OUT/table.txt"
