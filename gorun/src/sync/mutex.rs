//! `Mutex<T>`: Go's `sync.Mutex` with the data inside, over one atomic state word.
//!
//! # The state word
//!
//! - `LOCKED`: someone owns the lock.
//! - `WOKEN`: an unlock has woken a waiter that has not yet acquired or re-queued; further
//!   unlocks need not wake another.
//! - `STARVING`: hand-off mode (below). Only set while `LOCKED` and waiters are queued.
//! - `WAITERS`: the wait queue is non-empty. Set and cleared only under the queue lock.
//!
//! Uncontended `lock` is one CAS `0 -> LOCKED`; uncontended `unlock` one CAS `LOCKED -> 0`.
//! Only a contended lock touches the wait queue (and allocates a waiter).
//!
//! # Fairness (Go's two modes)
//!
//! Normal mode: `unlock` releases the lock and wakes the oldest waiter, which competes with
//! newcomers (and a short spin); if it loses it goes back to the *front* of the queue. A
//! waiter that has waited over 1 ms sets `STARVING` when it re-queues: from then `unlock`
//! hands the lock straight to the oldest waiter (`LOCKED` never drops, so newcomers cannot
//! barge and queue at the back). Back to normal mode when the new owner is the last waiter
//! or waited under 1 ms.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::panic::Location;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::waitq::{Pos, WaitQueue, HANDOFF, WOKEN};
use crate::park::WaitReason;
use crate::runtime::lockgraph::{LockInfo, Waiting};
use crate::runtime::seeded;
use crate::shim::{fence, loom_const_fn, AtomicU32};

const LOCKED: u32 = 1;
const WOKEN_BIT: u32 = 2;
const STARVING: u32 = 4;
const WAITERS: u32 = 8;

/// A waiter blocked longer than this switches the mutex to hand-off mode.
const STARVATION_THRESHOLD: Duration = Duration::from_millis(1);
/// Spin rounds before parking (each a short burst of `spin_loop` hints).
const SPIN_ROUNDS: u32 = if cfg!(loom) { 0 } else { 4 };

/// The lock without the data: the state word and the wait queue.
pub(crate) struct RawMutex {
    state: AtomicU32,
    queue: WaitQueue,
    info: LockInfo,
}

impl RawMutex {
    loom_const_fn! {
        #[track_caller]
        pub(crate) fn new() -> RawMutex {
            RawMutex {
                state: AtomicU32::new(0),
                queue: WaitQueue::new(()),
                info: LockInfo::new("sync.Mutex"),
            }
        }
    }

    #[inline]
    pub(crate) fn try_lock(&self, site: &'static Location<'static>) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s & (LOCKED | STARVING) != 0 {
                return false;
            }
            match self.state.compare_exchange_weak(
                s,
                s | LOCKED,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    self.info.acquired(site);
                    return true;
                }
                Err(a) => s = a,
            }
        }
    }

    #[inline]
    pub(crate) fn lock(&self, site: &'static Location<'static>) {
        if self
            .state
            .compare_exchange(0, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_slow(site);
        }
        self.info.acquired(site);
    }

    #[cold]
    fn lock_slow(&self, site: &'static Location<'static>) {
        let mut spins = 0;
        let mut since: Option<Instant> = None;
        // Whether the WOKEN bit was set for us (we must clear it when we acquire or queue).
        let mut woken = false;
        let mut starving = false;
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s & (LOCKED | STARVING) == 0 {
                let mut new = s | LOCKED;
                if woken {
                    new &= !WOKEN_BIT;
                }
                match self
                    .state
                    .compare_exchange_weak(s, new, Ordering::Acquire, Ordering::Relaxed)
                {
                    Ok(_) => return,
                    Err(a) => {
                        s = a;
                        continue;
                    }
                }
            }
            if s & STARVING == 0 && spins < SPIN_ROUNDS {
                spins += 1;
                for _ in 0..(30 << spins) {
                    std::hint::spin_loop();
                }
                s = self.state.load(Ordering::Relaxed);
                continue;
            }
            // Queue up. Re-check under the queue lock: the CAS below fails if the lock was
            // released meanwhile, so an unlock cannot miss us.
            let q = self.queue.lock();
            s = self.state.load(Ordering::Relaxed);
            if s & LOCKED == 0 {
                continue;
            }
            let mut new = s | WAITERS;
            if woken {
                new &= !WOKEN_BIT;
            }
            if starving {
                new |= STARVING;
            }
            if let Err(a) =
                self.state
                    .compare_exchange(s, new, Ordering::Relaxed, Ordering::Relaxed)
            {
                s = a;
                continue;
            }
            let pos = if since.is_some() {
                Pos::Front
            } else {
                Pos::Back
            };
            let start = *since.get_or_insert_with(Instant::now);
            // Only a goroutine that really parks registers a wait edge (not while spinning).
            let waiting = Waiting::begin(&self.info, site);
            let token = q.wait(pos, start, 0, WaitReason::MutexLock, site, &|t| {
                self.abandon(t)
            });
            drop(waiting);
            if token == HANDOFF {
                // The unlocker left LOCKED set for us and settled STARVING/WAITERS.
                fence(Ordering::Acquire);
                return;
            }
            debug_assert_eq!(token, WOKEN);
            woken = true;
            spins = 0;
            starving = starving || start.elapsed() > STARVATION_THRESHOLD;
            s = self.state.load(Ordering::Relaxed);
        }
    }

    /// # Safety (logical)
    /// The caller owns the lock.
    #[inline]
    pub(crate) fn unlock(&self) {
        self.info.released();
        if self
            .state
            .compare_exchange(LOCKED, 0, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            self.unlock_slow();
        }
    }

    #[cold]
    fn unlock_slow(&self) {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s & LOCKED == 0 {
                fatal_unlock();
            }
            if s & STARVING == 0 && (s & WAITERS == 0 || s & WOKEN_BIT != 0) {
                // Nobody to wake, or a woken waiter is already on its way.
                match self.state.compare_exchange_weak(
                    s,
                    s & !LOCKED,
                    Ordering::Release,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return,
                    Err(a) => {
                        s = a;
                        continue;
                    }
                }
            }
            let mut q = self.queue.lock();
            s = self.state.load(Ordering::Relaxed);
            if s & STARVING == 0 && s & WOKEN_BIT != 0 {
                drop(q);
                continue;
            }
            // Under the queue lock WAITERS and STARVING cannot change and LOCKED is ours;
            // only WOKEN may be cleared concurrently, hence the CAS loops below. (The queue
            // may be empty despite WAITERS if an abandoned waiter left it.)
            let w = q.pop();
            let handoff = s & STARVING != 0 && w.is_some();
            let mut clear = 0;
            if q.is_empty() {
                clear |= WAITERS | STARVING;
            }
            if let Some(w) = &w {
                if handoff && w.since.elapsed() < STARVATION_THRESHOLD {
                    clear |= STARVING;
                }
            }
            if handoff {
                // Hand-off: LOCKED stays set; the oldest waiter owns the lock.
                self.state.fetch_and(!clear, Ordering::Release);
            } else {
                let set = if w.is_some() { WOKEN_BIT } else { 0 };
                loop {
                    let new = (s & !(LOCKED | clear)) | set;
                    match self.state.compare_exchange_weak(
                        s,
                        new,
                        Ordering::Release,
                        Ordering::Relaxed,
                    ) {
                        Ok(_) => break,
                        Err(a) => s = a,
                    }
                }
            }
            drop(q);
            if let Some(w) = w {
                w.grant(if handoff { HANDOFF } else { WOKEN });
            }
            return;
        }
    }

    /// A waiter granted `token` was unwound before it could act on it: pass it on.
    fn abandon(&self, token: usize) {
        if token == HANDOFF {
            self.unlock(); // it owned the lock
        } else {
            // It was the woken waiter: drop its WOKEN claim, then make sure someone else
            // is woken if the lock is free (acquiring and releasing runs the wake path).
            self.state.fetch_and(!WOKEN_BIT, Ordering::Relaxed);
            if self.try_lock(Location::caller()) {
                self.unlock();
            }
        }
    }
}

#[cold]
fn fatal_unlock() -> ! {
    eprintln!("fatal error: sync: unlock of unlocked mutex");
    std::process::exit(2);
}

/// A mutual-exclusion lock around a `T`, Go's `sync.Mutex` (no poisoning).
///
/// Blocking in [`lock`](Mutex::lock) parks the goroutine (its worker runs others); on a plain
/// thread it blocks the thread. Fair like Go's: a waiter blocked over 1 ms switches the mutex
/// to hand-off mode, so nobody starves.
///
/// ```
/// use gorun::sync::Mutex;
///
/// static COUNT: Mutex<i32> = Mutex::new(0);
///
/// gorun::run(|| {
///     let hs: Vec<_> = (0..10).map(|_| gorun::go(|| *COUNT.lock() += 1)).collect();
///     for h in hs {
///         h.join().unwrap();
///     }
///     assert_eq!(*COUNT.lock(), 10);
/// });
/// ```
pub struct Mutex<T: ?Sized> {
    raw: RawMutex,
    data: UnsafeCell<T>,
}

// SAFETY: the mutex hands out access to `data` only to the one owner of `raw` (a guard
// exists only while `raw` is locked), so sharing the mutex between threads gives each
// thread exclusive access in turn: that needs `T: Send`, as for std's `Mutex`.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: as above: `&Mutex<T>` only yields `&mut T` under the lock.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

impl<T> Mutex<T> {
    loom_const_fn! {
        /// A new unlocked mutex (usable in a `static`).
        #[track_caller]
        pub fn new(value: T) -> Mutex<T> {
            Mutex {
                raw: RawMutex::new(),
                data: UnsafeCell::new(value),
            }
        }
    }

    /// Consumes the mutex and returns the data.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Locks the mutex, parking the goroutine (or blocking the thread) until it is free.
    /// The lock is released when the guard drops. Not reentrant: locking twice from the same
    /// goroutine deadlocks, as in Go.
    #[track_caller]
    #[inline]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        seeded::point();
        self.raw.lock(Location::caller());
        let guard = MutexGuard::new(self);
        seeded::point();
        guard
    }

    /// Locks the mutex if it is free and not in hand-off mode (Go's `TryLock`).
    #[inline]
    #[track_caller]
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        crate::park::coop();
        let site = Location::caller();
        seeded::around(|| self.raw.try_lock(site).then(|| MutexGuard::new(self)))
    }

    /// Mutable access without locking (the borrow proves exclusivity).
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    pub(crate) fn raw(&self) -> &RawMutex {
        &self.raw
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(value: T) -> Self {
        Mutex::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Some(g) => d.field("data", &&*g),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.finish_non_exhaustive()
    }
}

/// Access to a locked [`Mutex`]'s data; unlocks on drop.
///
/// Not `Send`, like std's guard: it must be dropped by the goroutine (or thread) that locked.
#[must_use = "if unused the Mutex will immediately unlock"]
pub struct MutexGuard<'a, T: ?Sized> {
    pub(crate) mutex: &'a Mutex<T>,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: sharing `&MutexGuard` only gives `&T`, which is fine across threads iff `T: Sync`.
unsafe impl<T: ?Sized + Sync> Sync for MutexGuard<'_, T> {}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    /// A guard for `mutex`, which the caller has just locked.
    pub(crate) fn relocked(mutex: &'a Mutex<T>) -> Self {
        Self::new(mutex)
    }

    fn new(mutex: &'a Mutex<T>) -> Self {
        MutexGuard {
            mutex,
            _not_send: PhantomData,
        }
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while this goroutine owns the lock, so no one else
        // accesses the data.
        unsafe { &*self.mutex.data.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this the only access via the guard.
        unsafe { &mut *self.mutex.data.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.mutex.raw.unlock();
        seeded::point();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}
