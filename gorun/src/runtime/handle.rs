//! `Handle`: a runtime reachable from anywhere, so plain threads (and the blocking pool)
//! can start goroutines. The mechanism is the core's (`start.rs`: `inject`, `enter`); this
//! is the public type over it.
//!
//! # Invariants (kept by `start.rs`)
//!
//! - A goroutine started from outside the runtime's workers is queued, unstarted, on the
//!   shared injector, which every worker steals from; the push is followed by a wake-up of
//!   one sleeping worker (`Shared::notify_stealable`, whose SeqCst handshake with
//!   `Worker::sleep` means a worker going to sleep either sees the goroutine or is woken).
//! - Outside spawns are counted in `Shared::outside_spawned` (atomically: the per-worker
//!   counters are written by their owners only), so `num_goroutine` stays exact.
//! - Nothing is left on the injector of a runtime that has shut down: a spawner that sees
//!   the shutdown flag after its push drains the injector itself (`run`'s final cleanup may
//!   already have run), so no goroutine keeps its runtime alive through a reference cycle.
//! - A blocking-pool thread knows the handle of the runtime whose goroutine handed it the
//!   job (`start::enter`), so `go` works there too.

use std::fmt;
use std::panic::Location;
use std::sync::Arc;

use super::{start, worker, Shared};
use crate::diag::{self, Metrics};
use crate::goroutine::{JoinHandle, Task};

/// A handle to a running runtime: start goroutines on it, dump or measure it, from any
/// thread (Go allows `go` anywhere; a plain thread needs to know which runtime to use).
///
/// Get one with [`Handle::current`] inside a goroutine (or inside [`blocking`](crate::blocking),
/// which knows its caller's runtime) and move it to wherever goroutines must be started:
///
/// ```
/// gorun::run(|| {
///     let handle = gorun::Handle::current();
///     let t = std::thread::spawn(move || {
///         let h = handle.go(|| 6 * 7); // a goroutine started from a plain thread
///         h.join().unwrap()
///     });
///     // The main goroutine parks; plain threads block.
///     assert_eq!(gorun::blocking(move || t.join().unwrap()), 42);
/// });
/// ```
///
/// A goroutine started by [`Handle::go`] is unstarted until a worker takes it from the
/// runtime's shared queue; then it behaves like any other.
#[derive(Clone)]
pub struct Handle {
    shared: Arc<Shared>,
}

impl Handle {
    /// The handle of the runtime the caller runs in: the current goroutine's, or on a
    /// blocking-pool thread the runtime of the goroutine it works for.
    ///
    /// # Panics
    /// Outside a runtime; see [`Handle::try_current`].
    #[track_caller]
    pub fn current() -> Handle {
        Handle::try_current().unwrap_or_else(|| {
            panic!(
                "gorun::Handle::current called outside a gorun runtime: call it in a \
                 goroutine and move the handle to the thread that needs it"
            )
        })
    }

    /// The handle of the runtime the caller runs in, or `None` on a plain thread.
    pub fn try_current() -> Option<Handle> {
        worker::with_current_g(|g| g.map(|g| g.shared.clone()))
            .map(|shared| Handle { shared })
            .or_else(|| start::entered().map(|shared| Handle { shared }))
    }

    /// Starts a goroutine on this runtime, from any thread; see [`go`](crate::go). From a
    /// goroutine of this runtime it is exactly `gorun::go`.
    ///
    /// A goroutine started as the runtime shuts down (main returning) may never run, like
    /// every goroutine abandoned then; its [`JoinHandle::join`] then never returns, so a
    /// plain thread that outlives the runtime should not join goroutines it starts late.
    ///
    /// # Panics
    /// If the runtime has already shut down.
    #[track_caller]
    pub fn go<F, T>(&self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let site = Location::caller();
        let on_worker =
            worker::with_worker(|w| w.is_some_and(|w| Arc::ptr_eq(&w.shared, &self.shared)));
        if on_worker {
            return start::spawn(f, None, site);
        }
        let task = Arc::new(Task::new(f));
        let id = start::inject(&self.shared, task.clone(), None, 0, site);
        JoinHandle::new(task, id)
    }

    /// A Go-style dump of every goroutine of this runtime; see [`dump`](crate::dump).
    pub fn dump(&self) -> String {
        diag::dump_runtime(&self.shared)
    }

    /// Counters of this runtime; see [`metrics`](crate::metrics).
    pub fn metrics(&self) -> Metrics {
        diag::metrics_of(&self.shared)
    }
}

impl std::panic::UnwindSafe for Handle {}
impl std::panic::RefUnwindSafe for Handle {}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("workers", &self.shared.workers.len())
            .field("shut_down", &self.shared.is_shutdown())
            .finish()
    }
}
