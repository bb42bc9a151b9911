//! Feature `tokio`: the Tokio runtime gorun keeps for Tokio's drivers (reactor and
//! timers), and its context around `block_on`'s polls.
//!
//! # The runtime
//!
//! Created on first use ([`handle`]), never shut down: a multi-thread runtime with one
//! worker thread (`gorun-tokio`). That thread parks in the I/O driver and runs the timer
//! wheel, so Tokio sockets and timers made inside `block_on` fire while the goroutine that
//! polls them is parked; tasks given to `tokio::spawn` inside `block_on` run on it too.
//! Its blocking pool (`spawn_blocking`, Tokio's file I/O and DNS) starts threads on demand.
//!
//! # The context, and why it never outlives a poll
//!
//! Tokio finds "the current runtime" in a thread-local set by an `EnterGuard`, and guards
//! must be dropped in the reverse order of their creation on each thread. A goroutine can
//! switch out in the middle of a poll (the future calls a blocking gorun function, or
//! yields), and then another goroutine on the same thread may enter and leave its own
//! poll: a guard held across that switch would be dropped out of order, and the other
//! goroutine would run inside a context it never entered. So this thread's one guard is
//! owned here (`GUARD`), not by a goroutine's stack: it exists while the *running*
//! goroutine is inside a poll (`DEPTH` counts nested `block_on` polls), [`leave`] drops
//! it when that goroutine switches out (`AtHome::suspend`), and [`reenter`] makes a new one
//! when it is back. A goroutine never changes thread, so the guard is always created and
//! dropped on the thread that owns it.

use std::cell::{Cell, RefCell};
use std::sync::OnceLock;

use tokio::runtime::{EnterGuard, Handle, Runtime};

thread_local! {
    /// Polls of the running goroutine (or of this plain thread) inside the context now.
    static DEPTH: Cell<usize> = const { Cell::new(0) };
    /// The guard while `DEPTH > 0`.
    static GUARD: RefCell<Option<EnterGuard<'static>>> = const { RefCell::new(None) };
}

/// The Tokio runtime gorun polls futures in (feature `tokio`): created on first use (the
/// first [`block_on`](crate::block_on) or call to this function), shared by every gorun
/// runtime and plain thread of the process, and never shut down.
///
/// What it costs: one OS thread (`gorun-tokio`, which parks in Tokio's I/O driver and
/// runs its timers, and runs any task given to `tokio::spawn` inside `block_on`), 40 to
/// 100 KiB of resident memory once started (measured as the process's VmRSS growth: the
/// thread's touched stack, the driver's event buffer and timer wheel; the thread's stack
/// reserves 2 MiB of address space), plus Tokio's blocking pool, whose threads start only on demand
/// (`spawn_blocking`, Tokio's file system calls and DNS lookups) and exit after 10 s
/// idle. gorun's own sockets never use it: their async I/O goes through gorun's
/// netpoller, so hyper serving on gorun sockets never touches Tokio's reactor; but with
/// this feature on, the first `block_on` starts the runtime all the same (it cannot know
/// whether the future will want Tokio's context).
///
/// Use it to spawn a Tokio task from a goroutine:
///
/// ```
/// gorun::run(|| {
///     let task = gorun::tokio_handle().spawn(async { 6 * 7 });
///     assert_eq!(gorun::block_on(task).unwrap(), 42);
/// });
/// ```
pub fn handle() -> &'static Handle {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("gorun-tokio")
            .enable_all()
            .build()
            .expect("gorun: cannot start the Tokio runtime for block_on")
    })
    .handle()
}

/// Runs `f` (one poll) inside the runtime's context.
pub(crate) fn entered<R>(f: impl FnOnce() -> R) -> R {
    let depth = DEPTH.get();
    if depth == 0 {
        enter();
    }
    DEPTH.set(depth + 1);
    // Restores the depth (and leaves the context) even if the poll panics.
    struct Exit(usize);
    impl Drop for Exit {
        fn drop(&mut self) {
            DEPTH.set(self.0);
            if self.0 == 0 {
                drop(GUARD.take());
            }
        }
    }
    let _exit = Exit(depth);
    f()
}

fn enter() {
    let g = handle().enter();
    GUARD.set(Some(g));
}

/// The running goroutine switches out: leave its context. Returns its poll depth.
#[inline]
pub(crate) fn leave() -> usize {
    let depth = DEPTH.replace(0);
    if depth > 0 {
        drop(GUARD.take());
    }
    depth
}

/// The goroutine that [`leave`] returned `depth` for runs again: restore its context.
#[inline]
pub(crate) fn reenter(depth: usize) {
    if depth > 0 {
        enter();
        DEPTH.set(depth);
    }
}
