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
//! A goroutine's waker is an `Arc<G>` behind gorun's own vtable (`waker.rs`), so that a
//! gorun structure handed such a waker (a channel's queue, the netpoller) recognises it
//! ([`unparker_for`]) and wakes the goroutine directly (in the netpoller's per-worker
//! batches) instead of through the vtable. Any other waker is kept as
//! `Unparker::Waker`. A waker holding an `Arc<G>` only keeps the control block alive (a
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

use std::future::Future;
use std::panic::Location;
use std::pin::pin;
use std::task::{Context, Poll};

use crate::park::{self, WaitReason};
use crate::waker::waker_for;

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
    return crate::tokio_rt::entered(f);
    #[cfg(not(feature = "tokio"))]
    f()
}
