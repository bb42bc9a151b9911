//! `JoinHandle<T>` as a `Future`: any executor can await a goroutine.
//!
//! The waiter protocol is the one of `join` (module docs of `join.rs`), with one addition:
//! a future may be polled with a new waker, so the joiner's box in `state` can be
//! *replaced* by [`set_waiter`] while the goroutine runs. Only the handle writes the
//! waiter bits (with a compare-and-swap that fails once `DONE` is set) and the goroutine
//! only ORs in `DONE`, then reads the box it saw in that same step; so a box that was
//! replaced before `DONE` is unreachable and freed at once, and the last one is freed by
//! the task's destructor.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::thread;

use super::{JoinHandle, DONE, JOINER_WAITING, WAITER};
use crate::park::Unparker;
use crate::waker;

/// Publishes `u` as the joiner's wake handle. False if the goroutine finished first (the
/// handle is then not stored, and nothing will wake it).
pub(super) fn set_waiter(state: &AtomicUsize, u: Unparker) -> bool {
    let fresh = Box::into_raw(Box::new(u));
    let mut s = state.load(Ordering::Acquire);
    loop {
        if s & DONE != 0 {
            // SAFETY: never published: still ours.
            drop(unsafe { Box::from_raw(fresh) });
            return false;
        }
        let next = (s & !WAITER) | JOINER_WAITING | fresh as usize;
        match state.compare_exchange_weak(s, next, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => break,
            Err(actual) => s = actual,
        }
    }
    let old = s & WAITER;
    if old != 0 {
        // SAFETY: the box we published before; the goroutine has not set `DONE` (our
        // exchange saw it clear), so it will read the new box, never this one.
        drop(unsafe { Box::from_raw(old as *mut Unparker) });
    }
    true
}

/// Not pinned structurally: the handle only points at the task.
impl<T> Unpin for JoinHandle<T> {}

/// Completes with what [`JoinHandle::join`] would return: the goroutine's result, or its
/// panic's payload as `Err`. Polling it again after that panics.
///
/// ```
/// gorun::run(|| {
///     let h = gorun::go(|| 6 * 7);
///     let r = gorun::block_on(async { h.await.unwrap() });
///     assert_eq!(r, 42);
/// });
/// ```
impl<T> Future for JoinHandle<T> {
    type Output = thread::Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let state = this.task.state();
        let s = state.load(Ordering::Acquire);
        if s & DONE == 0 {
            if s & JOINER_WAITING != 0 {
                // SAFETY: our own published box; only we replace or free it (before
                // `DONE`), and the goroutine only reads it.
                let u = unsafe { &*((s & WAITER) as *const Unparker) };
                if waker::same_task(u, cx.waker()) {
                    return Poll::Pending;
                }
            }
            if set_waiter(state, waker::unparker_for(cx.waker())) {
                return Poll::Pending;
            }
        }
        Poll::Ready(
            this.task
                .take()
                .expect("gorun: JoinHandle polled after completion"),
        )
    }
}
