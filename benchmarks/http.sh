#!/usr/bin/env bash
# HTTP/1.1 keep-alive "Hello, World!" under wrk: hyper on gorun sockets
# (gorun::block_on, one goroutine per connection), hyper on Tokio, Go's
# net/http, and the raw servers (no HTTP library, hand parsing, one goroutine,
# task or coroutine per connection) on gorun, Go (net + bufio), Tokio and may,
# at each connection count; prints requests/s, p50 and p99 latency side by side.
#
# Needs wrk: on Debian/Ubuntu `apt-get install wrk`. Go as for run.sh.
#
# Environment:
#   REPS=3              runs per server and connection count
#   DURATION=10         seconds of each measured run (after a 2 s warm-up)
#   CONNS="100 1000 5000"  connection counts (the script raises `ulimit -n`)
#   WRK_THREADS=2       wrk's threads
#   SERVERS="gorun-raw go-raw tokio-raw may-raw go gorun-hyper tokio-hyper"
#   BENCH_WORKERS       worker threads of every server (default: CPUs)
#   GO=/path/to/go      the Go toolchain
set -u
cd "$(dirname "$0")"

REPS=${REPS:-3}
DURATION=${DURATION:-10}
CONNS=${CONNS:-"100 1000 5000"}
WRK_THREADS=${WRK_THREADS:-2}
SERVERS=${SERVERS:-"gorun-raw go-raw tokio-raw may-raw go gorun-hyper tokio-hyper"}
log() { echo "http.sh: $*" >&2; }

if ! command -v wrk >/dev/null 2>&1; then
    log "wrk not found: install it (Debian/Ubuntu: apt-get install wrk)"
    exit 1
fi
# N connections need N descriptors in wrk and in the server (which inherits the limit).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
for c in $CONNS; do
    if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((c + 64)) ]; then
        log "ulimit -n is $(ulimit -n) (hard limit $(ulimit -Hn)): too few descriptors for $c connections"
        exit 1
    fi
done

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
    BIN[tokio-hyper]=target/release/http-tokio-hyper &&
    BIN[tokio-raw]=target/release/http-tokio-raw
cargo build --release -p bench-may --bins >> "$buildlog" 2>&1 &&
    BIN[may-raw]=target/release/http-may-raw
source ./find_go.sh
GO_BIN=$(find_go)
case "$GO_BIN" in ""|/*) ;; *) GO_BIN="$PWD/$GO_BIN" ;; esac
if [ -n "$GO_BIN" ] && (cd go && CGO_ENABLED=0 "$GO_BIN" build -o ../bin/http-go ./http &&
    CGO_ENABLED=0 "$GO_BIN" build -o ../bin/http-go-raw ./httpraw) >> "$buildlog" 2>&1; then
    BIN[go]=bin/http-go
    BIN[go-raw]=bin/http-go-raw
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
            function ms(v,  u) { u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
                                 return (u == "us") ? v / 1000 : (u == "s") ? v * 1000 : v }
            /^ +50%/ { p50 = ms($2) }
            /^ +99%/ { p99 = ms($2) }
            /Socket errors/ { err = $0; sub(/^ +Socket errors: /, "", err); gsub(/, /, ",", err); gsub(/ /, ":", err) }
            /Non-2xx/ { bad = $NF }
            END { printf "%s rps=%s p50_ms=%s p99_ms=%s errors=%s non2xx=%s\n", p, (rps ? rps : "n/a"),
                         (p50 ? p50 : "n/a"), (p99 ? p99 : "n/a"), (err ? err : "none"), (bad ? bad : 0) }')
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
runs = {}   # (server, conns) -> [(rps, p50, p99)], in repetition order
for line in open(raw):
    f = dict(kv.split("=", 1) for kv in re.findall(r"\S+=\S+", line))
    key = (f.get("server"), int(f.get("conns", 0)))
    try:
        runs.setdefault(key, []).append((float(f["rps"]), float(f["p50_ms"]), float(f["p99_ms"])))
    except (KeyError, ValueError):
        runs.setdefault(key, [])
med = statistics.median
def cell(xs, fmt):
    return f"{fmt.format(med(xs))} ({fmt.format(min(xs))}-{fmt.format(max(xs))})"
print(f"HTTP/1.1 keep-alive hello, wrk -t{threads}, {dur} s per run, {reps} runs; {machine}")
print("median (min-max) of the runs; ratios = median req/s over go-raw's and tokio-raw's\n")
print("| server | conns | req/s | p50 ms | p99 ms | vs go-raw | vs tokio-raw |")
print("|---|---|---|---|---|---|---|")
for (s, c), rs in sorted(runs.items(), key=lambda k: (k[0][1], k[0][0])):
    if not rs:
        print(f"| {s} | {c} | n/a | n/a | n/a | | |")
        continue
    cols = [cell([r[k] for r in rs], fmt) for k, fmt in ((0, "{:,.0f}"), (1, "{:.2f}"), (2, "{:.2f}"))]
    ratios = []
    for b in ("go-raw", "tokio-raw"):
        base = [r[0] for r in runs.get((b, c), [])]
        ratios.append(f"{med(r[0] for r in rs) / med(base):.2f}" if base else "")
    print(f"| {s} | {c} | " + " | ".join(cols + ratios) + " |")
# Issue 16's targets, repetition by repetition (each pair measured back to back).
conns = sorted({c for _, c in runs})
print("\ngorun-raw against go-raw and tokio-raw, per repetition (min-max over the repetitions):\n")
print("| conns | req/s vs go-raw (target >= 1.5) | p99 vs go-raw (target <= 1.0) | req/s vs tokio-raw (target >= 1.0) |")
print("|---|---|---|---|")
for c in conns:
    g = runs.get(("gorun-raw", c), [])
    out = []
    for b, k, better in (("go-raw", 0, None), ("go-raw", 2, None), ("tokio-raw", 0, None)):
        pairs = list(zip(g, runs.get((b, c), [])))
        rs = [x[k] / y[k] for x, y in pairs if y[k]]
        out.append(f"{min(rs):.2f}-{max(rs):.2f}" if rs else "n/a")
    print(f"| {c} | " + " | ".join(out) + " |")
PY
log "raw results: $raw; table: $table"
