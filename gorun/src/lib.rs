//! # gorun: Go's concurrency system in Rust
//!
//! Goroutines are stackful coroutines on an M:N scheduler: you write plain blocking Rust
//! inside them, and a blocked goroutine parks (its worker thread runs others) instead of
//! blocking a thread.
//!
//! ```
//! use std::time::Duration;
//!
//! gorun::run(|| {
//!     let workers: Vec<_> = (1..=3)
//!         .map(|id| {
//!             gorun::go(move || {
//!                 println!("Worker {id} starting");
//!                 gorun::sleep(Duration::from_millis(10));
//!                 println!("Worker {id} done");
//!                 id
//!             })
//!         })
//!         .collect();
//!     for w in workers {
//!         w.join().unwrap();
//!     }
//!     println!("All workers finished.");
//! });
//! ```
//!
//! ## The rules
//!
//! - [`run`] (or `#[gorun::main]`) starts a runtime and runs its closure as goroutine 1;
//!   [`go`] starts more goroutines. When the main goroutine returns, the program is done:
//!   goroutines still running are abandoned, as in Go (see [Shutdown](#shutdown)).
//! - A goroutine never changes OS thread once started, so `!Send` values such as `Rc` may
//!   live on its stack across blocking calls, and thread-locals stay valid. But a
//!   `thread_local!` is shared by every goroutine that runs on the same worker thread:
//!   per-goroutine state (a request id, a tracing span) belongs in [`goroutine_local!`].
//! - Blocking system calls belong in [`blocking`]; a long CPU loop should call
//!   [`yield_now`] now and then: scheduling is cooperative (see [Fairness](#fairness)).
//! - A panic in a goroutine is returned by [`JoinHandle::join`]; if the handle was dropped,
//!   the program stops with Go's `panic:` report and exit code 2. A stack overflow prints
//!   `fatal error: stack overflow` with the goroutine's id and creation site.
//!
//! Network I/O goes through [`net`]: sockets with std's API whose blocking calls park
//! the goroutine until the netpoller sees the socket ready; [`io::Async`] does the same for
//! any file descriptor (pipes, terminals).
//!
//! More of what real programs need:
//!
//! - [`Handle`]: start goroutines from plain threads (`Handle::current()` in the runtime,
//!   moved to the thread); [`go`] also works inside [`blocking`].
//! - [`scope`]: goroutines that borrow from the caller, all joined before it returns.
//! - [`Context`] and [`ErrGroup`]: Go's cancellation (`done()` works in [`select!`]) and
//!   errgroup.
//! - [`Timer`], [`Ticker`] and [`at`]: timers that stop and reset with Go 1.23's rules.
//! - [`goroutine_local!`]: per-goroutine values, where `thread_local!` is per worker.
//!
//! Data races do not compile: goroutines take `Send + 'static` closures, so shared state
//! needs `Arc` plus a lock or an atomic.
//!
//! ```compile_fail
//! gorun::run(|| {
//!     let mut count = 0;
//!     let h = gorun::go(|| count += 1); // error: closure may outlive `count`
//!     h.join().unwrap();
//! });
//! ```
//!
//! ## Fairness
//!
//! Goroutines switch when they block, yield or spawn; gorun never interrupts one. Within
//! that, every runnable goroutine gets its turn: [`yield_now`] (Go's `Gosched`) puts the
//! caller behind everything else runnable on its worker, and the scheduler serves its
//! queues in turn, so a goroutine that is ready runs within a bounded number of switches
//! whatever the others do (ping-pong, wake-up storms, endless spawning).
//!
//! Polling loops are covered too: each goroutine has a budget of 128 operations that
//! complete without parking (`try_send`, `try_recv`, `try_lock` and the other `try_`
//! operations, [`select!`] with `default`, socket calls that complete at once). When it is
//! spent, the goroutine yields. So `loop { if let Ok(v) = rx.try_recv() { break v } }`
//! ends even when the sender runs on the same worker. A loop that does no gorun operation
//! at all still holds its worker: call [`yield_now`] in it.
//!
//! ## Shutdown
//!
//! When the main goroutine returns, every other goroutine is abandoned: each worker unwinds
//! the goroutines homed on it (on their own thread, so their destructors run where they
//! lived), and [`run`] returns main's value. Beyond Go, which runs nothing at exit:
//!
//! - A worker busy in a goroutine that does not switch (a CPU loop, a blocking system
//!   call) cannot be interrupted. `run` waits for a worker only while it makes progress;
//!   after 100 ms without any, the worker is detached and leaked: `run` returns, the
//!   thread goes on (and if its goroutine ever switches, it unwinds the goroutines homed on
//!   it and ends), and the runtime's memory stays allocated for it.
//! - A destructor that would block during that unwind (a contended lock, a join, a
//!   WaitGroup, a sleep, a send nobody takes) gives up: its goroutine is leaked at that
//!   point, its remaining destructors do not run, and its stack stays mapped for good (the
//!   runtime is leaked). Nothing aborts, and the exit code is main's. The same holds for a
//!   goroutine that catches its unwind (`catch_unwind`) and then parks or yields again.
//! - A detached goroutine that panics once shutdown has begun is not reported (its panic is
//!   usually a consequence of the shutdown: a peer's channel end dropped by its unwind).
//! - A fatal report (deadlock, lock cycle) under [`run`] prints and exits with code 2 at
//!   once, unwinding nothing, like Go; [`Builder::try_run`] unwinds as above and returns it.
//!
//! `run` can be called again on the same thread afterwards. One trace can remain: Rust's
//! panicking state is per OS thread, and a goroutine leaked in the middle of its unwind
//! leaves that thread reporting `std::thread::panicking() == true` afterwards.
//!
//! ### Blocking while unwinding from a panic
//!
//! `std::thread::panicking()` is per OS thread, and no stable API saves or restores it. A
//! goroutine that blocks in a destructor while it unwinds from its own panic (a guard that
//! sends on a channel when dropped) would make the other goroutines of its worker see
//! `panicking() == true` if it switched: spurious poisoning of `std::sync` locks, skipped
//! checks. So it holds its worker's thread while it waits, and nothing else runs there
//! meanwhile (goroutines of other workers, plain threads, timers and I/O wake it as usual).
//! If the wait lasts over 50 ms while other goroutines of the same worker are runnable (one
//! of them may be what it waits for), it switches after all: a hang would be worse than
//! the exposure, which lasts until it runs again.
//!
//! ## Diagnostics
//!
//! When every goroutine is blocked and nothing can wake one, [`run`] prints Go's report and
//! exits with code 2 (and [`Builder::try_run`] returns it as a [`Deadlock`]):
//!
//! ```text
//! fatal error: all goroutines are asleep - deadlock!
//!
//! goroutine 1 [chan receive]:
//!     waiting at src/main.rs:7:12
//! created by gorun::run at src/main.rs:4:5, on worker 0
//! ```
//!
//! What counts as asleep: parked on a channel, select, a `sync` type or a join. Not asleep:
//! sleeping or waiting with a timeout, waiting on a timer channel ([`after`], [`tick`])
//! whose timer is armed, waiting for I/O or a future ([`block_on`]), inside [`blocking`].
//! As in Go since 1.23, a timer channel that nobody waits on does not count: `rx.recv()`
//! beside an unread `tick(1s)` is a deadlock. Plain OS threads are outside the runtime, so gorun looks at them too: while
//! some thread that gorun does not own is running, sleeping, in a timed wait
//! (`recv_timeout`, `Condvar::wait_timeout`, `park_timeout`) or in any other system call,
//! it might still send on a channel, and no deadlock is reported; only when every such
//! thread is blocked without a timeout on a lock, condition variable or std channel (a
//! futex) is the program stuck. This reads `/proc/self/task` (Linux); macOS does not tell
//! what a thread is blocked in, so there no deadlock is reported while any thread that gorun
//! does not own exists. Two runtimes talking through one channel are not seen as waking
//! each other. Note that libtest's main thread
//! waits with a timeout (its 60 s warning) while tests run in parallel, so inside such a test
//! binary a deadlock is reported only once that wait ends: check deadlocks in a child
//! process or with `--test-threads=1`.
//!
//! Beyond Go: goroutines waiting for each other's locks (A holds `m1` and waits for `m2`,
//! B holds `m2` and waits for `m1`) are reported as a lock cycle even while the rest of the
//! program runs; [`dump`] prints every goroutine at any time (with `GORUN_TRACEBACK=all`,
//! with a backtrace captured at each park); the monitor warns about a goroutine that runs
//! over 100 ms without yielding while others wait behind it; [`Builder::leak_check`]
//! reports goroutines left running when main returns; [`metrics`] counts spawns, switches,
//! parks, steals and evictions.
//!
//! ## Memory: copy-on-park
//!
//! Each goroutine has a 256 KiB stack slot (more with [`GoBuilder::stack_size`]), but only
//! touched pages cost memory, and a parked
//! goroutine's live stack is usually under a kilobyte. When more parked stacks are
//! resident than [`Builder::resident_stack_budget`] allows, or one has been parked longer
//! than [`Builder::evict_after`], its live bytes are packed into a heap buffer and its
//! pages released; they are copied back to the same addresses before it runs again (Linux
//! only: on macOS parked stacks stay resident, see the README's platform table). Hot
//! goroutines never pay for this.
//!
//! No program can tell. Other threads may hold pointers into a parked goroutine's stack
//! (`std::thread::scope` lends a local to a thread while the goroutine waits on a channel),
//! and any access to an evicted stack, from any thread, faults into gorun's handler, which
//! restores the stack in place and lets the access go on; the copy is taken write-protected,
//! so no write is lost. One thing differs: a system call that another thread makes with a
//! buffer on an evicted stack fails with `EFAULT` (the kernel raises no fault to handle), so
//! code that lends a stack buffer to the kernel or foreign code across a park holds
//! [`pin_stack`], which keeps the stack resident. Where gorun cannot restore stacks safely
//! (no writable `/proc/self/mem`), copy-on-park is off, with a one-line notice.
//! `GORUN_STACK_GUARDS=mprotect` makes gorun guard stacks as on kernels older than 6.13
//! (without `MADV_GUARD_INSTALL`).
//!
//! ## Async code
//!
//! [`block_on`] runs a future inside a goroutine, parking the goroutine (not its thread)
//! while the future is pending; the other way, a [`JoinHandle`] is a `Future`, and
//! [`Sender::send_async`] and [`Receiver::recv_async`] are futures any executor can run,
//! mixing freely with blocking ends of the same channel. Optional features (off by
//! default): `tokio` runs `block_on`'s polls inside a Tokio runtime kept for its drivers
//! (so Tokio timers and sockets, and libraries on them, work in goroutines) and gives
//! gorun's sockets Tokio's `AsyncRead`/`AsyncWrite`, driven by gorun's netpoller (hyper
//! serves on them); `futures-io` gives them the `futures` traits and makes [`Receiver`] a
//! `Stream`.
//!
//! ```
//! gorun::run(|| {
//!     let (tx, rx) = gorun::chan::<u32>(0);
//!     let h = gorun::go(move || rx.recv().unwrap() * 2);
//!     let doubled = gorun::block_on(async move {
//!         tx.send_async(21).await.unwrap();
//!         h.await.unwrap()
//!     });
//!     assert_eq!(doubled, 42);
//! });
//! ```
//!
//! ## Locks from `std`
//!
//! A blocking gorun call may switch to another goroutine on the same thread, and so may
//! [`go`] (it lets the goroutines it started run every 32 spawns in a row). Holding a
//! `std::sync::Mutex` guard across such a call can deadlock the worker thread if the next
//! goroutine wants the same lock: use [`sync::Mutex`], which parks instead.
//!
//! ## Channels
//!
//! [`chan`] makes Go's `chan T`: `chan::<T>(0)` is unbuffered (a send completes only when a
//! receiver takes the value), `chan::<T>(n)` buffers `n` values. Both ends clone; dropping
//! the last [`Sender`] (or calling [`Sender::close`]) closes the channel, and receivers drain
//! what is buffered and then get `Err`, so `for v in &rx` is Go's `for v := range ch`.
//! [`select!`] waits on several operations at once, with crossbeam-channel's syntax
//! ([`select_biased!`] prefers earlier cases); [`after`],
//! [`tick`] and [`never()`] make timer channels and a never-ready one (Go's nil channel). They
//! work between goroutines and plain OS threads alike.
//!
//! ```
//! use std::time::Duration;
//!
//! gorun::run(|| {
//!     let (jobs_tx, jobs) = gorun::chan::<u32>(10);
//!     let (results_tx, results) = gorun::chan::<u32>(10);
//!     for _ in 0..3 {
//!         let (jobs, results_tx) = (jobs.clone(), results_tx.clone());
//!         gorun::go(move || {
//!             for j in &jobs {
//!                 results_tx.send(j * 2).unwrap();
//!             }
//!         });
//!     }
//!     drop(results_tx);
//!     for j in 1..=5 {
//!         jobs_tx.send(j).unwrap();
//!     }
//!     jobs_tx.close();
//!
//!     let timeout = gorun::after(Duration::from_secs(10));
//!     let mut sum = 0;
//!     loop {
//!         gorun::select! {
//!             recv(results) -> r => match r {
//!                 Ok(v) => sum += v,
//!                 Err(_) => break, // every worker is done
//!             },
//!             recv(timeout) -> _ => panic!("too slow"),
//!         }
//!     }
//!     assert_eq!(sum, 30);
//! });
//! ```

#![warn(missing_debug_implementations)]

mod blocking;
mod bridge;
mod chan;
mod context;
mod diag;
mod errgroup;
mod goroutine;
pub mod io;
mod local;
pub mod net;
mod park;
mod runtime;
mod scope;
mod shim;
mod stack;
pub mod sync;
mod sys;
mod time;

pub use blocking::blocking;
pub use bridge::block_on;
#[cfg(feature = "tokio")]
pub use bridge::tokio_rt::handle as tokio_handle;
pub use chan::{
    chan, never, IntoIter, Iter, Receiver, RecvError, RecvFuture, RecvTimeoutError, Select,
    SelectTimeoutError, SelectedOperation, SendError, SendFuture, SendTimeoutError, Sender,
    TryIter, TryRecvError, TrySelectError, TrySendError,
};
pub use context::{Cancel, Context, ContextError};
pub use diag::{dump, metrics, Metrics};
pub use errgroup::{BoxError, ErrGroup};
pub use goroutine::JoinHandle;
pub use gorun_macros::{main, test};
pub use local::LocalKey;
pub use runtime::builder::{run, Builder};
pub use runtime::handle::Handle;
pub use runtime::spawn::{
    current_id, go, num_goroutine, pin_stack, yield_now, GoBuilder, StackPin,
};
pub use runtime::Deadlock;
pub use scope::{scope, Scope, ScopedJoinHandle};
pub use time::{after, at, sleep, tick, Ticker, Timer};

#[doc(hidden)]
pub mod __private {
    pub use crate::chan::{select_cases, select_forever, Case, RecvCase, SendCase};
}
