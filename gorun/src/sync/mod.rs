//! Synchronisation for goroutines: Go's `sync` package, the Rust way.
//!
//! [`WaitGroup`], [`Mutex`], [`RwLock`], [`Once`], [`OnceLock`], [`LazyLock`], [`Cond`],
//! [`Semaphore`] (with permits owned or borrowed) and [`Barrier`]. Blocking parks the goroutine, never its worker thread; every type also
//! works from plain OS threads (which block). Locks hold their data and unlock when their
//! guard drops, so "forgot to unlock" cannot happen; [`WaitGroup::go`] and
//! [`WaitGroup::enter`] make "forgot `Done`" impossible.
//!
//! The seed's two programs:
//!
//! ```
//! use gorun::sync::{Mutex, WaitGroup};
//!
//! static COUNTER: Mutex<i32> = Mutex::new(0);
//!
//! gorun::run(|| {
//!     let wg = WaitGroup::new();
//!     for _ in 0..1000 {
//!         drop(wg.go(|| *COUNTER.lock() += 1));
//!     }
//!     wg.wait();
//!     assert_eq!(*COUNTER.lock(), 1000);
//! });
//! ```
//!
//! The unsynchronised counter of Go's race example does not compile: goroutines take
//! `Send + 'static` closures, and a plain `i32` cannot be shared mutably between them.
//!
//! ```compile_fail,E0373
//! gorun::run(|| {
//!     let mut counter: i32 = 0;
//!     let wg = gorun::sync::WaitGroup::new();
//!     for _ in 0..1000 {
//!         drop(wg.go(|| counter += 1)); // error: closure may outlive `counter`
//!     }
//!     wg.wait();
//!     println!("{counter}");
//! });
//! ```
//!
//! Nor does sharing it through an `Arc` of a non-`Sync` cell: only a lock (or an atomic)
//! makes the counter shareable.
//!
//! ```compile_fail,E0277
//! use std::cell::Cell;
//! use std::sync::Arc;
//!
//! gorun::run(|| {
//!     let counter = Arc::new(Cell::new(0)); // Cell is not Sync
//!     let c = counter.clone();
//!     gorun::go(move || c.set(c.get() + 1)).join().unwrap();
//! });
//! ```
//!
//! All types park through one internal wait queue (`waitq`): a FIFO of heap waiters with
//! hand-off, so waiter nodes never live on a goroutine's stack.

mod cond;
mod lazy;
mod mutex;
mod once;
mod rwlock;
mod semaphore;
mod waitgroup;
mod waitq;

pub use cond::{Cond, WaitTimeoutResult};
pub use lazy::LazyLock;
pub use mutex::{Mutex, MutexGuard};
pub use once::{Once, OnceLock};
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};
pub use semaphore::{Barrier, BarrierWaitResult, OwnedSemaphorePermit, Semaphore, SemaphorePermit};
pub use waitgroup::{WaitGroup, WaitGroupGuard};
