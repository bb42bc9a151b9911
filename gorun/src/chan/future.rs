//! The async ends of a channel: [`Sender::send_async`], [`Receiver::recv_async`],
//! [`Receiver::poll_recv`] (and `Stream` for `Receiver` with the `futures-io` feature).
//!
//! A pending future parks exactly like a blocking call, with a [`Waiter`] in the channel's
//! queue; the waiter's `Ctx` holds the task's waker instead of a goroutine handle
//! (`Unparker::Waker`, or the goroutine itself for a `block_on` waker), so blocking and
//! async ends of one channel mix freely and complete each other through the same hand-off
//! protocol (`waiter.rs`). The future owns its waiter, which is never recycled (its waker
//! could keep a task, and the channel, alive).
//!
//! Two things only futures do:
//!
//! - **A new waker.** A waiter's wake handle is fixed once queued, so a future polled with
//!   a waker that would not wake the same task aborts its waiter under the channel lock
//!   and puts a fresh one in the same place in the queue (FIFO order is kept), or finds
//!   it claimed meanwhile and completes.
//! - **Cancellation.** Dropping a pending future withdraws its waiter: its own abort wins
//!   (nothing was handed over; a send future's value is dropped with it, never sent), or
//!   a counterpart claimed it first. A claimed send completed (or failed on close). A
//!   claimed receive may hold a value that nobody will return: it goes back to the
//!   channel, to the oldest parked receiver, or else to the *front* of the buffer (it was
//!   sent before anything buffered now). The buffer may then hold more than its capacity
//!   until it is drained; senders see it as full meanwhile. So a value is never lost and
//!   never delivered twice.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use super::state::{Chan, Recv, TrySend};
use super::waiter::{Ctx, CtxRef, ValueCell, Waiter, WAITING};
use super::{Receiver, RecvError, SendError, Sender};
use crate::shim::AtomicUsize;
use crate::waker;

/// The parked waiter of an async operation, if it is pending.
pub(super) type Pending<T> = Option<Arc<Waiter<T>>>;

/// A fresh waiter that wakes `waker`'s task, holding `v` (a send) or nothing (a receive).
fn async_waiter<T>(waker: &Waker, v: Option<T>) -> Arc<Waiter<T>> {
    Arc::new(Waiter {
        ctx: CtxRef::Own(Ctx {
            state: AtomicUsize::new(WAITING),
            unparker: waker::unparker_for(waker),
        }),
        case: 0,
        slot: ValueCell::new(v),
    })
}

impl<T> Chan<T> {
    /// Whether the pending waiter `w` still waits, after making sure that it wakes `waker`
    /// (see the module docs). False once it was claimed: the caller completes.
    fn still_waiting(&self, w: &mut Arc<Waiter<T>>, send: bool, waker: &Waker) -> bool {
        if w.ctx().selected().is_some() {
            return false;
        }
        if waker::same_task(&w.ctx().unparker, waker) {
            return true;
        }
        let mut g = self.lock();
        if !w.ctx().abort() {
            return false; // claimed just now
        }
        let q = if send { &mut g.sendq } else { &mut g.recvq };
        let i = q
            .iter()
            .position(|x| Arc::ptr_eq(x, w))
            .expect("gorun: a waiting channel waiter is queued");
        // SAFETY: we own `w`, aborted it under the channel lock (no claimer touches it
        // after that) and take it out of its queue here, still under the lock.
        let fresh = async_waiter(waker, unsafe { w.owner_take() });
        let old = std::mem::replace(&mut q[i], fresh.clone());
        drop(g);
        *w = fresh;
        drop(old); // outside the lock: the old waker may be the last reference to a task
        true
    }

    /// One poll of a receive whose waiter (if it parked before) is `pending`.
    pub(super) fn poll_recv(
        &self,
        pending: &mut Pending<T>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<T, RecvError>> {
        if let Some(w) = pending {
            if self.still_waiting(w, false, cx.waker()) {
                return Poll::Pending;
            }
            let w = pending.take().expect("checked above");
            // SAFETY: `still_waiting` returned false: `w` was claimed.
            return Poll::Ready(unsafe { w.owner_take() }.ok_or(RecvError));
        }
        if self.nil {
            return Poll::Pending; // never ready, and nothing will wake it
        }
        crate::park::coop(); // a goroutine receiving in a loop gives way now and then
        match self.recv_or_hold() {
            Recv::Value(v) => Poll::Ready(Ok(v)),
            Recv::Closed => Poll::Ready(Err(RecvError)),
            Recv::Empty(mut g) => {
                let w = async_waiter(cx.waker(), None);
                g.recvq.push_back(w.clone());
                g.notify(); // a receiver waits: a send can complete (`Select::ready`)
                *pending = Some(w);
                Poll::Pending
            }
        }
    }

    /// One poll of a send of `value` (taken once it is handed over or queued).
    pub(super) fn poll_send(
        &self,
        value: &mut Option<T>,
        pending: &mut Pending<T>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), SendError<T>>> {
        if let Some(w) = pending {
            if self.still_waiting(w, true, cx.waker()) {
                return Poll::Pending;
            }
            let w = pending.take().expect("checked above");
            // SAFETY: `still_waiting` returned false: `w` was claimed. A value still in the
            // slot was not taken: the channel closed.
            return Poll::Ready(match unsafe { w.owner_take() } {
                None => Ok(()),
                Some(v) => Err(SendError(v)),
            });
        }
        if self.nil {
            return Poll::Pending;
        }
        let v = value
            .take()
            .expect("gorun: SendFuture polled after completion");
        crate::park::coop();
        let mut g = self.lock();
        match self.try_send_locked(&mut g, v) {
            Ok(w) => {
                drop(g);
                if let Some(w) = w {
                    w.wake();
                }
                Poll::Ready(Ok(()))
            }
            Err(TrySend::Closed(v) | TrySend::Disconnected(v)) => Poll::Ready(Err(SendError(v))),
            Err(TrySend::Full(v)) => {
                let w = async_waiter(cx.waker(), Some(v));
                g.sendq.push_back(w.clone());
                g.notify(); // a sender waits: a receive can complete (`Select::ready`)
                *pending = Some(w);
                Poll::Pending
            }
        }
    }

    /// Withdraws a dropped receive future's waiter; a value handed to it goes back.
    pub(super) fn cancel_recv(&self, w: Arc<Waiter<T>>) {
        if w.ctx().abort() {
            self.unregister(&w, false);
            return;
        }
        // SAFETY: the abort failed, so `w` was claimed.
        if let Some(v) = unsafe { w.owner_take() } {
            let mut g = self.lock();
            match Self::hand_to_receiver(&mut g, v) {
                Ok(next) => {
                    drop(g);
                    next.wake();
                }
                Err(v) => {
                    g.buf.push_front(v);
                    g.notify();
                }
            }
        }
    }

    /// Withdraws a dropped send future's waiter. A claimed one was delivered (or the
    /// channel closed); an unclaimed one's value is dropped with the future, never sent.
    pub(super) fn cancel_send(&self, w: Arc<Waiter<T>>) {
        if w.ctx().abort() {
            self.unregister(&w, true);
        }
    }
}

impl<T> Sender<T> {
    /// Sends `v` from async code: the future completes once [`send`](Sender::send) would
    /// have returned, with the same result. Any executor can run it; it mixes freely with
    /// blocking senders and receivers of the same channel.
    ///
    /// Dropping the future before it completes withdraws the send: the value is dropped
    /// and was never received.
    ///
    /// ```
    /// let (tx, rx) = gorun::chan::<u32>(0);
    /// let t = std::thread::spawn(move || rx.recv());
    /// gorun::block_on(tx.send_async(5)).unwrap();
    /// assert_eq!(t.join().unwrap(), Ok(5));
    /// ```
    pub fn send_async(&self, v: T) -> SendFuture<'_, T> {
        SendFuture {
            tx: self,
            value: Some(v),
            pending: None,
        }
    }
}

impl<T> Receiver<T> {
    /// Receives from async code: the future completes once [`recv`](Receiver::recv) would
    /// have returned, with the same result. Any executor can run it; it mixes freely with
    /// blocking senders and receivers of the same channel.
    ///
    /// Dropping the future before it completes withdraws the receive; a value that was
    /// already handed to it goes to the next receiver or back into the buffer, so nothing
    /// is lost or received twice.
    ///
    /// ```
    /// let (tx, rx) = gorun::chan::<u32>(1);
    /// tx.send(3).unwrap();
    /// assert_eq!(gorun::block_on(rx.recv_async()), Ok(3));
    /// drop(tx);
    /// assert!(gorun::block_on(rx.recv_async()).is_err());
    /// ```
    pub fn recv_async(&self) -> RecvFuture<'_, T> {
        RecvFuture {
            rx: self,
            pending: None,
        }
    }

    /// Polls for the next value, registering `cx`'s waker while none is ready: the
    /// building block for hand-written futures and streams. `Ready(Err)` once the channel
    /// is closed and drained. A pending receive stays registered until it completes or
    /// the receiver is dropped (then a value handed to it goes back, as for
    /// [`recv_async`](Receiver::recv_async)).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, RecvError>> {
        self.chan.poll_recv(&mut self.pending, cx)
    }
}

/// The future of [`Sender::send_async`].
#[must_use = "futures do nothing unless polled"]
pub struct SendFuture<'a, T> {
    tx: &'a Sender<T>,
    value: Option<T>,
    pending: Pending<T>,
}

/// The future of [`Receiver::recv_async`].
#[must_use = "futures do nothing unless polled"]
pub struct RecvFuture<'a, T> {
    rx: &'a Receiver<T>,
    pending: Pending<T>,
}

// Neither future pins anything: `T` is moved by value, never pinned in place.
impl<T> Unpin for SendFuture<'_, T> {}
impl<T> Unpin for RecvFuture<'_, T> {}

impl<T> Future for SendFuture<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.tx
            .chan
            .poll_send(&mut this.value, &mut this.pending, cx)
    }
}

impl<T> Future for RecvFuture<'_, T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.rx.chan.poll_recv(&mut this.pending, cx)
    }
}

impl<T> Drop for SendFuture<'_, T> {
    fn drop(&mut self) {
        if let Some(w) = self.pending.take() {
            self.tx.chan.cancel_send(w);
        }
    }
}

impl<T> Drop for RecvFuture<'_, T> {
    fn drop(&mut self) {
        if let Some(w) = self.pending.take() {
            self.rx.chan.cancel_recv(w);
        }
    }
}

impl<T> std::fmt::Debug for SendFuture<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendFuture")
            .field("pending", &self.pending.is_some())
            .finish_non_exhaustive()
    }
}

impl<T> std::fmt::Debug for RecvFuture<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvFuture")
            .field("pending", &self.pending.is_some())
            .finish_non_exhaustive()
    }
}

/// The values of the channel until it is closed and drained, like
/// [`Receiver::iter`] (feature `futures-io`).
#[cfg(feature = "futures-io")]
impl<T> futures_core::Stream for Receiver<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().poll_recv(cx).map(Result::ok)
    }
}
