#!/usr/bin/env python3
"""Turns the raw result lines of run.sh into markdown tables.

Each input line is one run:
    workload=W runtime=R n=N ns_per_op=X check=C [key=value ...] [reason=free text]
`reason=` runs to the end of the line. Per workload (and per N for
park_memory) and runtime, the median over the runs is shown, then the ratios
gorun/peer (lower is better for gorun) and the issue's target vs Go.
"""
import argparse
import datetime
import re
import statistics
import sys

RUNTIMES = ["gorun", "go", "may", "tokio", "threads"]
PEERS = ["go", "may", "tokio", "threads"]
WORKLOADS = ["spawn", "park_memory", "wake_all", "skynet", "pingpong", "mpmc", "mutex",
             "yield", "select", "tcp_echo", "timers", "timer_lateness"]
# gorun/go ratio the issue asks for (park_memory: bytes per parked goroutine).
TARGETS = {"spawn": 0.5, "park_memory": 0.25, "skynet": 0.5, "pingpong": 0.25,
           "mpmc": 0.5, "mutex": 0.7, "yield": 0.2, "select": 0.5,
           "tcp_echo": 0.8, "timers": 0.5, "timer_lateness": 1.0,
           "wake_all": 1.0}
MPMC_VS_THREADS = 1.0  # mpmc: also no slower than crossbeam on threads


def timer_ms(i):
    """Same hash as common/src/lib.rs and go/main.go."""
    return ((i * 0x9E3779B97F4A7C15) % 2**64 >> 33) % 100 + 1


def expected_check(workload, n):
    tri = n * (n - 1) // 2
    return {
        "spawn": n, "park_memory": n, "wake_all": n, "skynet": tri, "pingpong": tri,
        "mpmc": tri, "mutex": n * 1000, "yield": 2 * n, "select": tri,
        "tcp_echo": n * 100 * 64,
        "timers": sum(timer_ms(i) for i in range(n)) if workload == "timers" else None,
        "timer_lateness": n * 5,
    }[workload]


def parse(line):
    line = line.strip()
    if not line.startswith("workload="):
        return None
    reason = None
    if " reason=" in line:
        line, reason = line.split(" reason=", 1)
    rec = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
    rec["reason"] = reason
    return rec


class Notes:
    """Footnotes, numbered in order of first use."""

    def __init__(self):
        self.items = []

    def ref(self, text):
        if text not in self.items:
            self.items.append(text)
        return f"[{self.items.index(text) + 1}]"


def clean(reason):
    """Drops machine-specific prefixes (cargo registry paths) from a reason."""
    return re.sub(r"/\S*?/registry/src/[^/]+/", "", reason)


def fmt(x):
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def fmt_ratio(r):
    """Three significant digits, so that 0.204 against a 0.2 target reads right."""
    if r is None:
        return "—"
    return f"{r:.3g}" if r < 10 else f"{r:.0f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("raw")
    ap.add_argument("--reps", default="?")
    ap.add_argument("--machine", default="")
    ap.add_argument("--go-version", default="")
    ap.add_argument("--gorun-features", default="none")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()

    runs = {}  # (workload, park N or None) -> runtime -> [records]
    for line in open(args.raw):
        rec = parse(line)
        if rec is None:
            continue
        w = rec["workload"]
        key = (w, int(rec["n"]) if w == "park_memory" else None)
        runs.setdefault(key, {}).setdefault(rec["runtime"], []).append(rec)

    notes = Notes()
    rows = sorted(runs, key=lambda k: (WORKLOADS.index(k[0]), k[1] or 0))
    medians = {}   # (key, runtime) -> median metric
    cells = {}     # (key, runtime) -> text
    rss = {}       # (key, runtime) -> text
    sizes = {}     # key -> n shown in the table

    for key in rows:
        w = key[0]
        metric = "bytes_per_g" if w == "park_memory" else "ns_per_op"
        for rt in RUNTIMES:
            recs = runs[key].get(rt, [])
            if not recs:
                cells[key, rt] = "—"
                rss[key, rt] = "—"
                continue
            n = int(recs[0]["n"])
            if rt in ("gorun", "go") or key not in sizes:
                sizes[key] = n
            ok, failed, wrong = [], [], []
            for r in recs:
                v = r.get(metric)
                if v is None or v == "n/a":
                    failed.append(clean(r["reason"] or "no result"))
                    continue
                exp = expected_check(w, int(r["n"]))
                if exp is not None and int(r.get("check", -1)) != exp:
                    wrong.append(r.get("check"))
                ok.append(float(v))
            text = ""
            if ok:
                med = statistics.median(ok)
                medians[key, rt] = med
                text = fmt(med)
                if failed:
                    text += f" ({len(failed)}/{len(recs)} failed {notes.ref(f'{rt}: ' + failed[0])})"
            else:
                reason = failed[0]
                if reason.startswith(("not found", "build failed")):
                    label = reason.split(" (")[0]
                elif "needs " in reason or "not run" in reason:
                    label = "n/a"
                else:
                    label = "fail"
                text = f"{label} {notes.ref(f'{rt}: ' + reason)}"
            if wrong:
                text += " " + notes.ref(
                    f"{rt} {w}: WRONG check {wrong[0]} (expected {expected_check(w, int(recs[0]['n']))})")
            if recs[0].get("variant"):
                text += " " + notes.ref(f"{rt} {w}: variant {recs[0]['variant']}"
                                        + (" (joins a JoinHandle per goroutine; no WaitGroup yet)"
                                           if recs[0]["variant"] == "joinhandles" else ""))
            if n != sizes.get(key, n) and w != "park_memory":
                text += " " + notes.ref(f"{rt} {w}: run with n={n:,}")
            cells[key, rt] = text
            # Only runs that produced a result: a program that printed n/a
            # did no work, and a crash's peak says little.
            good = [r for r in recs if r.get(metric) not in (None, "n/a")]
            peaks = [int(r["peak_rss_kb"]) for r in good if r.get("peak_rss_kb")]
            if not peaks:
                peaks = [int(r["hwm_kb"]) for r in good if r.get("hwm_kb")]
            rss[key, rt] = f"{statistics.median(peaks) / 1024:,.1f}" if peaks else "—"

    # ------------------------------------------------------------ main table
    date = datetime.date.today().isoformat()
    out = []
    out.append(f"### Benchmarks, {date}{' (QUICK sizes)' if args.quick else ''}")
    out.append("")
    out.append(f"Machine: {args.machine}. Median of {args.reps} runs. "
               f"{args.go_version or 'Go: not found'}. bench-gorun features: {args.gorun_features}.")
    out.append("Values are ns per operation (park_memory: bytes per parked goroutine); "
               "ratios are gorun / peer, lower is better for gorun.")
    out.append("")
    head = ["workload", "n", *RUNTIMES, *[f"gorun/{p}" for p in PEERS], "target (gorun/go)", "met?"]
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "|".join(["---"] + ["--:"] * (len(head) - 3) + ["---", "---"]) + "|")
    for key in rows:
        w, pn = key
        label = f"park_memory N={pn:,}" if pn else w
        ratios = {}
        for p in PEERS:
            g, o = medians.get((key, "gorun")), medians.get((key, p))
            ratios[p] = g / o if g is not None and o else None
        target = TARGETS.get(w)
        if target is None:
            tgt, met = "—", "—"
        else:
            tgt = f"≤ {target}"
            conds = [ratios["go"] is not None and ratios["go"] <= target] if ratios["go"] is not None else []
            if w == "mpmc":
                tgt += f", ≤ {MPMC_VS_THREADS} vs threads"
                if ratios["threads"] is not None:
                    conds.append(ratios["threads"] <= MPMC_VS_THREADS)
            if ratios["go"] is None:
                met = "—"
            else:
                met = "met" if all(conds) else "not met"
        row = [label, f"{sizes.get(key, 0):,}",
               *[cells[key, rt] for rt in RUNTIMES],
               *[fmt_ratio(ratios[p]) for p in PEERS],
               tgt, met]
        out.append("| " + " | ".join(row) + " |")

    # ------------------------------------------------------------ peak RSS
    out.append("")
    out.append("Peak RSS of the whole process in MiB (median; /usr/bin/time's maximum resident set size, "
               "else the program's VmHWM):")
    out.append("")
    out.append("| workload | " + " | ".join(RUNTIMES) + " |")
    out.append("|---|" + "--:|" * len(RUNTIMES))
    for key in rows:
        w, pn = key
        label = f"park_memory N={pn:,}" if pn else w
        out.append(f"| {label} | " + " | ".join(rss[key, rt] for rt in RUNTIMES) + " |")

    if notes.items:
        out.append("")
        out.append("Notes:")
        out.append("")
        for i, t in enumerate(notes.items, 1):
            out.append(f"{i}. {t}")
    print("\n".join(out))


if __name__ == "__main__":
    sys.exit(main())
