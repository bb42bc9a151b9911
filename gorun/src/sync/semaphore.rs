//! `Semaphore` and `Barrier`, both plain users of the wait queue: their counts live in the
//! queue's protected state, so every decision is made under one lock.

use crate::shim::loom_const_fn;
use std::fmt;
use std::panic::Location;
use std::sync::Arc;
use std::time::Instant;

use super::waitq::{self, Pos, WaitQueue, HANDOFF, WOKEN};
use crate::park::WaitReason;
use crate::runtime::seeded;

/// A counting semaphore (Go's `golang.org/x/sync/semaphore` for weight 1). FIFO: a released
/// permit goes straight to the oldest waiter, so newcomers cannot overtake.
///
/// ```
/// use std::sync::Arc;
/// use gorun::sync::Semaphore;
///
/// gorun::run(|| {
///     let sem = Arc::new(Semaphore::new(2));
///     let hs: Vec<_> = (0..5)
///         .map(|_| {
///             let sem = sem.clone();
///             gorun::go(move || {
///                 let _permit = sem.acquire(); // at most 2 goroutines in here
///             })
///         })
///         .collect();
///     for h in hs {
///         h.join().unwrap();
///     }
/// });
/// ```
pub struct Semaphore {
    /// Free permits.
    queue: WaitQueue<usize>,
}

impl Semaphore {
    loom_const_fn! {
        /// A semaphore with `permits` free permits.
        pub fn new(permits: usize) -> Semaphore {
            Semaphore {
                queue: WaitQueue::new(permits),
            }
        }
    }

    /// Takes a permit, waiting for one if none is free. The permit returns on drop.
    #[track_caller]
    pub fn acquire(&self) -> SemaphorePermit<'_> {
        seeded::point();
        self.take(Location::caller());
        let permit = SemaphorePermit { sem: self };
        seeded::point();
        permit
    }

    /// Takes a permit if one is free and nobody is waiting.
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        self.try_take().then(|| SemaphorePermit { sem: self })
    }

    /// [`acquire`](Semaphore::acquire) for a semaphore in an `Arc`: the permit owns a
    /// reference, so it can move into a goroutine and be released there.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use gorun::sync::Semaphore;
    ///
    /// gorun::run(|| {
    ///     let sem = Arc::new(Semaphore::new(2));
    ///     let hs: Vec<_> = (0..5)
    ///         .map(|_| {
    ///             let permit = sem.clone().acquire_owned(); // taken before the spawn
    ///             gorun::go(move || drop(permit))
    ///         })
    ///         .collect();
    ///     for h in hs {
    ///         h.join().unwrap();
    ///     }
    ///     assert_eq!(sem.available_permits(), 2);
    /// });
    /// ```
    #[track_caller]
    pub fn acquire_owned(self: Arc<Self>) -> OwnedSemaphorePermit {
        self.take(Location::caller());
        OwnedSemaphorePermit { sem: Some(self) }
    }

    /// [`try_acquire`](Semaphore::try_acquire) for a semaphore in an `Arc`.
    pub fn try_acquire_owned(self: Arc<Self>) -> Option<OwnedSemaphorePermit> {
        self.try_take()
            .then(|| OwnedSemaphorePermit { sem: Some(self) })
    }

    fn take(&self, site: &'static Location<'static>) {
        let mut q = self.queue.lock();
        if q.is_empty() && *q > 0 {
            *q -= 1;
        } else {
            let t = q.wait(
                Pos::Back,
                Instant::now(),
                0,
                WaitReason::SemaphoreAcquire,
                site,
                &|_| self.release(),
            );
            debug_assert_eq!(t, HANDOFF);
        }
    }

    fn try_take(&self) -> bool {
        crate::park::coop();
        let mut q = self.queue.lock();
        let free = q.is_empty() && *q > 0;
        if free {
            *q -= 1;
        }
        free
    }

    /// Adds a permit (handing it to the oldest waiter, if any). Used by
    /// [`SemaphorePermit`]'s drop; call it directly after [`SemaphorePermit::forget`].
    pub fn release(&self) {
        let mut q = self.queue.lock();
        match q.pop() {
            Some(w) => {
                drop(q);
                w.grant(HANDOFF);
            }
            None => *q += 1,
        }
        seeded::point();
    }

    /// Free permits now.
    pub fn available_permits(&self) -> usize {
        *self.queue.lock()
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("permits", &self.available_permits())
            .finish()
    }
}

/// A permit from [`Semaphore::acquire`]; released on drop.
#[must_use = "dropping the permit releases it at once"]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
}

impl SemaphorePermit<'_> {
    /// Keeps the permit taken without releasing it on drop.
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        self.sem.release();
    }
}

/// A permit from [`Semaphore::acquire_owned`]: owns a reference to its semaphore, so it is
/// `'static` and can move into a goroutine; released on drop.
#[must_use = "dropping the permit releases it at once"]
pub struct OwnedSemaphorePermit {
    /// `None` once forgotten.
    sem: Option<Arc<Semaphore>>,
}

impl OwnedSemaphorePermit {
    /// Keeps the permit taken without releasing it on drop.
    pub fn forget(mut self) {
        self.sem = None;
    }
}

impl Drop for OwnedSemaphorePermit {
    fn drop(&mut self) {
        if let Some(sem) = &self.sem {
            sem.release();
        }
    }
}

impl fmt::Debug for OwnedSemaphorePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedSemaphorePermit")
            .field("semaphore", &self.sem)
            .finish()
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit").finish_non_exhaustive()
    }
}

/// Lets `n` goroutines wait until all `n` have arrived, then releases them together;
/// reusable (like std's `Barrier`).
///
/// ```
/// use std::sync::Arc;
/// use gorun::sync::Barrier;
///
/// gorun::run(|| {
///     let b = Arc::new(Barrier::new(3));
///     let hs: Vec<_> = (0..3)
///         .map(|_| {
///             let b = b.clone();
///             gorun::go(move || b.wait().is_leader())
///         })
///         .collect();
///     let leaders = hs.into_iter().map(|h| h.join().unwrap() as u32).sum::<u32>();
///     assert_eq!(leaders, 1);
/// });
/// ```
pub struct Barrier {
    n: usize,
    /// Arrivals in the current round.
    queue: WaitQueue<usize>,
}

impl Barrier {
    loom_const_fn! {
        /// A barrier for `n` goroutines (`n` of 0 or 1 never blocks).
        pub fn new(n: usize) -> Barrier {
            Barrier {
                n,
                queue: WaitQueue::new(0),
            }
        }
    }

    /// Waits until `n` goroutines have called `wait` in this round. Exactly one of them (the
    /// last to arrive) gets a result whose [`is_leader`](BarrierWaitResult::is_leader) is true.
    #[track_caller]
    pub fn wait(&self) -> BarrierWaitResult {
        let mut q = self.queue.lock();
        *q += 1;
        if *q >= self.n {
            *q = 0;
            let ws = q.take_all();
            drop(q);
            waitq::grant_all(ws, WOKEN);
            return BarrierWaitResult(true);
        }
        q.wait(
            Pos::Back,
            Instant::now(),
            0,
            WaitReason::BarrierWait,
            Location::caller(),
            &|_| {},
        );
        BarrierWaitResult(false)
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier").field("n", &self.n).finish()
    }
}

/// Returned by [`Barrier::wait`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarrierWaitResult(bool);

impl BarrierWaitResult {
    /// Whether this caller was the one that released the round.
    pub fn is_leader(&self) -> bool {
        self.0
    }
}
