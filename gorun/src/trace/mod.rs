//! The execution trace (`GORUN_TRACE=path` or `Builder::trace`): what every worker ran,
//! when, and why it stopped, written as a Chrome trace-event JSON file that Perfetto's UI
//! (ui.perfetto.dev) and `chrome://tracing` open.
//!
//! # Recording
//!
//! Every thread that records has its own [`Ring`] of fixed capacity, written by that thread
//! only, without locks: a worker's is created with the runtime, any other thread's (the
//! timer thread, the netpoller, a blocking-pool thread, a plain thread waking a goroutine)
//! on its first event, found again through a thread-local cache. A full ring overwrites its
//! oldest events; the file says how many were dropped. Events hold raw ticks
//! (`sys::ticks`), converted to nanoseconds when the file is written.
//!
//! The hooks at the recording sites cost one predictable branch when tracing is off: the
//! worker tests its own `Option<Arc<Ring>>`, other sites the runtime's `Option<Tracer>`
//! (a plain field read; no atomics, no allocation).
//!
//! What is recorded: a goroutine's runs (start, and stop with why: its park's wait
//! reason, a yield, its exit), wake-ups and spawns (by whom, how: directly, by the timer
//! thread, by the netpoller), steals, stack evictions and restores (copy-on-park), and
//! blocking-pool calls. A wake is recorded before the goroutine is queued, so it precedes
//! the run it causes.
//!
//! Clock reads are the main cost, so a goroutine switch takes one: a run that starts
//! straight after another's stop (nothing recorded, searched or slept in between) reuses
//! that stop's time, and a wake-up of a goroutine homed on the waker's own worker (which
//! runs only after the waker stops) is stamped `UNTIMED`, taking the time of its track's
//! previous event when the file is written. Cross-thread wake-ups read the clock.
//!
//! # Writing
//!
//! The file is written once: when the runtime has shut down (`Builder::try_run`, after
//! its workers exit), or when a fatal report ends the process (`Shared::fail`, an unjoined
//! panic, an unlock of an unlocked mutex, a failed stack allocation), from whatever the
//! rings hold then; see `json` for its layout. A process ended from the fault handler (a
//! stack overflow) writes none: writing a file is not async-signal-safe. Owned by the
//! runtime's `Shared`; rings outlive it only in the thread-local caches, until their
//! thread records for another runtime or exits.

mod json;
mod ring;

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::Instant;

use crate::goroutine::WaitReason;
use ring::Event;
pub(crate) use ring::Ring;

/// Events a worker's ring holds (32 bytes each: 1 MiB per worker).
const WORKER_EVENTS: usize = 1 << 15;
/// The ticks of an event stamped with its track's previous event's time (see
/// `Ring::wake_local`).
const UNTIMED: u64 = 0;
/// Events the ring of any other thread holds.
const THREAD_EVENTS: usize = 1 << 12;
/// Track ids of threads other than workers start here (workers are 1..=n).
const OTHER_TIDS: u64 = 1000;

/// What an event records. `g` and `arg` per kind:
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Kind {
    /// A goroutine `g` starts (or resumes) running here.
    RunStart = 1,
    /// `g` stops running here; `a` is a `Stop`, `b` the park's wait reason.
    RunStop,
    /// `g` was woken (`a`: `Via`); `arg` is the waking goroutine, 0 for none.
    Wake,
    /// `g` was spawned by goroutine `arg` (0: from a plain thread).
    Spawn,
    /// `g` (the first of a batch) was stolen from worker `arg`.
    Steal,
    /// Copy-on-park: a batch of evictions begins; at its end `g` stacks, `arg` bytes.
    EvictBegin,
    EvictEnd,
    /// `g`'s evicted stack was restored; `arg` holds the ticks when it began.
    Restore,
    /// A blocking-pool call for goroutine `g` begins, ends.
    BlockingBegin,
    BlockingEnd,
    /// The timer thread or the netpoller (`a`: `Via`) woke `arg` goroutines at once.
    Batch,
}

impl Kind {
    fn from_u8(v: u8) -> Option<Kind> {
        const ALL: [Kind; 11] = [
            Kind::RunStart,
            Kind::RunStop,
            Kind::Wake,
            Kind::Spawn,
            Kind::Steal,
            Kind::EvictBegin,
            Kind::EvictEnd,
            Kind::Restore,
            Kind::BlockingBegin,
            Kind::BlockingEnd,
            Kind::Batch,
        ];
        ALL.get((v as usize).wrapping_sub(1)).copied()
    }
}

/// Who queued a woken goroutine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Via {
    /// The goroutine or thread that made its condition true.
    Direct = 0,
    /// The timer thread (a sleep, a timeout).
    Timer = 1,
    /// Whoever polled the netpoller (a socket became ready).
    Netpoll = 2,
}

impl Via {
    fn as_str(v: u8) -> &'static str {
        match v {
            1 => "timer",
            2 => "netpoll",
            _ => "direct",
        }
    }
}

/// Why a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Stop {
    Park = 0,
    Yield = 1,
    Exit = 2,
    /// Resumed at shutdown to unwind, and given up or finished.
    Unwound = 3,
}

impl Ring {
    /// Records an event now (the owning thread only).
    #[inline]
    pub(crate) fn record(&self, kind: Kind, a: u8, g: u64, arg: u64) {
        self.record_with(kind, a, 0, g, arg);
    }

    #[inline]
    fn record_with(&self, kind: Kind, a: u8, b: u8, g: u64, arg: u64) {
        self.push(Event {
            ticks: crate::sys::ticks(),
            code: kind as u64 | (a as u64) << 8 | (b as u64) << 16,
            g,
            arg,
        });
    }

    /// A goroutine's run ended (`reason`: its park's wait reason, if it parked). Returns
    /// what `run_start` needs to reuse this time.
    #[inline]
    pub(crate) fn run_stop(&self, g: u64, stop: Stop, reason: WaitReason) -> (u64, u64) {
        let ticks = crate::sys::ticks();
        self.push(Event {
            ticks,
            code: Kind::RunStop as u64 | (stop as u64) << 8 | (reason as u64) << 16,
            g,
            arg: 0,
        });
        (ticks, self.written())
    }

    /// A goroutine starts running. `after` is what the worker's last `run_stop` returned,
    /// if it went straight from that run to this one (no search, no sleep): if nothing was
    /// recorded since, the run starts at that stop's time, saving a clock read on every
    /// switch (the scheduler's few tens of nanoseconds count towards the new run).
    #[inline]
    pub(crate) fn run_start(&self, g: u64, after: Option<(u64, u64)>) {
        let ticks = match after {
            Some((ticks, n)) if n == self.written() => ticks,
            _ => crate::sys::ticks(),
        };
        self.push(Event {
            ticks,
            code: Kind::RunStart as u64,
            g,
            arg: 0,
        });
    }

    /// `g` was woken by `waker`, running on this worker, where `g` will run too (after
    /// `waker` stops, so the wake-up needs no time of its own): stamped with this track's
    /// previous event's time, saving a clock read on every local hand-off.
    #[inline]
    pub(crate) fn wake_local(&self, g: u64, waker: u64) {
        self.push(Event {
            ticks: UNTIMED,
            code: Kind::Wake as u64 | (Via::Direct as u64) << 8,
            g,
            arg: waker,
        });
    }
}

/// The trace of one runtime: its rings, and where to write them.
pub(crate) struct Tracer {
    /// Tells this tracer's rings apart in the thread-local caches.
    id: u64,
    path: PathBuf,
    start: Instant,
    start_ticks: u64,
    workers: Box<[Arc<Ring>]>,
    /// Rings of the other threads that recorded, by thread.
    others: Mutex<Vec<(ThreadId, Arc<Ring>)>>,
    /// Names of the named goroutines spawned (few: a name is opt-in).
    names: Mutex<HashMap<u64, Box<str>>>,
    written: AtomicBool,
}

thread_local! {
    /// This thread's ring in the tracer that it last recorded for.
    static HERE: RefCell<Option<(u64, Arc<Ring>)>> = const { RefCell::new(None) };
}

impl Tracer {
    pub(crate) fn new(path: PathBuf, workers: usize) -> Tracer {
        static IDS: AtomicU64 = AtomicU64::new(1);
        Tracer {
            id: IDS.fetch_add(1, Ordering::Relaxed),
            path,
            start: Instant::now(),
            start_ticks: crate::sys::ticks(),
            workers: (0..workers)
                .map(|i| {
                    Arc::new(Ring::new(
                        WORKER_EVENTS,
                        i as u64 + 1,
                        format!("worker {i}"),
                    ))
                })
                .collect(),
            others: Mutex::new(Vec::new()),
            names: Mutex::new(HashMap::new()),
            written: AtomicBool::new(false),
        }
    }

    /// Worker `index`'s ring.
    pub(crate) fn worker_ring(&self, index: usize) -> Arc<Ring> {
        self.workers[index].clone()
    }

    /// Makes `ring` (a worker's) the calling thread's (the worker's own) until `leave`.
    pub(crate) fn bind(&self, ring: &Arc<Ring>) {
        let _ = HERE.try_with(|h| *h.borrow_mut() = Some((self.id, ring.clone())));
    }

    /// Runs `f` on the calling thread's ring, created on its first event.
    fn with_ring(&self, f: impl FnOnce(&Ring)) {
        let _ = HERE.try_with(|h| {
            let mut h = h.borrow_mut();
            if !matches!(&*h, Some((id, _)) if *id == self.id) {
                *h = Some((self.id, self.thread_ring()));
            }
            if let Some((_, r)) = &*h {
                f(r);
            }
        });
    }

    /// The calling (non-worker) thread's ring, registered on first use.
    #[cold]
    fn thread_ring(&self) -> Arc<Ring> {
        let me = std::thread::current();
        let mut others = self.others.lock().unwrap();
        if let Some((_, r)) = others.iter().find(|(id, _)| *id == me.id()) {
            return r.clone();
        }
        let tid = OTHER_TIDS + others.len() as u64;
        let base = match me.name() {
            Some(n) => n.strip_prefix("gorun-").unwrap_or(n).to_string(),
            None => "thread".to_string(),
        };
        // Numbered when several threads share a name (the blocking pool's).
        let same = others
            .iter()
            .filter(|(_, r)| r.name.starts_with(&base))
            .count();
        let name = if same == 0 && me.name().is_some() {
            base
        } else {
            format!("{base} {}", same + 1)
        };
        let ring = Arc::new(Ring::new(THREAD_EVENTS, tid, name));
        others.push((me.id(), ring.clone()));
        ring
    }

    /// `g` is about to be queued after a wake-up (before, so the wake precedes its run).
    pub(crate) fn wake(&self, g: u64, via: Via) {
        let waker = crate::runtime::worker::current_id();
        self.with_ring(|r| r.record(Kind::Wake, via as u8, g, waker));
    }

    /// `g` was spawned (before it is queued).
    pub(crate) fn spawn(&self, g: u64, parent: u64, name: Option<&str>) {
        if let Some(name) = name {
            self.names.lock().unwrap().insert(g, name.into());
        }
        self.with_ring(|r| r.record(Kind::Spawn, 0, g, parent));
    }

    /// The timer thread or the netpoller woke `n` goroutines at once.
    pub(crate) fn batch(&self, via: Via, n: usize) {
        self.with_ring(|r| r.record(Kind::Batch, via as u8, 0, n as u64));
    }

    /// Copy-on-park: a batch of evictions begins (`None`), or ends having moved `n` stacks
    /// (`Some((n, bytes))`), on the calling worker.
    pub(crate) fn evict(&self, done: Option<(u64, u64)>) {
        self.with_ring(|r| match done {
            None => r.record(Kind::EvictBegin, 0, 0, 0),
            Some((n, bytes)) => r.record(Kind::EvictEnd, 0, n, bytes),
        });
    }

    /// `g`'s evicted stack was restored; it began at `began` (ticks).
    pub(crate) fn restored(&self, g: u64, began: u64) {
        self.with_ring(|r| r.record(Kind::Restore, 0, g, began));
    }

    /// A blocking-pool call for `g` begins (`true`) or ends.
    pub(crate) fn blocking(&self, g: u64, begins: bool) {
        let kind = if begins {
            Kind::BlockingBegin
        } else {
            Kind::BlockingEnd
        };
        self.with_ring(|r| r.record(kind, 0, g, 0));
    }

    /// Writes the trace file, once (later calls do nothing). Errors are reported on stderr:
    /// a trace must not change how the program ends.
    pub(crate) fn write(&self) {
        if self.written.swap(true, Ordering::AcqRel) {
            return;
        }
        let mut rings: Vec<Arc<Ring>> = self.workers.to_vec();
        rings.extend(self.others.lock().unwrap().iter().map(|(_, r)| r.clone()));
        let end_ticks = crate::sys::ticks();
        let elapsed = self.start.elapsed().as_nanos() as f64;
        let ns_per_tick = elapsed / (end_ticks.saturating_sub(self.start_ticks).max(1)) as f64;
        let clock = json::Clock {
            start_ticks: self.start_ticks,
            ns_per_tick,
        };
        let names = self.names.lock().unwrap().clone();
        let tracks = rings
            .iter()
            .map(|r| {
                let (events, dropped) = r.snapshot();
                json::Track {
                    tid: r.tid,
                    name: r.name.clone(),
                    events,
                    dropped,
                }
            })
            .collect();
        let text = json::render(tracks, &names, &clock, clock.ns(end_ticks));
        if let Err(e) = std::fs::write(&self.path, text) {
            eprintln!(
                "gorun: cannot write the trace to {}: {e}",
                self.path.display()
            );
        }
    }
}

impl std::fmt::Debug for Tracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracer")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Forgets the calling thread's ring (a worker leaving its runtime).
pub(crate) fn leave() {
    let _ = HERE.try_with(|h| h.borrow_mut().take());
}

/// Writes the trace of the runtime running on this thread, if it records one: for fatal
/// reports that end the process from a goroutine.
pub(crate) fn write_current() {
    crate::runtime::worker::with_current_g(|g| {
        if let Some(t) = g.and_then(|g| g.shared.trace()) {
            t.write();
        }
    });
}

/// The path `GORUN_TRACE` names, if set and not empty.
pub(crate) fn env_path() -> Option<PathBuf> {
    std::env::var_os("GORUN_TRACE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}
