//! Workers: one OS thread each, running goroutines from their queues.
//!
//! # Queues and who owns them
//!
//! ```text
//!             owner only                      any thread
//!  runnext  : one goroutine to run next       -
//!  ready    : started goroutines (FIFO)       -
//!  deque    : unstarted goroutines (newest    stealers take the oldest
//!             first)
//!  yielded  : goroutines that yielded (FIFO)  -
//!  remote   : -                               wakes of goroutines homed here
//!  injector : (shared by all workers)         unstarted goroutines from outside
//! ```
//!
//! Only unstarted goroutines ever move between workers (the deque and the injector); a
//! started one is always queued on its home worker: locally (`runnext`) when woken from that
//! worker's own thread, through `remote` otherwise. A goroutine just spawned or just woken
//! locally goes to `runnext`, so a hand-off between two goroutines of one worker is two
//! context switches and no cross-thread traffic; `runnext` is not stealable, which keeps a
//! freshly spawned peer on its spawner's worker (see `STEAL_DELAY`). The exception: a
//! worker carrying many goroutines starts a new one on a sleeping, lighter worker instead
//! (see `placement`).
//!
//! The owner takes the newest unstarted goroutine first, so a tree of goroutines (each
//! spawning children and waiting for them) runs depth first, with few alive at once (skynet:
//! ~20 MB instead of ~100-200 MB, and 3x faster, than breadth first); thieves take the
//! oldest, the biggest subtrees.
//!
//! # Fairness
//!
//! The order is `runnext`, `ready`, the deque (newest first), the injector, `yielded`. A
//! goroutine that yields (`yield_now`, Go's `Gosched`, or a spawner letting its batch run)
//! goes to the back of `yielded`, behind everything else runnable here. Every `FAIR_TICKS`
//! switches one source is served first, in turn: the front of `ready`, of `yielded`, the
//! injector, and the oldest of the deque. So whatever the other goroutines do (ping-pong
//! through `runnext`, a stream of wake-ups, an endless spawner), a runnable goroutine at
//! position `p` of its queue runs within about `4 * FAIR_TICKS * (p + 1)` switches.
//!
//! # Idle protocol
//!
//! A worker without work searches (steals, and polls the netpoller without waiting) for a
//! short while, then registers as sleeping and re-checks every queue before it sleeps.
//! Whoever adds work either unparks the home worker (remote wakes) or pops one sleeping
//! worker (stealable work). Both sides use SeqCst on the flag and the queue, so at least
//! one of them sees the other.
//!
//! A worker sleeps in `epoll_wait` rather than `thread::park` when it can take the
//! netpoller's blocker role (one thread at a time, see `net::poller`): then a socket edge
//! wakes it directly, and the goroutines it wakes that are homed here go to its own
//! `ready` queue (Go's `findrunnable` blocking in `netpoll`). It sets `in_poll` (SeqCst)
//! *before* `sleeping`, so anyone who sees it asleep also sees that `unpark` must write
//! the poller's waker (an eventfd, whose edge is kept like a park token) instead of
//! unparking the thread; `in_poll` is cleared as soon as `epoll_wait` returns.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;

use corosensei::{Coroutine, CoroutineResult};
use crossbeam_deque::{Steal, Stealer, Worker as Deque};

use super::cold::ColdList;
use super::netpoll::{self, Blocker};
use super::rng::{self, Rng};
use super::{seeded, Shared};
use crate::goroutine::{AtHome, EntryPoint, Suspend, G, UNSTARTED};
use crate::stack::evict::{self, SlotMeta};
use crate::stack::overflow::{self, RunningInfo};
use crate::stack::SlotStack;
use crate::trace::{Kind, Ring, Stop, Via};

mod placement;

/// Ticks between checks of the shared queues ahead of local work (fairness).
const FAIR_TICKS: u32 = 61;
/// Finished goroutines' control blocks a worker keeps for reuse.
const G_CACHE: usize = 256;
/// Goroutine ids a worker takes from the shared counter at a time (Go's `goidcache`): one
/// contended atomic per batch of spawns instead of one per spawn. Ids still increase along
/// each spawner's spawns.
const ID_BATCH: u64 = 32;
/// Free stacks a worker keeps for itself.
const STACK_CACHE: usize = 64;
/// Evicted stacks restored together, at most (`restore_batch`).
const RESTORE_BATCH: usize = 64;
/// Spawns after which a goroutine that has not switched lets its new goroutines run.
const SPAWN_BATCH: u32 = 32;
/// How long an idle worker keeps looking for work before it sleeps. Spinning this long
/// avoids a futex sleep/wake pair (microseconds each) when work arrives in quick bursts,
/// as when one goroutine spawns many.
const SEARCH_SPIN: std::time::Duration = std::time::Duration::from_micros(50);
/// A searching worker yields its OS thread (`sched_yield`) every this many rounds instead of
/// spinning through the back-off.
///
/// Why (the "select stall"): when a goroutine on this worker has just woken one homed on
/// another, sleeping worker (a channel hand-off across workers), that worker's thread is
/// runnable but may have no CPU to run on: on a machine with more runnable threads than
/// cores, or with both workers on one core, the CPU it would get is the one this worker
/// is spinning on. A pure spin then holds it off for the whole `SEARCH_SPIN`, after which
/// this worker sleeps too, and the partner's reply has to wake it through the kernel
/// again: every hand-off costs a full spin plus a futex sleep/wake pair on each side.
/// A select fed by producers on the other worker (4 x 250k unbuffered sends) took 24 s
/// instead of 0.3 s that way, and 2 to 15 s on a busy 2-core machine. It looked like a
/// lost wake-up (dumps showed both workers asleep and woken goroutines not running), but
/// every wake arrived, only late: ~380k sleeps of ~65 us each. Yielding lets the woken
/// thread run on this CPU at once; its reply then finds this worker still searching, so
/// neither side sleeps.
const SEARCH_YIELD_EVERY: u32 = 4;
/// A searching worker leaves another worker's queue alone for this long, unless the queue
/// is long: work its owner is about to run (a goroutine just spawned by a spawner that is
/// about to block, a peer it will talk to) runs faster where it was spawned, with warm
/// caches and same-thread hand-offs (ARCHITECTURE.md; Go delays stealing `runnext` ~3 µs).
const STEAL_DELAY: std::time::Duration = std::time::Duration::from_micros(5);
/// A queue at least this long is stolen from at once.
const STEAL_EAGER: usize = 128;

/// The part of a worker that other threads reach.
pub(crate) struct WorkerShared {
    remote: parking_lot::Mutex<Vec<Arc<G>>>,
    has_remote: AtomicBool,
    /// `remote`'s length, stored under its lock, read without it (placement's estimate).
    remote_hint: AtomicUsize,
    stealer: Stealer<Arc<G>>,
    sleeping: AtomicBool,
    /// Set while this worker is the netpoller's blocker (it sleeps in `epoll_wait`, so
    /// `unpark` writes the poller's waker instead of unparking the thread).
    in_poll: AtomicBool,
    thread: OnceLock<Thread>,
    /// Set when the worker has unwound its goroutines and left its loop (shutdown).
    pub(crate) exited: AtomicBool,
    /// Counters for the monitor and `metrics()`: written by the owner only (relaxed load +
    /// store, no read-modify-write on the hot path), read by anyone.
    pub(crate) stats: WorkerStats,
}

#[derive(Default)]
pub(crate) struct WorkerStats {
    /// Id of the goroutine running now, 0 when in the scheduler.
    pub(crate) running: AtomicU64,
    /// Goroutine switches (resumes) so far.
    pub(crate) switches: AtomicU64,
    pub(crate) parks: AtomicU64,
    pub(crate) steals: AtomicU64,
    /// Goroutines spawned by goroutines of this worker, started here, and finished here
    /// (`started - finished` is the load that placement balances, see `placement`).
    pub(crate) spawned: AtomicU64,
    pub(crate) started: AtomicU64,
    pub(crate) finished: AtomicU64,
    /// Goroutines this worker's goroutines spawned that it placed on another worker.
    pub(crate) placed_away: AtomicU64,
    /// Goroutines queued here when the running one was switched in, and `spawned` then:
    /// the monitor's estimate of how many wait behind a goroutine that hogs the worker.
    pub(crate) backlog: AtomicU64,
    pub(crate) spawned_at_switch: AtomicU64,
    /// Stacks moved to the heap (copy-on-park), and the heap bytes that took.
    pub(crate) evictions: AtomicU64,
    pub(crate) evicted_bytes: AtomicU64,
}

/// Adds one to an owner-written counter.
pub(crate) fn bump(c: &AtomicU64) {
    c.store(c.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

impl WorkerShared {
    pub(crate) fn new(stealer: Stealer<Arc<G>>) -> WorkerShared {
        WorkerShared {
            remote: parking_lot::Mutex::new(Vec::new()),
            has_remote: AtomicBool::new(false),
            remote_hint: AtomicUsize::new(0),
            stealer,
            sleeping: AtomicBool::new(false),
            in_poll: AtomicBool::new(false),
            thread: OnceLock::new(),
            exited: AtomicBool::new(false),
            stats: WorkerStats::default(),
        }
    }

    /// Queues a started goroutine homed here, from another thread.
    fn push_remote(&self, g: Arc<G>) {
        self.push_remote_many(std::iter::once(g));
    }

    /// Queues woken goroutines homed here with one lock and at most one thread wake-up.
    pub(crate) fn push_remote_many(&self, gs: impl IntoIterator<Item = Arc<G>>) {
        let mut remote = self.remote.lock();
        remote.extend(gs);
        self.remote_hint.store(remote.len(), Ordering::Relaxed);
        drop(remote);
        self.has_remote.store(true, Ordering::SeqCst);
        if self.sleeping.load(Ordering::SeqCst) {
            self.unpark();
        }
    }

    /// Wakes the worker if it sleeps: out of `thread::park`, or out of `epoll_wait` when it
    /// is the netpoller's blocker (see `Worker::sleep`).
    pub(crate) fn unpark(&self) {
        if self.in_poll.load(Ordering::SeqCst) {
            if let Some(p) = netpoll::get() {
                p.wake_blocker();
            }
        } else if let Some(t) = self.thread.get() {
            t.unpark();
        }
    }

    /// Unparks the worker's thread itself (a goroutine holding it, see `AtHome::park`).
    pub(crate) fn unpark_thread(&self) {
        if let Some(t) = self.thread.get() {
            t.unpark();
        }
    }

    /// Takes everything queued remotely (used by the worker and by final cleanup).
    pub(crate) fn take_remote(&self) -> Vec<Arc<G>> {
        self.has_remote.store(false, Ordering::SeqCst);
        let mut remote = self.remote.lock();
        self.remote_hint.store(0, Ordering::Relaxed);
        std::mem::take(&mut *remote)
    }

    pub(crate) fn has_stealable(&self) -> bool {
        !self.stealer.is_empty()
    }

    /// Unstarted goroutines queued here that others could steal.
    pub(crate) fn stealable_len(&self) -> usize {
        self.stealer.len()
    }

    /// Goroutines woken from other threads, not yet taken by the worker.
    pub(crate) fn remote_len(&self) -> usize {
        self.remote.lock().len()
    }

    pub(crate) fn is_sleeping(&self) -> bool {
        self.sleeping.load(Ordering::SeqCst)
    }

    pub(crate) fn has_remote(&self) -> bool {
        self.has_remote.load(Ordering::SeqCst)
    }
}

/// The worker's own state, on its thread.
pub(crate) struct Worker {
    pub(crate) index: usize,
    pub(crate) shared: Arc<Shared>,
    runnext: Cell<Option<Arc<G>>>,
    ready: RefCell<VecDeque<Arc<G>>>,
    deque: Deque<Arc<G>>,
    /// Goroutines that yielded (`yield_now`, or a spawner letting its new goroutines run):
    /// served after `ready` and the deque (see Fairness).
    yielded: RefCell<VecDeque<Arc<G>>>,
    /// Goroutines suspended in the middle of unwinding from their own panic: while any is,
    /// `std::thread::panicking()` on this thread says nothing about the running one (see
    /// `AtHome::park`).
    exposed: Cell<u32>,
    /// Whether the thread was already panicking when the worker started (`run` called
    /// from a destructor, or a panic count left behind by an earlier runtime's leaked
    /// goroutine): then `panicking()` says nothing about the running goroutine either.
    panicking_at_start: Cell<bool>,
    /// Whether `hold_thread` set `sleeping` (the running goroutine holds the thread).
    holding: Cell<bool>,
    /// Goroutines spawned by the running goroutine since it was switched in.
    spawn_run: Cell<u32>,
    /// Control blocks of finished goroutines, reused by the next spawns here (saves an
    /// allocation and a cross-thread free per goroutine).
    g_cache: RefCell<Vec<Arc<G>>>,
    /// The copy-on-park policy's candidates (`cold.rs`).
    cold: ColdList,
    /// Goroutine ids reserved for this worker's spawns: the next one and the end.
    ids: Cell<(u64, u64)>,
    /// Free stacks kept by this worker, so most starts and finishes skip the shared pool.
    stack_cache: RefCell<Vec<SlotStack>>,
    tick: Cell<u32>,
    /// The worker's generator: steal victims, `select!`'s picks (`rng::random`), and under
    /// a seed every scheduling draw.
    pub(super) rng: Rng,
    /// Seeded scheduling (`Builder::seed`): the next goroutine is drawn by `seeded::draw`.
    seeded: bool,
    /// This worker's ring when the runtime records a trace.
    trace: Option<Arc<Ring>>,
    /// What the last run's stop recorded, while the worker has not searched or slept
    /// since (see `Ring::run_start`).
    after_stop: Cell<Option<(u64, u64)>>,
}

/// Sets `WORKER` for the life of `Worker::run`, and clears both thread-locals however it
/// ends.
struct ThreadLocals;

impl ThreadLocals {
    fn set(w: &Worker) -> ThreadLocals {
        WORKER.with(|c| c.set(w as *const Worker));
        ThreadLocals
    }
}

impl Drop for ThreadLocals {
    fn drop(&mut self) {
        WORKER.with(|c| c.set(std::ptr::null()));
        CURRENT.with(|c| c.set(std::ptr::null()));
        crate::trace::leave();
    }
}

thread_local! {
    /// The worker whose loop runs on this thread (null: none). Set by `ThreadLocals` for the
    /// whole of `Worker::run`, which borrows the worker meanwhile.
    static WORKER: Cell<*const Worker> = const { Cell::new(std::ptr::null()) };
    /// The goroutine running on this thread (null: none). Non-null only while its worker has
    /// switched into it (`run_g`, `unwind_all`): the worker holds an `Arc` to it, so it
    /// outlives every borrow handed out below, which all end within a call on this thread.
    static CURRENT: Cell<*const G> = const { Cell::new(std::ptr::null()) };
}

/// What the fault handler needs to know about the goroutine running on this thread, if
/// any. Signal-safe: a constant thread-local and plain reads of the control block, which
/// its worker keeps alive while it runs.
pub(crate) fn running_info() -> Option<RunningInfo> {
    // `try_with` fails only while the thread-local is being destroyed: then none runs.
    let g = CURRENT.try_with(Cell::get).ok()?;
    // SAFETY: CURRENT's invariant (its declaration): this thread is its home.
    let g = unsafe { AtHome::of(g.as_ref()?) };
    let (guard_lo, guard_hi) = g.guard();
    Some(RunningInfo {
        guard_lo,
        guard_hi,
        id: g.id,
        stack_size: g.stack_size(),
        spawn_site: g.spawn_site,
    })
}

/// Runs `f` with the goroutine running on this thread, if any: the one reader of `CURRENT`
/// (no reference-count traffic).
#[inline]
pub(crate) fn with_current_g<R>(f: impl FnOnce(Option<&AtHome>) -> R) -> R {
    // SAFETY: CURRENT's invariant (its declaration); the borrow ends within this call, and
    // this thread is the goroutine's home.
    f(unsafe { CURRENT.with(Cell::get).as_ref().map(|g| AtHome::of(g)) })
}

/// Runs `f` on the goroutine running on this thread, if any.
#[inline]
pub(crate) fn with_running<R>(f: impl FnOnce(&AtHome) -> R) -> Option<R> {
    with_current_g(|g| g.map(f))
}

/// The id of the goroutine running on this thread, 0 on a plain thread or in the scheduler.
#[inline]
pub(crate) fn current_id() -> u64 {
    with_current_g(|g| g.map_or(0, |g| g.id))
}

/// The goroutine running on this thread, if any.
pub(crate) fn current_g() -> Option<Arc<G>> {
    with_current_g(|g| {
        let g: *const G = &**g?;
        // SAFETY: every control block lives in an `Arc` (they are made only by `Arc::new`,
        // and recycled in place), alive for this call; we add the count we hand out.
        unsafe {
            Arc::increment_strong_count(g);
            Some(Arc::from_raw(g))
        }
    })
}

/// The worker running on this thread, if any.
pub(crate) fn with_worker<R>(f: impl FnOnce(Option<&Worker>) -> R) -> R {
    // SAFETY: WORKER's invariant (its declaration); the borrow ends within this call.
    f(unsafe { WORKER.with(Cell::get).as_ref() })
}

/// Whether the running goroutine's runtime is shutting down.
pub(crate) fn shutting_down() -> bool {
    with_current_g(|g| g.is_some_and(|g| g.shared.is_shutdown()))
}

/// Whether the running goroutine is unwinding from its own panic, as far as this thread can
/// tell (see `AtHome::park`): the thread panics, and no other goroutine or earlier code left it
/// panicking.
pub(crate) fn unwinding_here() -> bool {
    std::thread::panicking()
        && with_worker(|w| w.is_some_and(|w| !w.panicking_at_start.get() && w.exposed.get() == 0))
}

/// Counts goroutines suspended mid-unwind on this worker (`AtHome::park`).
pub(crate) fn exposed(delta: i32) {
    with_worker(|w| {
        if let Some(w) = w {
            w.exposed.set(w.exposed.get().wrapping_add_signed(delta));
        }
    });
}

/// Whether goroutines other than the running one are runnable on this worker.
pub(crate) fn has_local_work() -> bool {
    with_worker(|w| w.is_some_and(|w| !w.idle() || w.me().has_remote()))
}

/// The running goroutine holds this worker's thread while it waits (`AtHome::park` while
/// unwinding) or stops doing so. While it holds it with nothing else runnable here, the
/// worker counts as asleep: wake-ups queued for it unpark the thread (so the goroutine can
/// give way), and the deadlock detector may see the whole program asleep.
pub(crate) fn hold_thread(on: bool) {
    with_worker(|w| {
        let Some(w) = w else { return };
        let me = w.me();
        if on && w.idle() && !me.has_remote() {
            me.sleeping.store(true, Ordering::SeqCst);
            w.holding.set(true);
        } else if !on && w.holding.replace(false) {
            me.sleeping.store(false, Ordering::SeqCst);
        }
    });
}

/// Queues a woken, started goroutine on its home worker.
pub(crate) fn schedule(g: Arc<G>) {
    let home = g.home();
    debug_assert_ne!(home, UNSTARTED);
    let g = with_worker(|w| match w {
        Some(w) if w.is_home_of(&g) => {
            if let Some(r) = &w.trace {
                r.wake_local(g.id, current_id());
            }
            w.push_runnext(g);
            None
        }
        _ => Some(g),
    });
    if let Some(g) = g {
        if let Some(t) = &g.shared.trace {
            t.wake(g.id, Via::Direct); // before it is queued: the wake precedes its run
        }
        if g.shared.is_shutdown() {
            return; // the home worker is gone or going; nothing will run it
        }
        let shared = g.shared.clone();
        shared.workers[home].push_remote(g);
    }
}

/// Queues many woken goroutines (from the timer thread, or whoever polled the netpoller:
/// `via`): grouped by home worker, one lock and one wake-up each; those homed on the
/// calling worker go straight to its own ready queue. Leaves `gs` empty with its
/// allocation (for a caller that reuses it).
pub(crate) fn schedule_drain(gs: &mut Vec<Arc<G>>, via: Via) {
    // Stable: goroutines of one worker are queued in the order they were woken.
    gs.sort_by_key(|g| (Arc::as_ptr(&g.shared) as usize, g.home()));
    let mut rest = &gs[..];
    while let Some(first) = rest.first() {
        let n = rest
            .iter()
            .take_while(|g| Arc::ptr_eq(&g.shared, &first.shared) && g.home() == first.home())
            .count();
        if let Some(t) = &first.shared.trace {
            t.batch(via, n);
            rest[..n].iter().for_each(|g| t.wake(g.id, via));
        }
        let local = with_worker(|w| match w {
            Some(w) if w.is_home_of(first) => {
                w.ready.borrow_mut().extend(rest[..n].iter().cloned());
                true
            }
            _ => false,
        });
        if !local && !first.shared.is_shutdown() {
            first.shared.workers[first.home()].push_remote_many(rest[..n].iter().cloned());
        }
        rest = &rest[n..];
    }
    gs.clear();
}

impl Worker {
    pub(crate) fn new(index: usize, shared: Arc<Shared>, deque: Deque<Arc<G>>) -> Worker {
        Worker {
            index,
            runnext: Cell::new(None),
            ready: RefCell::new(VecDeque::new()),
            deque,
            yielded: RefCell::new(VecDeque::new()),
            exposed: Cell::new(0),
            panicking_at_start: Cell::new(false),
            holding: Cell::new(false),
            spawn_run: Cell::new(0),
            stack_cache: RefCell::new(Vec::new()),
            cold: ColdList::default(),
            ids: Cell::new((0, 0)),
            g_cache: RefCell::new(Vec::new()),
            tick: Cell::new(0),
            // Unseeded, each run draws differently, as Go's `select` does.
            rng: match shared.config.seeded {
                Some(s) => Rng::new(s.seed),
                None => Rng::new(rng::clock_seed() ^ index as u64),
            },
            seeded: shared.config.seeded.is_some(),
            trace: shared.trace.as_ref().map(|t| t.worker_ring(index)),
            after_stop: Cell::new(None),
            shared,
        }
    }

    /// Whether this worker is `g`'s home (same index, same runtime).
    #[inline]
    fn is_home_of(&self, g: &G) -> bool {
        self.index == g.home() && Arc::ptr_eq(&self.shared, &g.shared)
    }

    fn me(&self) -> &WorkerShared {
        &self.shared.workers[self.index]
    }

    /// Queues a goroutine (started or not) to run next on this worker.
    pub(crate) fn push_runnext(&self, g: Arc<G>) {
        if let Some(old) = self.runnext.replace(Some(g)) {
            self.push_back(old);
        }
    }

    fn push_back(&self, g: Arc<G>) {
        if g.home() == UNSTARTED {
            self.deque.push(g);
            self.shared.notify_stealable();
        } else {
            self.ready.borrow_mut().push_back(g);
        }
    }

    /// Runs the scheduling loop until the runtime shuts down, then unwinds the goroutines
    /// still homed here.
    pub(crate) fn run(&self) {
        self.me().thread.set(std::thread::current()).ok();
        let _owned = crate::sys::OwnedThread::register();
        let _alt = overflow::init_thread(running_info);
        self.panicking_at_start.set(std::thread::panicking());
        // Reset on every way out, so this thread can run a runtime again.
        let _tls = ThreadLocals::set(self);
        if let (Some(t), Some(r)) = (&self.shared.trace, &self.trace) {
            t.bind(r);
        }
        while !self.shared.is_shutdown() {
            match self.next_local().or_else(|| self.search()) {
                Some(g) => self.run_g(g),
                None => self.sleep(),
            }
        }
        self.unwind_all();
        self.me().exited.store(true, Ordering::SeqCst);
    }

    fn next_local(&self) -> Option<Arc<G>> {
        if self.seeded {
            return self.next_seeded();
        }
        let t = self.tick.get().wrapping_add(1);
        self.tick.set(t);
        if t.is_multiple_of(FAIR_TICKS) {
            self.shared.timers.run_due();
            self.evict_old(8);
            self.drain_remote();
            // Each source in turn is served first (see Fairness in the module docs).
            let turn = (t / FAIR_TICKS) % 4;
            for k in 0..4 {
                if let Some(g) = self.take_fair((turn + k) % 4) {
                    return Some(g);
                }
            }
        }
        if self.me().has_remote.load(Ordering::Relaxed) {
            self.drain_remote();
        }
        if let Some(g) = self.runnext.take() {
            return Some(g);
        }
        if let Some(g) = self.ready.borrow_mut().pop_front() {
            return Some(g);
        }
        // Emptiness first: popping an empty deque costs a SeqCst fence, and stealing from
        // the injector a contended cache line; a yield round trip checks both every time.
        if !self.deque.is_empty() {
            if let Some(g) = self.deque.pop() {
                return Some(g);
            }
        }
        if !self.shared.injector.is_empty() {
            if let Some(g) = self.steal_injector() {
                return Some(g);
            }
        }
        self.yielded.borrow_mut().pop_front()
    }

    /// Seeded scheduling (see `seeded`): every goroutine runnable here into `ready`, then
    /// one drawn from the seeded generator.
    fn next_seeded(&self) -> Option<Arc<G>> {
        let before = self.ready.borrow().len();
        self.drain_remote();
        let mut ready = self.ready.borrow_mut();
        seeded::order_batch(&mut ready.make_contiguous()[before..]);
        ready.extend(self.runnext.take());
        ready.extend(self.yielded.borrow_mut().drain(..));
        loop {
            while let Some(g) = self.deque.pop() {
                ready.push_back(g);
            }
            match self.steal_injector() {
                Some(g) => ready.push_back(g),
                None => break,
            }
        }
        seeded::draw(&mut ready, &self.rng)
    }

    /// The fairness step's sources, by number.
    fn take_fair(&self, source: u32) -> Option<Arc<G>> {
        match source {
            0 => self.ready.borrow_mut().pop_front(),
            1 => self.yielded.borrow_mut().pop_front(),
            2 => self.steal_injector(),
            // The deque's oldest: the owner otherwise takes the newest first.
            _ => match self.me().stealer.steal() {
                Steal::Success(g) => Some(g),
                _ => None,
            },
        }
    }

    /// Counts a spawn by the running goroutine; true when it should now yield to the
    /// goroutines it spawned (see `Suspend::YieldToSpawned`).
    pub(crate) fn spawned_one(&self) -> bool {
        bump(&self.me().stats.spawned);
        let n = self.spawn_run.get() + 1;
        self.spawn_run.set(n);
        n >= SPAWN_BATCH && !CURRENT.with(Cell::get).is_null()
    }

    fn drain_remote(&self) {
        let me = self.me();
        me.has_remote.store(false, Ordering::SeqCst);
        // Drained in place: the queue keeps its buffer, so a stream of wake-ups from another
        // thread allocates nothing (and frees nothing across threads).
        let mut remote = me.remote.lock();
        me.remote_hint.store(0, Ordering::Relaxed);
        self.ready.borrow_mut().extend(remote.drain(..));
    }

    fn steal_injector(&self) -> Option<Arc<G>> {
        loop {
            match self.shared.injector.steal_batch_and_pop(&self.deque) {
                Steal::Success(g) => return Some(g),
                Steal::Empty => return None,
                Steal::Retry => {}
            }
        }
    }

    /// Tries to steal unstarted goroutines from the other workers for a short while.
    fn search(&self) -> Option<Arc<G>> {
        self.after_stop.set(None);
        let n = self.shared.workers.len();
        let start = std::time::Instant::now();
        let mut waited = std::time::Duration::ZERO;
        for round in 0u32.. {
            if round % 4 == 3 {
                waited = start.elapsed();
                if waited > SEARCH_SPIN {
                    break;
                }
            }
            if n > 1 {
                let start = self.rng.below(n);
                for i in 0..n {
                    let victim = (start + i) % n;
                    let v = &self.shared.workers[victim];
                    // Leave young work to its owner (see STEAL_DELAY).
                    if victim == self.index
                        || (waited < STEAL_DELAY && v.stealable_len() < STEAL_EAGER)
                    {
                        continue;
                    }
                    if let Steal::Success(g) = self.shared.workers[victim]
                        .stealer
                        .steal_batch_and_pop(&self.deque)
                    {
                        bump(&self.me().stats.steals);
                        if let Some(r) = &self.trace {
                            r.record(Kind::Steal, 0, g.id, victim as u64);
                        }
                        return Some(g);
                    }
                }
            }
            // Due timers are this worker's to fire while it has nothing else to do.
            if round % 4 == 0 && self.shared.timers.due() {
                self.shared.timers.run_due();
                if let Some(g) = self.next_local() {
                    return Some(g);
                }
            }
            // Sockets may have become ready for goroutines homed here (or elsewhere).
            if round % 4 == 0 && netpoll::get().is_some_and(|p| p.poll_now()) {
                if let Some(g) = self.next_local() {
                    return Some(g);
                }
            }
            if self.me().has_remote.load(Ordering::Relaxed) || !self.shared.injector.is_empty() {
                return self.next_local();
            }
            if self.shared.is_shutdown() {
                return None;
            }
            // Back off: polling other workers' queues in a tight loop slows their owners
            // down (the cache lines bounce). Every `SEARCH_YIELD_EVERY` rounds the back-off
            // gives the CPU away instead of spinning on it (see `SEARCH_YIELD_EVERY`).
            if round % SEARCH_YIELD_EVERY == SEARCH_YIELD_EVERY - 1 {
                std::thread::yield_now();
            } else {
                for _ in 0..(1u32 << round.min(6)) {
                    std::hint::spin_loop();
                }
            }
        }
        None
    }

    /// Sleeps until woken: in `epoll_wait` as the netpoller's blocker when the role is
    /// free (see the module docs), else in `thread::park`.
    fn sleep(&self) {
        let me = self.me();
        let blocker = Blocker::take();
        if blocker.is_some() {
            // Before `sleeping`: whoever sees us asleep also sees where to wake us.
            me.in_poll.store(true, Ordering::SeqCst);
        }
        me.sleeping.store(true, Ordering::SeqCst);
        self.shared.add_idle(self.index);
        let work = me.has_remote.load(Ordering::SeqCst)
            || !self.shared.injector.is_empty()
            || self.shared.workers.iter().any(|w| w.has_stealable())
            || self.shared.shutdown.load(Ordering::SeqCst);
        let mut duty = None;
        if !work {
            super::bubble::worker_idle(&self.shared);
            // Cold goroutines are evicted when idle; wake up for the next ones to cool.
            let evict = match self.shared.config.evict_after {
                Some(after) if self.evict_old(usize::MAX) => Some(after),
                _ => None,
            };
            // And for the next timer, if no other sleeping worker does (see `take_duty`).
            duty = self.shared.timers.take_duty();
            let timeout = match (evict, duty) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            match (&blocker, timeout) {
                // Goroutines the poll wakes that are homed here land in `ready`.
                (Some(b), t) => b.wait(t, || me.in_poll.store(false, Ordering::SeqCst)),
                (None, Some(t)) => std::thread::park_timeout(t),
                (None, None) => std::thread::park(),
            }
        }
        me.in_poll.store(false, Ordering::SeqCst);
        drop(blocker);
        me.sleeping.store(false, Ordering::SeqCst);
        self.shared.remove_idle(self.index);
        if duty.is_some() {
            // Awake and counted as such before what it fires is queued here.
            self.shared.timers.end_duty();
            self.shared.timers.run_due();
        }
    }

    fn run_g(&self, g: Arc<G>) {
        if g.home() == UNSTARTED {
            self.start(&g);
        } else {
            self.restore_batch(&g);
        }
        // SAFETY: we are g's home worker (we just started it, or it was queued here).
        let h = unsafe { AtHome::of(&g) };
        // SAFETY: it is suspended.
        unsafe { h.restore() };
        // SAFETY: we are g's home worker and hold no other reference to its coroutine.
        let coro = unsafe { g.coro_mut() }.expect("started goroutine has a coroutine");
        let stats = &self.me().stats;
        // Started goroutines queued here; the monitor adds the stealable ones itself.
        let backlog = self.ready.borrow().len() + self.yielded.borrow().len();
        stats.backlog.store(backlog as u64, Ordering::Relaxed);
        stats
            .spawned_at_switch
            .store(stats.spawned.load(Ordering::Relaxed), Ordering::Relaxed);
        stats.running.store(g.id, Ordering::Relaxed);
        CURRENT.with(|c| c.set(Arc::as_ptr(&g)));
        self.spawn_run.set(0);
        if let Some(r) = &self.trace {
            r.run_start(g.id, self.after_stop.get());
        }
        let result = loop {
            let result = coro.resume(());
            bump(&stats.switches);
            match result {
                // A yield with nothing else to run here: resume it at once, without the
                // round trip through the queues. (Nothing was queued or spawned meanwhile,
                // so the monitor's figures above still hold.)
                // Unless a timer is due: the scheduler fires it below.
                CoroutineResult::Yield(Suspend::Yield)
                    if self.nothing_else() && !self.shared.timers.due() => {}
                r => break r,
            }
        };
        stats.running.store(0, Ordering::Relaxed);
        CURRENT.with(|c| c.set(std::ptr::null()));
        if let Some(r) = &self.trace {
            let stop = match result {
                CoroutineResult::Yield(Suspend::Park) => Stop::Park,
                CoroutineResult::Yield(_) => Stop::Yield,
                CoroutineResult::Return(()) => Stop::Exit,
            };
            self.after_stop
                .set(Some(r.run_stop(g.id, stop, g.wait_reason())));
        }
        match result {
            CoroutineResult::Yield(Suspend::Yield) => {
                // A yield is a scheduling point: what is due runs before the yielder again.
                self.shared.timers.run_due();
                self.offer_unstarted();
                self.yielded.borrow_mut().push_back(g)
            }
            CoroutineResult::Yield(Suspend::YieldToSpawned) => {
                self.shared.timers.run_due();
                self.yielded.borrow_mut().push_back(g)
            }
            CoroutineResult::Yield(Suspend::Park) => {
                bump(&stats.parks);
                self.cold.note_parked(&self.shared, &self.me().stats, g);
            }
            CoroutineResult::Return(()) => self.finish(g),
        }
    }

    /// Whether nothing is queued here.
    fn idle(&self) -> bool {
        self.runnext_is_empty()
            && self.ready.borrow().is_empty()
            && self.deque.is_empty()
            && self.yielded.borrow().is_empty()
    }

    /// Whether no other goroutine could run here now (and the scheduler has nothing to do
    /// on this tick): then a yielding goroutine goes on at once.
    fn nothing_else(&self) -> bool {
        let t = self.tick.get().wrapping_add(1);
        self.tick.set(t);
        !t.is_multiple_of(FAIR_TICKS)
            && self.idle()
            && !self.me().has_remote.load(Ordering::Relaxed)
            && self.shared.injector.is_empty()
            && !self.shared.is_shutdown()
    }

    fn runnext_is_empty(&self) -> bool {
        let g = self.runnext.take();
        let empty = g.is_none();
        self.runnext.set(g);
        empty
    }

    fn start(&self, g: &Arc<G>) {
        // SAFETY: we popped `g` from a run queue, so we own its start.
        let body = unsafe { g.take_entry() }.expect("unstarted goroutine has an entry");
        let stack = self.take_stack(g.stack_class());
        let (top, slot) = (stack.top(), stack.meta() as *const SlotMeta);
        let gp = Arc::as_ptr(g);
        let coro = Coroutine::with_stack(stack, move |y, ()| {
            // SAFETY: the registry keeps the goroutine alive while its coroutine exists,
            // and the coroutine runs only on its home thread, this one.
            unsafe { AtHome::of(&*gp) }.set_yielder(y);
            body.run();
        });
        // SAFETY: called once, on this (the home) thread, by the owner of the entry; `slot`
        // is the state of the coroutine's stack, alive as long as the pool.
        unsafe { g.start(self.index, coro, top, &*slot) };
        bump(&self.me().stats.started);
        self.shared.registry.insert(g);
    }

    fn finish(&self, g: Arc<G>) {
        // SAFETY: home thread; the coroutine has returned and nobody else borrows it.
        let coro = unsafe { g.take_coro() }.expect("finished goroutine has a coroutine");
        let stack = coro.into_stack();
        let class = g.stack_class();
        let mut cache = self.stack_cache.borrow_mut();
        if class == 0 && cache.len() < STACK_CACHE {
            cache.push(stack);
        } else {
            self.shared.stacks.pool(class).free(stack);
        }
        drop(cache);
        bump(&self.me().stats.finished);
        self.shared.registry.remove(&g);
        self.shared.goroutine_finished(&g);
        // Nobody else can reach a finished goroutine we hold the only reference to.
        let mut cache = self.g_cache.borrow_mut();
        if Arc::strong_count(&g) == 1 && cache.len() < G_CACHE {
            cache.push(g);
        }
    }

    /// A free stack of size class `class`: of the default class from this worker's cache
    /// (refilled with neighbouring slots, so they can be released together later), of
    /// bigger ones (rarer) from their pool. Exits the process if none can be had.
    fn take_stack(&self, class: u8) -> SlotStack {
        let mut one = Vec::new();
        let mut cache = self.stack_cache.borrow_mut();
        let (want, from) = if class == 0 {
            (STACK_CACHE / 2, &mut *cache)
        } else {
            (1, &mut one)
        };
        if from.is_empty() {
            if let Err(e) = self.shared.stacks.pool(class).alloc_batch(want, from) {
                eprintln!("fatal error: cannot allocate a goroutine stack: {e}");
                if let Some(t) = &self.shared.trace {
                    t.write();
                }
                std::process::exit(2);
            }
        }
        from.pop().expect("the cache was refilled")
    }

    /// A new unstarted goroutine with a stack of size class `class`, in a recycled control
    /// block when one is free.
    pub(crate) fn new_goroutine(
        &self,
        parent: u64,
        site: &'static Location<'static>,
        name: Option<Box<str>>,
        class: u8,
        body: EntryPoint,
    ) -> Arc<G> {
        let (next, end) = self.ids.get();
        let (id, end) = if next < end {
            (next, end)
        } else {
            let first = self.shared.reserve_goroutine_ids(ID_BATCH);
            (first, first + ID_BATCH)
        };
        self.ids.set((id + 1, end));
        let g = match self.g_cache.borrow_mut().pop() {
            Some(mut g) => {
                Arc::get_mut(&mut g)
                    .expect("a cached goroutine is referenced nowhere else")
                    .reuse(id, parent, site, name, body);
                g
            }
            None => Arc::new(G::new(id, parent, site, name, self.shared.clone(), body)),
        };
        g.set_stack_class(class);
        g
    }

    /// If `g` (about to run) has an evicted stack, restores it together with those of the
    /// next goroutines queued in `ready` (woken in a storm, they usually are neighbours in
    /// their chunk): one `mprotect` each way per run of neighbouring slots.
    fn restore_batch(&self, g: &Arc<G>) {
        // SAFETY (restorations): home thread; `g` and every goroutine in `ready` are
        // suspended (this thread is in the scheduler), and none is restored, saved or run
        // before the batch is done.
        let Some(first) = (unsafe { AtHome::of(g).restoration() }) else {
            return;
        };
        let ready = self.ready.borrow();
        let mut batch = Vec::with_capacity(RESTORE_BATCH);
        batch.push(first);
        batch.extend(
            (ready.iter().take(RESTORE_BATCH - 1))
                .filter(|r| r.home() == self.index)
                // SAFETY: as above, for each goroutine of `ready` homed here.
                .filter_map(|r| unsafe { AtHome::of(r).restoration() }),
        );
        if batch.len() == 1 {
            return; // the goroutine's own restore does the same for one
        }
        let guard = self.shared.stacks.guard_size();
        // SAFETY: as above; each restoration describes its goroutine's slot and record.
        unsafe { evict::restore_batch(&mut batch, guard) };
    }

    /// At shutdown: unwinds every goroutine still homed here, on this thread (their
    /// destructors run where they lived).
    ///
    /// Each is resumed once, marked abandoned, and unwinds from its park (or yield) with the
    /// `ABANDONED` payload, caught at its root. One that blocks in a destructor during that
    /// unwind, or catches it and then parks or yields, is leaked where it stands, as is one suspended in the middle of unwinding from
    /// its own panic (resuming it to unwind again would panic inside a destructor): such a
    /// goroutine never runs again, its remaining destructors do not run, and its stack
    /// stays mapped for good (the runtime is leaked: something may still point into that
    /// stack). Go runs nothing at exit; gorun runs every destructor that can complete.
    fn unwind_all(&self) {
        let stats = &self.me().stats;
        for g in self.shared.registry.snapshot() {
            if g.home() != self.index {
                continue;
            }
            // SAFETY: this is g's home worker (checked above), on its thread.
            let h = unsafe { AtHome::of(&g) };
            if h.is_mid_unwind() {
                self.leak(&g);
                continue;
            }
            h.abandon();
            CURRENT.with(|c| c.set(Arc::as_ptr(&g)));
            // SAFETY: the goroutine is suspended; its stack must be resident to unwind.
            unsafe { h.restore() };
            // SAFETY: home thread, no other borrow of the coroutine.
            let coro = unsafe { g.coro_mut() }.expect("a registered goroutine has started");
            bump(&stats.switches);
            if let Some(r) = &self.trace {
                r.run_start(g.id, None);
            }
            // A yield back means it blocked in a destructor while unwinding, or caught the
            // unwind and then parked or yielded: given up (see above). It is never resumed,
            // so a goroutine that catches every unwind cannot keep its worker busy forever.
            let finished = matches!(coro.resume(()), CoroutineResult::Return(()));
            CURRENT.with(|c| c.set(std::ptr::null()));
            if let Some(r) = &self.trace {
                r.run_stop(g.id, Stop::Unwound, g.wait_reason());
            }
            if finished {
                self.finish(g);
            } else {
                self.leak(&g);
            }
        }
        // Unstarted goroutines: dropping them drops their closures.
        self.runnext.take();
        self.ready.borrow_mut().clear();
        self.yielded.borrow_mut().clear();
        self.cold.clear();
        self.g_cache.borrow_mut().clear();
        while self.deque.pop().is_some() {}
        drop(self.take_all_remote());
    }

    /// Gives up a goroutine that cannot be unwound (see `unwind_all`): it leaves the
    /// registry, its coroutine is forgotten, and the runtime (with its stack mappings) is
    /// kept alive for good.
    fn leak(&self, g: &Arc<G>) {
        // SAFETY: home thread, the goroutine is suspended and nobody borrows its coroutine.
        std::mem::forget(unsafe { g.take_coro() });
        self.shared.registry.remove(g);
        self.shared.leak();
    }

    /// See `ColdList::evict_old`.
    fn evict_old(&self, max: usize) -> bool {
        self.cold
            .evict_old(&self.shared, &self.me().stats, max, self.idle())
    }

    fn take_all_remote(&self) -> Vec<Arc<G>> {
        self.me().take_remote()
    }
}
