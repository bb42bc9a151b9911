//! `Context`: Go's `context.Context` for cancellation and deadlines (values are left out:
//! pass data as arguments).
//!
//! # Invariants
//!
//! - A context node is cancelled at most once: its error is set under its lock, then its
//!   `done` channel is closed, so `err()` is `Some` whenever `done()` is closed.
//! - A parent holds its live children weakly and cancels them (with its own error) when it
//!   is cancelled; a child cancelled first removes itself from its parent, so a long-lived
//!   parent does not accumulate cancelled children.
//! - A deadline is a timer holding only a `Weak` to its node; cancelling the node cancels the
//!   timer, so no timer stays armed after cancel.
//! - Locks are taken parent after child never: cancellation releases a node's lock before
//!   cancelling its children or detaching from its parent.

use std::fmt;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::chan::{never, timer_chan, Receiver, Sender};
use crate::time::{Clock, TimerAction, TimerHandle};

/// Why a context is done ([`Context::err`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ContextError {
    /// Cancelled through a [`Cancel`] (Go's `context.Canceled`).
    Canceled,
    /// Its deadline passed (Go's `context.DeadlineExceeded`).
    DeadlineExceeded,
}

impl fmt::Display for ContextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            ContextError::Canceled => "context canceled",
            ContextError::DeadlineExceeded => "context deadline exceeded",
        })
    }
}

impl std::error::Error for ContextError {}

struct Node {
    parent: Option<Arc<Node>>,
    /// The earliest deadline of this node and its ancestors.
    deadline: Option<Instant>,
    done_tx: Sender<()>,
    done_rx: Receiver<()>,
    state: Mutex<State>,
}

struct State {
    err: Option<ContextError>,
    children: Vec<Weak<Node>>,
    /// The deadline timer while armed.
    timer: Option<(Clock, TimerHandle)>,
}

impl Node {
    fn cancel(self: &Arc<Node>, err: ContextError) {
        let (children, timer) = {
            let mut st = self.state.lock().unwrap();
            if st.err.is_some() {
                return;
            }
            st.err = Some(err);
            (std::mem::take(&mut st.children), st.timer.take())
        };
        self.done_tx.close();
        if let Some((clock, handle)) = timer {
            clock.cancel(handle);
        }
        for child in children.iter().filter_map(Weak::upgrade) {
            child.cancel(err);
        }
        if let Some(parent) = &self.parent {
            let me = Arc::downgrade(self);
            parent
                .state
                .lock()
                .unwrap()
                .children
                .retain(|c| !c.ptr_eq(&me) && c.strong_count() > 0);
        }
    }

    fn err(&self) -> Option<ContextError> {
        self.state.lock().unwrap().err
    }
}

/// A cancellation signal with an optional deadline, passed down a call tree (Go's
/// `context.Context`). Cheap to clone; `Send + Sync`.
///
/// [`Context::background`] is never done. [`with_cancel`](Context::with_cancel),
/// [`with_timeout`](Context::with_timeout) and [`with_deadline`](Context::with_deadline)
/// derive a child, returned with its [`Cancel`]; cancelling a context cancels every context
/// derived from it. [`done`](Context::done) is a channel closed on cancel, for
/// [`select!`](crate::select); [`err`](Context::err) says why.
///
/// ```
/// use std::time::Duration;
/// use gorun::{Context, ContextError};
///
/// gorun::run(|| {
///     let (ctx, cancel) = Context::background().with_cancel();
///     let (results_tx, results) = gorun::chan::<u32>(0);
///     let worker_ctx = ctx.clone();
///     let worker = gorun::go(move || {
///         let done = worker_ctx.done();
///         for i in 0.. {
///             gorun::select! {
///                 send(results_tx, i) -> _ => {}
///                 recv(done) -> _ => return worker_ctx.err(),
///             }
///         }
///         None
///     });
///     assert_eq!(results.recv(), Ok(0));
///     assert_eq!(results.recv(), Ok(1));
///     cancel.cancel();
///     assert_eq!(worker.join().unwrap(), Some(ContextError::Canceled));
///
///     let (ctx, _cancel) = Context::background().with_timeout(Duration::from_millis(5));
///     let _ = ctx.done().recv(); // closed when the deadline passes
///     assert_eq!(ctx.err(), Some(ContextError::DeadlineExceeded));
/// });
/// ```
///
/// Like Go, dropping a [`Cancel`] does not cancel: a context derived with a deadline still
/// ends at the deadline, one derived with `with_cancel` when its parent does. Call
/// `cancel` when the work is done to release the timer at once.
#[derive(Clone)]
pub struct Context {
    /// `None`: the background context.
    node: Option<Arc<Node>>,
}

/// Cancels its [`Context`] and the contexts derived from it (Go's `CancelFunc`). Calling it
/// again does nothing; dropping it does not cancel. Cheap to clone.
#[derive(Clone)]
pub struct Cancel {
    node: Arc<Node>,
}

impl Cancel {
    /// Cancels the context with [`ContextError::Canceled`], unless it is already done.
    pub fn cancel(&self) {
        self.node.cancel(ContextError::Canceled);
    }
}

impl Context {
    /// The root context: never cancelled, no deadline (Go's `context.Background`).
    pub fn background() -> Context {
        Context { node: None }
    }

    /// A child context cancelled by the returned [`Cancel`] or when `self` is.
    pub fn with_cancel(&self) -> (Context, Cancel) {
        let node = self.child(self.deadline());
        (
            Context {
                node: Some(node.clone()),
            },
            Cancel { node },
        )
    }

    /// A child context that is also cancelled, with [`ContextError::DeadlineExceeded`], at
    /// `deadline` (or at `self`'s deadline, if earlier). The deadline is on the runtime's
    /// clock ([`time::now`](crate::time::now), virtual under
    /// [`Builder::virtual_time`](crate::Builder::virtual_time)).
    pub fn with_deadline(&self, deadline: Instant) -> (Context, Cancel) {
        if self.deadline().is_some_and(|d| d <= deadline) {
            return self.with_cancel(); // the parent's deadline comes first
        }
        let node = self.child(Some(deadline));
        let clock = Clock::current();
        if node.err().is_none() && deadline <= clock.now() {
            // Already past: done at once, as Go's WithDeadline (no timer to race with).
            node.cancel(ContextError::DeadlineExceeded);
        }
        if node.err().is_none() {
            let weak = Arc::downgrade(&node);
            let action = TimerAction::Call(Box::new(move |_| {
                if let Some(node) = weak.upgrade() {
                    node.cancel(ContextError::DeadlineExceeded);
                }
            }));
            match clock.add(deadline, action) {
                Some(handle) => {
                    let mut st = node.state.lock().unwrap();
                    if st.err.is_none() {
                        st.timer = Some((clock, handle));
                    } else {
                        drop(st);
                        clock.cancel(handle);
                    }
                }
                // The runtime has shut down: no timer will run; end it now.
                None => node.cancel(ContextError::DeadlineExceeded),
            }
        }
        (
            Context {
                node: Some(node.clone()),
            },
            Cancel { node },
        )
    }

    /// [`with_deadline`](Context::with_deadline) at `timeout` from now.
    pub fn with_timeout(&self, timeout: Duration) -> (Context, Cancel) {
        match Clock::current().now().checked_add(timeout) {
            Some(deadline) => self.with_deadline(deadline),
            None => self.with_cancel(),
        }
    }

    /// A channel closed when the context is cancelled or its deadline passes: receiving
    /// from it returns `Err` then. For the background context it is never closed.
    ///
    /// The deadline closes it as long as the context, a clone, its [`Cancel`] or a context
    /// derived from it is alive; once all are dropped nothing can close it any more.
    pub fn done(&self) -> Receiver<()> {
        match &self.node {
            Some(node) => node.done_rx.clone(),
            None => never(),
        }
    }

    /// `None` while the context is live; why it is done afterwards (`Some` as soon as
    /// [`done`](Context::done) is closed).
    pub fn err(&self) -> Option<ContextError> {
        self.node.as_ref().and_then(|n| n.err())
    }

    /// Whether the context is done (cancelled or past its deadline).
    pub fn is_done(&self) -> bool {
        self.err().is_some()
    }

    /// When the context will be cancelled by a deadline (its own or an ancestor's).
    pub fn deadline(&self) -> Option<Instant> {
        self.node.as_ref().and_then(|n| n.deadline)
    }

    /// A new node under `self`, registered with it (or cancelled at once if `self` is done).
    fn child(&self, deadline: Option<Instant>) -> Arc<Node> {
        // Closed by `cancel` only, never by dropping the node (see `done`).
        let (done_tx, done_rx) = timer_chan(0);
        let node = Arc::new(Node {
            parent: self.node.clone(),
            deadline,
            done_tx,
            done_rx,
            state: Mutex::new(State {
                err: None,
                children: Vec::new(),
                timer: None,
            }),
        });
        if let Some(parent) = &self.node {
            let mut st = parent.state.lock().unwrap();
            match st.err {
                Some(err) => {
                    drop(st);
                    node.cancel(err);
                }
                None => {
                    // Forget children dropped without being cancelled, now and then.
                    if st.children.len().is_power_of_two() {
                        st.children.retain(|c| c.strong_count() > 0);
                    }
                    st.children.push(Arc::downgrade(&node));
                }
            }
        }
        node
    }
}

impl Default for Context {
    fn default() -> Self {
        Context::background()
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.node {
            None => f.pad("Context::background()"),
            Some(_) => f
                .debug_struct("Context")
                .field("err", &self.err())
                .field("deadline", &self.deadline())
                .finish(),
        }
    }
}

impl fmt::Debug for Cancel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cancel")
            .field("err", &self.node.err())
            .finish()
    }
}
