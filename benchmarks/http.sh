#!/usr/bin/env bash
# HTTP/1.1 keep-alive "Hello, World!" under wrk: hyper on gorun sockets
# (gorun::block_on, one goroutine per connection), hyper on Tokio, Go's
# net/http and gorun's raw server (hand-written, blocking calls), at each
# connection count; prints requests/s and p99 latency side by side.
#
# Needs wrk: on Debian/Ubuntu `apt-get install wrk`. Go as for run.sh.
#
# Environment:
#   REPS=3              runs per server and connection count
#   DURATION=10         seconds of each measured run (after a 2 s warm-up)
#   CONNS="100 1000"    connection counts
#   WRK_THREADS=2       wrk's threads
#   SERVERS="gorun-hyper tokio-hyper go gorun-raw"
#   BENCH_WORKERS       worker threads of every server (default: CPUs)
#   GO=/path/to/go      the Go toolchain
set -u
cd "$(dirname "$0")"

REPS=${REPS:-3}
DURATION=${DURATION:-10}
CONNS=${CONNS:-"100 1000"}
WRK_THREADS=${WRK_THREADS:-2}
SERVERS=${SERVERS:-"gorun-hyper tokio-hyper go gorun-raw"}
log() { echo "http.sh: $*" >&2; }

if ! command -v wrk >/dev/null 2>&1; then
    log "wrk not found: install it (Debian/Ubuntu: apt-get install wrk)"
    exit 1
fi
# 1,000 connections need 1,000 descriptors on each side.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

mkdir -p bin results
stamp=$(date +%Y%m%d-%H%M%S)
raw="results/http-raw-$stamp.txt"
buildlog="results/http-build-$stamp.log"
: > "$raw"

declare -A BIN
log "building (cargo output in $buildlog)"
cargo build --release -p bench-gorun --features http --bins > "$buildlog" 2>&1 &&
    BIN[gorun-hyper]=target/release/http-gorun-hyper &&
    BIN[gorun-raw]=target/release/http-gorun-raw
cargo build --release -p bench-tokio --bins >> "$buildlog" 2>&1 &&
    BIN[tokio-hyper]=target/release/http-tokio-hyper
source ./find_go.sh
GO_BIN=$(find_go)
case "$GO_BIN" in ""|/*) ;; *) GO_BIN="$PWD/$GO_BIN" ;; esac
if [ -n "$GO_BIN" ] && (cd go && CGO_ENABLED=0 "$GO_BIN" build -o ../bin/http-go ./http) >> "$buildlog" 2>&1; then
    BIN[go]=bin/http-go
fi

out=$(mktemp)
trap 'rm -f "$out"' EXIT
port=18100

# run_one SERVER CONNS: one measured wrk run against a fresh server process.
run_one() {
    local s=$1 c=$2 pid line
    local prefix="server=$s conns=$c"
    if [ -z "${BIN[$s]:-}" ]; then
        echo "$prefix rps=n/a reason=not built (see $buildlog)" >> "$raw"
        return
    fi
    port=$((port + 1))
    "${BIN[$s]}" "$port" > "$out" 2>&1 &
    pid=$!
    for _ in $(seq 100); do grep -q ready "$out" && break; sleep 0.05; done
    wrk -t"$WRK_THREADS" -c"$c" -d2s "http://127.0.0.1:$port/" > /dev/null 2>&1
    line=$(wrk -t"$WRK_THREADS" -c"$c" -d"${DURATION}s" --latency "http://127.0.0.1:$port/" 2>&1 |
        awk -v p="$prefix" '
            /Requests\/sec:/ { rps = $2 }
            /^ +99%/ { v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
                       ms = (u == "us") ? v / 1000 : (u == "s") ? v * 1000 : v; p99 = ms }
            /Socket errors/ { err = $0; sub(/^ +Socket errors: /, "", err); gsub(/, /, ",", err); gsub(/ /, ":", err) }
            /Non-2xx/ { bad = $NF }
            END { printf "%s rps=%s p99_ms=%s errors=%s non2xx=%s\n", p, (rps ? rps : "n/a"),
                         (p99 ? p99 : "n/a"), (err ? err : "none"), (bad ? bad : 0) }')
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    echo "$line" >> "$raw"
    log "rep $rep: $line"
}

for rep in $(seq 1 "$REPS"); do
    for c in $CONNS; do
        for s in $SERVERS; do
            run_one "$s" "$c"
        done
    done
done

machine="$(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), Linux $(uname -r)"
table="results/http-table-$stamp.md"
python3 - "$raw" "$machine" "$REPS" "$DURATION" "$WRK_THREADS" <<'PY' | tee "$table"
import re, statistics, sys
raw, machine, reps, dur, threads = sys.argv[1:]
runs = {}
for line in open(raw):
    f = dict(kv.split("=", 1) for kv in re.findall(r"\S+=\S+", line))
    try:
        runs.setdefault((f["server"], int(f["conns"])), []).append((float(f["rps"]), float(f["p99_ms"])))
    except (KeyError, ValueError):
        runs.setdefault((f.get("server"), int(f.get("conns", 0))), [])
print(f"HTTP/1.1 keep-alive hello, wrk -t{threads}, {dur} s per run, {reps} runs; {machine}")
print("median (min-max) of the runs; ratio = median req/s over hyper on Tokio's\n")
print("| server | conns | req/s | p99 ms | vs tokio-hyper |")
print("|---|---|---|---|---|")
for (s, c), rs in sorted(runs.items(), key=lambda k: (k[0][1], k[0][0])):
    if not rs:
        print(f"| {s} | {c} | n/a | n/a | |")
        continue
    rps = [r for r, _ in rs]; p99 = [p for _, p in rs]
    base = [r for r, _ in runs.get(("tokio-hyper", c), [])]
    ratio = f"{statistics.median(rps) / statistics.median(base):.2f}" if base else ""
    print(f"| {s} | {c} | {statistics.median(rps):,.0f} ({min(rps):,.0f}-{max(rps):,.0f}) "
          f"| {statistics.median(p99):.2f} ({min(p99):.2f}-{max(p99):.2f}) | {ratio} |")
PY
log "raw results: $raw; table: $table"
