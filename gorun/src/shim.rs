//! The primitives that the model-checked parts (the sync wait queue, the `Mutex` state word,
//! the `WaitGroup` counter, the plain-thread side of the park primitive) are built on: from
//! `loom` when compiled with `--cfg loom`, from `std` otherwise.
//!
//! Run the models with
//! `RUSTFLAGS="--cfg loom" cargo test -p gorun --test loom --release`.
//!
//! loom's constructors are not `const`, so the types built on these declare their
//! constructors with [`loom_const_fn!`]: `const` normally, plain under loom (where no
//! `static` of them is needed).

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize};
#[cfg(loom)]
pub(crate) use loom::sync::{Mutex, MutexGuard};
#[cfg(loom)]
pub(crate) use loom::thread;

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize};
#[cfg(not(loom))]
pub(crate) use std::sync::{Mutex, MutexGuard};
#[cfg(not(loom))]
pub(crate) use std::thread;

/// A mutex for short, hot critical sections that two workers may hammer at once (a
/// channel's state): `parking_lot`'s spins adaptively and makes a system call on unlock
/// only when someone actually sleeps, where std's makes one whenever a waiter is marked.
/// No poisoning: the sections it guards do not panic halfway.
#[cfg(not(loom))]
pub(crate) type FastMutex<T> = parking_lot::Mutex<T>;
#[cfg(not(loom))]
pub(crate) type FastMutexGuard<'a, T> = parking_lot::MutexGuard<'a, T>;
#[cfg(not(loom))]
pub(crate) fn fast_lock<T>(m: &FastMutex<T>) -> FastMutexGuard<'_, T> {
    m.lock()
}

#[cfg(loom)]
pub(crate) type FastMutex<T> = Mutex<T>;
#[cfg(loom)]
pub(crate) type FastMutexGuard<'a, T> = MutexGuard<'a, T>;
#[cfg(loom)]
pub(crate) fn fast_lock<T>(m: &FastMutex<T>) -> FastMutexGuard<'_, T> {
    m.lock().unwrap()
}

/// Parks the current plain thread for at most `d` (under loom, until unparked: loom has
/// no clock, and the models use no timeouts).
pub(crate) fn park_timeout(d: std::time::Duration) {
    #[cfg(loom)]
    {
        let _ = d;
        thread::park();
    }
    #[cfg(not(loom))]
    thread::park_timeout(d);
}

/// Declares a function `const`, except under loom.
macro_rules! loom_const_fn {
    ($(#[$m:meta])* $vis:vis fn $($rest:tt)*) => {
        #[cfg(not(loom))]
        $(#[$m])* $vis const fn $($rest)*
        #[cfg(loom)]
        $(#[$m])* $vis fn $($rest)*
    };
}
pub(crate) use loom_const_fn;
