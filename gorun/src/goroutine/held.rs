//! The locks a goroutine holds, for the lock-order graph (`diag::lockgraph`): written only
//! by the goroutine's own thread, read by the monitor. A lock is named by its address, used
//! for identity only (never dereferenced here).

use std::panic::Location;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

/// How many locks per goroutine are tracked.
const HELD: usize = 4;

pub(crate) struct HeldLocks {
    len: AtomicUsize,
    locks: [AtomicUsize; HELD],
    sites: [AtomicPtr<Location<'static>>; HELD],
}

impl HeldLocks {
    pub(crate) fn new() -> HeldLocks {
        HeldLocks {
            len: AtomicUsize::new(0),
            locks: std::array::from_fn(|_| AtomicUsize::new(0)),
            sites: std::array::from_fn(|_| AtomicPtr::new(std::ptr::null_mut())),
        }
    }

    /// Records that the goroutine locked `lock` at `site` (own thread only; beyond `HELD`
    /// locks, the rest are not tracked).
    #[inline]
    pub(crate) fn push(&self, lock: usize, site: &'static Location<'static>) {
        let n = self.len.load(Ordering::Relaxed);
        if n < HELD {
            self.locks[n].store(lock, Ordering::Relaxed);
            self.sites[n].store(site as *const _ as *mut _, Ordering::Relaxed);
            self.len.store(n + 1, Ordering::Release);
        }
    }

    /// Records that the goroutine unlocked `lock` (own thread only).
    #[inline]
    pub(crate) fn remove(&self, lock: usize) {
        let n = self.len.load(Ordering::Relaxed);
        for i in (0..n).rev() {
            if self.locks[i].load(Ordering::Relaxed) == lock {
                let last = n - 1;
                self.locks[i].store(self.locks[last].load(Ordering::Relaxed), Ordering::Relaxed);
                self.sites[i].store(self.sites[last].load(Ordering::Relaxed), Ordering::Relaxed);
                self.len.store(last, Ordering::Release);
                return;
            }
        }
    }

    /// Where this goroutine locked `lock`, if it holds it (any thread).
    pub(crate) fn holds(&self, lock: usize) -> Option<&'static Location<'static>> {
        let n = self.len.load(Ordering::Acquire).min(HELD);
        (0..n)
            .find(|&i| self.locks[i].load(Ordering::Relaxed) == lock)
            .map(|i| {
                // SAFETY: sites are stored from `&'static Location`s.
                unsafe { &*self.sites[i].load(Ordering::Relaxed) }
            })
    }
}
