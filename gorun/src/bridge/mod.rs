//! The bridge between goroutines and async Rust, both ways.
//!
//! - [`block_on`] runs a future inside a goroutine (or on a plain thread): the goroutine
//!   parks (wait reason `future`) while the future is pending, and the future's waker
//!   unparks it from any thread.
//! - The other way, gorun's blocking types have futures: `JoinHandle` is a `Future`
//!   (`goroutine/join/future.rs`), channels have `send_async`/`recv_async`
//!   (`chan/future.rs`), and the sockets implement the async I/O traits
//!   (`net/async_io.rs`), all woken through the same [`Unparker`]s as their blocking calls.
//!
//! # Wakers
//!
//! A goroutine's waker is an `Arc<G>` behind gorun's own vtable ([`G_VTABLE`]), so that a
//! gorun structure handed such a waker (a channel's queue, the netpoller) recognises it
//! ([`unparker_for`]) and wakes the goroutine directly (in the netpoller's per-worker
//! batches) instead of through the vtable. Any other waker is kept as
//! [`Unparker::Waker`]. A waker holding an `Arc<G>` only keeps the control block alive (a
//! block is reused only once nothing else references it), so a late wake is at worst a
//! spurious one, which every park site tolerates.
//!
//! # Ownership
//!
//! `block_on` owns the future, pinned on the caller's stack, and polls it only from the
//! caller. Reactor threads may write into it (an intrusive timer entry, say) while the
//! goroutine is parked, so the stack must stay where it is and resident: until
//! copy-on-park is invisible to such writers, `block_on` pins the goroutine's stack for
//! its whole duration (no eviction while a future may be touched from outside).

#[cfg(feature = "tokio")]
pub(crate) mod tokio_rt;

use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::Location;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Wake, Waker};

use crate::goroutine::G;
use crate::park::{self, Unparker, WaitReason};

/// Runs `fut` to completion and returns its output, parking the calling goroutine (not
/// its worker thread) while the future is pending; on a plain OS thread it parks the
/// thread. The future's waker may be called from any thread. Dumps show the goroutine as
/// `[future]`, and the deadlock detector counts it as possibly woken from outside (like
/// `IO wait`).
///
/// Any executor's futures work if they need no reactor of their own; gorun's async types
/// (channels' [`send_async`](crate::Sender::send_async), sockets' async I/O,
/// [`JoinHandle`](crate::JoinHandle)) need none. With the `tokio` feature, the future is
/// polled inside the context of a Tokio runtime that gorun keeps for its drivers, so
/// Tokio timers and sockets (and libraries built on them: hyper-util's client, reqwest,
/// sqlx, tonic) work too; see `gorun::tokio_handle` for what that costs.
///
/// The goroutine's stack stays pinned (see [`pin_stack`](crate::pin_stack)) while
/// `block_on` runs, because other threads may write into the future while it waits.
///
/// ```
/// gorun::run(|| {
///     let (tx, rx) = gorun::chan::<u32>(0);
///     gorun::go(move || tx.send(7).unwrap());
///     let v = gorun::block_on(async { rx.recv_async().await.unwrap() + 1 });
///     assert_eq!(v, 8);
/// });
/// ```
#[track_caller]
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let site = Location::caller();
    // Until copy-on-park is invisible to other threads (a reactor writing into the future
    // while the goroutine is parked), the stack the future lives on must stay resident.
    let _pin = crate::pin_stack();
    let mut fut = pin!(fut);
    let waker = waker_for(park::current());
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = poll_in_context(|| fut.as_mut().poll(&mut cx)) {
            return v;
        }
        park::park(WaitReason::Future, site);
    }
}

/// Runs one poll inside the Tokio runtime's context (feature `tokio`), else directly.
#[inline]
fn poll_in_context<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(feature = "tokio")]
    return tokio_rt::entered(f);
    #[cfg(not(feature = "tokio"))]
    f()
}

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
