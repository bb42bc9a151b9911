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
//! The joiner publishes its `Unparker` in `waiter` before setting `WAITING`; the goroutine
//! reads `waiter` only after seeing `WAITING`. The handle is not `Clone` and `join` takes it
//! by value, so there is at most one joiner.

use std::cell::UnsafeCell;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe, Location};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::thread;

use crate::park::{self, Unparker, WaitReason};

const DONE: u8 = 1;
const WAITING: u8 = 2;
const DETACHED: u8 = 4;

/// A goroutine body as the scheduler sees it: run once, on the goroutine's stack.
pub(crate) trait Runnable: Send + Sync {
    /// Runs the closure and publishes its result. Called once.
    fn run(&self);
}

pub(crate) struct Task<F, T> {
    /// The closure until the goroutine starts, then (once `DONE`) its result.
    stage: UnsafeCell<Stage<F, T>>,
    waiter: UnsafeCell<Option<Unparker>>,
    state: AtomicU8,
}

/// What a [`Task`] holds: one at a time, so one slot serves for both.
enum Stage<F, T> {
    Func(F),
    Result(thread::Result<T>),
    Taken,
}

// SAFETY: the closure is taken out of `stage` once by `run` (the scheduler calls it once,
// on one thread); the result in `stage` and `waiter` are handed over through `state` as the module docs describe, so no
// two threads access either at once. `F` and `T` cross threads, hence `Send`.
unsafe impl<F: Send, T: Send> Sync for Task<F, T> {}

impl<F, T> Task<F, T>
where
    F: FnOnce() -> T,
{
    pub(crate) fn new(f: F) -> Task<F, T> {
        Task {
            stage: UnsafeCell::new(Stage::Func(f)),
            waiter: UnsafeCell::new(None),
            state: AtomicU8::new(0),
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
        let r = panic::catch_unwind(AssertUnwindSafe(f));
        if r.is_err() && crate::runtime::worker::abandoned() {
            // The runtime is unwinding this goroutine at shutdown: keep unwinding.
            panic::resume_unwind(r.err().unwrap());
        }
        // SAFETY: until DONE is set, the goroutine owns `stage`.
        unsafe { *self.stage.get() = Stage::Result(r) };
        let prev = self.state.fetch_or(DONE, Ordering::AcqRel);
        if prev & DETACHED != 0 {
            // SAFETY: the handle is gone and DONE is set: we own `stage` again.
            let r = unsafe { std::mem::replace(&mut *self.stage.get(), Stage::Taken) };
            if let Stage::Result(Err(p)) = r {
                return Err(p);
            }
        } else if prev & WAITING != 0 {
            // SAFETY: the joiner wrote `waiter` before setting WAITING (Release), and we
            // saw WAITING with Acquire; it does not touch `waiter` again.
            if let Some(w) = unsafe { (*self.waiter.get()).take() } {
                w.unpark();
            }
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
            crate::goroutine::fatal_panic(&*p);
        }
    }
}

/// The handle side, with the closure type erased.
trait JoinSlot<T>: Send + Sync {
    fn state(&self) -> &AtomicU8;
    fn take(&self) -> Option<thread::Result<T>>;
    /// # Safety
    /// Only the handle may call this, before setting WAITING, at most once.
    unsafe fn set_waiter(&self, w: Unparker);
}

impl<F, T> JoinSlot<T> for Task<F, T>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    fn state(&self) -> &AtomicU8 {
        &self.state
    }

    fn take(&self) -> Option<thread::Result<T>> {
        self.take_result()
    }

    /// # Safety
    /// As the trait method: the handle only, before setting WAITING, at most once.
    unsafe fn set_waiter(&self, w: Unparker) {
        // SAFETY: WAITING is not set yet, so the goroutine does not read `waiter`.
        unsafe { *self.waiter.get() = Some(w) };
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
        if let Some(r) = self.task.take() {
            return r;
        }
        // SAFETY: we are the handle, WAITING is not set yet, and we set the waiter once.
        unsafe { self.task.set_waiter(park::current()) };
        if self.task.state().fetch_or(WAITING, Ordering::AcqRel) & DONE == 0 {
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
