//! `select`: wait on several channel operations at once and complete exactly one.
//!
//! 1. Poll every case in a random order (uniform among the ready ones); the first ready case
//!    completes at once.
//! 2. Otherwise register one [`Waiter`] per case, all sharing one heap [`Ctx`], on every
//!    channel. A counterpart that fires claims the `Ctx` with a compare-and-swap, so only one
//!    case can win; other channels skip the claimed waiters. If a channel turns out to be
//!    ready while registering, the select claims its own `Ctx` (abort), withdraws and polls
//!    again, unless a counterpart claimed it first.
//! 3. After waking, the select withdraws its waiters from the other channels.

use std::any::Any;
use std::fmt;
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Chan, Ctx, Receiver, RecvError, SendError, Sender, TryRecv, TrySend, Waiter};
use crate::park::{self, Unparker, WaitReason};
use crate::runtime::rng::random;
use crate::runtime::seeded;

/// One operation of a select (used by the `select!` expansion; not a public API).
#[doc(hidden)]
pub trait Case {
    fn is_nil(&self) -> bool;
    /// Whether this case receives from a timer channel (see `park::TimerWait`).
    fn is_timer(&self) -> bool {
        false
    }
    /// Completes the operation if it can without parking.
    fn try_complete(&mut self) -> bool;
    /// Enqueues a waiter; returns true instead if the channel is ready now.
    fn register(&mut self, ctx: &Arc<Ctx>, case: usize) -> bool;
    fn unregister(&mut self);
    /// Collects the result after this case's waiter was claimed.
    fn finish(&mut self);
}

/// A case of the dynamic [`Select`]: its result comes back type-erased.
trait AnyCase: Case {
    fn chan_addr(&self) -> usize;
    fn take_result(&mut self) -> Box<dyn Any>;
    /// Whether the operation could complete now, without doing it; with `watch`, also
    /// registers it (under the same lock) to be woken on the channel's next change.
    fn observe(&self, watch: Option<(u64, &Unparker)>) -> bool;
    fn unobserve(&self, id: u64);
}

fn addr<T>(c: &Arc<Chan<T>>) -> usize {
    Arc::as_ptr(c) as *const () as usize
}

#[doc(hidden)]
pub struct RecvCase<'a, T> {
    rx: &'a Receiver<T>,
    waiter: Option<Arc<Waiter<T>>>,
    result: Option<Result<T, RecvError>>,
}

impl<'a, T> RecvCase<'a, T> {
    pub fn new(rx: &'a Receiver<T>) -> Self {
        RecvCase {
            rx,
            waiter: None,
            result: None,
        }
    }

    /// Whether this case completed.
    pub fn is_done(&self) -> bool {
        self.result.is_some()
    }

    pub fn into_result(mut self) -> Result<T, RecvError> {
        self.result
            .take()
            .expect("gorun: select case has no result")
    }
}

impl<T> Case for RecvCase<'_, T> {
    fn is_nil(&self) -> bool {
        self.rx.chan.nil
    }

    fn is_timer(&self) -> bool {
        self.rx.chan.timer
    }

    fn try_complete(&mut self) -> bool {
        match self.rx.chan.recv_now() {
            Ok(v) => self.result = Some(Ok(v)),
            Err(TryRecv::Closed) => self.result = Some(Err(RecvError)),
            Err(TryRecv::Empty) => return false,
        }
        true
    }

    fn register(&mut self, ctx: &Arc<Ctx>, case: usize) -> bool {
        let mut g = self.rx.chan.lock();
        let ready = !g.buf.is_empty()
            || g.closed
            || g.sendq
                .iter()
                .any(|w| w.ctx().is_waiting() && !std::ptr::eq(w.ctx(), &**ctx));
        if ready {
            return true;
        }
        let w = self.rx.chan.new_waiter(Some(ctx), case, None);
        g.recvq.push_back(w.clone());
        g.notify();
        self.waiter = Some(w);
        false
    }

    fn unregister(&mut self) {
        if let Some(w) = self.waiter.take() {
            self.rx.chan.unregister(&w, false);
            self.rx.chan.recycle(w);
        }
    }

    fn finish(&mut self) {
        let w = self
            .waiter
            .take()
            .expect("gorun: select case without waiter");
        // SAFETY: `finish` runs after this case's waiter was claimed.
        self.result = Some(unsafe { w.owner_take() }.ok_or(RecvError));
        self.rx.chan.recycle(w);
    }
}

impl<T: 'static> AnyCase for RecvCase<'_, T> {
    fn chan_addr(&self) -> usize {
        addr(&self.rx.chan)
    }

    fn observe(&self, watch: Option<(u64, &Unparker)>) -> bool {
        let mut g = self.rx.chan.lock();
        if let Some((id, u)) = watch {
            g.observers.push((id, u.clone()));
        }
        g.recv_ready()
    }

    fn unobserve(&self, id: u64) {
        self.rx.chan.lock().observers.retain(|o| o.0 != id);
    }

    fn take_result(&mut self) -> Box<dyn Any> {
        Box::new(
            self.result
                .take()
                .expect("gorun: select case has no result"),
        )
    }
}

impl<T: 'static> AnyCase for SendCase<'_, T> {
    fn chan_addr(&self) -> usize {
        addr(&self.tx.chan)
    }

    fn observe(&self, watch: Option<(u64, &Unparker)>) -> bool {
        let mut g = self.tx.chan.lock();
        if let Some((id, u)) = watch {
            g.observers.push((id, u.clone()));
        }
        g.send_ready(self.tx.chan.cap)
    }

    fn unobserve(&self, id: u64) {
        self.tx.chan.lock().observers.retain(|o| o.0 != id);
    }

    fn take_result(&mut self) -> Box<dyn Any> {
        Box::new(
            self.result
                .take()
                .expect("gorun: select case has no result"),
        )
    }
}

impl<T> fmt::Debug for RecvCase<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("RecvCase { .. }")
    }
}

impl<T> fmt::Debug for SendCase<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("SendCase { .. }")
    }
}

// A case's waiter is still registered at drop only if the select was unwound while parked.
impl<T> Drop for RecvCase<'_, T> {
    fn drop(&mut self) {
        self.rx.chan.withdraw(self.waiter.take(), false);
    }
}

impl<T> Drop for SendCase<'_, T> {
    fn drop(&mut self) {
        self.tx.chan.withdraw(self.waiter.take(), true);
    }
}

#[doc(hidden)]
pub struct SendCase<'a, T> {
    tx: &'a Sender<T>,
    value: Option<T>,
    waiter: Option<Arc<Waiter<T>>>,
    result: Option<Result<(), SendError<T>>>,
}

impl<'a, T> SendCase<'a, T> {
    pub fn new(tx: &'a Sender<T>, v: T) -> Self {
        SendCase {
            tx,
            value: Some(v),
            waiter: None,
            result: None,
        }
    }

    /// Whether this case completed.
    pub fn is_done(&self) -> bool {
        self.result.is_some()
    }

    pub fn into_result(mut self) -> Result<(), SendError<T>> {
        self.result
            .take()
            .expect("gorun: select case has no result")
    }
}

impl<T> Case for SendCase<'_, T> {
    fn is_nil(&self) -> bool {
        self.tx.chan.nil
    }

    fn try_complete(&mut self) -> bool {
        let chan = &self.tx.chan;
        let v = self
            .value
            .take()
            .expect("gorun: select send without a value");
        let mut g = chan.lock();
        let r = chan.try_send_locked(&mut g, v);
        drop(g);
        match r {
            Ok(w) => {
                if let Some(w) = w {
                    w.wake();
                }
                self.result = Some(Ok(()));
                true
            }
            Err(TrySend::Closed(v) | TrySend::Disconnected(v)) => {
                self.result = Some(Err(SendError(v)));
                true
            }
            Err(TrySend::Full(v)) => {
                self.value = Some(v);
                false
            }
        }
    }

    fn register(&mut self, ctx: &Arc<Ctx>, case: usize) -> bool {
        let chan = &self.tx.chan;
        let mut g = chan.lock();
        let ready = g.closed
            || g.no_receivers
            || g.buf.len() < chan.cap
            || g.recvq
                .iter()
                .any(|w| w.ctx().is_waiting() && !std::ptr::eq(w.ctx(), &**ctx));
        if ready {
            return true;
        }
        let w = chan.new_waiter(Some(ctx), case, self.value.take());
        g.sendq.push_back(w.clone());
        g.notify();
        self.waiter = Some(w);
        false
    }

    fn unregister(&mut self) {
        if let Some(w) = self.waiter.take() {
            self.tx.chan.unregister(&w, true);
            // SAFETY: `unregister` removed `w` from the queue under the channel lock.
            self.value = unsafe { w.owner_take() };
            self.tx.chan.recycle(w);
        }
    }

    fn finish(&mut self) {
        let w = self
            .waiter
            .take()
            .expect("gorun: select case without waiter");
        // SAFETY: `finish` runs after this case's waiter was claimed.
        self.result = Some(match unsafe { w.owner_take() } {
            None => Ok(()),
            Some(v) => Err(SendError(v)),
        });
        self.tx.chan.recycle(w);
    }
}

/// A dynamic `select` over any number of channel operations.
///
/// Add cases with [`recv`](Select::recv) and [`send`](Select::send) (each returns the case's
/// index; a send's value is moved in now and dropped if another case wins), then call
/// [`select`](Select::select), [`try_select`](Select::try_select) or
/// [`select_timeout`](Select::select_timeout). Exactly one case completes; collect its result
/// from the [`SelectedOperation`].
///
/// ```
/// gorun::run(|| {
///     let (tx1, rx1) = gorun::chan::<i32>(1);
///     let (_tx2, rx2) = gorun::chan::<i32>(1);
///     tx1.send(7).unwrap();
///     let mut sel = gorun::Select::new();
///     let a = sel.recv(&rx1);
///     let _b = sel.recv(&rx2);
///     let op = sel.select();
///     assert_eq!(op.index(), a);
///     assert_eq!(op.recv(&rx1), Ok(7));
/// });
/// ```
pub struct Select<'a> {
    cases: Vec<Box<dyn AnyCase + 'a>>,
    /// Poll in the order the cases were added, not at random.
    biased: bool,
}

/// What a removed case becomes: never ready, so never chosen (indices stay stable).
struct Removed;

impl Case for Removed {
    fn is_nil(&self) -> bool {
        true
    }
    fn try_complete(&mut self) -> bool {
        unreachable!("gorun: a removed select case is never polled")
    }
    fn register(&mut self, _: &Arc<Ctx>, _: usize) -> bool {
        unreachable!("gorun: a removed select case is never registered")
    }
    fn unregister(&mut self) {}
    fn finish(&mut self) {
        unreachable!("gorun: a removed select case never completes")
    }
}

impl AnyCase for Removed {
    fn chan_addr(&self) -> usize {
        0
    }
    fn take_result(&mut self) -> Box<dyn Any> {
        unreachable!("gorun: a removed select case never completes")
    }
    fn observe(&self, _: Option<(u64, &Unparker)>) -> bool {
        false
    }
    fn unobserve(&self, _: u64) {}
}

/// Withdraws a `ready` caller's observers from every channel of its select.
struct Unobserve<'s, 'a> {
    cases: &'s [Box<dyn AnyCase + 'a>],
    order: &'s [usize],
    id: u64,
}

impl Drop for Unobserve<'_, '_> {
    fn drop(&mut self) {
        for &i in self.order {
            self.cases[i].unobserve(self.id);
        }
    }
}

/// The case that completed in a [`Select`]. Collect its result with
/// [`recv`](SelectedOperation::recv) or [`send`](SelectedOperation::send): dropping it drops
/// a received value (or the value a failed send gives back).
#[must_use = "the completed operation's result is lost unless collected with recv() or send()"]
pub struct SelectedOperation<'a> {
    index: usize,
    case: Box<dyn AnyCase + 'a>,
}

/// No case was ready ([`Select::try_select`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrySelectError;

/// No case became ready in time ([`Select::select_timeout`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelectTimeoutError;

impl fmt::Display for TrySelectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("all operations in select would block")
    }
}
impl fmt::Display for SelectTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("timed out waiting on select")
    }
}
impl std::error::Error for TrySelectError {}
impl std::error::Error for SelectTimeoutError {}

enum Wait {
    No,
    Until(Option<Instant>),
}

impl<'a> Select<'a> {
    /// An empty select; among ready cases, one is chosen at random (as Go does).
    pub fn new() -> Select<'a> {
        Select {
            cases: Vec::with_capacity(4),
            biased: false,
        }
    }

    /// An empty select that chooses the first ready case in the order they were added
    /// (see [`select_biased!`](crate::select_biased)).
    pub fn new_biased() -> Select<'a> {
        Select {
            biased: true,
            ..Select::new()
        }
    }

    /// Removes the case with index `index`; the other cases keep their indices. A removed
    /// send case's value is dropped.
    ///
    /// ```
    /// gorun::run(|| {
    ///     let (tx1, rx1) = gorun::chan::<i32>(1);
    ///     let (tx2, rx2) = gorun::chan::<i32>(1);
    ///     tx1.send(1).unwrap();
    ///     tx2.send(2).unwrap();
    ///     let mut sel = gorun::Select::new();
    ///     let a = sel.recv(&rx1);
    ///     let b = sel.recv(&rx2);
    ///     sel.remove(a);
    ///     let op = sel.select();
    ///     assert_eq!(op.index(), b);
    ///     assert_eq!(op.recv(&rx2), Ok(2));
    /// });
    /// ```
    ///
    /// # Panics
    /// If there is no case with this index, or it was removed already.
    pub fn remove(&mut self, index: usize) {
        let case = self
            .cases
            .get_mut(index)
            .filter(|c| c.chan_addr() != 0)
            .expect("gorun: Select::remove: no operation with this index");
        *case = Box::new(Removed);
    }

    /// Adds a receive case; returns its index.
    pub fn recv<T: Send + 'static>(&mut self, rx: &'a Receiver<T>) -> usize {
        self.cases.push(Box::new(RecvCase::new(rx)));
        self.cases.len() - 1
    }

    /// Adds a case sending `v`; returns its index.
    pub fn send<T: Send + 'static>(&mut self, tx: &'a Sender<T>, v: T) -> usize {
        self.cases.push(Box::new(SendCase::new(tx, v)));
        self.cases.len() - 1
    }

    /// Parks until one case completes.
    #[track_caller]
    pub fn select(self) -> SelectedOperation<'a> {
        let site = Location::caller();
        self.run(Wait::Until(None), site)
            .unwrap_or_else(|_| unreachable!())
    }

    /// Completes a ready case, or fails at once.
    #[track_caller]
    pub fn try_select(self) -> Result<SelectedOperation<'a>, TrySelectError> {
        self.run(Wait::No, Location::caller())
            .map_err(|_| TrySelectError)
    }

    /// Parks at most `timeout` for a case to complete.
    #[track_caller]
    pub fn select_timeout(
        self,
        timeout: Duration,
    ) -> Result<SelectedOperation<'a>, SelectTimeoutError> {
        let deadline = crate::runtime::timers::now().checked_add(timeout);
        self.run(Wait::Until(deadline), Location::caller())
            .map_err(|_| SelectTimeoutError)
    }

    /// Parks until `deadline` at most for a case to complete.
    #[track_caller]
    pub fn select_deadline(
        self,
        deadline: Instant,
    ) -> Result<SelectedOperation<'a>, SelectTimeoutError> {
        self.run(Wait::Until(Some(deadline)), Location::caller())
            .map_err(|_| SelectTimeoutError)
    }

    /// Parks until some case could complete, and returns its index without completing it
    /// (crossbeam's `Select::ready`). The operation is not reserved: another goroutine may
    /// take the value first, so perform it with a non-blocking call (`try_recv`,
    /// `try_send`) and call `ready` again if that fails.
    ///
    /// ```
    /// gorun::run(|| {
    ///     let (tx, rx) = gorun::chan::<i32>(1);
    ///     let (_tx2, rx2) = gorun::chan::<i32>(1);
    ///     let mut sel = gorun::Select::new();
    ///     let a = sel.recv(&rx);
    ///     sel.recv(&rx2);
    ///     gorun::go(move || tx.send(5).unwrap());
    ///     loop {
    ///         let i = sel.ready();
    ///         assert_eq!(i, a);
    ///         if let Ok(v) = rx.try_recv() {
    ///             assert_eq!(v, 5);
    ///             break;
    ///         }
    ///     }
    /// });
    /// ```
    #[track_caller]
    pub fn ready(&mut self) -> usize {
        let site = Location::caller();
        self.wait_ready(Wait::Until(None), site)
            .unwrap_or_else(|_| unreachable!())
    }

    /// The index of a case that could complete now, if any (see [`ready`](Select::ready)).
    #[track_caller]
    pub fn try_ready(&mut self) -> Result<usize, TrySelectError> {
        self.wait_ready(Wait::No, Location::caller())
            .map_err(|_| TrySelectError)
    }

    /// [`ready`](Select::ready), parking at most `timeout`.
    #[track_caller]
    pub fn ready_timeout(&mut self, timeout: Duration) -> Result<usize, SelectTimeoutError> {
        let deadline = crate::runtime::timers::now().checked_add(timeout);
        self.wait_ready(Wait::Until(deadline), Location::caller())
            .map_err(|_| SelectTimeoutError)
    }

    fn wait_ready(&mut self, wait: Wait, site: &'static Location<'static>) -> Result<usize, ()> {
        let mut order: Vec<usize> = (0..self.cases.len())
            .filter(|&i| !self.cases[i].is_nil())
            .collect();
        if !self.biased {
            for i in (1..order.len()).rev() {
                order.swap(i, random(i + 1));
            }
        }
        if let Some(&i) = order.iter().find(|&&i| self.cases[i].observe(None)) {
            return Ok(i);
        }
        let deadline = match wait {
            Wait::No => return Err(()),
            Wait::Until(d) => d,
        };
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let me = park::current();
        // Watch every channel (withdrawn on the way out, also when unwound), checking each
        // under the lock that registers us: a change after the check wakes us.
        let watched = Unobserve {
            cases: &self.cases,
            order: &order,
            id,
        };
        let mut found = order
            .iter()
            .copied()
            .find(|&i| self.cases[i].observe(Some((id, &me))));
        // The registering scan above is the first check; rescan only after a wake.
        let mut woken = false;
        park::wait_until(WaitReason::Select, site, deadline, || {
            if std::mem::replace(&mut woken, true) {
                found =
                    found.or_else(|| order.iter().copied().find(|&i| self.cases[i].observe(None)));
            }
            found.is_some()
        });
        drop(watched);
        found.ok_or(())
    }

    fn done(mut self, index: usize) -> SelectedOperation<'a> {
        SelectedOperation {
            index,
            case: self.cases.swap_remove(index),
        }
    }

    fn run(
        mut self,
        wait: Wait,
        site: &'static Location<'static>,
    ) -> Result<SelectedOperation<'a>, ()> {
        let i = run_cases(&mut self.cases, wait, self.biased, site)?;
        Ok(self.done(i))
    }
}

/// Runs a select over `cases`; returns the index of the completed case, or `Err` if none
/// completed (no case ready for `Wait::No`, or the deadline passed). A switch point before
/// and after under `gorun::check` (`seeded::around`).
fn run_cases<P, C>(
    cases: &mut [P],
    wait: Wait,
    biased: bool,
    site: &'static Location<'static>,
) -> Result<usize, ()>
where
    P: std::ops::DerefMut<Target = C>,
    C: Case + ?Sized,
{
    seeded::around(|| select_cases_now(cases, wait, biased, site))
}

fn select_cases_now<P, C>(
    cases: &mut [P],
    wait: Wait,
    biased: bool,
    site: &'static Location<'static>,
) -> Result<usize, ()>
where
    P: std::ops::DerefMut<Target = C>,
    C: Case + ?Sized,
{
    if matches!(wait, Wait::No) {
        park::coop(); // a select with `default` may be polled in a loop
    }
    let n = cases.len();
    // The poll order, on the stack for up to 16 cases.
    let mut inline = [0usize; 16];
    let mut heap = Vec::new();
    let order: &mut [usize] = if n <= inline.len() {
        let mut k = 0;
        for i in (0..n).filter(|&i| !cases[i].is_nil()) {
            inline[k] = i;
            k += 1;
        }
        &mut inline[..k]
    } else {
        heap.extend((0..n).filter(|&i| !cases[i].is_nil()));
        &mut heap
    };
    let deadline = match wait {
        Wait::No => None,
        Wait::Until(d) => d,
    };
    if order.is_empty() {
        match wait {
            Wait::No => return Err(()),
            Wait::Until(None) => {
                let reason = if n == 0 {
                    WaitReason::SelectNoCases
                } else {
                    WaitReason::Select
                };
                super::block_forever(reason, site)
            }
            Wait::Until(Some(d)) => {
                park::wait_until(WaitReason::Select, site, Some(d), || false);
                return Err(());
            }
        }
    }
    loop {
        // Poll in a random order (Fisher-Yates), or in source order when biased.
        if !biased {
            for i in (1..order.len()).rev() {
                order.swap(i, random(i + 1));
            }
        }
        for &i in order.iter() {
            if cases[i].try_complete() {
                return Ok(i);
            }
        }
        if matches!(wait, Wait::No) || deadline.is_some_and(|d| crate::runtime::timers::now() >= d)
        {
            return Err(());
        }
        let ctx = Arc::new(Ctx::new());
        let mut registered = 0;
        let mut ready = false;
        for &i in order.iter() {
            registered += 1;
            if cases[i].register(&ctx, i) {
                ready = true;
                break;
            }
        }
        if ready && ctx.abort() {
            for &i in &order[..registered] {
                cases[i].unregister();
            }
            continue;
        }
        let _timer =
            park::TimerWait::begin(order[..registered].iter().any(|&i| cases[i].is_timer()));
        // As a channel wait (`Chan::wait`): past the deadline, withdraw unless a case won.
        let won = loop {
            if park::wait_until(WaitReason::Select, site, deadline, || {
                ctx.selected().is_some()
            }) {
                break ctx.selected();
            }
            if ctx.abort() {
                break None;
            }
        };
        for &i in &order[..registered] {
            if Some(i) != won {
                cases[i].unregister();
            }
        }
        return match won {
            Some(i) => {
                cases[i].finish();
                Ok(i)
            }
            None => Err(()),
        };
    }
}

impl SelectedOperation<'_> {
    /// The index of the completed case.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The result of a completed receive case on `rx`.
    ///
    /// # Panics
    /// If `rx` is not the channel of the selected case, or the case was a send.
    pub fn recv<T: Send + 'static>(mut self, rx: &Receiver<T>) -> Result<T, RecvError> {
        assert_eq!(
            self.case.chan_addr(),
            addr(&rx.chan),
            "gorun: SelectedOperation::recv on the wrong channel"
        );
        *self
            .case
            .take_result()
            .downcast::<Result<T, RecvError>>()
            .expect("gorun: SelectedOperation::recv on a send case")
    }

    /// The result of a completed send case on `tx`.
    ///
    /// # Panics
    /// If `tx` is not the channel of the selected case, or the case was a receive.
    pub fn send<T: Send + 'static>(mut self, tx: &Sender<T>) -> Result<(), SendError<T>> {
        assert_eq!(
            self.case.chan_addr(),
            addr(&tx.chan),
            "gorun: SelectedOperation::send on the wrong channel"
        );
        *self
            .case
            .take_result()
            .downcast::<Result<(), SendError<T>>>()
            .expect("gorun: SelectedOperation::send on a receive case")
    }
}

impl Default for Select<'_> {
    fn default() -> Self {
        Select::new()
    }
}

impl fmt::Debug for Select<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Select")
            .field("cases", &self.cases.len())
            .finish()
    }
}

impl fmt::Debug for SelectedOperation<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SelectedOperation")
            .field("index", &self.index)
            .finish()
    }
}

/// Runs a `select!` over cases on the caller's stack (no allocation unless it parks).
/// `timeout`: `None` parks until a case completes; `Some(None)` is a `default` case (no
/// parking); `Some(Some(d))` parks at most `d`. Returns whether a case completed.
#[doc(hidden)]
#[track_caller]
pub fn select_cases(
    cases: &mut [&mut dyn Case],
    timeout: Option<Option<Duration>>,
    biased: bool,
) -> bool {
    let wait = match timeout {
        None => Wait::Until(None),
        Some(None) => Wait::No,
        Some(Some(d)) => Wait::Until(crate::runtime::timers::now().checked_add(d)),
    };
    run_cases(cases, wait, biased, Location::caller()).is_ok()
}

/// `select! {}`: parks forever.
#[doc(hidden)]
#[track_caller]
pub fn select_forever() -> ! {
    super::block_forever(WaitReason::SelectNoCases, Location::caller())
}
