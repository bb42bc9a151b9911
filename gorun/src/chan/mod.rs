//! Channels: Go's `chan T`, buffered and unbuffered, for goroutines and plain threads.
//!
//! This file holds the public ends (`chan`, `Sender`, `Receiver`, their errors and
//! iterators). Underneath, one mutex guards each channel's state (`state.rs`): the buffer,
//! the closed flag and two FIFO queues of parked waiters, receivers and senders. A waiter is
//! a heap node (`waiter.rs`, which also states who may touch its hand-off slot when);
//! nothing a waker touches lives on the parked goroutine's stack. `select.rs` parks on
//! several channels at once with one shared completion state.

use std::fmt;
use std::panic::Location;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod future;
mod macros;
mod select;
mod state;
mod waiter;

use crate::runtime::seeded;
pub(crate) use state::block_forever;
use state::{new_chan, Chan, TryRecv, TrySend};
pub use waiter::Ctx;
pub(crate) use waiter::Waiter;

#[doc(hidden)]
pub use select::{select_cases, select_forever, Case, RecvCase, SendCase};

pub use future::{RecvFuture, SendFuture};
pub use select::{Select, SelectTimeoutError, SelectedOperation, TrySelectError};

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
    let c = new_chan(cap, 1, false, false);
    (Sender { chan: c.clone() }, Receiver::new(c))
}

/// A channel whose sender side never closes it by being dropped (timer channels).
pub(crate) fn timer_chan<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    let c = new_chan(cap, 2, false, true);
    (Sender { chan: c.clone() }, Receiver::new(c))
}

/// A receiver that is never ready (Go's nil channel): `recv` blocks forever and a `select!`
/// case on it is never chosen.
pub fn never<T>() -> Receiver<T> {
    Receiver::new(new_chan(0, 1, true, false))
}

/// The sending half of a channel. Clone it for more senders; dropping the last one closes
/// the channel.
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

/// The receiving half of a channel. Clone it for more receivers (each value goes to one).
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
    /// The parked waiter of [`Receiver::poll_recv`] (and `Stream`), if pending.
    pending: future::Pending<T>,
}

impl<T> Sender<T> {
    /// Sends `v`, parking while the buffer is full (or, unbuffered, until a receiver takes
    /// it). Fails with the value back if the channel is closed or every receiver is gone,
    /// also when that happens while parked.
    ///
    /// # A closed channel
    /// Go panics on a send to a closed channel; gorun returns the value in an error instead,
    /// the same way from every send: `send` with [`SendError`], `try_send` with
    /// [`TrySendError::Closed`], `send_timeout` with [`SendTimeoutError::Closed`]. A
    /// channel whose receivers are all gone fails the same way, as `Disconnected` (a
    /// `SendError` covers both; [`is_closed`](Sender::is_closed) tells them apart).
    #[track_caller]
    pub fn send(&self, v: T) -> Result<(), SendError<T>> {
        let site = Location::caller();
        seeded::around(|| self.chan.send_impl(v, site, None)).map_err(|e| SendError(e.into_inner()))
    }

    /// Sends without parking.
    pub fn try_send(&self, v: T) -> Result<(), TrySendError<T>> {
        seeded::around(|| self.chan.try_send(v))
    }

    /// Sends, parking at most `timeout`.
    #[track_caller]
    pub fn send_timeout(&self, v: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        let (site, deadline) = (
            Location::caller(),
            crate::runtime::timers::now().checked_add(timeout),
        );
        seeded::around(|| self.chan.send_impl(v, site, deadline))
    }

    /// Sends, parking until `deadline` at most.
    #[track_caller]
    pub fn send_deadline(&self, v: T, deadline: Instant) -> Result<(), SendTimeoutError<T>> {
        let site = Location::caller();
        seeded::around(|| self.chan.send_impl(v, site, Some(deadline)))
    }

    /// Closes the channel (Go's `close`): parked receivers and senders wake, receivers drain
    /// the buffered values and then get `Err`. Closing again does nothing.
    pub fn close(&self) {
        seeded::around(|| self.chan.close());
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
    fn new(chan: Arc<Chan<T>>) -> Receiver<T> {
        Receiver {
            chan,
            pending: None,
        }
    }

    /// Receives the next value, parking until one arrives. Buffered values are drained
    /// first; `Err` once the channel is closed (or every sender is gone) and empty.
    #[track_caller]
    pub fn recv(&self) -> Result<T, RecvError> {
        let site = Location::caller();
        seeded::around(|| self.chan.recv_impl(site, None)).map_err(|_| RecvError)
    }

    /// Receives without parking.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        seeded::around(|| self.chan.try_recv())
    }

    /// Receives, parking at most `timeout`.
    #[track_caller]
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        let (site, deadline) = (
            Location::caller(),
            crate::runtime::timers::now().checked_add(timeout),
        );
        seeded::around(|| self.chan.recv_impl(site, deadline))
    }

    /// Receives, parking until `deadline` at most.
    #[track_caller]
    pub fn recv_deadline(&self, deadline: Instant) -> Result<T, RecvTimeoutError> {
        let site = Location::caller();
        seeded::around(|| self.chan.recv_impl(site, Some(deadline)))
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

    /// Runs `hook` once the channel's last receiver is dropped (set once, by the timer
    /// functions, right after creating the channel).
    pub(crate) fn on_disconnect(&self, hook: Box<dyn FnOnce() + Send>) {
        let old = self
            .chan
            .on_disconnect
            .swap(Box::into_raw(Box::new(hook)), Ordering::AcqRel);
        debug_assert!(old.is_null(), "a channel has one disconnect hook");
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
        Receiver::new(self.chan.clone())
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
        if let Some(w) = self.pending.take() {
            self.chan.cancel_recv(w);
        }
        if self.chan.receivers.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.chan.disconnect_receivers();
            if let Some(hook) = self.chan.take_hook() {
                hook();
            }
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

impl<T> fmt::Debug for Iter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("Iter { .. }")
    }
}

impl<T> fmt::Debug for TryIter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("TryIter { .. }")
    }
}

impl<T> fmt::Debug for IntoIter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("IntoIter { .. }")
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
///
/// Converts into [`TrySendError`] and [`SendTimeoutError`] (as `Disconnected`) and, like
/// every channel error, into `Box<dyn Error>`, so `?` works across them.
///
/// ```
/// use gorun::{Sender, TrySendError};
///
/// fn forward(tx: &Sender<u32>, v: u32) -> Result<(), TrySendError<u32>> {
///     tx.send(v)?; // a SendError converts
///     tx.try_send(v + 1)
/// }
///
/// let (tx, rx) = gorun::chan::<u32>(1);
/// let err = forward(&tx, 1).unwrap_err(); // the second value does not fit
/// assert!(err.is_full());
/// assert_eq!(rx.recv(), Ok(1));
/// tx.close();
/// assert!(forward(&tx, 1).unwrap_err().is_disconnected());
/// ```
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
    /// No room (or no receiver) before the deadline.
    Timeout(T),
    /// The channel was closed.
    Closed(T),
    /// Every receiver is gone.
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
    /// Whether the buffer was full (or, unbuffered, no receiver was waiting).
    pub fn is_full(&self) -> bool {
        matches!(self, TrySendError::Full(_))
    }

    /// Whether the channel was closed.
    pub fn is_closed(&self) -> bool {
        matches!(self, TrySendError::Closed(_))
    }

    /// Whether every receiver is gone.
    pub fn is_disconnected(&self) -> bool {
        matches!(self, TrySendError::Disconnected(_))
    }
}

impl<T> SendTimeoutError<T> {
    /// The value that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            SendTimeoutError::Timeout(v)
            | SendTimeoutError::Closed(v)
            | SendTimeoutError::Disconnected(v) => v,
        }
    }

    /// Whether the deadline passed.
    pub fn is_timeout(&self) -> bool {
        matches!(self, SendTimeoutError::Timeout(_))
    }

    /// Whether the channel was closed.
    pub fn is_closed(&self) -> bool {
        matches!(self, SendTimeoutError::Closed(_))
    }

    /// Whether every receiver is gone.
    pub fn is_disconnected(&self) -> bool {
        matches!(self, SendTimeoutError::Disconnected(_))
    }
}

impl TryRecvError {
    /// Whether nothing was there to receive (the channel is still open).
    pub fn is_empty(&self) -> bool {
        matches!(self, TryRecvError::Empty)
    }

    /// Whether the channel is closed and drained.
    pub fn is_disconnected(&self) -> bool {
        matches!(self, TryRecvError::Disconnected)
    }
}

impl RecvTimeoutError {
    /// Whether the deadline passed.
    pub fn is_timeout(&self) -> bool {
        matches!(self, RecvTimeoutError::Timeout)
    }

    /// Whether the channel is closed and drained.
    pub fn is_disconnected(&self) -> bool {
        matches!(self, RecvTimeoutError::Disconnected)
    }
}

impl<T> From<SendError<T>> for TrySendError<T> {
    fn from(e: SendError<T>) -> Self {
        TrySendError::Disconnected(e.0)
    }
}

impl<T> From<SendError<T>> for SendTimeoutError<T> {
    fn from(e: SendError<T>) -> Self {
        SendTimeoutError::Disconnected(e.0)
    }
}

impl From<RecvError> for TryRecvError {
    fn from(_: RecvError) -> Self {
        TryRecvError::Disconnected
    }
}

impl From<RecvError> for RecvTimeoutError {
    fn from(_: RecvError) -> Self {
        RecvTimeoutError::Disconnected
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
            SendTimeoutError::Closed(_) => f.pad("Closed(..)"),
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
            SendTimeoutError::Closed(_) => f.pad("sending on a closed channel"),
            SendTimeoutError::Disconnected(_) => f.pad("sending on a channel with no receivers"),
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
