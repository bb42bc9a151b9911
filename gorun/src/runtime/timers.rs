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
//! - The virtual clock (`Builder::virtual_time`, see `VirtualClock`) moves only on the timer
//!   thread, under the lock, and only forward: to the next deadline that can wake a
//!   goroutine, once the runtime's idle hook (`synctest::check_idle`) has found every
//!   goroutine durably blocked. Real time plays no part in firing then.
//!
//! The timer thread does nothing else (the monitor has its own thread), so a slow scan of a
//! million goroutines never makes a timer late (with a virtual clock it runs the idle hook's
//! scan, which is what decides when time moves).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::JoinHandle as ThreadHandle;
use std::time::{Duration, Instant};

use super::worker;
use crate::goroutine::G;
use crate::park::Unparker;

/// What a timer does when it fires.
pub(crate) enum TimerAction {
    /// Wakes a parked goroutine or thread (sleeps and timeouts).
    Wake(Unparker),
    /// Calls the closure once with the time it fired at (a one-shot timer channel).
    Call(Box<dyn FnOnce(Instant) + Send>),
    /// Calls the closure every period, with the time it fired at, for as long as it returns
    /// true (a ticker channel).
    Every(Box<dyn FnMut(Instant) -> bool + Send>, Duration),
}

impl TimerAction {
    fn is_wake(&self) -> bool {
        matches!(self, TimerAction::Wake(_))
    }
}

/// How late the timer thread wakes for a deadline while every worker is awake: they fire due
/// timers whenever they schedule ([`Timers::run_due`]), and the timer thread, one thread
/// more than there are CPUs for workers, would only take a CPU from one of them (and wait
/// milliseconds for it). It still fires what a worker stuck in a goroutine that never
/// yields has left behind.
const BUSY_SLACK: Duration = Duration::from_millis(1);

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
        timers.publish(&st);
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
    /// A worker went idle since the idle hook last ran (`notify_idle`).
    idle: bool,
    /// How much later than the earliest deadline the timer thread chose to wake (see
    /// `BUSY_SLACK`).
    slack: Duration,
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

/// What the runtime's idle hook found (see `Timers::start`).
pub(crate) enum Idle {
    /// Something runs, is runnable, or may be woken by something other than a timer (or the
    /// hook woke a `synctest::wait` caller).
    Busy,
    /// Every goroutine is durably blocked; `timer_wait` if one waits on a timer channel.
    Blocked { timer_wait: bool },
}

/// The runtime's idle hook: called on the timer thread, without the lock.
pub(crate) type IdleHook = Box<dyn FnMut() -> Idle + Send>;

/// A runtime's virtual clock: `base` (the real time the runtime started) plus `nanos`,
/// which only the timer thread advances, under the state lock.
struct VirtualClock {
    base: Instant,
    nanos: AtomicU64,
}

/// How long the timer thread with a virtual clock waits for an idle notice before it
/// checks by itself (a safety net: every worker that goes idle notifies it).
const IDLE_RECHECK: Duration = Duration::from_millis(10);

pub(crate) struct Timers {
    state: Mutex<State>,
    cv: Condvar,
    /// Armed `Wake` timers: goroutines (or threads) that will wake by themselves.
    wakes: AtomicUsize,
    /// Armed `Call`/`Every` timers: timer channels that will receive a value.
    calls: AtomicUsize,
    /// `Some` for a runtime built with `virtual_time(true)`.
    clock: Option<VirtualClock>,
    /// The earliest deadline in the heap, in nanoseconds after `epoch` (`u64::MAX`: none):
    /// written under the lock whenever the heap changes, read without it by workers
    /// ([`Timers::run_due`]).
    next_due: AtomicU64,
    epoch: Instant,
    /// No worker sleeps ([`Timers::set_all_busy`]); false for the process-wide heap.
    all_busy: AtomicBool,
    /// The timer thread's current wait includes `BUSY_SLACK`.
    lenient: AtomicBool,
    /// A sleeping worker will wake by itself for the earliest deadline ([`Timers::take_duty`]).
    duty: AtomicBool,
}

impl Timers {
    /// A timer heap on real time, or on a virtual clock starting now.
    pub(crate) fn new(virtual_time: bool) -> Timers {
        let now = Instant::now();
        Timers {
            state: Mutex::new(State {
                heap: Vec::new(),
                seq: 0,
                stopped: false,
                wake_at: now,
                idle: false,
                slack: Duration::ZERO,
            }),
            cv: Condvar::new(),
            wakes: AtomicUsize::new(0),
            calls: AtomicUsize::new(0),
            clock: virtual_time.then(|| VirtualClock {
                base: now,
                nanos: AtomicU64::new(0),
            }),
            next_due: AtomicU64::new(u64::MAX),
            epoch: now,
            all_busy: AtomicBool::new(false),
            lenient: AtomicBool::new(false),
            duty: AtomicBool::new(false),
        }
    }

    /// For a worker about to sleep: when a timer is pending and no other sleeping worker
    /// has the duty, takes it and returns how long to sleep at most, to fire the timer on
    /// waking ([`Timers::end_duty`], then [`Timers::run_due`]). The timer thread fires it
    /// too if it comes first; but a worker woken by its own timeout wakes on its own CPU,
    /// where one woken by another thread may be queued behind that thread's busy CPU for
    /// milliseconds (and a goroutine homed on a worker can run nowhere else). One worker at
    /// a time, so idle workers do not all wake for every deadline.
    pub(crate) fn take_duty(&self) -> Option<Duration> {
        let next = self.next_due.load(Ordering::Relaxed);
        if next == u64::MAX || self.clock.is_some() {
            return None;
        }
        (self.duty)
            .compare_exchange(false, true, Ordering::Relaxed, Ordering::Relaxed)
            .ok()?;
        let now = self.since_epoch(Instant::now());
        Some(Duration::from_nanos(next.saturating_sub(now)))
    }

    /// The worker that took the duty is awake again.
    pub(crate) fn end_duty(&self) {
        self.duty.store(false, Ordering::Relaxed);
    }

    /// Whether every worker of the runtime is awake (none sleeps): set by the runtime as its
    /// workers fall asleep and wake. While they all are, the timer thread leaves the firing
    /// to them ([`Timers::run_due`]) and wakes `BUSY_SLACK` late, as a fallback; when one
    /// falls asleep, the timer thread goes back to waking on time.
    ///
    /// Called under the runtime's idle-list lock: the lock order is the idle list, then
    /// this heap's state (nothing takes them the other way round).
    pub(crate) fn set_all_busy(&self, busy: bool) {
        if self.all_busy.load(Ordering::Relaxed) == busy {
            return;
        }
        self.all_busy.store(busy, Ordering::Relaxed);
        if !busy {
            // Under the lock: the timer thread reads `all_busy` and sets `lenient` under it
            // before it waits, so either it sees `busy` false or this sees `lenient` true.
            let _st = self.state.lock().unwrap();
            if self.lenient.load(Ordering::Relaxed) {
                self.cv.notify_one(); // to wait again, without the slack
            }
        }
    }

    /// Publishes the heap's earliest deadline for [`Timers::run_due`] (under the lock).
    fn publish(&self, st: &State) {
        let next = st
            .heap
            .first()
            .map_or(u64::MAX, |e| self.since_epoch(e.deadline));
        // Workers read it at every yield: written only when it changes.
        if self.next_due.load(Ordering::Relaxed) != next {
            self.next_due.store(next, Ordering::Relaxed);
        }
    }

    fn since_epoch(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.epoch).as_nanos() as u64
    }

    /// Whether a timer of this (real-time) heap is due: [`Timers::run_due`] has work.
    #[inline]
    pub(crate) fn due(&self) -> bool {
        let next = self.next_due.load(Ordering::Relaxed);
        next != u64::MAX && self.clock.is_none() && self.since_epoch(Instant::now()) >= next
    }

    /// Fires the timers already due, on the calling worker, if the timer thread has not
    /// (Go's workers check their timers whenever they schedule). The timer thread is one
    /// more thread than there are CPUs for workers: when every worker is busy it can wait
    /// milliseconds for a CPU, and its timers are that late. A worker calls this at points
    /// where it schedules anyway (a goroutine's yield, the fairness tick), so a timer is
    /// late by at most the time between two of those. Costs a clock read when a timer
    /// exists; nothing is waited for (the lock is only tried). Real clocks only: a virtual
    /// clock moves on the timer thread alone.
    #[inline]
    pub(crate) fn run_due(&self) {
        if self.due() {
            self.fire_due();
        }
    }

    fn fire_due(&self) {
        let now = Instant::now();
        let Ok(mut st) = self.state.try_lock() else {
            return; // the timer thread (or another worker) is firing them
        };
        if st.stopped {
            return;
        }
        let mut due = Vec::new();
        while st.heap.first().is_some_and(|e| e.deadline <= now) {
            let e = st.remove(0);
            self.uncount(&e.action);
            due.push(e);
        }
        self.publish(&st);
        drop(st);
        self.fire(&mut due, &mut Vec::new(), now);
    }

    /// The time on this heap's clock: real, or virtual.
    pub(crate) fn now(&self) -> Instant {
        match &self.clock {
            None => Instant::now(),
            Some(c) => c.base + Duration::from_nanos(c.nanos.load(Ordering::Acquire)),
        }
    }

    pub(crate) fn is_virtual(&self) -> bool {
        self.clock.is_some()
    }

    /// A worker went idle: the timer thread runs the idle hook (called only when the hook
    /// matters: a virtual clock, or a `synctest::wait` caller).
    pub(crate) fn notify_idle(&self) {
        self.state.lock().unwrap().idle = true;
        self.cv.notify_one();
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
        // A virtual clock moves only on the timer thread: only a timer already due (a zero
        // timeout) needs it now. On real time, only one due before the thread wakes anyway
        // (counting the slack it allowed itself: busy workers fire timers when they are due).
        let earlier = match &self.clock {
            None => deadline
                .checked_add(st.slack)
                .is_none_or(|d| d < st.wake_at),
            Some(_) => deadline <= self.now(),
        };
        if earlier {
            st.wake_at = deadline;
        }
        drop(st);
        if earlier {
            self.cv.notify_one();
        }
        TimerHandle { node }
    }

    /// Starts the timer thread, which calls `idle` after `notify_idle` (and, with a
    /// virtual clock, whenever nothing is due) to learn whether time may move. `self` must
    /// outlive the thread: `stop` joins it.
    pub(crate) fn start(&self, idle: Option<IdleHook>) -> ThreadHandle<()> {
        let me = self as *const Timers as usize;
        std::thread::Builder::new()
            .name("gorun-timers".into())
            .spawn(move || {
                let _owned = crate::sys::OwnedThread::register();
                // SAFETY: `stop` joins this thread before the `Timers` is dropped.
                let timers = unsafe { &*(me as *const Timers) };
                timers.thread_loop(idle);
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
            self.next_due.store(u64::MAX, Ordering::Relaxed);
            std::mem::take(&mut st.heap)
        };
        drop(heap);
    }

    fn thread_loop(&self, mut idle: Option<IdleHook>) {
        let mut due: Vec<Entry> = Vec::new();
        let mut woken: Vec<Arc<G>> = Vec::new();
        let mut st = self.state.lock().unwrap();
        loop {
            if st.stopped {
                return;
            }
            let now = self.now();
            st.wake_at = now; // busy: new timers are seen before the next wait
            while st.heap.first().is_some_and(|e| e.deadline <= now) {
                let e = st.remove(0);
                self.uncount(&e.action);
                due.push(e);
            }
            if !due.is_empty() {
                self.publish(&st);
                drop(st);
                self.fire(&mut due, &mut woken, now);
                st = self.state.lock().unwrap();
                continue;
            }
            // With a virtual clock, every pass that fired nothing asks the hook (what just
            // fired may have woken nobody); on real time, only after an idle notice.
            if let Some(hook) = idle.as_mut() {
                if std::mem::take(&mut st.idle) || self.clock.is_some() {
                    drop(st);
                    let found = hook();
                    st = self.state.lock().unwrap();
                    if let Idle::Blocked { timer_wait } = found {
                        if self.advance(&mut st, timer_wait) {
                            continue;
                        }
                    }
                    if st.idle {
                        continue; // another worker went idle meanwhile
                    }
                }
            }
            st.slack = if self.all_busy.load(Ordering::Relaxed) {
                BUSY_SLACK
            } else {
                Duration::ZERO
            };
            self.lenient.store(!st.slack.is_zero(), Ordering::Relaxed);
            let wait = match (&self.clock, st.heap.first()) {
                (Some(_), _) => IDLE_RECHECK,
                (None, Some(e)) => e.deadline - now + st.slack,
                (None, None) => Duration::from_secs(3600),
            };
            // A deadline at the end of time plus the slack: wake at the deadline.
            let wait = now.checked_add(wait).map_or(wait - st.slack, |_| wait);
            st.wake_at = now + wait;
            st = self.cv.wait_timeout(st, wait).unwrap().0;
        }
    }

    /// Runs the actions of the entries in `due`, in order, at time `now`. Goroutines woken
    /// together are queued per home worker in one go (one lock and one thread wake-up per
    /// worker, not one per goroutine); before a call runs, those woken so far are queued, so
    /// goroutines are queued in firing order whatever wakes them.
    fn fire(&self, due: &mut Vec<Entry>, woken: &mut Vec<Arc<G>>, now: Instant) {
        for Entry {
            deadline,
            node,
            action,
            ..
        } in due.drain(..)
        {
            match action {
                TimerAction::Wake(Unparker::Goroutine(g)) => {
                    if g.wake() {
                        woken.push(g);
                    }
                }
                TimerAction::Wake(u) => u.unpark(),
                TimerAction::Call(f) => {
                    worker::schedule_drain(woken, crate::trace::Via::Timer);
                    f(now)
                }
                TimerAction::Every(mut f, period) => {
                    worker::schedule_drain(woken, crate::trace::Via::Timer);
                    // A period that runs past the end of time ends the ticker.
                    if f(now) {
                        if let Some(next) = deadline.checked_add(period) {
                            self.rearm(node, next.max(now), TimerAction::Every(f, period));
                        }
                    }
                }
            }
        }
        worker::schedule_drain(woken, crate::trace::Via::Timer);
    }

    /// Moves the virtual clock to the next deadline that can wake a goroutine (any timer's
    /// when one waits on a timer channel, else the next `Wake`), once every goroutine is
    /// durably blocked. Returns whether it moved (a real clock never does).
    fn advance(&self, st: &mut State, timer_wait: bool) -> bool {
        let Some(clock) = &self.clock else {
            return false;
        };
        let next = if timer_wait {
            st.heap.first().map(|e| e.deadline)
        } else {
            st.heap
                .iter()
                .filter(|e| e.action.is_wake())
                .map(|e| e.deadline)
                .min()
        };
        let Some(next) = next else {
            return false; // nothing will ever wake them: the deadlock detector's case
        };
        let nanos = next.saturating_duration_since(clock.base).as_nanos() as u64;
        clock.nanos.fetch_max(nanos, Ordering::AcqRel);
        true
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
        self.publish(st);
    }
}

/// The running goroutine's clock (`gorun::time::now`): its runtime's, virtual or real;
/// `Instant::now()` on a plain thread.
pub(crate) fn now() -> Instant {
    worker::with_current_g(|g| g.map(|g| g.shared.timers().now())).unwrap_or_else(Instant::now)
}

/// A heap on real time for `shared`'s goroutines: its own, or, when its clock is virtual,
/// the process-wide one (I/O timeouts, see `park::park_until_real`).
pub(crate) fn real_timers(shared: &super::Shared) -> &Timers {
    if shared.timers().is_virtual() {
        process_timers()
    } else {
        shared.timers()
    }
}

/// The timer heap of plain threads, with its thread started on first use.
pub(crate) fn process_timers() -> &'static Timers {
    static TIMERS: OnceLock<Timers> = OnceLock::new();
    static STARTED: std::sync::Once = std::sync::Once::new();
    let timers = TIMERS.get_or_init(|| Timers::new(false));
    // The thread runs as long as the process; its handle is not needed.
    STARTED.call_once(|| drop(timers.start(None)));
    timers
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag_action(flag: &Arc<AtomicBool>) -> TimerAction {
        let flag = flag.clone();
        TimerAction::Call(Box::new(move |_| flag.store(true, Ordering::SeqCst)))
    }

    /// A worker's `run_due` fires exactly the timers that are due, without a timer thread.
    #[test]
    fn run_due_fires_only_what_is_due() {
        let timers = Timers::new(false);
        assert!(!timers.due());
        let (past, later) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let now = Instant::now();
        timers.add(now - Duration::from_millis(1), flag_action(&past));
        timers.add(now + Duration::from_secs(3600), flag_action(&later));
        assert!(timers.due());
        timers.run_due();
        assert!(past.load(Ordering::SeqCst));
        assert!(!later.load(Ordering::SeqCst));
        assert!(!timers.due());
        assert_eq!(timers.pending(), 1);
    }

    /// A cancelled timer leaves `due` false; an empty heap has no duty to take.
    #[test]
    fn cancel_and_duty() {
        let timers = Timers::new(false);
        assert_eq!(timers.take_duty(), None);
        let fired = Arc::new(AtomicBool::new(false));
        let h = timers.add(
            Instant::now() + Duration::from_secs(60),
            flag_action(&fired),
        );
        let d = timers.take_duty().expect("a pending timer gives the duty");
        assert!(d <= Duration::from_secs(60));
        assert_eq!(timers.take_duty(), None, "one worker at a time");
        timers.end_duty();
        assert!(timers.take_duty().is_some());
        timers.end_duty();
        assert!(h.cancel(&timers));
        assert_eq!(timers.take_duty(), None);
        timers.run_due();
        assert!(!fired.load(Ordering::SeqCst));
    }

    /// A virtual clock moves only on the timer thread: workers never fire its timers.
    #[test]
    fn virtual_clock_is_not_fired_by_workers() {
        let timers = Timers::new(true);
        let fired = Arc::new(AtomicBool::new(false));
        timers.add(
            Instant::now() - Duration::from_millis(1),
            flag_action(&fired),
        );
        assert!(!timers.due());
        assert_eq!(timers.take_duty(), None);
        timers.run_due();
        assert!(!fired.load(Ordering::SeqCst));
    }
}
