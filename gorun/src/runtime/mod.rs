//! The runtime: `Builder`, `run`, and the state its workers share.
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

mod fatal;
pub(crate) mod handle;
mod registry;
pub(crate) mod worker;

use std::panic::{self, Location};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_deque::{Injector, Worker as Deque};

use crate::diag::{self, lockgraph::LockGraph, monitor::Monitor};
use crate::goroutine::{self, JoinHandle, Runnable, Task, G};
use crate::stack::{self, classes::Stacks};
use crate::time::Timers;
pub use fatal::Deadlock;
pub use handle::Handle;
use registry::Registry;
use worker::{Worker, WorkerShared};

/// State shared by the workers of one runtime and by every goroutine in it.
pub(crate) struct Shared {
    pub(crate) workers: Box<[WorkerShared]>,
    pub(crate) injector: Injector<Arc<G>>,
    idle: Mutex<Vec<usize>>,
    num_idle: AtomicUsize,
    shutdown: AtomicBool,
    pub(crate) timers: Timers,
    pub(crate) stacks: Stacks,
    pub(crate) registry: Registry,
    pub(crate) lock_graph: LockGraph,
    pub(crate) config: Config,
    /// Resident parked stacks each worker keeps before copy-on-park (`None`: off).
    pub(crate) evict_budget: Option<usize>,
    next_id: AtomicU64,
    /// Goroutines started from outside the workers (`Handle::go`); see `handle`.
    pub(crate) outside_spawned: AtomicU64,
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
}

/// Diagnostics settings of a runtime (see the `Builder` methods).
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) deadlock_detection: bool,
    pub(crate) stuck_after: Option<Duration>,
    pub(crate) leak_check: bool,
    pub(crate) dump_on_sigquit: bool,
    pub(crate) lock_cycles_fatal: bool,
    /// Copy-on-park: evict stacks parked longer than this (`None`: never by age).
    pub(crate) evict_after: Option<Duration>,
    /// Copy-on-park: resident parked stacks allowed, in bytes (`None`: copy-on-park off).
    pub(crate) resident_budget: Option<usize>,
    /// A fatal report (deadlock, lock cycle) is printed and the process exits with code 2
    /// at once (`run`), instead of unwinding and returning it (`try_run`).
    pub(crate) exit_on_fatal: bool,
}

impl Shared {
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
    }

    fn remove_idle(&self, index: usize) {
        let mut idle = self.idle.lock().unwrap();
        if let Some(pos) = idle.iter().position(|&i| i == index) {
            idle.swap_remove(pos);
            self.num_idle.fetch_sub(1, Ordering::SeqCst);
        }
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
            if self.config.leak_check && alive > 0 {
                let report = format!(
                    "gorun: leak check: {alive} goroutine(s) still alive when main returned:\n\n{}",
                    diag::dump_runtime(self)
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
                leak_check: false,
                dump_on_sigquit: false,
                lock_cycles_fatal: true,
                evict_after: Some(Duration::from_millis(100)),
                resident_budget: Some(16 << 20),
                exit_on_fatal: false,
            },
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
        self.config.leak_check = on;
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
    /// Linux only: on macOS copy-on-park is always off (see the README's platform table).
    pub fn resident_stack_budget(mut self, bytes: Option<usize>) -> Builder {
        self.config.resident_budget = bytes;
        self
    }

    /// Print a goroutine dump on stderr when the process receives SIGQUIT (Ctrl-\), and keep
    /// running. Off by default (SIGQUIT then kills the process as usual).
    pub fn dump_on_sigquit(mut self, on: bool) -> Builder {
        self.config.dump_on_sigquit = on;
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
    /// [`GoBuilder::stack_size`], which is what the overflow report suggests: four times the
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
        check_stack_size("Builder", bytes);
        self.stack_size = stack::round_stack_size(bytes);
        self
    }

    fn worker_count(&self) -> usize {
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
    /// If every goroutine deadlocks, prints Go's report and exits the process with code 2;
    /// use [`Builder::try_run`] to get the report as an error instead.
    ///
    /// # Panics
    /// If called from inside a goroutine, or if the runtime cannot start.
    #[track_caller]
    pub fn run<F, T>(mut self, f: F) -> T
    where
        F: FnOnce() -> T,
    {
        self.config.exit_on_fatal = true;
        match self.try_run(f) {
            Ok(v) => v,
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
    pub fn try_run<F, T>(self, f: F) -> Result<T, Deadlock>
    where
        F: FnOnce() -> T,
    {
        assert!(
            worker::with_worker(|w| w.is_none()),
            "gorun::run called from inside a goroutine: a goroutine already has a runtime; \
             use gorun::go to start more goroutines"
        );
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
            timers: Timers::new(),
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
        let timer_thread = shared.timers.start();
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

/// Starts a goroutine running `f` and returns a handle to join it.
///
/// The goroutine starts on the calling goroutine's worker by default; idle workers may steal
/// it before it starts. Once started it stays on that worker's thread.
///
/// A goroutine gets its stack when it starts. If no stack can be had then (the kernel's
/// memory-map limit on kernels without `MADV_GUARD_INSTALL`, or address space exhausted),
/// the program stops with a `fatal error` that says how many goroutines fit and how to
/// raise the limit, as Go stops when it runs out of memory.
///
/// Inside [`blocking`](crate::blocking) the goroutine starts on the caller's runtime; a
/// plain thread starts goroutines through a [`Handle`].
///
/// # Panics
/// Outside a runtime (wrap the program in [`run`] or `#[gorun::main]`), on a plain thread
/// other than a blocking-pool one.
#[track_caller]
pub fn go<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    spawn(f, None, Location::caller())
}

pub(crate) fn spawn<F, T>(
    f: F,
    name: Option<Box<str>>,
    site: &'static Location<'static>,
) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    spawn_with(f, name, None, site)
}

/// [`spawn`] on a stack of at least `stack` usable bytes (`None`: the runtime's default).
pub(crate) fn spawn_with<F, T>(
    f: F,
    name: Option<Box<str>>,
    stack: Option<usize>,
    site: &'static Location<'static>,
) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let task = Arc::new(Task::new(f));
    if worker::with_worker(|w| w.is_none()) {
        // A plain thread: the blocking pool knows its caller's runtime.
        let shared = handle::entered().unwrap_or_else(|| {
            panic!(
                "gorun::go called outside a gorun runtime: wrap the program in \
                 gorun::run(|| ...) or use #[gorun::main], or start goroutines from a \
                 plain thread with gorun::Handle::go"
            )
        });
        let class = stack.map_or(0, |b| shared.stacks.class_for(b));
        let id = handle::inject(&shared, task.clone(), name, class, site);
        return JoinHandle::new(task, id);
    }
    worker::with_worker(|w| {
        let w = w.expect("checked above");
        let parent = worker::current_id();
        let class = stack.map_or(0, |b| w.shared.stacks.class_for(b));
        let g = w.new_goroutine(parent, site, name, class, task.clone());
        let id = g.id;
        w.push_runnext(g);
        if w.spawned_one() {
            worker::with_current_g(|g| g.map(|g| g.give_way(goroutine::Suspend::YieldToSpawned)));
        }
        JoinHandle::new(task, id)
    })
}

/// Keeps the calling goroutine's stack resident while it lives: a hint to copy-on-park, not
/// a safety requirement. Any access to an evicted stack, from any thread, finds what the
/// goroutine left (the stack is restored on the spot); the pin saves those restores for a
/// stack that other threads use while it is parked, and keeps system calls that another
/// thread makes on its memory (a buffer lent to the kernel or to foreign code) from failing
/// with `EFAULT`. No-op on a plain thread.
///
/// ```
/// gorun::run(|| {
///     let _pin = gorun::pin_stack();
///     let buf = [0u8; 64];
///     // ... hand `buf.as_ptr()` to foreign code that keeps it while we park ...
///     # let _ = buf;
/// });
/// ```
pub fn pin_stack() -> StackPin {
    let g = worker::current_g();
    if let Some(g) = &g {
        g.pin_stack();
    }
    StackPin {
        g,
        _not_send: std::marker::PhantomData,
    }
}

/// Returned by [`pin_stack`]; unpins on drop. It belongs to its goroutine:
///
/// ```compile_fail
/// fn send<T: Send>() {}
/// send::<gorun::StackPin>();
/// ```
#[must_use = "the stack is pinned only while the StackPin lives"]
pub struct StackPin {
    g: Option<Arc<G>>,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for StackPin {
    fn drop(&mut self) {
        if let Some(g) = &self.g {
            g.unpin_stack();
        }
    }
}

impl std::fmt::Debug for StackPin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StackPin").finish_non_exhaustive()
    }
}

/// Starts goroutines with options, like `std::thread::Builder`: a name shown in goroutine
/// dumps and deadlock reports, and a stack size.
///
/// ```
/// gorun::run(|| {
///     let h = gorun::GoBuilder::new().name("fetcher").go(|| gorun::dump());
///     assert!(h.join().unwrap().contains("name: fetcher"));
/// });
/// ```
#[derive(Clone, Debug, Default)]
pub struct GoBuilder {
    name: Option<String>,
    stack_size: Option<usize>,
}

impl GoBuilder {
    /// A builder for a goroutine with no name and the runtime's default stack size.
    pub fn new() -> GoBuilder {
        GoBuilder::default()
    }

    /// Names the goroutine.
    pub fn name(mut self, name: impl Into<String>) -> GoBuilder {
        self.name = Some(name.into());
        self
    }

    /// Gives the goroutine a stack of at least `bytes` usable bytes, for deep recursion
    /// (parsers of nested input, recursive descent over big trees) that would overflow
    /// the default (see [`Builder::stack_size`] for what fits in it). Sizes up to 1 GiB
    /// are honoured, never capped.
    ///
    /// Stacks come in size classes: the runtime's default size and its doublings, so the
    /// stack is the smallest class that holds `bytes` (at most twice `bytes`), and at least
    /// the default. Like every goroutine stack it is reserved address space: only the
    /// pages the goroutine touches cost memory, and while it is parked copy-on-park keeps
    /// only its live bytes, as for any other goroutine. Its overflow is reported like any
    /// other goroutine's, with its size.
    ///
    /// ```
    /// fn depth(n: u32) -> u32 {
    ///     let frame = [n; 256]; // 1 KiB of locals per call
    ///     if n == 0 { 0 } else { 1 + depth(std::hint::black_box(frame)[0] - 1) }
    /// }
    ///
    /// gorun::run(|| {
    ///     // 5 to 10 MiB of frames (debug builds copy `frame` around): far beyond the
    ///     // default stack.
    ///     let h = gorun::GoBuilder::new().stack_size(32 << 20).go(|| depth(5_000));
    ///     assert_eq!(h.join().unwrap(), 5_000);
    /// });
    /// ```
    ///
    /// # Panics
    /// If `bytes` is 0 or over 1 GiB.
    pub fn stack_size(mut self, bytes: usize) -> GoBuilder {
        check_stack_size("GoBuilder", bytes);
        self.stack_size = Some(bytes);
        self
    }

    /// Starts the goroutine; see [`go`].
    #[track_caller]
    pub fn go<F, T>(self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        spawn_with(
            f,
            self.name.map(String::into_boxed_str),
            self.stack_size,
            Location::caller(),
        )
    }
}

/// Panics unless `bytes` is a stack size `who`'s `stack_size` accepts.
fn check_stack_size(who: &str, bytes: usize) {
    assert!(
        bytes > 0,
        "gorun::{who}::stack_size: the stack size must be positive, got 0"
    );
    assert!(
        bytes <= stack::MAX_STACK,
        "gorun::{who}::stack_size: {bytes} bytes is absurd (the limit is {} bytes)",
        stack::MAX_STACK
    );
}

/// The id of the running goroutine (1 for the main goroutine), or 0 on a plain thread.
pub fn current_id() -> u64 {
    worker::current_id()
}

/// The number of goroutines that exist in the current runtime (started or not, main
/// included); 0 outside a runtime.
pub fn num_goroutine() -> usize {
    worker::with_worker(|w| w.map_or(0, |w| w.shared.num_goroutine()))
}

/// Lets every other runnable goroutine of this worker run first, then continues (Go's
/// `runtime.Gosched`; see Fairness in the crate docs). Continues at once when nothing else
/// is runnable here, and while the goroutine unwinds from a panic (a switch would expose
/// the thread's panicking state). On a plain thread it calls `std::thread::yield_now`.
pub fn yield_now() {
    worker::with_current_g(|g| match g {
        Some(g) => g.give_way(goroutine::Suspend::Yield),
        None => std::thread::yield_now(),
    })
}
