//! Channels: Go's `chan T`, buffered and unbuffered, for goroutines and plain threads.
//!
//! One mutex guards each channel's state: the buffer, the closed flag and two FIFO queues of
//! parked waiters (receivers and senders). A waiter is a heap node ([`Waiter`]) holding a
//! one-value hand-off slot and a reference to a [`Ctx`]: the parked party's wake handle and
//! its `state` atomic. Whoever completes a parked operation first moves the value through
//! the slot and then claims the waiter with one compare-and-swap on `state`; a `select`
//! registers one waiter per case, all sharing one `Ctx`, so exactly one case can be claimed.
//! Nothing a waker touches lives on the parked goroutine's stack.
//!
//! Slot ownership rule: a waiter's slot is only touched by a claimer holding the channel
//! lock *before* its claim succeeds (and it restores the slot if the claim fails), or by the
//! owner after it saw its own waiter claimed or after it removed the waiter from the queue
//! under the lock.

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::fmt;
use std::panic::Location;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::park::{self, Unparker, WaitReason};
use crate::shim::{fast_lock, AtomicPtr, AtomicUsize, FastMutex, FastMutexGuard};

mod macros;
mod select;

#[doc(hidden)]
pub use select::{select_cases, select_forever, Case, RecvCase, SendCase};

pub use select::{Select, SelectTimeoutError, SelectedOperation, TrySelectError};

const WAITING: usize = 0;
const ABORTED: usize = 1;
/// `SELECTED + case`: case `case` completed (or its channel closed).
const SELECTED: usize = 2;

/// The wake handle and completion state of one parked operation (or one parked select).
/// Opaque outside the crate (it appears in the hidden `select!` support trait).
#[doc(hidden)]
pub struct Ctx {
    state: AtomicUsize,
    unparker: Unparker,
}

impl Ctx {
    pub(crate) fn new() -> Ctx {
        Ctx {
            state: AtomicUsize::new(WAITING),
            unparker: park::current(),
        }
    }

    fn try_claim(&self, case: usize) -> bool {
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

    fn is_waiting(&self) -> bool {
        self.state.load(Ordering::Acquire) == WAITING
    }
}

enum CtxRef {
    Own(Ctx),
    Shared(Arc<Ctx>),
}

/// A one-value hand-off cell. Access follows the slot ownership rule (module docs): at any
/// time exactly one party may touch it, so it needs no lock of its own.
pub(crate) struct Slot<T>(UnsafeCell<Option<T>>);

// SAFETY: the value moves between threads through the slot (so `T: Send`), and the
// ownership rule makes every access exclusive, ordered by the channel mutex or by the
// Release/Acquire claim on the waiter's `Ctx`.
unsafe impl<T: Send> Sync for Slot<T> {}

impl<T> Slot<T> {
    fn new(v: Option<T>) -> Slot<T> {
        Slot(UnsafeCell::new(v))
    }

    /// # Safety
    /// The caller owns the slot under the ownership rule.
    unsafe fn put(&self, v: T) {
        // SAFETY: exclusive access per the caller's contract.
        unsafe { *self.0.get() = Some(v) }
    }

    /// # Safety
    /// The caller owns the slot under the ownership rule.
    unsafe fn take(&self) -> Option<T> {
        // SAFETY: exclusive access per the caller's contract.
        unsafe { (*self.0.get()).take() }
    }
}

/// One parked operation on one channel.
pub(crate) struct Waiter<T> {
    ctx: CtxRef,
    case: usize,
    slot: Slot<T>,
}

impl<T> Waiter<T> {
    fn ctx(&self) -> &Ctx {
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
    unsafe fn owner_take(&self) -> Option<T> {
        // SAFETY: per the contract, no claimer can touch the slot any more, and the claim's
        // Acquire (or the channel mutex) orders the claimer's last access before ours.
        unsafe { self.slot.take() }
    }

    fn wake(&self) {
        self.ctx().unparker.unpark();
    }
}

struct Inner<T> {
    buf: VecDeque<T>,
    closed: bool,
    /// Every receiver is gone: sends fail.
    no_receivers: bool,
    recvq: VecDeque<Arc<Waiter<T>>>,
    sendq: VecDeque<Arc<Waiter<T>>>,
}

pub(crate) struct Chan<T> {
    inner: FastMutex<Inner<T>>,
    cap: usize,
    senders: AtomicUsize,
    receivers: AtomicUsize,
    /// Go's nil channel: never ready.
    nil: bool,
    /// A finished waiter kept for the next operation that parks here, so a goroutine that
    /// blocks on this channel again and again allocates no new one (Go caches its sudogs
    /// for the same reason). Null, or from `Arc::into_raw` of a waiter that nothing else
    /// references and whose slot is empty.
    spare: AtomicPtr<Waiter<T>>,
}

impl<T> Drop for Chan<T> {
    fn drop(&mut self) {
        let p = self.spare.swap(std::ptr::null_mut(), Ordering::Acquire);
        if !p.is_null() {
            // SAFETY: per `spare`'s invariant, `p` is an `Arc` we now own.
            drop(unsafe { Arc::from_raw(p) });
        }
    }
}

enum TrySend<T> {
    Full(T),
    Closed(T),
    Disconnected(T),
}

/// A received value and the parked sender to wake once the lock is released.
type Received<T> = (T, Option<Arc<Waiter<T>>>);

enum TryRecv {
    Empty,
    Closed,
}

impl<T> Chan<T> {
    fn lock(&self) -> FastMutexGuard<'_, Inner<T>> {
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
                inner.slot = Slot::new(v);
                return w;
            }
        }
        Arc::new(Waiter {
            ctx: match shared {
                Some(c) => CtxRef::Shared(c.clone()),
                None => CtxRef::Own(Ctx::new()),
            },
            case,
            slot: Slot::new(v),
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
    fn try_send_locked(
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
        while let Some(w) = g.recvq.pop_front() {
            if !w.ctx().is_waiting() {
                continue; // claimed or aborted elsewhere; its owner forgets it
            }
            // SAFETY: we hold the channel lock and have not claimed `w` yet: a claimer's
            // turn (ownership rule). A parked receiver's slot is empty.
            unsafe { w.slot.put(v) };
            if w.ctx().try_claim(w.case) {
                return Ok(Some(w));
            }
            // SAFETY: the claim failed, so the slot is still ours to restore.
            v = unsafe { w.slot.take() }.expect("gorun: channel slot emptied while owned");
        }
        if g.buf.len() < self.cap {
            g.buf.push_back(v);
            return Ok(None);
        }
        Err(TrySend::Full(v))
    }

    /// Takes the next value: from the buffer (refilling it from the oldest parked sender) or
    /// straight from a parked sender.
    fn try_recv_locked(&self, g: &mut Inner<T>) -> Result<Received<T>, TryRecv> {
        let from_buf = g.buf.pop_front();
        while let Some(w) = g.sendq.pop_front() {
            if !w.ctx().is_waiting() {
                continue;
            }
            // SAFETY: channel lock held, `w` not claimed yet: a claimer's turn.
            let sv = unsafe { w.slot.take() }.expect("gorun: parked sender without a value");
            if w.ctx().try_claim(w.case) {
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
            Some(v) => Ok((v, None)),
            None if g.closed => Err(TryRecv::Closed),
            None => Err(TryRecv::Empty),
        }
    }

    fn close(&self) {
        let mut g = self.lock();
        if g.closed {
            return;
        }
        g.closed = true;
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
            // Not while unwinding (a sender dropped by an abandoned goroutine at shutdown):
            // a goroutine being unwound must not switch.
            if !std::thread::panicking() {
                crate::yield_now();
            }
        }
    }

    fn disconnect_receivers(&self) {
        let mut g = self.lock();
        g.no_receivers = true;
        let woken = Self::claim_all(&mut g.sendq).collect::<Vec<_>>();
        drop(g);
        wake_many(&woken);
    }

    /// Claims every waiting waiter of `q` without moving a value (the channel closed).
    fn claim_all(q: &mut VecDeque<Arc<Waiter<T>>>) -> impl Iterator<Item = Arc<Waiter<T>>> {
        std::mem::take(q)
            .into_iter()
            .filter(|w| w.ctx().try_claim(w.case))
    }

    /// Waits until `w` is claimed, or `deadline` passes and the wait is withdrawn (returns
    /// false; `w` is then out of the queue).
    fn wait(
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
        let claimed = loop {
            if w.ctx().selected().is_some() {
                break true;
            }
            match deadline {
                None => park::park(reason, site),
                Some(d) => {
                    if Instant::now() >= d {
                        if w.ctx().abort() {
                            self.unregister(w, send);
                            break false;
                        }
                        continue;
                    }
                    park::park_until(reason, site, d);
                }
            }
        };
        std::mem::forget(guard);
        claimed
    }

    fn unregister(&self, w: &Arc<Waiter<T>>, send: bool) {
        let mut g = self.lock();
        let q = if send { &mut g.sendq } else { &mut g.recvq };
        q.retain(|x| !Arc::ptr_eq(x, w));
    }

    fn send_impl(
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
            Err(TrySend::Closed(v) | TrySend::Disconnected(v)) => {
                return Err(SendTimeoutError::Disconnected(v))
            }
            Err(TrySend::Full(v)) => v,
        };
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(SendTimeoutError::Timeout(v));
        }
        let w = self.new_waiter(None, 0, Some(v));
        g.sendq.push_back(w.clone());
        drop(g);
        let claimed = self.wait(&w, true, WaitReason::ChanSend, site, deadline);
        // SAFETY: `wait` returned: `w` was claimed, or withdrawn from the queue under the lock.
        let v = unsafe { w.owner_take() };
        self.recycle(w);
        match v {
            None => Ok(()),
            Some(v) if claimed => Err(SendTimeoutError::Disconnected(v)),
            Some(v) => Err(SendTimeoutError::Timeout(v)),
        }
    }

    fn recv_impl(
        &self,
        site: &'static Location<'static>,
        deadline: Option<Instant>,
    ) -> Result<T, RecvTimeoutError> {
        if self.nil {
            match deadline {
                None => block_forever(WaitReason::ChanReceiveNil, site),
                Some(d) => {
                    while Instant::now() < d {
                        park::park_until(WaitReason::ChanReceiveNil, site, d);
                    }
                    return Err(RecvTimeoutError::Timeout);
                }
            }
        }
        let mut g = self.lock();
        match self.try_recv_locked(&mut g) {
            Ok((v, w)) => {
                drop(g);
                if let Some(w) = w {
                    w.wake();
                }
                return Ok(v);
            }
            Err(TryRecv::Closed) => return Err(RecvTimeoutError::Disconnected),
            Err(TryRecv::Empty) => {}
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(RecvTimeoutError::Timeout);
        }
        let w = self.new_waiter(None, 0, None);
        g.recvq.push_back(w.clone());
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

    fn try_send(&self, v: T) -> Result<(), TrySendError<T>> {
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

    fn try_recv(&self) -> Result<T, TryRecvError> {
        if self.nil {
            return Err(TryRecvError::Empty);
        }
        let mut g = self.lock();
        let r = self.try_recv_locked(&mut g);
        drop(g);
        match r {
            Ok((v, w)) => {
                if let Some(w) = w {
                    w.wake();
                }
                Ok(v)
            }
            Err(TryRecv::Empty) => Err(TryRecvError::Empty),
            Err(TryRecv::Closed) => Err(TryRecvError::Disconnected),
        }
    }
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
        if self.w.ctx().abort() {
            self.chan.unregister(self.w, self.send);
        }
    }
}

fn new_chan<T>(cap: usize, senders: usize, nil: bool) -> Arc<Chan<T>> {
    Arc::new(Chan {
        inner: FastMutex::new(Inner {
            buf: VecDeque::with_capacity(cap.min(1024)),
            closed: false,
            no_receivers: false,
            recvq: VecDeque::new(),
            sendq: VecDeque::new(),
        }),
        cap,
        senders: AtomicUsize::new(senders),
        receivers: AtomicUsize::new(1),
        nil,
        spare: AtomicPtr::new(std::ptr::null_mut()),
    })
}

/// Creates a channel of capacity `cap` (Go's `make(chan T, cap)`): `0` is unbuffered, where a
/// send completes only when a receiver takes the value.
///
/// A channel carries values between goroutines, which may run on other threads, so the
/// values must be `Send` for its ends to move:
///
/// ```compile_fail,E0277
/// let (tx, _rx) = gorun::chan::<std::rc::Rc<u8>>(1);
/// std::thread::spawn(move || drop(tx));
/// ```
pub fn chan<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    let c = new_chan(cap, 1, false);
    (Sender { chan: c.clone() }, Receiver { chan: c })
}

/// A channel whose sender side never closes it by being dropped (timer channels).
pub(crate) fn timer_chan<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    let c = new_chan(cap, 2, false);
    (Sender { chan: c.clone() }, Receiver { chan: c })
}

/// A receiver that is never ready (Go's nil channel): `recv` blocks forever and a `select!`
/// case on it is never chosen.
pub fn never<T>() -> Receiver<T> {
    Receiver {
        chan: new_chan(0, 1, true),
    }
}

/// The sending half of a channel. Clone it for more senders; dropping the last one closes
/// the channel.
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

/// The receiving half of a channel. Clone it for more receivers (each value goes to one).
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
}

impl<T> Sender<T> {
    /// Sends `v`, parking while the buffer is full (or, unbuffered, until a receiver takes
    /// it). Fails with the value back if the channel is closed or every receiver is gone,
    /// also when that happens while parked.
    #[track_caller]
    pub fn send(&self, v: T) -> Result<(), SendError<T>> {
        self.chan
            .send_impl(v, Location::caller(), None)
            .map_err(|e| SendError(e.into_inner()))
    }

    /// Sends without parking.
    pub fn try_send(&self, v: T) -> Result<(), TrySendError<T>> {
        self.chan.try_send(v)
    }

    /// Sends, parking at most `timeout`.
    #[track_caller]
    pub fn send_timeout(&self, v: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        match Instant::now().checked_add(timeout) {
            Some(d) => self.chan.send_impl(v, Location::caller(), Some(d)),
            None => self.chan.send_impl(v, Location::caller(), None),
        }
    }

    /// Sends, parking until `deadline` at most.
    #[track_caller]
    pub fn send_deadline(&self, v: T, deadline: Instant) -> Result<(), SendTimeoutError<T>> {
        self.chan.send_impl(v, Location::caller(), Some(deadline))
    }

    /// Closes the channel (Go's `close`): parked receivers and senders wake, receivers drain
    /// the buffered values and then get `Err`. Closing again does nothing.
    pub fn close(&self) {
        self.chan.close();
    }

    /// Whether the channel was closed.
    pub fn is_closed(&self) -> bool {
        self.chan.lock().closed
    }

    /// Number of buffered values.
    pub fn len(&self) -> usize {
        self.chan.lock().buf.len()
    }

    /// Whether no value is buffered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The buffer capacity (`0` for unbuffered).
    pub fn capacity(&self) -> usize {
        self.chan.cap
    }

    /// Whether both senders belong to the same channel.
    pub fn same_channel(&self, other: &Sender<T>) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }
}

impl<T> Receiver<T> {
    /// Receives the next value, parking until one arrives. Buffered values are drained
    /// first; `Err` once the channel is closed (or every sender is gone) and empty.
    #[track_caller]
    pub fn recv(&self) -> Result<T, RecvError> {
        self.chan
            .recv_impl(Location::caller(), None)
            .map_err(|_| RecvError)
    }

    /// Receives without parking.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.chan.try_recv()
    }

    /// Receives, parking at most `timeout`.
    #[track_caller]
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        match Instant::now().checked_add(timeout) {
            Some(d) => self.chan.recv_impl(Location::caller(), Some(d)),
            None => self.chan.recv_impl(Location::caller(), None),
        }
    }

    /// Receives, parking until `deadline` at most.
    #[track_caller]
    pub fn recv_deadline(&self, deadline: Instant) -> Result<T, RecvTimeoutError> {
        self.chan.recv_impl(Location::caller(), Some(deadline))
    }

    /// A blocking iterator over received values, ending when the channel is closed and
    /// drained (Go's `for v := range ch`).
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { rx: self }
    }

    /// An iterator over the values available now, without parking.
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { rx: self }
    }

    /// Whether the channel was closed.
    pub fn is_closed(&self) -> bool {
        self.chan.lock().closed
    }

    /// Number of buffered values.
    pub fn len(&self) -> usize {
        self.chan.lock().buf.len()
    }

    /// Whether no value is buffered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The buffer capacity (`0` for unbuffered).
    pub fn capacity(&self) -> usize {
        self.chan.cap
    }

    /// Whether both receivers belong to the same channel.
    pub fn same_channel(&self, other: &Receiver<T>) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.senders.fetch_add(1, Ordering::Relaxed);
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.chan.receivers.fetch_add(1, Ordering::Relaxed);
        Receiver {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if self.chan.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.chan.close();
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if self.chan.receivers.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.chan.disconnect_receivers();
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("Sender { .. }")
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("Receiver { .. }")
    }
}

/// Blocking iterator from [`Receiver::iter`].
pub struct Iter<'a, T> {
    rx: &'a Receiver<T>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;
    #[track_caller]
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

/// Non-blocking iterator from [`Receiver::try_iter`].
pub struct TryIter<'a, T> {
    rx: &'a Receiver<T>,
}

impl<T> Iterator for TryIter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.try_recv().ok()
    }
}

/// Owning blocking iterator from `Receiver::into_iter`.
pub struct IntoIter<T> {
    rx: Receiver<T>,
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;
    #[track_caller]
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<T> IntoIterator for Receiver<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;
    fn into_iter(self) -> IntoIter<T> {
        IntoIter { rx: self }
    }
}

/// The channel is closed or every receiver is gone; the value comes back.
#[derive(PartialEq, Eq, Clone, Copy)]
pub struct SendError<T>(pub T);

/// The channel is closed and drained.
#[derive(PartialEq, Eq, Clone, Copy, Debug)]
pub struct RecvError;

/// Why [`Sender::try_send`] failed; the value comes back.
#[derive(PartialEq, Eq, Clone, Copy)]
pub enum TrySendError<T> {
    /// The buffer is full (or, unbuffered, no receiver is waiting).
    Full(T),
    /// The channel was closed.
    Closed(T),
    /// Every receiver is gone.
    Disconnected(T),
}

/// Why [`Receiver::try_recv`] failed.
#[derive(PartialEq, Eq, Clone, Copy, Debug)]
pub enum TryRecvError {
    /// Nothing to receive now.
    Empty,
    /// The channel is closed and drained.
    Disconnected,
}

/// Why [`Sender::send_timeout`] failed; the value comes back.
#[derive(PartialEq, Eq, Clone, Copy)]
pub enum SendTimeoutError<T> {
    Timeout(T),
    /// The channel is closed or every receiver is gone.
    Disconnected(T),
}

/// Why [`Receiver::recv_timeout`] failed.
#[derive(PartialEq, Eq, Clone, Copy, Debug)]
pub enum RecvTimeoutError {
    Timeout,
    /// The channel is closed and drained.
    Disconnected,
}

impl<T> SendError<T> {
    /// The value that was not sent.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> TrySendError<T> {
    /// The value that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            TrySendError::Full(v) | TrySendError::Closed(v) | TrySendError::Disconnected(v) => v,
        }
    }
    pub fn is_full(&self) -> bool {
        matches!(self, TrySendError::Full(_))
    }
}

impl<T> SendTimeoutError<T> {
    /// The value that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            SendTimeoutError::Timeout(v) | SendTimeoutError::Disconnected(v) => v,
        }
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("SendError { .. }")
    }
}
impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.pad("Full(..)"),
            TrySendError::Closed(_) => f.pad("Closed(..)"),
            TrySendError::Disconnected(_) => f.pad("Disconnected(..)"),
        }
    }
}
impl<T> fmt::Debug for SendTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendTimeoutError::Timeout(_) => f.pad("Timeout(..)"),
            SendTimeoutError::Disconnected(_) => f.pad("Disconnected(..)"),
        }
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("sending on a closed channel")
    }
}
impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("receiving on a closed channel")
    }
}
impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.pad("sending on a full channel"),
            TrySendError::Closed(_) => f.pad("sending on a closed channel"),
            TrySendError::Disconnected(_) => f.pad("sending on a channel with no receivers"),
        }
    }
}
impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.pad("receiving on an empty channel"),
            TryRecvError::Disconnected => f.pad("receiving on a closed channel"),
        }
    }
}
impl<T> fmt::Display for SendTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendTimeoutError::Timeout(_) => f.pad("timed out waiting on send operation"),
            SendTimeoutError::Disconnected(_) => f.pad("sending on a closed channel"),
        }
    }
}
impl fmt::Display for RecvTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvTimeoutError::Timeout => f.pad("timed out waiting on receive operation"),
            RecvTimeoutError::Disconnected => f.pad("receiving on a closed channel"),
        }
    }
}
impl<T> std::error::Error for SendError<T> {}
impl std::error::Error for RecvError {}
impl<T> std::error::Error for TrySendError<T> {}
impl std::error::Error for TryRecvError {}
impl<T> std::error::Error for SendTimeoutError<T> {}
impl std::error::Error for RecvTimeoutError {}
