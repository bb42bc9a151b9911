//! `ErrGroup`: Go's `golang.org/x/sync/errgroup.Group`.
//!
//! # Invariants
//!
//! - Every goroutine of the group holds the group's `WaitGroup` (through `WaitGroup::go`)
//!   and, under a limit, a semaphore permit, both released when it ends, also by a panic.
//! - The first error (or panic) is kept; later ones are dropped. The group's context, if any,
//!   is cancelled on the first error or panic and again by `wait`.
//! - The limit changes only while no goroutine of the group is active (checked, as in Go).

use std::any::Any;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::context::{Cancel, Context};
use crate::sync::{OwnedSemaphorePermit, Semaphore, WaitGroup};

/// The error type of an [`ErrGroup`] unless another is named.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A group of goroutines working on parts of one task, where the first error wins (Go's
/// `errgroup.Group`).
///
/// [`go`](ErrGroup::go) starts a goroutine returning `Result<(), E>`; [`wait`](ErrGroup::wait)
/// waits for all of them and returns the first error. A group made by
/// [`with_context`](ErrGroup::with_context) cancels its context on the first error, so the
/// others can stop early; [`set_limit`](ErrGroup::set_limit) caps how many run at once.
///
/// ```
/// use gorun::{Context, ErrGroup};
///
/// gorun::run(|| {
///     let (group, ctx) = ErrGroup::<String>::with_context(&Context::background());
///     group.go(|| Err("part 2 failed".to_string()));
///     let ctx2 = ctx.clone();
///     group.go(move || {
///         let _ = ctx2.done().recv(); // stops when a sibling fails
///         Ok(())
///     });
///     assert_eq!(group.wait(), Err("part 2 failed".to_string()));
///     assert!(ctx.err().is_some());
/// });
/// ```
///
/// A panic in a goroutine of the group cancels the context like an error, and `wait`
/// resumes it in the caller (as newer versions of Go's errgroup do) once every goroutine
/// has finished.
pub struct ErrGroup<E = BoxError> {
    inner: Arc<Inner<E>>,
}

struct Inner<E> {
    wg: WaitGroup,
    first: Mutex<Option<Result<E, Box<dyn Any + Send>>>>,
    cancel: Option<Cancel>,
    limit: Mutex<Option<Arc<Semaphore>>>,
    active: AtomicUsize,
}

impl<E: Send + 'static> ErrGroup<E> {
    /// An empty group without a context or a limit.
    pub fn new() -> ErrGroup<E> {
        ErrGroup::make(None)
    }

    /// A group and a context derived from `ctx`, cancelled when a goroutine of the group
    /// first fails, or when [`wait`](ErrGroup::wait) returns.
    pub fn with_context(ctx: &Context) -> (ErrGroup<E>, Context) {
        let (ctx, cancel) = ctx.with_cancel();
        (ErrGroup::make(Some(cancel)), ctx)
    }

    fn make(cancel: Option<Cancel>) -> ErrGroup<E> {
        ErrGroup {
            inner: Arc::new(Inner {
                wg: WaitGroup::new(),
                first: Mutex::new(None),
                cancel,
                limit: Mutex::new(None),
                active: AtomicUsize::new(0),
            }),
        }
    }

    /// Limits the group to `n` goroutines at once: [`go`](ErrGroup::go) then waits for a
    /// free place (Go's `SetLimit`; no limit is the default).
    ///
    /// # Panics
    /// While goroutines of the group are active (as Go does).
    pub fn set_limit(&self, n: usize) {
        let active = self.inner.active.load(Ordering::SeqCst);
        assert!(
            active == 0,
            "gorun::ErrGroup::set_limit: modify limit while {active} goroutines in the group \
             are still active"
        );
        *self.inner.limit.lock().unwrap() = Some(Arc::new(Semaphore::new(n)));
    }

    /// Starts `f` in a goroutine of the group, first waiting for a free place if the group
    /// has a limit. Its error, if the first, is what [`wait`](ErrGroup::wait) returns.
    #[track_caller]
    pub fn go<F>(&self, f: F)
    where
        F: FnOnce() -> Result<(), E> + Send + 'static,
    {
        let sem = self.inner.limit.lock().unwrap().clone();
        let permit = sem.map(Semaphore::acquire_owned);
        self.start(f, permit);
    }

    /// Starts `f` like [`go`](ErrGroup::go) only if the limit allows one more goroutine now;
    /// returns whether it started (Go's `TryGo`).
    #[track_caller]
    pub fn try_go<F>(&self, f: F) -> bool
    where
        F: FnOnce() -> Result<(), E> + Send + 'static,
    {
        let sem = self.inner.limit.lock().unwrap().clone();
        let permit = match sem {
            Some(sem) => match sem.try_acquire_owned() {
                Some(p) => Some(p),
                None => return false,
            },
            None => None,
        };
        self.start(f, permit);
        true
    }

    #[track_caller]
    fn start<F>(&self, f: F, permit: Option<OwnedSemaphorePermit>)
    where
        F: FnOnce() -> Result<(), E> + Send + 'static,
    {
        self.inner.active.fetch_add(1, Ordering::SeqCst);
        let inner = self.inner.clone();
        // Panics are caught here and kept for `wait`: the handle is not needed.
        drop(self.inner.wg.go(move || {
            let failure = match panic::catch_unwind(AssertUnwindSafe(f)) {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(Ok(e)),
                Err(p) => Some(Err(p)),
            };
            if let Some(failure) = failure {
                inner.first.lock().unwrap().get_or_insert(failure);
                if let Some(c) = &inner.cancel {
                    c.cancel();
                }
            }
            inner.active.fetch_sub(1, Ordering::SeqCst);
            drop(permit);
        }));
    }

    /// Waits for every goroutine started so far, cancels the group's context, and returns
    /// the first error (taking it: a second `wait` returns `Ok` unless new goroutines
    /// fail).
    ///
    /// # Panics
    /// Resumes the first panic of a goroutine of the group, if one panicked first.
    #[track_caller]
    pub fn wait(&self) -> Result<(), E> {
        self.inner.wg.wait();
        if let Some(c) = &self.inner.cancel {
            c.cancel();
        }
        let first = self.inner.first.lock().unwrap().take();
        match first {
            None => Ok(()),
            Some(Ok(e)) => Err(e),
            Some(Err(p)) => panic::resume_unwind(p),
        }
    }
}

impl<E: Send + 'static> Default for ErrGroup<E> {
    fn default() -> Self {
        ErrGroup::new()
    }
}

/// Another handle to the same group (to start goroutines from inside the group).
impl<E> Clone for ErrGroup<E> {
    fn clone(&self) -> Self {
        ErrGroup {
            inner: self.inner.clone(),
        }
    }
}

impl<E> fmt::Debug for ErrGroup<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErrGroup")
            .field("active", &self.inner.active.load(Ordering::SeqCst))
            .field("failed", &self.inner.first.lock().unwrap().is_some())
            .finish()
    }
}
