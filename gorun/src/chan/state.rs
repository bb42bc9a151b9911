//! A channel's shared state and the operations on it, under its one lock: the buffer, the
//! closed flags and the FIFO queues of parked receivers and senders (see `waiter.rs` for
//! the hand-off protocol). The public ends (`Sender`, `Receiver`) and `select` call these.

use std::collections::VecDeque;
use std::panic::Location;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use super::waiter::{Ctx, CtxRef, ValueCell, Waiter, WAITING};
use super::{RecvTimeoutError, SendTimeoutError, TryRecvError, TrySendError};
use crate::park::{self, Unparker, WaitReason};
use crate::shim::{fast_lock, AtomicPtr, AtomicUsize, FastMutex, FastMutexGuard};

pub(super) struct Inner<T> {
    pub(super) buf: VecDeque<T>,
    pub(super) closed: bool,
    /// Every receiver is gone: sends fail.
    pub(super) no_receivers: bool,
    pub(super) recvq: VecDeque<Arc<Waiter<T>>>,
    pub(super) sendq: VecDeque<Arc<Waiter<T>>>,
    /// `Select::ready` callers watching this channel (id, who to wake): woken, and left in
    /// place, on every change that can make an operation ready. Usually empty.
    pub(super) observers: Vec<(u64, Unparker)>,
}

impl<T> Inner<T> {
    /// Wakes the observers: the channel changed (under its lock, so none misses it).
    pub(super) fn notify(&self) {
        for (_, u) in &self.observers {
            u.unpark();
        }
    }

    /// Whether a receive could complete now (a value, a parked sender, or closed).
    pub(super) fn recv_ready(&self) -> bool {
        !self.buf.is_empty() || self.closed || self.sendq.iter().any(|w| w.ctx().is_waiting())
    }

    /// Whether a send could complete now (room, a parked receiver, or it would fail).
    pub(super) fn send_ready(&self, cap: usize) -> bool {
        self.closed
            || self.no_receivers
            || self.buf.len() < cap
            || self.recvq.iter().any(|w| w.ctx().is_waiting())
    }
}

pub(crate) struct Chan<T> {
    pub(super) inner: FastMutex<Inner<T>>,
    pub(super) cap: usize,
    pub(super) senders: AtomicUsize,
    pub(super) receivers: AtomicUsize,
    /// Go's nil channel: never ready.
    pub(super) nil: bool,
    /// A timer channel (`after`, `tick`): a goroutine waiting on it may be woken by its
    /// timer, which the deadlock detector counts (`park::TimerWait`).
    pub(super) timer: bool,
    /// Called once when the last receiver is dropped (a timer channel disarms its timer):
    /// null, or from `Box::into_raw`, taken by whoever swaps it out.
    pub(super) on_disconnect: AtomicPtr<Hook>,
    /// A finished waiter kept for the next operation that parks here, so a goroutine that
    /// blocks on this channel again and again allocates no new one (Go caches its sudogs
    /// for the same reason). Null, or from `Arc::into_raw` of a waiter that nothing else
    /// references and whose slot is empty.
    pub(super) spare: AtomicPtr<Waiter<T>>,
}

/// What a channel runs when its last receiver goes (see `Chan::on_disconnect`).
pub(super) type Hook = Box<dyn FnOnce() + Send>;

impl<T> Drop for Chan<T> {
    fn drop(&mut self) {
        let p = self.spare.swap(std::ptr::null_mut(), Ordering::Acquire);
        if !p.is_null() {
            // SAFETY: per `spare`'s invariant, `p` is an `Arc` we now own.
            drop(unsafe { Arc::from_raw(p) });
        }
        drop(self.take_hook());
    }
}

impl<T> Chan<T> {
    /// Takes the disconnect hook, if any (exactly one taker gets it).
    pub(super) fn take_hook(&self) -> Option<Box<Hook>> {
        let p = self
            .on_disconnect
            .swap(std::ptr::null_mut(), Ordering::AcqRel);
        // SAFETY: non-null values come from `Box::into_raw` (see `on_disconnect`), and the
        // swap gives each to one taker.
        (!p.is_null()).then(|| unsafe { Box::from_raw(p) })
    }
}

pub(super) enum TrySend<T> {
    Full(T),
    Closed(T),
    Disconnected(T),
}

/// A received value and the parked sender to wake once the lock is released.
pub(super) type Received<T> = (T, Option<Arc<Waiter<T>>>);

pub(super) enum TryRecv {
    Empty,
    Closed,
}

impl<T> Chan<T> {
    pub(super) fn lock(&self) -> FastMutexGuard<'_, Inner<T>> {
        fast_lock(&self.inner)
    }

    /// A waiter of this goroutine (or thread) holding `v`: the spare one if there is one.
    /// A `select` passes its shared `ctx` and the case index; a plain operation `None`.
    pub(crate) fn new_waiter(
        &self,
        shared: Option<&Arc<Ctx>>,
        case: usize,
        v: Option<T>,
    ) -> Arc<Waiter<T>> {
        let p = self.spare.swap(std::ptr::null_mut(), Ordering::Acquire);
        if !p.is_null() {
            // SAFETY: per `spare`'s invariant `p` came from `Arc::into_raw`; the swap gave it
            // to us alone.
            let mut w = unsafe { Arc::from_raw(p) };
            if let Some(inner) = Arc::get_mut(&mut w) {
                match (&mut inner.ctx, shared) {
                    (CtxRef::Own(ctx), None) => {
                        ctx.state.store(WAITING, Ordering::Relaxed);
                        park::retarget(&mut ctx.unparker);
                    }
                    (ctx, Some(c)) => *ctx = CtxRef::Shared(c.clone()),
                    (ctx, None) => *ctx = CtxRef::Own(Ctx::new()),
                }
                inner.case = case;
                inner.slot = ValueCell::new(v);
                return w;
            }
        }
        Arc::new(Waiter {
            ctx: match shared {
                Some(c) => CtxRef::Shared(c.clone()),
                None => CtxRef::Own(Ctx::new()),
            },
            case,
            slot: ValueCell::new(v),
        })
    }

    /// Keeps a finished waiter (its owner is done with its slot) for the next park here.
    pub(crate) fn recycle(&self, w: Arc<Waiter<T>>) {
        // A hint (a plain load): its claimer may not have dropped it yet. `new_waiter` checks
        // uniqueness again, with the ordering that makes reuse safe, before touching it.
        if Arc::strong_count(&w) != 1 {
            return;
        }
        let p = Arc::into_raw(w).cast_mut();
        if self
            .spare
            .compare_exchange(
                std::ptr::null_mut(),
                p,
                Ordering::Release,
                Ordering::Relaxed,
            )
            .is_err()
        {
            // SAFETY: `p` is the `Arc` we just turned into a pointer; nobody else saw it.
            drop(unsafe { Arc::from_raw(p) });
        }
    }

    /// Gives `v` to the oldest parked receiver, or buffers it. The returned waiter must be
    /// woken after the lock is released.
    pub(super) fn try_send_locked(
        &self,
        g: &mut Inner<T>,
        mut v: T,
    ) -> Result<Option<Arc<Waiter<T>>>, TrySend<T>> {
        if g.closed {
            return Err(TrySend::Closed(v));
        }
        if g.no_receivers {
            return Err(TrySend::Disconnected(v));
        }
        v = match Self::hand_to_receiver(g, v) {
            Ok(w) => return Ok(Some(w)),
            Err(v) => v,
        };
        if g.buf.len() < self.cap {
            g.buf.push_back(v);
            g.notify();
            return Ok(None);
        }
        Err(TrySend::Full(v))
    }

    /// Gives `v` to the oldest parked receiver, claiming it (to be woken once the lock is
    /// released), or returns `v` if no receiver waits.
    pub(super) fn hand_to_receiver(g: &mut Inner<T>, mut v: T) -> Result<Arc<Waiter<T>>, T> {
        while let Some(w) = g.recvq.pop_front() {
            if !w.ctx().is_waiting() {
                continue; // claimed or aborted elsewhere; its owner forgets it
            }
            // SAFETY: we hold the channel lock and have not claimed `w` yet: a claimer's
            // turn (ownership rule). A parked receiver's slot is empty.
            unsafe { w.slot.put(v) };
            if w.ctx().try_claim(w.case) {
                return Ok(w);
            }
            // SAFETY: the claim failed, so the slot is still ours to restore.
            v = unsafe { w.slot.take() }.expect("gorun: channel slot emptied while owned");
        }
        Err(v)
    }

    /// Takes the next value: from the buffer (refilling it from the oldest parked sender) or
    /// straight from a parked sender. The buffer may hold more than `cap` values (a value
    /// given back by a dropped receive future, see `future.rs`); it is refilled only below
    /// `cap`.
    pub(super) fn try_recv_locked(&self, g: &mut Inner<T>) -> Result<Received<T>, TryRecv> {
        let from_buf = match g.buf.pop_front() {
            Some(v) if g.buf.len() >= self.cap => return Ok((v, None)),
            b => b,
        };
        while let Some(w) = g.sendq.pop_front() {
            if !w.ctx().is_waiting() {
                continue;
            }
            // SAFETY: channel lock held, `w` not claimed yet: a claimer's turn.
            let sv = unsafe { w.slot.take() }.expect("gorun: parked sender without a value");
            if w.ctx().try_claim(w.case) {
                g.notify();
                return Ok(match from_buf {
                    Some(v) => {
                        g.buf.push_back(sv);
                        (v, Some(w))
                    }
                    None => (sv, Some(w)),
                });
            }
            // SAFETY: the claim failed, so the slot is still ours to restore.
            unsafe { w.slot.put(sv) };
        }
        match from_buf {
            Some(v) => {
                g.notify();
                Ok((v, None))
            }
            None if g.closed => Err(TryRecv::Closed),
            None => Err(TryRecv::Empty),
        }
    }

    pub(super) fn close(&self) {
        let mut g = self.lock();
        if g.closed {
            return;
        }
        g.closed = true;
        g.notify();
        let senders = Self::claim_all(&mut g.sendq).collect::<Vec<_>>();
        drop(g);
        wake_many(&senders);
        // Parked receivers in chunks, the lock released in between, so that closing a
        // channel a million goroutines wait on neither holds the lock nor runs for long
        // without letting the woken run. Nothing else can claim them meanwhile: sends fail
        // once the channel is closed, and receivers no longer queue.
        loop {
            let mut g = self.lock();
            let n = g.recvq.len().min(WAKE_CHUNK);
            let chunk = (g.recvq.drain(..n))
                .filter(|w| w.ctx().try_claim(w.case))
                .collect::<Vec<_>>();
            let more = !g.recvq.is_empty();
            drop(g);
            wake_many(&chunk);
            if !more {
                break;
            }
            crate::yield_now();
        }
    }

    pub(super) fn disconnect_receivers(&self) {
        let mut g = self.lock();
        g.no_receivers = true;
        g.notify();
        let woken = Self::claim_all(&mut g.sendq).collect::<Vec<_>>();
        drop(g);
        wake_many(&woken);
    }

    /// Claims every waiting waiter of `q` without moving a value (the channel closed).
    pub(super) fn claim_all(
        q: &mut VecDeque<Arc<Waiter<T>>>,
    ) -> impl Iterator<Item = Arc<Waiter<T>>> {
        std::mem::take(q)
            .into_iter()
            .filter(|w| w.ctx().try_claim(w.case))
    }

    /// Waits until `w` is claimed, or `deadline` passes and the wait is withdrawn (returns
    /// false; `w` is then out of the queue).
    pub(super) fn wait(
        &self,
        w: &Arc<Waiter<T>>,
        send: bool,
        reason: WaitReason,
        site: &'static Location<'static>,
        deadline: Option<Instant>,
    ) -> bool {
        // If the goroutine is unwound while parked (an abandoned goroutine at shutdown), the
        // guard withdraws the waiter so no value is handed to it.
        let guard = Withdraw {
            chan: self,
            w,
            send,
        };
        let _timer = park::TimerWait::begin(self.timer);
        // Past the deadline, withdraw; if a partner claimed us meanwhile, its hand-off is
        // about to be visible: wait for it.
        let claimed = loop {
            if park::wait_until(reason, site, deadline, || w.ctx().selected().is_some()) {
                break true;
            }
            if w.ctx().abort() {
                self.unregister(w, send);
                break false;
            }
        };
        std::mem::forget(guard);
        claimed
    }

    /// Withdraws a waiter that its goroutine gives up while it may still be queued (the wait
    /// is unwound): no partner may claim it any more, and it leaves the queue.
    pub(super) fn withdraw(&self, w: Option<Arc<Waiter<T>>>, send: bool) {
        if let Some(w) = w {
            w.ctx().abort();
            self.unregister(&w, send);
        }
    }

    pub(super) fn unregister(&self, w: &Arc<Waiter<T>>, send: bool) {
        let mut g = self.lock();
        let q = if send { &mut g.sendq } else { &mut g.recvq };
        q.retain(|x| !Arc::ptr_eq(x, w));
    }

    pub(super) fn send_impl(
        &self,
        v: T,
        site: &'static Location<'static>,
        deadline: Option<Instant>,
    ) -> Result<(), SendTimeoutError<T>> {
        if self.nil {
            block_forever(WaitReason::ChanSendNil, site);
        }
        let mut g = self.lock();
        let v = match self.try_send_locked(&mut g, v) {
            Ok(w) => {
                drop(g);
                if let Some(w) = w {
                    w.wake();
                }
                return Ok(());
            }
            Err(TrySend::Closed(v)) => return Err(SendTimeoutError::Closed(v)),
            Err(TrySend::Disconnected(v)) => return Err(SendTimeoutError::Disconnected(v)),
            Err(TrySend::Full(v)) => v,
        };
        if deadline.is_some_and(|d| crate::runtime::timers::now() >= d) {
            return Err(SendTimeoutError::Timeout(v));
        }
        let w = self.new_waiter(None, 0, Some(v));
        g.sendq.push_back(w.clone());
        g.notify();
        drop(g);
        let claimed = self.wait(&w, true, WaitReason::ChanSend, site, deadline);
        // SAFETY: `wait` returned: `w` was claimed, or withdrawn from the queue under the lock.
        let v = unsafe { w.owner_take() };
        self.recycle(w);
        match v {
            None => Ok(()),
            // Woken with the value back: by `close`, or by the last receiver leaving.
            Some(v) if claimed && self.lock().closed => Err(SendTimeoutError::Closed(v)),
            Some(v) if claimed => Err(SendTimeoutError::Disconnected(v)),
            Some(v) => Err(SendTimeoutError::Timeout(v)),
        }
    }

    pub(super) fn recv_impl(
        &self,
        site: &'static Location<'static>,
        deadline: Option<Instant>,
    ) -> Result<T, RecvTimeoutError> {
        if self.nil {
            match deadline {
                None => block_forever(WaitReason::ChanReceiveNil, site),
                Some(d) => {
                    park::wait_until(WaitReason::ChanReceiveNil, site, Some(d), || false);
                    return Err(RecvTimeoutError::Timeout);
                }
            }
        }
        let mut g = match self.recv_or_hold() {
            Recv::Value(v) => return Ok(v),
            Recv::Closed => return Err(RecvTimeoutError::Disconnected),
            Recv::Empty(g) => g,
        };
        if deadline.is_some_and(|d| crate::runtime::timers::now() >= d) {
            return Err(RecvTimeoutError::Timeout);
        }
        let w = self.new_waiter(None, 0, None);
        g.recvq.push_back(w.clone());
        g.notify();
        drop(g);
        if !self.wait(&w, false, WaitReason::ChanReceive, site, deadline) {
            self.recycle(w);
            return Err(RecvTimeoutError::Timeout);
        }
        // SAFETY: `wait` returned true: `w` was claimed.
        let v = unsafe { w.owner_take() };
        self.recycle(w);
        v.ok_or(RecvTimeoutError::Disconnected)
    }

    pub(super) fn try_send(&self, v: T) -> Result<(), TrySendError<T>> {
        park::coop();
        if self.nil {
            return Err(TrySendError::Full(v));
        }
        let mut g = self.lock();
        let r = self.try_send_locked(&mut g, v);
        drop(g);
        match r {
            Ok(w) => {
                if let Some(w) = w {
                    w.wake();
                }
                Ok(())
            }
            Err(TrySend::Full(v)) => Err(TrySendError::Full(v)),
            Err(TrySend::Closed(v)) => Err(TrySendError::Closed(v)),
            Err(TrySend::Disconnected(v)) => Err(TrySendError::Disconnected(v)),
        }
    }

    pub(super) fn try_recv(&self) -> Result<T, TryRecvError> {
        park::coop();
        if self.nil {
            return Err(TryRecvError::Empty);
        }
        self.recv_now().map_err(|e| match e {
            TryRecv::Empty => TryRecvError::Empty,
            TryRecv::Closed => TryRecvError::Disconnected,
        })
    }

    /// Takes the next value if one is there, waking the sender it came from (after the
    /// lock is released).
    pub(super) fn recv_now(&self) -> Result<T, TryRecv> {
        match self.recv_or_hold() {
            Recv::Value(v) => Ok(v),
            Recv::Closed => Err(TryRecv::Closed),
            Recv::Empty(_) => Err(TryRecv::Empty),
        }
    }

    /// The one receive step: the next value (its sender woken once the lock is released),
    /// or the channel closed, or nothing, with the lock still held so the caller can queue a
    /// waiter under it.
    pub(super) fn recv_or_hold(&self) -> Recv<'_, T> {
        let mut g = self.lock();
        match self.try_recv_locked(&mut g) {
            Ok((v, w)) => {
                drop(g);
                if let Some(w) = w {
                    w.wake();
                }
                Recv::Value(v)
            }
            Err(TryRecv::Closed) => Recv::Closed,
            Err(TryRecv::Empty) => Recv::Empty(g),
        }
    }
}

/// What [`Chan::recv_or_hold`] found.
pub(super) enum Recv<'a, T> {
    Value(T),
    Closed,
    /// Nothing to take: the channel's lock, still held.
    Empty(FastMutexGuard<'a, Inner<T>>),
}

/// Parked receivers a close claims and wakes per turn (see `Chan::close`).
const WAKE_CHUNK: usize = 1024;

/// Wakes claimed waiters (a close or disconnect).
fn wake_many<T>(woken: &[Arc<Waiter<T>>]) {
    woken.iter().for_each(|w| w.wake());
}

pub(crate) fn block_forever(reason: WaitReason, site: &'static Location<'static>) -> ! {
    loop {
        park::park(reason, site);
    }
}

struct Withdraw<'a, T> {
    chan: &'a Chan<T>,
    w: &'a Arc<Waiter<T>>,
    send: bool,
}

impl<T> Drop for Withdraw<'_, T> {
    fn drop(&mut self) {
        self.chan.withdraw(Some(self.w.clone()), self.send);
    }
}

pub(super) fn new_chan<T>(cap: usize, senders: usize, nil: bool, timer: bool) -> Arc<Chan<T>> {
    Arc::new(Chan {
        inner: FastMutex::new(Inner {
            buf: VecDeque::with_capacity(cap.min(1024)),
            closed: false,
            no_receivers: false,
            recvq: VecDeque::new(),
            sendq: VecDeque::new(),
            observers: Vec::new(),
        }),
        cap,
        senders: AtomicUsize::new(senders),
        receivers: AtomicUsize::new(1),
        nil,
        timer,
        on_disconnect: AtomicPtr::new(std::ptr::null_mut()),
        spare: AtomicPtr::new(std::ptr::null_mut()),
    })
}
