//! `RwLock<T>`: Go's `sync.RWMutex` with the data inside; writer-preferring.
//!
//! # The state word
//!
//! `WRITER` (a writer owns the lock), `WRITER_WAITING` (the writer queue is non-empty),
//! `READERS_WAITING` (the reader queue is non-empty), and the count of active readers in
//! units of `READER`. The two *waiting* bits change only under the queue lock, together with
//! the queues. Fast paths: `read` is one CAS adding a reader when no writer holds or waits;
//! `write` is one CAS `0 -> WRITER`.
//!
//! Once a writer waits, new readers wait (so a recursive `read` can deadlock, as in Go).
//! Releasing a write lock admits every reader that queued meanwhile (hand-off: their count
//! is added for them), else hands the lock to the next writer; the last reader out hands the
//! lock to the oldest waiting writer.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::panic::Location;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::waitq::{self, Pos, WaitQueue, HANDOFF};
use crate::park::WaitReason;
use crate::runtime::lockgraph::{LockInfo, Waiting};
use crate::runtime::seeded;
use crate::shim::{fence, loom_const_fn, AtomicUsize};

const WRITER: usize = 1;
const WRITER_WAITING: usize = 2;
const READERS_WAITING: usize = 4;
const READER: usize = 8;
const READERS_MASK: usize = !(READER - 1);

/// `WaitNode::data` of a queued reader / writer (one FIFO holds both).
const WAIT_READ: usize = 0;
const WAIT_WRITE: usize = 1;

struct RawRwLock {
    state: AtomicUsize,
    /// Waiting readers and writers, told apart by `WaitNode::data`.
    queue: WaitQueue,
    /// The write side's owner, for lock-cycle detection.
    info: LockInfo,
}

impl RawRwLock {
    loom_const_fn! {
        #[track_caller]
        fn new() -> RawRwLock {
            RawRwLock {
                state: AtomicUsize::new(0),
                queue: WaitQueue::new(()),
                info: LockInfo::new("sync.RWMutex"),
            }
        }
    }

    fn try_read(&self) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s & (WRITER | WRITER_WAITING) != 0 {
                return false;
            }
            let new = s.checked_add(READER).expect("too many RwLock readers");
            match self
                .state
                .compare_exchange_weak(s, new, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(a) => s = a,
            }
        }
    }

    fn try_write(&self, site: &'static Location<'static>) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s & (WRITER | WRITER_WAITING | READERS_MASK) != 0 {
                return false;
            }
            match self.state.compare_exchange_weak(
                s,
                s | WRITER,
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

    /// The slow paths' first step, under the queue lock: takes the lock (state becomes
    /// `take(state)`) if no bit of `busy` is set, else sets `waiting` so that the owner's
    /// release takes the slow path and hands the lock over. True if taken.
    fn take_or_announce(&self, busy: usize, take: impl Fn(usize) -> usize, waiting: usize) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            let (next, taken) = if s & busy == 0 {
                (take(s), true)
            } else {
                (s | waiting, false)
            };
            // Acquire only when taking: announcing publishes nothing.
            let order = if taken {
                Ordering::Acquire
            } else {
                Ordering::Relaxed
            };
            match self
                .state
                .compare_exchange(s, next, order, Ordering::Relaxed)
            {
                Ok(_) => return taken,
                Err(a) => s = a,
            }
        }
    }

    fn read(&self, site: &'static Location<'static>) {
        if self.try_read() {
            return;
        }
        let q = self.queue.lock();
        if self.take_or_announce(WRITER | WRITER_WAITING, |s| s + READER, READERS_WAITING) {
            return;
        }
        // The owner's release now takes the slow path (it sees READERS_WAITING or
        // WRITER_WAITING) and hands us a read lock.
        let t = q.wait(
            Pos::Back,
            Instant::now(),
            WAIT_READ,
            WaitReason::RwLockRead,
            site,
            &|_| self.read_unlock(),
        );
        debug_assert_eq!(t, HANDOFF);
        fence(Ordering::Acquire);
    }

    fn write(&self, site: &'static Location<'static>) {
        if self
            .state
            .compare_exchange(0, WRITER, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.write_slow(site);
        }
        self.info.acquired(site);
    }

    #[cold]
    fn write_slow(&self, site: &'static Location<'static>) {
        let q = self.queue.lock();
        if self.take_or_announce(WRITER | READERS_MASK, |s| s | WRITER, WRITER_WAITING) {
            return;
        }
        let _waiting = Waiting::begin(&self.info, site);
        let t = q.wait(
            Pos::Back,
            Instant::now(),
            WAIT_WRITE,
            WaitReason::RwLockWrite,
            site,
            &|_| self.write_unlock(),
        );
        debug_assert_eq!(t, HANDOFF);
        fence(Ordering::Acquire);
    }

    fn read_unlock(&self) {
        let prev = self.state.fetch_sub(READER, Ordering::Release);
        debug_assert!(prev & READERS_MASK != 0);
        if prev & READERS_MASK == READER && prev & WRITER_WAITING != 0 {
            self.release_slow(false);
        }
    }

    fn write_unlock(&self) {
        self.info.released();
        if self
            .state
            .compare_exchange(WRITER, 0, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            self.release_slow(true);
        }
    }

    /// Under the queue lock: give the lock to whoever is next, if it is free (or ours).
    /// Called by a releasing writer (state still has WRITER) or by the last reader out.
    #[cold]
    fn release_slow(&self, was_writer: bool) {
        let mut q = self.queue.lock();
        let mut s = self.state.load(Ordering::Relaxed);
        if !was_writer && (s & (WRITER | READERS_MASK) != 0 || s & WRITER_WAITING == 0) {
            // The last reader left, but a writer barged in (it will hand the lock on when
            // it leaves), or nobody waits any more.
            return;
        }
        // A releasing writer admits every queued reader first (Go's alternation); otherwise
        // the oldest writer gets the lock.
        let mut readers = if was_writer {
            q.take_data(WAIT_READ)
        } else {
            Vec::new()
        };
        let writer = if readers.is_empty() {
            q.pop_data(WAIT_WRITE)
        } else {
            None
        };
        if writer.is_none() && readers.is_empty() {
            // No writer waits (any more: one may have been abandoned): admit the readers.
            readers = q.take_data(WAIT_READ);
        }
        let writers_left = q.has_data(WAIT_WRITE);
        let readers_left = q.has_data(WAIT_READ);
        loop {
            let mut new = s & !(WRITER | READERS_WAITING | WRITER_WAITING);
            if writers_left {
                new |= WRITER_WAITING;
            }
            if !readers.is_empty() {
                new += readers.len() * READER;
            } else if writer.is_some() {
                new |= WRITER;
            }
            if readers_left {
                new |= READERS_WAITING;
            }
            match self
                .state
                .compare_exchange(s, new, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(a) => s = a,
            }
        }
        drop(q);
        if let Some(w) = writer {
            w.grant(HANDOFF);
        }
        waitq::grant_all(readers, HANDOFF);
    }
}

/// A reader-writer lock around a `T`, Go's `sync.RWMutex` (no poisoning).
///
/// Many readers or one writer. Writer-preferring: once a writer waits, new readers wait
/// (and [`try_read`](RwLock::try_read) fails), so writers do not starve.
///
/// ```
/// use gorun::sync::RwLock;
/// static TABLE: RwLock<Vec<u32>> = RwLock::new(Vec::new());
///
/// gorun::run(|| {
///     TABLE.write().push(7);
///     assert_eq!(TABLE.read()[0], 7);
/// });
/// ```
pub struct RwLock<T: ?Sized> {
    raw: RawRwLock,
    data: UnsafeCell<T>,
}

// SAFETY: a write guard gives `&mut T` to one owner at a time (needs `T: Send` to move
// access between threads); read guards share `&T` between threads (needs `T: Sync`).
unsafe impl<T: ?Sized + Send> Send for RwLock<T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLock<T> {}

impl<T> RwLock<T> {
    loom_const_fn! {
        /// A new unlocked lock (usable in a `static`).
        #[track_caller]
        pub fn new(value: T) -> RwLock<T> {
            RwLock {
                raw: RawRwLock::new(),
                data: UnsafeCell::new(value),
            }
        }
    }

    /// Consumes the lock and returns the data.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Locks for reading, waiting while a writer holds the lock or waits for it.
    #[track_caller]
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        seeded::point();
        self.raw.read(Location::caller());
        let guard = RwLockReadGuard {
            lock: self,
            _not_send: PhantomData,
        };
        seeded::point();
        guard
    }

    /// Locks for writing, waiting until no reader or writer holds the lock.
    #[track_caller]
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        seeded::point();
        self.raw.write(Location::caller());
        let guard = RwLockWriteGuard {
            lock: self,
            _not_send: PhantomData,
        };
        seeded::point();
        guard
    }

    /// Locks for reading if no writer holds or waits for the lock.
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        crate::park::coop();
        self.raw.try_read().then(|| RwLockReadGuard {
            lock: self,
            _not_send: PhantomData,
        })
    }

    /// Locks for writing if the lock is free.
    #[track_caller]
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        crate::park::coop();
        self.raw
            .try_write(Location::caller())
            .then(|| RwLockWriteGuard {
                lock: self,
                _not_send: PhantomData,
            })
    }

    /// Mutable access without locking (the borrow proves exclusivity).
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> Self {
        RwLock::new(T::default())
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwLock");
        match self.try_read() {
            Some(g) => d.field("data", &&*g),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.finish_non_exhaustive()
    }
}

/// Shared access to an [`RwLock`]'s data; releases on drop. Not `Send`.
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    _not_send: PhantomData<*const ()>,
}

/// Exclusive access to an [`RwLock`]'s data; releases on drop. Not `Send`.
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: `&Guard` only gives `&T`.
unsafe impl<T: ?Sized + Sync> Sync for RwLockReadGuard<'_, T> {}
// SAFETY: `&Guard` only gives `&T`.
unsafe impl<T: ?Sized + Sync> Sync for RwLockWriteGuard<'_, T> {}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: a read lock is held: no writer exists while this guard lives.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.raw.read_unlock();
        seeded::point();
    }
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the write lock is held: this guard is the only access.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the write lock is held and `&mut self` is exclusive.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.raw.write_unlock();
        seeded::point();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
