//! Goroutine-local storage: `goroutine_local!` and [`LocalKey`].
//!
//! # Invariants
//!
//! - Values live in a map owned by the thread the goroutine runs on, keyed by goroutine id
//!   (never reused) and then by the key's address. A started goroutine never changes
//!   thread, so its values are created, used and dropped on one thread: no `Send` needed.
//! - A goroutine's values are dropped when it ends, by a guard on its own stack
//!   (`ExitGuard`, created before its body runs), before its result is published (so a
//!   joiner sees them dropped), also when it panics or is unwound at shutdown.
//!   They are taken out of the map before they are dropped, so a destructor may use
//!   goroutine-locals (a value it re-creates is dropped in the next round).
//! - A plain thread (or a worker outside any goroutine) has id 0: its values live until
//!   the thread exits, like `thread_local!`.
//! - Values are handed out as `Rc` clones, so a borrow never dangles even if `with`
//!   re-enters itself.

use std::any::Any;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;

use crate::runtime::worker;

type Values = Vec<(usize, Rc<dyn Any>)>;

thread_local! {
    /// Goroutine id (0: the thread itself) -> that goroutine's values.
    static LOCALS: RefCell<BTreeMap<u64, Values>> = const { RefCell::new(BTreeMap::new()) };
}

/// Rounds of destructors re-creating values that a goroutine's exit runs before giving up
/// (as std's thread-local destructors do).
const EXIT_ROUNDS: usize = 8;

/// A goroutine-local key, made by [`goroutine_local!`](crate::goroutine_local): each
/// goroutine that calls [`with`](LocalKey::with) gets its own value, created by the
/// initialiser on first use and dropped when the goroutine ends.
pub struct LocalKey<T: 'static> {
    init: fn() -> T,
}

impl<T: 'static> LocalKey<T> {
    #[doc(hidden)]
    pub const fn new(init: fn() -> T) -> LocalKey<T> {
        LocalKey { init }
    }

    /// Runs `f` with the calling goroutine's value, creating it first if needed. On a
    /// plain thread (including a [`blocking`](crate::blocking) pool thread), the value is
    /// the thread's own.
    ///
    /// # Panics
    /// On a plain thread whose thread-locals are being destroyed.
    pub fn with<R>(&'static self, f: impl FnOnce(&T) -> R) -> R {
        let key = self as *const LocalKey<T> as usize;
        let id = worker::current_id();
        let found = LOCALS.with(|l| {
            l.borrow()
                .get(&id)
                .and_then(|vs| vs.iter().find(|(k, _)| *k == key))
                .map(|(_, v)| v.clone())
        });
        let value = match found {
            Some(v) => v,
            None => {
                // Initialised without the map borrowed: `init` may use goroutine-locals.
                let v: Rc<dyn Any> = Rc::new((self.init)());
                LOCALS.with(|l| l.borrow_mut().entry(id).or_default().push((key, v.clone())));
                v
            }
        };
        f(value
            .downcast_ref::<T>()
            .expect("a goroutine-local holds its key's type"))
    }
}

impl<T: 'static> fmt::Debug for LocalKey<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalKey").finish_non_exhaustive()
    }
}

/// Drops the running goroutine's values when it ends (see the module docs).
pub(crate) struct ExitGuard;

impl Drop for ExitGuard {
    fn drop(&mut self) {
        let id = worker::current_id();
        for _ in 0..EXIT_ROUNDS {
            // `try_with`: nothing to do while the thread itself is going away.
            let taken = LOCALS
                .try_with(|l| l.borrow_mut().remove(&id))
                .ok()
                .flatten();
            match taken {
                Some(values) => drop(values),
                None => return,
            }
        }
    }
}

/// Declares goroutine-local statics: like `thread_local!`, but one value per goroutine.
///
/// `thread_local!` values are shared by every goroutine that runs on a worker thread (many
/// goroutines take turns on one thread), so per-request state such as a request id or a
/// tracing span set by one goroutine would be seen, and overwritten, by others. A
/// `goroutine_local!` value follows its goroutine: created on first use in it, dropped
/// (on the goroutine's thread) when it ends. On plain threads, and inside
/// [`blocking`](crate::blocking) (a pool thread), each thread has its own value instead.
///
/// ```
/// use std::cell::Cell;
///
/// gorun::goroutine_local! {
///     static REQUEST_ID: Cell<u64> = Cell::new(0);
/// }
///
/// gorun::run(|| {
///     let hs: Vec<_> = (1..=3)
///         .map(|id| {
///             gorun::go(move || {
///                 REQUEST_ID.with(|r| r.set(id));
///                 gorun::yield_now(); // others run on this thread meanwhile
///                 REQUEST_ID.with(|r| r.get())
///             })
///         })
///         .collect();
///     for (h, id) in hs.into_iter().zip(1..) {
///         assert_eq!(h.join().unwrap(), id);
///     }
///     assert_eq!(REQUEST_ID.with(|r| r.get()), 0); // main's own value
/// });
/// ```
#[macro_export]
macro_rules! goroutine_local {
    () => {};
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = $init:expr; $($rest:tt)*) => {
        $(#[$attr])*
        $vis static $name: $crate::LocalKey<$t> = $crate::LocalKey::new({
            fn __gorun_local_init() -> $t {
                $init
            }
            __gorun_local_init
        });
        $crate::goroutine_local!($($rest)*);
    };
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = $init:expr) => {
        $crate::goroutine_local!($(#[$attr])* $vis static $name: $t = $init;);
    };
}
