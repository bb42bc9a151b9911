//! Time: `sleep`, `after` and `tick`, over one timer heap and thread per runtime
//! (`runtime/timers.rs`, part of the scheduler core); `Timer`, `Ticker` and `at` (`timer.rs`).
//!
//! `sleep` and timeouts (`park::park_until`) arm a `Wake` timer and cancel it when they
//! return early; `after` and `tick` arm a timer that sends on a timer channel, and that
//! timer leaves the heap as soon as the channel's last receiver is dropped.

mod timer;

pub(crate) use crate::runtime::timers::{TimerAction, TimerHandle, Timers};
pub(crate) use timer::Clock;
pub use timer::{at, Ticker, Timer};

use std::panic::Location;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crate::chan::{timer_chan, Receiver, TrySendError};
use crate::park::{self, WaitReason};
use crate::runtime::worker;
use crate::runtime::Shared;

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
    park::wait_until(WaitReason::Sleep, site, Some(deadline), || false);
}

/// A channel that receives the current time once, after `d` (Go's `time.After`). It is
/// never closed, so a `select!` case on it stays blocked after it fired. Dropping the
/// receiver before then disarms the timer.
pub fn after(d: Duration) -> Receiver<Instant> {
    let (tx, rx) = timer_chan(1);
    let deadline = Instant::now().checked_add(d);
    match (deadline, runtime_shared()) {
        (None, _) => {}
        (Some(deadline), Some(shared)) => {
            let send = move || {
                let _ = tx.try_send(Instant::now());
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
pub fn tick(d: Duration) -> Receiver<Instant> {
    assert!(!d.is_zero(), "gorun::tick: non-positive interval");
    let (tx, rx) = timer_chan(1);
    let Some(first) = Instant::now().checked_add(d) else {
        return rx;
    };
    match runtime_shared() {
        Some(shared) => {
            let send = move || {
                !matches!(
                    tx.try_send(Instant::now()),
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
