//! Waiters: the heap nodes through which a parked channel operation is completed.
//!
//! A [`Waiter`] holds a one-value hand-off slot and a reference to a [`Ctx`]: the parked
//! party's wake handle and its `state` atomic. Whoever completes a parked operation first
//! moves the value through the slot and then claims the waiter with one compare-and-swap
//! on `state`; a `select` registers one waiter per case, all sharing one `Ctx`, so exactly
//! one case can be claimed. Nothing a waker touches lives on the parked goroutine's stack.
//!
//! ValueCell ownership rule: a waiter's slot is only touched by a claimer holding the channel
//! lock *before* its claim succeeds (and it restores the slot if the claim fails), or by the
//! owner after it saw its own waiter claimed or after it removed the waiter from the queue
//! under the lock.

use std::cell::UnsafeCell;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::park::{self, Unparker};
use crate::shim::AtomicUsize;

pub(super) const WAITING: usize = 0;
const ABORTED: usize = 1;
/// `SELECTED + case`: case `case` completed (or its channel closed).
const SELECTED: usize = 2;

/// The wake handle and completion state of one parked operation (or one parked select).
/// Opaque outside the crate (it appears in the hidden `select!` support trait).
#[doc(hidden)]
pub struct Ctx {
    pub(super) state: AtomicUsize,
    pub(super) unparker: Unparker,
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad("Ctx { .. }")
    }
}

impl Ctx {
    pub(crate) fn new() -> Ctx {
        Ctx {
            state: AtomicUsize::new(WAITING),
            unparker: park::current(),
        }
    }

    pub(super) fn try_claim(&self, case: usize) -> bool {
        self.state
            .compare_exchange(
                WAITING,
                SELECTED + case,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
    }

    /// The owner gives up waiting. False if someone claimed it first.
    pub(crate) fn abort(&self) -> bool {
        self.state
            .compare_exchange(WAITING, ABORTED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// `Some(case)` once a case was claimed.
    pub(crate) fn selected(&self) -> Option<usize> {
        match self.state.load(Ordering::Acquire) {
            WAITING | ABORTED => None,
            s => Some(s - SELECTED),
        }
    }

    pub(super) fn is_waiting(&self) -> bool {
        self.state.load(Ordering::Acquire) == WAITING
    }
}

pub(super) enum CtxRef {
    Own(Ctx),
    Shared(Arc<Ctx>),
}

/// A one-value hand-off cell. Access follows the slot ownership rule (module docs): at any
/// time exactly one party may touch it, so it needs no lock of its own.
pub(crate) struct ValueCell<T>(UnsafeCell<Option<T>>);

// SAFETY: the value moves between threads through the slot (so `T: Send`), and the
// ownership rule makes every access exclusive, ordered by the channel mutex or by the
// Release/Acquire claim on the waiter's `Ctx`.
unsafe impl<T: Send> Sync for ValueCell<T> {}

impl<T> ValueCell<T> {
    pub(super) fn new(v: Option<T>) -> ValueCell<T> {
        ValueCell(UnsafeCell::new(v))
    }

    /// # Safety
    /// The caller owns the slot under the ownership rule.
    pub(super) unsafe fn put(&self, v: T) {
        // SAFETY: exclusive access per the caller's contract.
        unsafe { *self.0.get() = Some(v) }
    }

    /// # Safety
    /// The caller owns the slot under the ownership rule.
    pub(super) unsafe fn take(&self) -> Option<T> {
        // SAFETY: exclusive access per the caller's contract.
        unsafe { (*self.0.get()).take() }
    }
}

/// One parked operation on one channel.
pub(crate) struct Waiter<T> {
    pub(super) ctx: CtxRef,
    pub(super) case: usize,
    pub(super) slot: ValueCell<T>,
}

impl<T> Waiter<T> {
    pub(super) fn ctx(&self) -> &Ctx {
        match &self.ctx {
            CtxRef::Own(c) => c,
            CtxRef::Shared(c) => c,
        }
    }

    /// Takes the slot's value as its owner.
    ///
    /// # Safety
    /// The caller is the waiter's owner and either saw it claimed (`Ctx::selected`) or
    /// removed it from its channel queue under the channel lock.
    pub(super) unsafe fn owner_take(&self) -> Option<T> {
        // SAFETY: per the contract, no claimer can touch the slot any more, and the claim's
        // Acquire (or the channel mutex) orders the claimer's last access before ours.
        unsafe { self.slot.take() }
    }

    pub(super) fn wake(&self) {
        self.ctx().unparker.unpark();
    }
}
