//! Goroutines as `std::task::Waker`s, and wakers as `Unparker`s: the one conversion between
//! the park protocol (`park.rs`) and async Rust, used by `block_on` and the async ends of
//! channels and sockets (`bridge`, `chan::future`, `net::poller`) and by `JoinHandle`'s
//! `Future`.
//!
//! A goroutine's waker is its control block behind [`G_VTABLE`] (one `Arc<G>` reference per
//! waker), so waking it is an `unpark` with no allocation, and converting it back gives the
//! goroutine itself rather than a waker wrapping it. Any other waker (another executor's)
//! is kept as it is; plain threads get a small `Wake` wrapper.

use std::mem::ManuallyDrop;
use std::sync::Arc;
use std::task::{RawWaker, RawWakerVTable, Wake, Waker};

use crate::goroutine::G;
use crate::park::Unparker;

/// The waker of a plain thread or a foreign task.
struct UnparkerWaker(Unparker);

impl Wake for UnparkerWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// A waker that unparks `u`: a goroutine's is its control block behind [`G_VTABLE`].
pub(crate) fn waker_for(u: Unparker) -> Waker {
    match u {
        Unparker::Goroutine(g) => {
            let raw = RawWaker::new(Arc::into_raw(g).cast(), &G_VTABLE);
            // SAFETY: `raw` owns one reference to a `G`, and `G_VTABLE`'s functions honour
            // the `RawWakerVTable` contract for such a pointer (see each one).
            unsafe { Waker::from_raw(raw) }
        }
        Unparker::Waker(w) => w,
        u => Waker::from(Arc::new(UnparkerWaker(u))),
    }
}

/// How to wake `w`: gorun's goroutine wakers become the goroutine itself.
pub(crate) fn unparker_for(w: &Waker) -> Unparker {
    match goroutine_of(w) {
        Some(g) => {
            // SAFETY: `goroutine_of` checked that the data pointer is an `Arc<G>` reference
            // owned by `w`; we add one of our own.
            unsafe { Arc::increment_strong_count(g) };
            // SAFETY: the reference just added is ours to take.
            Unparker::Goroutine(unsafe { Arc::from_raw(g) })
        }
        None => Unparker::Waker(w.clone()),
    }
}

/// Like [`unparker_for`], consuming the waker (no reference count traffic).
pub(crate) fn into_unparker(w: Waker) -> Unparker {
    match goroutine_of(&w) {
        Some(g) => {
            let _ = ManuallyDrop::new(w);
            // SAFETY: `w` owned one reference to the `G` at `g`; it moves to the `Arc`.
            Unparker::Goroutine(unsafe { Arc::from_raw(g) })
        }
        None => Unparker::Waker(w),
    }
}

/// Whether waking `u` wakes the same task as `w` (so a stored `u` need not be replaced).
pub(crate) fn same_task(u: &Unparker, w: &Waker) -> bool {
    match u {
        Unparker::Goroutine(g) => goroutine_of(w).is_some_and(|p| std::ptr::eq(p, &**g)),
        Unparker::Waker(old) => old.will_wake(w),
        Unparker::Thread(_) => false,
    }
}

/// The control block behind a goroutine waker of gorun's own.
fn goroutine_of(w: &Waker) -> Option<*const G> {
    std::ptr::eq(w.vtable(), &G_VTABLE).then(|| w.data().cast::<G>())
}

/// Wakers whose data pointer is `Arc::into_raw` of a goroutine's `Arc<G>` (one reference
/// per waker).
static G_VTABLE: RawWakerVTable = RawWakerVTable::new(g_clone, g_wake, g_wake_by_ref, g_drop);

/// # Safety
/// `p` is the data pointer of a live waker built on [`G_VTABLE`].
unsafe fn g_clone(p: *const ()) -> RawWaker {
    // SAFETY: `p` is a live `Arc<G>` reference (the caller's contract); the clone owns a
    // new one.
    unsafe { Arc::increment_strong_count(p.cast::<G>()) };
    RawWaker::new(p, &G_VTABLE)
}

/// # Safety
/// As for [`g_clone`]; consumes the waker's reference.
unsafe fn g_wake(p: *const ()) {
    // SAFETY: the waker's own reference, given up by the waker.
    let g = unsafe { Arc::from_raw(p.cast::<G>()) };
    g.unpark();
}

/// # Safety
/// As for [`g_clone`].
unsafe fn g_wake_by_ref(p: *const ()) {
    // SAFETY: borrowed from the live waker, and not dropped here.
    let g = ManuallyDrop::new(unsafe { Arc::from_raw(p.cast::<G>()) });
    g.unpark();
}

/// # Safety
/// As for [`g_clone`]; consumes the waker's reference.
unsafe fn g_drop(p: *const ()) {
    // SAFETY: the waker's own reference, given up by the waker.
    drop(unsafe { Arc::from_raw(p.cast::<G>()) });
}
