//! `Timer`, `Ticker` and `at`: timer channels that can be stopped and reset (Go's
//! `time.Timer` and `time.Ticker`, with Go 1.23's synchronous-channel semantics).
//!
//! # Invariants
//!
//! - A timer's state (`generation`, the armed heap entry) changes only under its mutex, and
//!   a firing delivers its value under that mutex only if the generation it was armed with
//!   is still current. `stop` and `reset` bump the generation and drain the channel under
//!   the same mutex, so once they return no value from an earlier arming can be received
//!   (Go 1.23: no stale values after `Stop`/`Reset`).
//! - A value delivered but not yet received still counts as pending: `stop` returns true
//!   when it discards one, as Go's `Stop` does on its unbuffered timer channel.
//! - `stop`, `reset` and drop cancel the heap entry (`TimerHandle::cancel`), so a stopped
//!   timer holds no entry; a firing closure holds only a `Weak` to its timer.
//! - Timers made in a runtime (or on one of its blocking-pool threads, unless its clock is
//!   virtual) use that runtime's timer heap and fire only while it runs; elsewhere they use
//!   one process-wide heap with its own thread, started on first use.

use std::fmt;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use super::{TimerAction, TimerHandle, Timers};
use crate::chan::{timer_chan, Receiver, Sender};
use crate::runtime::{start, worker, Shared};

/// Whose timer heap a timer lives in.
pub(crate) enum Clock {
    Runtime(Arc<Shared>),
    Process(&'static Timers),
}

impl Clock {
    /// The caller's runtime's heap, or the process-wide one on a plain thread. A plain
    /// thread in a runtime (a `blocking` call) uses its runtime's heap only on real time:
    /// a virtual clock stands still while a `blocking` call runs, so a timer on it would
    /// never fire for that thread.
    pub(crate) fn current() -> Clock {
        let shared = worker::with_current_g(|g| g.map(|g| g.shared.clone()))
            .or_else(|| start::entered().filter(|s| !s.timers().is_virtual()));
        match shared {
            Some(shared) => Clock::Runtime(shared),
            None => Clock::Process(crate::runtime::timers::process_timers()),
        }
    }

    fn timers(&self) -> &Timers {
        match self {
            Clock::Runtime(shared) => shared.timers(),
            Clock::Process(t) => t,
        }
    }

    /// Arms `action` at `deadline`; `None` when the runtime has shut down (nothing would
    /// ever fire it).
    pub(crate) fn add(&self, deadline: Instant, action: TimerAction) -> Option<TimerHandle> {
        if let Clock::Runtime(shared) = self {
            if shared.is_shutdown() {
                return None;
            }
        }
        Some(self.timers().add(deadline, action))
    }

    pub(crate) fn cancel(&self, handle: TimerHandle) -> bool {
        handle.cancel(self.timers())
    }

    /// The time on this clock (a runtime's may be virtual).
    pub(crate) fn now(&self) -> Instant {
        self.timers().now()
    }

    /// A deadline `d` from now on this clock; `None` ("never") when that overflows.
    fn deadline_after(&self, d: Duration) -> Option<Instant> {
        self.now().checked_add(d)
    }
}

struct State {
    /// Bumped by every stop and reset: firings of older armings deliver nothing.
    generation: u64,
    /// The heap entry while armed.
    armed: Option<TimerHandle>,
    /// The ticker's period (`None`: a one-shot timer).
    period: Option<Duration>,
}

struct Inner {
    clock: Clock,
    tx: Sender<Instant>,
    rx: Receiver<Instant>,
    state: Mutex<State>,
}

impl Inner {
    fn new(clock: Clock, period: Option<Duration>) -> Arc<Inner> {
        let (tx, rx) = timer_chan(1);
        Arc::new(Inner {
            clock,
            tx,
            rx,
            state: Mutex::new(State {
                generation: 0,
                armed: None,
                period,
            }),
        })
    }

    /// Arms the timer at `deadline` for the current generation (state locked by the caller).
    fn arm(self: &Arc<Inner>, st: &mut State, deadline: Option<Instant>) {
        let Some(deadline) = deadline else {
            return; // never fires
        };
        let me = Arc::downgrade(self);
        let generation = st.generation;
        st.armed = self.clock.add(
            deadline,
            TimerAction::Call(Box::new(move |now| fire(&me, generation, deadline, now))),
        );
    }

    /// Disarms the timer and discards an undelivered value; returns whether the timer was
    /// pending (armed, or fired with its value not yet received).
    fn disarm(&self, st: &mut State) -> bool {
        st.generation += 1;
        let armed = match st.armed.take() {
            Some(h) => {
                self.clock.cancel(h);
                true
            }
            None => false,
        };
        let drained = self.rx.try_recv().is_ok();
        armed || drained
    }
}

/// Runs on the timer thread when an arming comes due, at `now` on its clock.
fn fire(me: &Weak<Inner>, generation: u64, deadline: Instant, now: Instant) {
    let Some(inner) = me.upgrade() else {
        return; // the timer was dropped
    };
    let mut st = inner.state.lock().unwrap();
    if st.generation != generation {
        return; // stopped or reset since
    }
    st.armed = None;
    // A full buffer (a ticker nobody reads) drops the tick, as Go's ticker does.
    let _ = inner.tx.try_send(now);
    if let Some(period) = st.period {
        let next = deadline.checked_add(period).map(|n| n.max(now));
        inner.arm(&mut st, next);
    }
}

/// A single event on a channel, which can be stopped and reset (Go's `time.Timer`).
///
/// The current time is sent on [`c`](Timer::c) once the duration has passed. With Go 1.23's
/// semantics: after [`stop`](Timer::stop) or [`reset`](Timer::reset) returns, no value
/// from before is received, and a value sent but not yet received counts as not fired.
///
/// ```
/// use std::time::Duration;
///
/// gorun::run(|| {
///     let t = gorun::Timer::new(Duration::from_secs(3600));
///     assert!(t.stop()); // it had not fired: stopped
///     assert!(!t.stop()); // already stopped
///     t.reset(Duration::from_millis(1));
///     let fired_at = t.c().recv().unwrap();
///     assert!(fired_at.elapsed() < Duration::from_secs(3600));
/// });
/// ```
///
/// A stopped timer leaves the timer heap at once; so does a dropped one. Works on plain
/// threads too (timers there share one process-wide timer thread). A timer made in a
/// runtime fires only while that runtime runs.
pub struct Timer {
    inner: Arc<Inner>,
}

impl Timer {
    /// A timer that sends the current time on its channel after `d` (at once for zero).
    pub fn new(d: Duration) -> Timer {
        let inner = Inner::new(Clock::current(), None);
        let deadline = inner.clock.deadline_after(d);
        inner.arm(&mut inner.state.lock().unwrap(), deadline);
        Timer { inner }
    }

    /// The channel the time is sent on.
    pub fn c(&self) -> &Receiver<Instant> {
        &self.inner.rx
    }

    /// Stops the timer. Returns true if this stopped it before its value was received (it
    /// was armed, or had fired with the value still unreceived, which is discarded); false
    /// if it had already been stopped or its value received.
    pub fn stop(&self) -> bool {
        let mut st = self.inner.state.lock().unwrap();
        self.inner.disarm(&mut st)
    }

    /// Re-arms the timer to fire after `d`, discarding any unreceived value. Returns what
    /// [`stop`](Timer::stop) would have.
    pub fn reset(&self, d: Duration) -> bool {
        let mut st = self.inner.state.lock().unwrap();
        let pending = self.inner.disarm(&mut st);
        self.inner.arm(&mut st, self.inner.clock.deadline_after(d));
        pending
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.stop();
    }
}

impl fmt::Debug for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let armed = self.inner.state.lock().unwrap().armed.is_some();
        f.debug_struct("Timer").field("armed", &armed).finish()
    }
}

/// Sends the current time on a channel every period (Go's `time.Ticker`).
///
/// The channel holds one tick: ticks a slow receiver misses are dropped. After
/// [`stop`](Ticker::stop) or [`reset`](Ticker::reset) returns, no tick from before is
/// received (Go 1.23). Dropping the ticker stops it.
///
/// ```
/// use std::time::Duration;
///
/// gorun::run(|| {
///     let ticker = gorun::Ticker::new(Duration::from_millis(1));
///     for _ in 0..3 {
///         ticker.c().recv().unwrap();
///     }
///     ticker.stop();
///     assert!(ticker.c().recv_timeout(Duration::from_millis(20)).is_err());
/// });
/// ```
pub struct Ticker {
    inner: Arc<Inner>,
}

impl Ticker {
    /// A ticker with period `d`; the first tick comes after `d`.
    ///
    /// # Panics
    /// If `d` is zero (Go panics on a non-positive interval).
    pub fn new(d: Duration) -> Ticker {
        assert!(!d.is_zero(), "gorun::Ticker::new: non-positive interval");
        let inner = Inner::new(Clock::current(), Some(d));
        let deadline = inner.clock.deadline_after(d);
        inner.arm(&mut inner.state.lock().unwrap(), deadline);
        Ticker { inner }
    }

    /// The channel the ticks are sent on.
    pub fn c(&self) -> &Receiver<Instant> {
        &self.inner.rx
    }

    /// Stops the ticker: no more ticks, and an unreceived one is discarded.
    pub fn stop(&self) {
        let mut st = self.inner.state.lock().unwrap();
        self.inner.disarm(&mut st);
    }

    /// Stops the ticker and restarts it with period `d` (also after `stop`); the next tick
    /// comes after `d`.
    ///
    /// # Panics
    /// If `d` is zero.
    pub fn reset(&self, d: Duration) {
        assert!(!d.is_zero(), "gorun::Ticker::reset: non-positive interval");
        let mut st = self.inner.state.lock().unwrap();
        self.inner.disarm(&mut st);
        st.period = Some(d);
        self.inner.arm(&mut st, self.inner.clock.deadline_after(d));
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop();
    }
}

impl fmt::Debug for Ticker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let period = self.inner.state.lock().unwrap().period;
        f.debug_struct("Ticker").field("period", &period).finish()
    }
}

/// A channel that receives the current time once `deadline` (on the runtime's clock, see
/// [`now`](crate::time::now)) has passed (at once if it has): [`after`](crate::after) with
/// an `Instant`. Never closed; in a runtime, dropping
/// the receiver before then disarms the timer.
///
/// ```
/// use std::time::Duration;
///
/// gorun::run(|| {
///     let deadline = gorun::time::now() + Duration::from_millis(5);
///     let fired = gorun::at(deadline).recv().unwrap();
///     assert!(fired >= deadline);
/// });
/// ```
pub fn at(deadline: Instant) -> Receiver<Instant> {
    let (tx, rx) = timer_chan(1);
    let clock = Clock::current();
    let send = move |now| {
        let _ = tx.try_send(now);
    };
    let timer = clock.add(deadline, TimerAction::Call(Box::new(send)));
    if let (Clock::Runtime(shared), Some(timer)) = (&clock, timer) {
        // As `after`: dropping the receiver disarms the timer.
        super::disarm_on_drop(&rx, shared, timer);
    }
    rx
}
