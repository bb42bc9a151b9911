//! The timer heap of one runtime, and the timer thread that fires it.
//!
//! # Invariants and ownership
//!
//! - The heap (`State::heap`, a binary min-heap on `(deadline, seq)`) and every node's
//!   `index` are changed only under `Timers::state`'s lock. A node's `index` is its entry's
//!   position in the heap, or `NONE` once the entry has left it (fired or cancelled): so a
//!   cancel removes the entry at once, in O(log n), and a million cancelled timeouts leave
//!   nothing behind.
//! - An entry owns its action. The timer thread pops due entries under the lock and runs
//!   their actions outside it; a periodic action (`Every`) is pushed back under the lock
//!   unless its node was cancelled meanwhile (`cancelled`, set by `cancel` under the lock).
//! - The counts of armed wake-ups and armed calls (`wakes`, `calls`) change under the lock
//!   and are read without it by the deadlock detector: an armed wake-up means a goroutine
//!   will wake by itself; an armed call (a timer channel) counts only while someone waits
//!   on a timer channel (Go's rule since 1.23, see `diag::monitor`).
//!
//! The timer thread does nothing else (the monitor has its own thread), so a slow scan of a
//! million goroutines never makes a timer late.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle as ThreadHandle;
use std::time::{Duration, Instant};

use super::worker;
use crate::goroutine::G;
use crate::park::Unparker;

/// What a timer does when it fires.
pub(crate) enum TimerAction {
    /// Wakes a parked goroutine or thread (sleeps and timeouts).
    Wake(Unparker),
    /// Calls the closure once (a one-shot timer channel).
    Call(Box<dyn FnOnce() + Send>),
    /// Calls the closure every period for as long as it returns true (a ticker channel).
    Every(Box<dyn FnMut() -> bool + Send>, Duration),
}

impl TimerAction {
    fn is_wake(&self) -> bool {
        matches!(self, TimerAction::Wake(_))
    }
}

/// `TimerNode::index` of a node whose entry is not in the heap.
const NONE: usize = usize::MAX;

/// The identity of one armed timer, shared by its heap entry and its handle.
pub(crate) struct TimerNode {
    index: AtomicUsize,
    cancelled: AtomicBool,
}

/// Disarms its timer with [`TimerHandle::cancel`]; dropping it leaves the timer armed.
pub(crate) struct TimerHandle {
    node: Arc<TimerNode>,
}

impl TimerHandle {
    /// Disarms the timer (of `timers`, which created it): its entry leaves the heap now.
    /// Returns whether it was still pending (not fired, not cancelled before).
    pub(crate) fn cancel(&self, timers: &Timers) -> bool {
        let mut st = timers.state.lock().unwrap();
        self.node.cancelled.store(true, Ordering::Relaxed);
        let i = self.node.index.load(Ordering::Relaxed);
        if i == NONE {
            return false;
        }
        let entry = st.remove(i);
        timers.uncount(&entry.action);
        drop(st);
        drop(entry); // its action (a closure holding a channel end) is dropped unlocked
        true
    }
}

/// A heap entry: the ordering key inline (comparisons must not chase the node pointer: with
/// 100k timers that is a cache miss per heap level), the node, and the action.
struct Entry {
    deadline: Instant,
    seq: u64,
    node: Arc<TimerNode>,
    action: TimerAction,
}

impl Entry {
    fn before(&self, other: &Entry) -> bool {
        (self.deadline, self.seq) < (other.deadline, other.seq)
    }
}

struct State {
    heap: Vec<Entry>,
    seq: u64,
    stopped: bool,
    /// When the timer thread wakes by itself next (it is waiting until then, or busy if
    /// this is in the past): only a timer due earlier needs to wake it. (A futex wake per
    /// timeout would triple the cost of a timeout that is cancelled, and most are.)
    wake_at: Instant,
}

impl State {
    fn push(&mut self, e: Entry) {
        let i = self.heap.len();
        e.node.index.store(i, Ordering::Relaxed);
        self.heap.push(e);
        self.sift_up(i);
    }

    /// Takes the entry at `i` out of the heap.
    fn remove(&mut self, i: usize) -> Entry {
        let last = self.heap.len() - 1;
        self.heap.swap(i, last);
        let e = self.heap.pop().expect("the heap holds entry i");
        e.node.index.store(NONE, Ordering::Relaxed);
        if i < self.heap.len() {
            self.heap[i].node.index.store(i, Ordering::Relaxed);
            self.sift_down(i);
            self.sift_up(i);
        }
        e
    }

    fn sift_up(&mut self, mut i: usize) {
        while i > 0 {
            let parent = (i - 1) / 2;
            if !self.heap[i].before(&self.heap[parent]) {
                break;
            }
            self.heap.swap(i, parent);
            self.heap[i].node.index.store(i, Ordering::Relaxed);
            self.heap[parent]
                .node
                .index
                .store(parent, Ordering::Relaxed);
            i = parent;
        }
    }

    fn sift_down(&mut self, mut i: usize) {
        let n = self.heap.len();
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut min = i;
            if l < n && self.heap[l].before(&self.heap[min]) {
                min = l;
            }
            if r < n && self.heap[r].before(&self.heap[min]) {
                min = r;
            }
            if min == i {
                return;
            }
            self.heap.swap(i, min);
            self.heap[i].node.index.store(i, Ordering::Relaxed);
            self.heap[min].node.index.store(min, Ordering::Relaxed);
            i = min;
        }
    }
}

pub(crate) struct Timers {
    state: Mutex<State>,
    cv: Condvar,
    /// Armed `Wake` timers: goroutines (or threads) that will wake by themselves.
    wakes: AtomicUsize,
    /// Armed `Call`/`Every` timers: timer channels that will receive a value.
    calls: AtomicUsize,
}

impl Timers {
    pub(crate) fn new() -> Timers {
        Timers {
            state: Mutex::new(State {
                heap: Vec::new(),
                seq: 0,
                stopped: false,
                wake_at: Instant::now(),
            }),
            cv: Condvar::new(),
            wakes: AtomicUsize::new(0),
            calls: AtomicUsize::new(0),
        }
    }

    /// Number of armed timers of every kind.
    pub(crate) fn pending(&self) -> usize {
        self.pending_wakes() + self.pending_calls()
    }

    /// Armed timers that wake a goroutine or thread.
    pub(crate) fn pending_wakes(&self) -> usize {
        self.wakes.load(Ordering::Relaxed)
    }

    /// Armed timers of timer channels.
    pub(crate) fn pending_calls(&self) -> usize {
        self.calls.load(Ordering::Relaxed)
    }

    fn counter(&self, a: &TimerAction) -> &AtomicUsize {
        if a.is_wake() {
            &self.wakes
        } else {
            &self.calls
        }
    }

    /// Called under the state lock when an entry leaves the heap.
    fn uncount(&self, a: &TimerAction) {
        self.counter(a).fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn add(&self, deadline: Instant, action: TimerAction) -> TimerHandle {
        let node = Arc::new(TimerNode {
            index: AtomicUsize::new(NONE),
            cancelled: AtomicBool::new(false),
        });
        let mut st = self.state.lock().unwrap();
        self.arm(&mut st, node.clone(), deadline, action);
        let earlier = deadline < st.wake_at;
        if earlier {
            st.wake_at = deadline;
        }
        drop(st);
        if earlier {
            self.cv.notify_one();
        }
        TimerHandle { node }
    }

    /// Starts the timer thread. `self` must outlive the thread: `stop` joins it.
    pub(crate) fn start(&self) -> ThreadHandle<()> {
        let me = self as *const Timers as usize;
        std::thread::Builder::new()
            .name("gorun-timers".into())
            .spawn(move || {
                let _owned = crate::sys::OwnedThread::register();
                // SAFETY: `stop` joins this thread before the `Timers` is dropped.
                let timers = unsafe { &*(me as *const Timers) };
                timers.thread_loop();
            })
            .expect("gorun: cannot spawn the timer thread")
    }

    /// Stops and joins the timer thread, dropping every armed timer.
    pub(crate) fn stop(&self, thread: ThreadHandle<()>) {
        self.state.lock().unwrap().stopped = true;
        self.cv.notify_one();
        thread.join().ok();
        let heap = {
            let mut st = self.state.lock().unwrap();
            for e in &st.heap {
                e.node.index.store(NONE, Ordering::Relaxed);
            }
            self.wakes.store(0, Ordering::Relaxed);
            self.calls.store(0, Ordering::Relaxed);
            std::mem::take(&mut st.heap)
        };
        drop(heap);
    }

    fn thread_loop(&self) {
        let mut due: Vec<Entry> = Vec::new();
        let mut woken: Vec<Arc<G>> = Vec::new();
        let mut st = self.state.lock().unwrap();
        loop {
            if st.stopped {
                return;
            }
            let now = Instant::now();
            st.wake_at = now; // busy: new timers are seen before the next wait
            while st.heap.first().is_some_and(|e| e.deadline <= now) {
                let e = st.remove(0);
                self.uncount(&e.action);
                due.push(e);
            }
            if !due.is_empty() {
                drop(st);
                for Entry {
                    deadline,
                    node,
                    action,
                    ..
                } in due.drain(..)
                {
                    match action {
                        // Goroutines woken together are queued per home worker in one go:
                        // one lock and one thread wake-up per worker, not one per goroutine.
                        TimerAction::Wake(Unparker::Goroutine(g)) => {
                            if g.wake() {
                                woken.push(g);
                            }
                        }
                        TimerAction::Wake(u) => u.unpark(),
                        TimerAction::Call(f) => f(),
                        TimerAction::Every(mut f, period) => {
                            if f() {
                                let next = (deadline + period).max(Instant::now());
                                self.rearm(node, next, TimerAction::Every(f, period));
                            }
                        }
                    }
                }
                worker::schedule_drain(&mut woken);
                st = self.state.lock().unwrap();
                continue;
            }
            let wait = st
                .heap
                .first()
                .map_or(Duration::from_secs(3600), |e| e.deadline - now);
            st.wake_at = now + wait;
            st = self.cv.wait_timeout(st, wait).unwrap().0;
        }
    }

    /// Pushes a periodic timer back, unless it was cancelled while it fired.
    fn rearm(&self, node: Arc<TimerNode>, deadline: Instant, action: TimerAction) {
        let mut st = self.state.lock().unwrap();
        if node.cancelled.load(Ordering::Relaxed) || st.stopped {
            return;
        }
        self.arm(&mut st, node, deadline, action);
    }

    /// Puts a timer in the heap and counts it (under the state lock).
    fn arm(&self, st: &mut State, node: Arc<TimerNode>, deadline: Instant, action: TimerAction) {
        st.seq += 1;
        self.counter(&action).fetch_add(1, Ordering::Relaxed);
        let seq = st.seq;
        st.push(Entry {
            deadline,
            seq,
            node,
            action,
        });
    }
}
