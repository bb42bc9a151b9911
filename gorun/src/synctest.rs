//! Testing concurrent code with virtual time (Go's `testing/synctest`): [`wait`], and the
//! idle check that decides when a virtual clock may move.
//!
//! A goroutine is *durably blocked* when only another goroutine of its runtime, or one of
//! the runtime's timers, can wake it: parked on a channel, a `select!`, a `sync` type, a
//! join, a sleep or a timer. Waiting for I/O, a [`blocking`](crate::blocking) call or a
//! future ([`block_on`](crate::block_on)) is not durable: the world outside ends those.
//! In a runtime built with [`Builder::virtual_time`](crate::Builder::virtual_time) the
//! clock ([`time::now`](crate::time::now)) moves only when every goroutine is durably
//! blocked, straight to the next deadline, and never while one runs or is runnable.
//!
//! # Invariants and ownership
//!
//! - A runtime has at most one [`wait`] caller at a time, kept in `Bubble::waiter` under its
//!   lock; it leaves the slot when the idle check wakes it, or by itself if it is unwound.
//! - The idle check (`check_idle`) runs only on the runtime's timer thread, as its idle hook
//!   (`time::Timers::start`): after a worker that found nothing to run notified it
//!   (`worker_idle`), and, with a virtual clock, whenever nothing is due. It reads runtime
//!   state and never changes it, except to wake the `wait` caller. Its verdict "every
//!   goroutine is durably blocked" takes, in this order: every worker asleep with nothing
//!   queued, every goroutine started and durably blocked, and still every worker asleep with
//!   no switch since. A durably blocked goroutine is woken only by another goroutine (none
//!   runs) or a timer (only the thread running the check fires them), so the verdict holds
//!   until the timer thread acts on it. Plain threads outside the runtime are outside this
//!   reasoning: one that sends on a channel races with the clock, as a goroutine outside a
//!   Go bubble would.

use std::panic::Location;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use crate::diag::deadlock;
use crate::goroutine::{WaitReason, G};
use crate::park;
use crate::runtime::{worker, Shared};
use crate::time::{Idle, IdleHook};

/// A runtime's `wait` caller, if any.
pub(crate) struct Bubble {
    waiter: Mutex<Option<Arc<G>>>,
    /// Whether `waiter` is set (read by idle workers without the lock).
    waiting: AtomicBool,
}

impl Bubble {
    pub(crate) fn new() -> Bubble {
        Bubble {
            waiter: Mutex::new(None),
            waiting: AtomicBool::new(false),
        }
    }

    fn waiter_is(&self, g: &G) -> bool {
        let slot = self.waiter.lock().unwrap();
        slot.as_ref().is_some_and(|w| std::ptr::eq(&**w, g))
    }

    /// Takes `g` out of the slot if it is there; returns whether it was.
    fn remove(&self, g: &G) -> bool {
        let mut slot = self.waiter.lock().unwrap();
        if slot.as_ref().is_some_and(|w| std::ptr::eq(&**w, g)) {
            *slot = None;
            self.waiting.store(false, Ordering::SeqCst);
            return true;
        }
        false
    }
}

/// Blocks until every other goroutine of the runtime is durably blocked (Go's
/// `synctest.Wait`): they all wait on channels, `sync` types, joins, sleeps or timers,
/// none runs, none is runnable, none waits for I/O or a `blocking` call. Then, with
/// [virtual time](crate::Builder::virtual_time), the clock has not moved since they
/// blocked: what they did "by now" is done, and a test can check it without sleeping.
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// gorun::Builder::new().virtual_time(true).run(|| {
///     let done = Arc::new(AtomicBool::new(false));
///     let d = done.clone();
///     gorun::go(move || {
///         gorun::sleep(Duration::from_secs(5));
///         d.store(true, Ordering::SeqCst);
///     });
///     gorun::sleep(Duration::from_secs(5) - Duration::from_nanos(1));
///     gorun::synctest::wait();
///     assert!(!done.load(Ordering::SeqCst)); // not yet: 1 ns to go
///     gorun::sleep(Duration::from_nanos(1));
///     gorun::synctest::wait();
///     assert!(done.load(Ordering::SeqCst));
/// });
/// ```
///
/// Works in any runtime (on real time too, where sleepers count as durably blocked).
///
/// # Panics
/// On a plain thread (including inside [`blocking`](crate::blocking)), or while another
/// goroutine of the same runtime is in `wait` (Go allows one caller at a time).
#[track_caller]
pub fn wait() {
    let site = Location::caller();
    let g = worker::current_g().unwrap_or_else(|| {
        panic!("gorun::synctest::wait called outside a goroutine: call it inside gorun::run")
    });
    let bubble = &g.shared.bubble;
    {
        let mut slot = bubble.waiter.lock().unwrap();
        assert!(
            slot.is_none(),
            "gorun::synctest::wait: another goroutine of this runtime is already waiting"
        );
        *slot = Some(g.clone());
        bubble.waiting.store(true, Ordering::SeqCst);
    }
    // Unwound while waiting (the runtime shut down): leave the slot.
    struct Leave<'a>(&'a G);
    impl Drop for Leave<'_> {
        fn drop(&mut self) {
            self.0.shared.bubble.remove(self.0);
        }
    }
    let _leave = Leave(&g);
    while bubble.waiter_is(&g) {
        park::park(WaitReason::SynctestWait, site);
    }
}

/// Called by a worker about to sleep with nothing to run: lets the timer thread run the
/// idle check when it matters (a virtual clock, or a [`wait`] caller).
pub(crate) fn worker_idle(s: &Shared) {
    if s.timers.is_virtual() || s.bubble.waiting.load(Ordering::SeqCst) {
        s.timers.notify_idle();
    }
}

/// The runtime's idle hook for its timer thread (see the module docs).
pub(crate) fn idle_hook(s: Weak<Shared>) -> IdleHook {
    Box::new(move || match s.upgrade() {
        Some(s) => check_idle(&s),
        None => Idle::Busy,
    })
}

/// Whether every goroutine is durably blocked; if so and a [`wait`] caller waits, wakes it
/// instead (it has priority over the clock, as in Go).
fn check_idle(s: &Shared) -> Idle {
    if s.is_shutdown() || !deadlock::workers_idle(s) {
        return Idle::Busy;
    }
    let before = deadlock::switches(s);
    let gs = s.registry.snapshot();
    if gs.len() != s.num_goroutine() {
        return Idle::Busy; // some are not started yet
    }
    let waiter = s.bubble.waiter.lock().unwrap().clone();
    let mut timer_wait = false;
    for g in &gs {
        if waiter.as_ref().is_some_and(|w| Arc::ptr_eq(w, g)) {
            continue;
        }
        if !deadlock::durably_blocked(g) {
            return Idle::Busy;
        }
        timer_wait |= g.timer_wait();
    }
    if !deadlock::workers_idle(s) || deadlock::switches(s) != before {
        return Idle::Busy;
    }
    if let Some(w) = waiter {
        if s.bubble.remove(&w) {
            w.unpark();
        }
        return Idle::Busy;
    }
    Idle::Blocked { timer_wait }
}
