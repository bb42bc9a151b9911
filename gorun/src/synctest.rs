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
//! - The `wait` caller's slot and the workers' idle notices are the core's
//!   (`runtime/bubble.rs`); this module only reads runtime state, and wakes the caller.
//! - The idle check (`check_idle`) runs only on the runtime's timer thread, as its idle hook
//!   (installed by the builder): after a worker that found nothing to run notified it, and,
//!   with a virtual clock, whenever nothing is due. Its verdict "every goroutine is durably
//!   blocked" takes, in this order: every worker asleep with nothing queued, every
//!   goroutine started and durably blocked, and still every worker asleep with no switch
//!   since. A durably blocked goroutine is woken only by another goroutine (none runs) or a
//!   timer (only the thread running the check fires them), so the verdict holds until the
//!   timer thread acts on it. Plain threads outside the runtime are outside this reasoning:
//!   one that sends on a channel races with the clock, as a goroutine outside a Go bubble
//!   would.

use std::panic::Location;
use std::sync::{Arc, Weak};

use crate::diag::deadlock;
use crate::goroutine::{WaitReason, G};
use crate::park;
use crate::runtime::{worker, Shared};
use crate::time::{Idle, IdleHook};

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
    let bubble = g.shared.bubble();
    assert!(
        bubble.enter(g.clone()),
        "gorun::synctest::wait: another goroutine of this runtime is already waiting"
    );
    // Unwound while waiting (the runtime shut down): leave the slot.
    struct Leave<'a>(&'a G);
    impl Drop for Leave<'_> {
        fn drop(&mut self) {
            self.0.shared.bubble().leave(self.0);
        }
    }
    let _leave = Leave(&g);
    while bubble.is_waiter(&g) {
        park::park(WaitReason::SynctestWait, site);
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
    if s.is_shutdown() || !s.workers_quiet() {
        return Idle::Busy;
    }
    let before = deadlock::switches(s);
    let gs = s.goroutines();
    if gs.len() != s.num_goroutine() {
        return Idle::Busy; // some are not started yet
    }
    let waiter = s.bubble().waiter();
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
    if !s.workers_quiet() || deadlock::switches(s) != before {
        return Idle::Busy;
    }
    if let Some(w) = waiter {
        if s.bubble().leave(&w) {
            w.unpark();
        }
        return Idle::Busy;
    }
    Idle::Blocked { timer_wait }
}
