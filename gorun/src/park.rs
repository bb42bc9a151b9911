//! The one park/wake primitive under every blocking operation.
//!
//! Channels, select, the `sync` types, timers, I/O, the blocking pool and
//! `JoinHandle::join` all block through [`park`] and wake through [`Unparker::unpark`].
//! Callers follow one protocol, the same as `std::thread::park`:
//!
//! 1. take a handle to yourself with [`current`] and publish it where a waker will find it
//!    (a channel's wait queue, a mutex's waiter list), under that structure's own lock;
//! 2. release the lock and call [`park`] in a loop until the condition you wait for holds.
//!
//! A wake is a token: an `unpark` that arrives before the `park` makes the `park` return at
//! once, and `park` may also return spuriously, so callers always re-check their condition.
//! Nothing a waker needs lives on the parked goroutine's stack: the handle points at the
//! goroutine's heap control block.
//!
//! # Goroutines
//!
//! A goroutine's park state is one atomic (`RUNNING`, `PARKED`, `NOTIFIED`, see
//! [`crate::goroutine`]). Parking moves `RUNNING -> PARKED` and suspends to the worker;
//! `unpark` moves `PARKED -> RUNNING` and queues the goroutine on its home worker, or
//! `RUNNING -> NOTIFIED` if it has not parked yet. The window between the `PARKED` store and
//! the actual switch is harmless: a started goroutine only ever runs on its home worker,
//! which is busy running it until it switches, so a wake queued in that window is picked up
//! just after.
//!
//! # Plain OS threads
//!
//! On a thread outside any runtime the same calls use `std::thread::park`/`unpark`, so every
//! gorun type also works between goroutines and ordinary threads.

use std::panic::Location;
use std::sync::Arc;
use std::time::Instant;

pub(crate) use crate::goroutine::WaitReason;
use crate::goroutine::G;
use crate::runtime::timers::{self, TimerAction, TimerHandle, Timers};
use crate::runtime::worker;
use crate::shim::thread::{self, Thread};

/// A handle that wakes one parked goroutine or thread, or an async task.
#[derive(Clone)]
pub(crate) enum Unparker {
    Goroutine(Arc<G>),
    Thread(Thread),
    /// A future's waker (any executor's; `crate::waker::unparker_for` turns gorun's own
    /// goroutine wakers into `Goroutine`).
    Waker(std::task::Waker),
}

impl Unparker {
    /// Wakes the target, or makes its next `park` return at once.
    pub(crate) fn unpark(&self) {
        match self {
            Unparker::Goroutine(g) => g.unpark(),
            Unparker::Thread(t) => t.unpark(),
            Unparker::Waker(w) => w.wake_by_ref(),
        }
    }
}

/// Points `u` at the calling goroutine (or thread), keeping it if it already does (saves
/// the reference count traffic of a fresh handle when a waiter is reused).
pub(crate) fn retarget(u: &mut Unparker) {
    let same = match u {
        Unparker::Goroutine(g) => worker::with_running(|cur| std::ptr::eq(&**cur, &**g)),
        Unparker::Thread(t) => {
            (worker::with_running(|_| ()).is_none()).then(|| t.id() == thread::current().id())
        }
        Unparker::Waker(_) => None,
    };
    if same != Some(true) {
        *u = current();
    }
}

/// A handle to the calling goroutine (or thread).
pub(crate) fn current() -> Unparker {
    match worker::current_g() {
        Some(g) => Unparker::Goroutine(g),
        None => Unparker::Thread(thread::current()),
    }
}

/// Parks the caller until woken (or spuriously). `site` is the user's call site of the
/// blocking operation, shown in dumps.
pub(crate) fn park(reason: WaitReason, site: &'static Location<'static>) {
    worker::with_current_g(|g| match g {
        Some(g) => g.park(reason, site),
        None => thread::park(),
    })
}

/// Spends one unit of the running goroutine's coop budget; yields once it is spent (see
/// `AtHome::coop_spend`). Every operation that may complete without parking calls this: the
/// `try_` operations of channels and sync types, `select!` with `default`, socket calls.
/// No-op on a plain thread.
#[inline]
pub(crate) fn coop() {
    worker::with_running(|g| g.coop_spend());
}

/// Marks the running goroutine as waiting on a timer channel while it lives (the deadlock
/// detector's rule: an armed timer channel counts only while someone waits on one, as in
/// Go since 1.23). No-op when `on` is false or on a plain thread.
pub(crate) struct TimerWait(bool);

impl TimerWait {
    pub(crate) fn begin(on: bool) -> TimerWait {
        let on = on && worker::with_running(|g| g.set_timer_wait(true)).is_some();
        TimerWait(on)
    }
}

impl Drop for TimerWait {
    fn drop(&mut self) {
        if self.0 {
            worker::with_running(|g| g.set_timer_wait(false));
        }
    }
}

/// Parks the caller until `done()` holds or `deadline` (if any) passes; returns whether
/// `done()` held. `done` is checked first and after every wake, the deadline after `done`:
/// every timed or untimed wait for a condition in the crate is this one loop.
#[inline]
pub(crate) fn wait_until(
    reason: WaitReason,
    site: &'static Location<'static>,
    deadline: Option<Instant>,
    mut done: impl FnMut() -> bool,
) -> bool {
    loop {
        if done() {
            return true;
        }
        match deadline {
            None => park(reason, site),
            Some(d) if timers::now() >= d => return false,
            Some(d) => park_until(reason, site, d),
        }
    }
}

/// Parks the caller until woken, `deadline` (on the runtime's clock, `time::now`) passes,
/// or spuriously.
pub(crate) fn park_until(reason: WaitReason, site: &'static Location<'static>, deadline: Instant) {
    park_until_on(reason, site, deadline, false)
}

/// [`park_until`] with `deadline` in real time even in a runtime on virtual time: for I/O
/// timeouts, since a virtual clock stands still while a goroutine waits for I/O.
pub(crate) fn park_until_real(
    reason: WaitReason,
    site: &'static Location<'static>,
    deadline: Instant,
) {
    park_until_on(reason, site, deadline, true)
}

fn park_until_on(
    reason: WaitReason,
    site: &'static Location<'static>,
    deadline: Instant,
    real: bool,
) {
    match worker::current_g() {
        Some(g) => {
            let timers = match real {
                true => timers::real_timers(&g.shared),
                false => g.shared.timers(),
            };
            let timer = timers.add(deadline, TimerAction::Wake(Unparker::Goroutine(g.clone())));
            // Woken early, or unwound: the timer leaves the heap now (a million timeouts that
            // succeed at once leave nothing behind, and the process-wide heap keeps no
            // reference to a goroutine that is gone).
            struct Disarm<'a>(&'a Timers, TimerHandle);
            impl Drop for Disarm<'_> {
                fn drop(&mut self) {
                    self.1.cancel(self.0);
                }
            }
            let _disarm = Disarm(timers, timer);
            worker::with_running(|g| g.park(reason, site));
        }
        None => {
            let now = Instant::now();
            if deadline > now {
                crate::shim::park_timeout(deadline - now);
            }
        }
    }
}
