//! The one wait queue every `sync` type parks through.
//!
//! This is the raw wait/park protocol, kept apart from the user-facing types (as
//! `parking_lot` keeps its core apart from `lock_api`). A [`WaitQueue`] is a FIFO of heap
//! [`WaitNode`]s behind a short internal lock, next to whatever state `T` the owning type wants
//! to change atomically with the queue (a semaphore's permit count, a barrier's arrivals).
//!
//! The protocol, for a waiter:
//! 1. lock the queue, decide (from the type's own state) that it must wait;
//! 2. [`QueueGuard::wait`]: push a fresh `Arc<WaitNode>` holding [`park::current`], release the
//!    queue lock, and park until a waker *grants* the waiter a non-zero token.
//!
//! And for a waker: lock the queue, pop waiters, release the queue lock, then
//! [`WaitNode::grant`] each with a token saying what it was given: a plain wake-up
//! ([`WOKEN`]: "try again") or a hand-off ([`HANDOFF`]: "you now own it"). Granting after
//! the queue lock is released keeps the scheduler's work out of the critical section.
//!
//! WaitNode nodes live in the heap (`Arc`), never on the parked goroutine's stack, so a waker
//! on another thread never points into a stack that could be moved or released.

use std::collections::VecDeque;
use std::ops::{Deref, DerefMut};
use std::panic::Location;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use crate::park::{self, Unparker, WaitReason};
use crate::shim::{loom_const_fn, AtomicUsize, Mutex, MutexGuard};

/// Token: still waiting (never granted).
const UNGRANTED: usize = 0;
/// Token: woken; the waiter re-checks and competes again.
pub(crate) const WOKEN: usize = 1;
/// Token: the waker handed the resource straight to the waiter.
pub(crate) const HANDOFF: usize = 2;

/// One parked goroutine or thread, on the heap.
pub(crate) struct WaitNode {
    unparker: Unparker,
    token: AtomicUsize,
    /// When the waiter first started waiting (for fairness decisions).
    pub(crate) since: Instant,
    /// Free-form data for the owning type (e.g. how many permits a waiter wants).
    pub(crate) data: usize,
}

impl WaitNode {
    /// Grants `token` (non-zero) to the waiter and wakes it. Call without holding the queue
    /// lock.
    pub(crate) fn grant(&self, token: usize) {
        debug_assert_ne!(token, UNGRANTED);
        self.token.store(token, Ordering::Release);
        self.unparker.unpark();
    }

    /// Parks until granted (`Some(token)`) or, with a deadline, until it passes (`None`:
    /// the waiter may still be queued).
    fn wait(
        &self,
        reason: WaitReason,
        site: &'static Location<'static>,
        deadline: Option<Instant>,
    ) -> Option<usize> {
        let mut t = UNGRANTED;
        park::wait_until(reason, site, deadline, || {
            t = self.token.load(Ordering::Acquire);
            t != UNGRANTED
        })
        .then_some(t)
    }

    /// Waits for a grant that is stored or about to be (the waiter left the queue).
    fn granted(&self) -> usize {
        loop {
            let t = self.token.load(Ordering::Acquire);
            if t != UNGRANTED {
                return t;
            }
            std::hint::spin_loop();
        }
    }
}

struct Queue<T> {
    waiters: VecDeque<Arc<WaitNode>>,
    state: T,
}

/// A FIFO of waiters plus the state `T` protected by the same lock.
pub(crate) struct WaitQueue<T = ()> {
    inner: Mutex<Queue<T>>,
}

impl<T> WaitQueue<T> {
    loom_const_fn! {
        pub(crate) fn new(state: T) -> Self {
            WaitQueue {
                inner: Mutex::new(Queue {
                    waiters: VecDeque::new(),
                    state,
                }),
            }
        }
    }

    /// Locks the queue. Critical sections are short and never park.
    pub(crate) fn lock(&self) -> QueueGuard<'_, T> {
        // Nothing panics while holding this lock, but never let poisoning matter.
        QueueGuard {
            q: self.inner.lock().unwrap_or_else(|e| e.into_inner()),
            queue: self,
        }
    }
}

/// The locked queue; derefs to the protected state.
pub(crate) struct QueueGuard<'a, T> {
    q: MutexGuard<'a, Queue<T>>,
    queue: &'a WaitQueue<T>,
}

/// Where a new waiter goes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pos {
    Back,
    Front,
}

impl<T> QueueGuard<'_, T> {
    /// Enqueues the caller, releases the queue lock, and parks until granted; returns the
    /// token. `since` is when the caller first started waiting, `data` is for the owner.
    ///
    /// If the waiting goroutine is unwound instead (a runtime shutting down abandons parked
    /// goroutines), its waiter leaves the queue; if it had already been granted a token,
    /// `on_abandon(token)` runs so the owner can pass on what was given (unlock a handed-off
    /// lock, return a permit). This keeps a `static` lock usable by a later runtime.
    pub(crate) fn wait(
        mut self,
        pos: Pos,
        since: Instant,
        data: usize,
        reason: WaitReason,
        site: &'static Location<'static>,
        on_abandon: &dyn Fn(usize),
    ) -> usize {
        let w = self.enqueue(pos, since, data);
        self.park_on(w, None, reason, site, on_abandon)
            .expect("an untimed wait ends granted")
    }

    /// [`wait`](QueueGuard::wait) at the back of the queue, giving up at `deadline`:
    /// `None` if it passed before a grant (the waiter then left the queue).
    pub(crate) fn wait_until(
        mut self,
        deadline: Instant,
        reason: WaitReason,
        site: &'static Location<'static>,
        on_abandon: &dyn Fn(usize),
    ) -> Option<usize> {
        let w = self.enqueue(Pos::Back, Instant::now(), 0);
        self.park_on(w, Some(deadline), reason, site, on_abandon)
    }

    fn enqueue(&mut self, pos: Pos, since: Instant, data: usize) -> Arc<WaitNode> {
        let w = Arc::new(WaitNode {
            unparker: park::current(),
            token: AtomicUsize::new(UNGRANTED),
            since,
            data,
        });
        match pos {
            Pos::Back => self.q.waiters.push_back(w.clone()),
            Pos::Front => self.q.waiters.push_front(w.clone()),
        }
        w
    }

    /// Releases the queue lock and parks until `w` is granted or `deadline` passes.
    fn park_on(
        self,
        w: Arc<WaitNode>,
        deadline: Option<Instant>,
        reason: WaitReason,
        site: &'static Location<'static>,
        on_abandon: &dyn Fn(usize),
    ) -> Option<usize> {
        let queue = self.queue;
        drop(self);
        let mut abandon = Abandon {
            queue,
            w: &w,
            on_abandon,
            armed: true,
        };
        let token = w.wait(reason, site, deadline).or_else(|| {
            // Timed out: leave the queue, unless a waker popped us first (then its grant
            // stands).
            let mut q = queue.lock();
            match q.q.waiters.iter().position(|x| Arc::ptr_eq(x, &w)) {
                Some(i) => {
                    q.q.waiters.remove(i);
                    None
                }
                None => {
                    drop(q);
                    Some(w.granted())
                }
            }
        });
        abandon.armed = false;
        token
    }

    /// Removes the oldest waiter; grant it after dropping the guard.
    pub(crate) fn pop(&mut self) -> Option<Arc<WaitNode>> {
        self.q.waiters.pop_front()
    }

    /// Removes every waiter; grant them after dropping the guard.
    pub(crate) fn take_all(&mut self) -> VecDeque<Arc<WaitNode>> {
        std::mem::take(&mut self.q.waiters)
    }

    /// Removes the oldest waiter whose `data` is `data`.
    pub(crate) fn pop_data(&mut self, data: usize) -> Option<Arc<WaitNode>> {
        let i = self.q.waiters.iter().position(|w| w.data == data)?;
        self.q.waiters.remove(i)
    }

    /// Removes every waiter whose `data` is `data`, oldest first.
    pub(crate) fn take_data(&mut self, data: usize) -> Vec<Arc<WaitNode>> {
        let mut taken = Vec::new();
        self.q.waiters.retain(|w| {
            if w.data == data {
                taken.push(w.clone());
                false
            } else {
                true
            }
        });
        taken
    }

    /// Whether a waiter with this `data` is queued.
    pub(crate) fn has_data(&self, data: usize) -> bool {
        self.q.waiters.iter().any(|w| w.data == data)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.q.waiters.is_empty()
    }
}

impl<T> Deref for QueueGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.q.state
    }
}

impl<T> DerefMut for QueueGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.q.state
    }
}

/// Cleans up after a waiter unwound while parked (see [`QueueGuard::wait`]).
struct Abandon<'a, T> {
    queue: &'a WaitQueue<T>,
    w: &'a Arc<WaitNode>,
    on_abandon: &'a dyn Fn(usize),
    armed: bool,
}

impl<T> Drop for Abandon<'_, T> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut q = self.queue.lock();
        if let Some(i) = q.q.waiters.iter().position(|x| Arc::ptr_eq(x, self.w)) {
            q.q.waiters.remove(i);
            return;
        }
        drop(q);
        // Not queued: a waker popped it, and its grant is (or is about to be) stored.
        (self.on_abandon)(self.w.granted());
    }
}

/// Grants `token` to every waiter in `ws` (call after the queue lock is released).
pub(crate) fn grant_all(ws: impl IntoIterator<Item = Arc<WaitNode>>, token: usize) {
    for w in ws {
        w.grant(token);
    }
}
