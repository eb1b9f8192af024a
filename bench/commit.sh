#!/usr/bin/env bash
# bench/commit.sh — commit throughput, strata-img vs qemu-img, side by side in one run.
#
# What it measures (whole process, JVM start-up included for strata-img): `commit` of a
# COMMIT_SIZE (default 1 GiB) qcow2 overlay, half allocated (1 MiB of data every other MiB,
# qemu-io pattern writes), into its qcow2 base (a quarter allocated, other positions), the
# overlay emptied afterwards (qemu-img's default). Before every timed run both images are copied
# afresh from pristine ones (hyperfine --prepare), so each run commits the same chain.
# Throughput = bytes committed (the overlay's allocated half) / mean wall time (and, on a line of
# its own, / median wall time, see median_of in lib.sh); ratio = strata MB/s /
# qemu MB/s (goal >= 1.00, issue 5). One strata-img result is checked: the base's guest view
# against qemu-img's result (`qemu-img compare`), `qemu-img check` of base and overlay.
#
# Rounds: with ROUNDS=n (default 1) the timing is done n times, each round timing qemu-img then
# strata-img (RUNS runs each), and the means are taken over every run of every round, so that a
# load that comes and goes on a shared machine does not fall on one tool only. The fastest run of
# each tool is printed too.
#
# Run:   bench/commit.sh
#        COMMIT_SIZE=256M RUNS=3 bench/commit.sh
#        COMMIT_SIZE=1G RUNS=3 ROUNDS=3 bench/commit.sh
# Knobs: COMMIT_SIZE (multiple of 2 MiB), RUNS (default 5, per round), ROUNDS (default 1),
#        WARMUP (default 1), BENCH_DIR, BENCH_KEEP, BENCH_VERBOSE, BENCH_REBUILD (see lib.sh).
# Needs: qemu-img, qemu-io, hyperfine, jq, java 17; ~4x COMMIT_SIZE free in BENCH_DIR.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

COMMIT_SIZE=${COMMIT_SIZE:-1G}
RUNS=${RUNS:-5}
ROUNDS=${ROUNDS:-1}
WARMUP=${WARMUP:-1}

require_tools qemu-img qemu-io hyperfine jq java
size=$(numfmt --from=iec "$COMMIT_SIZE")
(( size % (2 << 20) == 0 && size > 0 )) || die "COMMIT_SIZE must be a positive multiple of 2 MiB"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive number"
setup_dirs commit
resolve_strata_img || die "strata-img cannot run"

note "making a $COMMIT_SIZE chain in $WORK ..."
mib=$((size >> 20))
mkdir -p "$WORK/pristine" "$WORK/run"
qemu-img create -q -f qcow2 "$WORK/pristine/base.qcow2" "$size"
awk -v n="$mib" 'BEGIN { for (i = 1; i < n; i += 4) printf "write -q -P %d %dM 1M\n", i % 250 + 1, i }' \
    | qemu-io -f qcow2 "$WORK/pristine/base.qcow2" >/dev/null
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "$WORK/pristine/top.qcow2"
awk -v n="$mib" 'BEGIN { for (i = 0; i < n; i += 2) printf "write -q -P %d %dM 1M\n", i % 250 + 1, i }' \
    | qemu-io -f qcow2 "$WORK/pristine/top.qcow2" >/dev/null
committed=$(( (mib + 1) / 2 * 1048576 ))

p=$(printf '%q' "$WORK/pristine")
r=$(printf '%q' "$WORK/run")
prepare="cp --sparse=always $p/base.qcow2 $p/top.qcow2 $r/"
top="$r/top.qcow2"

# One checked run of each: the bases' guest views must be equal, both images must be clean.
eval "$prepare"
qemu-img commit -q "$WORK/run/top.qcow2"
mv "$WORK/run/base.qcow2" "$WORK/qemu-base.qcow2"
eval "$prepare"
check=ok
eval "$STRATA_IMG commit -q $top" || check=FAILED
if [[ $check == ok ]]; then
    qemu-img compare -q "$WORK/qemu-base.qcow2" "$WORK/run/base.qcow2" || check=DIFFERS
    qemu-img check -q "$WORK/run/base.qcow2" || check=CHECK
    qemu-img check -q "$WORK/run/top.qcow2" || check=CHECK
fi
rm -f "$WORK/qemu-base.qcow2"

machine_line | tee "$OUT/table.txt"
printf '%-8s %-10s %10s %10s %11s %8s %6s\n' case size committed qemu_MB/s strata_MB/s ratio check \
    | tee -a "$OUT/table.txt"
for ((round = 1; round <= ROUNDS; round++)); do
    hf "qemu-commit-$round" "$prepare" "qemu-img commit -q $top" >/dev/null
    hf "strata-commit-$round" "$prepare" "$STRATA_IMG commit -q $top" >/dev/null
done
# "mean min" of one tool over the run times of all its rounds
times_of() {
    jq -s '[.[].results[0].times[]]' "$OUT/$1"-commit-*.json \
        | jq -r '"\(add / length) \(min)"'
}
read -r qm qmin < <(times_of qemu)
read -r sm smin < <(times_of strata)
qmed=$(median_of "$OUT"/qemu-commit-*.json)
smed=$(median_of "$OUT"/strata-commit-*.json)
qr=$(mbps "$committed" "$qm")
sr=$(mbps "$committed" "$sm")
printf '%-8s %-10s %10s %10s %11s %8s %6s\n' commit "$COMMIT_SIZE" "$((committed >> 20))M" "$qr" "$sr" \
    "$(ratio "$sr" "$qr")" "$check" | tee -a "$OUT/table.txt"
printf 'from the medians: qemu %s MB/s, strata %s MB/s, ratio %s\n' "$(mbps "$committed" "$qmed")" \
    "$(mbps "$committed" "$smed")" "$(ratio "$(mbps "$committed" "$smed")" "$(mbps "$committed" "$qmed")")" \
    | tee -a "$OUT/table.txt"
printf 'wall over %d run(s) each: qemu-img mean %.3f s (median %.3f, fastest %.3f s), strata-img mean %.3f s (median %.3f, fastest %.3f s)\n' \
    "$((RUNS * ROUNDS))" "$qm" "$qmed" "$qmin" "$sm" "$smed" "$smin" | tee -a "$OUT/table.txt"
printf 'load average at the end: %s\n' "$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$OUT/table.txt"
note "results in $OUT"
