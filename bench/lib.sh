# Shared helpers for the bench/*.sh scripts. Sourced, never run.
#
# Provides: ROOT, WORK (per-script work dir under $BENCH_DIR, removed on exit unless
# BENCH_KEEP=1), OUT (results kept under bench/out/, git-ignored), build helpers for the bench
# and CLI jars, the strata-img command to time, a hyperfine wrapper that records JSON, and
# small table printers.
#
# Environment knobs common to all scripts:
#   BENCH_DIR      where images are made (default /dev/shm/strata-bench, a tmpfs)
#   BENCH_KEEP=1   keep the work dir (images) after the run
#   BENCH_REBUILD=1  rebuild the jars even when they look up to date
#   BENCH_VERBOSE=1  show hyperfine's own output
#   RUNS, WARMUP   hyperfine runs / warm-up runs (each script has its own defaults)
#   STRATA_IMG_CMD   command to time as strata-img (default: bin/strata-img, else java -cp)

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/dev/shm/strata-bench}
VERSION=0.1.0-SNAPSHOT
BENCH_CP="$ROOT/bench/target/strata-bench-$VERSION.jar:$ROOT/bench/target/lib/*"
CLI_JAR="$ROOT/cli/target/strata-cli-$VERSION.jar"
CLI_CP="$CLI_JAR:$ROOT/cli/target/lib/*"

note() { printf '%s\n' "$*" >&2; }
die() { printf '%s: %s\n' "${SCRIPT_NAME:-bench}" "$*" >&2; exit 1; }

require_tools() {
    local t
    for t in "$@"; do
        command -v "$t" >/dev/null 2>&1 || die "needs '$t' on PATH"
    done
}

# setup_dirs NAME: creates $WORK (images, removed on exit) and $OUT (results, kept).
setup_dirs() {
    SCRIPT_NAME=$1
    WORK="$BENCH_DIR/$1"
    rm -rf "$WORK"
    mkdir -p "$WORK"
    OUT="$ROOT/bench/out/$1-$(date +%Y%m%d-%H%M%S)"
    mkdir -p "$OUT"
    trap cleanup_work EXIT
}

cleanup_work() {
    if [[ ${BENCH_KEEP:-0} != 1 && -n ${WORK:-} ]]; then
        rm -rf "$WORK"
        rmdir "$BENCH_DIR" 2>/dev/null || true
    fi
}

# stale JAR DIR...: true when JAR is missing or a file under DIR... (or a pom) is newer.
stale() {
    local jar=$1
    shift
    [[ ${BENCH_REBUILD:-0} == 1 || ! -f $jar ]] && return 0
    [[ -n $(find "$@" "$ROOT/pom.xml" -newer "$jar" -type f -print -quit 2>/dev/null) ]]
}

# mvn_install [MAVEN ARGS...]: ./mvnw install -DskipTests, offline first, again with network
# only when something could not be resolved offline. Output goes to $BUILD_LOG.
BUILD_LOG=${TMPDIR:-/tmp}/strata-bench-build.$$.log
mvn_install() {
    if (cd "$ROOT" && ./mvnw -q -B -o install -DskipTests "$@") >"$BUILD_LOG" 2>&1; then
        return 0
    fi
    if grep -qE 'offline|Could not resolve|could not be resolved|Cannot access' "$BUILD_LOG"; then
        (cd "$ROOT" && ./mvnw -q -B install -DskipTests "$@") >"$BUILD_LOG" 2>&1
    else
        return 1
    fi
}

# build_or_reuse JAR MODULES: builds the reactor (then only MODULES with -am when other modules
# do not compile right now); when both fail but JAR exists, warns and keeps the old jars.
build_or_reuse() {
    local jar=$1 modules=$2
    note "building (./mvnw install -DskipTests) ..."
    if mvn_install; then
        rm -f "$BUILD_LOG"; return 0
    fi
    note "  full build failed; building $modules only"
    if mvn_install -pl "$modules" -am; then
        rm -f "$BUILD_LOG"; return 0
    fi
    note "  build failed:"
    grep -m 5 '^\[ERROR\] /' "$BUILD_LOG" >&2 || tail -n 20 "$BUILD_LOG" >&2
    rm -f "$BUILD_LOG"
    if [[ -f $jar ]]; then
        note "  WARNING: using the jars of an earlier build ($(date -r "$jar" '+%F %T')); figures reflect that code"
        return 0
    fi
    return 1
}

# ensure_bench_jar: builds the bench module (and the engine) when missing or stale.
ensure_bench_jar() {
    if stale "$ROOT/bench/target/strata-bench-$VERSION.jar" "$ROOT/engine/src/main" "$ROOT/engine/pom.xml" \
            "$ROOT/bench/src/main" "$ROOT/bench/pom.xml"; then
        build_or_reuse "$ROOT/bench/target/strata-bench-$VERSION.jar" engine,bench \
            || die "could not build the bench module"
    fi
}

# resolve_strata_img: sets STRATA_IMG (a command line string for hyperfine and eval) and
# STRATA_IMG_KIND ("launcher" or "java -cp"). Returns 1 when no CLI can be run yet.
# STRATA_IMG_CMD, when set, is used as is (another build, extra JVM options, a sanity check).
resolve_strata_img() {
    if [[ -n ${STRATA_IMG_CMD:-} ]]; then
        STRATA_IMG=$STRATA_IMG_CMD
        STRATA_IMG_KIND=STRATA_IMG_CMD
        return 0
    fi
    if [[ -x $ROOT/bin/strata-img ]]; then
        STRATA_IMG=$(printf '%q' "$ROOT/bin/strata-img")
        STRATA_IMG_KIND=launcher
        return 0
    fi
    note "NOTE: $ROOT/bin/strata-img does not exist yet; timing 'java -cp cli/target/... dev.strata.cli.StrataImg' instead (no launcher flags)"
    if stale "$CLI_JAR" "$ROOT/engine/src/main" "$ROOT/cli/src/main" "$ROOT/cli/pom.xml"; then
        build_or_reuse "$CLI_JAR" engine,cli || { note "the CLI does not build yet"; return 1; }
    fi
    [[ -f $CLI_JAR ]] || return 1
    STRATA_IMG="java -cp $(printf '%q' "$CLI_CP") dev.strata.cli.StrataImg"
    STRATA_IMG_KIND="java -cp"
}

# hf ID PREPARE COMMAND: times COMMAND (a shell command line) with hyperfine, PREPARE (may be
# empty) run before each timing. Saves $OUT/ID.json and prints "mean stddev" in seconds.
# HF_IGNORE_FAILURE=1 times a command even when it exits non-zero.
hf() {
    local id=$1 prepare=$2 cmd=$3
    local args=(--style basic --warmup "${WARMUP:-1}" --export-json "$OUT/$id.json" -n "$id")
    [[ -n ${RUNS:-} ]] && args+=(--runs "$RUNS")
    [[ -n $prepare ]] && args+=(--prepare "$prepare")
    [[ ${HF_IGNORE_FAILURE:-0} == 1 ]] && args+=(--ignore-failure)
    if [[ ${BENCH_VERBOSE:-0} == 1 ]]; then
        hyperfine "${args[@]}" "$cmd" >&2
    else
        hyperfine "${args[@]}" "$cmd" >"$OUT/$id.log" 2>&1 \
            || { cat "$OUT/$id.log" >&2; die "hyperfine failed for: $cmd"; }
    fi
    jq -r '.results[0] | "\(.mean) \(.stddev // 0)"' "$OUT/$id.json"
}

# median_of JSON...: the median wall time (s) over every run recorded in the hyperfine JSON files.
# On this kind of VM, either tool now and then spends 2-5x its usual system time on one run (the
# kernel touching memory the host had taken back), so the mean moves with a few runs; the scripts
# that compare the tools print the ratio of medians beside the ratio of means.
median_of() {
    jq -s '[.[].results[0].times[]] | sort
        | if length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end' "$@"
}

# mbps BYTES SECONDS: throughput in MB/s (10^6), no decimals.
mbps() {
    awk -v s="$1" -v t="$2" 'BEGIN { printf "%.0f", s / t / 1e6 }'
}

# ratio A B: A/B with two decimals, "-" when either is missing or B is 0.
ratio() {
    awk -v a="${1:-}" -v b="${2:-}" 'BEGIN { if (a == "" || b == "" || a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2f\n", a / b }'
}

# fmtnum NUMBER DECIMALS
fmtnum() {
    awk -v x="$1" -v d="$2" 'BEGIN { if (x == "" || x == "-") print "-"; else printf "%.*f\n", d, x }'
}

# Machine description for the header of each table, with the load average: other work on the
# machine makes every figure noisy, so a busy machine is called out.
machine_line() {
    local load
    load=$(cut -d' ' -f1 /proc/loadavg)
    printf 'machine: %s cores, %s, %s, java %s, hyperfine %s, load average %s\n' "$(nproc)" \
        "$(awk '/MemTotal/ { printf "%.0f GiB RAM", $2 / 1048576 }' /proc/meminfo)" \
        "$(qemu-img --version | head -1)" \
        "$(java -version 2>&1 | awk -F'"' 'NR == 1 { print $2 }')" \
        "$(hyperfine --version | awk '{ print $2 }')" "$load"
    if awk -v l="$load" -v n="$(nproc)" 'BEGIN { exit !(l > n) }'; then
        echo "WARNING: load average $load > $(nproc) cores: other processes compete for the CPU, figures are noisy"
    fi
}
