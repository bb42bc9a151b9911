//! Timers: one heap and one timer thread per runtime.
//!
//! `sleep`, timeouts (`park_until`) and timer channels register a [`TimerNode`] in the heap;
//! the timer thread waits on a condition variable until the earliest deadline, then runs
//! the due actions (wake a goroutine, or call a closure) outside the lock. A handle can
//! cancel its timer: the node is marked and its action dropped at once, and the heap entry
//! is discarded when it surfaces. The same thread runs the runtime's monitor every 10 ms
//! (`diag::monitor`).

use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle as ThreadHandle;
use std::time::{Duration, Instant};

use crate::chan::{timer_chan, Receiver, Sender, TrySendError};
use crate::goroutine::G;
use crate::park::{self, Unparker, WaitReason};
use crate::runtime::worker;
use crate::runtime::Shared;

mod timer;
pub(crate) use timer::Clock;
pub use timer::{at, Ticker, Timer};

/// What a timer does when it fires.
pub(crate) enum TimerAction {
    Wake(Unparker),
    Call(Box<dyn FnOnce() + Send>),
}

/// Period of the monitor tick run on the timer thread.
const TICK: Duration = Duration::from_millis(10);

pub(crate) struct TimerNode {
    seq: u64,
    cancelled: AtomicBool,
    action: Mutex<Option<TimerAction>>,
}

/// Cancels its timer with [`TimerHandle::cancel`]; dropping it leaves the timer armed.
pub(crate) struct TimerHandle {
    node: Arc<TimerNode>,
}

impl TimerHandle {
    /// Disarms the timer (of `timers`, which created it) if it has not fired. Returns
    /// whether it was still pending.
    pub(crate) fn cancel(self, timers: &Timers) -> bool {
        if self.node.cancelled.swap(true, Ordering::AcqRel) {
            return false;
        }
        let pending = self.node.action.lock().unwrap().take().is_some();
        if pending {
            timers.pending.fetch_sub(1, Ordering::Relaxed);
        }
        pending
    }
}

/// A heap entry: the ordering key inline (comparisons must not chase the node pointer: with
/// 100k timers that is a cache miss per heap level), and the node.
struct Entry {
    deadline: Instant,
    seq: u64,
    node: Arc<TimerNode>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == CmpOrdering::Equal
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    // Reversed: BinaryHeap is a max-heap and we want the earliest deadline on top.
    fn cmp(&self, other: &Self) -> CmpOrdering {
        (other.deadline, other.seq).cmp(&(self.deadline, self.seq))
    }
}

struct State {
    heap: BinaryHeap<Entry>,
    seq: u64,
    stopped: bool,
}

pub(crate) struct Timers {
    state: Mutex<State>,
    cv: Condvar,
    /// Armed timers not yet fired or cancelled.
    pending: AtomicUsize,
}

impl Timers {
    pub(crate) fn new() -> Timers {
        Timers {
            state: Mutex::new(State {
                heap: BinaryHeap::new(),
                seq: 0,
                stopped: false,
            }),
            cv: Condvar::new(),
            pending: AtomicUsize::new(0),
        }
    }

    /// Number of armed timers.
    pub(crate) fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    pub(crate) fn add(&self, deadline: Instant, action: TimerAction) -> TimerHandle {
        let mut st = self.state.lock().unwrap();
        st.seq += 1;
        let node = Arc::new(TimerNode {
            seq: st.seq,
            cancelled: AtomicBool::new(false),
            action: Mutex::new(Some(action)),
        });
        let earliest = st.heap.peek().is_none_or(|e| deadline < e.deadline);
        st.heap.push(Entry {
            deadline,
            seq: node.seq,
            node: node.clone(),
        });
        self.pending.fetch_add(1, Ordering::Relaxed);
        drop(st);
        if earliest {
            self.cv.notify_one();
        }
        TimerHandle { node }
    }

    /// Starts the timer thread, which also calls `tick` every `TICK` (the runtime's monitor).
    /// `self` must outlive the thread: `stop` joins it.
    pub(crate) fn start(&self, tick: Box<dyn FnMut() + Send>) -> ThreadHandle<()> {
        let me = self as *const Timers as usize;
        std::thread::Builder::new()
            .name("gorun-timers".into())
            .spawn(move || {
                let _owned = crate::diag::deadlock::OwnedThread::register();
                // SAFETY: `stop` joins this thread before the `Timers` is dropped.
                let timers = unsafe { &*(me as *const Timers) };
                timers.thread_loop(tick);
            })
            .expect("gorun: cannot spawn the timer thread")
    }

    /// Stops and joins the timer thread, dropping every armed timer.
    pub(crate) fn stop(&self, thread: ThreadHandle<()>) {
        self.state.lock().unwrap().stopped = true;
        self.cv.notify_one();
        thread.join().ok();
        let heap = std::mem::take(&mut self.state.lock().unwrap().heap);
        drop(heap);
    }

    fn thread_loop(&self, mut tick: Box<dyn FnMut() + Send>) {
        let mut due = Vec::new();
        let mut next_tick = Instant::now() + TICK;
        let mut st = self.state.lock().unwrap();
        loop {
            if st.stopped {
                return;
            }
            let now = Instant::now();
            if now >= next_tick {
                drop(st);
                tick();
                next_tick = now + TICK;
                st = self.state.lock().unwrap();
                continue;
            }
            while st.heap.peek().is_some_and(|e| e.deadline <= now) {
                let node = st.heap.pop().unwrap().node;
                if !node.cancelled.swap(true, Ordering::AcqRel) {
                    if let Some(a) = node.action.lock().unwrap().take() {
                        due.push(a);
                    }
                }
            }
            if !due.is_empty() {
                drop(st);
                self.pending.fetch_sub(due.len(), Ordering::Relaxed);
                // Goroutines woken together are queued per home worker in one go: one lock
                // and one thread wake-up per worker instead of one per goroutine.
                let mut woken: Vec<Arc<G>> = Vec::new();
                for a in due.drain(..) {
                    match a {
                        TimerAction::Wake(Unparker::Goroutine(g)) => {
                            if g.wake() {
                                woken.push(g);
                            }
                        }
                        TimerAction::Wake(u) => u.unpark(),
                        TimerAction::Call(f) => f(),
                    }
                }
                worker::schedule_batch(woken);
                st = self.state.lock().unwrap();
                continue;
            }
            let wake = st
                .heap
                .peek()
                .map_or(next_tick, |e| e.deadline.min(next_tick));
            st = self
                .cv
                .wait_timeout(st, wake.saturating_duration_since(now))
                .unwrap()
                .0;
        }
    }
}

/// Pauses the calling goroutine for at least `d`, letting others run (Go's `time.Sleep`).
/// On a plain thread it sleeps the thread.
#[track_caller]
pub fn sleep(d: Duration) {
    let site = Location::caller();
    let Some(deadline) = Instant::now().checked_add(d) else {
        // Effectively forever; Go's Sleep with a huge duration also never returns.
        loop {
            park::park(WaitReason::Sleep, site);
        }
    };
    if worker::with_current_g(|g| g.is_none()) {
        std::thread::sleep(d);
        return;
    }
    while Instant::now() < deadline {
        park::park_until(WaitReason::Sleep, site, deadline);
    }
}

/// A channel that receives the current time once, after `d` (Go's `time.After`). It is
/// never closed, so a `select!` case on it stays blocked after it fired.
pub fn after(d: Duration) -> Receiver<Instant> {
    let (tx, rx) = timer_chan(1);
    let deadline = Instant::now().checked_add(d);
    match (deadline, runtime_shared()) {
        (None, _) => {}
        (Some(deadline), Some(shared)) => {
            shared.timers.add(
                deadline,
                TimerAction::Call(Box::new(move || {
                    let _ = tx.try_send(Instant::now());
                })),
            );
        }
        (Some(_), None) => {
            std::thread::spawn(move || {
                std::thread::sleep(d);
                let _ = tx.try_send(Instant::now());
            });
        }
    }
    rx
}

/// A channel that receives the current time every `d` (Go's `time.Tick`). Like Go's ticker
/// it holds one tick: ticks a slow receiver misses are dropped. It stops once every
/// receiver is gone.
///
/// # Panics
/// If `d` is zero.
pub fn tick(d: Duration) -> Receiver<Instant> {
    assert!(!d.is_zero(), "gorun::tick: non-positive interval");
    let (tx, rx) = timer_chan(1);
    let Some(first) = Instant::now().checked_add(d) else {
        return rx;
    };
    match runtime_shared() {
        Some(shared) => arm_tick(shared, tx, first, d),
        None => {
            std::thread::spawn(move || {
                let mut next = first;
                loop {
                    std::thread::sleep(next.saturating_duration_since(Instant::now()));
                    if let Err(TrySendError::Closed(_) | TrySendError::Disconnected(_)) =
                        tx.try_send(Instant::now())
                    {
                        return;
                    }
                    next = (next + d).max(Instant::now());
                }
            });
        }
    }
    rx
}

fn arm_tick(shared: Arc<Shared>, tx: Sender<Instant>, at: Instant, d: Duration) {
    let timers = shared.clone();
    timers.timers.add(
        at,
        TimerAction::Call(Box::new(move || match tx.try_send(Instant::now()) {
            Err(TrySendError::Closed(_) | TrySendError::Disconnected(_)) => {}
            _ => {
                if !shared.is_shutdown() {
                    let next = (at + d).max(Instant::now());
                    arm_tick(shared, tx, next, d);
                }
            }
        })),
    );
}

fn runtime_shared() -> Option<Arc<Shared>> {
    worker::with_current_g(|g| g.map(|g| g.shared.clone()))
}
