//! Diagnostics: goroutine dumps, the deadlock detector, the monitor, metrics.
//!
//! Everything here reads runtime state (the registry, goroutine control blocks, worker
//! counters) and never drives it, except that a detected deadlock starts the runtime's
//! shutdown.

pub(crate) mod deadlock;
pub(crate) mod monitor;

use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::goroutine::WaitReason;
use crate::goroutine::G;
use crate::runtime::{worker, Shared};

/// A Go-style dump of every goroutine of the current runtime, or an empty string outside
/// one.
///
/// ```
/// gorun::run(|| {
///     let (tx, rx) = std::sync::mpsc::channel::<()>();
///     let h = gorun::go(move || gorun::blocking(move || rx.recv().unwrap()));
///     gorun::yield_now();
///     let dump = gorun::dump();
///     assert!(dump.contains("goroutine 1 [running]:"));
///     assert!(dump.contains("goroutine 2 [blocking]:"));
///     tx.send(()).unwrap();
///     h.join().unwrap();
/// });
/// ```
pub fn dump() -> String {
    worker::with_worker(|w| w.map(|w| dump_runtime(&w.shared)).unwrap_or_default())
}

/// Dumps every started goroutine of `shared`, and counts the unstarted ones.
pub(crate) fn dump_runtime(shared: &Shared) -> String {
    let gs = shared.goroutines();
    let mut out = dump_goroutines(shared, &gs);
    let unstarted = shared.num_goroutine().saturating_sub(gs.len());
    if unstarted > 0 {
        let _ = writeln!(
            out,
            "\n{unstarted} more goroutine(s) [runnable], not started yet"
        );
    }
    out
}

pub(crate) fn dump_goroutines(shared: &Shared, gs: &[Arc<G>]) -> String {
    let running: Vec<(u64, usize)> = shared
        .workers()
        .iter()
        .enumerate()
        .map(|(i, w)| (w.stats.running.load(Ordering::Relaxed), i))
        .filter(|&(id, _)| id != 0)
        .collect();
    let now = shared.coarse_clock();
    let mut out = String::new();
    for (n, g) in gs.iter().enumerate() {
        if n > 0 {
            out.push('\n');
        }
        describe(
            &mut out,
            g,
            running.iter().find(|r| r.0 == g.id).map(|r| r.1),
            now,
        );
    }
    out
}

fn describe(out: &mut String, g: &G, running_on: Option<usize>, now: u64) {
    let reason = g.wait_reason();
    // A goroutine holding its worker's thread while it waits (see `AtHome::park`) shows its
    // wait, not "running".
    let waiting = reason != WaitReason::None && g.is_blocked();
    let state = if !waiting && running_on.is_some() {
        "running".to_string()
    } else if !waiting {
        "runnable".to_string()
    } else {
        let minutes = now.saturating_sub(g.parked_at()) / 60_000_000_000;
        match minutes {
            0 => reason.as_str().to_string(),
            1 => format!("{}, 1 minute", reason.as_str()),
            m => format!("{}, {m} minutes", reason.as_str()),
        }
    };
    let _ = writeln!(out, "goroutine {} [{state}]:", g.id);
    if let Some(name) = g.name() {
        let _ = writeln!(out, "\tname: {name}");
    }
    if waiting {
        if let Some(site) = g.park_site() {
            let _ = writeln!(out, "\twaiting at {site}");
        }
        if let Some(trace) = g.park_trace() {
            for line in trace.lines() {
                let _ = writeln!(out, "\t\t{line}");
            }
        }
    }
    let creator = match g.parent {
        0 => "gorun::run".to_string(),
        p => format!("goroutine {p}"),
    };
    let home = match running_on {
        Some(w) => format!(", running on worker {w}"),
        None => format!(", on worker {}", g.home()),
    };
    let _ = writeln!(out, "created by {creator} at {}{home}", g.spawn_site);
}

/// Cheap counters of the current runtime (see [`metrics`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// Worker threads.
    pub workers: usize,
    /// Goroutines alive now (started or not), main included.
    pub goroutines: usize,
    /// Goroutines spawned since the runtime started, main included.
    pub spawned: u64,
    /// Times a worker switched into a goroutine.
    pub context_switches: u64,
    /// Times a goroutine parked.
    pub parks: u64,
    /// Unstarted goroutines taken by an idle worker from another's queue.
    pub steals: u64,
    /// Armed timers (sleeps, timeouts, timer channels).
    pub timers: usize,
    /// Stacks moved to the heap by copy-on-park, and the heap bytes they took.
    pub evictions: u64,
    pub evicted_bytes: u64,
    /// Switches per worker, in worker order: how the work is split between them.
    pub worker_switches: Vec<u64>,
    /// Goroutines placed at spawn on a less loaded worker than their spawner's (see
    /// [`go`](crate::go)).
    pub placed_away: u64,
}

/// Counters of the current runtime; all zero outside one.
///
/// ```
/// gorun::run(|| {
///     gorun::go(|| ()).join().unwrap();
///     let m = gorun::metrics();
///     assert_eq!(m.spawned, 2);
///     assert_eq!(m.goroutines, 1);
///     assert_eq!(m.worker_switches.len(), m.workers);
/// });
/// ```
pub fn metrics() -> Metrics {
    worker::with_worker(|w| w.map_or_else(Metrics::default, |w| metrics_of(&w.shared)))
}

/// Counters of the runtime `s`.
pub(crate) fn metrics_of(s: &Shared) -> Metrics {
    let sum =
        |f: fn(&worker::WorkerStats) -> u64| s.workers().iter().map(|w| f(&w.stats)).sum::<u64>();
    Metrics {
        workers: s.workers().len(),
        goroutines: s.num_goroutine(),
        spawned: s.spawned(),
        context_switches: sum(|st| st.switches.load(Ordering::Relaxed)),
        parks: sum(|st| st.parks.load(Ordering::Relaxed)),
        steals: sum(|st| st.steals.load(Ordering::Relaxed)),
        timers: s.timers().pending(),
        evictions: sum(|st| st.evictions.load(Ordering::Relaxed)),
        evicted_bytes: sum(|st| st.evicted_bytes.load(Ordering::Relaxed)),
        worker_switches: (s.workers().iter())
            .map(|w| w.stats.switches.load(Ordering::Relaxed))
            .collect(),
        placed_away: sum(|st| st.placed_away.load(Ordering::Relaxed)),
    }
}
