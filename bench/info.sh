#!/usr/bin/env bash
# bench/info.sh — wall time of `info`, strata-img vs qemu-img: mostly process start-up.
#
# What it measures (hyperfine, 3 warm-up runs): the whole process of
#   qemu-img info IMG                                 vs  bin/strata-img info IMG
#   qemu-img info --output=json --backing-chain IMG   vs  bin/strata-img info --output=json --backing-chain IMG
# where IMG is a 16 GiB qcow2 overlay (a few writes) over a 16 GiB qcow2 base. For a CLI on the
# JVM this is nearly all start-up, so it also times the same CLI as a plain
# `java -cp ... dev.strata.cli.StrataImg` with no JVM flags: the difference between that row and
# the bin/strata-img row is the effect of the launcher's flags (CDS archive, JIT/GC options —
# whatever bin/strata-img does; the java command line it runs is printed when it can be traced).
# When the launcher knows STRATA_CDS=0 (run without its AppCDS archive), that is timed as well,
# which splits the effect into "CDS archive" and "other flags".
# `--version` is timed too, as pure start-up. Info outputs are diffed against qemu-img's. The issue asks for this wall time to be reported
# (no target figure).
#
# Until bin/strata-img exists, the plain java row is the only strata row, and the script says so.
#
# Run:   bench/info.sh
# Knobs: RUNS (default: hyperfine's choice), WARMUP (default 3), BENCH_DIR, BENCH_KEEP,
#        BENCH_VERBOSE, BENCH_REBUILD (see lib.sh).
# Needs: qemu-img, qemu-io, hyperfine, jq, java 17.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

WARMUP=${WARMUP:-3}

require_tools qemu-img qemu-io hyperfine jq java
setup_dirs info

# Strata commands to time: label -> command line.
labels=()
declare -A CMD
if resolve_strata_img; then
    labels+=("strata-img ($STRATA_IMG_KIND)")
    CMD["strata-img ($STRATA_IMG_KIND)"]=$STRATA_IMG
    if [[ $STRATA_IMG_KIND == launcher ]]; then
        if stale "$CLI_JAR" "$ROOT/engine/src/main" "$ROOT/cli/src/main" "$ROOT/cli/pom.xml"; then
            build_or_reuse "$CLI_JAR" engine,cli || true
        fi
        if grep -q STRATA_CDS "$ROOT/bin/strata-img"; then
            labels+=("strata-img, STRATA_CDS=0 (flags, no CDS)")
            CMD["strata-img, STRATA_CDS=0 (flags, no CDS)"]="STRATA_CDS=0 $STRATA_IMG"
        fi
        if [[ -f $CLI_JAR ]]; then
            labels+=("java -cp ... StrataImg (no JVM flags)")
            CMD["java -cp ... StrataImg (no JVM flags)"]="java -cp $(printf '%q' "$CLI_CP") dev.strata.cli.StrataImg"
        fi
    fi
fi

note "making images in $WORK ..."
qemu-img create -q -f qcow2 "$WORK/base.qcow2" 16G
qemu-io -f qcow2 -c 'write -q -P 0x11 0 1M' -c 'write -q -P 0x22 8G 64k' "$WORK/base.qcow2" >/dev/null
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "$WORK/top.qcow2"
qemu-io -f qcow2 -c 'write -q -P 0x33 512k 1M' "$WORK/top.qcow2" >/dev/null
# Relative names, run from $WORK: the human output then has no machine-specific paths.
cd "$WORK"

launch_line=
# Show the java command line the launcher runs, when it is a shell script bash -x can trace.
if [[ ${STRATA_IMG_KIND:-} == launcher ]] && head -1 "$ROOT/bin/strata-img" | grep -q '^#!.*sh'; then
    "$ROOT/bin/strata-img" --version >/dev/null 2>&1 || true   # a first run may build or dump a CDS archive
    launch=$(bash -x "$ROOT/bin/strata-img" --version 2>&1 >/dev/null | grep -E '^\++ (exec )?[^ ]*java ' | tail -1 || true)
    if [[ -n $launch ]]; then launch_line="bin/strata-img runs: ${launch#+* }"; fi
fi

# "--version" is start-up alone (its output differs from qemu-img's by design: not diffed).
cases=("--version" "info top.qcow2" "info --output=json --backing-chain top.qcow2")
ROW_FMT='%-46s %-44s %9s %8s %8s'
rows=()
checks=()
failed_note=0
n=0
for c in "${cases[@]}"; do
    n=$((n + 1))
    note "timing '$c' ..."
    qemu-img $c >"$OUT/qemu-$n.out"
    read -r qm qs < <(hf "qemu-$n" "" "qemu-img $c")
    rows+=("$(printf "$ROW_FMT" "$c" "qemu-img" "$(fmtnum "$qm" 3)" "$(fmtnum "$qs" 3)" 1.00)")
    if [[ ${#labels[@]} -eq 0 ]]; then
        rows+=("$(printf "$ROW_FMT" "$c" "strata-img (no CLI yet)" - - n/a)")
        continue
    fi
    k=0
    for l in "${labels[@]}"; do
        k=$((k + 1))
        ignore=0
        if ! eval "${CMD[$l]} $c" >"$OUT/strata-$n-$k.out" 2>"$OUT/strata-$n-$k.err"; then
            checks+=("'$c' with $l: failed: $(head -1 "$OUT/strata-$n-$k.err")")
            if [[ $c != --version ]]; then
                rows+=("$(printf "$ROW_FMT" "$c" "$l" failed - n/a)")
                continue
            fi
            ignore=1   # still start-up: time it anyway
        fi
        if [[ $c == --version ]]; then
            :
        elif diff -q "$OUT/qemu-$n.out" "$OUT/strata-$n-$k.out" >/dev/null; then
            checks+=("'$c' with $l: output identical to qemu-img's")
        else
            diff "$OUT/qemu-$n.out" "$OUT/strata-$n-$k.out" >"$OUT/info-$n-$k.diff" || true
            checks+=("'$c' with $l: output DIFFERS from qemu-img's (see $OUT/info-$n-$k.diff)")
        fi
        read -r sm ss < <(HF_IGNORE_FAILURE=$ignore hf "strata-$n-$k" "" "${CMD[$l]} $c")
        mark=
        ((ignore)) && { mark=" *"; failed_note=1; }
        rows+=("$(printf "$ROW_FMT" "$c" "$l$mark" "$(fmtnum "$sm" 3)" "$(fmtnum "$ss" 3)" \
            "$(ratio "$sm" "$qm")")")
    done
done

{
    echo
    echo "== info: wall time of one info call on a 16 GiB qcow2 overlay over a 16 GiB qcow2 base (warm-up $WARMUP) =="
    machine_line
    if [[ -n $launch_line ]]; then echo "$launch_line"; fi
    printf "$ROW_FMT\n" command tool wall_s "±" ratio
    printf '%s\n' "${rows[@]}"
    echo "ratio = strata / qemu-img mean wall time (JVM start-up included); the issue asks for this figure to be reported"
    ((failed_note)) && echo "* exited non-zero (not implemented yet?): timed anyway, as start-up time"
    for c in "${checks[@]}"; do echo "check: $c"; done
    echo "raw results: $OUT"
} | tee "$OUT/table.txt"
