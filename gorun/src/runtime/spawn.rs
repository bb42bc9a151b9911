//! Starting goroutines (`go`, `GoBuilder`) and the running goroutine's own calls
//! (`yield_now`, `current_id`, `num_goroutine`, `pin_stack`).

use std::panic::Location;
use std::sync::Arc;

use super::{start, worker};
use crate::goroutine::{self, JoinHandle, G};

/// Starts a goroutine running `f` and returns a handle to join it.
///
/// The goroutine starts on the calling goroutine's worker by default; idle workers may steal
/// it before it starts. When the caller's worker already carries many more goroutines than
/// another worker (an acceptor starting one goroutine per connection, say), the new
/// goroutine is queued on that other worker instead. Once started it stays on that
/// worker's thread.
///
/// A goroutine gets its stack when it starts. If no stack can be had then (the kernel's
/// memory-map limit on kernels without `MADV_GUARD_INSTALL`, or address space exhausted),
/// the program stops with a `fatal error` that says how many goroutines fit and how to
/// raise the limit, as Go stops when it runs out of memory.
///
/// Inside [`blocking`](crate::blocking) the goroutine starts on the caller's runtime; a
/// plain thread starts goroutines through a [`Handle`](crate::Handle).
///
/// # Panics
/// Outside a runtime (wrap the program in [`run`](crate::run) or `#[gorun::main]`), on a
/// plain thread other than a blocking-pool one.
#[track_caller]
pub fn go<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    start::spawn(f, None, Location::caller())
}

/// Keeps the calling goroutine's stack resident while it lives: a hint to copy-on-park, not
/// a safety requirement. Any access to an evicted stack, from any thread, finds what the
/// goroutine left (the stack is restored on the spot); the pin saves those restores for a
/// stack that other threads use while it is parked, and keeps system calls that another
/// thread makes on its memory (a buffer lent to the kernel or to foreign code) from failing
/// with `EFAULT`. No-op on a plain thread.
///
/// ```
/// gorun::run(|| {
///     let _pin = gorun::pin_stack();
///     let buf = [0u8; 64];
///     // ... hand `buf.as_ptr()` to foreign code that keeps it while we park ...
///     # let _ = buf;
/// });
/// ```
pub fn pin_stack() -> StackPin {
    let g = worker::current_g();
    if let Some(g) = &g {
        g.pin_stack();
    }
    StackPin {
        g,
        _not_send: std::marker::PhantomData,
    }
}

/// Returned by [`pin_stack`]; unpins on drop. It belongs to its goroutine:
///
/// ```compile_fail
/// fn send<T: Send>() {}
/// send::<gorun::StackPin>();
/// ```
#[must_use = "the stack is pinned only while the StackPin lives"]
pub struct StackPin {
    g: Option<Arc<G>>,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for StackPin {
    fn drop(&mut self) {
        if let Some(g) = &self.g {
            g.unpin_stack();
        }
    }
}

impl std::fmt::Debug for StackPin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StackPin").finish_non_exhaustive()
    }
}

/// Starts goroutines with options, like `std::thread::Builder`: a name shown in goroutine
/// dumps and deadlock reports, and a stack size.
///
/// ```
/// gorun::run(|| {
///     let h = gorun::GoBuilder::new().name("fetcher").go(|| gorun::dump());
///     assert!(h.join().unwrap().contains("name: fetcher"));
/// });
/// ```
#[derive(Clone, Debug, Default)]
pub struct GoBuilder {
    name: Option<String>,
    stack_size: Option<usize>,
}

impl GoBuilder {
    /// A builder for a goroutine with no name and the runtime's default stack size.
    pub fn new() -> GoBuilder {
        GoBuilder::default()
    }

    /// Names the goroutine.
    pub fn name(mut self, name: impl Into<String>) -> GoBuilder {
        self.name = Some(name.into());
        self
    }

    /// Gives the goroutine a stack of at least `bytes` usable bytes, for deep recursion
    /// (parsers of nested input, recursive descent over big trees) that would overflow
    /// the default (see [`Builder::stack_size`](crate::Builder::stack_size) for what fits in it). Sizes up to 1 GiB
    /// are honoured, never capped.
    ///
    /// Stacks come in size classes: the runtime's default size and its doublings, so the
    /// stack is the smallest class that holds `bytes` (at most twice `bytes`), and at least
    /// the default. Like every goroutine stack it is reserved address space: only the
    /// pages the goroutine touches cost memory, and while it is parked copy-on-park keeps
    /// only its live bytes, as for any other goroutine. Its overflow is reported like any
    /// other goroutine's, with its size.
    ///
    /// ```
    /// fn depth(n: u32) -> u32 {
    ///     let frame = [n; 256]; // 1 KiB of locals per call
    ///     if n == 0 { 0 } else { 1 + depth(std::hint::black_box(frame)[0] - 1) }
    /// }
    ///
    /// gorun::run(|| {
    ///     // 5 to 10 MiB of frames (debug builds copy `frame` around): far beyond the
    ///     // default stack.
    ///     let h = gorun::GoBuilder::new().stack_size(32 << 20).go(|| depth(5_000));
    ///     assert_eq!(h.join().unwrap(), 5_000);
    /// });
    /// ```
    ///
    /// # Panics
    /// If `bytes` is 0 or over 1 GiB.
    pub fn stack_size(mut self, bytes: usize) -> GoBuilder {
        crate::stack::check_size("GoBuilder", bytes);
        self.stack_size = Some(bytes);
        self
    }

    /// Starts the goroutine; see [`go`].
    #[track_caller]
    pub fn go<F, T>(self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        start::spawn_with(
            f,
            self.name.map(String::into_boxed_str),
            self.stack_size,
            Location::caller(),
        )
    }
}

/// The id of the running goroutine (1 for the main goroutine), or 0 on a plain thread.
pub fn current_id() -> u64 {
    worker::current_id()
}

/// The number of goroutines that exist in the current runtime (started or not, main
/// included); 0 outside a runtime.
pub fn num_goroutine() -> usize {
    worker::with_worker(|w| w.map_or(0, |w| w.shared.num_goroutine()))
}

/// Lets every other runnable goroutine of this worker run first, then continues (Go's
/// `runtime.Gosched`; see Fairness in the crate docs). Continues at once when nothing else
/// is runnable here, and while the goroutine unwinds from a panic (a switch would expose
/// the thread's panicking state). On a plain thread it calls `std::thread::yield_now`.
pub fn yield_now() {
    worker::with_current_g(|g| match g {
        Some(g) => g.give_way(goroutine::Suspend::Yield),
        None => std::thread::yield_now(),
    })
}
