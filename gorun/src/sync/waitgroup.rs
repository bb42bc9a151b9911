//! `WaitGroup`: Go's `sync.WaitGroup`.
//!
//! One atomic word holds the counter (high 32 bits, signed) and the number of waiters (low
//! 32 bits), as in Go. `wait` registers itself (CAS on the word) and queues under the wait
//! queue's lock; the `done` that brings the counter to zero with waiters present takes the
//! same lock, resets the word and wakes them all, so no waiter is missed.

use std::fmt;
use std::panic::Location;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use super::waitq::{self, Pos, WaitQueue, WOKEN};
use crate::park::WaitReason;
use crate::runtime::seeded;
use crate::shim::AtomicU64;
use crate::JoinHandle;

struct Inner {
    state: AtomicU64,
    queue: WaitQueue,
}

/// Waits for a collection of goroutines to finish, Go's `sync.WaitGroup`.
///
/// Clones share one counter (like passing `&wg` in Go). Prefer [`go`](WaitGroup::go) or the
/// RAII [`enter`](WaitGroup::enter) guard over paired [`add`](WaitGroup::add) /
/// [`done`](WaitGroup::done) calls: they cannot forget the `done`.
///
/// ```
/// use gorun::sync::WaitGroup;
///
/// gorun::run(|| {
///     let wg = WaitGroup::new();
///     for id in 1..=5 {
///         drop(wg.go(move || println!("Worker {id} done")));
///     }
///     wg.wait();
///     println!("All workers finished.");
/// });
/// ```
///
/// # Panics
/// As in Go: `sync: negative WaitGroup counter` when `done`/`add` takes the counter below
/// zero; `sync: WaitGroup is reused before previous Wait has returned` (in the waiter) when
/// the counter is raised again before every waiter of the previous round has returned;
/// `sync: WaitGroup misuse: Add called concurrently with Wait` when an `add` from zero races
/// with a `wait`.
#[derive(Clone)]
pub struct WaitGroup {
    inner: Arc<Inner>,
}

const COUNT_SHIFT: u32 = 32;

fn counter(state: u64) -> i32 {
    (state >> COUNT_SHIFT) as u32 as i32
}

fn waiters(state: u64) -> u32 {
    state as u32
}

impl WaitGroup {
    /// A wait group with counter 0.
    pub fn new() -> WaitGroup {
        WaitGroup {
            inner: Arc::new(Inner {
                state: AtomicU64::new(0),
                queue: WaitQueue::new(()),
            }),
        }
    }

    /// Adds `delta` (which may be negative) to the counter. When it reaches zero, every
    /// goroutine blocked in [`wait`](WaitGroup::wait) is released.
    ///
    /// # Panics
    /// `sync: negative WaitGroup counter` if the counter would go below zero.
    pub fn add(&self, delta: isize) {
        seeded::around(|| self.add_now(delta))
    }

    fn add_now(&self, delta: isize) {
        let d = i32::try_from(delta).expect("sync: WaitGroup delta out of range");
        let inc = ((d as u32) as u64) << COUNT_SHIFT;
        let state = self
            .inner
            .state
            .fetch_add(inc, Ordering::AcqRel)
            .wrapping_add(inc);
        let v = counter(state);
        let w = waiters(state);
        if v < 0 {
            panic!("sync: negative WaitGroup counter");
        }
        if w != 0 && d > 0 && v == d {
            panic!("sync: WaitGroup misuse: Add called concurrently with Wait");
        }
        if v > 0 || w == 0 {
            return;
        }
        // Counter is zero with waiters: release them all.
        let ws = {
            let mut q = self.inner.queue.lock();
            if self.inner.state.load(Ordering::Relaxed) != state {
                drop(q);
                panic!("sync: WaitGroup misuse: Add called concurrently with Wait");
            }
            self.inner.state.store(0, Ordering::Release);
            q.take_all()
        };
        waitq::grant_all(ws, WOKEN);
    }

    /// Decrements the counter by one.
    ///
    /// # Panics
    /// `sync: negative WaitGroup counter` if it was already zero.
    pub fn done(&self) {
        self.add(-1);
    }

    /// Blocks until the counter is zero. Returns at once if it already is.
    ///
    /// # Panics
    /// `sync: WaitGroup is reused before previous Wait has returned` if the counter was
    /// raised again before this wait could return.
    #[track_caller]
    pub fn wait(&self) {
        let site = Location::caller();
        seeded::around(|| self.wait_now(site))
    }

    fn wait_now(&self, site: &'static Location<'static>) {
        let mut state = self.inner.state.load(Ordering::Acquire);
        loop {
            if counter(state) == 0 {
                return;
            }
            let q = self.inner.queue.lock();
            // Registering under the queue lock: the releasing `add` takes the same lock
            // after seeing our registration, so it finds us queued.
            if let Err(s) = self.inner.state.compare_exchange(
                state,
                state + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                drop(q);
                state = s;
                continue;
            }
            q.wait(
                Pos::Back,
                Instant::now(),
                0,
                WaitReason::WaitGroupWait,
                site,
                &|_| {},
            );
            if self.inner.state.load(Ordering::Acquire) != 0 {
                panic!("sync: WaitGroup is reused before previous Wait has returned");
            }
            return;
        }
    }

    /// Go 1.25's `wg.Go`: adds 1, starts `f` in a new goroutine, and calls `done` when `f`
    /// returns.
    ///
    /// `done` is also called when `f` panics (unlike Go, where the process dies first): the
    /// panic itself then follows the usual goroutine rules — it is returned by
    /// [`JoinHandle::join`], or, if the returned handle is dropped, the program stops with
    /// Go's `panic:` report and exit code 2.
    ///
    /// The handle is `#[must_use]`: dropping it loses the result and turns a panic into a
    /// fatal error. Write `drop(wg.go(...))` to detach on purpose (`wg.wait()` still
    /// waits for the goroutine).
    #[must_use = "dropping the handle detaches the goroutine: its result is lost and a panic \
                  stops the program; use `drop(..)` to detach on purpose"]
    #[track_caller]
    pub fn go<F, T>(&self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let guard = self.enter();
        crate::go(move || {
            let _guard = guard;
            f()
        })
    }

    /// Adds 1 and returns a guard that calls [`done`](WaitGroup::done) when dropped (also
    /// during a panic): the RAII form of Go's `wg.Add(1)` / `defer wg.Done()`.
    pub fn enter(&self) -> WaitGroupGuard {
        self.add(1);
        WaitGroupGuard { wg: self.clone() }
    }
}

impl Default for WaitGroup {
    fn default() -> Self {
        WaitGroup::new()
    }
}

impl fmt::Debug for WaitGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.inner.state.load(Ordering::Relaxed);
        f.debug_struct("WaitGroup")
            .field("count", &counter(s))
            .field("waiters", &waiters(s))
            .finish()
    }
}

/// Calls [`WaitGroup::done`] on drop; from [`WaitGroup::enter`].
#[must_use = "dropping the guard calls done() at once"]
pub struct WaitGroupGuard {
    wg: WaitGroup,
}

impl Drop for WaitGroupGuard {
    fn drop(&mut self) {
        self.wg.done();
    }
}

impl fmt::Debug for WaitGroupGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitGroupGuard").finish_non_exhaustive()
    }
}
