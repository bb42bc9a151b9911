//! The scheduler core: the state the workers of one runtime share (`Shared`), the workers
//! (`worker`), the registry of started goroutines; and above them, in their own files, the
//! entry points that assemble a runtime (`builder`: `Builder`, `run`) and start goroutines
//! (`spawn`, `handle`).
//!
//! # Lifecycle
//!
//! `run` turns the calling thread into worker 0, starts `workers - 1` more threads and a
//! timer thread (timers, the monitor, and a netpoll when busy workers have not polled for
//! a tick), and runs the main goroutine (id 1) on worker 0. Because the main goroutine
//! never leaves the calling thread, its closure need not be `Send` or `'static`. When it
//! returns, the runtime shuts down like a Go program leaving `main`: other goroutines are
//! abandoned, each worker unwinds the goroutines homed on it (on their own thread, so their
//! destructors run where they lived), and `run` returns main's value — or resumes main's
//! panic.
//!
//! Several runtimes may run at once on different threads (as `cargo test` does); each has
//! its own `Shared`, and goroutines find theirs through their control block.

mod bubble;
pub(crate) mod builder;
mod cold;
mod fatal;
pub(crate) mod handle;
pub(crate) mod lockgraph;
pub(crate) mod netpoll;
mod registry;
pub(crate) mod rng;
pub(crate) mod seeded;
pub(crate) mod spawn;
pub(crate) mod start;
pub(crate) mod timers;
pub(crate) mod worker;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_deque::Injector;

use crate::goroutine::G;
use crate::stack::classes::Stacks;
use bubble::Bubble;
pub use fatal::Deadlock;
use lockgraph::LockGraph;
use registry::Registry;
use seeded::Seeded;
use timers::Timers;
use worker::WorkerShared;

/// State shared by the workers of one runtime and by every goroutine in it.
///
/// Its fields are private to the scheduler core (`runtime/`); the rest of the crate reads
/// it through the methods below: the timer heap and stack pool that goroutines use, and,
/// for diagnostics, the settings, a snapshot of the started goroutines, the workers' shared
/// halves (flags and counters) and the lock graph.
pub(crate) struct Shared {
    workers: Box<[WorkerShared]>,
    injector: Injector<Arc<G>>,
    idle: Mutex<Vec<usize>>,
    num_idle: AtomicUsize,
    shutdown: AtomicBool,
    timers: Timers,
    /// The `synctest::wait` caller (see `synctest`).
    bubble: Bubble,
    stacks: Stacks,
    registry: Registry,
    lock_graph: LockGraph,
    config: Config,
    /// Resident parked stacks each worker keeps before copy-on-park (`None`: off).
    evict_budget: Option<usize>,
    next_id: AtomicU64,
    /// Goroutines started from outside the workers (`Handle::go`); see `handle`.
    outside_spawned: AtomicU64,
    start: Instant,
    /// Nanoseconds since `start`, advanced by the monitor every tick (cheap to read).
    coarse_ns: AtomicU64,
    /// Set when the runtime must stop for a fatal condition (a deadlock).
    failure: Mutex<Option<Deadlock>>,
    /// The leak report, when `leak_check` found goroutines alive as main returned.
    leaks: Mutex<Option<String>>,
    /// Set once a goroutine was given up at shutdown (see `Worker::unwind_all`) or a worker
    /// was detached: the runtime then stays allocated for good.
    leaked: AtomicBool,
    /// The execution trace, when one is recorded (`Builder::trace`, `GORUN_TRACE`).
    trace: Option<crate::trace::Tracer>,
}

/// Diagnostics settings of a runtime (see the `Builder` methods).
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) deadlock_detection: bool,
    pub(crate) stuck_after: Option<Duration>,
    /// `leak_check`: how to dump the goroutines still alive when main returns (the builder
    /// passes the diagnostics' dump; the core names no diagnostics code).
    pub(crate) leak_check: Option<fn(&Shared) -> String>,
    pub(crate) dump_on_sigquit: bool,
    pub(crate) lock_cycles_fatal: bool,
    /// Copy-on-park: evict stacks parked longer than this (`None`: never by age).
    pub(crate) evict_after: Option<Duration>,
    /// Copy-on-park: resident parked stacks allowed, in bytes (`None`: copy-on-park off).
    pub(crate) resident_budget: Option<usize>,
    /// A fatal report (deadlock, lock cycle) is printed and the process exits with code 2
    /// at once (`run`), instead of unwinding and returning it (`try_run`).
    pub(crate) exit_on_fatal: bool,
    /// Seeded scheduling (`Builder::seed`, `GORUN_SEED`; see `seeded`).
    pub(crate) seeded: Option<Seeded>,
    /// `run` panics with a fatal report (a detached goroutine's panic included) instead of
    /// exiting (`Builder::panic_on_fatal`).
    pub(crate) panic_on_fatal: bool,
    /// The clock is virtual (`Builder::virtual_time`).
    pub(crate) virtual_time: bool,
}

impl Shared {
    /// The runtime's timer heap.
    pub(crate) fn timers(&self) -> &Timers {
        &self.timers
    }

    /// The runtime's `synctest::wait` caller, if any.
    pub(crate) fn bubble(&self) -> &Bubble {
        &self.bubble
    }

    /// The runtime's stack slots.
    pub(crate) fn stacks(&self) -> &Stacks {
        &self.stacks
    }

    /// The runtime's settings.
    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    /// The shared half of each worker (flags and counters; remote wakes).
    pub(crate) fn workers(&self) -> &[WorkerShared] {
        &self.workers
    }

    /// Every started goroutine that has not finished, now.
    pub(crate) fn goroutines(&self) -> Vec<Arc<G>> {
        self.registry.snapshot()
    }

    /// Who waits for which lock.
    pub(crate) fn lock_graph(&self) -> &LockGraph {
        &self.lock_graph
    }

    /// The execution trace, if this runtime records one.
    #[inline]
    pub(crate) fn trace(&self) -> Option<&crate::trace::Tracer> {
        self.trace.as_ref()
    }

    /// Whether every worker sleeps with nothing queued for it: no remote wake, nothing to
    /// steal, nothing on the injector (a moment's view, for the deadlock check).
    pub(crate) fn workers_quiet(&self) -> bool {
        self.workers
            .iter()
            .all(|w| w.is_sleeping() && !w.has_remote() && !w.has_stealable())
            && self.injector.is_empty()
    }

    pub(crate) fn is_shutdown(&self) -> bool {
        self.shutdown.load(Ordering::Relaxed)
    }

    /// Nanoseconds since the runtime started, to within one monitor tick.
    pub(crate) fn coarse_clock(&self) -> u64 {
        self.coarse_ns.load(Ordering::Relaxed)
    }

    pub(crate) fn update_coarse_clock(&self) {
        self.coarse_ns
            .store(self.start.elapsed().as_nanos() as u64, Ordering::Relaxed);
    }

    pub(crate) fn spawned(&self) -> u64 {
        self.workers
            .iter()
            .map(|w| w.stats.spawned.load(Ordering::Relaxed))
            .sum::<u64>()
            + self.outside_spawned.load(Ordering::Relaxed)
    }

    /// Stops the runtime with a fatal report (the first one wins). Under `run` the process
    /// exits here, like Go's: nothing is unwound, so no destructor can delay or swallow the
    /// report.
    pub(crate) fn fail(&self, report: Deadlock) {
        if self.config.exit_on_fatal {
            eprint!("{report}");
            if let Some(s) = self.config.seeded {
                eprint!("{}", seeded::replay_hint(s.seed));
            }
            if let Some(t) = &self.trace {
                t.write();
            }
            std::process::exit(2);
        }
        self.failure.lock().unwrap().get_or_insert(report);
        self.begin_shutdown();
    }

    /// Keeps the runtime allocated for good (see `leaked`).
    pub(crate) fn leak(self: &Arc<Self>) {
        if !self.leaked.swap(true, Ordering::SeqCst) {
            std::mem::forget(self.clone());
        }
    }

    pub(crate) fn num_goroutine(&self) -> usize {
        // Each worker counts the goroutines it spawned and finished; the sum is exact when
        // nothing runs and at most a few goroutines off while workers run.
        let (spawned, finished) = self.workers.iter().fold((0u64, 0u64), |(s, f), w| {
            (
                s + w.stats.spawned.load(Ordering::Relaxed),
                f + w.stats.finished.load(Ordering::Relaxed),
            )
        });
        (spawned + self.outside_spawned.load(Ordering::Relaxed)).saturating_sub(finished) as usize
    }

    fn add_idle(&self, index: usize) {
        let mut idle = self.idle.lock().unwrap();
        if !idle.contains(&index) {
            idle.push(index);
            self.num_idle.fetch_add(1, Ordering::SeqCst);
        }
        self.timers.set_all_busy(false);
    }

    fn remove_idle(&self, index: usize) {
        let mut idle = self.idle.lock().unwrap();
        if let Some(pos) = idle.iter().position(|&i| i == index) {
            idle.swap_remove(pos);
            self.num_idle.fetch_sub(1, Ordering::SeqCst);
        }
        self.timers.set_all_busy(idle.is_empty());
    }

    /// Stealable work was added: wake one sleeping worker, if any.
    fn notify_stealable(&self) {
        if self.num_idle.load(Ordering::SeqCst) == 0 {
            return;
        }
        let woken = {
            let mut idle = self.idle.lock().unwrap();
            let w = idle.pop();
            if w.is_some() {
                self.num_idle.fetch_sub(1, Ordering::SeqCst);
            }
            self.timers.set_all_busy(idle.is_empty());
            w
        };
        if let Some(i) = woken {
            self.workers[i].unpark();
        }
    }

    fn begin_shutdown(&self) {
        self.shutdown.store(true, Ordering::SeqCst);
        for w in self.workers.iter() {
            w.unpark();
        }
    }

    fn goroutine_finished(&self, g: &G) {
        if g.id == MAIN_ID {
            let alive = self.num_goroutine();
            if let Some(dump) = self.config.leak_check.filter(|_| alive > 0) {
                let report = format!(
                    "gorun: leak check: {alive} goroutine(s) still alive when main returned:\n\n{}",
                    dump(self)
                );
                *self.leaks.lock().unwrap() = Some(report);
            }
            self.begin_shutdown();
        }
    }

    /// Reserves `n` consecutive goroutine ids; returns the first.
    pub(crate) fn reserve_goroutine_ids(&self, n: u64) -> u64 {
        self.next_id.fetch_add(n, Ordering::Relaxed)
    }
}

const MAIN_ID: u64 = 1;
