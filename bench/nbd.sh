#!/usr/bin/env bash
# bench/nbd.sh — stratad vs qemu-nbd (issue 3, "Speed"), side by side in one run.
#
# What it measures, on a raw image and a fully allocated qcow2 made from it (NBD_SIZE bytes each,
# default 2 GiB, random data as in read.sh), each served read-only by both servers started with
# -r -t -e 4 (persistent, up to 4 clients; stratad listens on TCP and the Unix socket in one
# process, qemu-nbd needs one process per listener):
#   1. nbdcopy URL null:, --connections=1 and 4, over TCP (127.0.0.1, distinct ports) and a Unix
#      socket: MB/s = image size / mean wall time (hyperfine), ratio stratad / qemu-nbd.
#   2. fio --ioengine=nbd --rw=randread --bs=4k --iodepth=16 --time_based (FIO_RUNTIME s, one
#      connection, over FIO_TRANSPORTS): IOPS, ratio stratad / qemu-nbd.
#   3. FUSE sequential read: dd if=MOUNT/disk of=/dev/null bs=1M, from `stratad --fuse MOUNT`
#      vs `nbdfuse -r MOUNT2/disk --unix SOCK` over `qemu-nbd -r -t -k SOCK`. Page cache dropped
#      before each run (echo 3 > /proc/sys/vm/drop_caches, as root; failure ignored and reported):
#      the kernel caches FUSE file pages, so without the drop the 2nd dd would read memory.
#   4. Memory (VmRSS from /proc/PID/status): stratad idle with 1 export, peak (VmHWM) and after the
#      nbdcopy + fio load; stratad idle serving 100 exports (--export name=eN,file=... x100 over
#      small qcow2 images); qemu-nbd with its single export, for scale (qemu-nbd serves one export
#      per process), idle and peak under the same load.
# Goals (issue 3): nbdcopy throughput and fio IOPS >= 1.00x qemu-nbd. FUSE and memory: reported.
#
# Run:   bench/nbd.sh                              (from anywhere; builds the daemon when stale)
#        NBD_SIZE=512M FIO_RUNTIME=5 bench/nbd.sh  (quick)
# Knobs: NBD_SIZE (default 2G; a multiple of 4 MiB), RUNS (nbdcopy runs, default 3), WARMUP
#        (default 1), FUSE_RUNS (default 2), FIO_RUNTIME (seconds, default 15), FIO_TRANSPORTS
#        (default "unix"; "unix tcp" for both), NBD_IMAGES (default "raw qcow2"), FUSE_IMAGES
#        (default "qcow2"; empty: no FUSE rows), NBD_EXPORTS (memory test, default 100), NBD_PORT (first TCP port,
#        default 10900; 4 consecutive ports are used), COPY_TIMEOUT (seconds one nbdcopy may
#        take before the row reads "-" and that server's later nbdcopy rows on that image are
#        skipped, default 60), STRATAD (launcher, default bin/stratad),
#        BENCH_DIR, BENCH_KEEP, BENCH_VERBOSE, BENCH_REBUILD (see lib.sh).
# Needs: qemu-img, qemu-nbd, nbdcopy, nbdinfo, nbdfuse, fio, hyperfine, jq, fusermount3 (or
#        fusermount), java 17; ~2x NBD_SIZE free in BENCH_DIR.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NBD_SIZE=${NBD_SIZE:-2G}
RUNS=${RUNS:-3}
WARMUP=${WARMUP:-1}
FUSE_RUNS=${FUSE_RUNS:-2}
FIO_RUNTIME=${FIO_RUNTIME:-15}
FIO_TRANSPORTS=${FIO_TRANSPORTS:-unix}
NBD_IMAGES=${NBD_IMAGES:-raw qcow2}
FUSE_IMAGES=${FUSE_IMAGES-qcow2}
NBD_EXPORTS=${NBD_EXPORTS:-100}
NBD_PORT=${NBD_PORT:-10900}
COPY_TIMEOUT=${COPY_TIMEOUT:-60}
declare -A SKIP=()
STRATAD=${STRATAD:-$ROOT/bin/stratad}

require_tools qemu-img qemu-nbd nbdcopy nbdinfo nbdfuse fio hyperfine jq java base64 ss
FUSERMOUNT=$(command -v fusermount3 || command -v fusermount || true)
size=$(numfmt --from=iec "$NBD_SIZE")
(( size % (4 << 20) == 0 && size > 0 )) || die "NBD_SIZE must be a positive multiple of 4 MiB"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

# The launcher builds the daemon only when its jar is missing; rebuild here when sources changed.
DAEMON_JAR="$ROOT/daemon/target/strata-daemon-$VERSION.jar"
if stale "$DAEMON_JAR" "$ROOT/engine/src/main" "$ROOT/nbd-protocol/src/main" "$ROOT/daemon/src/main" \
        "$ROOT/daemon/pom.xml" "$ROOT/nbd-protocol/pom.xml"; then
    build_or_reuse "$DAEMON_JAR" engine,nbd-protocol,daemon || die "could not build the daemon"
fi
setup_dirs nbd

# ---- server bookkeeping: every PID we start, every mount we make; all undone on exit ----
PIDS=()
MOUNTS=()
stop_pid() {
    local p=$1 i
    kill -TERM "$p" 2>/dev/null || return 0
    for i in $(seq 50); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
}
cleanup_nbd() {
    local m p
    for m in "${MOUNTS[@]}"; do
        mountpoint -q "$m" 2>/dev/null && { "$FUSERMOUNT" -u "$m" 2>/dev/null || "$FUSERMOUNT" -uz "$m" 2>/dev/null || true; }
    done
    for p in "${PIDS[@]}"; do stop_pid "$p"; done
    cleanup_work
}
trap cleanup_nbd EXIT
trap 'exit 130' INT TERM

# port_free PORT: nothing listens on 127.0.0.1:PORT.
port_free() { [[ -z $(ss -Htln "sport = :$1" 2>/dev/null) ]]; }
for p in $((NBD_PORT)) $((NBD_PORT + 1)) $((NBD_PORT + 2)) $((NBD_PORT + 3)); do
    port_free "$p" || die "port $p is in use (set NBD_PORT)"
done

# start NAME CMD...: starts a server in the background (its log in $OUT/NAME.log), records its
# PID in SPID and PIDS. The launcher execs java, so the PID is the JVM's.
start() {
    local name=$1; shift
    "$@" >"$OUT/$name.log" 2>&1 &
    SPID=$!
    PIDS+=("$SPID")
}
# wait_nbd URL PID: polls with nbdinfo until the server answers (60 s at most: a JVM on a loaded
# machine starts slowly).
wait_nbd() {
    local url=$1 pid=$2 i
    for i in $(seq 600); do
        nbdinfo --size "$url" >/dev/null 2>&1 && return 0
        kill -0 "$pid" 2>/dev/null || die "server for $url exited early (see $OUT/*.log)"
        sleep 0.1
    done
    die "server for $url not ready after 60 s"
}
rss_kb() { awk -v k="${2:-VmRSS}:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || echo -; }
mib() { awk -v k="$1" 'BEGIN { if (k == "" || k == "-") print "-"; else printf "%.0f", k / 1024 }'; }

note "making images in $WORK ($(numfmt --to=iec "$size") each) ..."
head -c $((size / 4 * 3)) /dev/urandom | base64 -w 0 >"$WORK/disk.raw"
qemu-img convert -f raw -O qcow2 "$WORK/disk.raw" "$WORK/disk.qcow2"
declare -A IMG=([raw]="$WORK/disk.raw" [qcow2]="$WORK/disk.qcow2")

copy_rows=(); fio_rows=(); fuse_rows=(); mem_rows=(); warnings=()
COPY_FMT='%-6s %-5s %5s  %9s %9s  %9s %9s  %6s\n'
FIO_FMT='%-6s %-5s  %10s %10s  %6s\n'
FUSE_FMT='%-6s  %-44s %8s %7s  %6s\n'
MEM_FMT='%-72s %6s\n'

# ---- 1, 2, 4: nbdcopy and fio per image, both servers up side by side ----
for IMAGE in $NBD_IMAGES; do
    img=${IMG[$IMAGE]:-}
    [[ -n $img ]] || die "unknown image kind '$IMAGE' in NBD_IMAGES"
    note "serving $IMAGE ..."
    declare -A URL=(
        [strata-tcp]="nbd://127.0.0.1:$NBD_PORT/" [strata-unix]="nbd+unix:///?socket=$WORK/strata.sock"
        [qemu-tcp]="nbd://127.0.0.1:$((NBD_PORT + 1))/" [qemu-unix]="nbd+unix:///?socket=$WORK/qemu.sock")
    start "$IMAGE-stratad" "$STRATAD" -r -t -e 4 -f "$IMAGE" -b 127.0.0.1 -p "$NBD_PORT" -k "$WORK/strata.sock" "$img"
    spid=$SPID
    start "$IMAGE-qemu-nbd-tcp" qemu-nbd -r -t -e 4 -f "$IMAGE" -b 127.0.0.1 -p $((NBD_PORT + 1)) "$img"
    qpid_tcp=$SPID
    start "$IMAGE-qemu-nbd-unix" qemu-nbd -r -t -e 4 -f "$IMAGE" -k "$WORK/qemu.sock" "$img"
    qpid_unix=$SPID
    for k in strata-tcp strata-unix qemu-tcp qemu-unix; do
        case $k in strata-*) p=$spid ;; qemu-tcp) p=$qpid_tcp ;; *) p=$qpid_unix ;; esac
        wait_nbd "${URL[$k]}" "$p"
        nbdinfo --json "${URL[$k]}" >"$OUT/$IMAGE-$k.nbdinfo.json"
        [[ $(jq -r '.exports[0].can_multi_conn' "$OUT/$IMAGE-$k.nbdinfo.json") == true ]] \
            || warnings+=("$IMAGE $k: server does not offer multi-conn: nbdcopy --connections=4 falls back to 1")
        got=$(jq -r '.exports[0]["export-size"]' "$OUT/$IMAGE-$k.nbdinfo.json")
        [[ $got == "$size" ]] || warnings+=("$IMAGE $k: export size $got, expected $size")
    done
    sleep 1
    mem_rows+=("$(printf "$MEM_FMT" "stratad, 1 export ($IMAGE), idle (RSS)" "$(mib "$(rss_kb "$spid")")")")
    mem_rows+=("$(printf "$MEM_FMT" "qemu-nbd, 1 export ($IMAGE), idle (RSS; TCP process)" "$(mib "$(rss_kb "$qpid_tcp")")")")

    for tr in tcp unix; do
        for c in 1 4; do
            declare -A MBPS=()
            for srv in qemu strata; do
                note "  nbdcopy $IMAGE $tr --connections=$c $srv"
                m= s=
                if [[ -n ${SKIP[$IMAGE-$srv]:-} ]]; then
                    MBPS[$srv]=-; MBPS[$srv-sd]=-
                    continue
                fi
                read -r m s < <(hf "copy-$IMAGE-$tr-c$c-$srv" "" \
                    "timeout $COPY_TIMEOUT nbdcopy --connections=$c $(printf '%q' "${URL[$srv-$tr]}") null:") || true
                if [[ -z $m ]]; then
                    MBPS[$srv]=-; MBPS[$srv-sd]=-
                    warnings+=("nbdcopy $IMAGE $tr -c $c $srv failed or took over ${COPY_TIMEOUT}s (COPY_TIMEOUT); its later nbdcopy rows for $IMAGE are skipped; see $OUT/copy-$IMAGE-$tr-c$c-$srv.log")
                    SKIP[$IMAGE-$srv]=1
                    continue
                fi
                MBPS[$srv]=$(awk -v b="$size" -v m="$m" 'BEGIN { printf "%.0f", b / m / 1e6 }')
                MBPS[$srv-sd]=$(awk -v b="$size" -v m="$m" -v s="$s" 'BEGIN { printf "%.0f", b / m / 1e6 * s / m }')
            done
            copy_rows+=("$(printf "$COPY_FMT" "$IMAGE" "$tr" "$c" "${MBPS[qemu]}" "±${MBPS[qemu-sd]}" \
                "${MBPS[strata]}" "±${MBPS[strata-sd]}" "$(ratio "${MBPS[strata]}" "${MBPS[qemu]}")")")
        done
    done

    for tr in $FIO_TRANSPORTS; do
        declare -A IOPS=()
        for srv in qemu strata; do
            note "  fio randread 4k qd16 $IMAGE $tr $srv (${FIO_RUNTIME}s)"
            f="$OUT/fio-$IMAGE-$tr-$srv.json"
            fio --name="$srv-$IMAGE-$tr" --ioengine=nbd --uri="${URL[$srv-$tr]}" --rw=randread --bs=4k \
                --iodepth=16 --runtime="$FIO_RUNTIME" --time_based --output-format=json --output="$f" \
                >"$OUT/fio-$IMAGE-$tr-$srv.log" 2>&1 || { cat "$OUT/fio-$IMAGE-$tr-$srv.log" >&2; die "fio failed"; }
            IOPS[$srv]=$(jq -r '.jobs[0].read.iops | floor' "$f")
            [[ $(jq -r '.jobs[0].error' "$f") == 0 ]] || warnings+=("fio $IMAGE $tr $srv: error $(jq -r '.jobs[0].error' "$f")")
        done
        fio_rows+=("$(printf "$FIO_FMT" "$IMAGE" "$tr" "${IOPS[qemu]}" "${IOPS[strata]}" "$(ratio "${IOPS[strata]}" "${IOPS[qemu]}")")")
    done

    mem_rows+=("$(printf "$MEM_FMT" "stratad, 1 export ($IMAGE), peak during nbdcopy+fio (VmHWM)" "$(mib "$(rss_kb "$spid" VmHWM)")")")
    mem_rows+=("$(printf "$MEM_FMT" "stratad, 1 export ($IMAGE), after the load (RSS)" "$(mib "$(rss_kb "$spid")")")")
    mem_rows+=("$(printf "$MEM_FMT" "qemu-nbd, 1 export ($IMAGE), peak during the load (VmHWM; TCP process)" "$(mib "$(rss_kb "$qpid_tcp" VmHWM)")")")
    mem_rows+=("$(printf "$MEM_FMT" "qemu-nbd, 1 export ($IMAGE), peak during the load (VmHWM; Unix process)" "$(mib "$(rss_kb "$qpid_unix" VmHWM)")")")
    for p in "$spid" "$qpid_tcp" "$qpid_unix"; do stop_pid "$p"; done
    rm -f "$WORK/strata.sock" "$WORK/qemu.sock"
done

# ---- 3: FUSE sequential read ----
DROP='sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true'
if (sync; echo 3 >/proc/sys/vm/drop_caches) 2>/dev/null; then
    drop_note="page cache dropped before each run"
else
    drop_note="page cache NOT dropped (not root): FUSE reads after the first may come from the kernel's page cache"
    warnings+=("$drop_note")
fi
[[ -n $FUSERMOUNT ]] || warnings+=("no fusermount3/fusermount: FUSE rows skipped")
[[ -e /dev/fuse ]] || { warnings+=("no /dev/fuse: FUSE rows skipped"); FUSERMOUNT=; }
# wait_file FILE PID: until FILE shows the image's size (60 s at most).
wait_file() {
    local i
    for i in $(seq 600); do
        [[ $(stat -c %s "$1" 2>/dev/null) == "$size" ]] && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}
for IMAGE in $FUSE_IMAGES; do
    [[ -n $FUSERMOUNT ]] || break
    img=${IMG[$IMAGE]}
    note "FUSE $IMAGE ..."
    mkdir -p "$WORK/mnt-strata" "$WORK/mnt-nbdfuse"
    MOUNTS+=("$WORK/mnt-strata" "$WORK/mnt-nbdfuse")
    start "fuse-$IMAGE-stratad" "$STRATAD" -r --export "name=disk,file=$img,format=$IMAGE" --fuse "$WORK/mnt-strata"
    fpid=$SPID
    start "fuse-$IMAGE-qemu-nbd" qemu-nbd -r -t -e 4 -f "$IMAGE" -k "$WORK/fq.sock" "$img"
    fqpid=$SPID
    wait_nbd "nbd+unix:///?socket=$WORK/fq.sock" "$fqpid"
    start "fuse-$IMAGE-nbdfuse" nbdfuse -r "$WORK/mnt-nbdfuse/disk" --unix "$WORK/fq.sock"
    nfpid=$SPID
    ok=1
    wait_file "$WORK/mnt-strata/disk" "$fpid" || { warnings+=("stratad --fuse: $WORK/mnt-strata/disk did not appear (see $OUT/fuse-$IMAGE-stratad.log)"); ok=0; }
    wait_file "$WORK/mnt-nbdfuse/disk" "$nfpid" || { warnings+=("nbdfuse: file did not appear (see $OUT/fuse-$IMAGE-nbdfuse.log)"); ok=0; }
    if ((ok)); then
        declare -A FM=()
        for srv in nbdfuse strata; do
            note "  dd $IMAGE via $srv"
            read -r m s < <(RUNS=$FUSE_RUNS WARMUP=0 hf "fuse-$IMAGE-$srv" "$DROP" \
                "dd if=$(printf '%q' "$WORK/mnt-$srv/disk") of=/dev/null bs=1M")
            FM[$srv]=$(awk -v b="$size" -v m="$m" 'BEGIN { printf "%.0f", b / m / 1e6 }')
            FM[$srv-s]=$m
        done
        fuse_rows+=("$(printf "$FUSE_FMT" "$IMAGE" "nbdfuse -r over qemu-nbd -r (Unix socket)" "$(fmtnum "${FM[nbdfuse-s]}" 2)" "${FM[nbdfuse]}" "")")
        fuse_rows+=("$(printf "$FUSE_FMT" "$IMAGE" "stratad --fuse" "$(fmtnum "${FM[strata-s]}" 2)" "${FM[strata]}" "$(ratio "${FM[strata]}" "${FM[nbdfuse]}")")")
    fi
    "$FUSERMOUNT" -u "$WORK/mnt-nbdfuse" 2>/dev/null || true
    for p in "$nfpid" "$fpid" "$fqpid"; do stop_pid "$p"; done
done

# ---- 4 (rest): 100 exports idle ----
note "memory: $NBD_EXPORTS exports ..."
mkdir -p "$WORK/small"
qemu-img create -q -f qcow2 "$WORK/small/e0.qcow2" 64M
qemu-io -f qcow2 -c 'write -q -P 0x5a 0 1M' "$WORK/small/e0.qcow2" >/dev/null 2>&1 || true
exports=()
for ((i = 0; i < NBD_EXPORTS; i++)); do
    ((i == 0)) || cp "$WORK/small/e0.qcow2" "$WORK/small/e$i.qcow2"
    exports+=(--export "name=e$i,file=$WORK/small/e$i.qcow2,format=qcow2")
done
start mem-stratad "$STRATAD" -r -t -e 4 -k "$WORK/mem.sock" "${exports[@]}"
mpid=$SPID
start mem-qemu-nbd qemu-nbd -r -t -e 4 -f qcow2 -k "$WORK/memq.sock" "$WORK/small/e0.qcow2"
mqpid=$SPID
wait_nbd "nbd+unix:///e$((NBD_EXPORTS - 1))?socket=$WORK/mem.sock" "$mpid"
wait_nbd "nbd+unix:///?socket=$WORK/memq.sock" "$mqpid"
listed=$(nbdinfo --list --json "nbd+unix:///?socket=$WORK/mem.sock" | jq '.exports | length')
[[ $listed == "$NBD_EXPORTS" ]] || warnings+=("stratad lists $listed exports, expected $NBD_EXPORTS")
sleep 2
mem_rows+=("$(printf "$MEM_FMT" "stratad, $NBD_EXPORTS exports (64M qcow2 each), idle (RSS)" "$(mib "$(rss_kb "$mpid")")")")
mem_rows+=("$(printf "$MEM_FMT" "qemu-nbd, 1 export (64M qcow2), idle (RSS)" "$(mib "$(rss_kb "$mqpid")")")")
mem_rows+=("$(printf "$MEM_FMT" "  (x$NBD_EXPORTS qemu-nbd processes would be, naively)" \
    "$(awk -v k="$(rss_kb "$mqpid")" -v n="$NBD_EXPORTS" 'BEGIN { printf "%.0f", k * n / 1024 }')")")
stop_pid "$mpid"; stop_pid "$mqpid"

{
    echo
    echo "== nbd: stratad vs qemu-nbd $(qemu-nbd --version | head -1 | awk '{ print $2 }'), $(numfmt --to=iec "$size") images (random data)," \
        "servers -r -t -e 4 =="
    machine_line
    echo "load average (1/5/15 min) at start: $load_start; at end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    echo "-- nbdcopy URL null: ($RUNS runs, $WARMUP warm-up; MB/s = size / mean wall) --"
    printf "$COPY_FMT" image trans conns qemu-nbd "±" stratad "±" ratio
    printf '%s\n' "${copy_rows[@]}"
    echo
    echo "-- fio nbd engine, randread bs=4k iodepth=16, ${FIO_RUNTIME}s, 1 connection --"
    printf "$FIO_FMT" image trans "qemu IOPS" "strata IOPS" ratio
    printf '%s\n' "${fio_rows[@]}"
    echo
    echo "-- FUSE: dd if=MOUNT/disk of=/dev/null bs=1M ($FUSE_RUNS runs; $drop_note) --"
    printf "$FUSE_FMT" image tool wall_s MB/s ratio
    printf '%s\n' "${fuse_rows[@]}"
    echo
    echo "-- memory (MiB) --"
    printf '%s\n' "${mem_rows[@]}"
    echo
    echo "ratio = stratad / qemu-nbd (FUSE: stratad --fuse / nbdfuse). Goal (issue 3): nbdcopy MB/s and fio IOPS >= 1.00."
    for w in "${warnings[@]}"; do echo "WARNING: $w"; done
    echo "raw results: $OUT"
} | tee "$OUT/table.txt"
