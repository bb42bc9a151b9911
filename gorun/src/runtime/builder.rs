//! `Builder` and `run`: assemble a runtime (its `Shared`, workers, timer thread, monitor and
//! netpoller check), run the main goroutine on the calling thread, and shut down. The top
//! of the crate: it names the scheduler core, the diagnostics and the netpoller; nothing
//! below names it.

use std::panic::{self, Location};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_deque::{Injector, Worker as Deque};

use super::bubble::Bubble;
use super::lockgraph::LockGraph;
use super::registry::Registry;
use super::seeded::{self, Seeded};
use super::timers::Timers;
use super::worker::{self, Worker, WorkerShared};
use super::{Config, Deadlock, Shared, MAIN_ID};
use crate::diag::{self, monitor::Monitor};
use crate::goroutine::{Runnable, Task, G};
use crate::stack::{self, classes::Stacks};
use crate::synctest;

/// The most worker threads a runtime may have (a control block keeps its home in 16 bits).
const MAX_WORKERS: usize = 4096;

/// Configures and starts a runtime.
///
/// ```
/// let answer = gorun::Builder::new().workers(2).run(|| {
///     let h = gorun::go(|| 6 * 7);
///     h.join().unwrap()
/// });
/// assert_eq!(answer, 42);
/// ```
#[derive(Clone, Debug)]
pub struct Builder {
    workers: Option<usize>,
    stack_size: usize,
    config: Config,
    /// Where to write the execution trace (`None`: `GORUN_TRACE`, if set).
    trace: Option<std::path::PathBuf>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

/// Resident bytes a parked, not yet evicted stack is assumed to cost (one page plus).
const RESIDENT_STACK_ESTIMATE: usize = 4096;

/// Default usable stack size per goroutine: what a debug build of ordinary code needs (see
/// `Builder::stack_size`).
const DEFAULT_STACK: usize = 256 * 1024;

impl Builder {
    /// A builder with the defaults: one worker per core (or `GORUN_WORKERS`), 256 KiB stacks.
    pub fn new() -> Builder {
        Builder {
            workers: None,
            stack_size: DEFAULT_STACK,
            config: Config {
                deadlock_detection: true,
                stuck_after: Some(Duration::from_millis(100)),
                leak_check: None,
                dump_on_sigquit: false,
                lock_cycles_fatal: true,
                evict_after: Some(Duration::from_millis(100)),
                resident_budget: Some(16 << 20),
                exit_on_fatal: false,
                seeded: None,
                panic_on_fatal: false,
                virtual_time: false,
            },
            trace: None,
        }
    }

    /// Whether to detect a global deadlock (default on): when every goroutine is asleep and
    /// nothing can wake one, `run` prints Go's `fatal error: all goroutines are asleep -
    /// deadlock!` with a goroutine dump and exits with code 2 (`try_run` returns it). See
    /// the crate docs for what counts as asleep.
    pub fn deadlock_detection(mut self, on: bool) -> Builder {
        self.config.deadlock_detection = on;
        self
    }

    /// Warn (once per episode, on stderr) when a goroutine runs longer than `after` without
    /// parking or yielding, stalling its worker; `None` turns the warning off. Default:
    /// 100 ms.
    pub fn stuck_warning(mut self, after: Option<Duration>) -> Builder {
        self.config.stuck_after = after;
        self
    }

    /// Report goroutines still alive when the main goroutine returns (like Go's goleak):
    /// `run` then panics with their dump, so a test fails. Off by default.
    pub fn leak_check(mut self, on: bool) -> Builder {
        self.config.leak_check = on.then_some(diag::dump_runtime as fn(&Shared) -> String);
        self
    }

    /// What to do when goroutines wait for each other's locks (A holds `m1` and waits for
    /// `m2` while B holds `m2` and waits for `m1`): such a cycle can never resolve, even
    /// while other goroutines keep running, which Go cannot see. By default (`true`) it is
    /// fatal like a global deadlock: `run` prints a report naming the goroutines, both
    /// locks' creation sites and where each was locked, and exits with code 2 (`try_run`
    /// returns it). With `false` the report is printed once as a warning and the program
    /// goes on.
    pub fn lock_cycles_fatal(mut self, fatal: bool) -> Builder {
        self.config.lock_cycles_fatal = fatal;
        self
    }

    /// Copy-on-park, by age: a goroutine parked for longer than `after` has the used part
    /// of its stack (typically under 1 KiB) copied to the heap and its stack pages
    /// released; it is copied back, to the same addresses, when it next runs. `None`
    /// evicts by budget only. Default: 100 ms.
    pub fn evict_after(mut self, after: Option<Duration>) -> Builder {
        self.config.evict_after = after;
        self
    }

    /// Copy-on-park, by budget: when more parked stacks are resident than `bytes` allows
    /// (about 4 KiB each), the longest-parked are evicted in batches, so a million parked
    /// goroutines never hold a million stack pages. Goroutines parked for less than one tick
    /// of the runtime's 10 ms clock are left alone while their worker is busy (most wake
    /// again soon: a parent waiting for its children), and evicted once it idles. `None` turns copy-on-park off
    /// entirely (then `evict_after` has no effect). Default: 16 MiB (about 4,000 resident
    /// parked stacks per runtime).
    ///
    /// Hot goroutines (ping-pong, mutex hand-offs) are never evicted while under budget,
    /// and parking costs nothing extra beyond noting the goroutine.
    ///
    /// A server with more busy connections than the budget holds (each parked on its
    /// socket between requests) keeps evicting stacks it needs again within milliseconds,
    /// and a share of its requests restore one. Raise the budget to cover them
    /// (`Some(64 << 20)` served 1.1-1.3x the requests at 5,000 connections under `wrk`; see
    /// issue 16 in `benchmarks/README.md`).
    ///
    /// Linux only: on macOS copy-on-park is always off (see the README's platform table).
    pub fn resident_stack_budget(mut self, bytes: Option<usize>) -> Builder {
        self.config.resident_budget = bytes;
        self
    }

    /// Records an execution trace and writes it to `path` when the runtime shuts down (or
    /// when a fatal report ends the process): a Chrome trace-event JSON file that
    /// [Perfetto](https://ui.perfetto.dev) and `chrome://tracing` open. Setting the
    /// `GORUN_TRACE` environment variable to a path does the same for every runtime that
    /// does not call this (each overwrites the file as it ends).
    ///
    /// The trace has one track per worker with a slice per goroutine run (its id and name,
    /// and why it stopped), park events with their wait reason, wake-ups and spawns as flow
    /// arrows from the waker (a goroutine, or the timer, netpoller or another thread's own
    /// track) to the wakee's next run, steals, stack evictions and restores, and
    /// blocking-pool calls. Each thread records into a ring of fixed size, so a long
    /// program keeps its last events (the file counts the dropped ones); see the README's
    /// Execution trace section for how to read it. Off by default; when off it costs one
    /// branch per recording site.
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("gorun-doc-{}.json", std::process::id()));
    /// gorun::Builder::new().trace(&path).run(|| {
    ///     let (tx, rx) = gorun::chan(0);
    ///     gorun::go(move || tx.send(42).unwrap());
    ///     assert_eq!(rx.recv().unwrap(), 42);
    /// });
    /// let json = std::fs::read_to_string(&path).unwrap();
    /// assert!(json.starts_with("{\"traceEvents\":["));
    /// # std::fs::remove_file(&path).ok();
    /// ```
    pub fn trace(mut self, path: impl Into<std::path::PathBuf>) -> Builder {
        self.trace = Some(path.into());
        self
    }

    /// Print a goroutine dump on stderr when the process receives SIGQUIT (Ctrl-\), and keep
    /// running. Off by default (SIGQUIT then kills the process as usual).
    pub fn dump_on_sigquit(mut self, on: bool) -> Builder {
        self.config.dump_on_sigquit = on;
        self
    }

    /// Runs the runtime on a virtual clock (Go's `testing/synctest`), for tests: every
    /// sleep, timer, ticker, timeout and deadline, and [`time::now`](crate::time::now), use
    /// a clock that starts at the real time the runtime starts and moves only when every
    /// goroutine is durably blocked (on channels, `sync` types, joins, sleeps or timers; not
    /// on I/O or in [`blocking`](crate::blocking)), then straight to the next deadline. It
    /// never moves while a goroutine runs or is runnable. So a test that sleeps an hour
    /// takes milliseconds, timeouts fire in deadline order (equal deadlines in the order
    /// they were set), and [`synctest::wait`](crate::synctest::wait) lets a test look at
    /// the state "right now". Any number of workers. A deadlock (every goroutine durably
    /// blocked, no timer to wait for) is reported as usual. See the crate docs'
    /// "Virtual time".
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// gorun::Builder::new().virtual_time(true).run(|| {
    ///     let start = gorun::time::now();
    ///     let timeout = gorun::after(Duration::from_secs(60));
    ///     let (_tx, rx) = gorun::chan::<u32>(0);
    ///     assert!(rx.recv_timeout(Duration::from_secs(30)).is_err());
    ///     assert_eq!(gorun::time::now() - start, Duration::from_secs(30));
    ///     timeout.recv().unwrap();
    ///     assert_eq!(gorun::time::now() - start, Duration::from_secs(60));
    /// });
    /// ```
    pub fn virtual_time(mut self, on: bool) -> Builder {
        self.config.virtual_time = on;
        self
    }

    /// Makes [`run`](Builder::run) panic with a fatal report instead of printing it and
    /// exiting the process with code 2: a deadlock, a lock cycle, or a goroutine's panic
    /// that nobody joins (`panic: ...` with the goroutine's id and creation site). The
    /// runtime is unwound first, as under [`try_run`](Builder::try_run). This is what
    /// `#[gorun::test]` uses, so that such a test fails alone instead of ending the whole
    /// test binary. Under [`try_run`](Builder::try_run) such a panic report is returned as
    /// `Err`, like a deadlock. Off by default.
    ///
    /// ```
    /// let r = std::panic::catch_unwind(|| {
    ///     gorun::Builder::new().panic_on_fatal(true).run(|| {
    ///         gorun::go(|| panic!("boom")); // detached: nobody joins it
    ///         gorun::sleep(std::time::Duration::from_secs(10));
    ///     })
    /// });
    /// let msg = *r.unwrap_err().downcast::<String>().unwrap();
    /// assert!(msg.starts_with("panic: boom"));
    /// ```
    pub fn panic_on_fatal(mut self, on: bool) -> Builder {
        self.config.panic_on_fatal = on;
        self
    }

    /// Number of worker threads (default: the number of cores, or the `GORUN_WORKERS`
    /// environment variable when set).
    ///
    /// # Panics
    /// If `n` is 0 or over 4096.
    pub fn workers(mut self, n: usize) -> Builder {
        assert!(
            n > 0,
            "gorun::Builder::workers: a runtime needs at least one worker, got 0"
        );
        assert!(
            n <= MAX_WORKERS,
            "gorun::Builder::workers: at most {MAX_WORKERS} workers, got {n}"
        );
        self.workers = Some(n);
        self
    }

    /// Usable stack bytes per goroutine (default 256 KiB), rounded up to whole pages and to
    /// at least 16 KiB. Stacks are reserved, not committed: only touched pages cost memory,
    /// and copy-on-park keeps only the live bytes of a parked goroutine. What a bigger size
    /// costs is address space and page tables: about 2 KiB of page tables per MiB of stack
    /// slots (a million goroutines with the default: about 0.5 GiB).
    ///
    /// A goroutine stack cannot grow, so it must hold the deepest call chain the goroutine
    /// makes. Measured in a debug build (no optimisation, frames at their largest; release
    /// builds need several times less) by `benchmarks/stack_depth`:
    ///
    /// | stack | `serde_json::Value` of arrays nested N deep (parse + drop) |
    /// |---:|---:|
    /// | 64 KiB | N ≤ 38 |
    /// | 128 KiB | N ≤ 79 |
    /// | 256 KiB | N ≤ 160 |
    /// | 1 MiB | N ≤ 646 |
    ///
    /// (about 1.6 KiB per level), and `regex::Regex::new` needs 116 KiB for a
    /// case-insensitive alternation of 500 words and 660 KiB for groups nested 200 deep.
    /// The default, 256 KiB, holds `serde_json` up to its own recursion limit (128) and
    /// ordinary regexes; the old default, 64 KiB, overflowed on both. A goroutine that needs
    /// more (deep recursion, a parser of untrusted nesting) gets its own size with
    /// [`GoBuilder::stack_size`](crate::GoBuilder::stack_size), which is what the overflow report suggests: four times the
    /// size that overflowed, at least 1 MiB.
    ///
    /// ```
    /// // Every goroutine of this runtime gets 1 MiB.
    /// gorun::Builder::new().stack_size(1 << 20).run(|| {
    ///     gorun::go(|| println!("plenty of room")).join().unwrap();
    /// });
    /// ```
    ///
    /// # Panics
    /// If `bytes` is 0 or over 1 GiB.
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        stack::check_size("Builder", bytes);
        self.stack_size = stack::round_stack_size(bytes);
        self
    }

    /// Deterministic schedules: one worker, and every scheduling choice drawn from a
    /// generator seeded with `seed` (which goroutine runs next, among every runnable one,
    /// unstarted ones included, at every switch; [`select!`](crate::select!)'s pick among
    /// ready cases; the coop budget). The same seed replays the same interleaving and
    /// output; different seeds explore different ones. See "Deterministic schedules" in the
    /// crate docs for what stays nondeterministic (wake-ups from outside the runtime: timers
    /// on the real clock, I/O, plain threads).
    ///
    /// The `GORUN_SEED` environment variable, when set, overrides this seed, and seeds
    /// runtimes built without one (so a failing seed is replayed without editing code).
    /// A seed also overrides [`workers`](Builder::workers): a seeded runtime has one.
    ///
    /// ```
    /// use gorun::chan;
    ///
    /// let order = |seed| {
    ///     gorun::Builder::new().seed(seed).run(|| {
    ///         let (tx, rx) = chan(0);
    ///         for id in 0..3 {
    ///             let tx = tx.clone();
    ///             gorun::go(move || tx.send(id).unwrap());
    ///         }
    ///         (0..3).map(|_| rx.recv().unwrap()).collect::<Vec<_>>()
    ///     })
    /// };
    /// assert_eq!(order(7), order(7)); // one seed, one interleaving
    /// ```
    pub fn seed(mut self, seed: u64) -> Builder {
        let explore = self.config.seeded.is_some_and(|s| s.explore);
        self.config.seeded = Some(Seeded { seed, explore });
        self
    }

    /// Under a seed, makes every gorun operation a switch point (see `gorun::check`).
    pub(crate) fn explore(mut self) -> Builder {
        if let Some(s) = &mut self.config.seeded {
            s.explore = true;
        }
        self
    }

    fn worker_count(&self) -> usize {
        if self.config.seeded.is_some() {
            return 1;
        }
        if let Some(n) = self.workers {
            return n;
        }
        if let Some(n) = std::env::var("GORUN_WORKERS")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
        {
            if n > 0 {
                return n.min(MAX_WORKERS);
            }
        }
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(MAX_WORKERS)
    }

    /// Starts a runtime, runs `f` as the main goroutine (id 1) on the calling thread, and
    /// returns its value once it returns. Goroutines still running then are abandoned (and
    /// unwound). A panic of the main goroutine propagates out of `run`.
    ///
    /// If every goroutine deadlocks, prints Go's report and exits the process with code 2
    /// (panics with it under [`Builder::panic_on_fatal`]); use [`Builder::try_run`] to get
    /// the report as an error instead.
    ///
    /// # Panics
    /// If called from inside a goroutine, or if the runtime cannot start.
    #[track_caller]
    pub fn run<F, T>(mut self, f: F) -> T
    where
        F: FnOnce() -> T,
    {
        let panic_on_fatal = self.config.panic_on_fatal;
        self.config.exit_on_fatal = !panic_on_fatal;
        match self.try_run(f) {
            Ok(v) => v,
            Err(report) if panic_on_fatal => std::panic::panic_any(report.to_string()),
            Err(deadlock) => {
                eprint!("{deadlock}");
                std::process::exit(2);
            }
        }
    }

    /// Like [`Builder::run`], but a deadlock is returned as `Err` (its `Display` is what
    /// `run` would print) after every goroutine has been unwound; the thread may then start
    /// another runtime.
    ///
    /// ```
    /// use gorun::sync::WaitGroup;
    ///
    /// let err = gorun::Builder::new()
    ///     .try_run(|| {
    ///         let wg = WaitGroup::new();
    ///         wg.add(1);
    ///         wg.wait(); // nobody will call done()
    ///     })
    ///     .unwrap_err();
    /// let report = err.to_string();
    /// assert!(report.starts_with("fatal error: all goroutines are asleep - deadlock!\n\n"));
    /// assert!(report.contains("goroutine 1 [sync.WaitGroup.Wait]:"));
    /// ```
    #[track_caller]
    pub fn try_run<F, T>(mut self, f: F) -> Result<T, Deadlock>
    where
        F: FnOnce() -> T,
    {
        assert!(
            worker::with_worker(|w| w.is_none()),
            "gorun::run called from inside a goroutine: a goroutine already has a runtime; \
             use gorun::go to start more goroutines"
        );
        if let Some(seed) = seeded::env_seed() {
            self = self.seed(seed);
        }
        let _seeded = self.config.seeded.map(|_| seeded::Live::new());
        let site = Location::caller();
        let n = self.worker_count();
        let deques: Vec<Deque<Arc<G>>> = (0..n).map(|_| Deque::new_lifo()).collect();
        let shared = Arc::new(Shared {
            workers: deques
                .iter()
                .map(|d| WorkerShared::new(d.stealer()))
                .collect(),
            injector: Injector::new(),
            idle: Mutex::new(Vec::new()),
            num_idle: AtomicUsize::new(0),
            shutdown: AtomicBool::new(false),
            timers: Timers::new(self.config.virtual_time),
            bubble: Bubble::new(),
            stacks: Stacks::new(self.stack_size),
            registry: Registry::new(n),
            lock_graph: LockGraph::default(),
            evict_budget: self
                .config
                .resident_budget
                .filter(|_| crate::sys::COPY_ON_PARK && stack::evict::available())
                .map(|b| b / RESIDENT_STACK_ESTIMATE / n),
            config: self.config.clone(),
            next_id: AtomicU64::new(MAIN_ID),
            outside_spawned: AtomicU64::new(0),
            start: Instant::now(),
            coarse_ns: AtomicU64::new(0),
            failure: Mutex::new(None),
            leaks: Mutex::new(None),
            leaked: AtomicBool::new(false),
            trace: self
                .trace
                .clone()
                .or_else(crate::trace::env_path)
                .map(|path| crate::trace::Tracer::new(path, n)),
        });

        let task = Arc::new(Task::new(f));
        let body: Arc<dyn Runnable + '_> = Arc::new(MainBody(task.clone()));
        // SAFETY: the main goroutine runs only on worker 0, which is this thread (it is put in
        // worker 0's `runnext`, which is never stolen), so `Send` is not needed; and `run`
        // does not return before the body has run or been dropped (workers unwind every
        // goroutine before `run` continues), so borrows in `f` outlive it.
        let body: Arc<dyn Runnable> = unsafe { std::mem::transmute(body) };
        let main = Arc::new(G::new(
            shared.reserve_goroutine_ids(1),
            0,
            site,
            None,
            shared.clone(),
            body,
        ));

        let monitor = Monitor::new(shared.clone());
        // Busy workers must not starve I/O: poll if nobody did during a tick (Go's sysmon).
        let mut io_check = crate::net::poller::StallCheck::default();
        let monitor = monitor.start(Box::new(move || io_check.tick()));
        let timer_thread = shared
            .timers
            .start(Some(synctest::idle_hook(Arc::downgrade(&shared))));
        let mut deques = deques.into_iter();
        let worker0 = Worker::new(0, shared.clone(), deques.next().unwrap());
        worker::bump(&shared.workers[0].stats.spawned);
        worker0.push_runnext(main);
        let threads: Vec<_> = deques
            .enumerate()
            .map(|(i, d)| {
                let shared = shared.clone();
                std::thread::Builder::new()
                    .name(format!("gorun-worker-{}", i + 1))
                    .spawn(move || Worker::new(i + 1, shared, d).run())
                    .expect("gorun: cannot spawn a worker thread")
            })
            .collect();
        worker0.run();
        drop(worker0);
        let all_exited = wait_workers(&shared, threads);
        monitor.stop();
        shared.timers.stop(timer_thread);
        if let Some(t) = &shared.trace {
            t.write();
        }
        if all_exited {
            final_cleanup(&shared);
        } else {
            shared.leak(); // a detached worker still uses it
        }
        if let Some(deadlock) = shared.failure.lock().unwrap().take() {
            return Err(deadlock);
        }
        let result = task.take_result().expect("the main goroutine finished");
        if let (Ok(_), Some(leaks)) = (&result, shared.leaks.lock().unwrap().take()) {
            panic!("{leaks}");
        }
        match result {
            Ok(v) => Ok(v),
            Err(p) => panic::resume_unwind(p),
        }
    }
}

/// The main goroutine's body: its closure need not be `Send` (see `Builder::run`).
struct MainBody<F, T>(Arc<Task<F, T>>);

// SAFETY: a `MainBody` is only ever touched on the thread that called `run` (worker 0): it
// is queued in worker 0's `runnext` and run there; the `Arc` travels nowhere else.
unsafe impl<F, T> Send for MainBody<F, T> {}
// SAFETY: as above, there is no concurrent access from another thread.
unsafe impl<F, T> Sync for MainBody<F, T> {}

impl<F: FnOnce() -> T, T> Runnable for MainBody<F, T> {
    fn run(&self) {
        // The main goroutine's handle is never dropped before it finishes: no report here.
        let _ = self.0.run_and_publish();
    }
}

/// How long `run` waits for a worker that makes no progress in its shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(100);

/// Joins the other workers once they have unwound their goroutines. A worker that makes no
/// progress for `SHUTDOWN_GRACE` (a goroutine in a CPU loop or a blocking system call,
/// which gorun cannot interrupt) is detached: `run` returns without it, as a Go program
/// exits; the thread goes on and, if its goroutine ever switches, unwinds its goroutines
/// and ends; the runtime stays allocated for it. Returns whether every worker exited.
fn wait_workers(shared: &Shared, threads: Vec<std::thread::JoinHandle<()>>) -> bool {
    let mut all = true;
    for (i, t) in threads.into_iter().enumerate() {
        let w = &shared.workers[i + 1];
        let progress = || w.stats.switches.load(Ordering::Relaxed);
        let (mut seen, mut since) = (progress(), Instant::now());
        while !w.exited.load(Ordering::SeqCst) {
            if progress() != seen {
                (seen, since) = (progress(), Instant::now());
            } else if since.elapsed() > SHUTDOWN_GRACE {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        if w.exited.load(Ordering::SeqCst) {
            t.join().ok();
        } else {
            all = false; // dropping the handle detaches the thread
        }
    }
    all
}

/// Drops whatever is still queued after every worker has exited, breaking the
/// `Shared -> queue -> G -> Shared` reference cycles. Dropping may wake more goroutines
/// (their queues are drained on the next pass).
fn final_cleanup(shared: &Shared) {
    drop(shared.registry.clear());
    loop {
        let mut any = false;
        for w in shared.workers.iter() {
            let q = w.take_remote();
            any |= !q.is_empty();
        }
        while let crossbeam_deque::Steal::Success(_) | crossbeam_deque::Steal::Retry =
            shared.injector.steal()
        {
            any = true;
        }
        if !any {
            break;
        }
    }
}

/// Starts a runtime with default settings and runs `f` as the main goroutine; see
/// [`Builder::run`].
///
/// ```
/// let sum: u64 = gorun::run(|| {
///     let handles: Vec<_> = (1..=10u64).map(|i| gorun::go(move || i * i)).collect();
///     handles.into_iter().map(|h| h.join().unwrap()).sum()
/// });
/// assert_eq!(sum, 385);
/// ```
#[track_caller]
pub fn run<F, T>(f: F) -> T
where
    F: FnOnce() -> T,
{
    Builder::new().run(f)
}
