//! `Once` (Go's `sync.Once`) and `OnceLock<T>`, a value cell initialised once.

use crate::shim::loom_const_fn;
use std::cell::UnsafeCell;
use std::fmt;
use std::mem::MaybeUninit;
use std::panic::Location;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Instant;

use super::waitq::{self, Pos, WaitQueue, WOKEN};
use crate::park::WaitReason;

const INCOMPLETE: u8 = 0;
const RUNNING: u8 = 1;
const COMPLETE: u8 = 2;

/// The shared state machine: `INCOMPLETE -> RUNNING -> COMPLETE` (or back to `INCOMPLETE`
/// when a failed run should be retried); callers that find it `RUNNING` wait in the queue.
struct Gate {
    state: AtomicU8,
    queue: WaitQueue,
}

impl Gate {
    loom_const_fn! {
        fn new() -> Gate {
            Gate {
                state: AtomicU8::new(INCOMPLETE),
                queue: WaitQueue::new(()),
            }
        }
    }

    fn is_completed(&self) -> bool {
        self.state.load(Ordering::Acquire) == COMPLETE
    }

    /// Runs `f` unless some run already completed. A panicking `f` counts as complete when
    /// `done_on_panic`, else the next caller retries.
    fn run(&self, done_on_panic: bool, site: &'static Location<'static>, f: &mut dyn FnMut()) {
        loop {
            match self.state.compare_exchange(
                INCOMPLETE,
                RUNNING,
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    let mut finish = Finish {
                        gate: self,
                        to: if done_on_panic { COMPLETE } else { INCOMPLETE },
                    };
                    f();
                    finish.to = COMPLETE;
                    return;
                }
                Err(COMPLETE) => return,
                Err(_) => {
                    let q = self.queue.lock();
                    if self.state.load(Ordering::Acquire) != RUNNING {
                        continue;
                    }
                    q.wait(
                        Pos::Back,
                        Instant::now(),
                        0,
                        WaitReason::OnceWait,
                        site,
                        &|_| {},
                    );
                }
            }
        }
    }
}

/// Publishes the outcome of a run (also when `f` panics) and wakes the waiters.
struct Finish<'a> {
    gate: &'a Gate,
    to: u8,
}

impl Drop for Finish<'_> {
    fn drop(&mut self) {
        self.gate.state.store(self.to, Ordering::Release);
        let ws = self.gate.queue.lock().take_all();
        waitq::grant_all(ws, WOKEN);
    }
}

/// Runs a function exactly once, Go's `sync.Once`.
///
/// Concurrent callers of [`call_once`](Once::call_once) wait until the first call's function
/// has returned. As in Go, the `Once` counts as done even if that function panicked: later
/// calls do nothing (the panic itself propagates to the first caller). Calling `call_once`
/// on the same `Once` from inside its function deadlocks, as in Go.
///
/// ```
/// use gorun::sync::Once;
/// static INIT: Once = Once::new();
///
/// gorun::run(|| {
///     let hs: Vec<_> = (0..4)
///         .map(|_| gorun::go(|| INIT.call_once(|| println!("once"))))
///         .collect();
///     for h in hs {
///         h.join().unwrap();
///     }
///     assert!(INIT.is_completed());
/// });
/// ```
pub struct Once {
    gate: Gate,
}

impl Once {
    loom_const_fn! {
        /// A `Once` that has not run.
        pub fn new() -> Once {
            Once { gate: Gate::new() }
        }
    }

    /// Runs `f` if no call has run yet; otherwise waits for the running call (if any) to
    /// finish and returns.
    #[track_caller]
    pub fn call_once<F: FnOnce()>(&self, f: F) {
        if self.gate.is_completed() {
            return;
        }
        let mut f = Some(f);
        self.gate.run(true, Location::caller(), &mut || {
            if let Some(f) = f.take() {
                f()
            }
        });
    }

    /// Whether a call has finished (returned or panicked).
    pub fn is_completed(&self) -> bool {
        self.gate.is_completed()
    }
}

impl Default for Once {
    fn default() -> Self {
        Once::new()
    }
}

impl fmt::Debug for Once {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Once")
            .field("completed", &self.is_completed())
            .finish()
    }
}

/// A cell written once, like std's `OnceLock` but parking goroutines (Go's `sync.OnceValue`).
///
/// Unlike [`Once`], a panicking initialiser leaves the cell empty and the next caller of
/// [`get_or_init`](OnceLock::get_or_init) tries again.
///
/// ```
/// use gorun::sync::OnceLock;
/// static CONFIG: OnceLock<String> = OnceLock::new();
///
/// gorun::run(|| {
///     let h = gorun::go(|| CONFIG.get_or_init(|| "ready".to_string()).len());
///     assert_eq!(h.join().unwrap(), 5);
///     assert_eq!(CONFIG.get().map(String::as_str), Some("ready"));
/// });
/// ```
pub struct OnceLock<T> {
    gate: Gate,
    value: UnsafeCell<MaybeUninit<T>>,
}

// SAFETY: the value is written once, by the single caller that moved the gate to RUNNING,
// and read only after the gate is COMPLETE (Release store / Acquire load). Sharing the cell
// shares `&T` between threads (needs `T: Sync`) and lets a value made on one thread be
// dropped on another (needs `T: Send`), as for std's `OnceLock`.
unsafe impl<T: Sync + Send> Sync for OnceLock<T> {}
// SAFETY: moving the cell moves the `T` it may own.
unsafe impl<T: Send> Send for OnceLock<T> {}

impl<T> OnceLock<T> {
    loom_const_fn! {
        /// An empty cell.
        pub fn new() -> OnceLock<T> {
            OnceLock {
                gate: Gate::new(),
                value: UnsafeCell::new(MaybeUninit::uninit()),
            }
        }
    }

    /// The value, if initialised.
    pub fn get(&self) -> Option<&T> {
        if self.gate.is_completed() {
            // SAFETY: COMPLETE (Acquire) means the value was written and is never written
            // again.
            Some(unsafe { (*self.value.get()).assume_init_ref() })
        } else {
            None
        }
    }

    /// The value, initialising it with `f` if empty. Concurrent callers wait for the one
    /// running `f`.
    #[track_caller]
    pub fn get_or_init<F: FnOnce() -> T>(&self, f: F) -> &T {
        if let Some(v) = self.get() {
            return v;
        }
        let mut f = Some(f);
        let slot = self.value.get();
        self.gate.run(false, Location::caller(), &mut || {
            if let Some(f) = f.take() {
                let v = f();
                // SAFETY: only the caller holding the gate in RUNNING gets here, and no
                // reader looks at the value before COMPLETE.
                unsafe { (*slot).write(v) };
            }
        });
        self.get().expect("OnceLock initialised")
    }

    /// Stores `value` if empty; returns it back in `Err` if the cell was already set.
    #[track_caller]
    pub fn set(&self, value: T) -> Result<(), T> {
        let mut value = Some(value);
        self.get_or_init(|| value.take().expect("set value"));
        match value {
            None => Ok(()),
            Some(v) => Err(v),
        }
    }

    /// Mutable access, if initialised.
    pub fn get_mut(&mut self) -> Option<&mut T> {
        if self.gate.is_completed() {
            // SAFETY: initialised (COMPLETE), and `&mut self` is exclusive.
            Some(unsafe { self.value.get_mut().assume_init_mut() })
        } else {
            None
        }
    }

    /// Consumes the cell and returns the value, if any.
    pub fn into_inner(mut self) -> Option<T> {
        if self.gate.is_completed() {
            // Mark empty so `Drop` does not drop it again.
            self.gate.state.store(INCOMPLETE, Ordering::Relaxed);
            // SAFETY: it was initialised, and the state change above keeps `Drop` off it.
            Some(unsafe { self.value.get_mut().assume_init_read() })
        } else {
            None
        }
    }
}

impl<T> Drop for OnceLock<T> {
    fn drop(&mut self) {
        if *self.gate.state.get_mut() == COMPLETE {
            // SAFETY: COMPLETE means initialised; we are the last user.
            unsafe { self.value.get_mut().assume_init_drop() };
        }
    }
}

impl<T> Default for OnceLock<T> {
    fn default() -> Self {
        OnceLock::new()
    }
}

impl<T: fmt::Debug> fmt::Debug for OnceLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("OnceLock").field(&self.get()).finish()
    }
}
