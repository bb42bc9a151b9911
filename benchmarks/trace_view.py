#!/usr/bin/env python3
"""Draws a gorun execution trace (Chrome trace-event JSON) as an SVG timeline.

Usage: python3 benchmarks/trace_view.py trace_demo.json trace_demo.svg [--from US --to US]

One row per track (workers first, then the timer thread, blocking-pool threads, ...):
goroutine runs as bars coloured by goroutine and labelled with its name, blocking calls
and stack evictions/restores as hatched bars, parks as ticks under the bar with their
wait reason, and wake/spawn flows as arrows from the waker to the start of the wakee's
next run. Standard library only, so it runs anywhere the trace does.
"""

import argparse
import colorsys
import json
from html import escape

ROW_H = 46
BAR_H = 22
LEFT = 150
WIDTH = 1400


def colour(g):
    h = (g * 0.61803398875) % 1.0
    r, gg, b = colorsys.hls_to_rgb(h, 0.62, 0.55)
    return "#%02x%02x%02x" % (int(r * 255), int(gg * 255), int(b * 255))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("trace")
    ap.add_argument("out")
    ap.add_argument("--from", dest="t0", type=float, default=None, help="start, in us")
    ap.add_argument("--to", dest="t1", type=float, default=None, help="end, in us")
    args = ap.parse_args()

    events = json.load(open(args.trace))["traceEvents"]
    names = {e["tid"]: e["args"]["name"] for e in events
             if e["ph"] == "M" and e["name"] == "thread_name"}
    timed = [e for e in events if e["ph"] != "M"]
    t0 = args.t0 if args.t0 is not None else min(e["ts"] for e in timed)
    t1 = args.t1 if args.t1 is not None else max(e["ts"] + e.get("dur", 0) for e in timed)
    tracks = sorted({e["tid"] for e in timed if t0 <= e["ts"] <= t1} | {
        t for t, n in names.items() if n.startswith("worker ")})
    row = {t: i for i, t in enumerate(tracks)}
    scale = (WIDTH - LEFT - 20) / max(t1 - t0, 1e-9)

    def x(ts):
        return LEFT + (ts - t0) * scale

    def y(tid):
        return 40 + row[tid] * ROW_H

    height = 40 + len(tracks) * ROW_H + 50
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'font-family="sans-serif" font-size="11">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="#333"/></marker>'
        '<pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#ddd"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#888" stroke-width="3"/></pattern></defs>',
        f'<rect width="{WIDTH}" height="{height}" fill="white"/>',
        f'<text x="10" y="20" font-size="14" font-weight="bold">gorun execution trace: '
        f'{escape(args.trace.split("/")[-1])} ({(t1 - t0) / 1000:.2f} ms)</text>',
    ]
    for t in tracks:
        out.append(f'<rect x="0" y="{y(t) - 4}" width="{WIDTH}" height="{ROW_H - 4}" '
                   f'fill="{"#f6f6f6" if row[t] % 2 else "#ffffff"}"/>')
        out.append(f'<text x="8" y="{y(t) + BAR_H / 2 + 4}">'
                   f'{escape(names.get(t, str(t)))}</text>')

    def visible(e):
        return e["ts"] + e.get("dur", 0) >= t0 and e["ts"] <= t1

    for e in timed:
        if e["ph"] != "X" or not visible(e) or e["tid"] not in row:
            continue
        x0, x1 = x(max(e["ts"], t0)), x(min(e["ts"] + e["dur"], t1))
        w = max(x1 - x0, 0.8)
        cat = e.get("cat")
        if cat == "run":
            g = e["args"]["goroutine"]
            label = e["args"].get("name", f"g{g}")
            out.append(f'<rect x="{x0:.2f}" y="{y(e["tid"])}" width="{w:.2f}" height="{BAR_H}" '
                       f'fill="{colour(g)}" stroke="#555" stroke-width="0.4">'
                       f'<title>{escape(e["name"])}: {escape(e["args"]["end"])}</title></rect>')
            if w > 7 * len(label):
                out.append(f'<text x="{x0 + 3:.2f}" y="{y(e["tid"]) + 15}">{escape(label)}</text>')
        elif cat in ("blocking", "stack"):
            out.append(f'<rect x="{x0:.2f}" y="{y(e["tid"])}" width="{w:.2f}" height="{BAR_H}" '
                       f'fill="url(#hatch)" stroke="#555" stroke-width="0.4">'
                       f'<title>{escape(e["name"])}</title></rect>')
            if w > 6 * len(e["name"]):
                out.append(f'<text x="{x0 + 3:.2f}" y="{y(e["tid"]) + 15}">'
                           f'{escape(e["name"])}</text>')
    # Parks: a tick under the bar, the reason when there is room.
    last_label = {}
    for e in sorted((e for e in timed if e.get("cat") == "park" and visible(e)),
                    key=lambda e: e["ts"]):
        px, py = x(e["ts"]), y(e["tid"]) + BAR_H
        out.append(f'<line x1="{px:.2f}" y1="{py}" x2="{px:.2f}" y2="{py + 6}" stroke="#c00"/>')
        if px - last_label.get(e["tid"], -1e9) > 70:
            last_label[e["tid"]] = px
            out.append(f'<text x="{px + 2:.2f}" y="{py + 14}" font-size="9" fill="#c00">'
                       f'{escape(e["args"]["reason"])}</text>')
    # Flows: arrows from the waker to the wakee's run.
    starts = {e["id"]: e for e in timed if e["ph"] == "s"}
    for e in timed:
        if e["ph"] != "f" or e["id"] not in starts:
            continue
        s = starts[e["id"]]
        if not (t0 <= s["ts"] <= t1 and t0 <= e["ts"] <= t1):
            continue
        if s["tid"] not in row or e["tid"] not in row:
            continue
        colour_ = "#1565c0" if s["cat"] == "wake" else "#2e7d32"
        x0, y0 = x(s["ts"]), y(s["tid"]) + BAR_H / 2
        x1, y1 = x(e["ts"]), y(e["tid"]) + BAR_H / 2
        if s["tid"] == e["tid"]:
            y0 = y1 = y(s["tid"]) - 2
        out.append(f'<path d="M{x0:.2f},{y0:.2f} C{(x0 + x1) / 2:.2f},{y0:.2f} '
                   f'{(x0 + x1) / 2:.2f},{y1:.2f} {x1:.2f},{y1:.2f}" fill="none" '
                   f'stroke="{colour_}" stroke-width="0.9" opacity="0.75" '
                   f'marker-end="url(#arrow)"/>')
    # Time axis.
    ay = 40 + len(tracks) * ROW_H + 10
    out.append(f'<line x1="{LEFT}" y1="{ay}" x2="{WIDTH - 20}" y2="{ay}" stroke="#333"/>')
    step = 10 ** max(0, len(str(int((t1 - t0) / 8))) - 1)
    while (t1 - t0) / step > 12:
        step *= 2
    t = (int(t0 / step) + 1) * step
    while t < t1:
        out.append(f'<line x1="{x(t):.2f}" y1="{ay}" x2="{x(t):.2f}" y2="{ay + 5}" stroke="#333"/>')
        out.append(f'<text x="{x(t) - 15:.2f}" y="{ay + 18}">{(t - t0) / 1000:.2f} ms</text>')
        t += step
    out.append(f'<text x="{LEFT}" y="{ay + 36}" fill="#555">bars: goroutine runs (colour per '
               'goroutine); hatched: blocking calls, stack evictions/restores; red ticks: parks '
               'with their wait reason; blue arrows: wake-ups, green: spawns</text>')
    out.append("</svg>")
    open(args.out, "w").write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
