//! `LazyLock`: a value computed on first access, on top of [`OnceLock`] (so goroutines
//! that find another one initialising it park instead of blocking their worker).
//!
//! Invariant: the initialiser is taken out of its slot exactly once, by the caller that
//! `OnceLock::get_or_init` lets run; if it panics the slot stays empty and every later
//! access panics too (std's "poisoned" `LazyLock`).

use std::fmt;
use std::ops::Deref;
use std::sync::Mutex;

use super::OnceLock;
use crate::shim::loom_const_fn;

/// A value initialised on first access, like std's `LazyLock`, for `static`s shared by
/// goroutines: while one goroutine runs the initialiser, others that need the value park.
///
/// ```
/// use std::collections::HashMap;
/// use gorun::sync::LazyLock;
///
/// static TABLE: LazyLock<HashMap<&str, u32>> = LazyLock::new(|| {
///     HashMap::from([("one", 1), ("two", 2)])
/// });
///
/// gorun::run(|| {
///     let h = gorun::go(|| TABLE["two"]);
///     assert_eq!(h.join().unwrap() + TABLE["one"], 3);
/// });
/// ```
pub struct LazyLock<T, F = fn() -> T> {
    cell: OnceLock<T>,
    init: Mutex<Option<F>>,
}

impl<T, F: FnOnce() -> T> LazyLock<T, F> {
    loom_const_fn! {
        /// A lazy value computed by `init` on first access.
        pub fn new(init: F) -> LazyLock<T, F> {
            LazyLock {
                cell: OnceLock::new(),
                init: Mutex::new(Some(init)),
            }
        }
    }

    /// The value, computing it first if needed.
    ///
    /// # Panics
    /// If the initialiser panicked, now or on an earlier access.
    pub fn force(this: &LazyLock<T, F>) -> &T {
        this.cell.get_or_init(|| {
            let init = this.init.lock().unwrap_or_else(|e| e.into_inner()).take();
            match init {
                Some(f) => f(),
                None => panic!("gorun::sync::LazyLock: the initialiser panicked earlier"),
            }
        })
    }

    /// The value if it has been computed, without computing it.
    pub fn get(this: &LazyLock<T, F>) -> Option<&T> {
        this.cell.get()
    }
}

impl<T, F: FnOnce() -> T> Deref for LazyLock<T, F> {
    type Target = T;
    fn deref(&self) -> &T {
        LazyLock::force(self)
    }
}

impl<T: Default> Default for LazyLock<T> {
    fn default() -> Self {
        LazyLock::new(T::default)
    }
}

impl<T: fmt::Debug, F> fmt::Debug for LazyLock<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_tuple("LazyLock");
        match self.cell.get() {
            Some(v) => d.field(v),
            None => d.field(&format_args!("<uninit>")),
        };
        d.finish()
    }
}
