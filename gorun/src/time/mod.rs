//! Time: [`sleep`], [`after`], [`tick`], [`at`], [`Timer`], [`Ticker`] and [`now`], on the
//! runtime's clock.
//!
//! Every goroutine of a runtime reads one clock, [`now`]: real time, or, in a runtime built
//! with [`Builder::virtual_time`](crate::Builder::virtual_time), a virtual clock that moves
//! only when every goroutine is durably blocked (see the crate docs' "Virtual time"). Every
//! sleep, timer, ticker and timeout in gorun (`recv_timeout`, `send_timeout`, `select!`
//! timeouts, [`Cond::wait_timeout`](crate::sync::Cond::wait_timeout),
//! [`Context::with_timeout`](crate::Context::with_timeout)) measures its deadline on it.
//!
//! ```
//! use std::time::Duration;
//!
//! gorun::Builder::new().virtual_time(true).run(|| {
//!     let start = gorun::time::now();
//!     gorun::time::sleep(Duration::from_secs(3600)); // returns at once, in real time
//!     assert_eq!(gorun::time::now() - start, Duration::from_secs(3600));
//! });
//! ```
//!
//! Inside the crate: `sleep` and timeouts (`park::park_until`) arm a `Wake` timer and cancel
//! it when they return early; `after` and `tick` arm a timer that sends on a timer channel,
//! and that timer leaves the heap as soon as the channel's last receiver is dropped. The
//! heap, its thread and the virtual clock are in `runtime/timers.rs` (part of the scheduler
//! core).

mod timer;

pub(crate) use crate::runtime::timers::{Idle, IdleHook, TimerAction, TimerHandle, Timers};
pub(crate) use timer::Clock;
pub use timer::{at, Ticker, Timer};

use std::panic::Location;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crate::chan::{timer_chan, Receiver, TrySendError};
use crate::park::{self, WaitReason};
use crate::runtime::worker;
use crate::runtime::Shared;

/// The current time on the runtime's clock: use it where you would use std's
/// [`Instant::now`].
///
/// In a goroutine of a runtime built with
/// [`Builder::virtual_time(true)`](crate::Builder::virtual_time) this is the virtual clock,
/// which starts at the real time the runtime started and then moves only when every
/// goroutine is durably blocked, straight to the next deadline (see the crate docs'
/// "Virtual time"); std's `Instant::now` (and `Instant::elapsed`) keep reading real time
/// there. Everywhere else (a runtime on real time, a plain thread, a `blocking` call) it
/// is `Instant::now()`.
///
/// ```
/// use std::time::Duration;
///
/// gorun::Builder::new().virtual_time(true).run(|| {
///     let start = gorun::time::now();
///     gorun::time::sleep(Duration::from_secs(1));
///     assert_eq!(gorun::time::now() - start, Duration::from_secs(1)); // exactly
/// });
/// ```
pub fn now() -> Instant {
    crate::runtime::timers::now()
}

/// Pauses the calling goroutine for at least `d`, letting others run (Go's `time.Sleep`).
/// On a plain thread it sleeps the thread.
///
/// ```
/// use std::time::Duration;
///
/// gorun::run(|| gorun::sleep(Duration::from_millis(1)));
/// ```
#[track_caller]
pub fn sleep(d: Duration) {
    let site = Location::caller();
    let Some(deadline) = now().checked_add(d) else {
        // Effectively forever; Go's Sleep with a huge duration also never returns.
        loop {
            park::park(WaitReason::Sleep, site);
        }
    };
    if worker::with_current_g(|g| g.is_none()) {
        std::thread::sleep(d);
        return;
    }
    park::wait_until(WaitReason::Sleep, site, Some(deadline), || false);
}

/// A channel that receives the current time once, after `d` (Go's `time.After`). It is
/// never closed, so a `select!` case on it stays blocked after it fired. Dropping the
/// receiver before then disarms the timer.
///
/// ```
/// use std::time::Duration;
///
/// gorun::run(|| {
///     let fired = gorun::after(Duration::from_millis(1)).recv().unwrap();
///     assert!(fired <= gorun::time::now());
/// });
/// ```
pub fn after(d: Duration) -> Receiver<Instant> {
    let (tx, rx) = timer_chan(1);
    let deadline = now().checked_add(d);
    match (deadline, runtime_shared()) {
        (None, _) => {}
        (Some(deadline), Some(shared)) => {
            let send = move |at| {
                let _ = tx.try_send(at);
            };
            let timer = shared
                .timers()
                .add(deadline, TimerAction::Call(Box::new(send)));
            disarm_on_drop(&rx, &shared, timer);
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
///
/// ```
/// use std::time::Duration;
///
/// gorun::run(|| {
///     let ticks = gorun::tick(Duration::from_millis(1));
///     let (a, b) = (ticks.recv().unwrap(), ticks.recv().unwrap());
///     assert!(b > a);
/// });
/// ```
pub fn tick(d: Duration) -> Receiver<Instant> {
    assert!(!d.is_zero(), "gorun::tick: non-positive interval");
    let (tx, rx) = timer_chan(1);
    let Some(first) = now().checked_add(d) else {
        return rx;
    };
    match runtime_shared() {
        Some(shared) => {
            let send = move |at| {
                !matches!(
                    tx.try_send(at),
                    Err(TrySendError::Closed(_) | TrySendError::Disconnected(_))
                )
            };
            let timer = shared
                .timers()
                .add(first, TimerAction::Every(Box::new(send), d));
            disarm_on_drop(&rx, &shared, timer);
        }
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

/// Disarms `timer` when the last receiver of `rx`'s channel is dropped. The hook holds the
/// runtime weakly: a receiver kept after `run` returned does not keep the runtime alive.
pub(crate) fn disarm_on_drop<T>(rx: &Receiver<T>, shared: &Arc<Shared>, timer: TimerHandle) {
    let shared: Weak<Shared> = Arc::downgrade(shared);
    rx.on_disconnect(Box::new(move || {
        if let Some(s) = shared.upgrade() {
            timer.cancel(s.timers());
        }
    }));
}

fn runtime_shared() -> Option<Arc<Shared>> {
    worker::with_current_g(|g| g.map(|g| g.shared.clone()))
}
