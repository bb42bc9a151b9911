//! `Cond`: Go's `sync.Cond`, used with a gorun [`MutexGuard`].

use crate::shim::loom_const_fn;
use std::fmt;
use std::panic::Location;
use std::time::{Duration, Instant};

use super::mutex::MutexGuard;
use super::waitq::{self, Pos, WaitQueue, WOKEN};
use crate::park::WaitReason;
use crate::runtime::seeded;

/// A condition variable: goroutines wait for a signal while holding a [`Mutex`](super::Mutex).
///
/// [`wait`](Cond::wait) atomically queues the caller and unlocks the mutex, parks, and
/// re-locks before returning. [`signal`](Cond::signal) wakes the oldest waiter,
/// [`broadcast`](Cond::broadcast) every current waiter. Unlike std's `Condvar`, there are no
/// spurious wake-ups: `wait` returns only after a `signal` or `broadcast` picked it. (Re-check
/// your condition anyway when several goroutines may consume it, as in Go.)
///
/// ```
/// use std::sync::Arc;
/// use gorun::sync::{Cond, Mutex};
///
/// gorun::run(|| {
///     let state = Arc::new((Mutex::new(false), Cond::new()));
///     let s2 = state.clone();
///     let h = gorun::go(move || {
///         let (m, c) = &*s2;
///         let mut ready = m.lock();
///         while !*ready {
///             ready = c.wait(ready);
///         }
///     });
///     let (m, c) = &*state;
///     *m.lock() = true;
///     c.signal();
///     h.join().unwrap();
/// });
/// ```
pub struct Cond {
    queue: WaitQueue,
}

impl Cond {
    loom_const_fn! {
        /// A condition variable with no waiters.
        pub fn new() -> Cond {
            Cond {
                queue: WaitQueue::new(()),
            }
        }
    }

    /// Unlocks `guard`'s mutex, waits for a `signal`/`broadcast`, re-locks and returns the
    /// guard. The caller is queued before the mutex is released, so a signal sent by whoever
    /// takes the mutex next is never lost.
    #[track_caller]
    pub fn wait<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        self.wait_until(guard, None, Location::caller()).0
    }

    /// [`wait`](Cond::wait), giving up after `timeout`: returns the re-locked guard and
    /// whether the wait timed out (no `signal` or `broadcast` picked it in time). Like
    /// `std::sync::Condvar::wait_timeout`, minus poisoning.
    ///
    /// ```
    /// use std::time::Duration;
    /// use gorun::sync::{Cond, Mutex};
    ///
    /// gorun::run(|| {
    ///     let (m, c) = (Mutex::new(0), Cond::new());
    ///     let (guard, result) = c.wait_timeout(m.lock(), Duration::from_millis(1));
    ///     assert!(result.timed_out()); // nobody signals
    ///     assert_eq!(*guard, 0);
    /// });
    /// ```
    #[track_caller]
    pub fn wait_timeout<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        timeout: Duration,
    ) -> (MutexGuard<'a, T>, WaitTimeoutResult) {
        let deadline = crate::runtime::timers::now().checked_add(timeout);
        let (guard, timed_out) = self.wait_until(guard, deadline, Location::caller());
        (guard, WaitTimeoutResult(timed_out))
    }

    /// Waits for a signal until `deadline` (`None`: for ever); returns whether it timed out.
    fn wait_until<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        deadline: Option<Instant>,
        site: &'static Location<'static>,
    ) -> (MutexGuard<'a, T>, bool) {
        let mutex = guard.mutex;
        let q = self.queue.lock();
        // Unlock while the queue is locked: a signaller must lock the queue to see us, and
        // we are in the queue before anyone can take the mutex.
        drop(guard);
        // Signalled but unwound (runtime shutdown): pass the signal on.
        let on_abandon = |_| self.signal();
        let reason = WaitReason::CondWait;
        let granted = match deadline {
            Some(d) => q.wait_until(d, reason, site, &on_abandon),
            None => Some(q.wait(Pos::Back, Instant::now(), 0, reason, site, &on_abandon)),
        };
        mutex.raw().lock(site);
        // Re-create the guard for the re-locked mutex.
        (MutexGuard::relocked(mutex), granted.is_none())
    }

    /// Wakes the oldest waiter, if any.
    pub fn signal(&self) {
        let w = self.queue.lock().pop();
        if let Some(w) = w {
            w.grant(WOKEN);
        }
        seeded::point();
    }

    /// Wakes every goroutine waiting now.
    pub fn broadcast(&self) {
        let ws = self.queue.lock().take_all();
        waitq::grant_all(ws, WOKEN);
        seeded::point();
    }
}

/// Whether [`Cond::wait_timeout`] timed out (std's `WaitTimeoutResult`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// True if the wait ended because the timeout passed.
    pub fn timed_out(&self) -> bool {
        self.0
    }
}

impl Default for Cond {
    fn default() -> Self {
        Cond::new()
    }
}

impl fmt::Debug for Cond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cond").finish_non_exhaustive()
    }
}
