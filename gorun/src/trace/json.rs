//! Renders the rings as a Chrome trace-event JSON object (no serde: a few fixed shapes).
//!
//! # Layout
//!
//! `{"traceEvents": [...], "displayTimeUnit": "ns", "otherData": {...}}`, one process
//! (`pid` 1), one track (`tid`) per ring: workers are `tid` 1..=n (named `worker 0`...),
//! other threads 1000 and up. Times are microseconds with nanosecond decimals.
//!
//! - `M` metadata: `process_name`, and per track `thread_name`, `thread_sort_index` and
//!   `dropped_events` (`args.dropped`: events its ring overwrote or that fell before the
//!   window below); `otherData.dropped_events` is the total.
//! - A goroutine's run is an `X` slice (`cat` "run", `args.goroutine`, `args.name`,
//!   `args.end`): always closed, with `dur` (a run still going when the file is written
//!   ends then). Runs of one track never overlap (a worker runs one goroutine at a time).
//! - A park is an `i` instant at the end of the run (`cat` "park", `args.reason`).
//! - A wake-up or spawn is a zero-length `X` slice on the waker's track (`cat` "wake" or
//!   "spawn"), holding the `s` event of a flow whose `f` event (`bp: "e"`) sits at the
//!   start of the wakee's next run, on its worker's track; a flow is written only when
//!   both ends are known.
//! - Steals (`i`), evictions, restores and blocking calls (`X`, `cat` "stack" or
//!   "blocking"), timer and netpoller batches (`i`, `cat` "timer" or "netpoll").
//!
//! # Window
//!
//! A ring that overflowed lost its oldest events; the others did not. So that no flow or
//! slice points at events one track lost, the file starts where every ring still holds
//! everything: at the oldest event kept by the overflowing ring that wrapped last.

use std::collections::HashMap;
use std::fmt::{Arguments, Write};

use super::{Event, Kind, Stop, Via};
use crate::goroutine::WaitReason;

pub(super) struct Clock {
    pub(super) start_ticks: u64,
    pub(super) ns_per_tick: f64,
}

impl Clock {
    /// Nanoseconds since the trace began.
    pub(super) fn ns(&self, ticks: u64) -> u64 {
        (ticks.saturating_sub(self.start_ticks) as f64 * self.ns_per_tick) as u64
    }
}

pub(super) struct Track {
    pub(super) tid: u64,
    pub(super) name: String,
    pub(super) events: Vec<Event>,
    pub(super) dropped: u64,
}

/// One event with its time in ns and its track.
struct At {
    ns: u64,
    tid: u64,
    kind: Kind,
    a: u8,
    b: u8,
    g: u64,
    arg: u64,
}

pub(super) fn render(
    tracks: Vec<Track>,
    names: &HashMap<u64, Box<str>>,
    clock: &Clock,
    end_ns: u64,
) -> String {
    let window = tracks
        .iter()
        .filter(|t| t.dropped > 0)
        .filter_map(|t| t.events.iter().find(|e| e.ticks != super::UNTIMED))
        .map(|e| clock.ns(e.ticks))
        .max()
        .unwrap_or(0);
    let mut out = Out::default();
    out.meta(0, "process_name", "name", "\"gorun\"");
    let mut total_dropped = 0;
    let mut per_track = Vec::new();
    for t in &tracks {
        let mut last = 0;
        let all: Vec<At> = t
            .events
            .iter()
            .filter_map(|e| {
                if e.ticks != super::UNTIMED {
                    last = clock.ns(e.ticks);
                }
                Some(At {
                    ns: last,
                    tid: t.tid,
                    kind: Kind::from_u8(e.code as u8)?,
                    a: (e.code >> 8) as u8,
                    b: (e.code >> 16) as u8,
                    g: e.g,
                    arg: e.arg,
                })
            })
            .collect();
        let kept: Vec<At> = all.into_iter().filter(|e| e.ns >= window).collect();
        let dropped = t.dropped + (t.events.len() - kept.len()) as u64;
        total_dropped += dropped;
        if kept.is_empty() && dropped == 0 && t.tid >= super::OTHER_TIDS {
            continue;
        }
        out.meta(t.tid, "thread_name", "name", &quote(&t.name));
        out.meta(t.tid, "thread_sort_index", "sort_index", &t.tid.to_string());
        out.meta(t.tid, "dropped_events", "dropped", &dropped.to_string());
        per_track.push(kept);
    }
    // Run starts per goroutine, in time order: where each wake's flow ends.
    let mut starts: HashMap<u64, Vec<(u64, u64)>> = HashMap::new();
    for e in per_track.iter().flatten() {
        if e.kind == Kind::RunStart {
            starts.entry(e.g).or_default().push((e.ns, e.tid));
        }
    }
    for v in starts.values_mut() {
        v.sort_unstable();
    }
    let mut flow = 0u64;
    for events in &per_track {
        let mut running: Option<&At> = None;
        let mut pending: HashMap<u8, u64> = HashMap::new();
        for e in events {
            match e.kind {
                Kind::RunStart => {
                    if let Some(open) = running.take() {
                        // A stop lost (cannot happen while events are kept in order).
                        out.run(open, e.ns, format_args!("unknown"), names);
                    }
                    running = Some(e);
                }
                Kind::RunStop => {
                    let Some(open) = running.take().filter(|o| o.g == e.g) else {
                        continue; // its start fell before the window
                    };
                    let reason = WaitReason::from_u8(e.b).as_str();
                    if e.a == Stop::Park as u8 {
                        out.run(open, e.ns, format_args!("park: {reason}"), names);
                        out.instant(
                            e,
                            format_args!("park: {reason}"),
                            "park",
                            format_args!("\"goroutine\":{},\"reason\":\"{reason}\"", e.g),
                        );
                    } else {
                        let end = match e.a {
                            a if a == Stop::Yield as u8 => "yield",
                            a if a == Stop::Exit as u8 => "exit",
                            _ => "unwound at shutdown",
                        };
                        out.run(open, e.ns, format_args!("{end}"), names);
                    }
                }
                Kind::Wake | Kind::Spawn => {
                    let cat = if e.kind == Kind::Wake {
                        out.slice(
                            e.tid,
                            e.ns,
                            0,
                            format_args!("wake g{}", e.g),
                            "wake",
                            format_args!(
                                "\"goroutine\":{},\"waker\":{},\"via\":\"{}\"",
                                e.g,
                                e.arg,
                                Via::as_str(e.a)
                            ),
                        );
                        "wake"
                    } else {
                        out.slice(
                            e.tid,
                            e.ns,
                            0,
                            format_args!("go g{}", e.g),
                            "spawn",
                            format_args!("\"goroutine\":{},\"parent\":{}", e.g, e.arg),
                        );
                        "spawn"
                    };
                    let next = starts.get(&e.g).and_then(|v| {
                        let i = v.partition_point(|&(ns, _)| ns < e.ns);
                        v.get(i).copied()
                    });
                    if let Some((ns, tid)) = next {
                        flow += 1;
                        out.flow(flow, cat, e.tid, e.ns, tid, ns);
                    }
                }
                Kind::Steal => out.instant(
                    e,
                    format_args!("steal g{} from worker {}", e.g, e.arg),
                    "steal",
                    format_args!("\"goroutine\":{},\"victim\":{}", e.g, e.arg),
                ),
                Kind::EvictBegin | Kind::BlockingBegin => {
                    pending.insert(e.kind as u8, e.ns);
                }
                Kind::EvictEnd => {
                    if let Some(begin) = pending.remove(&(Kind::EvictBegin as u8)) {
                        out.slice(
                            e.tid,
                            begin,
                            e.ns - begin,
                            format_args!("evict {} stacks", e.g),
                            "stack",
                            format_args!("\"stacks\":{},\"bytes\":{}", e.g, e.arg),
                        );
                    }
                }
                Kind::BlockingEnd => {
                    if let Some(begin) = pending.remove(&(Kind::BlockingBegin as u8)) {
                        out.slice(
                            e.tid,
                            begin,
                            e.ns - begin,
                            format_args!("blocking call of g{}", e.g),
                            "blocking",
                            format_args!("\"goroutine\":{}", e.g),
                        );
                    }
                }
                Kind::Restore => {
                    let begin = clock.ns(e.arg).clamp(window, e.ns);
                    out.slice(
                        e.tid,
                        begin,
                        e.ns - begin,
                        format_args!("restore stack of g{}", e.g),
                        "stack",
                        format_args!("\"goroutine\":{}", e.g),
                    );
                }
                Kind::Batch => {
                    let args = format_args!("\"woken\":{}", e.arg);
                    if e.a == Via::Timer as u8 {
                        out.instant(e, format_args!("timers: {} due", e.arg), "timer", args);
                    } else {
                        out.instant(e, format_args!("netpoll: {} ready", e.arg), "netpoll", args);
                    }
                }
            }
        }
        if let Some(open) = running {
            let end = end_ns.max(open.ns);
            out.run(open, end, format_args!("running at trace end"), names);
        }
    }
    let mut s = String::with_capacity(out.0.len() + 200);
    s.push_str("{\"traceEvents\":[\n");
    s.push_str(out.0.trim_end_matches(",\n"));
    let _ = write!(
        s,
        "\n],\"displayTimeUnit\":\"ns\",\"otherData\":{{\"producer\":\"gorun\",\
         \"dropped_events\":{total_dropped},\"ring_capacity_worker\":{},\
         \"ring_capacity_thread\":{}}}}}\n",
        super::WORKER_EVENTS,
        super::THREAD_EVENTS
    );
    s
}

/// The events written so far, each followed by `,\n`.
#[derive(Default)]
struct Out(String);

impl Out {
    fn meta(&mut self, tid: u64, name: &str, key: &str, value: &str) {
        let _ = writeln!(
            self.0,
            "{{\"ph\":\"M\",\"pid\":1,\"tid\":{tid},\"name\":\"{name}\",\"args\":{{\"{key}\":{value}}}}},"
        );
    }

    fn slice(&mut self, tid: u64, ns: u64, dur: u64, name: Arguments, cat: &str, args: Arguments) {
        let _ = writeln!(
            self.0,
            "{{\"ph\":\"X\",\"pid\":1,\"tid\":{tid},\"ts\":{},\"dur\":{},\"name\":\"{name}\",\"cat\":\"{cat}\",\"args\":{{{args}}}}},",
            Us(ns),
            Us(dur),
        );
    }

    fn instant(&mut self, e: &At, name: Arguments, cat: &str, args: Arguments) {
        let _ = writeln!(
            self.0,
            "{{\"ph\":\"i\",\"s\":\"t\",\"pid\":1,\"tid\":{},\"ts\":{},\"name\":\"{name}\",\"cat\":\"{cat}\",\"args\":{{{args}}}}},",
            e.tid,
            Us(e.ns),
        );
    }

    /// A run slice; `why` is plain text (no characters to escape).
    fn run(&mut self, open: &At, end: u64, why: Arguments, names: &HashMap<u64, Box<str>>) {
        let (g, dur) = (open.g, end - open.ns);
        match names.get(&g) {
            Some(n) => self.slice(
                open.tid,
                open.ns,
                dur,
                format_args!("g{g} {}", Esc(n)),
                "run",
                format_args!(
                    "\"goroutine\":{g},\"end\":\"{why}\",\"name\":\"{}\"",
                    Esc(n)
                ),
            ),
            None => self.slice(
                open.tid,
                open.ns,
                dur,
                format_args!("g{g}"),
                "run",
                format_args!("\"goroutine\":{g},\"end\":\"{why}\""),
            ),
        }
    }

    fn flow(&mut self, id: u64, cat: &str, from: u64, from_ns: u64, to: u64, to_ns: u64) {
        let _ = writeln!(
            self.0,
            "{{\"ph\":\"s\",\"id\":{id},\"pid\":1,\"tid\":{from},\"ts\":{},\"name\":\"{cat}\",\"cat\":\"{cat}\"}},",
            Us(from_ns)
        );
        let _ = writeln!(
            self.0,
            "{{\"ph\":\"f\",\"bp\":\"e\",\"id\":{id},\"pid\":1,\"tid\":{to},\"ts\":{},\"name\":\"{cat}\",\"cat\":\"{cat}\"}},",
            Us(to_ns)
        );
    }
}

/// Nanoseconds written as microseconds with three decimals.
struct Us(u64);

impl std::fmt::Display for Us {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{:03}", self.0 / 1000, self.0 % 1000)
    }
}

/// `s` as a JSON string literal.
fn quote(s: &str) -> String {
    format!("\"{}\"", Esc(s))
}

/// The characters of `s` escaped for a JSON string.
struct Esc<'a>(&'a str);

impl std::fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for c in self.0.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c if (c as u32) < 0x20 => write!(f, "\\u{:04x}", c as u32)?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_json_strings() {
        assert_eq!(quote("a\"b\\c\n\u{1}é"), "\"a\\\"b\\\\c\\n\\u0001é\"");
        assert_eq!(Us(1_234_567).to_string(), "1234.567");
    }
}
