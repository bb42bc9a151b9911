//! The body of a goroutine and its result slot, shared with the `JoinHandle`.
//!
//! One allocation, a [`Task`], holds the closure until the goroutine starts and the result
//! after it returns, in one slot (`stage`). Its `state` word decides who owns the result:
//!
//! - the goroutine writes the result, then sets `DONE`;
//! - the handle reads the result only after seeing `DONE`;
//! - dropping the handle sets `DETACHED`; whichever of `DONE`/`DETACHED` comes second
//!   disposes of the result (a detached panic is reported as fatal, like Go).
//!
//! A joiner that must wait boxes its `Unparker` and stores the box's address in the same
//! word, with `JOINER_WAITING`, in one atomic step (the flags use the address's three low bits, so
//! a task costs no extra word for a waiter that most goroutines never have); the goroutine
//! uses the box only after seeing `JOINER_WAITING`, and only the task's destructor frees it (or
//! the handle, a box it replaced before `DONE`: see `join/future.rs`). The
//! handle is not `Clone` and `join` takes it by value, so there is at most one joiner.

use std::cell::UnsafeCell;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe, Location};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use crate::park::{self, Unparker, WaitReason};
use crate::runtime::seeded;

mod future;

const DONE: usize = 1;
const JOINER_WAITING: usize = 2;
const DETACHED: usize = 4;
/// The bits of `state` that hold the joiner's boxed `Unparker`.
const WAITER: usize = !7;
const _: () = assert!(
    std::mem::align_of::<Unparker>() >= 8,
    "flags need 3 free bits"
);

/// A goroutine body as the scheduler sees it: run once, on the goroutine's stack.
pub(crate) trait Runnable: Send + Sync {
    /// Runs the closure and publishes its result. Called once.
    fn run(&self);
}

pub(crate) struct Task<F, T> {
    /// The closure until the goroutine starts, then (once `DONE`) its result.
    stage: UnsafeCell<Stage<F, T>>,
    /// Flags, and the address of the joiner's `Box<Unparker>` once it waits.
    state: AtomicUsize,
}

impl<F, T> Drop for Task<F, T> {
    fn drop(&mut self) {
        let w = *self.state.get_mut() & WAITER;
        if w != 0 {
            // SAFETY: the joiner stored a `Box::into_raw` pointer here; nobody else frees it
            // and nobody uses it any more (we are the last reference).
            drop(unsafe { Box::from_raw(w as *mut Unparker) });
        }
    }
}

/// What a [`Task`] holds: one at a time, so one slot serves for both.
enum Stage<F, T> {
    Func(F),
    Result(thread::Result<T>),
    Taken,
}

// SAFETY: the closure is taken out of `stage` once by `run` (the scheduler calls it once,
// on one thread); the result in `stage` and the joiner's box are handed over through `state` as the module docs describe, so no
// two threads access either at once. `F` and `T` cross threads, hence `Send`.
unsafe impl<F: Send, T: Send> Sync for Task<F, T> {}

impl<F, T> Task<F, T>
where
    F: FnOnce() -> T,
{
    pub(crate) fn new(f: F) -> Task<F, T> {
        Task {
            stage: UnsafeCell::new(Stage::Func(f)),
            state: AtomicUsize::new(0),
        }
    }

    /// Runs the closure, catching a panic, and publishes the result. A panic nobody will
    /// see (the handle was dropped) is returned back.
    pub(crate) fn run_and_publish(&self) -> Result<(), Box<dyn std::any::Any + Send>> {
        // SAFETY: `run` is called once (see `Runnable::run`), and until DONE nobody else
        // touches `stage`.
        let Stage::Func(f) = (unsafe { std::mem::replace(&mut *self.stage.get(), Stage::Taken) })
        else {
            unreachable!("a goroutine body runs once")
        };
        // An abandoned goroutine's unwind (`goroutine::ABANDONED`, at shutdown) ends here too:
        // a joiner (a plain thread may hold the handle) gets it as `Err`.
        let r = panic::catch_unwind(AssertUnwindSafe(|| {
            // Drops the goroutine-locals before the result is published (also when unwound).
            let _locals = crate::local::ExitGuard;
            f()
        }));
        // SAFETY: until DONE is set, the goroutine owns `stage`.
        unsafe { *self.stage.get() = Stage::Result(r) };
        let prev = self.state.fetch_or(DONE, Ordering::AcqRel);
        if prev & DETACHED != 0 {
            // SAFETY: the handle is gone and DONE is set: we own `stage` again.
            let r = unsafe { std::mem::replace(&mut *self.stage.get(), Stage::Taken) };
            if let Stage::Result(Err(p)) = r {
                return Err(p);
            }
        } else if prev & JOINER_WAITING != 0 {
            // SAFETY: the joiner stored its box with JOINER_WAITING in one Release step, and we saw
            // it with Acquire; only `drop` frees the box, and we hold a reference to the task.
            unsafe { &*((prev & WAITER) as *const Unparker) }.unpark();
        }
        Ok(())
    }

    /// Takes the result once DONE is set (for the main goroutine and `join`).
    pub(crate) fn take_result(&self) -> Option<thread::Result<T>> {
        if self.state.load(Ordering::Acquire) & DONE == 0 {
            return None;
        }
        // SAFETY: DONE is set and the handle side is the only reader.
        match unsafe { std::mem::replace(&mut *self.stage.get(), Stage::Taken) } {
            Stage::Result(r) => Some(r),
            _ => None,
        }
    }
}

impl<F, T> Runnable for Task<F, T>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    fn run(&self) {
        if let Err(p) = self.run_and_publish() {
            // Once the runtime shuts down, a detached goroutine's panic is dropped: it is
            // the unwind that abandons it, or a consequence of the shutdown (a peer's channel
            // end dropped by its unwind); the program is exiting as main decided.
            if !crate::runtime::worker::shutting_down() {
                crate::goroutine::fatal_panic(&*p);
            }
        }
    }
}

/// The handle side, with the closure type erased.
trait JoinSlot<T>: Send + Sync {
    fn state(&self) -> &AtomicUsize;
    fn take(&self) -> Option<thread::Result<T>>;
}

impl<F, T> JoinSlot<T> for Task<F, T>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    fn state(&self) -> &AtomicUsize {
        &self.state
    }

    fn take(&self) -> Option<thread::Result<T>> {
        self.take_result()
    }
}

/// An owned permission to wait for a goroutine and take its result, like
/// `std::thread::JoinHandle`.
///
/// Dropping the handle detaches the goroutine: it keeps running, and if it then panics the
/// whole program stops with Go's `panic:` report and exit code 2, since nobody is left to
/// see the panic.
pub struct JoinHandle<T> {
    task: Arc<dyn JoinSlot<T>>,
    id: u64,
    _marker: PhantomData<T>,
}

impl<T: Send + 'static> JoinHandle<T> {
    pub(crate) fn new<F>(task: Arc<Task<F, T>>, id: u64) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
    {
        JoinHandle {
            task,
            id,
            _marker: PhantomData,
        }
    }
}

impl<T> JoinHandle<T> {
    /// The id of the goroutine (as `current_id()` returns inside it).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Whether the goroutine has finished (returned or panicked).
    pub fn is_finished(&self) -> bool {
        self.task.state().load(Ordering::Acquire) & DONE != 0
    }

    /// Waits for the goroutine to finish and returns its result, or the payload of its
    /// panic as `Err`. Parks the calling goroutine (or blocks a plain thread).
    #[track_caller]
    pub fn join(self) -> thread::Result<T> {
        let site = Location::caller();
        seeded::around(|| self.join_now(site))
    }

    fn join_now(self, site: &'static Location<'static>) -> thread::Result<T> {
        if let Some(r) = self.task.take() {
            return r;
        }
        // The only joiner (`join` consumes the handle), though a poll as a future may
        // have published a waker before.
        if future::set_waiter(self.task.state(), park::current()) {
            loop {
                park::park(WaitReason::Join, site);
                if self.task.state().load(Ordering::Acquire) & DONE != 0 {
                    break;
                }
            }
        }
        self.task.take().expect("a finished goroutine has a result")
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        if self.task.state().fetch_or(DETACHED, Ordering::AcqRel) & DONE != 0 {
            drop(self.task.take()); // finished and never joined: the result is ours to drop
        }
    }
}

impl<T> std::fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}
