//! What the core keeps for `synctest` (virtual time and `synctest::wait`): the one `wait`
//! caller of a runtime, and the idle notice a worker gives the timer thread.
//!
//! # Invariants and ownership
//!
//! - A runtime has at most one `wait` caller at a time, in `Bubble::waiter` under its lock;
//!   it leaves the slot when the idle check (`synctest`, run by the timer thread) wakes it,
//!   or by itself if it is unwound. `waiting` mirrors whether the slot is full, for workers
//!   to read without the lock.
//! - A worker about to sleep with nothing to run notifies the timer thread (`worker_idle`)
//!   when the idle check matters: a virtual clock, or a `wait` caller. Every worker does so
//!   after setting its `sleeping` flag, so the last one to fall asleep is seen asleep by
//!   the check it triggers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::Shared;
use crate::goroutine::G;

/// A runtime's `synctest::wait` caller, if any.
pub(crate) struct Bubble {
    waiter: Mutex<Option<Arc<G>>>,
    waiting: AtomicBool,
}

impl Bubble {
    pub(crate) fn new() -> Bubble {
        Bubble {
            waiter: Mutex::new(None),
            waiting: AtomicBool::new(false),
        }
    }

    /// Makes `g` the waiter; false if another goroutine already is.
    pub(crate) fn enter(&self, g: Arc<G>) -> bool {
        let mut slot = self.waiter.lock().unwrap();
        if slot.is_some() {
            return false;
        }
        *slot = Some(g);
        self.waiting.store(true, Ordering::SeqCst);
        true
    }

    /// The waiter, if any.
    pub(crate) fn waiter(&self) -> Option<Arc<G>> {
        self.waiter.lock().unwrap().clone()
    }

    pub(crate) fn is_waiter(&self, g: &G) -> bool {
        let slot = self.waiter.lock().unwrap();
        slot.as_ref().is_some_and(|w| std::ptr::eq(&**w, g))
    }

    /// Takes `g` out of the slot if it is there; returns whether it was.
    pub(crate) fn leave(&self, g: &G) -> bool {
        let mut slot = self.waiter.lock().unwrap();
        if slot.as_ref().is_some_and(|w| std::ptr::eq(&**w, g)) {
            *slot = None;
            self.waiting.store(false, Ordering::SeqCst);
            return true;
        }
        false
    }
}

/// Called by a worker about to sleep with nothing to run: lets the timer thread run the
/// idle check when it matters (a virtual clock, or a `synctest::wait` caller).
pub(crate) fn worker_idle(s: &Shared) {
    if s.timers().is_virtual() || s.bubble().waiting.load(Ordering::SeqCst) {
        s.timers().notify_idle();
    }
}
