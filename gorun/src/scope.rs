//! `scope`: goroutines that borrow from the caller's stack, like `std::thread::scope`.
//!
//! # Invariants
//!
//! - `ScopeData::running` counts the scoped goroutines whose `Packet` is alive; a packet is
//!   shared by the goroutine's body and its handle and dies after the body has run (or
//!   been dropped unrun) and the handle is gone. `scope` does not return, and does not
//!   unwind past the borrowed data, while `running > 0`: that is what makes handing a
//!   `'scope` closure to the runtime as `'static` sound.
//! - A panic in a scoped goroutine is caught in its body and kept in its packet; a packet
//!   dropped with an unjoined panic hands the payload to the scope, which re-raises it.
//! - `scope` catches a panic of its closure, waits for every goroutine, then resumes it (a
//!   goroutine that parks while unwinding from its own panic holds its worker's thread).
//! - When the runtime shuts down (main returns) the owner of a scope is unwound like every
//!   goroutine, out of its wait. A guard then waits again while it unwinds: a goroutine that
//!   blocks while being unwound at shutdown is given up by its runtime there (its stack
//!   stays mapped, its remaining destructors never run), so the data the scoped goroutines
//!   borrow is never freed under them.

use std::any::Any;
use std::fmt;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe, Location};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;

use crate::goroutine::JoinHandle;
use crate::sync::WaitGroup;

/// The scope given to the closure of [`scope`]; start goroutines with [`Scope::go`].
pub struct Scope<'scope, 'env: 'scope> {
    data: Arc<ScopeData>,
    /// Invariant in `'scope` and `'env`, as `std::thread::Scope`.
    scope: PhantomData<&'scope mut &'scope ()>,
    env: PhantomData<&'env mut &'env ()>,
}

struct ScopeData {
    running: AtomicUsize,
    /// One count per live packet: `scope` waits on it.
    wg: WaitGroup,
    /// The first panic of a scoped goroutine nobody joined.
    unjoined_panic: Mutex<Option<Box<dyn Any + Send>>>,
}

/// Locks `m`; the data behind these locks stays consistent across a panic.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A scoped goroutine's result, shared by its body and its handle.
struct Packet<'scope, T> {
    scope: Arc<ScopeData>,
    result: Mutex<Option<thread::Result<T>>>,
    _scope: PhantomData<&'scope ()>,
}

impl<T> Drop for Packet<'_, T> {
    fn drop(&mut self) {
        let unjoined = self
            .result
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(Err(p)) = unjoined {
            lock(&self.scope.unjoined_panic).get_or_insert(p);
        }
        self.scope.running.fetch_sub(1, Ordering::SeqCst);
        self.scope.wg.done();
    }
}

/// An owned permission to join a scoped goroutine (from [`Scope::go`]).
///
/// Dropping it is fine: the scope joins the goroutine anyway, and re-raises its panic.
pub struct ScopedJoinHandle<'scope, T> {
    handle: JoinHandle<()>,
    packet: Arc<Packet<'scope, T>>,
}

/// Starts goroutines that may borrow from the caller, and waits for all of them before
/// returning (`std::thread::scope` for goroutines).
///
/// Every goroutine started with [`Scope::go`] is joined when the closure returns; a
/// goroutine may borrow anything that outlives the `scope` call. If a goroutine that was
/// not joined panicked, `scope` re-raises its panic (the first one) after all have
/// finished; a panic of the closure itself is resumed after all have finished too.
///
/// ```
/// gorun::run(|| {
///     let data = vec![1, 2, 3, 4];
///     let mut total = 0;
///     gorun::scope(|s| {
///         let (left, right) = data.split_at(2);
///         let a = s.go(|| left.iter().sum::<i32>());
///         let b = s.go(|| right.iter().sum::<i32>());
///         total = a.join().unwrap() + b.join().unwrap();
///         s.go(|| println!("{} items", data.len())); // joined at the end of the scope
///     });
///     assert_eq!(total, 10);
/// });
/// ```
///
/// A scoped goroutine cannot borrow what the scope's closure itself owns (it may outlive
/// the closure's body):
///
/// ```compile_fail
/// gorun::run(|| {
///     gorun::scope(|s| {
///         let local = 1;
///         s.go(|| local + 1); // error: `local` does not live long enough
///     });
/// });
/// ```
///
/// # Runtime shutdown
/// When main returns, every goroutine is abandoned and unwound. A goroutine waiting in
/// `scope` whose scoped goroutines are still alive is not unwound past the data they
/// borrow: it is given up where it waits (its stack stays mapped, the destructors of what
/// it owns do not run), as the runtime does with any goroutine that blocks while being
/// unwound. `run` returns as usual.
///
/// # Panics
/// Re-raises a panic of the closure or of an unjoined scoped goroutine. [`Scope::go`]
/// panics where [`go`](crate::go) does (outside a runtime).
#[track_caller]
pub fn scope<'env, F, T>(f: F) -> T
where
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> T,
{
    let scope = Scope {
        data: Arc::new(ScopeData {
            running: AtomicUsize::new(0),
            wg: WaitGroup::new(),
            unjoined_panic: Mutex::new(None),
        }),
        scope: PhantomData,
        env: PhantomData,
    };
    let result = panic::catch_unwind(AssertUnwindSafe(|| f(&scope)));
    // Waits again if the wait below is unwound (runtime shutdown; see the module docs).
    let join = JoinOnDrop(&scope.data);
    scope.data.wg.wait();
    drop(join);
    let unjoined = lock(&scope.data.unjoined_panic).take();
    match (result, unjoined) {
        (Err(p), _) | (Ok(_), Some(p)) => panic::resume_unwind(p),
        (Ok(v), None) => v,
    }
}

/// Waits for every scoped goroutine when dropped.
struct JoinOnDrop<'a>(&'a ScopeData);

impl Drop for JoinOnDrop<'_> {
    fn drop(&mut self) {
        self.0.wg.wait();
    }
}

impl<'scope> Scope<'scope, '_> {
    /// Starts a goroutine that may borrow from outside the scope; see [`go`](crate::go).
    #[track_caller]
    pub fn go<F, T>(&'scope self, f: F) -> ScopedJoinHandle<'scope, T>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        let packet = Arc::new(Packet {
            scope: self.data.clone(),
            result: Mutex::new(None),
            _scope: PhantomData,
        });
        self.data.running.fetch_add(1, Ordering::SeqCst);
        self.data.wg.add(1);
        let theirs = packet.clone();
        let body: Box<dyn FnOnce() + Send + 'scope> = Box::new(move || {
            // A panic, or the unwind of an abandoned goroutine at shutdown, ends here.
            *lock(&theirs.result) = Some(panic::catch_unwind(AssertUnwindSafe(f)));
        });
        // SAFETY: the body borrows only what outlives `'scope`, and `scope` neither returns
        // nor unwinds past `'scope` while the body's packet is alive (module invariants):
        // the packet is dropped only after the body has run, or with the body unrun.
        let body: Box<dyn FnOnce() + Send + 'static> = unsafe { std::mem::transmute(body) };
        let handle = crate::runtime::start::spawn(body, None, Location::caller());
        ScopedJoinHandle { handle, packet }
    }
}

impl<T> ScopedJoinHandle<'_, T> {
    /// The id of the goroutine.
    pub fn id(&self) -> u64 {
        self.handle.id()
    }

    /// Whether the goroutine has finished.
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// Waits for the goroutine and returns its result, or its panic as `Err` (which the
    /// scope then does not re-raise).
    #[track_caller]
    pub fn join(self) -> thread::Result<T> {
        // The body catches its own panics: the goroutine itself always returns.
        let _ = self.handle.join();
        let result = lock(&self.packet.result).take();
        result.expect("a finished scoped goroutine left its result")
    }
}

impl fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("running", &self.data.running.load(Ordering::SeqCst))
            .finish()
    }
}

impl<T> fmt::Debug for ScopedJoinHandle<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopedJoinHandle")
            .field("id", &self.id())
            .finish_non_exhaustive()
    }
}
